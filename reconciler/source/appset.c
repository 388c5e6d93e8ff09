/* appset.c — Argo CD's ApplicationSet: generators make parameter sets, the
 * template is rendered once per set into an Application document. Pure: the
 * clusters and Git contents come from the caller's struct ws_appset_env.
 *
 * Semantics follow Argo CD's applicationset controller, quirks included, so
 * a repository written for Argo CD renders the same names: values from git
 * files are printed as Go's %v prints a float64 (1000000 → "1e+06"), an
 * unknown {{param}} stays as written, map keys are templated too. Where Argo
 * CD refuses, so do we; where a construct is Go-template territory we do not
 * implement, we refuse with a message rather than guess. */
#include "source/appset.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/yaml.h"

#define MAX_NEST 3        /* matrix/merge nesting (Argo CD itself allows two levels) */
#define MAX_SETS 10000    /* parameter sets per generator: a runaway matrix is an error */
#define K8S_NAME_MAX 253

struct ctx {
    const char *file;
    const char *name; /* the ApplicationSet's, NULL until known */
    int line;         /* the ApplicationSet's first line */
    int go;           /* spec.goTemplate */
    int missing_error; /* goTemplateOptions: missingkey=error */
    const struct ws_appset_env *env;
    struct ws_err *err;
};

