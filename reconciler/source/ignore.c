/* ignore.c — spec.ignoreDifferences compiled and matched; see ignore.h.
 * Pure: JSON pointers and a small, explicit subset of jq paths are compiled
 * to segments (key, index, every item, each with optional select()
 * conditions), matched against objects and JSON pointers, and used to keep
 * ignored fields at their live values (RespectIgnoreDifferences). */
#include "source/ignore.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* Longest index we take from a pointer or [n]: no real list is this long,
 * and it keeps the conversion clear of overflow. */
#define MAX_INDEX_DIGITS 9
/* The expression quoted in an error message is cut here. */
#define QUOTE_MAX 160

/* --- freeing ------------------------------------------------------------------ */

static void select_clear(struct ws_ignore_select *s)
{
    size_t i;
    for (i = 0; i < s->nfield; i++)
        free(s->field[i]);
    free(s->field);
    json_decref(s->value);
    memset(s, 0, sizeof(*s));
}

static void seg_clear(struct ws_ignore_seg *g)
{
    size_t i;
    free(g->key);
    for (i = 0; i < g->nselects; i++)
        select_clear(&g->selects[i]);
    free(g->selects);
    memset(g, 0, sizeof(*g));
}

static void path_clear(struct ws_ignore_path *p)
{
    size_t i;
    for (i = 0; i < p->nsegs; i++)
        seg_clear(&p->segs[i]);
    free(p->segs);
    free(p->text);
    memset(p, 0, sizeof(*p));
}

void ws_ignore_rule_clear(struct ws_ignore_rule *r)
{
    size_t i;
    if (!r)
        return;
    free(r->group);
    free(r->kind);
    free(r->name);
    free(r->namespace_);
    for (i = 0; i < r->npaths; i++)
        path_clear(&r->paths[i]);
    free(r->paths);
    for (i = 0; i < r->nmanagers; i++)
        free(r->managers[i]);
    free(r->managers);
    memset(r, 0, sizeof(*r));
}

void ws_ignore_rules_free(struct ws_ignore_rule *rules, size_t n)
{
    size_t i;
    if (!rules)
        return;
    for (i = 0; i < n; i++)
        ws_ignore_rule_clear(&rules[i]);
    free(rules);
}

/* --- building ------------------------------------------------------------------ */

/* A new, zeroed segment at the end of p; NULL on ENOMEM. */
static struct ws_ignore_seg *push_seg(struct ws_ignore_path *p)
{
    struct ws_ignore_seg *segs = realloc(p->segs, (p->nsegs + 1) * sizeof(*segs));
    if (!segs)
        return NULL;
    p->segs = segs;
    memset(&segs[p->nsegs], 0, sizeof(*segs));
    return &segs[p->nsegs++];
}

/* Hand the compiled paths over to r (all or nothing). */
static int take_paths(struct ws_ignore_rule *r, struct ws_ignore_path *paths, size_t n,
                      struct ws_err *err)
{
    struct ws_ignore_path *all = realloc(r->paths, (r->npaths + n) * sizeof(*all));
    if (!all)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    r->paths = all;
    memcpy(&all[r->npaths], paths, n * sizeof(*paths));
    r->npaths += n;
    return 0;
}

