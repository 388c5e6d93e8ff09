/* push.c — routing a push to applications: one path index (route.c) per
 * configured repository, whose ids encode the application and which of its
 * rules matched (a source, or the Application's own file), so the ref can be
 * checked per rule after the path match. */
#include "source/push.h"

#include <stdlib.h>
#include <string.h>

#include "source/route.h"
#include "base/util.h"

struct ws_push_index {
    const struct ws_config *cfg;
    const struct ws_catalog *cat;
    struct ws_route **routes; /* per cfg->repos[i] */
    /* ids: app a owns first[a] (its own file) and first[a] + 1 + s (its
       source s), so a match says which source's ref to check */
    uint32_t *first;          /* napps + 1 entries */
};

static int same_repo(const char *url, const struct ws_repo *repo)
{
    char *n = ws_git_url_normalize(url);
    int same = n && strcmp(n, repo->norm_url) == 0;
    free(n);
    return same;
}

static const struct ws_repo *def_repo(const struct ws_config *cfg, const struct ws_app *a)
{
    return a->def_dir < cfg->napp_dirs ? ws_config_repo_by_name(cfg, cfg->app_dirs[a->def_dir].repository)
                                       : NULL;
}

/* Argo CD's rules for source s, plus, for a `ref` source, the files other
 * sources read from it as "$ref/path" values files (a ref source without
 * a path is only those files, not its whole repository). */
static int add_source(struct ws_route *route, const struct ws_app *app, size_t s, uint32_t id,
                      struct ws_err *err)
{
    const struct ws_app_source *src = &app->sources[s];
    size_t i, j;
    int rc;
    const json_t *lib;
    if (!ws_app_source_ref_only(src) &&
        (rc = ws_route_add_source(route, src->path, app->manifest_generate_paths, id, err)) < 0)
        return rc;
    /* Jsonnet library folders render into the source too (unless
       manifest-generate-paths says what matters) */
    json_array_foreach(app->manifest_generate_paths ? NULL : src->jsonnet_libs, i, lib)
        if (ws_route_add_subtree(route, json_string_value(lib), id) < 0)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (i = 0; src->ref && i < app->nsources; i++)
        for (j = 0; app->sources[i].helm_value_files && app->sources[i].helm_value_files[j]; j++) {
            const struct ws_app_source *to = NULL;
            const char *path = NULL;
            if (ws_app_value_ref(app, app->sources[i].helm_value_files[j], &to, &path) == 0 && to == src &&
                (rc = ws_route_add_file(route, path, id)) < 0)
                return rc == WS_ENOMEM ? ws_err_set(err, rc, "out of memory")
                                       : ws_err_set(err, rc, "values file \"%s\" cannot be routed",
                                                    app->sources[i].helm_value_files[j]);
        }
    return 0;
}

