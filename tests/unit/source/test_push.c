/* test_push.c — table-driven tests for reconciler/source/push.c: a push (repository,
 * ref, changed paths) routed to Applications of a hand-built catalog under a
 * wavesync.yaml parsed from text; ref tracking, "interesting" pushes and
 * changes to the applications folder. No git, no files. */
#include "source/push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"
#include "base/yaml.h"

#define HEX40 "0123456789abcdef0123456789abcdef01234567"
#define HEX64 HEX40 "0123456789abcdef01234567"

/* --- ws_push_ref_tracks ------------------------------------------------------------- */

static void test_ref_tracks(void)
{
    static const struct {
        const char *rev, *ref, *dflt;
        int want;
    } rows[] = {
        /* the default branch */
        {"", "refs/heads/main", "refs/heads/main", 1},
        {"", "refs/heads/main", NULL, 1},
        {"", "refs/heads/master", NULL, 1},
        {"", "refs/heads/dev", NULL, 0},
        {NULL, "refs/heads/main", NULL, 1},
        {"HEAD", "refs/heads/develop", "refs/heads/develop", 1},
        {"HEAD", "refs/heads/main", "refs/heads/develop", 0},
        {"HEAD", "refs/heads/master", "refs/heads/main", 0},
        {"HEAD", "refs/heads/main", NULL, 1},
        {"HEAD", "refs/heads/master", NULL, 1},
        {"HEAD", "refs/heads/trunk", NULL, 0},
        {"HEAD", "refs/tags/main", NULL, 0},
        /* branch names */
        {"main", "refs/heads/main", NULL, 1},
        {"main", "refs/heads/main", "refs/heads/develop", 1},
        {"main", "refs/heads/main2", NULL, 0},
        {"main", "refs/heads/mai", NULL, 0},
        {"main", "refs/heads/feature/main", NULL, 0},
        {"main", "refs/remotes/origin/main", NULL, 0},
        {"main", "main", NULL, 0},
        {"main", NULL, NULL, 0},
        {"feature/x", "refs/heads/feature/x", NULL, 1},
        {"feature/x", "refs/heads/x", NULL, 0},
        {"x", "refs/heads/feature/x", NULL, 0},
        {"heads/main", "refs/heads/main", NULL, 0},
        /* a branch named like a tag prefix is a branch, not the tag */
        {"tags/v1", "refs/heads/tags/v1", NULL, 1},
        {"tags/v1", "refs/tags/v1", NULL, 0},
        /* tag names */
        {"v1", "refs/tags/v1", NULL, 1},
        {"v1", "refs/tags/v1.1", NULL, 0},
        {"v1.1", "refs/tags/v1", NULL, 0},
        {"v1", "refs/heads/v1", NULL, 1},
        /* full refs match themselves only */
        {"refs/heads/main", "refs/heads/main", NULL, 1},
        {"refs/heads/main", "refs/tags/main", NULL, 0},
        {"refs/heads/main", "refs/heads/main/x", NULL, 0},
        {"refs/tags/v1", "refs/tags/v1", NULL, 1},
        {"refs/tags/v1", "refs/heads/v1", NULL, 0},
        /* a commit id never moves */
        {HEX40, "refs/heads/main", NULL, 0},
        {HEX40, "refs/heads/" HEX40, NULL, 0},
        {HEX40, "refs/tags/" HEX40, NULL, 0},
        {HEX64, "refs/heads/" HEX64, NULL, 0},
        /* short hex is a name */
        {"abc1234", "refs/heads/abc1234", NULL, 1},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++)
        tap_ok(ws_push_ref_tracks(rows[i].rev, rows[i].ref, rows[i].dflt) == rows[i].want,
               "ref_tracks(\"%s\", %s, %s) == %d", rows[i].rev ? rows[i].rev : "(null)",
               rows[i].ref ? rows[i].ref : "(null)", rows[i].dflt ? rows[i].dflt : "(null)",
               rows[i].want);
}

/* --- the fixture: configuration and catalog ----------------------------------------- */

/* Two repositories; Applications live in "apps" on platform@main and in "defs"
 * on other@HEAD. */
