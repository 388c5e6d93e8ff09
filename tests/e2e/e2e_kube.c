/* e2e_kube.c — the Kubernetes client against a real kube-apiserver + etcd
 * started by tests/devcluster (see tests/e2e/kube.sh). TAP output.
 *
 *   e2e_kube           minimal control plane: apply/get/delete/watch/auth/errors
 *   e2e_kube full      --full control plane: a Deployment becomes Available and
 *                      a Job completes on kwok nodes through the real controllers */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <uv.h>

#include "kube/kube.h"
#include "kube/kube_int.h"
#include "config/kubeconfig.h"
#include "../unit/tap.h"
#include "base/util.h"

static uv_loop_t *loop;
static struct ws_http *http;

struct call {
    int done;
    int code;
    long status;
    json_t *body;
    char msg[1024];
    char reason[64];
};

static void on_call(const struct ws_kube_result *res, void *data)
{
    struct call *c = data;
    c->done = 1;
    c->code = res->code;
    c->status = res->status;
    c->body = res->body ? json_incref(res->body) : NULL;
    if (res->err) {
        snprintf(c->msg, sizeof(c->msg), "%s", res->err->msg);
        snprintf(c->reason, sizeof(c->reason), "%s", res->err->reason);
    }
}

static void reset(struct call *c)
{
    json_decref(c->body);
    memset(c, 0, sizeof(*c));
}

/* Run the loop until the call completes (bounded by a 60 s guard). */
static void wait_call(struct call *c)
{
    uint64_t deadline = ws_now_ms() + 60000;
    while (!c->done && ws_now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    if (!c->done) {
        c->code = WS_ETIMEOUT;
        snprintf(c->msg, sizeof(c->msg), "test guard: no answer in 60 s");
    }
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v) {
        printf("Bail out! %s is not set (run through tests/e2e/kube.sh)\n", name);
        exit(1);
    }
    return v;
}

static struct ws_kube *client_from(const char *kubeconfig, const struct ws_kube_opts *opts)
{
    struct ws_kubeconfig cfg;
    struct ws_kube *k = NULL;
    struct ws_err err;
    ws_err_clear(&err);
    if (ws_kubeconfig_load(&cfg, kubeconfig, NULL, &err) < 0 ||
        ws_kube_new(&k, loop, http, &cfg, opts, &err) < 0) {
        printf("Bail out! client from %s: %s\n", kubeconfig, err.msg);
        exit(1);
    }
    return k;
}

static json_t *obj(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    if (!o) {
        printf("Bail out! bad test JSON: %s\n", e.text);
        exit(1);
    }
    return o;
}

static const char *rv_of(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
}

static void apply_ok(struct ws_kube *k, const char *text, const char *name, struct call *c)
{
    json_t *o = obj(text);
    reset(c);
    ws_kube_apply(k, o, NULL, 0, on_call, c);
    json_decref(o);
    wait_call(c);
    if (!tap_ok(c->code == 0, "apply %s", name))
        tap_diag("  %s", c->msg);
}

/* ---- watch helper ------------------------------------------------------- */

struct watch_probe {
    int synced;
    int saw_status;
    int events;
    int errors;
    const char *want_field; /* status field to look for */
    json_int_t want_value;
};

static void on_watch(enum ws_watch_event ev, json_t *o, const struct ws_err *e, void *data)
{
    struct watch_probe *p = data;
    p->events++;
    if (ev == WS_WATCH_SYNCED)
        p->synced = 1;
    else if (ev == WS_WATCH_ERROR) {
        p->errors++;
        tap_diag("watch error: %s", e->msg);
    } else if (o && p->want_field) {
        json_t *v = json_object_get(json_object_get(o, "status"), p->want_field);
        if (json_integer_value(v) == p->want_value)
            p->saw_status = 1;
    }
}

