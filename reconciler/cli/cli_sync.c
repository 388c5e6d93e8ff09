/* cli_sync.c — the Git-driven commands: apps, render, plan, diff, sync.
 * One-shot: load the configuration, read the Applications (worker thread),
 * run the same sync engine the service runs, on a private loop, until done. */
#include "cli/cli.h"
#include "cli/table.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/catalog.h"
#include "sync/clusters.h"
#include "config/config.h"
#include "sync/deps.h"
#include "git/git.h"
#include "kube/kube.h"
#include "base/log.h"
#include "sync/plan.h"
#include "source/push.h"
#include "sync/report.h"
#include "sync/sync.h"
#include "base/util.h"
#include "base/yaml.h"

/* CI mode (`--repo-dir DIR --before SHA --after SHA`): what was pushed. */
struct ci_range {
    const char *dir, *repository, *ref, *before, *after, *default_branch;
};

struct cli {
    const struct ws_global_opts *g;
    int64_t started;        /* wall clock at start (ms): mirrors fetched since are current */
    uv_loop_t loop;
    struct ws_config cfg;
    int have_cfg;
    struct ws_catalog cat;
    int have_cat;
    struct ws_clusters clusters;
    const struct ci_range *ci;  /* CI mode: a local clone stands in for its repository */
    const struct ws_repo *ci_repo;
    json_t *ci_changed;         /* CI mode: the changed paths (NULL: every path counts) */
    struct ws_lua_health *lua;  /* health: scripts from wavesync.yaml, or NULL */
    struct ws_err err;
    int loaded, load_rc;
};

struct catalog_job {
    uv_work_t work;
    struct cli *c;
};

static void catalog_work(uv_work_t *w)
{
    struct catalog_job *j = ws_container_of(w, struct catalog_job, work);
    j->c->load_rc = ws_catalog_load(&j->c->cat, &j->c->cfg, 0, &j->c->err);
}

static void catalog_after(uv_work_t *w, int status)
{
    struct catalog_job *j = ws_container_of(w, struct catalog_job, work);
    (void)status;
    j->c->loaded = 1;
    j->c->have_cat = j->c->load_rc == 0;
    free(j);
}

int ws_cli_exit_for(int code)
{
    switch (ws_err_class(code)) {
    case WS_ERRC_OK:
        return 0;
    case WS_ERRC_UNREACHABLE:
        return WS_EXIT_UNREACHABLE;
    case WS_ERRC_INPUT:
        return WS_EXIT_USAGE;
    default:
        return WS_EXIT_FAILED;
    }
}

/* CI mode: which configured repository the local clone is — named by
 * --repository (name or URL), else by its origin remote's URL, else the only
 * one configured — and let the clone stand in for it (no fetch). */
static int ci_attach(struct cli *c)
{
    const struct ci_range *ci = c->ci;
    const struct ws_repo *repo = NULL;
    char *origin = NULL;
    if (ci->repository)
        repo = ws_config_repo_by_name(&c->cfg, ci->repository) ?: ws_config_repo_by_url(&c->cfg, ci->repository);
    else if (ws_git_remote_url(&origin, ci->dir, "origin", NULL) == 0)
        repo = ws_config_repo_by_url(&c->cfg, origin);
    if (!repo && !ci->repository && c->cfg.nrepos == 1)
        repo = &c->cfg.repos[0];
    if (!repo) {
        fprintf(stderr, "wavesync: --repo-dir %s: %s matches no repository in %s (use --repository NAME)\n",
                ci->dir, ci->repository ? ci->repository : origin ? origin : "the clone", c->cfg.path);
        free(origin);
        return WS_EXIT_USAGE;
    }
    free(origin);
    if (ws_git_set_local(repo->url, ci->dir) < 0)
        return WS_EXIT_FAILED;
    c->ci_repo = repo;
    return 0;
}

/* Trees a killed wavesync left behind (a tool running when it died). */
static void sweep_tmp(const char *state_dir)
{
    int n = ws_sync_sweep_tmp(state_dir);
    if (n > 0)
        ws_info("removed %d temporary %s left by a wavesync that was killed", n,
                ws_plural((unsigned)n, "tree", "trees"));
}

/* Load wavesync.yaml and the Applications. Prints the error and returns an
 * exit code on failure. */
static int cli_open(struct cli *c, const struct ws_global_opts *g, const struct ci_range *ci)
{
    struct catalog_job *j;
    const char *path = g->config ? g->config : "wavesync.yaml";
    int rc;
    memset(c, 0, sizeof(*c));
    c->g = g;
    c->ci = ci;
    c->started = ws_wall_ms();
    ws_err_clear(&c->err);
    uv_loop_init(&c->loop);
    if (ws_config_load(&c->cfg, path, &c->err) < 0) {
        fprintf(stderr, "wavesync: %s\n", c->err.msg);
        return WS_EXIT_USAGE;
    }
    c->have_cfg = 1;
    ws_clusters_init(&c->clusters, &c->loop, &c->cfg);
    if (ws_mkdir_p(c->cfg.settings.state_dir, 0700) < 0) {
        fprintf(stderr, "wavesync: cannot create the state folder %s: %s\n", c->cfg.settings.state_dir,
                strerror(errno));
        return WS_EXIT_USAGE;
    }
    sweep_tmp(c->cfg.settings.state_dir);
    if ((c->cfg.health.directory || c->cfg.health.scripts) &&
        ws_lua_health_new(&c->lua, &c->cfg.health, NULL, &c->err) < 0) {
        fprintf(stderr, "wavesync: %s\n", c->err.msg);
        return WS_EXIT_USAGE;
    }
    if (ci && (rc = ci_attach(c)) != 0)
        return rc;
    if (!(j = calloc(1, sizeof(*j))))
        return WS_EXIT_FAILED;
    j->c = c;
    uv_queue_work(&c->loop, &j->work, catalog_work, catalog_after);
    while (!c->loaded && uv_run(&c->loop, UV_RUN_ONCE))
        ;
    if (!c->loaded)
        c->load_rc = ws_err_set(&c->err, WS_EIO, "internal error: reading the applications stalled");
    if (c->load_rc < 0) {
        fprintf(stderr, "wavesync: %s\n", c->err.msg);
        return ws_cli_exit_for(c->load_rc);
    }
    for (size_t i = 0; i < json_array_size(c->cat.invalid); i++)
        ws_warn("%s", json_string_value(json_object_get(json_array_get(c->cat.invalid, i), "error")));
    for (size_t i = 0; i < json_array_size(c->cat.skipped); i++) {
        json_t *sk = json_array_get(c->cat.skipped, i);
        ws_warn("%s: %s %s skipped: %s", json_string_value(json_object_get(sk, "file")),
                json_string_value(json_object_get(sk, "kind")),
                json_string_value(json_object_get(sk, "name")) ?: "",
                json_string_value(json_object_get(sk, "reason")));
    }
    return 0;
}

