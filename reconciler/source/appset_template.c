/* appset_template.c — ApplicationSet template substitution: Argo CD's
 * fasttemplate `{{param}}` and the common subset of Go templates
 * (`goTemplate: true`), plus parameter values printed as Go prints them. Pure.
 * Anything of Go's template language outside the subset is refused with a
 * message naming it: a wrong guess would deploy to the wrong place. */
#include "source/appset.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_PARENS 16 /* (nested (pipelines)) in one action */
#define MAX_ARGS 8
#define NAME_MAX_BYTES 253

/* --- values as Go prints them --------------------------------------------------------- */

/* Go's %v of a float64 (strconv 'g', shortest): exponent form below 1e-4
 * and from 1e+06 on. Argo CD's parameters from JSON/YAML are float64s. */
static void go_float(char *out, size_t cap, double v)
{
    char e[48], digits[24];
    const char *s;
    int p, nd = 0, exp, dp, neg;
    if (isnan(v) || isinf(v)) {
        snprintf(out, cap, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(out, cap, "%s", signbit(v) ? "-0" : "0");
        return;
    }
    for (p = 1; p < 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    if (p == 17)
        snprintf(e, sizeof(e), "%.16e", v);
    neg = e[0] == '-';
    for (s = e + neg; *s && *s != 'e'; s++)
        if (isdigit((unsigned char)*s) && nd < (int)sizeof(digits) - 1)
            digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    exp = *s ? atoi(s + 1) : 0;
    if (exp < -4 || exp >= 6) {
        snprintf(out, cap, "%s%c%s%se%c%02d", neg ? "-" : "", digits[0], nd > 1 ? "." : "", digits + 1,
                 exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    dp = exp + 1; /* digits before the point: -3 … 6 here */
    if (dp <= 0)
        snprintf(out, cap, "%s0.%.*s%s", neg ? "-" : "", -dp, "000", digits);
    else if (dp >= nd)
        snprintf(out, cap, "%s%s%.*s", neg ? "-" : "", digits, dp - nd, "000000");
    else
        snprintf(out, cap, "%s%.*s.%s", neg ? "-" : "", dp, digits, digits + dp);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's fmt %v of a decoded JSON value; `nil` is what a null prints as
 * ("<nil>" inside values, "<no value>" for a template action's result). */
static int print_value(struct ws_buf *b, const json_t *v, const char *nil)
{
    char num[64];
    const char *k, **keys;
    const json_t *item;
    size_t i, n = 0;
    int rc = 0;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING: return ws_buf_append(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL: /* float64s in Argo CD */
        go_float(num, sizeof(num), json_number_value(v));
        return ws_buf_append(b, num, strlen(num));
    case JSON_TRUE: return ws_buf_append(b, "true", 4);
    case JSON_FALSE: return ws_buf_append(b, "false", 5);
    case JSON_NULL: return ws_buf_append(b, nil, strlen(nil));
    case JSON_ARRAY:
        rc = ws_buf_append(b, "[", 1);
        json_array_foreach(v, i, item) {
            if (rc == 0 && i > 0)
                rc = ws_buf_append(b, " ", 1);
            if (rc == 0)
                rc = print_value(b, item, "<nil>");
        }
        return rc ? rc : ws_buf_append(b, "]", 1);
    case JSON_OBJECT: /* map[k:v k2:v2], keys sorted as fmt sorts them */
        if (!(keys = malloc((json_object_size(v) + 1) * sizeof(*keys))))
            return WS_ENOMEM;
        json_object_foreach((json_t *)v, k, item)
            keys[n++] = k;
        qsort(keys, n, sizeof(*keys), cmp_str);
        rc = ws_buf_append(b, "map[", 4);
        for (i = 0; i < n && rc == 0; i++)
            if ((rc = ws_buf_appendf(b, "%s%s:", i ? " " : "", keys[i])) == 0)
                rc = print_value(b, json_object_get(v, keys[i]), "<nil>");
        free(keys);
        return rc ? rc : ws_buf_append(b, "]", 1);
    }
    return 0;
}

/* A scalar as a parameter string: what Argo CD's flatten + %v make of it. */
json_t *ws__appset_value_string(const json_t *v)
{
    struct ws_buf b;
    json_t *s;
    ws_buf_init(&b, 0);
    if (print_value(&b, v, "<nil>") < 0) {
        ws_buf_free(&b);
        return NULL;
    }
    s = json_stringn(b.data ? b.data : "", b.len);
    ws_buf_free(&b);
    return s;
}

/* Argo CD's flatten.Flatten(DotStyle): nested keys joined with '.', list
 * items by index; empty mappings and lists vanish. */
int ws__appset_flatten(json_t *dst, const char *prefix, const json_t *v)
{
    const char *k;
    const json_t *item;
    char *key;
    size_t i;
    int rc = 0;
    if (json_is_object(v) || json_is_array(v)) {
        char idx[24];
        void *it = json_is_object(v) ? json_object_iter((json_t *)v) : NULL;
        for (i = 0; rc == 0; i++) {
            if (json_is_object(v)) {
                if (!it)
                    break;
                k = json_object_iter_key(it);
                item = json_object_iter_value(it);
                it = json_object_iter_next((json_t *)v, it);
            } else {
                if (i >= json_array_size(v))
                    break;
                snprintf(idx, sizeof(idx), "%zu", i);
                k = idx;
                item = json_array_get(v, i);
            }
            if (prefix ? asprintf(&key, "%s.%s", prefix, k) < 0 : !(key = strdup(k)))
                return WS_ENOMEM;
            rc = ws__appset_flatten(dst, key, item);
            free(key);
        }
        return rc;
    }
    return prefix && json_object_set_new(dst, prefix, ws__appset_value_string(v)) == 0 ? 0 : WS_ENOMEM; /* steals */
}

char *ws_appset_normalize(const char *name)
{
    size_t n = strlen(name), i = 0, o = 0, start = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    while (i < n) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80) { /* one character (as Go's regexp sees runes) becomes one '-' */
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1, j;
            for (j = 1; j < len && i + j < n && ((unsigned char)name[i + j] & 0xC0) == 0x80; j++)
                ;
            out[o++] = '-';
            i += j;
            continue;
        }
        c = (unsigned char)tolower(c);
        out[o++] = isalnum(c) || c == '-' || c == '.' ? (char)c : '-';
        i++;
    }
    if (o > NAME_MAX_BYTES)
        o = NAME_MAX_BYTES;
    while (o > 0 && (out[o - 1] == '-' || out[o - 1] == '.'))
        o--;
    while (start < o && (out[start] == '-' || out[start] == '.'))
        start++;
    memmove(out, out + start, o - start);
    out[o - start] = '\0';
    return out;
}

/* --- fasttemplate: {{ name }} ------------------------------------------------------------ */

static int expand_fast(struct ws_buf *b, const char *s, const json_t *params, char *why, size_t whylen)
{
    const char *p = s, *o, *c, *t0, *t1;
    const json_t *v;
    int rc;
    while ((o = strstr(p, "{{"))) {
        if ((rc = ws_buf_append(b, p, (size_t)(o - p))) < 0)
            return rc;
        if (!(c = strstr(o + 2, "}}"))) {
            snprintf(why, whylen, "\"{{\" without \"}}\" in \"%.80s\"", s);
            return WS_EINVAL;
        }
        for (t0 = o + 2; t0 < c && isspace((unsigned char)*t0); t0++)
            ;
        for (t1 = c; t1 > t0 && isspace((unsigned char)t1[-1]); t1--)
            ;
        v = t1 > t0 ? json_object_getn(params, t0, (size_t)(t1 - t0)) : NULL;
        if (json_is_string(v)) /* unknown (or non-string) parameters stay as written */
            rc = ws_buf_append(b, json_string_value(v), json_string_length(v));
        else
            rc = ws_buf_append(b, o, (size_t)(c + 2 - o));
        if (rc < 0)
            return rc;
        p = c + 2;
    }
    return ws_buf_append(b, p, strlen(p));
}

/* --- Go templates: the common subset ---------------------------------------------------- */

struct gt {
    const char *p;       /* cursor inside the action */
    const json_t *dot;
    int missing_error;
    int depth;
    char *why;
    size_t whylen;
};

static int gt_fail(struct gt *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gt_fail(struct gt *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->why, g->whylen, fmt, ap);
    va_end(ap);
    return WS_EINVAL;
}

#define GT_SUPPORTED                                                                                      \
    "wavesync's goTemplate subset has fields ({{.path.basename}}), comments, literals, pipelines and the " \
    "functions default, index, lower, normalize, replace, trim, trimPrefix, trimSuffix, upper"

static int gt_unsupported(struct gt *g, const char *what)
{
    return gt_fail(g, "%s is not supported (%s)", what, GT_SUPPORTED);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_ident(char c, int first)
{
    return isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c));
}

static void gt_skip(struct gt *g)
{
    while (is_space(*g->p))
        g->p++;
}

/* At the end of the action ("}}", or " -}}" which trims what follows)?
 * Returns the bytes to skip, 0 when not. p is inside an action, past its
 * "{{", so p[-1] can be read. */
static size_t gt_close(const char *p, int *trim)
{
    const char *q = p;
    while (is_space(*q))
        q++;
    if (q[0] == '}' && q[1] == '}') {
        *trim = 0;
        return (size_t)(q + 2 - p);
    }
    if (is_space(q[-1]) && q[0] == '-' && q[1] == '}' && q[2] == '}') {
        *trim = 1;
        return (size_t)(q + 3 - p);
    }
    return 0;
}

static int gt_command_end(struct gt *g)
{
    int trim;
    gt_skip(g);
    return !*g->p || *g->p == '|' || *g->p == ')' || gt_close(g->p, &trim) || (*g->p == '-' && g->p[1] == '}');
}

static const char *go_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "float64";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_ARRAY: return "[]interface {}";
    default: return "map[string]interface {}";
    }
}

/* A string argument of a function (v NULL: a missing key). */
static int str_arg(struct gt *g, const char **out, const json_t *v, const char *fn)
{
    if (!v || json_is_null(v))
        return gt_fail(g, "error calling %s: invalid value; expected string", fn);
    if (!json_is_string(v))
        return gt_fail(g, "error calling %s: wrong type for value; expected string; got %s", fn, go_type(v));
    *out = json_string_value(v);
    return 0;
}

static int ret_str(json_t **out, const char *s, size_t n)
{
    return (*out = json_stringn(s, n)) ? 0 : WS_ENOMEM;
}

static int fn_case(struct gt *g, json_t **out, json_t **a, int upper, const char *fn)
{
    const char *s;
    char *t;
    int rc;
    if ((rc = str_arg(g, &s, a[0], fn)) < 0)
        return rc;
    if (!(t = strdup(s)))
        return WS_ENOMEM;
    for (char *c = t; *c; c++) /* ASCII: Go's Unicode case mapping is not reproduced */
        *c = (char)(upper ? toupper((unsigned char)*c) : tolower((unsigned char)*c));
    rc = ret_str(out, t, strlen(t));
    free(t);
    return rc;
}

static int fn_lower(struct gt *g, json_t **out, json_t **a, size_t n)
{
    (void)n;
    return fn_case(g, out, a, 0, "lower");
}

static int fn_upper(struct gt *g, json_t **out, json_t **a, size_t n)
{
    (void)n;
    return fn_case(g, out, a, 1, "upper");
}

static int fn_normalize(struct gt *g, json_t **out, json_t **a, size_t n)
{
    const char *s;
    char *t;
    int rc;
    (void)n;
    if ((rc = str_arg(g, &s, a[0], "normalize")) < 0)
        return rc;
    if (!(t = ws_appset_normalize(s)))
        return WS_ENOMEM;
    rc = ret_str(out, t, strlen(t));
    free(t);
    return rc;
}

static int fn_trim(struct gt *g, json_t **out, json_t **a, size_t n)
{
    const char *s, *e;
    int rc;
    (void)n;
    if ((rc = str_arg(g, &s, a[0], "trim")) < 0)
        return rc;
    while (isspace((unsigned char)*s))
        s++;
    for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
        ;
    return ret_str(out, s, (size_t)(e - s));
}

/* trimPrefix PREFIX S / trimSuffix SUFFIX S (sprig's argument order). */
static int fn_trim_fix(struct gt *g, json_t **out, json_t **a, int suffix)
{
    const char *fix, *s, *fn = suffix ? "trimSuffix" : "trimPrefix";
    size_t lf, ls;
    int rc;
    if ((rc = str_arg(g, &fix, a[0], fn)) < 0 || (rc = str_arg(g, &s, a[1], fn)) < 0)
        return rc;
    lf = strlen(fix);
    ls = strlen(s);
    if (lf <= ls && !suffix && strncmp(s, fix, lf) == 0)
        return ret_str(out, s + lf, ls - lf);
    if (lf <= ls && suffix && strcmp(s + ls - lf, fix) == 0)
        return ret_str(out, s, ls - lf);
    return ret_str(out, s, ls);
}

static int fn_trim_prefix(struct gt *g, json_t **out, json_t **a, size_t n)
{
    (void)n;
    return fn_trim_fix(g, out, a, 0);
}

static int fn_trim_suffix(struct gt *g, json_t **out, json_t **a, size_t n)
{
    (void)n;
    return fn_trim_fix(g, out, a, 1);
}

/* replace OLD NEW S: every OLD in S becomes NEW (an empty OLD inserts NEW
 * around every character, as strings.Replace does). */
static int fn_replace(struct gt *g, json_t **out, json_t **a, size_t n)
{
    const char *old, *new_, *s, *hit;
    struct ws_buf b;
    size_t lo;
    int rc;
    (void)n;
    if ((rc = str_arg(g, &old, a[0], "replace")) < 0 || (rc = str_arg(g, &new_, a[1], "replace")) < 0 ||
        (rc = str_arg(g, &s, a[2], "replace")) < 0)
        return rc;
    ws_buf_init(&b, 0);
    lo = strlen(old);
    while (rc == 0 && *s) {
        if (lo == 0) {
            size_t len = 1;
            while (((unsigned char)s[len] & 0xC0) == 0x80)
                len++;
            if ((rc = ws_buf_append(&b, new_, strlen(new_))) == 0)
                rc = ws_buf_append(&b, s, len);
            s += len;
        } else if ((hit = strstr(s, old))) {
            if ((rc = ws_buf_append(&b, s, (size_t)(hit - s))) == 0)
                rc = ws_buf_append(&b, new_, strlen(new_));
            s = hit + lo;
        } else {
            rc = ws_buf_append(&b, s, strlen(s));
            s += strlen(s);
        }
    }
    if (rc == 0 && lo == 0)
        rc = ws_buf_append(&b, new_, strlen(new_));
    if (rc == 0)
        rc = ret_str(out, b.data ? b.data : "", b.len);
    ws_buf_free(&b);
    return rc;
}

/* sprig's empty(): nil, "", 0, false, and empty collections. */
static int is_empty(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) || (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_number(v) && json_number_value(v) == 0) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

/* default DEFAULT [VALUE] */
static int fn_default(struct gt *g, json_t **out, json_t **a, size_t n)
{
    (void)g;
    *out = json_incref(n < 2 || is_empty(a[1]) ? a[0] : a[1]);
    return 0;
}

/* index COLLECTION KEY…: lists by number, mappings by string. */
static int fn_index(struct gt *g, json_t **out, json_t **a, size_t n)
{
    const json_t *cur = a[0];
    size_t i;
    for (i = 1; i < n; i++) {
        if (!cur || json_is_null(cur))
            return gt_fail(g, "error calling index: index of untyped nil");
        if (json_is_array(cur)) {
            double d = json_is_number(a[i]) ? json_number_value(a[i]) : -1;
            if (!json_is_number(a[i]) || d != floor(d))
                return gt_fail(g, "error calling index: cannot index slice/array with type %s",
                               a[i] ? go_type(a[i]) : "nil");
            if (d < 0 || d >= (double)json_array_size(cur))
                return gt_fail(g, "error calling index: index out of range: %.0f", d);
            cur = json_array_get(cur, (size_t)d);
        } else if (json_is_object(cur)) {
            if (!json_is_string(a[i]))
                return gt_fail(g, "error calling index: value has type %s; should be string",
                               a[i] ? go_type(a[i]) : "nil");
            if (!(cur = json_object_get(cur, json_string_value(a[i]))) && g->missing_error)
                return gt_fail(g, "error calling index: map has no entry for key \"%s\"", json_string_value(a[i]));
        } else {
            return gt_fail(g, "error calling index: can't index item of type %s", go_type(cur));
        }
    }
    *out = json_incref((json_t *)cur);
    return 0;
}

static const struct gt_func {
    const char *name;
    size_t min, max;
    int (*fn)(struct gt *g, json_t **out, json_t **a, size_t n);
} gt_funcs[] = {
    {"default", 1, 2, fn_default},      {"index", 1, MAX_ARGS, fn_index},
    {"lower", 1, 1, fn_lower},          {"normalize", 1, 1, fn_normalize},
    {"replace", 3, 3, fn_replace},      {"trim", 1, 1, fn_trim},
    {"trimPrefix", 2, 2, fn_trim_prefix}, {"trimSuffix", 2, 2, fn_trim_suffix},
    {"upper", 1, 1, fn_upper},
};

static int gt_pipeline(struct gt *g, json_t **out);

/* .a.b.c from dot; a missing key is "no value" (NULL), or an error with
 * missingkey=error, as text/template does with map data. */
static int gt_field(struct gt *g, json_t **out)
{
    const json_t *cur = g->dot;
    int missing = 0;
    while (*g->p == '.' && is_ident(g->p[1], 1)) {
        const char *name = ++g->p;
        size_t len = 0;
        while (is_ident(name[len], 0))
            len++;
        g->p += len;
        if (missing) {
            if (g->missing_error)
                return gt_fail(g, "nil data; no entry for key \"%.*s\"", (int)len, name);
            continue;
        }
        if (json_is_null(cur))
            return gt_fail(g, "nil pointer evaluating interface {}.%.*s", (int)len, name);
        if (!json_is_object(cur))
            return gt_fail(g, "can't evaluate field %.*s in type %s", (int)len, name, go_type(cur));
        if (!(cur = json_object_getn(cur, name, len))) {
            if (g->missing_error)
                return gt_fail(g, "map has no entry for key \"%.*s\"", (int)len, name);
            missing = 1;
        }
    }
    *out = missing ? NULL : json_incref((json_t *)cur);
    return 0;
}

static int gt_string(struct gt *g, json_t **out)
{
    struct ws_buf b;
    char q = *g->p++;
    int rc = 0;
    ws_buf_init(&b, 0);
    while (rc == 0 && *g->p && *g->p != q) {
        char c = *g->p++;
        if (q == '"' && c == '\\') {
            switch (*g->p++) {
            case '\\': c = '\\'; break;
            case '"': c = '"'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            default: rc = gt_unsupported(g, "this escape sequence in a string literal"); continue;
            }
        } else if (q == '"' && c == '\n') {
            rc = gt_fail(g, "unterminated quoted string");
            continue;
        }
        rc = ws_buf_append(&b, &c, 1);
    }
    if (rc == 0 && *g->p != q)
        rc = gt_fail(g, "unterminated %s string", q == '"' ? "quoted" : "raw");
    if (rc == 0) {
        g->p++;
        rc = ret_str(out, b.data ? b.data : "", b.len);
    }
    ws_buf_free(&b);
    return rc;
}

static int gt_operand_(struct gt *g, json_t **out)
{
    const char *s;
    char *end;
    long long n;
    int rc;
    gt_skip(g);
    s = g->p;
    *out = NULL;
    if (*s == '.' && is_ident(s[1], 1))
        return gt_field(g, out);
    if (*s == '.') {
        g->p++;
        *out = json_incref((json_t *)g->dot);
        return is_ident(*g->p, 0) || *g->p == '.' ? gt_fail(g, "unexpected \"%.10s\"", s) : 0;
    }
    if (*s == '"' || *s == '`')
        return gt_string(g, out);
    if (isdigit((unsigned char)*s) || ((*s == '-' || *s == '+') && isdigit((unsigned char)s[1]))) {
        n = strtoll(s, &end, 10);
        if (*end == '.' || *end == 'e' || *end == 'E' || *end == 'x' || *end == 'X' || is_ident(*end, 0))
            return gt_unsupported(g, "a number other than a decimal integer");
        g->p = end;
        return (*out = json_integer(n)) ? 0 : WS_ENOMEM;
    }
    if (*s == '(') {
        if (++g->depth > MAX_PARENS)
            return gt_fail(g, "parentheses nested too deeply");
        g->p++;
        if ((rc = gt_pipeline(g, out)) < 0)
            return rc;
        gt_skip(g);
        if (*g->p != ')')
            return gt_fail(g, "unclosed left paren");
        g->p++;
        g->depth--;
        if (*g->p == '.')
            return gt_unsupported(g, "a field of a parenthesised expression");
        return 0;
    }
    if (is_ident(*s, 1)) {
        size_t len = 0;
        while (is_ident(s[len], 0))
            len++;
        if ((len == 4 && strncmp(s, "true", 4) == 0) || (len == 5 && strncmp(s, "false", 5) == 0)) {
            g->p += len;
            *out = json_boolean(len == 4);
            return 0;
        }
        return gt_fail(g, "\"%.*s\" as an argument: call functions inside parentheses", (int)len, s);
    }
    if (*s == '$')
        return gt_unsupported(g, "a variable ($)");
    return gt_fail(g, "unexpected \"%.10s\" in operand", s);
}

/* An operand; on error *out is NULL. */
static int gt_operand(struct gt *g, json_t **out)
{
    int rc = gt_operand_(g, out);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static const char *const gt_keywords[] = {"if", "else", "end", "range", "with", "define", "template",
                                          "block", "break", "continue", "nil", NULL};

/* One command of a pipeline; `piped` (when has_piped) is the previous
 * command's value, passed as the last argument. */
static int gt_command(struct gt *g, json_t **out, json_t *piped, int has_piped)
{
    json_t *a[MAX_ARGS + 1] = {NULL};
    const struct gt_func *f = NULL;
    const char *s;
    size_t n = 0, len = 0, i;
    int rc = 0;
    gt_skip(g);
    s = g->p;
    while (is_ident(s[len], len == 0))
        len++;
    if (len == 0 || (len == 4 && strncmp(s, "true", 4) == 0) || (len == 5 && strncmp(s, "false", 5) == 0)) {
        if (gt_command_end(g))
            return gt_fail(g, "missing value for command");
        if ((rc = gt_operand(g, out)) < 0)
            return rc;
        if (has_piped || !gt_command_end(g)) {
            json_decref(*out);
            *out = NULL;
            return gt_fail(g, "can't give argument to non-function");
        }
        return 0;
    }
    for (i = 0; gt_keywords[i]; i++)
        if (strlen(gt_keywords[i]) == len && strncmp(s, gt_keywords[i], len) == 0)
            return gt_fail(g, "{{%s}} is not supported (%s)", gt_keywords[i], GT_SUPPORTED);
    for (i = 0; i < WS_ARRAY_SIZE(gt_funcs) && !f; i++)
        if (strlen(gt_funcs[i].name) == len && strncmp(s, gt_funcs[i].name, len) == 0)
            f = &gt_funcs[i];
    if (!f)
        return gt_fail(g, "function \"%.*s\" is not supported (%s)", (int)len, s, GT_SUPPORTED);
    g->p += len;
    while (rc == 0 && !gt_command_end(g)) {
        if (n == MAX_ARGS)
            rc = gt_fail(g, "too many arguments for %s", f->name);
        else
            rc = gt_operand(g, &a[n++]);
    }
    if (rc == 0 && has_piped)
        a[n++] = json_incref(piped);
    if (rc == 0 && (n < f->min || n > f->max))
        rc = gt_fail(g, "wrong number of args for %s: want %zu got %zu", f->name, f->min, n);
    if (rc == 0)
        rc = f->fn(g, out, a, n);
    for (i = 0; i < n; i++)
        json_decref(a[i]);
    return rc;
}

static int gt_pipeline(struct gt *g, json_t **out)
{
    json_t *prev = NULL, *v;
    int rc, piped = 0;
    for (;;) {
        v = NULL;
        rc = gt_command(g, &v, prev, piped);
        json_decref(prev);
        if (rc < 0)
            return rc;
        prev = v;
        piped = 1;
        gt_skip(g);
        if (*g->p != '|')
            break;
        g->p++;
    }
    *out = prev;
    return 0;
}

/* The action's text for messages: from "{{" to the next "}}". */
static void action_text(char *out, size_t cap, const char *o)
{
    const char *c = strstr(o + 2, "}}");
    size_t n = c ? (size_t)(c + 2 - o) : strlen(o);
    snprintf(out, cap, "%.*s%s", (int)(n > 100 ? 100 : n), o, n > 100 ? "…" : "");
}

static int expand_go(struct ws_buf *b, const char *s, const json_t *params, int missing_error, char *why,
                     size_t whylen)
{
    const char *p = s, *o, *text;
    struct gt g = {NULL, params, missing_error, 0, why, whylen};
    int rc, rtrim = 0;
    while (p) {
        size_t tlen, skip;
        int ltrim, trim = 0, comment;
        json_t *v = NULL;
        o = strstr(p, "{{");
        text = p;
        tlen = o ? (size_t)(o - p) : strlen(p);
        if (rtrim)
            while (tlen > 0 && is_space(*text))
                text++, tlen--;
        ltrim = o && o[2] == '-' && is_space(o[3]);
        if (ltrim)
            while (tlen > 0 && is_space(text[tlen - 1]))
                tlen--;
        if ((rc = ws_buf_append(b, text, tlen)) < 0)
            return rc;
        if (!o)
            break;
        g.p = o + 2 + ltrim;
        gt_skip(&g);
        comment = g.p[0] == '/' && g.p[1] == '*';
        if (comment) {
            const char *e = strstr(g.p + 2, "*/");
            if (!e)
                rc = gt_fail(&g, "unclosed comment");
            else if (!gt_close((g.p = e + 2), &trim))
                rc = gt_fail(&g, "comment ends before closing delimiter");
        } else if ((rc = gt_pipeline(&g, &v)) == 0 && !gt_close(g.p, &trim)) {
            rc = gt_fail(&g, "unexpected \"%.20s\" in action", g.p);
        }
        skip = rc == 0 ? gt_close(g.p, &trim) : 0;
        if (rc == 0 && !comment)
            rc = print_value(b, v, "<no value>");
        json_decref(v);
        if (rc < 0) {
            if (rc == WS_EINVAL) {
                char act[128], reason[512];
                action_text(act, sizeof(act), o);
                snprintf(reason, sizeof(reason), "%s", why);
                snprintf(why, whylen, "goTemplate %s: %s", act, reason);
            }
            return rc;
        }
        rtrim = trim;
        p = g.p + skip;
    }
    return 0;
}

int ws__appset_expand(char **out, const char *s, const json_t *params, int go, int missing_error, char *why,
                      size_t whylen)
{
    struct ws_buf b;
    int rc;
    *out = NULL;
    ws_buf_init(&b, 0);
    rc = go ? expand_go(&b, s, params, missing_error, why, whylen) : expand_fast(&b, s, params, why, whylen);
    if (rc == 0 && !b.data)
        rc = ws_buf_append(&b, "", 0) == 0 && b.data ? 0 : WS_ENOMEM;
    if (rc < 0) {
        ws_buf_free(&b);
        return rc;
    }
    *out = ws_buf_steal(&b);
    return 0;
}

int ws_appset_subst(char **out, const char *tmpl, const json_t *params, int go_template, int missing_error,
                    struct ws_err *err)
{
    char why[900] = "";
    int rc = ws__appset_expand(out, tmpl, params, go_template, missing_error, why, sizeof(why));
    if (rc == WS_ENOMEM)
        return ws_err_set(err, rc, "out of memory");
    return rc < 0 ? ws_err_set(err, rc, "%s", why) : 0;
}