static void run_until(int *flag, uint64_t ms)
{
    uint64_t deadline = ws_now_ms() + ms;
    while (!*flag && ws_now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
}

/* ---- the minimal-mode suite --------------------------------------------- */

static void test_version_and_auth(void)
{
    static const struct {
        const char *envvar, *label;
    } forms[] = {
        {"DEVCLUSTER_KUBECONFIG", "client certificate"},
        {"DEVCLUSTER_KUBECONFIG_TOKEN", "bearer token"},
        {"DEVCLUSTER_KUBECONFIG_EXEC", "exec plugin"},
    };
    struct call c = {0};
    for (size_t i = 0; i < WS_ARRAY_SIZE(forms); i++) {
        struct ws_kube *k = client_from(env(forms[i].envvar), NULL);
        const char *want = env("DEVCLUSTER_K8S_VERSION");
        tap_is_str(ws_kubeconfig_auth_kind(ws_kube_config(k)), forms[i].label,
                   "kubeconfig selects the expected credential");
        /* An authenticated read that needs authorization: list namespaces. */
        reset(&c);
        ws_kube_request(k, "GET", "/api/v1/namespaces?limit=1", NULL, NULL, "list namespaces",
                        on_call, &c);
        wait_call(&c);
        if (!tap_ok(c.code == 0 && c.status == 200, "%s authenticates against the real server",
                    forms[i].label))
            tap_diag("  %s", c.msg);
        reset(&c);
        ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
        wait_call(&c);
        tap_is_str(json_string_value(json_object_get(c.body, "gitVersion")), want,
                   "/version reports the control plane's version");
        if (strcmp(forms[i].label, "exec plugin") == 0) {
            /* Several more requests reuse the cached token. */
            for (int j = 0; j < 5; j++) {
                reset(&c);
                ws_kube_request(k, "GET", "/api/v1/namespaces/default", NULL, NULL, "get ns",
                                on_call, &c);
                wait_call(&c);
            }
            tap_is_int(ws__kube_exec_runs(k), 1, "exec plugin ran once; its token is cached");
        }
        ws_kube_free(k);
    }
    reset(&c);
}

static void test_bad_credentials(void)
{
    struct call c = {0};
    struct ws_kube_opts quick = {.max_retries = -1, .connect_timeout_ms = 2000};
    struct ws_kube *k;
    struct ws_kubeconfig cfg;
    struct ws_err err;
    char *token_kc = NULL;
    FILE *f;

    /* A token the server does not know: 401. */
    ws_err_clear(&err);
    memset(&cfg, 0, sizeof(cfg));
    cfg.server = strdup(env("DEVCLUSTER_SERVER"));
    cfg.ca_file = strdup(env("DEVCLUSTER_CA"));
    cfg.token = strdup("not-a-valid-token");
    cfg.namespace_ = strdup("default");
    ws_kube_new(&k, loop, http, &cfg, &quick, &err);
    ws_kube_request(k, "GET", "/api/v1/namespaces", NULL, NULL, "list namespaces", on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_EAUTH, "wrong token: authentication error");
    tap_contains(c.msg, "401", "wrong token: message has the HTTP status");
    tap_contains(c.msg, "Unauthorized", "wrong token: message has the reason");
    tap_contains(c.msg, "list namespaces", "wrong token: message names the request");
    ws_kube_free(k);

    /* A known user without permissions: 403 with the server's reason. */
    reset(&c);
    k = client_from(env("DEVCLUSTER_KUBECONFIG_NOBODY"), &quick);
    ws_kube_list(k, &(struct ws_kube_ref){"v1", "ConfigMap", "default", NULL}, NULL, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_EAUTH, "no permissions: authorization error");
    tap_contains(c.msg, "403 Forbidden", "no permissions: 403 Forbidden in the message");
    tap_contains(c.msg, "\"nobody\"", "no permissions: the server's message names the user");
    ws_kube_free(k);

    /* A client certificate from a CA the server does not trust: 401. */
    reset(&c);
    k = client_from(env("DEVCLUSTER_KUBECONFIG_ROGUE"), &quick);
    ws_kube_request(k, "GET", "/api/v1/namespaces", NULL, NULL, "list namespaces", on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_EAUTH, "untrusted client certificate: authentication error");
    ws_kube_free(k);

    /* The server's certificate checked against the wrong CA: a TLS error,
     * reported at once (not retried). */
    reset(&c);
    memset(&cfg, 0, sizeof(cfg));
    cfg.server = strdup(env("DEVCLUSTER_SERVER"));
    cfg.ca_file = strdup(env("DEVCLUSTER_ROGUE_CA"));
    cfg.token = strdup("x");
    cfg.namespace_ = strdup("default");
    ws_kube_new(&k, loop, http, &cfg, NULL, &err);
    {
        uint64_t t0 = ws_now_ms();
        ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
        wait_call(&c);
        tap_is_int(c.code, WS_ENET, "untrusted server certificate: TLS verification fails");
        tap_contains(c.msg, "certificate", "TLS failure message mentions the certificate");
        tap_ok(ws_kube_stats(k)->retries == 0, "TLS failures are not retried (%llu ms)",
               (unsigned long long)(ws_now_ms() - t0));
    }
    ws_kube_free(k);

    /* Nothing listens: a clear network error naming the server. */
    reset(&c);
    memset(&cfg, 0, sizeof(cfg));
    cfg.server = strdup("https://127.0.0.1:1");
    cfg.insecure = 1;
    cfg.namespace_ = strdup("default");
    {
        struct ws_kube_opts two = {.max_retries = 2, .retry_base_ms = 50};
        ws_kube_new(&k, loop, http, &cfg, &two, &err);
    }
    ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ENET, "unreachable server: network error");
    tap_contains(c.msg, "cannot reach https://127.0.0.1:1", "unreachable: message names the server");
    tap_is_int(ws_kube_stats(k)->retries, 2, "unreachable: connection errors retried with backoff");
    ws_kube_free(k);

    /* An exec plugin that fails: the error carries its stderr. */
    reset(&c);
    if (asprintf(&token_kc, "%s/exec-plugin.fail", env("DEVCLUSTER_DIR")) > 0 &&
        (f = fopen(token_kc, "w"))) {
        fputs("plugin says: no credentials for you\n", f);
        fclose(f);
        k = client_from(env("DEVCLUSTER_KUBECONFIG_EXEC"), &quick);
        ws_kube_request(k, "GET", "/version", NULL, NULL, "version", on_call, &c);
        wait_call(&c);
        tap_is_int(c.code, WS_EAUTH, "failing exec plugin: authentication error");
        tap_contains(c.msg, "no credentials for you", "failing exec plugin: its stderr is reported");
        ws_kube_free(k);
        remove(token_kc);
    }
    free(token_kc);
    reset(&c);
}

