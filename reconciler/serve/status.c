/* status.c — commit statuses for GitHub and GitLab: a pure request builder,
 * and a client that posts through the curl-multi transport one lane (repo,
 * sha, context) at a time, retrying what a later attempt can fix. */
#include "serve/status.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>

#include "autoconfig.h"
#include "kube/kube_http.h"
#include "base/log.h"
#include "base/timer.h"
#include "base/util.h"

#define DESCRIPTION_MAX_CHARS 140 /* GitHub answers 422 beyond this */
#define CONTEXT_MAX_BYTES 255
#define URL_MAX_BYTES 2048
#define RESPONSE_MAX (64 * 1024)  /* we only read an error message from it */
#define RETRY_MAX_MS 8000
#define RETRY_AFTER_MAX_MS 60000
#define SERVER_MSG_MAX 300

/* ---- names --------------------------------------------------------------- */

static const struct {
    const char *name, *api;
} providers[] = {
#define WS_X(id, name, api) [id] = {name, api},
    WS_STATUS_PROVIDERS(WS_X)
#undef WS_X
};

static const struct {
    const char *name, *github, *gitlab;
} states[] = {
#define WS_X(id, name, github, gitlab) [id] = {name, github, gitlab},
    WS_STATUS_STATES(WS_X)
#undef WS_X
};

static int provider_ok(enum ws_status_provider p)
{
    return (unsigned)p < WS_ARRAY_SIZE(providers);
}

static int state_ok(enum ws_status_state s)
{
    return (unsigned)s < WS_ARRAY_SIZE(states);
}

const char *ws_status_provider_str(enum ws_status_provider p)
{
    return provider_ok(p) ? providers[p].name : "?";
}

const char *ws_status_state_str(enum ws_status_state s)
{
    return state_ok(s) ? states[s].name : "?";
}

const char *ws_status_state_wire(enum ws_status_provider p, enum ws_status_state s)
{
    if (!state_ok(s) || !provider_ok(p))
        return "?";
    return p == WS_STATUS_GITLAB ? states[s].gitlab : states[s].github;
}

int ws_status_provider_parse(enum ws_status_provider *out, const char *s)
{
    for (size_t i = 0; s && i < WS_ARRAY_SIZE(providers); i++) {
        if (strcmp(s, providers[i].name) == 0) {
            *out = (enum ws_status_provider)i;
            return 0;
        }
    }
    return WS_EINVAL;
}

int ws_status_state_parse(enum ws_status_state *out, const char *s)
{
    for (size_t i = 0; s && i < WS_ARRAY_SIZE(states); i++) {
        if (strcmp(s, states[i].name) == 0) {
            *out = (enum ws_status_state)i;
            return 0;
        }
    }
    return WS_EINVAL;
}

/* ---- request building (pure) --------------------------------------------- */

static int token_ok(const char *t)
{
    if (!t || !*t)
        return 0;
    /* anything else could split the header line it is pasted into */
    for (; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
            return 0;
    return 1;
}

static int sha_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 7 || n > 64)
        return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* A GitHub owner or repository name: no escaping surprises in the path. */
