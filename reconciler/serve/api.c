/* api.c — the service's HTTP face: webhook deliveries (verified, rate
 * limited, made durable before the answer), the REST API for manual runs and
 * state, health checks and Prometheus metrics. Loop thread only. */
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "serve/serve_int.h"
#include "serve/web.h"
#include "base/util.h"
#include "serve/webhook.h"

#define MAX_BUCKETS 4096

static void metric_webhook(struct svc *s, const char *provider, const char *result)
{
    json_t *p = json_object_get(s->m.webhooks, provider);
    if (!p) {
        p = json_object();
        json_object_set_new(s->m.webhooks, provider, p); /* steals p */
    }
    json_object_set_new(p, result, json_integer(json_integer_value(json_object_get(p, result)) + 1)); /* steals */
}

/* --- responses -------------------------------------------------------------- */

static void reply_json(struct ws_httpd_req *req, int status, json_t *body) /* steals body */
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t n = text ? strlen(text) : 0;
    if (text)
        text[n] = '\0';
    ws_httpd_respond(req, status, "application/json", NULL, text ? text : "{}", text ? n : 2);
    free(text);
    json_decref(body);
}

static void reply_error(struct ws_httpd_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(struct ws_httpd_req *req, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ws_utf8_sanitize(msg);
    reply_json(req, status, json_pack("{s:s}", "error", msg));
}

/* --- rate limiting: a token bucket per source address ---------------------------- */

static int rate_ok(struct svc *s, const char *remote)
{
    uint64_t now = ws_now_ms();
    double rate = s->cfg->server.rate_per_second, burst = s->cfg->server.rate_burst;
    struct bucket *b = NULL;
    size_t i, oldest = 0;
    for (i = 0; i < s->nbuckets; i++) {
        if (strcmp(s->buckets[i].remote, remote) == 0) {
            b = &s->buckets[i];
            break;
        }
        if (s->buckets[i].at_ms < s->buckets[oldest].at_ms)
            oldest = i;
    }
    if (!b) {
        if (s->nbuckets < MAX_BUCKETS) {
            struct bucket *grown = realloc(s->buckets, (s->nbuckets + 1) * sizeof(*grown));
            if (!grown)
                return 1;
            s->buckets = grown;
            b = &s->buckets[s->nbuckets++];
        } else {
            b = &s->buckets[oldest]; /* forget the quietest source */
        }
        snprintf(b->remote, sizeof(b->remote), "%s", remote);
        b->tokens = burst;
        b->at_ms = now;
    }
    b->tokens = fmin(burst, b->tokens + (double)(now - b->at_ms) * rate / 1000.0);
    b->at_ms = now;
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

/* --- webhooks ------------------------------------------------------------------- */

struct delivery {
    struct svc *s;
    struct ws_httpd_req *req;
    const char *provider;
    int outstanding, failed, accepted, duplicates;
    json_t *triggers;
    char first_error[1024];
};

static void delivery_answer(struct delivery *d)
{
    struct svc *s = d->s;
    if (d->failed && !d->accepted) {
        metric_webhook(s, d->provider, "error");
        reply_error(d->req, 503, "cannot record the delivery: %s", d->first_error);
    } else if (d->accepted) {
        metric_webhook(s, d->provider, "accepted");
        reply_json(d->req, 202, json_pack("{s:s, s:O, s:I}", "status", "accepted", "triggers", d->triggers,
                                          "trigger", json_integer_value(json_array_get(d->triggers, 0))));
    } else {
        metric_webhook(s, d->provider, "duplicate");
        reply_json(d->req, 200, json_pack("{s:s, s:O}", "status", "duplicate", "triggers", d->triggers));
    }
    json_decref(d->triggers);
    free(d);
}

struct accept_ctx {
    struct delivery *d;
    size_t repo;
    char *ref, *before, *after, *default_branch;
    json_t *extra;
};

static void on_accepted(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct accept_ctx *c = data;
    struct delivery *d = c->d;
    if (code < 0) {
        d->failed++;
        snprintf(d->first_error, sizeof(d->first_error), "%s", err ? err->msg : ws_code_str(code));
        ws_error("webhook %s: %s", d->provider, d->first_error);
    } else {
        json_array_append_new(d->triggers, json_integer(id)); /* steals */
        if (duplicate) {
            d->duplicates++;
            ws_info("webhook %s: delivery already received (trigger %lld): not run again", d->provider,
                    (long long)id);
        } else {
            d->accepted++;
            ws_info("webhook %s: trigger %lld: %s %.12s..%.12s", d->provider, (long long)id, c->ref, c->before,
                    c->after);
            if (!d->s->stopping)
                ws__svc_routed_later(d->s, c->repo, id, c->ref, c->before, c->after, c->default_branch,
                                     c->extra);
        }
    }
    free(c->ref);
    free(c->before);
    free(c->after);
    free(c->default_branch);
    json_decref(c->extra);
    free(c);
    if (--d->outstanding == 0)
        delivery_answer(d);
}

/* Hex SHA-256 of a delivery's body: a signed push re-sent under a new
 * delivery id is recognised as the same push. "" if OpenSSL fails. */
static void body_sha256(char out[65], const char *body, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (EVP_Digest(body, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return;
    ws_hex_encode(out, md, n);
}

static const struct ws_repo *find_repo(struct svc *s, const struct ws_hook_event *e)
{
    for (size_t i = 0; i < e->nrepo_urls; i++) {
        const struct ws_repo *r = ws_config_repo_by_url(s->cfg, e->repo_urls[i]);
        if (r)
            return r;
    }
    return NULL;
}

/* Does the delivery carry a signature that one of the configured webhook
 * secrets made? Checked before the body is parsed: an unauthenticated body
 * costs one HMAC per distinct secret, never a parse. `why` gets the reason
 * a signature was refused (the last secret's verdict: they are all alike). */
static int signed_by_any(const struct svc *s, enum ws_hook_provider p, const struct ws_hook_header *h,
                         size_t nh, const char *body, size_t len, struct ws_err *why)
{
    for (size_t i = 0; i < s->cfg->nrepos; i++) {
        const char *secret = s->cfg->repos[i].webhook_secret;
        size_t j;
        if (!secret || !*secret)
            continue;
        for (j = 0; j < i; j++) /* each distinct secret once */
            if (s->cfg->repos[j].webhook_secret && strcmp(s->cfg->repos[j].webhook_secret, secret) == 0)
                break;
        if (j < i)
            continue;
        ws_err_clear(why);
        if (ws_hook_verify(p, h, nh, body, len, secret, why) == 0)
            return 1;
    }
    if (!why->msg[0])
        ws_err_set(why, WS_EAUTH, "no repository has a webhook secret");
    return 0;
}

static void handle_webhook(struct svc *s, struct ws_httpd_req *req, const char *provider_name)
{
    struct ws_hook_header *hdrs = calloc(req->nheaders + 1, sizeof(*hdrs));
    struct ws_hook_event e;
    struct ws_err err;
    enum ws_hook_provider p = WS_HOOK_UNKNOWN;
    const struct ws_repo *repo;
    struct delivery *d = NULL;
    char dflt[300], key[300], bkey[96], body_hash[65];
    size_t i, nh = req->nheaders, attempted = 0;
    const char *pname, *dflt_check;

    memset(&e, 0, sizeof(e));
    ws_err_clear(&err);
    if (!hdrs) {
        reply_error(req, 503, "out of memory");
        return;
    }
    for (i = 0; i < nh; i++) {
        hdrs[i].name = req->headers[i].name;
        hdrs[i].value = req->headers[i].value;
    }
    if (provider_name && ws_hook_provider_parse(&p, provider_name) < 0) {
        reply_error(req, 404, "unknown webhook provider \"%s\" (github, gitlab, gitea, gogs, bitbucket-server, "
                              "generic)", provider_name);
        goto out;
    }
    if (p == WS_HOOK_UNKNOWN)
        p = ws_hook_detect(hdrs, nh);
    pname = ws_hook_provider_name(p);
    if (!rate_ok(s, req->remote)) {
        metric_webhook(s, pname, "rate_limited");
        ws_warn("webhook from %s: rate limit exceeded", req->remote);
        ws_httpd_respond(req, 429, "application/json", "Retry-After: 1\r\n",
                         "{\"error\":\"rate limit exceeded\"}", 31);
        goto out;
    }
    if (p == WS_HOOK_UNKNOWN) {
        metric_webhook(s, pname, "bad_request");
        reply_error(req, 400, "unrecognised webhook: no X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event, "
                              "X-Gogs-Event, X-Event-Key or X-Wavesync-Event header");
        goto out;
    }
    /* Unsigned and no repository takes unsigned deliveries: refuse before
       spending the loop's time on parsing up to maxBodySize of JSON. */
    if (!s->any_unsigned && ws_hook_signature_header(p) &&
        !ws_hook_header_get(hdrs, nh, ws_hook_signature_header(p))) {
        metric_webhook(s, pname, "unauthorized");
        ws_warn("webhook %s from %s refused: missing %s", pname, req->remote, ws_hook_signature_header(p));
        reply_error(req, 401, "missing %s", ws_hook_signature_header(p));
        goto out;
    }
    /* Verify, then parse: unless some repository takes unsigned deliveries,
       a body no configured secret signed is refused before it is read. */
    if (!s->any_unsigned && ws_hook_signature_header(p) &&
        !signed_by_any(s, p, hdrs, nh, req->body, req->body_len, &err)) {
        metric_webhook(s, pname, "unauthorized");
        ws_warn("webhook %s from %s refused: %s", pname, req->remote, err.msg);
        reply_error(req, 401, "%s", err.msg);
        goto out;
    }
    ws_err_clear(&err);
    if (ws_hook_parse(&e, p, hdrs, nh, req->body, req->body_len, &err) < 0) {
        metric_webhook(s, pname, "bad_request");
        ws_warn("webhook %s from %s: %s", pname, req->remote, err.msg);
        reply_error(req, 400, "%s", err.msg);
        goto out;
    }
    if (!(repo = find_repo(s, &e))) {
        metric_webhook(s, pname, "ignored");
        reply_json(req, 200, json_pack("{s:s, s:s, s:s?}", "status", "ignored", "reason",
                                       "the repository is not configured", "repository",
                                       e.nrepo_urls ? e.repo_urls[0] : NULL));
        goto out;
    }
    if (repo->webhook_secret) {
        if (ws_hook_verify(p, hdrs, nh, req->body, req->body_len, repo->webhook_secret, &err) < 0) {
            metric_webhook(s, pname, "unauthorized");
            ws_warn("webhook %s from %s for %s refused: %s", pname, req->remote, repo->name, err.msg);
            reply_error(req, 401, "%s", err.msg);
            goto out;
        }
    } else if (!repo->allow_unsigned) {
        metric_webhook(s, pname, "unauthorized");
        ws_warn("webhook %s from %s for %s refused: no webhook secret configured", pname, req->remote, repo->name);
        reply_error(req, 401, "repository \"%s\" has no webhook secret configured (repositories[].webhook.secret)",
                    repo->name);
        goto out;
    }
    if (e.kind == WS_HOOK_PING) {
        metric_webhook(s, pname, "ping");
        reply_json(req, 200, json_pack("{s:s, s:s}", "status", "pong", "repository", repo->name));
        goto out;
    }
    if (e.kind != WS_HOOK_PUSH) {
        metric_webhook(s, pname, "ignored");
        reply_json(req, 200, json_pack("{s:s, s:s, s:s?}", "status", "ignored", "reason", "not a push event",
                                       "event", e.event_name));
        goto out;
    }
    if (e.default_branch)
        snprintf(dflt, sizeof(dflt), "refs/heads/%s", e.default_branch);
    body_sha256(body_hash, req->body, req->body_len);
    if (!(d = calloc(1, sizeof(*d))) || !(d->triggers = json_array())) {
        free(d);
        reply_error(req, 503, "out of memory");
        goto out;
    }
    d->s = s;
    d->req = req;
    d->provider = ws_hook_provider_name(p);
    d->outstanding = 1; /* held until every change is queued */
    for (i = 0; i < e.nchanges; i++) {
        const struct ws_hook_change *c = &e.changes[i];
        struct ws_trigger_in t;
        struct accept_ctx *ac;
        /* The default branch: from the delivery, else as the last routing of
           this repository saw it, else (a first generic or Bitbucket event)
           assume the pushed branch may be it and let routing decide. */
        dflt_check = e.default_branch ? dflt
                     : s->queues[repo - s->cfg->repos].default_branch
                         ? s->queues[repo - s->cfg->repos].default_branch
                     : strncmp(c->ref, "refs/heads/", 11) == 0 ? c->ref
                                                               : NULL;
        if (c->deleted || !ws_push_interesting(s->snap->ix, repo, c->ref, dflt_check))
            continue;
        attempted++;
        if (e.delivery_id)
            snprintf(key, sizeof(key), "%s:%s%s%.0zu", pname, e.delivery_id, e.nchanges > 1 ? ":" : "",
                     e.nchanges > 1 ? i : (size_t)0);
        snprintf(bkey, sizeof(bkey), "sha256:%s:%zu", body_hash, i);
        memset(&t, 0, sizeof(t));
        t.delivery_key = e.delivery_id ? key : NULL;
        t.body_key = body_hash[0] ? bkey : NULL;
        t.source = p == WS_HOOK_GENERIC ? "hook" : "webhook";
        t.provider = pname;
        t.repo = repo->name;
        t.ref = c->ref;
        t.before = c->before;
        t.after = c->after;
        if (!(ac = calloc(1, sizeof(*ac))))
            continue;
        ac->d = d;
        ac->repo = (size_t)(repo - s->cfg->repos);
        ac->ref = strdup(c->ref);
        ac->before = strdup(c->before);
        ac->after = strdup(c->after);
        ac->default_branch = e.default_branch ? strdup(dflt) : NULL;
        ac->extra = json_pack("{s:s?, s:s?, s:s?}", "fullName", e.repo_full_name, "projectId", e.project_id,
                              "defaultBranch", e.default_branch ? dflt : NULL);
        t.extra = ac->extra;
        d->outstanding++;
        if (ws_store_accept(s->store, &t, on_accepted, ac) < 0) {
            d->outstanding--;
            free(ac->ref);
            free(ac->before);
            free(ac->after);
            free(ac->default_branch);
            json_decref(ac->extra);
            free(ac);
        }
    }
    if (d->outstanding == 1 && attempted > 0) { /* none could be queued */
        metric_webhook(s, pname, "error");
        reply_error(req, 503, "cannot queue the push (out of memory or stopping); deliver it again");
        json_decref(d->triggers);
        free(d);
    } else if (--d->outstanding == 0) {
        /* nothing tracks the pushed refs (or they were deleted) */
        metric_webhook(s, pname, "ignored");
        reply_json(req, 200, json_pack("{s:s, s:s, s:s, s:s}", "status", "ignored", "reason",
                                       "no application tracks this ref", "repository", repo->name, "ref",
                                       e.ref ? e.ref : ""));
        json_decref(d->triggers);
        free(d);
    }
out:
    ws_hook_event_free(&e);
    free(hdrs);
}

/* --- REST API ---------------------------------------------------------------------- */

static int authorized(struct svc *s, struct ws_httpd_req *req)
{
    const char *h = ws_httpd_header(req, "Authorization");
    const char *token = s->cfg->server.api_token;
    if (!token) {
        reply_error(req, 403, "the API is disabled: set server.apiToken in the configuration");
        return 0;
    }
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 ||
        !ws_secret_eq(h + 7, strlen(h + 7), token)) {
        ws_warn("api: %s %s from %s: missing or wrong bearer token", req->method, req->path, req->remote);
        ws_httpd_respond(req, 401, "application/json", "WWW-Authenticate: Bearer\r\n",
                         "{\"error\":\"a valid bearer token is required\"}", 43);
        return 0;
    }
    return 1;
}

struct manual_ctx {
    struct svc *s;
    struct ws_httpd_req *req;
    char *app;
};

static void on_manual_accepted(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct manual_ctx *c = data;
    struct app_state *a = ws__svc_app(c->s, c->app);
    (void)duplicate;
    if (code < 0) {
        reply_error(c->req, 503, "cannot record the request: %s", err ? err->msg : ws_code_str(code));
    } else {
        if (a)
            a->pending = 1;
        ws_log_at(WS_LOG_INFO, &(struct ws_log_ctx){c->app, 0, id}, "api: manual sync of %s queued (trigger %lld)",
                  c->app, (long long)id);
        ws__svc_app_changed(c->s, c->app);
        reply_json(c->req, 202, json_pack("{s:s, s:I, s:s}", "status", "queued", "trigger", (json_int_t)id,
                                          "application", c->app));
        ws__svc_schedule(c->s);
    }
    free(c->app);
    free(c);
}

static void manual_sync(struct svc *s, struct ws_httpd_req *req, const char *name)
{
    struct ws_trigger_in t;
    struct manual_ctx *c;
    json_error_t jerr;
    json_t *body = NULL, *v;
    const char *revision = NULL;
    int prune = 0, dry = 0;
    if (!authorized(s, req))
        return;
    if (!ws__svc_app_def(s, name)) {
        reply_error(req, 404, "no Application \"%s\"", name);
        return;
    }
    if (req->body_len) {
        if (!(body = json_loadb(req->body, req->body_len, 0, &jerr)) || !json_is_object(body)) {
            reply_error(req, 400, "body is not a JSON object: %s", body ? "wrong type" : jerr.text);
            json_decref(body);
            return;
        }
        if ((v = json_object_get(body, "revision")) && !json_is_null(v) &&
            (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > WS_MAX_REVISION)) {
            reply_error(req, 400, "\"revision\" must be a non-empty string of at most %d characters",
                        WS_MAX_REVISION);
            json_decref(body);
            return;
        }
        revision = json_string_value(v);
        prune = json_is_true(json_object_get(body, "prune"));
        dry = json_is_true(json_object_get(body, "dryRun"));
    }
    if (s->stopping) {
        reply_error(req, 503, "the service is stopping");
        json_decref(body);
        return;
    }
    memset(&t, 0, sizeof(t));
    t.source = "api";
    t.app = name;
    t.revision = revision;
    t.prune = prune;
    t.dry_run = dry;
    if (!(c = calloc(1, sizeof(*c))) || !(c->app = strdup(name))) {
        free(c);
        reply_error(req, 503, "out of memory");
    } else {
        c->s = s;
        c->req = req;
        if (ws_store_accept(s->store, &t, on_manual_accepted, c) < 0) {
            free(c->app);
            free(c);
            reply_error(req, 503, "cannot queue the request");
        }
    }
    json_decref(body);
}

static json_t *app_json(struct svc *s, const struct ws_app *a, int with_resources)
{
    struct app_state *st = ws__svc_app(s, a->name);
    struct track_view view;
    const struct ws_live_summary *live = &view.sum;
    json_t *srcs = json_array(), *doc, *awaiting;
    const char *sync;
    for (size_t i = 0; i < a->nsources; i++)
        json_array_append_new(srcs, json_pack("{s:s, s:s, s:s}", "repoURL", a->sources[i].repo_url, "path", /* steals */
                                              a->sources[i].path, "targetRevision", a->sources[i].target_revision));
    ws__track_view(s, a->name, &view);
    awaiting = st && st->awaiting_revision[0]
                   ? json_pack("{s:s, s:I, s:I}", "revision", st->awaiting_revision, "trigger",
                               (json_int_t)st->awaiting_trigger, "since", (json_int_t)st->awaiting_since)
                   : json_null();
    /* a manual application a push left behind is OutOfSync even before the
       comparison with the pushed commit is in */
    sync = st && st->awaiting_revision[0] ? "OutOfSync" : ws_sync_status_str(live->sync);
    doc = json_pack("{s:s, s:s, s:i, s:o, s:s?, s:s?, s:s?, s:b, s:b, s:b, s:s, s:b, s:I, s:s?, s:s?, s:s, s:o,"
                    " s:{s:s, s:s}, s:{s:s?, s:i, s:i, s:i, s:i, s:s}}",
                    "name", a->name, "file", a->file, "line", a->line, "sources", srcs, "destinationServer",
                    a->dest_server, "destinationName", a->dest_name, "namespace", a->dest_namespace,
                    "automated", a->automated, "prune", a->auto_prune, "selfHeal", a->self_heal, "state",
                    st && st->running ? "Running" : st && st->pending ? "Pending" : "Idle", "pending",
                    st && st->pending, "lastRun", (json_int_t)(st ? st->last_run : 0), "lastResult",
                    st && st->last_result[0] ? st->last_result : NULL, "lastRevision",
                    st && st->last_revision[0] ? st->last_revision : NULL, "syncStatus", sync,
                    "awaitingManualSync", awaiting, /* steals srcs and awaiting */
                    "health", "status", live->tracked ? ws_health_str(live->health) : "Unknown", "message",
                    live->tracked     ? ""
                    : view.track_error ? view.track_error
                                       : "not tracked yet",
                    "comparedTo", "revision", live->revision[0] ? live->revision : NULL, "objects",
                    (int)live->objects, "outOfSync", (int)live->outofsync, "missing", (int)live->missing,
                    "requiresPruning", (int)live->extra, "message",
                    !live->tracked && view.track_error ? view.track_error : live->message);
    if (doc) { /* for the overview: labels, what it waits for, when it last ran, where it goes */
        const char *deps = json_string_value(json_object_get(a->annotations, "wavesync.dev/depends-on"));
        json_t *dl = json_array();
        for (const char *p = deps; p && *p;) {
            size_t n = strcspn(p, ",");
            const char *b = p, *e = p + n;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e > b)
                json_array_append_new(dl, json_stringn(b, (size_t)(e - b))); /* steals */
            p += n + (p[n] == ',');
        }
        json_object_set_new(doc, "dependsOn", dl); /* steals */
        json_object_set_new(doc, "labels", a->labels ? json_incref(a->labels) : json_object()); /* steals */
        if (st && st->last_finished_at)
            json_object_set_new(doc, "lastRunAt", json_integer(st->last_finished_at)); /* steals */
    }
    if (doc) { /* where it comes from: an ApplicationSet, a parent Application (app of apps) */
        const char *set = ws_catalog_generated_by(&s->snap->cat, a->name);
        const char *parent = ws_catalog_parent(&s->snap->cat, a->name);
        if (set)
            json_object_set_new(doc, "applicationSet", json_string(set)); /* steals */
        if (parent)
            json_object_set_new(doc, "parent", json_string(parent)); /* steals */
    }
    if (doc && (view.heal_attempts || view.heals))
        json_object_set_new(doc, "selfHealing", json_pack("{s:i, s:I, s:s?}", "attempts", view.heal_attempts, /* steals */
                                                       "total", (json_int_t)view.heals, "message",
                                                       view.heal_message));
    if (doc && with_resources && (!st || st->watching || !ws_store_shared(s->store))) {
        json_t *res = ws_live_resources(s->live, a->name);
        json_object_set_new(doc, "resources", res ? res : json_array()); /* steals */
    }
    return doc;
}

json_t *ws__api_app_json(struct svc *s, const struct ws_app *a)
{
    return app_json(s, a, 0);
}

struct read_ctx {
    struct svc *s;
    struct ws_httpd_req *req;
    json_t *doc;   /* application document waiting for its runs */
    const char *what;
};

static void on_read(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct read_ctx *c = data;
    if (code < 0)
        reply_error(c->req, 500, "store: %s", err ? err->msg : ws_code_str(code));
    else if (c->doc) {
        json_object_set_new(c->doc, "runs", result ? json_incref(result) : json_array()); /* steals */
        reply_json(c->req, 200, c->doc);
        c->doc = NULL;
    } else if (!result)
        reply_error(c->req, 404, "no %s with that id", c->what);
    else
        reply_json(c->req, 200, json_incref(result));
    json_decref(c->doc);
    free(c);
}

/* The application's objects as another replica wrote them; then its runs. */
static void on_live_row(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct read_ctx *c = data;
    json_t *res = json_object_get(result, "resources");
    if (code < 0) {
        reply_error(c->req, 500, "store: %s", err ? err->msg : ws_code_str(code));
    } else {
        json_object_set_new(c->doc, "resources", json_is_array(res) ? json_incref(res) : json_array()); /* steals */
        if (ws_store_list_runs(c->s->store, json_string_value(json_object_get(c->doc, "name")), 20, on_read, c) == 0)
            return;
        reply_error(c->req, 503, "the service is stopping");
    }
    json_decref(c->doc);
    free(c);
}

static struct read_ctx *read_ctx(struct svc *s, struct ws_httpd_req *req, const char *what)
{
    struct read_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        reply_error(req, 503, "out of memory");
        return NULL;
    }
    c->s = s;
    c->req = req;
    c->what = what;
    return c;
}

static int parse_id(int64_t *out, const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* --- metrics -------------------------------------------------------------------- */

static void hist_text(struct ws_buf *b, const char *name, const char *help, const struct hist *h,
                      const double *bounds)
{
    uint64_t cum = 0;
    ws_buf_appendf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        cum += h->counts[i];
        ws_buf_appendf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    ws_buf_appendf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name, (unsigned long long)h->n,
                   name, h->sum, name, (unsigned long long)h->n);
}

static void metrics(struct svc *s, struct ws_httpd_req *req)
{
    struct ws_buf b;
    struct ws_kube_stats ks;
    struct ws_httpd_stats hs;
    const char *prov, *res;
    json_t *p, *n;
    size_t pending = 0, i;
    ws_buf_init(&b, 1u << 20);
    for (i = 0; i < s->napps; i++)
        pending += s->apps[i].pending;
    ws_buf_appendf(&b, "# HELP wavesync_webhook_deliveries_total Webhook deliveries by provider and result.\n"
                       "# TYPE wavesync_webhook_deliveries_total counter\n");
    json_object_foreach(s->m.webhooks, prov, p)
        json_object_foreach(p, res, n)
            ws_buf_appendf(&b, "wavesync_webhook_deliveries_total{provider=\"%s\",result=\"%s\"} %lld\n", prov, res,
                           (long long)json_integer_value(n));
    ws_buf_appendf(&b,
                   "# HELP wavesync_queue_depth Applications with a run waiting.\n# TYPE wavesync_queue_depth gauge\n"
                   "wavesync_queue_depth %zu\n"
                   "# HELP wavesync_triggers_routing Pushes accepted and not routed yet.\n"
                   "# TYPE wavesync_triggers_routing gauge\nwavesync_triggers_routing %zu\n"
                   "# HELP wavesync_runs_running Syncs running now.\n# TYPE wavesync_runs_running gauge\n"
                   "wavesync_runs_running %d\n"
                   "# HELP wavesync_store_backlog Store operations queued or being written.\n"
                   "# TYPE wavesync_store_backlog gauge\nwavesync_store_backlog %zu\n"
                   "# HELP wavesync_replicas Replicas sharing the store with a live lease (1: SQLite).\n"
                   "# TYPE wavesync_replicas gauge\nwavesync_replicas %d\n"
                   "# HELP wavesync_runs_total Finished runs by result.\n# TYPE wavesync_runs_total counter\n",
                   pending, s->routing, s->running, s->store ? ws_store_backlog(s->store) : 0,
                   ws__replicas_count(s));
    for (i = 0; ws__svc_run_results(i); i++)
        ws_buf_appendf(&b, "wavesync_runs_total{result=\"%s\"} %llu\n", ws__svc_run_results(i),
                       (unsigned long long)s->m.runs_by_result[i]);
    ws_buf_appendf(&b, "# HELP wavesync_pushes_routed_total Pushes routed to applications.\n"
                       "# TYPE wavesync_pushes_routed_total counter\nwavesync_pushes_routed_total %llu\n"
                       "# HELP wavesync_push_route_failures_total Pushes that could not be routed.\n"
                       "# TYPE wavesync_push_route_failures_total counter\nwavesync_push_route_failures_total %llu\n",
                   (unsigned long long)s->m.routed, (unsigned long long)s->m.route_failures);
    hist_text(&b, "wavesync_sync_duration_seconds", "Duration of a sync run.", &s->m.sync_s, ws__sync_bounds);
    hist_text(&b, "wavesync_wave_duration_seconds", "Duration of one wave (apply and wait for health).",
              &s->m.wave_s, ws__wave_bounds);
    hist_text(&b, "wavesync_route_duration_milliseconds", "Fetch, diff and route of a batch of pushes.",
              &s->m.route_ms, ws__route_bounds);
    ws_buf_appendf(&b, "# HELP wavesync_polls_total Polls of a repository's refs by result (changed: a tracked ref "
                       "moved without a webhook and was routed as a push; deferred: a push of the repository was "
                       "being routed, the next poll looks again).\n# TYPE wavesync_polls_total counter\n"
                       "wavesync_polls_total{result=\"unchanged\"} %llu\n"
                       "wavesync_polls_total{result=\"changed\"} %llu\n"
                       "wavesync_polls_total{result=\"failed\"} %llu\n"
                       "wavesync_polls_total{result=\"deferred\"} %llu\n",
                   (unsigned long long)s->m.polls[0], (unsigned long long)s->m.polls[1],
                   (unsigned long long)s->m.polls[2], (unsigned long long)s->m.polls[3]);
    hist_text(&b, "wavesync_poll_duration_milliseconds", "Listing one repository's refs (ls-remote, nothing fetched).",
              &s->m.poll_ms, ws__route_bounds);
    ws_clusters_stats(&s->clusters, &ks);
    ws_buf_appendf(&b, "# HELP wavesync_kube_requests_total Kubernetes API responses by method and code "
                       "(code 0: no response).\n# TYPE wavesync_kube_requests_total counter\n");
    for (i = 0; i < ks.nby_code; i++)
        ws_buf_appendf(&b, "wavesync_kube_requests_total{verb=\"%s\",code=\"%d\"} %llu\n", ks.by_code[i].method,
                       ks.by_code[i].code, (unsigned long long)ks.by_code[i].n);
    ws_buf_appendf(&b, "# HELP wavesync_kube_retries_total Kubernetes API requests retried.\n"
                       "# TYPE wavesync_kube_retries_total counter\nwavesync_kube_retries_total %llu\n",
                   (unsigned long long)ks.retries);
    {
        struct ws_live_stats ls;
        ws_live_stats(s->live, &ls);
        ws_buf_appendf(&b,
                       "# HELP wavesync_app_sync_status Sync status of each application (1 for its current one).\n"
                       "# TYPE wavesync_app_sync_status gauge\n");
        for (size_t k = 0; k < s->snap->cat.napps; k++) {
            const char *name = s->snap->cat.apps[k].name;
            struct app_state *st = ws__svc_app(s, name);
            struct track_view v;
            ws__track_view(s, name, &v);
            ws_buf_appendf(&b, "wavesync_app_sync_status{app=\"%s\",status=\"%s\"} 1\n", name,
                           st && st->awaiting_revision[0] ? "OutOfSync" : ws_sync_status_str(v.sum.sync));
        }
        ws_buf_appendf(&b,
                       "# HELP wavesync_app_health_status Health of each application (1 for its current one).\n"
                       "# TYPE wavesync_app_health_status gauge\n");
        for (size_t k = 0; k < s->snap->cat.napps; k++) {
            struct track_view v;
            ws__track_view(s, s->snap->cat.apps[k].name, &v);
            ws_buf_appendf(&b, "wavesync_app_health_status{app=\"%s\",status=\"%s\"} 1\n",
                           s->snap->cat.apps[k].name, v.sum.tracked ? ws_health_str(v.sum.health) : "Unknown");
        }
        ws_buf_appendf(&b, "# HELP wavesync_live_clusters Clusters whose live state this replica follows (1), or "
                           "another replica does (0).\n# TYPE wavesync_live_clusters gauge\n");
        for (size_t k = 0; k < s->cfg->nclusters; k++) {
            char lease[300];
            snprintf(lease, sizeof(lease), "cluster:%s", s->cfg->clusters[k].name);
            ws_buf_appendf(&b, "wavesync_live_clusters{cluster=\"%s\"} %d\n", s->cfg->clusters[k].name,
                           ws__replicas_holds(s, lease));
        }
        ws_buf_appendf(&b,
                       "# HELP wavesync_drift_total Drift seen in applications with selfHeal.\n"
                       "# TYPE wavesync_drift_total counter\nwavesync_drift_total %llu\n"
                       "# HELP wavesync_self_heal_total Self-heal syncs queued.\n"
                       "# TYPE wavesync_self_heal_total counter\nwavesync_self_heal_total %llu\n"
                       "# HELP wavesync_live_objects Objects carrying wavesync's tracking annotation, followed live.\n"
                       "# TYPE wavesync_live_objects gauge\nwavesync_live_objects %zu\n"
                       "# HELP wavesync_live_watches Watches (cluster x resource type), and how many failed.\n"
                       "# TYPE wavesync_live_watches gauge\nwavesync_live_watches{state=\"running\"} %zu\n"
                       "wavesync_live_watches{state=\"failed\"} %zu\n"
                       "# HELP wavesync_live_events_total Watch events received.\n"
                       "# TYPE wavesync_live_events_total counter\nwavesync_live_events_total %llu\n",
                       (unsigned long long)s->m.drifts, (unsigned long long)s->m.self_heals, ls.objects,
                       ls.watches - ls.watches_failed, ls.watches_failed, (unsigned long long)ls.events);
    }
    {
        ws_buf_appendf(&b,
                       "# HELP wavesync_config_reload_refused_total Reloads refused (the file did not load) since "
                       "this process image started.\n"
                       "# TYPE wavesync_config_reload_refused_total counter\nwavesync_config_reload_refused_total %llu\n"
                       "# HELP wavesync_config_last_reload_successful 0 when the last reload was refused.\n"
                       "# TYPE wavesync_config_last_reload_successful gauge\nwavesync_config_last_reload_successful %d\n"
                       "# HELP wavesync_event_readers Open GET /api/v1/events streams.\n"
                       "# TYPE wavesync_event_readers gauge\nwavesync_event_readers %zu\n"
                       "# HELP wavesync_events_total Events published on the stream.\n"
                       "# TYPE wavesync_events_total counter\nwavesync_events_total %llu\n",
                       (unsigned long long)ws__reload_failures(s), !ws__reload_refused(s), ws__events_readers(s),
                       (unsigned long long)ws__events_published(s));
    }
    if (s->httpd) {
        ws_httpd_stats(s->httpd, &hs);
        ws_buf_appendf(&b,
                       "# HELP wavesync_http_requests_total HTTP requests received.\n"
                       "# TYPE wavesync_http_requests_total counter\nwavesync_http_requests_total %llu\n"
                       "# HELP wavesync_http_rejected_total HTTP requests refused by the server's limits.\n"
                       "# TYPE wavesync_http_rejected_total counter\n"
                       "wavesync_http_rejected_total{reason=\"body_too_large\"} %llu\n"
                       "wavesync_http_rejected_total{reason=\"headers_too_large\"} %llu\n"
                       "wavesync_http_rejected_total{reason=\"timeout\"} %llu\n"
                       "wavesync_http_rejected_total{reason=\"malformed\"} %llu\n"
                       "wavesync_http_rejected_total{reason=\"too_many_connections\"} %llu\n",
                       (unsigned long long)hs.requests, (unsigned long long)hs.rejected_413,
                       (unsigned long long)hs.rejected_431, (unsigned long long)hs.timeouts_408,
                       (unsigned long long)hs.bad_400, (unsigned long long)hs.rejected_503);
    }
    ws_httpd_respond(req, 200, "text/plain; version=0.0.4", NULL, b.data ? b.data : "", b.len);
    ws_buf_free(&b);
}

/* A query parameter that must be a count (0…1,000,000,000); absent = dflt. */
static int query_count(const struct ws_httpd_req *req, const char *name, long dflt, long *out)
{
    char *v = ws_httpd_query(req, name), *end;
    *out = dflt;
    if (!v)
        return 0;
    errno = 0;
    long n = strtol(v, &end, 10);
    int ok = *v >= '0' && *v <= '9' && !*end && !errno && n <= 1000000000L;
    free(v);
    if (ok)
        *out = n;
    return ok ? 0 : -1;
}

static void count_in(json_t *counts, const char *key)
{
    json_t *n = json_object_get(counts, key ? key : "");
    json_object_set_new(counts, key ? key : "", json_integer(n ? json_integer_value(n) + 1 : 1)); /* steals */
}

/* GET /api/v1/applications[?offset=N&limit=N]: the applications in the
 * catalog's order, `total` of them, and a `summary` of all of them (counts by
 * sync status, health, state and cluster) — so a page can draw its first
 * screenful and the counts from a small first slice. */
static void list_applications(struct svc *s, struct ws_httpd_req *req)
{
    long offset, limit;
    size_t napps = s->snap->cat.napps;
    if (query_count(req, "offset", 0, &offset) < 0 || query_count(req, "limit", (long)napps, &limit) < 0) {
        reply_error(req, 400, "offset and limit must be counts (0, 1, 2…)");
        return;
    }
    json_t *list = json_array(), *by_sync = json_object(), *by_health = json_object(), *by_state = json_object(),
           *by_cluster = json_object();
    for (size_t i = 0; i < napps; i++) {
        const struct ws_app *a = &s->snap->cat.apps[i];
        json_t *doc = app_json(s, a, 0);
        if (!doc)
            continue;
        count_in(by_sync, json_string_value(json_object_get(doc, "syncStatus")));
        count_in(by_health, json_string_value(json_object_get(json_object_get(doc, "health"), "status")));
        count_in(by_state, json_string_value(json_object_get(doc, "state")));
        count_in(by_cluster, a->dest_name && *a->dest_name ? a->dest_name : a->dest_server);
        if ((long)i >= offset && (long)i - offset < limit)
            json_array_append_new(list, doc); /* steals */
        else
            json_decref(doc);
    }
    reply_json(req, 200,
               json_pack("{s:o, s:I, s:{s:o, s:o, s:o, s:o}, s:O, s:I}", "applications", list, "total",
                         (json_int_t)napps, "summary", "syncStatus", by_sync, "health", by_health, "state", by_state,
                         "cluster", by_cluster, "invalid", s->snap->cat.invalid, "routing", (json_int_t)s->routing));
}

/* --- dispatch -------------------------------------------------------------------- */

void ws__api_handle(struct ws_httpd_req *req, void *data)
{
    struct svc *s = data;
    const char *path = req->path, *rest;
    int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    char name[256];
    struct read_ctx *c;
    int64_t id;

    if (strcmp(path, "/healthz") == 0 && get) {
        ws_httpd_respond(req, 200, "text/plain", NULL, "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0 && get) {
        /* ready while webhooks are stored, a reload refused or under way
           included; the detail says which */
        char body[1400], detail[1300];
        int ready = s->ready && !s->stopping;
        ws__reload_status(s, detail, sizeof(detail));
        int n = snprintf(body, sizeof(body), "%s\n%s", ready ? "ready" : "not ready", detail);
        ws_httpd_respond(req, ready ? 200 : 503, "text/plain; charset=utf-8", NULL, body,
                         n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1);
    } else if (ws_web_handle(req)) {
        /* the web page: /, /ui/… */
    } else if (strcmp(path, "/api/v1/events") == 0 && get) {
        ws__events_subscribe(s, req);
    } else if (strcmp(path, "/metrics") == 0 && get) {
        metrics(s, req);
    } else if (strcmp(path, "/api/webhook") == 0 || strncmp(path, "/api/webhook/", 13) == 0) {
        if (!post)
            ws_httpd_respond(req, 405, "application/json", "Allow: POST\r\n", "{\"error\":\"use POST\"}", 20);
        else
            handle_webhook(s, req, path[12] == '/' ? path + 13 : NULL);
    } else if (strcmp(path, "/api/v1/applications") == 0 && get) {
        list_applications(s, req);
    } else if (strncmp(path, "/api/v1/applications/", 21) == 0) {
        const struct ws_app *a;
        rest = path + 21;
        size_t n = strcspn(rest, "/");
        if (n == 0 || n >= sizeof(name)) {
            reply_error(req, 404, "no such resource: %s", path);
            return;
        }
        memcpy(name, rest, n);
        name[n] = '\0';
        rest += n;
        if (strcmp(rest, "/sync") == 0 && post) {
            manual_sync(s, req, name);
        } else if (!*rest && get) {
            if (!(a = ws__svc_app_def(s, name))) {
                reply_error(req, 404, "no Application \"%s\"", name);
            } else if ((c = read_ctx(s, req, "application"))) {
                c->doc = app_json(s, a, 1);
                /* its objects: from this replica's watches, else from the
                   store as the replica that follows its cluster wrote them */
                if (json_object_get(c->doc, "resources") ? ws_store_list_runs(s->store, name, 20, on_read, c) < 0
                                                         : ws_store_live_get(s->store, name, on_live_row, c) < 0) {
                    json_decref(c->doc);
                    free(c);
                    reply_error(req, 503, "the service is stopping");
                }
            }
        } else {
            reply_error(req, 404, "no such resource: %s %s", req->method, path);
        }
    } else if ((strncmp(path, "/api/v1/runs/", 13) == 0 || strncmp(path, "/api/v1/triggers/", 17) == 0) && get) {
        int run = path[8] == 'r';
        if (parse_id(&id, path + (run ? 13 : 17)) < 0) {
            reply_error(req, 400, "bad id in %s", path);
        } else if ((c = read_ctx(s, req, run ? "run" : "trigger"))) {
            if ((run ? ws_store_get_run : ws_store_get_trigger)(s->store, id, on_read, c) < 0) {
                free(c);
                reply_error(req, 503, "the service is stopping");
            }
        }
    } else if (strcmp(path, "/api/v1/runs") == 0 && get) {
        if ((c = read_ctx(s, req, "run")) && ws_store_list_runs(s->store, NULL, 50, on_read, c) < 0) {
            free(c);
            reply_error(req, 503, "the service is stopping");
        }
    } else {
        reply_error(req, 404, "no such resource: %s %s", req->method, path);
    }
}
