/* sync.c — one application's sync run as a state machine on the loop.
 * Stages: render (worker thread) → validate → plan → inventory (before) →
 * namespace → waves → [SyncFail hooks] → prune → inventory (after) → done.
 * One function, set_stage(), changes the stage and logs old → new. */
#include "sync/sync_int.h"
#include "base/timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/diff.h"
#include "git/git.h"
#include "health/health.h"
#include "sync/inventory.h"
#include "base/log.h"
#include "sync/plan.h"
#include "source/ignore.h"
#include "source/render.h"
#include "base/util.h"

static const char *const stage_names[] = {
#define WS_X(name, text) text,
    STAGES(WS_X)
#undef WS_X
};

static void wave_start(struct ws_sync *s);
static void item_apply(struct item *it);
static void item_check_health(struct item *it);


static void set_stage(struct ws_sync *s, enum stage st)
{
    ws_debug("sync %s: %s -> %s", s->app->name, stage_names[s->stage], stage_names[st]);
    s->stage = st;
}

void ws__sync_say(struct ws_sync *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (!s->progress)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->progress(s, line, s->data);
}


/* ---- timers ------------------------------------------------------------ */

/* ---- items ------------------------------------------------------------- */

void ws__sync_item_quiesce(struct item *it)
{
    if (it->step_pending) { /* counted in s->outstanding; its callback will not run */
        it->step_pending = 0;
        it->s->outstanding--;
        if (it->dry) {
            json_decref(it->dry->live);
            free(it->dry);
            it->dry = NULL;
        }
    }
    if (it->req) {
        ws_kube_cancel(it->req);
        it->req = NULL;
    }
    if (it->watch) {
        ws_kube_watch_stop(it->watch);
        it->watch = NULL;
    }
    if (it->pod_watch) {
        ws_kube_watch_stop(it->pod_watch);
        it->pod_watch = NULL;
    }
    ws_timer_close(&it->recheck);
}

static void wave_quiesce(struct ws_sync *s)
{
    ws_timer_close(&s->wave_timer);
    if (s->prune_req) {
        ws_kube_cancel(s->prune_req);
        s->prune_req = NULL;
    }
    if (s->items)
        for (size_t i = 0; i < s->plan.nitems; i++)
            ws__sync_item_quiesce(&s->items[i]);
}


/* ---- finishing --------------------------------------------------------- */

static json_t *item_report(const struct item *it)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    char ident[600];
    json_t *o;
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    ws_kube_ident(ident, sizeof(ident), ref.api_version, ref.kind,
                  json_string_value(json_object_get(json_object_get(p->obj, "metadata"), "namespace")),
                  it->name[0] ? it->name : NULL);
    o = json_pack("{s:s, s:s, s:i, s:b, s:s, s:s}", "object", it->name[0] ? ident : p->ident, "phase",
                  ws_phase_str(p->phase), "wave", p->wave, "hook", p->is_hook, "result",
                  it->result ? it->result : "NotRun", "health",
                  it->state == IT_PENDING ? "Unknown" : ws_health_str(it->health.status));
    if (it->message && it->message[0])
        json_object_set_new(o, "message", json_string(it->message)); /* steals */
    else if (it->health.message[0] && it->health.status != WS_HEALTH_HEALTHY)
        json_object_set_new(o, "message", json_string(ws_health_message(&it->health))); /* steals */
    if (it->applied_ms)
        json_object_set_new(o, "appliedMs", json_integer((json_int_t)it->applied_ms)); /* steals */
    if (it->healthy_ms)
        json_object_set_new(o, "healthyMs", json_integer((json_int_t)it->healthy_ms)); /* steals */
    if (it->changes)
        json_object_set(o, "changes", it->changes);
    return o;
}

static void emit(const struct ws_sync *s, const char *type, const json_t *ev)
{
    if (s->opts.event && ev)
        s->opts.event(s, type, ev, s->opts.event_data);
}

static void emit_item(struct item *it, const char *state)
{
    json_t *o;
    if (!it->s->opts.event)
        return;
    if ((o = item_report(it))) {
        json_object_set_new(o, "state", json_string(state));
        json_object_set_new(o, "atMs", json_integer((json_int_t)ws__sync_elapsed(it->s)));
        json_object_del(o, "changes");
        emit(it->s, "object", o);
        json_decref(o);
    }
}

static void finish(struct ws_sync *s)
{
    json_t *objects = json_array();
    const char *result;
    set_stage(s, ST_DONE);
    wave_quiesce(s);
    ws_timer_close(&s->sync_timer);
    for (size_t i = 0; s->items && i < s->plan.nitems; i++)
        json_array_append_new(objects, item_report(&s->items[i])); /* steals */
    result = s->canceled ? "Canceled" : s->code == 0 ? "Succeeded" : s->planned && s->failed ? "Failed" : "Error";
    s->report = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:o, s:o, s:O}", "application",
                          s->app->name, "revision", s->commit, "result", result, "message",
                          s->message, "durationMs", (json_int_t)ws__sync_elapsed(s), "dryRun",
                          s->opts.dry_run, "waves", json_incref(s->waves_report), "objects", objects,
                          "pruned", s->pruned);
    if (!s->report) /* packing failed (out of memory): still report the outcome */
        s->report = json_pack("{s:s, s:s, s:[], s:[], s:[]}", "application", s->app->name, "result",
                              result, "waves", "objects", "pruned");
    if (s->report && s->kept_refs && json_array_size(s->kept_refs))
        json_object_set(s->report, "notPruned", s->kept_refs);
    s->done_cb(s, s->code, s->report, s->data);
    /* free everything */
    for (size_t i = 0; s->items && i < s->plan.nitems; i++) {
        json_decref(s->items[i].live);
        json_decref(s->items[i].pods);
        json_decref(s->items[i].changes);
        ws_health_clear(&s->items[i].health);
        free(s->items[i].message);
        json_decref(s->items[i].apply_obj);
    }
    free(s->items);
    if (s->planned)
        ws_plan_free(&s->plan);
    json_decref(s->objects);
    json_decref(s->crd_kinds);
    json_decref(s->inventory_old);
    json_decref(s->planned_refs);
    json_decref(s->kept_refs);
    json_decref(s->pruned);
    json_decref(s->prune_queue);
    json_decref(s->prune_last);
    json_decref(s->waves_report);
    json_decref(s->report);
    free(s);
}

unsigned ws__sync_apply_flags(const struct ws_sync *s, unsigned options)
{
    return ((options & WS_OPT_VALIDATE_FALSE) ? WS_APPLY_NO_VALIDATION : 0) |
           (s->opts.force_conflicts ? WS_APPLY_FORCE : 0);
}

int ws_sync_is_child(const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    return av && kind && strncmp(av, "argoproj.io/", 12) == 0 &&
           (strcmp(kind, "Application") == 0 || strcmp(kind, "ApplicationSet") == 0);
}

json_t *ws_sync_desired(const struct ws_sync *s)
{
    json_t *out;
    if (!s->planned || !(out = json_array()))
        return NULL;
    for (size_t i = 0; i < s->plan.nitems; i++)
        if (!s->plan.items[i].is_hook && !s->plan.items[i].is_child)
            json_array_append(out, s->plan.items[i].obj);
    return out;
}

static void run_syncfail(struct ws_sync *s);

/* Where a failed run goes: SyncFail hooks once something may have been
 * applied, else straight to the end. */
static void after_failure(struct ws_sync *s)
{
    if (s->stage == ST_RENDER) /* the render job still uses s: on_rendered finishes */
        return;
    if (s->stage == ST_WAVES || s->stage == ST_NAMESPACE || s->stage == ST_INVENTORY_PRE)
        run_syncfail(s);
    else if (s->stage != ST_SYNCFAIL && s->stage != ST_DONE)
        finish(s);
}

