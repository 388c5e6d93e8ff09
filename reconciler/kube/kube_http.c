/* kube_http.c — curl multi ⇄ libuv glue (after curl's multi-uv example, with
 * its gaps closed: poll errors reach curl as CURL_CSELECT_ERR, every
 * allocation is checked, a 0 ms timeout is clamped to 1 ms, and finished
 * transfers are drained after every socket action). */
#include "kube/kube_http.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/log.h"
#include "base/util.h"

struct ws_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    size_t running;
    struct xfer *xfers;
    struct deferred *adds, *removes, *calls;
    int in_curl;
    int closing;
};

struct xfer {
    CURL *easy;
    ws_http_done_cb cb;
    void *data;
    struct xfer *prev, *next; /* every running transfer, for ws_http_close */
};

/* Transfers added or removed while curl is running our callbacks wait here:
 * curl refuses multi calls from inside its own callbacks. */
struct deferred {
    CURL *easy;
    struct xfer *x; /* set for adds */
    void (*fn)(void *); /* set for ws_http_defer */
    void *arg;
    struct deferred *next;
};

static void xfer_unlink(struct ws_http *h, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        h->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    h->running--;
}

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct ws_http *http;
};

static void drain_done(struct ws_http *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        CURL *easy;
        struct xfer *x = NULL;
        CURLcode result;
        if (msg->msg != CURLMSG_DONE)
            continue;
        easy = msg->easy_handle;
        result = msg->data.result; /* msg is invalid after remove_handle */
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(h->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (x) {
            xfer_unlink(h, x);
            ws_http_done_cb cb = x->cb;
            void *data = x->data;
            free(x);
            cb(easy, result, data);
        }
    }
}

static size_t discard(char *p, size_t size, size_t n, void *userp)
{
    (void)p;
    (void)userp;
    return size * n;
}

/* Apply adds and removes requested from inside curl's callbacks. */
static void flush_deferred(struct ws_http *h)
{
    while (h->calls) {
        struct deferred *d = h->calls;
        h->calls = d->next;
        d->fn(d->arg);
        free(d);
    }
    while (h->removes) {
        struct deferred *d = h->removes;
        h->removes = d->next;
        curl_multi_remove_handle(h->multi, d->easy);
        curl_easy_cleanup(d->easy);
        free(d);
    }
    while (h->adds) {
        struct deferred *d = h->adds;
        h->adds = d->next;
        if (curl_multi_add_handle(h->multi, d->easy) != CURLM_OK) {
            /* report it like any failed transfer */
            struct xfer *x = d->x;
            xfer_unlink(h, x);
            curl_easy_setopt(d->easy, CURLOPT_PRIVATE, NULL);
            x->cb(d->easy, CURLE_FAILED_INIT, x->data);
            free(x);
        }
        free(d);
    }
}

