/* render.c — directory (YAML, JSON, Jsonnet), Kustomize, Helm and plugin
 * sources to manifest objects. */
#include "source/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "git/git.h"
#include "source/chart.h"
#include "base/log.h"
#include "source/jsonnet.h"
#include "source/manifest.h"
#include "source/plugin.h"
#include "base/proc.h"
#include "base/tmptree.h"
#include "base/util.h"
#include "config/config.h" /* WS_TOOL_DEFAULT_TIMEOUT_MS */

#define RENDER_MAX_BYTES (64u << 20)
#define EDIT_MAX_OUTPUT (1u << 20)
#define REF_VALUES_MAX (8u << 20)

static int has_file(const struct ws_render_ctx *ctx, const char *dir, const char *name,
                    struct ws_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", name);
    return ws_git_path_type(ctx->repo_path, ctx->commit, path, err) == 1;
}

int ws_render_detect(enum ws_render_kind *out, const struct ws_render_ctx *ctx,
                     const struct ws_app_source *src, struct ws_err *err)
{
    int t;
    if (src->chart) {
        *out = WS_RENDER_HELM; /* from a Helm repository or an OCI registry, not Git */
        return 0;
    }
    if ((t = ws_git_path_type(ctx->repo_path, ctx->commit, src->path, err)) < 0)
        return t;
    if (t != 2)
        return ws_err_set(err, WS_ENOTFOUND, "Application \"%s\": path \"%s\" %s at %.12s",
                          ctx->app_name, src->path, t == 1 ? "is a file, not a folder" : "does not exist",
                          ctx->commit);
    if (src->has_plugin)
        *out = WS_RENDER_PLUGIN;
    else if (src->has_helm || has_file(ctx, src->path, "Chart.yaml", err))
        *out = WS_RENDER_HELM;
    else if (src->has_kustomize || has_file(ctx, src->path, "kustomization.yaml", err) ||
             has_file(ctx, src->path, "kustomization.yml", err) ||
             has_file(ctx, src->path, "Kustomization", err))
        *out = WS_RENDER_KUSTOMIZE;
    else
        *out = WS_RENDER_DIRECTORY;
    return 0;
}

/* The tree at the commit, exported once per source (external tools, Jsonnet
 * and plugins need files); *dir is the source path in it. */
static int export_tree(struct ws_tmptree *root, char **dir, const struct ws_render_ctx *ctx,
                       const struct ws_app_source *src, struct ws_err *err)
{
    int rc;
    if (root->path)
        return 0;
    if ((rc = ws_git_export(root, ctx->repo_path, ctx->commit, ctx->tmp_root, err)) < 0)
        return rc;
    if (asprintf(dir, "%s/%s", root->path, src->path) < 0)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    return 0;
}

static int ends_with_jsonnet(const char *path)
{
    size_t n = strlen(path);
    return n > 8 && strcmp(path + n - 8, ".jsonnet") == 0;
}