static const char config_text[] =
    "repositories:\n"
    "  - name: platform\n"
    "    url: https://github.com/acme/platform.git\n"
    "  - name: other\n"
    "    url: git@github.com:acme/other.git\n"
    "applications:\n"
    "  - {repository: platform, path: apps, revision: main}\n"
    "  - {repository: other, path: defs}\n";

enum { PLATFORM, OTHER };

#define APP(META, SPEC)                                      \
    "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"  \
    "metadata: " META "\n"                                   \
    "spec:\n  " SPEC "\n"                                    \
    "  destination: {server: https://kubernetes.default.svc, namespace: ml}\n"
#define MGP(NAME, PATHS) "{name: " NAME ", annotations: {argocd.argoproj.io/manifest-generate-paths: \"" PATHS "\"}}"
#define SRC(URL, PATH, REV) "source: {repoURL: \"" URL "\", path: \"" PATH "\", targetRevision: \"" REV "\"}"
#define PLAT "https://github.com/acme/platform.git"

struct app_def {
    const char *file; /* repository-relative */
    size_t def_dir;
    const char *yaml;
};

static const struct app_def apps[] = {
    {"apps/alpha.yaml", 0, APP("{name: alpha}", SRC(PLAT, "services/alpha", "main"))},
    {"apps/alpha-v2.yaml", 0,
     APP("{name: alpha-v2}", "source: {repoURL: https://github.com/acme/platform, path: services/alpha-v2}")},
    {"apps/api.yaml", 0, APP(MGP("api", ".;../shared"), SRC(PLAT, "services/api", "main"))},
    {"apps/globbed.yaml", 0,
     APP(MGP("globbed", "/shared/**/*.yaml"), SRC(PLAT, "charts/globbed", "refs/heads/main"))},
    {"apps/dev.yaml", 0, APP("{name: dev}", SRC(PLAT, "services/dev", "dev"))},
    {"apps/foreign.yaml", 0,
     APP("{name: foreign}", "source: {repoURL: https://github.com/acme/other.git, path: services/alpha}")},
    {"apps/multi.yaml", 0,
     APP("{name: multi}", "sources:\n"
                          "  - {repoURL: \"git@github.com:acme/platform.git\", path: services/multi, targetRevision: main}\n"
                          "  - {repoURL: https://github.com/acme/other, path: values, targetRevision: main}")},
    {"apps/upper.yaml", 0, APP("{name: upper}", SRC("HTTPS://GitHub.COM/acme/platform.git/", "services/upper", "main"))},
    {"apps/sshport.yaml", 0, APP("{name: sshport}", SRC("ssh://git@github.com:22/acme/platform", "services/sshport", "main"))},
    /* a path's case is significant: another repository */
    {"apps/wrongcase.yaml", 0, APP("{name: wrongcase}", SRC("https://github.com/ACME/platform", "services/wrongcase", "main"))},
    {"apps/tagged.yaml", 0, APP("{name: tagged}", SRC(PLAT, "services/tagged", "v1"))},
    {"apps/mixed.yaml", 0,
     APP("{name: mixed}", "sources:\n"
                          "  - {repoURL: " PLAT ", path: services/mixed-main, targetRevision: main}\n"
                          "  - {repoURL: " PLAT ", path: services/mixed-dev, targetRevision: dev}")},
    /* defined in the other repository, deploying from platform */
    {"defs/remote.yaml", 1, APP("{name: remote}", SRC(PLAT, "services/remote", "main"))},
    {"apps/pinned.yaml", 0, APP("{name: pinned}", SRC(PLAT, "services/pinned", HEX40))},
    {"apps/root.yaml", 0, APP("{name: root}", SRC(PLAT, "", "feature/x"))},
    /* Argo CD's multi-source values: a chart in Git on platform, its values
       file in other through `ref: values` (no path: only that file) */
    {"apps/valued.yaml", 0,
     APP("{name: valued}", "sources:\n"
                           "  - {repoURL: " PLAT ", path: charts/valued, targetRevision: main,\n"
                           "     helm: {valueFiles: [values.yaml, $values/envs/prod/valued.yaml]}}\n"
                           "  - {repoURL: https://github.com/acme/other, targetRevision: main, ref: values}")},
};

