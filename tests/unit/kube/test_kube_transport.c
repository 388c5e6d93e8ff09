/* test_kube_transport.c — the client's transport behaviour against a scripted
 * HTTP/1.1 server on loopback (in-process, libuv): retries on 429 with
 * Retry-After and on 5xx, giving up, per-request timeouts, the in-flight bound,
 * token-file refresh on 401, and watch resume (bookmarks, server-ended streams,
 * 410 Gone re-list). The real-server behaviour is covered end to end in
 * tests/e2e; these are the paths a real server will not produce on demand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <curl/curl.h>
#include <uv.h>

#include "kube/kube.h"
#include "loopsrv.h"
#include "tap.h"
#include "base/util.h"

static uv_loop_t *loop;
static struct ws_http *http;
static int port;

/* ---- the scripted server (loopsrv.h) ----------------------------------------- */

/* What the current test wants the server to do with a request: a malloc'd raw
 * HTTP response, or NULL to never answer. *delay_ms delays it. */
typedef char *(*handler_fn)(const char *method, const char *target, const char *headers,
                            uint64_t *delay_ms);
static handler_fn handler;

static char *dispatch(const struct loopsrv_req *r, uint64_t *delay_ms)
{
    return handler(r->method, r->target, r->headers, delay_ms);
}

/* ---- client helpers --------------------------------------------------------- */

struct call {
    int done, code;
    long status;
    char msg[1024];
};

static void on_call(const struct ws_kube_result *res, void *data)
{
    struct call *c = data;
    c->done = 1;
    c->code = res->code;
    c->status = res->status;
    if (res->err)
        snprintf(c->msg, sizeof(c->msg), "%s", res->err->msg);
}