static int render_directory(json_t *objects, const struct ws_render_ctx *ctx, const struct ws_app_source *src,
                            struct ws_tmptree *root, char **dir, struct ws_err *err)
{
    struct ws_git_files files = {0};
    const char **jsonnet = NULL;
    size_t i, nj = 0, before = json_array_size(objects);
    int rc;
    if ((rc = ws_git_read_source_dir(&files, ctx->repo_path, ctx->commit, src->path, src->recurse,
                                     src->include, src->exclude,
                                     ctx->max_bytes ? ctx->max_bytes : RENDER_MAX_BYTES, err)) < 0)
        return rc;
    if (!(jsonnet = calloc(files.n + 1, sizeof(char *)))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < files.n && rc == 0; i++) {
        if (ends_with_jsonnet(files.v[i].path))
            jsonnet[nj++] = files.v[i].path;
        else
            rc = ws_manifest_parse(objects, files.v[i].data, files.v[i].len, files.v[i].path, err);
    }
    if (rc == 0 && nj > 0) {
        struct ws_jsonnet_opts jo = {0};
        if ((rc = export_tree(root, dir, ctx, src, err)) < 0)
            goto out;
        jo.root = root->path;
        jo.files = jsonnet;
        jo.ext_vars = src->jsonnet_ext_vars;
        jo.tlas = src->jsonnet_tlas;
        jo.libs = src->jsonnet_libs;
        if (ctx->config)
            jo.limits = ctx->config->settings.jsonnet;
        jo.limits.max_output = ctx->max_bytes ? ctx->max_bytes : RENDER_MAX_BYTES;
        if ((rc = ws_jsonnet_eval(objects, &jo, err)) < 0)
            ws_err_prefix(err, "Application \"%s\"", ctx->app_name);
    }
    /* Never a silent empty result: files are there and nothing renders,
       because they are files wavesync does not read or Jsonnet that
       evaluates to nothing. YAML/JSON files with no documents say "nothing"
       themselves (how an application is emptied, its objects pruned), and
       syncPolicy.automated.allowEmpty allows it too. */
    if (rc == 0 && json_array_size(objects) == before && files.others + nj > 0 && files.n == nj &&
        !(ctx->app && ctx->app->allow_empty))
        rc = ws_err_set(err, WS_EINVAL,
                        "Application \"%s\": path \"%s\" holds %zu file%s but nothing renders (%zu Jsonnet file%s "
                        "rendered no object; read are *.yaml, *.yml, *.json, *.jsonnet%s%s; allowEmpty permits this)",
                        ctx->app_name, *src->path ? src->path : ".", files.others + nj,
                        files.others + nj == 1 ? "" : "s", nj, nj == 1 ? "" : "s",
                        src->recurse ? "" : ", without recurse",
                        src->include || src->exclude ? ", after include/exclude" : "");
out:
    free(jsonnet);
    ws_git_files_free(&files);
    return rc;
}

/* The limits of a tool's runs: settings.tools.helm for helm, .kustomize for
 * kustomize and kubectl; the output limit is the renderer's. */
static struct ws_proc_limits tool_limits(const struct ws_render_ctx *ctx, const char *program)
{
    const struct ws_proc_limits *set = strcmp(program, "helm") == 0 ? ctx->helm_limits : ctx->kustomize_limits;
    struct ws_proc_limits l = {0};
    if (set)
        l = *set;
    if (!l.timeout_ms)
        l.timeout_ms = WS_TOOL_DEFAULT_TIMEOUT_MS;
    l.max_output = ctx->max_bytes ? ctx->max_bytes : RENDER_MAX_BYTES;
    return l;
}

/* Run a tool under its limits; errors name the Application. */
static int run_limited(char **out, size_t *len, const struct ws_render_ctx *ctx, const char *const *argv,
                       const char *cwd, const char *label, size_t max_output, struct ws_err *err)
{
    struct ws_proc_opts o = {0};
    int rc;
    o.argv = argv;
    o.cwd = cwd;
    o.name = label;
    o.limits = tool_limits(ctx, argv[0]);
    if (max_output)
        o.limits.max_output = max_output;
    if ((rc = ws_proc_run_blocking(out, len, &o, err)) < 0) {
        ws_err_prefix(err, "Application \"%s\"", ctx->app_name);
        return rc == WS_ENOTFOUND ? WS_EINVAL : rc;
    }
    return 0;
}

/* Run a tool, then parse its output as a manifest stream. */
static int run_tool(json_t *objects, const struct ws_render_ctx *ctx, const char *const *argv,
                    const char *cwd, const char *label, struct ws_err *err)
{
    char *out = NULL;
    size_t len = 0;
    int rc = run_limited(&out, &len, ctx, argv, cwd, label, 0, err);
    if (rc < 0)
        return rc;
    rc = ws_manifest_parse(objects, out, len, label, err);
    free(out);
    return rc;
}

/* `kustomize edit …` in the exported copy: only its exit status matters. */
static int run_edit(const struct ws_render_ctx *ctx, const char *const *argv, const char *dir,
                    struct ws_err *err)
{
    char *out = NULL;
    int rc = run_limited(&out, NULL, ctx, argv, dir, "kustomize edit", EDIT_MAX_OUTPUT, err);
    free(out);
    return rc;
}