static int github_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 100 || (n <= 2 && s[0] == '.' && (n == 1 || s[1] == '.')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

static int loopback_host(const char *h)
{
    struct in_addr a;
    /* an address, not a name that merely starts with "127." */
    if (inet_pton(AF_INET, h, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0;
}

/* The API base without trailing slashes into *out (caller frees). */
static int api_base(char **out, const struct ws_status_target *t, struct ws_err *err)
{
    const char *api = t->api_url && *t->api_url ? t->api_url : providers[t->provider].api;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL, *user = NULL, *base = NULL;
    size_t n;
    int rc = WS_EINVAL;
    if (!u)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (strlen(api) > URL_MAX_BYTES / 2 || curl_url_set(u, CURLUPART_URL, api, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        ws_err_set(err, WS_EINVAL, "status API URL \"%.200s\" is not a valid URL", api);
        goto out;
    }
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    if (query || frag || user) {
        /* credentials belong in the token, and a query would end up
         * before our path */
        ws_err_set(err, WS_EINVAL, "status API URL must not have credentials, a query or a fragment");
        goto out;
    }
    if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && loopback_host(host))) {
        /* the token would cross the network in clear text */
        ws_err_set(err, WS_EINVAL, "status API URL \"%.200s\" must use https (http only on loopback)",
                   api);
        goto out;
    }
    if (!(base = strdup(api))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    *out = base;
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_free(frag);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* Copy s as valid UTF-8 of at most max characters (code points); when cut,
 * the last character kept is an ellipsis. NULL on ENOMEM. */
static char *text_copy(const char *s, size_t max)
{
    size_t len = strlen(s), chars = 0, cut = 0;
    char *out = malloc(len + 4); /* room for an ellipsis past a 1-byte cut */
    if (!out)
        return NULL;
    memcpy(out, s, len + 1);
    ws_utf8_sanitize(out);
    for (size_t i = 0; out[i]; i++) {
        if (((unsigned char)out[i] & 0xC0) == 0x80)
            continue; /* continuation byte */
        if (chars == max - 1)
            cut = i;
        if (++chars > max) {
            memcpy(out + cut, "\xE2\x80\xA6", 4); /* "…" and the terminator */
            break;
        }
    }
    return out;
}

static int set_text(json_t *o, const char *key, const char *s, size_t max_chars)
{
    char *copy = text_copy(s, max_chars);
    int rc;
    if (!copy)
        return WS_ENOMEM;
    rc = json_object_set_new(o, key, json_string(copy)); /* reference stolen */
    free(copy);
    return rc == 0 ? 0 : WS_ENOMEM;
}

/* The status URL into *out (caller frees). */
static int build_url(char **out, const struct ws_status_target *t, const char *base, struct ws_err *err)
{
    char *url = NULL, *a = NULL, *b = NULL;
    if (t->provider == WS_STATUS_GITHUB) {
        const char *slash = strchr(t->repo, '/');
        if (!slash || strchr(slash + 1, '/') || !github_name_ok(t->repo, (size_t)(slash - t->repo)) ||
            !github_name_ok(slash + 1, strlen(slash + 1))) {
            return ws_err_set(err, WS_EINVAL, "GitHub repository \"%.200s\" is not \"owner/repo\"",
                              t->repo);
        }
        if (!(a = strndup(t->repo, (size_t)(slash - t->repo))) || !(b = strdup(slash + 1)) ||
            asprintf(&url, "%s/repos/%s/%s/statuses/%s", base, a, b, t->sha) < 0)
            url = NULL;
    } else {
        size_t n = strlen(t->repo);
        if (n == 0 || n > 1024 || t->repo[0] == '/' || t->repo[n - 1] == '/') {
            return ws_err_set(err, WS_EINVAL, "GitLab project \"%.200s\" is not an id or \"group/project\"",
                              t->repo);
        }
        /* an id passes unchanged; a path's slashes become %2F */
        if (!(a = ws_url_escape(t->repo)) ||
            asprintf(&url, "%s/projects/%s/statuses/%s", base, a, t->sha) < 0)
            url = NULL;
    }
    free(a);
    free(b);
    if (!url)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    *out = url;
    return 0;
}

static char *build_body(const struct ws_status_target *t)
{
    json_t *o = json_object();
    char *body = NULL;
    const char *context = t->context && *t->context ? t->context : "wavesync";
    if (!o)
        return NULL;
    if (json_object_set_new(o, "state", json_string(ws_status_state_wire(t->provider, t->state))) < 0 ||
        set_text(o, t->provider == WS_STATUS_GITLAB ? "name" : "context", context, CONTEXT_MAX_BYTES) < 0 ||
        (t->description && *t->description &&
         set_text(o, "description", t->description, DESCRIPTION_MAX_CHARS) < 0) ||
        (t->target_url && *t->target_url && set_text(o, "target_url", t->target_url, URL_MAX_BYTES) < 0))
        goto out;
    body = json_dumps(o, JSON_COMPACT);
out:
    json_decref(o);
    return body;
}

int ws_status_format(char **out_url, char **out_body, const struct ws_status_target *t,
                     struct ws_err *err)
{
    char *base = NULL, *url = NULL, *body = NULL;
    int rc = 0;
    *out_url = *out_body = NULL;
    ws_err_clear(err);
    if (!provider_ok(t->provider))
        return ws_err_set(err, WS_EINVAL, "unknown status provider %d", (int)t->provider);
    if (!state_ok(t->state))
        return ws_err_set(err, WS_EINVAL, "unknown commit status state %d", (int)t->state);
    if (!t->repo || !*t->repo)
        return ws_err_set(err, WS_EINVAL, "%s status: no repository", providers[t->provider].name);
    if (!sha_ok(t->sha))
        return ws_err_set(err, WS_EINVAL, "%s status for %.200s: \"%.80s\" is not a commit sha",
                          providers[t->provider].name, t->repo, t->sha ? t->sha : "");
    if (!token_ok(t->token)) /* say what is wrong, never what the token is */
        return ws_err_set(err, WS_EINVAL, "%s status for %.200s: the token is %s",
                          providers[t->provider].name, t->repo,
                          t->token && *t->token ? "not printable ASCII without spaces" : "missing");
    if ((rc = api_base(&base, t, err)) < 0 || (rc = build_url(&url, t, base, err)) < 0)
        goto out;
    if (!(body = build_body(t))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    *out_url = url;
    *out_body = body;
    url = body = NULL;
out:
    free(base);
    free(url);
    free(body);
    return rc;
}

/* ---- the client ---------------------------------------------------------- */

struct lane;

struct post {
    struct ws_status_client *client;
    struct lane *lane;  /* NULL once completed */
    struct post *next;  /* in its lane, then in the completed list */
    enum ws_status_provider provider;
    enum ws_status_state state;
    char *url, *body;
    char *token;        /* only to scrub it from messages */
    struct curl_slist *hdrs; /* one of them carries the token */
    char what[192];     /* "github status owner/repo@abc1234 (ci)": no secrets */
    CURL *easy;         /* set while on the wire */
    uv_timer_t *backoff; /* set while waiting to retry */
    struct ws_buf resp;
    char errbuf[CURL_ERROR_SIZE];
    int attempt;
    int code;           /* outcome, once completed */
    struct ws_err err;
    ws_status_done_cb done;
    void *data;
};

/* Posts for one (provider, API, repo, sha, context), oldest first. */
struct lane {
    char *key;
    struct post *head, *tail;
    struct lane *prev, *next;
};

struct ws_status_client {
    uv_loop_t *loop;
    struct ws_http *http;
    struct ws_status_opts opts;
    char *ca_file;
    struct lane *lanes, *lanes_tail; /* oldest first: no lane starves */
    struct post *done_head, *done_tail; /* completed, awaiting delivery */
    uv_timer_t *deliver_timer;
    size_t inflight;
    size_t count; /* posts not yet delivered */
    struct ws_status_stats stats;
    int pumping, delivering, closing;
};

static void wipe(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
}

static void post_free(struct post *p)
{
    for (struct curl_slist *h = p->hdrs; h; h = h->next)
        wipe(h->data);
    curl_slist_free_all(p->hdrs);
    wipe(p->token);
    free(p->token);
    free(p->url);
    free(p->body);
    ws_buf_free(&p->resp);
    free(p);
}

static size_t append_cut(char *out, size_t cap, size_t n, const char *p, size_t len)
{
    if (len > cap - 1 - n)
        len = cap - 1 - n;
    memcpy(out + n, p, len);
    return n + len;
}

/* Replace every copy of the token in e->msg — servers sometimes echo what
 * they were sent — and a start of it left at the end by a cut message. */
static void scrub(struct ws_err *e, const char *token)
{
    static const char mask[] = "[redacted]";
    char out[sizeof(e->msg)];
    size_t tl = token ? strlen(token) : 0, n = 0, rest;
    const char *s = e->msg, *hit;
    if (!tl)
        return;
    while ((hit = strstr(s, token))) {
        n = append_cut(out, sizeof(out), n, s, (size_t)(hit - s));
        n = append_cut(out, sizeof(out), n, mask, sizeof(mask) - 1);
        s = hit + tl;
    }
    rest = strlen(s);
    for (size_t k = tl - 1 < rest ? tl - 1 : rest; k >= 4; k--) {
        if (memcmp(s + rest - k, token, k) == 0) {
            n = append_cut(out, sizeof(out), n, s, rest - k);
            n = append_cut(out, sizeof(out), n, mask, sizeof(mask) - 1);
            s += rest;
            rest = 0;
            break;
        }
    }
    n = append_cut(out, sizeof(out), n, s, rest);
    out[n] = '\0';
    memcpy(e->msg, out, n + 1);
    ws_utf8_sanitize(e->msg);
}

static void deliver(uv_timer_t *t);

static void lane_unlink(struct ws_status_client *c, struct lane *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        c->lanes = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        c->lanes_tail = l->prev;
    free(l->key);
    free(l);
}

/* Record the outcome of p (in no lane) and queue it for delivery on a later
 * loop iteration: no user code runs here. */
static void queue_done(struct post *p, int code, const struct ws_err *e)
{
    struct ws_status_client *c = p->client;
    p->next = NULL;
    p->code = code;
    if (code && e) {
        p->err = *e;
        p->err.code = code;
        scrub(&p->err, p->token);
    } else if (code) {
        ws_err_set(&p->err, code, "%s: %s", p->what, ws_code_str(code));
    } else {
        ws_err_clear(&p->err);
    }
    if (code == 0)
        c->stats.posted++;
    else if (code == WS_ECANCELED)
        c->stats.canceled++;
    else
        c->stats.failed++;
    if (c->done_tail)
        c->done_tail->next = p;
    else
        c->done_head = p;
    c->done_tail = p;
    if (c->deliver_timer && !c->closing)
        uv_timer_start(c->deliver_timer, deliver, 0, 0);
}

/* Take the head of its lane out (freeing an emptied lane) and queue its
 * outcome. Returns 1 when the lane still has posts. */
static int complete(struct post *p, int code, const struct ws_err *e)
{
    struct lane *l = p->lane;
    int more;
    l->head = p->next;
    if (!l->head)
        l->tail = NULL;
    more = l->head != NULL;
    if (!more)
        lane_unlink(p->client, l);
    p->lane = NULL;
    queue_done(p, code, e);
    return more;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct post *p = userp;
    /* only an error message is read from the answer: keep its start */
    ws_buf_append(&p->resp, ptr, size * nmemb);
    return size * nmemb;
}

static void pump(struct ws_status_client *c);
static void on_done(CURL *easy, CURLcode result, void *data);

/* Put the lane head on the wire. */
static int start(struct post *p, struct ws_err *e)
{
    struct ws_status_client *c = p->client;
    CURL *easy = curl_easy_init();
    int rc;
    if (!easy)
        return ws_err_set(e, WS_ENOMEM, "%s: out of memory", p->what);
    p->attempt++;
    p->errbuf[0] = '\0';
    ws_buf_free(&p->resp);
    ws_buf_init(&p->resp, RESPONSE_MAX);
    curl_easy_setopt(easy, CURLOPT_URL, p->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "wavesync/" PACKAGE_VERSION);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)c->opts.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.timeout_ms);
    /* never verify less; a redirect is not followed (it could carry the
     * token's request elsewhere) */
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(p->body));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, p->hdrs);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, p);
    if ((rc = ws_http_add(c->http, easy, on_done, p)) < 0) {
        curl_easy_cleanup(easy);
        return ws_err_set(e, rc, "%s: cannot start the request", p->what);
    }
    p->easy = easy;
    c->inflight++;
    ws_debug("status: -> %s: %s (attempt %d)", p->what, ws_status_state_str(p->state), p->attempt);
    return 0;
}

