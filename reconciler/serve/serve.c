/* serve.c — `wavesync serve`: durable triggers in, routed per repository
 * (fetch once, diff each push on a worker thread), coalesced into one
 * pending run per application, run by the same sync engine as the CLI with
 * bounded concurrency, reported to the store and to the commit status. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/deps.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/sdnotify.h"
#include "serve/serve.h"
#include "serve/serve_int.h"
#include "base/timer.h"
#include "base/util.h"

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 5000

static const char *const run_results[] = {"Succeeded", "Failed", "Error", "Canceled", "Interrupted"};

/* Metrics are recorded here, where runs and routing happen, and only
 * rendered by api.c. Bucket upper bounds: seconds, seconds, milliseconds. */
const double ws__sync_bounds[HIST_BUCKETS] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900};
const double ws__wave_bounds[HIST_BUCKETS] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
const double ws__route_bounds[HIST_BUCKETS] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};

void ws__hist_add(struct hist *h, double v, const double *bounds)
{
    size_t i;
    for (i = 0; i < HIST_BUCKETS && v > bounds[i]; i++)
        ;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

const char *ws__svc_run_results(size_t i)
{
    return i < WS_ARRAY_SIZE(run_results) ? run_results[i] : NULL;
}

/* --- snapshots and application state ------------------------------------------------- */

void ws__snap_unref(struct snapshot *sn)
{
    if (sn && --sn->refs == 0) {
        ws_push_index_free(sn->ix);
        ws_catalog_free(&sn->cat);
        free(sn->read_for);
        free(sn);
    }
}

/* A snapshot from a loaded catalog (taken over). BLOCKING-free; any thread. */
static struct snapshot *snap_new(struct ws_catalog *cat, const struct ws_config *cfg, struct ws_err *err)
{
    struct snapshot *sn = calloc(1, sizeof(*sn));
    if (!sn) {
        ws_err_set(err, WS_ENOMEM, "out of memory");
        ws_catalog_free(cat);
        return NULL;
    }
    sn->refs = 1;
    sn->cat = *cat;
    memset(cat, 0, sizeof(*cat));
    if (ws_push_index_build(&sn->ix, cfg, &sn->cat, err) < 0) {
        ws__snap_unref(sn);
        return NULL;
    }
    return sn;
}

int64_t ws__svc_last_fetch(const struct svc *s, const struct ws_app *def)
{
    const struct ws_repo *r = def->nsources ? ws_config_repo_by_url(s->cfg, def->sources[0].repo_url) : NULL;
    return r ? s->queues[r - s->cfg->repos].last_fetch : 0;
}

struct snapshot *ws__snap_ref(struct svc *s)
{
    s->snap->refs++;
    return s->snap;
}

struct app_state *ws__svc_app(struct svc *s, const char *name)
{
    for (size_t i = 0; i < s->napps; i++)
        if (strcmp(s->apps[i].name, name) == 0)
            return &s->apps[i];
    return NULL;
}

const struct ws_app *ws__svc_app_def(struct svc *s, const char *name)
{
    return ws_catalog_find(&s->snap->cat, name);
}

/* Every application of the current snapshot has a state (states of
 * applications that disappeared stay, idle, for the API's history). */
static int sync_app_states(struct svc *s)
{
    for (size_t i = 0; i < s->snap->cat.napps; i++) {
        const char *name = s->snap->cat.apps[i].name;
        struct app_state *grown;
        if (ws__svc_app(s, name))
            continue;
        if (!(grown = realloc(s->apps, (s->napps + 1) * sizeof(*grown))))
            return WS_ENOMEM;
        s->apps = grown;
        memset(&s->apps[s->napps], 0, sizeof(s->apps[s->napps]));
        s->apps[s->napps].ev_sync = s->apps[s->napps].ev_health = -1;
        if (!(s->apps[s->napps].name = strdup(name)))
            return WS_ENOMEM;
        s->napps++;
    }
    return 0;
}

static void log_catalog_problems(const struct ws_catalog *cat)
{
    json_t *v;
    size_t i;
    json_array_foreach(cat->invalid, i, v)
        ws_warn("%s", json_string_value(json_object_get(v, "error")));
}

/* --- routing ------------------------------------------------------------------------ */

enum trig_outcome { T_NONE, T_ROUTED, T_RETRY, T_FAILED }; /* T_NONE: not reached */

struct route_result {
    enum trig_outcome outcome;
    json_t *apps;        /* [{app, revision}] */
    json_t *paths;       /* the changed paths (the first 500), or NULL */
    char detail[1100];
    char dflt[256];      /* the default branch routing used ("" unknown) */
    char after[41], tip[41]; /* the pushed commit; where the ref is in the mirror now ("" gone) */
    int reloaded;        /* the Applications were read again for this push */
};

struct route_job {
    uv_work_t work;
    struct svc *s;
    size_t repo;
    struct snapshot *snap;     /* ref held */
    struct snapshot *new_snap; /* made on the worker when Application files changed */
    struct trig *trigs;
    size_t ntrigs;
    struct route_result *res;
    int64_t fetch_started;
    uint64_t started_ms;
    uint64_t gen;              /* snapshot generation when the job started */
};

static void trig_free(struct trig *t)
{
    free(t->ref);
    free(t->before);
    free(t->after);
    free(t->default_branch);
    json_decref(t->extra);
    free(t);
}

static void route_one(struct route_job *j, const struct ws_repo *repo, const char *mirror, struct trig *t,
                      struct route_result *r)
{
    const struct ws_config *cfg = j->s->cfg;
    struct snapshot *sn = j->new_snap ? j->new_snap : j->snap;
    struct ws_git_push ch = {0};
    struct ws_push_target *targets = NULL;
    char *head = NULL, *key = NULL;
    const char *dflt = t->default_branch, *base;
    size_t n = 0;
    struct ws_err err;
    int rc;

    ws_err_clear(&err);
    if (!dflt && ws_git_default_branch(&head, mirror, &err) == 0)
        dflt = head;
    snprintf(r->dflt, sizeof(r->dflt), "%s", dflt ? dflt : "");
    base = dflt && strncmp(dflt, "refs/heads/", 11) == 0 ? dflt + 11 : dflt;
    if ((rc = ws_git_push_paths(&ch, mirror, t->before, t->after, base, &err)) == WS_ENOTFOUND) {
        r->outcome = T_RETRY;
        snprintf(r->detail, sizeof(r->detail), "%s", err.msg);
        goto out;
    }
    if (rc < 0)
        goto fail;
    snprintf(r->after, sizeof(r->after), "%s", ch.after);
    if (ws_git_resolve(r->tip, mirror, t->ref, &err) < 0) /* deleted since: no tip */
        r->tip[0] = '\0';
    ws_err_clear(&err);
    if (asprintf(&key, "%zu\n%s\n%s", j->repo, t->ref, ch.after) < 0)
        key = NULL;
    if (ws_push_defs_changed(sn->ix, repo, t->ref, dflt, &ch) &&
        !(key && sn->read_for && strcmp(sn->read_for, key) == 0)) {
        /* Application files changed: read them again at the new commit (the
         * mirror was just fetched) and route with the new definitions —
         * unless they were read for this very push already (a poll and a
         * webhook both route it: reading again would make it look new). */
        struct ws_catalog cat;
        struct snapshot *fresh;
        if ((rc = ws_catalog_load(&cat, cfg, j->fetch_started, &err)) < 0)
            goto fail;
        if (!(fresh = snap_new(&cat, cfg, &err))) {
            rc = err.code;
            goto fail;
        }
        ws__snap_unref(j->new_snap);
        j->new_snap = sn = fresh;
        fresh->read_for = key;
        key = NULL;
        r->reloaded = 1;
    }
    if ((rc = ws_push_match(&targets, &n, sn->ix, repo, t->ref, dflt, &ch, &err)) < 0)
        goto fail;
    r->apps = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct ws_app *app = &sn->cat.apps[targets[i].app];
        /* Argo CD's semantics: a push syncs only an automated application; a
           manual one becomes OutOfSync at the pushed commit and waits */
        if (app->automated)
            json_array_append_new(r->apps, json_pack("{s:s, s:s?}", "app", app->name, /* steals */
                                                     "revision", targets[i].pinned ? ch.after : NULL));
        else
            json_array_append_new(r->apps, json_pack("{s:s, s:b, s:s}", "app", app->name, "manual", 1, /* steals */
                                                     "commit", ch.after));
    }
    r->outcome = T_ROUTED;
    if (!ch.all && ch.paths && (r->paths = json_array())) /* kept with the trigger, for the page: bounded */
        for (size_t k = 0; k < json_array_size(ch.paths) && k < 500; k++)
            json_array_append(r->paths, json_array_get(ch.paths, k));
    if (ch.all)
        snprintf(r->detail, sizeof(r->detail), "%s..%.12s: every path counts as changed (%s); %zu %s",
                 t->before, ch.after, ch.why_all, n, ws_plural(n, "application", "applications"));
    else
        snprintf(r->detail, sizeof(r->detail), "%.12s..%.12s: %zu changed %s, %zu %s", ch.base, ch.after,
                 json_array_size(ch.paths), ws_plural(json_array_size(ch.paths), "path", "paths"), n,
                 ws_plural(n, "application", "applications"));
    goto out;
fail:
    r->outcome = T_FAILED;
    snprintf(r->detail, sizeof(r->detail), "%s", err.msg);
out:
    free(targets);
    free(head);
    free(key);
    ws_git_push_free(&ch);
}

