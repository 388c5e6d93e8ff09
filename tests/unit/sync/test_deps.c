/* test_deps.c — wavesync.dev/depends-on: parsing, ordering, failures, cycles. */
#include <stdlib.h>
#include <string.h>

#include "sync/deps.h"
#include "tap.h"
#include "base/util.h"

struct spec {
    const char *name, *depends_on; /* NULL: no annotation */
};

/* Minimal Applications: what ws_deps_build reads (name, annotations, file, line). */
static const struct ws_app **make_apps(const struct spec *s, size_t n, struct ws_app *store)
{
    const struct ws_app **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        memset(&store[i], 0, sizeof(store[i]));
        store[i].name = (char *)s[i].name;
        store[i].file = (char *)"apps/x.yaml";
        store[i].line = (int)i + 1;
        store[i].annotations = json_object();
        if (s[i].depends_on)
            json_object_set_new(store[i].annotations, "wavesync.dev/depends-on", json_string(s[i].depends_on));
        v[i] = &store[i];
    }
    return v;
}

static void drop_apps(const struct ws_app **v, struct ws_app *store, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(store[i].annotations);
    free(v);
}

static void test_parse(void)
{
    static const struct {
        const char *in;
        const char *want; /* names joined with '|' */
    } rows[] = {
        {"a", "a"},
        {"a,b", "a|b"},
        {" feature-store , model-registry ", "feature-store|model-registry"},
        {"a,,b,", "a|b"},
        {"", ""},
        {" , ", ""},
        {"a ,\tb", "a|b"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        char **names = NULL, got[256] = "";
        tap_ok(ws_deps_parse(&names, rows[i].in) == 0, "parse \"%s\": ok", rows[i].in);
        for (size_t k = 0; names && names[k]; k++) {
            if (k)
                strcat(got, "|");
            strcat(got, names[k]);
            free(names[k]);
        }
        free(names);
        tap_ok(strcmp(got, rows[i].want) == 0, "parse \"%s\" → \"%s\" (got \"%s\")", rows[i].in, rows[i].want, got);
    }
}

static void test_order(void)
{
    /* serving waits for feature-store and model-registry; monitoring for
       serving; training is independent; "elsewhere" is not in the run */
    static const struct spec s[] = {
        {"serving", "feature-store, model-registry"},
        {"feature-store", NULL},
        {"model-registry", "elsewhere"},
        {"monitoring", "serving"},
        {"training", NULL},
    };
    struct ws_app store[5];
    const struct ws_app **apps = make_apps(s, 5, store);
    struct ws_deps d;
    struct ws_err err;
    size_t failed = 99;
    ws_err_clear(&err);
    tap_ok(ws_deps_build(&d, apps, 5, &err) == 0, "order: builds (%s)", err.msg);
    tap_is_int(ws_deps_ready(&d, 0, NULL), 0, "order: serving waits at first");
    tap_is_int(ws_deps_ready(&d, 1, NULL), 1, "order: feature-store starts at once");
    tap_is_int(ws_deps_ready(&d, 2, NULL), 1, "order: a dependency outside the run is ignored");
    tap_is_int(ws_deps_ready(&d, 3, NULL), 0, "order: monitoring waits");
    tap_is_int(ws_deps_ready(&d, 4, NULL), 1, "order: training is independent");
    d.state[1] = WS_DEP_SUCCEEDED;
    d.state[2] = WS_DEP_RUNNING;
    tap_is_int(ws_deps_ready(&d, 0, NULL), 0, "order: serving still waits for model-registry");
    d.state[2] = WS_DEP_SUCCEEDED;
    tap_is_int(ws_deps_ready(&d, 0, NULL), 1, "order: serving starts once both succeeded");
    tap_is_int(ws_deps_ready(&d, 3, NULL), 0, "order: monitoring waits for serving");
    d.state[0] = WS_DEP_FAILED;
    tap_is_int(ws_deps_ready(&d, 3, &failed), -1, "order: monitoring never starts after serving failed");
    tap_is_int(failed, 0, "order: the failed dependency is named");
    ws_deps_free(&d);
    drop_apps(apps, store, 5);
}

static void test_errors(void)
{
    static const struct {
        const char *name;
        struct spec s[4];
        size_t n;
        const char *msg; /* NULL: builds */
    } rows[] = {
        {"two-cycle", {{"a", "b"}, {"b", "a"}}, 2, "cycle: a → b → a"},
        {"three-cycle", {{"a", "c"}, {"b", "a"}, {"c", "b"}}, 3, "cycle: a → c → b → a"},
        {"cycle behind a chain", {{"x", "a"}, {"a", "b"}, {"b", "a"}}, 3, "cycle: a → b → a"},
        {"self", {{"a", "a"}}, 1, "depends on itself"},
        {"diamond is fine", {{"top", "l, r"}, {"l", "base"}, {"r", "base"}, {"base", NULL}}, 4, NULL},
        {"cycle through an app outside the run is not one", {{"a", "z"}, {"b", "a"}}, 2, NULL},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_app store[4];
        const struct ws_app **apps = make_apps(rows[i].s, rows[i].n, store);
        struct ws_deps d;
        struct ws_err err;
        int rc;
        ws_err_clear(&err);
        rc = ws_deps_build(&d, apps, rows[i].n, &err);
        if (!rows[i].msg) {
            tap_ok(rc == 0, "errors: %s: builds", rows[i].name);
            ws_deps_free(&d);
        } else {
            tap_ok(rc == WS_ECONFIG, "errors: %s: refused", rows[i].name);
            if (!tap_ok(strstr(err.msg, rows[i].msg) != NULL, "errors: %s: message names it", rows[i].name))
                tap_diag("got: %s", err.msg);
            tap_ok(strstr(err.msg, "apps/x.yaml:") != NULL, "errors: %s: message names the file", rows[i].name);
        }
        drop_apps(apps, store, rows[i].n);
    }
}

int main(void)
{
    test_parse();
    test_order();
    test_errors();
    return tap_done();
}
