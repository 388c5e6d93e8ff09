/* push.h — a push (repository, ref, before → after) → the applications it
 * affects: the Argo CD rules (source path, manifest-generate-paths, the
 * Application's own file) matched against the paths the push changed, and
 * the ref matched against each source's targetRevision. Pure: the changed
 * paths come from git (ws_git_push_paths, on a worker thread). The service
 * and `wavesync sync --before/--after` share it, so they route alike. */
#ifndef WS_PUSH_H
#define WS_PUSH_H

#include <stddef.h>

#include "source/catalog.h"
#include "config/config.h"
#include "git/git.h"

struct ws_push_index;

/* Index every application of `cat` by repository. Borrowed: cfg and cat
 * must outlive the index. Caller frees with ws_push_index_free. */
int ws_push_index_build(struct ws_push_index **out, const struct ws_config *cfg,
                        const struct ws_catalog *cat, struct ws_err *err);
void ws_push_index_free(struct ws_push_index *ix);

/* Does a push of `ref` (full: "refs/heads/main", "refs/tags/v1") track
 * `target_revision`? "" and "HEAD" mean the default branch (`default_branch`,
 * a full ref; NULL = unknown, then only "main"/"master" count); a branch or
 * tag name matches refs/heads/X or refs/tags/X; a full ref matches itself; a
 * commit id never matches (it does not move). */
int ws_push_ref_tracks(const char *target_revision, const char *ref, const char *default_branch);

/* Would anything consider a push to `ref` of `repo`: an application source
 * or an applications folder tracking it? Cheap, for answering a webhook
 * before fetching. */
int ws_push_interesting(const struct ws_push_index *ix, const struct ws_repo *repo, const char *ref,
                        const char *default_branch);

/* Did the push change a file in an applications folder read from this
 * repository and ref, or anything an ApplicationSet's git generator reads
 * there (the catalog must be read again before routing)? */
int ws_push_defs_changed(const struct ws_push_index *ix, const struct ws_repo *repo, const char *ref,
                         const char *default_branch, const struct ws_git_push *changes);

struct ws_push_target {
    size_t app;            /* index in the catalog */
    int pinned;            /* sync at the pushed commit (its one source is this repository and ref);
                              otherwise at its targetRevision as written */
};

/* The affected applications, in catalog order: a rule matched a changed
 * path and the ref tracks the source (or, for the Application's own file, the
 * applications folder); when the push created the ref, also every application
 * naming that ref explicitly (it never synced from it). *out (caller frees with free()). */
int ws_push_match(struct ws_push_target **out, size_t *nout, const struct ws_push_index *ix,
                  const struct ws_repo *repo, const char *ref, const char *default_branch,
                  const struct ws_git_push *changes, struct ws_err *err);

#endif