static void route_work(uv_work_t *w)
{
    struct route_job *j = ws_container_of(w, struct route_job, work);
    const struct ws_repo *repo = &j->s->cfg->repos[j->repo];
    struct ws_git_creds creds = {repo->username, repo->password};
    char *cache = NULL, *mirror = NULL;
    struct ws_err err;
    size_t i = 0;
    struct trig *t;

    ws_err_clear(&err);
    if (asprintf(&cache, "%s/repos", j->s->cfg->settings.state_dir) < 0) {
        cache = NULL;
        ws_err_set(&err, WS_ENOMEM, "out of memory");
    } else if (ws_git_mirror(&mirror, cache, repo->url, &creds, &err) == 0) {
        for (t = j->trigs; t; t = t->next, i++) {
            route_one(j, repo, mirror, t, &j->res[i]);
            if (j->res[i].outcome == T_RETRY) /* keep the order: later pushes wait too */
                break;
        }
    }
    for (t = j->trigs, i = 0; t; t = t->next, i++)
        if (j->res[i].outcome == T_NONE) {
            j->res[i].outcome = T_RETRY;
            snprintf(j->res[i].detail, sizeof(j->res[i].detail), "%s",
                     err.msg[0] ? err.msg : "waiting for an earlier push of this repository");
        }
    free(mirror);
    free(cache);
}

static void start_routing(struct svc *s, size_t repo);

static void on_retry_timer(uv_timer_t *t)
{
    struct svc *s = t->data;
    for (size_t r = 0; r < s->cfg->nrepos; r++)
        if (s->queues[r].retry == t) {
            ws_timer_close(&s->queues[r].retry);
            start_routing(s, r);
            return;
        }
}

struct routed_ctx {
    struct svc *s;
    json_t *apps;
    json_t *extra; /* the trigger's commit status target ({fullName, projectId}), or NULL */
    int64_t trigger;
    /* what is recorded, kept while the store is unreachable: recorded again */
    json_t *paths;
    char *state, *detail;
    uv_timer_t *again;
    int attempts;
};

static void routed_ctx_free(struct routed_ctx *c)
{
    json_decref(c->apps);
    json_decref(c->extra);
    json_decref(c->paths);
    free(c->state);
    free(c->detail);
    ws_timer_close(&c->again);
    free(c);
}

static void post_awaiting_status(struct svc *s, const char *app, const char *sha, json_t *extra);

static void on_routed_stored(int code, const struct ws_err *err, void *data);

static void record_routed_again(uv_timer_t *t)
{
    struct routed_ctx *c = t->data;
    ws_timer_close(&c->again);
    c->s->recording--;
    if (ws_store_routed(c->s->store, c->trigger, c->apps, c->paths, c->state, c->detail, on_routed_stored, c) < 0) {
        c->s->routing--;
        routed_ctx_free(c);
    }
}

static void on_routed_stored(int code, const struct ws_err *err, void *data)
{
    struct routed_ctx *c = data;
    struct svc *c_s_of_freed = c->s;
    json_t *v;
    size_t i;
    if (code == 0) {
        json_array_foreach(c->apps, i, v) {
            struct app_state *a = ws__svc_app(c->s, json_string_value(json_object_get(v, "app")));
            const char *commit = json_string_value(json_object_get(v, "commit"));
            if (a && json_is_true(json_object_get(v, "manual"))) {
                if (c->trigger < a->awaiting_trigger)
                    continue; /* routed out of order: a newer push already said more */
                a->awaiting_trigger = c->trigger;
                ws_info("%s: manual sync policy: OutOfSync at %.12s, awaiting a manual sync", a->name,
                        commit ? commit : "?");
                snprintf(a->awaiting_revision, sizeof(a->awaiting_revision), "%s", commit ? commit : "");
                a->awaiting_since = ws_wall_s();
                post_awaiting_status(c->s, a->name, commit, c->extra);
                ws__track_app(c->s, a->name, commit); /* compare the cluster with the pushed commit */
                ws__svc_app_changed(c->s, a->name);
            } else if (a) {
                a->pending = 1;
                ws_timer_close(&a->retry); /* a newer push supersedes a retry of an older one */
                a->attempts = 0;
                ws__svc_app_changed(c->s, a->name);
            }
        }
        ws__svc_schedule(c->s);
    } else if (code == WS_ENET && c->attempts < 120 && !(c->s->stopping && c->attempts > 0) &&
               (c->again = ws_timer_start(c->s->loop, c->attempts < 4 ? 500 : 5000, record_routed_again, c))) {
        /* the store cannot be reached (PostgreSQL restarting): the trigger
           stays received there until this is recorded */
        if (c->attempts++ == 0)
            ws_warn("store: trigger %lld routed but not recorded yet (%s); trying again", (long long)c->trigger,
                    err ? err->msg : ws_code_str(code));
        c->s->recording++;
        return;
    } else {
        ws_error("store: cannot record a routed push: %s", err ? err->msg : ws_code_str(code));
    }
    c->s->routing--;
    routed_ctx_free(c);
    ws__svc_maybe_finish(c_s_of_freed);
}

static void maybe_finish(struct svc *s);

