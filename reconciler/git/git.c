/* git.c — libgit2 behind wavesync: bare mirrors of remote repositories,
 * revision resolution, manifests read straight from the object database,
 * tree export for external renderers and tree-to-tree diffs. Every function
 * blocks and opens its own git_repository (see git.h); the only global state
 * is libgit2's own, set up by ws_git_init. */
#include "git/git.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <git2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h" /* ws_git_url_normalize */
#include "git/git_socket.h"
#include "base/util.h"

#define MAX_LINK_HOPS 40  /* the kernel's MAXSYMLINKS: a longer chain is a loop */
#define MAX_GLOB_ALTS 256 /* bound on brace expansion */
#define HEADS_SPEC "+refs/heads/*:refs/heads/*"
#define TAGS_SPEC "+refs/tags/*:refs/tags/*"

int ws_git_init(void)
{
    const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
    if (git_libgit2_init() < 0 || ws_git_socket_register() < 0)
        return WS_EIO;
    /* a private CA for https Git servers, as curl and OpenSSL read it (libgit2
       built with mbedTLS does not look at these variables itself) */
    if (((file && *file) || (dir && *dir)) &&
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file && *file ? file : NULL, dir && *dir ? dir : NULL) < 0)
        return WS_EIO;
    return 0;
}

void ws_git_shutdown(void)
{
    git_libgit2_shutdown();
}

/* --- small helpers ---------------------------------------------------------- */

/* Record a libgit2 failure as "<context>: <libgit2 message>"; returns code. */
static int lib_fail(struct ws_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int lib_fail(struct ws_err *err, int code, const char *fmt, ...)
{
    const git_error *e = git_error_last();
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    return ws_err_set(err, code, "%s: %s", ctx, e && e->message ? e->message : "unknown error");
}

/* vasprintf that returns the string; NULL on ENOMEM. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s;
    int n;
    va_start(ap, f);
    n = vasprintf(&s, f, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* "a/b", or the non-empty one of the two; NULL on ENOMEM. */
static char *join(const char *a, const char *b)
{
    return fmt("%s%s%s", a, *a && *b ? "/" : "", b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A tree entry name we are willing to use as a path component. Git itself
 * refuses these on checkout; a crafted repository may still carry them. */
static int name_ok(const char *name)
{
    return *name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !strchr(name, '/') && strcasecmp(name, ".git") != 0;
}

static int read_link_target(char **out, git_repository *repo, const git_oid *id,
                            struct ws_err *err)
{
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, repo, id) < 0)
        return lib_fail(err, WS_EIO, "git: cannot read symlink");
    *out = strndup(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    git_blob_free(blob);
    return *out ? 0 : ws_err_set(err, WS_ENOMEM, "out of memory");
}

/* --- mirror folder naming and credentials ----------------------------------- */

/* "<tail of the normalised URL, sanitised>-<12 hex of its SHA-1>". The
 * normalisation is config's, so that one repository spelt two ways
 * ("https://GitHub.com/org/x.git", "git@github.com:org/x"; "/srv/x" and
 * "file:///srv/x") shares one mirror. */
static char *mirror_name(const char *url)
{
    char *norm = ws_git_url_normalize(url), safe[49], hex[GIT_OID_HEXSZ + 1], *name = NULL;
    size_t len, i, n = 0;
    git_oid id;

    if (!norm || git_odb_hash(&id, norm, strlen(norm), GIT_OBJECT_BLOB) < 0)
        goto out;
    git_oid_tostr(hex, sizeof(hex), &id);
    len = strlen(norm);
    for (i = len > 48 ? len - 48 : 0; i < len; i++) {
        char c = isalnum((unsigned char)norm[i]) || strchr(".-_", norm[i]) ? norm[i] : '_';
        if ((n == 0 && (c == '_' || c == '.')) || (c == '_' && safe[n - 1] == '_'))
            continue;
        safe[n++] = c;
    }
    safe[n] = '\0';
    name = fmt("%s-%.12s", n ? safe : "repo", hex);
out:
    free(norm);
    return name;
}

/* Split a URL's user info off: *shown is the URL without it (for messages
 * and the mirror's config), *secret the password part of "user:token@". */
static int split_userinfo(char **shown, char **secret, const char *url)
{
    const char *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url, *at = NULL, *p;
    const char *colon;
    for (p = host; scheme && *p && *p != '/'; p++)
        if (*p == '@')
            at = p;
    colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
    *shown = at ? fmt("%.*s%s", (int)(host - url), url, at + 1) : strdup(url);
    *secret = colon ? strndup(colon + 1, (size_t)(at - colon - 1)) : NULL;
    return !*shown || (colon && !*secret) ? WS_ENOMEM : 0;
}

/* Mask every occurrence of `secret` in msg. */
static void scrub(char *msg, const char *secret)
{
    char *hit;
    while (secret && *secret && (hit = strstr(msg, secret)) != NULL)
        memset(hit, '*', strlen(secret));
}

struct fetch_state {
    const struct ws_git_creds *creds;
    int ssh_tries, user_tries, pass_tries;
};

/* libgit2 asks again after every rejected credential: each kind is offered
 * once (ssh: the agent, then each default key that exists), then we give up
 * instead of looping. */
static int acquire_credential(git_credential **out, const char *url, const char *url_user,
                              unsigned int allowed, void *payload)
{
    static const char *const keys[] = { "id_ed25519", "id_ecdsa", "id_rsa" };
    struct fetch_state *st = payload;
    const struct ws_git_creds *c = st->creds;
    const char *user = url_user && *url_user ? url_user
                       : c && c->username && *c->username ? c->username : "git";
    const char *home = getenv("HOME");
    char key[4096];

    if ((allowed & GIT_CREDENTIAL_SSH_KEY) && st->ssh_tries == 0) {
        st->ssh_tries++;
        return git_credential_ssh_key_from_agent(out, user);
    }
    while ((allowed & GIT_CREDENTIAL_SSH_KEY) && home && st->ssh_tries <= (int)WS_ARRAY_SIZE(keys)) {
        snprintf(key, sizeof(key), "%s/.ssh/%s", home, keys[st->ssh_tries++ - 1]);
        if (access(key, R_OK) == 0)
            return git_credential_ssh_key_new(out, user, NULL, key, NULL);
    }
    if ((allowed & GIT_CREDENTIAL_USERNAME) && st->user_tries++ == 0)
        return git_credential_username_new(out, user);
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c && c->password && st->pass_tries++ == 0)
        return git_credential_userpass_plaintext_new(out, c->username && *c->username ? c->username : user,
                                                     c->password);
    git_error_set_str(GIT_ERROR_NET, "authentication failed");
    return GIT_EAUTH;
}

/* --- mirror ----------------------------------------------------------------- */

static int lock_mirror(int *out_fd, const char *path, struct ws_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc;
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "git: cannot open lock %s: %m", path);
    while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        ws_err_set(err, WS_EIO, "git: cannot lock %s: %m", path);
        close(fd);
        return WS_EIO;
    }
    *out_fd = fd;
    return 0;
}

/* The remote is recorded for people running git in the mirror (without user
 * info: no secrets on disk); our own fetches pass URL and refspecs. */
