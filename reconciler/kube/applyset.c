/* applyset.c — resolve, apply namespaces and CRDs, wait Established, apply rest. */
#include "kube/applyset.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timer.h"
#include "base/util.h"

enum stage { STAGE_RESOLVE, STAGE_FIRST, STAGE_CRDS, STAGE_REST, STAGE_DONE };

struct item_ctx {
    struct ws_applyset *set;
    size_t index;
};

struct ws_applyset {
    struct ws_kube *kube;
    json_t *objects;
    json_t *results;
    unsigned flags;
    enum stage stage;
    size_t outstanding;
    int code;
    struct item_ctx *ctx;       /* one per object */
    struct ws_kube_watch **crd_watches;
    size_t ncrd_pending;
    uv_timer_t *deadline;
    uint64_t crd_timeout_ms;
    json_t *crd_groups;         /* "group/Kind" pairs the set itself defines */
    ws_applyset_cb cb;
    void *data;
};

static const char *stage_names[] = {"resolve", "namespaces-and-crds", "wait-crds", "apply", "done"};

static void advance(struct ws_applyset *s);


static void set_stage(struct ws_applyset *s, enum stage st)
{
    ws_debug("applyset: %s -> %s", stage_names[s->stage], stage_names[st]);
    s->stage = st;
}

static int kind_is(const json_t *obj, const char *kind)
{
    const char *k = json_string_value(json_object_get(obj, "kind"));
    return k && strcmp(k, kind) == 0;
}

static int is_first(const json_t *obj)
{
    return kind_is(obj, "Namespace") || kind_is(obj, "CustomResourceDefinition");
}

/* Is obj's kind defined by a CRD in this set (so it cannot resolve yet)? */
static int defined_here(const struct ws_applyset *s, const json_t *obj)
{
    char g[254], v[64], key[400];
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    if (!av || ws_api_version_split(av, g, sizeof(g), v, sizeof(v)) < 0)
        return 0;
    snprintf(key, sizeof(key), "%s/%s", g, json_string_value(json_object_get(obj, "kind")));
    return json_object_get(s->crd_groups, key) != NULL;
}

static void record(struct ws_applyset *s, size_t i, const struct ws_kube_result *res)
{
    json_t *r = json_array_get(s->results, i);
    if (res->code < 0) {
        int code = res->code;
        /* Once applying has begun, a rejected object is a failed apply, not
         * input that changed nothing (exit 1, not 2). */
        if (s->stage != STAGE_RESOLVE && code != WS_ENET && code != WS_EAUTH)
            code = WS_EHTTP;
        json_object_set_new(r, "ok", json_false());                 /* steals */
        json_object_set_new(r, "error", json_string(res->err->msg)); /* steals */
        json_object_set_new(r, "code", json_integer(code));         /* steals */
        if (!s->code)
            s->code = code;
    } else if (res->body) {
        const char *rv = json_string_value(
            json_object_get(json_object_get(res->body, "metadata"), "resourceVersion"));
        json_object_set_new(r, "ok", json_true()); /* steals */
        if (rv)
            json_object_set_new(r, "resourceVersion", json_string(rv)); /* steals */
    }
}

static void on_item(const struct ws_kube_result *res, void *data)
{
    struct item_ctx *c = data;
    struct ws_applyset *s = c->set;
    record(s, c->index, res);
    if (--s->outstanding == 0)
        advance(s);
}

static void finish(struct ws_applyset *s)
{
    size_t i;
    set_stage(s, STAGE_DONE);
    for (i = 0; s->crd_watches && i < json_array_size(s->objects); i++)
        ws_kube_watch_stop(s->crd_watches[i]);
    ws_timer_close(&s->deadline);
    s->cb(s->code, s->results, s->data);
    json_decref(s->results);
    json_decref(s->crd_groups);
    free(s->crd_watches);
    free(s->ctx);
    free(s);
}

static void apply_where(struct ws_applyset *s, int first)
{
    size_t i;
    json_t *obj;
    s->outstanding = 1; /* guard: callbacks may run synchronously */
    json_array_foreach(s->objects, i, obj) {
        if (is_first(obj) != first)
            continue;
        s->outstanding++;
        ws_kube_apply(s->kube, obj, NULL, s->flags, on_item, &s->ctx[i]);
    }
    if (--s->outstanding == 0)
        advance(s);
}

static int crd_established(const json_t *crd)
{
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(crd, "status"), "conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));
        if (t && st && strcmp(t, "Established") == 0 && strcmp(st, "True") == 0)
            return 1;
    }
    return 0;
}

