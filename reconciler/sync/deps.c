/* deps.c — ordering applications by wavesync.dev/depends-on within a run. */
#include "sync/deps.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static void names_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int ws_deps_parse(char ***out, const char *value)
{
    char **v = calloc(1, sizeof(*v)), **grown;
    size_t n = 0;
    const char *p = value ? value : "";
    *out = NULL;
    if (!v)
        return WS_ENOMEM;
    while (*p) {
        const char *e = p + strcspn(p, ","), *b = p, *t = e;
        while (b < t && (*b == ' ' || *b == '\t' || *b == '\n'))
            b++;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\n'))
            t--;
        if (t > b) {
            if (!(grown = realloc(v, (n + 2) * sizeof(*v)))) {
                names_free(v);
                return WS_ENOMEM;
            }
            v = grown;
            v[n + 1] = NULL;
            if (!(v[n] = strndup(b, (size_t)(t - b)))) {
                names_free(v);
                return WS_ENOMEM;
            }
            n++;
        }
        p = *e ? e + 1 : e;
    }
    *out = v;
    return 0;
}

static long find(const struct ws_app *const *apps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(apps[i]->name, name) == 0)
            return (long)i;
    return -1;
}

/* Depth-first search for a cycle through i; colour 0 new, 1 on the path,
 * 2 done. On a cycle, writes it into err starting at the repeated node. */
static int visit(const struct ws_deps *d, const struct ws_app *const *apps, size_t i, unsigned char *colour,
                 size_t *path, size_t depth, struct ws_err *err)
{
    colour[i] = 1;
    path[depth] = i;
    for (size_t k = 0; k < d->non[i]; k++) {
        size_t j = d->on[i][k];
        if (colour[j] == 1) {
            struct ws_buf b;
            size_t start = 0;
            while (path[start] != j)
                start++;
            ws_buf_init(&b, 4096);
            for (size_t p = start; p <= depth; p++)
                ws_buf_appendf(&b, "%s → ", apps[path[p]]->name);
            ws_buf_appendf(&b, "%s", apps[j]->name);
            ws_err_set(err, WS_ECONFIG, "wavesync.dev/depends-on cycle: %s (%s:%d)", b.data ? b.data : "?",
                       apps[j]->file, apps[j]->line);
            ws_buf_free(&b);
            return WS_ECONFIG;
        }
        if (colour[j] == 0) {
            int rc = visit(d, apps, j, colour, path, depth + 1, err);
            if (rc < 0)
                return rc;
        }
    }
    colour[i] = 2;
    return 0;
}

int ws_deps_build(struct ws_deps *out, const struct ws_app *const *apps, size_t n, struct ws_err *err)
{
    unsigned char *colour = NULL;
    size_t *path = NULL;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->n = n;
    if (n && (!(out->on = calloc(n, sizeof(*out->on))) || !(out->non = calloc(n, sizeof(*out->non))) ||
              !(out->state = calloc(n, sizeof(*out->state))) || !(colour = calloc(n, 1)) ||
              !(path = calloc(n + 1, sizeof(*path)))))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const char *value = json_string_value(json_object_get(apps[i]->annotations, "wavesync.dev/depends-on"));
        char **names = NULL;
        if (!value)
            continue;
        if (ws_deps_parse(&names, value) < 0)
            goto nomem;
        for (size_t k = 0; names[k]; k++) {
            long j = find(apps, n, names[k]);
            if (j >= 0 && (size_t)j != i) {
                size_t *grown = realloc(out->on[i], (out->non[i] + 1) * sizeof(*grown));
                if (!grown) {
                    names_free(names);
                    goto nomem;
                }
                out->on[i] = grown;
                out->on[i][out->non[i]++] = (size_t)j;
            } else if ((size_t)j == i) {
                rc = ws_err_set(err, WS_ECONFIG, "%s:%d: Application \"%s\" depends on itself (wavesync.dev/depends-on)",
                                apps[i]->file, apps[i]->line, apps[i]->name);
            }
        }
        names_free(names);
        if (rc < 0)
            goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (colour[i] == 0)
            rc = visit(out, apps, i, colour, path, 0, err);
    goto out;
nomem:
    rc = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    free(colour);
    free(path);
    if (rc < 0)
        ws_deps_free(out);
    return rc;
}

void ws_deps_free(struct ws_deps *d)
{
    for (size_t i = 0; d->on && i < d->n; i++)
        free(d->on[i]);
    free(d->on);
    free(d->non);
    free(d->state);
    memset(d, 0, sizeof(*d));
}

int ws_deps_ready(const struct ws_deps *d, size_t i, size_t *failed)
{
    int ready = 1;
    for (size_t k = 0; k < d->non[i]; k++) {
        size_t j = d->on[i][k];
        if (d->state[j] == WS_DEP_FAILED) {
            if (failed)
                *failed = j;
            return -1;
        }
        if (d->state[j] != WS_DEP_SUCCEEDED)
            ready = 0;
    }
    return ready;
}
