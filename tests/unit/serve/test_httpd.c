/* test_httpd.c — reconciler/serve/httpd.c driven over real TCP: the server runs on a
 * libuv loop in this thread, each scenario's client on a second thread with
 * blocking sockets (exact bytes and timing). The client thread asks the loop
 * for actions (answer a held request, shut down) through a uv_async_t.
 * Only the client thread prints TAP lines while the loop runs; the loop
 * thread records counts that the main thread checks after the join. */
#include "serve/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "tap.h"
#include "base/timer.h"
#include "base/util.h"

/* --- the loop side -------------------------------------------------------- */

enum { CMD_RESPOND_HELD = 1, CMD_SHUTDOWN = 2, CMD_FINISH = 4 };

struct ctx {
    uv_loop_t loop;
    uv_async_t ctl;
    struct ws_httpd *srv;
    const char *host;
    int port;
    pthread_t thread;
    void (*client)(struct ctx *);
    pthread_mutex_t mu;
    int cmds;                 /* pending commands, under mu */
    atomic_int acked;         /* commands done so far */
    atomic_int held_seen;     /* the handler holds a request */
    /* Loop thread only; read by the main thread after the join. */
    struct ws_httpd_req *held;
    int handler_calls, late_answers, done_calls, shutdown_started;
    uint64_t active_at_late_answer;
    struct ws_httpd_stats final; /* taken in the done callback */
    /* streams (loop thread; the counters read by the client thread too) */
    struct ws_httpd_stream *stream;
    uv_timer_t *tick;
    int ticks, flood;
    atomic_int stream_closed, flood_cut;
};

static void echo(struct ws_httpd_req *req, int status, const char *prefix)
{
    char out[4096];
    const char *xt = ws_httpd_header(req, "x-TEST");
    int n = snprintf(out, sizeof(out), "%s%s %s q=%s xt=%s body=%s remote=%s", prefix,
                     req->method, req->path, req->query ? req->query : "-", xt ? xt : "-",
                     req->body, req->remote);
    ws_httpd_respond(req, status, "text/plain", "X-Served-By: test\r\n", out, (size_t)n);
}

static void on_async_timer(uv_timer_t *t)
{
    struct ws_httpd_req *req = t->data;
    echo(req, 200, "async ");
    ws_timer_close(&t);
}

static void on_stream_closed(void *data)
{
    struct ctx *c = data;
    c->stream = NULL;
    ws_timer_close(&c->tick);
    atomic_fetch_add(&c->stream_closed, 1);
}

/* /stream: an event every 20 ms; /flood: 64 KiB every 2 ms, to a reader
 * that reads nothing, until the server cuts it off. */
static void on_tick(uv_timer_t *t)
{
    struct ctx *c = t->data;
    static char big[65536];
    char line[64];
    int n;
    if (!c->stream)
        return;
    if (c->flood) {
        memset(big, 'x', sizeof(big));
        if (ws_httpd_stream_write(c->stream, big, sizeof(big)) < 0) {
            atomic_store(&c->flood_cut, 1);
            ws_httpd_stream_close(c->stream);
            c->stream = NULL;
            ws_timer_close(&c->tick);
        }
        return;
    }
    n = snprintf(line, sizeof(line), "data: tick %d\n\n", ++c->ticks);
    ws_httpd_stream_write(c->stream, line, (size_t)n);
}

static void handler(struct ws_httpd_req *req, void *data)
{
    struct ctx *c = data;
    c->handler_calls++;
    if (strcmp(req->path, "/stream") == 0 || strcmp(req->path, "/flood") == 0) {
        c->flood = req->path[1] == 'f';
        c->stream = ws_httpd_stream_open(req, 200, "text/event-stream", "X-Accel-Buffering: no\r\n",
                                         on_stream_closed, c);
        if (c->stream && !c->flood)
            ws_httpd_stream_write(c->stream, "data: first\n\n", strlen("data: first\n\n"));
        if (c->stream && (c->tick = ws_timer_new(&c->loop, c)))
            uv_timer_start(c->tick, on_tick, c->flood ? 2 : 20, c->flood ? 2 : 20);
    } else if (strncmp(req->path, "/hold", 5) == 0) {
        c->held = req;
        atomic_store(&c->held_seen, 1);
    } else if (strncmp(req->path, "/async", 6) == 0) {
        const char *ms = req->query ? strstr(req->query, "ms=") : NULL;
        if (!ws_timer_start(&c->loop, ms ? strtoull(ms + 3, NULL, 10) : 50, on_async_timer, req))
            ws_httpd_respond(req, 500, NULL, NULL, NULL, 0);
    } else if (strcmp(req->path, "/len") == 0) {
        char out[64];
        int n = snprintf(out, sizeof(out), "len=%zu", req->body_len);
        ws_httpd_respond(req, 200, "text/plain", NULL, out, (size_t)n);
    } else if (strcmp(req->path, "/bad-status") == 0) {
        ws_httpd_respond(req, 100, "text/plain", NULL, "x", 1);
    } else {
        echo(req, 200, "");
    }
}

