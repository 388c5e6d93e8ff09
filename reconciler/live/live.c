/* live.c — shared watches per cluster and resource type, the objects that
 * carry wavesync's tracking annotation, and each application's sync status
 * and health computed from them (live.h).
 *
 * Memory: at 10,000 objects a jansson tree per object costs more than the
 * rest of the service together, so both sides are kept serialized: a live
 * object as compact JSON without what comparison never looks at (status,
 * server-written metadata, status writers' managedFields, kubectl's
 * last-applied annotation), with its health assessed once on the whole
 * object when it arrives; a desired object as the JSON wavesync applies.
 * They are parsed again only to compare. */
#include "live/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/map.h"
#include "base/util.h"
#include "sync/inventory.h"

#define MAX_DIFFS 16 /* differences kept per object: enough to say what drifted */

struct lwatch {
    struct ws_live *l;
    struct ws_kube *kube;
    char *api_version, *kind;
    struct ws_kube_watch *w;
    int synced, relisting;
    unsigned gen;    /* bumped when what it showed may be stale (a re-list, a restart) */
    char error[512]; /* the watch failed for good: why ("" = it did not) */
};

/* An object carrying our annotation, as last seen live. */
struct lobj {
    char *json;       /* what comparison needs (compact()), serialized */
    char *health_msg; /* NULL: none */
    struct lwatch *w; /* the watch it came from */
    unsigned gen;     /* w->gen when it last came */
    unsigned char health;
};

/* An object Git says an application has, and how it compares. */
struct dobj {
    char *json;        /* as wavesync applies it, serialized */
    struct lwatch *w;  /* the watch of its resource type */
    json_t *diff;      /* the differences; NULL: none (or not compared) */
    char *message;     /* health message, or why Unknown; NULL: none */
    unsigned char status, health, evaluated;
};

struct lapp {
    char *name;
    struct ws_kube *kube;
    char revision[41];
    struct ws_map desired; /* tracking id -> struct dobj */
    struct ws_map extra;   /* tracking id -> (void *)1: live with our annotation, gone from Git */
    struct ws_live_summary sum;
};

struct ws_live {
    struct ws_live_opts o;
    struct lwatch **watches;
    size_t nwatches;
    struct ws_map apps; /* name -> struct lapp */
    struct ws_map live; /* tracking id -> struct lobj, every object carrying our annotation */
    uint64_t events, drifts;
};

/* ---- small helpers ------------------------------------------------------------- */

static const char *md(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *tracking_id_of(const json_t *obj)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), WS_TRACKING_ANNOTATION));
}

/* The parts of a tracking id ("app:group/Kind:ns/name"); 0, or -1 when it
 * is not one. */
struct tid_parts {
    const char *group, *kind, *ns, *name;
    int group_len, kind_len, ns_len;
};

static int tid_split(const char *tid, struct tid_parts *p)
{
    const char *g = strchr(tid, ':'), *slash, *colon, *slash2;
    if (!g || !(slash = strchr(++g, '/')) || !(colon = strchr(slash, ':')) || !(slash2 = strchr(colon, '/')))
        return -1;
    p->group = g;
    p->group_len = (int)(slash - g);
    p->kind = slash + 1;
    p->kind_len = (int)(colon - slash - 1);
    p->ns = colon + 1;
    p->ns_len = (int)(slash2 - colon - 1);
    p->name = slash2 + 1;
    return 0;
}

static struct lapp *find_app(const struct ws_live *l, const char *name)
{
    return ws_map_get(&l->apps, name);
}

/* The application a tracking id names ("app:group/Kind:ns/name"). */
static struct lapp *app_of_tid(const struct ws_live *l, const char *tid)
{
    const char *colon = strchr(tid, ':');
    char name[300];
    if (!colon || (size_t)(colon - tid) >= sizeof(name))
        return NULL;
    memcpy(name, tid, (size_t)(colon - tid));
    name[colon - tid] = '\0';
    return find_app(l, name);
}

static struct lwatch *find_watch(const struct ws_live *l, const struct ws_kube *kube, const char *api_version,
                                 const char *kind)
{
    for (size_t i = 0; i < l->nwatches; i++) {
        struct lwatch *w = l->watches[i];
        if (w->kube == kube && strcmp(w->kind, kind) == 0 && strcmp(w->api_version, api_version) == 0)
            return w;
    }
    return NULL;
}

