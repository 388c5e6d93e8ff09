/* sync_checks.c — before anything is applied: the preflight server-side dry
 * run of every object, and `--dry-run` / `diff` (live state, dry-run apply,
 * field differences). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/diff.h"
#include "sync/inventory.h"
#include "base/log.h"
#include "sync/sync_int.h"

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
    size_t i;
    s->outstanding = 1;
    for (i = 0; i < s->plan.nitems && !s->failed; i++) {
        struct item *it = &s->items[i];
        const struct ws_plan_item *p = ws__sync_pitem(it);
        unsigned opts = p->options | s->app->sync_options;
        /* generateName hooks have no name to dry-run; Replace=true objects are
         * PUT, not applied, so an apply dry run says nothing about them */
        if ((p->is_hook && !it->name[0]) || ws__sync_defined_here(s, p->obj) ||
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

