/* test_route.c — table-driven tests for reconciler/source/route.c: subtree, file and
 * glob rules, Argo CD's manifest-generate-paths, errors, and a randomized
 * cross-check against a brute-force matcher (fnmatch per component). */
#include "source/route.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"

/* kind: 'd' subtree, 'f' file, 'p' pattern, 's' source (path + mgp) */
struct rule {
    char kind;
    const char *path;
    const char *mgp;
    uint32_t id;
};

struct match_case {
    const char *name;
    struct rule rules[6]; /* until kind == 0 */
    const char *paths[6]; /* until NULL */
    const char *want;     /* matched ids, "1,3"; "" for none */
};

static const struct match_case cases[] = {
    /* subtree */
    {"subtree: sibling with a common string prefix does not match",
     {{'d', "serving", NULL, 1}}, {"serving-v2/x.yaml", "servingx"}, ""},
    {"subtree: a file under it", {{'d', "serving", NULL, 1}}, {"serving/a/b.yaml"}, "1"},
    {"subtree: the folder path itself", {{'d', "serving", NULL, 1}}, {"serving"}, "1"},
    {"subtree: a parent folder's file does not match", {{'d', "apps/serving", NULL, 1}}, {"apps/README.md"}, ""},
    {"subtree: root \"\" covers everything", {{'d', "", NULL, 7}}, {"README.md"}, "7"},
    {"subtree: \".\" is the root", {{'d', ".", NULL, 7}}, {"a/b/c"}, "7"},
    {"subtree: \"./\", '//' and trailing '/' normalised", {{'d', "./apps//a/", NULL, 2}}, {"apps/a/x"}, "2"},
    {"subtree: normalised rule still not a string prefix", {{'d', "./apps//a/", NULL, 2}}, {"apps/ab/x"}, ""},
    {"subtree: \"..\" inside the repository resolved", {{'d', "apps/x/../a", NULL, 2}}, {"apps/a/k.yaml", "apps/x/k.yaml"}, "2"},
    {"subtree: glob characters are literal", {{'d', "apps/[a]", NULL, 2}}, {"apps/a/k.yaml"}, ""},
    {"subtree: literal '[' folder", {{'d', "apps/[a]", NULL, 2}}, {"apps/[a]/k.yaml"}, "2"},
    /* file */
    {"file: exact path", {{'f', "apps/a/values.yaml", NULL, 3}}, {"apps/a/values.yaml"}, "3"},
    {"file: not a sibling, suffix or child",
     {{'f', "apps/a/values.yaml", NULL, 3}},
     {"apps/a/values.yaml.bak", "apps/a/values.yaml/x", "apps/a/other.yaml", "apps/a"}, ""},
    {"file: normalised \"./\"", {{'f', "./apps/a/values.yaml", NULL, 3}}, {"apps/a/values.yaml"}, "3"},
    /* '*' */
    {"'*' in a component", {{'p', "apps/*/kustomization.yaml", NULL, 4}}, {"apps/x/kustomization.yaml"}, "4"},
    {"'*' does not cross '/'", {{'p', "apps/*.yaml", NULL, 4}}, {"apps/a/b.yaml"}, ""},
    {"'*' matches an empty run", {{'p', "apps/*.yaml", NULL, 4}}, {"apps/.yaml"}, "4"},
    {"'*' prefix of a folder covers its subtree",
     {{'p', "charts/model-*", NULL, 5}}, {"charts/model-server/templates/d.yaml"}, "5"},
    {"'*' prefix: other folder", {{'p', "charts/model-*", NULL, 5}}, {"charts/modelx/a", "charts/model"}, ""},
    {"'*' twice in a component", {{'p', "a/*-*-prod", NULL, 5}}, {"a/x-y-prod/k"}, "5"},
    {"'*' twice: too few dashes", {{'p', "a/*-*-prod", NULL, 5}}, {"a/x-prod/k"}, ""},
    /* '**' */
    {"'**' at start: deep", {{'p', "**/*.yaml", NULL, 6}}, {"a/b/c.yaml"}, "6"},
    {"'**' at start: zero components", {{'p', "**/*.yaml", NULL, 6}}, {"x.yaml"}, "6"},
    {"'**' at start: no match", {{'p', "**/*.yaml", NULL, 6}}, {"a/b/c.json", "yaml"}, ""},
    {"'**' at start: a folder named *.yaml covers its subtree", {{'p', "**/*.yaml", NULL, 6}}, {"a/b.yaml/c.json"}, "6"},
    {"'**' in the middle: zero components", {{'p', "shared/**/base", NULL, 7}}, {"shared/base/k.yaml"}, "7"},
    {"'**' in the middle: several components", {{'p', "shared/**/base", NULL, 7}}, {"shared/a/b/base/x"}, "7"},
    {"'**' in the middle: no match", {{'p', "shared/**/base", NULL, 7}}, {"shared/a/b/basex/y", "base/x", "shared/a"}, ""},
    {"'**' at end: under", {{'p', "shared/**", NULL, 8}}, {"shared/x/y"}, "8"},
    {"'**' at end: the path itself", {{'p', "shared/**", NULL, 8}}, {"shared"}, "8"},
    {"'**' at end: sibling", {{'p', "shared/**", NULL, 8}}, {"sharedx/y"}, ""},
    {"'**' alone covers everything", {{'p', "**", NULL, 8}}, {"a", "b/c"}, "8"},
    {"'**' twice", {{'p', "a/**/b/**/c", NULL, 9}}, {"a/x/b/y/z/c/d"}, "9"},
    {"'**' twice: zero each", {{'p', "a/**/b/**/c", NULL, 9}}, {"a/b/c"}, "9"},
    {"'**' twice: wrong order", {{'p', "a/**/b/**/c", NULL, 9}}, {"a/c/b", "a/c/x/b"}, ""},
    {"'**' then '*' backtracks", {{'p', "**/b/*.yaml", NULL, 9}}, {"b/b/b/x.yaml"}, "9"},
    {"'**' inside a component is '*'", {{'p', "a/x**y", NULL, 9}}, {"a/xzzy/k", "a/xy"}, "9"},
    {"'**' inside a component does not cross '/'", {{'p', "a/x**y", NULL, 9}}, {"a/x/y"}, ""},
    /* '?' and classes */
    {"'?' one character", {{'p', "team-?/app.yaml", NULL, 9}}, {"team-a/app.yaml"}, "9"},
    {"'?' not two, not zero", {{'p', "team-?/app.yaml", NULL, 9}}, {"team-ab/app.yaml", "team-/app.yaml"}, ""},
    {"'?' one UTF-8 character", {{'p', "caf?/x", NULL, 10}}, {"caf\xc3\xa9/x"}, "10"},
    {"class: range", {{'p', "env-[a-c]/*", NULL, 11}}, {"env-b/x.yaml"}, "11"},
    {"class: out of range", {{'p', "env-[a-c]/*", NULL, 11}}, {"env-d/x.yaml", "env-/x"}, ""},
    {"class: negated with '!'", {{'p', "env-[!a-c]", NULL, 12}}, {"env-d/x"}, "12"},
    {"class: negated excludes", {{'p', "env-[!a-c]", NULL, 12}}, {"env-a/x", "env-c"}, ""},
    {"class: negated with '^'", {{'p', "env-[^a]", NULL, 12}}, {"env-a", "env-z"}, "12"},
    {"class: ']' first is a member", {{'p', "v[]x]", NULL, 13}}, {"v]/a"}, "13"},
    {"class: ']' first, other member", {{'p', "v[]x]", NULL, 13}}, {"vx/a"}, "13"},
    {"class: trailing '-' is literal", {{'p', "v[a-]", NULL, 13}}, {"v-"}, "13"},
    {"class: UTF-8 member", {{'p', "[\xc3\xa9]t\xc3\xa9", NULL, 13}}, {"\xc3\xa9t\xc3\xa9"}, "13"},
    {"pattern naming a folder covers its subtree", {{'p', "apps/[ab]", NULL, 14}}, {"apps/a/deep/x.yaml"}, "14"},
    {"pattern without glob is a subtree", {{'p', "apps/a", NULL, 14}}, {"apps/a/x", "apps/ab/x"}, "14"},
    /* sources and manifest-generate-paths */
    {"source: no annotation is the source path's subtree", {{'s', "apps/a", NULL, 20}}, {"apps/a/x"}, "20"},
    {"source: no annotation, sibling", {{'s', "apps/a", NULL, 20}}, {"apps/b/x", "apps/ab"}, ""},
    {"source: \"./apps/a/\" normalised", {{'s', "./apps/a/", NULL, 20}}, {"apps/a/x"}, "20"},
    {"source: NULL path is the root", {{'s', NULL, NULL, 20}}, {"x"}, "20"},
    {"mgp \".\": the source path", {{'s', "apps/a", ".", 20}}, {"apps/a/x"}, "20"},
    {"mgp \".\": not a sibling", {{'s', "apps/a", ".", 20}}, {"apps/b/x"}, ""},
    {"mgp \"../shared\"", {{'s', "apps/a", "../shared", 21}}, {"apps/shared/x"}, "21"},
    {"mgp replaces the source path", {{'s', "apps/a", "../shared", 21}}, {"apps/a/x", "shared/x"}, ""},
    {"mgp \"../../shared\" reaches the root", {{'s', "apps/a", "../../shared", 21}}, {"shared/x"}, "21"},
    {"mgp \"/shared/**/*.yaml\": deep", {{'s', "apps/a", "/shared/**/*.yaml", 22}}, {"shared/x/y.yaml"}, "22"},
    {"mgp \"/shared/**/*.yaml\": shallow", {{'s', "apps/a", "/shared/**/*.yaml", 22}}, {"shared/y.yaml"}, "22"},
    {"mgp \"/shared/**/*.yaml\": other files",
     {{'s', "apps/a", "/shared/**/*.yaml", 22}}, {"shared/y.json", "apps/a/y.yaml", "y.yaml"}, ""},
    {"mgp: ';' with spaces and empty entries",
     {{'s', "apps/a", " . ;; /shared/base ;\t; ", 23}}, {"apps/a/x", "shared/base/y"}, "23"},
    {"mgp: ';' with spaces, others", {{'s', "apps/a", " . ;; /shared/base ;\t; ", 23}}, {"shared/other", "apps/b"}, ""},
    {"mgp: relative glob under the source", {{'s', "apps/a", "overlays/*/kustomization.yaml", 24}},
     {"apps/a/overlays/prod/kustomization.yaml"}, "24"},
    {"mgp: relative glob, other file", {{'s', "apps/a", "overlays/*/kustomization.yaml", 24}},
     {"apps/a/overlays/prod/values.yaml", "apps/a/base/kustomization.yaml"}, ""},
    {"mgp: source path with '[' stays literal", {{'s', "apps/[x]", "*.yaml", 24}}, {"apps/[x]/a.yaml"}, "24"},
    {"mgp: source path with '[' is not a class", {{'s', "apps/[x]", "*.yaml", 24}}, {"apps/x/a.yaml"}, ""},
    {"mgp: glob then \"..\"", {{'s', "apps/a", "x/*/../b", 24}}, {"apps/a/x/b/c"}, "24"},
    {"mgp \"\" counts as absent", {{'s', "apps/a", "", 25}}, {"apps/a/x"}, "25"},
    {"mgp \" ; \" counts as absent", {{'s', "apps/a", " ; ", 25}}, {"apps/a/x"}, "25"},
    {"mgp \" ; \", not elsewhere", {{'s', "apps/a", " ; ", 25}}, {"other/x"}, ""},
    {"mgp \"/\" is the root", {{'s', "apps/a", "/", 26}}, {"docs/x.md"}, "26"},
    /* several rules */
    {"dedup and sort",
     {{'d', "a", NULL, 5}, {'d', "a/b", NULL, 3}, {'p', "a/*", NULL, 5}, {'f', "a/b/c", NULL, 9}, {'s', "a", NULL, 3}},
     {"a/b/c", "a/b/d", "a/x"}, "3,5,9"},
    {"ids added in descending order come out sorted",
     {{'d', "x", NULL, 100}, {'d', "x", NULL, 2}, {'p', "x/*", NULL, 50}, {'d', "y", NULL, 1}},
     {"x/k"}, "2,50,100"},
    {"no match gives no ids", {{'d', "a", NULL, 1}, {'f', "b/c", NULL, 2}, {'p', "c/*.yaml", NULL, 3}},
     {"b", "c/d.json", "d/a"}, ""},
    {"file rule and subtree on one node",
     {{'f', "a/b", NULL, 1}, {'d', "a/b", NULL, 2}}, {"a/b/c"}, "2"},
    {"each path its own apps",
     {{'d', "t/a", NULL, 1}, {'d', "t/b", NULL, 2}, {'d', "t/c", NULL, 3}}, {"t/c/x", "t/a/y"}, "1,3"},
    {"same pattern shared by several apps",
     {{'p', "shared/**/*.yaml", NULL, 4}, {'s', "apps/b", "/shared/**/*.yaml", 2}, {'p', "shared/**/*.json", NULL, 6}},
     {"shared/a/b.yaml"}, "2,4"},
    {"changed path with '//' and \"./\"", {{'d', "apps/a", NULL, 1}, {'p', "apps/*/k", NULL, 2}}, {"apps//./a/k"}, "1,2"},
    {"no paths at all", {{'d', "", NULL, 1}}, {NULL}, ""},
    {"id 0 and UINT32_MAX", {{'d', "a", NULL, 0}, {'d', "a", NULL, UINT32_MAX}}, {"a/b"}, "0,4294967295"},
};