static void on_done(void *data)
{
    struct ctx *c = data;
    c->done_calls++;
    ws_httpd_stats(c->srv, &c->final);
    c->srv = NULL;
}

static void on_ctl(uv_async_t *a)
{
    struct ctx *c = ws_container_of(a, struct ctx, ctl);
    int cmds;

    pthread_mutex_lock(&c->mu);
    cmds = c->cmds;
    c->cmds = 0;
    pthread_mutex_unlock(&c->mu);
    if ((cmds & CMD_RESPOND_HELD) && c->held) {
        struct ws_httpd_stats st;
        if (c->srv) {
            ws_httpd_stats(c->srv, &st);
            c->active_at_late_answer = st.active;
        }
        c->late_answers++;
        ws_httpd_respond(c->held, 200, "text/plain", NULL, "held", 4);
        c->held = NULL;
    }
    if ((cmds & (CMD_SHUTDOWN | CMD_FINISH)) && !c->shutdown_started) {
        c->shutdown_started = 1;
        ws_httpd_shutdown(c->srv, on_done, c);
    }
    if (cmds & CMD_FINISH)
        uv_close((uv_handle_t *)&c->ctl, NULL);
    atomic_fetch_add(&c->acked, __builtin_popcount((unsigned)cmds));
}

/* From the client thread: run cmd on the loop and wait until it has. */
static void ctl(struct ctx *c, int cmd)
{
    int want = atomic_load(&c->acked) + 1;
    pthread_mutex_lock(&c->mu);
    c->cmds |= cmd;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->ctl);
    while (cmd != CMD_FINISH && atomic_load(&c->acked) < want)
        usleep(1000);
}

/* --- the client side (blocking sockets, on the client thread) ------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct cl {
    int fd;
    size_t len;
    char buf[65536];
};

struct resp {
    int status;
    char head[8192];
    char body[8192];
};

static int cl_open(struct cl *k, const struct ctx *c)
{
    struct sockaddr_storage ss;
    struct timeval tv = {3, 0};
    socklen_t alen;
    int v6 = strchr(c->host, ':') != NULL;

    memset(&ss, 0, sizeof(ss));
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)c->port);
        inet_pton(AF_INET6, c->host, &a->sin6_addr);
        alen = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)c->port);
        inet_pton(AF_INET, c->host, &a->sin_addr);
        alen = sizeof(*a);
    }
    k->len = 0;
    k->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (k->fd < 0)
        return -1;
    setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(k->fd, (struct sockaddr *)&ss, alen) < 0) {
        close(k->fd);
        k->fd = -1;
        return -1;
    }
    return 0;
}

static void cl_close(struct cl *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

/* Close with RST instead of FIN: the server sees a reset, not a half-close. */
static void cl_reset(struct cl *k)
{
    struct linger l = {1, 0};
    setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    cl_close(k);
}

static void cl_sendn(struct cl *k, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(k->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may have closed already; the reads will tell */
        s += w;
        n -= (size_t)w;
    }
}

static void cl_send(struct cl *k, const char *s)
{
    cl_sendn(k, s, strlen(s));
}

/* >0 bytes read, 0 EOF, -1 error or timeout (3 s). */
static int cl_fill(struct cl *k)
{
    ssize_t n;
    if (k->len >= sizeof(k->buf) - 1)
        return -1;
    n = recv(k->fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len, 0);
    if (n < 0)
        return -1;
    k->len += (size_t)n;
    k->buf[k->len] = '\0';
    return (int)n;
}

/* Read one response; its status, or -1 on EOF, reset or timeout. */
static int cl_response(struct cl *k, struct resp *r)
{
    char *end, *cl;
    size_t hlen, blen = 0;

    memset(r, 0, sizeof(*r));
    r->status = -1;
    k->buf[k->len] = '\0';
    while (!(end = strstr(k->buf, "\r\n\r\n")))
        if (cl_fill(k) <= 0)
            return -1;
    hlen = (size_t)(end - k->buf) + 4;
    snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, k->buf);
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        return r->status = -1;
    if ((cl = strcasestr(r->head, "\r\nContent-Length:")))
        blen = strtoul(cl + 17, NULL, 10);
    while (k->len < hlen + blen)
        if (cl_fill(k) <= 0)
            return r->status = -1;
    snprintf(r->body, sizeof(r->body), "%.*s", (int)blen, k->buf + hlen);
    memmove(k->buf, k->buf + hlen + blen, k->len - hlen - blen);
    k->len -= hlen + blen;
    k->buf[k->len] = '\0';
    return r->status;
}

/* Does the server close the connection (FIN or RST) within ms, with no
 * further bytes? */