/* Argo CD's rollup order: the worst health of an application's objects. */
static int health_rank(enum ws_health_status h)
{
    switch (h) {
    case WS_HEALTH_HEALTHY: return 0;
    case WS_HEALTH_SUSPENDED: return 1;
    case WS_HEALTH_PROGRESSING: return 2;
    case WS_HEALTH_MISSING: return 3;
    case WS_HEALTH_DEGRADED: return 4;
    default: return 5;
    }
}

static void set_str(char **slot, const char *s)
{
    if (*slot && s && strcmp(*slot, s) == 0)
        return;
    free(*slot);
    *slot = s && *s ? strdup(s) : NULL;
}

static void lobj_free(void *p)
{
    struct lobj *o = p;
    if (!o)
        return;
    free(o->json);
    free(o->health_msg);
    free(o);
}

static void dobj_free(void *p)
{
    struct dobj *d = p;
    if (!d)
        return;
    free(d->json);
    json_decref(d->diff);
    free(d->message);
    free(d);
}

static json_t *parse(const char *text)
{
    return text ? json_loads(text, 0, NULL) : NULL;
}

/* ---- comparing one object ----------------------------------------------------------- */

struct ignore_ctx {
    struct ws_live *l;
    const char *app;
};

static int ignore_wrap(const json_t *obj, const char *pointer, const char *manager, void *data)
{
    struct ignore_ctx *c = data;
    return c->l->o.ignore(c->app, obj, pointer, manager, c->l->o.data);
}

/* desired against live (both parsed) with app's ignoreDifferences. */
static json_t *compare(struct ws_live *l, const char *app, const json_t *desired, const json_t *live, size_t max)
{
    struct ignore_ctx ic = {l, app};
    return ws_compare(desired, live, l->o.manager, l->o.ignore ? ignore_wrap : NULL, &ic, max);
}

/* Recompute how desired object d (tracking id tid) compares; `full` is the
 * whole live object when the caller has it (a watch event), else the kept
 * copy is parsed. 1 when it drifted (was Synced, is OutOfSync now). */
static int evaluate(struct ws_live *l, struct lapp *a, const char *tid, struct dobj *d, const json_t *full)
{
    struct lwatch *w = d->w;
    const struct lobj *lo = ws_map_get(&l->live, tid);
    enum ws_sync_status was = d->evaluated ? (enum ws_sync_status)d->status : WS_SYNC_UNKNOWN, now;
    json_decref(d->diff);
    d->diff = NULL;
    d->evaluated = 1;
    if (!w || w->error[0] || (!w->synced && !lo)) {
        now = WS_SYNC_UNKNOWN;
        d->health = WS_HEALTH_UNKNOWN;
        set_str(&d->message, w && w->error[0] ? w->error : "waiting for the first list of its resource type");
    } else if (!lo) {
        now = WS_SYNC_OUTOFSYNC;
        d->health = WS_HEALTH_MISSING;
        set_str(&d->message, "not in the cluster");
    } else {
        json_t *desired = parse(d->json), *kept = full ? NULL : parse(lo->json), *diff;
        diff = desired && (full || kept) ? compare(l, a->name, desired, full ? full : kept, MAX_DIFFS) : NULL;
        if (!diff) {
            now = WS_SYNC_UNKNOWN; /* out of memory */
        } else if (json_array_size(diff) == 0) {
            now = WS_SYNC_SYNCED;
            json_decref(diff);
        } else {
            now = WS_SYNC_OUTOFSYNC;
            d->diff = diff;
        }
        json_decref(desired);
        json_decref(kept);
        d->health = lo->health;
        set_str(&d->message, lo->health_msg);
    }
    d->status = (unsigned char)now;
    if (was == WS_SYNC_SYNCED && now == WS_SYNC_OUTOFSYNC) {
        l->drifts++;
        return 1;
    }
    return 0;
}

