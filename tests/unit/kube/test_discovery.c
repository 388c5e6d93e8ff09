/* test_discovery.c — tests for reconciler/kube/discovery.c: storing recorded
 * APIResourceLists (tests/unit/data/discovery/), kind lookups, misses and
 * forgetting, apiVersion splitting and resource paths. */
#include "kube/discovery.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"

static json_t *load_fixture(const char *file)
{
    const char *src = getenv("WS_SRCDIR");
    char path[4096];
    json_error_t jerr;
    json_t *v;
    snprintf(path, sizeof(path), "%s/tests/unit/data/discovery/%s", src && *src ? src : ".", file);
    if (!(v = json_load_file(path, 0, &jerr)))
        tap_diag("cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
    return v;
}

/* --- lookups against recorded lists --------------------------------------- */

static const struct {
    const char *api_version, *kind;
    int rc;
    const char *group, *version, *resource;
    int namespaced, has_status;
} lookups[] = {
    {"apps/v1", "Deployment", 0, "apps", "v1", "deployments", 1, 1},
    {"apps/v1", "StatefulSet", 0, "apps", "v1", "statefulsets", 1, 1},
    {"apps/v1", "DaemonSet", 0, "apps", "v1", "daemonsets", 1, 1},
    {"apps/v1", "ReplicaSet", 0, "apps", "v1", "replicasets", 1, 1},
    {"apps/v1", "ControllerRevision", 0, "apps", "v1", "controllerrevisions", 1, 0},
    {"apps/v1", "Scale", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0},    /* only a subresource */
    {"apps/v1", "Pod", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0},      /* other group */
    {"apps/v1", "deployment", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0}, /* kinds are case-sensitive */
    {"v1", "Pod", 0, "", "v1", "pods", 1, 1},
    {"v1", "ConfigMap", 0, "", "v1", "configmaps", 1, 0},
    {"v1", "Secret", 0, "", "v1", "secrets", 1, 0},
    {"v1", "Service", 0, "", "v1", "services", 1, 1},
    {"v1", "Namespace", 0, "", "v1", "namespaces", 0, 1},
    {"v1", "Node", 0, "", "v1", "nodes", 0, 1},
    {"v1", "PersistentVolume", 0, "", "v1", "persistentvolumes", 0, 1},
    {"v1", "ComponentStatus", 0, "", "v1", "componentstatuses", 0, 0},
    {"v1", "Endpoints", 0, "", "v1", "endpoints", 1, 0},
    {"v1", "Binding", 0, "", "v1", "bindings", 1, 0}, /* not pods/binding */
    {"v1", "Eviction", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0},
    {"v1", "TokenRequest", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0},
    {"v1", "PodExecOptions", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0},
    {"v1", "Deployment", WS_ENOTFOUND, NULL, NULL, NULL, 0, 0},
    {"batch/v1", "Job", 1, NULL, NULL, NULL, 0, 0}, /* not cached */
    {"apps/v1beta1", "Deployment", 1, NULL, NULL, NULL, 0, 0},
};

static void test_lookups(void)
{
    struct ws_discovery *d = NULL;
    json_t *apps = load_fixture("ok_apps_v1.json"), *core = load_fixture("ok_core_v1.json");
    struct ws_err err;
    size_t i;

    tap_ok(apps && core, "fixtures load");
    tap_is_int(ws_discovery_new(&d), 0, "discovery_new");
    if (!d || !apps || !core)
        goto out;
    ws_err_clear(&err);
    tap_is_int(ws_discovery_store(d, "apps/v1", apps, 1000, &err), 0, "store apps/v1");
    tap_is_int(ws_discovery_store(d, "v1", core, 2000, &err), 0, "store v1");

    for (i = 0; i < WS_ARRAY_SIZE(lookups); i++) {
        struct ws_resource r;
        uint64_t at = 77;
        int rc;
        memset(&r, 0xAB, sizeof(r));
        rc = ws_discovery_lookup(d, lookups[i].api_version, lookups[i].kind, &r, &at);
        if (!tap_ok(rc == lookups[i].rc, "lookup %s %s: rc %d", lookups[i].api_version,
                    lookups[i].kind, lookups[i].rc))
            tap_diag("  got %d", rc);
        if (rc == 1) {
            tap_ok(at == 77, "lookup %s %s: fetched_ms untouched when not cached",
                   lookups[i].api_version, lookups[i].kind);
            continue;
        }
        tap_ok(at == (strcmp(lookups[i].api_version, "v1") == 0 ? 2000u : 1000u),
               "lookup %s %s: fetched_ms is the store time", lookups[i].api_version, lookups[i].kind);
        if (rc != 0 || lookups[i].rc != 0)
            continue;
        tap_ok(strcmp(r.group, lookups[i].group) == 0 && strcmp(r.version, lookups[i].version) == 0,
               "lookup %s %s: group \"%s\" version \"%s\"", lookups[i].api_version,
               lookups[i].kind, r.group, r.version);
        tap_ok(strcmp(r.kind, lookups[i].kind) == 0, "lookup %s %s: kind", lookups[i].api_version,
               lookups[i].kind);
        tap_ok(strcmp(r.resource, lookups[i].resource) == 0, "lookup %s %s: plural %s (got %s)",
               lookups[i].api_version, lookups[i].kind, lookups[i].resource, r.resource);
        tap_ok(r.namespaced == lookups[i].namespaced, "lookup %s %s: namespaced %d",
               lookups[i].api_version, lookups[i].kind, lookups[i].namespaced);
        tap_ok(r.has_status == lookups[i].has_status, "lookup %s %s: has_status %d",
               lookups[i].api_version, lookups[i].kind, lookups[i].has_status);
    }

    /* fetched_ms may be NULL. */
    {
        struct ws_resource r;
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "Deployment", &r, NULL), 0,
                   "lookup with fetched_ms NULL");
    }

    /* A group version the server does not serve. */
    {
        struct ws_resource r;
        uint64_t at = 0;
        ws_discovery_store_missing(d, "batch/v2alpha1", 3000);
        tap_is_int(ws_discovery_lookup(d, "batch/v2alpha1", "CronJob", &r, &at), WS_ENOTFOUND,
                   "store_missing: lookup is WS_ENOTFOUND");
        tap_is_int(at, 3000, "store_missing: fetched_ms is the miss time");
        ws_discovery_forget(d, "batch/v2alpha1");
        tap_is_int(ws_discovery_lookup(d, "batch/v2alpha1", "CronJob", &r, &at), 1,
                   "forget: lookup is 1 (fetch again)");
        ws_discovery_forget(d, "batch/v2alpha1"); /* forgetting twice is harmless */
        ws_discovery_forget(d, "never/stored");
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "Deployment", &r, NULL), 0,
                   "forget: other group versions kept");

        /* A group version that used to exist, now gone. */
        ws_discovery_store_missing(d, "apps/v1", 4000);
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "Deployment", &r, &at), WS_ENOTFOUND,
                   "store_missing replaces a stored list");
        tap_is_int(at, 4000, "store_missing replaces the time");
        ws_discovery_forget(d, "apps/v1");
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "Deployment", &r, &at), 1,
                   "forget apps/v1: not cached");
        tap_is_int(ws_discovery_lookup(d, "v1", "Pod", &r, &at), 0, "forget apps/v1: v1 kept");
    }

    /* Storing again replaces what was known. */
    {
        struct ws_resource r;
        uint64_t at = 0;
        json_t *smaller = json_deep_copy(apps), *res = json_object_get(smaller, "resources");
        size_t j;
        json_t *item;
        /* keep only deployments and deployments/status */
        for (j = json_array_size(res); j-- > 0;) {
            const char *n;
            item = json_array_get(res, j);
            n = json_string_value(json_object_get(item, "name"));
            if (strncmp(n, "deployments", 11) != 0)
                json_array_remove(res, j);
        }
        tap_is_int(ws_discovery_store(d, "apps/v1", apps, 5000, &err), 0, "re-store apps/v1");
        tap_is_int(ws_discovery_store(d, "apps/v1", smaller, 6000, &err), 0,
                   "store a smaller apps/v1");
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "StatefulSet", &r, &at), WS_ENOTFOUND,
                   "re-store: a kind that went away is WS_ENOTFOUND");
        tap_is_int(at, 6000, "re-store: new time");
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "Deployment", &r, &at), 0,
                   "re-store: remaining kind found");
        json_decref(smaller);
    }

