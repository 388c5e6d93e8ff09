/* app.c — Argo CD's argoproj.io/v1alpha1 Application, read from one parsed
 * YAML document: sources, destination, sync policy, wavesync's annotations.
 * Pure: no I/O. Errors name file:line through the YAML position mirror.
 *
 * Leniency follows Argo CD: spec fields we do not act on (info,
 * revisionHistoryLimit, syncPolicy.managedNamespaceMetadata, helm
 * fileParameters/skipCrds/version, kustomize commonLabels/patches, …) and
 * unknown spec keys are accepted and ignored, as the Application CRD's
 * consumers ignore them; what would change the result in a way we cannot
 * honour (two source types in one source, a jq path expression beyond the
 * common forms in ignoreDifferences) is an error. */
#include "source/app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/route.h"
#include "source/semver.h"
#include "source/sync_options.h"
#include "base/util.h"
#include "base/yaml.h"

#define ANN_WAVE_TIMEOUT "wavesync.dev/wave-timeout"
#define ANN_GENERATE_PATHS "argocd.argoproj.io/manifest-generate-paths"

/* Defaults of Argo CD's syncPolicy.retry.backoff. */
#define RETRY_BACKOFF_MS 5000
#define RETRY_FACTOR 2
#define RETRY_MAX_BACKOFF_MS (3 * 60 * 1000)

struct actx {
    const char *file;
    const char *name; /* NULL until metadata.name is known */
    struct ws_err *err;
};

static int fail(const struct actx *x, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct actx *x, int line, const char *fmt, ...)
{
    char msg[900], at[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(at, sizeof(at), ":%d", line);
    if (x->name)
        return ws_err_set(x->err, WS_EINVAL, "%s%s: Application \"%s\": %s", x->file, at, x->name,
                          msg);
    return ws_err_set(x->err, WS_EINVAL, "%s%s: %s", x->file, at, msg);
}

static int nomem(const struct actx *x)
{
    return ws_err_set(x->err, WS_ENOMEM, "out of memory");
}

/* --- field helpers ------------------------------------------------------------ */

/* `key` of `obj` when present and not null. */
static const json_t *field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* Optional string: absent, null or "" leaves *out NULL. */
static int get_str(const struct actx *x, char **out, const json_t *obj, const json_t *pos,
                   const char *key, const char *where)
{
    const json_t *v = field(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be a string", where, key);
    if (json_string_length(v) == 0)
        return 0;
    if (!(*out = strdup(json_string_value(v))))
        return nomem(x);
    return 0;
}

static int get_bool(const struct actx *x, int *out, const json_t *obj, const json_t *pos,
                    const char *key, const char *where)
{
    const json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be true or false", where, key);
    *out = json_is_true(v);
    return 0;
}

/* Absent/null → NULL; otherwise it must be a mapping. */
static int get_map(const struct actx *x, const json_t **out, const json_t *obj,
                   const json_t *pos, const char *key, const char *where)
{
    const json_t *v = field(obj, key);
    *out = v;
    if (v && !json_is_object(v))
        return fail(x, ws_yaml_key_line(pos, key), "%s%s%s must be a mapping", where, *where ? "." : "",
                    key);
    return 0;
}

static int get_list(const struct actx *x, const json_t **out, const json_t *obj,
                    const json_t *pos, const char *key, const char *where)
{
    const json_t *v = field(obj, key);
    *out = v;
    if (v && !json_is_array(v))
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be a list", where, key);
    return 0;
}

/* A scalar as text: helm parameter values and revisions may be written as
 * YAML numbers or booleans. NULL for collections. Caller frees. */
static char *scalar_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v))
        return json_dumps(v, JSON_ENCODE_ANY);
    return NULL;
}

/* A duration written as a string ("5s", "3m") or a bare number of seconds. */
static int get_duration(const struct actx *x, uint64_t *out, const json_t *obj,
                        const json_t *pos, const char *key, const char *where)
{
    const json_t *v = field(obj, key);
    char *text;
    int rc = 0;
    if (!v)
        return 0;
    if (!(json_is_string(v) || json_is_integer(v)) || !(text = scalar_text(v)))
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be a duration such as \"5s\"", where, key);
    if (ws_duration_parse(out, text) < 0)
        rc = fail(x, ws_yaml_key_line(pos, key), "%s.%s: bad duration \"%s\"", where, key, text);
    free(text);
    return rc;
}

/* metadata.annotations / labels: a mapping of strings, copied ({} when absent). */
static int get_string_map(const struct actx *x, json_t **out, const json_t *meta,
                          const json_t *mpos, const char *key)
{
    const json_t *m = NULL, *v, *kpos = ws_yaml_pos_child(mpos, key);
    const char *k;
    int rc;
    if ((rc = get_map(x, &m, meta, mpos, key, "metadata")) < 0)
        return rc;
    json_object_foreach((json_t *)m, k, v) {
        if (!json_is_string(v))
            return fail(x, ws_yaml_key_line(kpos, k), "metadata.%s[\"%s\"] must be a string", key, k);
    }
    if (!(*out = m ? json_deep_copy(m) : json_object()))
        return nomem(x);
    return 0;
}

/* --- sources ------------------------------------------------------------------ */

/* extVars / tlas: [{name, value, code}], copied with value a string (a
 * YAML number or boolean as text) and code a boolean. */
