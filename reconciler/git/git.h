/* git.h — libgit2: local mirrors of remote repositories, revision resolution,
 * reading manifests straight from the object database at a commit (no
 * checkout), exporting a tree for external renderers, and tree-to-tree diffs.
 *
 * Every function here BLOCKS (network, disk): call them from worker threads
 * (uv_queue_work) or before the loop starts, never on the loop thread. Each
 * call opens and frees its own git_repository, so calls may run concurrently
 * on different threads. */
#ifndef WS_GIT_H
#define WS_GIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/tmptree.h" /* ws_tmptree, ws_rmtree */

/* libgit2 global setup; call once at startup / shutdown. */
int ws_git_init(void);
void ws_git_shutdown(void);

struct ws_git_creds {
    const char *username; /* for https: user (or "x-access-token"); for ssh: the user in the URL wins */
    const char *password; /* https password/token; never logged */
};

/* Make `url`'s local bare mirror under `cache_dir` exist and be current:
 * clone it the first time, fetch every branch and tag (pruning deleted refs)
 * afterwards. The mirror's folder is derived from the normalised URL.
 * *out_path (caller frees) is the mirror's path. Errors name the URL (never
 * the credentials) and are WS_ENET when the remote cannot be reached. */
int ws_git_mirror(char **out_path, const char *cache_dir, const char *url,
                  const struct ws_git_creds *creds, struct ws_err *err);

/* The same, but when the mirror was already fetched at or after `since`
 * (Unix milliseconds; 0 = always fetch) it is used as it is: a one-shot run that
 * read its Applications a moment ago does not fetch again for every
 * application. Nor when `want` (NULL, or a revision the caller needs) is a
 * full commit id the mirror already has: a commit never changes. */
int ws_git_mirror_since(char **out_path, const char *cache_dir, const char *url,
                        const struct ws_git_creds *creds, int64_t since, const char *want, struct ws_err *err);

/* The branches and tags of a repository, as a poll compares them. */
struct ws_git_heads {
    json_t *refs;    /* {"refs/heads/main": "<40 hex>", "refs/tags/v1": "<40 hex>"}: only
                        refs/heads/ and refs/tags/; an annotated tag peeled to what it
                        points at (the commit) */
    json_t *tag_ids; /* {"refs/tags/v2": "<40 hex of the tag object>"} for annotated tags
                        (a webhook reports that id for a tag push) */
    char *head;      /* the default branch HEAD points at ("refs/heads/main"), or NULL
                        when the repository does not say */
};

/* List what `url` advertises without fetching anything (a `git ls-remote`):
 * one connection, with the credentials, proxy and TLS settings ws_git_mirror
 * uses; nothing is written to disk. A local repository standing in for `url`
 * (ws_git_set_local) is read instead. The default branch is the remote's HEAD
 * symref when advertised, else libgit2's guess from HEAD's commit. Errors name
 * the URL without user info and never contain the credentials: WS_EAUTH when
 * the remote refused them, WS_ENET when it cannot be reached. Caller frees
 * *out with ws_git_heads_free; after an error it is empty. */
int ws_git_remote_heads(struct ws_git_heads *out, const char *url, const struct ws_git_creds *creds,
                        struct ws_err *err);

/* The same refs of `url`'s mirror under `cache_dir` as it is now (no fetch);
 * WS_ENOTFOUND when there is no mirror yet. */
int ws_git_mirror_heads(struct ws_git_heads *out, const char *cache_dir, const char *url,
                        struct ws_err *err);

/* NULL-tolerant; leaves *h empty. */
void ws_git_heads_free(struct ws_git_heads *h);

/* Resolve a revision in the repository at `repo_path` (bare or not) to a
 * full commit id: "" or "HEAD" (the default branch: HEAD of the mirror),
 * a branch (refs/heads/X, or refs/remotes/origin/X in a non-bare clone),
 * a tag (annotated or light), a full or abbreviated commit id. */
int ws_git_resolve(char out[41], const char *repo_path, const char *revision,
                   struct ws_err *err);

struct ws_git_file {
    char *path; /* repository-relative */
    char *data; /* contents, NUL-terminated */
    size_t len;
};

struct ws_git_files {
    struct ws_git_file *v;
    size_t n;
    size_t others; /* files met but not read (other names, include/exclude), hidden ones not counted */
};

void ws_git_files_free(struct ws_git_files *f);

/* Read the manifest files (*.yaml, *.yml, *.json) under `dir` at `commit`,
 * sorted by path, recursing into sub-folders when `recurse`. `include` and
 * `exclude` are Argo CD directory globs matched against the path relative to
 * `dir` ("*.yaml", "{a.yaml,b.json}"; NULL = no filter). Symlinks are
 * followed inside the tree; one that points outside the repository (or a
 * `dir` that does) is an error naming it. `max_bytes` bounds the total read. */
