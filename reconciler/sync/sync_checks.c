/* sync_checks.c — before anything is applied: which objects are already live
 * as Git says (those are left alone), the preflight server-side dry run of
 * every other object, and `--dry-run` / `diff` (live state, dry-run apply,
 * field differences). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/compare.h"
#include "sync/diff.h"
#include "sync/inventory.h"
#include "base/log.h"
#include "sync/sync_int.h"

/* ---- unchanged objects: live already as Git says ------------------------------ */

static int ignore_cb(const json_t *obj, const char *pointer, const char *manager, void *data)
{
    const struct ws_app *app = data;
    return ws_ignore_diff(app->ignore, app->nignore, obj, pointer, manager);
}

/* Is live (as listed) what obj says, and Healthy? When not, the debug log
 * says why the object is applied. */
static int live_matches(const struct ws_sync *s, const struct item *it, const json_t *live)
{
    const json_t *obj = ws__sync_pitem(it)->obj;
    json_t *diff = ws_compare(obj, live, "wavesync", s->app->nignore ? ignore_cb : NULL, (void *)s->app, 1);
    struct ws_health h;
    int same = diff && json_array_size(diff) == 0;
    if (!same)
        ws_debug("sync %s: %s differs at %s: applied", s->app->name, ws__sync_pitem(it)->ident,
                 json_string_value(json_object_get(json_array_get(diff, 0), "path")) ?: "?");
    json_decref(diff);
    if (!same)
        return 0;
    memset(&h, 0, sizeof(h));
    if (!s->opts.lua_health || !ws_lua_health_assess(s->opts.lua_health, live, &h))
        ws_health_assess(&h, live, NULL);
    if (h.status != WS_HEALTH_HEALTHY)
        ws_debug("sync %s: %s is as Git says but %s: applied", s->app->name, ws__sync_pitem(it)->ident,
                 ws_health_str(h.status));
    ws_health_clear(&h);
    return h.status == WS_HEALTH_HEALTHY;
}

/* Objects worth comparing: a hook runs every time, a generateName hook has
 * no name, and an object whose kind this sync defines cannot be listed yet. */
static int observable(const struct ws_sync *s, const struct item *it)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    return !p->is_hook && !p->is_child && it->name[0] && !ws__sync_defined_here(s, p->obj);
}

static int same_str(const json_t *a, const json_t *b)
{
    return strcmp(json_string_value(a) ?: "", json_string_value(b) ?: "") == 0;
}

/* Same resource type and namespace (none: cluster-scoped): one list serves both. */
static int same_list(const json_t *a, const json_t *b)
{
    const json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    return same_str(json_object_get(a, "apiVersion"), json_object_get(b, "apiVersion")) &&
           same_str(json_object_get(a, "kind"), json_object_get(b, "kind")) &&
           same_str(json_object_get(ma, "namespace"), json_object_get(mb, "namespace"));
}

/* One list came back: mark every object of its type and namespace that is
 * there as Git says. A failed list (RBAC, a type not served yet) only means
 * those objects are applied as usual. */
static void on_observed(const struct ws_kube_result *res, void *data)
{
    struct item *first = data, *it;
    struct ws_sync *s = first->s;
    json_t *by_name = json_object(), *o; /* "namespace/name" -> listed object */
    size_t i;
    char key[600];
    first->req = NULL;
    first->step_pending = 0;
    if (res->code < 0)
        ws_debug("sync %s: cannot list %s (every object of its type is applied): %s", s->app->name,
                 ws__sync_pitem(first)->ident, res->err ? res->err->msg : "");
    json_array_foreach(res->code == 0 ? json_object_get(res->body, "items") : NULL, i, o) {
        const char *ns = json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace"));
        const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
        snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name ? name : "");
        if (name && by_name)
            json_object_set(by_name, key, o);
    }
    /* the list's items carry no kind; the objects compared do */
    for (i = first->idx; by_name && json_object_size(by_name) && i < s->plan.nitems; i++) {
        const json_t *obj = ws__sync_pitem(it = &s->items[i])->obj;
        const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
        json_t *live;
        snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", it->name);
        if (!observable(s, it) || !same_list(obj, ws__sync_pitem(first)->obj) ||
            !(live = json_object_get(by_name, key)))
            continue;
        json_object_set(live, "apiVersion", json_object_get(obj, "apiVersion"));
        json_object_set(live, "kind", json_object_get(obj, "kind"));
        it->unchanged = live_matches(s, it, live);
    }
    json_decref(by_name);
    ws__sync_step_done(s);
}