static int add_rule(struct ws_route *r, const struct rule *ru, struct ws_err *err)
{
    switch (ru->kind) {
    case 'd':
        return ws_route_add_subtree(r, ru->path, ru->id);
    case 'f':
        return ws_route_add_file(r, ru->path, ru->id);
    case 'p':
        return ws_route_add_pattern(r, ru->path, ru->id);
    default:
        return ws_route_add_source(r, ru->path, ru->mgp, ru->id, err);
    }
}

static void ids_str(char *buf, size_t cap, const uint32_t *ids, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%u", i ? "," : "", ids[i]);
}

/* Match paths against r and render the ids as "1,3" into buf; the return code. */
static int match_str(const struct ws_route *r, const char *const *paths, size_t n, char *buf, size_t cap)
{
    uint32_t *ids = NULL;
    size_t nids = 99;
    int rc = ws_route_match(r, paths, n, &ids, &nids);
    ids_str(buf, cap, ids, nids);
    if (nids == 0 && ids != NULL)
        snprintf(buf, cap, "(0 ids but a non-NULL array)");
    free(ids);
    return rc;
}

static void test_cases(void)
{
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        const struct match_case *c = &cases[i];
        struct ws_route *r = NULL;
        struct ws_err err;
        char got[512];
        size_t np = 0;
        int rc = ws_route_new(&r);
        ws_err_clear(&err);
        for (size_t k = 0; rc == 0 && k < WS_ARRAY_SIZE(c->rules) && c->rules[k].kind; k++)
            rc = add_rule(r, &c->rules[k], &err);
        while (np < WS_ARRAY_SIZE(c->paths) && c->paths[np])
            np++;
        if (rc == 0)
            rc = match_str(r, c->paths, np, got, sizeof(got));
        if (rc != 0)
            snprintf(got, sizeof(got), "error %d: %.400s", rc, err.msg);
        tap_is_str(got, c->want, c->name);
        ws_route_free(r);
    }
}