static int parse_jsonnet_vars(const struct actx *x, json_t **out, const json_t *j, const json_t *jpos,
                              const char *key, const char *w)
{
    const json_t *list = NULL, *v, *lpos = ws_yaml_pos_child(jpos, key);
    size_t i;
    int rc;
    if ((rc = get_list(x, &list, j, jpos, key, w)) < 0 || !list)
        return rc;
    if (!(*out = json_array()))
        return nomem(x);
    json_array_foreach(list, i, v) {
        const json_t *vpos = ws_yaml_pos_item(lpos, i), *value = field(v, "value");
        const char *name = json_string_value(field(v, "name"));
        char *text;
        json_t *item;
        int code = 0;
        if (!json_is_object(v) || !name || !*name || strchr(name, '='))
            return fail(x, ws_yaml_line(vpos), "%s.%s[%zu] needs a name (without \"=\")", w, key, i);
        if ((rc = get_bool(x, &code, v, vpos, "code", w)) < 0)
            return rc;
        if (!(text = value ? scalar_text(value) : strdup("")))
            return value && !json_is_string(value) && !json_is_number(value) && !json_is_boolean(value)
                       ? fail(x, ws_yaml_key_line(vpos, "value"), "%s.%s[%zu].value must be a string", w, key, i)
                       : nomem(x);
        item = json_pack("{s:s, s:s, s:b}", "name", name, "value", text, "code", code);
        free(text);
        if (!item || json_array_append_new(*out, item) < 0) /* steals */
            return nomem(x);
    }
    return 0;
}

/* libs: folders of the repository (Argo CD joins them to its root). */
static int parse_jsonnet_libs(const struct actx *x, struct ws_app_source *s, const json_t *j,
                              const json_t *jpos, const char *w)
{
    const json_t *list = NULL, *v, *lpos = ws_yaml_pos_child(jpos, "libs");
    size_t i;
    int rc;
    if ((rc = get_list(x, &list, j, jpos, "libs", w)) < 0 || !list)
        return rc;
    if (!(s->jsonnet_libs = json_array()))
        return nomem(x);
    json_array_foreach(list, i, v) {
        int line = ws_yaml_line(ws_yaml_pos_item(lpos, i));
        char *clean = NULL, shown[160];
        if (!json_is_string(v) || json_string_length(v) == 0)
            return fail(x, line, "%s.libs[%zu] must be a folder of the repository", w, i);
        ws_str_quote_cut(shown, sizeof(shown), json_string_value(v));
        if (json_string_value(v)[0] == '/')
            return fail(x, line, "%s.libs[%zu] %s: give a path relative to the repository root", w, i, shown);
        rc = ws_repo_path_clean(&clean, json_string_value(v));
        if (rc == WS_ENOMEM)
            return nomem(x);
        if (rc < 0)
            return fail(x, line, "%s.libs[%zu] %s escapes the repository", w, i, shown);
        rc = json_array_append_new(s->jsonnet_libs, json_string(*clean ? clean : ".")); /* steals */
        free(clean);
        if (rc < 0)
            return nomem(x);
    }
    return 0;
}

static int parse_directory(const struct actx *x, struct ws_app_source *s, const json_t *d,
                           const json_t *dpos, const char *where)
{
    char w[96], jw[112];
    const json_t *jsonnet = NULL, *jpos = ws_yaml_pos_child(dpos, "jsonnet");
    int rc;
    snprintf(w, sizeof(w), "%s.directory", where);
    snprintf(jw, sizeof(jw), "%s.jsonnet", w);
    if ((rc = get_bool(x, &s->recurse, d, dpos, "recurse", w)) < 0 ||
        (rc = get_str(x, &s->include, d, dpos, "include", w)) < 0 ||
        (rc = get_str(x, &s->exclude, d, dpos, "exclude", w)) < 0 ||
        (rc = get_map(x, &jsonnet, d, dpos, "jsonnet", w)) < 0)
        return rc;
    if (!jsonnet)
        return 0;
    if ((rc = parse_jsonnet_vars(x, &s->jsonnet_ext_vars, jsonnet, jpos, "extVars", jw)) < 0 ||
        (rc = parse_jsonnet_vars(x, &s->jsonnet_tlas, jsonnet, jpos, "tlas", jw)) < 0 ||
        (rc = parse_jsonnet_libs(x, s, jsonnet, jpos, jw)) < 0)
        return rc;
    return 0;
}

/* plugin: {name, env: [{name, value}], parameters: [{name, string|array|map}]}. */
static int parse_plugin(const struct actx *x, struct ws_app_source *s, const json_t *p, const json_t *ppos,
                        const char *where)
{
    char w[96];
    const json_t *env = NULL, *params = NULL, *v, *epos = ws_yaml_pos_child(ppos, "env");
    size_t i;
    int rc;
    snprintf(w, sizeof(w), "%s.plugin", where);
    if ((rc = get_str(x, &s->plugin_name, p, ppos, "name", w)) < 0 ||
        (rc = get_list(x, &env, p, ppos, "env", w)) < 0 ||
        (rc = get_list(x, &params, p, ppos, "parameters", w)) < 0)
        return rc;
    if (env) {
        if (!(s->plugin_env = json_array()))
            return nomem(x);
        json_array_foreach(env, i, v) {
            const json_t *vpos = ws_yaml_pos_item(epos, i), *value = field(v, "value");
            const char *name = json_string_value(field(v, "name"));
            char *text;
            json_t *item;
            if (!json_is_object(v) || !name || !*name || name[strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                         "abcdefghijklmnopqrstuvwxyz0123456789_")])
                return fail(x, ws_yaml_line(vpos), "%s.env[%zu] needs a name of letters, digits and _", w, i);
            if (!(text = value ? scalar_text(value) : strdup("")))
                return value && !json_is_string(value) && !json_is_number(value) && !json_is_boolean(value)
                           ? fail(x, ws_yaml_key_line(vpos, "value"), "%s.env[%zu].value must be a string", w, i)
                           : nomem(x);
            item = json_pack("{s:s, s:s}", "name", name, "value", text);
            free(text);
            if (!item || json_array_append_new(s->plugin_env, item) < 0) /* steals */
                return nomem(x);
        }
    }
    if (params) {
        json_array_foreach(params, i, v) {
            if (!json_is_object(v) || !json_string_value(field(v, "name")))
                return fail(x, ws_yaml_line(ws_yaml_pos_item(ws_yaml_pos_child(ppos, "parameters"), i)),
                            "%s.parameters[%zu] needs a name", w, i);
        }
        if (!(s->plugin_parameters = json_deep_copy(params)))
            return nomem(x);
    }
    return 0;
}

