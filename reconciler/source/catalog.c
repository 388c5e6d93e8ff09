/* catalog.c — Applications from the configured Git folders, and those their
 * ApplicationSets generate (appset.c, fed with Git listings read here). */
#include "source/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "source/appset.h"
#include "source/render.h"
#include "git/git.h"
#include "base/util.h"
#include "base/yaml.h"

#define CATALOG_MAX_BYTES (64u << 20)
#define GEN_MAX_BYTES (64u << 20) /* what git files generators may read per load */

void ws_catalog_free(struct ws_catalog *c)
{
    for (size_t i = 0; c->apps && i < c->napps; i++)
        ws_app_free(&c->apps[i]);
    free(c->apps);
    json_decref(c->skipped);
    json_decref(c->sources);
    json_decref(c->invalid);
    json_decref(c->generated);
    json_decref(c->generator_sources);
    json_decref(c->children);
    json_decref(c->parent_sources);
    memset(c, 0, sizeof(*c));
}

const struct ws_app *ws_catalog_find(const struct ws_catalog *c, const char *name)
{
    for (size_t i = 0; i < c->napps; i++)
        if (strcmp(c->apps[i].name, name) == 0)
            return &c->apps[i];
    return NULL;
}

/* The `want` field of the first entry of `list` whose `key` field is
 * `name` (entries with a "kind" skipped when `no_kind`). */
static const char *lookup(const json_t *list, const char *key, const char *name, const char *want, int no_kind)
{
    json_t *e;
    size_t i;
    json_array_foreach(list, i, e) {
        const char *n = json_string_value(json_object_get(e, key));
        if (n && strcmp(n, name) == 0 && !(no_kind && json_object_get(e, "kind")))
            return json_string_value(json_object_get(e, want));
    }
    return NULL;
}

const char *ws_catalog_invalid(const struct ws_catalog *c, const char *name)
{
    return lookup(c->invalid, "name", name, "error", 1);
}

const char *ws_catalog_parent(const struct ws_catalog *c, const char *name)
{
    return lookup(c->children, "application", name, "parent", 0);
}

const char *ws_catalog_generated_by(const struct ws_catalog *c, const char *name)
{
    return lookup(c->generated, "application", name, "applicationSet", 0);
}