static void route_after(uv_work_t *w, int status)
{
    struct route_job *j = ws_container_of(w, struct route_job, work);
    struct svc *s = j->s;
    struct repo_queue *q = &s->queues[j->repo];
    struct trig *t = j->trigs, *next, *retry = NULL, **rtail = &retry;
    size_t i = 0, repo = j->repo, j_ntrigs;
    uint64_t now = ws_now_ms();
    int delay = 0;

    if (status < 0) /* the work never ran: every trigger waits for another try */
        for (i = 0; i < j->ntrigs; i++)
            if (j->res[i].outcome == T_NONE)
                j->res[i].outcome = T_RETRY;
    i = 0;
    /* Application files changed: install the catalog read on the worker,
       unless a job that started later already installed a newer one */
    if (j->new_snap && j->gen >= s->snap_gen) {
        ws__snap_unref(s->snap);
        s->snap = j->new_snap;
        s->snap_gen = ++s->gen_counter;
        j->new_snap = NULL;
        if (sync_app_states(s) < 0)
            ws_error("out of memory tracking applications");
        log_catalog_problems(&s->snap->cat);
        ws_info("applications re-read: %zu", s->snap->cat.napps);
        ws__events_publish(s, "applications", NULL,
                           json_pack("{s:I}", "count", (json_int_t)s->snap->cat.napps));
        for (size_t k = 0; k < s->snap->cat.napps; k++) { /* new ones: start following them */
            struct ws_live_summary sum;
            ws_live_summary(s->live, s->snap->cat.apps[k].name, &sum);
            if (!sum.tracked) /* ws__track_app leaves those another replica follows */
                ws__track_app(s, s->snap->cat.apps[k].name, NULL);
        }
    }
    ws__snap_unref(j->new_snap); /* superseded */
    j->new_snap = NULL;
    ws__hist_add(&s->m.route_ms, (double)(now - j->started_ms), ws__route_bounds);
    for (size_t k = 0; k < j->ntrigs; k++)
        if (j->res[k].dflt[0] && (!q->default_branch || strcmp(q->default_branch, j->res[k].dflt) != 0)) {
            free(q->default_branch);
            q->default_branch = strdup(j->res[k].dflt);
        }
    for (; t; t = next, i++) {
        struct route_result *r = &j->res[i];
        next = t->next;
        t->next = NULL;
        if (r->outcome == T_RETRY && now - t->first_try_ms < s->cfg->server.fetch_retry_ms && !s->stopping) {
            t->attempts++;
            *rtail = t;
            rtail = &t->next;
            ws_info("trigger %lld: %s; retrying", (long long)t->id, r->detail);
            delay = RETRY_FIRST_MS << (t->attempts < 5 ? t->attempts - 1 : 4);
            continue;
        }
        if (r->outcome == T_RETRY && !s->stopping)
            r->outcome = T_FAILED;
        if (r->outcome == T_RETRY) { /* stopping: stays "received", routed at the next start */
            s->routing--;
            trig_free(t);
            continue;
        }
        if (r->outcome == T_ROUTED) { /* a poll and a webhook may both have seen this push */
            ws__poll_saw(s, repo, t->ref, t->before, t->after);
            ws__poll_drop_routed(s, t->id, repo, t->ref, r->after, r->tip, r->reloaded, r->apps, r->detail,
                                 sizeof(r->detail));
        }
        struct routed_ctx *c = calloc(1, sizeof(*c));
        if (c) {
            c->s = s;
            c->apps = r->apps ? json_incref(r->apps) : json_array();
            c->extra = json_incref(t->extra);
            c->trigger = t->id;
        }
        if (r->outcome == T_ROUTED) {
            s->m.routed++;
            ws_log_at(WS_LOG_INFO, &(struct ws_log_ctx){NULL, 0, t->id}, "trigger %lld routed: %s", (long long)t->id,
                      r->detail);
        } else {
            s->m.route_failures++;
            ws_log_at(WS_LOG_ERROR, &(struct ws_log_ctx){NULL, 0, t->id}, "trigger %lld: %s", (long long)t->id,
                      r->detail);
        }
        ws__events_publish(s, "trigger", NULL,
                           json_pack("{s:I, s:s, s:s, s:s, s:s, s:O?}", "trigger", (json_int_t)t->id, "repository",
                                     s->cfg->repos[j->repo].name, "ref", t->ref, "state",
                                     r->outcome == T_ROUTED ? "Routed" : "Failed", "detail", r->detail,
                                     "applications", r->outcome == T_ROUTED ? r->apps : NULL));
        if (c) {
            if (r->outcome != T_ROUTED) {
                json_decref(c->apps);
                c->apps = NULL;
            }
            c->paths = json_incref(r->paths);
            c->state = strdup(r->outcome == T_ROUTED ? "routed" : "failed");
            c->detail = strdup(r->detail);
        }
        if (!c || !c->state || !c->detail ||
            ws_store_routed(s->store, t->id, c->apps, c->paths, c->state, c->detail, on_routed_stored, c) < 0) {
            if (c)
                routed_ctx_free(c);
            s->routing--;
        }
        trig_free(t); /* counted in `routing` until its outcome is stored */
    }
    for (i = 0; i < j->ntrigs; i++) {
        json_decref(j->res[i].apps);
        json_decref(j->res[i].paths);
    }
    j_ntrigs = j->ntrigs;
    free(j->res);
    ws__snap_unref(j->snap);
    free(j);
    q->busy = 0;
#ifdef __GLIBC__
    /* a large burst leaves glibc holding the freed memory: give it back */
    if (j_ntrigs > 256 && !q->head && !retry)
        malloc_trim(0);
#endif
    if (retry) { /* back to the front, in order */
        *rtail = q->head;
        if (!q->head)
            q->tail = rtail;
        q->head = retry;
        if (delay > RETRY_MAX_MS)
            delay = RETRY_MAX_MS;
        if (!q->retry)
            q->retry = ws_timer_start(s->loop, (uint64_t)delay, on_retry_timer, s);
    } else if (q->head && !s->stopping) {
        start_routing(s, repo);
    }
    maybe_finish(s);
}

static void start_routing(struct svc *s, size_t repo)
{
    struct repo_queue *q = &s->queues[repo];
    struct route_job *j;
    size_t n = 0;
    if (q->busy || q->retry || !q->head || s->stopping || s->reloading) /* reloading: the next image routes it */
        return;
    if (!(j = calloc(1, sizeof(*j))))
        return;
    for (struct trig *t = q->head; t; t = t->next)
        n++;
    if (!(j->res = calloc(n, sizeof(*j->res)))) {
        free(j);
        return;
    }
    j->s = s;
    j->repo = repo;
    j->snap = s->snap;
    s->snap->refs++;
    j->trigs = q->head;
    j->ntrigs = n;
    q->head = NULL;
    q->tail = &q->head;
    j->fetch_started = ws_wall_ms();
    j->started_ms = ws_now_ms();
    j->gen = s->snap_gen;
    q->last_fetch = j->fetch_started;
    q->busy = 1;
    if (uv_queue_work(s->loop, &j->work, route_work, route_after) < 0) {
        /* give the triggers back (in order) and try again later */
        struct trig **tail = &j->trigs;
        ws_error("cannot start routing; retrying");
        while (*tail)
            tail = &(*tail)->next;
        *tail = q->head;
        if (!q->head)
            q->tail = tail;
        q->head = j->trigs;
        q->busy = 0;
        ws__snap_unref(j->snap);
        free(j->res);
        free(j);
        if (!q->retry)
            q->retry = ws_timer_start(s->loop, RETRY_MAX_MS, on_retry_timer, s);
    }
}

void ws__svc_app_changed(struct svc *s, const char *app)
{
    const struct ws_app *def = ws__svc_app_def(s, app);
    if (def && s->events)
        ws__events_publish(s, "app", app, ws__api_app_json(s, def));
}

void ws__svc_routed_later(struct svc *s, size_t repo, int64_t id, const char *ref, const char *before,
                          const char *after, const char *default_branch, json_t *extra)
{
    struct repo_queue *q = &s->queues[repo];
    struct trig *t = calloc(1, sizeof(*t));
    if (!t || !(t->ref = strdup(ref)) || !(t->before = strdup(before ? before : "")) ||
        !(t->after = strdup(after)) || (default_branch && !(t->default_branch = strdup(default_branch)))) {
        if (t)
            trig_free(t);
        ws_error("out of memory queueing trigger %lld (it is routed at the next start)", (long long)id);
        return;
    }
    t->id = id;
    t->extra = json_incref(extra);
    t->first_try_ms = ws_now_ms();
    s->routing++;
    ws__events_publish(s, "trigger", NULL,
                       json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "trigger", (json_int_t)id, "repository",
                                 s->cfg->repos[repo].name, "ref", ref, "before", before ? before : "", "after", after,
                                 "state", "Received"));
    *q->tail = t;
    q->tail = &t->next;
    start_routing(s, repo);
}

/* --- runs --------------------------------------------------------------------------- */

struct job {
    struct svc *s;
    struct snapshot *snap;
    char *app;
    int64_t run, trigger;
    char *revision;
    int prune, dry_run, requeue;
    json_t *extra;
    struct ws_sync *sync;
    struct ws_sync_opts opts;
    const struct ws_repo *status_repo;
    struct ws_kube *kube;     /* the cluster it syncs to */
    /* its end, until the store has it: recorded again while the store is
       unreachable (PostgreSQL down or restarting) */
    char *rec_result, *rec_message;
    json_t *rec_report;
    uv_timer_t *rec_timer;
    int rec_attempts;
};

struct ws_sync *ws__job_sync(struct job *j)
{
    return j->sync;
}

void ws__job_requeue(struct job *j)
{
    j->requeue = 1;
}

/* What a run's log lines are about (the journal's WAVESYNC_* fields). */
#define JOB_LOG(j) (&(struct ws_log_ctx){(j)->app, (j)->run, (j)->trigger})

static void job_free(struct job *j)
{
    ws__snap_unref(j->snap);
    free(j->app);
    free(j->revision);
    json_decref(j->extra);
    free(j->rec_result);
    free(j->rec_message);
    json_decref(j->rec_report);
    ws_timer_close(&j->rec_timer);
    free(j);
}

/* The repository whose commit the run is about, when it reports statuses. */
static const struct ws_repo *status_repo_for(struct svc *s, const struct ws_app *app)
{
    const struct ws_repo *r;
    if (!app || app->nsources == 0 || !(r = ws_config_repo_by_url(s->cfg, app->sources[0].repo_url)))
        return NULL;
    return r->status_provider ? r : NULL;
}

static void on_status_posted(int code, const struct ws_err *err, void *data)
{
    char *what = data;
    if (code < 0 && code != WS_ECANCELED)
        ws_warn("commit status for %s not posted: %s", what, err ? err->msg : ws_code_str(code));
    free(what);
}