/* A Helm values file must be a file of the repository: a path relative to
 * the chart (source.path) that stays inside the repository. An absolute
 * path or a URL would make `helm template` read any file on wavesync's host
 * or fetch from anywhere, for whoever can push. */
static int check_value_file(const struct actx *x, const char *chart, const char *vf, int line, const char *w,
                            size_t i)
{
    char shown[160], *joined = NULL, *clean = NULL;
    const char *rel = vf;
    int rc;
    ws_str_quote_cut(shown, sizeof(shown), vf);
    if (vf[0] == '$') {
        /* "$ref/path": a file of the repository of the source called ref,
           relative to its root (Argo CD's multi-source values) */
        const char *slash = strchr(vf, '/');
        if (!slash || slash == vf + 1 || !slash[1])
            return fail(x, line, "%s.valueFiles[%zu] %s: a reference to another source is \"$ref/path\"", w, i,
                        shown);
        rel = slash + 1;
        chart = "";
    }
    if (!*rel || rel[0] == '/' || strstr(rel, "://"))
        return fail(x, line,
                    "%s.valueFiles[%zu] %s: only files of the repository may be values files (a path relative "
                    "to spec.source.path, or \"$ref/path\" in another source); absolute paths and URLs are refused",
                    w, i, shown);
    if (asprintf(&joined, "%s/%s", chart && *chart ? chart : ".", rel) < 0)
        return nomem(x);
    rc = ws_repo_path_clean(&clean, joined);
    free(joined);
    free(clean);
    if (rc == WS_ENOMEM)
        return nomem(x);
    if (rc < 0)
        return fail(x, line, "%s.valueFiles[%zu] %s escapes the repository", w, i, shown);
    return 0;
}

int ws_app_source_ref_only(const struct ws_app_source *s)
{
    return s->ref && !s->has_path && !s->chart;
}

int ws_app_value_ref(const struct ws_app *a, const char *vf, const struct ws_app_source **out,
                     const char **path)
{
    const char *slash = vf && vf[0] == '$' ? strchr(vf, '/') : NULL;
    size_t n, i;
    if (!slash)
        return WS_ENOTFOUND;
    n = (size_t)(slash - vf - 1);
    for (i = 0; i < a->nsources; i++)
        if (a->sources[i].ref && strlen(a->sources[i].ref) == n && memcmp(a->sources[i].ref, vf + 1, n) == 0) {
            *out = &a->sources[i];
            *path = slash + 1;
            return 0;
        }
    return WS_ENOTFOUND;
}

static int parse_helm_parameters(const struct actx *x, struct ws_app_source *s,
                                 const json_t *list, const json_t *lpos, const char *w)
{
    const json_t *p;
    size_t i;
    if (!(s->helm_parameters = json_array()))
        return nomem(x);
    json_array_foreach(list, i, p) {
        const json_t *ppos = ws_yaml_pos_item(lpos, i);
        const char *name = json_string_value(field(p, "name"));
        const json_t *value = field(p, "value");
        char *text = value ? scalar_text(value) : strdup("");
        json_t *item;
        if (!json_is_object(p) || !name || !*name) {
            free(text);
            return fail(x, ws_yaml_line(ppos), "%s.parameters[%zu] needs a name", w, i);
        }
        if (!text) {
            if (value && !json_is_string(value) && !json_is_number(value) && !json_is_boolean(value))
                return fail(x, ws_yaml_key_line(ppos, "value"), "%s.parameters[%zu].value must be a scalar",
                            w, i);
            return nomem(x);
        }
        item = json_pack("{s:s, s:s}", "name", name, "value", text);
        free(text);
        if (!item)
            return nomem(x);
        if (json_is_true(field(p, "forceString")))
            json_object_set_new(item, "forceString", json_true()); /* steals */
        if (json_array_append_new(s->helm_parameters, item) < 0) /* steals */
            return nomem(x);
    }
    return 0;
}

