/* serve_int.h — what serve.c (the service: routing, queue, runs) and api.c
 * (its HTTP face: webhooks, REST API, metrics) share. Loop thread only. */
#ifndef WS_SERVE_INT_H
#define WS_SERVE_INT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "source/catalog.h"
#include "sync/clusters.h"
#include "config/config.h"
#include "serve/httpd.h"
#include "live/live.h"
#include "source/push.h"
#include "serve/status.h"
#include "serve/store.h"
#include "sync/sync.h"

/* The Applications and their routing index at one point in time. Runs keep
 * the snapshot they started with alive after a newer one replaced it. */
struct snapshot {
    int refs;
    struct ws_catalog cat;
    struct ws_push_index *ix;
    char *read_for;       /* "<repo>\n<ref>\n<commit>": the push it was read again for, or NULL */
};

struct job;
struct plan_job;

struct app_state {
    char *name;
    int pending;          /* a run is waiting in the store */
    int starting;         /* ws_store_run_start in flight */
    struct job *running;
    int64_t busy_elsewhere; /* the run another replica has of it (0: none known) */
    int seen_pending, seen_awaiting; /* replicas.c: in the shared store at the last refresh */
    int64_t last_run;
    int attempts;         /* failed runs in a row, for syncPolicy.retry */
    uv_timer_t *retry;    /* the next retry, when one is waiting */
    char *retry_revision;
    char last_result[16];
    char last_revision[41];
    int64_t last_finished_at;  /* wall-clock seconds the last run ended (0: none) */
    /* selfHeal (tracking.c) */
    int heal_attempts;         /* in a row, without a calm Synced spell between them */
    uint64_t heals;            /* self-heal syncs queued since the start */
    uv_timer_t *heal_timer;    /* the next attempt, while backing off */
    uint64_t heal_due_ms, synced_since_ms;
    uint64_t last_success_ms;  /* when a run last succeeded (ws_now_ms) */
    char heal_message[768];    /* "self-heal backing off: …" while it does */
    char track_error[512];     /* why its live state cannot be followed ("" = it can) */
    /* manual sync policy: a push made it OutOfSync at this commit ("" = none) */
    char awaiting_revision[41];
    int ev_sync, ev_health;    /* live summary last published as an event (-1: none yet) */
    /* live state (tracking.c): followed here — always on SQLite; with
       several replicas, while this replica holds the lease of the
       application's cluster — else as the replica following it last wrote
       it to the store (`shared`, NULL until read) */
    int watching;
    int live_dirty;            /* changed since it was last written to the store */
    struct shared_live *shared;
    int64_t awaiting_trigger;
    int64_t awaiting_since; /* wall-clock seconds */
};

/* A trigger waiting to be routed (per repository, in arrival order). */
struct trig {
    struct trig *next;
    int64_t id;
    char *ref, *before, *after, *default_branch;
    json_t *extra;        /* {fullName, projectId} for commit statuses */
    uint64_t first_try_ms;
    int attempts;
};

struct repo_queue {
    struct trig *head, **tail;
    int busy;             /* a routing job is running */
    uv_timer_t *retry;    /* backoff while a pushed commit is not fetchable yet */
    int64_t last_fetch;   /* wall-clock millisecond the last routing fetch began */
    char *default_branch; /* "refs/heads/main" as the last routing found it, or NULL */
};

#define HIST_BUCKETS 12
struct hist {
    uint64_t counts[HIST_BUCKETS + 1];
    double sum;
    uint64_t n;
};

struct bucket { char remote[64]; double tokens; uint64_t at_ms; };

struct metrics {
    /* webhooks by provider × result */
    json_t *webhooks;     /* {"github": {"accepted": n, …}, …} */
    uint64_t runs_by_result[5]; /* Succeeded, Failed, Error, Canceled, Interrupted */
    struct hist sync_s, wave_s, route_ms;
    uint64_t routed, route_failures;
    uint64_t drifts, self_heals;
    uint64_t polls[4];    /* poll.c: unchanged, changed, failed, deferred */
    struct hist poll_ms;
};

struct poller;