static int cl_closed_within(struct cl *k, int ms)
{
    struct pollfd p = {.fd = k->fd, .events = POLLIN};
    char b[256];
    ssize_t n;
    if (k->len > 0)
        return 0;
    if (poll(&p, 1, ms) <= 0)
        return 0;
    n = recv(k->fd, b, sizeof(b), 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int wait_held(struct ctx *c)
{
    for (int i = 0; i < 3000 && !atomic_load(&c->held_seen); i++)
        usleep(1000);
    return atomic_load(&c->held_seen);
}

/* One request on a fresh connection, expecting `status` and then a close. */
static void expect_refusal(struct ctx *c, const char *name, const char *req, int status)
{
    struct cl k;
    struct resp r;
    tap_ok(cl_open(&k, c) == 0, "%s: connect", name);
    cl_send(&k, req);
    tap_is_int(cl_response(&k, &r), status, name);
    tap_contains(r.head, "Connection: close\r\n", "refusal says Connection: close");
    tap_ok(cl_closed_within(&k, 2000), "%s: connection closed after the refusal", name);
    cl_close(&k);
}

/* --- scenarios (client side) ---------------------------------------------- */

static void sc_sync(struct ctx *c)
{
    struct cl k;
    struct resp r;

    cl_open(&k, c);
    cl_send(&k, "GET /sync/a%20b%2Fc?x=1&y=%20 HTTP/1.1\r\nHost: t\r\nX-Test:  hi there \t\r\n"
                "X-Empty:\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "sync GET: 200");
    tap_is_str(r.body, "GET /sync/a b/c q=x=1&y=%20 xt=hi there body= remote=127.0.0.1",
               "sync GET: decoded path, raw query, trimmed header, remote");
    tap_contains(r.head, "HTTP/1.1 200 OK\r\n", "sync GET: status line with reason");
    tap_contains(r.head, "Content-Type: text/plain\r\n", "sync GET: content type");
    tap_contains(r.head, "X-Served-By: test\r\n", "sync GET: extra headers");
    tap_ok(strstr(r.head, "Connection:") == NULL, "sync GET: HTTP/1.1 keeps alive silently");
    cl_close(&k);

    /* HTTP/1.0: closes unless asked; when asked, says keep-alive. */
    cl_open(&k, c);
    cl_send(&k, "GET /sync HTTP/1.0\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "HTTP/1.0: 200");
    tap_contains(r.head, "Connection: close\r\n", "HTTP/1.0: Connection: close");
    tap_ok(cl_closed_within(&k, 2000), "HTTP/1.0: closed after the answer");
    cl_close(&k);
    cl_open(&k, c);
    cl_send(&k, "GET /sync HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "HTTP/1.0 keep-alive: 200");
    tap_contains(r.head, "Connection: keep-alive\r\n", "HTTP/1.0 keep-alive: said so");
    cl_send(&k, "GET /sync/again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "HTTP/1.0 keep-alive: second request");
    cl_close(&k);

    /* Connection: close from an HTTP/1.1 client. */
    cl_open(&k, c);
    cl_send(&k, "GET /sync HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "Connection: close: answered");
    tap_contains(r.head, "Connection: close\r\n", "Connection: close: echoed");
    tap_ok(cl_closed_within(&k, 2000), "Connection: close: nothing after it is answered");
    cl_close(&k);

    /* A handler answering with a 1xx status is a bug: 500. */
    cl_open(&k, c);
    cl_send(&k, "GET /bad-status HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 500, "handler bug: 1xx answer becomes 500");
    cl_close(&k);
}

static void check_sync(struct ctx *c)
{
    tap_is_int(c->handler_calls, 6, "sync: handler calls");
    tap_is_int(c->final.requests, 6, "sync: requests counted");
    tap_is_int(c->final.connections, 5, "sync: connections counted");
}

static void sc_async(struct ctx *c)
{
    struct cl k;
    struct resp r;
    uint64_t t0 = now_ms();

    cl_open(&k, c);
    cl_send(&k, "POST /async?ms=100 HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
    tap_is_int(cl_response(&k, &r), 200, "async POST: 200");
    tap_ok(now_ms() - t0 >= 90, "async POST: answered from the timer (%llu ms)",
           (unsigned long long)(now_ms() - t0));
    tap_is_str(r.body, "async POST /async q=ms=100 xt=- body=hello world remote=127.0.0.1",
               "async POST: body delivered");

    /* Same connection: a chunked body within the limit, in several writes. */
    cl_send(&k, "POST /async?ms=10 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    usleep(20000);
    cl_send(&k, "lo\r\n6\r\n world\r\n0\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "chunked POST: 200");
    tap_contains(r.body, "body=hello world ", "chunked POST: body reassembled");

    /* Expect: 100-continue gets the interim answer before the body is sent. */
    cl_send(&k, "PUT /sync HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 100, "Expect: 100 Continue first");
    cl_send(&k, "abcde");
    tap_is_int(cl_response(&k, &r), 200, "Expect: then the answer");
    tap_contains(r.body, "PUT /sync q=- xt=- body=abcde", "Expect: body delivered");
    cl_close(&k);
}

static void check_async(struct ctx *c)
{
    tap_is_int(c->handler_calls, 3, "async: handler calls");
    tap_is_int(c->final.connections, 1, "async: one keep-alive connection");
}

static void sc_keepalive(struct ctx *c)
{
    struct cl k;
    struct resp r;

    cl_open(&k, c);
    cl_send(&k, "GET /sync/one HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "keep-alive: first");
    tap_contains(r.body, "GET /sync/one ", "keep-alive: first body");
    usleep(50000);
    cl_send(&k, "GET /sync/two HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "keep-alive: second on the same connection");
    tap_contains(r.body, "GET /sync/two ", "keep-alive: second body");
    cl_close(&k);
}

static void check_keepalive(struct ctx *c)
{
    tap_is_int(c->final.connections, 1, "keep-alive: one connection");
    tap_is_int(c->final.requests, 2, "keep-alive: two requests");
}

static void sc_pipeline(struct ctx *c)
{
    struct cl k;
    struct resp r;
    static const char *const want[] = {"id=1", "id=2", "id=3", "id=4"};

    cl_open(&k, c);
    /* The slow one first: answers must still come in request order. */
    cl_send(&k, "GET /async?ms=150&id=1 HTTP/1.1\r\n\r\n"
                "GET /sync?id=2 HTTP/1.1\r\n\r\n"
                "POST /async?ms=10&id=3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                "GET /sync?id=4 HTTP/1.1\r\n\r\n");
    for (size_t i = 0; i < WS_ARRAY_SIZE(want); i++) {
        tap_is_int(cl_response(&k, &r), 200, "pipeline: answer");
        tap_contains(r.body, want[i], "pipeline: in request order");
    }
    /* Much more pipelined data than the server buffers while a request is
     * held: it stops reading, then resumes once the answer is given. */
    {
        static char chunk[65536];
        size_t total = 1000000, sent = 0;
        cl_send(&k, "GET /hold HTTP/1.1\r\n\r\nPOST /len HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n");
        tap_ok(wait_held(c), "pipeline: request held");
        memset(chunk, 'p', sizeof(chunk));
        while (sent < total) {
            size_t n = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
            ssize_t w = send(k.fd, chunk, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w <= 0)
                break; /* the server stopped reading; the kernel buffers are full */
            sent += (size_t)w;
        }
        ctl(c, CMD_RESPOND_HELD);
        while (sent < total) {
            size_t n = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
            cl_sendn(&k, chunk, n);
            sent += n;
        }
        tap_is_int(cl_response(&k, &r), 200, "pipeline: held request answered");
        tap_is_str(r.body, "held", "pipeline: held body");
        tap_is_int(cl_response(&k, &r), 200, "pipeline: large request after it");
        tap_is_str(r.body, "len=1000000", "pipeline: large body complete");
    }
    /* A valid request, then garbage on the same connection. */
    cl_send(&k, "GET /sync?id=5 HTTP/1.1\r\n\r\nBLAH\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "pipeline: request before garbage answered");
    tap_is_int(cl_response(&k, &r), 400, "pipeline: garbage after it is 400");
    tap_ok(cl_closed_within(&k, 2000), "pipeline: closed after the 400");
    cl_close(&k);
}

static void check_pipeline(struct ctx *c)
{
    tap_is_int(c->handler_calls, 7, "pipeline: handler calls");
    tap_is_int(c->final.bad_400, 1, "pipeline: one 400 counted");
}

static void sc_limits(struct ctx *c)
{
    char big[4096];
    struct cl k;
    struct resp r;

    /* Content-Length over the limit: refused without waiting for the body. */
    expect_refusal(c, "Content-Length over the limit: 413",
                   "POST /sync HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413);
    expect_refusal(c, "Expect with a large body: 413, no 100",
                   "POST /sync HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
                   413);

    /* At the limit exactly: accepted. */
    cl_open(&k, c);
    snprintf(big, sizeof(big), "POST /sync HTTP/1.1\r\nContent-Length: 1024\r\n\r\n");
    cl_send(&k, big);
    memset(big, 'b', 1024);
    cl_sendn(&k, big, 1024);
    tap_is_int(cl_response(&k, &r), 200, "body at the limit: 200");
    cl_close(&k);

    /* A chunked body that grows past the limit. */
    cl_open(&k, c);
    cl_send(&k, "POST /sync HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(big, 'x', 600);
    for (int i = 0; i < 2; i++) {
        cl_send(&k, "258\r\n");
        cl_sendn(&k, big, 600);
        cl_send(&k, "\r\n");
    }
    tap_is_int(cl_response(&k, &r), 413, "chunked body over the limit: 413");
    tap_ok(cl_closed_within(&k, 2000), "chunked 413: connection closed");
    cl_close(&k);

    /* Headers: one too large, many small ones, and just under the limit. */
    memset(big, 'a', 2000);
    big[2000] = '\0';
    {
        char req[4200];
        snprintf(req, sizeof(req), "GET /sync HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
        expect_refusal(c, "one oversized header: 431", req, 431);
        snprintf(req, sizeof(req), "GET /%.1500s HTTP/1.1\r\n\r\n", big);
        expect_refusal(c, "oversized request line: 431", req, 431);
        req[0] = '\0';
        strcat(req, "GET /sync HTTP/1.1\r\n");
        for (int i = 0; i < 300; i++)
            strcat(req, "H: v\r\n");
        strcat(req, "\r\n");
        expect_refusal(c, "many small headers: 431", req, 431);
        cl_open(&k, c);
        snprintf(req, sizeof(req), "GET /sync HTTP/1.1\r\nX-Test: %.800s\r\n\r\n", big);
        cl_send(&k, req);
        tap_is_int(cl_response(&k, &r), 200, "headers under the limit: 200");
        cl_close(&k);
    }

    /* Malformed. */
    expect_refusal(c, "garbage: 400", "HELLO WORLD\r\n\r\n", 400);
    expect_refusal(c, "bad escape in path: 400", "GET /a%zz HTTP/1.1\r\n\r\n", 400);
    expect_refusal(c, "truncated escape: 400", "GET /a%2 HTTP/1.1\r\n\r\n", 400);
    expect_refusal(c, "encoded NUL in path: 400", "GET /a%00b HTTP/1.1\r\n\r\n", 400);
    expect_refusal(c, "header name with a space: 400",
                   "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400);
    expect_refusal(c, "blank before the colon: 400",
                   "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
    expect_refusal(c, "header line without a colon: 400",
                   "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    expect_refusal(c, "bad Content-Length: 400",
                   "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
    expect_refusal(c, "both Content-Length and chunked: 400",
                   "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                   400);
    {
        /* Found by tests/fuzz/fuzz_httpd.c: http_parser lets a NUL through
         * as a value's first byte, which shifted the later headers (here:
         * "X-GitHub-Event: X-B" appeared). */
        static const char nul[] = "GET / HTTP/1.1\r\nX-A:\0X-GitHub-Event\r\nX-B: b\r\n\r\n";
        cl_open(&k, c);
        cl_sendn(&k, nul, sizeof(nul) - 1);
        tap_is_int(cl_response(&k, &r), 400, "NUL in a header value: 400");
        tap_ok(cl_closed_within(&k, 2000), "NUL in a header value: connection closed");
        cl_close(&k);
    }
}

static void check_limits(struct ctx *c)
{
    tap_is_int(c->handler_calls, 2, "limits: only the valid requests reach the handler");
    tap_is_int(c->final.rejected_413, 3, "limits: 413 counted");
    tap_is_int(c->final.rejected_431, 3, "limits: 431 counted");
    tap_is_int(c->final.bad_400, 10, "limits: 400 counted");
}

static void sc_timeouts(struct ctx *c)
{
    struct cl k;
    struct resp r;
    uint64_t t0, dt;

    /* Half a request, then silence. */
    cl_open(&k, c);
    t0 = now_ms();
    cl_send(&k, "GET /sync HTTP/1.1\r\nHost:");
    tap_is_int(cl_response(&k, &r), 408, "slow client: 408");
    dt = now_ms() - t0;
    tap_ok(dt >= 180 && dt < 1500, "slow client: after the read timeout (%llu ms)",
           (unsigned long long)dt);
    tap_ok(cl_closed_within(&k, 2000), "slow client: closed");
    cl_close(&k);

    /* A trickle keeps sending but never finishes: the limit is for the whole
     * request, not between bytes. */
    cl_open(&k, c);
    t0 = now_ms();
    cl_send(&k, "POST /sync HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
    for (int i = 0; i < 40; i++) {
        struct pollfd p = {.fd = k.fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0)
            break;
        cl_send(&k, "x");
    }
    tap_is_int(cl_response(&k, &r), 408, "trickling body: 408");
    dt = now_ms() - t0;
    tap_ok(dt >= 180 && dt < 800, "trickling body: cut at the read timeout (%llu ms)",
           (unsigned long long)dt);
    cl_close(&k);

    /* Requests closer together than the idle timeout keep the connection. */
    cl_open(&k, c);
    for (int i = 0; i < 6; i++) {
        cl_send(&k, "GET /sync HTTP/1.1\r\n\r\n");
        tap_is_int(cl_response(&k, &r), 200, "busy keep-alive: request survives");
        usleep(150000);
    }
    cl_close(&k);

    /* Idle keep-alive. */
    cl_open(&k, c);
    cl_send(&k, "GET /sync HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "idle: answered");
    t0 = now_ms();
    tap_ok(cl_closed_within(&k, 2000), "idle: closed by the server");
    dt = now_ms() - t0;
    tap_ok(dt >= 250 && dt < 1500, "idle: after the idle timeout (%llu ms)",
           (unsigned long long)dt);
    cl_close(&k);

    /* Idle connection that never sent a byte. */
    cl_open(&k, c);
    tap_ok(cl_closed_within(&k, 2000), "idle before any request: closed");
    cl_close(&k);
}

static void check_timeouts(struct ctx *c)
{
    tap_is_int(c->final.timeouts_408, 2, "timeouts: 408 counted");
    tap_is_int(c->handler_calls, 7, "timeouts: unfinished requests never reach the handler");
}

static void sc_disconnect(struct ctx *c)
{
    struct cl k;
    struct resp r;

    /* Reset while the handler holds the request; it answers afterwards. */
    cl_open(&k, c);
    cl_send(&k, "POST /hold HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    tap_ok(wait_held(c), "disconnect: handler holds the request");
    cl_reset(&k);
    usleep(100000); /* the loop sees the reset */
    ctl(c, CMD_RESPOND_HELD);

    /* Half-close after sending: the answer still comes, then the close. */
    cl_open(&k, c);
    cl_send(&k, "GET /async?ms=50 HTTP/1.1\r\n\r\n");
    shutdown(k.fd, SHUT_WR);
    tap_is_int(cl_response(&k, &r), 200, "half-close: still answered");
    tap_contains(r.head, "Connection: close\r\n", "half-close: Connection: close");
    tap_ok(cl_closed_within(&k, 2000), "half-close: closed after the answer");
    cl_close(&k);

    /* Two pipelined requests, then a half-close: both answered, in order. */
    cl_open(&k, c);
    cl_send(&k, "GET /async?ms=30&id=1 HTTP/1.1\r\n\r\nGET /sync?id=2 HTTP/1.1\r\n\r\n");
    shutdown(k.fd, SHUT_WR);
    tap_is_int(cl_response(&k, &r), 200, "half-close pipeline: first");
    tap_contains(r.body, "id=1", "half-close pipeline: first in order");
    tap_is_int(cl_response(&k, &r), 200, "half-close pipeline: second");
    tap_contains(r.body, "id=2", "half-close pipeline: second in order");
    tap_contains(r.head, "Connection: close\r\n", "half-close pipeline: last says close");
    tap_ok(cl_closed_within(&k, 2000), "half-close pipeline: closed");
    cl_close(&k);

    /* Close mid-request: nothing reaches the handler. */
    cl_open(&k, c);
    cl_send(&k, "POST /sync HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    cl_close(&k);
    usleep(50000);
}

static void check_disconnect(struct ctx *c)
{
    tap_is_int(c->late_answers, 1, "disconnect: late answer given");
    tap_is_int(c->active_at_late_answer, 0, "disconnect: connection was gone when answered");
    tap_is_int(c->handler_calls, 4, "disconnect: handler calls");
    tap_is_int(c->final.active, 0, "disconnect: no connection left");
}

static void sc_maxconn(struct ctx *c)
{
    struct cl a, b, x, d;
    struct resp r;

    cl_open(&a, c);
    cl_send(&a, "GET /sync/a HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&a, &r), 200, "max conns: first");
    cl_open(&b, c);
    cl_send(&b, "GET /sync/b HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&b, &r), 200, "max conns: second");
    cl_open(&x, c);
    tap_is_int(cl_response(&x, &r), 503, "max conns: third gets 503");
    tap_contains(r.head, "Connection: close\r\n", "max conns: 503 closes");
    tap_ok(cl_closed_within(&x, 2000), "max conns: third closed");
    cl_close(&x);
    cl_close(&a);
    usleep(100000);
    cl_open(&d, c);
    cl_send(&d, "GET /sync/d HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&d, &r), 200, "max conns: a freed slot is reused");
    cl_send(&b, "GET /sync/b2 HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&b, &r), 200, "max conns: the second still serves");
    cl_close(&b);
    cl_close(&d);
}

static void check_maxconn(struct ctx *c)
{
    tap_is_int(c->final.rejected_503, 1, "max conns: one 503 counted");
    tap_is_int(c->final.connections, 4, "max conns: four accepted");
}

static void sc_shutdown(struct ctx *c)
{
    struct cl a, b, n, p;
    struct resp r;

    cl_open(&a, c);
    cl_send(&a, "GET /hold HTTP/1.1\r\n\r\n");
    tap_ok(wait_held(c), "shutdown: a request is pending");
    cl_open(&b, c);
    cl_send(&b, "GET /sync HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&b, &r), 200, "shutdown: idle connection served before");
    cl_open(&p, c);
    cl_send(&p, "GET /sync/partial HTTP/1.1\r\nHo");
    usleep(50000); /* the loop reads the first half */

    ctl(c, CMD_SHUTDOWN);
    tap_ok(cl_closed_within(&b, 2000), "shutdown: idle keep-alive connection closed");
    cl_close(&b);
    tap_ok(cl_open(&n, c) < 0 && errno == ECONNREFUSED, "shutdown: new connections refused");
    cl_send(&p, "st: x\r\n\r\n");
    tap_is_int(cl_response(&p, &r), 200, "shutdown: a request being read is finished");
    tap_contains(r.head, "Connection: close\r\n", "shutdown: and told to close");
    tap_ok(cl_closed_within(&p, 2000), "shutdown: then closed");
    cl_close(&p);
    tap_ok(cl_closed_within(&a, 1) == 0, "shutdown: the pending connection stays open");
    ctl(c, CMD_RESPOND_HELD);
    tap_is_int(cl_response(&a, &r), 200, "shutdown: the pending request gets its answer");
    tap_is_str(r.body, "held", "shutdown: with its body");
    tap_contains(r.head, "Connection: close\r\n", "shutdown: answer says Connection: close");
    tap_ok(cl_closed_within(&a, 2000), "shutdown: then closed");
    cl_close(&a);
}

static void check_shutdown(struct ctx *c)
{
    tap_is_int(c->late_answers, 1, "shutdown: held request answered");
    tap_is_int(c->final.requests, 3, "shutdown: requests counted");
}

static void sc_ipv6(struct ctx *c)
{
    struct cl k;
    struct resp r;
    tap_ok(cl_open(&k, c) == 0, "ipv6: connect to [::1]");
    cl_send(&k, "GET /sync HTTP/1.1\r\n\r\n");
    tap_is_int(cl_response(&k, &r), 200, "ipv6: 200");
    tap_contains(r.body, "remote=::1", "ipv6: remote address");
    cl_close(&k);
}

static void sc_stream(struct ctx *c)
{
    struct cl k;
    char *end;
    int i;

    cl_open(&k, c);
    cl_send(&k, "GET /stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n");
    while (!strstr(k.buf, "data: tick 2\n\n") && cl_fill(&k) > 0)
        ;
    end = strstr(k.buf, "\r\n\r\n");
    tap_ok(end != NULL, "stream: headers arrive");
    tap_ok(strncmp(k.buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "stream: 200");
    tap_contains(k.buf, "Content-Type: text/event-stream\r\n", "stream: content type");
    tap_contains(k.buf, "Cache-Control: no-store\r\n", "stream: not cached");
    tap_contains(k.buf, "Connection: close\r\n", "stream: the connection ends with it");
    tap_contains(k.buf, "X-Accel-Buffering: no\r\n", "stream: extra headers");
    tap_ok(strcasestr(k.buf, "Content-Length") == NULL, "stream: no length");
    tap_ok(end && strncmp(end + 4, "data: first\n\ndata: tick 1\n\ndata: tick 2\n\n", 41) == 0,
           "stream: events in order, as written");
    /* another request on it is not read: the stream goes on */
    cl_send(&k, "GET /sync HTTP/1.1\r\n\r\n");
    k.len = 0;
    while (!strstr(k.buf, "data: tick 4") && cl_fill(&k) > 0)
        ;
    tap_ok(strstr(k.buf, "data: tick 4") && !strstr(k.buf, "HTTP/1.1"), "stream: later bytes are not a request");
    cl_close(&k);
    for (i = 0; i < 2000 && atomic_load(&c->stream_closed) < 1; i++)
        usleep(1000);
    tap_is_int(atomic_load(&c->stream_closed), 1, "stream: the reader going away closes it (closed called)");

    /* shutdown ends a stream at once */
    cl_open(&k, c);
    cl_send(&k, "GET /stream HTTP/1.1\r\n\r\n");
    while (!strstr(k.buf, "data: first") && cl_fill(&k) > 0)
        ;
    ctl(c, CMD_SHUTDOWN);
    for (i = 0; i < 3000 && cl_fill(&k) > 0; i++)
        ;
    tap_ok(cl_fill(&k) <= 0, "stream: shutdown ends it (EOF)");
    cl_close(&k);
}

static void check_stream(struct ctx *c)
{
    tap_is_int(atomic_load(&c->stream_closed), 2, "stream: closed called once per stream");
    tap_ok(c->stream == NULL && c->tick == NULL, "stream: nothing left behind");
}

static void sc_flood(struct ctx *c)
{
    struct cl k;
    int i, sndbuf = 4096;
    cl_open(&k, c);
    setsockopt(k.fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
    cl_send(&k, "GET /flood HTTP/1.1\r\n\r\n");
    for (i = 0; i < 5000 && !atomic_load(&c->flood_cut); i++)
        usleep(1000);
    tap_ok(atomic_load(&c->flood_cut), "flood: a reader that falls 1 MiB behind is cut off");
    tap_is_int(atomic_load(&c->stream_closed), 0, "flood: closed() is not called for that (write said -1)");
    cl_close(&k);
}

/* --- runner --------------------------------------------------------------- */

struct scenario {
    const char *name;
    struct ws_httpd_opts opts;
    void (*client)(struct ctx *);
    void (*check)(struct ctx *);
};

static const struct scenario scenarios[] = {
    {"sync", {.port = 0}, sc_sync, check_sync},
    {"async", {.port = 0}, sc_async, check_async},
    {"keepalive", {.port = 0}, sc_keepalive, check_keepalive},
    {"pipeline", {.port = 0}, sc_pipeline, check_pipeline},
    {"limits", {.max_body_bytes = 1024, .max_header_bytes = 1024}, sc_limits, check_limits},
    {"timeouts", {.read_timeout_ms = 200, .idle_timeout_ms = 300}, sc_timeouts, check_timeouts},
    {"disconnect", {.port = 0}, sc_disconnect, check_disconnect},
    {"maxconn", {.max_connections = 2}, sc_maxconn, check_maxconn},
    {"shutdown", {.port = 0}, sc_shutdown, check_shutdown},
    {"ipv6", {.host = "::1"}, sc_ipv6, NULL},
    {"stream", {.port = 0}, sc_stream, check_stream},
    {"flood", {.port = 0}, sc_flood, NULL},
};

static void *client_main(void *arg)
{
    struct ctx *c = arg;
    c->client(c);
    ctl(c, CMD_FINISH);
    return NULL;
}

static void run(const struct scenario *sc)
{
    struct ctx *c = calloc(1, sizeof(*c));
    struct ws_err err;
    int rc;

    uv_loop_init(&c->loop);
    pthread_mutex_init(&c->mu, NULL);
    c->host = sc->opts.host ? sc->opts.host : "127.0.0.1";
    c->client = sc->client;
    rc = ws_httpd_start(&c->srv, &c->loop, &sc->opts, handler, c, &err);
    if (!tap_ok(rc == 0, "%s: server starts", sc->name)) {
        tap_diag("  %s", err.msg);
        uv_loop_close(&c->loop);
        free(c);
        return;
    }
    c->port = ws_httpd_port(c->srv);
    tap_ok(c->port > 0, "%s: ephemeral port bound", sc->name);
    uv_async_init(&c->loop, &c->ctl, on_ctl);
    pthread_create(&c->thread, NULL, client_main, c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    pthread_join(c->thread, NULL);
    tap_is_int(c->done_calls, 1, "shutdown done called once");
    tap_ok(c->held == NULL, "no request left unanswered");
    if (sc->check)
        sc->check(c);
    tap_is_int(uv_loop_close(&c->loop), 0, "loop closes cleanly");
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void noop_handler(struct ws_httpd_req *req, void *data)
{
    ws_httpd_respond(req, 204, NULL, NULL, NULL, 0);
}

static void test_start_errors(void)
{
    uv_loop_t loop;
    struct ws_httpd *s = NULL, *s2 = NULL;
    struct ws_httpd_opts o = {0};
    struct ws_err err;
    char want[96];

    uv_loop_init(&loop);
    tap_is_int(ws_httpd_start(&s, &loop, &o, noop_handler, NULL, &err), 0, "start: default opts");
    o.port = ws_httpd_port(s);
    tap_is_int(ws_httpd_start(&s2, &loop, &o, noop_handler, NULL, &err), WS_ENET,
               "start: port in use is WS_ENET");
    snprintf(want, sizeof(want), "listen on 127.0.0.1:%d: address already in use", o.port);
    tap_is_str(err.msg, want, "start: error names host:port");
    tap_ok(s2 == NULL, "start: no server on error");
    o.host = "localhost";
    tap_is_int(ws_httpd_start(&s2, &loop, &o, noop_handler, NULL, &err), WS_EINVAL,
               "start: host must be an IP literal");
    tap_contains(err.msg, "localhost:", "start: bad host named");
    o.host = "::1";
    o.port = 70000;
    tap_is_int(ws_httpd_start(&s2, &loop, &o, noop_handler, NULL, &err), WS_EINVAL,
               "start: port out of range");
    tap_contains(err.msg, "[::1]:70000", "start: IPv6 shown in brackets");
    ws_httpd_shutdown(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    tap_is_int(uv_loop_close(&loop), 0, "start: loop closes after failed starts");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_start_errors();
    for (size_t i = 0; i < WS_ARRAY_SIZE(scenarios); i++) {
        tap_diag("scenario %s", scenarios[i].name);
        run(&scenarios[i]);
    }
    return tap_done();
}