/* --- errors ---------------------------------------------------------------- */

struct err_case {
    const char *name;
    struct rule rule;
    const char *msg; /* substring of the error message, or NULL */
};

static const struct err_case err_cases[] = {
    {"mgp entry escaping the root", {'s', "apps/a", "../../../x", 1}, "\"../../../x\""},
    {"mgp absolute entry escaping the root", {'s', "apps/a", "/shared/../..", 1}, "\"/shared/../..\""},
    {"mgp escaping entry among good ones", {'s', "apps/a", ".; /ok ; ../../../etc ;/ok2", 1}, "\"../../../etc\""},
    {"mgp escaping message says why", {'s', "apps/a", "../../..", 1}, "escapes the repository root"},
    {"mgp unterminated class", {'s', "apps/a", "/ok;x/[abc", 1}, "\"x/[abc\" has an unterminated '['"},
    {"source path escaping the root", {'s', "../x", NULL, 1}, "\"../x\""},
    {"subtree escaping the root", {'d', "a/../../x", NULL, 1}, NULL},
    {"file \"\"", {'f', "", NULL, 1}, NULL},
    {"file \"./\" is the root, not a file", {'f', "./", NULL, 1}, NULL},
    {"file escaping the root", {'f', "../x", NULL, 1}, NULL},
    {"pattern \"\"", {'p', "", NULL, 1}, NULL},
    {"pattern with an unterminated class", {'p', "a/[b", NULL, 1}, NULL},
    {"pattern with \"[]\" (']' first is a member)", {'p', "a/[]", NULL, 1}, NULL},
    {"pattern escaping the root", {'p', "../*.yaml", NULL, 1}, NULL},
    {"subtree NULL", {'d', NULL, NULL, 1}, NULL},
};

