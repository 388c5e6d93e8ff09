/* plugin.c — config management plugins: selection by name or discover
 * rule, the build environment, and init + generate under limits. */
#include "source/plugin.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/proc.h"
#include "source/manifest.h"

#define PLUGIN_MAX_ENV 512

int ws_plugin_any_discovery(const struct ws_config *c)
{
    size_t i;
    for (i = 0; c && i < c->nplugins; i++)
        if (c->plugins[i].discover_file)
            return 1;
    return 0;
}

int ws_plugin_discovers(const struct ws_plugin_cfg *p, const char *dir)
{
    glob_t g;
    char *pattern = NULL;
    int hit;
    if (!p->discover_file)
        return 0;
    /* Argo CD: filepath.Glob(filepath.Join(appPath, fileName)) */
    if (asprintf(&pattern, "%s/%s", dir, p->discover_file) < 0)
        return 0;
    memset(&g, 0, sizeof(g));
    hit = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    free(pattern);
    return hit;
}

int ws_plugin_select(const struct ws_plugin_cfg **out, const struct ws_config *c, const struct ws_app_source *src,
                     const char *dir, struct ws_err *err)
{
    const struct ws_plugin_cfg *p;
    size_t i;
    *out = NULL;
    if (src->plugin_name) {
        if (!(p = ws_config_plugin_by_name(c, src->plugin_name)))
            return ws_err_set(err, WS_EINVAL,
                              "plugin \"%s\" is not configured (wavesync.yaml plugins: %zu configured)",
                              src->plugin_name, c ? c->nplugins : 0);
        /* Argo CD: a named plugin is used only if its discovery (when it has one) matches */
        if (p->discover_file && !ws_plugin_discovers(p, dir))
            return ws_err_set(err, WS_EINVAL,
                              "plugin \"%s\": its discover.fileName \"%s\" matches no file at path \"%s\"",
                              p->name, p->discover_file, src->path);
        *out = p;
        return 0;
    }
    for (i = 0; c && i < c->nplugins; i++) {
        if (ws_plugin_discovers(&c->plugins[i], dir)) {
            *out = &c->plugins[i];
            return 0;
        }
    }
    return 0;
}

/* ---- the environment ------------------------------------------------------- */

struct envb {
    char **v;
    size_t n;
    int bad;
};

static void env_add(struct envb *e, const char *name, const char *value)
{
    char *s;
    if (e->bad || e->n + 1 >= PLUGIN_MAX_ENV || asprintf(&s, "%s=%s", name, value ? value : "") < 0) {
        e->bad = 1;
        return;
    }
    e->v[e->n++] = s;
}

/* PARAM_<NAME>: upper case, anything but letters and digits as "_" (Argo CD's rule). */
static void param_name(char *buf, size_t len, const char *prefix, const char *name)
{
    size_t o = (size_t)snprintf(buf, len, "%s", prefix);
    for (; *name && o + 1 < len; name++)
        buf[o++] = isalnum((unsigned char)*name) ? (char)toupper((unsigned char)*name) : '_';
    buf[o < len ? o : len - 1] = '\0';
}

static void env_params(struct envb *e, const json_t *params)
{
    const json_t *p, *v;
    const char *k;
    char name[256], sub[512];
    size_t i, j;
    json_array_foreach(params, i, p) {
        const char *pname = json_string_value(json_object_get(p, "name"));
        if (!pname)
            continue;
        param_name(name, sizeof(name), "PARAM_", pname);
        if (json_is_string(json_object_get(p, "string")))
            env_add(e, name, json_string_value(json_object_get(p, "string")));
        json_array_foreach(json_object_get(p, "array"), j, v) {
            snprintf(sub, sizeof(sub), "%s_%zu", name, j);
            env_add(e, sub, json_string_value(v));
        }
        json_object_foreach(json_object_get(p, "map"), k, v) {
            char key[256];
            param_name(key, sizeof(key), "", k);
            snprintf(sub, sizeof(sub), "%s_%s", name, key);
            env_add(e, sub, json_string_value(v));
        }
    }
}

