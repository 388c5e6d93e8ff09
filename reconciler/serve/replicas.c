/* replicas.c — several `wavesync serve` sharing a PostgreSQL store
 * (wavesync.yaml store: {postgres: …}). No leader: every replica takes
 * webhooks, routes what it took and runs what it claims; the store keeps
 * one running run per application. Here, each replica
 *   - renews its lease every third of it; writes for a run are allowed only
 *     while the last renewal is fresh (the sync engine asks before every
 *     wave and the prune), so a replica cut off from the database stops
 *     applying before another may take its runs over. One that hears its
 *     lease had run out (the database was out of reach too long) stops its
 *     runs — another replica may hold them now — and registers again under a
 *     new id;
 *   - takes over the work of replicas whose lease ran out (every second):
 *     their runs are queued again, their unrouted pushes routed here;
 *   - polls only its share of the repositories and follows the live state
 *     (watches, selfHeal) of only its share of the clusters (leases by
 *     name, "repo:NAME" and "cluster:NAME", re-dealt every second as
 *     replicas come and go); what it sees live it writes to the store for
 *     the others' API (tracking.c);
 *   - follows what the others do: at once on their NOTIFY (LISTEN), and
 *     every 5 s in case a notification was lost — which applications have a
 *     run pending or running elsewhere, runs that ended, manual applications
 *     awaiting a sync, the live state the others follow.
 * On SQLite there is one replica: nothing runs, and writes are always
 * allowed. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timer.h"
#include "base/util.h"
#include "serve/serve_int.h"

#define SWEEP_MS 1000
#define REFRESH_MS 5000
#define MARGIN_MS 1000 /* writes stop this long before the lease could run out */
/* live-state rows are read again this far back: a row written in a
   transaction that committed after a later one's refresh is not missed */
#define LIVE_OVERLAP_MS 30000

struct replicas {
    struct svc *s;
    int shared;
    int lease_ms;
    uv_timer_t *beat, *sweep, *refresh;
    uint64_t ok_until;        /* ws_now_ms: writes allowed before this */
    uint64_t beat_sent;
    int beat_busy, sweep_busy, refresh_busy, refresh_again;
    int64_t since_run;        /* the refresh reads runs from this id on */
    int64_t since_live;       /* and live-state rows written from this wall ms on */
    int count;                /* live replicas at the last renewal */
    json_t *held;             /* {"repo:NAME": true, "cluster:NAME": true} this replica's share of the work */
    json_t *names;            /* every such name, from the configuration */
    int leases_busy;
    int unreachable;          /* renewals failing: said once in the log */
    int fenced;               /* writes stopped: said once in the log */
    int lost, stopped;
};

int ws__replicas_count(const struct svc *s)
{
    return s->replicas ? s->replicas->count : 1;
}

int ws__replicas_may_write(void *data, char *why, size_t len)
{
    struct svc *s = data;
    struct replicas *r = s->replicas;
    if (!r || !r->shared)
        return 1;
    if (r->lost) {
        snprintf(why, len, "this replica's lease ran out; its runs are another replica's now");
        return 0;
    }
    if (ws_now_ms() >= r->ok_until) {
        snprintf(why, len, "this replica could not renew its lease in the store for %llu s (store.lease is %d s): "
                 "the run goes back to the queue, for whichever replica holds a lease",
                 (unsigned long long)((ws_now_ms() - (r->ok_until - (uint64_t)r->lease_ms + MARGIN_MS)) / 1000),
                 r->lease_ms / 1000);
        return 0;
    }
    return 1;
}

/* Writes are no longer allowed: the running syncs stop now (rather than at
 * their next wave), each going back to the queue. */
static void fence(struct replicas *r, const char *why)
{
    struct svc *s = r->s;
    if (!r->fenced)
        ws_error("replicas: %s: stopping %d running %s", why, s->running, ws_plural((unsigned)s->running, "sync", "syncs"));
    r->fenced = 1;
    for (size_t i = 0; i < s->napps; i++) {
        struct app_state *a = &s->apps[i];
        if (a->running && ws__job_sync(a->running)) {
            ws__job_requeue(a->running);
            ws_sync_cancel(ws__job_sync(a->running));
        }
    }
}

/* --- the lease --------------------------------------------------------------------- */

static void beat(uv_timer_t *t);
static void reregister(struct replicas *r);
static void refresh_now(struct replicas *r);