/* Post a commit status for `app` at `sha` to the forge of repository `r`
 * (NULL: statuses are not configured). `extra` is the trigger's target
 * ({fullName, projectId}); `link` is the path under server.publicURL. */
static void post_commit_status(struct svc *s, const struct ws_repo *r, const char *app, json_t *extra,
                               const char *link, const char *sha, enum ws_status_state state, const char *desc)
{
    struct ws_status_target t;
    char context[256], url[512], *what = NULL;
    const char *project;
    if (!r || !sha || strlen(sha) < 7 || !s->status)
        return;
    memset(&t, 0, sizeof(t));
    if (ws_status_provider_parse(&t.provider, r->status_provider) < 0)
        return;
    project = r->status_project ? r->status_project
              : t.provider == WS_STATUS_GITHUB ? json_string_value(json_object_get(extra, "fullName"))
                                               : json_string_value(json_object_get(extra, "projectId"));
    if (!project) {
        ws_debug("commit status for %s skipped: no project known (set repositories[].status.project)", app);
        return;
    }
    snprintf(context, sizeof(context), "wavesync/%s", app);
    t.api_url = r->status_api_url;
    t.token = r->status_token;
    t.repo = project;
    t.sha = sha;
    t.context = context;
    t.state = state;
    t.description = desc;
    if (s->cfg->server.public_url && link) {
        snprintf(url, sizeof(url), "%s%s", s->cfg->server.public_url, link);
        t.target_url = url;
    }
    if (asprintf(&what, "%s@%.12s", app, sha) < 0)
        what = NULL;
    if (ws_status_post(s->status, &t, on_status_posted, what) < 0)
        free(what);
}

static void post_status(struct job *j, const char *sha, enum ws_status_state state, const char *desc)
{
    char link[64];
    snprintf(link, sizeof(link), "/api/v1/runs/%lld", (long long)j->run);
    post_commit_status(j->s, j->status_repo, j->app, j->extra, link, sha, state, desc);
}

/* A push changed a manual application: say so on the commit, as pending. */
static void post_awaiting_status(struct svc *s, const char *app, const char *sha, json_t *extra)
{
    const struct ws_app *def = ws__svc_app_def(s, app);
    char *link = NULL, *esc = ws_url_escape(app);
    if (esc && asprintf(&link, "/api/v1/applications/%s", esc) < 0)
        link = NULL;
    post_commit_status(s, def ? status_repo_for(s, def) : NULL, app, extra, link, sha, WS_STATUS_PENDING,
                       "OutOfSync: awaiting manual sync");
    free(link);
    free(esc);
}

static int maybe_retry(struct svc *s, struct app_state *a, const struct ws_app *def, const char *revision);

void ws__svc_sync_opts(const struct svc *s, struct ws_sync_opts *o)
{
    o->wave_timeout_ms = s->cfg->settings.wave_timeout_ms;
    o->sync_timeout_ms = s->cfg->settings.sync_timeout_ms;
    o->state_dir = s->cfg->settings.state_dir;
    o->inventory_namespace = s->cfg->settings.inventory_namespace;
    o->config = s->cfg;
    o->lua_health = s->lua;
}

static int result_index(const char *result)
{
    for (size_t i = 0; i < WS_ARRAY_SIZE(run_results); i++)
        if (result && strcmp(result, run_results[i]) == 0)
            return (int)i;
    return 2;
}

static void on_run_recorded(int code, const struct ws_err *err, void *data);

static void record_again(uv_timer_t *t)
{
    struct job *j = t->data;
    ws_timer_close(&j->rec_timer);
    j->s->recording--;
    if (ws_store_run_finish(j->s->store, j->run, j->rec_result, j->rec_message, j->rec_report, on_run_recorded, j) < 0)
        job_free(j);
}

static void on_run_recorded(int code, const struct ws_err *err, void *data)
{
    struct job *j = data;
    struct svc *s = j->s;
    /* the store cannot be reached: the run's end is recorded again (up to
       about ten minutes; while stopping, once more) — until then it is
       "running" there, and no replica starts another run of it */
    if (code == WS_ENET && j->rec_result && j->rec_attempts < 120 && !(s->stopping && j->rec_attempts > 0) &&
        (j->rec_timer = ws_timer_start(s->loop, j->rec_attempts < 4 ? 500 : 5000, record_again, j))) {
        if (j->rec_attempts++ == 0)
            ws_warn("store: run %lld of %s not recorded yet (%s); trying again", (long long)j->run, j->app,
                    err ? err->msg : ws_code_str(code));
        s->recording++;
        return;
    }
    if (code == WS_ECONFLICT)
        ws_warn("store: run %lld of %s: %s", (long long)j->run, j->app, err ? err->msg : ws_code_str(code));
    else if (code < 0)
        ws_error("store: run %lld of %s not recorded: %s", (long long)j->run, j->app,
                 err ? err->msg : ws_code_str(code));
    else if (j->rec_attempts)
        ws_info("store: run %lld of %s recorded", (long long)j->run, j->app);
    job_free(j);
    ws__svc_maybe_finish(s);
}

/* A running sync's waves and objects, as events of its run. */
static void on_sync_event(const struct ws_sync *sync, const char *type, const json_t *ev, void *data)
{
    struct job *j = data;
    json_t *o = json_deep_copy(ev);
    (void)sync;
    if (!o)
        return;
    json_object_set_new(o, "run", json_integer(j->run));
    json_object_set_new(o, "app", json_string(j->app));
    ws__events_publish(j->s, type, j->app, o);
}

static void on_sync_done(struct ws_sync *sync, int code, json_t *report, void *data)
{
    struct job *j = data;
    struct svc *s = j->s;
    struct app_state *a = ws__svc_app(s, j->app);
    const char *app_name = a ? a->name : "";
    int64_t trigger = j->trigger, run_id = j->run;
    int j_requeued = j->requeue;
    const char *result = json_string_value(json_object_get(report, "result"));
    const char *message = json_string_value(json_object_get(report, "message"));
    const char *commit = json_string_value(json_object_get(report, "revision"));
    json_t *w;
    size_t i;
    char desc[256];
    j->sync = NULL;
    ws__svc_parent_ended(s, sync);
    /* what this run applied is what the live state compares with from now on */
    if (!j->dry_run && j->kube && commit && !j->requeue)
        ws__track_desired(s, j->app, j->kube, sync, commit);
    if (!result)
        result = code == 0 ? "Succeeded" : "Error";
    if (j->requeue) {
        ws_log_at(WS_LOG_INFO, JOB_LOG(j), "run %lld of %s %s", (long long)j->run, j->app,
                  s->stopping ? "stopped by shutdown; it runs again at the next start"
                              : "stopped: this replica may not write any more (its lease); it runs again");
        if (ws_store_run_requeue(s->store, j->run, on_run_recorded, j) < 0)
            job_free(j);
        j = NULL;
    } else {
        s->m.runs_by_result[result_index(result)]++;
        ws__hist_add(&s->m.sync_s, (double)json_integer_value(json_object_get(report, "durationMs")) / 1000.0,
                     ws__sync_bounds);
        json_array_foreach(json_object_get(report, "waves"), i, w)
            ws__hist_add(&s->m.wave_s, (double)json_integer_value(json_object_get(w, "durationMs")) / 1000.0,
                         ws__wave_bounds);
        ws_log_at(strcmp(result, "Succeeded") == 0 ? WS_LOG_INFO : WS_LOG_WARN, JOB_LOG(j),
                  "run %lld of %s at %.12s: %s%s%s", (long long)j->run, j->app, commit ? commit : "?", result,
                  message && *message ? ": " : "", message ? message : "");
        snprintf(desc, sizeof(desc), "%s%s%s", result, message && *message ? ": " : "", message ? message : "");
        if (!j->dry_run)
            post_status(j, commit, strcmp(result, "Succeeded") == 0 ? WS_STATUS_SUCCESS
                                   : strcmp(result, "Canceled") == 0 ? WS_STATUS_CANCELED
                                   : strcmp(result, "Failed") == 0   ? WS_STATUS_FAILURE
                                                                     : WS_STATUS_ERROR,
                        desc);
        if (a) {
            /* a successful sync asked after the push settles a manual application (store: the same rule) */
            if (strcmp(result, "Succeeded") == 0 && !j->dry_run && j->trigger >= a->awaiting_trigger)
                a->awaiting_revision[0] = '\0';
            if (strcmp(result, "Succeeded") == 0 && !j->dry_run)
                a->last_success_ms = ws_now_ms();
            a->last_run = j->run;
            a->last_finished_at = ws_wall_s();
            snprintf(a->last_result, sizeof(a->last_result), "%s", result);
            snprintf(a->last_revision, sizeof(a->last_revision), "%s", commit ? commit : "");
            /* a failed sync (not bad input, not a dry run) follows syncPolicy.retry */
            if (strcmp(result, "Failed") != 0 || j->dry_run || ws_err_class(code) != WS_ERRC_FAILED ||
                !maybe_retry(s, a, ws_catalog_find(&j->snap->cat, j->app), j->revision))
                a->attempts = 0;
        }
        j->rec_result = strdup(result);
        j->rec_message = message ? strdup(message) : NULL;
        j->rec_report = json_incref(report);
        if (ws_store_run_finish(s->store, j->run, result, message, report, on_run_recorded, j) < 0)
            job_free(j);
    }
    if (a)
        a->running = NULL;
    s->running--;
    ws__events_publish(s, "run", app_name,
                       json_pack("{s:I, s:s, s:I, s:s, s:s?, s:s?, s:I}", "run", (json_int_t)run_id, "app", app_name,
                                 "trigger", (json_int_t)trigger, "state", j_requeued ? "Interrupted" : result,
                                 "message", message, "revision", commit,
                                 "durationMs", json_integer_value(json_object_get(report, "durationMs"))));
    if (a)
        ws__svc_app_changed(s, a->name);
    if (!j_requeued)
        ws__svc_child_ended(s, app_name, trigger, result && strcmp(result, "Succeeded") == 0, message);
    ws__svc_schedule(s);
    if (a)
        ws__track_after_run(s, a->name);
    maybe_finish(s);
}

