/* tracking.c — live state in the service: what each application's objects
 * should be (a plan-only run of the sync engine at startup and whenever the
 * target moves without a sync, the planned objects after every sync), the
 * shared watches behind it (live/live.c), and selfHeal: drift in an
 * automated application with selfHeal is reverted by a sync, with an
 * exponential backoff so a controller that fights back cannot cause a hot
 * loop. With several replicas (replicas.c), each follows the clusters it
 * holds a lease of, writes what it sees to the store, and shows the others'
 * applications as they wrote them. Loop thread only. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timer.h"
#include "base/util.h"
#include "serve/serve_int.h"
#include "source/ignore.h"

#define PLAN_CONCURRENCY 2          /* plan-only renders at once (they use worker threads) */
#define HEAL_FIRST_DELAY_MS 0       /* the first drift is reverted at once */
#define HEAL_BASE_MS 2000           /* then 2 s, 4 s, 8 s … */
#define HEAL_MAX_MS (5 * 60 * 1000) /* … up to 5 minutes between attempts */
#define HEAL_CALM_MS (60 * 1000)    /* Synced this long: the backoff starts over */
#define HEAL_SETTLE_MS 3000         /* after a successful sync, its own watch events are awaited */
#define LIVE_FLUSH_MS 250           /* changes gathered this long before they are written */
#define LIVE_RETRY_MS 1000          /* the store failed: written again this much later */
#define LIVE_BATCH 200              /* applications per write */

/* An application's live state as another replica wrote it. */
struct shared_live {
    struct ws_live_summary sum;
    int heal_attempts;
    uint64_t heals;
    char heal_message[768];
    char track_error[512];
    int64_t updated_ms, owner;
};

struct plan_job {
    struct plan_job *next;
    struct svc *s;
    char *app;
    char *revision;           /* NULL: the target as written */
    int64_t fetched_since;    /* fetch unless the mirror is this recent (wall ms; 0: never fetch) */
    struct snapshot *snap;    /* the definitions it plans with (ref held) */
    struct ws_kube *kube;
    struct ws_sync *sync;     /* running, or NULL while queued */
    struct ws_sync_opts opts;
};

static void plan_job_free(struct plan_job *j)
{
    if (!j)
        return;
    ws__snap_unref(j->snap);
    free(j->app);
    free(j->revision);
    free(j);
}

static void start_plans(struct svc *s);
static void mark_dirty(struct svc *s, struct app_state *a);