static void on_crd_event(enum ws_watch_event ev, json_t *obj, const struct ws_err *e, void *data)
{
    struct item_ctx *c = data;
    struct ws_applyset *s = c->set;
    if (s->stage != STAGE_CRDS || !s->crd_watches[c->index])
        return;
    if (ev == WS_WATCH_ERROR) {
        json_t *r = json_array_get(s->results, c->index);
        json_object_set_new(r, "ok", json_false());           /* steals */
        json_object_set_new(r, "error", json_string(e->msg)); /* steals */
        if (!s->code)
            s->code = e->code;
    } else if (!obj || !crd_established(obj)) {
        return;
    }
    ws_kube_watch_stop(s->crd_watches[c->index]);
    s->crd_watches[c->index] = NULL;
    if (--s->ncrd_pending == 0)
        advance(s);
}

static void on_crd_deadline(uv_timer_t *t)
{
    struct ws_applyset *s = t->data;
    size_t i;
    for (i = 0; i < json_array_size(s->objects); i++) {
        if (s->crd_watches[i]) {
            json_t *r = json_array_get(s->results, i);
            json_object_set_new(r, "ok", json_false()); /* steals */
            json_object_set_new(r, "error", /* steals */
                                json_string("CustomResourceDefinition not Established in time"));
        }
    }
    if (!s->code)
        s->code = WS_ETIMEOUT;
    finish(s);
}

static void wait_crds(struct ws_applyset *s)
{
    size_t i;
    json_t *obj;
    s->ncrd_pending = 1;
    json_array_foreach(s->objects, i, obj) {
        struct ws_kube_ref ref = {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, NULL};
        if (!kind_is(obj, "CustomResourceDefinition") ||
            !json_is_true(json_object_get(json_array_get(s->results, i), "ok")))
            continue;
        ref.name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        s->ncrd_pending++;
        s->crd_watches[i] = ws_kube_watch_start(s->kube, &ref, NULL, on_crd_event, &s->ctx[i]);
    }
    if (--s->ncrd_pending == 0) {
        advance(s);
        return;
    }
    s->deadline = ws_timer_start(ws_kube_loop(s->kube), s->crd_timeout_ms, on_crd_deadline, s);
}

static void resolve_all(struct ws_applyset *s)
{
    size_t i;
    json_t *obj;
    s->outstanding = 1;
    json_array_foreach(s->objects, i, obj) {
        if (defined_here(s, obj))
            continue;
        struct ws_kube_ref ref = ws_kube_ref_of(obj);
        s->outstanding++;
        ws_kube_resolve(s->kube, &ref, on_item, &s->ctx[i]);
    }
    if (--s->outstanding == 0)
        advance(s);
}

/* The one place the stage changes. */
static void advance(struct ws_applyset *s)
{
    switch (s->stage) {
    case STAGE_RESOLVE:
        if (s->code) { /* an unknown kind: apply nothing */
            finish(s);
            return;
        }
        set_stage(s, STAGE_FIRST);
        apply_where(s, 1);
        return;
    case STAGE_FIRST:
        set_stage(s, STAGE_CRDS);
        wait_crds(s);
        return;
    case STAGE_CRDS:
        ws_timer_close(&s->deadline);
        set_stage(s, STAGE_REST);
        apply_where(s, 0);
        return;
    case STAGE_REST:
        finish(s);
        return;
    case STAGE_DONE:
        return;
    }
}

int ws_applyset_start(struct ws_kube *k, json_t *objects, unsigned flags, uint64_t crd_timeout_ms,
                      ws_applyset_cb cb, void *data)
{
    struct ws_applyset *s = calloc(1, sizeof(*s));
    size_t i, n = json_array_size(objects);
    json_t *obj;
    if (!s)
        return WS_ENOMEM;
    s->kube = k;
    s->objects = objects;
    s->flags = flags;
    s->cb = cb;
    s->data = data;
    s->crd_timeout_ms = crd_timeout_ms ? crd_timeout_ms : 60000;
    s->results = json_array();
    s->crd_groups = json_object();
    s->ctx = calloc(n + 1, sizeof(*s->ctx));
    s->crd_watches = calloc(n + 1, sizeof(*s->crd_watches));
    if (!s->results || !s->crd_groups || !s->ctx || !s->crd_watches) {
        json_decref(s->results);
        json_decref(s->crd_groups);
        free(s->ctx);
        free(s->crd_watches);
        free(s);
        return WS_ENOMEM;
    }
    json_array_foreach(objects, i, obj) {
        char ident[512];
        s->ctx[i].set = s;
        s->ctx[i].index = i;
        ws_kube_ident_obj(ident, sizeof(ident), obj);
        json_array_append_new(s->results, json_pack("{s:s, s:b}", "object", ident, "ok", 1)); /* steals */
        if (kind_is(obj, "CustomResourceDefinition")) {
            json_t *spec = json_object_get(obj, "spec");
            const char *g = json_string_value(json_object_get(spec, "group"));
            const char *kind =
                json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
            char key[400];
            if (g && kind) {
                snprintf(key, sizeof(key), "%s/%s", g, kind);
                json_object_set_new(s->crd_groups, key, json_true()); /* steals */
            }
        }
    }
    s->stage = STAGE_RESOLVE;
    resolve_all(s);
    return 0;
}
