/* store.h — the service's durable state: webhook deliveries (for replay
 * protection), triggers, the pending run of each application, and runs with
 * their reports. In SQLite (WAL) in the state folder by default, or in
 * PostgreSQL, shared by several replicas of the service: each one registered
 * with a lease it renews (ws_store_heartbeat); what a replica whose lease ran
 * out held — running runs, unrouted triggers — is taken over by another
 * (ws_store_takeover), and at most one run of an application runs at a time
 * across them.
 *
 * Every operation is asynchronous: it is queued on the loop thread, and all
 * operations queued during one loop iteration run on a worker thread as one
 * transaction (each inside its own savepoint, so one failing operation does
 * not undo the others). Their callbacks run on the loop thread after the
 * commit, so a trigger whose callback ran is on disk. Only one batch runs at
 * a time; operations queued meanwhile form the next batch (group commit). */
#ifndef WS_STORE_H
#define WS_STORE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"

struct ws_store;

/* The schema version this wavesync writes (SQLite: PRAGMA user_version). */
#define WS_STORE_SCHEMA_VERSION 4

/* How long a replica's lease lasts unless renewed (ms). */
#define WS_STORE_LEASE_MS 15000

struct ws_store_opts {
    const char *path;      /* the SQLite file (when postgres is NULL) */
    const char *postgres;  /* a libpq connection string or URI: PostgreSQL */
    const char *password;  /* PostgreSQL's, given apart (never shown), or NULL */
    const char *sslmode;   /* PostgreSQL: overrides the string's, or NULL */
    const char *ca_file, *cert_file, *key_file; /* PostgreSQL's TLS files, or NULL */
    const char *where;     /* PostgreSQL: how messages name it (no password) */
    const char *replica;   /* this replica's name (NULL: the host name) */
    int lease_ms;          /* 0: WS_STORE_LEASE_MS */
};

/* Open the store of `o` — BLOCKING, at startup: the schema migrated (once
 * across replicas), this replica registered, and the work of an earlier run
 * of it taken over (SQLite: every earlier one, its runs "Interrupted" and
 * queued again). */
int ws_store_open_opts(struct ws_store **out, uv_loop_t *loop, const struct ws_store_opts *o, struct ws_err *err);

/* `wavesync store migrate`: bring the schema to this version and nothing
 * else (BLOCKING). *from: the version found (-1 when not known), *to: now. */
int ws_store_migrate(const struct ws_store_opts *o, int *from, int *to, struct ws_err *err);

/* Open (creating) the SQLite database at `path` — BLOCKING, call at startup. An
 * older schema (version 0: the format before versions, or a new file) is
 * migrated in one transaction; a newer one (written by a later wavesync) is
 * refused with WS_ECONFIG, the file untouched. A run left "running" by a
 * crash is marked "Interrupted" and its application queued again (unless a
 * newer run is pending). Caller closes with ws_store_close. */
int ws_store_open(struct ws_store **out, uv_loop_t *loop, const char *path, struct ws_err *err);

/* Run what is queued, then free the store and call closed(data) (may be
 * NULL). Callbacks of queued operations still run. */
void ws_store_close(struct ws_store *st, void (*closed)(void *data), void *data);

/* What the service restarts with (BLOCKING, at startup, after open):
 * {"triggers": [trigger…] not routed yet, oldest first,
 *  "pending": [{app, trigger, revision, prune, dryRun}],
 *  "awaiting": [{app, trigger, revision, since}] manual applications a push left OutOfSync,
 *  "lastRuns": [{id, app, result, revision}] each application's newest finished real run
 *  (revision: the commit it synced, or null)}. Caller decrefs. */
int ws_store_recover(json_t **out, struct ws_store *st, struct ws_err *err);

/* A push (or a manual request) to make durable. */
struct ws_trigger_in {
    const char *delivery_key; /* "github:<X-GitHub-Delivery>"; NULL = no replay check */
    const char *body_key;     /* "sha256:<hex of the signed body>": the same delivery re-sent
                                 under another id is a replay too; NULL = none */
    const char *source;       /* "webhook", "api", "hook" */
    const char *provider;     /* "github", "gitlab", … or NULL */
    const char *repo;         /* configured repository name (NULL for manual) */
    const char *ref, *before, *after;
    const char *app;          /* manual: the application; its pending run is set at once */
    const char *revision;     /* manual: revision to sync (NULL = as written) */
    int prune, dry_run;
    json_t *extra;            /* borrowed; stored as JSON (commit status target…) or NULL */
};

/* `id` is the trigger's id; `duplicate` is set (and nothing stored) when
 * the delivery key or the body key was seen before — `id` is then the earlier trigger. */
typedef void (*ws_store_accept_cb)(int code, const struct ws_err *err, int64_t id, int duplicate,
                                   void *data);
int ws_store_accept(struct ws_store *st, const struct ws_trigger_in *t, ws_store_accept_cb cb,
                    void *data);

/* A trigger was routed: set each application's pending run to
 * {app, revision} from `apps` ([{app, revision}], borrowed) — replacing an
 * older pending revision, never a newer one — and record the outcome on the
 * trigger ("routed" or "failed" with `detail`), with the changed `paths`
 * (borrowed, may be NULL) and the applications as its `routing`. cb may be
 * NULL. */