/* Roll the objects up into the application's summary; 1 when it changed. */
static int summarize(struct lapp *a)
{
    struct ws_live_summary s;
    const char *tid, *first_unknown = NULL;
    void *v;
    size_t unknown = 0, n = 0, it = 0;
    int changed;
    memset(&s, 0, sizeof(s));
    s.tracked = 1;
    s.health = WS_HEALTH_HEALTHY;
    snprintf(s.revision, sizeof(s.revision), "%s", a->revision);
    while (ws_map_next(&a->desired, &it, &tid, &v)) {
        const struct dobj *d = v;
        enum ws_sync_status st = d->status;
        enum ws_health_status hs = d->health;
        struct tid_parts p;
        s.objects++;
        if (health_rank(hs) > health_rank(s.health))
            s.health = hs;
        s.missing += hs == WS_HEALTH_MISSING;
        if (st == WS_SYNC_UNKNOWN && !unknown++)
            first_unknown = d->message;
        if (st == WS_SYNC_OUTOFSYNC && s.outofsync++ < 3 && n + 2 < sizeof(s.message) && tid_split(tid, &p) == 0) {
            const char *path = json_string_value(json_object_get(json_array_get(d->diff, 0), "path"));
            n += (size_t)snprintf(s.message + n, sizeof(s.message) - n, "%s%.*s %s: %s", n ? "; " : "",
                                  p.kind_len, p.kind, p.name, path ? path : "missing");
            n = n < sizeof(s.message) ? n : sizeof(s.message) - 1;
        }
    }
    s.extra = a->extra.len;
    s.sync = s.outofsync || s.extra ? WS_SYNC_OUTOFSYNC : unknown ? WS_SYNC_UNKNOWN : WS_SYNC_SYNCED;
    if (!s.outofsync && s.extra)
        snprintf(s.message, sizeof(s.message), "%zu %s gone from Git still live (to prune)", s.extra,
                 ws_plural(s.extra, "object", "objects"));
    else if (!s.outofsync && unknown)
        snprintf(s.message, sizeof(s.message), "%s", first_unknown ? first_unknown : "unknown");
    changed = s.sync != a->sum.sync || s.health != a->sum.health || s.outofsync != a->sum.outofsync ||
              s.extra != a->sum.extra || !a->sum.tracked;
    a->sum = s;
    return changed;
}

static void notify(struct ws_live *l, struct lapp *a)
{
    if (l->o.changed)
        l->o.changed(a->name, l->o.data);
}

/* ---- watches ------------------------------------------------------------------- */

/* Re-evaluate every object of `w`'s type in the applications on its cluster. */
static void reevaluate_type(struct ws_live *l, struct lwatch *w)
{
    size_t it = 0;
    const char *name;
    void *v;
    while (ws_map_next(&l->apps, &it, &name, &v)) {
        struct lapp *a = v;
        size_t dit = 0;
        const char *tid;
        void *dv;
        int drift = 0;
        if (a->kube != w->kube)
            continue;
        while (ws_map_next(&a->desired, &dit, &tid, &dv))
            if (((struct dobj *)dv)->w == w)
                drift |= evaluate(l, a, tid, dv, NULL);
        if (summarize(a) || drift)
            notify(l, a);
    }
}

static void drop_key(json_t *obj, const char *key)
{
    json_object_del(obj, key);
}

/* What comparison needs of a live object, serialized: obj without status,
 * the metadata the server writes, the managedFields entries of status
 * writers, and kubectl's last-applied annotation (often its largest parts).
 * NULL when out of memory. */
static char *compact(const json_t *obj)
{
    static const char *const server_md[] = {"uid", "resourceVersion", "creationTimestamp", "generation",
                                            "selfLink"};
    json_t *copy = json_copy((json_t *)obj), *mdc, *mf, *ann, *e;
    char *out = NULL;
    size_t i;
    if (!copy)
        return NULL;
    drop_key(copy, "status");
    if ((mdc = json_deep_copy(json_object_get(copy, "metadata")))) {
        json_object_set_new(copy, "metadata", mdc); /* steals */
        for (i = 0; i < sizeof(server_md) / sizeof(server_md[0]); i++)
            drop_key(mdc, server_md[i]);
        if ((ann = json_object_get(mdc, "annotations")))
            drop_key(ann, "kubectl.kubernetes.io/last-applied-configuration");
        mf = json_object_get(mdc, "managedFields");
        for (i = json_array_size(mf); i-- > 0;) {
            const char *sub = json_string_value(json_object_get(e = json_array_get(mf, i), "subresource"));
            if (sub && strcmp(sub, "status") == 0)
                json_array_remove(mf, i);
            else
                drop_key(e, "time");
        }
        out = json_dumps(copy, JSON_COMPACT);
    }
    json_decref(copy);
    return out;
}