/* The run failed: stop the wave, remember why, run SyncFail hooks (once),
 * then finish. Safe to call from any callback; the first failure wins. */
void ws__sync_fail(struct ws_sync *s, int code, const char *fmt, ...)
{
    va_list ap;
    if (s->failed || s->canceled || s->stage == ST_DONE)
        return;
    s->failed = 1;
    s->code = code < 0 ? code : WS_EHTTP;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof(s->message), fmt, ap);
    va_end(ap);
    ws_utf8_sanitize(s->message);
    ws__sync_say(s, "FAILED: %s", s->message);
    wave_quiesce(s);
    /* Requests of a step still out (validation, inventory) call back later:
     * their ws__sync_step_done() moves on. Waves cancel their own requests. */
    if (s->outstanding == 0)
        after_failure(s);
}

/* ---- render (worker thread) ---------------------------------------------- */

struct render_job {
    uv_work_t work;
    const struct ws_app *app;
    const struct ws_sync_opts *opts;
    json_t *objects;
    char commit[41];
    struct ws_err err;
    int rc;
    ws_render_done_cb cb;
    void *data;
};

/* Mirror a source's repository and resolve its revision (the run's
 * --revision overrides). *mirror: caller frees. */
static int source_commit(char **mirror, char commit[41], struct render_job *job,
                         const struct ws_app_source *src, const char *cache)
{
    const struct ws_repo *repo =
        job->opts->config ? ws_config_repo_by_url(job->opts->config, src->repo_url) : NULL;
    struct ws_git_creds creds = {repo ? repo->username : NULL, repo ? repo->password : NULL};
    const char *rev = job->opts->revision ? job->opts->revision : src->target_revision;
    struct ws_err *err = &job->err;
    int rc;
    if ((rc = ws_git_mirror_since(mirror, cache, src->repo_url, &creds, job->opts->fetched_since, rev, err)) < 0)
        return rc;
    if ((rc = ws_git_resolve(commit, *mirror, rev, err)) < 0) {
        free(*mirror);
        *mirror = NULL;
    }
    return rc;
}

static void render_work(uv_work_t *w)
{
    struct render_job *job = ws_container_of(w, struct render_job, work);
    const struct ws_app *app = job->app;
    char *cache = NULL, *tmp = NULL, **mirrors = NULL, (*commits)[41] = NULL;
    struct ws_render_ref *refs = NULL;
    size_t i, nrefs = 0;
    job->objects = json_array();
    if (asprintf(&cache, "%s/repos", job->opts->state_dir) < 0 ||
        asprintf(&tmp, "%s/tmp", job->opts->state_dir) < 0 ||
        !(mirrors = calloc(app->nsources + 1, sizeof(*mirrors))) ||
        !(commits = calloc(app->nsources + 1, sizeof(*commits))) || !(refs = calloc(app->nsources + 1, sizeof(*refs)))) {
        job->rc = ws_err_set(&job->err, WS_ENOMEM, "out of memory");
        goto out;
    }
    /* ref sources first: the others' "$ref/…" values files are read there */
    for (i = 0; i < app->nsources && job->rc == 0; i++) {
        const struct ws_app_source *src = &app->sources[i];
        if (!src->ref || src->chart)
            continue;
        if ((job->rc = source_commit(&mirrors[i], commits[i], job, src, cache)) < 0)
            break;
        refs[nrefs].src = src;
        refs[nrefs].repo_path = mirrors[i];
        refs[nrefs].commit = commits[i];
        nrefs++;
    }
    for (i = 0; i < app->nsources && job->rc == 0; i++) {
        const struct ws_app_source *src = &app->sources[i];
        struct ws_render_ctx ctx = {0};
        if (ws_app_source_ref_only(src))
            continue;
        /* a chart from a Helm repository has no Git commit: render.c fetches it */
        if (!src->chart && !mirrors[i] && (job->rc = source_commit(&mirrors[i], commits[i], job, src, cache)) < 0)
            break;
        if (!job->commit[0] && commits[i][0])
            memcpy(job->commit, commits[i], sizeof(commits[i]));
        ctx.repo_path = mirrors[i];
        ctx.commit = commits[i];
        ctx.app_name = app->name;
        ctx.namespace_ = app->dest_namespace;
        ctx.tmp_root = tmp;
        ctx.config = job->opts->config;
        ctx.state_dir = job->opts->state_dir;
        ctx.fetched_since = job->opts->fetched_since;
        ctx.app = app;
        ctx.refs = refs;
        ctx.nrefs = nrefs;
        if (job->opts->config) {
            ctx.helm_limits = &job->opts->config->settings.helm;
            ctx.kustomize_limits = &job->opts->config->settings.kustomize;
        }
        job->rc = ws_render_source(job->objects, &ctx, src, &job->err);
    }
    for (i = 0; i < app->nsources && !job->commit[0]; i++) /* only refs and charts rendered */
        if (commits[i][0])
            memcpy(job->commit, commits[i], sizeof(commits[i]));
    /* what the Application asks for (its repoURL, targetRevision, path) is
       at fault as often as the repository: say which Application and where */
    if (job->rc < 0 && job->rc != WS_ENOMEM) {
        char named[300];
        snprintf(named, sizeof(named), "Application \"%s\"", app->name);
        if (!strstr(job->err.msg, named)) /* not named yet by the renderer */
            ws_err_prefix(&job->err, "%s (%s:%d)", named, app->file ? app->file : "?", app->line);
    }
out:
    for (i = 0; mirrors && i < app->nsources; i++)
        free(mirrors[i]);
    free(mirrors);
    free(commits);
    free(refs);
    free(cache);
    free(tmp);
}

int ws_sync_sweep_tmp(const char *state_dir)
{
    char *tmp = NULL;
    int n;
    if (asprintf(&tmp, "%s/tmp", state_dir) < 0)
        return WS_ENOMEM;
    n = ws_tmptree_sweep(tmp, WS_GIT_EXPORT_PREFIX);
    free(tmp);
    return n;
}

static void render_after(uv_work_t *w, int status)
{
    struct render_job *job = ws_container_of(w, struct render_job, work);
    (void)status;
    job->cb(job->rc, &job->err, job->rc == 0 ? job->objects : NULL, job->commit, job->data);
    json_decref(job->objects);
    free(job);
}

int ws_sync_render(uv_loop_t *loop, const struct ws_app *app, const struct ws_sync_opts *opts,
                   ws_render_done_cb done, void *data)
{
    struct render_job *job = calloc(1, sizeof(*job));
    if (!job)
        return WS_ENOMEM;
    job->app = app;
    job->opts = opts;
    job->cb = done;
    job->data = data;
    ws_err_clear(&job->err);
    return uv_queue_work(loop, &job->work, render_work, render_after) < 0 ? WS_EIO : 0;
}

/* "group/Kind" of every kind a CRD of this application defines, collected
 * once after rendering so the checks below are lookups. */
static json_t *crd_kinds(const json_t *objects)
{
    json_t *set = json_object(), *o;
    size_t i;
    json_array_foreach(objects, i, o) {
        json_t *spec = json_object_get(o, "spec");
        const char *g = json_string_value(json_object_get(spec, "group"));
        const char *k = json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
        const char *ok = json_string_value(json_object_get(o, "kind"));
        char key[400];
        if (ok && strcmp(ok, "CustomResourceDefinition") == 0 && g && k) {
            snprintf(key, sizeof(key), "%s/%s", g, k);
            json_object_set_new(set, key, json_true()); /* steals */
        }
    }
    return set;
}

