/* sync_int.h — internals shared by the files of the sync engine (sync.c:
 * stages and waves; sync_checks.c: preflight and dry run; sync_prune.c:
 * prune). Not an API. */
#ifndef WS_SYNC_INT_H
#define WS_SYNC_INT_H

#include <uv.h>

#include "health/health.h"
#include "sync/plan.h"
#include "sync/sync.h"
#include "base/util.h"

#define STAGES(X)                          \
    X(ST_RENDER, "render")                 \
    X(ST_VALIDATE, "validate")             \
    X(ST_PLAN, "plan")                     \
    X(ST_PREFLIGHT, "preflight")           \
    X(ST_INVENTORY_PRE, "inventory-before") \
    X(ST_NAMESPACE, "namespace")           \
    X(ST_WAVES, "waves")                   \
    X(ST_SYNCFAIL, "syncfail-hooks")       \
    X(ST_PRUNE, "prune")                   \
    X(ST_INVENTORY_POST, "inventory-after") \
    X(ST_DONE, "done")

enum stage {
#define WS_X(name, text) name,
    STAGES(WS_X)
#undef WS_X
};


struct item;

/* dry run of one object: its live state, then a server-side dry-run apply */
struct dry_ctx {
    struct item *it;
    json_t *live;
};

enum item_state { IT_PENDING, IT_DELETING, IT_APPLYING, IT_WAITING, IT_HEALTHY, IT_FAILED };

struct item {
    struct ws_sync *s;
    size_t idx;                 /* index into s->plan.items */
    char name[254];             /* the object's name (a generateName hook learns it on create) */
    enum item_state state;
    json_t *live;               /* last live object seen */
    json_t *pods;               /* the Pods of a Job, by name */
    struct ws_health health;
    struct ws_kube_req *req;
    struct ws_kube_watch *watch, *pod_watch;
    uv_timer_t *recheck;        /* the verdict may change with time alone (an SLA running out) */
    uint64_t applied_ms, healthy_ms; /* since the run started */
    int recreated;              /* Force=true: deleted once after an immutable-field error */
    int gone_seen;              /* waiting for deletion: the object was listed */
    int done;                   /* counted towards the wave */
    int unchanged;              /* live already as Git says, and Healthy: nothing to send */
    const char *result;         /* "Synced", "Failed", "Created", "Configured", "Unchanged" */
    json_t *changes;            /* dry run: fields that would change */
    json_t *apply_obj;          /* RespectIgnoreDifferences: what is applied (ignored fields at their
                                   live values), or NULL: the plan's object as Git has it */
    int step_pending;           /* a request of this item is counted in s->outstanding */
    struct dry_ctx *dry;        /* dry run: the comparison in progress */
    char *message;              /* why it failed (owned; NULL: nothing to say): ws__sync_item_say */
};

struct ws_sync {
    uv_loop_t *loop;
    struct ws_kube *kube;
    const struct ws_app *app;
    struct ws_sync_opts opts;
    ws_sync_progress_cb progress;
    ws_sync_done_cb done_cb;
    void *data;
    enum stage stage;
    uint64_t t0;                /* ws_now_ms() at start */
    char commit[41];
    char tracking_app[300];
    json_t *objects;            /* rendered manifests */
    json_t *crd_kinds;          /* "group/Kind" defined by CRDs among them */
    struct ws_plan plan;
    int planned;
    struct item *items;
    json_t *inventory_old;      /* refs stored before this run */
    json_t *planned_refs;       /* refs of this run's non-hook objects */
    json_t *kept_refs;          /* objects gone from Git but not pruned (prune off, Prune=false) */
    json_t *pruned;             /* report entries */
    json_t *prune_queue;        /* refs still to prune, in order */
    json_t *prune_last;         /* PruneLast=true objects, pruned after the rest */
    int pruning_last;
    size_t prune_next;
    struct ws_kube_req *prune_req; /* the prune step's request in flight */
    int child_pruning;          /* opts.prune_child is removing a child (app of apps) */
    size_t outstanding;         /* requests of the current step */
    /* waves */
    size_t wave_idx;
    size_t wave_pending;
    int wave_failures;          /* SyncFail hooks of the current wave that failed */
    uint64_t wave_started_ms, wave_timeout_ms;
    uint64_t last_healthy_ns; /* uv_hrtime() when the previous wave became Healthy */
    int wave_first_apply_seen;
    uv_timer_t *wave_timer, *sync_timer;
    json_t *waves_report;
    /* outcome */
    int code;
    int failed, canceled, finishing;
    char message[4096];
    struct ws_err err;
    json_t *report;
};


static inline uint64_t ws__sync_elapsed(const struct ws_sync *s)
{
    return ws_now_ms() - s->t0;
}

static inline const struct ws_plan_item *ws__sync_pitem(const struct item *it)
{
    return &it->s->plan.items[it->idx];
}

static inline struct ws_kube_ref ws__sync_item_ref(const struct item *it)
{
    struct ws_kube_ref ref = ws_kube_ref_of(ws__sync_pitem(it)->obj);
    ref.name = it->name;
    return ref;
}

/* Progress line (format like printf). */
void ws__sync_say(struct ws_sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The run failed (the first failure wins); see sync.c. */
void ws__sync_fail(struct ws_sync *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* opts.may_write says no: the run is canceled with its reason (1), else 0. */
int ws__sync_fenced(struct ws_sync *s, const char *before);
/* One request of the current step is done; the last one moves the stage on. */
void ws__sync_step_done(struct ws_sync *s);
/* The one place the stage moves forward. */
void ws__sync_advance(struct ws_sync *s);
/* Is obj's kind defined by a CRD of this application (so unknown until it is applied)? */
int ws__sync_defined_here(const struct ws_sync *s, const json_t *obj);
/* Will the sync delete and recreate this object when an immutable field
 * changed? Force=true on the object or the Application, or a hook with
 * BeforeHookCreation (deleted before it is created anyway). */
int ws__sync_will_recreate(const struct item *it);
/* A 422 for an immutable field. */
int ws__sync_immutable_error(const struct ws_kube_result *res);
/* Stop an item's requests and watches (no callbacks after). */
void ws__sync_item_quiesce(struct item *it);
/* Replace the item's message (format like printf; kept whole, since it may
 * carry a health script's message as the script wrote it). */
void ws__sync_item_say(struct item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Does this object's apply keep its ignored fields (spec.ignoreDifferences)
 * at their live values (RespectIgnoreDifferences=true)? */
int ws__sync_respects_ignore(const struct item *it);
/* The object to apply, given the live one (NULL: it does not exist yet): the
 * plan's object, or with RespectIgnoreDifferences a copy whose ignored fields
 * keep their live values (*kept, if not NULL: how many differed from Git's).
 * A new reference; NULL on ENOMEM. */
json_t *ws__sync_desired(struct item *it, const json_t *live, int *kept);

/* ws_kube_apply flags for an object with these sync options (Validate=false)
 * in this run (force_conflicts for a self-heal). */
unsigned ws__sync_apply_flags(const struct ws_sync *s, unsigned options);

/* sync_checks.c */
/* Which objects are already live as Git says, and Healthy (item.unchanged):
 * from opts.live_unchanged, or one list per resource type and namespace. */
void ws__sync_observe(struct ws_sync *s);
void ws__sync_dry_run(struct ws_sync *s);
void ws__sync_preflight(struct ws_sync *s);
/* sync_prune.c */
void ws__sync_prune(struct ws_sync *s);

#endif
