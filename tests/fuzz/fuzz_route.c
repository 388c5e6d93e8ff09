/* fuzz_route.c — reconciler/source/route.c on any rules and paths: an
 * Application's source path and argocd.argoproj.io/manifest-generate-paths
 * come from Git, the changed paths from a push. Besides the sanitizers, each
 * path is matched against a slow reference written from route.h's words
 * (a dynamic program over components and bytes), so the trie and the
 * one-backtrack glob matcher must give the same answer.
 *
 * Input: one flags byte (bit 0: no manifest-generate-paths), then lines:
 * the source path, the annotation, a glob pattern, then changed paths. */
#include "fuzz.h"

#include <stdbool.h>

#include "base/log.h"
#include "base/util.h"
#include "source/route.h"

#define MAX_PATHS 64
/* The reference is quadratic: it checks rules and paths up to this long. */
#define REF_MAX 1024

enum { ID_SOURCE = 1, ID_PATTERN, ID_SUBTREE, ID_FILE, NIDS };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    return 0;
}

/* --- the reference --------------------------------------------------------- */

struct comp {
    const char *p;
    size_t n;
    bool glob;
};

struct rule {
    struct comp v[256];
    size_t n;
    bool overflow;
};

static bool has_glob(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '*' || p[i] == '?' || p[i] == '[')
            return true;
    return false;
}

/* route.h: "./", "." and empty components dropped, ".." resolved; false when
 * it climbs out. Components of a glob-less text, or when !globs, are literal. */
static bool rule_add(struct rule *r, const char *s, size_t n, bool globs)
{
    size_t i = 0, j;
    while (i < n) {
        for (j = i; j < n && s[j] != '/'; j++)
            ;
        if (j == i || (j - i == 1 && s[i] == '.')) {
        } else if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
            if (r->n == 0)
                return false;
            r->n--;
        } else if (r->n == sizeof(r->v) / sizeof(r->v[0])) {
            r->overflow = true;
        } else {
            r->v[r->n++] = (struct comp){s + i, j - i, globs && has_glob(s + i, j - i)};
        }
        i = j + 1;
    }
    return true;
}

/* "[...]": '!' or '^' negates, a ']' first is a member, a-b is a range.
 * Returns the class's length (0: not closed) and whether c is in it. */
static size_t class_at(const char *p, size_t n, uint32_t c, bool *in)
{
    size_t i = 1, end;
    bool neg = false, hit = false;
    uint32_t lo, hi;
    if (i < n && (p[i] == '!' || p[i] == '^')) {
        neg = true;
        i++;
    }
    end = i + (i < n && p[i] == ']');
    while (end < n && p[end] != ']')
        end++;
    if (end >= n)
        return 0;
    while (i < end) {
        i += ws_utf8_char(p + i, end - i, &lo);
        hi = lo;
        if (i + 1 < end && p[i] == '-') {
            i++;
            i += ws_utf8_char(p + i, end - i, &hi);
        }
        hit = hit || (lo <= c && c <= hi);
    }
    *in = hit != neg;
    return end + 1;
}

/* One component against a glob component: every way '*' can split it. */
static bool comp_ref(const char *p, size_t pn, const char *s, size_t sn)
{
    /* ok[pi][si] as a flat array, filled from the ends. */
    bool *ok = calloc((pn + 1) * (sn + 1), sizeof(*ok)), r;
    uint32_t c = 0;
#define OK(a, b) ok[(a) * (sn + 1) + (b)]
    if (!ok)
        abort();
    for (size_t pi = pn + 1; pi-- > 0;) {
        for (size_t si = sn + 1; si-- > 0;) {
            size_t adv = si < sn ? ws_utf8_char(s + si, sn - si, &c) : 0, cl;
            bool in = false, v;
            if (pi == pn)
                v = si == sn;
            else if (p[pi] == '*')
                v = OK(pi + 1, si) || (si < sn && OK(pi, si + adv));
            else if (si == sn)
                v = false;
            else if (p[pi] == '?')
                v = OK(pi + 1, si + adv);
            else if (p[pi] == '[' && (cl = class_at(p + pi, pn - pi, c, &in)) > 0)
                v = in && OK(pi + cl, si + adv);
            else
                v = p[pi] == s[si] && OK(pi + 1, si + 1);
            OK(pi, si) = v;
        }
    }
    r = OK(0, 0);
#undef OK
    free(ok);
    return r;
}

