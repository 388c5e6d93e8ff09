/* httpd.c — HTTP/1.1 server on libuv: one struct conn per TCP connection (its
 * socket, timer and shutdown request embedded), requests parsed by http_parser
 * and handed one at a time to the handler, answers written in order. */
#include "serve/httpd.h"
#include "serve/httpd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_MAX_HEADER ((size_t)64 * 1024)
#define DEFAULT_MAX_BODY ((size_t)25 * 1024 * 1024)
#define DEFAULT_READ_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_MAX_CONNECTIONS 1024
/* One read buffer for the whole server: reads are consumed in the read callback. */
#define READ_SLAB 65536
/* Pipelined bytes kept while an answer is pending before we stop reading. */
#define BACKLOG_MAX ((size_t)64 * 1024)
/* After our last answer we half-close and drain the peer's leftovers for up
 * to this long: closing with unread data would send RST and could destroy the
 * answer (a 413 in particular) before the client reads it. */
#define LINGER_MAX_MS 2000
/* Above max_connections this many more get a 503; beyond, a bare close. */
#define OVERFLOW_503 64
/* Request line overhead ("GET " + " HTTP/1.1\r\n" + final CRLF), roughly. */
#define REQUEST_LINE_BYTES 16
/* ": " and CRLF around each header. */
#define HEADER_LINE_BYTES 4

enum timer_mode { TM_NONE, TM_IDLE, TM_READ, TM_LINGER };

struct conn;

struct httpd_req {
    struct ws_httpd_req pub;
    struct ws_httpd *srv;
    struct conn *conn;   /* NULL once detached: the connection died */
    struct ws_buf url;
    struct ws_buf hdrs;  /* "name\0value\0…"; pub.headers point into it */
    struct ws_buf body;  /* until complete, then stolen into pub.body */
    int hstate;          /* 0 no header yet, 1 in a name, 2 in a value */
    int headers_done;    /* later field/value callbacks are trailers: ignored */
    int keep_alive;
    int http10;
};

/* One queued write; owns its bytes. */
struct wout {
    uv_write_t w;
    struct conn *c;
    char *data;
    size_t len;
};

/* A response whose body goes on (ws_httpd_stream_open). */
struct ws_httpd_stream {
    struct conn *c;            /* NULL once the connection is gone */
    void (*closed)(void *data);
    void *data;
};

/* Bytes a stream may have queued and not yet written: a reader that falls
 * further behind is cut off rather than buffered without bound. */
#define STREAM_BACKLOG_MAX ((size_t)1 << 20)

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut_req;
    struct ws_httpd *srv;
    struct conn *prev, *next;
    http_parser parser;
    struct ws_buf inbuf;       /* received, not yet parsed */
    struct httpd_req *cur;     /* being parsed */
    struct httpd_req *ready;   /* complete; dispatched once execute returns */
    struct httpd_req *pending; /* with the handler, not answered yet */
    size_t header_bytes;
    uint64_t req_start;        /* uv_now() at the first byte of cur */
    unsigned req_gen, timer_gen;
    enum timer_mode tmode;
    int reject;                /* status to refuse the request with, from a callback */
    int handles;               /* open handles; the conn is freed at 0 */
    unsigned writes;           /* writes in flight */
    size_t queued;             /* their bytes */
    struct ws_httpd_stream *stream; /* the answer is a stream: no more requests */
    char remote[64];
    unsigned closing : 1;      /* uv_close called */
    unsigned no_more : 1;      /* no further request will be parsed */
    unsigned peer_eof : 1;
    unsigned shut : 1;         /* uv_shutdown issued: lingering */
    unsigned reading : 1;
    unsigned pumping : 1;      /* inside conn_pump: answers only unblock it */
    unsigned counted : 1;      /* counted in srv->nactive */
    unsigned broken : 1;       /* a write failed: close at the next settle */
    struct ws__httpd_fed *offline; /* ws__httpd_feed's connection: no socket */
};