int ws_git_read_dir(struct ws_git_files *out, const char *repo_path, const char *commit,
                    const char *dir, int recurse, const char *include, const char *exclude,
                    size_t max_bytes, struct ws_err *err);

/* The same for a directory source: *.jsonnet files are read too (*.libsonnet
 * only as imports, as Argo CD), and `others` counts what was not read, so
 * that a folder of files nothing renders can be told from an empty one. */
int ws_git_read_source_dir(struct ws_git_files *out, const char *repo_path, const char *commit,
                           const char *dir, int recurse, const char *include, const char *exclude,
                           size_t max_bytes, struct ws_err *err);

/* Does `path` exist at `commit` and what is it: 0 missing, 1 file, 2 folder. */
int ws_git_path_type(const char *repo_path, const char *commit, const char *path,
                     struct ws_err *err);

/* Write the whole tree at `commit` into a new temporary folder under
 * `tmp_root` (for kustomize/helm, which need files), named
 * WS_GIT_EXPORT_PREFIX… and locked while *out lives (base/tmptree.h): the
 * caller removes it with ws_tmptree_remove on every path, and a tree left by
 * a killed wavesync is removed by ws_tmptree_sweep(tmp_root,
 * WS_GIT_EXPORT_PREFIX). Symlinks escaping the tree are an error. */
#define WS_GIT_EXPORT_PREFIX "wavesync-export-"
int ws_git_export(struct ws_tmptree *out, const char *repo_path, const char *commit, const char *tmp_root,
                  struct ws_err *err);

/* Paths changed between two commits (added, modified, deleted, both sides of
 * renames), as a JSON array of strings. `before` NULL or all zeros diffs from
 * the empty tree. */
int ws_git_changed_paths(json_t **out, const char *repo_path, const char *before,
                         const char *after, struct ws_err *err);

/* What a push changed, for routing. */
struct ws_git_push {
    char after[41];   /* the pushed commit, resolved */
    char base[41];    /* the commit the range starts from ("" with all) */
    json_t *paths;    /* changed paths, sorted (NULL with all); free with ws_git_push_free */
    int all;          /* no usable base: treat every path as changed */
    int created;      /* the push created the ref (before all zeros) */
    int forced;       /* a force push: paths also holds what the dropped commits changed */
    const char *why_all; /* static text saying why, with all */
};

/* The paths a push of `before`→`after` changed: before..after for a
 * fast-forward; for a force push, from the merge base to `after` and to
 * `before` (what the dropped commits changed differs from Git now); for a new branch
 * (`before` all zeros) from its merge base with `base_rev` (the default
 * branch). Without a usable base (`before` unknown, unrelated histories, no
 * base branch, a new ref at the base branch's own commit) `all` is set. WS_ENOTFOUND when `after` is not in the
 * repository yet (a lagging mirror: fetch and retry); WS_EINVAL for a
 * deletion (after all zeros). */
int ws_git_push_paths(struct ws_git_push *out, const char *repo_path, const char *before,
                      const char *after, const char *base_rev, struct ws_err *err);
void ws_git_push_free(struct ws_git_push *p);

/* The default branch of a repository: the full ref HEAD points at
 * ("refs/heads/main"; a clone's refs/remotes/origin/X maps to refs/heads/X).
 * Caller frees. */
int ws_git_default_branch(char **out, const char *repo_path, struct ws_err *err);

/* The URL of `remote` ("origin") in the repository at repo_path. Caller frees. */
int ws_git_remote_url(char **out, const char *repo_path, const char *remote, struct ws_err *err);

/* Let the local repository at `path` stand in for `url` (matched after
 * ws_git_url_normalize): ws_git_mirror* return `path` without fetching. For
 * CI mode and git hooks, where the pushed repository is already on disk.
 * Call before any worker thread starts. ws_git_clear_locals frees them. */
int ws_git_set_local(const char *url, const char *path);
void ws_git_clear_locals(void);

/* Every folder (none hidden: no path component starting with '.') and every
 * regular file at `commit`, as sorted JSON arrays of repository-relative
 * paths (caller decrefs both); links and submodules are not followed. */
int ws_git_list_tree(json_t **out_dirs, json_t **out_files, const char *repo_path, const char *commit,
                     struct ws_err *err);

/* One file at `commit`, NUL-terminated (caller frees); WS_ELIMIT beyond
 * max_bytes, WS_ENOTFOUND when it is not a file there. */
int ws_git_read_file(char **out, size_t *out_len, const char *repo_path, const char *commit, const char *path,
                     size_t max_bytes, struct ws_err *err);

#endif
