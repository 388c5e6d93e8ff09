/* events.c — GET /api/v1/events: one Server-Sent Events stream of what the
 * service does, for the web page, `wavesync trigger --wait` and scripts.
 *
 *   id: 42
 *   event: run
 *   data: {"run":7,"app":"model-server","state":"Running",…}
 *
 * Types: "trigger" (a push accepted, routed or failed), "run" (queued,
 * Running, then its result), "wave" and "object" (a running sync's waves
 * and objects, from the sync engine), "status" (an application's sync
 * status or health changed in its live state). Every data line is one JSON
 * object (compact: no newline inside). Ids grow by one per event; the last
 * EVENTS_KEPT are kept, so a reader that reconnects with Last-Event-ID (as
 * EventSource does) gets what it missed — or, when that is gone, an event
 * "reset" telling it to read the state again. Ids start again at 1 when the
 * process image starts (a restart or a reload). `?app=NAME` keeps the events
 * of one application. A comment line every 15 s keeps proxies from closing
 * an idle stream. Nothing here is a secret: names, revisions, results,
 * messages — the same as the REST API. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timer.h"
#include "base/util.h"
#include "serve/serve_int.h"

#define EVENTS_KEPT 512
#define KEEPALIVE_MS 15000
#define MAX_SUBSCRIBERS 256

struct event {
    uint64_t id;
    char *app;    /* for ?app= (NULL: every reader gets it) */
    char *frame;  /* "id: …\nevent: …\ndata: …\n\n" */
    size_t len;
};

struct sub {
    struct sub *next;
    struct events *hub;
    struct ws_httpd_stream *stream;
    char *app;
};

struct events {
    struct svc *s;
    struct event ring[EVENTS_KEPT];
    uint64_t next_id;      /* of the next event */
    struct sub *subs;
    size_t nsubs;
    uv_timer_t *keepalive;
    uint64_t published, dropped_readers;
};

static void sub_free(struct sub *sb)
{
    free(sb->app);
    free(sb);
}

static void unlink_sub(struct events *h, struct sub *sb)
{
    for (struct sub **p = &h->subs; *p; p = &(*p)->next)
        if (*p == sb) {
            *p = sb->next;
            h->nsubs--;
            return;
        }
}

static void on_keepalive(uv_timer_t *t)
{
    struct events *h = t->data;
    struct sub *sb, *next;
    for (sb = h->subs; sb; sb = next) {
        next = sb->next;
        if (ws_httpd_stream_write(sb->stream, ": keepalive\n\n", 13) < 0) {
            unlink_sub(h, sb);
            ws_httpd_stream_close(sb->stream);
            sub_free(sb);
        }
    }
}