/* --- syncPolicy.retry: a failed sync runs again after a growing backoff ------------- */

/* A run the service decided on itself (a retry, a self-heal): made durable,
 * then pending like any other. `what` names it in the log. */
struct queued_ctx {
    struct svc *s;
    char *app;
    const char *what;
};

static void on_run_queued(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct queued_ctx *c = data;
    struct app_state *a = ws__svc_app(c->s, c->app);
    (void)duplicate;
    if (code < 0) {
        ws_error("%s of %s not queued: %s", c->what, c->app, err ? err->msg : ws_code_str(code));
    } else if (a) {
        a->pending = 1;
        ws_log_at(WS_LOG_INFO, &(struct ws_log_ctx){c->app, 0, id}, "%s of %s queued (trigger %lld)", c->what,
                  c->app, (long long)id);
        ws__svc_app_changed(c->s, c->app);
        ws__svc_schedule(c->s);
    }
    free(c->app);
    free(c);
}

int ws__svc_queue_run(struct svc *s, const struct ws_trigger_in *in, const char *what)
{
    struct queued_ctx *c = calloc(1, sizeof(*c));
    if (!c || !(c->app = strdup(in->app))) {
        free(c);
        return WS_ENOMEM;
    }
    c->s = s;
    c->what = what;
    if (ws_store_accept(s->store, in, on_run_queued, c) < 0) {
        free(c->app);
        free(c);
        return WS_ENOMEM;
    }
    return 0;
}

static void on_retry_due(uv_timer_t *t)
{
    struct svc *s = t->data;
    struct ws_trigger_in in;
    for (size_t i = 0; i < s->napps; i++) {
        struct app_state *a = &s->apps[i];
        if (a->retry != t)
            continue;
        ws_timer_close(&a->retry);
        /* a newer push or a manual run got there first: nothing to retry */
        if (a->pending || a->running || s->stopping)
            break;
        memset(&in, 0, sizeof(in));
        in.source = "retry";
        in.app = a->name;
        in.revision = a->retry_revision;
        ws__svc_queue_run(s, &in, "retry");
        break;
    }
}

/* After a failed run: schedule the next attempt if the Application asks for
 * retries (limit < 0: unlimited). Returns 1 when one was scheduled. */
static int maybe_retry(struct svc *s, struct app_state *a, const struct ws_app *def, const char *revision)
{
    uint64_t delay;
    if (!def || def->retry_limit == 0 || (def->retry_limit > 0 && a->attempts >= def->retry_limit) ||
        a->attempts >= 100 || s->stopping)
        return 0;
    delay = def->retry_backoff_ms ? def->retry_backoff_ms : 5000;
    for (int i = 0; i < a->attempts && delay < 3600 * 1000 &&
                    (!def->retry_max_backoff_ms || delay < def->retry_max_backoff_ms); i++)
        delay *= (uint64_t)(def->retry_factor > 0 ? def->retry_factor : 2);
    if (def->retry_max_backoff_ms && delay > def->retry_max_backoff_ms)
        delay = def->retry_max_backoff_ms;
    if (delay > 3600 * 1000) /* no maxDuration: still bounded */
        delay = 3600 * 1000;
    free(a->retry_revision);
    a->retry_revision = ws_strdup0(revision);
    ws_timer_close(&a->retry);
    if (!(a->retry = ws_timer_start(s->loop, delay, on_retry_due, s)))
        return 0;
    a->attempts++;
    ws_log_at(WS_LOG_INFO, &(struct ws_log_ctx){def->name, 0, 0}, "%s failed: retry %d%s%d in %.1fs", def->name,
              a->attempts, def->retry_limit > 0 ? " of " : "", def->retry_limit > 0 ? def->retry_limit : 0,
              (double)delay / 1000.0);
    return 1;
}

static void fail_run(struct svc *s, struct job *j, const char *msg)
{
    json_t *rep = json_pack("{s:s, s:s, s:s, s:I, s:[], s:[], s:[]}", "application", j->app, "result", "Error",
                            "message", msg, "durationMs", (json_int_t)0, "waves", "objects", "pruned");
    struct app_state *a = ws__svc_app(s, j->app);
    ws_log_at(WS_LOG_ERROR, JOB_LOG(j), "run %lld of %s: %s", (long long)j->run, j->app, msg);
    s->m.runs_by_result[2]++;
    if (a) {
        a->running = NULL;
        a->last_run = j->run;
        snprintf(a->last_result, sizeof(a->last_result), "Error");
    }
    s->running--;
    if (a)
        ws__svc_child_ended(s, a->name, j->trigger, 0, msg);
    if (ws_store_run_finish(s->store, j->run, "Error", msg, rep, on_run_recorded, j) < 0)
        job_free(j);
    json_decref(rep);
}

static void on_backoff(uv_timer_t *t);

struct take_ctx {
    struct svc *s;
    char *app;
    char *refuse;   /* the run is recorded as an Error with this message instead */
};

/* Is there a depends-on path from `from` back to `target` among the
 * Applications of the snapshot? (depth-bounded; names the first one found) */
static int reaches(const struct ws_catalog *cat, const char *from, const char *target, size_t depth)
{
    const struct ws_app *def = ws_catalog_find(cat, from);
    const char *value = def ? json_string_value(json_object_get(def->annotations, "wavesync.dev/depends-on")) : NULL;
    char **names = NULL;
    int found = 0;
    if (!value || depth > cat->napps || ws_deps_parse(&names, value) < 0)
        return 0;
    for (size_t k = 0; names[k] && !found; k++)
        found = strcmp(names[k], target) == 0 || reaches(cat, names[k], target, depth + 1);
    for (size_t k = 0; names[k]; k++)
        free(names[k]);
    free(names);
    return found;
}

/* wavesync.dev/depends-on in the service: an application waits while one of
 * its dependencies (an Application in Git now) has a run pending, running or
 * waiting to retry; it runs once they are idle, unless one's last run did not
 * succeed, or it is on a dependency cycle. 0 go, 1 wait, -1 refuse (*why). */
static int deps_block(struct svc *s, const struct app_state *a, char *why, size_t len)
{
    const struct ws_app *def = ws_catalog_find(&s->snap->cat, a->name);
    const char *value = def ? json_string_value(json_object_get(def->annotations, "wavesync.dev/depends-on")) : NULL;
    char **names = NULL;
    int rc = 0;
    if (!value)
        return 0;
    if (ws_deps_parse(&names, value) < 0)
        return 1;
    for (size_t k = 0; names[k] && rc == 0; k++) {
        const struct app_state *d;
        if (!ws_catalog_find(&s->snap->cat, names[k]) || !(d = ws__svc_app(s, names[k])))
            continue; /* not an Application (any more): nothing to wait for */
        if (strcmp(names[k], a->name) == 0 || reaches(&s->snap->cat, names[k], a->name, 0)) {
            snprintf(why, len, "not synced: wavesync.dev/depends-on cycle through \"%s\" and \"%s\" (%s:%d)",
                     a->name, names[k], def->file, def->line);
            rc = -1;
        } else if (d->pending || d->starting || d->running || d->retry) {
            rc = 1;
        } else if (d->last_result[0] && strcmp(d->last_result, "Succeeded") != 0) {
            snprintf(why, len, "not synced: it depends on \"%s\", whose last sync was %s (wavesync.dev/depends-on)",
                     names[k], d->last_result);
            rc = -1;
        }
    }
    for (size_t k = 0; names[k]; k++)
        free(names[k]);
    free(names);
    return rc;
}