struct svc {
    uv_loop_t *loop;
    struct ws_config *cfg;
    struct snapshot *snap;
    uint64_t snap_gen, gen_counter; /* which catalog read is the newest installed */
    struct ws_store *store;
    struct ws_httpd *httpd;
    struct ws_status_client *status;
    struct ws_clusters clusters;
    struct ws_lua_health *lua;  /* health: scripts from wavesync.yaml, or NULL */
    struct app_state *apps;
    size_t napps;
    struct repo_queue *queues; /* per cfg->repos[i] */
    int running, concurrency;
    int any_unsigned;          /* some repository accepts unsigned webhooks */
    size_t routing;            /* triggers accepted and not routed yet */
    int ready, stopping, stopped;
    uv_signal_t sigterm, sigint;
    uv_timer_t *grace;
    uv_timer_t *backoff;       /* the store failed: scheduling waits a moment */
    uv_timer_t *drain;         /* stopping: waiting for the last commit statuses */
    int drain_ticks, drain_expired;
    struct bucket *buckets;
    size_t nbuckets;
    struct metrics m;
    uint64_t started_ms;
    /* live state (tracking.c) */
    struct ws_live *live;
    struct plan_job *plans_queued, *plans_running;
    uv_timer_t *live_flush;    /* several replicas: what changed goes to the store */
    json_t *live_writing;      /* the applications being written ([name…]) */
    struct poller *poll;       /* poll.c: the safety net for lost webhooks */
    struct child_wait *child_waits; /* children.c: parents' syncs waiting for child runs */
    struct removal *removals;  /* children.c: children that left Git, being deleted */
    struct reload *reload;     /* reload.c: SIGHUP, the file watch, the watchdog */
    int reloading;             /* a new configuration loads: quiescing, then exec */
    int lock_fd;               /* the state folder's lock, held while serving */
    struct events *events;     /* events.c: the Server-Sent Events stream */
    struct replicas *replicas; /* replicas.c: leases, takeover, the others' news (PostgreSQL) */
    int recording;             /* runs' ends and routed pushes waiting to be recorded again */
};

/* serve.c — the service core; api.c calls into it, never the other way
 * round except for the request handler it installs. */
struct app_state *ws__svc_app(struct svc *s, const char *name);
const struct ws_app *ws__svc_app_def(struct svc *s, const char *name);
/* A trigger is durable: route it (webhook) or run it (manual). */
void ws__svc_routed_later(struct svc *s, size_t repo, int64_t id, const char *ref, const char *before,
                          const char *after, const char *default_branch, json_t *extra);
void ws__svc_schedule(struct svc *s);
/* A stored trigger not routed yet ({id, repo, ref, before, after, extra}, as
 * the store gives it): routed now (`what` says why, in the log), or failed
 * when its repository is no longer configured. */
void ws__svc_route_stored(struct svc *s, const json_t *trigger, const char *what);
/* The sync options every run takes from wavesync.yaml (deadlines, state
 * folder, inventory namespace, credentials, health scripts). */
void ws__svc_sync_opts(const struct svc *s, struct ws_sync_opts *o);
/* Queue a run the service decided on (a retry, a self-heal): durable, then
 * pending; `what` (static) names it in the log. 0 or WS_ENOMEM. */
int ws__svc_queue_run(struct svc *s, const struct ws_trigger_in *in, const char *what);
/* children.c — app of apps. The sync engine's sync_child (data: the svc):
 * queue a run of each Application the child object stands for, and answer
 * the parent (ws_sync_child_done) once they have ended. */
int ws__svc_sync_child(struct ws_sync *parent, const char *kind, const char *name, void *data,
                       struct ws_err *err);
/* The sync engine's prune_child: delete what a child that left Git applied. */
int ws__svc_prune_child(struct ws_sync *parent, const json_t *ref, void *data, struct ws_err *err);
/* A run of `app` (for `trigger`) ended: the parents waiting for it hear. */
void ws__svc_child_ended(struct svc *s, const char *app, int64_t trigger, int ok, const char *message);
/* A parent's run ended: nothing answers it any more. */
void ws__svc_parent_ended(struct svc *s, struct ws_sync *parent);
/* Does a running parent wait for a run of `app`? (It may start beyond the
 * concurrency limit: the parent holds a slot while it waits.) */
