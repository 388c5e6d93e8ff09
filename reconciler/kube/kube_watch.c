/* kube_watch.c — list-then-watch with resume: bookmarks keep the
 * resourceVersion fresh, a server-ended stream is resumed from it, 410 Gone
 * re-lists, connection errors back off and retry. */
#include <stdlib.h>
#include <string.h>

#include "kube/kube_int.h"
#include "base/log.h"
#include "base/timer.h"

#define WATCH_EVENT_MAX (64u << 20)
#define WATCH_RETRY_MAX_MS 10000

struct ws_kube_watch {
    struct ws_kube *kube;
    struct ws_kube_watch *prev, *next;
    char *api_version, *kind, *ns, *name, *label_selector, *field_selector;
    char rv[64];
    ws_kube_watch_cb cb;
    void *data;
    struct ws_kube_req *req; /* the list or watch request in flight */
    uv_timer_t *retry;
    struct ws_buf line;
    uint64_t stream_started_ms;
    int attempt, synced, need_relist, stream_error, events_seen;
    int stopped, failed, in_dispatch;
};

static void start_list(struct ws_kube_watch *w);
static void start_stream(struct ws_kube_watch *w);

static void watch_free(struct ws_kube_watch *w)
{
    struct ws_kube *k = w->kube;
    if (w->prev)
        w->prev->next = w->next;
    else
        k->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    ws_buf_free(&w->line);
    free(w->api_version);
    free(w->kind);
    free(w->ns);
    free(w->name);
    free(w->label_selector);
    free(w->field_selector);
    free(w);
}

static void stop_retry(struct ws_kube_watch *w)
{
    ws_timer_close(&w->retry);
}

void ws_kube_watch_stop(struct ws_kube_watch *w)
{
    if (!w || w->stopped)
        return;
    w->stopped = 1;
    stop_retry(w);
    if (w->req) {
        ws_kube_cancel(w->req);
        w->req = NULL;
    }
    if (!w->in_dispatch) /* else the chunk loop frees it when it unwinds */
        watch_free(w);
}

void ws__watch_stop_all(struct ws_kube *k)
{
    while (k->watches) {
        struct ws_kube_watch *w = k->watches;
        w->in_dispatch = 0;
        ws_kube_watch_stop(w);
        if (k->watches == w) /* stopped earlier but still dispatching */
            watch_free(w);
    }
}

/* Deliver one event; returns 0 when the watch was stopped by the callback. */
static int dispatch(struct ws_kube_watch *w, enum ws_watch_event ev, json_t *obj,
                    const struct ws_err *e)
{
    w->in_dispatch++;
    w->cb(ev, obj, e, w->data);
    w->in_dispatch--;
    if (w->stopped && w->in_dispatch == 0) {
        /* stopped by its own callback outside a stream chunk: free now;
         * every caller returns at once on 0 */
        watch_free(w);
        return 0;
    }
    return !w->stopped;
}

static void fail_watch(struct ws_kube_watch *w, const struct ws_err *e)
{
    w->failed = 1;
    dispatch(w, WS_WATCH_ERROR, NULL, e);
}

static void on_retry(uv_timer_t *t)
{
    struct ws_kube_watch *w = t->data;
    stop_retry(w);
    if (w->rv[0])
        start_stream(w);
    else
        start_list(w);
}

static void schedule_retry(struct ws_kube_watch *w)
{
    uint64_t d = 200;
    for (int i = 0; i < w->attempt && d < WATCH_RETRY_MAX_MS; i++)
        d *= 2;
    if (d > WATCH_RETRY_MAX_MS)
        d = WATCH_RETRY_MAX_MS;
    w->attempt++;
    if (!(w->retry = ws_timer_start(w->kube->loop, d, on_retry, w))) {
        struct ws_err e;
        ws_err_clear(&e);
        ws_err_set(&e, WS_ENOMEM, "watch: out of memory");
        fail_watch(w, &e);
    }
}

static int transient(int code)
{
    return code == WS_ENET || code == WS_ETIMEOUT || code == WS_EHTTP;
}

static void set_rv(struct ws_kube_watch *w, const json_t *obj)
{
    const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                       "resourceVersion"));
    if (rv && *rv)
        snprintf(w->rv, sizeof(w->rv), "%s", rv);
}