/* What the watches show: an object already live as Git says (and Healthy)
 * is not applied again. */
static int run_live_unchanged(const json_t *obj, void *data)
{
    struct job *j = data;
    return ws_live_unchanged(j->s->live, j->app, obj);
}

/* The fence: this replica's lease is fresh, else the run stops and goes
 * back to pending (another replica runs it, or this one once it is back). */
static int job_may_write(void *data, char *why, size_t len)
{
    struct job *j = data;
    if (ws__replicas_may_write(j->s, why, len))
        return 1;
    j->requeue = 1;
    return 0;
}

static void on_run_taken(int code, const struct ws_err *err, json_t *row, void *data)
{
    struct take_ctx *c = data;
    struct svc *s = c->s;
    struct app_state *a = ws__svc_app(s, c->app);
    const struct ws_app *def;
    struct ws_kube *kube;
    struct job *j = NULL;
    struct ws_err e;
    ws_err_clear(&e);
    if (a)
        a->starting = 0;
    if (code < 0 || !row || !a) {
        s->running--;
        if (code < 0) { /* the store failed: try again later, not in a hot loop */
            ws_error("store: cannot start a run of %s: %s", c->app, err ? err->msg : ws_code_str(code));
            if (!s->stopping && !s->backoff)
                s->backoff = ws_timer_start(s->loop, 1000, on_backoff, s);
            free(c->app);
            free(c->refuse);
            free(c);
            maybe_finish(s);
            return;
        }
        if (a)
            a->pending = 0;
        goto out;
    }
    if (json_is_true(json_object_get(row, "busy"))) {
        /* another replica runs it: the pending run waits for that one to end */
        s->running--;
        a->busy_elsewhere = json_integer_value(json_object_get(row, "run"));
        goto out;
    }
    a->pending = 0;
    ws_timer_close(&a->retry); /* this run is newer than any retry waiting */
    if (s->stopping) { /* taken while stopping: back to pending for the next start */
        s->running--;
        ws_store_run_requeue(s->store, json_integer_value(json_object_get(row, "id")), NULL, NULL);
        goto out;
    }
    if (!(j = calloc(1, sizeof(*j))) || !(j->app = strdup(c->app))) {
        free(j);
        s->running--;
        goto out;
    }
    j->s = s;
    j->snap = s->snap;
    s->snap->refs++;
    j->run = json_integer_value(json_object_get(row, "id"));
    j->trigger = json_integer_value(json_object_get(row, "trigger"));
    j->revision = ws_strdup0(json_string_value(json_object_get(row, "revision")));
    j->prune = (int)json_integer_value(json_object_get(row, "prune"));
    j->dry_run = (int)json_integer_value(json_object_get(row, "dryRun"));
    j->extra = json_incref(json_object_get(row, "extra"));
    a->running = j;
    if (c->refuse) {
        fail_run(s, j, c->refuse);
        goto out;
    }
    if (!(def = ws_catalog_find(&j->snap->cat, j->app))) {
        fail_run(s, j, "the Application no longer exists in Git");
        goto out;
    }
    j->status_repo = status_repo_for(s, def);
    j->opts.revision = j->revision;
    j->opts.prune = j->prune;
    j->opts.dry_run = j->dry_run;
    ws__svc_sync_opts(s, &j->opts);
    j->opts.force_conflicts = json_is_true(json_object_get(j->extra, "selfHeal"));
    j->opts.sync_child = ws__svc_sync_child;
    j->opts.prune_child = ws__svc_prune_child;
    j->opts.child_data = s;
    j->opts.event = on_sync_event;
    j->opts.event_data = j;
    j->opts.may_write = job_may_write;
    j->opts.may_write_data = j;
    if (s->live) {
        j->opts.live_unchanged = run_live_unchanged;
        j->opts.live_data = j;
    }
    /* a pushed commit was fetched while routing; a manual run fetches — and
       so does a replica that did not route the push itself, unless its
       mirror was fetched after the push arrived */
    if (j->revision && strlen(j->revision) == 40) {
        int64_t owner = json_integer_value(json_object_get(row, "triggerOwner"));
        if (!ws_store_shared(s->store) || owner == ws_store_replica(s->store))
            j->opts.fetched_since = ws__svc_last_fetch(s, def);
        else
            j->opts.fetched_since = (json_integer_value(json_object_get(row, "receivedAt")) + 1) * 1000;
    }
    if (!(j->kube = kube = ws_clusters_for(&s->clusters, def, &e)) ||
        ws_sync_start(&j->sync, s->loop, kube, def, &j->opts, NULL, on_sync_done, j, &e) < 0) {
        fail_run(s, j, e.msg);
        goto out;
    }
    ws_log_at(WS_LOG_INFO, JOB_LOG(j), "run %lld of %s started (trigger %lld, revision %s%s)", (long long)j->run,
              j->app, (long long)j->trigger, j->revision ? j->revision : "as written", j->dry_run ? ", dry run" : "");
    ws__events_publish(s, "run", j->app,
                       json_pack("{s:I, s:s, s:I, s:s, s:s?, s:b, s:b}", "run", (json_int_t)j->run, "app", j->app,
                                 "trigger", (json_int_t)j->trigger, "state", "Running", "revision", j->revision,
                                 "dryRun", j->dry_run, "prune", j->prune));
    ws__svc_app_changed(s, j->app);
    if (!j->dry_run && j->revision && strlen(j->revision) == 40)
        post_status(j, j->revision, WS_STATUS_RUNNING, "sync started");
out:
    free(c->app);
    free(c->refuse);
    free(c);
    ws__svc_schedule(s);
    maybe_finish(s);
}

static void on_backoff(uv_timer_t *t)
{
    struct svc *s = t->data;
    ws_timer_close(&s->backoff);
    ws__svc_schedule(s);
}

void ws__svc_schedule(struct svc *s)
{
    if (s->backoff)
        return;
    for (size_t i = 0; i < s->napps && !s->stopping; i++) {
        struct app_state *a = &s->apps[i];
        struct take_ctx *c;
        char why[1100];
        int block;
        if (!a->pending || a->running || a->starting || a->busy_elsewhere)
            continue;
        /* reloading: only what a running parent waits for, so that it ends */
        if (s->reloading && !ws__svc_awaited(s, a->name))
            continue;
        /* a child whose parent waits for it may start beyond the limit: the
           parent holds a slot meanwhile (else a parent could wait forever) */
        if (s->running >= s->concurrency && !ws__svc_awaited(s, a->name))
            continue;
        if ((block = deps_block(s, a, why, sizeof(why))) == 1)
            continue;
        if (!(c = calloc(1, sizeof(*c))) || !(c->app = strdup(a->name)) ||
            (block < 0 && !(c->refuse = strdup(why)))) {
            if (c)
                free(c->app);
            free(c);
            return;
        }
        c->s = s;
        a->starting = 1;
        s->running++; /* reserved until the store answers */
        if (ws_store_run_start(s->store, a->name, on_run_taken, c) < 0) {
            a->starting = 0;
            s->running--;
            free(c->app);
            free(c->refuse);
            free(c);
            return;
        }
    }
}

/* --- start and stop ----------------------------------------------------------------- */

static void on_store_closed(void *data)
{
    struct svc *s = data;
    s->stopped = 1;
}

static void close_handle(uv_handle_t *h)
{
    (void)h;
}

static void on_drain_tick(uv_timer_t *t);

void ws__svc_maybe_finish(struct svc *s)
{
    maybe_finish(s);
}