static int render_kustomize(json_t *objects, const struct ws_render_ctx *ctx,
                            const struct ws_app_source *src, const char *dir, struct ws_err *err)
{
    char label[256];
    const char *tool = ws_proc_in_path("kustomize") ? "kustomize" : "kubectl";
    int rc;
    size_t i;
    if (!ws_proc_in_path(tool))
        return ws_err_set(err, WS_EINVAL,
                          "Application \"%s\": path \"%s\" is a Kustomize source; install "
                          "`kustomize` or `kubectl` (neither is in PATH)",
                          ctx->app_name, src->path);
    /* Like Argo CD: apply the Application's overrides with `kustomize edit`
     * in the exported copy, then build. */
    if (src->kustomize_name_prefix || src->kustomize_name_suffix || src->kustomize_images) {
        if (strcmp(tool, "kustomize") != 0)
            return ws_err_set(err, WS_EINVAL,
                              "Application \"%s\": kustomize namePrefix/nameSuffix/images need the "
                              "`kustomize` binary in PATH",
                              ctx->app_name);
        if (src->kustomize_name_prefix) {
            const char *argv[] = {"kustomize", "edit", "set", "nameprefix", "--",
                                  src->kustomize_name_prefix, NULL};
            if ((rc = run_edit(ctx, argv, dir, err)) < 0)
                return rc;
        }
        if (src->kustomize_name_suffix) {
            const char *argv[] = {"kustomize", "edit", "set", "namesuffix", "--",
                                  src->kustomize_name_suffix, NULL};
            if ((rc = run_edit(ctx, argv, dir, err)) < 0)
                return rc;
        }
        for (i = 0; i < json_array_size(src->kustomize_images); i++) {
            const char *img = json_string_value(json_array_get(src->kustomize_images, i));
            const char *argv[] = {"kustomize", "edit", "set", "image", img, NULL};
            if (!img)
                continue;
            if ((rc = run_edit(ctx, argv, dir, err)) < 0)
                return rc;
        }
    }
    snprintf(label, sizeof(label), "%s %s", strcmp(tool, "kustomize") == 0 ? "kustomize build" : "kubectl kustomize",
             src->path);
    if (strcmp(tool, "kustomize") == 0) {
        const char *argv[] = {"kustomize", "build", ".", NULL};
        return run_tool(objects, ctx, argv, dir, label, err);
    } else {
        const char *argv[] = {"kubectl", "kustomize", ".", NULL};
        return run_tool(objects, ctx, argv, dir, label, err);
    }
}

/* A "$ref/path" values file: read at the ref source's commit and written
 * into the exported chart folder; *out is its path there, or "" when it is
 * missing and helm.ignoreMissingValueFiles is set. */
static int ref_values_file(char **out, const struct ws_render_ctx *ctx, const struct ws_app_source *src,
                           const char *vf, const char *dir, size_t i, struct ws_err *err)
{
    const struct ws_app_source *to = NULL;
    const struct ws_render_ref *ref = NULL;
    const char *path = NULL;
    char *data = NULL;
    size_t len = 0, k;
    FILE *f;
    int rc;
    *out = NULL;
    if (!ctx->app || ws_app_value_ref(ctx->app, vf, &to, &path) < 0)
        return ws_err_set(err, WS_EINVAL, "Application \"%s\": values file \"%s\" names no source", ctx->app_name,
                          vf);
    for (k = 0; k < ctx->nrefs && !ref; k++)
        if (ctx->refs[k].src == to)
            ref = &ctx->refs[k];
    if (!ref)
        return ws_err_set(err, WS_EINVAL, "Application \"%s\": ref \"%s\" was not resolved", ctx->app_name, to->ref);
    rc = ws_git_read_file(&data, &len, ref->repo_path, ref->commit, path, REF_VALUES_MAX, err);
    if (rc == WS_ENOTFOUND && src->helm_ignore_missing) {
        ws_err_clear(err);
        return (*out = strdup("")) ? 0 : ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc < 0) {
        ws_err_set(err, rc == WS_ENOTFOUND ? WS_ENOTFOUND : rc,
                   "Application \"%s\": values file \"%s\": %s has no file %s at %.12s", ctx->app_name, vf,
                   to->repo_url, path, ref->commit);
        return rc == WS_ENOTFOUND ? WS_EINVAL : rc;
    }
    if (asprintf(out, "%s/.wavesync-ref-values-%zu.yaml", dir, i) < 0) {
        free(data);
        *out = NULL;
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (!(f = fopen(*out, "w")) || fwrite(data, 1, len, f) != len) {
        if (f)
            fclose(f);
        free(data);
        free(*out);
        *out = NULL;
        return ws_err_set(err, WS_EIO, "Application \"%s\": cannot write values file \"%s\"", ctx->app_name, vf);
    }
    free(data);
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return ws_err_set(err, WS_EIO, "Application \"%s\": cannot write values file \"%s\"", ctx->app_name, vf);
    }
    return 0;
}