static int parse_helm(const struct actx *x, struct ws_app_source *s, const json_t *h,
                      const json_t *hpos, const char *where)
{
    char w[96];
    const json_t *files = NULL, *params = NULL, *v, *obj = NULL, *vals;
    size_t i;
    int rc;
    snprintf(w, sizeof(w), "%s.helm", where);
    if ((rc = get_str(x, &s->helm_release_name, h, hpos, "releaseName", w)) < 0 ||
        (rc = get_list(x, &files, h, hpos, "valueFiles", w)) < 0 ||
        (rc = get_list(x, &params, h, hpos, "parameters", w)) < 0 ||
        (rc = get_map(x, &obj, h, hpos, "valuesObject", w)) < 0 ||
        (rc = get_bool(x, &s->helm_ignore_missing, h, hpos, "ignoreMissingValueFiles", w)) < 0)
        return rc;
    if (files) {
        if (!(s->helm_value_files = calloc(json_array_size(files) + 1, sizeof(char *))))
            return nomem(x);
        json_array_foreach(files, i, v) {
            int line = ws_yaml_line(ws_yaml_pos_item(ws_yaml_pos_child(hpos, "valueFiles"), i));
            if (!json_is_string(v))
                return fail(x, line, "%s.valueFiles[%zu] must be a string", w, i);
            if ((rc = check_value_file(x, s->path, json_string_value(v), line, w, i)) < 0)
                return rc;
            if (!(s->helm_value_files[i] = strdup(json_string_value(v))))
                return nomem(x);
        }
    }
    if (params && (rc = parse_helm_parameters(x, s, params, ws_yaml_pos_child(hpos, "parameters"), w)) < 0)
        return rc;
    /* valuesObject wins over values, as in Argo CD; a mapping under values
     * (written by hand instead of a block string) is taken too. */
    vals = field(h, "values");
    if (obj || json_is_object(vals)) {
        if (!(s->helm_values = ws_yaml_dump(obj ? obj : vals)))
            return nomem(x);
    } else if (vals) {
        if (!json_is_string(vals))
            return fail(x, ws_yaml_key_line(hpos, "values"), "%s.values must be a string or a mapping", w);
        if (json_string_length(vals) && !(s->helm_values = strdup(json_string_value(vals))))
            return nomem(x);
    }
    return 0;
}

static int parse_kustomize(const struct actx *x, struct ws_app_source *s, const json_t *k,
                           const json_t *kpos, const char *where)
{
    char w[96];
    const json_t *images = NULL, *v;
    size_t i;
    int rc;
    snprintf(w, sizeof(w), "%s.kustomize", where);
    if ((rc = get_str(x, &s->kustomize_name_prefix, k, kpos, "namePrefix", w)) < 0 ||
        (rc = get_str(x, &s->kustomize_name_suffix, k, kpos, "nameSuffix", w)) < 0 ||
        (rc = get_list(x, &images, k, kpos, "images", w)) < 0)
        return rc;
    if (!images)
        return 0;
    json_array_foreach(images, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return fail(x, ws_yaml_line(ws_yaml_pos_item(ws_yaml_pos_child(kpos, "images"), i)),
                        "%s.images[%zu] must be a string such as \"name=new:tag\"", w, i);
    }
    if (!(s->kustomize_images = json_deep_copy(images)))
        return nomem(x);
    return 0;
}