int ws_plugin_env(char ***out, const struct ws_plugin_run *r)
{
    struct envb e = {calloc(PLUGIN_MAX_ENV, sizeof(char *)), 0, 0};
    const char *path = getenv("PATH");
    char shortrev[16];
    const json_t *v;
    size_t i;
    *out = NULL;
    if (!e.v)
        return WS_ENOMEM;
    env_add(&e, "PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    env_add(&e, "HOME", r->home);
    env_add(&e, "ARGOCD_APP_NAME", r->app_name);
    env_add(&e, "ARGOCD_APP_NAMESPACE", r->app_namespace ? r->app_namespace : "");
    env_add(&e, "ARGOCD_APP_REVISION", r->revision);
    snprintf(shortrev, sizeof(shortrev), "%.7s", r->revision ? r->revision : "");
    env_add(&e, "ARGOCD_APP_REVISION_SHORT", shortrev);
    snprintf(shortrev, sizeof(shortrev), "%.8s", r->revision ? r->revision : "");
    env_add(&e, "ARGOCD_APP_REVISION_SHORT_8", shortrev);
    env_add(&e, "ARGOCD_APP_SOURCE_PATH", r->src->path && *r->src->path ? r->src->path : ".");
    env_add(&e, "ARGOCD_APP_SOURCE_REPO_URL", r->src->repo_url);
    env_add(&e, "ARGOCD_APP_SOURCE_TARGET_REVISION", r->src->target_revision);
    if (r->src->plugin_parameters) {
        char *json = json_dumps(r->src->plugin_parameters, JSON_COMPACT);
        if (!json)
            e.bad = 1;
        else
            env_add(&e, "ARGOCD_APP_PARAMETERS", json);
        free(json);
        env_params(&e, r->src->plugin_parameters);
    }
    /* user-supplied variables only ever under ARGOCD_ENV_: they cannot set PATH or LD_PRELOAD */
    json_array_foreach(r->src->plugin_env, i, v) {
        char name[300];
        snprintf(name, sizeof(name), "ARGOCD_ENV_%s", json_string_value(json_object_get(v, "name")));
        env_add(&e, name, json_string_value(json_object_get(v, "value")));
    }
    if (e.bad) {
        ws_plugin_env_free(e.v);
        return WS_ENOMEM;
    }
    *out = e.v;
    return 0;
}

void ws_plugin_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* ---- running it ------------------------------------------------------------ */

static int run_step(char **out, size_t *len, const struct ws_plugin_run *r, char *const *argv, char **env,
                    const char *step, struct ws_err *err)
{
    struct ws_proc_opts o = {0};
    char label[300];
    int rc;
    snprintf(label, sizeof(label), "plugin \"%s\" %s", r->plugin->name, step);
    o.argv = (const char *const *)argv;
    o.env = (const char *const *)env;
    o.cwd = r->dir;
    o.name = label;
    o.limits = r->plugin->limits;
    if (!o.limits.max_output)
        o.limits.max_output = r->max_output;
    rc = ws_proc_run_blocking(out, len, &o, err);
    if (rc == WS_ENOTFOUND)
        rc = ws_err_set(err, WS_EINVAL, "plugin \"%s\" %s: program \"%s\" not found in PATH", r->plugin->name, step,
                        argv[0]);
    if (rc < 0)
        ws_err_prefix(err, "source path \"%s\"", r->src->path && *r->src->path ? r->src->path : ".");
    return rc;
}

int ws_plugin_generate(json_t *objects, const struct ws_plugin_run *r, struct ws_err *err)
{
    char **env = NULL, *out = NULL, label[300];
    size_t len = 0;
    int rc;
    if (ws_plugin_env(&env, r) < 0)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (r->plugin->init) {
        if ((rc = run_step(&out, NULL, r, r->plugin->init, env, "init", err)) < 0)
            goto out;
        free(out);
        out = NULL;
    }
    if ((rc = run_step(&out, &len, r, r->plugin->generate, env, "generate", err)) < 0)
        goto out;
    snprintf(label, sizeof(label), "plugin \"%s\" generate output (source path \"%s\")", r->plugin->name,
             r->src->path && *r->src->path ? r->src->path : ".");
    {
        json_t *found = json_array();
        if (!found) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = ws_manifest_parse(found, out, len, label, err)) == 0 && json_array_size(found) == 0)
            /* never a silent empty result: with prune, it would delete everything */
            rc = ws_err_set(err, WS_EINVAL, "plugin \"%s\" generate printed no manifests (source path \"%s\")",
                            r->plugin->name, r->src->path && *r->src->path ? r->src->path : ".");
        if (rc == 0)
            json_array_extend(objects, found);
        json_decref(found);
    }
out:
    free(out);
    ws_plugin_env_free(env);
    return rc;
}