typedef void (*ws_store_done_cb)(int code, const struct ws_err *err, void *data);
int ws_store_routed(struct ws_store *st, int64_t trigger, json_t *apps, const json_t *paths, const char *state,
                    const char *detail, ws_store_done_cb cb, void *data);

/* Take `app`'s pending run and record a new run as running. The callback
 * gets the run (object: {id, app, trigger, revision, prune, dryRun, extra,
 * triggerOwner: the replica that took the trigger, receivedAt: when, in
 * seconds}, borrowed for the call), {busy: true, run} when another replica
 * runs the application now (the pending run stays), or NULL when nothing
 * was pending. */
typedef void (*ws_store_json_cb)(int code, const struct ws_err *err, json_t *result, void *data);
int ws_store_run_start(struct ws_store *st, const char *app, ws_store_json_cb cb, void *data);

/* Record the end of a run: result ("Succeeded", "Failed", "Error",
 * "Canceled"), message, and the sync report (borrowed). cb may be NULL. */
int ws_store_run_finish(struct ws_store *st, int64_t run, const char *result, const char *message,
                        json_t *report, ws_store_done_cb cb, void *data);

/* A checkpoint at shutdown: a run that is being canceled goes back to
 * pending (it runs again at the next start) unless a newer one is pending. */
int ws_store_run_requeue(struct ws_store *st, int64_t run, ws_store_done_cb cb, void *data);

/* Reads (results borrowed for the callback): one run with its report
 * (NULL result when unknown); the latest runs of an application (app NULL =
 * all), newest first; one trigger. */
int ws_store_get_run(struct ws_store *st, int64_t id, ws_store_json_cb cb, void *data);
int ws_store_list_runs(struct ws_store *st, const char *app, int limit, ws_store_json_cb cb,
                       void *data);
int ws_store_get_trigger(struct ws_store *st, int64_t id, ws_store_json_cb cb, void *data);

/* Operations queued or running (for /metrics and shutdown). */
size_t ws_store_backlog(const struct ws_store *st);

/* Replicas. heartbeat: this replica's lease renewed — {ok, replicas}, ok
 * false when it had already run out (its work may be another's now: the
 * caller stops what it holds). takeover: the work of replicas whose lease
 * ran out — {runs: [{run, app}] queued again, triggers: [{id, source,
 * provider, repo, ref, before, after, extra}] this replica routes now}.
 * refresh: what every replica sees — {pending: [{app}], running: [{run,
 * app, owner}], finished: [{id, app, result, revision, finishedAt, dryRun,
 * trigger, owner, message}] (runs from `since_run` on), awaiting: [{app,
 * trigger, revision, since}], live: [{app, owner, updatedAt, summary}]
 * (live-state summaries written at or after wall-clock ms since_live_ms,
 * oldest first)}. */
int ws_store_heartbeat(struct ws_store *st, ws_store_json_cb cb, void *data);
int ws_store_takeover(struct ws_store *st, ws_store_json_cb cb, void *data);
int ws_store_refresh(struct ws_store *st, int64_t since_run, int64_t since_live_ms, ws_store_json_cb cb, void *data);
/* Live state for the other replicas: rows [{app, lease, summary (object),
 * resources (array)}] (borrowed), each written only while this replica
 * holds its `lease` ("cluster:NAME") — {written: n}. live_get: the row of
 * one application, {app, owner, updatedAt, summary, resources}, or a NULL
 * result when none was written. */
int ws_store_live_put(struct ws_store *st, const json_t *rows, ws_store_json_cb cb, void *data);
int ws_store_live_get(struct ws_store *st, const char *app, ws_store_json_cb cb, void *data);
/* This replica's lease had run out: register it again under a new id (its
 * earlier one gone: its work taken over at once, by this replica or
 * another). Result as takeover's. */
int ws_store_register(struct ws_store *st, ws_store_json_cb cb, void *data);
/* Work shared out among the live replicas by name (`names`, an array of
 * strings, borrowed): this replica keeps or takes its share (the names over
 * the live replicas, rounded up), of what nobody else holds. Result: the
 * names it holds. */
int ws_store_leases(struct ws_store *st, const json_t *names, ws_store_json_cb cb, void *data);
int ws_store_shared(const struct ws_store *st);         /* PostgreSQL: other replicas may use it */
/* PostgreSQL: cb(payload) on the loop for what another replica did — words
 * "pending APP", "run APP", "done APP", "awaiting APP", "live", or "refresh" (read
 * everything again: a reconnection, or too much at once). SQLite: nothing.
 * Stopped by ws_store_close. 0 or WS_ENOMEM. */
int ws_store_listen(struct ws_store *st, void (*cb)(const char *payload, void *data), void *data);
int64_t ws_store_replica(const struct ws_store *st);     /* this replica's id */
const char *ws_store_replica_name(const struct ws_store *st);
int ws_store_lease_ms(const struct ws_store *st);
const char *ws_store_describe(const struct ws_store *st); /* "SQLite <path>", "PostgreSQL (<where>)" */

#endif