static void test_errors(void)
{
    static const char *const probe[] = {"apps/a/x", "ok/x", "ok2/y", "x", "a/x", "shared/y"};
    for (size_t i = 0; i < WS_ARRAY_SIZE(err_cases); i++) {
        const struct err_case *c = &err_cases[i];
        struct ws_route *r = NULL;
        struct ws_err err;
        char name[256], got[256];
        int rc;
        ws_err_clear(&err);
        if (ws_route_new(&r) < 0) {
            tap_ok(0, "%s: ws_route_new", c->name);
            continue;
        }
        rc = add_rule(r, &c->rule, &err);
        snprintf(name, sizeof(name), "%s: WS_EINVAL", c->name);
        tap_is_int(rc, WS_EINVAL, name);
        if (c->msg) {
            snprintf(name, sizeof(name), "%s: message", c->name);
            tap_contains(err.msg, c->msg, name);
        }
        /* nothing was added: no probe path matches */
        match_str(r, probe, WS_ARRAY_SIZE(probe), got, sizeof(got));
        snprintf(name, sizeof(name), "%s: nothing added", c->name);
        tap_is_str(got, "", name);
        ws_route_free(r);
    }

    {
        struct ws_route *r = NULL;
        const char *paths[] = {"a", NULL};
        uint32_t *ids = (uint32_t *)&ids;
        size_t n = 5;
        ws_route_new(&r);
        ws_route_add_subtree(r, "", 1);
        tap_is_int(ws_route_match(r, paths, 2, &ids, &n), WS_EINVAL, "match: a NULL path is WS_EINVAL");
        tap_ok(ids == NULL && n == 0, "match: on error *out = NULL, *nout = 0");
        ws_route_free(r);
        ws_route_free(NULL);
    }
}