int ws_catalog_child_apps(size_t **out, size_t *n, const struct ws_catalog *c, const char *kind, const char *name,
                          struct ws_err *err)
{
    int set = strcmp(kind, "ApplicationSet") == 0;
    size_t i, manual = 0;
    const char *why;
    *n = 0;
    if (!(*out = calloc(c->napps + 1, sizeof(**out))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (i = 0; i < c->napps; i++) {
        const char *by = ws_catalog_generated_by(c, c->apps[i].name);
        if (!(set ? by && strcmp(by, name) == 0 : strcmp(c->apps[i].name, name) == 0))
            continue;
        if (c->apps[i].automated)
            (*out)[(*n)++] = i;
        else
            manual++;
    }
    if (*n)
        return 0;
    free(*out);
    *out = NULL;
    if (manual) {
        ws_err_set(err, 0, "manual sync policy: not synced by its parent (sync it by name)");
        return 1;
    }
    if ((why = set ? NULL : ws_catalog_invalid(c, name)))
        return ws_err_set(err, WS_ECONFIG, "%s %s is not valid: %s", kind, name, why);
    return ws_err_set(err, WS_ECONFIG, "%s %s %s", kind, name,
                      set ? "generated no Application" : "is not one of the applications wavesync knows");
}

static void mark_invalid(struct ws_catalog *c, const char *file, const char *name, const char *kind,
                         const char *msg)
{
    json_array_append_new(c->invalid, json_pack("{s:s, s:s?, s:s?, s:s}", "file", file, "name", name, /* steals */
                                                "kind", kind, "error", msg));
}

/* --- one load ------------------------------------------------------------------------------ */

/* An ApplicationSet document, generated once every written Application is in. */
struct pending {
    json_t *doc, *pos;
    char *file;
    size_t dir;
};

/* A repository's tree at a commit, listed for the git generators. */
struct tree {
    size_t repo; /* index in cfg->repos */
    char *revision;
    char commit[41];
    const char *mirror; /* borrowed from the loader */
    json_t *dirs, *files;
};

struct loader {
    struct ws_catalog *cat;
    const struct ws_config *cfg;
    int64_t since;
    char *cache;     /* state_dir/repos */
    char **mirrors;  /* per cfg->repos: fetched at most once per load */
    unsigned char *unreadable; /* per cfg->repos: its fetch failed in this load (app of apps: not again) */
    struct pending *sets;
    size_t nsets;
    struct tree *trees;
    size_t ntrees;
    size_t read_bytes;
    const char *appset, *appset_file; /* being generated */
};

static void loader_free(struct loader *l)
{
    for (size_t i = 0; l->mirrors && i < l->cfg->nrepos; i++)
        free(l->mirrors[i]);
    free(l->mirrors);
    free(l->unreadable);
    for (size_t i = 0; i < l->nsets; i++) {
        json_decref(l->sets[i].doc);
        json_decref(l->sets[i].pos);
        free(l->sets[i].file);
    }
    free(l->sets);
    for (size_t i = 0; i < l->ntrees; i++) {
        free(l->trees[i].revision);
        json_decref(l->trees[i].dirs);
        json_decref(l->trees[i].files);
    }
    free(l->trees);
    free(l->cache);
}

static int mirror_for(struct loader *l, const char **out, const struct ws_repo *repo, struct ws_err *err)
{
    size_t i = (size_t)(repo - l->cfg->repos);
    struct ws_git_creds creds = {repo->username, repo->password};
    int rc;
    if (!l->mirrors[i] && (rc = ws_git_mirror_since(&l->mirrors[i], l->cache, repo->url, &creds, l->since, NULL, err)) < 0)
        return rc;
    *out = l->mirrors[i];
    return 0;
}

static int add_app(struct ws_catalog *c, const struct ws_config *cfg, struct ws_app *app, size_t dir,
                   const char *appset, struct ws_err *err)
{
    struct ws_app *grown;
    const struct ws_app *dup;
    int rc = 0;
    size_t i;
    /* Only the repositories of wavesync.yaml may be sources (Argo CD: a
       project's sourceRepos): whoever can push an Application must not make
       wavesync read a path on its host or fetch from anywhere else. */
    for (i = 0; cfg && i < app->nsources; i++)
        if (!ws_config_repo_by_url(cfg, app->sources[i].repo_url))
            break;
    if (cfg && i == app->nsources && cfg->nclusters &&
        !(app->dest_name ? ws_config_cluster_by_name(cfg, app->dest_name)
                         : ws_config_cluster_by_server(cfg, app->dest_server))) {
        /* refused here, not only when a sync starts: validate, plan and the
           pre-receive hook say so too */
        char dest[160];
        ws_str_quote_cut(dest, sizeof(dest), app->dest_name ? app->dest_name : app->dest_server);
        rc = ws_err_set(err, WS_ECONFIG, "%s:%d: Application \"%s\": destination %s %s matches no cluster in %s",
                        app->file, app->line, app->name, app->dest_name ? "name" : "server", dest,
                        cfg->path ? cfg->path : "wavesync.yaml");
    } else if (cfg && i < app->nsources) {
        char url[160];
        ws_str_quote_cut(url, sizeof(url), app->sources[i].repo_url);
        rc = ws_err_set(err, WS_ECONFIG,
                        "%s:%d: Application \"%s\": source repoURL %s is not one of the repositories in "
                        "wavesync.yaml (repositories[].url); only those may be sources",
                        app->file, app->line, app->name, url);
    } else if ((dup = ws_catalog_find(c, app->name))) {
        rc = appset ? ws_err_set(err, WS_ECONFIG,
                                 "%s:%d: Application \"%s\" generated by ApplicationSet \"%s\" is also defined "
                                 "at %s:%d", app->file, app->line, app->name, appset, dup->file, dup->line)
                    : ws_err_set(err, WS_ECONFIG, "%s:%d: Application \"%s\" is also defined at %s:%d", app->file,
                                 app->line, app->name, dup->file, dup->line);
    } else if (!(grown = realloc(c->apps, (c->napps + 1) * sizeof(*grown)))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    } else {
        c->apps = grown;
        app->def_dir = dir;
        c->apps[c->napps++] = *app;
        memset(app, 0, sizeof(*app));
    }
    ws_app_free(app);
    return rc;
}

static int keep_appset(struct loader *l, const struct ws_yaml_doc *doc, const char *file, size_t dir)
{
    struct pending *grown = realloc(l->sets, (l->nsets + 1) * sizeof(*grown)), *p;
    if (!grown)
        return WS_ENOMEM;
    l->sets = grown;
    p = &l->sets[l->nsets];
    if (!(p->file = strdup(file)))
        return WS_ENOMEM;
    p->doc = json_incref(doc->value);
    p->pos = json_incref(doc->pos);
    p->dir = dir;
    l->nsets++;
    return 0;
}

static int read_folder(struct loader *l, const char *mirror, const char *commit, const char *repo_name,
                       const char *path, size_t dir, struct ws_err *err)
{
    struct ws_catalog *c = l->cat;
    struct ws_git_files files = {0};
    size_t i, d;
    int rc;
    if ((rc = ws_git_read_dir(&files, mirror, commit, path, 1, NULL, NULL, CATALOG_MAX_BYTES, err)) < 0) {
        ws_err_prefix(err, "repository \"%s\"", repo_name);
        return rc == WS_ENET ? rc : WS_ECONFIG;
    }
    for (i = 0; i < files.n && rc == 0; i++) {
        struct ws_yaml_stream st = {0};
        struct ws_err e;
        ws_err_clear(&e);
        if (ws_yaml_parse(&st, files.v[i].data, files.v[i].len, files.v[i].path, NULL, &e) < 0) {
            mark_invalid(c, files.v[i].path, NULL, NULL, e.msg);
            continue;
        }
        for (d = 0; d < st.ndocs && rc == 0; d++) {
            const json_t *doc = st.docs[d].value;
            const char *kind = json_string_value(json_object_get(doc, "kind"));
            const char *name = json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
            struct ws_app app;
            if (json_is_null(doc))
                continue;
            ws_err_clear(&e);
            if (kind && strcmp(kind, "Application") == 0) {
                if ((rc = ws_app_parse(&app, doc, st.docs[d].pos, files.v[i].path, &e)) == 0)
                    rc = add_app(c, l->cfg, &app, dir, NULL, &e);
                if (rc < 0 && rc != WS_ENOMEM) {
                    mark_invalid(c, files.v[i].path, name, NULL, e.msg);
                    rc = 0;
                }
            } else if (kind && strcmp(kind, "ApplicationSet") == 0) {
                if ((rc = keep_appset(l, &st.docs[d], files.v[i].path, dir)) < 0)
                    ws_err_set(err, rc, "out of memory");
            } else {
                ws_err_set(&e, WS_ECONFIG,
                           "%s:%d: %s%s%s is not an Application or ApplicationSet (the applications folder "
                           "\"%s\" holds Argo CD Application and ApplicationSet YAML only)",
                           files.v[i].path, st.docs[d].line, kind ? kind : "a document without kind",
                           name ? " " : "", name ? name : "", path);
                mark_invalid(c, files.v[i].path, NULL, NULL, e.msg);
            }
        }
        if (rc == WS_ENOMEM)
            ws_err_set(err, rc, "out of memory");
        ws_yaml_stream_free(&st);
    }
    ws_git_files_free(&files);
    return rc;
}

/* --- Git for the git generators ---------------------------------------------------------- */

/* Record that the ApplicationSet being generated read repo@revision. */
static void note_source(struct loader *l, const struct ws_repo *repo, const struct tree *t)
{
    json_t *e;
    size_t i;
    json_array_foreach(l->cat->generator_sources, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "applicationSet")), l->appset) == 0 &&
            strcmp(json_string_value(json_object_get(e, "repository")), repo->name) == 0 &&
            strcmp(json_string_value(json_object_get(e, "revision")), t->revision) == 0)
            return;
    }
    json_array_append_new(l->cat->generator_sources, /* steals */
                          json_pack("{s:s, s:s, s:s, s:s, s:s}", "applicationSet", l->appset, "file", l->appset_file,
                                    "repository", repo->name, "revision", t->revision, "commit", t->commit));
}

