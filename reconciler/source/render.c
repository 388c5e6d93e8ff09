/* render.c — directory, Kustomize and Helm sources to manifest objects. */
#include "source/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/git.h"
#include "source/chart.h"
#include "base/log.h"
#include "source/manifest.h"
#include "base/proc.h"
#include "base/tmptree.h"
#include "base/util.h"
#include "config/config.h" /* WS_TOOL_DEFAULT_TIMEOUT_MS */

#define RENDER_MAX_BYTES (64u << 20)
#define EDIT_MAX_OUTPUT (1u << 20)

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
    if (src->has_plugin)
        return ws_err_set(err, WS_EINVAL,
                          "Application \"%s\": config management plugins are not supported", ctx->app_name);
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
    if (src->has_helm || has_file(ctx, src->path, "Chart.yaml", err))
        *out = WS_RENDER_HELM;
    else if (src->has_kustomize || has_file(ctx, src->path, "kustomization.yaml", err) ||
             has_file(ctx, src->path, "kustomization.yml", err) ||
             has_file(ctx, src->path, "Kustomization", err))
        *out = WS_RENDER_KUSTOMIZE;
    else
        *out = WS_RENDER_DIRECTORY;
    return 0;
}

static int render_directory(json_t *objects, const struct ws_render_ctx *ctx,
                            const struct ws_app_source *src, struct ws_err *err)
{
    struct ws_git_files files = {0};
    int rc;
    size_t i;
    if ((rc = ws_git_read_dir(&files, ctx->repo_path, ctx->commit, src->path, src->recurse,
                              src->include, src->exclude,
                              ctx->max_bytes ? ctx->max_bytes : RENDER_MAX_BYTES, err)) < 0)
        return rc;
    for (i = 0; i < files.n && rc == 0; i++)
        rc = ws_manifest_parse(objects, files.v[i].data, files.v[i].len, files.v[i].path, err);
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
    for (i = 0; src->helm_value_files && src->helm_value_files[i] && n < 200; i++) {
        argv[n++] = "--values";
        argv[n++] = src->helm_value_files[i];
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
    char *dir = NULL;
    json_t *found = json_array();
    int rc;
    if (!found)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if ((rc = ws_render_detect(&kind, ctx, src, err)) < 0)
        goto out;
    if (kind == WS_RENDER_DIRECTORY) {
        rc = render_directory(found, ctx, src, err);
        goto out;
    }
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
    /* External tools need files: export the tree at the commit. */
    if ((rc = ws_git_export(&root, ctx->repo_path, ctx->commit, ctx->tmp_root, err)) < 0)
        goto out;
    if (asprintf(&dir, "%s/%s", root.path, src->path) < 0) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
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
