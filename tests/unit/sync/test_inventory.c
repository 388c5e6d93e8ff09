/* test_inventory.c — table-driven tests for reconciler/sync/inventory.c: the
 * inventory ConfigMap's name, object references, tracking ids, the ConfigMap
 * round trip (and what a damaged one reads as), and same/union/minus. */
#include "sync/inventory.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testjson.h"


static void diag_json(const char *label, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    tap_diag("  %s: %s", label, s ? s : "(NULL)");
    free(s);
}

static void is_json(const json_t *got, const char *want_text, const char *what, const char *name)
{
    json_t *want = J(want_text);
    if (!tap_ok(got && json_equal(got, want), "%s: %s", what, name)) {
        diag_json("got ", got);
        diag_json("want", want);
    }
    json_decref(want);
}

/* "a" repeated n times, in a static buffer. */
static const char *repeat(char c, size_t n)
{
    static char buf[512];
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* A Kubernetes label value: empty, or at most 63 characters of [A-Za-z0-9-_.]
 * beginning and ending with an alphanumeric. */
static int valid_label_value(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (!v)
        return 0;
    if (n == 0)
        return 1;
    if (n > 63 || !isalnum((unsigned char)v[0]) || !isalnum((unsigned char)v[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("-_.", v[i]))
            return 0;
    return 1;
}

/* ---- ws_inventory_name ------------------------------------------------------ */

struct name_case {
    const char *name, *app;
    size_t len;       /* buffer size */
    const char *want; /* NULL: check only the length */
    size_t want_len;
};

static void test_name(void)
{
    char long_app[300];
    memset(long_app, 'a', sizeof(long_app) - 1);
    long_app[sizeof(long_app) - 1] = '\0';
    const struct name_case cases[] = {
        {"plain app name", "guestbook", 300, "wavesync-inventory-guestbook", 0},
        {"upper case is lowered", "GuestBook-Prod", 300, "wavesync-inventory-guestbook-prod", 0},
        {"dots and digits kept", "team.app-2", 300, "wavesync-inventory-team.app-2", 0},
        {"a small buffer truncates, NUL-terminated", "guestbook", 10, "wavesync-", 0},
        {"a 299-character app is cut to 253 characters", long_app, 300, NULL, 253},
        {"exactly 253 characters are kept", repeat('b', 253 - 19), 300, NULL, 253},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct name_case *c = &cases[i];
        char out[300], name[200];
        memset(out, 'X', sizeof(out));
        ws_inventory_name(out, c->len, c->app);
        snprintf(name, sizeof(name), "name: %s", c->name);
        if (c->want) {
            tap_is_str(out, c->want, name);
        } else {
            int ok = strnlen(out, sizeof(out)) == c->want_len &&
                     strncmp(out, "wavesync-inventory-", 19) == 0;
            if (!tap_ok(ok, "%s", name))
                tap_diag("  got length %zu", strnlen(out, sizeof(out)));
        }
    }
}

/* ---- ws_inventory_ref ------------------------------------------------------- */

struct ref_case {
    const char *name, *obj, *want;
};

static const struct ref_case ref_cases[] = {
    {"namespaced object: apiVersion, kind, namespace, name",
     "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','namespace':'prod',"
     "'labels':{'a':'b'}},'spec':{'replicas':3}}",
     "{'apiVersion':'apps/v1','kind':'Deployment','namespace':'prod','name':'web'}"},
    {"cluster-scoped object: no namespace member",
     "{'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRole','metadata':{'name':'r'}}",
     "{'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRole','name':'r'}"},
    {"empty namespace: no namespace member",
     "{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'prod','namespace':''}}",
     "{'apiVersion':'v1','kind':'Namespace','name':'prod'}"},
};

static void test_ref(void)
{
    for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
        json_t *obj = J(ref_cases[i].obj), *ref = ws_inventory_ref(obj);
        is_json(ref, ref_cases[i].want, "ref", ref_cases[i].name);
        json_decref(ref);
        json_decref(obj);
    }
}

/* ---- ws_tracking_id --------------------------------------------------------- */

struct tid_case {
    const char *name, *app, *obj, *want;
};

static const struct tid_case tid_cases[] = {
    {"core kind: empty group", "guestbook",
     "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'cfg','namespace':'prod'}}",
     "guestbook:/ConfigMap:prod/cfg"},
    {"grouped kind: group without version", "guestbook",
     "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','namespace':'prod'}}",
     "guestbook:apps/Deployment:prod/web"},
    {"dotted group, alpha version", "my-app",
     "{'apiVersion':'cert-manager.io/v1alpha2','kind':'Certificate','metadata':{'name':'tls',"
     "'namespace':'ingress'}}",
     "my-app:cert-manager.io/Certificate:ingress/tls"},
    {"cluster-scoped grouped kind: empty namespace", "guestbook",
     "{'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRole','metadata':{'name':'view'}}",
     "guestbook:rbac.authorization.k8s.io/ClusterRole:/view"},
    {"cluster-scoped core kind", "guestbook",
     "{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'prod'}}",
     "guestbook:/Namespace:/prod"},
};

static void test_tracking_id(void)
{
    for (size_t i = 0; i < sizeof(tid_cases) / sizeof(tid_cases[0]); i++) {
        const struct tid_case *c = &tid_cases[i];
        json_t *obj = J(c->obj);
        char *tid = ws_tracking_id(c->app, obj);
        char name[200];
        snprintf(name, sizeof(name), "tracking id: %s", c->name);
        tap_is_str(tid, c->want, name);
        free(tid);
        json_decref(obj);
    }
}

/* ---- ws_inventory_configmap / ws_inventory_refs ------------------------------ */

static const char *const sample_refs =
    "[{'apiVersion':'v1','kind':'Namespace','name':'prod'},"
    "{'apiVersion':'apps/v1','kind':'Deployment','namespace':'prod','name':'web'},"
    "{'apiVersion':'v1','kind':'Service','namespace':'prod','name':'web \\u00e9\\\"q\\\"'}]";

static void test_configmap(void)
{
    json_t *refs = J(sample_refs), *cm = ws_inventory_configmap("GuestBook", "wavesync", refs);
    json_t *back = ws_inventory_refs(cm), *md = json_object_get(cm, "metadata");
    json_t *labels = json_object_get(md, "labels");
    const char *text = json_string_value(json_object_get(json_object_get(cm, "data"), "objects.json"));
    json_t *empty = json_array(), *cm_empty = ws_inventory_configmap("a", "ns", empty);
    json_t *back_empty = ws_inventory_refs(cm_empty);
    char long_app[71];
    json_t *cm_long;
    const char *label;

    tap_ok(cm && strcmp(json_string_value(json_object_get(cm, "apiVersion")), "v1") == 0 &&
               strcmp(json_string_value(json_object_get(cm, "kind")), "ConfigMap") == 0,
           "configmap: a v1 ConfigMap");
    tap_is_str(json_string_value(json_object_get(md, "name")), "wavesync-inventory-guestbook",
               "configmap: named by ws_inventory_name");
    tap_is_str(json_string_value(json_object_get(md, "namespace")), "wavesync",
               "configmap: in the inventory namespace");
    tap_is_str(json_string_value(json_object_get(labels, "app.kubernetes.io/managed-by")), "wavesync",
               "configmap: managed-by label");
    tap_is_str(json_string_value(json_object_get(labels, WS_INVENTORY_LABEL)), "guestbook",
               "configmap: inventory-for label is the (lowered) app");
    {
        json_t *parsed = text ? json_loads(text, 0, NULL) : NULL;
        tap_ok(json_is_array(parsed) && strchr(text, '\n') == NULL,
               "configmap: data.objects.json is compact JSON text");
        json_decref(parsed);
    }
    is_json(back, sample_refs, "configmap", "round trip through ws_inventory_refs");
    is_json(back_empty, "[]", "configmap", "empty inventory round trip");

    /* Application names may be up to 253 characters; a label value at most
     * 63, or the apiserver rejects the ConfigMap (422). */
    memset(long_app, 'l', sizeof(long_app) - 1);
    long_app[sizeof(long_app) - 1] = '\0';
    cm_long = ws_inventory_configmap(long_app, "ns", empty);
    label = json_string_value(
        json_object_get(json_object_get(json_object_get(cm_long, "metadata"), "labels"), WS_INVENTORY_LABEL));
    if (!tap_ok(valid_label_value(label), "configmap: a 70-character app still gets a valid label value"))
        tap_diag("  label value has %zu characters", label ? strlen(label) : 0);

    json_decref(cm_long);
    json_decref(back_empty);
    json_decref(cm_empty);
    json_decref(empty);
    json_decref(back);
    json_decref(cm);
    json_decref(refs);
}

struct refs_case {
    const char *name, *configmap, *want;
};

static const struct refs_case refs_cases[] = {
    {"ConfigMap without data", "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'x'}}", "[]"},
    {"data without objects.json", "{'data':{'other':'[1]'}}", "[]"},
    {"garbage JSON", "{'data':{'objects.json':'[{not json'}}", "[]"},
    {"JSON that is not an array", "{'data':{'objects.json':'{\\\"a\\\":1}'}}", "[]"},
    {"objects.json not a string", "{'data':{'objects.json':[1]}}", "[]"},
    {"empty string", "{'data':{'objects.json':''}}", "[]"},
    {"a valid array", "{'data':{'objects.json':'[{\\\"kind\\\":\\\"Pod\\\",\\\"name\\\":\\\"p\\\"}]'}}",
     "[{'kind':'Pod','name':'p'}]"},
    {"NULL ConfigMap", NULL, "[]"},
};

static void test_refs(void)
{
    for (size_t i = 0; i < sizeof(refs_cases) / sizeof(refs_cases[0]); i++) {
        json_t *cm = J(refs_cases[i].configmap), *refs = ws_inventory_refs(cm);
        is_json(refs, refs_cases[i].want, "refs", refs_cases[i].name);
        json_decref(refs);
        json_decref(cm);
    }
}

/* ---- ws_inventory_same / union / minus -------------------------------------- */

struct same_case {
    const char *name, *a, *b;
    int want;
};

static const struct same_case same_cases[] = {
    {"identical", "{'apiVersion':'apps/v1','kind':'Deployment','namespace':'n','name':'w'}",
     "{'apiVersion':'apps/v1','kind':'Deployment','namespace':'n','name':'w'}", 1},
    {"version differs, group equal",
     "{'apiVersion':'autoscaling/v1','kind':'HorizontalPodAutoscaler','namespace':'n','name':'w'}",
     "{'apiVersion':'autoscaling/v2','kind':'HorizontalPodAutoscaler','namespace':'n','name':'w'}", 1},
    {"group differs", "{'apiVersion':'extensions/v1beta1','kind':'Ingress','namespace':'n','name':'w'}",
     "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','namespace':'n','name':'w'}", 0},
    {"group is a prefix of the other",
     "{'apiVersion':'apps/v1','kind':'Deployment','namespace':'n','name':'w'}",
     "{'apiVersion':'apps.example.com/v1','kind':'Deployment','namespace':'n','name':'w'}", 0},
    {"core against a group", "{'apiVersion':'v1','kind':'Service','namespace':'n','name':'w'}",
     "{'apiVersion':'example.com/v1','kind':'Service','namespace':'n','name':'w'}", 0},
    {"kind differs", "{'apiVersion':'v1','kind':'Service','namespace':'n','name':'w'}",
     "{'apiVersion':'v1','kind':'ConfigMap','namespace':'n','name':'w'}", 0},
    {"namespace differs", "{'apiVersion':'v1','kind':'Service','namespace':'a','name':'w'}",
     "{'apiVersion':'v1','kind':'Service','namespace':'b','name':'w'}", 0},
    {"absent namespace equals empty namespace", "{'apiVersion':'v1','kind':'Namespace','name':'w'}",
     "{'apiVersion':'v1','kind':'Namespace','namespace':'','name':'w'}", 1},
    {"name differs", "{'apiVersion':'v1','kind':'Service','namespace':'n','name':'a'}",
     "{'apiVersion':'v1','kind':'Service','namespace':'n','name':'b'}", 0},
};

static void test_same(void)
{
    for (size_t i = 0; i < sizeof(same_cases) / sizeof(same_cases[0]); i++) {
        const struct same_case *c = &same_cases[i];
        json_t *a = J(c->a), *b = J(c->b);
        int got = ws_inventory_same(a, b), rev = ws_inventory_same(b, a);
        if (!tap_ok(got == c->want && rev == c->want, "same: %s", c->name))
            tap_diag("  got %d (reversed %d), want %d", got, rev, c->want);
        json_decref(a);
        json_decref(b);
    }
}

#define DEP1 "{'apiVersion':'apps/v1','kind':'Deployment','namespace':'n','name':'one'}"
#define DEP1_OLD "{'apiVersion':'apps/v1beta2','kind':'Deployment','namespace':'n','name':'one'}"
#define SVC1 "{'apiVersion':'v1','kind':'Service','namespace':'n','name':'one'}"
#define CM1 "{'apiVersion':'v1','kind':'ConfigMap','namespace':'n','name':'one'}"
#define NS "{'apiVersion':'v1','kind':'Namespace','name':'n'}"

struct set_case {
    const char *name, *a, *b, *want_union, *want_minus;
};

static const struct set_case set_cases[] = {
    {"disjoint: a's then b's; a minus b is a", "[" DEP1 "," SVC1 "]", "[" CM1 "]",
     "[" DEP1 "," SVC1 "," CM1 "]", "[" DEP1 "," SVC1 "]"},
    {"overlap: the shared ref once, at a's position", "[" SVC1 "," DEP1 "]", "[" NS "," DEP1 "]",
     "[" SVC1 "," DEP1 "," NS "]", "[" SVC1 "]"},
    {"same object at another version: a's version kept, and it is not in a minus b",
     "[" DEP1_OLD "," CM1 "]", "[" DEP1 "]", "[" DEP1_OLD "," CM1 "]", "[" CM1 "]"},
    {"duplicates within a are dropped by union", "[" CM1 "," CM1 "," NS "]", "[]", "[" CM1 "," NS "]",
     "[" CM1 "," CM1 "," NS "]"},
    {"empty a", "[]", "[" NS "]", "[" NS "]", "[]"},
    {"empty b", "[" NS "]", "[]", "[" NS "]", "[" NS "]"},
    {"b covers a: nothing left", "[" NS "," CM1 "]", "[" CM1 "," SVC1 "," NS "]",
     "[" NS "," CM1 "," SVC1 "]", "[]"},
};

static void test_sets(void)
{
    for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
        const struct set_case *c = &set_cases[i];
        json_t *a = J(c->a), *b = J(c->b);
        json_t *a_before = json_deep_copy(a), *b_before = json_deep_copy(b);
        json_t *u = ws_inventory_union(a, b), *m = ws_inventory_minus(a, b);
        is_json(u, c->want_union, "union", c->name);
        is_json(m, c->want_minus, "minus", c->name);
        tap_ok(json_equal(a, a_before) && json_equal(b, b_before) && u != a && m != a,
               "sets: inputs untouched, new arrays (%s)", c->name);
        json_decref(u);
        json_decref(m);
        json_decref(a_before);
        json_decref(b_before);
        json_decref(a);
        json_decref(b);
    }
}

int main(void)
{
    test_name();
    test_ref();
    test_tracking_id();
    test_configmap();
    test_refs();
    test_same();
    test_sets();
    return tap_done();
}