static void maybe_finish(struct svc *s)
{
    size_t r;
    if (!s->stopping || s->running > 0 || s->recording > 0 || s->httpd || !s->store || ws__track_busy(s))
        return;
    for (r = 0; r < s->cfg->nrepos; r++)
        if (s->queues[r].busy)
            return;
    if (ws__poll_busy(s))
        return;
    /* the last commit statuses go out before the client closes (bounded) */
    if (s->status && ws_status_client_pending(s->status) > 0 && !s->drain_expired) {
        if (!s->drain)
            s->drain = ws_timer_start(s->loop, 100, on_drain_tick, s);
        return;
    }
    ws_timer_close(&s->drain);
    ws_timer_close(&s->backoff);
    for (r = 0; r < s->cfg->nrepos; r++)
        ws_timer_close(&s->queues[r].retry);
    for (size_t i = 0; i < s->napps; i++) {
        ws_timer_close(&s->apps[i].retry);
        ws_timer_close(&s->apps[i].heal_timer);
    }
    ws_timer_close(&s->grace);
    ws__track_free(s); /* before the clusters: its watches use their clients */
    if (s->status) {
        ws_status_client_close(s->status);
        s->status = NULL;
    }
    ws_clusters_free(&s->clusters);
    uv_close((uv_handle_t *)&s->sigterm, close_handle);
    uv_close((uv_handle_t *)&s->sigint, close_handle);
    ws__reload_stop(s);
    ws__events_stop(s);
    ws__replicas_stop(s);
    ws_store_close(s->store, on_store_closed, s);
    s->store = NULL;
    ws_info("stopped");
}

static void on_drain_tick(uv_timer_t *t)
{
    struct svc *s = t->data;
    ws_timer_close(&s->drain);
    if (++s->drain_ticks >= 50) { /* 5 s */
        size_t left = s->status ? ws_status_client_pending(s->status) : 0;
        ws_warn("stopping without %zu commit %s still being posted", left, ws_plural(left, "status", "statuses"));
        s->drain_expired = 1;
    }
    maybe_finish(s);
}

static void on_httpd_down(void *data)
{
    struct svc *s = data;
    s->httpd = NULL;
    maybe_finish(s);
}