static void on_rendered(int code, const struct ws_err *e, json_t *objects, const char *commit,
                        void *data)
{
    struct ws_sync *s = data;
    snprintf(s->commit, sizeof(s->commit), "%s", commit ? commit : "");
    if (s->canceled || s->failed) { /* canceled, or syncTimeout passed, while rendering */
        finish(s);
        return;
    }
    if (code < 0) {
        /* git trouble is "cannot reach"; anything else is bad input */
        ws__sync_fail(s, code == WS_ENET || code == WS_EAUTH ? code : WS_EINVAL, "%s", e->msg);
        finish(s); /* ws__sync_fail() leaves the render stage to us */
        return;
    }
    s->objects = json_incref(objects);
    s->crd_kinds = crd_kinds(objects);
    ws__sync_say(s, "rendered %zu %s at %.12s", json_array_size(objects),
                 ws_plural(json_array_size(objects), "object", "objects"), s->commit);
    ws__sync_advance(s);
}

/* ---- validate ----------------------------------------------------------- */

int ws__sync_defined_here(const struct ws_sync *s, const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *slash = av ? strchr(av, '/') : NULL;
    char key[400];
    if (!slash || !kind || !s->crd_kinds)
        return 0;
    snprintf(key, sizeof(key), "%.*s/%s", (int)(slash - av), av, kind);
    return json_object_get(s->crd_kinds, key) != NULL;
}

void ws__sync_step_done(struct ws_sync *s)
{
    if (--s->outstanding == 0)
        ws__sync_advance(s);
}

static void on_resolved(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    if (res->code < 0 && !s->failed) {
        int code = res->code == WS_ENOTFOUND ? WS_EINVAL : res->code;
        ws__sync_fail(s, code, "%s", res->err->msg);
    }
    ws__sync_step_done(s);
}

static void on_inventory_read(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    if (res->code == 0)
        s->inventory_old = ws_inventory_refs(res->body);
    else if (res->code == WS_ENOTFOUND)
        s->inventory_old = json_array();
    else if (!s->failed)
        ws__sync_fail(s, res->code, "reading the inventory: %s", res->err->msg);
    ws__sync_step_done(s);
}

static void validate(struct ws_sync *s)
{
    size_t i;
    json_t *o;
    char name[300];
    struct ws_kube_ref inv = {"v1", "ConfigMap", s->opts.inventory_namespace, name};
    ws_inventory_name(name, sizeof(name), s->app->name);
    s->outstanding = 1;
    json_array_foreach(s->objects, i, o) {
        struct ws_kube_ref ref = ws_kube_ref_of(o);
        if (ws__sync_defined_here(s, o) || ws_sync_is_child(o))
            continue;
        s->outstanding++;
        ws_kube_resolve(s->kube, &ref, on_resolved, s);
    }
    s->outstanding++;
    ws_kube_get(s->kube, &inv, on_inventory_read, s);
    ws__sync_step_done(s);
}

/* ---- plan ---------------------------------------------------------------- */

/* Scope from discovery; -1 (unknown: a kind a CRD of this application
 * defines) lets plan.c read it from that CRD. */
static int scope_of(const char *api_version, const char *kind, void *data)
{
    struct ws_sync *s = data;
    return ws_kube_is_namespaced(s->kube, api_version, kind);
}

#define RESOURCES_FINALIZER "resources-finalizer.argocd.argoproj.io"

/* A child's inventory entry: its reference, where it deploys and whether
 * its resources go with it when it leaves Git (Argo CD's finalizer). */
static json_t *child_ref(const json_t *obj)
{
    json_t *ref = ws_inventory_ref(obj), *f;
    json_t *dest = json_object_get(json_object_get(obj, "spec"), "destination");
    size_t i;
    int cascade = 0;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, f) {
        const char *v = json_string_value(f);
        if (v && strncmp(v, RESOURCES_FINALIZER, strlen(RESOURCES_FINALIZER)) == 0)
            cascade = 1;
    }
    if (ref && cascade)
        json_object_set_new(ref, "cascade", json_true()); /* steals */
    if (ref && json_is_object(dest))
        json_object_set_new(ref, "destination", /* steals */
                            json_pack("{s:s?, s:s?}", "server", json_string_value(json_object_get(dest, "server")),
                                      "name", json_string_value(json_object_get(dest, "name"))));
    return ref;
}

struct ws_app *ws_sync_removal_app(const json_t *ref)
{
    struct ws_app *a = calloc(1, sizeof(*a));
    const json_t *dest = json_object_get(ref, "destination");
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *server = json_string_value(json_object_get(dest, "server"));
    const char *dname = json_string_value(json_object_get(dest, "name"));
    if (!a)
        return NULL;
    a->name = ws_strdup0(name);
    a->file = strdup("(removed from Git)");
    a->annotations = json_object();
    a->labels = json_object();
    a->dest_server = ws_strdup0(server);
    a->dest_name = ws_strdup0(server ? NULL : dname);
    a->project = strdup("default");
    a->auto_prune = 1;
    a->allow_empty = 1;
    if (!a->name || !a->file || !a->annotations || !a->labels || !a->project || (!a->dest_server && !a->dest_name)) {
        ws_app_free(a);
        free(a);
        return NULL;
    }
    return a;
}

static int make_plan(struct ws_sync *s)
{
    struct ws_err e;
    size_t i;
    ws_err_clear(&e);
    if (ws_plan_build(&s->plan, s->objects, s->app->dest_namespace, scope_of, s, &e) < 0) {
        ws__sync_fail(s, WS_EINVAL, "%s", e.msg);
        return -1;
    }
    s->planned = 1;
    if (!(s->items = calloc(s->plan.nitems + 1, sizeof(*s->items)))) {
        ws__sync_fail(s, WS_ENOMEM, "out of memory");
        return -1;
    }
    s->planned_refs = json_array();
    for (i = 0; i < s->plan.nitems; i++) {
        struct item *it = &s->items[i];
        const struct ws_plan_item *p = &s->plan.items[i];
        const char *n = json_string_value(json_object_get(json_object_get(p->obj, "metadata"), "name"));
        it->s = s;
        it->idx = i;
        snprintf(it->name, sizeof(it->name), "%s", n ? n : "");
        it->health.status = WS_HEALTH_UNKNOWN;
        if (p->is_child) {
            json_array_append_new(s->planned_refs, child_ref(p->obj)); /* steals */
        } else if (!p->is_hook) {
            /* tracking identity on every object we own */
            json_t *md = json_object_get(p->obj, "metadata"), *ann = json_object_get(md, "annotations");
            char *tid = ws_tracking_id(s->app->name, p->obj);
            if (!json_is_object(ann)) {
                ann = json_object();
                json_object_set_new(md, "annotations", ann); /* steals */
            }
            json_object_set_new(ann, WS_TRACKING_ANNOTATION, json_string(tid)); /* steals */
            free(tid);
            json_array_append_new(s->planned_refs, ws_inventory_ref(p->obj)); /* steals */
        }
    }
    ws__sync_say(s, "plan: %zu %s in %zu %s%s", s->plan.nitems, ws_plural(s->plan.nitems, "object", "objects"),
                 s->plan.nwaves, ws_plural(s->plan.nwaves, "wave", "waves"),
                 s->plan.nskipped ? " (some hooks skipped)" : "");
    return 0;
}

/* ---- inventory ----------------------------------------------------------- */

static void on_inventory_written(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    if (res->code < 0 && !s->failed)
        ws__sync_fail(s, res->code, "writing the inventory: %s", res->err->msg);
    ws__sync_step_done(s);
}

/* What the inventory should list at this stage: before the waves, what it
 * had and what is planned (a failed run must still be able to prune both);
 * after, what is planned and what was kept. A new reference. */
