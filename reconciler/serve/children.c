/* children.c — app of apps in the service: when a parent's sync reaches a
 * child Application (or ApplicationSet) in its wave, the child is queued as
 * a run of its own (durable, in the store, like a manual run) and the parent
 * waits for that run's end to call the object Healthy or Failed. */
#include "serve/serve_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct child_wait {
    struct child_wait *next;
    struct svc *s;
    struct ws_sync *parent; /* NULL once the parent's run ended */
    char *name;             /* the object the parent waits on */
    char **apps;            /* the runs it waits for: one per Application */
    int64_t *min_trigger;   /* per app: a run of this trigger or newer answers; 0 = not queued yet */
    unsigned char *answered;
    size_t napps, left;
    int failed;
    char message[1024];
};

struct queued {
    struct child_wait *w;
    size_t idx;
};

static void wait_free(struct child_wait *w)
{
    for (size_t i = 0; i < w->napps; i++)
        free(w->apps[i]);
    free(w->apps);
    free(w->min_trigger);
    free(w->answered);
    free(w->name);
    free(w);
}

static void unlink_wait(struct svc *s, struct child_wait *w)
{
    for (struct child_wait **p = &s->child_waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    wait_free(w);
}

/* One of the Applications of w has ended (or could not be queued). */
static void answer(struct child_wait *w, size_t idx, int ok, const char *message)
{
    if (w->answered[idx])
        return;
    w->answered[idx] = 1;
    if (!ok && !w->failed) {
        w->failed = 1;
        snprintf(w->message, sizeof(w->message), "%s: %s", w->apps[idx], message ? message : "sync failed");
    }
    if (--w->left == 0) {
        if (w->parent)
            ws_sync_child_done(w->parent, w->name, !w->failed, w->message);
        unlink_wait(w->s, w);
    }
}

static void on_child_queued(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct queued *q = data;
    struct child_wait *w = q->w;
    struct svc *s = w->s;
    struct app_state *a = ws__svc_app(s, w->apps[q->idx]);
    (void)duplicate;
    if (code < 0 || !a) {
        ws_error("child %s of a parent sync not queued: %s", w->apps[q->idx], err ? err->msg : ws_code_str(code));
        answer(w, q->idx, 0, "its run could not be queued");
    } else {
        w->min_trigger[q->idx] = id;
        a->pending = 1;
        ws_info("child %s queued by its parent (trigger %lld)", w->apps[q->idx], (long long)id);
        ws__svc_app_changed(s, w->apps[q->idx]);
        ws__svc_schedule(s);
    }
    free(q);
}

int ws__svc_sync_child(struct ws_sync *parent, const char *kind, const char *name, void *data, struct ws_err *err)
{
    struct svc *s = data;
    const struct ws_catalog *cat = &s->snap->cat;
    const char *parent_name = ws_sync_app_name(parent);
    struct child_wait *w = NULL;
    size_t *idx = NULL, i, n = 0;
    int rc;
    if ((rc = ws_catalog_child_apps(&idx, &n, cat, kind, name, err)) != 0)
        return rc; /* 1: all manual, nothing to sync */
    if (!(w = calloc(1, sizeof(*w))) || !(w->name = strdup(name)) || !(w->apps = calloc(n, sizeof(*w->apps))) ||
        !(w->min_trigger = calloc(n, sizeof(*w->min_trigger))) || !(w->answered = calloc(n, 1))) {
        if (w)
            wait_free(w);
        free(idx);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++)
        if (ws__svc_app(s, cat->apps[idx[i]].name) && !(w->apps[w->napps++] = strdup(cat->apps[idx[i]].name))) {
            wait_free(w);
            free(idx);
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        }
    free(idx);
    n = w->napps;
    if (n == 0) {
        wait_free(w);
        return ws_err_set(err, WS_ECONFIG, "%s %s: not followed by this service", kind, name);
    }
    w->s = s;
    w->parent = parent;
    w->left = n;
    w->next = s->child_waits;
    s->child_waits = w;
    for (i = 0; i < n; i++) {
        struct ws_trigger_in in = {0};
        struct queued *q = calloc(1, sizeof(*q));
        json_t *extra = json_pack("{s:s}", "parent", parent_name);
        in.source = "parent";
        in.app = w->apps[i];
        in.extra = extra;
        if (q) {
            q->w = w;
            q->idx = i;
        }
        if (!q || ws_store_accept(s->store, &in, on_child_queued, q) < 0) {
            free(q);
            answer(w, i, 0, "its run could not be queued");
        }
        json_decref(extra);
    }
    return 0;
}

void ws__svc_child_ended(struct svc *s, const char *app, int64_t trigger, int ok, const char *message)
{
    struct child_wait *w, *next;
    for (w = s->child_waits; w; w = next) {
        next = w->next; /* answer() may free w */
        for (size_t i = 0; i < w->napps; i++)
            if (!w->answered[i] && w->min_trigger[i] && trigger >= w->min_trigger[i] &&
                strcmp(w->apps[i], app) == 0) {
                answer(w, i, ok, message);
                break;
            }
    }
}

/* --- a child that left Git, with what it applied ------------------------------------- */

struct removal {
    struct removal *next;
    struct svc *s;
    struct ws_sync *parent; /* NULL once the parent's run ended */
    struct ws_app *app;     /* ws_sync_removal_app */
    struct ws_sync_opts opts;
};

static void on_removed(struct ws_sync *sync, int code, json_t *report, void *data)
{
    struct removal *r = data, **p;
    struct svc *s = r->s;
    const char *message = json_string_value(json_object_get(report, "message"));
    (void)sync;
    ws_log(code == 0 ? WS_LOG_INFO : WS_LOG_WARN, "child %s removed from Git: what it applied %s%s%s", r->app->name,
           code == 0 ? "is deleted" : "could not be deleted", code == 0 ? "" : ": ", code == 0 ? "" : message);
    if (r->parent)
        ws_sync_child_pruned(r->parent, code == 0, message);
    for (p = &s->removals; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    ws_app_free(r->app);
    free(r->app);
    free(r);
    s->running--;
    ws__svc_schedule(s);
    ws__svc_maybe_finish(s);
}

int ws__svc_prune_child(struct ws_sync *parent, const json_t *ref, void *data, struct ws_err *err)
{
    struct svc *s = data;
    struct removal *r = calloc(1, sizeof(*r));
    struct ws_kube *kube;
    if (!r || !(r->app = ws_sync_removal_app(ref))) {
        free(r);
        return ws_err_set(err, WS_ENOMEM, "child %s: cannot tell where it deployed",
                          json_string_value(json_object_get(ref, "name")) ?: "?");
    }
    r->s = s;
    r->parent = parent;
    ws__svc_sync_opts(s, &r->opts);
    if (!(kube = ws_clusters_for(&s->clusters, r->app, err)) ||
        ws_sync_start(NULL, s->loop, kube, r->app, &r->opts, NULL, on_removed, r, err) < 0) {
        ws_err_prefix(err, "child %s", r->app->name);
        ws_app_free(r->app);
        free(r->app);
        free(r);
        return err->code ? err->code : WS_ECONFIG;
    }
    s->running++;
    r->next = s->removals;
    s->removals = r;
    return 0;
}

void ws__svc_parent_ended(struct svc *s, struct ws_sync *parent)
{
    for (struct child_wait *w = s->child_waits; w; w = w->next)
        if (w->parent == parent)
            w->parent = NULL; /* its children's runs go on; nobody waits for them */
    for (struct removal *r = s->removals; r; r = r->next)
        if (r->parent == parent)
            r->parent = NULL;
}

int ws__svc_awaited(const struct svc *s, const char *app)
{
    for (const struct child_wait *w = s->child_waits; w; w = w->next)
        if (w->parent)
            for (size_t i = 0; i < w->napps; i++)
                if (!w->answered[i] && strcmp(w->apps[i], app) == 0)
                    return 1;
    return 0;
}

void ws__svc_children_free(struct svc *s)
{
    while (s->child_waits)
        unlink_wait(s, s->child_waits);
}
