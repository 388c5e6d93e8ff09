/* sync_prune.c — prune: delete, in reverse kind order, what the inventory
 * holds and Git no longer does, when the policy allows and the object still
 * carries this application's tracking id and no Prune=false. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/diff.h"
#include "sync/inventory.h"
#include "base/log.h"
#include "sync/sync_int.h"

/* ---- prune ----------------------------------------------------------------- */

static void prune_next(struct ws_sync *s);

static void record_prune(struct ws_sync *s, const json_t *ref, const char *result, const char *why)
{
    char ident[600];
    json_t *r;
    ws_kube_ident(ident, sizeof(ident), json_string_value(json_object_get(ref, "apiVersion")),
                  json_string_value(json_object_get(ref, "kind")),
                  json_string_value(json_object_get(ref, "namespace")),
                  json_string_value(json_object_get(ref, "name")));
    r = json_pack("{s:s, s:s}", "object", ident, "result", result);
    if (why)
        json_object_set_new(r, "message", json_string(why)); /* steals */
    json_array_append_new(s->pruned, r); /* steals */
    ws__sync_say(s, "prune %s: %s%s%s", ident, result, why ? ": " : "", why ? why : "");
}

static void on_pruned(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    json_t *ref = json_array_get(s->prune_queue, s->prune_next);
    s->prune_req = NULL;
    if (res->code < 0 && res->code != WS_ENOTFOUND) {
        record_prune(s, ref, "Failed", res->err->msg);
        json_array_append(s->kept_refs, ref);
        ws__sync_fail(s, res->code, "prune: %s", res->err->msg);
        return;
    }
    record_prune(s, ref, "Pruned", NULL);
    s->prune_next++;
    prune_next(s);
}

/* Sync options on the live object (the manifest is gone from Git). */
static unsigned live_options(const json_t *live)
{
    const char *opts = json_string_value(json_object_get(
        json_object_get(json_object_get(live, "metadata"), "annotations"), "argocd.argoproj.io/sync-options"));
    unsigned flags = 0;
    if (opts && ws_sync_options_parse(&flags, opts, NULL) < 0)
        flags = 0;
    return flags;
}

static void on_prune_live(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    json_t *ref = json_array_get(s->prune_queue, s->prune_next);
    struct ws_kube_ref kref = {
        json_string_value(json_object_get(ref, "apiVersion")), json_string_value(json_object_get(ref, "kind")),
        json_string_value(json_object_get(ref, "namespace")), json_string_value(json_object_get(ref, "name"))};
    char *tid;
    const char *live_tid;
    s->prune_req = NULL;
    if (res->code == WS_ENOTFOUND) { /* already gone */
        s->prune_next++;
        prune_next(s);
        return;
    }
    if (res->code < 0) {
        record_prune(s, ref, "Failed", res->err->msg);
        json_array_append(s->kept_refs, ref);
        s->prune_next++;
        prune_next(s);
        return;
    }
    tid = ws_tracking_id(s->app->name, res->body);
    live_tid = json_string_value(json_object_get(
        json_object_get(json_object_get(res->body, "metadata"), "annotations"), WS_TRACKING_ANNOTATION));
    if (!live_tid || !tid || strcmp(live_tid, tid) != 0) {
        record_prune(s, ref, "Skipped", "no longer tracked by this application");
    } else if (live_options(res->body) & WS_OPT_PRUNE_FALSE) {
        record_prune(s, ref, "Skipped", "Prune=false");
        json_array_append(s->kept_refs, ref);
    } else if ((live_options(res->body) & WS_OPT_PRUNE_LAST) && !s->pruning_last) {
        /* PruneLast=true: after every other prune */
        json_array_append(s->prune_last, ref);
    } else {
        free(tid);
        s->prune_req = ws_kube_delete(s->kube, &kref, "Background", on_pruned, s);
        return;
    }
    free(tid);
    s->prune_next++;
    prune_next(s);
}

/* App of apps: a child Application that left Git is not a cluster object.
 * With Argo CD's resources finalizer its resources are deleted (by the
 * caller, which knows the child's cluster); without, they stay. */