static json_t *inventory_refs(const struct ws_sync *s)
{
    return s->stage == ST_INVENTORY_PRE ? ws_inventory_union(s->inventory_old, s->planned_refs)
                                        : ws_inventory_union(s->planned_refs, s->kept_refs);
}

static void on_inventory_ns(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    json_t *refs = inventory_refs(s);
    json_t *cm = ws_inventory_configmap(s->app->name, s->opts.inventory_namespace, refs);
    if (res->code < 0) {
        ws__sync_fail(s, res->code, "creating the inventory namespace: %s", res->err->msg);
        ws__sync_step_done(s);
    } else {
        ws_kube_apply(s->kube, cm, NULL, WS_APPLY_FORCE, on_inventory_written, s);
    }
    json_decref(cm);
    json_decref(refs);
}

static void write_inventory(struct ws_sync *s)
{
    json_t *ns, *refs = inventory_refs(s);
    int same = refs && s->inventory_old && json_equal(refs, s->inventory_old);
    json_decref(refs);
    if (same) { /* already says so: nothing to write */
        ws__sync_advance(s);
        return;
    }
    ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name",
                   s->opts.inventory_namespace);
    s->outstanding = 1;
    ws_kube_apply(s->kube, ns, NULL, 0, on_inventory_ns, s);
    json_decref(ns);
}

/* ---- namespace ------------------------------------------------------------- */

static void on_namespace(const struct ws_kube_result *res, void *data)
{
    struct ws_sync *s = data;
    if (res->code < 0 && res->status != 409) /* 409: it exists already, which is all we asked */
        ws__sync_fail(s, res->code, "CreateNamespace=true: %s", res->err->msg);
    ws__sync_step_done(s);
}

static void create_namespace(struct ws_sync *s)
{
    json_t *ns;
    if (!(s->app->sync_options & WS_OPT_CREATE_NAMESPACE) || !s->app->dest_namespace ||
        s->opts.dry_run) {
        ws__sync_advance(s);
        return;
    }
    ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                   "name", s->app->dest_namespace);
    s->outstanding = 1;
    ws__sync_say(s, "CreateNamespace=true: namespace %s", s->app->dest_namespace);
    /* created when missing, as Argo CD does; never applied: an apply by our
       field manager would take back every field a Namespace manifest of the
       application set (its labels, the tracking annotation) */
    ws_kube_create(s->kube, ns, 0, on_namespace, s);
    json_decref(ns);
}

/* ---- waves ---------------------------------------------------------------- */

static int in_stage_phase(const struct ws_sync *s, const struct ws_plan_wave *w)
{
    return s->stage == ST_SYNCFAIL ? w->phase == WS_PHASE_SYNCFAIL : w->phase != WS_PHASE_SYNCFAIL;
}

static void record_wave(struct ws_sync *s, const struct ws_plan_wave *w, const char *result,
                        const char *waited_on)
{
    if (strcmp(result, "Healthy") != 0) /* advancement is measured from Healthy waves only */
        s->last_healthy_ns = 0;
    json_t *r = json_pack("{s:s, s:i, s:I, s:I, s:I, s:s, s:I}", "phase", ws_phase_str(w->phase),
                          "wave", w->wave, "objects", (json_int_t)w->count, "startedMs",
                          (json_int_t)s->wave_started_ms, "durationMs",
                          (json_int_t)(ws__sync_elapsed(s) - s->wave_started_ms), "result", result,
                          "timeoutMs", (json_int_t)s->wave_timeout_ms);
    if (waited_on && *waited_on)
        json_object_set_new(r, "waitedOn", json_string(waited_on)); /* steals */
    emit(s, "wave", r);
    json_array_append_new(s->waves_report, r); /* steals */
}

static void hook_cleanup(struct item *it, int succeeded);

/* The current wave is over (all Healthy, or a SyncFail wave ending either
 * way): stop its timer and watches, record it, start the next one at once. */
static void wave_complete(struct ws_sync *s, const char *result)
{
    const struct ws_plan_wave *w = &s->plan.waves[s->wave_idx];
    size_t i, last = w->first;
    uint64_t last_ms = 0, healthy_ns = uv_hrtime(); /* the verdict; advancement counts from here */
    for (i = w->first; i < w->first + w->count; i++)
        if (s->items[i].healthy_ms >= last_ms) {
            last_ms = s->items[i].healthy_ms;
            last = i;
        }
    ws_timer_close(&s->wave_timer);
    for (i = w->first; i < w->first + w->count; i++)
        ws__sync_item_quiesce(&s->items[i]);
    record_wave(s, w, result, strcmp(result, "Healthy") == 0 ? ws__sync_pitem(&s->items[last])->ident : NULL);
    if (strcmp(result, "Healthy") == 0)
        s->last_healthy_ns = healthy_ns;
    ws__sync_say(s, "wave %s %d: %zu %s %s in %llu ms", ws_phase_str(w->phase), w->wave, w->count,
                 ws_plural(w->count, "object", "objects"),
        strcmp(result, "Healthy") == 0 ? "healthy" : "done", (unsigned long long)(ws__sync_elapsed(s) - s->wave_started_ms));
    s->wave_idx++;
    wave_start(s);
}

static void item_done(struct item *it)
{
    struct ws_sync *s = it->s;
    if (it->done)
        return;
    it->done = 1;
    it->state = IT_HEALTHY;
    it->healthy_ms = ws__sync_elapsed(s);
    it->result = it->result ? it->result : "Synced";
    emit_item(it, "Healthy");
    if (ws__sync_pitem(it)->is_hook)
        hook_cleanup(it, 1);
    if (--s->wave_pending == 0)
        wave_complete(s, s->stage == ST_SYNCFAIL && s->wave_failures ? "Failed" : "Healthy");
}