static int create_mirror(git_repository **out, const char *path, const char *shown_url,
                         struct ws_err *err)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    int error;

    if ((error = git_repository_init(&repo, path, 1)) < 0 ||
        (error = git_repository_config(&cfg, repo)) < 0 ||
        (error = git_config_set_string(cfg, "remote.origin.url", shown_url)) < 0 ||
        (error = git_config_set_string(cfg, "remote.origin.fetch", HEADS_SPEC)) < 0 ||
        (error = git_config_set_string(cfg, "remote.origin.tagOpt", "--tags")) < 0)
        error = lib_fail(err, WS_EIO, "git: cannot create mirror %s", path);
    else
        *out = repo, repo = NULL;
    git_config_free(cfg);
    git_repository_free(repo);
    return error;
}

/* Point HEAD at the remote's default branch (libgit2 keeps the remote's ref
 * list after the fetch). A remote that cannot tell keeps the current HEAD. */
static int update_head(git_repository *repo, git_remote *remote)
{
    git_buf name = GIT_BUF_INIT;
    git_reference *ref = NULL;
    int error;

    if ((error = git_remote_default_branch(&name, remote)) == 0 &&
        (error = git_reference_lookup(&ref, repo, name.ptr)) == 0)
        error = git_repository_set_head(repo, name.ptr);
    git_reference_free(ref);
    git_buf_dispose(&name);
    return error == GIT_ENOTFOUND ? 0 : error;
}

/* Local repositories standing in for remote URLs (CI mode, hooks). Set
 * before any worker thread starts, read-only afterwards. */
#define MAX_LOCALS 8
static struct { char *norm_url; char *path; } locals[MAX_LOCALS];
static size_t nlocals;

int ws_git_set_local(const char *url, const char *path)
{
    if (nlocals == MAX_LOCALS)
        return WS_ELIMIT;
    if (!(locals[nlocals].norm_url = ws_git_url_normalize(url)) ||
        !(locals[nlocals].path = strdup(path))) {
        free(locals[nlocals].norm_url);
        return WS_ENOMEM;
    }
    nlocals++;
    return 0;
}

void ws_git_clear_locals(void)
{
    while (nlocals > 0) {
        nlocals--;
        free(locals[nlocals].norm_url);
        free(locals[nlocals].path);
    }
}

static const char *local_for(const char *url)
{
    char *norm;
    const char *found = NULL;
    size_t i;
    if (!nlocals || !(norm = ws_git_url_normalize(url)))
        return NULL;
    for (i = 0; i < nlocals && !found; i++)
        if (strcmp(locals[i].norm_url, norm) == 0)
            found = locals[i].path;
    free(norm);
    return found;
}

int ws_git_mirror(char **out_path, const char *cache_dir, const char *url,
                  const struct ws_git_creds *creds, struct ws_err *err)
{
    return ws_git_mirror_since(out_path, cache_dir, url, creds, 0, NULL, err);
}

/* Was the mirror at `path` fetched at or after `since` (Unix
 * milliseconds)? The stamp is a sibling file touched after every successful
 * clone or fetch. Milliseconds, not seconds: a commit and a new run in the
 * second of the last fetch must fetch again. */
static int fetched_since(const char *stamp, int64_t since)
{
    struct stat st;
    return since > 0 && stat(stamp, &st) == 0 &&
           (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >= since;
}

static void touch(const char *stamp)
{
    int fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        futimens(fd, NULL); /* now, also when the file existed */
        close(fd);
    }
}

/* Is `want` a full commit id that repo has? */
static int has_commit(git_repository *repo, const char *want)
{
    git_oid oid;
    git_odb *odb = NULL;
    size_t n = 0;
    int has;
    while (want && n < 41 && isxdigit((unsigned char)want[n]))
        n++;
    if (n != 40 || want[40] || git_oid_fromstr(&oid, want) < 0 || git_repository_odb(&odb, repo) < 0)
        return 0;
    has = git_odb_exists(odb, &oid);
    git_odb_free(odb);
    return has;
}