out:
    ws_discovery_free(d);
    ws_discovery_free(NULL);
    json_decref(apps);
    json_decref(core);
}

/* --- several resources sharing a kind, odd entries ------------------------ */

static void test_shared_kind(void)
{
    static const char list_text[] =
        "{\"kind\": \"APIResourceList\", \"groupVersion\": \"example.com/v1\", \"resources\": ["
        " {\"name\": \"widgetsreadonly\", \"kind\": \"Widget\", \"namespaced\": false,"
        "  \"verbs\": [\"get\", \"list\"]},"
        " {\"name\": \"widgetsreadonly/status\", \"kind\": \"Widget\", \"verbs\": [\"get\"]},"
        " {\"name\": \"widgets\", \"kind\": \"Widget\", \"namespaced\": true,"
        "  \"verbs\": [\"get\", \"patch\"]},"
        " {\"name\": \"widgetsv2\", \"kind\": \"Widget\", \"namespaced\": false,"
        "  \"verbs\": [\"get\", \"patch\"]},"
        " {\"name\": \"gadgets\", \"kind\": \"Gadget\", \"namespaced\": true, \"verbs\": [\"get\"]},"
        " {\"name\": \"gadgetsalias\", \"kind\": \"Gadget\", \"namespaced\": false,"
        "  \"verbs\": [1, \"list\"]},"
        " {\"name\": \"gadgets/status\", \"kind\": \"Gadget\", \"verbs\": [\"patch\"]},"
        " {\"name\": \"gadgets/statusx\", \"kind\": \"Gadget\"},"
        " {\"kind\": \"Nameless\", \"verbs\": [\"patch\"]},"
        " {\"name\": \"kindless\", \"verbs\": [\"patch\"]},"
        " {\"name\": 7, \"kind\": \"NumberName\"},"
        " \"not an object\""
        "]}";
    json_t *list = json_loads(list_text, 0, NULL);
    struct ws_discovery *d = NULL;
    struct ws_resource r;
    struct ws_err err;

    tap_ok(list != NULL, "shared kind: test JSON parses");
    ws_discovery_new(&d);
    ws_err_clear(&err);
    tap_is_int(ws_discovery_store(d, "example.com/v1", list, 1, &err), 0,
               "shared kind: store tolerates odd entries");
    tap_is_int(ws_discovery_lookup(d, "example.com/v1", "Widget", &r, NULL), 0, "shared kind: Widget");
    tap_is_str(r.resource, "widgets", "shared kind: the first plural with patch wins");
    tap_is_int(r.namespaced, 1, "shared kind: scope from the winning plural");
    tap_is_int(r.has_status, 0, "shared kind: a losing plural's /status does not count");
    tap_is_str(r.group, "example.com", "shared kind: dotted group");
    tap_is_int(ws_discovery_lookup(d, "example.com/v1", "Gadget", &r, NULL), 0, "shared kind: Gadget");
    tap_is_str(r.resource, "gadgets", "shared kind: without patch anywhere, the first wins");
    tap_is_int(r.namespaced, 1, "shared kind: Gadget namespaced");
    tap_is_int(r.has_status, 1, "shared kind: gadgets/status counts, gadgets/statusx does not matter");
    tap_is_int(ws_discovery_lookup(d, "example.com/v1", "Nameless", &r, NULL), WS_ENOTFOUND,
               "shared kind: entry without name skipped");
    tap_is_int(ws_discovery_lookup(d, "example.com/v1", "NumberName", &r, NULL), WS_ENOTFOUND,
               "shared kind: entry with a non-string name skipped");
    ws_discovery_free(d);
    json_decref(list);

    /* /status only marks its own plural: statusx is not a status subresource. */
    {
        json_t *l = json_pack("{s:[{s:s, s:s, s:b}, {s:s, s:s}]}", "resources", "name", "things",
                              "kind", "Thing", "namespaced", 1, "name", "things/statusx", "kind",
                              "Thing");
        d = NULL;
        ws_discovery_new(&d);
        ws_discovery_store(d, "x.io/v1", l, 1, NULL);
        tap_ok(ws_discovery_lookup(d, "x.io/v1", "Thing", &r, NULL) == 0 && r.has_status == 0,
               "\"things/statusx\" is not a status subresource");
        ws_discovery_free(d);
        json_decref(l);
    }

    /* An empty list is valid: the group version exists but has no kinds. */
    {
        json_t *l = json_pack("{s:s, s:[]}", "kind", "APIResourceList", "resources");
        uint64_t at = 0;
        d = NULL;
        ws_discovery_new(&d);
        tap_is_int(ws_discovery_store(d, "empty.io/v1", l, 9, &err), 0, "empty list stores");
        tap_is_int(ws_discovery_lookup(d, "empty.io/v1", "Any", &r, &at), WS_ENOTFOUND,
                   "empty list: lookup WS_ENOTFOUND");
        tap_is_int(at, 9, "empty list: fetched_ms");
        ws_discovery_free(d);
        json_decref(l);
    }
}