static void item_vsay(struct item *it, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void item_vsay(struct item *it, const char *fmt, va_list ap)
{
    free(it->message);
    if (vasprintf(&it->message, fmt, ap) < 0)
        it->message = NULL;
    ws_utf8_sanitize(it->message);
}

void ws__sync_item_say(struct item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    item_vsay(it, fmt, ap);
    va_end(ap);
}

static void item_fail(struct item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void item_fail(struct item *it, const char *fmt, ...)
{
    struct ws_sync *s = it->s;
    const struct ws_plan_wave *w = &s->plan.waves[s->wave_idx];
    va_list ap;
    it->state = IT_FAILED;
    it->result = "Failed";
    va_start(ap, fmt);
    item_vsay(it, fmt, ap);
    va_end(ap);
    emit_item(it, "Failed");
    if (ws__sync_pitem(it)->is_hook)
        hook_cleanup(it, 0);
    if (s->stage == ST_SYNCFAIL) { /* a failing SyncFail hook: record, go on */
        if (!it->done) {
            it->done = 1;
            s->wave_failures++;
            if (--s->wave_pending == 0)
                wave_complete(s, "Failed");
        }
        return;
    }
    record_wave(s, w, "Failed", ws__sync_pitem(it)->ident);
    ws__sync_fail(s, WS_EHTTP, "%s %s: %s", ws__sync_pitem(it)->is_hook ? "hook" : "object", ws__sync_pitem(it)->ident,
         it->message ? it->message : "out of memory");
}

/* Pods of a Job, kept by name for health. */
static void on_pod_event(enum ws_watch_event ev, json_t *pod, const struct ws_err *e, void *data)
{
    struct item *it = data;
    const char *name;
    if (ev == WS_WATCH_ERROR || ev == WS_WATCH_SYNCED || !pod)
        return;
    name = json_string_value(json_object_get(json_object_get(pod, "metadata"), "name"));
    if (!it->pods)
        it->pods = json_object();
    if (!name)
        return;
    if (ev == WS_WATCH_DELETED)
        json_object_del(it->pods, name);
    else
        json_object_set(it->pods, name, pod);
    (void)e;
    item_check_health(it);
}

static void on_recheck(uv_timer_t *t)
{
    struct item *it = t->data;
    ws_timer_close(&it->recheck);
    item_check_health(it);
}

/* The object's health: a custom (Lua) check for its kind when configured,
 * else the built-in rules. A verdict that may change with time alone (an
 * SLA running out) is looked at again then, without waiting for an event. */
static void assess(struct item *it, const json_t *pods)
{
    const struct ws_sync *s = it->s;
    ws_health_clear(&it->health); /* the built-in rules leave full_message alone */
    if (!s->opts.lua_health || !ws_lua_health_assess(s->opts.lua_health, it->live, &it->health))
        ws_health_assess(&it->health, it->live, pods);
    else
        it->health.recheck_at = 0;
    ws_timer_close(&it->recheck);
    if (it->health.recheck_at > 0 && it->health.status != WS_HEALTH_HEALTHY &&
        it->health.status != WS_HEALTH_DEGRADED) {
        int64_t in_s = it->health.recheck_at - ws_wall_s();
        it->recheck = ws_timer_start(ws_kube_loop(s->kube), (uint64_t)(in_s > 0 ? in_s : 0) * 1000 + 10,
                                     on_recheck, it);
    }
}

static void start_pod_watch(struct item *it);

static void item_check_health(struct item *it)
{
    json_t *pods = NULL;
    const char *key;
    json_t *p;
    if (it->done || it->state == IT_FAILED || !it->live)
        return;
    if (it->pods) {
        pods = json_array();
        json_object_foreach(it->pods, key, p)
            json_array_append(pods, p);
    }
    assess(it, pods);
    json_decref(pods);
    if (it->health.status == WS_HEALTH_HEALTHY)
        item_done(it);
    else if (it->health.status == WS_HEALTH_DEGRADED)
        item_fail(it, "Degraded: %s", ws_health_message(&it->health));
}

static void on_object_event(enum ws_watch_event ev, json_t *obj, const struct ws_err *e, void *data)
{
    struct item *it = data;
    if (ev == WS_WATCH_ERROR) {
        item_fail(it, "watch failed: %s", e->msg);
        return;
    }
    if (ev == WS_WATCH_SYNCED || ev == WS_WATCH_RELISTING)
        return;
    if (ev == WS_WATCH_DELETED) {
        json_decref(it->live);
        it->live = NULL;
        it->health.status = WS_HEALTH_MISSING;
        ws_health_clear(&it->health);
        snprintf(it->health.message, sizeof(it->health.message), "deleted while waiting");
        return;
    }
    json_decref(it->live);
    it->live = json_incref(obj);
    /* some kinds name their pods only once running (a RayJob's cluster) */
    if (!it->pod_watch)
        start_pod_watch(it);
    item_check_health(it);
}

/* Watch the pods of kinds whose health depends on them (Jobs, training
 * jobs, model servers), once the object says which they are. */
static void start_pod_watch(struct item *it)
{
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    char selector[512];
    if (it->pod_watch || !it->live || !ws_health_pod_selector(it->live, selector, sizeof(selector)))
        return;
    if (it->s->opts.lua_health && ws_lua_health_source(it->s->opts.lua_health, it->live))
        return; /* a script decides from the object alone: pod events would only re-run it */
    struct ws_kube_ref pods = {"v1", "Pod", ref.namespace_, NULL};
    struct ws_kube_watch_opts o = {.label_selector = selector};
    it->pod_watch = ws_kube_watch_start(it->s->kube, &pods, &o, on_pod_event, it);
}

static void watch_item(struct item *it)
{
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    const char *rv = json_string_value(json_object_get(json_object_get(it->live, "metadata"), "resourceVersion"));
    /* Watch from the apply's resourceVersion: we have the object as of
     * then, and a LIST would wait for the apiserver's watch cache to catch
     * up with etcd (up to ~100 ms). */
    struct ws_kube_watch_opts wo = {.resource_version = rv};
    it->state = IT_WAITING;
    it->watch = ws_kube_watch_start(it->s->kube, &ref, rv ? &wo : NULL, on_object_event, it);
    start_pod_watch(it);
}

int ws__sync_will_recreate(const struct item *it)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    return ((p->options | it->s->app->sync_options) & WS_OPT_FORCE) ||
           (p->is_hook && (p->hook_delete & WS_HOOK_DELETE_BEFORE_CREATION));
}

/* 422 Invalid because a field cannot change (a Job's template, a
 * Service's clusterIP): the Status message and causes say "immutable". */
int ws__sync_immutable_error(const struct ws_kube_result *res)
{
    const char *msg = json_string_value(json_object_get(res->body, "message"));
    json_t *cause;
    size_t i;
    if (res->status != 422)
        return 0;
    if (msg && strstr(msg, "immutable"))
        return 1;
    json_array_foreach(json_object_get(json_object_get(res->body, "details"), "causes"), i, cause) {
        const char *m = json_string_value(json_object_get(cause, "message"));
        if (m && strstr(m, "immutable"))
            return 1;
    }
    return res->err && strstr(res->err->msg, "immutable");
}

static void wait_gone_then_apply(struct item *it);

/* ---- RespectIgnoreDifferences ------------------------------------------------ */

/* The option on the Application (unless RespectIgnoreDifferences=false on
 * the object) or on the object, and a spec.ignoreDifferences path for it. Not
 * hooks: they are created afresh each run, never compared with a live object. */
int ws__sync_respects_ignore(const struct item *it)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    const struct ws_app *a = it->s->app;
    int on = (p->options & WS_OPT_RESPECT_IGNORE) ||
             ((a->sync_options & WS_OPT_RESPECT_IGNORE) && !(p->options & WS_OPT_RESPECT_IGNORE_FALSE));
    return on && !p->is_hook && ws_ignore_has_paths(a->ignore, a->nignore, p->obj);
}

/* Metadata the apiserver keeps for itself: an ignored /metadata copied from
 * the live object would bring them, and in an apply they are preconditions
 * (resourceVersion, uid) or refused (managedFields). */
static const char *const server_metadata[] = {"managedFields", "resourceVersion", "uid", "creationTimestamp",
                                              "generation", "selfLink", "deletionTimestamp",
                                              "deletionGracePeriodSeconds"};

json_t *ws__sync_desired(struct item *it, const json_t *live, int *kept)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    const struct ws_app *a = it->s->app;
    json_t *obj, *md, *ann;
    const json_t *git_md = json_object_get(p->obj, "metadata");
    const char *tid = json_string_value(json_object_get(json_object_get(git_md, "annotations"),
                                                        WS_TRACKING_ANNOTATION));
    size_t i;
    int n;
    if (kept)
        *kept = 0;
    /* an object that does not exist yet is applied as Git says */
    if (!live || !ws__sync_respects_ignore(it))
        return json_incref(p->obj);
    if (!(obj = json_deep_copy(p->obj)))
        return NULL;
    /* Each ignored field Git sets is sent with its live value, not left out:
     * under server-side apply, leaving out a field wavesync owns makes the
     * apiserver delete it (an HPA's replicas would fall back to 1), while
     * sending the live value changes nothing and shares ownership without a
     * conflict (SSA conflicts only on a different value; one that changes
     * between our GET and the apply is reported as a conflict, and the next
     * sync takes the new one). A field live lacks is left out (nothing to
     * delete), and one only live has is carried (ignore.h). */
    if ((n = ws_ignore_respect(obj, live, a->ignore, a->nignore)) < 0) {
        json_decref(obj);
        return NULL;
    }
    if (n == 0) { /* the live values are Git's already */
        json_decref(obj);
        return json_incref(p->obj);
    }
    /* what is ours alone stays ours: the tracking annotation (the inventory
       and prune find the object by it), and the server's bookkeeping is not
       sent back */
    md = json_object_get(obj, "metadata");
    if (tid && json_is_object(md)) {
        if (!json_is_object(ann = json_object_get(md, "annotations")))
            json_object_set_new(md, "annotations", (ann = json_object())); /* steals */
        json_object_set_new(ann, WS_TRACKING_ANNOTATION, json_string(tid)); /* steals */
    }
    for (i = 0; json_is_object(md) && i < WS_ARRAY_SIZE(server_metadata); i++)
        if (!json_object_get(git_md, server_metadata[i]))
            json_object_del(md, server_metadata[i]);
    if (!json_object_get(p->obj, "status"))
        json_object_del(obj, "status"); /* a subresource: an apply of the object does not set it */
    if (kept)
        *kept = n;
    return obj;
}