int ws__svc_awaited(const struct svc *s, const char *app);
void ws__svc_children_free(struct svc *s);

/* Stop as on SIGTERM (`why` names the cause in the log). */
void ws__svc_stop(struct svc *s, const char *why);
/* Stopping: finish once nothing is in flight any more (a worker just ended). */
void ws__svc_maybe_finish(struct svc *s);
const char *ws__svc_run_results(size_t i);
/* Wall-clock second the mirror of def's repository was last fetched (0: not
 * a configured repository). */
int64_t ws__svc_last_fetch(const struct svc *s, const struct ws_app *def);
struct snapshot *ws__snap_ref(struct svc *s); /* the current one, with a reference for the caller */
void ws__snap_unref(struct snapshot *sn);       /* safe with NULL */
void ws__hist_add(struct hist *h, double v, const double *bounds);
extern const double ws__sync_bounds[HIST_BUCKETS], ws__wave_bounds[HIST_BUCKETS],
    ws__route_bounds[HIST_BUCKETS];

/* tracking.c — live state and selfHeal */
int ws__track_start(struct svc *s);
void ws__track_app(struct svc *s, const char *app, const char *revision); /* NULL: as written */
/* The same for a revision another replica saw first: this replica's mirror
 * is fetched unless it was at or after fetched_since_ms (wall clock). */
void ws__track_app_fetched(struct svc *s, const char *app, const char *revision, int64_t fetched_since_ms);
void ws__track_desired(struct svc *s, const char *app, struct ws_kube *kube, struct ws_sync *sync,
                       const char *revision);
void ws__track_after_run(struct svc *s, const char *app);
/* An application's live state as this replica knows it: its own watches'
 * when it follows the application's cluster, else what the replica that
 * does wrote to the store. Strings borrowed (NULL: none) until the next
 * change on the loop. */
struct track_view {
    struct ws_live_summary sum;
    int heal_attempts;
    uint64_t heals;
    const char *heal_message;  /* "self-heal backing off: …" while it does */
    const char *track_error;   /* why it cannot be followed */
};
void ws__track_view(struct svc *s, const char *app, struct track_view *out);
/* The clusters this replica follows changed: start following the
 * applications on the ones it took, stop on the ones it let go. */
void ws__track_rebalance(struct svc *s);
/* Another replica's row of the live state (refresh: {app, owner,
 * updatedAt, summary}), for an application this replica does not follow. */
void ws__track_shared(struct svc *s, struct app_state *a, const json_t *row);
/* Another replica ended a run of app at revision (finished_at: wall-clock
 * seconds): the live state compares with it from now on (here, if this
 * replica follows app). */
void ws__track_ran_elsewhere(struct svc *s, struct app_state *a, const char *revision, int succeeded,
                             int64_t finished_at);
/* "self-heal backing off: …" while a fight lasts (brief Synced moments
 * included), NULL once calm. */
const char *ws__track_heal_message(const struct app_state *a);
void ws__track_stop(struct svc *s);
int ws__track_busy(const struct svc *s);
void ws__track_free(struct svc *s);
/* poll.c — every settings.pollInterval (+ jitter), each repository's refs
 * are listed on a worker (nothing fetched); a tracked ref that moved past
 * what the service last routed is accepted as a trigger (source "poll") and
 * routed like a webhook's push (not while a push of that repository is
 * being routed: the next poll looks again). ws__poll_init: before the catalog load (BLOCKING:
 * reads the mirrors' refs as the baseline; ENOMEM only); ws__poll_start:
 * after recovery; ws__poll_stop: on the stop signal (timers); the service
 * finishes only when !ws__poll_busy; ws__poll_free: after the loop ended. */
int ws__poll_init(struct svc *s, struct ws_err *err);
void ws__poll_start(struct svc *s);
void ws__poll_stop(struct svc *s);
int ws__poll_busy(const struct svc *s);
void ws__poll_free(struct svc *s);
/* A push of ref before→after of cfg->repos[repo] was routed, from any
 * source: the poll's baseline follows it (unless a push in between was
 * missed: the next poll routes the gap). */