/* The path's components: '/' runs and "." skipped (route.h). */
static size_t path_comps(struct comp *v, size_t max, const char *s)
{
    size_t n = 0;
    while (*s) {
        size_t len;
        while (*s == '/')
            s++;
        len = strcspn(s, "/");
        if (len && !(len == 1 && *s == '.') && n < max)
            v[n++] = (struct comp){s, len, false};
        s += len;
    }
    return n;
}

/* Does the rule match the first k path components for some k (prefix), or
 * all of them (exact)? memo: -1 unknown, else the answer, per (i, j). */
static bool rule_ref(const struct rule *r, size_t i, const struct comp *s, size_t sn, size_t j,
                     bool exact, signed char *memo)
{
    signed char *m = &memo[i * (sn + 1) + j];
    bool v;
    if (*m >= 0)
        return *m;
    if (i == r->n)
        v = !exact || j == sn;
    else if (r->v[i].glob && r->v[i].n == 2 && r->v[i].p[0] == '*' && r->v[i].p[1] == '*') {
        v = false;
        for (size_t k = j; k <= sn && !v; k++)
            v = rule_ref(r, i + 1, s, sn, k, exact, memo);
    } else if (j == sn) {
        v = false;
    } else if (r->v[i].glob) {
        v = comp_ref(r->v[i].p, r->v[i].n, s[j].p, s[j].n) && rule_ref(r, i + 1, s, sn, j + 1, exact, memo);
    } else {
        v = r->v[i].n == s[j].n && memcmp(r->v[i].p, s[j].p, s[j].n) == 0 &&
            rule_ref(r, i + 1, s, sn, j + 1, exact, memo);
    }
    *m = v;
    return v;
}

static bool matches(const struct rule *r, const char *path, bool exact)
{
    static struct comp s[REF_MAX];
    size_t sn = path_comps(s, REF_MAX, path);
    signed char *memo = malloc((r->n + 1) * (sn + 1));
    bool v;
    if (!memo)
        abort();
    memset(memo, -1, (r->n + 1) * (sn + 1));
    v = rule_ref(r, 0, s, sn, 0, exact, memo);
    free(memo);
    return v;
}

/* --- the target ------------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* manifest-generate-paths as route.h says it: the rules it adds (at most 16
 * here; more: false and the source is not checked). */
static bool source_rules(struct rule *out, size_t *nout, const char *src, const char *mgp)
{
    size_t n = 0;
    const char *p = mgp;
    while (mgp && *p) {
        const char *e = p + strcspn(p, ";"), *b = p, *t = e;
        while (b < t && is_space(*b))
            b++;
        while (t > b && is_space(t[-1]))
            t--;
        if (t > b) {
            if (n == 16)
                return false;
            memset(&out[n], 0, sizeof(out[n]));
            if (*b != '/')
                rule_add(&out[n], src, strlen(src), false);
            rule_add(&out[n], b, (size_t)(t - b), true);
            n++;
        }
        p = *e ? e + 1 : e;
    }
    if (n == 0) {
        memset(&out[0], 0, sizeof(out[0]));
        rule_add(&out[0], src, strlen(src), false);
        n = 1;
    }
    *nout = n;
    return true;
}

static char *take_line(const char **p)
{
    const char *nl = strchr(*p, '\n');
    size_t n = nl ? (size_t)(nl - *p) : strlen(*p);
    char *s = strndup(*p, n);
    *p += n + (nl != NULL);
    return s;
}

