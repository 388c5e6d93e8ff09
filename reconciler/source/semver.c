/* semver.c — versions and constraints with Masterminds semver v3's meaning
 * (what Helm and Argo CD use to pick a chart version). Pure. */
#include "source/semver.h"

#include <ctype.h>
#include <string.h>

#include "base/error.h"

#define NUM_MAX 999999999999ull /* refuse absurd numbers rather than overflow */

/* A version as a comparator writes it: parts may be missing or wildcards. */
struct cver {
    struct ws_semver v;
    int given; /* leading concrete parts (0-3); fewer = "dirty" (a range) */
};

static int parse_num(uint64_t *out, const char **p, const char *e)
{
    const char *s = *p;
    uint64_t n = 0;
    if (s >= e || !isdigit((unsigned char)*s))
        return WS_EINVAL;
    for (; s < e && isdigit((unsigned char)*s); s++) {
        n = n * 10 + (uint64_t)(*s - '0');
        if (n > NUM_MAX)
            return WS_EINVAL;
    }
    *out = n;
    *p = s;
    return 0;
}

static int is_wild(char c)
{
    return c == 'x' || c == 'X' || c == '*';
}

/* Identifiers of a pre-release or build: [0-9A-Za-z-] separated by dots. */
static int check_idents(const char *s, const char *e)
{
    const char *start = s;
    if (s >= e)
        return WS_EINVAL;
    for (; s < e; s++) {
        if (*s == '.') {
            if (s == start || s[-1] == '.' || s + 1 == e)
                return WS_EINVAL;
        } else if (!isalnum((unsigned char)*s) && *s != '-') {
            return WS_EINVAL;
        }
    }
    return 0;
}

/* [s, e) as a version; with `wild`, parts may be missing or wildcards (x, X, *). */
static int parse_cver(struct cver *out, const char *s, const char *e, int wild)
{
    uint64_t *parts[3];
    int i, stop = 0;
    memset(out, 0, sizeof(*out));
    parts[0] = &out->v.major;
    parts[1] = &out->v.minor;
    parts[2] = &out->v.patch;
    if (s < e && (*s == 'v' || *s == 'V'))
        s++;
    for (i = 0; i < 3; i++) {
        if (i > 0) {
            if (s >= e || *s != '.')
                break;
            s++;
        }
        if (s < e && is_wild(*s)) {
            if (!wild)
                return WS_EINVAL;
            s++;
            stop = 1;
        } else if (parse_num(parts[i], &s, e) < 0) {
            return WS_EINVAL;
        } else if (stop) {
            return WS_EINVAL; /* "1.x.3" */
        } else {
            out->given = i + 1;
        }
        out->v.nparts = i + 1;
    }
    if (!wild && out->given < 1)
        return WS_EINVAL;
    if (s < e && *s == '-') {
        const char *pe = s + 1;
        while (pe < e && *pe != '+')
            pe++;
        if (check_idents(s + 1, pe) < 0 || (size_t)(pe - s - 1) >= sizeof(out->v.pre))
            return WS_EINVAL;
        memcpy(out->v.pre, s + 1, (size_t)(pe - s - 1));
        out->v.pre[pe - s - 1] = '\0';
        s = pe;
    }
    if (s < e && *s == '+') {
        if (check_idents(s + 1, e) < 0)
            return WS_EINVAL;
        s = e;
    }
    return s == e ? 0 : WS_EINVAL;
}

int ws_semver_parse(struct ws_semver *out, const char *s)
{
    struct cver c;
    if (!s || parse_cver(&c, s, s + strlen(s), 0) < 0)
        return WS_EINVAL;
    *out = c.v;
    return 0;
}

int ws_semver_is_exact(const char *s)
{
    struct ws_semver v;
    return ws_semver_parse(&v, s) == 0 && v.nparts == 3;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return n > 0;
}

/* Pre-release precedence (semver 2.0.0 §11): identifiers left to right,
 * numeric ones by value and below alphanumeric ones, a shorter list first. */