void ws__sync_observe(struct ws_sync *s)
{
    json_t *listed = json_object(); /* "apiVersion kind namespace" already asked for */
    size_t i;
    s->outstanding = 1;
    for (i = 0; i < s->plan.nitems && !s->opts.apply_all && listed; i++) {
        struct item *it = &s->items[i];
        const json_t *obj = ws__sync_pitem(it)->obj;
        struct ws_kube_ref ref;
        char key[600];
        if (!observable(s, it))
            continue;
        if (s->opts.live_unchanged) {
            it->unchanged = s->opts.live_unchanged(obj, s->opts.live_data);
            continue;
        }
        ref = ws_kube_ref_of(obj);
        ref.name = NULL;
        snprintf(key, sizeof(key), "%s %s %s", ref.api_version ? ref.api_version : "", ref.kind ? ref.kind : "",
                 ref.namespace_ ? ref.namespace_ : "");
        if (json_object_get(listed, key))
            continue; /* its list is on the way */
        json_object_set_new(listed, key, json_true()); /* steals */
        s->outstanding++;
        it->step_pending = 1;
        it->req = ws_kube_list(s->kube, &ref, NULL, on_observed, it);
    }
    json_decref(listed);
    ws__sync_step_done(s);
}

/* ---- preflight: every object through a server-side dry run ------------------ */

/* The namespace of this object does not exist yet (it is created by this
 * sync, or by CreateNamespace=true): not an error for a dry run. */
static int missing_namespace(const struct ws_kube_result *res)
{
    const char *kind = json_string_value(json_object_get(json_object_get(res->body, "details"), "kind"));
    return res->code == WS_ENOTFOUND && kind && strcmp(kind, "namespaces") == 0;
}

static void on_preflight(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    struct ws_sync *s = it->s;
    it->req = NULL;
    it->step_pending = 0;
    /* Not errors for a dry run: a namespace this sync creates; an immutable
     * field on an object the sync will delete and recreate (Force=true, a
     * hook recreated BeforeHookCreation); a 403 from admission (a service
     * account or a role that an earlier wave creates) — the real apply
     * decides those. */
    if (res->code < 0 && !missing_namespace(res) &&
        !(ws__sync_immutable_error(res) && ws__sync_will_recreate(it)) && res->status != 403) {
        int code = res->code == WS_ENOTFOUND || res->code == WS_EINVAL ? WS_EINVAL : res->code;
        it->result = "Failed";
        ws__sync_item_say(it, "%s", res->err->msg);
        /* nothing has been applied: bad input (exit 2), a conflict or an
         * unreachable cluster keep their own class */
        ws__sync_fail(s, code, "%s (nothing was applied)", res->err->msg);
    }
    ws__sync_step_done(s);
}

/* RespectIgnoreDifferences: the dry run sends what the apply will send, the
 * ignored fields at their live values; Git's values would conflict with the
 * manager that changed them (an autoscaler) and fail the sync for nothing. */
static void on_preflight_live(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    const struct ws_plan_item *p = ws__sync_pitem(it);
    unsigned opts = p->options | it->s->app->sync_options;
    json_t *obj;
    it->req = NULL;
    if (res->code < 0 && res->code != WS_ENOTFOUND) {
        on_preflight(res, it); /* reported as the dry run's own failure would be */
        return;
    }
    obj = ws__sync_desired(it, res->code == 0 ? res->body : NULL, NULL);
    it->req = ws_kube_apply(it->s->kube, obj ? obj : p->obj, NULL, WS_APPLY_DRY_RUN | ws__sync_apply_flags(it->s, opts),
                            on_preflight, it);
    json_decref(obj);
}

/* Everything the sync will apply goes through a server-side dry run first,
 * so that an object the server rejects fails the sync before wave 0. */