/* --- many ids on one node ---------------------------------------------------- */

static void test_many(void)
{
    struct ws_route *r = NULL;
    const char *paths[] = {"shared/base/x.yaml"};
    const char *own[] = {"teams/app0500/k.yaml"};
    uint32_t *ids = NULL;
    size_t n = 0, nodes = 0, pats = 0, nid = 0;
    int ok = 1, rc = ws_route_new(&r);
    char dir[64];

    /* 2000 apps, added from the highest id down, all sharing /shared and one pattern */
    for (uint32_t id = 2000; rc == 0 && id-- > 0;) {
        snprintf(dir, sizeof(dir), "teams/app%04u", id);
        rc = ws_route_add_source(r, dir, ".;/shared/base;/common/**/*.yaml", id, NULL);
    }
    tap_is_int(rc, 0, "many: 2000 sources added");
    ws_route_stats(r, &nodes, &pats, &nid);
    tap_is_int(pats, 1, "many: one shared pattern entry for 2000 apps");
    tap_is_int(nid, 2000, "many: 2000 ids");
    tap_is_int(nodes, 1 + 1 + 2000 + 2 + 1, "many: nodes = root, teams, 2000 appNNNN, shared/base, common");

    rc = ws_route_match(r, paths, 1, &ids, &n);
    tap_ok(rc == 0 && n == 2000, "many: a shared path matches all 2000 (got %zu)", n);
    for (size_t i = 0; i < n; i++)
        ok &= ids[i] == i;
    tap_ok(ok, "many: sorted ascending and unique");
    free(ids);

    rc = ws_route_match(r, own, 1, &ids, &n);
    tap_ok(rc == 0 && n == 1 && ids[0] == 500, "many: an app's own path matches only it");
    free(ids);
    ws_route_free(r);
}