static int cmp_pre(const char *a, const char *b)
{
    if (!*a || !*b)
        return !*a && !*b ? 0 : (!*a ? 1 : -1); /* a release is above its pre-releases */
    for (;;) {
        size_t na = strcspn(a, "."), nb = strcspn(b, ".");
        int da = all_digits(a, na), db = all_digits(b, nb), c;
        if (da && db) {
            /* no leading zeros are assumed; longer is bigger */
            if (na != nb)
                return na < nb ? -1 : 1;
            if ((c = memcmp(a, b, na)) != 0)
                return c < 0 ? -1 : 1;
        } else if (da != db) {
            return da ? -1 : 1;
        } else {
            c = memcmp(a, b, na < nb ? na : nb);
            if (c != 0)
                return c < 0 ? -1 : 1;
            if (na != nb)
                return na < nb ? -1 : 1;
        }
        a += na;
        b += nb;
        if (!*a || !*b)
            return !*a && !*b ? 0 : (!*a ? -1 : 1);
        a++;
        b++;
    }
}

int ws_semver_cmp(const struct ws_semver *a, const struct ws_semver *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch)
        return a->patch < b->patch ? -1 : 1;
    return cmp_pre(a->pre, b->pre);
}

/* --- constraints ------------------------------------------------------------ */

enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_TILDE, OP_CARET };

/* The first version above a dirty comparator's range ("1.2" → 1.3.0);
 * 0 when there is none ("*"). */
static int upper(struct ws_semver *out, const struct cver *c)
{
    memset(out, 0, sizeof(*out));
    if (c->given == 0)
        return 0;
    out->major = c->v.major;
    if (c->given == 1) {
        out->major++;
    } else if (c->given == 2) {
        out->minor = c->v.minor + 1;
    } else {
        out->minor = c->v.minor;
        out->patch = c->v.patch + 1;
    }
    return 1;
}

/* v in [lo, up) where up is `hi` (when has_hi). */
static int in_range(const struct ws_semver *v, const struct ws_semver *lo, const struct ws_semver *hi, int has_hi)
{
    return ws_semver_cmp(v, lo) >= 0 && (!has_hi || ws_semver_cmp(v, hi) < 0);
}

static int check_one(enum op op, const struct cver *c, const struct ws_semver *v)
{
    struct ws_semver hi;
    const struct ws_semver *lo = &c->v;
    int has_hi, r;
    /* pre-releases only for a comparator that names one (Masterminds' rule) */
    if (v->pre[0] && !c->v.pre[0])
        return 0;
    switch (op) {
    case OP_EQ:
    case OP_NE:
        if (c->given == 3)
            r = ws_semver_cmp(v, lo) == 0;
        else {
            has_hi = upper(&hi, c);
            r = in_range(v, lo, &hi, has_hi);
        }
        return op == OP_EQ ? r : !r;
    case OP_GT:
        if (c->given == 3)
            return ws_semver_cmp(v, lo) > 0;
        if (!upper(&hi, c))
            return 0;
        return ws_semver_cmp(v, &hi) >= 0;
    case OP_GE:
        return ws_semver_cmp(v, lo) >= 0;
    case OP_LT:
        return ws_semver_cmp(v, lo) < 0;
    case OP_LE:
        if (c->given == 3)
            return ws_semver_cmp(v, lo) <= 0;
        if (!upper(&hi, c))
            return 1;
        return ws_semver_cmp(v, &hi) < 0;
    case OP_TILDE:
        if (c->given == 0)
            return 1;
        memset(&hi, 0, sizeof(hi));
        hi.major = c->v.major;
        if (c->given == 1)
            hi.major++;
        else
            hi.minor = c->v.minor + 1;
        return in_range(v, lo, &hi, 1);
    case OP_CARET:
        if (c->given == 0)
            return 1;
        if (ws_semver_cmp(v, lo) < 0)
            return 0;
        if (c->v.major > 0 || c->given == 1)
            return v->major == c->v.major;
        if (c->v.minor > 0 || c->given == 2)
            return v->major == 0 && v->minor == c->v.minor;
        return v->major == 0 && v->minor == 0 && v->patch == c->v.patch;
    }
    return 0;
}

