/* poll.c — the polling safety net of `wavesync serve`. Forges do not promise
 * to deliver webhooks, so every settings.pollInterval (plus jitter) each
 * repository's refs are listed on a worker thread (ls-remote: nothing is
 * fetched), and a tracked ref that moved past what the service last saw
 * becomes a durable trigger routed exactly like a webhook's push. Also the
 * one place that keeps a push seen twice (by a poll and by a webhook) from
 * running an application twice. Loop thread, except poll_work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timer.h"
#include "base/util.h"
#include "serve/poll_plan.h"
#include "serve/serve_int.h"

struct poller;

struct poll_repo {
    struct poller *p;
    size_t index;          /* in cfg->repos and s->queues */
    uv_timer_t *timer;     /* the next poll */
    int busy;              /* a listing on a worker thread, or its triggers being stored */
    int polled;            /* polls finished (the first one is spread over the interval) */
    int seeded;            /* `seen` holds the repository's refs; else the first poll adopts them */
    int outstanding;       /* ws_store_accept calls not answered yet */
    uint64_t epoch;        /* pushes of this repository routed so far */
    json_t *seen;          /* {ref: id}: what the service last routed for each ref */
};

struct poller {
    struct svc *s;
    struct poll_repo *repos;
    size_t nrepos;
    int workers;           /* listings on worker threads: shutdown waits for them */
    uint32_t dice;         /* xorshift32 state, for the jitter */
    json_t *routed;        /* {app: "<repo>\n<ref>\n<commit>"}: the push each application was
                              last queued for, across webhooks, hooks and polls */
};

/* The work callback touches only this. */
struct poll_job {
    uv_work_t work;
    struct poll_repo *pr;
    const char *url;       /* borrowed from the configuration, which outlives the loop */
    struct ws_git_creds creds;
    struct ws_git_heads heads;
    struct ws_err err;
    int rc;
    uint64_t started_ms;
    uint64_t epoch;        /* pr->epoch when the listing began */
};

struct poll_accept {
    struct poll_repo *pr;
    char *ref, *default_branch;
    char before[41], after[41];
    json_t *extra;
};

static uint32_t roll(struct poller *p)
{
    uint32_t x = p->dice;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return p->dice = x;
}

static const char *cache_dir(const struct svc *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s/repos", s->cfg->settings.state_dir);
    return buf;
}

/* Take the mirror's refs as what the service has seen (BLOCKING: startup
 * only). A mirror with no refs (an interrupted clone, an empty repository)
 * says nothing: the first poll adopts what it finds instead. */
static void seed(struct poll_repo *pr)
{
    struct svc *s = pr->p->s;
    struct ws_git_heads h;
    struct ws_err err;
    char cache[4096];
    if (pr->seeded || ws_git_mirror_heads(&h, cache_dir(s, cache, sizeof(cache)), s->cfg->repos[pr->index].url,
                                          &err) < 0)
        return;
    if (json_object_size(h.refs) > 0) {
        json_decref(pr->seen);
        pr->seen = h.refs;
        h.refs = NULL;
        pr->seeded = 1;
    }
    ws_git_heads_free(&h);
}