static int tree_for(struct loader *l, struct tree **out, const char *url, const char *revision, struct ws_err *err)
{
    const struct ws_repo *repo = ws_config_repo_by_url(l->cfg, url);
    struct tree *t, *grown;
    const char *mirror;
    size_t i;
    int rc;
    if (!repo)
        return ws_err_set(err, WS_ECONFIG, "repository \"%s\" is not in wavesync.yaml's repositories (git "
                                           "generators read configured repositories only)", url);
    for (i = 0; i < l->ntrees; i++) {
        t = &l->trees[i];
        if (t->repo == (size_t)(repo - l->cfg->repos) && strcmp(t->revision, revision) == 0) {
            note_source(l, repo, t);
            *out = t;
            return 0;
        }
    }
    if ((rc = mirror_for(l, &mirror, repo, err)) < 0)
        return rc;
    if (!(grown = realloc(l->trees, (l->ntrees + 1) * sizeof(*grown))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    l->trees = grown;
    t = memset(&l->trees[l->ntrees], 0, sizeof(*t));
    t->repo = (size_t)(repo - l->cfg->repos);
    if (!(t->revision = strdup(revision)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    l->ntrees++; /* freed with the loader from here on, even half made */
    if ((rc = ws_git_resolve(t->commit, mirror, revision, err)) < 0) {
        ws_err_prefix(err, "repository \"%s\"", repo->name);
        l->ntrees--;
        free(t->revision);
        return rc;
    }
    t->mirror = mirror;
    if ((rc = ws_git_list_tree(&t->dirs, &t->files, mirror, t->commit, err)) < 0) {
        ws_err_prefix(err, "repository \"%s\"", repo->name);
        l->ntrees--;
        free(t->revision);
        return rc;
    }
    note_source(l, repo, t);
    *out = t;
    return 0;
}

static int gen_list(void *ctx, json_t **out, const char *url, const char *revision, int dirs, struct ws_err *err)
{
    struct tree *t;
    int rc = tree_for(ctx, &t, url, revision, err);
    if (rc == 0)
        *out = json_incref(dirs ? t->dirs : t->files);
    return rc;
}

static int gen_read(void *ctx, char **out, size_t *out_len, const char *url, const char *revision,
                    const char *path, struct ws_err *err)
{
    struct loader *l = ctx;
    struct tree *t;
    int rc;
    *out = NULL;
    if ((rc = tree_for(l, &t, url, revision, err)) < 0)
        return rc;
    if ((rc = ws_git_read_file(out, out_len, t->mirror, t->commit, path, GEN_MAX_BYTES - l->read_bytes, err)) < 0) {
        if (rc == WS_ELIMIT)
            ws_err_set(err, WS_ELIMIT, "%s: git files generators read more than %u bytes", path, GEN_MAX_BYTES);
        return rc == WS_ENOTFOUND ? WS_EIO : rc;
    }
    l->read_bytes += *out_len;
    return 0;
}

/* --- ApplicationSets -------------------------------------------------------------------- */

static int generate(struct loader *l, const struct pending *p, const struct ws_appset_env *env, struct ws_err *err)
{
    struct ws_catalog *c = l->cat;
    struct ws_appset s;
    struct ws_err e;
    char *msg = NULL;
    int rc;
    ws_err_clear(&e);
    l->appset = json_string_value(json_object_get(json_object_get(p->doc, "metadata"), "name"));
    if (!l->appset)
        l->appset = "";
    l->appset_file = p->file;
    rc = ws_appset_render(&s, p->doc, p->pos, p->file, env, &e);
    if (rc == WS_ENET || rc == WS_ENOMEM) { /* as for the applications folders: stop the load */
        ws_err_set(err, rc, "%s", e.msg);
        ws_appset_free(&s);
        return rc;
    }
    if (rc < 0) {
        mark_invalid(c, p->file, *l->appset ? l->appset : NULL, "ApplicationSet", e.msg);
        ws_appset_free(&s);
        return 0;
    }
    for (size_t i = 0; i < s.napps && rc == 0; i++) {
        const struct ws_appset_app *a = &s.apps[i];
        struct ws_app app;
        ws_err_clear(&e);
        if (a->error) {
            mark_invalid(c, p->file, a->name, NULL, a->error);
            continue;
        }
        if ((rc = ws_app_parse(&app, a->doc, a->pos, p->file, &e)) == 0) {
            app.line = s.line;
            rc = add_app(c, l->cfg, &app, p->dir, s.name, &e);
        }
        if (rc == WS_ENOMEM) {
            ws_err_set(err, rc, "out of memory");
            break;
        }
        if (rc < 0) {
            if (asprintf(&msg, "%s (generated by ApplicationSet \"%s\", %s:%d)", e.msg, s.name, p->file, s.line) < 0)
                msg = NULL;
            mark_invalid(c, p->file, a->name, NULL, msg ? msg : e.msg);
            free(msg);
            msg = NULL;
            rc = 0;
            continue;
        }
        json_array_append_new(c->generated, json_pack("{s:s, s:s, s:s, s:i}", "application", a->name, /* steals */
                                                      "applicationSet", s.name, "file", p->file, "line", s.line));
    }
    ws_appset_free(&s);
    return rc;
}

/* Generate l->sets[from..]. */
static int generate_range(struct loader *l, size_t from, struct ws_err *err)
{
    const struct ws_config *cfg = l->cfg;
    struct ws_appset_cluster *clusters = NULL;
    struct ws_appset_git git = {gen_list, gen_read, l};
    struct ws_appset_env env = {NULL, 0, &git, 0};
    int rc = 0;
    if (l->nsets <= from)
        return 0;
    if (cfg->nclusters && !(clusters = calloc(cfg->nclusters, sizeof(*clusters))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->nclusters; i++) {
        clusters[i].name = cfg->clusters[i].name;
        clusters[i].server = cfg->clusters[i].kc.server;
        clusters[i].labels = cfg->clusters[i].labels;
    }
    env.clusters = clusters;
    env.nclusters = cfg->nclusters;
    for (size_t i = from; i < l->nsets && rc == 0; i++)
        rc = generate(l, &l->sets[i], &env, err);
    free(clusters);
    return rc;
}

/* --- app of apps ------------------------------------------------------------------------- */

#define CHILDREN_MAX_DEPTH 8
#define WS_ECONFIG_DEPTH WS_ELIMIT /* nesting too deep: the parent's fault */

/* How many parents up from `name`; *cycle set when `child` is among them
 * (or is name itself). */
static size_t ancestry(const struct ws_catalog *c, const char *name, const char *child, int *cycle)
{
    size_t depth = 0;
    *cycle = strcmp(name, child) == 0;
    for (const char *p = ws_catalog_parent(c, name); p && depth <= CHILDREN_MAX_DEPTH;
         p = ws_catalog_parent(c, p)) {
        depth++;
        if (strcmp(p, child) == 0)
            *cycle = 1;
    }
    return depth;
}

/* Does a manifest or Jsonnet file under the source's path mention Argo CD's
 * API version and an Application (or ApplicationSet)? Rendering (helm,
 * kustomize, jsonnet, plugins) only where it may define Applications. */
static int may_define_apps(const char *mirror, const char *commit, const struct ws_app_source *src)
{
    struct ws_git_files files = {0};
    struct ws_err e;
    int hit = 0;
    ws_err_clear(&e);
    if (ws_git_read_source_dir(&files, mirror, commit, src->path, 1, NULL, NULL, CATALOG_MAX_BYTES, &e) < 0)
        return 1; /* let the render say what is wrong */
    /* the API version, not "argocd.argoproj.io/…" annotations, which most
       Argo CD manifests carry */
    for (size_t i = 0; i < files.n && !hit; i++)
        hit = strstr(files.v[i].data, "argoproj.io/v1alpha1") && strstr(files.v[i].data, "Application");
    ws_git_files_free(&files);
    return hit;
}

/* Add one child Application object of `parent` (already parsed or not). */
static int add_child(struct loader *l, const char *parent, const char *file, int line, const json_t *obj,
                     struct ws_err *err)
{
    struct ws_catalog *c = l->cat;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    struct ws_app app;
    struct ws_err e;
    char *msg = NULL;
    int rc, cycle = 0;
    ws_err_clear(&e);
    if (name && strcmp(name, parent) == 0)
        return 0; /* an Application that defines itself (it manages its own definition) */
    if (name && ws_catalog_find(c, name) && ancestry(c, parent, name, &cycle) < CHILDREN_MAX_DEPTH && !cycle) {
        /* also read from an applications folder (or another parent): the
           same Application; the first definition wins, the parent syncs it */
        const char *had = ws_catalog_parent(c, name);
        if (!had)
            json_array_append_new(c->children, /* steals */
                                  json_pack("{s:s, s:s}", "application", name, "parent", parent));
        else if (strcmp(had, parent) != 0) {
            char *m = NULL;
            if (asprintf(&m, "%s:%d: Application \"%s\" defines Application \"%s\", which Application \"%s\" "
                             "defines already: it stays %s's child", file, line, parent, name, had, had) >= 0)
                mark_invalid(c, file, NULL, "children", m);
            free(m);
        }
        return 0;
    }
    if (name && ancestry(c, parent, name, &cycle) >= CHILDREN_MAX_DEPTH)
        rc = ws_err_set(&e, WS_ECONFIG_DEPTH, "Application \"%s\" (defined by Application \"%s\"): applications nest "
                                        "deeper than %d levels", name, parent, CHILDREN_MAX_DEPTH);
    else if (cycle)
        rc = ws_err_set(&e, WS_ECONFIG, "Application \"%s\" is defined by its own child Application \"%s\": "
                                        "a cycle of applications is refused", name, parent);
    else if ((rc = ws_app_parse(&app, obj, NULL, file, &e)) == 0) {
        app.line = line;
        rc = add_app(c, l->cfg, &app, SIZE_MAX, NULL, &e);
    }
    if (rc == WS_ENOMEM)
        return ws_err_set(err, rc, "out of memory");
    if (rc < 0) {
        if (asprintf(&msg, "%s (defined by Application \"%s\", %s:%d)", e.msg, parent, file, line) < 0)
            msg = NULL;
        /* a cycle or a too deep nesting is the parent's fault, not the
           (valid, known) Application's it names */
        mark_invalid(c, file, name, cycle || rc == WS_ECONFIG_DEPTH ? "children" : NULL, msg ? msg : e.msg);
        free(msg);
        return 0;
    }
    json_array_append_new(c->children, json_pack("{s:s, s:s}", "application", name, "parent", parent)); /* steals */
    return 0;
}

/* Render c->apps[i] where it may define Applications, and add them. */
static int children_of(struct loader *l, size_t i, struct ws_err *err)
{
    struct ws_catalog *c = l->cat;
    const struct ws_config *cfg = l->cfg;
    char *parent = strdup(c->apps[i].name), *file = strdup(c->apps[i].file ? c->apps[i].file : "?");
    char *tmp = NULL, commit[41];
    int line = c->apps[i].line, rc = 0;
    json_t *objects = json_array(), *o;
    size_t s, k, sets_before = l->nsets, napps_before;
    if (!parent || !file || !objects || asprintf(&tmp, "%s/tmp", cfg->settings.state_dir) < 0) {
        tmp = NULL;
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (s = 0; s < c->apps[i].nsources && rc == 0; s++) {
        const struct ws_app *app = &c->apps[i]; /* again: add_app moves c->apps */
        const struct ws_app_source *src = &app->sources[s];
        const struct ws_repo *repo = ws_config_repo_by_url(cfg, src->repo_url);
        struct ws_render_ctx ctx = {0};
        const char *mirror;
        struct ws_err e;
        ws_err_clear(&e);
        if (ws_app_source_ref_only(src) || src->chart || !repo)
            continue;
        /* a repository that cannot be read, or a revision that does not
           resolve, is the sync's to report: no children from it */
        if (l->unreadable[repo - cfg->repos])
            continue;
        if (mirror_for(l, &mirror, repo, &e) < 0) {
            l->unreadable[repo - cfg->repos] = 1;
            continue;
        }
        if (ws_git_resolve(commit, mirror, src->target_revision, &e) < 0 || !may_define_apps(mirror, commit, src))
            continue;
        json_array_append_new(c->parent_sources, /* steals */
                              json_pack("{s:s, s:s, s:s, s:s}", "parent", parent, "repository", repo->name,
                                        "revision", src->target_revision, "path", src->path));
        ctx.repo_path = mirror;
        ctx.commit = commit;
        ctx.app_name = app->name;
        ctx.namespace_ = app->dest_namespace;
        ctx.tmp_root = tmp;
        ctx.config = cfg;
        ctx.state_dir = cfg->settings.state_dir;
        ctx.app = app;
        ctx.helm_limits = &cfg->settings.helm;
        ctx.kustomize_limits = &cfg->settings.kustomize;
        if (ws_render_source(objects, &ctx, src, &e) < 0) {
            char *msg = NULL;
            if (asprintf(&msg, "%s:%d: Application \"%s\": cannot read the Applications it defines: %s", file, line,
                         parent, e.msg) < 0)
                msg = NULL;
            mark_invalid(c, file, parent, "children", msg ? msg : e.msg);
            free(msg);
            json_array_clear(objects);
            goto out;
        }
    }
    json_array_foreach(objects, k, o) {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        if (!kind || !av || strncmp(av, "argoproj.io/", 12) != 0)
            continue;
        if (strcmp(kind, "Application") == 0 && (rc = add_child(l, parent, file, line, o, err)) < 0)
            goto out;
        if (strcmp(kind, "ApplicationSet") == 0) {
            struct ws_yaml_doc doc = {0};
            doc.value = o;
            if (keep_appset(l, &doc, file, SIZE_MAX) < 0) {
                rc = ws_err_set(err, WS_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
    /* ApplicationSets among the children: what they generate is a child too */
    napps_before = c->napps;
    if ((rc = generate_range(l, sets_before, err)) < 0)
        goto out;
    for (k = napps_before; k < c->napps; k++)
        json_array_append_new(c->children, /* steals */
                              json_pack("{s:s, s:s}", "application", c->apps[k].name, "parent", parent));
out:
    json_decref(objects);
    free(parent);
    free(file);
    free(tmp);
    return rc;
}

/* Every application, and each child as it is added (the list grows). */
static int expand_children(struct loader *l, struct ws_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < l->cat->napps && rc == 0; i++)
        rc = children_of(l, i, err);
    return rc;
}

int ws_catalog_load(struct ws_catalog *out, const struct ws_config *cfg, int64_t since,
                    struct ws_err *err)
{
    struct loader l;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    memset(&l, 0, sizeof(l));
    l.cat = out;
    l.cfg = cfg;
    l.since = since;
    out->skipped = json_array();
    out->sources = json_array();
    out->invalid = json_array();
    out->generated = json_array();
    out->generator_sources = json_array();
    out->children = json_array();
    out->parent_sources = json_array();
    if (!out->skipped || !out->sources || !out->invalid || !out->generated || !out->generator_sources ||
        !out->children || !out->parent_sources ||
        asprintf(&l.cache, "%s/repos", cfg->settings.state_dir) < 0 ||
        !(l.mirrors = calloc(cfg->nrepos + 1, sizeof(*l.mirrors))) || !(l.unreadable = calloc(cfg->nrepos + 1, 1))) {
        l.cache = NULL;
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cfg->napp_dirs && rc == 0; i++) {
        const struct ws_app_dir *d = &cfg->app_dirs[i];
        const struct ws_repo *repo = ws_config_repo_by_name(cfg, d->repository);
        const char *mirror;
        char commit[41];
        if (!repo) {
            rc = ws_err_set(err, WS_ECONFIG, "applications[%zu]: unknown repository \"%s\"", i,
                            d->repository);
            break;
        }
        if ((rc = mirror_for(&l, &mirror, repo, err)) < 0)
            break;
        if ((rc = ws_git_resolve(commit, mirror, d->revision ? d->revision : "HEAD", err)) == 0) {
            json_array_append_new(out->sources, /* steals */
                                  json_pack("{s:s, s:s, s:s, s:s}", "repository", repo->name, "path",
                                            d->path, "revision", d->revision ? d->revision : "HEAD",
                                            "commit", commit));
            rc = read_folder(&l, mirror, commit, repo->name, d->path, i, err);
        }
    }
    if (rc == 0)
        rc = generate_range(&l, 0, err);
    if (rc == 0)
        rc = expand_children(&l, err);
    loader_free(&l);
    if (rc < 0)
        ws_catalog_free(out);
    return rc;
}