int ws_git_mirror_since(char **out_path, const char *cache_dir, const char *url,
                        const struct ws_git_creds *creds, int64_t since, const char *want, struct ws_err *err)
{
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    git_fetch_options opts;
    git_remote_create_options ropts;
    char heads[] = HEADS_SPEC, tags[] = TAGS_SPEC, *specs[] = { heads, tags };
    git_strarray refspecs = { specs, 2 };
    struct fetch_state st = { creds, 0, 0, 0 };
    char *name = NULL, *path = NULL, *lock = NULL, *stamp = NULL, *shown = NULL, *secret = NULL;
    int fd = -1, created = 0, error;

    ws_err_clear(err);
    *out_path = NULL;
    if (url && local_for(url)) { /* a local clone stands in: nothing to fetch */
        if (!(*out_path = strdup(local_for(url))))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        return 0;
    }
    if (!cache_dir || !*cache_dir || !url || !*url)
        return ws_err_set(err, WS_EINVAL, "git: a mirror needs a cache folder and a URL");
    if (split_userinfo(&shown, &secret, url) < 0 || !(name = mirror_name(url)) ||
        !(path = fmt("%s/%s", cache_dir, name)) || !(lock = fmt("%s.lock", path)) ||
        !(stamp = fmt("%s.fetched", path))) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if (ws_mkdir_p(cache_dir, 0755) < 0) {
        error = ws_err_set(err, WS_EIO, "git: cannot create %s: %m", cache_dir);
        goto out;
    }
    /* Serialises clones and fetches of one mirror across threads and
     * processes (flock locks belong to the open file description). */
    if ((error = lock_mirror(&fd, lock, err)) < 0)
        goto out;

    error = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (error == 0 && (fetched_since(stamp, since) || has_commit(repo, want))) {
        /* fetched already during this run (one snapshot, one fetch), or the
           commit wanted is there */
        *out_path = path;
        path = NULL;
        goto out;
    }
    if (error == GIT_ENOTFOUND) {
        ws_rmtree(path); /* what an interrupted clone left behind */
        if ((error = create_mirror(&repo, path, shown, err)) < 0)
            goto out;
        created = 1;
    } else if (error < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot open mirror %s", path);
        goto out;
    }
    /* An in-memory remote: git_remote_lookup and insteadOf rewriting go
     * through libgit2 1.5's config regexps, which leak (libgit2 #6382). */
    git_remote_create_options_init(&ropts, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ropts.repository = repo;
    ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if ((error = git_remote_create_with_opts(&remote, url, &ropts)) < 0) {
        error = lib_fail(err, WS_EINVAL, "git: invalid URL %s", shown);
        goto out;
    }
    git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
    opts.prune = GIT_FETCH_PRUNE;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* TAGS_SPEC brings them all */
    opts.update_fetchhead = 0;
    opts.proxy_opts.type = GIT_PROXY_AUTO;
    opts.callbacks.credentials = acquire_credential;
    opts.callbacks.payload = &st;
    if ((error = git_remote_fetch(remote, &refspecs, &opts, "wavesync: fetch")) < 0) {
        error = lib_fail(err, WS_ENET, "git: cannot fetch %s", shown);
        goto out;
    }
    if ((error = update_head(repo, remote)) < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot update HEAD of %s", path);
        goto out;
    }
    touch(stamp);
    *out_path = path;
    path = NULL;
out:
    if (error < 0 && err) {
        scrub(err->msg, secret);
        scrub(err->msg, creds ? creds->password : NULL);
    }
    git_remote_free(remote);
    git_repository_free(repo);
    if (error < 0 && created)
        ws_rmtree(path);
    if (fd >= 0)
        close(fd); /* releases the lock; the lock file stays (unlinking it would race) */
    free(secret);
    free(shown);
    free(name);
    free(path);
    free(lock);
    free(stamp);
    return error;
}

/* --- revisions -------------------------------------------------------------- */

/* Inside a pre-receive hook git keeps the pushed objects in a quarantine
 * folder named by GIT_OBJECT_DIRECTORY, which libgit2 does not read from the
 * environment: add it as an alternate so the pushed commits resolve. */
static int add_quarantine(git_repository *repo)
{
    const char *dir = getenv("GIT_QUARANTINE_PATH");
    git_odb *odb = NULL;
    int error;
    if (!dir || !*dir)
        return 0;
    if ((error = git_repository_odb(&odb, repo)) == 0)
        error = git_odb_add_disk_alternate(odb, dir);
    git_odb_free(odb);
    return error;
}

static int open_repo(git_repository **out, const char *path, struct ws_err *err)
{
    int error = git_repository_open_ext(out, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (error < 0)
        return lib_fail(err, error == GIT_ENOTFOUND ? WS_ENOTFOUND : WS_EIO,
                        "git: cannot open repository %s", path);
    if (add_quarantine(*out) < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot read the pushed objects of %s", path);
        git_repository_free(*out);
        *out = NULL;
        return error;
    }
    return 0;
}

/* Branches win over tags (as in Argo CD), then anything git_revparse_single
 * understands: full or abbreviated ids, "HEAD", "main~2", full ref names. */
static int find_commit(git_commit **out, git_repository *repo, const char *repo_path,
                       const char *rev, struct ws_err *err)
{
    static const char *const prefixes[] = { "refs/heads/", "refs/remotes/origin/", "refs/tags/" };
    int dwim = rev && *rev && strcmp(rev, "HEAD") != 0 && strncmp(rev, "refs/", 5) != 0;
    git_reference *ref = NULL;
    git_object *obj = NULL;
    char *name, shown[128];
    size_t i;
    int error = GIT_ENOTFOUND;

    if (!rev || !*rev)
        rev = "HEAD";
    for (i = 0; dwim && error == GIT_ENOTFOUND && i < WS_ARRAY_SIZE(prefixes); i++) {
        if (!(name = fmt("%s%s", prefixes[i], rev)))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        if ((error = git_reference_lookup(&ref, repo, name)) == GIT_EINVALIDSPEC)
            error = GIT_ENOTFOUND;
        free(name);
    }
    if (error == 0)
        error = git_reference_peel(&obj, ref, GIT_OBJECT_ANY);
    else if (error == GIT_ENOTFOUND)
        error = git_revparse_single(&obj, repo, rev);

    ws_str_quote_cut(shown, sizeof(shown), rev); /* a pushed file chose it: quoted, cut */
    if (error == GIT_ENOTFOUND || error == GIT_EINVALIDSPEC || error == GIT_EUNBORNBRANCH)
        error = ws_err_set(err, WS_ENOTFOUND, "revision %s not found in %s", shown, repo_path);
    else if (error == GIT_EAMBIGUOUS)
        error = ws_err_set(err, WS_EINVAL, "revision %s is ambiguous in %s", shown, repo_path);
    else if (error < 0)
        error = lib_fail(err, WS_EIO, "git: cannot resolve %s in %s", shown, repo_path);
    else if (git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT) < 0)
        error = ws_err_set(err, WS_EINVAL, "revision %s in %s is not a commit", shown, repo_path);
    git_object_free(obj);
    git_reference_free(ref);
    return error;
}

/* The root tree at `rev`, and its commit's short id for messages. */
static int find_tree(git_tree **out, char short_id[8], git_repository *repo, const char *repo_path,
                     const char *rev, struct ws_err *err)
{
    git_commit *commit = NULL;
    int error;
    if ((error = find_commit(&commit, repo, repo_path, rev, err)) < 0)
        return error;
    git_oid_tostr(short_id, 8, git_commit_id(commit));
    if ((error = git_commit_tree(out, commit)) < 0)
        error = lib_fail(err, WS_EIO, "git: cannot read the tree of %s", short_id);
    git_commit_free(commit);
    return error;
}

/* A repository opened for one call, and the tree at the commit it is about. */
struct at {
    git_repository *repo;
    git_tree *root;
    char short_id[8];
};

static int at_open(struct at *at, const char *repo_path, const char *rev, struct ws_err *err)
{
    int error;
    memset(at, 0, sizeof(*at));
    ws_err_clear(err);
    if ((error = open_repo(&at->repo, repo_path, err)) < 0)
        return error;
    return find_tree(&at->root, at->short_id, at->repo, repo_path, rev, err);
}

static void at_close(struct at *at)
{
    git_tree_free(at->root);
    git_repository_free(at->repo);
}

int ws_git_resolve(char out[41], const char *repo_path, const char *revision, struct ws_err *err)
{
    git_repository *repo = NULL;
    git_commit *commit = NULL;
    int error;

    ws_err_clear(err);
    out[0] = '\0';
    if ((error = open_repo(&repo, repo_path, err)) == 0 &&
        (error = find_commit(&commit, repo, repo_path, revision, err)) == 0)
        git_oid_tostr(out, 41, git_commit_id(commit));
    git_commit_free(commit);
    git_repository_free(repo);
    return error;
}

/* --- paths inside a tree ---------------------------------------------------- */

struct resolved {
    char *path;          /* clean, repository-relative; "" is the root */
    git_filemode_t mode; /* GIT_FILEMODE_TREE for the root */
    git_oid id;
};

/* Resolve `path` within `root` the way the kernel resolves it in a checkout:
 * component by component, ".." climbing the real (already resolved) folder,
 * symlinks replaced by their target relative to the link's folder, the last
 * component followed too. Returns 0; WS_EINVAL when the path or a link
 * leaves the root or is absolute (err names the link); WS_ENOTFOUND when a
 * component is missing or not a folder; WS_ELIMIT after MAX_LINK_HOPS links. */
static int resolve_path(struct resolved *out, git_repository *repo, git_tree *root,
                        const char *path, struct ws_err *err)
{
    git_tree_entry *entry = NULL;
    git_filemode_t mode = GIT_FILEMODE_TREE;
    char *real = strdup(""), *rest = strdup(path), *link = NULL, *target = NULL, *next = NULL;
    size_t pos = 0, link_end = 0;
    int hops = 0, error = 0;

    out->path = NULL;
    if (!real || !rest)
        goto nomem;
    if (path[0] == '/') {
        error = ws_err_set(err, WS_EINVAL, "path \"%s\" is absolute: paths are relative to the repository root", path);
        goto out;
    }
    while (rest[pos]) {
        const char *c = rest + pos;
        size_t n = strcspn(c, "/"), at = pos;
        pos += n + (c[n] == '/');
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (mode != GIT_FILEMODE_TREE) {
            error = ws_err_set(err, WS_ENOTFOUND, "path \"%s\" not found (\"%s\" is not a folder)", path, real);
            goto out;
        }
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (!*real && link && at < link_end)
                error = ws_err_set(err, WS_EINVAL, "%s: symlink to \"%s\" escapes the repository", link, target);
            else if (!*real)
                error = ws_err_set(err, WS_EINVAL, "path \"%s\" escapes the repository", path);
            if (error < 0)
                goto out;
            next = strrchr(real, '/');
            *(next ? next : real) = '\0';
            next = NULL;
            continue;
        }
        git_tree_entry_free(entry);
        entry = NULL;
        if (!(next = fmt("%s%s%.*s", real, *real ? "/" : "", (int)n, c)))
            goto nomem;
        if ((error = git_tree_entry_bypath(&entry, root, next)) < 0) {
            error = error == GIT_ENOTFOUND
                        ? ws_err_set(err, WS_ENOTFOUND, "path \"%s\" not found (no \"%s\")", path, next)
                        : lib_fail(err, WS_EIO, "git: cannot read \"%s\"", next);
            goto out;
        }
        if ((mode = git_tree_entry_filemode(entry)) != GIT_FILEMODE_LINK) {
            free(real);
            real = next;
            next = NULL;
            continue;
        }
        mode = GIT_FILEMODE_TREE; /* we stay in the link's folder */
        free(link);
        free(target);
        link = next;
        next = target = NULL;
        if (++hops > MAX_LINK_HOPS) {
            error = ws_err_set(err, WS_ELIMIT, "%s: too many levels of symbolic links", link);
            goto out;
        }
        if ((error = read_link_target(&target, repo, git_tree_entry_id(entry), err)) < 0)
            goto out;
        if (target[0] == '/' || !*target) {
            error = *target ? ws_err_set(err, WS_EINVAL, "%s: symlink to \"%s\" escapes the repository", link, target)
                            : ws_err_set(err, WS_ENOTFOUND, "%s: empty symlink", link);
            goto out;
        }
        /* go on with the target, then with what followed the link */
        if (!(next = fmt("%s/%s", target, rest + pos)))
            goto nomem;
        free(rest);
        rest = next;
        next = NULL;
        pos = 0;
        link_end = strlen(target);
    }
    git_tree_entry_free(entry);
    entry = NULL;
    if (!*real) {
        out->mode = GIT_FILEMODE_TREE;
        git_oid_cpy(&out->id, git_tree_id(root));
    } else if ((error = git_tree_entry_bypath(&entry, root, real)) < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot read \"%s\"", real);
        goto out;
    } else {
        out->mode = git_tree_entry_filemode(entry);
        git_oid_cpy(&out->id, git_tree_entry_id(entry));
    }
    out->path = real;
    real = NULL;
    goto out;