struct ws_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    ws_httpd_handler handler;
    void *data;
    size_t max_header, max_body, max_conns;
    uint64_t read_timeout, idle_timeout, linger;
    int port;
    struct conn *conns;
    size_t nconns;   /* allocated, until their close callbacks */
    size_t nactive;  /* serving (not refused, not lingering, not closing) */
    size_t inflight; /* requests handed to the handler and not answered */
    struct ws_httpd_stats stats;
    int stopping, listener_closed, start_failed, finished;
    void (*done)(void *data);
    void *done_data;
    int slab_busy;
    char slab[READ_SLAB];
};

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);
static void conn_settle(struct conn *c);
static void conn_pump(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static const char *reason_phrase(int status)
{
    const char *r = http_status_str((enum http_status)status);
    /* http_parser answers "<unknown>" for codes it does not know. */
    return r && r[0] != '<' ? r : "Unknown";
}

/* --- requests -------------------------------------------------------------- */

static void req_free(struct httpd_req *r)
{
    if (!r)
        return;
    ws_buf_free(&r->url);
    ws_buf_free(&r->hdrs);
    ws_buf_free(&r->body);
    free(r->pub.path);
    free(r->pub.query);
    free(r->pub.headers);
    free(r->pub.body);
    free(r);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode a path. A bad escape or an encoded NUL (which would cut the
 * C string short and hide the rest from routing) is WS_EPARSE. */
static int path_decode(char **out, const char *s, size_t n)
{
    char *d = malloc(n + 1), *o = d;
    size_t i;
    if (!d)
        return WS_ENOMEM;
    for (i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n) {
            free(d);
            return WS_EPARSE;
        }
        hi = hexval(s[i + 1]);
        lo = hexval(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return WS_EPARSE;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    *out = d;
    return 0;
}

/* Split the header buffer into the public array (once, when headers end). */
static int req_index_headers(struct httpd_req *r)
{
    char *p;
    size_t i;
    if (r->hstate == 1 && ws_buf_append(&r->hdrs, "\0", 2) < 0) /* name, empty value */
        return WS_ENOMEM;
    if (r->hstate == 2 && ws_buf_append(&r->hdrs, "", 1) < 0)
        return WS_ENOMEM;
    if (r->pub.nheaders == 0)
        return 0;
    r->pub.headers = calloc(r->pub.nheaders, sizeof(*r->pub.headers));
    if (!r->pub.headers)
        return WS_ENOMEM;
    p = r->hdrs.data;
    for (i = 0; i < r->pub.nheaders; i++) {
        char *v;
        size_t vlen;
        r->pub.headers[i].name = p;
        p += strlen(p) + 1;
        v = p;
        vlen = strlen(v);
        p += vlen + 1;
        /* http_parser drops the leading blanks of a value, not the trailing ones. */
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            v[--vlen] = '\0';
        r->pub.headers[i].value = v;
    }
    return 0;
}

/* Fill in the public fields once the request is complete. */
static int req_finish(struct httpd_req *r, const http_parser *p)
{
    struct http_parser_url u;
    int rc;

    r->pub.method = http_method_str((enum http_method)p->method);
    http_parser_url_init(&u);
    if (http_parser_parse_url(r->url.data ? r->url.data : "", r->url.len,
                              p->method == HTTP_CONNECT, &u) != 0)
        return WS_EPARSE;
    if (u.field_set & (1u << UF_PATH))
        rc = path_decode(&r->pub.path, r->url.data + u.field_data[UF_PATH].off,
                         u.field_data[UF_PATH].len);
    else
        rc = (r->pub.path = strdup("/")) ? 0 : WS_ENOMEM;
    if (rc < 0)
        return rc;
    if (u.field_set & (1u << UF_QUERY)) {
        r->pub.query = strndup(r->url.data + u.field_data[UF_QUERY].off,
                               u.field_data[UF_QUERY].len);
        if (!r->pub.query)
            return WS_ENOMEM;
    }
    r->pub.body_len = r->body.len;
    r->pub.body = ws_buf_steal(&r->body);
    return r->pub.body ? 0 : WS_ENOMEM;
}

/* --- writing --------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
    struct wout *o = ws_container_of(w, struct wout, w);
    struct conn *c = o->c;
    c->queued -= o->len;
    free(o->data);
    free(o);
    c->writes--;
    if (c->closing)
        return; /* canceled by the close; the close callback follows */
    if (status < 0) {
        ws_debug("httpd: write to %s: %s", c->remote, uv_strerror(status));
        c->broken = 1;
    }
    conn_settle(c);
}

/* Queue `data` (taken over, freed here or after the write). Never closes the
 * connection itself, since callers may be inside http_parser_execute: a
 * failure marks it broken for the next settle. */
static void conn_send(struct conn *c, char *data, size_t len)
{
    struct wout *o;
    uv_buf_t b;
    int rc;

    if (!data || len > UINT_MAX || c->closing || c->broken) {
        free(data);
        c->broken = 1;
        return;
    }
    if (c->offline) { /* no socket: count the answer ("HTTP/1.1 NNN ...") and drop it */
        c->offline->answers++;
        if (len > 12)
            c->offline->last_status = (int)strtol(data + 9, NULL, 10);
        free(data);
        return;
    }
    o = malloc(sizeof(*o));
    if (!o) {
        free(data);
        c->broken = 1;
        return;
    }
    o->c = c;
    o->data = data;
    o->len = len;
    b = uv_buf_init(data, (unsigned int)len);
    rc = uv_write(&o->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(data);
        free(o);
        c->broken = 1;
        return;
    }
    c->writes++;
    c->queued += len;
}

/* Status line and headers, then the body, in one malloc'd buffer (NULL on ENOMEM). */
static char *build_answer(size_t *outlen, int status, const char *ctype, const char *extra,
                          const char *body, size_t len, int close, int http10_keepalive)
{
    struct ws_buf b;
    int rc;
    size_t elen = extra ? strlen(extra) : 0;

    ws_buf_init(&b, 0);
    rc = ws_buf_appendf(&b, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", status,
                        reason_phrase(status), len);
    if (rc == 0 && ctype)
        rc = ws_buf_appendf(&b, "Content-Type: %s\r\n", ctype);
    if (rc == 0 && close)
        rc = ws_buf_append(&b, "Connection: close\r\n", 19);
    else if (rc == 0 && http10_keepalive) /* HTTP/1.0 keeps alive only when told */
        rc = ws_buf_append(&b, "Connection: keep-alive\r\n", 24);
    if (rc == 0 && elen > 0) {
        rc = ws_buf_append(&b, extra, elen);
        if (rc == 0 && (elen < 2 || strcmp(extra + elen - 2, "\r\n") != 0))
            rc = ws_buf_append(&b, "\r\n", 2);
    }
    if (rc == 0)
        rc = ws_buf_append(&b, "\r\n", 2);
    if (rc == 0 && len > 0)
        rc = ws_buf_append(&b, body, len);
    if (rc < 0) {
        ws_buf_free(&b);
        return NULL;
    }
    *outlen = b.len;
    return ws_buf_steal(&b);
}

/* Refuse the request being read (or the connection, 503) and stop parsing:
 * the answer closes the connection. */
static void conn_refuse(struct conn *c, int status)
{
    struct ws_httpd *s = c->srv;
    char body[64];
    char *out;
    size_t n = 0;

    switch (status) {
    case 400: s->stats.bad_400++; break;
    case 408: s->stats.timeouts_408++; break;
    case 413: s->stats.rejected_413++; break;
    case 431: s->stats.rejected_431++; break;
    case 503: s->stats.rejected_503++; break;
    default: break;
    }
    ws_debug("httpd: %s: refused with %d", c->remote, status);
    req_free(c->cur);
    c->cur = NULL;
    c->reject = 0;
    c->no_more = 1;
    ws_buf_free(&c->inbuf);
    snprintf(body, sizeof(body), "%s\n", reason_phrase(status));
    out = build_answer(&n, status, "text/plain; charset=utf-8", NULL, body, strlen(body), 1, 0);
    conn_send(c, out, n);
}

static void send_continue(struct conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char *copy = strdup(msg);
    /* Without memory the client sends its body after its own short wait anyway. */
    if (copy)
        conn_send(c, copy, sizeof(msg) - 1);
}

/* --- parser callbacks (inside http_parser_execute: no closing here) -------- */

/* RFC 9110 tchar: what a header name may contain. */
static int is_token(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return 0;
    }
    return 1;
}

static int count_header_bytes(struct conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->srv->max_header) {
        c->reject = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    struct httpd_req *r = calloc(1, sizeof(*r));
    if (!r) {
        c->reject = 503;
        return -1;
    }
    r->srv = c->srv;
    r->conn = c;
    ws_buf_init(&r->url, 0);  /* bounded by count_header_bytes */
    ws_buf_init(&r->hdrs, 0); /* likewise */
    ws_buf_init(&r->body, c->srv->max_body);
    memcpy(r->pub.remote, c->remote, sizeof(r->pub.remote));
    req_free(c->cur);
    c->cur = r;
    c->header_bytes = REQUEST_LINE_BYTES;
    c->req_start = uv_now(c->srv->loop);
    c->req_gen++;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (count_header_bytes(c, len) < 0)
        return -1;
    if (ws_buf_append(&c->cur->url, at, len) < 0) {
        c->reject = 503;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct httpd_req *r = c->cur;
    int rc = 0;

    if (count_header_bytes(c, len + (r->hstate != 1 ? HEADER_LINE_BYTES : 0)) < 0)
        return -1;
    if (r->headers_done)
        return 0; /* a trailer after a chunked body: counted, not kept */
    if (!is_token(at, len)) {
        /* http_parser lets "Name : v" through; RFC 9112 says 400, as a
         * proxy in front of us may read such a header differently. */
        c->reject = 400;
        return -1;
    }
    if (r->hstate == 2)
        rc = ws_buf_append(&r->hdrs, "", 1); /* end of the previous value */
    if (r->hstate != 1)
        r->pub.nheaders++;
    if (rc == 0)
        rc = ws_buf_append(&r->hdrs, at, len);
    r->hstate = 1;
    if (rc < 0) {
        c->reject = 503;
        return -1;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct httpd_req *r = c->cur;
    int rc = 0;

    if (count_header_bytes(c, len) < 0)
        return -1;
    if (r->headers_done)
        return 0;
    if (memchr(at, '\0', len)) {
        /* http_parser lets a NUL through as a value's first byte; kept, it
         * would end the value early in hdrs and shift every later header by
         * one (a header smuggled in that a proxy in front of us never saw).
         * RFC 9110 allows rejecting it. */
        c->reject = 400;
        return -1;
    }
    if (r->hstate == 1)
        rc = ws_buf_append(&r->hdrs, "", 1); /* end of the name */
    if (rc == 0)
        rc = ws_buf_append(&r->hdrs, at, len);
    r->hstate = 2;
    if (rc < 0) {
        c->reject = 503;
        return -1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    struct httpd_req *r = c->cur;
    const char *expect;
    int has_body;

    if (req_index_headers(r) < 0) {
        c->reject = 503;
        return -1;
    }
    r->headers_done = 1;
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    /* We speak no other protocol after an Upgrade or CONNECT: answer and close. */
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    if (!(p->flags & F_CHUNKED) && p->content_length != UINT64_MAX &&
        p->content_length > c->srv->max_body) {
        c->reject = 413; /* before a single body byte is read */
        return -1;
    }
    has_body = (p->flags & F_CHUNKED) ||
               (p->content_length != UINT64_MAX && p->content_length > 0);
    expect = ws_httpd_header(&r->pub, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && has_body &&
        (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1)))
        send_continue(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    int rc = ws_buf_append(&c->cur->body, at, len);
    if (rc == WS_ELIMIT) {
        c->reject = 413; /* a chunked body grew past the limit */
        return -1;
    }
    if (rc < 0) {
        c->reject = 503;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    int rc = req_finish(c->cur, p);
    if (rc < 0) {
        c->reject = rc == WS_EPARSE ? 400 : 503;
        return -1;
    }
    c->ready = c->cur;
    c->cur = NULL;
    /* One request at a time: parsing resumes once it is answered. */
    http_parser_pause(p, 1);
    return 0;
}

/* --- connections ----------------------------------------------------------- */

static void server_maybe_finish(struct ws_httpd *s)
{
    if (!s->stopping || !s->listener_closed || s->nconns > 0 || s->inflight > 0 ||
        s->finished)
        return;
    s->finished = 1;
    if (s->done)
        s->done(s->done_data);
    free(s);
}

static void conn_release(struct conn *c)
{
    struct ws_httpd *s = c->srv;
    if (--c->handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c);
    server_maybe_finish(s);
}

static void on_tcp_close(uv_handle_t *h)
{
    conn_release(ws_container_of((uv_tcp_t *)h, struct conn, tcp));
}

static void on_timer_close(uv_handle_t *h)
{
    conn_release(ws_container_of((uv_timer_t *)h, struct conn, timer));
}

static void conn_uncount(struct conn *c)
{
    if (c->counted) {
        c->counted = 0;
        c->srv->nactive--;
        c->srv->stats.active = c->srv->nactive;
    }
}

/* Close now. A request with the handler is detached: its answer will be
 * dropped. Memory goes in the close callbacks. */
static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    conn_uncount(c);
    if (c->stream) { /* its reader is told, then the stream is gone */
        struct ws_httpd_stream *st = c->stream;
        c->stream = NULL;
        st->c = NULL;
        if (st->closed)
            st->closed(st->data);
        free(st);
    }
    if (c->pending) {
        c->pending->conn = NULL;
        c->pending = NULL;
    }
    req_free(c->cur);
    c->cur = NULL;
    req_free(c->ready);
    c->ready = NULL;
    ws_buf_free(&c->inbuf);
    uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = ws_container_of(req, struct conn, shut_req);
    if (status < 0 && !c->closing)
        conn_close(c);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = ws_container_of(t, struct conn, timer);
    enum timer_mode mode = c->tmode;

    c->tmode = TM_NONE;
    switch (mode) {
    case TM_READ:
        if (c->cur && !c->pending)
            conn_refuse(c, 408); /* too slow from the first byte to the last */
        break;
    case TM_IDLE:
    case TM_LINGER:
        conn_close(c);
        return;
    case TM_NONE:
        break;
    }
    conn_settle(c);
}

/* Run the timer that fits the state. A running one is left alone unless a
 * request began since it started (a request parsed and answered within one
 * read never leaves the idle state, yet must restart the idle clock), so no
 * deadline is pushed back by unrelated events. */
static void conn_set_timer(struct conn *c, enum timer_mode mode)
{
    struct ws_httpd *s = c->srv;
    uint64_t ms = 0, now, spent;

    if (mode == c->tmode && c->timer_gen == c->req_gen)
        return;
    c->timer_gen = c->req_gen;
    uv_timer_stop(&c->timer);
    c->tmode = mode;
    switch (mode) {
    case TM_NONE:
        return;
    case TM_IDLE:
        ms = s->idle_timeout;
        break;
    case TM_READ:
        now = uv_now(s->loop);
        spent = now > c->req_start ? now - c->req_start : 0;
        ms = spent < s->read_timeout ? s->read_timeout - spent : 1;
        break;
    case TM_LINGER:
        ms = s->linger;
        break;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Half-close after our last answer and drain what the peer still sends. */
static void conn_start_shutdown(struct conn *c)
{
    conn_uncount(c);
    c->shut = 1;
    if (uv_shutdown(&c->shut_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        conn_close(c);
}

/* Bring reading, timers and closing in line with the state. Called after
 * every event, never from inside conn_pump's loop. */
static void conn_settle(struct conn *c)
{
    enum timer_mode tm;
    int want_read;

    if (c->closing || c->offline) /* offline: no socket or timer to settle */
        return;
    if (c->broken || (c->stream && c->peer_eof)) {
        conn_close(c);
        return;
    }
    if (c->stream) { /* read only to see the peer go; no deadline but the reader's */
        ws_buf_free(&c->inbuf);
        if (!c->reading) {
            if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
                conn_close(c);
                return;
            }
            c->reading = 1;
        }
        conn_set_timer(c, TM_NONE);
        return;
    }
    if (c->peer_eof && !c->pending)
        c->no_more = 1; /* nothing more can come; a partial request is dropped */
    if (c->no_more) {
        req_free(c->cur);
        c->cur = NULL;
        ws_buf_free(&c->inbuf);
        if (!c->pending && c->writes == 0) {
            if (c->peer_eof) {
                conn_close(c);
                return;
            }
            if (!c->shut)
                conn_start_shutdown(c);
            if (c->closing)
                return;
        }
    }

    want_read = !c->peer_eof &&
                !(c->pending && !c->no_more && c->inbuf.len >= BACKLOG_MAX);
    if (want_read != (int)c->reading) {
        int rc = 0;
        if (want_read)
            rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        else
            uv_read_stop((uv_stream_t *)&c->tcp);
        if (rc < 0) {
            conn_close(c);
            return;
        }
        c->reading = want_read ? 1 : 0;
    }

    if (c->shut)
        tm = TM_LINGER;
    else if (c->pending)
        tm = TM_NONE; /* the handler's time is its own business */
    else if (c->cur)
        tm = TM_READ;
    else
        tm = TM_IDLE; /* also bounds a peer that stops reading our answers */
    conn_set_timer(c, tm);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = ws_container_of((uv_tcp_t *)h, struct conn, tcp);
    struct ws_httpd *s = c->srv;
    char *p;

    if (!s->slab_busy) {
        s->slab_busy = 1;
        *buf = uv_buf_init(s->slab, sizeof(s->slab));
        return;
    }
    p = malloc(READ_SLAB); /* never expected: reads are consumed before the next */
    *buf = uv_buf_init(p, p ? READ_SLAB : 0);
}

static void release_buf(struct ws_httpd *s, const uv_buf_t *buf)
{
    if (buf->base == s->slab)
        s->slab_busy = 0;
    else
        free(buf->base);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = ws_container_of((uv_tcp_t *)st, struct conn, tcp);
    struct ws_httpd *s = c->srv;

    if (nread > 0) {
        /* After the last request (or while lingering) bytes are only drained. */
        if (!c->closing && !c->no_more &&
            ws_buf_append(&c->inbuf, buf->base, (size_t)nread) < 0)
            c->broken = 1;
        release_buf(s, buf);
        conn_pump(c);
        return;
    }
    release_buf(s, buf);
    if (nread == 0)
        return; /* EAGAIN: nothing this time */
    if (nread == UV_EOF) {
        /* A half-close: requests already received still get their answers. */
        c->peer_eof = 1;
        c->reading = 0; /* libuv stopped reading at EOF */
        conn_pump(c);
        return;
    }
    ws_debug("httpd: read from %s: %s", c->remote, uv_strerror((int)nread));
    conn_close(c); /* reset or error: the peer is gone, a pending answer is dropped */
}

/* Hand the complete request to the handler, which may answer right away. */
static void conn_dispatch(struct conn *c)
{
    struct ws_httpd *s = c->srv;
    struct httpd_req *r = c->ready;

    c->ready = NULL;
    c->pending = r;
    if (!r->keep_alive || s->stopping)
        c->no_more = 1;
    s->inflight++;
    s->stats.requests++;
    s->handler(&r->pub, s->data);
}

/* Parse buffered bytes until a request waits for its answer, the input runs
 * out or the connection is refused; then settle. Re-entered from an answer
 * given inside the handler, it returns at once and the outer loop goes on. */
static void conn_pump(struct conn *c)
{
    if (c->pumping)
        return;
    c->pumping = 1;
    while (!c->closing && !c->broken && !c->no_more && !c->pending && c->inbuf.len > 0) {
        size_t n;
        enum http_errno e;

        http_parser_pause(&c->parser, 0);
        n = http_parser_execute(&c->parser, &parser_settings, c->inbuf.data, c->inbuf.len);
        e = HTTP_PARSER_ERRNO(&c->parser);
        ws_buf_consume(&c->inbuf, n);
        if (c->reject) {
            conn_refuse(c, c->reject);
        } else if (e == HPE_HEADER_OVERFLOW) {
            conn_refuse(c, 431);
        } else if (e != HPE_OK && e != HPE_PAUSED) {
            ws_debug("httpd: %s: %s", c->remote, http_errno_description(e));
            conn_refuse(c, 400);
        } else if (c->ready) {
            conn_dispatch(c);
        } else if (c->inbuf.len > 0) {
            conn_refuse(c, 400); /* the parser stopped for no reason we know */
        }
    }
    c->pumping = 0;
    conn_settle(c);
}

static void set_remote(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    char *ip = c->remote;

    strcpy(c->remote, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(c->remote));
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(c->remote));
    /* An IPv4 client of a dual-stack socket is still that IPv4 address. */
    if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.'))
        memmove(ip, ip + 7, strlen(ip + 7) + 1);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct ws_httpd *s = ws_container_of((uv_tcp_t *)l, struct ws_httpd, listener);
    struct conn *c;

    if (status < 0) {
        ws_warn("httpd: accept: %s", uv_strerror(status));
        return;
    }
    if (s->stopping)
        return;
    c = calloc(1, sizeof(*c));
    if (!c) {
        /* The kernel keeps the connection queued; we retry on the next one. */
        ws_error("httpd: accept: out of memory");
        return;
    }
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    ws_buf_init(&c->inbuf, 0); /* bounded by BACKLOG_MAX and one read */
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    s->stats.connections++;
    uv_tcp_nodelay(&c->tcp, 1);
    set_remote(c);
    if (s->nactive >= s->max_conns) {
        if (s->nconns > s->max_conns + OVERFLOW_503) {
            s->stats.rejected_503++;
            conn_close(c); /* flooded: not even a 503 */
            return;
        }
        conn_refuse(c, 503);
        conn_settle(c);
        return;
    }
    c->counted = 1;
    s->nactive++;
    s->stats.active = s->nactive;
    conn_settle(c);
}

static void on_listener_close(uv_handle_t *h)
{
    struct ws_httpd *s = ws_container_of((uv_tcp_t *)h, struct ws_httpd, listener);
    s->listener_closed = 1;
    if (s->start_failed) {
        free(s);
        return;
    }
    server_maybe_finish(s);
}

/* --- public API ------------------------------------------------------------ */

/* Loop, handler and limits (defaults for zeros); opts is not NULL. */
static void server_init(struct ws_httpd *s, uv_loop_t *loop, const struct ws_httpd_opts *opts,
                        ws_httpd_handler handler, void *data)
{
    s->loop = loop;
    s->handler = handler;
    s->data = data;
    s->max_header = opts->max_header_bytes ? opts->max_header_bytes : DEFAULT_MAX_HEADER;
    s->max_body = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;
    s->read_timeout = opts->read_timeout_ms ? opts->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
    s->idle_timeout = opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
    s->max_conns = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
    s->linger = s->read_timeout < LINGER_MAX_MS ? s->read_timeout : LINGER_MAX_MS;
}

int ws_httpd_start(struct ws_httpd **out, uv_loop_t *loop, const struct ws_httpd_opts *opts,
                   ws_httpd_handler handler, void *data, struct ws_err *err)
{
    static const struct ws_httpd_opts no_opts;
    struct ws_httpd *s = NULL;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } addr;
    socklen_t alen;
    const char *host;
    char where[128];
    int fd = -1, one = 1, v6, rc;
    struct sigaction sa;

    if (!out || !loop || !handler)
        return ws_err_set(err, WS_EINVAL, "httpd: missing loop or handler");
    *out = NULL;
    if (!opts)
        opts = &no_opts;
    host = opts->host && opts->host[0] ? opts->host : DEFAULT_HOST;
    v6 = strchr(host, ':') != NULL;
    snprintf(where, sizeof(where), v6 ? "[%s]:%d" : "%s:%d", host, opts->port);
    if (opts->port < 0 || opts->port > 65535)
        return ws_err_set(err, WS_EINVAL, "listen on %s: port out of range", where);
    memset(&addr, 0, sizeof(addr));
    rc = v6 ? uv_ip6_addr(host, opts->port, &addr.in6) : uv_ip4_addr(host, opts->port, &addr.in);
    if (rc != 0)
        return ws_err_set(err, WS_EINVAL, "listen on %s: not an IP address", where);

    /* A peer that goes away mid-write must not kill the daemon: libuv writes
     * with write(2), which raises SIGPIPE. Only the default action is
     * replaced; a handler someone installed is left alone. */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);

    s = calloc(1, sizeof(*s));
    if (!s)
        return ws_err_set(err, WS_ENOMEM, "listen on %s: out of memory", where);
    server_init(s, loop, opts, handler, data);

    /* Bind and listen on our own socket first, so that the usual failures
     * (address in use, permission) are reported here, synchronously, before
     * any handle is registered with the loop (libuv defers EADDRINUSE). */
    if (opts->listen_fd > 0) { /* handed over, bound and listening already */
        int listening = 0;
        socklen_t ol = sizeof(listening);
        fd = opts->listen_fd;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) < 0)
            goto sys_fail;
        if (!listening) {
            errno = EINVAL;
            goto sys_fail;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    } else {
        fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            goto sys_fail;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
            goto sys_fail;
        alen = v6 ? sizeof(addr.in6) : sizeof(addr.in);
        if (bind(fd, &addr.sa, alen) < 0 || listen(fd, SOMAXCONN) < 0)
            goto sys_fail;
    }
    alen = sizeof(addr.ss);
    if (getsockname(fd, &addr.sa, &alen) < 0)
        goto sys_fail;
    s->port = ntohs(v6 ? addr.in6.sin6_port : addr.in.sin_port);
    snprintf(where, sizeof(where), v6 ? "[%s]:%d" : "%s:%d", host, s->port);

    rc = uv_tcp_init(loop, &s->listener);
    if (rc < 0) {
        close(fd);
        free(s);
        return ws_err_set(err, WS_ENET, "listen on %s: %s", where, uv_strerror(rc));
    }
    rc = uv_tcp_open(&s->listener, fd);
    if (rc < 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection);
    if (rc < 0) {
        /* Registered already: freed in the close callback on the next loop turn. */
        s->start_failed = 1;
        uv_close((uv_handle_t *)&s->listener, on_listener_close);
        return ws_err_set(err, WS_ENET, "listen on %s: %s", where, uv_strerror(rc));
    }
    ws_info("httpd: listening on %s", where);
    *out = s;
    return 0;

sys_fail:
    rc = uv_translate_sys_error(errno);
    if (fd >= 0)
        close(fd);
    free(s);
    return ws_err_set(err, WS_ENET, "listen on %s: %s", where, uv_strerror(rc));
}

int ws_httpd_port(const struct ws_httpd *s)
{
    return s->port;
}

int ws_httpd_fd(const struct ws_httpd *s)
{
    uv_os_fd_t fd;
    return uv_fileno((const uv_handle_t *)&s->listener, &fd) == 0 ? fd : -1;
}

const char *ws_httpd_header(const struct ws_httpd_req *req, const char *name)
{
    size_t i;
    for (i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

char *ws_httpd_query(const struct ws_httpd_req *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = req->query; p && *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=')
            return strndup(p + n + 1, (size_t)(end - p - (ptrdiff_t)n - 1));
        p = amp ? amp + 1 : end;
    }
    return NULL;
}

int ws_httpd_respond(struct ws_httpd_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    struct httpd_req *r = ws_container_of(req, struct httpd_req, pub);
    struct ws_httpd *s = r->srv;
    struct conn *c = r->conn;
    char *out;
    size_t n = 0;
    int close;

    s->inflight--;
    if (!c) {
        req_free(r); /* the connection died meanwhile */
        server_maybe_finish(s);
        return 0;
    }
    c->pending = NULL;
    if (status < 200 || status > 999 ||
        (content_type && strpbrk(content_type, "\r\n")) ||
        (extra_headers && strstr(extra_headers, "\r\n\r\n"))) {
        ws_error("httpd: %s %s: bad answer (status %d), sending 500", req->method,
                 req->path, status);
        status = 500;
        content_type = NULL;
        extra_headers = NULL;
        body = NULL;
        len = 0;
    }
    /* After a half-close, requests already buffered are still answered. */
    close = c->no_more || s->stopping || (c->peer_eof && c->inbuf.len == 0);
    if (close)
        c->no_more = 1;
    out = build_answer(&n, status, content_type, extra_headers, body, len, close,
                       r->http10 && r->keep_alive);
    req_free(r);
    conn_send(c, out, n);
    conn_pump(c); /* the next pipelined request, if any */
    return 0;
}

struct ws_httpd_stream *ws_httpd_stream_open(struct ws_httpd_req *req, int status, const char *content_type,
                                             const char *extra_headers, void (*closed)(void *data), void *data)
{
    struct httpd_req *r = ws_container_of(req, struct httpd_req, pub);
    struct ws_httpd *s = r->srv;
    struct conn *c = r->conn;
    struct ws_httpd_stream *st;
    struct ws_buf b;
    int rc;

    s->inflight--;
    if (!c || s->stopping || c->offline || !(st = calloc(1, sizeof(*st)))) {
        if (c) {
            size_t n = 0;
            char *out = build_answer(&n, 503, NULL, NULL, NULL, 0, 1, 0);
            c->pending = NULL;
            c->no_more = 1;
            conn_send(c, out, n);
        }
        req_free(r);
        if (c)
            conn_pump(c);
        else
            server_maybe_finish(s);
        return NULL;
    }
    c->pending = NULL;
    c->no_more = 1; /* the body never ends: nothing after it on this connection */
    ws_buf_init(&b, 0);
    rc = ws_buf_appendf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\nConnection: close\r\n",
                        status, reason_phrase(status), content_type ? content_type : "application/octet-stream");
    if (rc == 0 && extra_headers && !strstr(extra_headers, "\r\n\r\n"))
        rc = ws_buf_append(&b, extra_headers, strlen(extra_headers));
    if (rc == 0)
        rc = ws_buf_append(&b, "\r\n", 2);
    req_free(r);
    if (rc < 0) {
        ws_buf_free(&b);
        free(st);
        c->broken = 1;
        conn_settle(c);
        return NULL;
    }
    st->c = c;
    st->closed = closed;
    st->data = data;
    c->stream = st;
    {
        size_t n = b.len;
        conn_send(c, ws_buf_steal(&b), n);
    }
    conn_settle(c);
    return st;
}

int ws_httpd_stream_write(struct ws_httpd_stream *st, const char *data, size_t len)
{
    struct conn *c = st->c;
    char *copy;
    if (!c || c->closing || c->broken)
        return -1;
    if (c->queued + len > STREAM_BACKLOG_MAX) {
        ws_debug("httpd: %s reads too slowly (%zu bytes queued): its stream is closed", c->remote, c->queued);
        c->stream = NULL; /* the caller learns it from -1, not from closed() */
        st->c = NULL;
        conn_close(c);
        return -1;
    }
    if (!(copy = malloc(len ? len : 1)))
        return -1;
    memcpy(copy, data, len);
    conn_send(c, copy, len);
    if (c->broken) {
        c->stream = NULL;
        st->c = NULL;
        conn_close(c);
        return -1;
    }
    return 0;
}

void ws_httpd_stream_close(struct ws_httpd_stream *st)
{
    struct conn *c;
    if (!st)
        return;
    if ((c = st->c)) { /* what is queued is written, then the connection ends */
        c->stream = NULL;
        conn_settle(c);
    }
    free(st);
}

void ws_httpd_shutdown(struct ws_httpd *s, void (*done)(void *data), void *data)
{
    struct conn *c, *next;

    if (s->stopping)
        return;
    s->stopping = 1;
    s->done = done;
    s->done_data = data;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    for (c = s->conns; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (c->stream ||
            (!c->cur && !c->pending && !c->ready && c->writes == 0 && c->inbuf.len == 0 && !c->pumping)) {
            conn_close(c); /* idle */
            continue;
        }
        if (!c->cur)
            c->no_more = 1; /* answer what is pending, then close */
        if (!c->pumping)
            conn_settle(c);
    }
}

void ws_httpd_stats(const struct ws_httpd *s, struct ws_httpd_stats *out)
{
    *out = s->stats;
    out->active = s->nactive;
}

/* --- without a socket (httpd_int.h) ---------------------------------------- */

int ws__httpd_feed(uv_loop_t *loop, const struct ws_httpd_opts *opts, const char *buf, size_t len,
                   size_t chunk, ws_httpd_handler handler, void *data, struct ws__httpd_fed *out)
{
    static const struct ws_httpd_opts no_opts;
    struct ws_httpd *s = calloc(1, sizeof(*s));
    struct conn *c = calloc(1, sizeof(*c));
    size_t off = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!s || !c) {
        free(s);
        free(c);
        return WS_ENOMEM;
    }
    server_init(s, loop, opts ? opts : &no_opts, handler, data);
    c->srv = s;
    c->offline = out;
    strcpy(c->remote, "offline");
    ws_buf_init(&c->inbuf, 0);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (chunk == 0)
        chunk = len ? len : 1;
    /* As on_read: each read is appended and pumped, until nothing more is parsed. */
    while (off < len && !c->no_more && !c->broken) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (ws_buf_append(&c->inbuf, buf + off, n) < 0) {
            rc = WS_ENOMEM;
            break;
        }
        off += n;
        conn_pump(c);
    }
    out->requests = s->stats.requests;
    if (c->pending) /* a handler that broke the contract: do not leak its request */
        req_free(c->pending);
    req_free(c->cur);
    req_free(c->ready);
    ws_buf_free(&c->inbuf);
    free(c);
    free(s);
    return rc;
}