/* Start lane heads that are idle while there is room on the wire. */
static void pump(struct ws_status_client *c)
{
    struct lane *l, *next;
    if (c->pumping || c->closing)
        return;
    c->pumping = 1;
    for (l = c->lanes; l && c->inflight < c->opts.max_inflight; l = next) {
        struct post *p = l->head;
        struct ws_err e;
        next = l->next;
        if (p->easy || p->backoff)
            continue;
        ws_err_clear(&e);
        if (start(p, &e) < 0 && complete(p, e.code, &e))
            next = l; /* try the lane's next post */
    }
    c->pumping = 0;
}

static void on_backoff(uv_timer_t *t)
{
    struct post *p = t->data;
    ws_timer_close(&p->backoff);
    pump(p->client);
}

static uint64_t backoff_ms(const struct ws_status_client *c, int attempt)
{
    uint64_t d = c->opts.retry_base_ms;
    for (int i = 1; i < attempt && d < RETRY_MAX_MS; i++)
        d *= 2;
    if (d > RETRY_MAX_MS)
        d = RETRY_MAX_MS;
    /* ±25% so posts that failed together do not retry together */
    return d * 3 / 4 + (uint64_t)rand() % (d / 2 + 1);
}

/* Retry after delay_ms; 0 when scheduled. */
static int retry(struct post *p, uint64_t delay_ms)
{
    struct ws_status_client *c = p->client;
    if (!(p->backoff = ws_timer_start(c->loop, delay_ms, on_backoff, p)))
        return WS_ENOMEM;
    c->stats.retries++;
    return 0;
}