static void on_beat(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct replicas *r = data;
    r->beat_busy = 0;
    if (r->stopped)
        return;
    if (code < 0) {
        if (!r->unreachable++)
            ws_warn("replicas: cannot renew this replica's lease: %s", err ? err->msg : ws_code_str(code));
    } else if (!json_is_true(json_object_get(result, "ok"))) {
        if (!r->lost)
            ws_error("replicas: this replica's lease had run out (the store was out of reach longer than "
                     "store.lease): another replica may hold its runs now");
        r->lost = 1;
        fence(r, "lease lost");
        reregister(r);
        return;
    } else {
        if (r->unreachable)
            ws_info("replicas: lease renewed again");
        r->unreachable = 0;
        r->fenced = 0;
        r->ok_until = r->beat_sent + (uint64_t)r->lease_ms - MARGIN_MS;
        r->count = (int)json_integer_value(json_object_get(result, "replicas"));
    }
    if (ws_now_ms() >= r->ok_until && r->s->running > 0)
        fence(r, "this replica cannot renew its lease in the store");
}

static void beat(uv_timer_t *t)
{
    struct replicas *r = t->data;
    if (r->stopped)
        return;
    if (ws_now_ms() >= r->ok_until && r->s->running > 0)
        fence(r, "this replica cannot renew its lease in the store");
    if (r->beat_busy)
        return;
    if (r->lost) {
        reregister(r);
        return;
    }
    r->beat_sent = ws_now_ms();
    if (ws_store_heartbeat(r->s->store, on_beat, r) == 0)
        r->beat_busy = 1;
}

/* --- taking over --------------------------------------------------------------------- */

/* What a takeover (or a registration, which takes over this replica's
 * earlier self) handed over: runs to run again, pushes to route. */
static void took_over(struct replicas *r, json_t *result)
{
    struct svc *s = r->s;
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(result, "runs"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        ws_info("replicas: run %lld of %s taken over: it runs again",
                (long long)json_integer_value(json_object_get(v, "run")), json_string_value(json_object_get(v, "app")));
        if (a) {
            a->pending = 1;
            a->busy_elsewhere = 0;
            ws__svc_app_changed(s, a->name);
        }
    }
    json_array_foreach(json_object_get(result, "triggers"), i, v)
        ws__svc_route_stored(s, v, "replicas: taken over:");
    ws__svc_schedule(s);
}

static void on_sweep(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct replicas *r = data;
    r->sweep_busy = 0;
    if (r->stopped || code < 0) {
        if (code < 0 && code != WS_ENET)
            ws_warn("replicas: taking over: %s", err ? err->msg : ws_code_str(code));
        return;
    }
    took_over(r, result);
}

/* Back under a new id: the old one's work is taken over (here, or by
 * another replica) as a dead replica's is. */
static void on_registered(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct replicas *r = data;
    r->beat_busy = 0;
    if (r->stopped)
        return;
    if (code < 0) {
        ws_warn("replicas: cannot register again yet: %s", err ? err->msg : ws_code_str(code));
        return; /* the next beat tries again */
    }
    r->lost = 0;
    r->fenced = 0;
    r->unreachable = 0;
    r->ok_until = r->beat_sent + (uint64_t)r->lease_ms - MARGIN_MS;
    ws_info("replicas: registered again as replica %s (%lld)", ws_store_replica_name(r->s->store),
            (long long)ws_store_replica(r->s->store));
    took_over(r, result);
    refresh_now(r);
}

static void reregister(struct replicas *r)
{
    r->beat_sent = ws_now_ms();
    if (ws_store_register(r->s->store, on_registered, r) == 0)
        r->beat_busy = 1;
}

static void on_leases(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct replicas *r = data;
    json_t *held, *v;
    size_t i;
    r->leases_busy = 0;
    if (r->stopped || code < 0 || !(held = json_object())) {
        if (code < 0 && code != WS_ENET)
            ws_warn("replicas: sharing the work out: %s", err ? err->msg : ws_code_str(code));
        return;
    }
    json_array_foreach(result, i, v)
        json_object_set_new(held, json_string_value(v), json_true()); /* steals */
    if (!json_equal(held, r->held)) {
        static const char *const kinds[2][4] = { { "repo:", "polls", "repository", "repositories" },
                                                 { "cluster:", "follows the live state of", "cluster", "clusters" } };
        for (int k = 0; k < 2; k++) {
            struct ws_buf b = { 0 };
            size_t mine = 0, all = 0, len = strlen(kinds[k][0]);
            const char *key;
            json_t *x;
            json_object_foreach(held, key, x)
                if (strncmp(key, kinds[k][0], len) == 0)
                    ws_buf_appendf(&b, "%s%s", mine++ ? ", " : "", key + len);
            json_array_foreach(r->names, i, x) all += strncmp(json_string_value(x), kinds[k][0], len) == 0;
            if (all)
                ws_info("replicas: this replica %s %zu of %zu %s%s%s", kinds[k][1], mine, all,
                        ws_plural(all, kinds[k][2], kinds[k][3]), b.len ? ": " : "", b.data ? b.data : "");
            ws_buf_free(&b);
        }
        json_decref(r->held);
        r->held = held;
        ws__track_rebalance(r->s);
        return;
    }
    json_decref(r->held);
    r->held = held;
}