/* The object this item applies (borrowed). */
static const json_t *item_obj(const struct item *it)
{
    return it->apply_obj ? it->apply_obj : ws__sync_pitem(it)->obj;
}

static void on_applied(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    struct ws_sync *s = it->s;
    it->req = NULL;
    if (res->code < 0) {
        if (ws__sync_immutable_error(res) && ws__sync_will_recreate(it) && !it->recreated) {
            /* Force=true: an immutable field changed (a Job's template):
             * delete, wait until it is gone, apply again. */
            it->recreated = 1;
            ws__sync_say(s, "%s: immutable field changed; Force=true: recreating", ws__sync_pitem(it)->ident);
            wait_gone_then_apply(it);
            return;
        }
        item_fail(it, "%s", res->err->msg);
        return;
    }
    it->applied_ms = ws__sync_elapsed(s);
    emit_item(it, "Applied");
    if (res->body) {
        const char *n = json_string_value(json_object_get(json_object_get(res->body, "metadata"), "name"));
        if (n)
            snprintf(it->name, sizeof(it->name), "%s", n);
        json_decref(it->live);
        it->live = json_incref(res->body);
    }
    /* Most kinds are Healthy straight from the apply response; watch only
     * what is not. */
    assess(it, NULL);
    if (it->health.status == WS_HEALTH_HEALTHY) {
        item_done(it);
        return;
    }
    if (it->health.status == WS_HEALTH_DEGRADED) {
        item_fail(it, "Degraded: %s", ws_health_message(&it->health));
        return;
    }
    watch_item(it);
}

static void on_replace_get(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    json_t *obj;
    it->req = NULL;
    if (res->code == WS_ENOTFOUND) {
        it->req = ws_kube_create(it->s->kube, item_obj(it), 0, on_applied, it);
        return;
    }
    if (res->code < 0) {
        item_fail(it, "%s", res->err->msg);
        return;
    }
    obj = json_deep_copy(item_obj(it));
    json_object_set(json_object_get(obj, "metadata"), "resourceVersion",
                    json_object_get(json_object_get(res->body, "metadata"), "resourceVersion"));
    it->req = ws_kube_replace(it->s->kube, obj, on_applied, it);
    json_decref(obj);
}

static void on_outofsync_get(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    it->req = NULL;
    if (res->code == 0 && ws_diff_is_subset(item_obj(it), res->body)) {
        /* ApplyOutOfSyncOnly: already as desired; only wait for health */
        struct ws_kube_result same = *res;
        it->result = "Unchanged";
        same.code = 0;
        on_applied(&same, it);
        return;
    }
    it->req = ws_kube_apply(it->s->kube, item_obj(it), NULL, ws__sync_apply_flags(it->s, ws__sync_pitem(it)->options),
                            on_applied, it);
}

/* RespectIgnoreDifferences: the live object is here; work out what to apply,
 * then go on as the item's other options say (Replace, ApplyOutOfSyncOnly
 * take the same GET's result). */
static void on_respect_get(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    unsigned opts = ws__sync_pitem(it)->options | it->s->app->sync_options;
    int kept = 0;
    it->req = NULL;
    if (res->code < 0 && res->code != WS_ENOTFOUND) {
        item_fail(it, "%s", res->err->msg);
        return;
    }
    if (res->code == 0 && !(it->apply_obj = ws__sync_desired(it, res->body, &kept))) {
        item_fail(it, "out of memory");
        return;
    }
    if (kept)
        ws__sync_say(it->s, "%s: RespectIgnoreDifferences: %d ignored %s kept as live", ws__sync_pitem(it)->ident,
                     kept, ws_plural((size_t)kept, "field", "fields"));
    if (opts & WS_OPT_REPLACE)
        on_replace_get(res, it);
    else if (opts & WS_OPT_OUT_OF_SYNC_ONLY)
        on_outofsync_get(res, it);
    else
        it->req = ws_kube_apply(it->s->kube, item_obj(it), NULL, ws__sync_apply_flags(it->s, opts), on_applied, it);
}

static void item_apply(struct item *it)
{
    struct ws_sync *s = it->s;
    const struct ws_plan_item *p = ws__sync_pitem(it);
    unsigned opts = p->options | s->app->sync_options;
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    if (!s->wave_first_apply_seen) {
        s->wave_first_apply_seen = 1;
        if (s->last_healthy_ns) {
            json_t *last = json_array_get(s->waves_report, json_array_size(s->waves_report) - 1);
            /* wave advancement: previous wave Healthy → this wave's first
             * apply request, in milliseconds with microsecond precision */
            json_object_set_new(last, "advanceMs", /* steals */
                                json_real((double)(uv_hrtime() - s->last_healthy_ns) / 1e6));
        }
    }
    it->state = IT_APPLYING;
    json_decref(it->apply_obj); /* applied again (Force=true): the live object may have changed */
    it->apply_obj = NULL;
    if (p->is_hook && !it->name[0]) { /* generateName hook */
        it->req = ws_kube_create(s->kube, p->obj, 0, on_applied, it);
    } else if (ws__sync_respects_ignore(it)) {
        it->req = ws_kube_get(s->kube, &ref, on_respect_get, it);
    } else if (opts & WS_OPT_REPLACE) {
        it->req = ws_kube_get(s->kube, &ref, on_replace_get, it);
    } else if ((opts & WS_OPT_OUT_OF_SYNC_ONLY) && !p->is_hook) {
        it->req = ws_kube_get(s->kube, &ref, on_outofsync_get, it);
    } else {
        it->req = ws_kube_apply(s->kube, p->obj, NULL, ws__sync_apply_flags(s, opts), on_applied, it);
    }
}

/* Deletion, then re-creation: watch the object until it is gone. */
static void on_gone_event(enum ws_watch_event ev, json_t *obj, const struct ws_err *e, void *data)
{
    struct item *it = data;
    (void)obj;
    if (ev == WS_WATCH_ERROR) {
        item_fail(it, "waiting for deletion: %s", e->msg);
        return;
    }
    if (ev == WS_WATCH_ADDED || ev == WS_WATCH_MODIFIED || ev == WS_WATCH_RELISTING) {
        it->gone_seen = ev != WS_WATCH_RELISTING; /* a re-list that does not show it: gone */
        return;
    }
    if (ev == WS_WATCH_DELETED || (ev == WS_WATCH_SYNCED && !it->gone_seen)) {
        ws_kube_watch_stop(it->watch);
        it->watch = NULL;
        item_apply(it);
    }
}

static void on_deleted_for_recreate(const struct ws_kube_result *res, void *data)
{
    struct item *it = data;
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    it->req = NULL;
    if (res->code < 0 && res->code != WS_ENOTFOUND) {
        item_fail(it, "%s", res->err->msg);
        return;
    }
    it->gone_seen = 0;
    it->watch = ws_kube_watch_start(it->s->kube, &ref, NULL, on_gone_event, it);
}