static uint64_t retry_after_ms(CURL *easy)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value) {
        char *end;
        long s = strtol(h->value, &end, 10);
        if (end != h->value && s >= 0)
            return s * 1000L > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (uint64_t)s * 1000;
    }
    return 0;
}

static int curl_retryable(CURLcode r)
{
    switch (r) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_OPERATION_TIMEDOUT:
        return 1;
    default:
        return 0;
    }
}

/* The server's own words: GitHub {"message": "..."}; GitLab {"message":
 * "..." or {field: [...]}} or {"error": "..."}. */
static void server_message(char *out, size_t size, const struct ws_buf *resp)
{
    json_t *doc = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    json_t *m = doc ? json_object_get(doc, "message") : NULL;
    out[0] = '\0';
    if (!m && doc)
        m = json_object_get(doc, "error");
    if (json_is_string(m)) {
        snprintf(out, size, "%s", json_string_value(m));
    } else if (m) {
        char *s = json_dumps(m, JSON_COMPACT);
        if (s)
            snprintf(out, size, "%s", s);
        free(s);
    }
    json_decref(doc);
}

/* GitLab answers 400 "Cannot transition status via :run from :running" when
 * the commit already has the state we post (typically our own retry of a
 * request that did land). That is done, not failed. */
static int gitlab_same_state(const struct post *p, const char *msg)
{
    const char *from = strstr(msg, "Cannot transition status");
    const char *want = ws_status_state_wire(WS_STATUS_GITLAB, p->state);
    size_t n = strlen(want);
    if (p->provider != WS_STATUS_GITLAB || !from || !(from = strstr(from, " from :")))
        return 0;
    from += 7;
    return strncmp(from, want, n) == 0 && !isalnum((unsigned char)from[n]) && from[n] != '_';
}

