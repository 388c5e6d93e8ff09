/* live.c — shared watches per cluster and resource type, the objects that
 * carry wavesync's tracking annotation, and each application's sync status
 * and health computed from them (live.h). */
#include "live/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "sync/inventory.h"

#define MAX_DIFFS 16 /* differences kept per object: enough to say what drifted */

struct lwatch {
    struct ws_live *l;
    struct ws_kube *kube;
    char *api_version, *kind;
    struct ws_kube_watch *w;
    int synced;
    char error[512]; /* the watch failed for good: why ("" = it did not) */
};

struct lapp {
    char *name;
    struct ws_kube *kube;
    char revision[41];
    json_t *desired; /* {tracking id: object as applied} */
    json_t *results; /* {tracking id: per-object result} */
    json_t *extra;   /* {tracking id: true}: live with our annotation, gone from Git */
    struct ws_live_summary sum;
};

struct ws_live {
    struct ws_live_opts o;
    struct lwatch **watches;
    size_t nwatches;
    struct lapp **apps;
    size_t napps;
    json_t *live; /* {tracking id: live object} for every object carrying our annotation */
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

static struct lapp *find_app(const struct ws_live *l, const char *name)
{
    for (size_t i = 0; i < l->napps; i++)
        if (strcmp(l->apps[i]->name, name) == 0)
            return l->apps[i];
    return NULL;
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

static enum ws_health_status health_parse(const char *s)
{
    for (int h = WS_HEALTH_HEALTHY; h <= WS_HEALTH_UNKNOWN; h++)
        if (s && strcmp(s, ws_health_str((enum ws_health_status)h)) == 0)
            return (enum ws_health_status)h;
    return WS_HEALTH_UNKNOWN;
}

static enum ws_sync_status sync_parse(const char *s)
{
    for (int v = WS_SYNC_UNKNOWN; v <= WS_SYNC_OUTOFSYNC; v++)
        if (s && strcmp(s, ws_sync_status_str((enum ws_sync_status)v)) == 0)
            return (enum ws_sync_status)v;
    return WS_SYNC_UNKNOWN;
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

/* Recompute the result of one desired object; 1 when it drifted (was
 * Synced, is OutOfSync now). */
static int evaluate(struct ws_live *l, struct lapp *a, const char *tid)
{
    const json_t *desired = json_object_get(a->desired, tid), *live = json_object_get(l->live, tid);
    const char *api_version = json_string_value(json_object_get(desired, "apiVersion"));
    const char *kind = json_string_value(json_object_get(desired, "kind"));
    const char *slash = api_version ? strchr(api_version, '/') : NULL;
    struct lwatch *w = api_version && kind ? find_watch(l, a->kube, api_version, kind) : NULL;
    json_t *old = json_object_get(a->results, tid), *diff = NULL, *res;
    enum ws_sync_status was = sync_parse(json_string_value(json_object_get(old, "status"))), now;
    struct ws_health h;
    char group[256];
    memset(&h, 0, sizeof(h));
    snprintf(group, sizeof(group), "%.*s", slash ? (int)(slash - api_version) : 0, api_version ? api_version : "");
    if (!w || w->error[0] || (!w->synced && !live)) {
        now = WS_SYNC_UNKNOWN;
        h.status = WS_HEALTH_UNKNOWN;
        snprintf(h.message, sizeof(h.message), "%s",
                 w && w->error[0] ? w->error : "waiting for the first list of its resource type");
    } else if (!live) {
        now = WS_SYNC_OUTOFSYNC;
        h.status = WS_HEALTH_MISSING;
        snprintf(h.message, sizeof(h.message), "not in the cluster");
    } else {
        struct ignore_ctx ic = {l, a->name};
        diff = ws_compare(desired, live, l->o.manager, l->o.ignore ? ignore_wrap : NULL, &ic, MAX_DIFFS);
        now = diff && json_array_size(diff) == 0 ? WS_SYNC_SYNCED : WS_SYNC_OUTOFSYNC;
        if (!ws_lua_health_assess(l->o.lua, live, &h))
            ws_health_assess(&h, live, NULL);
    }
    res = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:{s:s, s:s}, s:o, s:b}", "group", group, "version",
                    slash ? slash + 1 : api_version ? api_version : "", "kind", kind ? kind : "", "namespace",
                    md(desired, "namespace"), "name", md(desired, "name") ? md(desired, "name") : "", "status",
                    ws_sync_status_str(now), "health", "status", ws_health_str(h.status), "message",
                    ws_health_message(&h), "diff", diff ? diff : json_array(), "requiresPruning", 0);
    ws_health_clear(&h);
    if (res)
        json_object_set_new(a->results, tid, res); /* steals */
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
    json_t *r;
    size_t unknown = 0, n = 0;
    int changed;
    memset(&s, 0, sizeof(s));
    s.tracked = 1;
    s.health = WS_HEALTH_HEALTHY;
    snprintf(s.revision, sizeof(s.revision), "%s", a->revision);
    json_object_foreach(a->results, tid, r) {
        json_t *h = json_object_get(r, "health");
        enum ws_sync_status st = sync_parse(json_string_value(json_object_get(r, "status")));
        enum ws_health_status hs = health_parse(json_string_value(json_object_get(h, "status")));
        const char *kind = json_string_value(json_object_get(r, "kind"));
        const char *name = json_string_value(json_object_get(r, "name"));
        s.objects++;
        if (health_rank(hs) > health_rank(s.health))
            s.health = hs;
        s.missing += hs == WS_HEALTH_MISSING;
        if (st == WS_SYNC_UNKNOWN && !unknown++)
            first_unknown = json_string_value(json_object_get(h, "message"));
        if (st == WS_SYNC_OUTOFSYNC && s.outofsync++ < 3 && n + 2 < sizeof(s.message)) {
            const char *path = json_string_value(json_object_get(json_array_get(json_object_get(r, "diff"), 0), "path"));
            n += (size_t)snprintf(s.message + n, sizeof(s.message) - n, "%s%s %s: %s", n ? "; " : "", kind, name,
                                  path ? path : "missing");
            n = n < sizeof(s.message) ? n : sizeof(s.message) - 1;
        }
    }
    s.extra = json_object_size(a->extra);
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
    for (size_t i = 0; i < l->napps; i++) {
        struct lapp *a = l->apps[i];
        const char *tid;
        json_t *d;
        int drift = 0;
        if (a->kube != w->kube)
            continue;
        json_object_foreach(a->desired, tid, d) {
            if (strcmp(json_string_value(json_object_get(d, "kind")) ?: "", w->kind) == 0 &&
                strcmp(json_string_value(json_object_get(d, "apiVersion")) ?: "", w->api_version) == 0)
                drift |= evaluate(l, a, tid);
        }
        if (summarize(a) || drift)
            notify(l, a);
    }
}

/* What comparison and health need of a live object: all of it but the
 * managedFields entries of status writers and kubectl's last-applied
 * annotation, often its largest parts. A new reference; nested values are
 * shared with obj. */
static json_t *compact(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata"), *mf = json_object_get(md, "managedFields");
    json_t *ann = json_object_get(md, "annotations"), *copy, *mdc, *e;
    int drop_ann = json_object_get(ann, "kubectl.kubernetes.io/last-applied-configuration") != NULL, drop_mf = 0;
    size_t i;
    json_array_foreach(mf, i, e) {
        const char *sub = json_string_value(json_object_get(e, "subresource"));
        drop_mf |= sub && strcmp(sub, "status") == 0;
    }
    if ((!drop_ann && !drop_mf) || !(copy = json_copy(obj)) || !(mdc = json_copy(md)))
        return json_incref(obj);
    json_object_set_new(copy, "metadata", mdc); /* steals */
    if (drop_mf) {
        json_t *kept = json_array();
        json_array_foreach(mf, i, e) {
            const char *sub = json_string_value(json_object_get(e, "subresource"));
            if (!sub || strcmp(sub, "status") != 0)
                json_array_append(kept, e);
        }
        json_object_set_new(mdc, "managedFields", kept); /* steals */
    }
    if (drop_ann) {
        json_t *annc = json_copy(ann);
        json_object_del(annc, "kubectl.kubernetes.io/last-applied-configuration");
        json_object_set_new(mdc, "annotations", annc); /* steals */
    }
    return copy;
}

static void on_watch(enum ws_watch_event ev, json_t *obj, const struct ws_err *err, void *data)
{
    struct lwatch *w = data;
    struct ws_live *l = w->l;
    const char *tid;
    struct lapp *a;
    char *want;
    int drift = 0, changed;
    if (ev == WS_WATCH_SYNCED || ev == WS_WATCH_ERROR) {
        if (ev == WS_WATCH_SYNCED)
            w->synced = 1;
        else {
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
        json_object_del(l->live, tid);
    else
        json_object_set_new(l->live, tid, compact(obj)); /* steals; the watch never changes obj afterwards */
    if (!a)
        return; /* an application not tracked (yet): kept for when it is */
    if (json_object_get(a->desired, tid)) {
        drift = evaluate(l, a, tid);
    } else if (ev == WS_WATCH_DELETED) {
        json_object_del(a->extra, tid);
    } else {
        json_object_set_new(a->extra, tid, json_true()); /* steals */
    }
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
        w->synced = 0;
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
    if (!l || !(l->live = json_object())) {
        free(l);
        return WS_ENOMEM;
    }
    l->o = *opts;
    *out = l;
    return 0;
}

static void app_free(struct lapp *a)
{
    if (!a)
        return;
    free(a->name);
    json_decref(a->desired);
    json_decref(a->results);
    json_decref(a->extra);
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
    for (size_t i = 0; i < l->napps; i++)
        app_free(l->apps[i]);
    free(l->apps);
    json_decref(l->live);
    free(l);
}

int ws_live_track(struct ws_live *l, const char *app, struct ws_kube *kube, const json_t *desired,
                  const char *revision)
{
    struct lapp *a = find_app(l, app);
    const char *tid;
    json_t *o, *v;
    size_t i, prefix;
    if (!a) {
        struct lapp **grown = realloc(l->apps, (l->napps + 1) * sizeof(*grown));
        if (!grown)
            return WS_ENOMEM;
        l->apps = grown;
        if (!(a = calloc(1, sizeof(*a))) || !(a->name = strdup(app))) {
            free(a);
            return WS_ENOMEM;
        }
        l->apps[l->napps++] = a;
    }
    json_decref(a->desired);
    json_decref(a->results);
    json_decref(a->extra);
    a->desired = json_object();
    a->results = json_object();
    a->extra = json_object();
    a->kube = kube;
    snprintf(a->revision, sizeof(a->revision), "%s", revision ? revision : "");
    if (!a->desired || !a->results || !a->extra)
        return WS_ENOMEM;
    json_array_foreach(desired, i, o) {
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!(tid = tracking_id_of(o)) || !av || !kind)
            continue;
        json_object_set(a->desired, tid, o);
        ensure_watch(l, kube, av, kind);
    }
    json_object_foreach(a->desired, tid, o)
        evaluate(l, a, tid);
    /* objects of this application already seen live but no longer in Git */
    prefix = strlen(app);
    json_object_foreach(l->live, tid, v) {
        if (strncmp(tid, app, prefix) == 0 && tid[prefix] == ':' && !json_object_get(a->desired, tid))
            json_object_set_new(a->extra, tid, json_true()); /* steals */
    }
    a->sum.tracked = 0; /* the next summary is news */
    summarize(a);
    notify(l, a);
    return 0;
}

void ws_live_forget(struct ws_live *l, const char *app)
{
    for (size_t i = 0; i < l->napps; i++)
        if (strcmp(l->apps[i]->name, app) == 0) {
            app_free(l->apps[i]);
            l->apps[i] = l->apps[--l->napps];
            return;
        }
}

void ws_live_summary(const struct ws_live *l, const char *app, struct ws_live_summary *out)
{
    const struct lapp *a = l ? find_app(l, app) : NULL;
    if (a)
        *out = a->sum;
    else
        memset(out, 0, sizeof(*out));
}

json_t *ws_live_resources(const struct ws_live *l, const char *app)
{
    const struct lapp *a = l ? find_app(l, app) : NULL;
    json_t *out, *r;
    const char *tid;
    if (!a || !(out = json_array()))
        return NULL;
    json_object_foreach(a->results, tid, r)
        json_array_append(out, r);
    json_object_foreach(a->extra, tid, r) {
        const json_t *live = json_object_get(l->live, tid);
        const char *av = json_string_value(json_object_get(live, "apiVersion"));
        const char *slash = av ? strchr(av, '/') : NULL;
        json_array_append_new(out, json_pack("{s:s#, s:s, s:s, s:s?, s:s, s:s, s:b}", /* steals */
                                             "group", av ? av : "", slash ? (int)(slash - av) : 0, "version",
                                             slash ? slash + 1 : av ? av : "", "kind",
                                             json_string_value(json_object_get(live, "kind")) ?: "", "namespace",
                                             md(live, "namespace"), "name", md(live, "name") ?: "", "status",
                                             "OutOfSync", "requiresPruning", 1));
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
    out->objects = json_object_size(l->live);
    out->apps = l->napps;
    out->events = l->events;
    out->drifts = l->drifts;
}