static void wait_gone_then_apply(struct item *it)
{
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    it->state = IT_DELETING;
    it->req = ws_kube_delete(it->s->kube, &ref, "Background", on_deleted_for_recreate, it);
}

static void on_hook_deleted(const struct ws_kube_result *res, void *data)
{
    (void)res;
    (void)data; /* best effort: a hook left behind is reported by the next run's BeforeHookCreation */
}

static void hook_cleanup(struct item *it, int succeeded)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    struct ws_kube_ref ref = ws__sync_item_ref(it);
    unsigned want = succeeded ? WS_HOOK_DELETE_SUCCEEDED : WS_HOOK_DELETE_FAILED;
    if (!(p->hook_delete & want) || !it->name[0])
        return;
    ws_kube_delete(it->s->kube, &ref, "Background", on_hook_deleted, NULL);
}

/* App of apps: the caller syncs the child; ws_sync_child_done answers. */
static void child_begin(struct item *it)
{
    struct ws_sync *s = it->s;
    const char *kind = json_string_value(json_object_get(ws__sync_pitem(it)->obj, "kind"));
    struct ws_err e;
    ws_err_clear(&e);
    it->state = IT_WAITING;
    it->applied_ms = ws__sync_elapsed(s);
    emit_item(it, "Applied");
    it->health.status = WS_HEALTH_PROGRESSING;
    snprintf(it->health.message, sizeof(it->health.message), "syncing %s %s", kind, it->name);
    if (!s->opts.sync_child) {
        item_fail(it, "%s %s: child applications are synced by `wavesync sync` and `wavesync serve` only",
                  kind, it->name);
        return;
    }
    switch (s->opts.sync_child(s, kind, it->name, s->opts.child_data, &e)) {
    case 0:
        return; /* ws_sync_child_done answers */
    case 1:
        it->health.status = WS_HEALTH_HEALTHY;
        it->health.message[0] = '\0';
        it->result = "Skipped";
        ws__sync_item_say(it, "%s", e.msg);
        item_done(it);
        return;
    default:
        item_fail(it, "%s", e.msg);
    }
}

void ws_sync_child_done(struct ws_sync *s, const char *name, int ok, const char *message)
{
    const struct ws_plan_wave *w;
    size_t i;
    if (s->stage != ST_WAVES || s->wave_idx >= s->plan.nwaves)
        return;
    w = &s->plan.waves[s->wave_idx];
    for (i = w->first; i < w->first + w->count; i++) {
        struct item *it = &s->items[i];
        if (!ws__sync_pitem(it)->is_child || it->done || it->state != IT_WAITING || strcmp(it->name, name) != 0)
            continue;
        if (ok) {
            it->health.status = WS_HEALTH_HEALTHY;
            it->health.message[0] = '\0';
            it->result = "Synced";
            item_done(it);
        } else {
            it->health.status = WS_HEALTH_DEGRADED;
            snprintf(it->health.message, sizeof(it->health.message), "%s", message ? message : "sync failed");
            item_fail(it, "child %s: %s", it->name, message ? message : "sync failed");
        }
        return;
    }
}

static void item_begin(struct item *it)
{
    const struct ws_plan_item *p = ws__sync_pitem(it);
    if (p->is_child)
        child_begin(it);
    else if (it->unchanged) { /* already live as Git says, and Healthy */
        it->result = "Unchanged";
        it->health.status = WS_HEALTH_HEALTHY;
        item_done(it);
    } else if (p->is_hook && (p->hook_delete & WS_HOOK_DELETE_BEFORE_CREATION) && it->name[0])
        wait_gone_then_apply(it);
    else
        item_apply(it);
}

static void on_wave_deadline(uv_timer_t *t)
{
    struct ws_sync *s = t->data;
    const struct ws_plan_wave *w = &s->plan.waves[s->wave_idx];
    struct ws_buf b;
    size_t i;
    ws_buf_init(&b, 3500);
    for (i = w->first; i < w->first + w->count; i++) {
        struct item *it = &s->items[i];
        int throttled = ws_kube_req_throttled(it->req);
        if (it->done)
            continue;
        ws_buf_appendf(&b, "%s%s: %s%s%s", b.len ? "; " : "", ws__sync_pitem(it)->ident,
                       throttled                  ? "still applying, throttled by the API server (429 Too Many Requests)"
                       : it->state == IT_APPLYING ? "still applying"
                       : it->state == IT_DELETING ? "still being deleted"
                                                  : ws_health_str(it->health.status),
                       it->health.message[0] && it->state == IT_WAITING ? ": " : "",
                       it->state == IT_WAITING ? it->health.message : "");
        it->result = "Failed";
        if (throttled)
            ws__sync_item_say(it, "not applied at the wave's deadline: throttled by the API server (%d x 429 Too "
                                  "Many Requests)", throttled);
        else
            ws__sync_item_say(it, "not Healthy at the wave's deadline: %s: %s", ws_health_str(it->health.status),
                              ws_health_message(&it->health));
    }
    s->wave_timer = NULL; /* this timer; closed below */
    ws_timer_close(&t);
    ws_utf8_sanitize(b.data);
    if (s->stage == ST_SYNCFAIL) { /* the run has failed already: go on to the next hooks */
        ws_buf_free(&b);
        for (i = w->first; i < w->first + w->count; i++)
            s->items[i].done = 1;
        wave_complete(s, "Timeout");
        return;
    }
    record_wave(s, w, "Timeout", NULL);
    ws__sync_fail(s, WS_ETIMEOUT, "wave %d (%s) not Healthy within %s: %s", w->wave, ws_phase_str(w->phase),
         "its deadline", b.data ? b.data : "");
    ws_buf_free(&b);
}

static uint64_t wave_timeout(const struct ws_sync *s, const struct ws_plan_wave *w)
{
    if (w->timeout_ms)
        return w->timeout_ms;
    if (s->app->wave_timeout_ms)
        return s->app->wave_timeout_ms;
    return s->opts.wave_timeout_ms ? s->opts.wave_timeout_ms : 300000;
}

static void wave_start(struct ws_sync *s)
{
    const struct ws_plan_wave *w;
    size_t i;
    while (s->wave_idx < s->plan.nwaves && !in_stage_phase(s, &s->plan.waves[s->wave_idx]))
        s->wave_idx++;
    if (s->wave_idx >= s->plan.nwaves) {
        if (s->stage == ST_SYNCFAIL)
            finish(s);
        else
            ws__sync_advance(s);
        return;
    }
    w = &s->plan.waves[s->wave_idx];
    {
        char what[64];
        snprintf(what, sizeof(what), "wave %s %d", ws_phase_str(w->phase), w->wave);
        if (ws__sync_fenced(s, what))
            return;
    }
    ws_timer_close(&s->wave_timer);
    s->wave_failures = 0;
    s->wave_started_ms = ws__sync_elapsed(s);
    s->wave_timeout_ms = wave_timeout(s, w);
    s->wave_pending = w->count;
    s->wave_first_apply_seen = 0;
    ws__sync_say(s, "wave %s %d: applying %zu %s (deadline %llu s)", ws_phase_str(w->phase), w->wave,
                 w->count, ws_plural(w->count, "object", "objects"), (unsigned long long)(s->wave_timeout_ms / 1000));
    if (s->opts.event) {
        json_t *ev = json_pack("{s:s, s:i, s:I, s:I, s:I, s:s}", "phase", ws_phase_str(w->phase), "wave", w->wave,
                               "objects", (json_int_t)w->count, "startedMs", (json_int_t)s->wave_started_ms,
                               "timeoutMs", (json_int_t)s->wave_timeout_ms, "result", "Running");
        emit(s, "wave", ev);
        json_decref(ev);
    }
    s->wave_timer = ws_timer_start(s->loop, s->wave_timeout_ms, on_wave_deadline, s);
    /* Snapshot: an item may finish synchronously and start the next wave,
     * or fail and move the run to its SyncFail hooks. */
    {
        size_t first = w->first, count = w->count, idx = s->wave_idx;
        enum stage stage = s->stage;
        int failed = s->failed;
        for (i = first; i < first + count && s->wave_idx == idx && s->stage == stage && s->failed == failed;
             i++)
            item_begin(&s->items[i]);
    }
}