static void catalog_free(struct ws_catalog *cat)
{
    for (size_t i = 0; cat->apps && i < cat->napps; i++)
        ws_app_free(&cat->apps[i]);
    free(cat->apps);
    memset(cat, 0, sizeof(*cat));
}

/* Parse defs[0..n) into cat (apps only; skipped/sources/invalid stay NULL). */
static int catalog_build(struct ws_catalog *cat, const struct app_def *defs, size_t n)
{
    memset(cat, 0, sizeof(*cat));
    if (!(cat->apps = calloc(n, sizeof(*cat->apps))))
        return WS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct ws_yaml_stream st = {NULL, 0};
        struct ws_err err;
        int rc;
        ws_err_clear(&err);
        if ((rc = ws_yaml_parse(&st, defs[i].yaml, strlen(defs[i].yaml), defs[i].file, NULL, &err)) == 0)
            rc = st.ndocs == 1 ? ws_app_parse(&cat->apps[i], st.docs[0].value, st.docs[0].pos, defs[i].file, &err)
                               : WS_EINVAL;
        ws_yaml_stream_free(&st);
        if (rc < 0) {
            tap_diag("fixture %s: %s", defs[i].file, err.msg);
            catalog_free(cat);
            return rc;
        }
        cat->apps[i].def_dir = defs[i].def_dir;
        cat->napps++;
    }
    return 0;
}

static int config_build(struct ws_config *cfg, const char *text)
{
    struct ws_err err;
    int rc;
    ws_err_clear(&err);
    if ((rc = ws_config_parse(cfg, text, strlen(text), "wavesync.yaml", "/tmp", &err)) < 0)
        tap_diag("config: %s", err.msg);
    return rc;
}

/* A push's changes: paths until NULL; {"*"} = all. Caller frees with
 * ws_git_push_free. */
static void changes_make(struct ws_git_push *ch, const char *const *paths)
{
    memset(ch, 0, sizeof(*ch));
    if (paths[0] && strcmp(paths[0], "*") == 0) {
        ch->all = 1;
        ch->why_all = "test";
        return;
    }
    ch->paths = json_array();
    for (size_t i = 0; paths[i]; i++)
        json_array_append_new(ch->paths, json_string(paths[i])); /* steals */
}

/* --- ws_push_match -------------------------------------------------------------------- */

struct match_row {
    const char *name;
    int repo;
    const char *ref, *dflt;
    const char *paths[4]; /* until NULL; {"*"} = all */
    const char *want;     /* "app:pinned,…" in catalog order; "" for none */
};