nomem:
    error = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    git_tree_entry_free(entry);
    free(real);
    free(rest);
    free(next);
    free(link);
    free(target);
    return error;
}

/* --- Argo CD directory globs ------------------------------------------------ */

/* Argo CD matches spec.source.directory include/exclude with gobwas/glob
 * compiled WITHOUT separators, against the path relative to the app folder
 * (its own tests: include "*.yaml" takes subdir/x.yaml). So "*" (and "**")
 * match any run of characters including '/', "?" any character, "[a-z]" and
 * "[!a-z]" classes, "{a,b}" alternatives (nestable), "\x" a literal x. We
 * expand the braces once and match each alternative with fnmatch(3) without
 * FNM_PATHNAME, which has exactly those semantics. */
struct glob {
    char **alt;
    size_t n;
};

static void glob_free(struct glob *g)
{
    while (g->n > 0)
        free(g->alt[--g->n]);
    free(g->alt);
    g->alt = NULL;
}

/* p points at '['; the closing ']' (a ']' first in the class is literal). */
static const char *class_end(const char *p)
{
    p += 1 + (p[1] == '!' || p[1] == '^');
    if (*p == ']')
        p++;
    for (; *p && *p != ']'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p ? p : NULL;
}

static int glob_expand(struct glob *g, const char *p)
{
    const char *q, *open = NULL, *start;
    int depth = 0;
    char **v;

    for (q = p; *q; q++) {
        if (*q == '\\' && q[1])
            q++;
        else if (*q == '[' && !(q = class_end(q)))
            return WS_EINVAL;
        else if (*q == '{' && depth++ == 0)
            open = q;
        else if (*q == '}' && depth > 0 && --depth == 0)
            break;
    }
    if (depth > 0)
        return WS_EINVAL;
    if (!open) {
        if (g->n >= MAX_GLOB_ALTS)
            return WS_ELIMIT;
        if (!(v = realloc(g->alt, (g->n + 1) * sizeof(*v))))
            return WS_ENOMEM;
        g->alt = v;
        return (g->alt[g->n] = strdup(p)) ? (int)(g->n++, 0) : WS_ENOMEM;
    }
    /* q is the matching '}': expand each top-level alternative in turn */
    for (start = open + 1;; start++) {
        const char *e = start;
        char *s;
        int rc;
        for (depth = 0; e < q && !(*e == ',' && depth == 0); e++) {
            if (*e == '\\' && e[1])
                e++;
            else if (*e == '[')
                e = class_end(e);
            else
                depth += (*e == '{') - (*e == '}');
        }
        if (!(s = fmt("%.*s%.*s%s", (int)(open - p), p, (int)(e - start), start, q + 1)))
            return WS_ENOMEM;
        rc = glob_expand(g, s);
        free(s);
        if (rc < 0 || e >= q)
            return rc;
        start = e;
    }
}

static int glob_compile(struct glob *g, const char *pattern, const char *what, struct ws_err *err)
{
    int rc;
    g->alt = NULL;
    g->n = 0;
    if (!pattern || !*pattern || (rc = glob_expand(g, pattern)) == 0)
        return 0;
    glob_free(g);
    return ws_err_set(err, rc == WS_ENOMEM ? WS_ENOMEM : WS_EINVAL, "invalid %s pattern \"%s\"%s",
                      what, pattern, rc == WS_ELIMIT ? ": too many {} alternatives" : "");
}

static int glob_match(const struct glob *g, const char *s)
{
    size_t i;
    for (i = 0; i < g->n; i++)
        if (fnmatch(g->alt[i], s, 0) == 0)
            return 1;
    return 0;
}

/* --- reading manifests ------------------------------------------------------ */

struct walk {
    git_repository *repo;
    git_tree *root;
    struct glob include, exclude;
    int recurse;
    int jsonnet; /* also *.jsonnet (ws_git_read_source_dir) */
    const char *dir; /* as given, for messages */
    size_t max_bytes, total;
    struct ws_git_files files;
};

void ws_git_files_free(struct ws_git_files *f)
{
    if (!f)
        return;
    while (f->n > 0) {
        f->n--;
        free(f->v[f->n].path);
        free(f->v[f->n].data);
    }
    free(f->v);
    f->v = NULL;
}

/* Argo CD takes *.yaml, *.yml and *.json by the entry's own name (a link's
 * name, not its target's), then applies the globs to the relative path. */
static int wanted(const struct walk *w, const char *name, const char *rel)
{
    return (ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json") ||
            (w->jsonnet && ends_with(name, ".jsonnet"))) &&
           (!w->include.n || glob_match(&w->include, rel)) && !(w->exclude.n && glob_match(&w->exclude, rel));
}

/* A file the walk met and did not read: counted (ws_git_files.others), but
 * not hidden ones (.gitkeep keeps an intentionally empty folder). */
static void skipped(struct walk *w, const char *name)
{
    if (name[0] != '.')
        w->files.others++;
}

static int add_file(struct walk *w, const char *path, const git_oid *id, struct ws_err *err)
{
    git_blob *blob = NULL;
    struct ws_git_file *f;
    size_t len;
    int error = 0;

    if (git_blob_lookup(&blob, w->repo, id) < 0)
        return lib_fail(err, WS_EIO, "git: cannot read %s", path);
    len = (size_t)git_blob_rawsize(blob);
    if (w->max_bytes && (len > w->max_bytes || w->total > w->max_bytes - len)) {
        error = ws_err_set(err, WS_ELIMIT, "manifests under \"%s\" exceed the %zu-byte limit (at %s)",
                           w->dir, w->max_bytes, path);
        goto out;
    }
    if (!(f = realloc(w->files.v, (w->files.n + 1) * sizeof(*f)))) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    w->files.v = f;
    f += w->files.n;
    f->len = len;
    f->path = strdup(path);
    if (!f->path || !(f->data = malloc(len + 1))) {
        free(f->path);
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(f->data, git_blob_rawcontent(blob), len);
    f->data[len] = '\0';
    w->files.n++;
    w->total += len;
out:
    git_blob_free(blob);
    return error;
}

/* `real` is the tree's repository path, `rel` its path relative to dir. A
 * symlink to a file is read through; a symlink to a folder is not descended
 * (Argo CD's filepath.Walk does not either: no duplicates, no loops), but
 * every symlink met is checked to stay inside the repository. */
static int walk_tree(struct walk *w, git_tree *tree, const char *real, const char *rel,
                     struct ws_err *err)
{
    size_t i, n = git_tree_entrycount(tree);
    int error = 0;

    for (i = 0; i < n && error == 0; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_filemode_t mode = git_tree_entry_filemode(e);
        struct resolved r = { NULL, 0, { { 0 } } };
        git_tree *sub = NULL;
        char *path = NULL, *relpath = NULL;

        if (!name_ok(name))
            error = ws_err_set(err, WS_EINVAL, "%s%s%s: invalid name in tree", real, *real ? "/" : "", name);
        else if (!(path = join(real, name)) || !(relpath = join(rel, name)))
            error = ws_err_set(err, WS_ENOMEM, "out of memory");
        else if (mode == GIT_FILEMODE_TREE && w->recurse && git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)) < 0)
            error = lib_fail(err, WS_EIO, "git: cannot read %s", path);
        else if (sub)
            error = walk_tree(w, sub, path, relpath, err);
        else if ((mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) && wanted(w, name, relpath))
            error = add_file(w, path, git_tree_entry_id(e), err);
        else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE)
            skipped(w, name);
        else if (mode == GIT_FILEMODE_LINK) {
            error = resolve_path(&r, w->repo, w->root, path, err);
            if (error == WS_ENOTFOUND && !wanted(w, name, relpath))
                error = 0; /* a dangling link we would not read anyway */
            else if (error == WS_ENOTFOUND)
                ws_err_prefix(err, "%s: broken symlink", path);
            else if (error == 0 && r.mode != GIT_FILEMODE_TREE && r.mode != GIT_FILEMODE_COMMIT &&
                     wanted(w, name, relpath))
                error = add_file(w, path, &r.id, err);
            else if (error == 0 && r.mode != GIT_FILEMODE_TREE && r.mode != GIT_FILEMODE_COMMIT)
                skipped(w, name);
        } /* submodules (GIT_FILEMODE_COMMIT) have no content here */
        free(r.path);
        free(path);
        free(relpath);
        git_tree_free(sub);
    }
    return error;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct ws_git_file *)a)->path, ((const struct ws_git_file *)b)->path);
}