int ws__events_init(struct svc *s)
{
    struct events *h = calloc(1, sizeof(*h));
    if (!h)
        return WS_ENOMEM;
    h->s = s;
    h->next_id = 1;
    if ((h->keepalive = ws_timer_new(s->loop, h))) {
        uv_timer_start(h->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
        uv_unref((uv_handle_t *)h->keepalive);
    }
    s->events = h;
    return 0;
}

void ws__events_stop(struct svc *s)
{
    if (s->events)
        ws_timer_close(&s->events->keepalive);
}

/* Streams end with the HTTP server (their closed callbacks unlink them);
 * this frees what is left, after the loop ended (ws__events_stop closed the
 * timer while it ran). */
void ws__events_free(struct svc *s)
{
    struct events *h = s->events;
    if (!h)
        return;
    s->events = NULL;
    while (h->subs) {
        struct sub *sb = h->subs;
        h->subs = sb->next;
        ws_httpd_stream_close(sb->stream);
        sub_free(sb);
    }
    for (size_t i = 0; i < EVENTS_KEPT; i++) {
        free(h->ring[i].app);
        free(h->ring[i].frame);
    }
    free(h);
}

static int wants(const struct sub *sb, const struct event *e)
{
    return !sb->app || !e->app || strcmp(sb->app, e->app) == 0;
}

void ws__events_publish(struct svc *s, const char *type, const char *app, json_t *data)
{
    struct events *h = s->events;
    struct event *e;
    struct sub *sb, *next;
    char *json;
    if (!h || !data) {
        json_decref(data);
        return;
    }
    json = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(data);
    if (!json)
        return;
    e = &h->ring[h->next_id % EVENTS_KEPT];
    free(e->app);
    free(e->frame);
    e->id = h->next_id++;
    e->app = ws_strdup0(app);
    if (asprintf(&e->frame, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", e->id, type, json) < 0) {
        e->frame = NULL;
        e->len = 0;
    } else {
        e->len = strlen(e->frame);
    }
    free(json);
    h->published++;
    if (!e->frame)
        return;
    for (sb = h->subs; sb; sb = next) {
        next = sb->next;
        if (!wants(sb, e))
            continue;
        if (ws_httpd_stream_write(sb->stream, e->frame, e->len) < 0) { /* too slow, or gone */
            h->dropped_readers++;
            unlink_sub(h, sb);
            ws_httpd_stream_close(sb->stream);
            sub_free(sb);
        }
    }
}

static void on_stream_closed(void *data)
{
    struct sub *sb = data;
    unlink_sub(sb->hub, sb);
    sub_free(sb);
}

void ws__events_subscribe(struct svc *s, struct ws_httpd_req *req)
{
    struct events *h = s->events;
    const char *last = ws_httpd_header(req, "Last-Event-ID");
    uint64_t from = 0;
    struct sub *sb;
    char *app = ws_httpd_query(req, "app");
    if (!h || h->nsubs >= MAX_SUBSCRIBERS) {
        free(app);
        static const char body[] = "{\"error\":\"too many event streams open\"}";
        ws_httpd_respond(req, 503, "application/json", "Retry-After: 5\r\n", body, sizeof(body) - 1);
        return;
    }
    if (last && *last)
        from = strtoull(last, NULL, 10) + 1;
    if (!(sb = calloc(1, sizeof(*sb)))) {
        free(app);
        ws_httpd_respond(req, 503, NULL, NULL, NULL, 0);
        return;
    }
    sb->hub = h;
    sb->app = app;
    /* X-Accel-Buffering: nginx passes the stream on as it comes */
    if (!(sb->stream = ws_httpd_stream_open(req, 200, "text/event-stream; charset=utf-8",
                                            "X-Accel-Buffering: no\r\n", on_stream_closed, sb))) {
        sub_free(sb);
        return;
    }
    sb->next = h->subs;
    h->subs = sb;
    h->nsubs++;
    /* a reconnecting reader: what it missed, or "reset" when that is gone */
    ws_httpd_stream_write(sb->stream, "retry: 2000\n\n", 13); /* a dead stream is dropped at the next event */
    if (from > 0 && from < h->next_id) {
        uint64_t oldest = h->next_id > EVENTS_KEPT ? h->next_id - EVENTS_KEPT : 1;
        if (from < oldest) {
            char frame[96];
            int n = snprintf(frame, sizeof(frame), "event: reset\ndata: {\"oldest\":%" PRIu64 "}\n\n", oldest);
            ws_httpd_stream_write(sb->stream, frame, (size_t)n);
            from = oldest;
        }
        for (uint64_t id = from; id < h->next_id; id++) {
            const struct event *e = &h->ring[id % EVENTS_KEPT];
            if (e->id == id && e->frame && wants(sb, e))
                ws_httpd_stream_write(sb->stream, e->frame, e->len);
        }
    } else if (from > h->next_id) { /* ids from another process image */
        static const char reset[] = "event: reset\ndata: {\"oldest\":1}\n\n";
        ws_httpd_stream_write(sb->stream, reset, sizeof(reset) - 1);
    }
}

size_t ws__events_readers(const struct svc *s)
{
    return s->events ? s->events->nsubs : 0;
}

uint64_t ws__events_published(const struct svc *s)
{
    return s->events ? s->events->published : 0;
}