static const struct match_row match_rows[] = {
    {"a change under one app's path", PLATFORM, "refs/heads/main", NULL,
     {"services/alpha/deploy.yaml"}, "alpha:1"},
    {"the source folder itself", PLATFORM, "refs/heads/main", NULL, {"services/alpha"}, "alpha:1"},
    {"sibling folder with a common prefix: only the sibling", PLATFORM, "refs/heads/main", NULL,
     {"services/alpha-v2/x.yaml"}, "alpha-v2:1"},
    {"a file named like the folder is not under it", PLATFORM, "refs/heads/main", NULL,
     {"services/alpha.yaml", "services/alphabet/x"}, ""},
    {"HEAD with a known default branch that is not main", PLATFORM, "refs/heads/main", "refs/heads/trunk",
     {"services/alpha-v2/x.yaml"}, ""},
    {"HEAD with the default branch given", PLATFORM, "refs/heads/trunk", "refs/heads/trunk",
     {"services/alpha-v2/x.yaml"}, "alpha-v2:1"},
    {"mgp \"../shared\" matched by a shared file", PLATFORM, "refs/heads/main", NULL,
     {"services/shared/lib.yaml"}, "api:1"},
    {"mgp \".\" keeps the source path", PLATFORM, "refs/heads/main", NULL, {"services/api/a.yaml"}, "api:1"},
    {"mgp: a root shared folder is not ../shared", PLATFORM, "refs/heads/main", NULL,
     {"services/shared2/lib.yaml", "services/other/x"}, ""},
    {"mgp glob matched at depth", PLATFORM, "refs/heads/main", NULL,
     {"shared/a/b/c.yaml"}, "globbed:1"},
    {"mgp glob: a yaml directly under shared", PLATFORM, "refs/heads/main", NULL, {"shared/c.yaml"},
     "globbed:1"},
    {"mgp glob: other files do not match", PLATFORM, "refs/heads/main", NULL,
     {"shared/README.md", "shared/a/values.json", "other/shared/x.yaml"}, ""},
    {"mgp replaces the source path", PLATFORM, "refs/heads/main", NULL, {"charts/globbed/values.yaml"}, ""},
    {"app on another branch not matched by a push to main", PLATFORM, "refs/heads/main", NULL,
     {"services/dev/x.yaml"}, ""},
    {"push to its branch matches it", PLATFORM, "refs/heads/dev", NULL, {"services/dev/x.yaml"}, "dev:1"},
    {"same path in another repository: its app only", OTHER, "refs/heads/main", NULL,
     {"services/alpha/x.yaml"}, "foreign:1"},
    {"the Application's own file", PLATFORM, "refs/heads/main", NULL, {"apps/alpha.yaml"}, "alpha:1"},
    {"own file of an app tracking another branch: not pinned", PLATFORM, "refs/heads/main", NULL,
     {"apps/dev.yaml"}, "dev:0"},
    {"own file of an app from another repository: not pinned", PLATFORM, "refs/heads/main", NULL,
     {"apps/foreign.yaml"}, "foreign:0"},
    {"own file on a push to a branch the folder is not read from", PLATFORM, "refs/heads/dev", NULL,
     {"apps/alpha.yaml", "apps/dev.yaml"}, ""},
    {"own file defined in another repository", OTHER, "refs/heads/main", NULL, {"defs/remote.yaml"},
     "remote:0"},
    {"that path in platform is nobody's file", PLATFORM, "refs/heads/main", NULL, {"defs/remote.yaml"}, ""},
    {"app defined elsewhere, deployed from here", PLATFORM, "refs/heads/main", NULL,
     {"services/remote/x.yaml"}, "remote:1"},
    {"multi-source: one source here", PLATFORM, "refs/heads/main", NULL, {"services/multi/a.yaml"},
     "multi:0"},
    {"multi-source: the other repository's path", PLATFORM, "refs/heads/main", NULL, {"values/x.yaml"},
     ""},
    {"multi-source: the other repository", OTHER, "refs/heads/main", NULL, {"values/x.yaml"}, "multi:0"},
    {"repoURL variants normalise; path case does not", PLATFORM, "refs/heads/main", NULL,
     {"services/upper/a", "services/sshport/b", "services/wrongcase/c"}, "upper:1,sshport:1"},
    {"tag push", PLATFORM, "refs/tags/v1", NULL, {"services/tagged/x.yaml"}, "tagged:1"},
    {"tag push: apps on main not matched", PLATFORM, "refs/tags/v1", NULL, {"services/alpha/x.yaml"}, ""},
    {"commit id: never by source", PLATFORM, "refs/heads/main", NULL, {"services/pinned/x.yaml"}, ""},
    {"commit id: its own file", PLATFORM, "refs/heads/main", NULL, {"apps/pinned.yaml"}, "pinned:0"},
    {"root source: any path of its branch", PLATFORM, "refs/heads/feature/x", NULL, {"README.md"},
     "root:1"},
    {"several paths: catalog order", PLATFORM, "refs/heads/main", NULL,
     {"services/api/x", "services/alpha/y", "apps/alpha.yaml"}, "alpha:1,api:1"},
    {"multi-source, same repository: the source on this branch", PLATFORM, "refs/heads/main", NULL,
     {"services/mixed-main/x.yaml"}, "mixed:0"},
    /* Fails today: see the report (ids do not say which source matched). */
    {"multi-source, same repository: the other branch's source path", PLATFORM, "refs/heads/main", NULL,
     {"services/mixed-dev/x.yaml"}, ""},
    {"ref source: the values file it gives", OTHER, "refs/heads/main", NULL, {"envs/prod/valued.yaml"},
     "valued:0"},
    {"ref source: nothing else of its repository", OTHER, "refs/heads/main", NULL,
     {"envs/prod/other.yaml", "envs/staging/valued.yaml", "README.md"}, ""},
    {"ref source: the chart's own folder", PLATFORM, "refs/heads/main", NULL, {"charts/valued/values.yaml"},
     "valued:0"},
    {"empty change list", PLATFORM, "refs/heads/main", NULL, {NULL}, ""},
    {"all, on main: every app tracking it or defined there", PLATFORM, "refs/heads/main", NULL, {"*"},
     "alpha:1,alpha-v2:1,api:1,globbed:1,dev:0,foreign:0,multi:0,upper:1,sshport:1,wrongcase:0,"
     "tagged:0,mixed:0,remote:1,pinned:0,root:0,valued:0"},
    {"all, on dev: only apps tracking dev", PLATFORM, "refs/heads/dev", NULL, {"*"}, "dev:1,mixed:0"},
    {"all, on an untracked branch", PLATFORM, "refs/heads/nobody", NULL, {"*"}, ""},
    {"all, other repository at its default branch", OTHER, "refs/heads/main", NULL, {"*"},
     "foreign:1,multi:0,remote:0,valued:0"},
};