static int read_dir(struct ws_git_files *out, const char *repo_path, const char *commit, const char *dir,
                    int recurse, int jsonnet, const char *include, const char *exclude, size_t max_bytes,
                    struct ws_err *err)
{
    struct walk w;
    struct resolved r = { NULL, 0, { { 0 } } };
    struct at at = { NULL, NULL, "" };
    git_tree *tree = NULL;
    int error;

    memset(&w, 0, sizeof(w));
    out->v = NULL;
    out->n = 0;
    out->others = 0;
    dir = dir ? dir : "";
    ws_err_clear(err);
    if ((error = glob_compile(&w.include, include, "include", err)) < 0 ||
        (error = glob_compile(&w.exclude, exclude, "exclude", err)) < 0 ||
        (error = at_open(&at, repo_path, commit, err)) < 0)
        goto out;
    error = resolve_path(&r, at.repo, at.root, dir, err);
    if (error == WS_ENOTFOUND || (error == 0 && r.mode != GIT_FILEMODE_TREE))
        error = ws_err_set(err, WS_ENOTFOUND, "directory \"%s\" not found at %s", dir, at.short_id);
    if (error < 0)
        goto out;
    if ((error = git_tree_lookup(&tree, at.repo, &r.id)) < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot read \"%s\"", dir);
        goto out;
    }
    w.repo = at.repo;
    w.root = at.root;
    w.recurse = recurse;
    w.jsonnet = jsonnet;
    w.dir = dir;
    w.max_bytes = max_bytes;
    if ((error = walk_tree(&w, tree, r.path, "", err)) < 0)
        goto out;
    if (w.files.n > 1)
        qsort(w.files.v, w.files.n, sizeof(*w.files.v), cmp_file);
    *out = w.files;
    w.files.v = NULL;
    w.files.n = 0;
    w.files.others = 0;
out:
    ws_git_files_free(&w.files);
    glob_free(&w.include);
    glob_free(&w.exclude);
    free(r.path);
    git_tree_free(tree);
    at_close(&at);
    return error;
}

int ws_git_read_dir(struct ws_git_files *out, const char *repo_path, const char *commit,
                    const char *dir, int recurse, const char *include, const char *exclude,
                    size_t max_bytes, struct ws_err *err)
{
    return read_dir(out, repo_path, commit, dir, recurse, 0, include, exclude, max_bytes, err);
}

int ws_git_read_source_dir(struct ws_git_files *out, const char *repo_path, const char *commit,
                           const char *dir, int recurse, const char *include, const char *exclude,
                           size_t max_bytes, struct ws_err *err)
{
    return read_dir(out, repo_path, commit, dir, recurse, 1, include, exclude, max_bytes, err);
}

int ws_git_path_type(const char *repo_path, const char *commit, const char *path, struct ws_err *err)
{
    struct resolved r = { NULL, 0, { { 0 } } };
    struct at at;
    int error;

    if ((error = at_open(&at, repo_path, commit, err)) == 0 &&
        (error = resolve_path(&r, at.repo, at.root, path ? path : "", err)) == 0)
        error = r.mode == GIT_FILEMODE_TREE || r.mode == GIT_FILEMODE_COMMIT ? 2 : 1;
    else if (error == WS_ENOTFOUND && at.root) { /* the path, not the commit */
        ws_err_clear(err);
        error = 0;
    }
    free(r.path);
    at_close(&at);
    return error;
}

/* --- export ----------------------------------------------------------------- */

struct export_ctx {
    git_repository *repo;
    git_tree *root;
    const char *dir;
    struct ws_err *err;
    int error;
};

static int write_blob(struct export_ctx *x, const char *full, const git_tree_entry *e)
{
    git_blob *blob = NULL;
    mode_t mode = git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;
    size_t len;
    FILE *f = NULL;
    int fd, error = 0;

    if (git_blob_lookup(&blob, x->repo, git_tree_entry_id(e)) < 0)
        return lib_fail(x->err, WS_EIO, "git: cannot read %s", full);
    len = (size_t)git_blob_rawsize(blob);
    /* O_EXCL|O_NOFOLLOW: never write through anything already there */
    fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        error = ws_err_set(x->err, WS_EIO, "cannot create %s: %m", full);
    } else {
        /* fclose always runs, also after a short write. */
        int short_write = fwrite(git_blob_rawcontent(blob), 1, len, f) != len;
        if (fclose(f) != 0 || short_write)
            error = ws_err_set(x->err, WS_EIO, "cannot write %s", full);
    }
    if (fd >= 0 && !f)
        close(fd);
    git_blob_free(blob);
    return error;
}

/* A link is created only when resolving it cannot leave the tree. Dangling
 * links and loops stay harmless on disk (the kernel stops at the missing
 * component, or with ELOOP), so only an escape is an error. */