static int parse_source(const struct actx *x, struct ws_app_source *s, const json_t *src,
                        const json_t *spos, const char *where)
{
    const json_t *dir = NULL, *helm = NULL, *kust = NULL, *plugin = NULL, *rev;
    char *path = NULL, kinds[64] = "";
    int rc;
    if (!json_is_object(src))
        return fail(x, ws_yaml_line(spos), "%s must be a mapping", where);
    if ((rc = get_str(x, &s->repo_url, src, spos, "repoURL", where)) < 0 ||
        (rc = get_str(x, &s->chart, src, spos, "chart", where)) < 0 ||
        (rc = get_str(x, &s->ref, src, spos, "ref", where)) < 0 ||
        (rc = get_str(x, &path, src, spos, "path", where)) < 0)
        return rc;
    s->has_path = path != NULL;
    if (s->ref && (!*s->ref || strspn(s->ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                                   strlen(s->ref))) {
        char shown[96];
        free(path);
        ws_str_quote_cut(shown, sizeof(shown), s->ref);
        return fail(x, ws_yaml_key_line(spos, "ref"), "%s.ref %s: a ref is letters, digits, '-' and '_'", where,
                    shown);
    }
    if (!s->repo_url) {
        free(path);
        return fail(x, ws_yaml_line(spos), "%s.repoURL is required", where);
    }
    rc = ws_repo_path_clean(&s->path, path ? path : "");
    if (rc == WS_ENOMEM)
        rc = nomem(x);
    else if (rc < 0)
    {
        char shown[160];
        ws_str_quote_cut(shown, sizeof(shown), path);
        rc = fail(x, ws_yaml_key_line(spos, "path"), "%s: path %s escapes the repository", where, shown);
    }
    free(path);
    if (rc < 0)
        return rc;
    rev = field(src, "targetRevision");
    if (rev && !json_is_string(rev) && !json_is_integer(rev))
        return fail(x, ws_yaml_key_line(spos, "targetRevision"),
                    "%s.targetRevision must be a string (quote versions such as \"1.10\")", where);
    if (json_is_string(rev) && json_string_length(rev) > WS_MAX_REVISION) {
        char shown[96];
        ws_str_quote_cut(shown, sizeof(shown), json_string_value(rev));
        return fail(x, ws_yaml_key_line(spos, "targetRevision"), "%s.targetRevision %s is longer than %d characters",
                    where, shown, WS_MAX_REVISION);
    }
    if (rev && !(json_is_string(rev) && json_string_length(rev) == 0)) {
        if (!(s->target_revision = scalar_text(rev)))
            return nomem(x);
    } else if (!(s->target_revision = strdup("HEAD"))) {
        return nomem(x);
    }
    if ((rc = get_map(x, &dir, src, spos, "directory", where)) < 0 ||
        (rc = get_map(x, &helm, src, spos, "helm", where)) < 0 ||
        (rc = get_map(x, &kust, src, spos, "kustomize", where)) < 0 ||
        (rc = get_map(x, &plugin, src, spos, "plugin", where)) < 0)
        return rc;
    s->has_directory = dir != NULL;
    s->has_helm = helm != NULL;
    s->has_kustomize = kust != NULL;
    s->has_plugin = plugin != NULL;
    if (s->has_directory + s->has_helm + s->has_kustomize + s->has_plugin > 1) {
        snprintf(kinds, sizeof(kinds), "%s%s%s%s", dir ? " directory" : "", helm ? " helm" : "",
                 kust ? " kustomize" : "", plugin ? " plugin" : "");
        return fail(x, ws_yaml_line(spos), "%s has more than one source type:%s", where, kinds);
    }
    if (s->chart) {
        /* a chart from a Helm repository or an OCI registry: its version (or
           a constraint) is the targetRevision, as in Argo CD */
        char shown[96];
        if (dir || kust || plugin)
            return fail(x, ws_yaml_key_line(spos, "chart"), "%s.chart is a Helm chart: only a helm block goes with it",
                        where);
        if (strchr(s->chart, '/') || strstr(s->chart, ".."))
            return fail(x, ws_yaml_key_line(spos, "chart"), "%s.chart must be a chart name (no '/')", where);
        if (!rev)
            return fail(x, ws_yaml_line(spos),
                        "%s.targetRevision is required with chart: the chart's version or a constraint "
                        "(\"1.2.3\", \"^1.2\", \">=1.0 <2.0\", \"*\")", where);
        ws_str_quote_cut(shown, sizeof(shown), s->target_revision);
        if (ws_semver_check(s->target_revision) < 0)
            return fail(x, ws_yaml_key_line(spos, "targetRevision"),
                        "%s.targetRevision %s is not a chart version or a version constraint (\"1.2.3\", \"^1.2\", "
                        "\"~1.2.0\", \">=1.0 <2.0\", \"1.2.x\", \"*\")", where, shown);
    }
    if (dir && (rc = parse_directory(x, s, dir, ws_yaml_pos_child(spos, "directory"), where)) < 0)
        return rc;
    if (helm && (rc = parse_helm(x, s, helm, ws_yaml_pos_child(spos, "helm"), where)) < 0)
        return rc;
    if (kust && (rc = parse_kustomize(x, s, kust, ws_yaml_pos_child(spos, "kustomize"), where)) < 0)
        return rc;
    if (plugin && (rc = parse_plugin(x, s, plugin, ws_yaml_pos_child(spos, "plugin"), where)) < 0)
        return rc;
    return 0;
}

/* Every ref is named once, and every "$ref/…" values file names one. */
static int check_refs(const struct actx *x, const struct ws_app *a, const json_t *spos, int single)
{
    size_t i, j;
    char where[48];
    for (i = 0; i < a->nsources; i++) {
        const struct ws_app_source *s = &a->sources[i];
        const json_t *ipos = single ? ws_yaml_pos_child(spos, "source")
                                    : ws_yaml_pos_item(ws_yaml_pos_child(spos, "sources"), i);
        for (j = 0; s->ref && j < i; j++)
            if (a->sources[j].ref && strcmp(a->sources[j].ref, s->ref) == 0)
                return fail(x, ws_yaml_key_line(ipos, "ref"), "spec.sources[%zu].ref \"%s\" is also spec.sources[%zu]'s",
                            i, s->ref, j);
        for (j = 0; s->helm_value_files && s->helm_value_files[j]; j++) {
            const struct ws_app_source *to;
            const char *path, *vf = s->helm_value_files[j];
            char shown[160];
            if (vf[0] != '$' || ws_app_value_ref(a, vf, &to, &path) == 0)
                continue;
            ws_str_quote_cut(shown, sizeof(shown), vf);
            if (single)
                snprintf(where, sizeof(where), "spec.source");
            else
                snprintf(where, sizeof(where), "spec.sources[%zu]", i);
            return fail(x, ws_yaml_line(ws_yaml_pos_item(ws_yaml_pos_child(ws_yaml_pos_child(ipos, "helm"), "valueFiles"), j)),
                        "%s.helm.valueFiles[%zu] %s names no source: give one of spec.sources `ref: %.*s`",
                        where, j, shown, (int)strcspn(vf + 1, "/"), vf + 1);
        }
    }
    return 0;
}

static int parse_sources(const struct actx *x, struct ws_app *a, const json_t *spec,
                         const json_t *spos)
{
    const json_t *one = field(spec, "source"), *many = field(spec, "sources"), *v;
    char where[48];
    size_t i;
    int rc;
    if (one && many)
        return fail(x, ws_yaml_key_line(spos, "sources"),
                    "spec.source and spec.sources are both set: give one");
    if (!one && !many)
        return fail(x, ws_yaml_line(spos), "spec.source or spec.sources is required");
    if (many && (!json_is_array(many) || json_array_size(many) == 0))
        return fail(x, ws_yaml_key_line(spos, "sources"), "spec.sources must be a non-empty list");
    a->nsources = one ? 1 : json_array_size(many);
    if (!(a->sources = calloc(a->nsources, sizeof(*a->sources))))
        return nomem(x);
    if (one) {
        if ((rc = parse_source(x, &a->sources[0], one, ws_yaml_pos_child(spos, "source"), "spec.source")) < 0)
            return rc;
    } else {
        json_array_foreach(many, i, v) {
            snprintf(where, sizeof(where), "spec.sources[%zu]", i);
            if ((rc = parse_source(x, &a->sources[i], v,
                                   ws_yaml_pos_item(ws_yaml_pos_child(spos, "sources"), i), where)) < 0)
                return rc;
        }
    }
    return check_refs(x, a, spos, one != NULL);
}

/* --- destination, sync policy, annotations -------------------------------------- */

static int parse_destination(const struct actx *x, struct ws_app *a, const json_t *spec,
                             const json_t *spos)
{
    const json_t *d = NULL, *dpos = ws_yaml_pos_child(spos, "destination");
    int rc;
    if ((rc = get_map(x, &d, spec, spos, "destination", "spec")) < 0)
        return rc;
    if (!d)
        return fail(x, ws_yaml_line(spos), "spec.destination is required");
    if ((rc = get_str(x, &a->dest_server, d, dpos, "server", "spec.destination")) < 0 ||
        (rc = get_str(x, &a->dest_name, d, dpos, "name", "spec.destination")) < 0 ||
        (rc = get_str(x, &a->dest_namespace, d, dpos, "namespace", "spec.destination")) < 0)
        return rc;
    if (a->dest_server && a->dest_name)
        return fail(x, ws_yaml_line(dpos), "spec.destination has both server and name: give one");
    if (!a->dest_server && !a->dest_name)
        return fail(x, ws_yaml_line(dpos), "spec.destination needs server or name");
    return 0;
}

static int parse_retry(const struct actx *x, struct ws_app *a, const json_t *r, const json_t *rpos)
{
    const json_t *limit = field(r, "limit"), *b = NULL, *factor;
    const json_t *bpos = ws_yaml_pos_child(rpos, "backoff");
    const char *w = "spec.syncPolicy.retry.backoff";
    int rc;
    if (limit) {
        if (!json_is_integer(limit) || json_integer_value(limit) > 1000000 ||
            json_integer_value(limit) < -1000000)
            return fail(x, ws_yaml_key_line(rpos, "limit"), "spec.syncPolicy.retry.limit must be an integer");
        /* negative: retry without limit, as in Argo CD */
        a->retry_limit = (int)json_integer_value(limit);
    }
    if ((rc = get_map(x, &b, r, rpos, "backoff", "spec.syncPolicy.retry")) < 0 || !b)
        return rc;
    if ((rc = get_duration(x, &a->retry_backoff_ms, b, bpos, "duration", w)) < 0 ||
        (rc = get_duration(x, &a->retry_max_backoff_ms, b, bpos, "maxDuration", w)) < 0)
        return rc;
    factor = field(b, "factor");
    if (factor) {
        if (!json_is_integer(factor) || json_integer_value(factor) < 1 ||
            json_integer_value(factor) > 1000)
            return fail(x, ws_yaml_key_line(bpos, "factor"), "%s.factor must be a whole number of at least 1",
                        w);
        a->retry_factor = (int)json_integer_value(factor);
    }
    return 0;
}

static int parse_sync_policy(const struct actx *x, struct ws_app *a, const json_t *spec,
                             const json_t *spos)
{
    const json_t *sp = NULL, *aut = NULL, *opts = NULL, *retry = NULL, *v;
    const json_t *ppos = ws_yaml_pos_child(spos, "syncPolicy"), *apos = ws_yaml_pos_child(ppos, "automated");
    const char *w = "spec.syncPolicy";
    size_t i;
    int rc, enabled = 1;
    a->retry_backoff_ms = RETRY_BACKOFF_MS;
    a->retry_factor = RETRY_FACTOR;
    a->retry_max_backoff_ms = RETRY_MAX_BACKOFF_MS;
    if ((rc = get_map(x, &sp, spec, spos, "syncPolicy", "spec")) < 0 || !sp)
        return rc;
    if ((rc = get_map(x, &aut, sp, ppos, "automated", w)) < 0 ||
        (rc = get_list(x, &opts, sp, ppos, "syncOptions", w)) < 0 ||
        (rc = get_map(x, &retry, sp, ppos, "retry", w)) < 0)
        return rc;
    if (aut) {
        const char *aw = "spec.syncPolicy.automated";
        if ((rc = get_bool(x, &enabled, aut, apos, "enabled", aw)) < 0 ||
            (rc = get_bool(x, &a->auto_prune, aut, apos, "prune", aw)) < 0 ||
            (rc = get_bool(x, &a->self_heal, aut, apos, "selfHeal", aw)) < 0 ||
            (rc = get_bool(x, &a->allow_empty, aut, apos, "allowEmpty", aw)) < 0)
            return rc;
        a->automated = enabled; /* automated.enabled: false (Argo CD 3) turns it off */
    }
    /* item by item (ws_sync_options_parse_list's rule) so an error names its line */
    json_array_foreach(opts, i, v) {
        int line = ws_yaml_line(ws_yaml_pos_item(ws_yaml_pos_child(ppos, "syncOptions"), i));
        if (!json_is_string(v))
            return fail(x, line, "%s.syncOptions[%zu] must be a string", w, i);
        if ((rc = ws_sync_options_parse(&a->sync_options, json_string_value(v), x->err)) < 0) {
            char msg[sizeof(x->err->msg)];
            if (rc == WS_ENOMEM || !x->err)
                return rc;
            snprintf(msg, sizeof(msg), "%s", x->err->msg);
            return fail(x, line, "%s.syncOptions[%zu]: %s", w, i, msg);
        }
    }
    if (retry && (rc = parse_retry(x, a, retry, ws_yaml_pos_child(ppos, "retry"))) < 0)
        return rc;
    return 0;
}

static int parse_annotations(const struct actx *x, struct ws_app *a, const json_t *mpos)
{
    const char *wt = json_string_value(json_object_get(a->annotations, ANN_WAVE_TIMEOUT));
    const char *mgp = json_string_value(json_object_get(a->annotations, ANN_GENERATE_PATHS));
    int line = ws_yaml_pos_line(mpos, "annotations", ANN_WAVE_TIMEOUT, (const char *)NULL);
    if (wt) {
        if (ws_duration_parse(&a->wave_timeout_ms, wt) < 0)
            return fail(x, line, "annotation %s: bad duration \"%s\" (e.g. \"90s\", \"5m\")",
                        ANN_WAVE_TIMEOUT, wt);
        if (a->wave_timeout_ms == 0)
            return fail(x, line, "annotation %s must be greater than zero", ANN_WAVE_TIMEOUT);
    }
    if (mgp && *mgp && !(a->manifest_generate_paths = strdup(mgp)))
        return nomem(x);
    return 0;
}

/* --- ignoreDifferences ------------------------------------------------------------ */

static const char *const ignore_keys[] = {"group", "kind", "name", "namespace", "jsonPointers",
                                          "jqPathExpressions", "managedFieldsManagers"};

/* group and kind are globs as Argo CD matches them (*, ?, [...]); its brace
 * alternatives have no fnmatch equivalent, so they are refused rather than
 * silently matching nothing. */
static int get_glob(const struct actx *x, char **out, const json_t *e, const json_t *epos,
                    const char *key, const char *w)
{
    const json_t *v = field(e, key);
    *out = NULL;
    if (v && !json_is_string(v))
        return fail(x, ws_yaml_key_line(epos, key), "%s.%s must be a string", w, key);
    if (v && strpbrk(json_string_value(v), "{}"))
        return fail(x, ws_yaml_key_line(epos, key),
                    "%s.%s \"%s\": brace alternatives are not supported (write one entry for each)", w, key,
                    json_string_value(v));
    if (!(*out = strdup(v ? json_string_value(v) : "")))
        return nomem(x);
    return 0;
}

/* jsonPointers, jqPathExpressions, managedFieldsManagers: lists of strings,
 * each handed to `add` (ignore.h), whose refusal names the item's line. */
static int get_ignore_list(const struct actx *x, struct ws_ignore_rule *r, const json_t *e,
                           const json_t *epos, const char *key, const char *w,
                           int (*add)(struct ws_ignore_rule *, const char *, struct ws_err *))
{
    const json_t *list = NULL, *v, *lpos = ws_yaml_pos_child(epos, key);
    size_t i;
    int rc;
    if ((rc = get_list(x, &list, e, epos, key, w)) < 0)
        return rc;
    json_array_foreach(list, i, v) {
        int line = ws_yaml_line(ws_yaml_pos_item(lpos, i));
        struct ws_err ie;
        if (!json_is_string(v))
            return fail(x, line, "%s.%s[%zu] must be a string", w, key, i);
        ws_err_clear(&ie);
        if ((rc = add(r, json_string_value(v), &ie)) == WS_ENOMEM)
            return nomem(x);
        if (rc < 0)
            return fail(x, line, "%s.%s[%zu]: %s", w, key, i, ie.msg);
    }
    return 0;
}

static int parse_ignore_entry(const struct actx *x, struct ws_ignore_rule *r, const json_t *e,
                              const json_t *epos, const char *w)
{
    const char *k;
    const json_t *v;
    size_t i;
    int rc;
    if (!json_is_object(e))
        return fail(x, ws_yaml_line(epos), "%s must be a mapping (group, kind, jsonPointers, …)", w);
    json_object_foreach((json_t *)e, k, v) {
        for (i = 0; i < WS_ARRAY_SIZE(ignore_keys) && strcmp(k, ignore_keys[i]) != 0; i++)
            ;
        if (i == WS_ARRAY_SIZE(ignore_keys))
            return fail(x, ws_yaml_key_line(epos, k),
                        "%s: unknown key \"%s\" (group, kind, name, namespace, jsonPointers, "
                        "jqPathExpressions, managedFieldsManagers)", w, k);
    }
    /* an absent group is the core group, as in Argo CD */
    if ((rc = get_glob(x, &r->group, e, epos, "group", w)) < 0 ||
        (rc = get_glob(x, &r->kind, e, epos, "kind", w)) < 0 ||
        (rc = get_str(x, &r->name, e, epos, "name", w)) < 0 ||
        (rc = get_str(x, &r->namespace_, e, epos, "namespace", w)) < 0)
        return rc;
    if (!*r->kind)
        return fail(x, ws_yaml_line(epos), "%s.kind is required (\"*\" for every kind)", w);
    if ((rc = get_ignore_list(x, r, e, epos, "jsonPointers", w, ws_ignore_add_pointer)) < 0 ||
        (rc = get_ignore_list(x, r, e, epos, "jqPathExpressions", w, ws_ignore_add_jq)) < 0 ||
        (rc = get_ignore_list(x, r, e, epos, "managedFieldsManagers", w, ws_ignore_add_manager)) < 0)
        return rc;
    return 0;
}

static int parse_ignore_differences(const struct actx *x, struct ws_app *a, const json_t *spec,
                                    const json_t *spos)
{
    const json_t *list = NULL, *e, *lpos = ws_yaml_pos_child(spos, "ignoreDifferences");
    char w[64];
    size_t i;
    int rc;
    if ((rc = get_list(x, &list, spec, spos, "ignoreDifferences", "spec")) < 0 || !list ||
        json_array_size(list) == 0)
        return rc;
    if (!(a->ignore = calloc(json_array_size(list), sizeof(*a->ignore))))
        return nomem(x);
    json_array_foreach(list, i, e) {
        a->nignore = i + 1; /* freed with the app even when this one fails half-way */
        snprintf(w, sizeof(w), "spec.ignoreDifferences[%zu]", i);
        if ((rc = parse_ignore_entry(x, &a->ignore[i], e, ws_yaml_pos_item(lpos, i), w)) < 0)
            return rc;
    }
    return 0;
}

/* --- the Application ---------------------------------------------------------- */

int ws_app_parse(struct ws_app *out, const json_t *obj, const json_t *pos, const char *file,
                 struct ws_err *err)
{
    struct actx x = {file ? file : "<input>", NULL, err};
    const json_t *meta = NULL, *spec = NULL, *mpos = ws_yaml_pos_child(pos, "metadata");
    const json_t *spos = ws_yaml_pos_child(pos, "spec");
    const char *api, *kind;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj)) {
        rc = fail(&x, ws_yaml_line(pos), "expected an Application (a mapping)");
        goto out;
    }
    api = json_string_value(json_object_get(obj, "apiVersion"));
    kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind || strcmp(kind, "Application") != 0) {
        rc = fail(&x, ws_yaml_key_line(pos, "kind"), "kind \"%s\" is not Application", kind ? kind : "");
        goto out;
    }
    if (!api || strcmp(api, "argoproj.io/v1alpha1") != 0) {
        rc = fail(&x, ws_yaml_key_line(pos, "apiVersion"), "apiVersion \"%s\" is not argoproj.io/v1alpha1",
                  api ? api : "");
        goto out;
    }
    if ((rc = get_map(&x, &meta, obj, pos, "metadata", "")) < 0 ||
        (rc = get_str(&x, &out->name, meta, mpos, "name", "metadata")) < 0)
        goto out;
    if (!out->name) {
        rc = fail(&x, meta ? ws_yaml_line(mpos) : ws_yaml_line(pos), "Application has no metadata.name");
        goto out;
    }
    x.name = out->name;
    out->line = ws_yaml_line(pos);
    if (!(out->file = strdup(x.file))) {
        rc = nomem(&x);
        goto out;
    }
    if ((rc = get_string_map(&x, &out->annotations, meta, mpos, "annotations")) < 0 ||
        (rc = get_string_map(&x, &out->labels, meta, mpos, "labels")) < 0 ||
        (rc = parse_annotations(&x, out, mpos)) < 0 ||
        (rc = get_map(&x, &spec, obj, pos, "spec", "")) < 0)
        goto out;
    if (!spec) {
        rc = fail(&x, ws_yaml_line(pos), "spec is required");
        goto out;
    }
    if ((rc = parse_sources(&x, out, spec, spos)) < 0 ||
        (rc = parse_destination(&x, out, spec, spos)) < 0 ||
        (rc = get_str(&x, &out->project, spec, spos, "project", "spec")) < 0 ||
        (rc = parse_sync_policy(&x, out, spec, spos)) < 0 ||
        (rc = parse_ignore_differences(&x, out, spec, spos)) < 0)
        goto out;
    if (!out->project && !(out->project = strdup("default")))
        rc = nomem(&x);
    /* manifest-generate-paths entries are paths relative to each source path:
       one that leaves the repository is this Application's error */
    for (size_t i = 0; rc == 0 && out->manifest_generate_paths && i < out->nsources; i++) {
        struct ws_err e;
        ws_err_clear(&e);
        if (ws_route_check_source(out->sources[i].path, out->manifest_generate_paths, &e) < 0)
            rc = fail(&x, ws_yaml_pos_line(mpos, "annotations", ANN_GENERATE_PATHS, (const char *)NULL),
                      "annotation %s: %s", ANN_GENERATE_PATHS, e.msg);
    }