static void describe(char *out, size_t cap, const struct ws_catalog *cat,
                     const struct ws_push_target *t, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s:%d", i ? "," : "",
                                t[i].app < cat->napps ? cat->apps[t[i].app].name : "?", t[i].pinned);
}

static void test_match(const struct ws_config *cfg, const struct ws_catalog *cat,
                       const struct ws_push_index *ix)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(match_rows); i++) {
        const struct match_row *r = &match_rows[i];
        struct ws_git_push ch;
        struct ws_push_target *t = NULL;
        struct ws_err err;
        char got[512], name[256];
        size_t n = 99;
        int rc;
        changes_make(&ch, r->paths);
        ws_err_clear(&err);
        rc = ws_push_match(&t, &n, ix, &cfg->repos[r->repo], r->ref, r->dflt, &ch, &err);
        snprintf(name, sizeof(name), "match: %s", r->name);
        if (rc < 0) {
            tap_ok(0, "%s (rc %d: %s)", name, rc, err.msg);
        } else {
            describe(got, sizeof(got), cat, t, n);
            tap_is_str(got, r->want, name);
        }
        free(t);
        ws_git_push_free(&ch);
    }
}

/* No paths at all (NULL array, not all): nothing. */
static void test_match_edges(const struct ws_config *cfg, const struct ws_push_index *ix)
{
    struct ws_git_push ch;
    struct ws_push_target *t = NULL;
    struct ws_err err;
    size_t n = 7;
    memset(&ch, 0, sizeof(ch));
    tap_is_int(ws_push_match(&t, &n, ix, &cfg->repos[PLATFORM], "refs/heads/main", NULL, &ch, &err), 0,
               "match: NULL paths array succeeds");
    tap_is_int(n, 0, "match: NULL paths array matches nothing");
    free(t);
}

/* --- ws_push_interesting, ws_push_defs_changed ---------------------------------------- */