static void on_planned(struct ws_sync *sync, int code, json_t *report, void *data)
{
    struct plan_job *j = data, **pp;
    struct svc *s = j->s;
    struct app_state *a = ws__svc_app(s, j->app);
    json_t *desired = code == 0 ? ws_sync_desired(sync) : NULL;
    for (pp = &s->plans_running; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    if (a && !a->watching) {
        /* its cluster went to another replica meanwhile */
    } else if (desired && s->live) {
        ws_live_track(s->live, j->app, j->kube, desired, json_string_value(json_object_get(report, "revision")));
        if (a)
            a->track_error[0] = '\0';
    } else if (code < 0 && !s->stopping) {
        const char *why = json_string_value(json_object_get(report, "message")) ?: ws_code_str(code);
        ws_warn("live state of %s: cannot tell what Git says: %s", j->app, why);
        /* the API says why it stays Unknown (a later plan or sync may fix it) */
        if (a) {
            snprintf(a->track_error, sizeof(a->track_error), "cannot tell what Git says: %.450s", why);
            mark_dirty(s, a);
        }
    }
    json_decref(desired);
    plan_job_free(j);
    start_plans(s);
#ifdef __GLIBC__
    /* the renders ran on worker threads: once the last one is in, give their
       arenas' free memory back (a startup with many applications) */
    if (!s->plans_running && !s->plans_queued)
        malloc_trim(0);
#endif
    ws__svc_maybe_finish(s);
}

static void start_plans(struct svc *s)
{
    size_t running = 0;
    struct plan_job *j;
    for (j = s->plans_running; j; j = j->next)
        running++;
    while (running < PLAN_CONCURRENCY && s->plans_queued && !s->stopping && !s->reloading) {
        const struct ws_app *def;
        struct ws_err e;
        j = s->plans_queued;
        s->plans_queued = j->next;
        j->next = NULL;
        ws_err_clear(&e);
        j->snap = ws__snap_ref(s);
        if (!(def = ws_catalog_find(&j->snap->cat, j->app)) || !(j->kube = ws_clusters_for(&s->clusters, def, &e))) {
            if (def)
                ws_warn("live state of %s: %s", j->app, e.msg);
            plan_job_free(j);
            continue;
        }
        ws__svc_sync_opts(s, &j->opts);
        j->opts.plan_only = 1;
        j->opts.revision = j->revision;
        /* the mirror as routing (or startup) last fetched it: tracking never
           fetches, but for a commit another replica saw first */
        j->opts.fetched_since = j->fetched_since        ? j->fetched_since
                                : ws__svc_last_fetch(s, def) ? ws__svc_last_fetch(s, def)
                                                         : ws_wall_ms();
        j->next = s->plans_running;
        s->plans_running = j;
        running++;
        if (ws_sync_start(&j->sync, s->loop, j->kube, def, &j->opts, NULL, on_planned, j, &e) < 0) {
            s->plans_running = j->next;
            running--;
            ws_warn("live state of %s: %s", j->app, e.msg);
            plan_job_free(j);
        }
    }
}

void ws__track_app(struct svc *s, const char *app, const char *revision)
{
    ws__track_app_fetched(s, app, revision, 0);
}

void ws__track_app_fetched(struct svc *s, const char *app, const char *revision, int64_t fetched_since_ms)
{
    struct plan_job *j, **tail;
    struct app_state *a = ws__svc_app(s, app);
    const struct ws_app *def = ws__svc_app_def(s, app);
    if (!s->live || s->stopping || s->reloading || !def || !ws__replicas_follows(s, def))
        return; /* another replica follows its cluster */
    if (a)
        a->watching = 1;
    for (tail = &s->plans_queued; *tail; tail = &(*tail)->next)
        if (strcmp((*tail)->app, app) == 0) { /* already queued: the newest target wins */
            free((*tail)->revision);
            (*tail)->revision = ws_strdup0(revision);
            (*tail)->fetched_since = fetched_since_ms;
            return;
        }
    if (!(j = calloc(1, sizeof(*j))) || !(j->app = strdup(app))) {
        free(j);
        return;
    }
    j->s = s;
    j->revision = ws_strdup0(revision);
    j->fetched_since = fetched_since_ms;
    *tail = j;
    start_plans(s);
}

void ws__track_desired(struct svc *s, const char *app, struct ws_kube *kube, struct ws_sync *sync,
                       const char *revision)
{
    struct app_state *a = ws__svc_app(s, app);
    json_t *desired = s->live && (!a || a->watching) ? ws_sync_desired(sync) : NULL;
    if (desired) {
        ws_live_track(s->live, app, kube, desired, revision);
        if (a)
            a->track_error[0] = '\0';
    }
    json_decref(desired);
}

/* ---- selfHeal -------------------------------------------------------------------- */

static void heal_now(struct svc *s, struct app_state *a)
{
    struct ws_live_summary sum;
    struct ws_trigger_in t;
    ws_live_summary(s->live, a->name, &sum);
    if (s->stopping || a->pending || a->running || a->starting || sum.sync != WS_SYNC_OUTOFSYNC)
        return;
    a->heal_attempts++;
    a->heals++;
    mark_dirty(s, a);
    s->m.self_heals++;
    memset(&t, 0, sizeof(t));
    t.source = "selfheal";
    t.app = a->name;
    t.revision = sum.revision[0] ? sum.revision : NULL; /* what it drifted from, not a newer commit */
    /* reverting drift takes the fields back from whoever changed them */
    t.extra = json_pack("{s:b}", "selfHeal", 1);
    ws_info("self-heal: %s drifted from Git (attempt %d)", a->name, a->heal_attempts);
    ws__svc_queue_run(s, &t, "self-heal");
    json_decref(t.extra);
}

static void on_heal_due(uv_timer_t *timer)
{
    struct svc *s = timer->data;
    for (size_t i = 0; i < s->napps; i++)
        if (s->apps[i].heal_timer == timer) {
            ws_timer_close(&s->apps[i].heal_timer);
            heal_now(s, &s->apps[i]);
            return;
        }
}

/* The live state of app changed: record when it became Synced, and revert
 * drift when its policy says selfHeal. */
static void on_live_changed(const char *app, void *data)
{
    struct svc *s = data;
    struct app_state *a = ws__svc_app(s, app);
    const struct ws_app *def = ws__svc_app_def(s, app);
    struct ws_live_summary sum;
    uint64_t now = ws_now_ms(), delay, settle = 0;
    if (!a)
        return;
    ws_live_summary(s->live, app, &sum);
    if ((int)sum.sync != a->ev_sync || (int)sum.health != a->ev_health) { /* the overview's row changed */
        a->ev_sync = (int)sum.sync;
        a->ev_health = (int)sum.health;
        ws__svc_app_changed(s, app);
    }
    mark_dirty(s, a);
    if (sum.sync == WS_SYNC_SYNCED) {
        if (!a->synced_since_ms)
            a->synced_since_ms = now;
        if (a->heal_attempts && now - a->synced_since_ms >= HEAL_CALM_MS)
            a->heal_attempts = 0;
        if (!a->heal_attempts) /* a fight's brief Synced moments do not end the backoff */
            a->heal_message[0] = '\0';
        return;
    }
    if (a->synced_since_ms && now - a->synced_since_ms >= HEAL_CALM_MS)
        a->heal_attempts = 0; /* calm for a while: this is new drift, not a fight */
    a->synced_since_ms = 0;
    if (sum.sync != WS_SYNC_OUTOFSYNC || !def || !def->automated || !def->self_heal || s->stopping)
        return;
    /* only drift from what a sync left: the last sync of this application
       succeeded at the commit the comparison is against (a failed sync is
       syncPolicy.retry's business; a commit never synced, a push's or the poll's) */
    if (strcmp(a->last_result, "Succeeded") != 0 || strcmp(a->last_revision, sum.revision) != 0 || a->pending ||
        a->running || a->starting || a->heal_timer)
        return;
    if (a->heal_attempts == 0) {
        delay = HEAL_FIRST_DELAY_MS;
    } else {
        delay = HEAL_BASE_MS << (a->heal_attempts - 1 < 16 ? a->heal_attempts - 1 : 16);
        if (delay > HEAL_MAX_MS)
            delay = HEAL_MAX_MS;
    }
    /* Just synced: the comparison may still see the objects as they were
       before the apply, until the apply's own watch events arrive; look
       again once they have (heal_now only acts if it is still OutOfSync). */
    if (a->last_success_ms && now - a->last_success_ms < HEAL_SETTLE_MS)
        settle = HEAL_SETTLE_MS - (now - a->last_success_ms);
    else
        s->m.drifts++;
    if (delay == 0 && settle == 0) {
        heal_now(s, a);
        return;
    }
    if (delay >= settle) {
        snprintf(a->heal_message, sizeof(a->heal_message),
                 "self-heal backing off: %d %s in a row, next in %llus (%s)", a->heal_attempts,
                 ws_plural((unsigned long long)a->heal_attempts, "attempt", "attempts"),
                 (unsigned long long)(delay / 1000), sum.message);
        ws_warn("%s: %s", a->name, a->heal_message);
    } else {
        delay = settle;
    }
    a->heal_due_ms = now + delay;
    a->heal_timer = ws_timer_start(s->loop, delay, on_heal_due, s);
}

const char *ws__track_heal_message(const struct app_state *a)
{
    /* Synced and calm for a while: whatever fight there was is over, even
       if no event has come since to say so */
    if (!a->heal_message[0] || (a->synced_since_ms && ws_now_ms() - a->synced_since_ms >= HEAL_CALM_MS))
        return NULL;
    return a->heal_message;
}

/* After a run: anything still drifted is looked at again (selfHeal may
 * need another attempt, now that no run is in the way). */
void ws__track_after_run(struct svc *s, const char *app)
{
    if (s->live)
        on_live_changed(app, s);
}

/* ---- several replicas: the live state in the store ------------------------------ */

static int sync_from(const char *text)
{
#define WS_X(name, str) if (text && strcmp(text, str) == 0) return name;
    WS_SYNC_STATUSES(WS_X)
#undef WS_X
    return WS_SYNC_UNKNOWN;
}

static int health_from(const char *text)
{
#define WS_X(name, str) if (text && strcmp(text, str) == 0) return name;
    WS_HEALTH_STATUSES(WS_X)
#undef WS_X
    return WS_HEALTH_UNKNOWN;
}

void ws__track_view(struct svc *s, const char *app, struct track_view *out)
{
    struct app_state *a = ws__svc_app(s, app);
    memset(out, 0, sizeof(*out));
    if (a && !a->watching && a->shared) {
        const struct shared_live *sh = a->shared;
        out->sum = sh->sum;
        out->heal_attempts = sh->heal_attempts;
        out->heals = sh->heals;
        out->heal_message = sh->heal_message[0] ? sh->heal_message : NULL;
        out->track_error = sh->track_error[0] ? sh->track_error : NULL;
        return;
    }
    if (s->live)
        ws_live_summary(s->live, app, &out->sum);
    if (a) {
        out->heal_attempts = a->heal_attempts;
        out->heals = a->heals;
        out->heal_message = ws__track_heal_message(a);
        out->track_error = a->track_error[0] ? a->track_error : NULL;
    }
}

/* The row the other replicas read: the summary, and the self-heal state. */
static json_t *summary_json(struct svc *s, const char *app)
{
    struct track_view v;
    ws__track_view(s, app, &v);
    return json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s?, s:{s:i, s:I, s:s?}}", "tracked",
                     v.sum.tracked, "sync", ws_sync_status_str(v.sum.sync), "health", ws_health_str(v.sum.health),
                     "objects", (json_int_t)v.sum.objects, "outOfSync", (json_int_t)v.sum.outofsync, "missing",
                     (json_int_t)v.sum.missing, "extra", (json_int_t)v.sum.extra, "revision", v.sum.revision,
                     "message", v.sum.message, "trackError", v.track_error, "selfHealing", "attempts",
                     v.heal_attempts, "total", (json_int_t)v.heals, "message", v.heal_message);
}