static int parse_op(enum op *op, const char **p, const char *e)
{
    const char *s = *p;
    size_t n = 0;
    while (s + n < e && strchr("<>=!~^", s[n]))
        n++;
    *p = s + n;
    if (n == 0 || (n == 1 && s[0] == '='))
        *op = OP_EQ;
    else if (n == 2 && !memcmp(s, "!=", 2))
        *op = OP_NE;
    else if (n == 1 && s[0] == '>')
        *op = OP_GT;
    else if (n == 2 && (!memcmp(s, ">=", 2) || !memcmp(s, "=>", 2)))
        *op = OP_GE;
    else if (n == 1 && s[0] == '<')
        *op = OP_LT;
    else if (n == 2 && (!memcmp(s, "<=", 2) || !memcmp(s, "=<", 2)))
        *op = OP_LE;
    else if ((n == 1 && s[0] == '~') || (n == 2 && !memcmp(s, "~>", 2)))
        *op = OP_TILDE;
    else if (n == 1 && s[0] == '^')
        *op = OP_CARET;
    else
        return WS_EINVAL;
    return 0;
}

static int is_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

/* One AND group [s, e): every comparator must hold. With v NULL, only checks
 * the syntax. 1/0, or WS_EINVAL. */
static int match_group(const char *s, const char *e, const struct ws_semver *v)
{
    int all = 1, any = 0;
    while (s < e) {
        enum op op;
        struct cver c, c2;
        const char *ve;
        while (s < e && is_sep(*s))
            s++;
        if (s >= e)
            break;
        if (parse_op(&op, &s, e) < 0)
            return WS_EINVAL;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        for (ve = s; ve < e && !is_sep(*ve); ve++)
            ;
        if (ve == s || parse_cver(&c, s, ve, 1) < 0)
            return WS_EINVAL;
        s = ve;
        any = 1;
        /* "1.2 - 1.4.5": a hyphen range, >= the first and <= the second */
        {
            const char *q = s;
            while (q < e && (*q == ' ' || *q == '\t'))
                q++;
            if (op == OP_EQ && q + 1 < e && *q == '-' && (q[1] == ' ' || q[1] == '\t')) {
                q += 2;
                while (q < e && (*q == ' ' || *q == '\t'))
                    q++;
                for (ve = q; ve < e && !is_sep(*ve); ve++)
                    ;
                if (ve == q || parse_cver(&c2, q, ve, 1) < 0)
                    return WS_EINVAL;
                s = ve;
                if (v && !(check_one(OP_GE, &c, v) && check_one(OP_LE, &c2, v)))
                    all = 0;
                continue;
            }
        }
        if (v && !check_one(op, &c, v))
            all = 0;
    }
    if (!any)
        return WS_EINVAL;
    return all;
}

static int match_all(const char *c, const struct ws_semver *v)
{
    const char *s = c, *bar;
    int found = 0, r;
    if (!c || !*c)
        return WS_EINVAL;
    for (;;) {
        bar = strstr(s, "||");
        if ((r = match_group(s, bar ? bar : s + strlen(s), v)) < 0)
            return r;
        found |= r;
        if (!bar)
            return found;
        s = bar + 2;
    }
}

int ws_semver_match(const char *c, const struct ws_semver *v)
{
    return match_all(c, v);
}

int ws_semver_check(const char *c)
{
    return match_all(c, NULL) < 0 ? WS_EINVAL : 0;
}

int ws_semver_best(size_t *out, const char *c, const char *const *versions, size_t n, int underscore)
{
    struct ws_semver best, v;
    int found = 0;
    size_t i;
    if (ws_semver_check(c) < 0)
        return WS_EINVAL;
    for (i = 0; i < n; i++) {
        char buf[256];
        const char *s = versions[i];
        if (!s)
            continue;
        if (underscore && strchr(s, '_') && strlen(s) < sizeof(buf)) {
            char *u;
            strcpy(buf, s);
            for (u = buf; *u; u++)
                if (*u == '_')
                    *u = '+';
            s = buf;
        }
        if (ws_semver_parse(&v, s) < 0 || match_all(c, &v) != 1)
            continue;
        if (!found || ws_semver_cmp(&v, &best) > 0) {
            best = v;
            *out = i;
            found = 1;
        }
    }
    return found;
}