/* --- not an APIResourceList -------------------------------------------------- */

static void test_not_a_list(void)
{
    static const char *const texts[] = {
        "[]",
        "\"apps/v1\"",
        "{}",
        "{\"kind\": \"APIResourceList\", \"resources\": {}}",
        "{\"kind\": \"APIResourceList\", \"resources\": null}",
    };
    static const char *const files[] = {"err_status_404.json", "err_api_group_list.json"};
    struct ws_discovery *d = NULL;
    struct ws_resource r;
    struct ws_err err;
    size_t i;

    ws_discovery_new(&d);
    for (i = 0; i < WS_ARRAY_SIZE(texts) + WS_ARRAY_SIZE(files); i++) {
        const char *what = i < WS_ARRAY_SIZE(texts) ? texts[i] : files[i - WS_ARRAY_SIZE(texts)];
        json_t *v = i < WS_ARRAY_SIZE(texts) ? json_loads(texts[i], JSON_DECODE_ANY, NULL)
                                             : load_fixture(what);
        int rc;
        ws_err_clear(&err);
        rc = ws_discovery_store(d, "apps/v1", v, 1, &err);
        tap_ok(rc == WS_EINVAL && err.code == WS_EINVAL, "not a list: %s is WS_EINVAL", what);
        tap_contains(err.msg, "apps/v1", "not a list: message names the group version");
        tap_contains(err.msg, "not an APIResourceList", "not a list: message says why");
        tap_is_int(ws_discovery_lookup(d, "apps/v1", "Deployment", &r, NULL), 1,
                   "not a list: nothing cached");
        json_decref(v);
    }
    tap_is_int(ws_discovery_store(d, "apps/v1", NULL, 1, &err), WS_EINVAL, "not a list: NULL");
    tap_is_int(ws_discovery_store(d, "apps/v1", json_null(), 1, NULL), WS_EINVAL,
               "not a list: null with err NULL");
    ws_discovery_free(d);
}