static void test_apply_get_delete(struct ws_kube *k, struct ws_kube *other)
{
    struct call c = {0};
    char rv1[64] = "";
    json_t *o;

    apply_ok(k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"e2e\"}}",
             "Namespace e2e", &c);
    apply_ok(k,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\","
             "\"namespace\":\"e2e\"},\"data\":{\"lr\":\"0.001\",\"epochs\":\"10\"}}",
             "ConfigMap e2e/cfg", &c);
    snprintf(rv1, sizeof(rv1), "%s", rv_of(c.body) ? rv_of(c.body) : "");
    apply_ok(k,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\","
             "\"namespace\":\"e2e\"},\"data\":{\"lr\":\"0.001\",\"epochs\":\"10\"}}",
             "the same ConfigMap again", &c);
    tap_is_str(rv_of(c.body), rv1, "applying an unchanged object keeps its resourceVersion");

    apply_ok(k,
             "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"server\","
             "\"namespace\":\"e2e\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":"
             "\"server\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"server\"}},\"spec\":{"
             "\"containers\":[{\"name\":\"s\",\"image\":\"registry.local/server:1\"}]}}}}",
             "Deployment e2e/server", &c);

    /* Read back. */
    reset(&c);
    ws_kube_get(k, &(struct ws_kube_ref){"apps/v1", "Deployment", "e2e", "server"}, on_call, &c);
    wait_call(&c);
    tap_ok(c.code == 0 && json_integer_value(json_object_get(json_object_get(c.body, "spec"),
                                                               "replicas")) == 2,
           "get Deployment returns the applied spec");
    {
        char *md = c.body ? json_dumps(json_object_get(c.body, "metadata"), JSON_COMPACT) : NULL;
        tap_ok(md && strstr(md, "\"manager\":\"wavesync\"") != NULL,
               "managedFields name the field manager wavesync");
        free(md);
    }

    /* A CRD, then one of its resources straight away (discovery refresh). */
    apply_ok(k,
             "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
             "\"metadata\":{\"name\":\"widgets.e2e.wavesync.dev\"},\"spec\":{\"group\":"
             "\"e2e.wavesync.dev\",\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\","
             "\"singular\":\"widget\",\"kind\":\"Widget\",\"listKind\":\"WidgetList\"},"
             "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"subresources\":{"
             "\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
             "\"x-kubernetes-preserve-unknown-fields\":true}}}]}}",
             "CustomResourceDefinition widgets", &c);
    {
        /* Established takes a moment; retry the custom resource briefly. */
        uint64_t deadline = ws_now_ms() + 20000;
        do {
            o = obj("{\"apiVersion\":\"e2e.wavesync.dev/v1\",\"kind\":\"Widget\",\"metadata\":{"
                    "\"name\":\"w1\",\"namespace\":\"e2e\"},\"spec\":{\"size\":3}}");
            reset(&c);
            ws_kube_apply(k, o, NULL, 0, on_call, &c);
            json_decref(o);
            wait_call(&c);
            if (c.code == 0)
                break;
            uv_sleep(200);
        } while (ws_now_ms() < deadline);
        if (!tap_ok(c.code == 0, "apply a custom resource of the new CRD"))
            tap_diag("  %s", c.msg);
    }
    reset(&c);
    ws_kube_get(k, &(struct ws_kube_ref){"e2e.wavesync.dev/v1", "Widget", "e2e", "w1"}, on_call, &c);
    wait_call(&c);
    tap_ok(c.code == 0 && json_integer_value(json_object_get(json_object_get(c.body, "spec"),
                                                               "size")) == 3,
           "read the custom resource back");

    /* Unknown kind: a discovery error naming kind and version. */
    reset(&c);
    ws_kube_get(k, &(struct ws_kube_ref){"e2e.wavesync.dev/v1", "Gadget", "e2e", "g"}, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ENOTFOUND, "unknown kind in a known group: not found");
    tap_contains(c.msg, "no matches for kind \"Gadget\" in version \"e2e.wavesync.dev/v1\"",
                 "unknown kind: message names kind and version");
    reset(&c);
    ws_kube_get(k, &(struct ws_kube_ref){"nope.example.com/v9", "Thing", "e2e", "t"}, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ENOTFOUND, "unknown group version: not found");

    /* Server dry run changes nothing. */
    o = obj("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"dry\","
            "\"namespace\":\"e2e\"},\"data\":{\"a\":\"b\"}}");
    reset(&c);
    ws_kube_apply(k, o, NULL, WS_APPLY_DRY_RUN, on_call, &c);
    wait_call(&c);
    tap_ok(c.code == 0, "server-side dry run accepted");
    reset(&c);
    ws_kube_get(k, &(struct ws_kube_ref){"v1", "ConfigMap", "e2e", "dry"}, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ENOTFOUND, "dry run created nothing");
    json_decref(o);

    /* Invalid object: 422 with the server's field errors. */
    o = obj("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"Bad_Name\","
            "\"namespace\":\"e2e\"}}");
    reset(&c);
    ws_kube_apply(k, o, NULL, 0, on_call, &c);
    wait_call(&c);
    json_decref(o);
    tap_is_int(c.code, WS_EINVAL, "invalid name: rejected as invalid");
    tap_contains(c.msg, "apply v1 ConfigMap e2e/Bad_Name: 422 Invalid",
                 "invalid: message has operation, identity, status and reason");

    /* A second field manager owning a field: conflict, then force. */
    o = obj("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\","
            "\"namespace\":\"e2e\"},\"data\":{\"lr\":\"0.1\"}}");
    reset(&c);
    ws_kube_apply(other, o, "tuning-bot", 0, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ECONFLICT, "another manager changing our field: conflict");
    tap_contains(c.msg, "409 Conflict", "conflict: 409 Conflict in the message");
    tap_contains(c.msg, "wavesync", "conflict: the message names the owning manager");
    tap_is_str(c.reason, "Conflict", "conflict: the Status reason is kept");
    reset(&c);
    ws_kube_apply(other, o, "tuning-bot", WS_APPLY_FORCE, on_call, &c);
    wait_call(&c);
    tap_ok(c.code == 0 && strcmp(json_string_value(json_object_get(json_object_get(c.body, "data"),
                                                                  "lr")) ?: "",
                                 "0.1") == 0,
           "force takes ownership");
    json_decref(o);

    /* Delete, then it is gone. */
    reset(&c);
    ws_kube_delete(k, &(struct ws_kube_ref){"v1", "ConfigMap", "e2e", "cfg"}, "Background", on_call,
                   &c);
    wait_call(&c);
    tap_ok(c.code == 0, "delete ConfigMap");
    reset(&c);
    ws_kube_get(k, &(struct ws_kube_ref){"v1", "ConfigMap", "e2e", "cfg"}, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ENOTFOUND, "deleted object is gone");
    tap_contains(c.msg, "get v1 ConfigMap e2e/cfg: 404 NotFound", "not found names the object");
    reset(&c);
    ws_kube_delete(k, &(struct ws_kube_ref){"v1", "ConfigMap", "e2e", "cfg"}, NULL, on_call, &c);
    wait_call(&c);
    tap_is_int(c.code, WS_ENOTFOUND, "deleting a missing object: not found");
    reset(&c);
}