static void drain_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void cli_close(struct cli *c)
{
    /* let best-effort requests (hook clean-up deletes) finish, briefly */
    uv_timer_t t;
    int expired = 0;
    size_t busy = 0;
    uv_timer_init(&c->loop, &t);
    t.data = &expired;
    uv_timer_start(&t, drain_timeout, 5000, 0);
    do {
        busy = ws_clusters_outstanding(&c->clusters);
    } while (busy && !expired && uv_run(&c->loop, UV_RUN_ONCE));
    uv_timer_stop(&t);
    uv_close((uv_handle_t *)&t, NULL);
    ws_clusters_free(&c->clusters);
    ws_git_clear_locals();
    json_decref(c->ci_changed);
    ws_lua_health_free(c->lua);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    if (c->have_cat)
        ws_catalog_free(&c->cat);
    if (c->have_cfg)
        ws_config_free(&c->cfg);
}

static const struct ws_app *find_app(struct cli *c, const char *name)
{
    const struct ws_app *a = ws_catalog_find(&c->cat, name);
    const char *why;
    if (a)
        return a;
    if ((why = ws_catalog_invalid(&c->cat, name)))
        fprintf(stderr, "wavesync: %s\n", why);
    else
        fprintf(stderr, "wavesync: no Application \"%s\" (wavesync apps lists them)\n", name);
    return NULL;
}

/* CI mode: the applications the pushed range affects, routed exactly as the
 * service routes a webhook. *after_out is the pushed commit. Prints errors. */
static char *full_branch(const char *name)
{
    char *out = NULL;
    if (strncmp(name, "refs/", 5) == 0)
        return strdup(name);
    return asprintf(&out, "refs/heads/%s", name) < 0 ? NULL : out;
}

/* The push changed Application files: read them again as the pushed commit
 * has them (the applications folders of this repository that track the
 * ref), so validate judges and sync runs the new definitions. Blocking: the
 * one-shot CLI does it before its loop has work. */