/* --- apiVersion split and gv paths -------------------------------------------- */

static const struct {
    const char *in;
    int rc;
    const char *group, *version;
} splits[] = {
    {"v1", 0, "", "v1"},
    {"apps/v1", 0, "apps", "v1"},
    {"networking.k8s.io/v1", 0, "networking.k8s.io", "v1"},
    {"example.com/v1beta1", 0, "example.com", "v1beta1"},
    {"", WS_EINVAL, NULL, NULL},
    {"/v1", WS_EINVAL, NULL, NULL},
    {"apps/", WS_EINVAL, NULL, NULL},
    {"a/b/c", WS_EINVAL, NULL, NULL},
    {"/", WS_EINVAL, NULL, NULL},
    {"apps//v1", WS_EINVAL, NULL, NULL},
};

static void test_split(void)
{
    char group[254], version[64];
    size_t i;

    for (i = 0; i < WS_ARRAY_SIZE(splits); i++) {
        int rc;
        strcpy(group, "untouched");
        strcpy(version, "untouched");
        rc = ws_api_version_split(splits[i].in, group, sizeof(group), version, sizeof(version));
        if (splits[i].rc == 0)
            tap_ok(rc == 0 && strcmp(group, splits[i].group) == 0 &&
                       strcmp(version, splits[i].version) == 0,
                   "split \"%s\" = \"%s\" + \"%s\" (got %d \"%s\" \"%s\")", splits[i].in,
                   splits[i].group, splits[i].version, rc, group, version);
        else
            tap_ok(rc == splits[i].rc, "split \"%s\" is WS_EINVAL", splits[i].in);
    }
    tap_is_int(ws_api_version_split(NULL, group, sizeof(group), version, sizeof(version)), WS_EINVAL,
               "split NULL is WS_EINVAL");

    /* Too long for the caller's buffers. */
    tap_is_int(ws_api_version_split("apps/v1", group, 4, version, sizeof(version)), WS_EINVAL,
               "split: group longer than its buffer");
    tap_is_int(ws_api_version_split("apps/v1", group, 5, version, sizeof(version)), 0,
               "split: group exactly fits its buffer");
    tap_is_int(ws_api_version_split("apps/v1beta1", group, sizeof(group), version, 7), WS_EINVAL,
               "split: version longer than its buffer");
    tap_is_int(ws_api_version_split("v1beta1", group, sizeof(group), version, 7), WS_EINVAL,
               "split: core version longer than its buffer");
    tap_is_int(ws_api_version_split("v1beta1", group, sizeof(group), version, 8), 0,
               "split: core version exactly fits");
}