static int code_for_status(long status)
{
    switch (status) {
    case 401:
    case 403:
        return WS_EAUTH;
    case 404:
        return WS_ENOTFOUND;
    case 400:
    case 422:
        return WS_EINVAL;
    default:
        return WS_EHTTP;
    }
}

static void on_done(CURL *easy, CURLcode result, void *data)
{
    struct post *p = data;
    struct ws_status_client *c = p->client;
    struct ws_err e;
    char msg[SERVER_MSG_MAX + 1];
    long status = 0, sent = 0;
    uint64_t after = 0;
    int can_retry = p->attempt <= c->opts.max_retries;
    ws_err_clear(&e);
    p->easy = NULL;
    c->inflight--;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
    if (status == 429 || status == 403 || status >= 500) /* headers die with the handle */
        after = retry_after_ms(easy);
    curl_easy_cleanup(easy);
    ws_debug("status: <- %s: HTTP %ld (curl %d)", p->what, status, (int)result);

    if (result != CURLE_OK) {
        /* a repeated status is harmless (the newest per context wins), so
         * even a request that may have landed is retried */
        if (curl_retryable(result) && can_retry && retry(p, backoff_ms(c, p->attempt)) == 0)
            goto out;
        ws_err_set(&e, result == CURLE_OPERATION_TIMEDOUT && sent > 0 ? WS_ETIMEOUT : WS_ENET,
                   "%s: cannot reach the %s API: %s%s", p->what, providers[p->provider].name,
                   p->errbuf[0] ? p->errbuf : curl_easy_strerror(result),
                   p->attempt > 1 ? " (gave up after retries)" : "");
        complete(p, e.code, &e);
        goto out;
    }
    if (status >= 200 && status < 300) {
        complete(p, 0, NULL);
        goto out;
    }
    server_message(msg, sizeof(msg), &p->resp);
    if (status == 400 && gitlab_same_state(p, msg)) {
        ws_debug("status: %s: already %s", p->what, ws_status_state_wire(p->provider, p->state));
        complete(p, 0, NULL);
        goto out;
    }
    /* 5xx and 429 pass; a 403 with Retry-After is GitHub's secondary rate
     * limit. 501 will not change. */
    if ((status == 429 || (status >= 500 && status != 501) || (status == 403 && after)) &&
        can_retry && retry(p, after ? after : backoff_ms(c, p->attempt)) == 0)
        goto out;
    ws_err_set(&e, code_for_status(status), "%s: HTTP %ld%s%s%s", p->what, status,
               msg[0] ? ": " : "", msg,
               (status == 429 || status >= 500) && p->attempt > 1 ? " (gave up after retries)" : "");
    e.http_status = (int)status;
    complete(p, e.code, &e);
out:
    pump(c);
}