void ws__sync_preflight(struct ws_sync *s)
{
    size_t i, unchanged = 0;
    for (i = 0; i < s->plan.nitems; i++)
        unchanged += s->items[i].unchanged != 0;
    if (unchanged)
        ws__sync_say(s, "%zu of %zu %s already as Git says: not applied", unchanged, s->plan.nitems,
                     ws_plural(s->plan.nitems, "object is", "objects are"));
    s->outstanding = 1;
    for (i = 0; i < s->plan.nitems && !s->failed; i++) {
        struct item *it = &s->items[i];
        const struct ws_plan_item *p = ws__sync_pitem(it);
        unsigned opts = p->options | s->app->sync_options;
        /* generateName hooks have no name to dry-run; Replace=true objects are
         * PUT, not applied, so an apply dry run says nothing about them */
        if ((p->is_hook && !it->name[0]) || p->is_child || it->unchanged || ws__sync_defined_here(s, p->obj) ||
            (opts & (WS_OPT_SKIP_DRY_RUN | WS_OPT_REPLACE)))
            continue;
        s->outstanding++;
        it->step_pending = 1;
        if (ws__sync_respects_ignore(it)) {
            struct ws_kube_ref ref = ws__sync_item_ref(it);
            it->req = ws_kube_get(s->kube, &ref, on_preflight_live, it);
            continue;
        }
        it->req = ws_kube_apply(s->kube, p->obj, NULL, WS_APPLY_DRY_RUN | ws__sync_apply_flags(s, opts), on_preflight,
                                it);
    }
    ws__sync_step_done(s);
}

/* ---- dry run --------------------------------------------------------------- */

static void on_dry_applied(const struct ws_kube_result *res, void *data)
{
    struct dry_ctx *d = data;
    struct item *it = d->it;
    struct ws_sync *s = it->s;
    it->req = NULL;
    it->step_pending = 0;
    it->dry = NULL;
    if (res->code < 0) {
        it->result = "Failed";
        ws__sync_item_say(it, "%s", res->err->msg);
        if (!s->code) {
            s->code = res->code == WS_EINVAL ? WS_EINVAL : res->code;
            s->failed = 1;
            snprintf(s->message, sizeof(s->message), "%s", res->err->msg);
        }
    } else {
        json_t *changes = ws_diff_objects(res->body, d->live);
        json_t *kept = json_array(), *c;
        size_t i;
        /* metadata the dry run itself invents is not a change */
        json_array_foreach(changes, i, c) {
            const char *path = json_string_value(json_object_get(c, "path"));
            if (path && strncmp(path, ".metadata.annotations.kubectl", 29) != 0)
                json_array_append(kept, c);
        }
        json_decref(changes);
        it->result = !d->live ? "WouldCreate" : json_array_size(kept) ? "WouldConfigure" : "Unchanged";
        it->changes = d->live ? kept : (json_decref(kept), NULL);
        it->health.status = WS_HEALTH_UNKNOWN;
    }
    json_decref(d->live);
    free(d);
    ws__sync_step_done(s);
}

static void on_dry_live(const struct ws_kube_result *res, void *data)
{
    struct dry_ctx *d = data;
    struct item *it = d->it;
    json_t *obj;
    if (res->code < 0 && res->code != WS_ENOTFOUND) {
        struct ws_kube_result fake = *res;
        on_dry_applied(&fake, d);
        return;
    }
    d->live = res->code == 0 ? json_incref(res->body) : NULL;
    /* RespectIgnoreDifferences: compare what the sync would apply */
    obj = ws__sync_desired(it, d->live, NULL);
    it->req = ws_kube_apply(it->s->kube, obj ? obj : ws__sync_pitem(it)->obj, NULL, WS_APPLY_DRY_RUN,
                            on_dry_applied, d);
    json_decref(obj);
}

void ws__sync_dry_run(struct ws_sync *s)
{
    size_t i;
    s->outstanding = 1;
    for (i = 0; i < s->plan.nitems; i++) {
        struct item *it = &s->items[i];
        struct ws_kube_ref ref = ws__sync_item_ref(it);
        struct dry_ctx *d;
        if (ws__sync_pitem(it)->is_hook) {
            it->result = "HookNotRun";
            continue;
        }
        if (ws__sync_pitem(it)->is_child) { /* app of apps: its own dry run says what it would change */
            it->result = "ChildNotRun";
            continue;
        }
        if (!(d = calloc(1, sizeof(*d))))
            continue;
        d->it = it;
        s->outstanding++;
        it->step_pending = 1;
        it->dry = d;
        it->req = ws_kube_get(s->kube, &ref, on_dry_live, d);
    }
    ws__sync_step_done(s);
}