static void test_watch_status(struct ws_kube *k, struct ws_kube *other)
{
    struct call c = {0};
    struct watch_probe p = {0};
    struct ws_kube_watch *w;
    json_t *patch = obj("{\"status\":{\"replicas\":2,\"readyReplicas\":2,\"observedGeneration\":1}}");
    p.want_field = "readyReplicas";
    p.want_value = 2;
    w = ws_kube_watch_start(k, &(struct ws_kube_ref){"apps/v1", "Deployment", "e2e", "server"}, NULL,
                            on_watch, &p);
    run_until(&p.synced, 20000);
    tap_ok(p.synced && p.events >= 2, "watch lists the object first, then is synced");
    /* Another client plays the controller. */
    ws_kube_patch_status(other, &(struct ws_kube_ref){"apps/v1", "Deployment", "e2e", "server"}, patch,
                         on_call, &c);
    wait_call(&c);
    if (!tap_ok(c.code == 0, "another client patches /status"))
        tap_diag("  %s", c.msg);
    run_until(&p.saw_status, 20000);
    tap_ok(p.saw_status, "the watch sees the /status change");
    tap_is_int(p.errors, 0, "no watch errors");
    ws_kube_watch_stop(w);
    json_decref(patch);
    reset(&c);
}

struct many {
    int done;
    size_t left, ok;
    char first_err[1100];
};