/* Run done callbacks of completed posts, oldest first. */
static void teardown(struct ws_status_client *c);

static void deliver(uv_timer_t *t)
{
    struct ws_status_client *c = t->data;
    struct post *p;
    c->delivering = 1;
    while (!c->closing && (p = c->done_head)) {
        if (!(c->done_head = p->next))
            c->done_tail = NULL;
        c->count--;
        if (p->done)
            p->done(p->code, &p->err, p->data);
        post_free(p);
    }
    c->delivering = 0;
    if (c->closing) /* closed from a callback */
        teardown(c);
}

int ws_status_client_set_opts(struct ws_status_client *c, const struct ws_status_opts *opts)
{
    struct ws_status_opts o = {0};
    char *ca = NULL;
    if (opts)
        o = *opts;
    if (o.ca_file && !(ca = strdup(o.ca_file)))
        return WS_ENOMEM;
    if (!o.timeout_ms)
        o.timeout_ms = 10000;
    if (o.max_retries == 0)
        o.max_retries = 3;
    else if (o.max_retries < 0)
        o.max_retries = 0;
    if (!o.retry_base_ms)
        o.retry_base_ms = 500;
    if (!o.max_inflight)
        o.max_inflight = 8;
    o.ca_file = NULL; /* c->ca_file owns the copy */
    free(c->ca_file);
    c->ca_file = ca;
    c->opts = o;
    pump(c); /* a larger max_inflight may start more */
    return 0;
}

