/* plan.h — the order of a sync, as Argo CD computes it: phase (PreSync, Sync,
 * PostSync; SyncFail only on failure) → wave → kind order → name. Hooks and
 * their delete policies, per-object sync options, and per-wave timeouts are
 * read from the objects' annotations here. Pure: no I/O, table-tested. */
#ifndef WS_PLAN_H
#define WS_PLAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "source/sync_options.h"

#define WS_PHASES(X)                    \
    X(WS_PHASE_PRESYNC, "PreSync")      \
    X(WS_PHASE_SYNC, "Sync")            \
    X(WS_PHASE_POSTSYNC, "PostSync")    \
    X(WS_PHASE_SYNCFAIL, "SyncFail")

enum ws_phase {
#define WS_X(name, text) name,
    WS_PHASES(WS_X)
#undef WS_X
    WS_PHASE_COUNT
};

const char *ws_phase_str(enum ws_phase p);

/* Hook delete policies (argocd.argoproj.io/hook-delete-policy, or Helm's). */
#define WS_HOOK_DELETE_BEFORE_CREATION 0x1 /* BeforeHookCreation: the default */
#define WS_HOOK_DELETE_SUCCEEDED 0x2       /* HookSucceeded */
#define WS_HOOK_DELETE_FAILED 0x4          /* HookFailed */

struct ws_plan_item {
    json_t *obj;             /* owned reference; namespace filled in for namespaced kinds */
    char ident[512];         /* "apps/v1 Deployment ml/server" (generateName + "*" for hooks without a name) */
    enum ws_phase phase;
    int wave;
    int is_hook;
    int is_child;            /* an argoproj.io Application or ApplicationSet: app of apps, synced by the
                                caller in its wave (sync.h sync_child), never applied */
    unsigned hook_delete;    /* WS_HOOK_DELETE_* (hooks only) */
    unsigned options;        /* WS_OPT_* from the object's annotation */
    uint64_t wave_timeout_ms; /* wavesync.dev/wave-timeout on this object; 0 if absent */
    int kind_rank;           /* position in Argo CD's kind order; custom resources last */
    size_t input_index;      /* index in the input array */
};

/* A run of consecutive items sharing phase and wave. */
struct ws_plan_wave {
    enum ws_phase phase;
    int wave;
    size_t first, count;     /* items[first .. first+count) */
    uint64_t timeout_ms;     /* largest wave_timeout_ms of its items; 0 = use the default */
};

struct ws_plan {
    struct ws_plan_item *items; /* sorted */
    size_t nitems;
    struct ws_plan_wave *waves;
    size_t nwaves;
    size_t nskipped;         /* objects in no sync phase, not applied: hook "Skip", Argo CD
                              * PreDelete/PostDelete hooks, Helm hooks Argo CD does not
                              * run (test, pre/post-delete, pre/post-rollback) */
};

/* Build the plan for `objects` (a JSON array of manifests; borrowed and never
 * modified: items hold a reference to the input object, or to a deep copy when
 * the namespace had to be filled in). `default_ns` (may be NULL) is set on
 * namespaced objects without metadata.namespace. "Namespaced" is answered by
 * `is_namespaced` (e.g. from discovery: >0 namespaced, 0 cluster-scoped, <0
 * unknown; may be NULL), else by a CustomResourceDefinition in `objects`
 * (spec.scope), else every kind except the well-known cluster-scoped ones is
 * namespaced. Errors (no apiVersion/kind, no name, bad wave number, bad hook
 * type, bad delete policy, bad duration, bad sync option, a non-string
 * annotation) name the object; on error *out is empty. Caller frees with
 * ws_plan_free (safe on an empty plan). */
typedef int (*ws_plan_scope_fn)(const char *api_version, const char *kind, void *data);
int ws_plan_build(struct ws_plan *out, const json_t *objects, const char *default_ns,
                  ws_plan_scope_fn is_namespaced, void *scope_data, struct ws_err *err);
void ws_plan_free(struct ws_plan *p);

/* Argo CD's kind order rank for a kind (0 = Namespace …); kinds outside the
 * list (custom resources) rank after all of them. */
int ws_plan_kind_rank(const char *kind);

#endif