/* A live object arrived (added or changed): keep what comparison needs and
 * its health. The kept copy; NULL when out of memory (the old one, if any,
 * is gone: the object compares as missing until its next event). */
static struct lobj *keep_live(struct ws_live *l, struct lwatch *w, const char *tid, const json_t *obj)
{
    struct lobj *o = calloc(1, sizeof(*o));
    void *old = NULL;
    struct ws_health h;
    memset(&h, 0, sizeof(h));
    if (!o || !(o->json = compact(obj)) || ws_map_put(&l->live, tid, o, &old) < 0) {
        lobj_free(o);
        lobj_free(ws_map_del(&l->live, tid));
        return NULL;
    }
    lobj_free(old);
    o->w = w;
    o->gen = w->gen;
    if (!ws_lua_health_assess(l->o.lua, obj, &h))
        ws_health_assess(&h, obj, NULL);
    o->health = (unsigned char)h.status;
    set_str(&o->health_msg, ws_health_message(&h));
    ws_health_clear(&h);
    return o;
}

/* Forget the objects of w not seen since its generation began: deleted
 * while its events were lost (before a re-list), or all of them (a restart). */
static void sweep(struct ws_live *l, struct lwatch *w)
{
    size_t it = 0, n = 0, cap = 0;
    const char *tid;
    void *v;
    char **gone = NULL, **grown;
    while (ws_map_next(&l->live, &it, &tid, &v)) {
        const struct lobj *o = v;
        if (o->w != w || o->gen == w->gen)
            continue;
        if (n == cap) {
            if (!(grown = realloc(gone, (cap ? cap * 2 : 64) * sizeof(*gone))))
                break;
            gone = grown;
            cap = cap ? cap * 2 : 64;
        }
        if (!(gone[n] = strdup(tid)))
            break;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        struct lapp *a = app_of_tid(l, gone[i]);
        lobj_free(ws_map_del(&l->live, gone[i]));
        if (a)
            ws_map_del(&a->extra, gone[i]);
        free(gone[i]);
    }
    free(gone);
}

static void on_watch(enum ws_watch_event ev, json_t *obj, const struct ws_err *err, void *data)
{
    struct lwatch *w = data;
    struct ws_live *l = w->l;
    const char *tid;
    struct lapp *a;
    struct dobj *d;
    char *want;
    int drift = 0, changed;
    if (ev == WS_WATCH_RELISTING) {
        w->gen++;
        w->relisting = 1;
        return;
    }
    if (ev == WS_WATCH_SYNCED || ev == WS_WATCH_ERROR) {
        if (ev == WS_WATCH_SYNCED) {
            w->synced = 1;
            if (w->relisting)
                sweep(l, w);
            w->relisting = 0;
        } else {
            snprintf(w->error, sizeof(w->error), "cannot watch %s %s: %.400s", w->api_version, w->kind,
                     err ? err->msg : "the watch ended");
            ws_warn("live state: %s", w->error);
        }
        reevaluate_type(l, w);
        return;
    }
    l->events++;
    if (!(tid = tracking_id_of(obj)))
        return;
    a = app_of_tid(l, tid);
    /* the annotation must name this very object (a copied manifest does not count) */
    if (a && (want = ws_tracking_id(a->name, obj))) {
        int same = strcmp(want, tid) == 0;
        free(want);
        if (!same)
            return;
    }
    if (ev == WS_WATCH_DELETED)
        lobj_free(ws_map_del(&l->live, tid));
    else
        keep_live(l, w, tid, obj);
    if (!a)
        return; /* an application not tracked (yet): kept for when it is */
    if ((d = ws_map_get(&a->desired, tid)))
        drift = evaluate(l, a, tid, d, ev == WS_WATCH_DELETED ? NULL : obj);
    else if (ev == WS_WATCH_DELETED)
        ws_map_del(&a->extra, tid);
    else
        ws_map_put(&a->extra, tid, (void *)1, NULL);
    changed = summarize(a);
    if (changed || drift)
        notify(l, a);
}