out:
    if (rc < 0)
        ws_app_free(out);
    return rc;
}

static void source_free(struct ws_app_source *s)
{
    char **p;
    free(s->repo_url);
    free(s->target_revision);
    free(s->path);
    free(s->chart);
    free(s->ref);
    free(s->include);
    free(s->exclude);
    json_decref(s->jsonnet_ext_vars);
    json_decref(s->jsonnet_tlas);
    json_decref(s->jsonnet_libs);
    free(s->plugin_name);
    json_decref(s->plugin_env);
    json_decref(s->plugin_parameters);
    free(s->helm_release_name);
    for (p = s->helm_value_files; p && *p; p++)
        free(*p);
    free(s->helm_value_files);
    json_decref(s->helm_parameters);
    free(s->helm_values);
    free(s->kustomize_name_prefix);
    free(s->kustomize_name_suffix);
    json_decref(s->kustomize_images);
}

void ws_app_free(struct ws_app *a)
{
    size_t i;
    if (!a)
        return;
    for (i = 0; i < a->nsources; i++)
        source_free(&a->sources[i]);
    free(a->sources);
    free(a->name);
    free(a->file);
    json_decref(a->annotations);
    json_decref(a->labels);
    free(a->dest_server);
    free(a->dest_name);
    free(a->dest_namespace);
    free(a->project);
    free(a->manifest_generate_paths);
    ws_ignore_rules_free(a->ignore, a->nignore);
    memset(a, 0, sizeof(*a));
}