static void on_grace(uv_timer_t *t)
{
    struct svc *s = t->data;
    ws_timer_close(&s->grace);
    /* a render waits for its tool: kill them all, or the runs cannot end */
    ws_proc_stop_all();
    for (size_t i = 0; i < s->napps; i++) {
        struct job *j = s->apps[i].running;
        if (j && j->sync) {
            j->requeue = 1;
            ws_sync_cancel(j->sync);
        }
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct svc *s = h->data;
    if (ws__reload_execing(s))
        return;
    if (s->stopping) { /* a second signal: do not wait for the grace period */
        if (s->grace)
            on_grace(s->grace);
        return;
    }
    ws__svc_stop(s, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void ws__svc_stop(struct svc *s, const char *why)
{
    if (s->stopping)
        return;
    ws_info("%s: stopping (no new runs; %d running)", why, s->running);
    ws_sd_notify("STOPPING=1");
    s->stopping = 1;
    s->ready = 0;
    ws__track_stop(s);
    ws__poll_stop(s);
    if (s->running > 0)
        s->grace = ws_timer_start(s->loop, s->cfg->server.shutdown_grace_ms, on_grace, s);
    else /* no sync to give a grace: a tracking render must not wait for its tool */
        ws_proc_stop_all();
    if (s->httpd)
        ws_httpd_shutdown(s->httpd, on_httpd_down, s);
    maybe_finish(s);
}

/* What the store had when the service stopped: unrouted triggers are
 * routed, pending runs run. */
void ws__svc_route_stored(struct svc *s, const json_t *v, const char *what)
{
    const struct ws_repo *r = ws_config_repo_by_name(s->cfg, json_string_value(json_object_get(v, "repo")));
    const char *after = json_string_value(json_object_get(v, "after"));
    json_t *extra = json_object_get(v, "extra");
    int64_t id = json_integer_value(json_object_get(v, "id"));
    if (!r || !after) {
        ws_store_routed(s->store, id, NULL, NULL, "failed", "the repository is no longer configured", NULL, NULL);
        return;
    }
    ws_info("%s trigger %lld (%s %s)", what, (long long)id, r->name, json_string_value(json_object_get(v, "ref")));
    ws__svc_routed_later(s, (size_t)(r - s->cfg->repos), id, json_string_value(json_object_get(v, "ref")),
                         json_string_value(json_object_get(v, "before")), after,
                         json_string_value(json_object_get(extra, "defaultBranch")), extra);
}

static void recover(struct svc *s, json_t *state)
{
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(state, "triggers"), i, v)
        ws__svc_route_stored(s, v, "recovered");
    json_array_foreach(json_object_get(state, "lastRuns"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        if (!a)
            continue;
        a->last_run = json_integer_value(json_object_get(v, "id"));
        snprintf(a->last_result, sizeof(a->last_result), "%s", json_string_value(json_object_get(v, "result")) ?: "");
        snprintf(a->last_revision, sizeof(a->last_revision), "%s",
                 json_string_value(json_object_get(v, "revision")) ?: "");
        a->last_finished_at = json_integer_value(json_object_get(v, "finishedAt"));
    }
    json_array_foreach(json_object_get(state, "awaiting"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        if (!a)
            continue;
        snprintf(a->awaiting_revision, sizeof(a->awaiting_revision), "%s",
                 json_string_value(json_object_get(v, "revision")) ?: "");
        a->awaiting_trigger = json_integer_value(json_object_get(v, "trigger"));
        a->awaiting_since = json_integer_value(json_object_get(v, "since"));
    }
    json_array_foreach(json_object_get(state, "pending"), i, v) {
        struct app_state *a = ws__svc_app(s, json_string_value(json_object_get(v, "app")));
        if (a)
            a->pending = 1;
        else
            ws_warn("pending run of unknown application %s left in the store",
                    json_string_value(json_object_get(v, "app")));
    }
}

/* WAVESYNC_LISTEN_FD="fd:host:port": the listening socket an image of this
 * process handed over when it ran us to reload (reload.c). Taken out of the
 * environment; used when the configuration still listens there, else closed. */
static int inherited_listener(const char *host, int port, int *reloaded)
{
    const char *v = getenv("WAVESYNC_LISTEN_FD");
    char h[256];
    int fd = -1, p = 0, n = 0;
    *reloaded = getenv("WAVESYNC_RELOADED") != NULL;
    if (v && (sscanf(v, "%d:%255[^\n]%n", &fd, h, &n) < 2 || fd <= 2))
        fd = -1;
    if (fd > 2) { /* host may be an IPv6 literal: the port is after the last ':' */
        char *colon = strrchr(h, ':');
        if (!colon || (p = atoi(colon + 1)) <= 0) {
            close(fd);
            fd = -1;
        } else {
            *colon = '\0';
            if (strcmp(h, host) != 0 || (port != 0 && port != p)) {
                ws_info("reload: server.listen changed from %s:%d to %s:%d", h, p, host, port);
                close(fd);
                fd = -1;
            } else {
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
    }
    unsetenv("WAVESYNC_LISTEN_FD");
    unsetenv("WAVESYNC_RELOADED");
    return fd;
}

/* The store wavesync.yaml names: PostgreSQL (store.postgres), else SQLite
 * at `dbpath`. A replica's default name is this host and its state folder
 * (two replicas on one host have a folder each: the folder's lock). */
static void store_opts(struct ws_store_opts *so, const struct ws_config *cfg, const char *dbpath, char *name,
                       size_t n)
{
    char host[256] = "wavesync";
    gethostname(host, sizeof(host) - 1);
    snprintf(name, n, "%s:%s", host, cfg->settings.state_dir);
    *so = (struct ws_store_opts){ .path = dbpath, .postgres = cfg->store.postgres, .password = cfg->store.password,
                                  .sslmode = cfg->store.sslmode, .ca_file = cfg->store.ca_file,
                                  .cert_file = cfg->store.cert_file, .key_file = cfg->store.key_file,
                                  .where = cfg->store.where, .replica = cfg->store.replica ? cfg->store.replica : name,
                                  .lease_ms = (int)cfg->store.lease_ms };
}

int ws_serve_migrate(const char *config_path)
{
    struct ws_config cfg;
    struct ws_store_opts so;
    struct ws_err err;
    char *dbpath = NULL, name[512];
    int from = -1, to = 0, rc;
    ws_err_clear(&err);
    if ((rc = ws_config_load(&cfg, config_path, &err)) < 0) {
        fprintf(stderr, "wavesync store: %s\n", err.msg);
        return rc;
    }
    if (!cfg.store.postgres &&
        (ws_mkdir_p(cfg.settings.state_dir, 0700) < 0 || asprintf(&dbpath, "%s/wavesync.db", cfg.settings.state_dir) < 0)) {
        fprintf(stderr, "wavesync store: cannot create the state folder %s: %s\n", cfg.settings.state_dir,
                strerror(errno));
        ws_config_free(&cfg);
        return WS_EIO;
    }
    store_opts(&so, &cfg, dbpath, name, sizeof(name));
    if ((rc = ws_store_migrate(&so, &from, &to, &err)) < 0)
        fprintf(stderr, "wavesync store: %s\n", err.msg);
    else if (cfg.store.postgres && from == to)
        printf("store: PostgreSQL (%s) is at schema version %d: nothing to do\n", cfg.store.where, to);
    else if (cfg.store.postgres)
        printf("store: PostgreSQL (%s) migrated from schema version %d to %d\n", cfg.store.where, from, to);
    else
        printf("store: SQLite %s is at schema version %d\n", dbpath, to);
    free(dbpath);
    ws_config_free(&cfg);
    return rc;
}

int ws_serve_run(const char *config_path, const char *listen, char **argv)
{
    struct ws_config cfg;
    struct ws_catalog cat;
    struct svc s;
    struct ws_err err;
    struct ws_httpd_opts ho;
    json_t *state = NULL;
    uv_loop_t loop;
    char *dbpath = NULL;
    int rc = WS_ECONFIG, swept, reloaded = 0, listen_fd = -1;

    memset(&s, 0, sizeof(s));
    s.lock_fd = -1;
    ws_err_clear(&err);
    if (ws_config_load(&cfg, config_path, &err) < 0) {
        fprintf(stderr, "wavesync serve: %s\n", err.msg);
        return WS_ECONFIG;
    }
    if (listen && ws_config_set_listen(&cfg, listen) < 0) {
        fprintf(stderr, "wavesync serve: --listen \"%s\" is not HOST:PORT\n", listen);
        goto out_cfg;
    }
    listen_fd = inherited_listener(cfg.server.listen_host, cfg.server.listen_port, &reloaded);
    if (ws_mkdir_p(cfg.settings.state_dir, 0700) < 0 || asprintf(&dbpath, "%s/wavesync.db", cfg.settings.state_dir) < 0) {
        fprintf(stderr, "wavesync serve: cannot create the state folder %s: %s\n", cfg.settings.state_dir,
                strerror(errno));
        goto out_cfg;
    }
    /* before anything is written there: writable, and no other service in it */
    if (ws__reload_lock(&s, cfg.settings.state_dir, &err) < 0) {
        fprintf(stderr, "wavesync serve: %s\n", err.msg);
        goto out_cfg;
    }
    if ((swept = ws_sync_sweep_tmp(cfg.settings.state_dir)) > 0)
        ws_info("removed %d temporary %s left by a wavesync that was killed", swept,
                ws_plural((unsigned)swept, "tree", "trees"));
    uv_loop_init(&loop);
    s.loop = &loop;
    s.cfg = &cfg;
    s.started_ms = ws_now_ms();
    s.concurrency = cfg.settings.concurrency > 0 ? cfg.settings.concurrency : 4;
    for (size_t r = 0; r < cfg.nrepos; r++)
        s.any_unsigned |= cfg.repos[r].allow_unsigned;
    s.m.webhooks = json_object();
    ws_clusters_init(&s.clusters, &loop, &cfg);
    if (!(s.queues = calloc(cfg.nrepos + 1, sizeof(*s.queues))))
        goto out_loop;
    for (size_t r = 0; r < cfg.nrepos; r++)
        s.queues[r].tail = &s.queues[r].head;
    /* startup may block: nothing is being served yet */
    {
        char name[512];
        struct ws_store_opts so;
        store_opts(&so, &cfg, dbpath, name, sizeof(name));
        if (ws_store_open_opts(&s.store, &loop, &so, &err) < 0 || ws_store_recover(&state, s.store, &err) < 0) {
            fprintf(stderr, "wavesync serve: %s\n", err.msg);
            goto out_loop;
        }
    }
    if (ws__poll_init(&s, &err) < 0) {
        fprintf(stderr, "wavesync serve: %s\n", err.msg);
        goto out_loop;
    }
    if (ws_catalog_load(&cat, &cfg, 0, &err) < 0 || !(s.snap = snap_new(&cat, &cfg, &err)) ||
        sync_app_states(&s) < 0) {
        fprintf(stderr, "wavesync serve: %s\n", err.msg[0] ? err.msg : "out of memory");
        rc = err.code ? err.code : WS_ENOMEM;
        goto out_loop;
    }
    log_catalog_problems(&s.snap->cat);
    if ((cfg.health.directory || cfg.health.scripts) && ws_lua_health_new(&s.lua, &cfg.health, NULL, &err) < 0) {
        fprintf(stderr, "wavesync serve: %s\n", err.msg);
        goto out_loop;
    }
    for (size_t r = 0; r < cfg.nrepos; r++)
        s.queues[r].last_fetch = ws_wall_ms();
    if (ws_status_client_new(&s.status, &loop) < 0) {
        fprintf(stderr, "wavesync serve: out of memory\n");
        goto out_loop;
    }
    memset(&ho, 0, sizeof(ho));
    ho.host = cfg.server.listen_host;
    ho.port = cfg.server.listen_port;
    ho.max_body_bytes = cfg.server.max_body_bytes;
    ho.read_timeout_ms = cfg.server.read_timeout_ms;
    ho.listen_fd = listen_fd > 0 ? listen_fd : 0;
    listen_fd = -1; /* the server owns it now, even when it fails */
    if (ws_httpd_start(&s.httpd, &loop, &ho, ws__api_handle, &s, &err) < 0) {
        fprintf(stderr, "wavesync serve: %s\n", err.msg);
        goto out_loop;
    }
    uv_signal_init(&loop, &s.sigterm);
    uv_signal_init(&loop, &s.sigint);
    s.sigterm.data = s.sigint.data = &s;
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    recover(&s, state);
    if (ws__track_start(&s) < 0) {
        fprintf(stderr, "wavesync serve: out of memory\n");
        goto out_loop;
    }
    if (ws__events_init(&s) < 0 || ws__reload_start(&s, config_path, argv) < 0 || ws__replicas_start(&s) < 0) {
        fprintf(stderr, "wavesync serve: out of memory\n");
        goto out_loop;
    }
    s.ready = 1;
    ws_info("listening on %s:%d: %zu %s, %zu %s, state in %s%s", cfg.server.listen_host,
            ws_httpd_port(s.httpd), s.snap->cat.napps, ws_plural(s.snap->cat.napps, "application", "applications"),
            cfg.nrepos, ws_plural(cfg.nrepos, "repository", "repositories"),
            cfg.settings.state_dir, reloaded ? " (configuration reloaded)" : "");
    {
        char status[512];
        /* the store is open and the listener bound: ready (also after a reload) */
        snprintf(status, sizeof(status), "READY=1\nSTATUS=serving %zu %s on %s:%d", s.snap->cat.napps,
                 ws_plural(s.snap->cat.napps, "application", "applications"), cfg.server.listen_host,
                 ws_httpd_port(s.httpd));
        ws_sd_notify(status);
    }
    ws__poll_start(&s);
    ws__svc_schedule(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
out_loop:
    if (!s.stopped) { /* startup failed: undo what was made */
        ws__reload_stop(&s);
        ws__events_stop(&s);
        ws__replicas_stop(&s);
        if (s.httpd) {
            s.stopping = 1;
            ws_httpd_shutdown(s.httpd, on_httpd_down, &s);
            s.httpd = NULL;
        }
        if (s.status)
            ws_status_client_close(s.status);
        ws_clusters_free(&s.clusters);
        if (s.store)
            ws_store_close(s.store, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    for (size_t r = 0; s.queues && r < cfg.nrepos; r++)
        while (s.queues[r].head) {
            struct trig *t = s.queues[r].head;
            s.queues[r].head = t->next;
            trig_free(t);
        }
    for (size_t r = 0; s.queues && r < cfg.nrepos; r++)
        free(s.queues[r].default_branch);
    free(s.queues);
    for (size_t i = 0; i < s.napps; i++) {
        free(s.apps[i].name);
        free(s.apps[i].retry_revision);
        free(s.apps[i].shared);
    }
    free(s.apps);
    ws__svc_children_free(&s);
    ws__events_free(&s);
    ws__replicas_free(&s);
    free(s.buckets);
    ws__poll_free(&s);
    ws_lua_health_free(s.lua);
    ws__snap_unref(s.snap);
    json_decref(s.m.webhooks);
    json_decref(state);
    uv_loop_close(&loop);
out_cfg:
    if (listen_fd > 0)
        close(listen_fd);
    if (s.lock_fd >= 0)
        close(s.lock_fd);
    free(dbpath);
    ws_config_free(&cfg);
    return rc;
}