static struct lwatch *ensure_watch(struct ws_live *l, struct ws_kube *kube, const char *api_version,
                                   const char *kind)
{
    struct lwatch *w = find_watch(l, kube, api_version, kind), **grown;
    struct ws_kube_ref ref = {api_version, kind, NULL, NULL};
    if (w && w->error[0]) {
        /* it failed for good (RBAC, a type not served yet): an application
           tracking it again (after a sync that may have installed the CRD)
           gets a fresh try */
        if (w->w)
            ws_kube_watch_stop(w->w);
        w->error[0] = '\0';
        w->synced = w->relisting = 0;
        w->gen++;
        sweep(l, w); /* deleted meanwhile, or not: the new list says */
        if (!(w->w = ws_kube_watch_start(kube, &ref, NULL, on_watch, w)))
            snprintf(w->error, sizeof(w->error), "cannot watch %s %s: out of memory", api_version, kind);
    }
    if (w)
        return w;
    if (!(w = calloc(1, sizeof(*w))) || !(w->api_version = strdup(api_version)) || !(w->kind = strdup(kind)) ||
        !(grown = realloc(l->watches, (l->nwatches + 1) * sizeof(*grown)))) {
        if (w) {
            free(w->api_version);
            free(w->kind);
        }
        free(w);
        return NULL;
    }
    l->watches = grown;
    l->watches[l->nwatches++] = w;
    w->l = l;
    w->kube = kube;
    /* every namespace: the objects of an application may live in several */
    if (!(w->w = ws_kube_watch_start(kube, &ref, NULL, on_watch, w)))
        snprintf(w->error, sizeof(w->error), "cannot watch %s %s: out of memory", api_version, kind);
    return w;
}

/* ---- the API ------------------------------------------------------------------- */

int ws_live_new(struct ws_live **out, const struct ws_live_opts *opts)
{
    struct ws_live *l = calloc(1, sizeof(*l));
    *out = NULL;
    if (!l)
        return WS_ENOMEM;
    l->o = *opts;
    *out = l;
    return 0;
}

static void app_free(void *p)
{
    struct lapp *a = p;
    if (!a)
        return;
    free(a->name);
    ws_map_clear(&a->desired, dobj_free);
    ws_map_clear(&a->extra, NULL);
    free(a);
}

void ws_live_free(struct ws_live *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nwatches; i++) {
        if (l->watches[i]->w)
            ws_kube_watch_stop(l->watches[i]->w);
        free(l->watches[i]->api_version);
        free(l->watches[i]->kind);
        free(l->watches[i]);
    }
    free(l->watches);
    ws_map_clear(&l->apps, app_free);
    ws_map_clear(&l->live, lobj_free);
    free(l);
}

int ws_live_track(struct ws_live *l, const char *app, struct ws_kube *kube, const json_t *desired,
                  const char *revision)
{
    struct lapp *a = find_app(l, app);
    const char *tid;
    json_t *o;
    void *v;
    size_t i, it = 0, prefix;
    if (!a) {
        if (!(a = calloc(1, sizeof(*a))) || !(a->name = strdup(app)) || ws_map_put(&l->apps, app, a, NULL) < 0) {
            if (a)
                free(a->name);
            free(a);
            return WS_ENOMEM;
        }
    }
    ws_map_clear(&a->desired, dobj_free);
    ws_map_clear(&a->extra, NULL);
    a->kube = kube;
    snprintf(a->revision, sizeof(a->revision), "%s", revision ? revision : "");
    json_array_foreach(desired, i, o) {
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        struct dobj *d;
        void *old = NULL;
        if (!(tid = tracking_id_of(o)) || !av || !kind)
            continue;
        if (!(d = calloc(1, sizeof(*d))) || !(d->json = json_dumps(o, JSON_COMPACT)) ||
            ws_map_put(&a->desired, tid, d, &old) < 0) {
            dobj_free(d);
            return WS_ENOMEM;
        }
        dobj_free(old); /* the same object twice: the last one wins, as in a sync */
        d->w = ensure_watch(l, kube, av, kind);
    }
    while (ws_map_next(&a->desired, &it, &tid, &v))
        evaluate(l, a, tid, v, NULL);
    /* objects of this application already seen live but no longer in Git */
    prefix = strlen(app);
    it = 0;
    while (ws_map_next(&l->live, &it, &tid, &v)) {
        if (strncmp(tid, app, prefix) == 0 && tid[prefix] == ':' && !ws_map_get(&a->desired, tid))
            ws_map_put(&a->extra, tid, (void *)1, NULL);
    }
    a->sum.tracked = 0; /* the next summary is news */
    summarize(a);
    notify(l, a);
    return 0;
}