static void test_gv_path(void)
{
    char p[64];
    ws_discovery_gv_path(p, sizeof(p), "v1");
    tap_is_str(p, "/api/v1", "gv path: core");
    ws_discovery_gv_path(p, sizeof(p), "apps/v1");
    tap_is_str(p, "/apis/apps/v1", "gv path: group");
    ws_discovery_gv_path(p, sizeof(p), "networking.k8s.io/v1");
    tap_is_str(p, "/apis/networking.k8s.io/v1", "gv path: dotted group");
    ws_discovery_gv_path(p, 8, "apps/v1");
    tap_is_str(p, "/apis/a", "gv path: truncated to the buffer, NUL-terminated");
}

/* --- resource paths ------------------------------------------------------------ */

static const struct ws_resource pods = {"", "v1", "Pod", "pods", 1, 1};
static const struct ws_resource namespaces = {"", "v1", "Namespace", "namespaces", 0, 1};
static const struct ws_resource deployments = {"apps", "v1", "Deployment", "deployments", 1, 1};
static const struct ws_resource crbs = {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
                                        "clusterrolebindings", 0, 0};

static const struct {
    const struct ws_resource *r;
    const char *ns, *name, *sub, *want;
} paths[] = {
    {&pods, "ml", "trainer-0", NULL, "/api/v1/namespaces/ml/pods/trainer-0"},
    {&pods, "ml", "trainer-0", "status", "/api/v1/namespaces/ml/pods/trainer-0/status"},
    {&pods, "ml", NULL, NULL, "/api/v1/namespaces/ml/pods"},
    {&pods, "ml", "", NULL, "/api/v1/namespaces/ml/pods"},
    {&pods, "ml", NULL, "status", "/api/v1/namespaces/ml/pods"}, /* sub needs a name */
    {&pods, NULL, NULL, NULL, "/api/v1/pods"},                   /* all namespaces */
    {&pods, "", "x", NULL, "/api/v1/pods/x"},
    {&namespaces, "ml", "ml", NULL, "/api/v1/namespaces/ml"},   /* ns ignored: cluster-scoped */
    {&namespaces, "ignored", "ml", "status", "/api/v1/namespaces/ml/status"},
    {&namespaces, NULL, NULL, NULL, "/api/v1/namespaces"},
    {&deployments, "ml", "trainer", NULL, "/apis/apps/v1/namespaces/ml/deployments/trainer"},
    {&deployments, "ml", "trainer", "scale", "/apis/apps/v1/namespaces/ml/deployments/trainer/scale"},
    {&crbs, "ml", "system:controller:foo", NULL,
     "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system%3Acontroller%3Afoo"},
    {&pods, "a b", "x/y?z#w", NULL, "/api/v1/namespaces/a%20b/pods/x%2Fy%3Fz%23w"},
    {&pods, "ml", "100%", NULL, "/api/v1/namespaces/ml/pods/100%25"},
    {&pods, "ml", "..", NULL, "/api/v1/namespaces/ml/pods/.."},
};

static void test_resource_path(void)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(paths); i++) {
        struct ws_buf b;
        char name[300];
        int rc;
        ws_buf_init(&b, 0);
        rc = ws_resource_path(&b, paths[i].r, paths[i].ns, paths[i].name, paths[i].sub);
        snprintf(name, sizeof(name), "resource path: %s", paths[i].want);
        tap_ok(rc == 0, "resource path rc %zu", i);
        tap_is_str(b.data, paths[i].want, name);
        ws_buf_free(&b);
    }

    /* Appends to what the buffer holds, and respects its limit. */
    {
        struct ws_buf b;
        ws_buf_init(&b, 0);
        ws_buf_append(&b, "https://k", 9);
        tap_is_int(ws_resource_path(&b, &pods, "ml", "p", NULL), 0, "resource path: appends");
        tap_is_str(b.data, "https://k/api/v1/namespaces/ml/pods/p", "resource path: after a prefix");
        ws_buf_free(&b);

        ws_buf_init(&b, 20);
        tap_is_int(ws_resource_path(&b, &pods, "ml", "trainer-0", NULL), WS_ELIMIT,
                   "resource path: too long for the buffer is WS_ELIMIT");
        ws_buf_free(&b);
    }
}

int main(void)
{
    test_lookups();
    test_shared_kind();
    test_not_a_list();
    test_split();
    test_gv_path();
    test_resource_path();
    return tap_done();
}