static void on_list(const struct ws_kube_result *res, void *data)
{
    struct ws_kube_watch *w = data;
    json_t *item;
    size_t i;
    w->req = NULL;
    if (res->code < 0) {
        if (transient(res->code)) {
            ws_debug("watch: %s; retrying", res->err->msg);
            schedule_retry(w);
        } else {
            fail_watch(w, res->err);
        }
        return;
    }
    w->attempt = 0;
    if (w->synced && !dispatch(w, WS_WATCH_RELISTING, NULL, NULL))
        return;
    /* List items carry no kind or apiVersion: give them back theirs. */
    json_array_foreach(json_object_get(res->body, "items"), i, item) {
        json_object_set_new(item, "apiVersion", json_string(w->api_version)); /* steals */
        json_object_set_new(item, "kind", json_string(w->kind));              /* steals */
        if (!dispatch(w, WS_WATCH_ADDED, item, NULL))
            return;
    }
    w->synced = 1;
    if (!dispatch(w, WS_WATCH_SYNCED, NULL, NULL))
        return;
    set_rv(w, res->body);
    start_stream(w);
}

static int handle_line(struct ws_kube_watch *w, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr), *obj;
    const char *type;
    int keep = 1;
    if (!ev) {
        ws_warn("watch %s %s: undecodable event: %s", w->api_version, w->kind, jerr.text);
        w->stream_error = 1;
        return 0;
    }
    type = json_string_value(json_object_get(ev, "type"));
    obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        keep = 1;
    } else if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(w, obj);
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        if (code == 410)
            w->need_relist = 1;
        else
            w->stream_error = 1;
        keep = 0;
    } else {
        enum ws_watch_event e = strcmp(type, "ADDED") == 0      ? WS_WATCH_ADDED
                                : strcmp(type, "DELETED") == 0 ? WS_WATCH_DELETED
                                                               : WS_WATCH_MODIFIED;
        set_rv(w, obj);
        w->events_seen++;
        keep = dispatch(w, e, obj, NULL);
    }
    json_decref(ev);
    return keep;
}

static int on_chunk(struct ws_kube_req *r, const char *chunk, size_t len, void *data)
{
    struct ws_kube_watch *w = data;
    int keep = 1;
    char *nl;
    (void)r;
    if (ws_buf_append(&w->line, chunk, len) < 0) {
        ws_warn("watch %s %s: event larger than the limit", w->api_version, w->kind);
        w->stream_error = 1;
        return 0;
    }
    w->in_dispatch++;
    while (keep && !w->stopped && (nl = memchr(w->line.data, '\n', w->line.len))) {
        size_t n = (size_t)(nl - w->line.data);
        if (n > 0)
            keep = handle_line(w, w->line.data, n);
        ws_buf_consume(&w->line, n + 1);
    }
    w->in_dispatch--;
    if (w->stopped) {
        if (!w->in_dispatch)
            watch_free(w);
        return 0;
    }
    return keep;
}

static void on_stream_end(const struct ws_kube_result *res, void *data)
{
    struct ws_kube_watch *w = data;
    w->req = NULL;
    ws_buf_consume(&w->line, w->line.len);
    if (w->need_relist || res->code == WS_EGONE) {
        w->need_relist = 0;
        w->rv[0] = '\0';
        start_list(w);
        return;
    }
    if (res->code < 0) {
        if (transient(res->code)) {
            schedule_retry(w);
        } else {
            fail_watch(w, res->err);
        }
        return;
    }
    if (w->stream_error || (!w->events_seen && ws_now_ms() - w->stream_started_ms < 1000)) {
        /* a broken stream, or one that keeps ending at once: slow down */
        w->stream_error = 0;
        schedule_retry(w);
        return;
    }
    w->attempt = 0;
    start_stream(w); /* the server ended it (timeoutSeconds): resume */
}

/* NULL when the request could not be made: its error then reaches cb later
 * (w->req keeps it, so that stopping the watch cancels that too). */
static struct ws_kube_req *watch_req(struct ws_kube_watch *w, const char *verb, ws_kube_cb cb)
{
    struct ws_kube_ref ref = {w->api_version, w->kind, w->ns, NULL};
    int failed;
    struct ws_kube_req *r = ws__kind_req(w->kube, "GET", verb, &ref, cb, w, &failed);
    if (failed) {
        w->req = r;
        return NULL;
    }
    r->all_namespaces = !w->ns && !w->name;
    return r;
}

