/* test_git.c — reconciler/git/git.c against real repositories built with the git
 * CLI in a private temporary folder: mirror clone and fetch over file://
 * (new commits, pruned branches and tags, a changed default branch,
 * concurrent mirrors, unreachable remotes), revision resolution, manifests
 * read at a commit (recursion, Argo CD globs, symlinks inside and escaping
 * the tree, limits), path types, export + rmtree, tree diffs, and the refs a
 * remote advertises (ls-remote: file://, a plain path and, when
 * tests/e2e/githttp.py can be run, smart HTTP) next to its mirror's. */
#include "git/git.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

static char tmp[256];        /* private scratch folder */
static char remote[320];     /* the "remote": a work tree the mirror fetches from */
static char url[400];        /* file:// URL of the remote */
static char c1[41], c2[41], c3[41], c4[41], f1[41], e1[41];

/* Run a fixed command line (tests only: product code never uses a shell). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if ((rc = system(cmd)) != 0)
        tap_diag("command failed (%d): %s", rc, cmd);
    return rc;
}

/* Write a file under the remote's work tree, creating its folders. */
static void put(const char *rel, const char *content)
{
    char path[1024], *slash;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", remote, rel);
    for (slash = strchr(path + strlen(remote) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    if (!(f = fopen(path, "w"))) {
        tap_diag("cannot write %s", path);
        return;
    }
    fputs(content, f);
    fclose(f);
}

static void rev_parse(char out[41], const char *rev)
{
    char cmd[1024];
    FILE *p;
    out[0] = '\0';
    snprintf(cmd, sizeof(cmd), "cd '%s' && git rev-parse '%s^{commit}'", remote, rev);
    if ((p = popen(cmd, "r")) != NULL) {
        if (!fgets(out, 41, p))
            out[0] = '\0';
        pclose(p);
    }
}

static void commit(char out[41], const char *msg)
{
    sh("cd '%s' && git add -A && git commit -q -m '%s'", remote, msg);
    rev_parse(out, "HEAD");
}

/* The remote: main C1 → C2 (edit, add; annotated tag v2) → C3 (rename);
 * light tag v1 on C1; feature (F1) and doomed from C1; evil (E1, an
 * escaping symlink) from C3. */
static int build_remote(void)
{
    if (sh("git init -q -b main '%s'", remote) != 0)
        return -1;
    put("README.md", "# test\n");
    put("app.yaml", "kind: App\n");
    put("manifests/a.yaml", "kind: A\n");
    put("manifests/b.yml", "kind: B\n");
    put("manifests/c.json", "{\"kind\": \"C\"}\n");
    put("manifests/notes.txt", "not a manifest\n");
    put("manifests/sub/d.yaml", "kind: D\n");
    put("manifests/sub/deep/e.yaml", "kind: E\n");
    put("shared/s.yaml", "kind: S\n");
    put("scripts/run.sh", "#!/bin/sh\necho hi\n");
    if (sh("cd '%s' && chmod +x scripts/run.sh && mkdir loop && "
           "ln -s sub/d.yaml manifests/link.yaml && ln -s nowhere.txt manifests/dangling.txt && "
           "ln -s ../shared manifests/shared && ln -s manifests/sub current && "
           "ln -s b.yaml loop/a.yaml && ln -s a.yaml loop/b.yaml", remote) != 0)
        return -1;
    commit(c1, "one");
    sh("cd '%s' && git tag v1 && git branch doomed && git checkout -q -b feature", remote);
    put("feature.yaml", "kind: Feature\n");
    commit(f1, "feature");
    sh("cd '%s' && git checkout -q main", remote);
    put("manifests/a.yaml", "kind: A\nchanged: true\n");
    put("manifests/sub/new.yaml", "kind: New\n");
    commit(c2, "two");
    sh("cd '%s' && git tag -a v2 -m 'release two' && git mv manifests/b.yml manifests/renamed.yml",
       remote);
    commit(c3, "three");
    sh("cd '%s' && git checkout -q -b evil && ln -s ../../etc/passwd manifests/evil.yaml && "
       "ln -s .. up && ln -s ../up manifests/up2", remote);
    commit(e1, "evil");
    sh("cd '%s' && git checkout -q main", remote);
    return c1[0] && c2[0] && c3[0] && f1[0] && e1[0] ? 0 : -1;
}

static const char *paths(const struct ws_git_files *f)
{
    static char out[4096];
    size_t i, n = 0;
    out[0] = '\0';
    for (i = 0; i < f->n && n < sizeof(out); i++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "", f->v[i].path);
    return out;
}

static const char *strings(json_t *a)
{
    static char out[4096];
    size_t i, n = 0;
    out[0] = '\0';
    for (i = 0; a && i < json_array_size(a) && n < sizeof(out); i++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "",
                              json_string_value(json_array_get(a, i)));
    return out;
}

static int count_entries(const char *dir, int skip_locks)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (skip_locks && l > 5 && strcmp(e->d_name + l - 5, ".lock") == 0)
            continue;
        n++;
    }
    closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;
    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* --- mirror and resolve ----------------------------------------------------- */

static char mirror[1024];

static void check_resolve(const char *repo, const char *rev, const char *want)
{
    struct ws_err err;
    char got[41], name[128];
    int rc = ws_git_resolve(got, repo, rev, &err);
    snprintf(name, sizeof(name), "resolve \"%s\"", rev);
    if (!tap_ok(rc == 0 && strcmp(got, want) == 0, "%s", name))
        tap_diag("  rc %d (%s), got %s, want %s", rc, rc ? err.msg : "", got, want);
}

struct race {
    const char *cache;
    char *path;
    int rc;
};

static void *race_mirror(void *arg)
{
    struct race *r = arg;
    struct ws_err err;
    r->rc = ws_git_mirror(&r->path, r->cache, url, NULL, &err);
    return NULL;
}

static void test_mirror(void)
{
    struct ws_err err;
    char cache[512], *path = NULL, got[41], want[1200];
    struct ws_git_creds creds = { "user", "tok3n-secret" };
    struct race races[4];
    pthread_t th[4];
    int rc, i, ok;

    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    rc = ws_git_mirror(&path, cache, url, NULL, &err);
    tap_is_int(rc, 0, "mirror: clone over file://");
    if (rc)
        tap_diag("  %s", err.msg);
    snprintf(mirror, sizeof(mirror), "%s", path ? path : "");
    snprintf(want, sizeof(want), "%s/", cache);
    tap_ok(path && strncmp(path, want, strlen(want)) == 0 && strstr(path, "remote-") != NULL,
           "mirror: folder under the cache, named after the URL (%s)", path ? path : "(null)");
    snprintf(want, sizeof(want), "%s/HEAD", mirror);
    tap_ok(access(want, F_OK) == 0, "mirror: is a bare repository");
    free(path);
    path = NULL;

    check_resolve(mirror, "HEAD", c3);
    check_resolve(mirror, "", c3);
    check_resolve(mirror, "main", c3);
    check_resolve(mirror, "refs/heads/main", c3);
    check_resolve(mirror, "feature", f1);
    check_resolve(mirror, "v1", c1);
    check_resolve(mirror, "v2", c2);
    check_resolve(mirror, "refs/tags/v2", c2);
    check_resolve(mirror, c2, c2);
    snprintf(want, sizeof(want), "%.7s", c2);
    check_resolve(mirror, want, c2);
    check_resolve(mirror, "doomed", c1);
    check_resolve(mirror, "main~1", c2);
    rc = ws_git_resolve(got, mirror, "nope", &err);
    tap_is_int(rc, WS_ENOTFOUND, "resolve: missing revision is WS_ENOTFOUND");
    snprintf(want, sizeof(want), "revision \"nope\" not found in %s", mirror);
    tap_is_str(err.msg, want, "resolve: missing revision message");
    rc = ws_git_resolve(got, mirror, "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef", &err);
    tap_is_int(rc, WS_ENOTFOUND, "resolve: unknown full id is WS_ENOTFOUND");
    snprintf(want, sizeof(want), "%s/nothing-here", tmp);
    tap_is_int(ws_git_resolve(got, want, "HEAD", &err), WS_ENOTFOUND, "resolve: no repository");

    /* the remote moves on: a new commit, a deleted branch and tag */
    put("manifests/sub/deep/later.yaml", "kind: Later\n");
    commit(c4, "four");
    sh("cd '%s' && git branch -q -D doomed && git tag -d v1 >/dev/null", remote);
    /* fetched a moment ago: a run's snapshot is kept, no second fetch */
    rc = ws_git_mirror_since(&path, cache, url, NULL, ws_wall_ms() - 60000, NULL, &err);
    tap_is_int(rc, 0, "mirror_since: fresh mirror used as is");
    free(path);
    path = NULL;
    tap_is_int(ws_git_resolve(got, mirror, c4, &err), WS_ENOTFOUND,
               "mirror_since: no fetch, the new commit is not there yet");
    /* a commit the mirror has needs no fetch, even for a later run */
    rc = ws_git_mirror_since(&path, cache, url, NULL, ws_wall_ms() + 1, c2, &err);
    tap_is_int(rc, 0, "mirror_since: a commit the mirror has");
    free(path);
    path = NULL;
    tap_is_int(ws_git_resolve(got, mirror, c4, &err), WS_ENOTFOUND, "mirror_since: is not fetched for");
    /* a run that starts after the last fetch — even within the same second —
       fetches: the commit it was started for is there */
    rc = ws_git_mirror_since(&path, cache, url, NULL, ws_wall_ms() + 1, c4, &err);
    tap_is_int(rc, 0, "mirror_since: a mirror older than the run is fetched");
    free(path);
    path = NULL;
    check_resolve(mirror, "main", c4);
    rc = ws_git_mirror(&path, cache, url, NULL, &err);
    tap_is_int(rc, 0, "mirror: fetch");
    tap_is_str(path, mirror, "mirror: same folder on fetch");
    free(path);
    path = NULL;
    check_resolve(mirror, "main", c4);
    check_resolve(mirror, "HEAD", c4);
    tap_is_int(ws_git_resolve(got, mirror, "doomed", &err), WS_ENOTFOUND,
               "mirror: deleted branch pruned");
    tap_is_int(ws_git_resolve(got, mirror, "v1", &err), WS_ENOTFOUND, "mirror: deleted tag pruned");
    check_resolve(mirror, "v2", c2);

    /* the remote's default branch changes */
    sh("cd '%s' && git symbolic-ref HEAD refs/heads/feature", remote);
    rc = ws_git_mirror(&path, cache, url, NULL, &err);
    free(path);
    path = NULL;
    tap_is_int(rc, 0, "mirror: fetch after default branch change");
    check_resolve(mirror, "HEAD", f1);
    sh("cd '%s' && git symbolic-ref HEAD refs/heads/main", remote);
    rc = ws_git_mirror(&path, cache, url, NULL, &err);
    free(path);
    path = NULL;
    check_resolve(mirror, "HEAD", c4);

    /* a plain local path works too; it normalises like its file:// URL */
    rc = ws_git_mirror(&path, cache, remote, NULL, &err);
    tap_is_int(rc, 0, "mirror: local path");
    tap_is_str(path, mirror, "mirror: local path and file:// URL share the mirror");
    free(path);
    path = NULL;
    snprintf(want, sizeof(want), "%s/cache-local", tmp);
    rc = ws_git_mirror(&path, want, remote, NULL, &err);
    tap_is_int(rc, 0, "mirror: local path, fresh clone");
    if (path)
        check_resolve(path, "HEAD", c4);
    free(path);
    path = NULL;

    /* four threads clone the same URL at once into a fresh cache */
    snprintf(cache, sizeof(cache), "%s/cache-race", tmp);
    for (i = 0; i < 4; i++) {
        races[i].cache = cache;
        races[i].path = NULL;
        races[i].rc = -100;
        pthread_create(&th[i], NULL, race_mirror, &races[i]);
    }
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (ok = 1, i = 0; i < 4; i++)
        ok = ok && races[i].rc == 0 && races[i].path && strcmp(races[i].path, races[0].path) == 0;
    tap_ok(ok, "mirror: concurrent mirrors of one URL all succeed, same folder");
    if (races[0].path)
        check_resolve(races[0].path, "main", c4);
    for (i = 0; i < 4; i++)
        free(races[i].path);

    /* unreachable remotes: WS_ENET, nothing left behind, no secrets shown */
    snprintf(cache, sizeof(cache), "%s/cache-bad", tmp);
    rc = ws_git_mirror(&path, cache, "file:///nonexistent/wavesync/repo.git", NULL, &err);
    tap_is_int(rc, WS_ENET, "mirror: missing remote is WS_ENET");
    tap_contains(err.msg, "git: cannot fetch file:///nonexistent/wavesync/repo.git: ",
                 "mirror: message names the URL");
    tap_ok(path == NULL, "mirror: no path on failure");
    tap_is_int(count_entries(cache, 1), 0, "mirror: failed clone leaves no folder");
    rc = ws_git_mirror(&path, cache, "http://bob:s3cretpw@127.0.0.1:1/x.git", &creds, &err);
    tap_is_int(rc, WS_ENET, "mirror: refused connection is WS_ENET");
    tap_contains(err.msg, "git: cannot fetch http://127.0.0.1:1/x.git: ",
                 "mirror: URL shown without user info");
    tap_ok(!strstr(err.msg, "s3cretpw") && !strstr(err.msg, "tok3n"),
           "mirror: no credentials in the message");
    tap_is_int(ws_git_mirror(&path, cache, "", NULL, &err), WS_EINVAL, "mirror: empty URL");
}

/* --- read_dir ---------------------------------------------------------------- */

static void check_read(const char *commit_id, const char *dir, int recurse, const char *include,
                       const char *exclude, const char *want, const char *name)
{
    struct ws_git_files f;
    struct ws_err err;
    int rc = ws_git_read_dir(&f, mirror, commit_id, dir, recurse, include, exclude, 0, &err);
    if (!tap_ok(rc == 0 && strcmp(paths(&f), want) == 0, "read_dir: %s", name))
        tap_diag("  rc %d (%s)\n#   got  %s\n#   want %s", rc, rc ? err.msg : "", paths(&f), want);
    ws_git_files_free(&f);
}

static void check_read_err(const char *commit_id, const char *dir, int recurse, const char *include,
                           size_t max, int want_rc, const char *want_msg, const char *name)
{
    struct ws_git_files f;
    struct ws_err err;
    int rc = ws_git_read_dir(&f, mirror, commit_id, dir, recurse, include, NULL, max, &err);
    tap_is_int(rc, want_rc, name);
    tap_contains(err.msg, want_msg, name);
    tap_ok(f.n == 0 && f.v == NULL, "%s: nothing returned", name);
    ws_git_files_free(&f);
}

static void test_read_dir(void)
{
    struct ws_git_files f;
    struct ws_err err;
    char want[256];
    size_t total = 0, i;
    int rc;

    rc = ws_git_read_dir(&f, mirror, c3, "manifests", 0, NULL, NULL, 0, &err);
    tap_is_int(rc, 0, "read_dir: manifests at C3");
    tap_is_str(paths(&f), "manifests/a.yaml,manifests/c.json,manifests/link.yaml,manifests/renamed.yml",
               "read_dir: one level, manifests only, sorted, file symlink included");
    tap_ok(f.n == 4 && strcmp(f.v[0].data, "kind: A\nchanged: true\n") == 0 &&
               f.v[0].len == strlen(f.v[0].data),
           "read_dir: contents at the commit");
    tap_ok(f.n == 4 && strcmp(f.v[2].data, "kind: D\n") == 0, "read_dir: symlink read through");
    for (i = 0; i < f.n; i++)
        total += f.v[i].len;
    ws_git_files_free(&f);
    tap_ok(f.v == NULL && f.n == 0, "files_free resets");

    check_read(c3, "manifests", 1, NULL, NULL,
               "manifests/a.yaml,manifests/c.json,manifests/link.yaml,manifests/renamed.yml,"
               "manifests/sub/d.yaml,manifests/sub/deep/e.yaml,manifests/sub/new.yaml",
               "recursive (folder symlink not descended)");
    check_read(c1, "manifests", 0, NULL, NULL,
               "manifests/a.yaml,manifests/b.yml,manifests/c.json,manifests/link.yaml",
               "at an older commit");
    check_read(c3, "manifests", 1, "*.yaml", NULL,
               "manifests/a.yaml,manifests/link.yaml,manifests/sub/d.yaml,manifests/sub/deep/e.yaml,"
               "manifests/sub/new.yaml",
               "include *.yaml crosses folders (Argo CD)");
    check_read(c3, "manifests", 1, "{a.yaml,c.json}", NULL, "manifests/a.yaml,manifests/c.json",
               "include with braces");
    check_read(c3, "manifests", 1, "**/*.yaml", NULL,
               "manifests/sub/d.yaml,manifests/sub/deep/e.yaml,manifests/sub/new.yaml",
               "include **/*.yaml needs a folder");
    check_read(c3, "manifests", 1, "sub/{d,n{e,o}w}.yaml", NULL,
               "manifests/sub/d.yaml,manifests/sub/new.yaml", "include with nested braces");
    check_read(c3, "manifests", 1, "[ac].*", NULL, "manifests/a.yaml,manifests/c.json",
               "include with a class");
    check_read(c3, "manifests", 1, NULL, "sub/*",
               "manifests/a.yaml,manifests/c.json,manifests/link.yaml,manifests/renamed.yml",
               "exclude sub/*");
    check_read(c3, "manifests", 1, "*.yaml", "{link.yaml,sub/deep/*}",
               "manifests/a.yaml,manifests/sub/d.yaml,manifests/sub/new.yaml", "include and exclude");
    check_read(c3, "manifests", 0, "", "", 
               "manifests/a.yaml,manifests/c.json,manifests/link.yaml,manifests/renamed.yml",
               "empty patterns filter nothing");
    check_read(c3, "", 0, NULL, NULL, "app.yaml", "repository root");
    check_read(c3, ".", 0, NULL, NULL, "app.yaml", "\".\" is the root");
    check_read(c3, "./manifests/", 0, "a.yaml", NULL, "manifests/a.yaml", "dir spelt ./manifests/");
    check_read(c3, "manifests/../manifests/sub", 0, NULL, NULL,
               "manifests/sub/d.yaml,manifests/sub/new.yaml", "dir with .. inside the tree");
    check_read(c3, "current", 0, NULL, NULL, "manifests/sub/d.yaml,manifests/sub/new.yaml",
               "dir that is a symlink to a folder");
    check_read(c3, "manifests/shared", 0, NULL, NULL, "shared/s.yaml", "dir through ../ symlink");
    check_read("main", "manifests/sub", 1, NULL, NULL,
               "manifests/sub/d.yaml,manifests/sub/deep/e.yaml,manifests/sub/deep/later.yaml,"
               "manifests/sub/new.yaml",
               "commit given as a branch");

    snprintf(want, sizeof(want), "directory \"nope\" not found at %.7s", c3);
    check_read_err(c3, "nope", 0, NULL, 0, WS_ENOTFOUND, want, "missing dir");
    check_read_err(c3, "manifests/a.yaml", 0, NULL, 0, WS_ENOTFOUND, "not found", "dir is a file");
    check_read_err(c3, "../outside", 0, NULL, 0, WS_EINVAL,
                   "path \"../outside\" escapes the repository", "dir escaping with ..");
    check_read_err(c3, "/etc", 0, NULL, 0, WS_EINVAL, "absolute", "absolute dir");
    check_read_err(e1, "manifests", 0, NULL, 0, WS_EINVAL,
                   "manifests/evil.yaml: symlink to \"../../etc/passwd\" escapes the repository",
                   "escaping symlink");
    check_read_err(e1, "manifests", 0, "a.yaml", 0, WS_EINVAL, "manifests/evil.yaml: symlink",
                   "escaping symlink even when not included");
    check_read_err(e1, "up", 0, NULL, 0, WS_EINVAL, "up: symlink to \"..\" escapes the repository",
                   "dir that is an escaping symlink");
    check_read_err(e1, "manifests/up2/x", 0, NULL, 0, WS_EINVAL,
                   "up: symlink to \"..\" escapes the repository", "dir through a chain of symlinks");
    check_read_err(c3, "loop", 0, NULL, 0, WS_ELIMIT, "too many levels of symbolic links",
                   "symlink loop");
    check_read_err(c3, "manifests", 0, "{a.yaml", 0, WS_EINVAL, "invalid include pattern",
                   "unclosed brace");
    check_read_err(c3, "manifests", 0, "[a", 0, WS_EINVAL, "invalid include pattern",
                   "unclosed class");
    check_read_err(c3, "manifests", 0, NULL, 10, WS_ELIMIT, "10-byte limit", "max_bytes");
    check_read_err(c3, "manifests", 0, NULL, total - 1, WS_ELIMIT, "limit", "max_bytes one short");
    check_read(c3, "manifests", 0, NULL, NULL,
               "manifests/a.yaml,manifests/c.json,manifests/link.yaml,manifests/renamed.yml",
               "no limit");
    rc = ws_git_read_dir(&f, mirror, c3, "manifests", 0, NULL, NULL, total, &err);
    tap_ok(rc == 0 && f.n == 4, "read_dir: max_bytes exactly the total");
    ws_git_files_free(&f);
    check_read_err("nope", "manifests", 0, NULL, 0, WS_ENOTFOUND, "revision \"nope\" not found",
                   "missing commit");
}

static void test_path_type(void)
{
    struct ws_err err;
    tap_is_int(ws_git_path_type(mirror, c3, "manifests", &err), 2, "path_type: folder");
    tap_is_int(ws_git_path_type(mirror, c3, "manifests/a.yaml", &err), 1, "path_type: file");
    tap_is_int(ws_git_path_type(mirror, c3, "manifests/b.yml", &err), 0, "path_type: renamed away");
    tap_is_int(ws_git_path_type(mirror, c1, "manifests/b.yml", &err), 1, "path_type: older commit");
    tap_is_int(ws_git_path_type(mirror, c3, "nope/x.yaml", &err), 0, "path_type: missing");
    tap_is_int(ws_git_path_type(mirror, c3, "", &err), 2, "path_type: root");
    tap_is_int(ws_git_path_type(mirror, c3, "current", &err), 2, "path_type: symlink to folder");
    tap_is_int(ws_git_path_type(mirror, c3, "manifests/link.yaml", &err), 1,
               "path_type: symlink to file");
    tap_is_int(ws_git_path_type(mirror, c3, "current/d.yaml", &err), 1, "path_type: through a symlink");
    tap_is_int(ws_git_path_type(mirror, c3, "manifests/dangling.txt", &err), 0,
               "path_type: dangling symlink");
    tap_is_int(ws_git_path_type(mirror, c3, "../x", &err), WS_EINVAL, "path_type: escaping path");
    tap_is_int(ws_git_path_type(mirror, e1, "manifests/evil.yaml", &err), WS_EINVAL,
               "path_type: escaping symlink");
    tap_contains(err.msg, "escapes the repository", "path_type: escaping symlink message");
}

static void test_export(void)
{
    struct ws_err err;
    struct stat st;
    struct ws_tmptree tree = WS_TMPTREE_INIT;
    char troot[512], p[1024], link[256], *dir, *s;
    ssize_t n;
    int rc;

    snprintf(troot, sizeof(troot), "%s/exports", tmp);
    rc = ws_git_export(&tree, mirror, c3, troot, &err);
    tap_is_int(rc, 0, "export: C3");
    if (rc) {
        tap_diag("  %s", err.msg);
        return;
    }
    dir = tree.path;
    tap_ok(strstr(dir, "/" WS_GIT_EXPORT_PREFIX) != NULL, "export: named %s…", WS_GIT_EXPORT_PREFIX);
    tap_is_int(ws_tmptree_sweep(troot, WS_GIT_EXPORT_PREFIX), 0, "export: a sweep leaves a tree in use alone");
    tap_ok(access(dir, F_OK) == 0, "export: still there after the sweep");
    tap_ok(strncmp(dir, troot, strlen(troot)) == 0, "export: folder under tmp_root");
    snprintf(p, sizeof(p), "%s/manifests/a.yaml", dir);
    s = slurp(p);
    tap_is_str(s, "kind: A\nchanged: true\n", "export: file contents");
    snprintf(p, sizeof(p), "%s/manifests/sub/deep/e.yaml", dir);
    tap_ok(access(p, R_OK) == 0, "export: nested file");
    snprintf(p, sizeof(p), "%s/scripts/run.sh", dir);
    tap_ok(stat(p, &st) == 0 && (st.st_mode & S_IXUSR), "export: executable bit kept");
    snprintf(p, sizeof(p), "%s/manifests/c.json", dir);
    tap_ok(stat(p, &st) == 0 && !(st.st_mode & S_IXUSR), "export: plain file not executable");
    snprintf(p, sizeof(p), "%s/manifests/link.yaml", dir);
    n = readlink(p, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    tap_ok(lstat(p, &st) == 0 && S_ISLNK(st.st_mode), "export: symlink created as a symlink");
    tap_is_str(link, "sub/d.yaml", "export: symlink target kept");
    tap_is_str(slurp(p), "kind: D\n", "export: symlink resolves inside the export");
    snprintf(p, sizeof(p), "%s/current/d.yaml", dir);
    tap_is_str(slurp(p), "kind: D\n", "export: folder symlink works");
    snprintf(p, sizeof(p), "%s/loop/a.yaml", dir);
    tap_ok(lstat(p, &st) == 0 && S_ISLNK(st.st_mode), "export: looping symlinks are harmless");
    snprintf(p, sizeof(p), "%s/manifests/renamed.yml", dir);
    tap_ok(access(p, F_OK) == 0, "export: renamed file present");
    snprintf(p, sizeof(p), "%s/manifests/b.yml", dir);
    tap_ok(access(p, F_OK) != 0, "export: old name absent");

    snprintf(p, sizeof(p), "%s", dir);
    ws_tmptree_remove(&tree);
    tap_ok(access(p, F_OK) != 0 && errno == ENOENT, "tmptree_remove: folder gone");
    tap_ok(tree.path == NULL && tree.lock_fd == -1, "tmptree_remove: tree reset");
    tap_is_int(ws_rmtree(p), 0, "rmtree: missing folder is fine");

    rc = ws_git_export(&tree, mirror, e1, troot, &err);
    tap_is_int(rc, WS_EINVAL, "export: escaping symlink refused");
    tap_is_str(err.msg, "manifests/evil.yaml: symlink to \"../../etc/passwd\" escapes the repository",
               "export: message names the link");
    tap_ok(tree.path == NULL && tree.lock_fd == -1, "export: no folder returned");
    tap_is_int(count_entries(troot, 0), 0, "export: partial folder removed");

    /* rmtree does not follow symlinks out of the tree */
    snprintf(p, sizeof(p), "%s/keep", tmp);
    sh("mkdir -p '%s/keep' '%s/victim' && echo x > '%s/keep/file' && ln -s '%s/keep' '%s/victim/l'",
       tmp, tmp, tmp, tmp, tmp);
    snprintf(p, sizeof(p), "%s/victim", tmp);
    tap_is_int(ws_rmtree(p), 0, "rmtree: folder with a symlink to outside");
    snprintf(p, sizeof(p), "%s/keep/file", tmp);
    tap_ok(access(p, F_OK) == 0, "rmtree: symlink target untouched");
}

static void check_changed(const char *before, const char *after, const char *want, const char *name)
{
    struct ws_err err;
    json_t *a = NULL;
    int rc = ws_git_changed_paths(&a, mirror, before, after, &err);
    if (!tap_ok(rc == 0 && json_is_array(a) && strcmp(strings(a), want) == 0, "changed_paths: %s", name))
        tap_diag("  rc %d (%s)\n#   got  %s\n#   want %s", rc, rc ? err.msg : "", strings(a), want);
    json_decref(a);
}

static void test_changed(void)
{
    static const char all_c1[] =
        "README.md,app.yaml,current,loop/a.yaml,loop/b.yaml,manifests/a.yaml,manifests/b.yml,"
        "manifests/c.json,manifests/dangling.txt,manifests/link.yaml,manifests/notes.txt,"
        "manifests/shared,manifests/sub/d.yaml,manifests/sub/deep/e.yaml,scripts/run.sh,"
        "shared/s.yaml";
    struct ws_err err;
    json_t *a = NULL;

    check_changed(c1, c2, "manifests/a.yaml,manifests/sub/new.yaml", "edit and add");
    check_changed(c2, c3, "manifests/b.yml,manifests/renamed.yml", "rename: both paths");
    check_changed(c3, c2, "manifests/b.yml,manifests/renamed.yml", "backwards");
    check_changed(c1, c3, "manifests/a.yaml,manifests/b.yml,manifests/renamed.yml,manifests/sub/new.yaml",
                  "over two commits, sorted");
    check_changed(NULL, c1, all_c1, "from NULL: every path");
    check_changed("", c1, all_c1, "from \"\": every path");
    check_changed("0000000000000000000000000000000000000000", c1, all_c1, "from the zero id");
    check_changed(c3, c3, "", "same commit: nothing");
    check_changed(c3, e1, "manifests/evil.yaml,manifests/up2,up", "added symlinks");
    check_changed("v2", "main", "manifests/b.yml,manifests/renamed.yml,manifests/sub/deep/later.yaml",
                  "revisions by name");
    tap_is_int(ws_git_changed_paths(&a, mirror, c1, "nope", &err), WS_ENOTFOUND,
               "changed_paths: missing after");
    tap_ok(a == NULL, "changed_paths: nothing returned on error");
}

/* --- ls-remote: ws_git_remote_heads, ws_git_mirror_heads --------------------- */

/* `git rev-parse REV` in the remote, as is (a tag object stays a tag object). */
static void rev_parse_raw(char out[41], const char *rev)
{
    char cmd[1024];
    FILE *p;
    out[0] = '\0';
    snprintf(cmd, sizeof(cmd), "cd '%s' && git rev-parse '%s'", remote, rev);
    if ((p = popen(cmd, "r")) != NULL) {
        if (!fgets(out, 41, p))
            out[0] = '\0';
        pclose(p);
    }
}

/* "name=id12,…" sorted by name, for one-line comparisons. */
static const char *refs_text(json_t *refs)
{
    static char buf[4096];
    const char **names;
    const char *k;
    json_t *v;
    size_t n = 0, i, j, len = 0;
    buf[0] = '\0';
    if (!refs || !(names = calloc(json_object_size(refs) + 1, sizeof(*names))))
        return refs ? "(nomem)" : "(null)";
    json_object_foreach(refs, k, v)
        names[n++] = k;
    for (i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (i = 0; i < n && len < sizeof(buf) - 100; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s=%.12s", i ? "," : "", names[i],
                                json_string_value(json_object_get(refs, names[i])));
    free(names);
    return buf;
}

static void check_heads(const struct ws_git_heads *h, const char *want_refs, const char *want_tags,
                        const char *want_head, const char *name)
{
    char got[4096];
    snprintf(got, sizeof(got), "%s", refs_text(h->refs));
    if (!tap_ok(strcmp(got, want_refs) == 0, "%s: branches and tags, tags peeled", name))
        tap_diag("  got  %s\n#   want %s", got, want_refs);
    snprintf(got, sizeof(got), "%s", refs_text(h->tag_ids));
    if (!tap_ok(strcmp(got, want_tags) == 0, "%s: annotated tags' own ids", name))
        tap_diag("  got  %s\n#   want %s", got, want_tags);
    tap_is_str(h->head, want_head, name);
}

/* tests/e2e/githttp.py (git http-backend as a CGI) serving `root`; its pid,
 * or 0 when it cannot run here (no WS_SRCDIR or python3). */
static pid_t start_githttp(const char *root, int *port)
{
    const char *src = getenv("WS_SRCDIR");
    char script[1024], portfile[600];
    pid_t pid;
    FILE *f;
    *port = 0;
    if (!src || !*src)
        return 0;
    snprintf(script, sizeof(script), "%s/tests/e2e/githttp.py", src);
    snprintf(portfile, sizeof(portfile), "%s/githttp.port", tmp);
    if (access(script, R_OK) != 0 || sh("python3 -c '' 2>/dev/null") != 0)
        return 0;
    if ((pid = fork()) == 0) {
        execlp("python3", "python3", script, "--root", root, "--port-file", portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 100 && *port == 0; i++) {
        usleep(100 * 1000);
        if ((f = fopen(portfile, "r")) != NULL) {
            if (fscanf(f, "%d", port) != 1)
                *port = 0;
            fclose(f);
        }
    }
    if (pid > 0 && *port == 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return 0;
    }
    return pid;
}

static void test_remote_heads(void)
{
    struct ws_git_heads h, m;
    struct ws_err err;
    struct ws_git_creds creds = { "user", "tok3n-secret" };
    char cache[512], v2[41], c5[41], want[2048], tags[256], other[700], http_url[700];
    pid_t srv;
    int rc, port;

    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    rev_parse_raw(v2, "v2");
    /* the remote now: main C4, feature F1, evil E1, the annotated tag v2 on C2 */
    snprintf(want, sizeof(want), "refs/heads/evil=%.12s,refs/heads/feature=%.12s,refs/heads/main=%.12s,"
             "refs/tags/v2=%.12s", e1, f1, c4, c2);
    snprintf(tags, sizeof(tags), "refs/tags/v2=%.12s", v2);
    rc = ws_git_remote_heads(&h, url, NULL, &err);
    tap_is_int(rc, 0, "remote_heads: file:// URL");
    if (rc)
        tap_diag("  %s", err.msg);
    check_heads(&h, want, tags, "refs/heads/main", "remote_heads file://");
    tap_ok(strcmp(v2, c2) != 0 && v2[0], "remote_heads: v2 is an annotated tag (its own id differs)");

    rc = ws_git_mirror_heads(&m, cache, url, &err);
    tap_is_int(rc, 0, "mirror_heads: the fetched mirror");
    tap_ok(rc == 0 && json_equal(h.refs, m.refs) && json_equal(h.tag_ids, m.tag_ids) && m.head &&
               strcmp(m.head, "refs/heads/main") == 0,
           "mirror_heads: the same refs, tag ids and HEAD as the remote after a fetch");
    ws_git_heads_free(&m);
    ws_git_heads_free(&h);
    ws_git_heads_free(&h); /* twice: freeing leaves it empty */
    ws_git_heads_free(NULL);

    rc = ws_git_remote_heads(&h, remote, NULL, &err);
    tap_ok(rc == 0 && json_object_size(h.refs) == 4, "remote_heads: a plain local path");
    ws_git_heads_free(&h);

    /* the remote moves on: listing it fetches nothing into the mirror */
    put("later.yaml", "kind: Later\n");
    commit(c5, "five");
    sh("cd '%s' && git branch -q newbranch && git tag v5 && git symbolic-ref HEAD refs/heads/feature", remote);
    rc = ws_git_remote_heads(&h, url, NULL, &err);
    snprintf(want, sizeof(want), "refs/heads/evil=%.12s,refs/heads/feature=%.12s,refs/heads/main=%.12s,"
             "refs/heads/newbranch=%.12s,refs/tags/v2=%.12s,refs/tags/v5=%.12s", e1, f1, c5, c5, c2, c5);
    tap_is_int(rc, 0, "remote_heads: after the remote moved");
    check_heads(&h, want, tags, "refs/heads/feature", "remote_heads moved (new commit, branch, light tag, HEAD)");
    ws_git_heads_free(&h);
    tap_is_int(ws_git_mirror_heads(&m, cache, url, &err), 0, "mirror_heads: read again");
    tap_is_str(json_string_value(json_object_get(m.refs, "refs/heads/main")), c4,
               "mirror_heads: the mirror still has the old main (nothing was fetched)");
    tap_ok(!json_object_get(m.refs, "refs/heads/newbranch"), "mirror_heads: no new branch in the mirror");
    ws_git_heads_free(&m);
    {
        char got[41];
        tap_is_int(ws_git_resolve(got, mirror, c5, &err), WS_ENOTFOUND,
                   "remote_heads: the new commit's objects were not downloaded");
    }

    /* an empty repository: no refs, no default branch, no error */
    snprintf(other, sizeof(other), "%s/empty.git", tmp);
    sh("git init -q --bare '%s'", other);
    rc = ws_git_remote_heads(&h, other, NULL, &err);
    tap_ok(rc == 0 && json_object_size(h.refs) == 0 && !h.head, "remote_heads: an empty repository (rc %d)", rc);
    ws_git_heads_free(&h);

    /* failures: named, classified, no secrets; no mirror is not an error to hide */
    rc = ws_git_remote_heads(&h, "file:///nonexistent/wavesync/repo.git", NULL, &err);
    tap_is_int(rc, WS_ENET, "remote_heads: missing remote is WS_ENET");
    tap_contains(err.msg, "git: cannot list the refs of file:///nonexistent/wavesync/repo.git: ",
                 "remote_heads: message names the URL");
    tap_ok(h.refs == NULL && h.head == NULL, "remote_heads: nothing returned on error");
    ws_git_heads_free(&h);
    rc = ws_git_remote_heads(&h, "http://bob:s3cretpw@127.0.0.1:1/x.git", &creds, &err);
    tap_is_int(rc, WS_ENET, "remote_heads: refused connection is WS_ENET");
    tap_contains(err.msg, "http://127.0.0.1:1/x.git", "remote_heads: URL shown without user info");
    tap_ok(!strstr(err.msg, "s3cretpw") && !strstr(err.msg, "tok3n"), "remote_heads: no credentials in the message");
    ws_git_heads_free(&h);
    tap_is_int(ws_git_remote_heads(&h, "", NULL, &err), WS_EINVAL, "remote_heads: empty URL");
    ws_git_heads_free(&h);
    rc = ws_git_mirror_heads(&m, cache, "https://bob:s3cretpw@example.invalid/never-mirrored.git", &err);
    tap_is_int(rc, WS_ENOTFOUND, "mirror_heads: no mirror yet is WS_ENOTFOUND");
    tap_ok(!strstr(err.msg, "s3cretpw"), "mirror_heads: no credentials in the message");
    ws_git_heads_free(&m);

    /* smart HTTP (git http-backend): HEAD comes as an advertised symref */
    snprintf(other, sizeof(other), "%s/srv", tmp);
    sh("mkdir -p '%s' && git clone -q --bare '%s' '%s/remote.git' && git -C '%s/remote.git' symbolic-ref HEAD "
       "refs/heads/main", other, remote, other, other);
    if (!(srv = start_githttp(other, &port))) {
        tap_ok(1, "# SKIP remote_heads over smart HTTP: tests/e2e/githttp.py cannot run here");
    } else {
        snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%d/remote.git", port);
        rc = ws_git_remote_heads(&h, http_url, &creds, &err);
        tap_is_int(rc, 0, "remote_heads: smart HTTP");
        if (rc)
            tap_diag("  %s", err.msg);
        check_heads(&h, want, tags, "refs/heads/main", "remote_heads smart HTTP");
        ws_git_heads_free(&h);
        snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%d/missing.git", port);
        rc = ws_git_remote_heads(&h, http_url, NULL, &err);
        tap_ok(rc == WS_ENET && strstr(err.msg, http_url), "remote_heads: smart HTTP, no such repository (%d: %s)",
               rc, err.msg);
        ws_git_heads_free(&h);
        kill(srv, SIGTERM);
        waitpid(srv, NULL, 0);
    }
    sh("cd '%s' && git symbolic-ref HEAD refs/heads/main", remote);
}

int main(void)
{
    char *p;

    snprintf(tmp, sizeof(tmp), "%s/wavesync-test-git-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    /* git identity and configuration from here only, for the CLI and libgit2 */
    setenv("HOME", tmp, 1);
    setenv("XDG_CONFIG_HOME", tmp, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Wave Sync", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@wavesync.invalid", 1);
    setenv("GIT_COMMITTER_NAME", "Wave Sync", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@wavesync.invalid", 1);
    unsetenv("GIT_DIR");
    unsetenv("http_proxy"); /* the refused-connection test talks to 127.0.0.1 directly */
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    snprintf(remote, sizeof(remote), "%s/remote", tmp);
    snprintf(url, sizeof(url), "file://%s", remote);

    if (!tap_ok(ws_git_init() == 0, "ws_git_init") || !tap_ok(build_remote() == 0, "remote built")) {
        ws_git_shutdown();
        return tap_done();
    }
    test_mirror();
    if (mirror[0]) {
        test_read_dir();
        test_path_type();
        test_export();
        test_changed();
        test_remote_heads();
    }
    ws_git_shutdown();
    if ((p = getenv("WS_TEST_KEEP")) == NULL || !*p)
        ws_rmtree(tmp);
    return tap_done();
}