static int ci_reload(struct cli *c, const char *ref, const char *dflt, const char *after, struct ws_err *err)
{
    char **saved = calloc(c->cfg.napp_dirs + 1, sizeof(*saved));
    char *pinned = strdup(after);
    int rc = 0;
    if (!saved || !pinned) {
        free(saved);
        free(pinned);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    /* read the folders that track the pushed ref at the pushed commit, then
       put their revisions back: routing still matches them against the ref */
    for (size_t i = 0; i < c->cfg.napp_dirs; i++) {
        struct ws_app_dir *d = &c->cfg.app_dirs[i];
        saved[i] = d->revision;
        if (ws_config_repo_by_name(&c->cfg, d->repository) == c->ci_repo && ws_push_ref_tracks(d->revision, ref, dflt))
            d->revision = pinned;
    }
    ws_catalog_free(&c->cat);
    c->have_cat = 0;
    if (ws_catalog_load(&c->cat, &c->cfg, c->started, err) < 0)
        rc = err->code;
    else
        c->have_cat = 1;
    for (size_t i = 0; i < c->cfg.napp_dirs; i++)
        c->cfg.app_dirs[i].revision = saved[i];
    free(saved);
    free(pinned);
    return rc;
}

/* CI mode: the applications the pushed range affects, routed exactly as the
 * service routes a webhook. *after_out is the pushed commit. Prints errors. */
static int ci_route(struct cli *c, struct ws_push_target **out, size_t *nout, char after_out[41])
{
    const struct ci_range *ci = c->ci;
    struct ws_push_index *ix = NULL;
    struct ws_git_push ch = {0};
    struct ws_err err;
    char *dflt = NULL, *ref = NULL;
    const char *base;
    int rc = 0;
    ws_err_clear(&err);
    if (ci->default_branch)
        dflt = full_branch(ci->default_branch);
    else
        ws_git_default_branch(&dflt, ci->dir, NULL); /* a clone: origin's HEAD; bare: HEAD */
    if (ci->ref)
        ref = full_branch(ci->ref);
    else if (dflt)
        ref = strdup(dflt);
    if (!ref) {
        fprintf(stderr, "wavesync: --repo-dir %s: cannot tell which ref was pushed: give --ref\n", ci->dir);
        rc = WS_EXIT_USAGE;
        goto out;
    }
    base = dflt && strncmp(dflt, "refs/heads/", 11) == 0 ? dflt + 11 : dflt;
    if (ws_git_push_paths(&ch, ci->dir, ci->before, ci->after, base, &err) < 0 ||
        ws_push_index_build(&ix, &c->cfg, &c->cat, &err) < 0)
        goto fail;
    if (ws_push_defs_changed(ix, c->ci_repo, ref, dflt, &ch)) {
        ws_push_index_free(ix);
        ix = NULL;
        fprintf(stderr, "wavesync: the push changes Application files: reading them at %.12s\n", ch.after);
        if (ci_reload(c, ref, dflt, ch.after, &err) < 0 || ws_push_index_build(&ix, &c->cfg, &c->cat, &err) < 0)
            goto fail;
    }
    if (ws_push_match(out, nout, ix, c->ci_repo, ref, dflt, &ch, &err) < 0)
        goto fail;
    memcpy(after_out, ch.after, 41);
    c->ci_changed = ch.all ? NULL : json_incref(ch.paths);
    if (ch.all)
        fprintf(stderr, "wavesync: %s %.12s: every path counts as changed (%s): %zu %s\n", ref, ch.after,
                ch.why_all, *nout, ws_plural(*nout, "application", "applications"));
    else
        fprintf(stderr, "wavesync: %s %.12s..%.12s: %zu changed %s, %zu %s affected\n", ref, ch.base, ch.after,
                json_array_size(ch.paths), ws_plural(json_array_size(ch.paths), "path", "paths"), *nout,
                ws_plural(*nout, "application", "applications"));
    goto out;
fail:
    fprintf(stderr, "wavesync: %s\n", err.msg);
    rc = ws_cli_exit_for(err.code == WS_ENOTFOUND ? WS_EINVAL : err.code);
out:
    ws_push_index_free(ix);
    ws_git_push_free(&ch);
    free(dflt);
    free(ref);
    return rc;
}

/* --repo-dir/--before/--after/--ref/--repository, shared by sync and
 * validate. Returns 1 when `ch` was one of them. */
#define CI_LONGOPTS                                                                       \
    {"repo-dir", required_argument, NULL, 1001}, {"before", required_argument, NULL, 1002}, \
        {"after", required_argument, NULL, 1003}, {"ref", required_argument, NULL, 1004},   \
        {"repository", required_argument, NULL, 1005},                                      \
        {"default-branch", required_argument, NULL, 1006}
static int ci_opt(struct ci_range *ci, int ch)
{
    switch (ch) {
    case 1001: ci->dir = optarg; return 1;
    case 1002: ci->before = optarg; return 1;
    case 1003: ci->after = optarg; return 1;
    case 1004: ci->ref = optarg; return 1;
    case 1005: ci->repository = optarg; return 1;
    case 1006: ci->default_branch = optarg; return 1;
    default: return 0;
    }
}

static int ci_check(const struct ci_range *ci, const char *cmd)
{
    if (!ci->dir && (ci->before || ci->after || ci->ref || ci->repository || ci->default_branch)) {
        fprintf(stderr, "wavesync %s: --before/--after/--ref/--repository/--default-branch need --repo-dir\n", cmd);
        return -1;
    }
    if (ci->dir && !ci->after) {
        fprintf(stderr, "wavesync %s: --repo-dir needs --after SHA (and --before SHA)\n", cmd);
        return -1;
    }
    return 0;
}

/* ---- apps --------------------------------------------------------------- */

/* The configured cluster an application deploys to, by destination name or
 * server (aliases included); NULL when none matches (the sync will say so). */
static const char *cluster_of(const struct ws_config *cfg, const struct ws_app *a)
{
    const struct ws_cluster_cfg *c = a->dest_name ? ws_config_cluster_by_name(cfg, a->dest_name)
                                                  : ws_config_cluster_by_server(cfg, a->dest_server);
    return c ? c->name : NULL;
}

int ws_cli_apps(const struct ws_global_opts *g, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "CLUSTER", "NAMESPACE", "REPO", "PATH", "REVISION",
                                          "SYNC POLICY", "APPLICATIONSET", "PARENT"};
    struct cli c;
    int rc;
    if (argc > 1) {
        fprintf(stderr, "wavesync apps: unexpected argument \"%s\" (apps lists every application)\n", argv[1]);
        return WS_EXIT_USAGE;
    }
    if ((rc = cli_open(&c, g, NULL)) == 0) {
        json_t *list = json_array();
        struct ws_table t;
        ws_table_init(&t, WS_ARRAY_SIZE(headers), headers);
        for (size_t i = 0; i < c.cat.napps; i++) {
            const struct ws_app *a = &c.cat.apps[i];
            const struct ws_repo *repo = ws_config_repo_by_url(&c.cfg, a->sources[0].repo_url);
            const char *cluster = cluster_of(&c.cfg, a);
            char path[1024], unmatched[512];
            json_array_append_new(list, /* steals */
                                  json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:b, s:s, s:i, s:s?, s:s?}",
                                            "name", a->name, "repoURL", a->sources[0].repo_url, "path",
                                            a->sources[0].path, "targetRevision", a->sources[0].target_revision,
                                            "destinationServer", a->dest_server, "destinationName", a->dest_name,
                                            "cluster", cluster, "namespace", a->dest_namespace, "automated",
                                            a->automated, "prune", a->auto_prune, "file", a->file, "line", a->line,
                                            "applicationSet", ws_catalog_generated_by(&c.cat, a->name),
                                            "parent", ws_catalog_parent(&c.cat, a->name)));
            /* several sources: the first, and how many more */
            snprintf(path, sizeof(path), "%s%s%s", a->sources[0].chart ? "chart " : "",
                     a->sources[0].chart ? a->sources[0].chart : a->sources[0].path[0] ? a->sources[0].path : ".",
                     a->nsources > 1 ? " (+more sources)" : "");
            snprintf(unmatched, sizeof(unmatched), "%s (not configured)",
                     a->dest_name ? a->dest_name : a->dest_server);
            ws_table_add(&t, (const char *const[]){
                                 a->name, cluster ? cluster : unmatched, a->dest_namespace,
                                 repo ? repo->name : a->sources[0].repo_url, path, a->sources[0].target_revision,
                                 a->automated ? (a->auto_prune ? "automated, prune" : "automated") : "manual",
                                 ws_catalog_generated_by(&c.cat, a->name), ws_catalog_parent(&c.cat, a->name)});
        }
        if (g->json_output) {
            json_t *out = json_pack("{s:O, s:O, s:O, s:O, s:O?, s:O?}", "applications", list, "sources",
                                    c.cat.sources, "skipped", c.cat.skipped, "invalid", c.cat.invalid, "generated",
                                    c.cat.generated, "children", c.cat.children);
            json_dumpf(out, stdout, JSON_INDENT(2));
            printf("\n");
            json_decref(out);
        } else {
            ws_table_print(&t, stdout);
        }
        ws_table_free(&t);
        json_decref(list);
    }
    cli_close(&c);
    return rc;
}

/* ---- render and plan ---------------------------------------------------- */

struct render_wait {
    int done, code;
    char msg[1024];
    json_t *objects;
    char commit[41];
};

static void on_render(int code, const struct ws_err *e, json_t *objects, const char *commit, void *data)
{
    struct render_wait *r = data;
    r->done = 1;
    r->code = code;
    if (code < 0)
        snprintf(r->msg, sizeof(r->msg), "%s", e->msg);
    else
        r->objects = json_incref(objects);
    snprintf(r->commit, sizeof(r->commit), "%s", commit ? commit : "");
}

static void sync_opts_from(struct ws_sync_opts *o, const struct cli *c)
{
    memset(o, 0, sizeof(*o));
    o->wave_timeout_ms = c->cfg.settings.wave_timeout_ms;
    o->sync_timeout_ms = c->cfg.settings.sync_timeout_ms;
    o->state_dir = c->cfg.settings.state_dir;
    o->inventory_namespace = c->cfg.settings.inventory_namespace;
    o->config = &c->cfg;
    o->fetched_since = c->started; /* each repository is fetched once per run */
    o->lua_health = c->lua;
}

static int render_app(struct cli *c, const struct ws_app *app, const char *revision, struct render_wait *r)
{
    struct ws_sync_opts o;
    sync_opts_from(&o, c);
    o.revision = revision;
    memset(r, 0, sizeof(*r));
    if (ws_sync_render(&c->loop, app, &o, on_render, r) < 0)
        return WS_EXIT_FAILED;
    while (!r->done && uv_run(&c->loop, UV_RUN_ONCE))
        ;
    if (!r->done)
        snprintf(r->msg, sizeof(r->msg), "internal error: rendering stalled");
    if (!r->done || r->code < 0) {
        fprintf(stderr, "wavesync: %s\n", r->msg);
        return ws_cli_exit_for(r->code == WS_ENET || r->code == WS_EAUTH ? r->code : WS_EINVAL);
    }
    return 0;
}