/* --- randomized cross-check ------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13; /* xorshift64: same sequence on every libc */
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

static const char *const lit_comps[] = {"a", "b", "ab", "a.yaml", "b.yaml", "x-1", "x-2", "c", "ba"};
static const char *const glob_comps[] = {"*", "?", "a*", "*.yaml", "[ab]", "[!a]*", "x-?", "**", "*a*", "[a-b]?"};

static void rand_path(char *buf, size_t cap, int min_depth, int max_depth, bool globs)
{
    int depth = min_depth + (int)rnd((uint32_t)(max_depth - min_depth + 1));
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < depth; i++) {
        const char *c = globs && rnd(3) == 0 ? glob_comps[rnd(WS_ARRAY_SIZE(glob_comps))]
                                             : lit_comps[rnd(WS_ARRAY_SIZE(lit_comps))];
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "/" : "", c);
    }
}

/* Brute force: does pattern component list p[0..np) match exactly s[0..ns)? */
static bool bf_full(char **p, int np, char **s, int ns)
{
    if (np == 0)
        return ns == 0;
    if (strcmp(p[0], "**") == 0) {
        for (int k = 0; k <= ns; k++)
            if (bf_full(p + 1, np - 1, s + k, ns - k))
                return true;
        return false;
    }
    return ns > 0 && fnmatch(p[0], s[0], FNM_NOESCAPE) == 0 && bf_full(p + 1, np - 1, s + 1, ns - 1);
}

static int split(char *s, char **out, int max)
{
    int n = 0;
    for (char *t = strtok(s, "/"); t && n < max; t = strtok(NULL, "/"))
        out[n++] = t;
    return n;
}

/* The pattern (or literal folder) matches the path or one of its ancestors. */
static bool bf_pattern(const char *pattern, const char *path)
{
    char pb[1100], sb[1100], *p[32], *s[32];
    int np, ns;
    snprintf(pb, sizeof(pb), "%s", pattern);
    snprintf(sb, sizeof(sb), "%s", path);
    np = split(pb, p, 32);
    ns = split(sb, s, 32);
    for (int k = 0; k <= ns; k++)
        if (bf_full(p, np, s, k))
            return true;
    return false;
}

struct bf_rule {
    char kind; /* 'f' file, 'p' pattern or folder (subtree) */
    char text[128];
    uint32_t id;
};