int ws_status_client_new(struct ws_status_client **out, uv_loop_t *loop)
{
    struct ws_status_client *c = calloc(1, sizeof(*c));
    int rc = WS_ENOMEM;
    *out = NULL;
    if (!c)
        return WS_ENOMEM;
    c->loop = loop;
    ws_status_client_set_opts(c, NULL); /* no allocation without a CA file */
    if (!(c->deliver_timer = ws_timer_new(loop, c)))
        goto fail;
    if ((rc = ws_http_new(&c->http, loop)) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    ws_timer_close(&c->deliver_timer);
    free(c);
    return rc;
}

static char *lane_key(const struct ws_status_target *t, const char *url)
{
    char *key = NULL;
    /* the URL already names provider, API, repository and sha */
    if (asprintf(&key, "%s\n%s", url, t->context && *t->context ? t->context : "wavesync") < 0)
        return NULL;
    return key;
}

static struct lane *lane_get(struct ws_status_client *c, char *key)
{
    struct lane *l;
    for (l = c->lanes; l; l = l->next) {
        if (strcmp(l->key, key) == 0) {
            free(key);
            return l;
        }
    }
    if (!(l = calloc(1, sizeof(*l)))) {
        free(key);
        return NULL;
    }
    l->key = key;
    l->prev = c->lanes_tail;
    if (c->lanes_tail)
        c->lanes_tail->next = l;
    else
        c->lanes = l;
    c->lanes_tail = l;
    return l;
}

/* "name: value"; a NULL value removes a header curl would add ("Expect:"). */
static int add_header(struct post *p, const char *name, const char *value)
{
    char *line = NULL;
    struct curl_slist *n;
    if (asprintf(&line, "%s:%s%s", name, value ? " " : "", value ? value : "") < 0)
        return WS_ENOMEM;
    n = curl_slist_append(p->hdrs, line);
    wipe(line); /* it may hold the token */
    free(line);
    if (!n)
        return WS_ENOMEM;
    p->hdrs = n;
    return 0;
}

int ws_status_post(struct ws_status_client *c, const struct ws_status_target *t,
                   ws_status_done_cb done, void *data)
{
    struct post *p = NULL;
    struct ws_err e;
    struct lane *l;
    char *key;
    if (c->closing)
        return WS_ECANCELED;
    if (!(p = calloc(1, sizeof(*p))))
        return WS_ENOMEM;
    p->client = c;
    p->provider = t->provider;
    p->state = t->state;
    p->done = done;
    p->data = data;
    ws_buf_init(&p->resp, RESPONSE_MAX);
    if (ws_status_format(&p->url, &p->body, t, &e) < 0) {
        /* reported like any other failure: callers have one error path */
        c->count++;
        queue_done(p, e.code, &e);
        return 0;
    }
    snprintf(p->what, sizeof(p->what), "%s status %.80s@%.12s (%.60s)", providers[t->provider].name,
             t->repo, t->sha, t->context && *t->context ? t->context : "wavesync");
    ws_utf8_sanitize(p->what);
    if (!(p->token = strdup(t->token)) || add_header(p, "Content-Type", "application/json") < 0 ||
        add_header(p, "Expect", NULL) < 0)
        goto nomem;
    if (t->provider == WS_STATUS_GITHUB) {
        char *bearer = NULL;
        int bad = asprintf(&bearer, "Bearer %s", t->token) < 0 ||
                  add_header(p, "Accept", "application/vnd.github+json") < 0 ||
                  add_header(p, "X-GitHub-Api-Version", "2022-11-28") < 0 ||
                  add_header(p, "Authorization", bearer) < 0;
        wipe(bearer);
        free(bearer);
        if (bad)
            goto nomem;
    } else if (add_header(p, "Accept", "application/json") < 0 ||
               add_header(p, "PRIVATE-TOKEN", t->token) < 0) {
        goto nomem;
    }
    if (!(key = lane_key(t, p->url)) || !(l = lane_get(c, key)))
        goto nomem;
    p->lane = l;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    c->count++;
    pump(c);
    return 0;
nomem:
    post_free(p);
    return WS_ENOMEM;
}

size_t ws_status_client_pending(const struct ws_status_client *c)
{
    return c->count;
}

void ws_status_client_stats(const struct ws_status_client *c, struct ws_status_stats *out)
{
    *out = c->stats;
}

/* Cancel whatever is left, deliver everything, free the client. */
static void teardown(struct ws_status_client *c)
{
    struct post *p;
    while (c->lanes) {
        struct lane *l = c->lanes;
        p = l->head;
        if (p->easy) { /* user code never runs inside curl: removal is immediate */
            ws_http_remove(c->http, p->easy);
            p->easy = NULL;
            c->inflight--;
        }
        ws_timer_close(&p->backoff);
        complete(p, WS_ECANCELED, NULL); /* frees the lane after its last post */
    }
    while ((p = c->done_head)) {
        if (!(c->done_head = p->next))
            c->done_tail = NULL;
        c->count--;
        if (p->done) /* may post (refused: closing) or close (a no-op) */
            p->done(p->code, &p->err, p->data);
        post_free(p);
    }
    ws_timer_close(&c->deliver_timer);
    ws_http_close(c->http);
    free(c->ca_file);
    free(c);
}

void ws_status_client_close(struct ws_status_client *c)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    if (c->delivering) /* deliver() tears down when the callback returns */
        return;
    teardown(c);
}