int ws_ignore_add_manager(struct ws_ignore_rule *r, const char *manager, struct ws_err *err)
{
    char **all, *m;
    if (!manager || !*manager)
        return ws_err_set(err, WS_EINVAL, "a field manager name is empty");
    if (!(m = strdup(manager)) || !(all = realloc(r->managers, (r->nmanagers + 1) * sizeof(*all)))) {
        free(m);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    r->managers = all;
    all[r->nmanagers++] = m;
    return 0;
}

/* "0", "17": a canonical array index (no sign, no leading zero). -1 otherwise. */
static long parse_index(const char *s, size_t n)
{
    long v = 0;
    size_t i;
    if (n == 0 || n > MAX_INDEX_DIGITS || (n > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* One pointer token, unescaped (~1 is '/', ~0 is '~'); NULL on a bad escape
 * (*bad set) or ENOMEM. */
static char *pointer_token(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1), *o = out;
    size_t i;
    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        if (s[i] != '~') {
            *o++ = s[i];
        } else if (i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            *o++ = s[++i] == '0' ? '~' : '/';
        } else {
            *bad = 1;
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

int ws_ignore_add_pointer(struct ws_ignore_rule *r, const char *pointer, struct ws_err *err)
{
    struct ws_ignore_path p = {0};
    const char *s;
    int rc;
    if (!pointer || pointer[0] != '/')
        return ws_err_set(err, WS_EINVAL, "JSON pointer \"%.*s\" must start with '/' (e.g. /spec/replicas)",
                          QUOTE_MAX, pointer ? pointer : "");
    for (s = pointer; *s == '/';) {
        const char *tok = s + 1, *end = strchr(tok, '/');
        size_t n = end ? (size_t)(end - tok) : strlen(tok);
        struct ws_ignore_seg *g = push_seg(&p);
        int bad = 0;
        long idx;
        if (!g || !(g->key = pointer_token(tok, n, &bad))) {
            path_clear(&p);
            if (bad)
                return ws_err_set(err, WS_EINVAL,
                                  "JSON pointer \"%.*s\": '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')",
                                  QUOTE_MAX, pointer);
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        }
        g->type = WS_IGNORE_KEY;
        if ((idx = parse_index(g->key, strlen(g->key))) >= 0) {
            g->index_too = 1;
            g->index = (size_t)idx;
        }
        s = tok + n;
    }
    if (!(p.text = strdup(pointer))) {
        path_clear(&p);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if ((rc = take_paths(r, &p, 1, err)) < 0)
        path_clear(&p);
    return rc;
}

/* --- the jq subset -------------------------------------------------------------- */

struct jq {
    const char *s, *p;   /* the whole expression, the cursor */
    struct ws_err *err;
    int nomem;
};

static int jq_fail(struct jq *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jq_fail(struct jq *j, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    if (j->nomem)
        return ws_err_set(j->err, WS_ENOMEM, "out of memory");
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return ws_err_set(j->err, WS_EINVAL,
                      "jq path expression \"%.*s%s\" is not supported: %s at column %d; wavesync "
                      "takes paths such as .a.b, .a[\"k\"], .a[0], .a[], .a[]? and "
                      ".a[] | select(.name == \"x\") | .b",
                      QUOTE_MAX, j->s, strlen(j->s) > QUOTE_MAX ? "…" : "", why,
                      (int)(j->p - j->s) + 1);
}

static int jq_oom(struct jq *j)
{
    j->nomem = 1;
    return ws_err_set(j->err, WS_ENOMEM, "out of memory");
}

static void skip_ws(struct jq *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* An identifier at the cursor, copied; the cursor moves past it. */
static char *take_ident(struct jq *j)
{
    const char *b = j->p;
    char *out;
    while (ident_char(*j->p))
        j->p++;
    if (!(out = strndup(b, (size_t)(j->p - b))))
        jq_oom(j);
    return out;
}

/* Append code point cp as UTF-8. */
static int put_utf8(struct ws_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return ws_buf_append(b, u, n);
}

static int hex4(const char *s, unsigned long *out)
{
    unsigned long v = 0;
    int i;
    for (i = 0; i < 4; i++) { /* stops at the terminator: it is not a hex digit */
        char c = s[i];
        if (!isxdigit((unsigned char)c))
            return -1;
        v = v * 16 + (unsigned long)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
    }
    *out = v;
    return 0;
}

/* A jq string literal at the cursor ('"'), unescaped into *out. */
static int take_string(struct jq *j, char **out)
{
    struct ws_buf b;
    int rc = 0;
    ws_buf_init(&b, 0);
    *out = NULL;
    j->p++; /* the opening quote */
    while (rc == 0 && *j->p && *j->p != '"') {
        const char *c = j->p;
        unsigned long cp, lo;
        if (*c != '\\') {
            rc = ws_buf_append(&b, c, 1);
            j->p++;
            continue;
        }
        switch (c[1]) {
        case '"': case '\\': case '/':
            rc = ws_buf_append(&b, c + 1, 1);
            break;
        case 'b': rc = ws_buf_append(&b, "\b", 1); break;
        case 'f': rc = ws_buf_append(&b, "\f", 1); break;
        case 'n': rc = ws_buf_append(&b, "\n", 1); break;
        case 'r': rc = ws_buf_append(&b, "\r", 1); break;
        case 't': rc = ws_buf_append(&b, "\t", 1); break;
        case 'u':
            if (hex4(c + 2, &cp) < 0) {
                ws_buf_free(&b);
                return jq_fail(j, "\\u needs four hex digits");
            }
            /* a surrogate pair is one character */
            if (cp >= 0xD800 && cp < 0xDC00 && c[6] == '\\' && c[7] == 'u' && hex4(c + 8, &lo) == 0 &&
                lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                j->p += 6;
            } else if (cp >= 0xD800 && cp < 0xE000) {
                ws_buf_free(&b);
                return jq_fail(j, "a lone UTF-16 surrogate in a string");
            }
            j->p += 4;
            rc = put_utf8(&b, cp);
            break;
        case '(':
            ws_buf_free(&b);
            return jq_fail(j, "string interpolation \\(...)");
        default:
            ws_buf_free(&b);
            return jq_fail(j, "unknown escape in a string");
        }
        j->p += 2;
    }
    if (rc < 0) {
        ws_buf_free(&b);
        return jq_oom(j);
    }
    if (*j->p != '"') {
        ws_buf_free(&b);
        return jq_fail(j, "unterminated string");
    }
    j->p++;
    if (!b.data && ws_buf_append(&b, "", 0) < 0)
        return jq_oom(j);
    *out = ws_buf_steal(&b);
    return 0;
}

/* [..] at the cursor: [] (every item), [n], ["key"]. */
static int take_bracket(struct jq *j, struct ws_ignore_path *p)
{
    struct ws_ignore_seg *g;
    const char *digits;
    long idx;
    int rc;
    j->p++;
    skip_ws(j);
    if (!(g = push_seg(p)))
        return jq_oom(j);
    if (*j->p == ']') {
        g->type = WS_IGNORE_EACH;
    } else if (*j->p == '"') {
        g->type = WS_IGNORE_KEY;
        if ((rc = take_string(j, &g->key)) < 0)
            return rc;
    } else if (isdigit((unsigned char)*j->p)) {
        digits = j->p;
        while (isdigit((unsigned char)*j->p))
            j->p++;
        if ((idx = parse_index(digits, (size_t)(j->p - digits))) < 0) {
            j->p = digits;
            return jq_fail(j, "an index must be a whole number without leading zeros");
        }
        g->type = WS_IGNORE_INDEX;
        g->index = (size_t)idx;
    } else if (*j->p == '-') {
        return jq_fail(j, "negative indices (counting from the end)");
    } else {
        return jq_fail(j, "only [], [n] and [\"key\"] may be written in brackets");
    }
    skip_ws(j);
    if (*j->p == ':')
        return jq_fail(j, "slices");
    if (*j->p != ']')
        return jq_fail(j, "expected ']'");
    j->p++;
    return 0;
}

/* After a '.', a member name: identifier or string. */
static int take_member(struct jq *j, struct ws_ignore_path *p)
{
    struct ws_ignore_seg *g = push_seg(p);
    if (!g)
        return jq_oom(j);
    g->type = WS_IGNORE_KEY;
    if (*j->p == '"')
        return take_string(j, &g->key);
    return (g->key = take_ident(j)) ? 0 : WS_ENOMEM;
}

/* What may follow a path term: .name, ."name", .[..], [..], ?  */
static int take_suffixes(struct jq *j, struct ws_ignore_path *p)
{
    int rc;
    for (;;) {
        if (*j->p == '?') {
            j->p++;
        } else if (*j->p == '[') {
            if ((rc = take_bracket(j, p)) < 0)
                return rc;
        } else if (*j->p == '.') {
            j->p++;
            if (*j->p == '[') {
                rc = take_bracket(j, p);
            } else if (ident_start(*j->p) || *j->p == '"') {
                rc = take_member(j, p);
            } else if (*j->p == '.') {
                j->p--; /* point at the first '.' */
                rc = jq_fail(j, "recursive descent (..)");
            } else {
                rc = jq_fail(j, "expected a member name after '.'");
            }
            if (rc < 0)
                return rc;
        } else {
            return 0;
        }
    }
}

/* A path term at the cursor ('.'): ".", ".a…", ".[…]…", ".\"a\"…". */
static int take_path(struct jq *j, struct ws_ignore_path *p)
{
    int rc;
    if (j->p[1] == '.')
        return jq_fail(j, "recursive descent (..)");
    j->p++;
    if (ident_start(*j->p) || *j->p == '"') {
        if ((rc = take_member(j, p)) < 0)
            return rc;
    } else if (*j->p == '[') {
        if ((rc = take_bracket(j, p)) < 0)
            return rc;
    }
    return take_suffixes(j, p);
}

/* A literal to compare with: string, number, true, false, null. */
static int take_literal(struct jq *j, json_t **out)
{
    char *s = NULL, *end;
    *out = NULL;
    if (*j->p == '"') {
        int rc = take_string(j, &s);
        if (rc < 0)
            return rc;
        *out = json_string(s);
        free(s);
        if (!*out)
            return jq_fail(j, "a string that is not valid UTF-8");
    } else if (*j->p == '-' || isdigit((unsigned char)*j->p)) {
        /* JSON's number syntax, checked before strtod (which takes more) */
        const char *b = j->p, *q = b + (*b == '-');
        int whole = 1;
        if (!isdigit((unsigned char)*q))
            return jq_fail(j, "bad number");
        while (isdigit((unsigned char)*q))
            q++;
        if (*q == '.') {
            whole = 0;
            if (!isdigit((unsigned char)*++q))
                return jq_fail(j, "bad number");
            while (isdigit((unsigned char)*q))
                q++;
        }
        if (*q == 'e' || *q == 'E') {
            whole = 0;
            q += q[1] == '+' || q[1] == '-';
            if (!isdigit((unsigned char)*++q))
                return jq_fail(j, "bad number");
            while (isdigit((unsigned char)*q))
                q++;
        }
        errno = 0;
        if (whole && q - b <= 15) {
            *out = json_integer((json_int_t)strtoll(b, &end, 10));
        } else {
            double d = strtod(b, &end);
            if (errno == ERANGE)
                return jq_fail(j, "number out of range");
            *out = json_real(d);
        }
        j->p = q;
    } else if (strncmp(j->p, "true", 4) == 0 && !ident_char(j->p[4])) {
        j->p += 4;
        *out = json_true();
    } else if (strncmp(j->p, "false", 5) == 0 && !ident_char(j->p[5])) {
        j->p += 5;
        *out = json_false();
    } else if (strncmp(j->p, "null", 4) == 0 && !ident_char(j->p[4])) {
        j->p += 4;
        *out = json_null();
    } else {
        return jq_fail(j, "select() compares with a string, a number, true, false or null");
    }
    return *out ? 0 : jq_oom(j);
}

/* select(.f.g == literal) or !=, attached to the last segment of p. */
static int take_select(struct jq *j, struct ws_ignore_path *p)
{
    struct ws_ignore_path field = {0};
    struct ws_ignore_select sel = {0}, *all;
    struct ws_ignore_seg *last;
    const char *fb;
    size_t i;
    int rc;
    if (p->nsegs == 0)
        return jq_fail(j, "select() must follow a path (e.g. .spec.containers[] | select(.name == \"x\"))");
    j->p += 6;
    skip_ws(j);
    if (*j->p != '(')
        return jq_fail(j, "expected '(' after select");
    j->p++;
    skip_ws(j);
    if (*j->p != '.' || j->p[1] == '.' || !(ident_start(j->p[1]) || j->p[1] == '"' || j->p[1] == '['))
        return jq_fail(j, "select() tests a member of the item, e.g. select(.name == \"x\")");
    fb = j->p;
    if ((rc = take_path(j, &field)) < 0)
        goto out;
    for (i = 0; i < field.nsegs; i++) {
        if (field.segs[i].type != WS_IGNORE_KEY) {
            j->p = fb;
            rc = jq_fail(j, "select() tests members by name (no [n] or [] inside)");
            goto out;
        }
    }
    skip_ws(j);
    if ((j->p[0] == '=' || j->p[0] == '!') && j->p[1] == '=') {
        sel.negate = j->p[0] == '!';
        j->p += 2;
    } else {
        rc = jq_fail(j, "select() takes one == or != comparison (no and/or, <, functions)");
        goto out;
    }
    skip_ws(j);
    if ((rc = take_literal(j, &sel.value)) < 0)
        goto out;
    skip_ws(j);
    if (*j->p != ')') {
        rc = jq_fail(j, ident_start(*j->p) ? "select() takes one == or != comparison (no and/or, <, functions)"
                                           : "expected ')' to close select(");
        goto out;
    }
    j->p++;
    if (!(sel.field = calloc(field.nsegs, sizeof(*sel.field)))) {
        rc = jq_oom(j);
        goto out;
    }
    for (i = 0; i < field.nsegs; i++) { /* hand the member names over */
        sel.field[i] = field.segs[i].key;
        field.segs[i].key = NULL;
    }
    sel.nfield = field.nsegs;
    last = &p->segs[p->nsegs - 1];
    if (!(all = realloc(last->selects, (last->nselects + 1) * sizeof(*all)))) {
        rc = jq_oom(j);
        goto out;
    }
    last->selects = all;
    all[last->nselects++] = sel;
    memset(&sel, 0, sizeof(sel));
out:
    select_clear(&sel);
    path_clear(&field);
    return rc;
}

/* One path of a comma list: a path term, then `| path` or `| select(…)…`. */
static int take_pipeline(struct jq *j, struct ws_ignore_path *p)
{
    int rc;
    skip_ws(j);
    if (strncmp(j->p, "select", 6) == 0 && !ident_char(j->p[6]))
        return jq_fail(j, "select() must follow a path (e.g. .spec.containers[] | select(.name == \"x\"))");
    if (*j->p != '.')
        return jq_fail(j, *j->p == '(' ? "parentheses" : "a path starts with '.'");
    if ((rc = take_path(j, p)) < 0)
        return rc;
    for (;;) {
        skip_ws(j);
        if (*j->p != '|')
            return 0;
        j->p++;
        skip_ws(j);
        if (*j->p == '.') {
            rc = take_path(j, p);
        } else if (strncmp(j->p, "select", 6) == 0 && !ident_char(j->p[6])) {
            /* select(...).image and select(...)[0] continue the path */
            if ((rc = take_select(j, p)) == 0)
                rc = take_suffixes(j, p);
        } else if (ident_start(*j->p)) {
            int len = 0;
            while (ident_char(j->p[len]))
                len++;
            rc = jq_fail(j, "%.*s (only a path or select() may follow '|')", len, j->p);
        } else {
            rc = jq_fail(j, *j->p == '(' ? "parentheses" : "expected a path or select() after '|'");
        }
        if (rc < 0)
            return rc;
    }
}

int ws_ignore_add_jq(struct ws_ignore_rule *r, const char *expr, struct ws_err *err)
{
    struct jq j = {expr ? expr : "", expr ? expr : "", err, 0};
    struct ws_ignore_path *paths = NULL, *more;
    size_t n = 0, i;
    int rc = 0;
    for (;;) {
        const char *b;
        if (!(more = realloc(paths, (n + 1) * sizeof(*paths)))) {
            rc = jq_oom(&j);
            break;
        }
        paths = more;
        memset(&paths[n], 0, sizeof(*paths));
        n++;
        skip_ws(&j);
        b = j.p;
        if ((rc = take_pipeline(&j, &paths[n - 1])) < 0)
            break;
        if (paths[n - 1].nsegs == 0) {
            j.p = b;
            rc = jq_fail(&j, "'.' names the whole object");
            break;
        }
        {
            const char *e = j.p;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                e--;
            if (!(paths[n - 1].text = strndup(b, (size_t)(e - b)))) {
                rc = jq_oom(&j);
                break;
            }
        }
        skip_ws(&j);
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        if (*j.p != '\0')
            rc = jq_fail(&j, *j.p == '(' || *j.p == ')' ? "parentheses" : "unexpected '%c'", *j.p);
        break;
    }
    if (rc == 0)
        rc = take_paths(r, paths, n, err);
    if (rc < 0)
        for (i = 0; i < n; i++)
            path_clear(&paths[i]);
    free(paths);
    return rc;
}

/* --- matching ------------------------------------------------------------------- */

/* "apps/v1" → "apps" (n = 4), "v1" → "" (n = 0). */
static size_t api_group(const char *api_version)
{
    const char *slash = api_version ? strchr(api_version, '/') : NULL;
    return slash ? (size_t)(slash - api_version) : 0;
}

int ws_ignore_applies(const struct ws_ignore_rule *r, const json_t *obj)
{
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    char group[256];
    size_t glen = api_group(api);
    if (!r || !json_is_object(obj))
        return 0;
    if (glen >= sizeof(group))
        return 0;
    memcpy(group, api ? api : "", glen);
    group[glen] = '\0';
    if (r->group && fnmatch(r->group, group, 0) != 0)
        return 0;
    if (r->kind && fnmatch(r->kind, kind ? kind : "", 0) != 0)
        return 0;
    if (r->name && strcmp(r->name, name ? name : "") != 0)
        return 0;
    if (r->namespace_ && strcmp(r->namespace_, ns ? ns : "") != 0)
        return 0;
    return 1;
}

/* jq's ==: numbers by value, everything else structurally. */
static int values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

/* Do the selects of g hold for node (the value g reached)? A field path that
 * runs into a non-mapping is a jq error: the item is not selected. */
static int selects_hold(const struct ws_ignore_seg *g, const json_t *node)
{
    size_t i, k;
    for (i = 0; i < g->nselects; i++) {
        const struct ws_ignore_select *s = &g->selects[i];
        const json_t *v = node;
        int eq;
        if (!node)
            return 0;
        for (k = 0; k < s->nfield && v; k++) {
            if (json_is_object(v))
                v = json_object_get(v, s->field[k]);
            else if (!json_is_null(v))
                return 0;
        }
        eq = values_equal(v ? v : json_null(), s->value);
        if (eq == s->negate)
            return 0;
    }
    return 1;
}

/* Does path p name the location `toks` (unescaped pointer tokens) of obj, or
 * one of its parents? Indices and selects are judged against obj; where obj
 * has nothing (the field is absent), keys and indices compare as text. */
static int path_covers(const struct ws_ignore_path *p, char **toks, size_t ntok, const json_t *obj)
{
    const json_t *node = obj;
    size_t i;
    if (ntok < p->nsegs)
        return 0;
    for (i = 0; i < p->nsegs; i++) {
        const struct ws_ignore_seg *g = &p->segs[i];
        const char *t = toks[i];
        const json_t *child = NULL;
        long idx = parse_index(t, strlen(t));
        int ok;
        if (json_is_object(node)) {
            ok = g->type == WS_IGNORE_EACH || (g->type == WS_IGNORE_KEY && strcmp(g->key, t) == 0);
            child = json_object_get(node, t);
        } else if (json_is_array(node)) {
            ok = idx >= 0 && (g->type == WS_IGNORE_EACH ||
                              (g->type == WS_IGNORE_INDEX && (size_t)idx == g->index) ||
                              (g->type == WS_IGNORE_KEY && g->index_too && (size_t)idx == g->index));
            child = idx >= 0 ? json_array_get(node, (size_t)idx) : NULL;
        } else {
            ok = g->type == WS_IGNORE_EACH || (g->type == WS_IGNORE_KEY && strcmp(g->key, t) == 0) ||
                 (g->type == WS_IGNORE_INDEX && idx >= 0 && (size_t)idx == g->index);
        }
        if (!ok || (g->nselects && !selects_hold(g, child)))
            return 0;
        node = child;
    }
    return 1;
}

/* Split a pointer into unescaped tokens; -1 when malformed, WS_ENOMEM. */
static int split_pointer(char ***out, size_t *n, const char *pointer)
{
    char **toks = NULL, **more;
    const char *s = pointer;
    *out = NULL;
    *n = 0;
    if (!pointer || *pointer != '/')
        return -1;
    while (*s == '/') {
        const char *tok = s + 1, *end = strchr(tok, '/');
        size_t len = end ? (size_t)(end - tok) : strlen(tok);
        int bad = 0;
        char *t;
        if (!(more = realloc(toks, (*n + 1) * sizeof(*toks))) || !(t = pointer_token(tok, len, &bad))) {
            if (more)
                toks = more;
            while (*n)
                free(toks[--*n]);
            free(toks);
            return bad ? -1 : WS_ENOMEM;
        }
        toks = more;
        toks[(*n)++] = t;
        s = tok + len;
    }
    *out = toks;
    return 0;
}

int ws_ignore_path(const struct ws_ignore_rule *rules, size_t n, const json_t *obj,
                   const char *pointer)
{
    char **toks;
    size_t ntok, i, k;
    int hit = 0;
    if (split_pointer(&toks, &ntok, pointer) < 0)
        return 0;
    for (i = 0; i < n && !hit; i++) {
        if (!rules[i].npaths || !ws_ignore_applies(&rules[i], obj))
            continue;
        for (k = 0; k < rules[i].npaths && !hit; k++)
            hit = path_covers(&rules[i].paths[k], toks, ntok, obj);
    }
    for (i = 0; i < ntok; i++)
        free(toks[i]);
    free(toks);
    return hit;
}

int ws_ignore_diff(const struct ws_ignore_rule *rules, size_t n, const json_t *obj, const char *pointer,
                   const char *manager)
{
    return manager ? ws_ignore_manager(rules, n, obj, manager) : ws_ignore_path(rules, n, obj, pointer);
}

int ws_ignore_manager(const struct ws_ignore_rule *rules, size_t n, const json_t *obj,
                      const char *manager)
{
    size_t i, k;
    if (!manager)
        return 0;
    for (i = 0; i < n; i++) {
        if (!rules[i].nmanagers || !ws_ignore_applies(&rules[i], obj))
            continue;
        for (k = 0; k < rules[i].nmanagers; k++)
            if (strcmp(rules[i].managers[k], manager) == 0)
                return 1;
    }
    return 0;
}

int ws_ignore_has_paths(const struct ws_ignore_rule *rules, size_t n, const json_t *obj)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (rules[i].npaths && ws_ignore_applies(&rules[i], obj))
            return 1;
    return 0;
}

/* --- RespectIgnoreDifferences ------------------------------------------------------ */

/* A location is a JSON array of steps: a string (member) or an integer (item). */

/* Every location of `root` that p names, appended to `out`. `toks` is the
 * location of `node` (restored on return). */
static int find_all(const struct ws_ignore_path *p, size_t i, const json_t *node, json_t *toks,
                    json_t *out)
{
    const struct ws_ignore_seg *g;
    int rc = 0;
    if (i == p->nsegs)
        return json_array_append_new(out, json_copy(toks)) < 0 ? WS_ENOMEM : 0; /* steals */
    g = &p->segs[i];
    if (json_is_object(node)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)node, k, v) {
            if (rc < 0)
                break;
            if ((g->type == WS_IGNORE_KEY && strcmp(g->key, k) != 0) || g->type == WS_IGNORE_INDEX ||
                !selects_hold(g, v))
                continue;
            if (json_array_append_new(toks, json_string(k)) < 0) /* steals */
                return WS_ENOMEM;
            rc = find_all(p, i + 1, v, toks, out);
            json_array_remove(toks, json_array_size(toks) - 1);
        }
    } else if (json_is_array(node)) {
        size_t k;
        const json_t *v;
        json_array_foreach(node, k, v) {
            if (rc < 0)
                break;
            if ((g->type == WS_IGNORE_KEY && !(g->index_too && g->index == k)) ||
                (g->type == WS_IGNORE_INDEX && g->index != k) || !selects_hold(g, v))
                continue;
            if (json_array_append_new(toks, json_integer((json_int_t)k)) < 0) /* steals */
                return WS_ENOMEM;
            rc = find_all(p, i + 1, v, toks, out);
            json_array_remove(toks, json_array_size(toks) - 1);
        }
    }
    return rc;
}

/* Where does the location `toks` of src (named by p) lie in dst? */
enum pairing {
    PAIR_FOUND,    /* *dst_toks is its location in dst (*dst_node the value) */
    PAIR_ABSENT,   /* dst has the parents but lacks the field from step *depth on */
    PAIR_NEW_ITEM, /* a list item on the way has no counterpart in dst: new */
};

static enum pairing pair(const struct ws_ignore_path *p, const json_t *toks, const json_t *dst,
                         json_t *dst_toks, const json_t **dst_node, size_t *depth)
{
    const json_t *node = dst;
    size_t i;
    for (i = 0; i < p->nsegs; i++) {
        const struct ws_ignore_seg *g = &p->segs[i];
        const json_t *t = json_array_get(toks, i), *child = NULL;
        *depth = i;
        if (json_is_string(t)) {
            if (!json_is_object(node))
                return PAIR_ABSENT;
            child = json_object_get(node, json_string_value(t));
            if (!child || !selects_hold(g, child))
                return PAIR_ABSENT;
            json_array_append(dst_toks, (json_t *)t); /* a string: shared, never changed */
        } else {
            size_t k = (size_t)json_integer_value(t), j;
            if (!json_is_array(node))
                return PAIR_ABSENT;
            child = json_array_get(node, k);
            if (g->nselects && !(child && selects_hold(g, child))) {
                /* an item picked by what it holds: the live item holding the same */
                child = NULL;
                for (j = 0; j < json_array_size(node) && !child; j++)
                    if (selects_hold(g, json_array_get(node, j)))
                        child = json_array_get(node, (k = j));
            }
            if (!child)
                return PAIR_NEW_ITEM;
            json_array_append_new(dst_toks, json_integer((json_int_t)k)); /* steals */
        }
        node = child;
    }
    *dst_node = node;
    return PAIR_FOUND;
}

/* The value at `toks` of root, or NULL. */
static json_t *at(json_t *root, const json_t *toks, size_t upto)
{
    json_t *node = root;
    size_t i;
    for (i = 0; i < upto && node; i++) {
        const json_t *t = json_array_get(toks, i);
        node = json_is_string(t) ? json_object_get(node, json_string_value(t))
                                 : json_array_get(node, (size_t)json_integer_value(t));
    }
    return node;
}

/* Is a a proper prefix of (or equal to, with `or_equal`) b? */
static int is_prefix(const json_t *a, const json_t *b, int or_equal)
{
    size_t i, na = json_array_size(a), nb = json_array_size(b);
    if (na > nb || (na == nb && !or_equal))
        return 0;
    for (i = 0; i < na; i++)
        if (!json_equal(json_array_get(a, i), json_array_get(b, i)))
            return 0;
    return 1;
}

/* Edits to make, as [{"at": location, "value": v}] (no "value": remove). */
static int add_edit(json_t *edits, json_t *toks, const json_t *value)
{
    json_t *e = json_pack("{s:O}", "at", toks);
    if (!e)
        return WS_ENOMEM;
    if (value && json_object_set_new(e, "value", json_deep_copy(value)) < 0) { /* steals */
        json_decref(e);
        return WS_ENOMEM;
    }
    return json_array_append_new(edits, e) < 0 ? WS_ENOMEM : 0; /* steals */
}

/* Collect the edits one path asks for. */
static int plan_path(const struct ws_ignore_path *p, const json_t *desired, const json_t *live,
                     json_t *edits)
{
    json_t *mine = json_array(), *theirs = json_array(), *toks = json_array(), *loc;
    size_t i, depth;
    int rc = WS_ENOMEM;
    if (!mine || !theirs || !toks || find_all(p, 0, desired, toks, mine) < 0 ||
        find_all(p, 0, live, toks, theirs) < 0)
        goto out;
    /* What Git sets: the live value, or nothing when live lacks the field.
     * A list item live does not have yet is new: Git's, as a new object. */
    json_array_foreach(mine, i, loc) {
        json_t *lt = json_array();
        const json_t *lv = NULL;
        enum pairing pr;
        if (!lt)
            goto out;
        pr = pair(p, loc, live, lt, &lv, &depth);
        json_decref(lt);
        if (pr == PAIR_NEW_ITEM)
            continue;
        if (add_edit(edits, loc, pr == PAIR_FOUND ? lv : NULL) < 0)
            goto out;
    }
    /* What only live has, under mappings Git has (or can have): carried over
     * so that an apply never drops a field wavesync once owned. List items
     * only live has are left out: their place in the list is not ours. */
    json_array_foreach(theirs, i, loc) {
        json_t *dt = json_array();
        const json_t *dv = NULL;
        enum pairing pr;
        size_t k;
        int ok = 1;
        if (!dt)
            goto out;
        pr = pair(p, loc, desired, dt, &dv, &depth);
        /* dt is where Git has the parents (Git's own indices) */
        for (k = depth; k < json_array_size(loc) && ok; k++)
            ok = json_is_string(json_array_get(loc, k)) && json_array_append(dt, json_array_get(loc, k)) == 0;
        /* only where Git truly lacks the member (not where a select() differs) */
        ok = ok && pr == PAIR_ABSENT && !at((json_t *)desired, dt, depth + 1);
        if (ok && add_edit(edits, dt, at((json_t *)live, loc, json_array_size(loc))) < 0) {
            json_decref(dt);
            goto out;
        }
        json_decref(dt);
    }
    rc = 0;
out:
    json_decref(mine);
    json_decref(theirs);
    json_decref(toks);
    return rc;
}

/* Order for removals: later list items first, so indices stay valid. */
static int loc_cmp_desc(const void *a, const void *b)
{
    const json_t *x = json_object_get(*(json_t *const *)a, "at"), *y = json_object_get(*(json_t *const *)b, "at");
    size_t i, nx = json_array_size(x), ny = json_array_size(y);
    for (i = 0; i < nx && i < ny; i++) {
        const json_t *s = json_array_get(x, i), *t = json_array_get(y, i);
        int c;
        if (json_is_integer(s) && json_is_integer(t))
            c = json_integer_value(s) < json_integer_value(t) ? -1 : json_integer_value(s) > json_integer_value(t);
        else if (json_is_string(s) && json_is_string(t))
            c = strcmp(json_string_value(s), json_string_value(t));
        else
            c = json_is_integer(s) ? -1 : 1;
        if (c)
            return -c;
    }
    return nx < ny ? 1 : nx > ny ? -1 : 0;
}

int ws_ignore_respect(json_t *desired, const json_t *live, const struct ws_ignore_rule *rules,
                      size_t n)
{
    json_t *edits = json_array(), *e, **removals = NULL;
    size_t i, k, nrem = 0, changed = 0;
    int rc = 0;
    if (!edits)
        return WS_ENOMEM;
    if (!json_is_object(desired) || !json_is_object(live))
        goto out;
    for (i = 0; i < n && rc == 0; i++) {
        if (!rules[i].npaths || !ws_ignore_applies(&rules[i], desired))
            continue;
        for (k = 0; k < rules[i].npaths && rc == 0; k++)
            rc = plan_path(&rules[i].paths[k], desired, live, edits);
    }
    if (rc < 0)
        goto out;
    if (!(removals = calloc(json_array_size(edits) + 1, sizeof(*removals)))) {
        rc = WS_ENOMEM;
        goto out;
    }
    /* Sets and additions first (they keep list indices as they are); a
     * location under another edited one is already covered by it. */
    json_array_foreach(edits, i, e) {
        const json_t *loc = json_object_get(e, "at"), *value = json_object_get(e, "value");
        json_t *parent, *t, *cur;
        size_t j, nloc = json_array_size(loc);
        int covered = 0;
        for (j = 0; j < json_array_size(edits) && !covered; j++)
            covered = j != i && (is_prefix(json_object_get(json_array_get(edits, j), "at"), loc, 0) ||
                                 (j < i && is_prefix(json_object_get(json_array_get(edits, j), "at"), loc, 1)));
        if (covered)
            continue;
        if (!value) {
            removals[nrem++] = e;
            continue;
        }
        /* additions may need the mappings on the way */
        parent = desired;
        for (j = 0; j + 1 < nloc && parent; j++) {
            t = json_array_get(loc, j);
            cur = json_is_string(t) ? json_object_get(parent, json_string_value(t))
                                    : json_array_get(parent, (size_t)json_integer_value(t));
            if (!cur && json_is_string(t) && json_is_object(parent)) {
                if (json_object_set_new(parent, json_string_value(t), (cur = json_object())) < 0) { /* steals */
                    rc = WS_ENOMEM;
                    goto out;
                }
            }
            parent = cur;
        }
        t = json_array_get(loc, nloc - 1);
        if (json_is_string(t) && json_is_object(parent)) {
            cur = json_object_get(parent, json_string_value(t));
            if (cur && json_equal(cur, value))
                continue;
            if (json_object_set(parent, json_string_value(t), (json_t *)value) < 0) {
                rc = WS_ENOMEM;
                goto out;
            }
        } else if (json_is_integer(t) && json_is_array(parent) &&
                   (cur = json_array_get(parent, (size_t)json_integer_value(t)))) {
            if (json_equal(cur, value))
                continue;
            if (json_array_set(parent, (size_t)json_integer_value(t), (json_t *)value) < 0) {
                rc = WS_ENOMEM;
                goto out;
            }
        } else {
            continue;
        }
        changed++;
    }
    qsort(removals, nrem, sizeof(*removals), loc_cmp_desc);
    for (i = 0; i < nrem; i++) {
        const json_t *loc = json_object_get(removals[i], "at");
        size_t nloc = json_array_size(loc);
        json_t *parent = at(desired, loc, nloc - 1), *t = json_array_get(loc, nloc - 1);
        if (json_is_string(t) && json_is_object(parent))
            changed += json_object_del(parent, json_string_value(t)) == 0;
        else if (json_is_integer(t) && json_is_array(parent))
            changed += json_array_remove(parent, (size_t)json_integer_value(t)) == 0;
    }
out:
    free(removals);
    json_decref(edits);
    return rc < 0 ? rc : (int)changed;
}