static int one_app_args(int argc, char **argv, const char *cmd, const char **name, const char **revision)
{
    static const struct option longopts[] = {
        {"revision", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0; /* 0: glibc re-initialises its permutation state */
    *revision = NULL;
    while ((ch = getopt_long(argc, argv, "r:", longopts, NULL)) != -1) {
        if (ch != 'r')
            return -1;
        *revision = optarg;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "wavesync %s: name one application\n", cmd);
        return -1;
    }
    *name = argv[optind];
    return 0;
}

int ws_cli_render(const struct ws_global_opts *g, int argc, char **argv)
{
    struct cli c;
    struct render_wait r = {0};
    const struct ws_app *app;
    const char *name, *revision;
    int rc;
    if (one_app_args(argc, argv, "render", &name, &revision) < 0)
        return WS_EXIT_USAGE;
    if ((rc = cli_open(&c, g, NULL)) == 0) {
        if (!(app = find_app(&c, name)))
            rc = WS_EXIT_USAGE;
        else if ((rc = render_app(&c, app, revision, &r)) == 0) {
            if (g->json_output) {
                json_dumpf(r.objects, stdout, JSON_INDENT(2));
                printf("\n");
            } else {
                for (size_t i = 0; i < json_array_size(r.objects); i++) {
                    char *y = ws_yaml_dump(json_array_get(r.objects, i));
                    printf("---\n%s", y ? y : "");
                    free(y);
                }
            }
        }
    }
    json_decref(r.objects);
    cli_close(&c);
    return rc;
}

int ws_cli_plan(const struct ws_global_opts *g, int argc, char **argv)
{
    struct cli c;
    struct render_wait r = {0};
    const struct ws_app *app;
    const char *name, *revision;
    struct ws_plan plan = {0};
    struct ws_err err;
    int rc;
    ws_err_clear(&err);
    if (one_app_args(argc, argv, "plan", &name, &revision) < 0)
        return WS_EXIT_USAGE;
    if ((rc = cli_open(&c, g, NULL)) == 0) {
        if (!(app = find_app(&c, name)))
            rc = WS_EXIT_USAGE;
        else if ((rc = render_app(&c, app, revision, &r)) == 0) {
            if (ws_plan_build(&plan, r.objects, app->dest_namespace, NULL, NULL, &err) < 0) {
                fprintf(stderr, "wavesync plan: %s\n", err.msg);
                rc = WS_EXIT_USAGE;
            } else {
                json_t *out = json_array();
                for (size_t w = 0; w < plan.nwaves; w++) {
                    const struct ws_plan_wave *pw = &plan.waves[w];
                    json_t *objs = json_array();
                    uint64_t t = pw->timeout_ms ? pw->timeout_ms
                                 : app->wave_timeout_ms ? app->wave_timeout_ms
                                                        : c.cfg.settings.wave_timeout_ms;
                    if (!g->json_output)
                        printf("%s wave %d (deadline %llus)%s\n", ws_phase_str(pw->phase), pw->wave,
                               (unsigned long long)(t / 1000),
                               pw->phase == WS_PHASE_SYNCFAIL ? " — only when the sync fails" : "");
                    for (size_t i = pw->first; i < pw->first + pw->count; i++) {
                        const struct ws_plan_item *it = &plan.items[i];
                        if (!g->json_output)
                            printf("  %s%s\n", it->ident, it->is_hook ? " (hook)" : "");
                        json_array_append_new(objs, json_string(it->ident)); /* steals */
                    }
                    json_array_append_new(out, json_pack("{s:s, s:i, s:I, s:o}", "phase", /* steals */
                                                         ws_phase_str(pw->phase), "wave", pw->wave,
                                                         "timeoutMs", (json_int_t)t, "objects", objs));
                }
                if (g->json_output) {
                    json_t *doc = json_pack("{s:s, s:s, s:o}", "application", app->name, "revision",
                                            r.commit, "waves", out);
                    json_dumpf(doc, stdout, JSON_INDENT(2));
                    printf("\n");
                    json_decref(doc);
                } else {
                    json_decref(out);
                }
                ws_plan_free(&plan);
            }
        }
    }
    json_decref(r.objects);
    cli_close(&c);
    return rc;
}

/* ---- sync and diff ----------------------------------------------------- */

struct retry {
    struct run *r;
    size_t idx;
    uv_timer_t timer;
};

struct run {
    struct cli *c;
    struct ws_deps deps;     /* wavesync.dev/depends-on within this run */
    unsigned char *started;  /* per app: started (or given up) */
    int *exit_of;            /* per app: its exit code once finished (for its dependents) */
    const struct ws_app **apps;
    const char **revisions;  /* per app (CI mode), NULL = opts.revision */
    int *attempts;
    size_t napps, running, finished;
    int concurrency;
    struct ws_sync_opts opts;
    json_t *reports;
    int worst_exit;
    int quiet;
    uv_timer_t ticker;
    struct ws_sync **active;
    struct child_group *groups; /* app of apps: children being synced for a parent */
    size_t children_running;
};

/* App of apps: the Applications one child object of a parent stands for
 * (an ApplicationSet: every Application it generated), synced together;
 * the parent hears once all have ended. */
struct child_group {
    struct run *r;
    struct ws_sync *parent; /* NULL once the parent ended */
    char *name;
    size_t left;
    int failed;
    char message[1024];
    struct ws_app *removal; /* a child that left Git, deleted with what it applied (ws_sync_removal_app) */
    struct child_group *next;
};

struct child_run {
    struct child_group *g;
    struct ws_sync *sync;
};

static void run_next(struct run *r);
static int start_app(struct run *r, size_t idx);

static void on_progress(const struct ws_sync *s, const char *line, void *data)
{
    struct run *r = data;
    if (!r->quiet)
        fprintf(stderr, "%s: %s\n", ws_sync_app_name(s), line);
}

static int severity(int exit_code)
{
    /* a failed sync outranks unreachable outranks bad input */
    return exit_code == WS_EXIT_FAILED ? 3 : exit_code == WS_EXIT_UNREACHABLE ? 2 : exit_code == WS_EXIT_USAGE ? 1 : 0;
}

static void note_exit(struct run *r, int code)
{
    if (severity(code) > severity(r->worst_exit))
        r->worst_exit = code;
}

static void on_retry_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_retry(uv_timer_t *t)
{
    struct retry *rt = t->data;
    struct run *r = rt->r;
    size_t idx = rt->idx;
    uv_close((uv_handle_t *)t, on_retry_closed);
    if (start_app(r, idx) < 0) {
        r->deps.state[idx] = WS_DEP_FAILED;
        r->running--;
        r->finished++;
        run_next(r);
    }
}

/* syncPolicy.retry: a failed sync (not bad input) runs again after a backoff
 * that grows by `factor` up to maxDuration, `limit` times (negative:
 * unlimited, bounded here by the sync timeout). */
static int maybe_retry(struct run *r, size_t idx, int code, const char *result)
{
    const struct ws_app *app = r->apps[idx];
    struct retry *rt;
    uint64_t delay = app->retry_backoff_ms ? app->retry_backoff_ms : 5000;
    int n = r->attempts[idx];
    if (r->opts.dry_run || app->retry_limit == 0 || (app->retry_limit > 0 && n > app->retry_limit) ||
        n > 100 || !result || strcmp(result, "Failed") != 0 || ws_cli_exit_for(code) != WS_EXIT_FAILED)
        return 0;
    for (int i = 1; i < n; i++)
        delay *= (uint64_t)(app->retry_factor > 0 ? app->retry_factor : 2);
    if (app->retry_max_backoff_ms && delay > app->retry_max_backoff_ms)
        delay = app->retry_max_backoff_ms;
    if (!(rt = calloc(1, sizeof(*rt))))
        return 0;
    rt->r = r;
    rt->idx = idx;
    uv_timer_init(&r->c->loop, &rt->timer);
    rt->timer.data = rt;
    uv_timer_start(&rt->timer, on_retry, delay, 0);
    if (!r->quiet)
        fprintf(stderr, "%s: retrying in %.1fs (attempt %d of %d)\n", app->name, (double)delay / 1000.0,
                n + 1, app->retry_limit < 0 ? 0 : app->retry_limit + 1);
    return 1;
}

/* A sync ended: its children's groups no longer answer to it, and what it
 * started for them stops (the parent has failed or been canceled). */
static void orphan_children(struct run *r, struct ws_sync *s)
{
    for (struct child_group *g = r->groups; g; g = g->next)
        if (g->parent == s)
            g->parent = NULL;
}

static void group_unlink(struct run *r, struct child_group *g)
{
    for (struct child_group **p = &r->groups; *p; p = &(*p)->next)
        if (*p == g) {
            *p = g->next;
            break;
        }
    free(g->name);
    if (g->removal) {
        ws_app_free(g->removal);
        free(g->removal);
    }
    free(g);
}

static int exit_of_report(int code, const char *result)
{
    return code == 0 ? 0 : (result && strcmp(result, "Failed") == 0 && code != WS_EINVAL) ? WS_EXIT_FAILED
                                                                                           : ws_cli_exit_for(code);
}

static void on_child_progress(const struct ws_sync *s, const char *line, void *data)
{
    struct child_run *cr = data;
    on_progress(s, line, cr->g->r);
}

static void on_child_synced(struct ws_sync *s, int code, json_t *report, void *data)
{
    struct child_run *cr = data;
    struct child_group *g = cr->g;
    struct run *r = g->r;
    const char *result = json_string_value(json_object_get(report, "result"));
    const char *message = json_string_value(json_object_get(report, "message"));
    orphan_children(r, s);
    json_array_append(r->reports, report);
    note_exit(r, exit_of_report(code, result));
    if (code != 0 && !g->failed) {
        g->failed = 1;
        snprintf(g->message, sizeof(g->message), "%s: %s%s%s", ws_sync_app_name(s), result ? result : "Error",
                 message && *message ? ": " : "", message ? message : "");
    }
    r->children_running--;
    free(cr);
    if (--g->left == 0) {
        if (g->parent && g->removal)
            ws_sync_child_pruned(g->parent, !g->failed, g->message);
        else if (g->parent)
            ws_sync_child_done(g->parent, g->name, !g->failed, g->message);
        group_unlink(r, g);
    }
}

/* The engine's prune_child: a sync of nothing, with prune, deletes what
 * the child applied on its cluster. */
static int prune_child(struct ws_sync *parent, const json_t *ref, void *data, struct ws_err *err)
{
    struct run *r = data;
    struct child_group *g = calloc(1, sizeof(*g));
    struct child_run *cr = calloc(1, sizeof(*cr));
    struct ws_sync_opts o = r->opts;
    struct ws_kube *k;
    if (!g || !cr || !(g->removal = ws_sync_removal_app(ref)) || !(g->name = strdup(g->removal->name))) {
        if (g && g->removal) {
            ws_app_free(g->removal);
            free(g->removal);
        }
        free(g);
        free(cr);
        return ws_err_set(err, WS_ENOMEM, "child %s: cannot tell where it deployed",
                          json_string_value(json_object_get(ref, "name")) ?: "?");
    }
    g->r = r;
    g->parent = parent;
    g->left = 1;
    cr->g = g;
    o.revision = NULL;
    o.prune = 1;
    o.apply_all = 0;
    if (!(k = ws_clusters_for(&r->c->clusters, g->removal, err)) ||
        ws_sync_start(&cr->sync, &r->c->loop, k, g->removal, &o, on_child_progress, on_child_synced, cr, err) < 0) {
        ws_err_prefix(err, "child %s", g->name);
        free(cr);
        free(g->name); /* not linked yet */
        ws_app_free(g->removal);
        free(g->removal);
        free(g);
        return err->code ? err->code : WS_ECONFIG;
    }
    g->next = r->groups;
    r->groups = g;
    r->children_running++;
    if (!r->quiet)
        fprintf(stderr, "%s: child %s left Git: deleting what it applied\n", ws_sync_app_name(parent), g->name);
    return 0;
}

/* App of apps: an automated application whose parent (or grandparent…) is
 * in the run is synced by that parent, in its wave: not on its own as well. */
static void drop_children(struct run *r)
{
    size_t i, j, n = 0;
    for (i = 0; i < r->napps; i++) {
        int under = 0;
        /* a manual child is not synced by its parent: it stays in the run */
        const char *p = r->apps[i]->automated ? ws_catalog_parent(&r->c->cat, r->apps[i]->name) : NULL;
        for (size_t depth = 0; p && !under && depth < 16; p = ws_catalog_parent(&r->c->cat, p), depth++)
            for (j = 0; j < r->napps && !under; j++)
                under = strcmp(r->apps[j]->name, p) == 0;
        if (under)
            continue;
        if (r->revisions)
            r->revisions[n] = r->revisions[i];
        r->apps[n++] = r->apps[i];
    }
    r->napps = n;
}

static int sync_child(struct ws_sync *parent, const char *kind, const char *name, void *data, struct ws_err *err)
{
    struct run *r = data;
    const struct ws_catalog *cat = &r->c->cat;
    struct child_group *g = NULL;
    size_t *idx = NULL, n = 0, i, started = 0;
    int rc;
    if ((rc = ws_catalog_child_apps(&idx, &n, cat, kind, name, err)) != 0)
        return rc; /* 1: all manual, nothing to sync */
    if (!(g = calloc(1, sizeof(*g))) || !(g->name = strdup(name))) {
        free(g);
        free(idx);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    g->r = r;
    g->parent = parent;
    g->left = 1; /* held while starting */
    g->next = r->groups;
    r->groups = g;
    for (i = 0; i < n; i++) {
        const struct ws_app *app = &cat->apps[idx[i]];
        struct ws_sync_opts o = r->opts;
        struct child_run *cr;
        struct ws_kube *k;
        if (!(cr = calloc(1, sizeof(*cr)))) {
            ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        cr->g = g;
        o.revision = NULL; /* the child's own targetRevision */
        o.prune = 0;       /* and its own syncPolicy */
        if (!(k = ws_clusters_for(&r->c->clusters, app, err)) ||
            ws_sync_start(&cr->sync, &r->c->loop, k, app, &o, on_child_progress, on_child_synced, cr, err) < 0) {
            free(cr);
            ws_err_prefix(err, "%s %s", kind, app->name);
            break;
        }
        g->left++;
        started++;
        r->children_running++;
    }
    free(idx);
    if (i < n) { /* what started still ends; the parent fails now */
        g->parent = NULL;
        if (--g->left == 0)
            group_unlink(r, g);
        return err->code ? err->code : WS_ECONFIG;
    }
    if (--g->left == 0) /* cannot happen: started > 0 */
        group_unlink(r, g);
    if (!r->quiet)
        fprintf(stderr, "%s: syncing %s %s (%zu %s)\n", ws_sync_app_name(parent), kind, name, started,
                ws_plural(started, "application", "applications"));
    return 0;
}

static void on_synced(struct ws_sync *s, int code, json_t *report, void *data)
{
    struct run *r = data;
    orphan_children(r, s);
    const char *result = json_string_value(json_object_get(report, "result"));
    size_t idx = 0;
    for (size_t i = 0; i < r->napps; i++)
        if (r->active[i] == s) {
            r->active[i] = NULL;
            idx = i;
        }
    json_object_set_new(report, "attempts", json_integer(r->attempts[idx])); /* steals */
    if (maybe_retry(r, idx, code, result))
        return;
    json_array_append(r->reports, report);
    r->deps.state[idx] = code == 0 ? WS_DEP_SUCCEEDED : WS_DEP_FAILED;
    r->exit_of[idx] = code == 0 ? 0 : (result && strcmp(result, "Failed") == 0 && code != WS_EINVAL) ? WS_EXIT_FAILED
                                                                                                   : ws_cli_exit_for(code);
    /* a dry run "fails" only on errors; changes are its answer */
    note_exit(r, code == 0 ? 0 : (result && strcmp(result, "Failed") == 0 && code != WS_EINVAL) ? WS_EXIT_FAILED
                                                                                                 : ws_cli_exit_for(code));
    r->running--;
    r->finished++;
    run_next(r);
}

/* Start (or restart) app idx; on failure record an Error report. */
static int start_app(struct run *r, size_t idx)
{
    const struct ws_app *app = r->apps[idx];
    struct ws_err err;
    struct ws_kube *k;
    ws_err_clear(&err);
    r->attempts[idx]++;
    struct ws_sync_opts o = r->opts;
    if (r->revisions && r->revisions[idx])
        o.revision = r->revisions[idx];
    if (!(k = ws_clusters_for(&r->c->clusters, app, &err)) ||
        ws_sync_start(&r->active[idx], &r->c->loop, k, app, &o, on_progress, on_synced, r, &err) < 0) {
        json_t *rep = json_pack("{s:s, s:s, s:s, s:I, s:[], s:[], s:[]}", "application", app->name, "result",
                                "Error", "message", err.msg, "durationMs", (json_int_t)0, "waves", "objects",
                                "pruned");
        fprintf(stderr, "wavesync: %s\n", err.msg);
        json_array_append_new(r->reports, rep); /* steals */
        r->exit_of[idx] = ws_cli_exit_for(err.code ? err.code : WS_ECONFIG);
        note_exit(r, r->exit_of[idx]);
        return -1;
    }
    return 0;
}

/* An application whose dependency failed is not synced: its report says why. */
static void skip_app(struct run *r, size_t idx, size_t failed)
{
    char msg[512];
    int why = r->exit_of[failed] ? r->exit_of[failed] : WS_EXIT_FAILED;
    snprintf(msg, sizeof(msg), "not synced: it depends on \"%s\", whose sync %s (wavesync.dev/depends-on)",
             r->apps[failed]->name, why == WS_EXIT_UNREACHABLE ? "could not reach its cluster or Git"
                                    : why == WS_EXIT_USAGE     ? "had bad input"
                                                               : "failed");
    fprintf(stderr, "wavesync: %s: %s\n", r->apps[idx]->name, msg);
    json_array_append_new(r->reports, /* steals */
                          json_pack("{s:s, s:s, s:s, s:I, s:[], s:[], s:[]}", "application", r->apps[idx]->name,
                                    "result", "Error", "message", msg, "durationMs", (json_int_t)0, "waves",
                                    "objects", "pruned"));
    r->deps.state[idx] = WS_DEP_FAILED; /* its own dependents are skipped too */
    r->exit_of[idx] = why;
    note_exit(r, why);
}

/* Start what may start: in order, up to the concurrency, once every
 * dependency in the run has succeeded. */
static void run_next(struct run *r)
{
    int progress = 1;
    while (progress) {
        progress = 0;
        for (size_t i = 0; i < r->napps && r->running < (size_t)r->concurrency; i++) {
            size_t failed = 0;
            int ready;
            if (r->started[i] || (ready = ws_deps_ready(&r->deps, i, &failed)) == 0)
                continue;
            r->started[i] = 1;
            progress = 1;
            if (ready < 0) {
                skip_app(r, i, failed);
                r->finished++;
                continue;
            }
            r->deps.state[i] = WS_DEP_RUNNING;
            if (start_app(r, i) < 0) {
                r->deps.state[i] = WS_DEP_FAILED;
                r->finished++;
                continue;
            }
            r->running++;
        }
    }
    if (r->finished == r->napps)
        uv_timer_stop(&r->ticker);
}

static void on_tick(uv_timer_t *t)
{
    struct run *r = t->data;
    char line[1024];
    for (size_t i = 0; i < r->napps; i++) {
        if (!r->active[i])
            continue;
        ws_sync_status_line(r->active[i], line, sizeof(line));
        fprintf(stderr, "%s: %s\n", ws_sync_app_name(r->active[i]), line);
    }
}

/* One application's report for -o json; with app of apps, the reports of
 * the children it synced (and theirs) under "children". New reference. */
static json_t *report_with_children(json_t *reports, const char *name)
{
    json_t *mine = NULL, *children = json_array(), *rep;
    size_t i;
    json_array_foreach(reports, i, rep) {
        const char *app = json_string_value(json_object_get(rep, "application"));
        if (!mine && app && strcmp(app, name) == 0)
            mine = json_deep_copy(rep);
        else
            json_array_append(children, rep);
    }
    if (mine && json_array_size(children))
        json_object_set(mine, "children", children);
    json_decref(children);
    return mine;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int sync_or_diff(const struct ws_global_opts *g, int argc, char **argv, int diff)
{
    static const struct option longopts[] = {
        {"revision", required_argument, NULL, 'r'},
        {"prune", no_argument, NULL, 'p'},
        {"dry-run", no_argument, NULL, 'n'},
        {"wave-timeout", required_argument, NULL, 'w'},
        {"junit", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"apply-all", no_argument, NULL, 'A'},
        CI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli c;
    struct run r;
    struct ci_range ci = {0};
    struct ws_push_target *targets = NULL;
    size_t ntargets = 0;
    char pushed[41] = "";
    const char *junit = NULL, *cmd = diff ? "diff" : "sync";
    uint64_t wave_timeout = 0;
    int ch, rc, dry = diff, prune = 0, quiet = 0, apply_all = 0;
    const char *revision = NULL;
    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((ch = getopt_long(argc, argv, "r:pnw:j:q", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r': revision = optarg; break;
        case 'p': prune = 1; break;
        case 'n': dry = 1; break;
        case 'q': quiet = 1; break;
        case 'A': apply_all = 1; break;
        case 'j': junit = optarg; break;
        case 1001: case 1002: case 1003: case 1004: case 1005: case 1006:
            ci_opt(&ci, ch);
            break;
        case 'w':
            if (ws_duration_parse(&wave_timeout, optarg) < 0 || wave_timeout == 0) {
                fprintf(stderr, "wavesync %s: bad --wave-timeout \"%s\" (e.g. 90s, 5m)\n", cmd, optarg);
                return WS_EXIT_USAGE;
            }
            break;
        default:
            return WS_EXIT_USAGE;
        }
    }
    if (diff && optind != argc - 1) {
        fprintf(stderr, "wavesync diff: name one application\n");
        return WS_EXIT_USAGE;
    }
    if (ci_check(&ci, cmd) < 0 || (ci.dir && optind != argc)) {
        if (ci.dir && optind != argc)
            fprintf(stderr, "wavesync %s: --repo-dir syncs the applications the push affects; name none\n", cmd);
        return WS_EXIT_USAGE;
    }
    if ((rc = cli_open(&c, g, ci.dir ? &ci : NULL)) != 0 ||
        (ci.dir && (rc = ci_route(&c, &targets, &ntargets, pushed)) != 0)) {
        cli_close(&c);
        return rc;
    }
    memset(&r, 0, sizeof(r));
    r.c = &c;
    r.quiet = quiet || g->json_output;
    r.concurrency = c.cfg.settings.concurrency > 0 ? c.cfg.settings.concurrency : 4;
    r.reports = json_array();
    sync_opts_from(&r.opts, &c);
    r.opts.revision = revision;
    r.opts.prune = prune;
    r.opts.dry_run = dry;
    r.opts.apply_all = apply_all;
    r.opts.sync_child = sync_child;
    r.opts.prune_child = prune_child;
    r.opts.child_data = &r;
    if (wave_timeout)
        r.opts.wave_timeout_ms = wave_timeout;
    r.apps = calloc(c.cat.napps + (size_t)argc + 1, sizeof(*r.apps));
    r.active = calloc(c.cat.napps + (size_t)argc + 1, sizeof(*r.active));
    r.attempts = calloc(c.cat.napps + (size_t)argc + 1, sizeof(*r.attempts));
    if (ci.dir) {
        r.revisions = calloc(ntargets + 1, sizeof(*r.revisions));
        for (size_t i = 0; r.revisions && i < ntargets; i++) {
            const struct ws_app *a = &c.cat.apps[targets[i].app];
            /* a push syncs only automated applications (Argo CD's semantics, as the service) */
            if (!a->automated) {
                fprintf(stderr, "wavesync: %s: manual sync policy: OutOfSync at %.12s, not synced by a push "
                                "(sync it by name: wavesync sync %s)\n", a->name, pushed, a->name);
                continue;
            }
            r.revisions[r.napps] = targets[i].pinned ? pushed : NULL;
            r.apps[r.napps++] = a;
        }
    } else if (optind == argc) {
        for (size_t i = 0; i < c.cat.napps; i++)
            r.apps[r.napps++] = &c.cat.apps[i];
        if (json_array_size(c.cat.invalid)) /* reported above; the valid ones still sync */
            note_exit(&r, WS_EXIT_USAGE);
    } else {
        for (int i = optind; i < argc; i++) {
            const struct ws_app *a = find_app(&c, argv[i]);
            if (!a) {
                rc = WS_EXIT_USAGE;
                goto out;
            }
            r.apps[r.napps++] = a;
        }
    }
    drop_children(&r);
    if (r.napps && (!(r.started = calloc(r.napps, 1)) || !(r.exit_of = calloc(r.napps, sizeof(*r.exit_of))) ||
                    ws_deps_build(&r.deps, r.apps, r.napps, &c.err) < 0)) {
        fprintf(stderr, "wavesync %s: %s\n", cmd, r.started && r.exit_of ? c.err.msg : "out of memory");
        rc = WS_EXIT_USAGE;
        goto out;
    }
    if (r.napps == 0) {
        fprintf(stderr, "wavesync %s: no applications to sync%s\n", cmd,
                ci.dir ? "" : json_array_size(c.cat.invalid) ? " (none of them is valid)" : " (the applications "
                                                                                       "folders hold none)");
        /* a push that touches no application is fine; a whole catalog
           without one valid Application is not a successful sync */
        rc = ci.dir ? r.worst_exit : WS_EXIT_USAGE;
        if (junit) { /* CI publishes the report either way */
            char *x = ws_report_junit(r.reports);
            write_file(junit, x);
            free(x);
        }
        goto out;
    }
    uv_timer_init(&c.loop, &r.ticker);
    r.ticker.data = &r;
    if (!r.quiet && isatty(STDERR_FILENO))
        uv_timer_start(&r.ticker, on_tick, 2000, 2000);
    run_next(&r);
    while (r.finished < r.napps || r.children_running) {
        if (uv_run(&c.loop, UV_RUN_ONCE) == 0 && (r.finished < r.napps || r.children_running)) {
            /* nothing left to wait for, yet a sync has not ended: a bug;
             * say so rather than spin */
            fprintf(stderr, "wavesync %s: internal error: %zu sync(s) stalled\n", cmd, r.napps - r.finished);
            note_exit(&r, WS_EXIT_FAILED);
            break;
        }
    }
    uv_timer_stop(&r.ticker);
    uv_close((uv_handle_t *)&r.ticker, NULL);
    if (g->json_output) {
        json_t *one = r.napps == 1 ? report_with_children(r.reports, r.apps[0]->name) : NULL;
        json_dumpf(one ? one : r.reports, stdout, JSON_INDENT(2));
        json_decref(one);
        printf("\n");
    } else {
        for (size_t i = 0; i < json_array_size(r.reports); i++) {
            char *t = ws_report_text(json_array_get(r.reports, i));
            fputs(t, stdout);
            free(t);
        }
    }
    if (junit) {
        char *x = ws_report_junit(r.reports);
        if (write_file(junit, x) < 0) {
            fprintf(stderr, "wavesync %s: cannot write %s: %s\n", cmd, junit, strerror(errno));
            note_exit(&r, WS_EXIT_USAGE);
        }
        free(x);
    }
    rc = r.worst_exit;
    if (diff && rc == 0) {
        /* like kubectl diff: 1 when the cluster differs from Git */
        json_t *o;
        size_t i;
        json_array_foreach(json_object_get(json_array_get(r.reports, 0), "objects"), i, o) {
            const char *res = json_string_value(json_object_get(o, "result"));
            if (res && (strcmp(res, "WouldCreate") == 0 || strcmp(res, "WouldConfigure") == 0))
                rc = WS_EXIT_FAILED;
        }
        if (json_array_size(json_object_get(json_array_get(r.reports, 0), "notPruned")))
            rc = WS_EXIT_FAILED;
    }
out:
    ws_deps_free(&r.deps);
    free(r.started);
    free(r.exit_of);
    free(targets);
    free(r.revisions);
    free(r.apps);
    free(r.active);
    free(r.attempts);
    json_decref(r.reports);
    cli_close(&c);
    return rc;
}

int ws_cli_sync(const struct ws_global_opts *g, int argc, char **argv)
{
    return sync_or_diff(g, argc, argv, 0);
}

int ws_cli_diff(const struct ws_global_opts *g, int argc, char **argv)
{
    return sync_or_diff(g, argc, argv, 1);
}

/* ---- validate ---------------------------------------------------------- */

/* Render and plan (offline) the applications a push affects, or the ones
 * named: what a pre-receive hook needs to refuse a broken push. */
int ws_cli_validate(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"revision", required_argument, NULL, 'r'},
        CI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cli c;
    struct ci_range ci = {0};
    struct ws_push_target *targets = NULL;
    const struct ws_app **apps = NULL;
    const char *revision = NULL;
    char pushed[41] = "";
    size_t n = 0, failed = 0;
    int ch, rc;
    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((ch = getopt_long(argc, argv, "r:", longopts, NULL)) != -1) {
        if (ch == 'r')
            revision = optarg;
        else if (!ci_opt(&ci, ch))
            return WS_EXIT_USAGE;
    }
    if (ci_check(&ci, "validate") < 0)
        return WS_EXIT_USAGE;
    if ((rc = cli_open(&c, g, ci.dir ? &ci : NULL)) != 0 ||
        (ci.dir && (rc = ci_route(&c, &targets, &n, pushed)) != 0)) {
        cli_close(&c);
        return rc;
    }
    { /* a broken Application file is a broken push — if the push touched it */
        json_t *v, *p;
        size_t i, k;
        json_array_foreach(c.cat.invalid, i, v) {
            const char *file = json_string_value(json_object_get(v, "file"));
            int touched = !ci.dir || !c.ci_changed;
            json_array_foreach(c.ci_changed, k, p)
                touched |= file && strcmp(file, json_string_value(p)) == 0;
            if (touched) {
                fprintf(stderr, "invalid: %s\n", json_string_value(json_object_get(v, "error")));
                failed++;
            } else {
                fprintf(stderr, "warning (not changed by this push): %s\n",
                        json_string_value(json_object_get(v, "error")));
            }
        }
    }
    if (!(apps = calloc(c.cat.napps + (size_t)argc + 1, sizeof(*apps)))) {
        rc = WS_EXIT_FAILED;
        goto out;
    }
    if (ci.dir) {
        for (size_t i = 0; i < n; i++)
            apps[i] = &c.cat.apps[targets[i].app];
        revision = pushed;
    } else if (optind == argc) {
        for (n = 0; n < c.cat.napps; n++)
            apps[n] = &c.cat.apps[n];
    } else {
        for (int i = optind; i < argc; i++)
            if (!(apps[n++] = find_app(&c, argv[i]))) {
                rc = WS_EXIT_USAGE;
                goto out;
            }
    }
    for (size_t i = 0; i < n; i++) {
        struct render_wait r;
        struct ws_plan plan = {0};
        struct ws_err err;
        ws_err_clear(&err);
        if (render_app(&c, apps[i], revision, &r) != 0) { /* printed the reason */
            failed++;
        } else if (ws_plan_build(&plan, r.objects, apps[i]->dest_namespace, NULL, NULL, &err) < 0) {
            fprintf(stderr, "wavesync: %s: %s\n", apps[i]->name, err.msg);
            failed++;
        } else {
            printf("ok: %s at %.12s: %zu %s in %zu %s\n", apps[i]->name, r.commit, json_array_size(r.objects),
                   ws_plural(json_array_size(r.objects), "object", "objects"), plan.nwaves,
                   ws_plural(plan.nwaves, "wave", "waves"));
        }
        ws_plan_free(&plan);
        json_decref(r.objects);
    }
    rc = failed ? WS_EXIT_USAGE : 0;
    if (failed)
        fprintf(stderr, "wavesync validate: %zu %s\n", failed, ws_plural(failed, "problem", "problems"));
out:
    free(apps);
    free(targets);
    cli_close(&c);
    return rc;
}
