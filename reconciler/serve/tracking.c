/* tracking.c — live state in the service: what each application's objects
 * should be (a plan-only run of the sync engine at startup and whenever the
 * target moves without a sync, the planned objects after every sync), the
 * shared watches behind it (live/live.c), and selfHeal: drift in an
 * automated application with selfHeal is reverted by a sync, with an
 * exponential backoff so a controller that fights back cannot cause a hot
 * loop. Loop thread only. */
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

struct plan_job {
    struct plan_job *next;
    struct svc *s;
    char *app;
    char *revision;           /* NULL: the target as written */
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
    if (desired && s->live) {
        ws_live_track(s->live, j->app, j->kube, desired, json_string_value(json_object_get(report, "revision")));
        if (a)
            a->track_error[0] = '\0';
    } else if (code < 0 && !s->stopping) {
        const char *why = json_string_value(json_object_get(report, "message")) ?: ws_code_str(code);
        ws_warn("live state of %s: cannot tell what Git says: %s", j->app, why);
        /* the API says why it stays Unknown (a later plan or sync may fix it) */
        if (a)
            snprintf(a->track_error, sizeof(a->track_error), "cannot tell what Git says: %.450s", why);
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
        /* the mirror as routing (or startup) last fetched it: tracking never fetches */
        j->opts.fetched_since = ws__svc_last_fetch(s, def) ? ws__svc_last_fetch(s, def) : ws_wall_ms();
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
    struct plan_job *j, **tail;
    if (!s->live || s->stopping || s->reloading)
        return;
    for (tail = &s->plans_queued; *tail; tail = &(*tail)->next)
        if (strcmp((*tail)->app, app) == 0) { /* already queued: the newest target wins */
            free((*tail)->revision);
            (*tail)->revision = ws_strdup0(revision);
            return;
        }
    if (!(j = calloc(1, sizeof(*j))) || !(j->app = strdup(app))) {
        free(j);
        return;
    }
    j->s = s;
    j->revision = ws_strdup0(revision);
    *tail = j;
    start_plans(s);
}

void ws__track_desired(struct svc *s, const char *app, struct ws_kube *kube, struct ws_sync *sync,
                       const char *revision)
{
    json_t *desired = s->live ? ws_sync_desired(sync) : NULL;
    struct app_state *a = ws__svc_app(s, app);
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
    for (size_t i = 0; i < s->snap->cat.napps; i++)
        ws__track_app(s, s->snap->cat.apps[i].name, NULL);
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
}

int ws__track_busy(const struct svc *s)
{
    return s->plans_running != NULL;
}

void ws__track_free(struct svc *s)
{
    ws_live_free(s->live);
    s->live = NULL;
}