static int render_helm(json_t *objects, const struct ws_render_ctx *ctx,
                       const struct ws_app_source *src, const char *dir, struct ws_err *err)
{
    const char *argv[256];
    char *owned[64];
    size_t n = 0, nowned = 0, i;
    char label[256], *values_file = NULL;
    int rc;
    if (!ws_proc_in_path("helm"))
        return ws_err_set(err, WS_EINVAL,
                          "Application \"%s\": %s%s%s is a Helm chart; install `helm` (not in PATH)",
                          ctx->app_name, src->chart ? "chart " : "path \"", src->chart ? src->chart : src->path,
                          src->chart ? "" : "\"");
    argv[n++] = "helm";
    argv[n++] = "template";
    argv[n++] = src->helm_release_name ? src->helm_release_name : ctx->app_name;
    argv[n++] = ".";
    argv[n++] = "--include-crds";
    if (ctx->namespace_) {
        argv[n++] = "--namespace";
        argv[n++] = ctx->namespace_;
    }
    for (i = 0; src->helm_value_files && src->helm_value_files[i] && n < 200 && nowned < 32; i++) {
        const char *vf = src->helm_value_files[i];
        char *local = NULL;
        if (vf[0] == '$') {
            if ((rc = ref_values_file(&local, ctx, src, vf, dir, i, err)) < 0)
                goto out;
        } else if (src->helm_ignore_missing) {
            /* ignoreMissingValueFiles: skip what the chart folder lacks */
            struct stat st;
            char *p = NULL;
            int missing = asprintf(&p, "%s/%s", dir, vf) >= 0 && stat(p, &st) != 0;
            free(p);
            if (missing)
                continue;
        }
        if (local) {
            if (!*local) { /* a missing $ref file, ignored */
                free(local);
                continue;
            }
            owned[nowned++] = local;
            vf = local;
        }
        argv[n++] = "--values";
        argv[n++] = vf;
    }
    if (src->helm_values) {
        /* Inline values go through a file in the exported copy. */
        FILE *f;
        if (asprintf(&values_file, "%s/.wavesync-values.yaml", dir) < 0 || !(f = fopen(values_file, "w"))) {
            free(values_file);
            return ws_err_set(err, WS_EIO, "Application \"%s\": cannot write inline Helm values",
                              ctx->app_name);
        }
        fputs(src->helm_values, f);
        fclose(f);
        argv[n++] = "--values";
        argv[n++] = values_file;
    }
    for (i = 0; i < json_array_size(src->helm_parameters) && n < 250 && nowned < 64; i++) {
        json_t *p = json_array_get(src->helm_parameters, i);
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *value = json_string_value(json_object_get(p, "value"));
        char *set;
        if (!name || asprintf(&set, "%s=%s", name, value ? value : "") < 0)
            continue;
        owned[nowned++] = set;
        argv[n++] = json_is_true(json_object_get(p, "forceString")) ? "--set-string" : "--set";
        argv[n++] = set;
    }
    argv[n] = NULL;
    if (src->chart)
        snprintf(label, sizeof(label), "helm template (chart %s)", src->chart);
    else
        snprintf(label, sizeof(label), "helm template %s", src->path);
    rc = run_tool(objects, ctx, argv, dir, label, err);
out:
    for (i = 0; i < nowned; i++)
        free(owned[i]);
    free(values_file);
    return rc;
}