static int write_link(struct export_ctx *x, const char *rel, const char *full, const git_tree_entry *e)
{
    struct resolved r = { NULL, 0, { { 0 } } };
    char *target = NULL;
    int error = resolve_path(&r, x->repo, x->root, rel, x->err);

    free(r.path);
    if (error == WS_ENOTFOUND || error == WS_ELIMIT) {
        ws_err_clear(x->err);
        error = 0;
    }
    if (error < 0 || (error = read_link_target(&target, x->repo, git_tree_entry_id(e), x->err)) < 0)
        return error;
    if (symlink(target, full) < 0)
        error = ws_err_set(x->err, WS_EIO, "cannot create symlink %s: %m", full);
    free(target);
    return error;
}

static int export_entry(const char *parent, const git_tree_entry *e, void *payload)
{
    struct export_ctx *x = payload;
    const char *name = git_tree_entry_name(e);
    git_filemode_t mode = git_tree_entry_filemode(e);
    char *rel = NULL, *full = NULL;
    int error = 0;

    if (!name_ok(name))
        error = ws_err_set(x->err, WS_EINVAL, "%s%s: invalid name in tree", parent, name);
    else if (!(rel = fmt("%s%s", parent, name)) || !(full = join(x->dir, rel)))
        error = ws_err_set(x->err, WS_ENOMEM, "out of memory");
    else if (mode == GIT_FILEMODE_TREE || mode == GIT_FILEMODE_COMMIT)
        error = mkdir(full, 0755) < 0 ? ws_err_set(x->err, WS_EIO, "cannot create %s: %m", full) : 0;
    else if (mode == GIT_FILEMODE_LINK)
        error = write_link(x, rel, full, e);
    else
        error = write_blob(x, full, e);
    free(rel);
    free(full);
    x->error = error;
    return error < 0 ? -1 : 0;
}

int ws_git_export(struct ws_tmptree *out, const char *repo_path, const char *commit, const char *tmp_root,
                  struct ws_err *err)
{
    struct export_ctx x = { NULL, NULL, NULL, err, 0 };
    struct ws_tmptree tree = WS_TMPTREE_INIT;
    struct at at;
    int error;

    out->path = NULL;
    out->lock_fd = -1;
    if ((error = at_open(&at, repo_path, commit, err)) < 0)
        goto out;
    if ((error = ws_tmptree_create(&tree, tmp_root, WS_GIT_EXPORT_PREFIX, err)) < 0)
        goto out;
    x.repo = at.repo;
    x.root = at.root;
    x.dir = tree.path;
    if ((error = git_tree_walk(at.root, GIT_TREEWALK_PRE, export_entry, &x)) < 0) {
        error = x.error ? x.error : lib_fail(err, WS_EIO, "git: cannot export %s", at.short_id);
        goto out;
    }
    *out = tree;
    tree.path = NULL;
    tree.lock_fd = -1;
out:
    ws_tmptree_remove(&tree);
    at_close(&at);
    return error;
}

/* --- changed paths ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ws_git_changed_paths(json_t **out, const char *repo_path, const char *before,
                         const char *after, struct ws_err *err)
{
    struct at at;
    git_tree *old = NULL;
    git_diff *diff = NULL;
    git_diff_options opts;
    json_t *arr = NULL;
    const char **v = NULL;
    char short_id[8];
    size_t i, n, nv = 0;
    int error;

    *out = NULL;
    if ((error = at_open(&at, repo_path, after, err)) < 0 ||
        (before && *before && strspn(before, "0") != strlen(before) &&
         (error = find_tree(&old, short_id, at.repo, repo_path, before, err)) < 0))
        goto out;
    git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION); /* no rename detection: both sides show */
    if ((error = git_diff_tree_to_tree(&diff, at.repo, old, at.root, &opts)) < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot diff %s", at.short_id);
        goto out;
    }
    n = git_diff_num_deltas(diff);
    if (!(arr = json_array()) || (n && !(v = calloc(2 * n, sizeof(*v)))))
        goto nomem;
    for (i = 0; i < n; i++) {
        const git_diff_delta *d = git_diff_get_delta(diff, i);
        if (d->old_file.path && d->status != GIT_DELTA_ADDED)
            v[nv++] = d->old_file.path;
        if (d->new_file.path && d->status != GIT_DELTA_DELETED)
            v[nv++] = d->new_file.path;
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), cmp_str);
    for (i = 0; i < nv; i++)
        if ((i == 0 || strcmp(v[i], v[i - 1]) != 0) &&
            json_array_append_new(arr, json_string(v[i])) < 0) /* steals the string */
            goto nomem;
    *out = arr;
    arr = NULL;
    goto out;
nomem:
    error = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    json_decref(arr);
    free(v);
    git_diff_free(diff);
    git_tree_free(old);
    at_close(&at);
    return error;
}

static int is_zero_id(const char *id)
{
    return !id || !*id || strspn(id, "0") == strlen(id);
}

int ws_git_default_branch(char **out, const char *repo_path, struct ws_err *err)
{
    git_repository *repo = NULL;
    git_reference *head = NULL;
    const char *target;
    int error;
    *out = NULL;
    ws_err_clear(err);
    if ((error = open_repo(&repo, repo_path, err)) < 0)
        return error;
    /* In a clone HEAD is whatever is checked out (a CI job checks out the
       pushed branch): only origin's HEAD says which branch is the default. */
    if (git_reference_lookup(&head, repo, git_repository_is_bare(repo) ? "HEAD" : "refs/remotes/origin/HEAD") < 0 ||
        git_reference_type(head) != GIT_REFERENCE_SYMBOLIC ||
        !(target = git_reference_symbolic_target(head)))
        error = ws_err_set(err, WS_ENOTFOUND, "git: %s has no default branch (HEAD is detached)",
                           repo_path);
    else if (strncmp(target, "refs/remotes/origin/", 20) == 0) /* a CI clone */
        error = (*out = fmt("refs/heads/%s", target + 20)) ? 0
                                                            : ws_err_set(err, WS_ENOMEM, "out of memory");
    else if (!(*out = strdup(target)))
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
    git_reference_free(head);
    git_repository_free(repo);
    return error;
}

/* The commit a push's range starts from, as a hex id into `out`; "" when
 * there is none and everything counts as changed (*why says why). */
static int range_base(char out[41], const char **why, git_repository *repo, const char *repo_path,
                      const char *before, const git_oid *after, const char *base_rev,
                      struct ws_err *err)
{
    git_commit *old = NULL;
    git_oid mb;
    int error;
    out[0] = '\0';
    if (is_zero_id(before)) { /* a new branch: what it adds to the base branch */
        if (!base_rev || find_commit(&old, repo, repo_path, base_rev, NULL) < 0) {
            *why = "new branch and no base branch to compare with";
            return 0;
        }
    } else if (find_commit(&old, repo, repo_path, before, NULL) < 0) {
        *why = "the push's \"before\" commit is not in the repository";
        return 0;
    }
    if (git_oid_equal(git_commit_id(old), after)) {
        if (is_zero_id(before)) /* e.g. the first push of the default branch */
            *why = "a new ref with no commits of its own";
        else
            git_oid_tostr(out, 41, after);
        goto out;
    }
    error = git_merge_base(&mb, repo, git_commit_id(old), after);
    if (error == GIT_ENOTFOUND) {
        *why = "the pushed history shares no commit with the one before";
    } else if (error < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot find the merge base in %s", repo_path);
        git_commit_free(old);
        return error;
    } else {
        /* fast-forward: mb == before; force push or new branch: the merge base */
        git_oid_tostr(out, 41, &mb);
    }
out:
    git_commit_free(old);
    return 0;
}

