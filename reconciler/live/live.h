/* live.h — the tracked live state of every application: one list+watch per
 * cluster and resource type, shared by all applications, filtered by
 * wavesync's tracking annotation; per object and per application, sync
 * status (live compared with what Git says, compare.h) and health (built-in
 * rules and Lua scripts). Nothing here writes to a cluster. Loop thread only. */
#ifndef WS_LIVE_H
#define WS_LIVE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "health/health.h"
#include "health/lua_health.h"
#include "kube/kube.h"
#include "sync/compare.h"

struct ws_live;

/* An application's sync status or health changed, or one of its objects
 * drifted (a field Git sets changed live, a managed object was deleted). */
typedef void (*ws_live_changed_cb)(const char *app, void *data);

/* ignoreDifferences for `app`: 1 = drop the difference at `pointer` of obj
 * (`manager` set when asking about a field that manager owns). */
typedef int (*ws_live_ignore_cb)(const char *app, const json_t *obj, const char *pointer, const char *manager,
                                 void *data);

struct ws_live_opts {
    uv_loop_t *loop;
    const char *manager;          /* wavesync's field manager ("wavesync") */
    struct ws_lua_health *lua;    /* custom health scripts; NULL = built-in rules only */
    ws_live_changed_cb changed;   /* may be NULL */
    ws_live_ignore_cb ignore;     /* may be NULL */
    void *data;                   /* for both callbacks */
};

/* Caller frees with ws_live_free. Strings and lua borrowed for its life. */
int ws_live_new(struct ws_live **out, const struct ws_live_opts *opts);

/* Stop every watch (no callback after this returns) and free. Safe with NULL. */
void ws_live_free(struct ws_live *l);

/* Follow `app` on the cluster behind `kube` (borrowed; must outlive the
 * tracking): `desired` (borrowed; objects as ws_sync_desired returns them)
 * is what Git says at `revision`. Replaces what was tracked for app before.
 * Starts the watches its resource types need; objects already seen are
 * compared at once. Returns 0 or WS_ENOMEM. */
int ws_live_track(struct ws_live *l, const char *app, struct ws_kube *kube, const json_t *desired,
                  const char *revision);

/* Stop following app (its objects become unknown to the API). */
void ws_live_forget(struct ws_live *l, const char *app);

struct ws_live_summary {
    int tracked;                  /* 0: nothing known yet (all below zero) */
    enum ws_sync_status sync;     /* Unknown while a watch has not listed or failed */
    enum ws_health_status health; /* the worst of its objects, as Argo CD rolls it up */
    size_t objects, outofsync, missing, extra;
    char revision[41];            /* what the comparison is against */
    char message[512];            /* one line: the first objects out of sync, or why Unknown */
};

/* Fill *out for app (zeroed when not tracked). */
void ws_live_summary(const struct ws_live *l, const char *app, struct ws_live_summary *out);

/* Is obj (an object of app about to be applied, carrying its tracking
 * annotation) already live as it says, by the comparison sync status uses
 * (ignoreDifferences included), and Healthy? 1 only when a watch of its
 * type has listed and the object is in it; 0 when it differs, is not
 * Healthy or cannot be told. */
int ws_live_unchanged(struct ws_live *l, const char *app, const json_t *obj);

/* Per object: [{group, version, kind, namespace, name, status, health: {status,
 * message}, diff: [{path, desired, live}…], requiresPruning}] — extra objects
 * (tracked live, gone from Git) with requiresPruning true. A new array, or
 * NULL when app is not tracked. */
json_t *ws_live_resources(const struct ws_live *l, const char *app);

/* Counters for /metrics. */
struct ws_live_stats {
    size_t watches, watches_failed, objects, apps;
    uint64_t events, drifts;
};
void ws_live_stats(const struct ws_live *l, struct ws_live_stats *out);

#endif
