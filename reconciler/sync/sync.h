/* sync.h — the per-application sync run: render → validate → plan → waves
 * (apply every object of a wave concurrently, then wait — driven by watch
 * events — until all are Healthy, within the wave's deadline) → prune →
 * inventory → report. Hooks run in their phases; SyncFail hooks on failure.
 * Runs on the libuv loop; rendering (libgit2, external tools) goes to a
 * worker thread. The CLI and the service drive the same engine. */
#ifndef WS_SYNC_H
#define WS_SYNC_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "source/app.h"
#include "config/config.h"
#include "kube/kube.h"
#include "health/lua_health.h"

struct ws_sync;

struct ws_sync_opts {
    const char *revision;      /* overrides every source's targetRevision; NULL = as written */
    int prune;                 /* allow prune even without syncPolicy.automated.prune */
    int dry_run;               /* server-side dry run: report changes, change nothing */
    int force_conflicts;       /* take back fields another manager changed (selfHeal reverting
                                  drift); otherwise a conflict fails the object */
    int plan_only;             /* render, validate and plan, then end: what Git says, for live
                                  state (ws_sync_desired), with nothing sent but discovery */
    uint64_t wave_timeout_ms;  /* base deadline per wave (app and object annotations override) */
    uint64_t sync_timeout_ms;  /* bound on the whole run; 0 = none */
    const char *state_dir;     /* mirrors and temporary trees live here */
    const char *inventory_namespace;
    const struct ws_config *config; /* repository credentials by URL; may be NULL */
    int64_t fetched_since;     /* mirrors fetched at or after this Unix time (ms) are not fetched
                                  again (a one-shot run's snapshot); 0 = always fetch */
    struct ws_lua_health *lua_health; /* custom health checks (wavesync.yaml health:); NULL = built-in only */
    /* An object that is already live as this sync would apply it (the
     * comparison of compare.h, ignoreDifferences included) and Healthy is
     * neither dry-run nor applied: its result is "Unchanged". How that is
     * known: live_unchanged when set (the service's watches; 1 = unchanged,
     * 0 = apply it), else one list per resource type and namespace before
     * the preflight. */
    int (*live_unchanged)(const json_t *obj, void *data);
    void *live_data;
    int apply_all;             /* apply every object, unchanged or not */
    /* App of apps: an argoproj.io Application or ApplicationSet among the
     * objects is never applied. In its wave, sync_child(s, kind, name,
     * child_data, err) asks the caller to sync that Application (for an
     * ApplicationSet: every Application it generates); the caller answers
     * with ws_sync_child_done, and the object is Healthy when the child's
     * sync succeeded — so children of wave N are synced before wave N+1
     * starts, as Argo CD orders child Applications by health. A negative
     * return (message in err) fails the object; 1 (the reason in err's
     * message): nothing to sync — a manual child, which a parent does not
     * sync, as in Argo CD — the object is done ("Skipped"). NULL sync_child:
     * such an object fails its wave. */
    int (*sync_child)(struct ws_sync *s, const char *kind, const char *name, void *data, struct ws_err *err);
    /* Structured progress, for live views (the service's event stream):
     * "wave" when a wave starts ({phase, wave, objects, startedMs, timeoutMs,
     * result: "Running"}) and when it ends (its report entry: result,
     * durationMs, waitedOn); "object" when an object is applied, Healthy or
     * Failed (its report entry with "state" and "atMs"). `ev` is borrowed for
     * the call; NULL event: none. Loop thread. */
    void (*event)(const struct ws_sync *s, const char *type, const json_t *ev, void *data);
    void *event_data;
    /* A child Application that left Git, pruned (prune allowed) with the
     * resources-finalizer.argocd.argoproj.io finalizer it had: the caller
     * deletes what that child applied (ws_sync_removal_app), then calls
     * ws_sync_child_pruned. Without the finalizer its resources stay, as in
     * Argo CD. NULL: such children are kept and reported. */
    int (*prune_child)(struct ws_sync *s, const json_t *ref, void *data, struct ws_err *err);
    void *child_data;
    /* Fencing, for replicas sharing a store: asked before every phase that
     * writes (each wave, the prune) whether this process may still write
     * for the run; 0 (the reason in `why`) stops the run there, canceled with
     * that message, nothing more written and no SyncFail hook run (the run
     * is another replica's now). NULL: always. */
    int (*may_write)(void *data, char *why, size_t len);
    void *may_write_data;
};