static int selectors(struct ws_buf *q, const struct ws_kube_watch *w)
{
    int rc = 0;
    char *fs = NULL, *ls = NULL, *name_sel = NULL;
    if (w->name && asprintf(&name_sel, "metadata.name=%s%s%s", w->name,
                            w->field_selector ? "," : "",
                            w->field_selector ? w->field_selector : "") < 0)
        return WS_ENOMEM;
    if (name_sel || w->field_selector) {
        fs = ws_url_escape(name_sel ? name_sel : w->field_selector);
        rc = fs ? ws_buf_appendf(q, "%sfieldSelector=%s", q->len ? "&" : "", fs) : WS_ENOMEM;
    }
    if (rc == 0 && w->label_selector) {
        ls = ws_url_escape(w->label_selector);
        rc = ls ? ws_buf_appendf(q, "%slabelSelector=%s", q->len ? "&" : "", ls) : WS_ENOMEM;
    }
    free(fs);
    free(ls);
    free(name_sel);
    return rc;
}

/* Failing to even build a request is out of memory: report and stop. */
static void start_failed(struct ws_kube_watch *w)
{
    struct ws_err e;
    ws_err_clear(&e);
    ws_err_set(&e, WS_ENOMEM, "watch %s %s: out of memory", w->api_version, w->kind);
    fail_watch(w, &e);
}

static void start_list(struct ws_kube_watch *w)
{
    struct ws_buf q;
    struct ws_kube_req *r;
    ws_buf_init(&q, 0);
    if (selectors(&q, w) < 0) {
        ws_buf_free(&q);
        start_failed(w);
        return;
    }
    if (!(r = watch_req(w, "list", on_list))) { /* on_list already reported */
        ws_buf_free(&q);
        return;
    }
    r->query = q.len ? ws_buf_steal(&q) : NULL;
    ws_buf_free(&q);
    w->req = r;
    ws__kind_req_start(r);
}

static void start_stream(struct ws_kube_watch *w)
{
    struct ws_buf q;
    struct ws_kube_req *r;
    char *rv = ws_url_escape(w->rv);
    /* Spread re-watches of many watches over time, as client-go does. */
    int timeout_s = 240 + rand() % 60;
    ws_buf_init(&q, 0);
    if (!rv || ws_buf_appendf(&q, "watch=1&allowWatchBookmarks=true&timeoutSeconds=%d%s%s",
                              timeout_s, w->rv[0] ? "&resourceVersion=" : "", w->rv[0] ? rv : "") <
                   0 ||
        selectors(&q, w) < 0) {
        free(rv);
        ws_buf_free(&q);
        start_failed(w);
        return;
    }
    free(rv);
    if (!(r = watch_req(w, "watch", on_stream_end))) {
        ws_buf_free(&q);
        return;
    }
    r->query = ws_buf_steal(&q);
    r->stream_cb = on_chunk;
    r->no_retry = 1; /* the watch retries itself, resuming from its resourceVersion */
    w->req = r;
    w->events_seen = 0;
    w->stream_started_ms = ws_now_ms();
    ws__kind_req_start(r);
}

struct ws_kube_watch *ws_kube_watch_start(struct ws_kube *k, const struct ws_kube_ref *ref,
                                          const struct ws_kube_watch_opts *opts,
                                          ws_kube_watch_cb cb, void *data)
{
    struct ws_kube_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->kube = k;
    w->cb = cb;
    w->data = data;
    ws_buf_init(&w->line, WATCH_EVENT_MAX);
    w->api_version = ws_strdup0(ref->api_version);
    w->kind = ws_strdup0(ref->kind);
    w->ns = ref->namespace_ && *ref->namespace_ ? strdup(ref->namespace_) : NULL;
    w->name = ref->name && *ref->name ? strdup(ref->name) : NULL;
    if (opts) {
        w->label_selector = opts->label_selector ? strdup(opts->label_selector) : NULL;
        w->field_selector = opts->field_selector ? strdup(opts->field_selector) : NULL;
        if (opts->resource_version)
            snprintf(w->rv, sizeof(w->rv), "%s", opts->resource_version);
    }
    w->next = k->watches;
    if (k->watches)
        k->watches->prev = w;
    k->watches = w;
    if (!w->api_version || !w->kind) {
        watch_free(w);
        return NULL;
    }
    if (w->rv[0]) {
        w->synced = 1;
        start_stream(w);
    } else {
        start_list(w);
    }
    return w;
}