static void prune_child(struct ws_sync *s, json_t *ref)
{
    struct ws_err e;
    ws_err_clear(&e);
    if (!json_is_true(json_object_get(ref, "cascade")) ||
        strcmp(json_string_value(json_object_get(ref, "kind")) ?: "", "Application") != 0) {
        record_prune(s, ref, "Pruned", "no longer a child; what it applied stays (it had no "
                                       "resources-finalizer.argocd.argoproj.io finalizer)");
    } else if (!s->opts.prune_child) {
        record_prune(s, ref, "Skipped", "child applications are removed by `wavesync sync` and `wavesync serve`");
        json_array_append(s->kept_refs, ref);
    } else if (s->opts.prune_child(s, ref, s->opts.child_data, &e) < 0) {
        record_prune(s, ref, "Failed", e.msg);
        json_array_append(s->kept_refs, ref);
        ws__sync_fail(s, e.code ? e.code : WS_EINVAL, "prune: %s", e.msg);
        return;
    } else {
        s->child_pruning = 1; /* ws_sync_child_pruned goes on */
        return;
    }
    s->prune_next++;
    prune_next(s);
}

void ws_sync_child_pruned(struct ws_sync *s, int ok, const char *message)
{
    json_t *ref = json_array_get(s->prune_queue, s->prune_next);
    if (!s->child_pruning || !ref)
        return;
    s->child_pruning = 0;
    if (!ok) {
        record_prune(s, ref, "Failed", message ? message : "removing the child failed");
        json_array_append(s->kept_refs, ref);
        ws__sync_fail(s, WS_EIO, "prune: child %s: %s", json_string_value(json_object_get(ref, "name")),
                      message ? message : "removing it failed");
        return;
    }
    record_prune(s, ref, "Pruned", "child removed with what it applied");
    s->prune_next++;
    prune_next(s);
}

static void prune_next(struct ws_sync *s)
{
    json_t *ref = json_array_get(s->prune_queue, s->prune_next);
    struct ws_kube_ref kref;
    if (!ref && !s->pruning_last && json_array_size(s->prune_last)) {
        s->pruning_last = 1;
        json_decref(s->prune_queue);
        s->prune_queue = json_incref(s->prune_last);
        s->prune_next = 0;
        ref = json_array_get(s->prune_queue, 0);
    }
    if (!ref) {
        ws__sync_advance(s);
        return;
    }
    if (ws_sync_is_child(ref)) {
        prune_child(s, ref);
        return;
    }
    kref = (struct ws_kube_ref){json_string_value(json_object_get(ref, "apiVersion")),
                                json_string_value(json_object_get(ref, "kind")),
                                json_string_value(json_object_get(ref, "namespace")),
                                json_string_value(json_object_get(ref, "name"))};
    s->prune_req = ws_kube_get(s->kube, &kref, on_prune_live, s);
}

static int prune_cmp(const void *a, const void *b)
{
    const json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    int ka = ws_plan_kind_rank(json_string_value(json_object_get(ra, "kind")));
    int kb = ws_plan_kind_rank(json_string_value(json_object_get(rb, "kind")));
    return kb - ka; /* reverse kind order: workloads before their namespace */
}

void ws__sync_prune(struct ws_sync *s)
{
    json_t *gone = ws_inventory_minus(s->inventory_old, s->planned_refs);
    size_t n = json_array_size(gone), i;
    json_t **v;
    s->prune_next = 0;
    if (n == 0) {
        json_decref(gone);
        ws__sync_advance(s);
        return;
    }
    if (!s->opts.dry_run && (s->app->auto_prune || s->opts.prune) && ws__sync_fenced(s, "the prune")) {
        json_decref(gone);
        return;
    }
    if (s->opts.dry_run || !(s->app->auto_prune || s->opts.prune)) {
        const char *why = s->opts.dry_run ? "would be pruned (dry run)"
                                          : "no longer in Git; prune is off (syncPolicy.automated.prune or --prune)";
        for (i = 0; i < n; i++)
            record_prune(s, json_array_get(gone, i), s->opts.dry_run ? "WouldPrune" : "Skipped", why);
        json_array_extend(s->kept_refs, gone);
        json_decref(gone);
        ws__sync_advance(s);
        return;
    }
    /* reverse kind order (stable), then the queue runs one at a time */
    v = calloc(n, sizeof(*v));
    for (i = 0; v && i < n; i++)
        v[i] = json_array_get(gone, i);
    if (v)
        qsort(v, n, sizeof(*v), prune_cmp);
    s->prune_queue = json_array();
    s->prune_last = json_array();
    for (i = 0; v && i < n; i++)
        json_array_append(s->prune_queue, v[i]);
    free(v);
    json_decref(gone);
    prune_next(s);
}