static void test_random(void)
{
    enum { CASES = 4000, BATCH = 500 };
    int bad = 0, batch_bad = 0, nonempty = 0;
    for (int t = 0; t < CASES; t++) {
        struct ws_route *r = NULL;
        struct bf_rule bf[40];
        int nbf = 0, nrules = 1 + (int)rnd(10), npaths = 1 + (int)rnd(6);
        char pathbuf[8][128];
        const char *paths[8];
        bool want[48] = {false};
        char wantstr[256] = "", got[256];
        size_t wl = 0;
        int rc = ws_route_new(&r);

        for (int i = 0; rc == 0 && i < nrules; i++) {
            uint32_t id = rnd(48);
            int kind = (int)rnd(4);
            char text[128];
            if (kind == 0) { /* subtree */
                rand_path(text, sizeof(text), 0, 3, false);
                rc = ws_route_add_subtree(r, text, id);
                bf[nbf].kind = 'p';
                snprintf(bf[nbf].text, sizeof(bf[nbf].text), "%s", text);
                bf[nbf++].id = id;
            } else if (kind == 1) { /* file */
                rand_path(text, sizeof(text), 1, 4, false);
                rc = ws_route_add_file(r, text, id);
                bf[nbf].kind = 'f';
                snprintf(bf[nbf].text, sizeof(bf[nbf].text), "%s", text);
                bf[nbf++].id = id;
            } else if (kind == 2) { /* pattern */
                rand_path(text, sizeof(text), 1, 4, true);
                rc = ws_route_add_pattern(r, text, id);
                bf[nbf].kind = 'p';
                snprintf(bf[nbf].text, sizeof(bf[nbf].text), "%s", text);
                bf[nbf++].id = id;
            } else { /* source with 1-3 mgp entries, absolute or relative (no ".."), or none */
                char src[128], mgp[400] = "";
                size_t ml = 0;
                int ne = (int)rnd(4);
                rand_path(src, 48, 0, 2, false);
                for (int e = 0; e < ne; e++) {
                    bool abs = rnd(2);
                    rand_path(text, 64, abs ? 0 : 1, 3, true);
                    ml += (size_t)snprintf(mgp + ml, sizeof(mgp) - ml, "%s %s%s ", e ? ";" : "", abs ? "/" : "", text);
                    bf[nbf].kind = 'p';
                    snprintf(bf[nbf].text, sizeof(bf[nbf].text), "%.48s%s%.64s", abs ? "" : src,
                             abs || !*src ? "" : "/", text);
                    bf[nbf++].id = id;
                }
                if (ne == 0) {
                    bf[nbf].kind = 'p';
                    snprintf(bf[nbf].text, sizeof(bf[nbf].text), "%s", src);
                    bf[nbf++].id = id;
                }
                rc = ws_route_add_source(r, src, ne ? mgp : NULL, id, NULL);
            }
        }
        for (int i = 0; i < npaths; i++) {
            rand_path(pathbuf[i], sizeof(pathbuf[i]), 1, 5, false);
            paths[i] = pathbuf[i];
            for (int k = 0; k < nbf; k++) {
                bool m = bf[k].kind == 'f' ? strcmp(bf[k].text, paths[i]) == 0 : bf_pattern(bf[k].text, paths[i]);
                if (m)
                    want[bf[k].id] = true;
            }
        }
        for (uint32_t id = 0; id < 48; id++)
            if (want[id])
                wl += (size_t)snprintf(wantstr + wl, sizeof(wantstr) - wl, "%s%u", wl ? "," : "", id);
        nonempty += wl > 0;
        if (rc == 0)
            rc = match_str(r, paths, (size_t)npaths, got, sizeof(got));
        if (rc != 0)
            snprintf(got, sizeof(got), "error %d", rc);
        if (strcmp(got, wantstr) != 0) {
            if (bad < 5) {
                tap_diag("random case %d: got \"%s\", want \"%s\"", t, got, wantstr);
                for (int k = 0; k < nbf; k++)
                    tap_diag("  rule %c \"%s\" id %u", bf[k].kind, bf[k].text, bf[k].id);
                for (int i = 0; i < npaths; i++)
                    tap_diag("  path \"%s\"", paths[i]);
            }
            bad++;
            batch_bad++;
        }
        ws_route_free(r);
        if ((t + 1) % BATCH == 0) {
            tap_ok(batch_bad == 0, "random: cases %d-%d agree with the brute-force matcher (%d differ)",
                   t + 1 - BATCH, t, batch_bad);
            batch_bad = 0;
        }
    }
    /* guard against a generator that makes the check vacuous */
    tap_ok(nonempty > CASES / 4 && nonempty < CASES * 9 / 10, "random: %d of %d cases match some app", nonempty, CASES);
}

int main(void)
{
    test_cases();
    test_errors();
    test_many();
    test_random();
    return tap_done();
}
