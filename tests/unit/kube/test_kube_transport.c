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
#include "tap.h"
#include "base/util.h"

static uv_loop_t *loop;
static struct ws_http *http;
static uv_tcp_t server;
static int port;

/* ---- the scripted server -------------------------------------------------- */

struct conn {
    uv_tcp_t tcp;
    struct ws_buf in;
    uv_timer_t delay;
    char *pending; /* a response held back by a delay */
    int closed;
};

/* What the current test wants the server to do with a request. Returns a
 * malloc'd raw HTTP response, or NULL to never answer. *delay_ms delays it. */
typedef char *(*handler_fn)(const char *method, const char *target, const char *headers,
                            uint64_t *delay_ms);
static handler_fn handler;
static int open_requests, max_open_requests, total_requests;

static char *response(int status, const char *extra_headers, const char *body)
{
    char *out;
    if (asprintf(&out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
                 status, extra_headers ? extra_headers : "", strlen(body), body) < 0)
        return NULL;
    return out;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->closed == 0) {
        ws_buf_free(&c->in);
        free(c->pending);
        free(c);
    }
}

static void close_conn(struct conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    c->closed = 2;
    if (c->pending)
        open_requests--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->delay, on_conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
    (void)status;
}

static void send_raw(struct conn *c, const char *text)
{
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = strdup(text);
    uv_buf_t b = uv_buf_init(copy, (unsigned)strlen(copy));
    w->data = copy;
    uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

static void on_delay(uv_timer_t *t)
{
    struct conn *c = t->data;
    open_requests--;
    send_raw(c, c->pending);
    free(c->pending);
    c->pending = NULL;
}

static void handle_requests(struct conn *c)
{
    char *end;
    while (c->in.len && (end = strstr(c->in.data, "\r\n\r\n"))) {
        char method[16] = "", target[1024] = "";
        size_t head = (size_t)(end - c->in.data) + 4, body = 0;
        const char *cl = strcasestr(c->in.data, "Content-Length:");
        uint64_t delay = 0;
        char *resp;
        if (cl && cl < end)
            body = (size_t)strtoul(cl + 15, NULL, 10);
        if (c->in.len < head + body)
            return;
        sscanf(c->in.data, "%15s %1023s", method, target);
        end[2] = '\0';
        total_requests++;
        open_requests++;
        if (open_requests > max_open_requests)
            max_open_requests = open_requests;
        resp = handler(method, target, c->in.data, &delay);
        ws_buf_consume(&c->in, head + body);
        if (!resp) {
            c->pending = strdup("held");
            return; /* never answered: the client must time out */
        }
        if (delay) {
            c->pending = resp;
            uv_timer_start(&c->delay, on_delay, delay, 0);
            return;
        }
        open_requests--;
        send_raw(c, resp);
        free(resp);
    }
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(n);
    b->len = n;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (n > 0) {
        ws_buf_append(&c->in, b->base, (size_t)n);
        handle_requests(c);
    } else if (n < 0) {
        close_conn(c);
    }
    free(b->base);
}

static void on_connection(uv_stream_t *srv, int status)
{
    struct conn *c = calloc(1, sizeof(*c));
    (void)status;
    ws_buf_init(&c->in, 0);
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    uv_accept(srv, (uv_stream_t *)&c->tcp);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void server_start(void)
{
    struct sockaddr_in addr;
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &server);
    uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    uv_listen((uv_stream_t *)&server, 128, on_connection);
    uv_tcp_getsockname(&server, (struct sockaddr *)&got, &len);
    port = ntohs(((struct sockaddr_in *)&got)->sin_port);
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
    open_requests = max_open_requests = total_requests = 0;
}

/* ---- scripts -------------------------------------------------------------- */

static int script_step;

static char *h_429_then_ok(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    if (script_step++ == 0)
        return response(429, "Retry-After: 1\r\n", "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"slow down\",\"code\":429}");
    return response(200, NULL, "{\"gitVersion\":\"v1.33.0\"}");
}

static char *h_503_twice(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    if (script_step++ < 2)
        return response(503, NULL, "{\"kind\":\"Status\",\"reason\":\"ServiceUnavailable\",\"message\":\"etcd is busy\",\"code\":503}");
    return response(200, NULL, "{}");
}

static char *h_always_500(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)hd; (void)d;
    script_step++;
    return response(500, NULL, "{\"kind\":\"Status\",\"reason\":\"InternalError\",\"message\":\"boom\",\"code\":500}");
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
    return response(200, NULL, "{}");
}

static char *h_token(const char *m, const char *t, const char *hd, uint64_t *d)
{
    (void)m; (void)t; (void)d;
    script_step++;
    if (strstr(hd, "Authorization: Bearer new-token"))
        return response(200, NULL, "{}");
    return response(401, NULL, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"message\":\"Unauthorized\",\"code\":401}");
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
        return response(200, NULL,
                        "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":[{\"name\":"
                        "\"configmaps\",\"namespaced\":true,\"kind\":\"ConfigMap\",\"verbs\":[\"get\","
                        "\"list\",\"watch\",\"patch\"]}]}");
    if (!strstr(t, "watch=1")) {
        nlist++;
        return response(200, NULL,
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
    int added, modified, synced, errors;
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
    if (!uv_is_closing(h)) {
        if (h->type == UV_TCP && h != (uv_handle_t *)&server)
            close_conn(h->data);
        else
            uv_close(h, NULL);
    }
}

int main(void)
{
    struct call c;
    struct ws_kube *k;
    uint64_t t0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop = uv_default_loop();
    ws_http_new(&http, loop);
    server_start();

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
        tap_ok(max_open_requests <= 4 && max_open_requests >= 2,
               "at most 4 requests were in flight at once (saw %d)", max_open_requests);
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
        tap_is_int(l.synced, 1, "watch: SYNCED once, after the first list");
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
    uv_close((uv_handle_t *)&server, NULL);
    uv_walk(loop, close_any, NULL); /* server connections the client left */
    uv_run(loop, UV_RUN_DEFAULT);
    curl_global_cleanup();
    return tap_done();
}
