/* catalog.c — Applications from the configured Git folders. */
#include "catalog.h"

#include <stdlib.h>
#include <string.h>

#include "git.h"
#include "util.h"
#include "yaml.h"

#define CATALOG_MAX_BYTES (64u << 20)

void ws_catalog_free(struct ws_catalog *c)
{
    for (size_t i = 0; c->apps && i < c->napps; i++)
        ws_app_free(&c->apps[i]);
    free(c->apps);
    json_decref(c->skipped);
    json_decref(c->sources);
    json_decref(c->invalid);
    memset(c, 0, sizeof(*c));
}

const struct ws_app *ws_catalog_find(const struct ws_catalog *c, const char *name)
{
    for (size_t i = 0; i < c->napps; i++)
        if (strcmp(c->apps[i].name, name) == 0)
            return &c->apps[i];
    return NULL;
}

const char *ws_catalog_invalid(const struct ws_catalog *c, const char *name)
{
    json_t *e;
    size_t i;
    json_array_foreach(c->invalid, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return json_string_value(json_object_get(e, "error"));
    }
    return NULL;
}

static void mark_invalid(struct ws_catalog *c, const char *file, const char *name, const char *msg)
{
    json_array_append_new(c->invalid, json_pack("{s:s, s:s?, s:s}", "file", file, "name", name, /* steals */
                                                "error", msg));
}

static int add_app(struct ws_catalog *c, const json_t *doc, const json_t *pos, const char *file,
                   size_t dir, struct ws_err *err)
{
    struct ws_app app, *grown;
    const struct ws_app *dup;
    int rc;
    if ((rc = ws_app_parse(&app, doc, pos, file, err)) < 0)
        return rc;
    if ((dup = ws_catalog_find(c, app.name))) {
        rc = ws_err_set(err, WS_ECONFIG, "%s:%d: Application \"%s\" is also defined at %s:%d", file,
                        app.line, app.name, dup->file, dup->line);
        ws_app_free(&app);
        return rc;
    }
    if (!(grown = realloc(c->apps, (c->napps + 1) * sizeof(*grown)))) {
        ws_app_free(&app);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    c->apps = grown;
    app.def_dir = dir;
    c->apps[c->napps++] = app;
    return 0;
}

static int read_folder(struct ws_catalog *c, const char *mirror, const char *commit,
                       const char *repo_name, const char *path, size_t dir, struct ws_err *err)
{
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
            mark_invalid(c, files.v[i].path, NULL, e.msg);
            continue;
        }
        for (d = 0; d < st.ndocs && rc == 0; d++) {
            const json_t *doc = st.docs[d].value;
            const char *kind = json_string_value(json_object_get(doc, "kind"));
            const char *name = json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
            if (json_is_null(doc))
                continue;
            ws_err_clear(&e);
            if (kind && strcmp(kind, "Application") == 0) {
                if ((rc = add_app(c, doc, st.docs[d].pos, files.v[i].path, dir, &e)) < 0 && rc != WS_ENOMEM) {
                    mark_invalid(c, files.v[i].path, name, e.msg);
                    rc = 0;
                }
            } else if (kind && strcmp(kind, "ApplicationSet") == 0) {
                json_array_append_new(c->skipped, /* steals */
                                      json_pack("{s:s, s:s, s:s?, s:s}", "file", files.v[i].path,
                                                "kind", kind, "name", name, "reason",
                                                "ApplicationSets are not supported yet"));
            } else {
                ws_err_set(&e, WS_ECONFIG,
                           "%s:%d: %s%s%s is not an Application (the applications folder \"%s\" "
                           "holds Application YAML only)",
                           files.v[i].path, st.docs[d].line, kind ? kind : "a document without kind",
                           name ? " " : "", name ? name : "", path);
                mark_invalid(c, files.v[i].path, NULL, e.msg);
            }
        }
        ws_yaml_stream_free(&st);
    }
    ws_git_files_free(&files);
    return rc;
}

int ws_catalog_load(struct ws_catalog *out, const struct ws_config *cfg, int64_t since,
                    struct ws_err *err)
{
    char *cache = NULL;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->skipped = json_array();
    out->sources = json_array();
    out->invalid = json_array();
    if (asprintf(&cache, "%s/repos", cfg->settings.state_dir) < 0)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->napp_dirs && rc == 0; i++) {
        const struct ws_app_dir *d = &cfg->app_dirs[i];
        const struct ws_repo *repo = ws_config_repo_by_name(cfg, d->repository);
        struct ws_git_creds creds = {repo ? repo->username : NULL, repo ? repo->password : NULL};
        char *mirror = NULL, commit[41];
        if (!repo) {
            rc = ws_err_set(err, WS_ECONFIG, "applications[%zu]: unknown repository \"%s\"", i,
                            d->repository);
            break;
        }
        if ((rc = ws_git_mirror_since(&mirror, cache, repo->url, &creds, since, err)) < 0)
            break;
        if ((rc = ws_git_resolve(commit, mirror, d->revision ? d->revision : "HEAD", err)) == 0) {
            json_array_append_new(out->sources, /* steals */
                                  json_pack("{s:s, s:s, s:s, s:s}", "repository", repo->name, "path",
                                            d->path, "revision", d->revision ? d->revision : "HEAD",
                                            "commit", commit));
            rc = read_folder(out, mirror, commit, repo->name, d->path, i, err);
        }
        free(mirror);
    }
    free(cache);
    if (rc < 0)
        ws_catalog_free(out);
    return rc;
}