static void run_syncfail(struct ws_sync *s)
{
    size_t i;
    int any = 0;
    for (i = 0; i < s->plan.nwaves; i++)
        if (s->plan.waves[i].phase == WS_PHASE_SYNCFAIL)
            any = 1;
    if (!s->planned || !any || s->canceled) {
        finish(s);
        return;
    }
    set_stage(s, ST_SYNCFAIL);
    ws__sync_say(s, "running SyncFail hooks");
    s->wave_idx = 0;
    wave_start(s);
}

/* ---- the stage machine ---------------------------------------------------- */

static void on_sync_deadline(uv_timer_t *t)
{
    struct ws_sync *s = t->data;
    s->sync_timer = NULL;
    ws_timer_close(&t);
    if (s->failed && s->stage == ST_SYNCFAIL) { /* even SyncFail hooks are bounded */
        wave_quiesce(s);
        finish(s);
        return;
    }
    ws__sync_fail(s, WS_ETIMEOUT, "the sync did not finish within syncTimeout (%llu s)",
         (unsigned long long)(s->opts.sync_timeout_ms / 1000));
}

/* The one place the stage moves forward. */
void ws__sync_advance(struct ws_sync *s)
{
    if (s->canceled) {
        finish(s);
        return;
    }
    if (s->failed) {
        after_failure(s);
        return;
    }
    switch (s->stage) {
    case ST_RENDER:
        set_stage(s, ST_VALIDATE);
        validate(s);
        return;
    case ST_VALIDATE:
        set_stage(s, ST_PLAN);
        if (make_plan(s) < 0)
            return;
        if (s->opts.plan_only) {
            finish(s);
            return;
        }
        if (s->opts.dry_run)
            ws__sync_dry_run(s);
        else
            ws__sync_observe(s);
        return;
    case ST_PLAN:
        if (s->opts.dry_run) { /* the dry run's comparisons are done */
            set_stage(s, ST_PRUNE);
            ws__sync_prune(s);
            return;
        }
        set_stage(s, ST_PREFLIGHT);
        ws__sync_preflight(s);
        return;
    case ST_PREFLIGHT:
        set_stage(s, ST_INVENTORY_PRE);
        write_inventory(s);
        return;
    case ST_INVENTORY_PRE:
        set_stage(s, ST_NAMESPACE);
        create_namespace(s);
        return;
    case ST_NAMESPACE:
        set_stage(s, ST_WAVES);
        s->wave_idx = 0;
        wave_start(s);
        return;
    case ST_WAVES:
        set_stage(s, ST_PRUNE);
        ws__sync_prune(s);
        return;
    case ST_PRUNE:
        if (s->opts.dry_run) {
            finish(s);
            return;
        }
        set_stage(s, ST_INVENTORY_POST);
        write_inventory(s);
        return;
    case ST_INVENTORY_POST:
        finish(s);
        return;
    case ST_SYNCFAIL:
    case ST_DONE:
        return;
    }
}

int ws_sync_start(struct ws_sync **out, uv_loop_t *loop, struct ws_kube *kube,
                  const struct ws_app *app, const struct ws_sync_opts *opts,
                  ws_sync_progress_cb progress, ws_sync_done_cb done, void *data,
                  struct ws_err *err)
{
    struct ws_sync *s = calloc(1, sizeof(*s));
    int rc;
    if (!s)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    s->loop = loop;
    s->kube = kube;
    s->app = app;
    s->opts = *opts;
    if (!s->opts.inventory_namespace)
        s->opts.inventory_namespace = "wavesync";
    s->progress = progress;
    s->done_cb = done;
    s->data = data;
    s->t0 = ws_now_ms();
    s->waves_report = json_array();
    s->pruned = json_array();
    s->kept_refs = json_array();
    ws_err_clear(&s->err);
    s->stage = ST_RENDER;
    if (s->opts.sync_timeout_ms)
        s->sync_timer = ws_timer_start(s->loop, s->opts.sync_timeout_ms, on_sync_deadline, s);
    if ((rc = ws_sync_render(loop, app, &s->opts, on_rendered, s)) < 0) {
        ws_timer_close(&s->sync_timer);
        json_decref(s->waves_report);
        json_decref(s->pruned);
        json_decref(s->kept_refs);
        free(s);
        return ws_err_set(err, rc, "cannot start rendering");
    }
    if (out)
        *out = s;
    return 0;
}

static void on_canceled(uv_timer_t *t)
{
    struct ws_sync *s = t->data;
    s->wave_timer = NULL;
    ws_timer_close(&t);
    finish(s);
}

void ws_sync_cancel(struct ws_sync *s)
{
    if (!s || s->canceled || s->stage == ST_DONE)
        return;
    s->canceled = 1;
    s->code = WS_ECANCELED;
    snprintf(s->message, sizeof(s->message), "canceled");
    wave_quiesce(s);
    /* the render job, or the step's outstanding requests, call back and
     * finish then; otherwise finish from the loop, not inside this call */
    if (s->stage != ST_RENDER && s->outstanding == 0) {
        ws_timer_close(&s->wave_timer);
        s->wave_timer = ws_timer_start(s->loop, 0, on_canceled, s);
    }
}

int ws__sync_fenced(struct ws_sync *s, const char *before)
{
    char why[300] = "";
    if (!s->opts.may_write || s->opts.may_write(s->opts.may_write_data, why, sizeof(why)))
        return 0;
    ws__sync_say(s, "stopped before %s: %s", before, why);
    ws_sync_cancel(s);
    snprintf(s->message, sizeof(s->message), "stopped before %s: %s", before, why);
    return 1;
}

const char *ws_sync_app_name(const struct ws_sync *s)
{
    return s->app->name;
}

void ws_sync_status_line(const struct ws_sync *s, char *buf, size_t len)
{
    const struct ws_plan_wave *w;
    const struct item *waiting = NULL;
    size_t i, healthy = 0;
    if ((s->stage != ST_WAVES && s->stage != ST_SYNCFAIL) || s->wave_idx >= s->plan.nwaves) {
        snprintf(buf, len, "%s", stage_names[s->stage]);
        return;
    }
    w = &s->plan.waves[s->wave_idx];
    for (i = w->first; i < w->first + w->count; i++) {
        if (s->items[i].done)
            healthy++;
        else if (!waiting)
            waiting = &s->items[i];
    }
    snprintf(buf, len, "wave %s %d (%zu of %zu): %zu/%zu healthy after %llus", ws_phase_str(w->phase), w->wave,
             s->wave_idx + 1, s->plan.nwaves, healthy, w->count,
             (unsigned long long)((ws__sync_elapsed(s) - s->wave_started_ms) / 1000));
    if (waiting) {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "; waiting on %s (%s%s%s)", ws__sync_pitem(waiting)->ident,
                 waiting->state == IT_APPLYING   ? "applying"
                 : waiting->state == IT_DELETING ? "being replaced"
                                                 : ws_health_str(waiting->health.status),
                 waiting->state == IT_WAITING && waiting->health.message[0] ? ": " : "",
                 waiting->state == IT_WAITING ? waiting->health.message : "");
    }
}