static int merge_sorted(json_t *into, const json_t *more, struct ws_err *err);

int ws_git_push_paths(struct ws_git_push *out, const char *repo_path, const char *before,
                      const char *after, const char *base_rev, struct ws_err *err)
{
    git_repository *repo = NULL;
    git_commit *head = NULL;
    const char *why = NULL;
    char base[41];
    int error;

    memset(out, 0, sizeof(*out));
    ws_err_clear(err);
    if (is_zero_id(after))
        return ws_err_set(err, WS_EINVAL, "the push deletes the ref: nothing to sync");
    if ((error = open_repo(&repo, repo_path, err)) < 0)
        goto out;
    if ((error = find_commit(&head, repo, repo_path, after, err)) < 0)
        goto out; /* WS_ENOTFOUND: not fetched yet */
    out->created = is_zero_id(before);
    git_oid_tostr(out->after, 41, git_commit_id(head));
    if ((error = range_base(base, &why, repo, repo_path, before, git_commit_id(head), base_rev,
                            err)) < 0)
        goto out;
    if (!base[0]) {
        out->all = 1;
        out->why_all = why;
        goto out;
    }
    memcpy(out->base, base, sizeof(base));
    git_repository_free(repo);
    repo = NULL;
    if ((error = ws_git_changed_paths(&out->paths, repo_path, base, out->after, err)) < 0)
        goto out;
    /* A force push: what the dropped commits changed (base..before) is in the
       cluster but no longer in Git, so it changed too. */
    if (!out->created && strncmp(before, base, strlen(before)) != 0) {
        json_t *dropped = NULL;
        out->forced = 1;
        if ((error = ws_git_changed_paths(&dropped, repo_path, base, before, err)) < 0)
            goto out;
        error = merge_sorted(out->paths, dropped, err);
        json_decref(dropped);
    }
out:
    git_commit_free(head);
    git_repository_free(repo);
    return error;
}

/* Add to the sorted, unique array `into` the strings of `more` (sorted,
 * unique) it lacks, keeping it sorted. */
static int merge_sorted(json_t *into, const json_t *more, struct ws_err *err)
{
    json_t *merged = json_array();
    size_t i = 0, j = 0, n = json_array_size(into), m = json_array_size(more);
    if (!merged)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (i < n || j < m) {
        const char *a = i < n ? json_string_value(json_array_get(into, i)) : NULL;
        const char *b = j < m ? json_string_value(json_array_get(more, j)) : NULL;
        int c = !a ? 1 : !b ? -1 : strcmp(a, b);
        json_array_append(merged, json_array_get(c <= 0 ? into : more, c <= 0 ? i : j));
        i += c <= 0;
        j += c >= 0;
    }
    if (json_array_clear(into) < 0 || json_array_extend(into, merged) < 0) {
        json_decref(merged);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    json_decref(merged);
    return 0;
}

void ws_git_push_free(struct ws_git_push *p)
{
    json_decref(p->paths);
    p->paths = NULL;
}

int ws_git_remote_url(char **out, const char *repo_path, const char *remote, struct ws_err *err)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    git_buf buf = {0};
    char *key = fmt("remote.%s.url", remote);
    int error;
    *out = NULL;
    ws_err_clear(err);
    if (!key)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if ((error = open_repo(&repo, repo_path, err)) == 0) {
        if (git_repository_config_snapshot(&cfg, repo) < 0 || git_config_get_string_buf(&buf, cfg, key) < 0)
            error = ws_err_set(err, WS_ENOTFOUND, "git: %s has no %s", repo_path, key);
        else if (!(*out = strdup(buf.ptr)))
            error = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    git_buf_dispose(&buf);
    git_config_free(cfg);
    git_repository_free(repo);
    free(key);
    return error;
}

/* --- listing a tree and reading one file (ApplicationSet git generators) ------------ */

struct listing {
    json_t *dirs, *files;
    int nomem;
};

/* Folders (none under or named with a leading '.', as Argo CD lists them)
 * and regular files; links and submodules are not followed. */
static int list_entry(const char *root, const git_tree_entry *e, void *payload)
{
    struct listing *w = payload;
    const char *name = git_tree_entry_name(e);
    git_filemode_t mode = git_tree_entry_filemode(e);
    int hidden = root[0] == '.' || strstr(root, "/.") || name[0] == '.';
    json_t *into = mode == GIT_FILEMODE_TREE ? (hidden ? NULL : w->dirs)
                   : mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ? w->files
                                                                                       : NULL;
    char *path;
    if (!into)
        return 0;
    if (!(path = fmt("%s%s", root, name)) || json_array_append_new(into, json_string(path)) < 0) /* steals */
        w->nomem = 1;
    free(path);
    return w->nomem ? -1 : 0;
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Sort a JSON array of strings in place (jansson has no sort). */
static int sort_strings(json_t *arr)
{
    size_t n = json_array_size(arr), i;
    json_t **v = n ? calloc(n, sizeof(*v)) : NULL;
    if (n && !v)
        return WS_ENOMEM;
    for (i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), cmp_json_str);
    json_array_clear(arr);
    for (i = 0; i < n; i++)
        json_array_append_new(arr, v[i]); /* steals */
    free(v);
    return 0;
}

int ws_git_list_tree(json_t **out_dirs, json_t **out_files, const char *repo_path, const char *commit,
                     struct ws_err *err)
{
    struct at at;
    struct listing w = {json_array(), json_array(), 0};
    int error;
    *out_dirs = *out_files = NULL;
    if ((error = at_open(&at, repo_path, commit, err)) < 0)
        goto out;
    if (!w.dirs || !w.files) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if (git_tree_walk(at.root, GIT_TREEWALK_PRE, list_entry, &w) < 0) {
        error = w.nomem ? ws_err_set(err, WS_ENOMEM, "out of memory")
                        : lib_fail(err, WS_EIO, "git: cannot list the tree of %s", at.short_id);
        goto out;
    }
    if (sort_strings(w.dirs) < 0 || sort_strings(w.files) < 0) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    *out_dirs = w.dirs;
    *out_files = w.files;
    w.dirs = w.files = NULL;
out:
    json_decref(w.dirs);
    json_decref(w.files);
    at_close(&at);
    return error;
}

int ws_git_read_file(char **out, size_t *out_len, const char *repo_path, const char *commit, const char *path,
                     size_t max_bytes, struct ws_err *err)
{
    struct at at;
    git_tree_entry *e = NULL;
    git_blob *blob = NULL;
    size_t len;
    int error;
    *out = NULL;
    if ((error = at_open(&at, repo_path, commit, err)) < 0)
        goto out;
    if (git_tree_entry_bypath(&e, at.root, path) < 0 || git_blob_lookup(&blob, at.repo, git_tree_entry_id(e)) < 0) {
        error = ws_err_set(err, WS_ENOTFOUND, "%s at %s: cannot read", path, at.short_id);
        goto out;
    }
    if ((len = (size_t)git_blob_rawsize(blob)) > max_bytes) {
        error = ws_err_set(err, WS_ELIMIT, "%s at %s: larger than %zu bytes", path, at.short_id, max_bytes);
        goto out;
    }
    if (!(*out = malloc(len + 1))) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*out, git_blob_rawcontent(blob), len);
    (*out)[len] = '\0';
    *out_len = len;
out:
    git_blob_free(blob);
    git_tree_entry_free(e);
    at_close(&at);
    return error;
}