static void flush_live(uv_timer_t *t);

static void on_live_written(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct svc *s = data;
    json_t *v;
    size_t i;
    (void)result;
    if (code < 0) {
        /* written again later (the store down, or stopping: then never) */
        if (code != WS_ENET && code != WS_ECANCELED)
            ws_warn("live state: writing it to the store: %s", err ? err->msg : ws_code_str(code));
        json_array_foreach(s->live_writing, i, v) {
            struct app_state *a = ws__svc_app(s, json_string_value(v));
            if (a && a->watching)
                a->live_dirty = 1;
        }
    }
    json_decref(s->live_writing);
    s->live_writing = NULL;
    if (!s->stopping && !s->live_flush)
        for (i = 0; i < s->napps; i++)
            if (s->apps[i].live_dirty) {
                s->live_flush = ws_timer_start(s->loop, code < 0 ? LIVE_RETRY_MS : LIVE_FLUSH_MS, flush_live, s);
                break;
            }
    ws__svc_maybe_finish(s);
}

/* What changed in the applications this replica follows, to the store (one
 * write at a time, LIVE_BATCH applications each). */
static void flush_live(uv_timer_t *t)
{
    struct svc *s = t->data;
    json_t *rows = json_array(), *names = json_array();
    ws_timer_close(&s->live_flush);
    if (!rows || !names || s->live_writing || s->stopping)
        goto out;
    for (size_t i = 0; i < s->napps && json_array_size(rows) < LIVE_BATCH; i++) {
        struct app_state *a = &s->apps[i];
        const struct ws_app *def;
        char lease[300];
        if (!a->live_dirty || !a->watching || !(def = ws__svc_app_def(s, a->name)))
            continue;
        a->live_dirty = 0;
        ws__replicas_cluster_lease(s, def, lease, sizeof(lease));
        if (!lease[0])
            continue; /* no cluster: every replica says so itself */
        json_t *res = ws_live_resources(s->live, a->name);
        json_array_append_new(rows, json_pack("{s:s, s:s, s:o, s:o}", "app", a->name, "lease", lease, /* steals */
                                              "summary", summary_json(s, a->name), "resources",
                                              res ? res : json_array()));
        json_array_append_new(names, json_string(a->name)); /* steals */
    }
    if (!json_array_size(rows))
        goto out;
    s->live_writing = names;
    names = NULL;
    if (ws_store_live_put(s->store, rows, on_live_written, s) < 0) {
        json_decref(s->live_writing);
        s->live_writing = NULL;
    }
out:
    json_decref(rows);
    json_decref(names);
}