static void sweep(uv_timer_t *t)
{
    struct replicas *r = t->data;
    if (r->stopped || r->lost)
        return;
    if (!r->sweep_busy && ws_store_takeover(r->s->store, on_sweep, r) == 0)
        r->sweep_busy = 1;
    if (!r->leases_busy && json_array_size(r->names) && ws_store_leases(r->s->store, r->names, on_leases, r) == 0)
        r->leases_busy = 1;
}

int ws__replicas_holds(const struct svc *s, const char *name)
{
    const struct replicas *r = s->replicas;
    return !r || !r->shared || json_object_get(r->held, name) != NULL;
}

void ws__replicas_cluster_lease(const struct svc *s, const struct ws_app *def, char *out, size_t len)
{
    const struct ws_cluster_cfg *cl = def->dest_name ? ws_config_cluster_by_name(s->cfg, def->dest_name)
                                                     : ws_config_cluster_by_server(s->cfg, def->dest_server);
    snprintf(out, len, "%s%s", cl ? "cluster:" : "", cl ? cl->name : "");
}

int ws__replicas_follows(const struct svc *s, const struct ws_app *def)
{
    char name[300];
    if (!s->replicas) /* before the first leases: nothing is held yet */
        return !ws_store_shared(s->store);
    if (!s->replicas->shared)
        return 1;
    ws__replicas_cluster_lease(s, def, name, sizeof(name));
    return !name[0] || ws__replicas_holds(s, name);
}

/* --- what the others did ------------------------------------------------------------- */