static void test_interesting(const struct ws_config *cfg, const struct ws_push_index *ix)
{
    static const struct {
        int repo;
        const char *ref, *dflt;
        int want;
    } rows[] = {
        {PLATFORM, "refs/heads/main", NULL, 1},              /* the applications folder */
        {PLATFORM, "refs/heads/dev", NULL, 1},               /* app "dev" tracks it */
        {PLATFORM, "refs/heads/feature/x", NULL, 1},         /* app "root" */
        {PLATFORM, "refs/heads/feature/y", NULL, 0},
        {PLATFORM, "refs/tags/v1", NULL, 1},                 /* app "tagged" */
        {PLATFORM, "refs/tags/v2", NULL, 0},
        {PLATFORM, "refs/heads/trunk", "refs/heads/trunk", 1}, /* alpha-v2 tracks HEAD */
        {PLATFORM, "refs/heads/master", "refs/heads/trunk", 0},
        {PLATFORM, "refs/heads/" HEX40, NULL, 0},            /* a commit id is not a branch */
        {OTHER, "refs/heads/main", NULL, 1},                 /* defs at HEAD */
        {OTHER, "refs/heads/master", NULL, 1},
        {OTHER, "refs/heads/main", "refs/heads/trunk", 1},   /* multi's source on main */
        {OTHER, "refs/heads/trunk", "refs/heads/trunk", 1},  /* defs at HEAD */
        {OTHER, "refs/heads/dev", NULL, 0},
        {OTHER, "refs/tags/v1", NULL, 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++)
        tap_ok(ws_push_interesting(ix, &cfg->repos[rows[i].repo], rows[i].ref, rows[i].dflt) ==
                   rows[i].want,
               "interesting: %s %s (default %s) == %d", cfg->repos[rows[i].repo].name, rows[i].ref,
               rows[i].dflt ? rows[i].dflt : "unknown", rows[i].want);
}

static void test_defs_changed(const struct ws_config *cfg, const struct ws_push_index *ix)
{
    static const struct {
        int repo;
        const char *ref, *dflt;
        const char *paths[4];
        int want;
    } rows[] = {
        {PLATFORM, "refs/heads/main", NULL, {"apps/x.yaml"}, 1},
        {PLATFORM, "refs/heads/main", NULL, {"services/alpha/a.yaml", "apps/sub/b.yaml"}, 1},
        {PLATFORM, "refs/heads/main", NULL, {"services/alpha/a.yaml"}, 0},
        {PLATFORM, "refs/heads/main", NULL, {"apps-old/x.yaml", "apps.yaml", "app/x.yaml"}, 0},
        {PLATFORM, "refs/heads/main", NULL, {"defs/remote.yaml"}, 0},
        {PLATFORM, "refs/heads/main", NULL, {NULL}, 0},
        {PLATFORM, "refs/heads/main", NULL, {"*"}, 1},
        {PLATFORM, "refs/heads/dev", NULL, {"apps/x.yaml"}, 0},
        {PLATFORM, "refs/heads/dev", NULL, {"*"}, 0},
        {PLATFORM, "refs/tags/main", NULL, {"apps/x.yaml"}, 1}, /* "main" names a tag too */
        {OTHER, "refs/heads/main", NULL, {"defs/remote.yaml"}, 1},
        {OTHER, "refs/heads/main", "refs/heads/trunk", {"defs/remote.yaml"}, 0},
        {OTHER, "refs/heads/main", NULL, {"apps/alpha.yaml"}, 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_git_push ch;
        changes_make(&ch, rows[i].paths);
        tap_ok(ws_push_defs_changed(ix, &cfg->repos[rows[i].repo], rows[i].ref, rows[i].dflt, &ch) ==
                   rows[i].want,
               "defs changed: %s %s (default %s) %s%s == %d", cfg->repos[rows[i].repo].name,
               rows[i].ref, rows[i].dflt ? rows[i].dflt : "unknown",
               rows[i].paths[0] ? rows[i].paths[0] : "(none)",
               rows[i].paths[0] && rows[i].paths[1] ? ", …" : "", rows[i].want);
        ws_git_push_free(&ch);
    }
}

/* An applications folder at the repository root: every change is a change
 * to the definitions; the apps' own files still route by exact path. */
static void test_root_folder(void)
{
    static const char text[] =
        "repositories:\n- {name: r, url: https://git.example.com/r}\n"
        "applications:\n- {repository: r}\n";
    static const struct app_def defs[] = {
        {"team/a.yaml", 0, APP("{name: a}", SRC("https://git.example.com/r.git", "team/a", "HEAD"))},
        {"team/j.yaml", 0, APP("{name: j}", "source: {repoURL: \"https://git.example.com/r.git\", path: team/j, "
                                            "directory: {jsonnet: {libs: [vendor/kube]}}}")},
    };
    static const struct {
        const char *path, *want;
        int defs;
    } rows[] = {
        {"team/a.yaml", "a:1", 1},
        {"team/a/k.yaml", "a:1", 1},
        {"team/b.yaml", "", 1},
        {"vendor/kube/k.libsonnet", "j:1", 1}, /* a Jsonnet library folder routes to its Applications */
        {"vendor/other/x.libsonnet", "", 1},
    };
    struct ws_config cfg;
    struct ws_catalog cat;
    struct ws_push_index *ix = NULL;
    struct ws_err err;
    size_t i;
    if (config_build(&cfg, text) < 0) {
        tap_ok(0, "root folder: configuration");
        return;
    }
    if (catalog_build(&cat, defs, WS_ARRAY_SIZE(defs)) < 0) {
        tap_ok(0, "root folder: catalog");
        ws_config_free(&cfg);
        return;
    }
    tap_is_int(ws_push_index_build(&ix, &cfg, &cat, &err), 0, "root folder: index builds");
    for (i = 0; ix && i < WS_ARRAY_SIZE(rows); i++) {
        const char *paths[] = {rows[i].path, NULL};
        struct ws_git_push ch;
        struct ws_push_target *t = NULL;
        char got[128], name[128];
        size_t n = 0;
        changes_make(&ch, paths);
        snprintf(name, sizeof(name), "root folder: %s changes the definitions", rows[i].path);
        tap_is_int(ws_push_defs_changed(ix, &cfg.repos[0], "refs/heads/main", "refs/heads/main", &ch),
                   rows[i].defs, name);
        ws_push_match(&t, &n, ix, &cfg.repos[0], "refs/heads/main", "refs/heads/main", &ch, &err);
        describe(got, sizeof(got), &cat, t, n);
        snprintf(name, sizeof(name), "root folder: %s", rows[i].path);
        tap_is_str(got, rows[i].want, name);
        free(t);
        ws_git_push_free(&ch);
    }
    ws_push_index_free(ix);
    catalog_free(&cat);
    ws_config_free(&cfg);
}

/* --- a bad manifest-generate-paths: the Application is invalid when read ------------- */

/* The annotation is checked by ws_app_parse (so one bad Application goes to
 * the catalog's invalid list and the index of the others always builds). */
static void test_bad_mgp(void)
{
    static const struct {
        const char *name;
        struct app_def def;
        const char *msg; /* "" = parses */
    } rows[] = {
        {"mgp escaping the repository",
         {"apps/bad.yaml", 0, APP(MGP("bad", "../../../etc"), SRC(PLAT, "services/bad", "main"))},
         "escapes the repository root"},
        {"mgp with an unterminated class",
         {"apps/bad.yaml", 0, APP(MGP("bad", "charts/[a-"), SRC(PLAT, "services/bad", "main"))},
         "unterminated '['"},
        {"mgp with a good glob and a rooted folder",
         {"apps/good.yaml", 0, APP(MGP("good", ".;/shared/**/*.yaml"), SRC(PLAT, "services/good", "main"))},
         ""},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_yaml_stream st = {NULL, 0};
        struct ws_app app;
        struct ws_err err;
        int rc;
        ws_err_clear(&err);
        rc = ws_yaml_parse(&st, rows[i].def.yaml, strlen(rows[i].def.yaml), rows[i].def.file, NULL, &err);
        if (rc == 0)
            rc = ws_app_parse(&app, st.docs[0].value, st.docs[0].pos, rows[i].def.file, &err);
        ws_yaml_stream_free(&st);
        if (!*rows[i].msg) {
            tap_ok(rc == 0, "app: %s: parses", rows[i].name);
            if (rc == 0)
                ws_app_free(&app);
            continue;
        }
        tap_ok(rc == WS_ECONFIG || rc == WS_EINVAL, "app: %s: refused", rows[i].name);
        tap_contains(err.msg, "apps/bad.yaml:", "app: message names the file");
        tap_contains(err.msg, "manifest-generate-paths", "app: message names the annotation");
        tap_contains(err.msg, rows[i].msg, "app: message says why");
        tap_diag("  %s", err.msg);
    }
}

int main(void)
{
    struct ws_config cfg;
    struct ws_catalog cat;
    struct ws_push_index *ix = NULL;
    struct ws_err err;

    test_ref_tracks();
    if (config_build(&cfg, config_text) < 0 || catalog_build(&cat, apps, WS_ARRAY_SIZE(apps)) < 0) {
        tap_ok(0, "fixture builds");
        return tap_done();
    }
    ws_err_clear(&err);
    if (!tap_ok(ws_push_index_build(&ix, &cfg, &cat, &err) == 0, "index builds"))
        tap_diag("  %s", err.msg);
    if (ix) {
        test_match(&cfg, &cat, ix);
        test_match_edges(&cfg, ix);
        test_interesting(&cfg, ix);
        test_defs_changed(&cfg, ix);
    }
    test_root_folder();
    test_bad_mgp();
    ws_push_index_free(ix);
    catalog_free(&cat);
    ws_config_free(&cfg);
    return tap_done();
}