static void on_many(const struct ws_kube_result *res, void *data)
{
    struct many *m = data;
    if (res->code == 0)
        m->ok++;
    else if (!m->first_err[0])
        snprintf(m->first_err, sizeof(m->first_err), "%s", res->err->msg);
    if (--m->left == 0)
        m->done = 1;
}

static void test_many(struct ws_kube *k)
{
    enum { N = 500 };
    struct many m = {0};
    struct call c = {0};
    uint64_t t0 = ws_now_ms();
    m.left = N;
    for (int i = 0; i < N; i++) {
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:i}}", "apiVersion", "v1", "kind",
                              "ConfigMap", "metadata", "name", "", "namespace", "e2e", "labels",
                              "batch", "many", "data", "index", i);
        char name[32];
        snprintf(name, sizeof(name), "many-%03d", i);
        json_object_set_new(json_object_get(o, "metadata"), "name", json_string(name));
        json_object_set_new(json_object_get(o, "data"), "index", json_sprintf("%d", i));
        ws_kube_apply(k, o, NULL, 0, on_many, &m);
        json_decref(o);
    }
    run_until(&m.done, 120000);
    tap_is_int(m.ok, N, "500 ConfigMaps applied concurrently all succeed");
    if (m.first_err[0])
        tap_diag("  first error: %s", m.first_err);
    tap_diag("500 concurrent applies: %llu ms, %llu requests",
             (unsigned long long)(ws_now_ms() - t0),
             (unsigned long long)ws_kube_stats(k)->requests);
    {
        const struct ws_kube_stats *st = ws_kube_stats(k);
        tap_ok(st->http2 == st->by_class[2] + st->by_class[4] + st->by_class[5] && st->http2 > 500,
               "every response came over HTTP/2 (%llu of %llu)", (unsigned long long)st->http2,
               (unsigned long long)st->requests);
        tap_ok(st->connections <= 4, "connections are reused: %llu opened for %llu requests",
               (unsigned long long)st->connections, (unsigned long long)st->requests);
    }
    ws_kube_list(k, &(struct ws_kube_ref){"v1", "ConfigMap", "e2e", NULL}, "batch=many", on_call, &c);
    wait_call(&c);
    tap_is_int(json_array_size(json_object_get(c.body, "items")), N,
               "listing by label selector finds all 500");
    reset(&c);
}

