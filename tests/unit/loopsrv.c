/* loopsrv.c — the scripted loopback HTTP/1.1 server of loopsrv.h. */
#include "loopsrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

int loopsrv_open, loopsrv_max_open, loopsrv_total;

static uv_loop_t *srv_loop;
static uv_tcp_t server;
static loopsrv_handler handler;
static loopsrv_answered_cb on_answered;
static int next_idx;
static struct conn *conns;

struct conn {
    struct conn *next, **prev; /* open connections, for loopsrv_stop */
    uv_tcp_t tcp;
    uv_timer_t delay;
    struct ws_buf in;
    char *held;   /* an answer waiting for its delay, or "" for one never sent */
    int held_idx;
    int closing;
};

char *loopsrv_response(int status, const char *extra, const char *body)
{
    char *out;
    if (asprintf(&out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
                 status, extra ? extra : "", strlen(body), body) < 0)
        return NULL;
    return out;
}

const char *loopsrv_header(const char *headers, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *l = strstr(headers, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *s = l + 2, *e = strstr(s, "\r\n");
        if (e && strncasecmp(s, name, n) == 0 && s[n] == ':') {
            s += n + 1;
            while (*s == ' ')
                s++;
            snprintf(out, size, "%.*s", (int)(e - s), s);
            return out;
        }
    }
    return NULL;
}

void loopsrv_reset(loopsrv_handler h, loopsrv_answered_cb answered)
{
    handler = h;
    on_answered = answered;
    loopsrv_open = loopsrv_max_open = loopsrv_total = 0;
    next_idx = 0;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->closing == 0) {
        ws_buf_free(&c->in);
        free(c->held);
        free(c);
    }
}

static void close_conn(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 2;
    if ((*c->prev = c->next))
        c->next->prev = c->prev;
    if (c->held)
        loopsrv_open--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->delay, on_conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_answer(struct conn *c, char *text, int idx) /* takes text */
{
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init(text, (unsigned)strlen(text));
    loopsrv_open--;
    if (on_answered)
        on_answered(idx);
    if (!w) {
        free(text);
        return;
    }
    w->data = text;
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        free(text);
        free(w);
    }
}

static void handle_requests(struct conn *c);

static void on_delay(uv_timer_t *t)
{
    struct conn *c = t->data;
    char *text = c->held;
    c->held = NULL;
    send_answer(c, text, c->held_idx);
    handle_requests(c);
}

static void handle_requests(struct conn *c)
{
    char *end;
    while (!c->held && c->in.len && (end = strstr(c->in.data, "\r\n\r\n"))) {
        size_t head = (size_t)(end - c->in.data) + 4, body = 0;
        struct loopsrv_req r;
        char cl[32], *headers, *text;
        uint64_t delay = 0;
        end[2] = '\0'; /* the header block ends with one CRLF */
        if (loopsrv_header(c->in.data, "Content-Length", cl, sizeof(cl)))
            body = strtoul(cl, NULL, 10);
        end[2] = '\r';
        if (c->in.len < head + body)
            return;
        memset(&r, 0, sizeof(r));
        r.idx = next_idx++;
        sscanf(c->in.data, "%15s %1023s", r.method, r.target);
        headers = strndup(c->in.data, head - 2);
        text = strndup(c->in.data + head, body);
        r.headers = headers;
        r.body = text;
        r.body_len = body;
        ws_buf_consume(&c->in, head + body);
        loopsrv_total++;
        if (++loopsrv_open > loopsrv_max_open)
            loopsrv_max_open = loopsrv_open;
        char *resp = handler(&r, &delay);
        free(headers);
        free(text);
        if (!resp) {
            c->held = strdup(""); /* never answered: the client must give up */
            c->held_idx = r.idx;
            return;
        }
        if (delay) {
            c->held = resp;
            c->held_idx = r.idx;
            uv_timer_start(&c->delay, on_delay, delay, 0);
            return;
        }
        send_answer(c, resp, r.idx);
    }
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(n);
    b->len = b->base ? n : 0;
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
    if (status < 0 || !c) {
        free(c);
        return;
    }
    ws_buf_init(&c->in, 0);
    if ((c->next = conns))
        conns->prev = &c->next;
    c->prev = &conns;
    conns = c;
    uv_tcp_init(srv_loop, &c->tcp);
    uv_timer_init(srv_loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    uv_accept(srv, (uv_stream_t *)&c->tcp);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int loopsrv_start(uv_loop_t *loop)
{
    struct sockaddr_in addr;
    struct sockaddr_storage got;
    int len = sizeof(got);
    srv_loop = loop;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &server);
    uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    uv_listen((uv_stream_t *)&server, 128, on_connection);
    uv_tcp_getsockname(&server, (struct sockaddr *)&got, &len);
    return ntohs(((struct sockaddr_in *)&got)->sin_port);
}

void loopsrv_stop(void)
{
    while (conns)
        close_conn(conns);
    uv_close((uv_handle_t *)&server, NULL);
}