static void socket_action(struct ws_http *h, curl_socket_t fd, int flags)
{
    int still;
    h->in_curl = 1;
    curl_multi_socket_action(h->multi, fd, flags, &still);
    h->in_curl = 0;
    flush_deferred(h);
    drain_done(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *c = ws_container_of(p, struct sock_ctx, poll);
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    socket_action(c->http, c->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
    struct ws_http *h = ws_container_of(t, struct ws_http, timer);
    socket_action(h, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct ws_http *h = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
        return 0;
    }
    /* curl may not be re-entered from here; a 0 ms timer fires on the next
     * loop iteration, clamped to 1 ms so uv's cached time advances. */
    uv_timer_start(&h->timer, on_timer, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
    return 0;
}

static void on_sock_closed(uv_handle_t *hd)
{
    free(ws_container_of((uv_poll_t *)hd, struct sock_ctx, poll));
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct ws_http *h = userp;
    struct sock_ctx *c = socketp;
    int events = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, on_sock_closed);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!c) {
        if (!(c = calloc(1, sizeof(*c)))) {
            ws_error("http: out of memory tracking a socket");
            return -1;
        }
        c->fd = fd;
        c->http = h;
        if (uv_poll_init_socket(h->loop, &c->poll, fd) < 0) {
            free(c);
            return -1;
        }
        curl_multi_assign(h->multi, fd, c);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    if (uv_poll_start(&c->poll, events, on_poll) < 0)
        return -1;
    return 0;
}

int ws_http_new(struct ws_http **out, uv_loop_t *loop)
{
    struct ws_http *h = calloc(1, sizeof(*h));
    if (!h)
        return WS_ENOMEM;
    if (!(h->multi = curl_multi_init())) {
        free(h);
        return WS_ENOMEM;
    }
    h->loop = loop;
    uv_timer_init(loop, &h->timer);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* Many streams share one HTTP/2 connection; a handful of connections
     * cover HTTP/1.1 servers. */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 250L);
    *out = h;
    return 0;
}

int ws_http_add(struct ws_http *h, CURL *easy, ws_http_done_cb cb, void *data)
{
    struct xfer *x;
    if (h->closing)
        return WS_ECANCELED;
    if (!(x = malloc(sizeof(*x))))
        return WS_ENOMEM;
    x->easy = easy;
    x->cb = cb;
    x->data = data;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (h->in_curl) {
        struct deferred *d = calloc(1, sizeof(*d)), **tail = &h->adds;
        if (!d) {
            curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
            free(x);
            return WS_ENOMEM;
        }
        d->easy = easy;
        d->x = x;
        while (*tail)
            tail = &(*tail)->next;
        *tail = d;
    } else if (curl_multi_add_handle(h->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return WS_EHTTP;
    }
    x->prev = NULL;
    x->next = h->xfers;
    if (h->xfers)
        h->xfers->prev = x;
    h->xfers = x;
    h->running++;
    return 0;
}

void ws_http_remove(struct ws_http *h, CURL *easy)
{
    struct xfer *x = NULL;
    struct deferred **pd;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x) { /* not (or no longer) running: just clean it up */
        curl_easy_cleanup(easy);
        return;
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    xfer_unlink(h, x);
    free(x);
    /* an add still waiting for curl: drop it */
    for (pd = &h->adds; *pd; pd = &(*pd)->next) {
        if ((*pd)->easy == easy) {
            struct deferred *d = *pd;
            *pd = d->next;
            free(d);
            curl_easy_cleanup(easy);
            return;
        }
    }
    if (h->in_curl) {
        /* curl is inside a callback: silence the transfer now, remove it
         * once curl returns */
        struct deferred *d = calloc(1, sizeof(*d));
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 1L);
        if (d) {
            d->easy = easy;
            d->next = h->removes;
            h->removes = d;
            return;
        }
    }
    curl_multi_remove_handle(h->multi, easy);
    curl_easy_cleanup(easy);
}

int ws_http_in_curl(const struct ws_http *h)
{
    return h->in_curl;
}

int ws_http_defer(struct ws_http *h, void (*fn)(void *), void *arg)
{
    struct deferred *d, **tail = &h->calls;
    if (!h->in_curl) {
        fn(arg);
        return 0;
    }
    if (!(d = calloc(1, sizeof(*d))))
        return WS_ENOMEM;
    d->fn = fn;
    d->arg = arg;
    while (*tail)
        tail = &(*tail)->next;
    *tail = d;
    return 0;
}

size_t ws_http_running(const struct ws_http *h)
{
    return h->running;
}

static void on_timer_closed(uv_handle_t *hd)
{
    struct ws_http *h = ws_container_of((uv_timer_t *)hd, struct ws_http, timer);
    free(h);
}

void ws_http_close(struct ws_http *h)
{
    if (!h || h->closing)
        return;
    h->closing = 1;
    /* Owners should have removed their transfers; any left are detached
     * (their owners keep their easy handles). Removing a handle makes curl
     * close its sockets, which calls back CURL_POLL_REMOVE for our polls. */
    while (h->xfers)
        ws_http_remove(h, h->xfers->easy);
    flush_deferred(h);
    curl_multi_cleanup(h->multi);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