static void run_until(int *flag, uint64_t ms)
{
    uint64_t deadline = ws_now_ms() + ms;
    while (!*flag && ws_now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
}

static struct ws_kube *client(const struct ws_kube_opts *opts, const char *token_file)
{
    struct ws_kubeconfig cfg;
    struct ws_kube *k = NULL;
    struct ws_err err;
    memset(&cfg, 0, sizeof(cfg));
    ws_err_clear(&err);
    if (asprintf(&cfg.server, "http://127.0.0.1:%d", port) < 0)
        abort();
    cfg.namespace_ = strdup("default");
    if (token_file)
        cfg.token_file = strdup(token_file);
    if (ws_kube_new(&k, loop, http, &cfg, opts, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    return k;
}

static void reset_server(handler_fn h)
{
    handler = h;
    loopsrv_reset(dispatch, NULL);
}

/* ---- scripts -------------------------------------------------------------- */

static int script_step;

static char *h_429_then_ok(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    if (script_step++ == 0)
        return loopsrv_response(429, "Retry-After: 1\r\n", "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"slow down\",\"code\":429}");
    return loopsrv_response(200, NULL, "{\"gitVersion\":\"v1.33.0\"}");
}

/* API Priority and Fairness under load: many 429s without Retry-After. */
static char *h_429_storm(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    if (script_step++ < 12)
        return loopsrv_response(429, NULL, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"too many requests\",\"code\":429}");
    return loopsrv_response(200, NULL, "{\"gitVersion\":\"v1.33.0\"}");
}

static char *h_503_twice(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    if (script_step++ < 2)
        return loopsrv_response(503, NULL, "{\"kind\":\"Status\",\"reason\":\"ServiceUnavailable\",\"message\":\"etcd is busy\",\"code\":503}");
    return loopsrv_response(200, NULL, "{}");
}

static char *h_always_500(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    script_step++;
    return loopsrv_response(500, NULL, "{\"kind\":\"Status\",\"reason\":\"InternalError\",\"message\":\"boom\",\"code\":500}");
}

static char *h_never(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    return NULL;
}

static char *h_slow_ok(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd;
    *d = 30;
    return loopsrv_response(200, NULL, "{}");
}

static char *h_token(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)d;
    script_step++;
    if (strstr(hd, "Authorization: Bearer new-token"))
        return loopsrv_response(200, NULL, "{}");
    return loopsrv_response(401, NULL, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"message\":\"Unauthorized\",\"code\":401}");
}

/* Watch script: discovery, list, then a stream per request. */
static char seen_watch_rvs[8][32];
static int nwatch, nlist;

static char *chunked(const char *events)
{
    char *out;
    if (asprintf(&out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                 strlen(events), events) < 0)
        return NULL;
    return out;
}

static char *h_watch(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)hd;
    if (strcmp(t, "/api/v1") == 0)
        return loopsrv_response(200, NULL,
                        "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":[{\"name\":"
                        "\"configmaps\",\"namespaced\":true,\"kind\":\"ConfigMap\",\"verbs\":[\"get\","
                        "\"list\",\"watch\",\"patch\"]}]}");
    if (!strstr(t, "watch=1")) {
        nlist++;
        return loopsrv_response(200, NULL,
                        nlist == 1 ? "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"10\"},"
                                     "\"items\":[{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"5\"}}]}"
                                   : "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"50\"},"
                                     "\"items\":[{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"45\"}}]}");
    }
    {
        const char *rv = strstr(t, "resourceVersion=");
        if (nwatch < 8)
            snprintf(seen_watch_rvs[nwatch], sizeof(seen_watch_rvs[0]), "%.*s",
                     rv ? (int)strcspn(rv + 16, "&") : 0, rv ? rv + 16 : "");
    }
    switch (nwatch++) {
    case 0: /* an event, a bookmark, then the server ends the stream */
        return chunked("{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"11\"}}}\n"
                       "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"resourceVersion\":\"15\"}}}\n");
    case 1: /* history compacted: 410 Gone inside the stream */
        return chunked("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old resource version\"}}\n");
    default: { /* after the re-list: one event, then hold the stream open */
        const char *ev = "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":"
                         "{\"name\":\"a\",\"resourceVersion\":\"51\"}}}\n";
        char *out;
        if (asprintf(&out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n", strlen(ev), ev) < 0)
            return NULL;
        return out;
    }
    }
}

struct watch_log {
    int added, modified, synced, errors, relisting;
    int saw_a51;
};

static void on_watch(enum ws_watch_event ev, json_t *o, const struct ws_err *e, void *data)
{
    struct watch_log *l = data;
    const char *rv = json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
    switch (ev) {
    case WS_WATCH_ADDED:
        l->added++;
        break;
    case WS_WATCH_MODIFIED:
        l->modified++;
        if (rv && strcmp(rv, "51") == 0)
            l->saw_a51 = 1;
        break;
    case WS_WATCH_SYNCED:
        l->synced++;
        break;
    case WS_WATCH_RELISTING:
        l->relisting += l->synced == 1; /* after the first list's SYNCED, before the re-list's */
        break;
    case WS_WATCH_ERROR:
        l->errors++;
        tap_diag("watch error: %s", e->msg);
        break;
    default:
        break;
    }
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(void)
{
    struct call c;
    struct ws_kube *k;
    uint64_t t0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop = uv_default_loop();
    ws_http_new(&http, loop);
    port = loopsrv_start(loop);

    /* 429 with Retry-After: waits as told, then succeeds. */
    reset_server(h_429_then_ok);
    script_step = 0;
    k = client(NULL, NULL);
    memset(&c, 0, sizeof(c));
    t0 = ws_now_ms();
    ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
    run_until(&c.done, 10000);
    tap_ok(c.code == 0 && c.status == 200, "429 then 200: succeeds");
    tap_ok(ws_now_ms() - t0 >= 900, "429: Retry-After: 1 honoured (%llu ms)",
           (unsigned long long)(ws_now_ms() - t0));
    tap_is_int(ws_kube_stats(k)->retries, 1, "429: one retry");
    ws_kube_free(k);

    /* A storm of 429s: back-pressure, retried beyond max_retries while the
       throttle budget lasts; then, with a small budget, a clear failure. */
    reset_server(h_429_storm);
    script_step = 0;
    k = client(&(struct ws_kube_opts){.retry_base_ms = 5, .retry_max_ms = 20, .max_retries = 2}, NULL);
    memset(&c, 0, sizeof(c));
    ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
    run_until(&c.done, 10000);
    tap_ok(c.code == 0 && c.status == 200, "12 x 429 with max_retries 2: still succeeds");
    tap_is_int(ws_kube_stats(k)->throttled, 12, "429 storm: 12 throttled answers counted");
    ws_kube_free(k);
    reset_server(h_429_storm);
    script_step = 0;
    k = client(&(struct ws_kube_opts){.retry_base_ms = 20, .retry_max_ms = 20, .throttle_max_ms = 100}, NULL);
    memset(&c, 0, sizeof(c));
    ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
    run_until(&c.done, 10000);
    tap_ok(c.code < 0 && c.status == 429, "429 storm past the throttle budget: fails (code %d, status %ld)", c.code,
           c.status);
    tap_contains(c.msg, "throttled by the API server", "and says it was throttled");
    ws_kube_free(k);

    /* 503 twice: retried with backoff. */
    reset_server(h_503_twice);
    script_step = 0;
    k = client(&(struct ws_kube_opts){.retry_base_ms = 20}, NULL);
    memset(&c, 0, sizeof(c));
    ws_kube_request(k, "GET", "/healthz", NULL, NULL, "healthz", on_call, &c);
    run_until(&c.done, 10000);
    tap_ok(c.code == 0, "503 twice then 200: succeeds");
    tap_is_int(ws_kube_stats(k)->retries, 2, "503: two retries");
    ws_kube_free(k);

    /* 500 forever: gives up after max_retries with the server's message. */
    reset_server(h_always_500);
    script_step = 0;
    k = client(&(struct ws_kube_opts){.retry_base_ms = 10, .max_retries = 2}, NULL);
    memset(&c, 0, sizeof(c));
    ws_kube_request(k, "GET", "/healthz", NULL, NULL, "healthz", on_call, &c);
    run_until(&c.done, 10000);
    tap_is_int(c.code, WS_EHTTP, "500 forever: fails");
    tap_is_int(script_step, 3, "500 forever: 1 try + 2 retries");
    tap_contains(c.msg, "healthz: 500 InternalError: boom", "500: message carries status, reason, message");
    ws_kube_free(k);

    /* No answer: the per-request timeout fires. */
    reset_server(h_never);
    k = client(&(struct ws_kube_opts){.timeout_ms = 300, .max_retries = -1}, NULL);
    memset(&c, 0, sizeof(c));
    t0 = ws_now_ms();
    ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
    run_until(&c.done, 10000);
    tap_is_int(c.code, WS_ETIMEOUT, "silent server: timed out");
    tap_ok(ws_now_ms() - t0 < 2000, "silent server: within the timeout (%llu ms)",
           (unsigned long long)(ws_now_ms() - t0));
    ws_kube_free(k);

    /* The in-flight bound holds over plain HTTP/1.1 (one request a connection). */
    reset_server(h_slow_ok);
    k = client(&(struct ws_kube_opts){.max_inflight = 4}, NULL);
    {
        struct call many[20];
        int all = 0;
        memset(many, 0, sizeof(many));
        for (int i = 0; i < 20; i++)
            ws_kube_request(k, "GET", "/healthz", NULL, NULL, "healthz", on_call, &many[i]);
        t0 = ws_now_ms();
        while (!all && ws_now_ms() - t0 < 10000) {
            uv_run(loop, UV_RUN_ONCE);
            all = 1;
            for (int i = 0; i < 20; i++)
                all &= many[i].done && many[i].code == 0;
        }
        tap_ok(all, "20 requests with max_inflight 4: all succeed");
        tap_ok(loopsrv_max_open <= 4 && loopsrv_max_open >= 2,
               "at most 4 requests were in flight at once (saw %d)", loopsrv_max_open);
    }
    ws_kube_free(k);

    /* Token file rotated: a 401 makes the client re-read it and retry once. */
    {
        char path[] = "/tmp/ws-token-XXXXXX";
        int fd = mkstemp(path);
        k = NULL;
        if (write(fd, "old-token\n", 10) != 10)
            abort();
        close(fd);
        reset_server(h_token);
        script_step = 0;
        k = client(NULL, path);
        memset(&c, 0, sizeof(c));
        ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
        run_until(&c.done, 5000);
        tap_is_int(c.code, WS_EAUTH, "token file with a stale token: 401 reported");
        fd = open(path, O_WRONLY | O_TRUNC);
        if (write(fd, "new-token\n", 10) != 10)
            abort();
        close(fd);
        memset(&c, 0, sizeof(c));
        ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
        run_until(&c.done, 5000);
        tap_ok(c.code == 0, "token file rotated: re-read on 401, the retry succeeds");
        ws_kube_free(k);
        unlink(path);
    }

    /* Watch: list, stream, bookmark, server end → resume, 410 → re-list. */
    reset_server(h_watch);
    k = client(&(struct ws_kube_opts){.retry_base_ms = 10}, NULL);
    {
        struct watch_log l = {0};
        struct ws_kube_watch *w =
            ws_kube_watch_start(k, &(struct ws_kube_ref){"v1", "ConfigMap", "default", NULL}, NULL,
                                on_watch, &l);
        run_until(&l.saw_a51, 15000);
        tap_is_int(l.synced, 2, "watch: SYNCED after the first list and after the re-list");
        tap_is_int(l.relisting, 1, "watch: RELISTING once, before the re-list's items");
        tap_is_int(nlist, 2, "watch: listed at start and once more after 410 Gone");
        tap_is_str(seen_watch_rvs[0], "10", "watch: first stream starts at the list's resourceVersion");
        tap_is_str(seen_watch_rvs[1], "15", "watch: resumed from the bookmark's resourceVersion");
        tap_is_str(seen_watch_rvs[2], "50", "watch: after 410, streams from the new list's resourceVersion");
        tap_ok(l.added >= 3, "watch: listed items and stream additions delivered (%d)", l.added);
        tap_ok(l.saw_a51, "watch: events after the re-list delivered");
        tap_is_int(l.errors, 0, "watch: no errors surfaced");
        ws_kube_watch_stop(w);
    }
    ws_kube_free(k);

    ws_http_close(http);
    loopsrv_stop();
    uv_walk(loop, close_any, NULL); /* anything the client left */
    uv_run(loop, UV_RUN_DEFAULT);
    curl_global_cleanup();
    return tap_done();
}