int ws__poll_init(struct svc *s, struct ws_err *err)
{
    struct poller *p = calloc(1, sizeof(*p));
    uint32_t r = 0;
    if (!p || !(p->routed = json_object()) || !(p->repos = calloc(s->cfg->nrepos + 1, sizeof(*p->repos)))) {
        if (p)
            json_decref(p->routed);
        free(p);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    p->s = s;
    p->nrepos = s->cfg->nrepos;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    p->dice = r ? r : 2463534242u; /* xorshift must not start at 0 */
    s->poll = p;
    for (size_t i = 0; i < p->nrepos; i++) {
        p->repos[i].p = p;
        p->repos[i].index = i;
        if (!(p->repos[i].seen = json_object()))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        /* before the catalog load fetches: a push made while the service was
           down (its webhook refused) is then still a difference to route */
        if (s->cfg->settings.poll_interval_ms && s->cfg->repos[i].type != WS_REPO_HELM)
            seed(&p->repos[i]);
    }
    return 0;
}

static void start_poll(struct poll_repo *pr);

static void on_poll_due(uv_timer_t *t)
{
    struct poll_repo *pr = t->data;
    ws_timer_close(&pr->timer);
    start_poll(pr);
}

static void schedule(struct poll_repo *pr)
{
    struct poller *p = pr->p;
    uint64_t interval = p->s->cfg->settings.poll_interval_ms;
    if (!interval || p->s->stopping || p->s->reloading || pr->timer)
        return;
    if (!(pr->timer = ws_timer_start(p->s->loop, ws_poll_delay_ms(interval, pr->polled == 0, roll(p)), on_poll_due,
                                     pr)))
        ws_error("poll: out of memory scheduling %s's next poll", p->s->cfg->repos[pr->index].name);
}

void ws__poll_start(struct svc *s)
{
    struct poller *p = s->poll;
    uint64_t interval = s->cfg->settings.poll_interval_ms;
    if (!p || !interval || !p->nrepos)
        return;
    for (size_t i = 0; i < p->nrepos; i++) {
        if (s->cfg->repos[i].type == WS_REPO_HELM)
            continue; /* charts, no refs: nothing to poll */
        seed(&p->repos[i]); /* a mirror the catalog load just cloned */
        schedule(&p->repos[i]);
    }
    ws_info("poll: every %.0fs (+ up to %.0fs) for %zu %s, in case a webhook is lost", (double)interval / 1000.0,
            (double)interval / 2000.0, p->nrepos, ws_plural(p->nrepos, "repository", "repositories"));
}

/* The poll of one repository ended (its triggers are stored): the next. */
static void poll_done(struct poll_repo *pr)
{
    struct svc *s = pr->p->s;
    pr->busy = 0;
    pr->polled++;
    if (s->stopping)
        ws__svc_maybe_finish(s);
    else
        schedule(pr);
}

static void poll_work(uv_work_t *w)
{
    struct poll_job *j = ws_container_of(w, struct poll_job, work);
    j->rc = ws_git_remote_heads(&j->heads, j->url, &j->creds, &j->err);
}

static void on_poll_accepted(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct poll_accept *c = data;
    struct poll_repo *pr = c->pr;
    struct svc *s = pr->p->s;
    const struct ws_repo *repo = &s->cfg->repos[pr->index];
    if (code < 0) /* `seen` did not move: the next poll tries again */
        ws_error("poll: %s %s: cannot record the trigger: %s", repo->name, c->ref,
                 err ? err->msg : ws_code_str(code));
    else if (!duplicate && !s->stopping) /* stopping: stays "received", routed at the next start */
        ws__svc_routed_later(s, pr->index, id, c->ref, c->before, c->after, c->default_branch, c->extra);
    free(c->ref);
    free(c->default_branch);
    json_decref(c->extra);
    free(c);
    if (--pr->outstanding == 0)
        poll_done(pr);
}

struct track_ctx {
    struct svc *s;
    const struct ws_repo *repo;
    const char *dflt;
};

/* As a webhook is filtered: without a known default branch, a pushed branch
 * may be it (routing decides). */
static int tracked(const char *ref, void *data)
{
    struct track_ctx *c = data;
    const char *dflt = c->dflt ? c->dflt : strncmp(ref, "refs/heads/", 11) == 0 ? ref : NULL;
    return ws_push_interesting(c->s->snap->ix, c->repo, ref, dflt);
}

/* Make a moved ref a durable trigger, as handle_webhook does for a push. No
 * delivery key: what was routed is kept in `seen`, and a key made of the ids
 * would refuse a ref that comes back to an id it once had (a rollback, then
 * a roll-forward whose webhook is lost). */
static int accept_move(struct poll_repo *pr, const struct ws_poll_move *m, const char *dflt)
{
    struct svc *s = pr->p->s;
    const struct ws_repo *repo = &s->cfg->repos[pr->index];
    struct ws_trigger_in t;
    struct poll_accept *c = calloc(1, sizeof(*c));
    if (!c || !(c->ref = strdup(m->ref)) || (dflt && !(c->default_branch = strdup(dflt))) ||
        !(c->extra = json_pack("{s:s?}", "defaultBranch", dflt))) {
        if (c) {
            free(c->ref);
            free(c->default_branch);
        }
        free(c);
        return WS_ENOMEM;
    }
    c->pr = pr;
    memcpy(c->before, m->before, sizeof(c->before));
    memcpy(c->after, m->after, sizeof(c->after));
    memset(&t, 0, sizeof(t));
    t.source = "poll";
    t.repo = repo->name;
    t.ref = m->ref;
    t.before = m->before;
    t.after = m->after;
    t.extra = c->extra;
    pr->outstanding++;
    if (ws_store_accept(s->store, &t, on_poll_accepted, c) < 0) {
        pr->outstanding--;
        free(c->ref);
        free(c->default_branch);
        json_decref(c->extra);
        free(c);
        return WS_EIO;
    }
    return 0;
}

static void poll_after(uv_work_t *w, int status)
{
    struct poll_job *j = ws_container_of(w, struct poll_job, work);
    struct poll_repo *pr = j->pr;
    struct poller *p = pr->p;
    struct svc *s = p->s;
    const struct ws_repo *repo = &s->cfg->repos[pr->index];
    const struct repo_queue *q = &s->queues[pr->index];
    uint64_t took = ws_now_ms() - j->started_ms;
    struct ws_poll_move *moves = NULL;
    struct track_ctx tc;
    size_t n = 0, i;

    p->workers--;
    pr->outstanding = 1; /* held until every moved ref is offered to the store */
    if (status < 0 || s->stopping)
        goto out;
    ws__hist_add(&s->m.poll_ms, (double)took, ws__route_bounds);
    if (j->rc < 0) {
        s->m.polls[2]++;
        ws_warn("poll: %s: %s (trying again at the next poll)", repo->name, j->err.msg);
        goto out;
    }
    tc.s = s;
    tc.repo = repo;
    tc.dflt = j->heads.head ? j->heads.head : s->queues[pr->index].default_branch;
    if (ws_poll_diff(&moves, &n, pr->seen, &j->heads, !pr->seeded, tracked, &tc) < 0) {
        s->m.polls[2]++;
        ws_error("poll: %s: out of memory", repo->name);
        goto out;
    }
    pr->seeded = 1;
    ws_debug("poll: %s: %zu %s, %zu moved (%llu ms)", repo->name, json_object_size(j->heads.refs),
             ws_plural(json_object_size(j->heads.refs), "ref", "refs"), n, (unsigned long long)took);
    /* A push of this repository is being routed (or was while the refs were
       listed): it moves `seen` when done, and comparing with a listing older
       than that would route the ref backwards. The next poll looks again. */
    if (n && (q->head || q->busy || q->retry || j->epoch != pr->epoch)) {
        s->m.polls[3]++;
        ws_debug("poll: %s: a push is being routed: looking again at the next poll", repo->name);
        goto out;
    }
    s->m.polls[n ? 1 : 0]++;
    for (i = 0; i < n; i++) {
        ws_info("poll: %s %s moved %.12s..%.12s: routing as a push", repo->name, moves[i].ref, moves[i].before,
                moves[i].after);
        if (accept_move(pr, &moves[i], tc.dflt) < 0)
            ws_error("poll: %s %s: cannot queue the trigger (the next poll tries again)", repo->name, moves[i].ref);
    }
out:
    ws_poll_moves_free(moves, n);
    ws_git_heads_free(&j->heads);
    free(j);
    if (--pr->outstanding == 0)
        poll_done(pr);
}

static void start_poll(struct poll_repo *pr)
{
    struct svc *s = pr->p->s;
    const struct ws_repo *repo = &s->cfg->repos[pr->index];
    struct poll_job *j;
    if (s->stopping || s->reloading || pr->busy)
        return;
    {
        char name[300];
        snprintf(name, sizeof(name), "repo:%s", repo->name);
        if (!ws__replicas_holds(s, name)) { /* another replica polls it */
            schedule(pr);
            return;
        }
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        schedule(pr);
        return;
    }
    j->pr = pr;
    j->url = repo->url;
    j->creds.username = repo->username;
    j->creds.password = repo->password;
    j->started_ms = ws_now_ms();
    j->epoch = pr->epoch;
    if (uv_queue_work(s->loop, &j->work, poll_work, poll_after) < 0) {
        ws_error("poll: %s: cannot start a worker; trying again at the next poll", repo->name);
        free(j);
        schedule(pr);
        return;
    }
    pr->busy = 1;
    pr->p->workers++;
}

void ws__poll_saw(struct svc *s, size_t repo, const char *ref, const char *before, const char *after)
{
    if (!s->poll || repo >= s->poll->nrepos)
        return;
    s->poll->repos[repo].epoch++;
    ws_poll_seen_advance(s->poll->repos[repo].seen, ref, before, after);
}

size_t ws__poll_drop_routed(struct svc *s, int64_t trigger, size_t repo, const char *ref, const char *commit,
                            const char *tip, int reloaded, json_t *apps, char *detail, size_t len)
{
    struct poller *p = s->poll;
    const char *name, *rev, *prev, *at = tip && *tip ? tip : commit;
    char *key = NULL, names[512] = "";
    size_t i, dropped = 0, moved = 0;
    json_t *v;
    if (!p || !at || !*at || !apps || asprintf(&key, "%zu\n%s\n%s", repo, ref, at) < 0)
        return 0;
    for (i = json_array_size(apps); i-- > 0;) {
        v = json_array_get(apps, i);
        name = json_string_value(json_object_get(v, "app"));
        rev = json_string_value(json_object_get(v, "revision"));
        if (!name)
            continue;
        /* the ref moved on since this push: sync where it is now, never back */
        if (rev && tip && *tip && strcmp(rev, tip) != 0) {
            json_object_set_new(v, "revision", json_string(tip)); /* steals */
            moved++;
        }
        /* a manual application waits for the ref's newest commit too */
        if (json_string_value(json_object_get(v, "commit")) && tip && *tip &&
            strcmp(json_string_value(json_object_get(v, "commit")), tip) != 0)
            json_object_set_new(v, "commit", json_string(tip)); /* steals */
        /* Definitions read again for this push may differ from what a queued
           run was started with: then it runs again. */
        prev = json_string_value(json_object_get(p->routed, name));
        if (!prev || strcmp(prev, key) != 0 || reloaded) {
            json_object_set_new(p->routed, name, json_string(key)); /* steals */
            continue;
        }
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", dropped ? ", " : "", name);
        json_array_remove(apps, i);
        dropped++;
    }
    if (moved)
        snprintf(detail + strlen(detail), len - strlen(detail), "; the ref is at %.12s now: synced there", tip);
    if (dropped) {
        ws_info("trigger %lld: %s already queued for %s at %.12s (a poll and a webhook saw the same push): "
                "not queued again", (long long)trigger, names, ref, at);
        snprintf(detail + strlen(detail), len - strlen(detail), "; %zu already queued for %.12s: %s", dropped, at,
                 names);
    }
    free(key);
    return dropped;
}

int ws__poll_busy(const struct svc *s)
{
    return s->poll && s->poll->workers > 0;
}

void ws__poll_stop(struct svc *s)
{
    for (size_t i = 0; s->poll && i < s->poll->nrepos; i++)
        ws_timer_close(&s->poll->repos[i].timer);
}

void ws__poll_free(struct svc *s)
{
    struct poller *p = s->poll;
    if (!p)
        return;
    for (size_t i = 0; i < p->nrepos; i++)
        json_decref(p->repos[i].seen);
    json_decref(p->routed);
    free(p->repos);
    free(p);
    s->poll = NULL;
}