/* Is obj an argoproj.io Application or ApplicationSet (app of apps)? */
int ws_sync_is_child(const json_t *obj);

/* Progress (called on the loop thread at every change worth showing). */
typedef void (*ws_sync_progress_cb)(const struct ws_sync *s, const char *line, void *data);

/* Called once when the run ends. `report` (borrowed for the callback) is the
 * run's record: application, revision, result ("Succeeded", "Failed",
 * "Error"), message, durations, per-wave and per-object results (see
 * README "Reports"). `code` is 0, or the WS_E* class of the failure:
 * WS_EINVAL/WS_ECONFIG/WS_EPARSE/WS_ENOTFOUND (bad input: nothing applied),
 * WS_ENET/WS_EAUTH (cannot reach git or the cluster), anything else a failed
 * sync. */
typedef void (*ws_sync_done_cb)(struct ws_sync *s, int code, json_t *report, void *data);

/* Start syncing `app` to the cluster behind `kube`. The app and opts strings
 * must stay valid until the done callback. The run frees itself after the
 * done callback returns. */
int ws_sync_start(struct ws_sync **out, uv_loop_t *loop, struct ws_kube *kube,
                  const struct ws_app *app, const struct ws_sync_opts *opts,
                  ws_sync_progress_cb progress, ws_sync_done_cb done, void *data,
                  struct ws_err *err);

/* One line on where the run is, for live progress: "wave Sync 3: 2/4
 * healthy; waiting on apps/v1 Deployment ml/x: Progressing: …". */
void ws_sync_status_line(const struct ws_sync *s, char *buf, size_t len);
const char *ws_sync_app_name(const struct ws_sync *s);

/* What Git says the application's objects are, as a sync applies them:
 * every planned object that is not a hook, namespace filled in and the
 * tracking annotation set. A new array (caller decrefs), or NULL before the
 * plan is made; valid to call from the done callback. */
json_t *ws_sync_desired(const struct ws_sync *s);

/* The child `name` that sync_child started has ended: ok, or failed with
 * `message`. Call on the loop thread, only while `s` runs (its done
 * callback has not been called); a name that is not waited for is ignored. */
void ws_sync_child_done(struct ws_sync *s, const char *name, int ok, const char *message);

/* The prune_child that was asked for has ended. */
void ws_sync_child_pruned(struct ws_sync *s, int ok, const char *message);

/* An Application that deletes everything the child in `ref` (a parent's
 * inventory entry) applied: no sources, its destination, prune on. Caller
 * frees with ws_app_free() and free(). NULL when out of memory. */
struct ws_app *ws_sync_removal_app(const json_t *ref);

/* Cancel a running sync: in-flight requests are dropped, the report says
 * "Canceled", the done callback still runs (later, from the loop). */
void ws_sync_cancel(struct ws_sync *s);

/* Remove the temporary trees (exports for helm and kustomize, in
 * state_dir/tmp) that wavesync processes which are gone left behind; those
 * of running ones stay. Blocking: call at startup. Returns how many were
 * removed, or a negative code. */
int ws_sync_sweep_tmp(const char *state_dir);

/* Render only (worker thread inside): the application's manifests at its
 * revision, for `wavesync render` and `plan`. The callback gets an array of
 * objects, or an error. */
typedef void (*ws_render_done_cb)(int code, const struct ws_err *err, json_t *objects,
                                  const char *commit, void *data);
int ws_sync_render(uv_loop_t *loop, const struct ws_app *app, const struct ws_sync_opts *opts,
                   ws_render_done_cb done, void *data);

#endif