static void mark_dirty(struct svc *s, struct app_state *a)
{
    if (!ws_store_shared(s->store) || !a->watching)
        return;
    a->live_dirty = 1;
    if (!s->live_flush && !s->live_writing && !s->stopping)
        s->live_flush = ws_timer_start(s->loop, LIVE_FLUSH_MS, flush_live, s);
}

void ws__track_shared(struct svc *s, struct app_state *a, const json_t *row)
{
    const json_t *sum = json_object_get(row, "summary"), *heal = json_object_get(sum, "selfHealing");
    int64_t at = json_integer_value(json_object_get(row, "updatedAt"));
    struct shared_live *sh = a->shared;
    const char *msg;
    if (!json_is_object(sum) || (sh && at < sh->updated_ms))
        return; /* older than what is shown */
    if (!sh && !(sh = a->shared = calloc(1, sizeof(*sh))))
        return;
    struct ws_live_summary before = sh->sum;
    memset(&sh->sum, 0, sizeof(sh->sum));
    sh->updated_ms = at;
    sh->owner = json_integer_value(json_object_get(row, "owner"));
    sh->sum.tracked = json_is_true(json_object_get(sum, "tracked"));
    sh->sum.sync = (enum ws_sync_status)sync_from(json_string_value(json_object_get(sum, "sync")));
    sh->sum.health = (enum ws_health_status)health_from(json_string_value(json_object_get(sum, "health")));
    sh->sum.objects = (size_t)json_integer_value(json_object_get(sum, "objects"));
    sh->sum.outofsync = (size_t)json_integer_value(json_object_get(sum, "outOfSync"));
    sh->sum.missing = (size_t)json_integer_value(json_object_get(sum, "missing"));
    sh->sum.extra = (size_t)json_integer_value(json_object_get(sum, "extra"));
    snprintf(sh->sum.revision, sizeof(sh->sum.revision), "%s", json_string_value(json_object_get(sum, "revision")) ?: "");
    snprintf(sh->sum.message, sizeof(sh->sum.message), "%s", json_string_value(json_object_get(sum, "message")) ?: "");
    snprintf(sh->track_error, sizeof(sh->track_error), "%s",
             json_string_value(json_object_get(sum, "trackError")) ?: "");
    sh->heal_attempts = (int)json_integer_value(json_object_get(heal, "attempts"));
    sh->heals = (uint64_t)json_integer_value(json_object_get(heal, "total"));
    msg = json_string_value(json_object_get(heal, "message"));
    snprintf(sh->heal_message, sizeof(sh->heal_message), "%s", msg ? msg : "");
    if (!a->watching && memcmp(&before, &sh->sum, sizeof(before)) != 0)
        ws__svc_app_changed(s, a->name);
}