int ws_render_source(json_t *objects, const struct ws_render_ctx *ctx,
                     const struct ws_app_source *src, struct ws_err *err)
{
    enum ws_render_kind kind;
    struct ws_chart_env env = {0};
    struct ws_tmptree root = WS_TMPTREE_INIT;
    const struct ws_plugin_cfg *plugin = NULL;
    char *dir = NULL;
    json_t *found = json_array();
    int rc;
    if (!found)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (ws_app_source_ref_only(src)) {
        json_decref(found);
        return 0;
    }
    if ((rc = ws_render_detect(&kind, ctx, src, err)) < 0)
        goto out;
    env.config = ctx->config;
    env.state_dir = ctx->state_dir;
    env.fresh_since = ctx->fetched_since;
    if (src->chart) {
        /* a chart from a Helm repository or an OCI registry: pulled (and its
           dependencies placed) into a temporary tree of its own */
        if ((rc = ws_tmptree_create(&root, ctx->tmp_root, WS_GIT_EXPORT_PREFIX, err)) < 0 ||
            (rc = ws_chart_pull(&dir, &env, src->repo_url, src->chart, src->target_revision, root.path, err)) < 0)
            goto out;
        rc = render_helm(found, ctx, src, dir, err);
        goto out;
    }
    /* Argo CD asks the plugins first: a plugin block, or no explicit type
       while some plugin has a discover rule */
    if (kind == WS_RENDER_PLUGIN ||
        (!src->has_helm && !src->has_kustomize && !src->has_directory && ws_plugin_any_discovery(ctx->config))) {
        if ((rc = export_tree(&root, &dir, ctx, src, err)) < 0 ||
            (rc = ws_plugin_select(&plugin, ctx->config, src, dir, err)) < 0) {
            ws_err_prefix(err, "Application \"%s\"", ctx->app_name);
            goto out;
        }
        if (plugin) {
            kind = WS_RENDER_PLUGIN;
        } else if (kind == WS_RENDER_PLUGIN) {
            rc = ws_err_set(err, WS_EINVAL,
                            "Application \"%s\": source.plugin names no plugin and no plugin's discover.fileName "
                            "matches path \"%s\" (%zu plugin%s configured in wavesync.yaml)",
                            ctx->app_name, src->path, ctx->config ? ctx->config->nplugins : 0,
                            ctx->config && ctx->config->nplugins == 1 ? "" : "s");
            goto out;
        }
    }
    if (kind == WS_RENDER_DIRECTORY) {
        rc = render_directory(found, ctx, src, &root, &dir, err);
        goto out;
    }
    if ((rc = export_tree(&root, &dir, ctx, src, err)) < 0)
        goto out;
    if (kind == WS_RENDER_PLUGIN) {
        struct ws_tmptree home = WS_TMPTREE_INIT;
        struct ws_plugin_run r = {0};
        if ((rc = ws_tmptree_create(&home, ctx->tmp_root, WS_GIT_EXPORT_PREFIX "home-", err)) < 0)
            goto out;
        r.plugin = plugin;
        r.src = src;
        r.dir = dir;
        r.home = home.path;
        r.app_name = ctx->app_name;
        r.app_namespace = ctx->namespace_;
        r.revision = ctx->commit;
        r.max_output = ctx->max_bytes ? ctx->max_bytes : RENDER_MAX_BYTES;
        if ((rc = ws_plugin_generate(found, &r, err)) < 0)
            ws_err_prefix(err, "Application \"%s\"", ctx->app_name);
        ws_tmptree_remove(&home);
        goto out;
    }
    /* a chart in Git: the dependencies its charts/ lacks (never `helm
       dependency build`: helm's own repositories and network) */
    if (kind == WS_RENDER_HELM && ctx->state_dir && (rc = ws_chart_deps(&env, dir, root.path, err)) < 0)
        goto out;
    rc = kind == WS_RENDER_HELM ? render_helm(found, ctx, src, dir, err)
                                : render_kustomize(found, ctx, src, dir, err);
out:
    ws_tmptree_remove(&root); /* on every path: a killed tool's tree too */
    free(dir);
    if (rc == 0)
        json_array_extend(objects, found);
    json_decref(found);
    return rc;
}