/* ---- the --full suite ----------------------------------------------------- */

struct cond_probe {
    const char *type;
    int met;
    int failed;
};

static void on_cond(enum ws_watch_event ev, json_t *o, const struct ws_err *e, void *data)
{
    struct cond_probe *p = data;
    json_t *cond;
    size_t i;
    if (ev == WS_WATCH_ERROR) {
        tap_diag("watch error: %s", e->msg);
        p->failed = 1;
        return;
    }
    json_array_foreach(json_object_get(json_object_get(o, "status"), "conditions"), i, cond) {
        const char *t = json_string_value(json_object_get(cond, "type"));
        const char *s = json_string_value(json_object_get(cond, "status"));
        if (t && s && strcmp(t, p->type) == 0 && strcmp(s, "True") == 0)
            p->met = 1;
    }
}

static void test_full(struct ws_kube *k)
{
    struct call c = {0};
    struct cond_probe avail = {"Available", 0, 0}, complete = {"Complete", 0, 0};
    struct ws_kube_watch *w;
    uint64_t t0;
    apply_ok(k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"full\"}}",
             "Namespace full", &c);
    apply_ok(k,
             "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"model\","
             "\"namespace\":\"full\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":"
             "\"model\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"model\"}},\"spec\":{"
             "\"containers\":[{\"name\":\"m\",\"image\":\"registry.local/model:1\",\"resources\":{"
             "\"limits\":{\"nvidia.com/gpu\":1}}}]}}}}",
             "Deployment full/model (1 GPU per pod)", &c);
    t0 = ws_now_ms();
    w = ws_kube_watch_start(k, &(struct ws_kube_ref){"apps/v1", "Deployment", "full", "model"}, NULL,
                            on_cond, &avail);
    run_until(&avail.met, 120000);
    tap_ok(avail.met, "Deployment becomes Available through the real controllers and kwok nodes");
    tap_diag("Available after %llu ms", (unsigned long long)(ws_now_ms() - t0));
    ws_kube_watch_stop(w);

    apply_ok(k,
             "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"train\","
             "\"namespace\":\"full\"},\"spec\":{\"backoffLimit\":0,\"template\":{\"spec\":{"
             "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"t\",\"image\":"
             "\"registry.local/train:1\"}]}}}}",
             "Job full/train", &c);
    t0 = ws_now_ms();
    w = ws_kube_watch_start(k, &(struct ws_kube_ref){"batch/v1", "Job", "full", "train"}, NULL,
                            on_cond, &complete);
    run_until(&complete.met, 120000);
    tap_ok(complete.met, "Job completes on a kwok node");
    tap_diag("Complete after %llu ms", (unsigned long long)(ws_now_ms() - t0));
    ws_kube_watch_stop(w);
    reset(&c);
}

int main(int argc, char **argv)
{
    struct ws_kube *k, *other;
    int full = argc > 1 && strcmp(argv[1], "full") == 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop = uv_default_loop();
    ws_http_new(&http, loop);
    k = client_from(env("DEVCLUSTER_KUBECONFIG"), NULL);
    if (full) {
        test_full(k);
        ws_kube_free(k);
    } else {
        other = client_from(env("DEVCLUSTER_KUBECONFIG_TOKEN"), NULL);
        test_version_and_auth();
        test_bad_credentials();
        test_apply_get_delete(k, other);
        test_watch_status(k, other);
        test_many(k);
        ws_kube_free(k);
        ws_kube_free(other);
    }
    ws_http_close(http);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    curl_global_cleanup();
    return tap_done();
}