static void on_refresh(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct replicas *r = data;
    struct svc *s = r->s;
    int64_t me, low = 0, high = r->since_run - 1;
    json_t *v;
    size_t i;
    r->refresh_busy = 0;
    if (r->stopped)
        return;
    me = ws_store_replica(s->store);
    if (code < 0) {
        if (code != WS_ENET)
            ws_warn("replicas: reading the shared state: %s", err ? err->msg : ws_code_str(code));
        return;
    }
    for (i = 0; i < s->napps; i++) {
        s->apps[i].busy_elsewhere = 0;
        s->apps[i].seen_pending = 0;
        s->apps[i].seen_awaiting = 0;
    }
    json_array_foreach(json_object_get(result, "pending"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        if (a)
            a->seen_pending = 1;
    }
    json_array_foreach(json_object_get(result, "running"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        int64_t run = json_integer_value(json_object_get(v, "run"));
        if (!low || run < low)
            low = run;
        if (a && json_integer_value(json_object_get(v, "owner")) != me && !a->running)
            a->busy_elsewhere = run;
    }
    json_array_foreach(json_object_get(result, "finished"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        int64_t id = json_integer_value(json_object_get(v, "id"));
        const char *rev = json_string_value(json_object_get(v, "revision"));
        if (id > high)
            high = id;
        /* a child Application run by another replica: its parent, waiting
           here, hears it ended (app of apps) */
        if (a && json_integer_value(json_object_get(v, "owner")) != me && id > a->last_run)
            ws__svc_child_ended(s, a->name, json_integer_value(json_object_get(v, "trigger")),
                                strcmp(json_string_value(json_object_get(v, "result")) ?: "", "Succeeded") == 0,
                                json_string_value(json_object_get(v, "message")));
        if (!a || id <= a->last_run || json_integer_value(json_object_get(v, "dryRun")))
            continue;
        a->last_run = id;
        a->last_finished_at = json_integer_value(json_object_get(v, "finishedAt"));
        snprintf(a->last_result, sizeof(a->last_result), "%s", json_string_value(json_object_get(v, "result")));
        snprintf(a->last_revision, sizeof(a->last_revision), "%s", rev ? rev : "");
        ws__svc_app_changed(s, a->name);
        if (json_integer_value(json_object_get(v, "owner")) != me && rev && *rev)
            ws__track_ran_elsewhere(s, a, rev, strcmp(a->last_result, "Succeeded") == 0, a->last_finished_at);
    }
    json_array_foreach(json_object_get(result, "awaiting"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        const char *rev = json_string_value(json_object_get(v, "revision"));
        if (!a)
            continue;
        a->seen_awaiting = 1;
        if (strcmp(a->awaiting_revision, rev ? rev : "") != 0) {
            snprintf(a->awaiting_revision, sizeof(a->awaiting_revision), "%s", rev ? rev : "");
            a->awaiting_trigger = json_integer_value(json_object_get(v, "trigger"));
            a->awaiting_since = json_integer_value(json_object_get(v, "since"));
            ws__svc_app_changed(s, a->name);
            if (a->watching && a->awaiting_revision[0]) /* compare the cluster with the pushed commit */
                ws__track_app_fetched(s, a->name, a->awaiting_revision, (a->awaiting_since + 1) * 1000);
        }
    }
    json_array_foreach(json_object_get(result, "live"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        int64_t at = json_integer_value(json_object_get(v, "updatedAt"));
        if (at - LIVE_OVERLAP_MS > r->since_live)
            r->since_live = at - LIVE_OVERLAP_MS;
        if (a) /* kept even while followed here: shown once it is not */
            ws__track_shared(s, a, v);
    }
    for (i = 0; i < s->napps; i++) {
        struct app_state *a = &s->apps[i];
        int pending = a->seen_pending || a->starting;
        if (pending != a->pending) {
            a->pending = pending;
            ws__svc_app_changed(s, a->name);
        }
        if (!a->seen_awaiting && a->awaiting_revision[0]) {
            a->awaiting_revision[0] = '\0';
            ws__svc_app_changed(s, a->name);
        }
    }
    /* next time from the oldest run still running (its end is news then),
       else after the newest one seen */
    r->since_run = low ? low : high + 1;
    ws__svc_schedule(s);
    if (r->refresh_again) {
        r->refresh_again = 0;
        refresh_now(r);
    }
}

static void refresh_now(struct replicas *r)
{
    if (r->stopped)
        return;
    if (r->refresh_busy) {
        r->refresh_again = 1;
        return;
    }
    if (ws_store_refresh(r->s->store, r->since_run, r->since_live, on_refresh, r) == 0)
        r->refresh_busy = 1;
}

static void refresh_tick(uv_timer_t *t)
{
    refresh_now(t->data);
}

/* A NOTIFY from a replica (or this one: its own news is read too, which
 * costs one read and keeps one mechanism). */
static void on_news(const char *payload, void *data)
{
    struct replicas *r = data;
    (void)payload;
    refresh_now(r);
}

/* --- start and stop ----------------------------------------------------------------------- */

static uv_timer_t *repeat(struct svc *s, uint64_t first, uint64_t every, uv_timer_cb cb, void *data)
{
    uv_timer_t *t = ws_timer_new(s->loop, data);
    if (t)
        uv_timer_start(t, cb, first, every);
    return t;
}

int ws__replicas_start(struct svc *s)
{
    struct replicas *r = calloc(1, sizeof(*r));
    if (!r)
        return WS_ENOMEM;
    r->s = s;
    r->count = 1;
    r->shared = ws_store_shared(s->store);
    r->lease_ms = ws_store_lease_ms(s->store);
    s->replicas = r;
    if (!r->shared)
        return 0;
    if (!(r->names = json_array()) || !(r->held = json_object()))
        return WS_ENOMEM;
    for (size_t i = 0; i < s->cfg->nrepos; i++) {
        char name[300];
        if (s->cfg->repos[i].type == WS_REPO_HELM)
            continue; /* charts: nothing to poll */
        snprintf(name, sizeof(name), "repo:%s", s->cfg->repos[i].name);
        json_array_append_new(r->names, json_string(name)); /* steals */
    }
    for (size_t i = 0; i < s->cfg->nclusters; i++) {
        char name[300];
        snprintf(name, sizeof(name), "cluster:%s", s->cfg->clusters[i].name);
        json_array_append_new(r->names, json_string(name)); /* steals */
    }
    /* registered at the open, a moment ago: a conservative start */
    r->beat_sent = ws_now_ms();
    r->ok_until = r->beat_sent + (uint64_t)r->lease_ms / 2;
    for (size_t i = 0; i < s->napps; i++)
        if (s->apps[i].last_run >= r->since_run)
            r->since_run = s->apps[i].last_run + 1;
    if (!(r->beat = repeat(s, 0, (uint64_t)r->lease_ms / 3, beat, r)) ||
        !(r->sweep = repeat(s, 0, SWEEP_MS, sweep, r)) ||
        !(r->refresh = repeat(s, REFRESH_MS, REFRESH_MS, refresh_tick, r)) || ws_store_listen(s->store, on_news, r) < 0)
        return WS_ENOMEM;
    ws_info("replicas: this is replica %s (%lld) of a shared store, %s; lease %d s", ws_store_replica_name(s->store),
            (long long)ws_store_replica(s->store), ws_store_describe(s->store), r->lease_ms / 1000);
    return 0;
}

void ws__replicas_stop(struct svc *s)
{
    struct replicas *r = s->replicas;
    if (!r)
        return;
    r->stopped = 1;
    ws_timer_close(&r->beat);
    ws_timer_close(&r->sweep);
    ws_timer_close(&r->refresh);
    /* callbacks of operations still queued find r->stopped: r is freed with the svc */
}

void ws__replicas_free(struct svc *s)
{
    if (s->replicas) {
        json_decref(s->replicas->held);
        json_decref(s->replicas->names);
    }
    free(s->replicas);
    s->replicas = NULL;
}