static bool has_id(const uint32_t *ids, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rule src_rules[16], pat, sub;
    char *text, *src, *mgp, *pattern, *paths[MAX_PATHS];
    const char *p;
    struct ws_route *r = NULL;
    struct ws_err err;
    uint32_t *ids = NULL;
    size_t nids = 0, npaths = 0, nsrc = 0, i, j;
    bool added[NIDS] = {false}, ref_src;
    int rc, checked;

    if (size < 1 || size > FUZZ_MAX_INPUT || !(text = fuzz_strndup(data + 1, size - 1)))
        return 0;
    p = text;
    src = take_line(&p);
    mgp = take_line(&p);
    pattern = take_line(&p);
    while (*p && npaths < MAX_PATHS)
        paths[npaths++] = take_line(&p);
    if (data[0] & 1) {
        free(mgp);
        mgp = NULL;
    }

    if (ws_route_new(&r) < 0)
        goto out;
    rc = ws_route_add_source(r, src, mgp, ID_SOURCE, &err);
    checked = ws_route_check_source(src, mgp, &err);
    FUZZ_CHECK((rc == 0) == (checked == 0), "add_source %d but check_source %d", rc, checked);
    added[ID_SOURCE] = rc == 0;
    added[ID_PATTERN] = ws_route_add_pattern(r, pattern, ID_PATTERN) == 0;
    added[ID_SUBTREE] = ws_route_add_subtree(r, src, ID_SUBTREE) == 0;
    added[ID_FILE] = ws_route_add_file(r, src, ID_FILE) == 0;

    memset(&pat, 0, sizeof(pat));
    memset(&sub, 0, sizeof(sub));
    rule_add(&pat, pattern, strlen(pattern), true);
    rule_add(&sub, src, strlen(src), false);
    ref_src = added[ID_SOURCE] && source_rules(src_rules, &nsrc, src, mgp);
    for (i = 0; i < nsrc; i++)
        ref_src = ref_src && !src_rules[i].overflow;

    if (ws_route_match(r, (const char *const *)paths, npaths, &ids, &nids) == 0) {
        for (i = 0; i < nids; i++) {
            FUZZ_CHECK(ids[i] > 0 && ids[i] < NIDS && added[ids[i]], "id %u was never added", ids[i]);
            FUZZ_CHECK(i == 0 || ids[i - 1] < ids[i], "ids not sorted and unique");
        }
        free(ids);
    }
    /* Each path alone, against the reference. */
    for (j = 0; j < npaths; j++) {
        bool want;
        ids = NULL;
        nids = 0;
        if (strlen(paths[j]) > REF_MAX || strlen(src) > REF_MAX || strlen(pattern) > REF_MAX ||
            (mgp && strlen(mgp) > REF_MAX))
            break;
        if (ws_route_match(r, (const char *const *)&paths[j], 1, &ids, &nids) < 0)
            continue;
        if (added[ID_PATTERN] && !pat.overflow)
            FUZZ_CHECK(has_id(ids, nids, ID_PATTERN) == matches(&pat, paths[j], false),
                       "pattern \"%s\" on \"%s\": route.c %d", pattern, paths[j],
                       has_id(ids, nids, ID_PATTERN));
        if (added[ID_SUBTREE] && !sub.overflow)
            FUZZ_CHECK(has_id(ids, nids, ID_SUBTREE) == matches(&sub, paths[j], false),
                       "subtree \"%s\" on \"%s\"", src, paths[j]);
        if (added[ID_FILE] && !sub.overflow)
            FUZZ_CHECK(has_id(ids, nids, ID_FILE) == matches(&sub, paths[j], true),
                       "file \"%s\" on \"%s\"", src, paths[j]);
        if (ref_src) {
            want = false;
            for (i = 0; i < nsrc && !want; i++)
                want = matches(&src_rules[i], paths[j], false);
            FUZZ_CHECK(has_id(ids, nids, ID_SOURCE) == want, "source \"%s\" with \"%s\" on \"%s\": route.c %d",
                       src, mgp ? mgp : "(none)", paths[j], has_id(ids, nids, ID_SOURCE));
        }
        free(ids);
    }
out:
    ws_route_free(r);
    for (i = 0; i < npaths; i++)
        free(paths[i]);
    free(src);
    free(mgp);
    free(pattern);
    free(text);
    return 0;
}
