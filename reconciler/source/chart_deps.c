/* chart_deps.c — a chart's dependencies (Chart.yaml, Chart.lock) placed
 * into its charts/ before `helm template`: archives from the repositories of
 * wavesync.yaml (ws_chart_fetch), folders copied for file:// ones (which may
 * not leave the repository). Never `helm dependency build`. Blocking. */
#include "source/chart.h"
#include "source/chart_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "base/yaml.h"

#define CHART_FILE_MAX_BYTES (4u << 20) /* Chart.yaml, Chart.lock */
#define DEPS_MAX_DEPTH 5

static int copy_file(const char *from, const char *to, struct ws_err *err)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), out = -1, rc = 0;
    ssize_t n;
    if (in < 0)
        return ws_err_set(err, WS_EIO, "cannot read %s: %s", from, strerror(errno));
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
        close(in);
        return ws_err_set(err, WS_EIO, "cannot write %s: %s", to, strerror(errno));
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = ws_err_set(err, WS_EIO, "cannot write %s: %s", to, strerror(errno));
            break;
        }
    if (n < 0 && rc == 0)
        rc = ws_err_set(err, WS_EIO, "cannot read %s: %s", from, strerror(errno));
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = ws_err_set(err, WS_EIO, "cannot write %s: %s", to, strerror(errno));
    return rc;
}

/* cp -r of regular files and folders (links are not followed). */
static int copy_tree(const char *from, const char *to, int depth, struct ws_err *err)
{
    DIR *d;
    struct dirent *e;
    int rc = 0;
    if (depth > 32)
        return ws_err_set(err, WS_ELIMIT, "%s: folders nested too deep", from);
    if (ws_mkdir_p(to, 0755) < 0)
        return ws_err_set(err, WS_EIO, "cannot create %s: %s", to, strerror(errno));
    if (!(d = opendir(from)))
        return ws_err_set(err, WS_EIO, "cannot read %s: %s", from, strerror(errno));
    while (rc == 0 && (e = readdir(d))) {
        char *a, *b;
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        a = ws__chart_fmt("%s/%s", from, e->d_name);
        b = ws__chart_fmt("%s/%s", to, e->d_name);
        if (!a || !b)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        else if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode))
            rc = copy_tree(a, b, depth + 1, err);
        else if (lstat(a, &st) == 0 && S_ISREG(st.st_mode))
            rc = copy_file(a, b, err);
        free(a);
        free(b);
    }
    closedir(d);
    return rc;
}

/* Does charts/ already hold dependency `name` (a folder with a Chart.yaml,
 * or an archive name-*.tgz)? */
static int have_dep(const char *charts, const char *name)
{
    char *p = ws__chart_fmt("%s/%s/Chart.yaml", charts, name);
    DIR *d;
    struct dirent *e;
    size_t n = strlen(name);
    int found = p && ws__chart_file_exists(p);
    free(p);
    if (found || !(d = opendir(charts)))
        return found;
    while (!found && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > n + 5 && strncmp(e->d_name, name, n) == 0 && e->d_name[n] == '-' &&
            strcmp(e->d_name + l - 4, ".tgz") == 0 && isdigit((unsigned char)e->d_name[n + 1]))
            found = 1;
    }
    closedir(d);
    return found;
}

static int read_yaml_file(json_t **out, const char *path, struct ws_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    if ((rc = ws_file_read(&buf, &len, path, CHART_FILE_MAX_BYTES, err)) < 0)
        return rc;
    rc = ws_yaml_parse_one(out, buf, len, path, NULL, err);
    free(buf);
    return rc;
}

/* The Chart.lock version of dependency `name`, or NULL. Borrowed from lock. */
static const char *locked_version(const json_t *lock, const char *name, const char *repository)
{
    const json_t *deps = json_object_get(lock, "dependencies"), *d;
    size_t i;
    json_array_foreach(deps, i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        const char *r = json_string_value(json_object_get(d, "repository"));
        if (n && strcmp(n, name) == 0 && (!r || !repository || strcmp(r, repository) == 0))
            return json_string_value(json_object_get(d, "version"));
    }
    return NULL;
}

static int deps_at(const struct ws_chart_env *env, const char *chart_dir, const char *root, int depth,
                   struct ws_err *err);