void ws__track_ran_elsewhere(struct svc *s, struct app_state *a, const char *revision, int succeeded,
                             int64_t finished_at)
{
    if (!a->watching)
        return;
    if (succeeded)
        a->last_success_ms = ws_now_ms(); /* its own watch events are awaited before self-heal */
    ws__track_app_fetched(s, a->name, revision, (finished_at + 1) * 1000); /* whole seconds: the next one */
}

/* What an application is compared with when this replica starts to follow
 * it: the commit a manual application waits at, else the one its last sync
 * applied (drift is drift from it, even when later pushes moved the branch
 * without touching the application), else what Git says now. */
static const char *start_revision(const struct app_state *a)
{
    if (a->awaiting_revision[0])
        return a->awaiting_revision;
    if (strcmp(a->last_result, "Succeeded") == 0 && a->last_revision[0])
        return a->last_revision;
    return NULL;
}

/* ... and how recent the mirror must be to have it: with several replicas
 * that commit may have been fetched by another (a run there, a push it
 * routed). */
static int64_t start_fetched(const struct svc *s, const struct app_state *a)
{
    const char *rev = start_revision(a);
    if (!rev || !ws_store_shared(s->store))
        return 0;
    return ((rev == a->awaiting_revision ? a->awaiting_since : a->last_finished_at) + 1) * 1000; /* whole seconds */
}