/* --- refs as a poll sees them (ls-remote) ------------------------------------ */

void ws_git_heads_free(struct ws_git_heads *h)
{
    if (!h)
        return;
    json_decref(h->refs);
    json_decref(h->tag_ids);
    free(h->head);
    memset(h, 0, sizeof(*h));
}

static int heads_init(struct ws_git_heads *out, struct ws_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!(out->refs = json_object()) || !(out->tag_ids = json_object())) {
        ws_git_heads_free(out);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    return 0;
}

/* Only branches and tags can be pushed to and tracked by a targetRevision. */
static int polled_ref(const char *name)
{
    return strncmp(name, "refs/heads/", 11) == 0 || strncmp(name, "refs/tags/", 10) == 0;
}

static int set_id(json_t *obj, const char *name, const git_oid *id)
{
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), id);
    return json_object_set_new(obj, name, json_string(hex)); /* steals */
}

/* An advertisement lists an annotated tag twice: "refs/tags/v2" (the tag
 * object) and "refs/tags/v2^{}" (what it points at). The second pass keeps
 * the peeled id, whatever order the server used. */
static int heads_from_ls(struct ws_git_heads *out, const git_remote_head **heads, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const char *name = heads[i]->name;
            size_t len = strlen(name);
            int peeled = len > 3 && strcmp(name + len - 3, "^{}") == 0;
            char *base;
            json_t *tag;
            if (!polled_ref(name) || peeled != pass)
                continue;
            if (!peeled) {
                if (set_id(out->refs, name, &heads[i]->oid) < 0)
                    return WS_ENOMEM;
                continue;
            }
            if (!(base = strndup(name, len - 3)))
                return WS_ENOMEM;
            if ((tag = json_object_get(out->refs, base)) != NULL &&
                (json_object_set(out->tag_ids, base, tag) < 0 || set_id(out->refs, base, &heads[i]->oid) < 0)) {
                free(base);
                return WS_ENOMEM;
            }
            free(base);
        }
    return 0;
}

/* The refs of a repository on disk, peeled as a server peels them. */
static int heads_from_repo(struct ws_git_heads *out, const char *path, struct ws_err *err)
{
    git_repository *repo = NULL;
    git_reference_iterator *it = NULL;
    git_reference *ref = NULL;
    struct ws_err ignored;
    int error;

    if ((error = open_repo(&repo, path, err)) < 0)
        return error;
    if (git_reference_iterator_new(&it, repo) < 0) {
        error = lib_fail(err, WS_EIO, "git: cannot list the refs of %s", path);
        goto out;
    }
    while ((error = git_reference_next(&ref, it)) == 0) {
        const char *name = git_reference_name(ref);
        git_reference *direct = NULL;
        git_object *obj = NULL;
        /* a dangling or broken ref is skipped: a fetch would not report it either */
        if (polled_ref(name) && git_reference_resolve(&direct, ref) == 0 &&
            git_reference_peel(&obj, direct, GIT_OBJECT_ANY) == 0) {
            if (set_id(out->refs, name, git_object_id(obj)) < 0 ||
                (!git_oid_equal(git_reference_target(direct), git_object_id(obj)) &&
                 set_id(out->tag_ids, name, git_reference_target(direct)) < 0))
                error = ws_err_set(err, WS_ENOMEM, "out of memory");
        }
        git_object_free(obj);
        git_reference_free(direct);
        git_reference_free(ref);
        ref = NULL;
        if (error < 0)
            goto out;
    }
    if (error != GIT_ITEROVER) {
        error = lib_fail(err, WS_EIO, "git: cannot list the refs of %s", path);
        goto out;
    }
    error = 0;
    if (ws_git_default_branch(&out->head, path, &ignored) < 0)
        out->head = NULL; /* a detached HEAD names no default branch */
out:
    git_reference_iterator_free(it);
    git_repository_free(repo);
    return error;
}

int ws_git_remote_heads(struct ws_git_heads *out, const char *url, const struct ws_git_creds *creds,
                        struct ws_err *err)
{
    git_remote *remote = NULL;
    git_remote_callbacks cbs;
    git_proxy_options proxy;
    const git_remote_head **heads = NULL;
    git_buf head = GIT_BUF_INIT;
    struct fetch_state st = { creds, 0, 0, 0 };
    char *shown = NULL, *secret = NULL;
    size_t n = 0;
    int error;

    ws_err_clear(err);
    if ((error = heads_init(out, err)) < 0)
        return error;
    if (!url || !*url) {
        error = ws_err_set(err, WS_EINVAL, "git: listing refs needs a URL");
        goto out;
    }
    if (local_for(url)) {
        error = heads_from_repo(out, local_for(url), err);
        goto out;
    }
    if (split_userinfo(&shown, &secret, url) < 0) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    /* Detached: no repository, so no configuration (and none of libgit2
       1.5's leaking insteadOf regexps, see ws_git_mirror_since). */
    if (git_remote_create_detached(&remote, url) < 0) {
        error = lib_fail(err, WS_EINVAL, "git: invalid URL %s", shown);
        goto out;
    }
    git_remote_init_callbacks(&cbs, GIT_REMOTE_CALLBACKS_VERSION);
    cbs.credentials = acquire_credential;
    cbs.payload = &st;
    git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
    proxy.type = GIT_PROXY_AUTO;
    if ((error = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cbs, &proxy, NULL)) < 0) {
        error = lib_fail(err, error == GIT_EAUTH ? WS_EAUTH : WS_ENET, "git: cannot list the refs of %s", shown);
        goto out;
    }
    if (git_remote_ls(&heads, &n, remote) < 0) {
        error = lib_fail(err, WS_ENET, "git: cannot list the refs of %s", shown);
        goto out;
    }
    if (heads_from_ls(out, heads, n) < 0) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    /* the HEAD symref when advertised; else libgit2 guesses from HEAD's id.
       An empty repository has none: no default branch, not an error. */
    if (git_remote_default_branch(&head, remote) == 0 && head.ptr && !(out->head = strdup(head.ptr))) {
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    git_remote_disconnect(remote);
    error = 0;
out:
    if (error < 0 && err) {
        scrub(err->msg, secret);
        scrub(err->msg, creds ? creds->password : NULL);
    }
    if (error < 0)
        ws_git_heads_free(out);
    git_buf_dispose(&head);
    git_remote_free(remote);
    free(secret);
    free(shown);
    return error;
}

int ws_git_mirror_heads(struct ws_git_heads *out, const char *cache_dir, const char *url,
                        struct ws_err *err)
{
    char *name = NULL, *path = NULL, *shown = NULL, *secret = NULL;
    struct stat st;
    int error;

    ws_err_clear(err);
    if ((error = heads_init(out, err)) < 0)
        return error;
    if (url && local_for(url))
        error = heads_from_repo(out, local_for(url), err);
    else if (!cache_dir || !*cache_dir || !url || !*url)
        error = ws_err_set(err, WS_EINVAL, "git: a mirror needs a cache folder and a URL");
    else if (split_userinfo(&shown, &secret, url) < 0 || !(name = mirror_name(url)) ||
        !(path = fmt("%s/%s", cache_dir, name)))
        error = ws_err_set(err, WS_ENOMEM, "out of memory");
    else if (stat(path, &st) < 0)
        error = ws_err_set(err, WS_ENOTFOUND, "git: no mirror of %s yet", shown);
    else
        error = heads_from_repo(out, path, err);
    if (error < 0)
        ws_git_heads_free(out);
    free(shown);
    free(secret);
    free(name);
    free(path);
    return error;
}