static int one_dep(const struct ws_chart_env *env, const char *chart_dir, const char *root, const char *charts,
                   const json_t *dep, const json_t *lock, int depth, struct ws_err *err)
{
    const char *name = json_string_value(json_object_get(dep, "name"));
    const char *repository = json_string_value(json_object_get(dep, "repository"));
    const char *version = json_string_value(json_object_get(dep, "version"));
    const char *locked, *url = repository;
    char *archive = NULL, *ver = NULL, *target = NULL, *vtext = NULL;
    const struct ws_repo *repo;
    int rc = 0;
    if (!name || !*name || strchr(name, '/') || strstr(name, ".."))
        return ws_err_set(err, WS_EINVAL, "%s/Chart.yaml: a dependency without a usable name", chart_dir);
    if (!repository || !*repository || have_dep(charts, name))
        return 0; /* there already, or helm's to complain about */
    if (!version && json_is_number(json_object_get(dep, "version")))
        version = vtext = json_dumps(json_object_get(dep, "version"), JSON_ENCODE_ANY);
    if (strncmp(repository, "file://", 7) == 0) {
        char *joined = ws__chart_fmt("%s/%s", chart_dir, repository + 7), *real = NULL, *rroot = realpath(root, NULL);
        if (joined)
            real = realpath(joined, NULL);
        if (!real || !rroot || strncmp(real, rroot, strlen(rroot)) != 0 ||
            (real[strlen(rroot)] != '/' && real[strlen(rroot)] != '\0')) {
            rc = ws_err_set(err, WS_EINVAL, "%s/Chart.yaml: dependency \"%s\": %s %s", chart_dir, name, repository,
                            real ? "leaves the repository (refused)" : "does not exist");
        } else if (!(target = ws__chart_fmt("%s/%s", charts, name))) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        } else if ((rc = copy_tree(real, target, 0, err)) == 0) {
            rc = deps_at(env, target, root, depth + 1, err);
        }
        free(joined);
        free(real);
        free(rroot);
        goto out;
    }
    if (repository[0] == '@' || strncmp(repository, "alias:", 6) == 0) {
        const char *rname = repository[0] == '@' ? repository + 1 : repository + 6;
        repo = env->config ? ws_config_repo_by_name(env->config, rname) : NULL;
        if (!repo) {
            rc = ws_err_set(err, WS_ECONFIG, "%s/Chart.yaml: dependency \"%s\": no repository named \"%s\" in "
                            "wavesync.yaml", chart_dir, name, rname);
            goto out;
        }
        url = repo->url;
    } else if (env->config && !ws_config_repo_by_url(env->config, repository)) {
        char shown[300];
        ws_chart_url_shown(shown, sizeof(shown), repository);
        rc = ws_err_set(err, WS_ECONFIG, "%s/Chart.yaml: dependency \"%s\": repository %s is not one of the "
                        "repositories in wavesync.yaml (repositories[].url); only those are fetched from",
                        chart_dir, name, shown);
        goto out;
    }
    locked = locked_version(lock, name, repository);
    if (!locked && !version) {
        rc = ws_err_set(err, WS_EINVAL, "%s/Chart.yaml: dependency \"%s\" has no version", chart_dir, name);
        goto out;
    }
    if ((rc = ws_chart_fetch(&archive, &ver, env, url, name, locked ? locked : version, err)) < 0)
        goto out;
    if (!(target = ws__chart_fmt("%s/%s-%s.tgz", charts, name, ver))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = copy_file(archive, target, err)) < 0)
        goto out;
    ws_debug("%s: dependency %s %s placed in charts/", chart_dir, name, ver);
out:
    free(archive);
    free(ver);
    free(target);
    free(vtext);
    return rc;
}

static int deps_at(const struct ws_chart_env *env, const char *chart_dir, const char *root, int depth,
                   struct ws_err *err)
{
    char *cy = ws__chart_fmt("%s/Chart.yaml", chart_dir), *cl = ws__chart_fmt("%s/Chart.lock", chart_dir);
    char *charts = ws__chart_fmt("%s/charts", chart_dir);
    json_t *chart = NULL, *lock = NULL, *deps, *dep;
    size_t i;
    int rc = 0;
    if (!cy || !cl || !charts) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if (depth > DEPS_MAX_DEPTH) {
        rc = ws_err_set(err, WS_ELIMIT, "%s: dependencies nested more than %d deep", chart_dir, DEPS_MAX_DEPTH);
        goto out;
    }
    if (!ws__chart_file_exists(cy) || (rc = read_yaml_file(&chart, cy, err)) < 0)
        goto out;
    deps = json_object_get(chart, "dependencies");
    if (!json_is_array(deps) || json_array_size(deps) == 0)
        goto out;
    if (ws__chart_file_exists(cl) && (rc = read_yaml_file(&lock, cl, err)) < 0)
        goto out;
    if (ws_mkdir_p(charts, 0755) < 0) {
        rc = ws_err_set(err, WS_EIO, "cannot create %s: %s", charts, strerror(errno));
        goto out;
    }
    json_array_foreach(deps, i, dep) {
        if (!json_is_object(dep))
            continue;
        if ((rc = one_dep(env, chart_dir, root, charts, dep, lock, depth, err)) < 0)
            break;
    }
out:
    json_decref(chart);
    json_decref(lock);
    free(cy);
    free(cl);
    free(charts);
    return rc;
}

int ws_chart_deps(const struct ws_chart_env *env, const char *chart_dir, const char *root, struct ws_err *err)
{
    return deps_at(env, chart_dir, root, 0, err);
}