void ws__track_rebalance(struct svc *s)
{
    for (size_t i = 0; i < s->napps; i++) {
        struct app_state *a = &s->apps[i];
        const struct ws_app *def = ws__svc_app_def(s, a->name);
        if (!def)
            continue;
        int follows = ws__replicas_follows(s, def);
        if (follows && !a->watching) {
            ws__track_app_fetched(s, a->name, start_revision(a), start_fetched(s, a));
        } else if (!follows && a->watching) {
            /* another replica follows it now: what it writes is shown */
            a->watching = 0;
            a->live_dirty = 0;
            a->track_error[0] = '\0';
            ws_live_forget(s->live, a->name);
            ws_timer_close(&a->heal_timer);
            a->ev_sync = a->ev_health = -1;
            ws__svc_app_changed(s, a->name);
        }
    }
}

/* ignoreDifferences of the Application as it is defined now. */
static int on_ignore(const char *app, const json_t *obj, const char *pointer, const char *manager, void *data)
{
    const struct ws_app *def = ws__svc_app_def(data, app);
    return def ? ws_ignore_diff(def->ignore, def->nignore, obj, pointer, manager) : 0;
}

int ws__track_start(struct svc *s)
{
    struct ws_live_opts o;
    memset(&o, 0, sizeof(o));
    o.loop = s->loop;
    o.manager = "wavesync";
    o.lua = s->lua;
    o.changed = on_live_changed;
    o.ignore = on_ignore;
    o.data = s;
    if (ws_live_new(&s->live, &o) < 0)
        return WS_ENOMEM;
    for (size_t i = 0; i < s->snap->cat.napps; i++) {
        const struct app_state *a = ws__svc_app(s, s->snap->cat.apps[i].name);
        ws__track_app_fetched(s, s->snap->cat.apps[i].name, a ? start_revision(a) : NULL, a ? start_fetched(s, a) : 0);
    }
    return 0;
}

void ws__track_stop(struct svc *s)
{
    struct plan_job *j;
    while ((j = s->plans_queued)) {
        s->plans_queued = j->next;
        plan_job_free(j);
    }
    for (j = s->plans_running; j; j = j->next)
        if (j->sync)
            ws_sync_cancel(j->sync);
    for (size_t i = 0; i < s->napps; i++)
        ws_timer_close(&s->apps[i].heal_timer);
    ws_timer_close(&s->live_flush);
}

int ws__track_busy(const struct svc *s)
{
    return s->plans_running != NULL || s->live_writing != NULL;
}

void ws__track_free(struct svc *s)
{
    ws_live_free(s->live);
    s->live = NULL;
}