int ws_push_index_build(struct ws_push_index **out, const struct ws_config *cfg,
                        const struct ws_catalog *cat, struct ws_err *err)
{
    struct ws_push_index *ix = calloc(1, sizeof(*ix));
    size_t r, a, s;
    int rc = 0;
    *out = NULL;
    if (!ix || !(ix->routes = calloc(cfg->nrepos + 1, sizeof(*ix->routes))) ||
        !(ix->first = calloc(cat->napps + 1, sizeof(*ix->first)))) {
        if (ix)
            free(ix->routes);
        free(ix);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    ix->cfg = cfg;
    ix->cat = cat;
    for (a = 0; a < cat->napps; a++) {
        if (cat->apps[a].nsources >= UINT32_MAX - 1 - ix->first[a]) {
            ws_push_index_free(ix);
            return ws_err_set(err, WS_ELIMIT, "too many application sources to index");
        }
        ix->first[a + 1] = ix->first[a] + 1 + (uint32_t)cat->apps[a].nsources;
    }
    for (r = 0; r < cfg->nrepos && rc == 0; r++) {
        const struct ws_repo *repo = &cfg->repos[r];
        if ((rc = ws_route_new(&ix->routes[r])) < 0) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        for (a = 0; a < cat->napps && rc == 0; a++) {
            const struct ws_app *app = &cat->apps[a];
            for (s = 0; s < app->nsources && rc == 0; s++)
                if (same_repo(app->sources[s].repo_url, repo) &&
                    (rc = add_source(ix->routes[r], app, s, ix->first[a] + 1 + (uint32_t)s, err)) < 0)
                    ws_err_prefix(err, "%s:%d: Application \"%s\"", app->file, app->line, app->name);
            if (rc == 0 && def_repo(cfg, app) == repo &&
                ws_route_add_file(ix->routes[r], app->file, ix->first[a]) < 0)
                rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        }
    }
    if (rc < 0) {
        ws_push_index_free(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void ws_push_index_free(struct ws_push_index *ix)
{
    if (!ix)
        return;
    for (size_t r = 0; ix->routes && r < ix->cfg->nrepos; r++)
        ws_route_free(ix->routes[r]);
    free(ix->routes);
    free(ix->first);
    free(ix);
}

static int is_commit_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == strlen(s) && (n == 40 || n == 64);
}

int ws_push_ref_tracks(const char *rev, const char *ref, const char *default_branch)
{
    if (!ref)
        return 0;
    if (!rev || !*rev || strcmp(rev, "HEAD") == 0) {
        if (default_branch)
            return strcmp(ref, default_branch) == 0;
        return strcmp(ref, "refs/heads/main") == 0 || strcmp(ref, "refs/heads/master") == 0;
    }
    if (strncmp(rev, "refs/", 5) == 0)
        return strcmp(rev, ref) == 0;
    if (is_commit_id(rev))
        return 0;
    if (strncmp(ref, "refs/heads/", 11) == 0 && strcmp(ref + 11, rev) == 0)
        return 1;
    return strncmp(ref, "refs/tags/", 10) == 0 && strcmp(ref + 10, rev) == 0;
}

static size_t repo_index(const struct ws_push_index *ix, const struct ws_repo *repo)
{
    return (size_t)(repo - ix->cfg->repos);
}

/* Does one of app's sources name `ref` itself (a branch or tag, not HEAD)? */
static int names_ref(const struct ws_app *app, const struct ws_repo *repo, const char *ref)
{
    for (size_t s = 0; s < app->nsources; s++) {
        const char *rev = app->sources[s].target_revision;
        if (rev && *rev && strcmp(rev, "HEAD") != 0 && same_repo(app->sources[s].repo_url, repo) &&
            ws_push_ref_tracks(rev, ref, NULL))
            return 1;
    }
    return 0;
}

/* Which of app's sources are on this repository and ref: 0 none, 1 some,
 * 2 its only source. */
static int source_tracks(const struct ws_app *app, const struct ws_repo *repo, const char *ref,
                         const char *default_branch)
{
    int n = 0;
    for (size_t s = 0; s < app->nsources; s++)
        if (same_repo(app->sources[s].repo_url, repo) &&
            ws_push_ref_tracks(app->sources[s].target_revision, ref, default_branch))
            n++;
    return n == 0 ? 0 : app->nsources == 1 ? 2 : 1;
}

static int dir_tracks(const struct ws_app_dir *d, const struct ws_config *cfg, const struct ws_repo *repo,
                      const char *ref, const char *default_branch)
{
    return ws_config_repo_by_name(cfg, d->repository) == repo &&
           ws_push_ref_tracks(d->revision, ref, default_branch);
}

int ws_push_interesting(const struct ws_push_index *ix, const struct ws_repo *repo, const char *ref,
                        const char *default_branch)
{
    size_t i;
    for (i = 0; i < ix->cfg->napp_dirs; i++)
        if (dir_tracks(&ix->cfg->app_dirs[i], ix->cfg, repo, ref, default_branch))
            return 1;
    for (i = 0; i < ix->cat->napps; i++)
        if (source_tracks(&ix->cat->apps[i], repo, ref, default_branch))
            return 1;
    return 0;
}

/* Is `path` inside folder `dir` ("" = everything)? */
static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return n == 0 || (strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0'));
}

int ws_push_defs_changed(const struct ws_push_index *ix, const struct ws_repo *repo, const char *ref,
                         const char *default_branch, const struct ws_git_push *changes)
{
    json_t *g;
    size_t k;
    /* an ApplicationSet's git generator reads this repository at this ref:
       any change may change what it generates */
    json_array_foreach(ix->cat->generator_sources, k, g) {
        const char *name = json_string_value(json_object_get(g, "repository"));
        const char *rev = json_string_value(json_object_get(g, "revision"));
        if (name && strcmp(name, repo->name) == 0 && ws_push_ref_tracks(rev, ref, default_branch) &&
            (changes->all || json_array_size(changes->paths)))
            return 1;
    }
    /* app of apps: a parent's manifests define its children */
    json_array_foreach(ix->cat->parent_sources, k, g) {
        const char *name = json_string_value(json_object_get(g, "repository"));
        const char *rev = json_string_value(json_object_get(g, "revision"));
        const char *dir = json_string_value(json_object_get(g, "path"));
        json_t *p;
        size_t j;
        if (!name || strcmp(name, repo->name) != 0 || !ws_push_ref_tracks(rev, ref, default_branch))
            continue;
        if (changes->all)
            return 1;
        json_array_foreach(changes->paths, j, p)
            if (under(json_string_value(p), dir ? dir : ""))
                return 1;
    }
    for (size_t i = 0; i < ix->cfg->napp_dirs; i++) {
        const struct ws_app_dir *d = &ix->cfg->app_dirs[i];
        json_t *p;
        size_t j;
        if (!dir_tracks(d, ix->cfg, repo, ref, default_branch))
            continue;
        if (changes->all)
            return 1;
        json_array_foreach(changes->paths, j, p)
            if (under(json_string_value(p), d->path))
                return 1;
    }
    return 0;
}

int ws_push_match(struct ws_push_target **out, size_t *nout, const struct ws_push_index *ix,
                  const struct ws_repo *repo, const char *ref, const char *default_branch,
                  const struct ws_git_push *changes, struct ws_err *err)
{
    const struct ws_catalog *cat = ix->cat;
    struct ws_push_target *res = NULL;
    uint32_t *ids = NULL;
    const char **paths = NULL;
    unsigned char *hit = NULL; /* per app: bit 0 a source tracking the ref matched, bit 1 its file */
    size_t i, n = 0, nids = 0, np = json_array_size(changes->paths);
    int rc = 0;

    *out = NULL;
    *nout = 0;
    if (!cat->napps)
        return 0;
    if (!(hit = calloc(cat->napps, 1)) || !(res = calloc(cat->napps, sizeof(*res))) ||
        (np && !(paths = calloc(np, sizeof(*paths)))))
        goto nomem;
    if (changes->all) {
        memset(hit, 3, cat->napps);
    } else {
        for (i = 0; i < np; i++)
            paths[i] = json_string_value(json_array_get(changes->paths, i));
        if (ws_route_match(ix->routes[repo_index(ix, repo)], paths, np, &ids, &nids) < 0)
            goto nomem;
        for (i = 0; i < nids; i++) {
            size_t lo = 0, hi = cat->napps, a; /* the app: last first[a] <= id */
            while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (ix->first[mid] <= ids[i])
                    lo = mid;
                else
                    hi = mid;
            }
            a = lo;
            if (ids[i] == ix->first[a])
                hit[a] |= 2;
            else if (ws_push_ref_tracks(cat->apps[a].sources[ids[i] - ix->first[a] - 1].target_revision,
                                        ref, default_branch))
                hit[a] |= 1; /* this source, on this repository (its route), tracks the ref */
        }
    }
    for (i = 0; i < cat->napps; i++) {
        const struct ws_app *app = &cat->apps[i];
        int src = source_tracks(app, repo, ref, default_branch);
        /* an application that names a ref the push created was never synced
           from it: all of it is new, whatever the diff from the merge base */
        int by_source = src && ((hit[i] & 1) || (changes->created && names_ref(app, repo, ref)));
        int by_file = (hit[i] & 2) && def_repo(ix->cfg, app) == repo &&
                      dir_tracks(&ix->cfg->app_dirs[app->def_dir], ix->cfg, repo, ref, default_branch);
        if (!by_source && !by_file)
            continue;
        res[n].app = i;
        res[n++].pinned = src == 2;
    }
    *out = res;
    *nout = n;
    res = NULL;
    goto out;
nomem:
    rc = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    free(res);
    free(ids);
    free(paths);
    free(hit);
    return rc;
}