void ws__poll_saw(struct svc *s, size_t repo, const char *ref, const char *before, const char *after);
/* Routing found `apps` ([{app, revision}], changed in place) for a push of
 * `ref` to `commit`; `tip` is where the ref is in the mirror now ("" if
 * gone). A pinned revision behind the tip is moved to the tip (never sync
 * back), and an application already queued for this very ref and commit (a
 * poll and a webhook saw the same push) is removed, unless the routing read
 * the definitions again (`reloaded`). Appends what it did to `detail`;
 * returns how many were removed. */
size_t ws__poll_drop_routed(struct svc *s, int64_t trigger, size_t repo, const char *ref, const char *commit,
                            const char *tip, int reloaded, json_t *apps, char *detail, size_t len);

/* api.c — the HTTP face: the handler serve.c gives the HTTP server. */
void ws__api_handle(struct ws_httpd_req *req, void *data);

/* reload.c — the service manager's side: readiness, watchdog, reload.
 * ws__reload_lock: the state folder is writable and ours (a lock held until
 * exit or exec), else WS_ECONFIG saying why. ws__reload_start: SIGHUP, the
 * watch on the configuration file, and the watchdog's feeding (0 or
 * WS_ENOMEM); ws__reload_stop closes them. ws__reload_status: why the last
 * reload was refused, or what a reload waits for ("" = nothing to say). */
int ws__reload_lock(struct svc *s, const char *state_dir, struct ws_err *err);
int ws__reload_start(struct svc *s, const char *config_path, char **argv);
void ws__reload_stop(struct svc *s);
void ws__reload_status(const struct svc *s, char *buf, size_t len);
uint64_t ws__reload_failures(const struct svc *s);
int ws__reload_refused(const struct svc *s); /* the last reload was */
/* A stop while the store closes for a reload's exec: 1 = the process exits
 * there instead (the caller does nothing more), 0 = no exec under way. */
int ws__reload_execing(struct svc *s);

/* replicas.c — several replicas sharing a PostgreSQL store (nothing to do
 * on SQLite but answer may_write). start: after recovery (the lease's
 * renewal, the takeover sweep, LISTEN and the periodic refresh); stop: on
 * the way out, before the store closes; may_write: the sync engine's fence
 * (data: the svc) — this replica's lease is fresh. */
int ws__replicas_start(struct svc *s);
void ws__replicas_stop(struct svc *s);
int ws__replicas_may_write(void *data, char *why, size_t len);
int ws__replicas_count(const struct svc *s); /* live replicas (1 on SQLite) */
/* Is this replica's share of the work holding `name` ("repo:NAME")? Always
 * on SQLite. */
int ws__replicas_holds(const struct svc *s, const char *name);
/* Does this replica follow the live state of def's cluster (its lease
 * "cluster:NAME")? Always on SQLite, and for a destination matching no
 * cluster (every replica says why). */
int ws__replicas_follows(const struct svc *s, const struct ws_app *def);
/* "cluster:NAME" for def's cluster, or "" when it matches none. */
void ws__replicas_cluster_lease(const struct svc *s, const struct ws_app *def, char *out, size_t len);
void ws__replicas_free(struct svc *s);       /* after the loop ended */
/* serve.c: a running job's sync, and marking it to go back to the queue
 * when it stops (instead of being recorded as ended). */
struct ws_sync *ws__job_sync(struct job *j);
void ws__job_requeue(struct job *j);

/* events.c — GET /api/v1/events (Server-Sent Events). publish: to every
 * reader (of `app`, when not NULL, for ?app=); `data` is stolen. */
int ws__events_init(struct svc *s);
void ws__events_stop(struct svc *s); /* its timer, while the loop runs */
void ws__events_free(struct svc *s);
void ws__events_publish(struct svc *s, const char *type, const char *app, json_t *data);
void ws__events_subscribe(struct svc *s, struct ws_httpd_req *req);
/* An application's row changed (state, last run, sync status, health):
 * an "app" event with what GET /api/v1/applications says of it. */
void ws__svc_app_changed(struct svc *s, const char *app);
json_t *ws__api_app_json(struct svc *s, const struct ws_app *a); /* api.c */
size_t ws__events_readers(const struct svc *s);
uint64_t ws__events_published(const struct svc *s);

#endif