void ws_live_forget(struct ws_live *l, const char *app)
{
    app_free(ws_map_del(&l->apps, app));
}

void ws_live_summary(const struct ws_live *l, const char *app, struct ws_live_summary *out)
{
    const struct lapp *a = l ? find_app(l, app) : NULL;
    if (a)
        *out = a->sum;
    else
        memset(out, 0, sizeof(*out));
}

int ws_live_unchanged(struct ws_live *l, const char *app, const json_t *obj)
{
    struct lapp *a = l ? find_app(l, app) : NULL;
    const char *tid = tracking_id_of(obj), *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const struct lobj *lo = tid ? ws_map_get(&l->live, tid) : NULL;
    const struct lwatch *w = a && av && kind ? find_watch(l, a->kube, av, kind) : NULL;
    json_t *live, *diff;
    int same;
    /* only what a watch of its type that has listed and not failed shows */
    if (!lo || lo->health != WS_HEALTH_HEALTHY || !w || !w->synced || w->error[0] || !(live = parse(lo->json)))
        return 0;
    diff = compare(l, app, obj, live, 1);
    same = diff && json_array_size(diff) == 0;
    json_decref(diff);
    json_decref(live);
    return same;
}

json_t *ws_live_resources(const struct ws_live *l, const char *app)
{
    const struct lapp *a = l ? find_app(l, app) : NULL;
    json_t *out;
    const char *tid;
    void *v;
    size_t it = 0;
    if (!a || !(out = json_array()))
        return NULL;
    while (ws_map_next(&a->desired, &it, &tid, &v)) {
        const struct dobj *d = v;
        const char *av = d->w ? d->w->api_version : "";
        const char *slash = strchr(av, '/');
        struct tid_parts p;
        if (tid_split(tid, &p) < 0)
            continue;
        /* "o" steals: a reference of our own to the kept differences, or a new empty list */
        json_array_append_new(out, json_pack("{s:s#, s:s, s:s#, s:s#, s:s, s:s, s:{s:s, s:s}, s:o, s:b}", /* steals */
                                             "group", p.group, p.group_len, "version",
                                             slash ? slash + 1 : av, "kind", p.kind, p.kind_len,
                                             "namespace", p.ns, p.ns_len, "name", p.name, "status",
                                             ws_sync_status_str(d->status), "health", "status",
                                             ws_health_str(d->health), "message", d->message ? d->message : "",
                                             "diff", d->diff ? json_incref(d->diff) : json_array(), "requiresPruning", 0));
    }
    it = 0;
    while (ws_map_next(&a->extra, &it, &tid, &v)) {
        const struct lobj *lo = ws_map_get(&l->live, tid);
        json_t *live = lo ? parse(lo->json) : NULL;
        const char *av = json_string_value(json_object_get(live, "apiVersion"));
        const char *slash = av ? strchr(av, '/') : NULL;
        json_array_append_new(out, json_pack("{s:s#, s:s, s:s, s:s?, s:s, s:s, s:b}", /* steals */
                                             "group", av ? av : "", slash ? (int)(slash - av) : 0, "version",
                                             slash ? slash + 1 : av ? av : "", "kind",
                                             json_string_value(json_object_get(live, "kind")) ?: "", "namespace",
                                             md(live, "namespace"), "name", md(live, "name") ?: "", "status",
                                             "OutOfSync", "requiresPruning", 1));
        json_decref(live);
    }
    return out;
}

void ws_live_stats(const struct ws_live *l, struct ws_live_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!l)
        return;
    out->watches = l->nwatches;
    for (size_t i = 0; i < l->nwatches; i++)
        out->watches_failed += l->watches[i]->error[0] != 0;
    out->objects = l->live.len;
    out->apps = l->apps.len;
    out->events = l->events;
    out->drifts = l->drifts;
}