static int vfail(const struct ctx *x, int code, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vfail(const struct ctx *x, int code, int line, const char *fmt, va_list ap)
{
    char msg[sizeof(x->err->msg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (line <= 0)
        line = x->line;
    if (x->name)
        return ws_err_set(x->err, code, "%s:%d: ApplicationSet \"%s\": %s", x->file, line, x->name, msg);
    return ws_err_set(x->err, code, "%s:%d: %s", x->file, line, msg);
}

static int fail(const struct ctx *x, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const struct ctx *x, int line, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vfail(x, WS_EINVAL, line, fmt, ap);
    va_end(ap);
    return rc;
}

/* The same with another code (a Git callback's, so WS_ENET stays WS_ENET). */
static int fail_code(const struct ctx *x, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_code(const struct ctx *x, int code, int line, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vfail(x, code, line, fmt, ap);
    va_end(ap);
    return rc;
}

static int nomem(const struct ctx *x)
{
    return ws_err_set(x->err, WS_ENOMEM, "out of memory");
}

/* A place in the ApplicationSet for messages ("generators[0].matrix.generators[1]");
 * cut short when absurdly deep. */
#define WHERE_LEN 320
static void wheref(char out[WHERE_LEN], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wheref(char out[WHERE_LEN], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, WHERE_LEN, fmt, ap);
    va_end(ap);
}

/* `key` of `obj` when present and not null. */
static const json_t *field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "mapping";
    case JSON_ARRAY: return "list";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* Append a new reference; NULL (ENOMEM) fails. */
static int push(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0 ? 0 : WS_ENOMEM; /* steals */
}

static int set_str(json_t *obj, const char *key, const char *val)
{
    json_t *s = json_string(val);
    return s && json_object_set_new(obj, key, s) == 0 ? 0 : WS_ENOMEM; /* steals */
}


/* --- JSON helpers ------------------------------------------------------------------------ */

/* Go's zero values, as mergo sees them. */
static int is_zero(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) || (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_number(v) && json_number_value(v) == 0) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

/* mergo.Merge(dst, src): what is zero in dst comes from src, mappings merge
 * (a generator's template over the ApplicationSet's). */
static int fill(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *sv, *dv;
    json_object_foreach((json_t *)src, k, sv) {
        dv = json_object_get(dst, k);
        if (json_is_object(dv) && json_is_object(sv)) {
            if (fill(dv, sv) < 0)
                return WS_ENOMEM;
        } else if (is_zero(dv) && json_object_set_new(dst, k, json_deep_copy(sv)) < 0) { /* steals */
            return WS_ENOMEM;
        }
    }
    return 0;
}

/* mergo.Merge(dst, src, WithOverride) of goTemplate parameters: src wins,
 * mappings merge, and (mergo's rule) a list never replaces a non-empty value. */
static int merge_over(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *sv, *dv;
    json_object_foreach((json_t *)src, k, sv) {
        dv = json_object_get(dst, k);
        if (json_is_object(dv) && json_is_object(sv)) {
            if (merge_over(dv, sv) < 0)
                return WS_ENOMEM;
        } else if (!(json_is_array(sv) && !is_zero(dv)) &&
                   json_object_set_new(dst, k, json_deep_copy(sv)) < 0) { /* steals */
            return WS_ENOMEM;
        }
    }
    return 0;
}

/* --- rendering ------------------------------------------------------------------------- */

/* One string of the template: *out a new string (caller frees). */
static int render_str(const struct ctx *x, char **out, const char *s, const json_t *params, int line,
                      const char *path, const char *note)
{
    char why[700];
    int rc = ws__appset_expand(out, s, params, x->go, x->missing_error, why, sizeof(why));
    if (rc == WS_ENOMEM)
        return nomem(x);
    return rc < 0 ? fail(x, line, "%s%s: %s", path, note, why) : 0;
}

/* Render every string (and mapping key, as Argo CD does) of v with params.
 * `path` names the place and `note` the parameter set, for messages. */
static int render(const struct ctx *x, json_t **out, const json_t *v, const json_t *vpos, const json_t *params,
                  const char *path, const char *note)
{
    char sub[WHERE_LEN], *s = NULL;
    const json_t *item;
    const char *k;
    size_t i;
    int rc = 0;
    *out = NULL;
    if (json_is_string(v)) {
        if ((rc = render_str(x, &s, json_string_value(v), params, ws_yaml_line(vpos), path, note)) < 0)
            return rc;
        *out = json_string(s);
        free(s);
        return *out ? 0 : nomem(x);
    }
    if (json_is_array(v)) {
        if (!(*out = json_array()))
            return nomem(x);
        json_array_foreach(v, i, item) {
            json_t *r = NULL;
            wheref(sub, "%s[%zu]", path, i);
            if ((rc = render(x, &r, item, ws_yaml_pos_item(vpos, i), params, sub, note)) < 0 ||
                (rc = push(*out, r)) < 0)
                break;
        }
    } else if (json_is_object(v)) {
        if (!(*out = json_object()))
            return nomem(x);
        json_object_foreach((json_t *)v, k, item) {
            json_t *r = NULL;
            char *key = NULL;
            wheref(sub, "%s.%s", path, k);
            if ((rc = render(x, &r, item, ws_yaml_pos_child(vpos, k), params, sub, note)) < 0)
                break;
            if (strstr(k, "{{") && (rc = render_str(x, &key, k, params, ws_yaml_key_line(vpos, k), sub, note)) < 0) {
                json_decref(r);
                break;
            }
            rc = json_object_set_new(*out, key ? key : k, r) < 0 ? WS_ENOMEM : 0; /* steals */
            free(key);
            if (rc < 0)
                break;
        }
    } else {
        *out = json_incref((json_t *)v);
    }
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
        return rc == WS_ENOMEM ? nomem(x) : rc;
    }
    return 0;
}

/* --- generators -------------------------------------------------------------------------- */

static int generate(const struct ctx *x, json_t **out, const json_t *gen, const json_t *gpos, const char *where,
                    const json_t *parent, int depth);

/* `values` of a clusters or git generator: a mapping of strings. */
static int check_values(const struct ctx *x, const json_t *vals, const json_t *vpos, const char *where)
{
    const char *k;
    const json_t *v;
    if (vals && !json_is_object(vals))
        return fail(x, ws_yaml_line(vpos), "%s.values must be a mapping of strings", where);
    json_object_foreach((json_t *)vals, k, v) {
        if (!json_is_string(v))
            return fail(x, ws_yaml_key_line(vpos, k), "%s.values.%s must be a string", where, k);
    }
    return 0;
}

/* Add values, each rendered with the parameters so far: values.KEY, or
 * values: {KEY} with goTemplate (Argo CD's appendTemplatedValues). */
static int add_values(const struct ctx *x, json_t *p, const json_t *vals, const json_t *vpos, const char *where)
{
    json_t *tmp = json_object(), *v;
    const char *k;
    char why[700], *s = NULL, *key = NULL;
    int rc = 0;
    if (!tmp)
        return nomem(x);
    json_object_foreach((json_t *)vals, k, v) {
        if ((rc = ws__appset_expand(&s, json_string_value(v), p, x->go, x->missing_error, why, sizeof(why))) < 0) {
            rc = rc == WS_ENOMEM ? nomem(x) : fail(x, ws_yaml_key_line(vpos, k), "%s.values.%s: %s", where, k, why);
            break;
        }
        if (!x->go && asprintf(&key, "values.%s", k) < 0)
            key = NULL, rc = nomem(x);
        else
            rc = set_str(tmp, x->go ? k : key, s) < 0 ? nomem(x) : 0;
        free(s);
        free(key);
        s = key = NULL;
        if (rc < 0)
            break;
    }
    if (rc == 0 && json_object_size(tmp) > 0)
        rc = (x->go ? json_object_set(p, "values", tmp) : json_object_update(p, tmp)) < 0 ? nomem(x) : 0;
    json_decref(tmp);
    return rc;
}

/* A Kubernetes label selector (matchLabels, matchExpressions with In,
 * NotIn, Exists, DoesNotExist) against `labels` ({k: string}). */
static int label_selector(const struct ctx *x, int *match, const json_t *sel, const json_t *spos,
                          const json_t *labels, const char *where)
{
    const json_t *ml, *me, *v, *e, *mlpos = ws_yaml_pos_child(spos, "matchLabels");
    const char *k;
    size_t i, j;
    *match = 1;
    if (!sel)
        return 0;
    ml = field(sel, "matchLabels");
    me = field(sel, "matchExpressions");
    if (!json_is_object(sel) || (ml && !json_is_object(ml)) || (me && !json_is_array(me)))
        return fail(x, ws_yaml_line(spos), "%s must be a label selector (matchLabels: {key: value}, "
                                           "matchExpressions: [{key, operator, values}])", where);
    json_object_foreach((json_t *)ml, k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!json_is_string(v))
            return fail(x, ws_yaml_key_line(mlpos, k), "%s.matchLabels.%s must be a string (quote it)", where, k);
        if (!have || strcmp(have, json_string_value(v)) != 0)
            *match = 0;
    }
    json_array_foreach(me, i, e) {
        const json_t *epos = ws_yaml_pos_item(ws_yaml_pos_child(spos, "matchExpressions"), i);
        const char *key = json_string_value(field(e, "key")), *op = json_string_value(field(e, "operator"));
        const json_t *vals = field(e, "values");
        const char *have = key ? json_string_value(json_object_get(labels, key)) : NULL;
        int in = 0, set_op;
        if (!key || !op)
            return fail(x, ws_yaml_line(epos), "%s.matchExpressions[%zu] needs key and operator", where, i);
        if (vals && !json_is_array(vals))
            return fail(x, ws_yaml_key_line(epos, "values"), "%s.matchExpressions[%zu].values must be a list",
                        where, i);
        json_array_foreach(vals, j, v) {
            if (!json_is_string(v))
                return fail(x, ws_yaml_key_line(epos, "values"),
                            "%s.matchExpressions[%zu].values[%zu] must be a string (quote it)", where, i, j);
            in |= have && strcmp(have, json_string_value(v)) == 0;
        }
        set_op = strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0;
        if (!set_op && strcmp(op, "Exists") != 0 && strcmp(op, "DoesNotExist") != 0)
            return fail(x, ws_yaml_key_line(epos, "operator"),
                        "%s.matchExpressions[%zu]: unknown operator \"%s\" (In, NotIn, Exists, DoesNotExist)",
                        where, i, op);
        if (set_op != (json_array_size(vals) > 0))
            return fail(x, ws_yaml_line(epos), "%s.matchExpressions[%zu]: %s %s values", where, i, op,
                        set_op ? "needs" : "takes no");
        if (strcmp(op, "In") == 0 ? !in : strcmp(op, "NotIn") == 0 ? in : strcmp(op, "Exists") == 0 ? !have : !!have)
            *match = 0;
    }
    return 0;
}

/* One element of a list generator. Without goTemplate Argo CD takes
 * strings only (and `values: {k: string}` as values.k); we also take
 * numbers and booleans as their text. */
static int list_element(const struct ctx *x, json_t *sets, const json_t *el, const json_t *epos, const char *where,
                        size_t i)
{
    const char *k, *vk;
    const json_t *v, *vv;
    json_t *p;
    char *key;
    int rc = 0;
    if (!json_is_object(el))
        return fail(x, ws_yaml_line(epos), "%s.list.elements[%zu] must be a mapping", where, i);
    if (x->go)
        return push(sets, json_deep_copy(el)) < 0 ? nomem(x) : 0;
    if (!(p = json_object()))
        return nomem(x);
    json_object_foreach((json_t *)el, k, v) {
        if (strcmp(k, "values") == 0 && json_is_object(v)) {
            json_object_foreach((json_t *)v, vk, vv) {
                if (!json_is_string(vv)) {
                    rc = fail(x, ws_yaml_key_line(ws_yaml_pos_child(epos, k), vk),
                              "%s.list.elements[%zu].values.%s must be a string", where, i, vk);
                    goto out;
                }
                if (asprintf(&key, "values.%s", vk) < 0) {
                    rc = nomem(x);
                    goto out;
                }
                rc = json_object_set(p, key, (json_t *)vv) < 0 ? nomem(x) : 0;
                free(key);
                if (rc < 0)
                    goto out;
            }
        } else if (json_is_object(v) || json_is_array(v) || json_is_null(v)) {
            rc = fail(x, ws_yaml_key_line(epos, k),
                      "%s.list.elements[%zu].%s is a %s: without goTemplate: true element values are strings",
                      where, i, k, type_name(v));
            goto out;
        } else {
            char num[32];
            json_t *text;
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            text = json_is_string(v) ? json_incref((json_t *)v)
                   : json_is_integer(v) ? json_string(num) : ws__appset_value_string(v);
            if (json_object_set_new(p, k, text) < 0) { /* steals */
                rc = nomem(x);
                goto out;
            }
        }
    }
    rc = push(sets, json_incref(p)) < 0 ? nomem(x) : 0;
out:
    json_decref(p);
    return rc;
}

static int gen_list(const struct ctx *x, json_t *sets, const json_t *l, const json_t *lpos, const char *where)
{
    const json_t *els = field(l, "elements"), *yml = field(l, "elementsYaml"), *el;
    const json_t *epos = ws_yaml_pos_child(lpos, "elements");
    json_t *parsed = NULL;
    struct ws_err e;
    size_t i, n = 0;
    int rc = 0;
    if (!json_is_object(l) || (els && !json_is_array(els)))
        return fail(x, ws_yaml_line(lpos), "%s.list needs elements: a list of mappings", where);
    if (yml) {
        ws_err_clear(&e);
        if (!json_is_string(yml))
            return fail(x, ws_yaml_key_line(lpos, "elementsYaml"), "%s.list.elementsYaml must be a string", where);
        if (ws_yaml_parse_one(&parsed, json_string_value(yml), json_string_length(yml), "elementsYaml", NULL, &e) < 0)
            return fail(x, ws_yaml_key_line(lpos, "elementsYaml"), "%s.list: %s", where, e.msg);
        if (!json_is_array(parsed) && !json_is_null(parsed)) {
            json_decref(parsed);
            return fail(x, ws_yaml_key_line(lpos, "elementsYaml"), "%s.list.elementsYaml must be a YAML list",
                        where);
        }
    }
    json_array_foreach(els, i, el) {
        if ((rc = list_element(x, sets, el, ws_yaml_pos_item(epos, i), where, n++)) < 0)
            break;
    }
    json_array_foreach(parsed, i, el) {
        if (rc == 0 && (rc = list_element(x, sets, el, ws_yaml_pos_child(lpos, "elementsYaml"), where, n++)) < 0)
            break;
    }
    json_decref(parsed);
    return rc;
}

/* Clusters from wavesync.yaml: name, nameNormalized, server and the labels
 * (metadata.labels.KEY; with goTemplate metadata: {labels}). */
static int gen_clusters(const struct ctx *x, json_t *sets, const json_t *c, const json_t *cpos, const char *where)
{
    const json_t *sel = field(c, "selector"), *vals = field(c, "values");
    const json_t *vpos = ws_yaml_pos_child(cpos, "values"), *v;
    char w[WHERE_LEN], ws[WHERE_LEN];
    const char *k;
    size_t i;
    int rc;
    wheref(w, "%s.clusters", where);
    wheref(ws, "%s.selector", w);
    if (!json_is_object(c))
        return fail(x, ws_yaml_line(cpos), "%s must be a mapping", w);
    if ((rc = check_values(x, vals, vpos, w)) < 0)
        return rc;
    for (i = 0; i < x->env->nclusters; i++) {
        const struct ws_appset_cluster *cl = &x->env->clusters[i];
        char *norm, *key;
        json_t *p, *meta;
        int match;
        if ((rc = label_selector(x, &match, sel, ws_yaml_pos_child(cpos, "selector"), cl->labels, ws)) < 0)
            return rc;
        if (!match)
            continue;
        if (!(norm = ws_appset_normalize(cl->name)))
            return nomem(x);
        p = json_pack("{s:s, s:s, s:s}", "name", cl->name, "nameNormalized", norm, "server",
                      cl->server ? cl->server : "");
        free(norm);
        if (!p)
            return nomem(x);
        if (x->go) { /* as Argo CD: labels only when there are some */
            meta = json_object();
            if (!meta || json_object_set_new(p, "metadata", meta) < 0 || /* steals */
                (json_object_size(cl->labels) > 0 &&
                 json_object_set_new(meta, "labels", json_deep_copy(cl->labels)) < 0)) /* steals */
                rc = nomem(x);
        } else {
            json_object_foreach((json_t *)cl->labels, k, v) {
                if (rc == 0 && asprintf(&key, "metadata.labels.%s", k) >= 0) {
                    rc = json_object_set(p, key, (json_t *)v) < 0 ? nomem(x) : 0;
                    free(key);
                } else if (rc == 0) {
                    rc = nomem(x);
                }
            }
        }
        if (rc == 0 && vals)
            rc = add_values(x, p, vals, vpos, w);
        if (rc == 0 && push(sets, json_incref(p)) < 0)
            rc = nomem(x);
        json_decref(p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Argo CD's path parameters of a folder `dir` (for the files generator the
 * file's folder, and `file` its name): path, path.basename,
 * path.basenameNormalized, path[N], path.filename, path.filenameNormalized;
 * with goTemplate path: {path, basename, …, segments}. */
static int path_params(const struct ctx *x, json_t *p, const char *dir, const char *file, const char *prefix)
{
    const char *slash = strrchr(dir, '/'), *base = slash ? slash + 1 : dir, *seg;
    char *bn = ws_appset_normalize(base), *fn = file ? ws_appset_normalize(file) : NULL, *name = NULL, *key = NULL;
    json_t *segs = json_array(), *pv = NULL;
    size_t i = 0, len;
    int rc = 0;
    if (!bn || (file && !fn) || !segs || asprintf(&name, "%s%spath", prefix ? prefix : "", prefix ? "." : "") < 0) {
        name = NULL;
        goto nomem;
    }
    for (seg = dir;; seg += len + 1) {
        len = strcspn(seg, "/");
        if (push(segs, json_stringn(seg, len)) < 0)
            goto nomem;
        if (!seg[len])
            break;
    }
    if (x->go) {
        if (!(pv = json_pack("{s:s, s:s, s:s, s:O}", "path", dir, "basename", base, "basenameNormalized", bn,
                             "segments", segs)) ||
            (file && (set_str(pv, "filename", file) < 0 || set_str(pv, "filenameNormalized", fn) < 0)))
            goto nomem;
        if (prefix && json_object_set_new(p, prefix, json_pack("{s:O}", "path", pv)) < 0) /* steals */
            goto nomem;
        if (!prefix && json_object_set(p, "path", pv) < 0)
            goto nomem;
        goto out;
    }
#define SETP(suffix, val)                                                                       \
    do {                                                                                        \
        if (asprintf(&key, "%s%s", name, suffix) < 0 || (rc = set_str(p, key, val)) < 0) \
            goto nomem;                                                                         \
        free(key);                                                                              \
        key = NULL;                                                                             \
    } while (0)
    SETP("", dir);
    SETP(".basename", base);
    SETP(".basenameNormalized", bn);
    if (file) {
        SETP(".filename", file);
        SETP(".filenameNormalized", fn);
    }
    for (i = 0; i < json_array_size(segs); i++) {
        char idx[32];
        if (json_string_length(json_array_get(segs, i)) == 0)
            continue;
        snprintf(idx, sizeof(idx), "[%zu]", i);
        SETP(idx, json_string_value(json_array_get(segs, i)));
    }
#undef SETP
    goto out;
nomem:
    rc = nomem(x);
out:
    free(key);
    free(name);
    free(bn);
    free(fn);
    json_decref(segs);
    json_decref(pv);
    return rc;
}

/* doublestar: '*' stays inside one folder, a "**" segment matches any
 * number of folders (none included). */
static int doublestar(const char *pat, const char *path)
{
    const char *pe = strchr(pat, '/'), *se;
    char ps[512], ss[512];
    size_t pl = pe ? (size_t)(pe - pat) : strlen(pat), sl;
    if (pl == 2 && pat[0] == '*' && pat[1] == '*') {
        if (!pe)
            return 1;
        for (;;) {
            if (doublestar(pe + 1, path))
                return 1;
            if (!(path = strchr(path, '/')))
                return 0;
            path++;
        }
    }
    if (!*path && !*pat)
        return 1;
    se = strchr(path, '/');
    sl = se ? (size_t)(se - path) : strlen(path);
    if (pl >= sizeof(ps) || sl >= sizeof(ss))
        return 0;
    memcpy(ps, pat, pl);
    ps[pl] = '\0';
    memcpy(ss, path, sl);
    ss[sl] = '\0';
    if (fnmatch(ps, ss, FNM_PATHNAME) != 0)
        return 0;
    if (!pe || !se)
        return !pe && !se ? 1 : pe ? doublestar(pe + 1, "") && !se : 0;
    return doublestar(pe + 1, se + 1);
}

/* Argo CD's rule: a path is taken when a pattern without exclude matches it
 * and no pattern with exclude: true does. Folders match with Go's
 * path.Match ('*' stays inside one folder); files as `git ls-files` does
 * ('*' crosses folders), or doublestar with the new globbing. */
static int selected(const struct ctx *x, const json_t *pats, const char *path, int dirs)
{
    const json_t *p;
    size_t i;
    int in = 0, out = 0;
    json_array_foreach(pats, i, p) {
        const char *pat = json_string_value(json_object_get(p, "path"));
        int m = dirs ? fnmatch(pat, path, FNM_PATHNAME) == 0
                     : x->env->new_git_file_globbing ? doublestar(pat, path) : fnmatch(pat, path, 0) == 0;
        if (m && json_is_true(json_object_get(p, "exclude")))
            out = 1;
        else if (m)
            in = 1;
    }
    return in && !out;
}

/* A git files generator's file: a mapping, or a list of mappings (one
 * parameter set each); empty is one empty set. */
static int file_sets(const struct ctx *x, json_t **out, const char *data, size_t len, const char *path,
                     const char *w, int line)
{
    struct ws_yaml_stream st = {NULL, 0};
    const json_t *doc, *item;
    struct ws_err e;
    size_t i;
    int rc = 0;
    ws_err_clear(&e);
    if (ws_yaml_parse(&st, data, len, path, NULL, &e) < 0)
        return fail(x, line, "%s: %s", w, e.msg);
    doc = st.ndocs ? st.docs[0].value : NULL;
    if (!(*out = json_array()))
        rc = nomem(x);
    else if (!doc || json_is_null(doc) || (json_is_array(doc) && json_array_size(doc) == 0))
        rc = push(*out, json_object());
    else if (json_is_object(doc))
        rc = push(*out, json_incref((json_t *)doc));
    else if (json_is_array(doc))
        json_array_foreach(doc, i, item) {
            if (!json_is_object(item)) {
                rc = fail(x, line, "%s: %s: item %zu of the list is a %s, not a mapping", w, path, i, type_name(item));
                break;
            }
            if ((rc = push(*out, json_incref((json_t *)item))) < 0)
                break;
        }
    else
        rc = fail(x, line, "%s: %s holds a %s, not a mapping or a list of mappings", w, path, type_name(doc));
    if (rc == WS_ENOMEM)
        rc = nomem(x);
    ws_yaml_stream_free(&st);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int git_list_patterns(const struct ctx *x, const json_t *pats, const json_t *ppos, const char *w,
                             const char *what)
{
    const json_t *p;
    size_t i;
    if (!json_is_array(pats) || json_array_size(pats) == 0)
        return fail(x, ws_yaml_line(ppos), "%s.%s must be a non-empty list of {path, exclude}", w, what);
    json_array_foreach(pats, i, p) {
        const json_t *path = field(p, "path"), *ex = field(p, "exclude");
        if (!json_is_string(path) || json_string_length(path) == 0 || (ex && !json_is_boolean(ex)))
            return fail(x, ws_yaml_line(ws_yaml_pos_item(ppos, i)),
                        "%s.%s[%zu] needs path (a pattern) and an optional exclude: true|false", w, what, i);
    }
    return 0;
}

static int gen_git(const struct ctx *x, json_t *sets, const json_t *g, const json_t *gpos, const char *where)
{
    const json_t *dirs = field(g, "directories"), *files = field(g, "files"), *vals = field(g, "values");
    const json_t *rev = field(g, "revision"), *item, *vpos = ws_yaml_pos_child(gpos, "values");
    const char *repo = json_string_value(field(g, "repoURL")), *revision = "HEAD";
    const char *prefix = json_string_value(field(g, "pathParamPrefix"));
    const struct ws_appset_git *git = x->env->git;
    json_t *listing = NULL, *objs = NULL, *p = NULL;
    char w[WHERE_LEN], *data = NULL;
    struct ws_err e;
    size_t i, j, len = 0;
    int rc;
    wheref(w, "%s.git", where);
    if (!json_is_object(g))
        return fail(x, ws_yaml_line(gpos), "%s must be a mapping", w);
    if (!repo || !*repo)
        return fail(x, ws_yaml_line(gpos), "%s.repoURL is required", w);
    if (rev && !json_is_string(rev))
        return fail(x, ws_yaml_key_line(gpos, "revision"), "%s.revision must be a string (quote it)", w);
    if (rev && json_string_length(rev))
        revision = json_string_value(rev);
    if (prefix && !*prefix)
        prefix = NULL;
    if (!dirs == !files)
        return fail(x, ws_yaml_line(gpos), "%s needs %s", w,
                    dirs ? "directories or files, not both" : "directories or files");
    if ((rc = git_list_patterns(x, dirs ? dirs : files, ws_yaml_pos_child(gpos, dirs ? "directories" : "files"), w,
                                dirs ? "directories" : "files")) < 0 ||
        (rc = check_values(x, vals, vpos, w)) < 0)
        return rc;
    if (!git || !git->list || !git->read)
        return fail(x, ws_yaml_line(gpos), "%s: Git generators cannot read repositories here", w);
    ws_err_clear(&e);
    if ((rc = git->list(git->ctx, &listing, repo, revision, dirs != NULL, &e)) < 0)
        return fail_code(x, rc, ws_yaml_line(gpos), "%s: %s", w, e.msg);
    json_array_foreach(listing, i, item) {
        const char *path = json_string_value(item), *slash;
        char *dir = NULL;
        if (!path || !selected(x, dirs ? dirs : files, path, dirs != NULL))
            continue;
        if (dirs) {
            if (!(p = json_object()))
                rc = nomem(x);
            else if ((rc = path_params(x, p, path, NULL, prefix)) == 0 && vals)
                rc = add_values(x, p, vals, vpos, w);
            if (rc == 0 && push(sets, p) < 0) /* push steals p, also when it fails */
                rc = nomem(x);
            else if (rc < 0)
                json_decref(p); /* not handed over */
            p = NULL;
            if (rc < 0)
                break;
            continue;
        }
        ws_err_clear(&e);
        if ((rc = git->read(git->ctx, &data, &len, repo, revision, path, &e)) < 0) {
            rc = fail_code(x, rc, ws_yaml_line(gpos), "%s: %s", w, e.msg);
            break;
        }
        rc = file_sets(x, &objs, data, len, path, w, ws_yaml_line(gpos));
        free(data);
        data = NULL;
        slash = strrchr(path, '/');
        if (rc == 0 && !(dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".")))
            rc = nomem(x);
        json_array_foreach(objs, j, item) {
            if (rc < 0)
                break;
            if (x->go)
                p = json_deep_copy(item);
            else if ((p = json_object()) && ws__appset_flatten(p, NULL, item) < 0)
                rc = nomem(x);
            if (rc == 0 && !p)
                rc = nomem(x);
            if (rc == 0)
                rc = path_params(x, p, dir, slash ? slash + 1 : path, prefix);
            if (rc == 0 && vals)
                rc = add_values(x, p, vals, vpos, w);
            if (rc == 0 && push(sets, p) < 0)
                rc = nomem(x);
            else if (rc < 0)
                json_decref(p);
            p = NULL;
        }
        free(dir);
        json_decref(objs);
        objs = NULL;
        if (rc < 0)
            break;
    }
    json_decref(listing);
    return rc;
}

/* A matrix's two parameter sets made one. Without goTemplate a parameter
 * both give must agree (Argo CD's CombineStringMaps); with it the first
 * generator's win. */
static int combine(const struct ctx *x, json_t **out, const json_t *a, const json_t *b, const char *w,
                   const json_t *mpos)
{
    const char *k;
    json_t *v, *have;
    if (x->go) {
        if (!(*out = json_deep_copy(b)) || merge_over(*out, a) < 0)
            return nomem(x);
        return 0;
    }
    if (!(*out = json_deep_copy(a)))
        return nomem(x);
    json_object_foreach((json_t *)b, k, v) {
        if ((have = json_object_get(a, k)) && !json_equal(have, v))
            return fail(x, ws_yaml_line(mpos),
                        "%s: parameter \"%s\" is \"%s\" from the first generator and \"%s\" from the second "
                        "(Argo CD refuses such a matrix too)", w, k, json_string_value(have) ?: "",
                        json_string_value(v) ?: "");
        if (json_object_set(*out, k, v) < 0)
            return nomem(x);
    }
    return 0;
}

static int gen_matrix(const struct ctx *x, json_t *sets, const json_t *m, const json_t *mpos, const char *where,
                      int depth)
{
    const json_t *gens = field(m, "generators"), *gpos = ws_yaml_pos_child(mpos, "generators"), *pa, *pb;
    json_t *a = NULL, *b = NULL, *c;
    char w[WHERE_LEN], w0[WHERE_LEN], w1[WHERE_LEN];
    size_t i, j;
    int rc = 0;
    wheref(w, "%s.matrix", where);
    wheref(w0, "%s.generators[0]", w);
    wheref(w1, "%s.generators[1]", w);
    if (!json_is_object(m) || !json_is_array(gens) || json_array_size(gens) != 2)
        return fail(x, ws_yaml_line(mpos), "%s needs exactly two generators", w);
    if (depth >= MAX_NEST)
        return fail(x, ws_yaml_line(mpos), "%s: matrix and merge generators nest at most %d levels deep", w, MAX_NEST);
    if ((rc = generate(x, &a, json_array_get(gens, 0), ws_yaml_pos_item(gpos, 0), w0, NULL, depth + 1)) < 0)
        return rc;
    json_array_foreach(a, i, pa) {
        /* the second generator sees the first one's parameters */
        if ((rc = generate(x, &b, json_array_get(gens, 1), ws_yaml_pos_item(gpos, 1), w1, pa, depth + 1)) < 0)
            break;
        json_array_foreach(b, j, pb) {
            if ((rc = combine(x, &c, pa, pb, w, mpos)) < 0 || (rc = push(sets, c)) < 0) {
                if (rc == WS_ENOMEM)
                    rc = nomem(x);
                else
                    json_decref(c);
                break;
            }
            if (json_array_size(sets) > MAX_SETS) {
                rc = fail(x, ws_yaml_line(mpos), "%s makes more than %d parameter sets", w, MAX_SETS);
                break;
            }
        }
        json_decref(b);
        b = NULL;
        if (rc < 0)
            break;
    }
    json_decref(a);
    return rc;
}

/* A parameter set's identity for merge: its mergeKeys' values as JSON. */
static char *merge_key(const struct ctx *x, const json_t *p, const json_t *keys)
{
    json_t *k = json_object(), *key;
    char *s = NULL;
    size_t i;
    json_array_foreach(keys, i, key) {
        const char *name = json_string_value(key);
        const json_t *v = json_object_get(p, name);
        if (!v && x->go) { /* goTemplate: "a.b" reaches into nested parameters */
            const char *dot;
            v = p;
            for (const char *seg = name; v && seg; seg = dot ? dot + 1 : NULL) {
                dot = strchr(seg, '.');
                v = json_object_getn(v, seg, dot ? (size_t)(dot - seg) : strlen(seg));
            }
        }
        if (!k || json_object_set(k, name, v ? (json_t *)v : json_null()) < 0)
            goto out;
    }
    s = json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
out:
    json_decref(k);
    return s;
}

/* {key: index} of sets; two sets with one key are an error, as in Argo CD. */
static int merge_index(const struct ctx *x, json_t **out, const json_t *sets, const json_t *keys, const char *w,
                       const json_t *mpos)
{
    const json_t *p;
    size_t i;
    int rc = 0;
    if (!(*out = json_object()))
        return nomem(x);
    json_array_foreach(sets, i, p) {
        char *k = merge_key(x, p, keys);
        if (!k)
            rc = nomem(x);
        else if (json_object_get(*out, k))
            rc = fail(x, ws_yaml_line(mpos), "%s: two parameter sets have the mergeKeys values %s: they must be unique",
                      w, k);
        else if (json_object_set_new(*out, k, json_integer((json_int_t)i)) < 0) /* steals */
            rc = nomem(x);
        free(k);
        if (rc < 0)
            break;
    }
    return rc;
}

/* merge: the first generator's sets, each overlaid by the sets of the
 * others with the same mergeKeys values (later generators win). */
static int gen_merge(const struct ctx *x, json_t *sets, const json_t *m, const json_t *mpos, const char *where,
                     int depth)
{
    const json_t *gens = field(m, "generators"), *keys = field(m, "mergeKeys"), *key, *p;
    const json_t *gpos = ws_yaml_pos_child(mpos, "generators");
    json_t *base = NULL, *bidx = NULL, *oidx = NULL, *got = NULL, *at;
    char w[WHERE_LEN], wi[WHERE_LEN];
    size_t i, j;
    int rc = 0;
    wheref(w, "%s.merge", where);
    if (!json_is_object(m) || !json_is_array(gens) || json_array_size(gens) < 2)
        return fail(x, ws_yaml_line(mpos), "%s needs at least two generators", w);
    if (!json_is_array(keys) || json_array_size(keys) == 0)
        return fail(x, ws_yaml_line(mpos), "%s needs mergeKeys: a list of parameter names", w);
    json_array_foreach(keys, i, key) {
        if (!json_is_string(key))
            return fail(x, ws_yaml_key_line(mpos, "mergeKeys"), "%s.mergeKeys[%zu] must be a string", w, i);
    }
    if (depth >= MAX_NEST)
        return fail(x, ws_yaml_line(mpos), "%s: matrix and merge generators nest at most %d levels deep", w, MAX_NEST);
    for (i = 0; i < json_array_size(gens) && rc == 0; i++) {
        wheref(wi, "%s.generators[%zu]", w, i);
        if ((rc = generate(x, &got, json_array_get(gens, i), ws_yaml_pos_item(gpos, i), wi, NULL, depth + 1)) < 0)
            break;
        if (i == 0) {
            if (!(base = json_deep_copy(got)))
                rc = nomem(x);
            else
                rc = merge_index(x, &bidx, base, keys, wi, mpos);
        } else if ((rc = merge_index(x, &oidx, got, keys, wi, mpos)) == 0) {
            const char *k;
            json_object_foreach(oidx, k, at) {
                const json_t *bi = json_object_get(bidx, k);
                json_t *b;
                if (!bi) /* only in a later generator: merge drops it */
                    continue;
                b = json_array_get(base, (size_t)json_integer_value(bi));
                p = json_array_get(got, (size_t)json_integer_value(at));
                if ((x->go ? merge_over(b, p) : json_object_update(b, (json_t *)p)) < 0) {
                    rc = nomem(x);
                    break;
                }
            }
        }
        json_decref(oidx);
        oidx = NULL;
        json_decref(got);
        got = NULL;
    }
    json_array_foreach(base, j, p) {
        if (rc == 0 && push(sets, json_incref((json_t *)p)) < 0)
            rc = nomem(x);
    }
    json_decref(base);
    json_decref(bidx);
    return rc;
}

static const char *const unsupported_generators[] = {"scmProvider", "pullRequest", "clusterDecisionResource",
                                                     "plugin", NULL};

/* The parameter sets of one generator (`parent`: a matrix's first
 * generator's set, rendered into this generator first), filtered by its
 * selector. *out is a new array. */
static int generate(const struct ctx *x, json_t **out, const json_t *gen, const json_t *gpos, const char *where,
                    const json_t *parent, int depth)
{
    static const char *const types[] = {"list", "clusters", "git", "matrix", "merge", NULL};
    const json_t *g = gen, *v, *sel, *p;
    json_t *copy = NULL, *sets = NULL, *kept = NULL, *flat = NULL;
    const char *k, *type = NULL;
    char ws[WHERE_LEN];
    size_t i, n = 0;
    int rc = 0, match;
    *out = NULL;
    if (!json_is_object(gen))
        return fail(x, ws_yaml_line(gpos), "%s must be a mapping", where);
    if (parent && json_object_size(parent) > 0) {
        if ((rc = render(x, &copy, gen, gpos, parent, where, "")) < 0)
            return rc;
        g = copy;
    }
    json_object_foreach((json_t *)g, k, v) {
        int known = 0;
        if (json_is_null(v) || strcmp(k, "selector") == 0 || strcmp(k, "template") == 0)
            continue;
        for (i = 0; types[i] && !known; i++)
            known = strcmp(k, types[i]) == 0;
        if (known) {
            type = k;
            n++;
            continue;
        }
        for (i = 0; unsupported_generators[i]; i++)
            if (strcmp(k, unsupported_generators[i]) == 0) {
                rc = fail(x, ws_yaml_key_line(gpos, k), "%s: the %s generator is not supported (wavesync runs "
                                                        "list, clusters, git, matrix and merge)", where, k);
                goto out;
            }
        rc = fail(x, ws_yaml_key_line(gpos, k), "%s: unknown generator \"%s\"", where, k);
        goto out;
    }
    if (n != 1) {
        rc = n ? fail(x, ws_yaml_line(gpos), "%s has %zu generators in one item: give one per item", where, n)
               : fail(x, ws_yaml_line(gpos), "%s has no generator", where);
        goto out;
    }
    if (!(sets = json_array())) {
        rc = nomem(x);
        goto out;
    }
    v = json_object_get(g, type);
    if (strcmp(type, "list") == 0)
        rc = gen_list(x, sets, v, ws_yaml_pos_child(gpos, type), where);
    else if (strcmp(type, "clusters") == 0)
        rc = gen_clusters(x, sets, v, ws_yaml_pos_child(gpos, type), where);
    else if (strcmp(type, "git") == 0)
        rc = gen_git(x, sets, v, ws_yaml_pos_child(gpos, type), where);
    else if (strcmp(type, "matrix") == 0)
        rc = gen_matrix(x, sets, v, ws_yaml_pos_child(gpos, type), where, depth);
    else
        rc = gen_merge(x, sets, v, ws_yaml_pos_child(gpos, type), where, depth);
    if (rc == 0 && json_array_size(sets) > MAX_SETS)
        rc = fail(x, ws_yaml_line(gpos), "%s makes more than %d parameter sets", where, MAX_SETS);
    if (rc < 0 || !(sel = field(g, "selector")))
        goto out;
    /* a selector on any generator filters its sets by their (flattened) parameters */
    wheref(ws, "%s.selector", where);
    if (!(kept = json_array())) {
        rc = nomem(x);
        goto out;
    }
    json_array_foreach(sets, i, p) {
        if (!(flat = json_object()) || ws__appset_flatten(flat, NULL, p) < 0)
            rc = nomem(x);
        else if ((rc = label_selector(x, &match, sel, ws_yaml_pos_child(gpos, "selector"), flat, ws)) == 0 && match)
            rc = push(kept, json_incref((json_t *)p)) < 0 ? nomem(x) : 0;
        json_decref(flat);
        flat = NULL;
        if (rc < 0)
            break;
    }
    json_decref(sets);
    sets = kept;
    kept = NULL;
out:
    json_decref(copy);
    json_decref(kept);
    if (rc < 0)
        json_decref(sets);
    else
        *out = sets;
    return rc;
}

/* --- the ApplicationSet -------------------------------------------------------------------- */

/* A DNS-1123 subdomain, which Kubernetes requires of an Application's name. */
static int valid_name(const char *s)
{
    size_t n = strlen(s), i;
    if (n == 0 || n > K8S_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        int alnum = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]);
        int edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (!alnum && (edge || (s[i] != '-' && s[i] != '.')))
            return 0;
    }
    return 1;
}

/* The parameter names of a set, for "no parameter of that name" hints. */
static void param_names(char *out, size_t cap, const json_t *params)
{
    const char *k;
    const json_t *v;
    size_t n = 0;
    out[0] = '\0';
    json_object_foreach((json_t *)params, k, v) {
        int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", k);
        if (w < 0 || (size_t)w >= cap - n) {
            memcpy(out + (n < cap - 6 ? n : cap - 6), ", ...", 6);
            return;
        }
        n += (size_t)w;
    }
}

/* Render the template for one parameter set and add the Application. */
static int make_app(const struct ctx *x, struct ws_appset *s, const json_t *tmpl, const json_t *tpos,
                    const json_t *params, const char *where, size_t set, json_t *names)
{
    const json_t *tm = field(tmpl, "metadata"), *ts = field(tmpl, "spec");
    json_t *meta = NULL, *spec = NULL, *doc = NULL, *mirror = NULL, *kids;
    struct ws_appset_app *grown, *a;
    struct ws_err e;
    struct ctx quiet = *x;
    char note[WHERE_LEN], hint[400];
    const char *name;
    int rc;
    wheref(note, " (%s, parameter set %zu)", where, set + 1);
    if ((tm && (rc = render(x, &meta, tm, ws_yaml_pos_child(tpos, "metadata"), params, "template.metadata",
                            note)) < 0) ||
        (rc = render(x, &spec, ts, ws_yaml_pos_child(tpos, "spec"), params, "template.spec", note)) < 0)
        goto out;
    if (!json_is_object(meta)) {
        json_decref(meta);
        if (!(meta = json_object()))
            goto nomem;
    }
    if (!(doc = json_pack("{s:s, s:s}", "apiVersion", "argoproj.io/v1alpha1", "kind", "Application")) ||
        json_object_set(doc, "metadata", meta) < 0 || json_object_set(doc, "spec", spec) < 0)
        goto nomem;
    if (tpos) { /* positions of the template's fields, so errors name its lines */
        const json_t *mp = ws_yaml_pos_child(tpos, "metadata"), *sp = ws_yaml_pos_child(tpos, "spec");
        if (!(mirror = json_pack("[i, i, {}]", x->line, 1)))
            goto nomem;
        kids = json_array_get(mirror, 2);
        if ((mp && json_object_set(kids, "metadata", (json_t *)mp) < 0) ||
            (sp && json_object_set(kids, "spec", (json_t *)sp) < 0))
            goto nomem;
    }
    if (!(grown = realloc(s->apps, (s->napps + 1) * sizeof(*grown))))
        goto nomem;
    s->apps = grown;
    a = memset(&s->apps[s->napps++], 0, sizeof(*a));
    a->doc = doc;
    a->pos = mirror;
    doc = mirror = NULL;
    name = json_string_value(json_object_get(meta, "name"));
    if (name && !(a->name = strdup(name)))
        goto nomem;
    quiet.err = &e;
    ws_err_clear(&e);
    if (!name || !*name) {
        fail(&quiet, ws_yaml_line(tpos), "template.metadata.name is empty%s", note);
    } else if (!valid_name(name)) {
        param_names(hint, sizeof(hint), params);
        fail(&quiet, ws_yaml_pos_line(tpos, "metadata", "name", (const char *)NULL),
             "generated Application name \"%s\" is not a valid Kubernetes name (lower case letters, digits, '-' "
             "and '.')%s%s%s%s", name, note, strstr(name, "{{") ? "; a {{…}} left in it names no parameter; "
             "the parameters are: " : "", strstr(name, "{{") ? hint : "", "");
    } else if (json_object_get(names, name)) {
        rc = fail(x, ws_yaml_pos_line(tpos, "metadata", "name", (const char *)NULL),
                  "two generated Applications are named \"%s\"%s (Argo CD refuses such an ApplicationSet too)", name,
                  note);
        goto out;
    } else if (json_object_set_new(names, name, json_true()) < 0) {
        goto nomem;
    }
    if (e.msg[0] && !(a->error = strdup(e.msg)))
        goto nomem;
    rc = 0;
    goto out;
nomem:
    rc = nomem(x);
out:
    json_decref(meta);
    json_decref(spec);
    json_decref(doc);
    json_decref(mirror);
    return rc;
}

void ws_appset_free(struct ws_appset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->napps; i++) {
        free(s->apps[i].name);
        json_decref(s->apps[i].doc);
        json_decref(s->apps[i].pos);
        free(s->apps[i].error);
    }
    free(s->apps);
    free(s->name);
    memset(s, 0, sizeof(*s));
}

static int parse_options(struct ctx *x, const json_t *spec, const json_t *spos)
{
    const json_t *go = field(spec, "goTemplate"), *opts = field(spec, "goTemplateOptions"), *o;
    size_t i;
    if (go && !json_is_boolean(go))
        return fail(x, ws_yaml_key_line(spos, "goTemplate"), "spec.goTemplate must be true or false");
    x->go = json_is_true(go);
    if (opts && !json_is_array(opts))
        return fail(x, ws_yaml_key_line(spos, "goTemplateOptions"), "spec.goTemplateOptions must be a list");
    json_array_foreach(opts, i, o) {
        const char *s = json_string_value(o);
        if (s && strcmp(s, "missingkey=error") == 0)
            x->missing_error = 1;
        else if (s && (strcmp(s, "missingkey=default") == 0 || strcmp(s, "missingkey=invalid") == 0 ||
                       strcmp(s, "missingkey=zero") == 0))
            x->missing_error = 0;
        else
            return fail(x, ws_yaml_key_line(spos, "goTemplateOptions"),
                        "spec.goTemplateOptions: \"%s\" is not supported (missingkey=error, missingkey=default, "
                        "missingkey=zero)", s ? s : type_name(o));
    }
    if (field(spec, "templatePatch"))
        return fail(x, ws_yaml_key_line(spos, "templatePatch"),
                    "spec.templatePatch is not supported: write the fields in spec.template (or a generator's "
                    "template)");
    return 0;
}

int ws_appset_render(struct ws_appset *out, const json_t *obj, const json_t *pos, const char *file,
                     const struct ws_appset_env *env, struct ws_err *err)
{
    static const struct ws_appset_env none = {NULL, 0, NULL, 0};
    struct ctx x = {file ? file : "<input>", NULL, ws_yaml_line(pos), 0, 0, env ? env : &none, err};
    const json_t *meta, *spec, *tmpl, *gens, *gen, *p, *spos = ws_yaml_pos_child(pos, "spec");
    const json_t *tpos = ws_yaml_pos_child(spos, "template"), *gpos = ws_yaml_pos_child(spos, "generators");
    const char *api, *kind, *name;
    json_t *names = NULL, *sets = NULL, *merged = NULL;
    size_t i, j;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->line = x.line;
    if (!json_is_object(obj))
        return fail(&x, 0, "expected an ApplicationSet (a mapping)");
    api = json_string_value(json_object_get(obj, "apiVersion"));
    kind = json_string_value(json_object_get(obj, "kind"));
    meta = field(obj, "metadata");
    name = json_string_value(field(meta, "name"));
    if (!kind || strcmp(kind, "ApplicationSet") != 0)
        return fail(&x, ws_yaml_key_line(pos, "kind"), "kind \"%s\" is not ApplicationSet", kind ? kind : "");
    if (!api || strcmp(api, "argoproj.io/v1alpha1") != 0)
        return fail(&x, ws_yaml_key_line(pos, "apiVersion"), "apiVersion \"%s\" is not argoproj.io/v1alpha1",
                    api ? api : "");
    if (!name || !*name)
        return fail(&x, 0, "ApplicationSet has no metadata.name");
    if (!(out->name = strdup(name)))
        return nomem(&x);
    x.name = out->name;
    if (!json_is_object((spec = field(obj, "spec"))))
        return fail(&x, 0, "spec is required");
    if ((rc = parse_options(&x, spec, spos)) < 0)
        return rc;
    tmpl = field(spec, "template");
    gens = field(spec, "generators");
    if (!json_is_object(tmpl) || !json_is_object(field(tmpl, "spec")))
        return fail(&x, ws_yaml_key_line(spos, "template"), "spec.template with metadata and spec is required");
    if (!json_is_array(gens) || json_array_size(gens) == 0)
        return fail(&x, ws_yaml_key_line(spos, "generators"), "spec.generators must be a non-empty list");
    if (!(names = json_object()))
        return nomem(&x);
    json_array_foreach(gens, i, gen) {
        const json_t *gt = field(gen, "template"), *use = tmpl, *upos = tpos;
        char where[WHERE_LEN];
        wheref(where, "generators[%zu]", i);
        if ((rc = generate(&x, &sets, gen, ws_yaml_pos_item(gpos, i), where, NULL, 0)) < 0)
            break;
        if (gt) { /* a generator's own template, the ApplicationSet's filling its gaps */
            if (!json_is_object(gt)) {
                rc = fail(&x, ws_yaml_key_line(ws_yaml_pos_item(gpos, i), "template"), "%s.template must be a mapping",
                          where);
                break;
            }
            if (!(merged = json_deep_copy(gt)) || fill(merged, tmpl) < 0) {
                rc = nomem(&x);
                break;
            }
            use = merged;
            upos = NULL;
        }
        json_array_foreach(sets, j, p) {
            if ((rc = make_app(&x, out, use, upos, p, where, j, names)) < 0)
                break;
        }
        json_decref(sets);
        json_decref(merged);
        sets = merged = NULL;
        if (rc < 0)
            break;
    }
    json_decref(sets);
    json_decref(merged);
    json_decref(names);
    if (rc < 0) { /* a failing ApplicationSet generates nothing */
        char *keep = out->name;
        out->name = NULL;
        ws_appset_free(out);
        out->name = keep;
        out->line = x.line;
    }
    return rc;
}
