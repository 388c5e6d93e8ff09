/* test_plan.c — table-driven tests for reconciler/sync/plan.c: sync order (phase,
 * wave, kind, name), hooks and their delete policies, Helm annotations, sync
 * options, wave timeouts, Namespace/CRD moves, namespace defaulting, errors. */
#include "sync/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"

/* ---- building input ------------------------------------------------------ */

/* One manifest. `name` ending in '*' is a generateName ("smoke-*" →
 * generateName "smoke-"); `ann` is "key=value;key=value" (split at the first
 * '='); `extra` is a JSON object merged into the manifest (a CRD's spec). */
struct spec {
    const char *av, *kind, *ns, *name, *ann, *extra;
};

static json_t *make_obj(const struct spec *s)
{
    json_t *o = json_object(), *md = json_object(), *ann = json_object();
    json_object_set_new(o, "apiVersion", json_string(s->av));   /* stolen */
    json_object_set_new(o, "kind", json_string(s->kind));       /* stolen */
    if (s->ns)
        json_object_set_new(md, "namespace", json_string(s->ns)); /* stolen */
    if (s->name) {
        size_t n = strlen(s->name);
        if (n && s->name[n - 1] == '*')
            json_object_set_new(md, "generateName", json_stringn(s->name, n - 1)); /* stolen */
        else
            json_object_set_new(md, "name", json_string(s->name)); /* stolen */
    }
    if (s->ann) {
        char *copy = strdup(s->ann), *save = NULL, *kv;
        for (kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq)
                continue;
            *eq = '\0';
            json_object_set_new(ann, kv, json_string(eq + 1)); /* stolen */
        }
        free(copy);
        json_object_set(md, "annotations", ann);
    }
    json_object_set_new(o, "metadata", md); /* stolen */
    json_decref(ann);
    if (s->extra) {
        json_t *x = json_loads(s->extra, 0, NULL);
        if (!x)
            tap_diag("bad extra JSON: %s", s->extra);
        json_object_update(o, x);
        json_decref(x);
    }
    return o;
}

static json_t *make_objs(const struct spec *s)
{
    json_t *a = json_array();
    for (; s->kind; s++)
        json_array_append_new(a, make_obj(s)); /* stolen */
    return a;
}

/* "Sync 2 apps/v1 Deployment ml/x", one line per item. */
static char *render(const struct ws_plan *p)
{
    struct ws_buf b;
    size_t i;
    ws_buf_init(&b, 0);
    for (i = 0; i < p->nitems; i++)
        ws_buf_appendf(&b, "%s%s %d %s", i ? "\n" : "", ws_phase_str(p->items[i].phase),
                       p->items[i].wave, p->items[i].ident);
    ws_buf_append(&b, "", 0);
    return ws_buf_steal(&b);
}

static char *join(const char *const *lines)
{
    struct ws_buf b;
    size_t i;
    ws_buf_init(&b, 0);
    for (i = 0; lines[i]; i++)
        ws_buf_appendf(&b, "%s%s", i ? "\n" : "", lines[i]);
    ws_buf_append(&b, "", 0);
    return ws_buf_steal(&b);
}

static const struct ws_plan_item *find(const struct ws_plan *p, const char *ident,
                                       enum ws_phase phase)
{
    size_t i;
    for (i = 0; i < p->nitems; i++)
        if (strcmp(p->items[i].ident, ident) == 0 && p->items[i].phase == phase)
            return &p->items[i];
    return NULL;
}

/* ---- order --------------------------------------------------------------- */

#define CRD_WIDGET                                                                   \
    "{\"spec\":{\"group\":\"example.com\",\"names\":{\"kind\":\"Widget\",\"plural\":" \
    "\"widgets\"},\"scope\":\"Namespaced\"}}"

static const struct order_case {
    const char *name;
    const char *default_ns;
    struct spec in[26];
    const char *want[28];
    size_t skipped;
} order_cases[] = {
    {
        /* Argo CD's "Sync Phases and Waves": phase, then wave, then kind
         * (namespaces first, then other Kubernetes resources, custom
         * resources last), then name. */
        "argo cd documented precedence",
        NULL,
        {
            {"example.com/v1", "Widget", "shop", "a-widget", NULL, NULL},
            {"apps/v1", "Deployment", "shop", "web", NULL, NULL},
            {"v1", "Service", "shop", "web", NULL, NULL},
            {"batch/v1", "Job", "shop", "db-migrate", "argocd.argoproj.io/hook=PreSync", NULL},
            {"v1", "ConfigMap", "shop", "web-config", "argocd.argoproj.io/sync-wave=-1", NULL},
            {"batch/v1", "Job", "shop", "smoke", "argocd.argoproj.io/hook=PostSync", NULL},
            {"apps/v1", "Deployment", "shop", "api", NULL, NULL},
            {"v1", "Namespace", NULL, "other", NULL, NULL},
            {"apps/v1", "Deployment", "shop", "worker", "argocd.argoproj.io/sync-wave=5", NULL},
            {0},
        },
        {
            "PreSync 0 batch/v1 Job shop/db-migrate",
            "Sync -1 v1 ConfigMap shop/web-config",
            "Sync 0 v1 Namespace other",
            "Sync 0 v1 Service shop/web",
            "Sync 0 apps/v1 Deployment shop/api",
            "Sync 0 apps/v1 Deployment shop/web",
            "Sync 0 example.com/v1 Widget shop/a-widget",
            "Sync 5 apps/v1 Deployment shop/worker",
            "PostSync 0 batch/v1 Job shop/smoke",
            NULL,
        },
        0,
    },
    {
        "kind order within one wave (a mixed bag)",
        NULL,
        {
            {"example.com/v1", "Widget", "x", "b", NULL, NULL},
            {"networking.k8s.io/v1", "Ingress", "x", "i", NULL, NULL},
            {"batch/v1", "CronJob", "x", "cj", NULL, NULL},
            {"apps/v1", "StatefulSet", "x", "ss", NULL, NULL},
            {"apiregistration.k8s.io/v1", "APIService", NULL, "v1.metrics", NULL, NULL},
            {"autoscaling/v2", "HorizontalPodAutoscaler", "x", "hpa", NULL, NULL},
            {"v1", "Pod", "x", "p", NULL, NULL},
            {"apps/v1", "DaemonSet", "x", "ds", NULL, NULL},
            {"rbac.authorization.k8s.io/v1", "RoleBinding", "x", "rb", NULL, NULL},
            {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", NULL, "crb", NULL, NULL},
            {"rbac.authorization.k8s.io/v1", "Role", "x", "r", NULL, NULL},
            {"rbac.authorization.k8s.io/v1", "ClusterRole", NULL, "cr", NULL, NULL},
            {"v1", "PersistentVolumeClaim", "x", "pvc", NULL, NULL},
            {"storage.k8s.io/v1", "StorageClass", NULL, "fast", NULL, NULL},
            {"v1", "ConfigMap", "x", "cm", NULL, NULL},
            {"v1", "Secret", "x", "s", NULL, NULL},
            {"v1", "ServiceAccount", "x", "sa", NULL, NULL},
            {"policy/v1", "PodDisruptionBudget", "x", "pdb", NULL, NULL},
            {"v1", "LimitRange", "x", "lr", NULL, NULL},
            {"v1", "ResourceQuota", "x", "rq", NULL, NULL},
            {"networking.k8s.io/v1", "NetworkPolicy", "x", "np", NULL, NULL},
            {"networking.k8s.io/v1", "IngressClass", NULL, "nginx", NULL, NULL},
            {"batch/v1", "Job", "x", "j", NULL, NULL},
            {"cert-manager.io/v1", "Certificate", "x", "a", NULL, NULL},
        },
        {
            "Sync 0 networking.k8s.io/v1 NetworkPolicy x/np",
            "Sync 0 v1 ResourceQuota x/rq",
            "Sync 0 v1 LimitRange x/lr",
            "Sync 0 policy/v1 PodDisruptionBudget x/pdb",
            "Sync 0 v1 ServiceAccount x/sa",
            "Sync 0 v1 Secret x/s",
            "Sync 0 v1 ConfigMap x/cm",
            "Sync 0 storage.k8s.io/v1 StorageClass fast",
            "Sync 0 v1 PersistentVolumeClaim x/pvc",
            "Sync 0 rbac.authorization.k8s.io/v1 ClusterRole cr",
            "Sync 0 rbac.authorization.k8s.io/v1 ClusterRoleBinding crb",
            "Sync 0 rbac.authorization.k8s.io/v1 Role x/r",
            "Sync 0 rbac.authorization.k8s.io/v1 RoleBinding x/rb",
            "Sync 0 apps/v1 DaemonSet x/ds",
            "Sync 0 v1 Pod x/p",
            "Sync 0 autoscaling/v2 HorizontalPodAutoscaler x/hpa",
            "Sync 0 apps/v1 StatefulSet x/ss",
            "Sync 0 batch/v1 Job x/j",
            "Sync 0 batch/v1 CronJob x/cj",
            "Sync 0 networking.k8s.io/v1 IngressClass nginx",
            "Sync 0 networking.k8s.io/v1 Ingress x/i",
            "Sync 0 apiregistration.k8s.io/v1 APIService v1.metrics",
            "Sync 0 cert-manager.io/v1 Certificate x/a",
            "Sync 0 example.com/v1 Widget x/b",
            NULL,
        },
        0,
    },
    {
        "negative waves and name ties",
        NULL,
        {
            {"v1", "ConfigMap", "b", "same", "argocd.argoproj.io/sync-wave=-5", NULL},
            {"v1", "ConfigMap", "a", "same", "argocd.argoproj.io/sync-wave=-5", NULL},
            {"v1", "ConfigMap", "a", "zz", "argocd.argoproj.io/sync-wave=+3", NULL},
            {"v1", "ConfigMap", "a", "m", "argocd.argoproj.io/sync-wave=-1", NULL},
            {"v1", "ConfigMap", "a", "n", "argocd.argoproj.io/sync-wave=0", NULL},
            {"v1", "ConfigMap", "a", "B", "argocd.argoproj.io/sync-wave=-10", NULL},
            {"v1", "ConfigMap", "a", "a", "argocd.argoproj.io/sync-wave=-10", NULL},
            {0},
        },
        {
            "Sync -10 v1 ConfigMap a/B", /* byte order, as Go compares strings */
            "Sync -10 v1 ConfigMap a/a",
            "Sync -5 v1 ConfigMap a/same",
            "Sync -5 v1 ConfigMap b/same",
            "Sync -1 v1 ConfigMap a/m",
            "Sync 0 v1 ConfigMap a/n",
            "Sync 3 v1 ConfigMap a/zz",
            NULL,
        },
        0,
    },
    {
        "hook phases, multi-phase hooks, Skip",
        NULL,
        {
            {"batch/v1", "Job", "h", "fail", "argocd.argoproj.io/hook=SyncFail", NULL},
            {"batch/v1", "Job", "h", "both", "argocd.argoproj.io/hook=PreSync, PostSync", NULL},
            {"batch/v1", "Job", "h", "twice", "argocd.argoproj.io/hook=PostSync,PostSync", NULL},
            {"v1", "ConfigMap", "h", "skipped", "argocd.argoproj.io/hook=Skip", NULL},
            {"v1", "ConfigMap", "h", "not-skipped", "argocd.argoproj.io/hook=Skip,Sync", NULL},
            {"batch/v1", "Job", "h", "cleanup", "argocd.argoproj.io/hook=PostDelete", NULL},
            {"batch/v1", "Job", "h", "sync-hook",
             "argocd.argoproj.io/hook=Sync;argocd.argoproj.io/sync-wave=1", NULL},
            {"apps/v1", "Deployment", "h", "app", "argocd.argoproj.io/sync-wave=1", NULL},
            {"batch/v1", "Job", "h", "pre-2",
             "argocd.argoproj.io/hook=PreSync;argocd.argoproj.io/sync-wave=-2", NULL},
            {0},
        },
        {
            "PreSync -2 batch/v1 Job h/pre-2",
            "PreSync 0 batch/v1 Job h/both",
            "Sync 0 v1 ConfigMap h/not-skipped",
            "Sync 1 apps/v1 Deployment h/app",
            "Sync 1 batch/v1 Job h/sync-hook",
            "PostSync 0 batch/v1 Job h/both",
            "PostSync 0 batch/v1 Job h/twice",
            "SyncFail 0 batch/v1 Job h/fail",
            NULL,
        },
        2,
    },
    {
        "helm hooks and weights",
        NULL,
        {
            {"batch/v1", "Job", "h", "pre", "helm.sh/hook=pre-install,pre-upgrade;"
                                           "helm.sh/hook-weight=-2", NULL},
            {"batch/v1", "Job", "h", "pre-up", "helm.sh/hook=pre-upgrade", NULL},
            {"batch/v1", "Job", "h", "post", "helm.sh/hook=post-install;helm.sh/hook-weight=5",
             NULL},
            {"batch/v1", "Job", "h", "post-up", "helm.sh/hook=post-upgrade", NULL},
            {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, "widgets.example.com",
             "helm.sh/hook=crd-install", CRD_WIDGET},
            {"v1", "Pod", "h", "test", "helm.sh/hook=test", NULL},
            {"v1", "Pod", "h", "test-success", "helm.sh/hook=test-success", NULL},
            {"batch/v1", "Job", "h", "pre-delete", "helm.sh/hook=pre-delete", NULL},
            {"batch/v1", "Job", "h", "post-delete", "helm.sh/hook=post-delete", NULL},
            {"batch/v1", "Job", "h", "rollback", "helm.sh/hook=pre-rollback,post-rollback", NULL},
            {"batch/v1", "Job", "h", "argo-wins",
             "helm.sh/hook=pre-install;argocd.argoproj.io/hook=Sync", NULL},
            {"v1", "ConfigMap", "h", "weighted", "helm.sh/hook-weight=7", NULL},
            {"v1", "ConfigMap", "h", "wave-wins",
             "helm.sh/hook-weight=7;argocd.argoproj.io/sync-wave=2", NULL},
            {0},
        },
        {
            "PreSync -2 batch/v1 Job h/pre",
            "PreSync 0 batch/v1 Job h/pre-up",
            "Sync 0 apiextensions.k8s.io/v1 CustomResourceDefinition widgets.example.com",
            "Sync 0 batch/v1 Job h/argo-wins",
            "Sync 2 v1 ConfigMap h/wave-wins",
            "Sync 7 v1 ConfigMap h/weighted",
            "PostSync 0 batch/v1 Job h/post-up",
            "PostSync 5 batch/v1 Job h/post",
            NULL,
        },
        5,
    },
    {
        "namespace moves before the first object in it",
        NULL,
        {
            {"apps/v1", "Deployment", "ml", "server", "argocd.argoproj.io/sync-wave=3", NULL},
            {"v1", "ConfigMap", "ml", "cfg", "argocd.argoproj.io/sync-wave=1", NULL},
            {"v1", "Namespace", NULL, "ml", "argocd.argoproj.io/sync-wave=5", NULL},
            {"v1", "Namespace", NULL, "early", "argocd.argoproj.io/sync-wave=-1", NULL},
            {"v1", "ConfigMap", "early", "cfg", "argocd.argoproj.io/sync-wave=2", NULL},
            {"v1", "Namespace", NULL, "hooked", "argocd.argoproj.io/sync-wave=2", NULL},
            {"batch/v1", "Job", "hooked", "migrate", "argocd.argoproj.io/hook=PreSync", NULL},
            {"v1", "Namespace", NULL, "lonely", "argocd.argoproj.io/sync-wave=4", NULL},
            /* a Namespace of another group is not the namespace */
            {"example.com/v1", "Namespace", NULL, "fake", "argocd.argoproj.io/sync-wave=9", NULL},
            {"v1", "ConfigMap", "fake", "x", NULL, NULL},
            {0},
        },
        {
            "PreSync 0 v1 Namespace hooked",
            "PreSync 0 batch/v1 Job hooked/migrate",
            "Sync -1 v1 Namespace early",
            "Sync 0 v1 ConfigMap fake/x",
            "Sync 1 v1 Namespace ml",
            "Sync 1 v1 ConfigMap ml/cfg",
            "Sync 2 v1 ConfigMap early/cfg",
            "Sync 3 apps/v1 Deployment ml/server",
            "Sync 4 v1 Namespace lonely",
            "Sync 9 example.com/v1 Namespace fake",
            NULL,
        },
        0,
    },
    {
        "CRD moves before the first of its resources",
        NULL,
        {
            {"example.com/v1", "Widget", "a", "w2", "argocd.argoproj.io/sync-wave=2", NULL},
            {"example.com/v1beta1", "Widget", "a", "w1", "argocd.argoproj.io/sync-wave=1", NULL},
            {"other.io/v1", "Widget", "a", "w0", "argocd.argoproj.io/sync-wave=-3", NULL},
            {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, "widgets.example.com",
             "argocd.argoproj.io/sync-wave=4", CRD_WIDGET},
            {"v1", "ConfigMap", "a", "cm", "argocd.argoproj.io/sync-wave=1", NULL},
            {0},
        },
        {
            "Sync -3 other.io/v1 Widget a/w0",
            "Sync 1 v1 ConfigMap a/cm",
            "Sync 1 apiextensions.k8s.io/v1 CustomResourceDefinition widgets.example.com",
            "Sync 1 example.com/v1beta1 Widget a/w1",
            "Sync 2 example.com/v1 Widget a/w2",
            NULL,
        },
        0,
    },
    {
        /* the namespace filled from default_ns counts for the move too */
        "namespace move sees the default namespace",
        "apps",
        {
            {"v1", "Namespace", NULL, "apps", "argocd.argoproj.io/sync-wave=2", NULL},
            {"v1", "Secret", NULL, "creds", "argocd.argoproj.io/sync-wave=-1", NULL},
            {0},
        },
        {
            "Sync -1 v1 Namespace apps",
            "Sync -1 v1 Secret apps/creds",
            NULL,
        },
        0,
    },
};

static void test_order(void)
{
    size_t c;
    for (c = 0; c < WS_ARRAY_SIZE(order_cases); c++) {
        const struct order_case *tc = &order_cases[c];
        struct ws_plan p;
        struct ws_err err = {0};
        json_t *in = make_objs(tc->in);
        char *got, *want = join(tc->want);
        int rc = ws_plan_build(&p, in, tc->default_ns, NULL, NULL, &err);
        if (!tap_ok(rc == 0, "order %s: builds", tc->name))
            tap_diag("  %s", err.msg);
        got = render(&p);
        tap_is_str(got, want, "order: expected order");
        tap_is_int(p.nskipped, tc->skipped, "order: skipped count");
        free(got);
        free(want);
        ws_plan_free(&p);
        json_decref(in);
    }
}

/* The result must not depend on the input order. */
static void test_order_independent_of_input(void)
{
    const struct order_case *tc = &order_cases[1];
    struct ws_plan a, b;
    json_t *in = make_objs(tc->in), *rev = json_array();
    size_t i, n = json_array_size(in);
    char *ra, *rb;
    for (i = n; i-- > 0;)
        json_array_append(rev, json_array_get(in, i));
    ws_plan_build(&a, in, NULL, NULL, NULL, NULL);
    ws_plan_build(&b, rev, NULL, NULL, NULL, NULL);
    ra = render(&a);
    rb = render(&b);
    tap_is_str(rb, ra, "order: reversed input gives the same plan");
    free(ra);
    free(rb);
    ws_plan_free(&a);
    ws_plan_free(&b);
    json_decref(in);
    json_decref(rev);
}

/* Exact duplicates (same phase, wave, kind, name, namespace) keep their input
 * order, so the plan is the same on every run. */
static void test_duplicates_keep_input_order(void)
{
    struct spec s[] = {
        {"v1", "ConfigMap", "ml", "dup", "argocd.argoproj.io/sync-options=Replace=true", NULL},
        {"v1", "ConfigMap", "ml", "dup", "argocd.argoproj.io/sync-options=Force=true", NULL},
        {"v1", "ConfigMap", "ml", "dup", NULL, NULL},
        {0},
    };
    struct ws_plan p;
    json_t *in = make_objs(s);
    tap_is_int(ws_plan_build(&p, in, NULL, NULL, NULL, NULL), 0, "duplicates: build");
    tap_ok(p.nitems == 3 && p.items[0].input_index == 0 && p.items[1].input_index == 1 &&
               p.items[2].input_index == 2 && p.items[0].options == WS_OPT_REPLACE,
           "duplicates: input order kept");
    ws_plan_free(&p);
    json_decref(in);
}

/* ---- hook fields, delete policies ---------------------------------------- */

static const struct {
    const char *ann;
    int is_hook;
    unsigned del;
    enum ws_phase phase;
} hook_cases[] = {
    {"", 0, 0, WS_PHASE_SYNC},
    {"argocd.argoproj.io/hook=PreSync", 1, WS_HOOK_DELETE_BEFORE_CREATION, WS_PHASE_PRESYNC},
    {"argocd.argoproj.io/hook=Sync", 1, WS_HOOK_DELETE_BEFORE_CREATION, WS_PHASE_SYNC},
    {"argocd.argoproj.io/hook=PostSync;argocd.argoproj.io/hook-delete-policy=HookSucceeded", 1,
     WS_HOOK_DELETE_SUCCEEDED, WS_PHASE_POSTSYNC},
    {"argocd.argoproj.io/hook=PostSync;argocd.argoproj.io/hook-delete-policy= HookSucceeded , "
     "HookFailed", 1, WS_HOOK_DELETE_SUCCEEDED | WS_HOOK_DELETE_FAILED, WS_PHASE_POSTSYNC},
    {"argocd.argoproj.io/hook=SyncFail;argocd.argoproj.io/hook-delete-policy=BeforeHookCreation,"
     "HookFailed", 1, WS_HOOK_DELETE_BEFORE_CREATION | WS_HOOK_DELETE_FAILED, WS_PHASE_SYNCFAIL},
    {"helm.sh/hook=post-install;helm.sh/hook-delete-policy=hook-succeeded,hook-failed", 1,
     WS_HOOK_DELETE_SUCCEEDED | WS_HOOK_DELETE_FAILED, WS_PHASE_POSTSYNC},
    {"helm.sh/hook=pre-install;helm.sh/hook-delete-policy=before-hook-creation", 1,
     WS_HOOK_DELETE_BEFORE_CREATION, WS_PHASE_PRESYNC},
    {"helm.sh/hook=pre-install", 1, WS_HOOK_DELETE_BEFORE_CREATION, WS_PHASE_PRESYNC},
    /* gitops-engine reads both annotations and takes them all */
    {"argocd.argoproj.io/hook=PreSync;argocd.argoproj.io/hook-delete-policy=HookFailed;"
     "helm.sh/hook-delete-policy=hook-succeeded", 1,
     WS_HOOK_DELETE_FAILED | WS_HOOK_DELETE_SUCCEEDED, WS_PHASE_PRESYNC},
    /* a delete policy on a non-hook means nothing */
    {"argocd.argoproj.io/hook-delete-policy=HookSucceeded", 0, 0, WS_PHASE_SYNC},
    {"helm.sh/hook=crd-install", 0, 0, WS_PHASE_SYNC},
};

static void test_hook_fields(void)
{
    size_t c;
    for (c = 0; c < WS_ARRAY_SIZE(hook_cases); c++) {
        struct spec s[2] = {{"batch/v1", "Job", "ns", "j", hook_cases[c].ann, NULL}, {0}};
        struct ws_plan p;
        struct ws_err err = {0};
        json_t *in = make_objs(s);
        int rc = ws_plan_build(&p, in, NULL, NULL, NULL, &err);
        if (!tap_ok(rc == 0 && p.nitems == 1, "hook %zu \"%s\": one item", c, hook_cases[c].ann))
            tap_diag("  rc %d, %zu items, %s", rc, p.nitems, err.msg);
        if (p.nitems == 1) {
            tap_is_int(p.items[0].is_hook, hook_cases[c].is_hook, "hook: is_hook");
            tap_is_int(p.items[0].hook_delete, hook_cases[c].del, "hook: delete policy");
            tap_is_int(p.items[0].phase, hook_cases[c].phase, "hook: phase");
        }
        ws_plan_free(&p);
        json_decref(in);
    }
}

/* A multi-phase hook: one item per phase, the same object in each. */
static void test_multi_phase_items(void)
{
    struct spec s[] = {
        {"batch/v1", "Job", "ns", "gen-*", "argocd.argoproj.io/hook=PreSync,PostSync,SyncFail", NULL},
        {0},
    };
    struct ws_plan p;
    struct ws_err err = {0};
    json_t *in = make_objs(s);
    int rc = ws_plan_build(&p, in, NULL, NULL, NULL, &err);
    tap_is_int(rc, 0, "multi-phase: builds");
    tap_is_int(p.nitems, 3, "multi-phase: three items");
    tap_is_int(p.nwaves, 3, "multi-phase: three waves");
    if (p.nitems == 3) {
        tap_ok(p.items[0].obj == p.items[1].obj && p.items[1].obj == p.items[2].obj,
               "multi-phase: items share the object");
        tap_is_str(p.items[0].ident, "batch/v1 Job ns/gen-*", "multi-phase: generateName ident");
        tap_is_int(p.items[2].phase, WS_PHASE_SYNCFAIL, "multi-phase: SyncFail last");
        tap_is_int(p.items[1].input_index, 0, "multi-phase: input index");
    }
    ws_plan_free(&p);
    json_decref(in);
}

/* ---- sync options -------------------------------------------------------- */

static const struct {
    const char *in;
    int rc;
    unsigned flags;
    const char *msg; /* substring of the error */
} opt_cases[] = {
    {"", 0, 0, NULL},
    {"Prune=false", 0, WS_OPT_PRUNE_FALSE, NULL},
    {"Prune=true", 0, 0, NULL},
    {"Prune=confirm", 0, WS_OPT_PRUNE_FALSE, NULL},
    {"Delete=confirm", 0, WS_OPT_DELETE_FALSE, NULL},
    {"Delete=false,Replace=true", 0, WS_OPT_DELETE_FALSE | WS_OPT_REPLACE, NULL},
    {" Force=true , Validate=false ,", 0, WS_OPT_FORCE | WS_OPT_VALIDATE_FALSE, NULL},
    {"PruneLast=TRUE,ApplyOutOfSyncOnly=True", 0, WS_OPT_PRUNE_LAST | WS_OPT_OUT_OF_SYNC_ONLY,
     NULL},
    {"CreateNamespace=true,SkipDryRunOnMissingResource=true,ServerSideApply=true", 0,
     WS_OPT_CREATE_NAMESPACE | WS_OPT_SKIP_DRY_RUN | WS_OPT_SERVER_SIDE_APPLY, NULL},
    {"prune=False", 0, WS_OPT_PRUNE_FALSE, NULL},
    {"Validate=true,Replace=false,ServerSideApply=false", 0, 0, NULL},
    {"PrunePropagationPolicy=background,RespectIgnoreDifferences=true", 0, WS_OPT_RESPECT_IGNORE, NULL},
    {"RespectIgnoreDifferences=false", 0, WS_OPT_RESPECT_IGNORE_FALSE, NULL},
    {"RespectIgnoreDifferences=maybe", WS_EINVAL, 0, "RespectIgnoreDifferences takes true or false"},
    {"Unknown=whatever,Prune=false", 0, WS_OPT_PRUNE_FALSE, NULL},
    {",,", 0, 0, NULL},
    {"Prune", WS_EINVAL, 0, "sync option \"Prune\" is not Key=value"},
    {"Replace=true,=false", WS_EINVAL, 0, "\"=false\" is not Key=value"},
    {"Prune=maybe", WS_EINVAL, 0, "sync option \"Prune=maybe\": Prune takes true or false (or confirm)"},
    {"Replace=confirm", WS_EINVAL, 0, "Replace takes true or false"},
    {"Replace=", WS_EINVAL, 0, "\"Replace=\""},
};

static void test_sync_options(void)
{
    size_t c;
    for (c = 0; c < WS_ARRAY_SIZE(opt_cases); c++) {
        unsigned flags = 0x8000;
        struct ws_err err = {0};
        int rc = ws_sync_options_parse(&flags, opt_cases[c].in, &err);
        char name[160];
        snprintf(name, sizeof(name), "sync options \"%s\"", opt_cases[c].in);
        tap_is_int(rc, opt_cases[c].rc, name);
        if (opt_cases[c].rc == 0)
            tap_is_int(flags, 0x8000 | opt_cases[c].flags, "sync options: flags ORed in");
        else {
            tap_is_int(flags, 0x8000, "sync options: flags untouched on error");
            tap_contains(err.msg, opt_cases[c].msg, "sync options: error names the token");
        }
    }
    {
        unsigned flags = 0;
        struct ws_err err = {0};
        json_t *l = json_loads("[\"Prune=false\", \"Replace=true,Force=true\", \"Foo=bar\"]", 0, NULL);
        json_t *bad = json_loads("[\"Prune=false\", 3]", 0, NULL);
        json_t *bad2 = json_loads("[\"Prune=false\", \"Force=yes\"]", 0, NULL);
        tap_is_int(ws_sync_options_parse_list(&flags, l, &err), 0, "sync options list: parses");
        tap_is_int(flags, WS_OPT_PRUNE_FALSE | WS_OPT_REPLACE | WS_OPT_FORCE,
                   "sync options list: flags");
        tap_is_int(ws_sync_options_parse_list(&flags, NULL, &err), 0, "sync options list: NULL");
        flags = 0;
        tap_is_int(ws_sync_options_parse_list(&flags, bad, &err), WS_EINVAL,
                   "sync options list: non-string refused");
        tap_contains(err.msg, "syncOptions[1]", "sync options list: names the index");
        tap_is_int(ws_sync_options_parse_list(&flags, bad2, &err), WS_EINVAL,
                   "sync options list: bad value refused");
        tap_is_int(flags, 0, "sync options list: nothing ORed on error");
        tap_is_int(ws_sync_options_parse_list(&flags, json_object_get(l, "x"), &err), 0,
                   "sync options list: absent");
        json_decref(l);
        json_decref(bad);
        json_decref(bad2);
    }
    {
        /* per object, with Helm's resource-policy: keep */
        struct spec s[] = {
            {"v1", "PersistentVolumeClaim", "ml", "data",
             "argocd.argoproj.io/sync-options=Prune=false,ServerSideApply=true", NULL},
            {"v1", "PersistentVolumeClaim", "ml", "kept", "helm.sh/resource-policy=keep", NULL},
            {0},
        };
        struct ws_plan p;
        json_t *in = make_objs(s);
        tap_is_int(ws_plan_build(&p, in, NULL, NULL, NULL, NULL), 0, "object options: builds");
        if (p.nitems == 2) {
            tap_is_int(p.items[0].options, WS_OPT_PRUNE_FALSE | WS_OPT_SERVER_SIDE_APPLY,
                       "object options: from the annotation");
            tap_is_int(p.items[1].options, WS_OPT_DELETE_FALSE,
                       "object options: helm.sh/resource-policy keep is Delete=false");
        }
        ws_plan_free(&p);
        json_decref(in);
    }
}

/* ---- wave timeouts and wave runs ----------------------------------------- */

static void test_wave_timeouts(void)
{
    struct spec s[] = {
        {"apps/v1", "Deployment", "ml", "a",
         "argocd.argoproj.io/sync-wave=1;wavesync.dev/wave-timeout=90s", NULL},
        {"apps/v1", "Deployment", "ml", "b",
         "argocd.argoproj.io/sync-wave=1;wavesync.dev/wave-timeout=10m", NULL},
        {"apps/v1", "Deployment", "ml", "c", "argocd.argoproj.io/sync-wave=1", NULL},
        {"apps/v1", "Deployment", "ml", "d", "argocd.argoproj.io/sync-wave=2", NULL},
        {"apps/v1", "Deployment", "ml", "e", "wavesync.dev/wave-timeout=1h30m", NULL},
        {0},
    };
    struct spec bad[] = {
        {"apps/v1", "Deployment", "ml", "slow", "wavesync.dev/wave-timeout=ten minutes", NULL},
        {0},
    };
    struct ws_plan p;
    struct ws_err err = {0};
    json_t *in = make_objs(s), *in_bad = make_objs(bad);
    tap_is_int(ws_plan_build(&p, in, NULL, NULL, NULL, &err), 0, "wave timeout: builds");
    tap_is_int(p.nwaves, 3, "wave timeout: three waves");
    if (p.nwaves == 3) {
        tap_is_int(p.waves[0].wave, 0, "wave timeout: wave 0");
        tap_is_int(p.waves[0].timeout_ms, 5400000, "wave timeout: 1h30m");
        tap_is_int(p.waves[1].wave, 1, "wave timeout: wave 1");
        tap_is_int(p.waves[1].first, 1, "wave timeout: wave 1 starts at item 1");
        tap_is_int(p.waves[1].count, 3, "wave timeout: wave 1 has three items");
        tap_is_int(p.waves[1].timeout_ms, 600000, "wave timeout: the largest wins");
        tap_is_int(p.waves[2].timeout_ms, 0, "wave timeout: none set is 0");
        tap_is_int(p.waves[2].first + p.waves[2].count, p.nitems, "wave timeout: runs cover all");
    }
    if (p.nitems == 5)
        tap_is_int(p.items[1].wave_timeout_ms, 90000, "wave timeout: item keeps its own");
    ws_plan_free(&p);
    tap_is_int(ws_plan_build(&p, in_bad, NULL, NULL, NULL, &err), WS_EINVAL,
               "wave timeout: bad duration refused");
    tap_is_str(err.msg,
               "apps/v1 Deployment ml/slow: wavesync.dev/wave-timeout \"ten minutes\" is not a "
               "duration",
               "wave timeout: error names the object and value");
    tap_ok(p.items == NULL && p.nitems == 0 && p.waves == NULL, "wave timeout: empty plan on error");
    json_decref(in);
    json_decref(in_bad);
}

/* ---- namespaces ---------------------------------------------------------- */

static int scope_calls;

/* A discovery stand-in: Widgets are cluster-scoped, Gadgets unknown. */
static int scope(const char *api_version, const char *kind, void *data)
{
    scope_calls++;
    (void)data;
    if (strcmp(kind, "Widget") == 0)
        return 0;
    if (strcmp(kind, "Gadget") == 0)
        return -1;
    return strcmp(kind, "ClusterRole") != 0 && strcmp(kind, "Namespace") != 0 &&
           strcmp(kind, "CustomResourceDefinition") != 0 && strcmp(kind, "PriorityClass") != 0;
}

static const char *ns_of(const struct ws_plan *p, const char *kind, const char *name)
{
    size_t i;
    for (i = 0; i < p->nitems; i++) {
        json_t *o = p->items[i].obj, *md = json_object_get(o, "metadata");
        if (strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(md, "name")), name) == 0)
            return json_string_value(json_object_get(md, "namespace"));
    }
    return "(missing)";
}

static void test_default_namespace(void)
{
    struct spec s[] = {
        {"apps/v1", "Deployment", NULL, "dep", NULL, NULL},
        {"rbac.authorization.k8s.io/v1", "ClusterRole", NULL, "cr", NULL, NULL},
        {"v1", "ConfigMap", "other", "cm", NULL, NULL},
        {"v1", "Namespace", NULL, "ml", NULL, NULL},
        {"example.com/v1", "Widget", NULL, "w", NULL, NULL},
        {"example.com/v1", "Gadget", NULL, "g", NULL, NULL},
        {"example.com/v1", "Thing", NULL, "t", NULL, NULL},
        {"scheduling.k8s.io/v1", "PriorityClass", NULL, "high", NULL, NULL},
        {"apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL, "gadgets.example.com", NULL,
         "{\"spec\":{\"group\":\"example.com\",\"names\":{\"kind\":\"Gadget\"},"
         "\"scope\":\"Cluster\"}}"},
        {0},
    };
    struct ws_plan p;
    struct ws_err err = {0};
    json_t *in = make_objs(s);
    char *before = json_dumps(in, JSON_SORT_KEYS);
    char *after;

    /* no callback: built-in list, then CRDs in the input */
    tap_is_int(ws_plan_build(&p, in, "ml", NULL, NULL, &err), 0, "default ns: builds");
    tap_is_str(ns_of(&p, "Deployment", "dep"), "ml", "default ns: namespaced kind filled");
    tap_is_str(ns_of(&p, "ClusterRole", "cr"), NULL, "default ns: cluster-scoped left alone");
    tap_is_str(ns_of(&p, "ConfigMap", "cm"), "other", "default ns: existing namespace kept");
    tap_is_str(ns_of(&p, "Namespace", "ml"), NULL, "default ns: Namespace has none");
    tap_is_str(ns_of(&p, "Widget", "w"), "ml", "default ns: unknown kinds are namespaced");
    tap_is_str(ns_of(&p, "Gadget", "g"), NULL, "default ns: a Cluster CRD in the input counts");
    tap_is_str(ns_of(&p, "PriorityClass", "high"), NULL, "default ns: PriorityClass is cluster");
    tap_ok(find(&p, "apps/v1 Deployment ml/dep", WS_PHASE_SYNC) != NULL,
           "default ns: ident shows the namespace");
    tap_ok(find(&p, "apps/v1 Deployment ml/dep", WS_PHASE_SYNC)->obj != json_array_get(in, 0),
           "default ns: a filled object is a copy");
    tap_ok(find(&p, "v1 ConfigMap other/cm", WS_PHASE_SYNC)->obj == json_array_get(in, 2),
           "default ns: an untouched object is shared");
    ws_plan_free(&p);

    /* with a callback: it answers first; < 0 falls back */
    scope_calls = 0;
    tap_is_int(ws_plan_build(&p, in, "ml", scope, NULL, &err), 0, "scope callback: builds");
    tap_ok(scope_calls > 0, "scope callback: called");
    tap_is_str(ns_of(&p, "Widget", "w"), NULL, "scope callback: says cluster-scoped");
    tap_is_str(ns_of(&p, "Thing", "t"), "ml", "scope callback: says namespaced");
    tap_is_str(ns_of(&p, "Gadget", "g"), NULL, "scope callback: unknown falls back to the CRD");
    ws_plan_free(&p);

    /* no default namespace: nothing filled, nothing copied */
    tap_is_int(ws_plan_build(&p, in, NULL, NULL, NULL, &err), 0, "no default ns: builds");
    tap_is_str(ns_of(&p, "Deployment", "dep"), NULL, "no default ns: left empty");
    tap_ok(find(&p, "apps/v1 Deployment dep", WS_PHASE_SYNC)->obj == json_array_get(in, 0),
           "no default ns: shared");
    ws_plan_free(&p);

    after = json_dumps(in, JSON_SORT_KEYS);
    tap_is_str(after, before, "input not modified");
    free(before);
    free(after);
    json_decref(in);
}

/* ---- errors -------------------------------------------------------------- */

static const struct {
    const char *json;
    int rc;
    const char *msg; /* the whole message, or with a leading '~' a substring */
} err_cases[] = {
    {"[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"x\","
     "\"namespace\":\"ml\",\"annotations\":{\"argocd.argoproj.io/sync-wave\":\"abc\"}}}]",
     WS_EINVAL,
     "apps/v1 Deployment ml/x: argocd.argoproj.io/sync-wave \"abc\" is not an integer"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
     "\"annotations\":{\"argocd.argoproj.io/sync-wave\":\"1.5\"}}}]",
     WS_EINVAL, "v1 ConfigMap x: argocd.argoproj.io/sync-wave \"1.5\" is not an integer"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
     "\"annotations\":{\"argocd.argoproj.io/sync-wave\":\" 1\"}}}]",
     WS_EINVAL, "~\" 1\" is not an integer"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
     "\"annotations\":{\"argocd.argoproj.io/sync-wave\":\"99999999999\"}}}]",
     WS_EINVAL, "~\"99999999999\" is not an integer"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
     "\"annotations\":{\"helm.sh/hook-weight\":\"heavy\"}}}]",
     WS_EINVAL, "v1 ConfigMap x: helm.sh/hook-weight \"heavy\" is not an integer"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
     "\"annotations\":{\"argocd.argoproj.io/sync-wave\":1}}}]",
     WS_EINVAL, "v1 ConfigMap x: annotation argocd.argoproj.io/sync-wave is not a string (quote it)"},
    {"[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"j\","
     "\"namespace\":\"ml\",\"annotations\":{\"argocd.argoproj.io/hook\":\"PreSync,PreInstall\"}}}]",
     WS_EINVAL, "batch/v1 Job ml/j: argocd.argoproj.io/hook \"PreInstall\" is not a hook type "
                "(PreSync, Sync, PostSync, SyncFail, Skip)"},
    {"[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"j\","
     "\"annotations\":{\"argocd.argoproj.io/hook\":\" \"}}}]",
     WS_EINVAL, "batch/v1 Job j: argocd.argoproj.io/hook is empty"},
    {"[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"j\","
     "\"annotations\":{\"argocd.argoproj.io/hook\":\"PostSync\","
     "\"argocd.argoproj.io/hook-delete-policy\":\"HookSucceeded,OnSuccess\"}}}]",
     WS_EINVAL, "~batch/v1 Job j: argocd.argoproj.io/hook-delete-policy \"OnSuccess\" is not a "
                "delete policy"},
    {"[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"j\","
     "\"annotations\":{\"helm.sh/hook\":\"post-install\","
     "\"helm.sh/hook-delete-policy\":\"HookSucceeded\"}}}]",
     WS_EINVAL, "~helm.sh/hook-delete-policy \"HookSucceeded\" is not a delete policy"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\","
     "\"namespace\":\"ml\",\"annotations\":{\"argocd.argoproj.io/sync-options\":\"Prune=nope\"}}}]",
     WS_EINVAL, "v1 Secret ml/s: argocd.argoproj.io/sync-options: sync option \"Prune=nope\": "
                "Prune takes true or false (or confirm)"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}},"
     "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}]",
     WS_EINVAL, "object 1 has no apiVersion"},
    {"[{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\"}}]", WS_EINVAL, "object 0 has no kind"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"\",\"metadata\":{\"name\":\"b\"}}]", WS_EINVAL,
     "object 0 has no kind"},
    {"[\"not an object\"]", WS_EINVAL, "object 0 is not a mapping"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"namespace\":\"ml\"}}]",
     WS_EINVAL, "v1 ConfigMap (namespace ml) (object 0): metadata.name is required"},
    {"[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"generateName\":\"cm-\"}}]",
     WS_EINVAL, "v1 ConfigMap cm-* (object 0): metadata.name is required (generateName is only "
                "for hooks)"},
    {"{\"apiVersion\":\"v1\"}", WS_EINVAL, "objects is not a list"},
};

static void test_errors(void)
{
    size_t c;
    for (c = 0; c < WS_ARRAY_SIZE(err_cases); c++) {
        struct ws_plan p = {0};
        struct ws_err err = {0};
        json_error_t jerr;
        json_t *in = json_loads(err_cases[c].json, 0, &jerr);
        const char *want = err_cases[c].msg;
        int rc;
        if (!in)
            tap_diag("case %zu: bad JSON: %s", c, jerr.text);
        rc = ws_plan_build(&p, in, NULL, NULL, NULL, &err);
        tap_is_int(rc, err_cases[c].rc, want[0] == '~' ? want + 1 : want);
        if (want[0] == '~')
            tap_contains(err.msg, want + 1, "error: message");
        else
            tap_is_str(err.msg, want, "error: message");
        tap_ok(p.nitems == 0 && p.items == NULL, "error: plan left empty");
        ws_plan_free(&p);
        json_decref(in);
    }
}

/* Skipped objects are not read further, and hooks may go without a name. */
static void test_skip_and_generate_name(void)
{
    struct spec s[] = {
        {"batch/v1", "Job", "ml", "smoke-*", "argocd.argoproj.io/hook=PostSync", NULL},
        {"v1", "ConfigMap", "ml", "off",
         "argocd.argoproj.io/hook=Skip;argocd.argoproj.io/sync-wave=bad", NULL},
        {"v1", "Pod", "ml", "helm-test-*", "helm.sh/hook=test-success", NULL},
        {0},
    };
    struct ws_plan p;
    struct ws_err err = {0};
    json_t *in = make_objs(s);
    int rc = ws_plan_build(&p, in, NULL, NULL, NULL, &err);
    if (!tap_ok(rc == 0, "skip: builds"))
        tap_diag("  %s", err.msg);
    tap_is_int(p.nitems, 1, "skip: one item");
    tap_is_int(p.nskipped, 2, "skip: two skipped");
    if (p.nitems == 1) {
        tap_is_str(p.items[0].ident, "batch/v1 Job ml/smoke-*", "generateName: ident");
        tap_is_int(p.items[0].is_hook, 1, "generateName: a hook");
    }
    ws_plan_free(&p);
    json_decref(in);
}

/* ---- small API ----------------------------------------------------------- */

static void test_small_api(void)
{
    struct ws_plan p;
    json_t *empty = json_array();
    tap_is_str(ws_phase_str(WS_PHASE_PRESYNC), "PreSync", "phase str: PreSync");
    tap_is_str(ws_phase_str(WS_PHASE_SYNC), "Sync", "phase str: Sync");
    tap_is_str(ws_phase_str(WS_PHASE_POSTSYNC), "PostSync", "phase str: PostSync");
    tap_is_str(ws_phase_str(WS_PHASE_SYNCFAIL), "SyncFail", "phase str: SyncFail");
    tap_is_str(ws_phase_str(WS_PHASE_COUNT), "?", "phase str: out of range");
    tap_is_int(ws_plan_kind_rank("Namespace"), 0, "kind rank: Namespace first");
    tap_is_int(ws_plan_kind_rank("CustomResourceDefinition"), 13, "kind rank: CRD");
    tap_is_int(ws_plan_kind_rank("APIService"), 34, "kind rank: APIService last of the list");
    tap_is_int(ws_plan_kind_rank("Widget"), 35, "kind rank: custom resources after");
    tap_is_int(ws_plan_kind_rank(NULL), 35, "kind rank: NULL");
    tap_ok(ws_plan_kind_rank("IngressClass") < ws_plan_kind_rank("Ingress"),
           "kind rank: IngressClass before Ingress");
    tap_is_int(ws_plan_build(&p, empty, "ml", NULL, NULL, NULL), 0, "empty input: builds");
    tap_ok(p.nitems == 0 && p.nwaves == 0, "empty input: empty plan");
    ws_plan_free(&p);
    ws_plan_free(&p);
    ws_plan_free(NULL);
    tap_ok(1, "free: idempotent and NULL-safe");
    json_decref(empty);
}

/* ---- a realistic ML platform --------------------------------------------- */

static void test_ml_platform(void)
{
    static const struct spec s[] = {
        {"monitoring.coreos.com/v1", "ServiceMonitor", NULL, "model-server",
         "argocd.argoproj.io/sync-wave=4", NULL},
        {"apps/v1", "Deployment", NULL, "model-server-ranker",
         "argocd.argoproj.io/sync-wave=3;wavesync.dev/wave-timeout=15m", NULL},
        {"apps/v1", "Deployment", NULL, "model-server-embedder",
         "argocd.argoproj.io/sync-wave=3;wavesync.dev/wave-timeout=10m", NULL},
        {"v1", "Service", NULL, "model-server", "argocd.argoproj.io/sync-wave=3", NULL},
        {"v1", "PersistentVolumeClaim", NULL, "model-cache",
         "argocd.argoproj.io/sync-wave=1;argocd.argoproj.io/sync-options=Prune=false", NULL},
        {"v1", "PersistentVolumeClaim", NULL, "feature-store-data",
         "argocd.argoproj.io/sync-wave=1;argocd.argoproj.io/sync-options=Prune=false", NULL},
        {"apps/v1", "Deployment", NULL, "feature-store", "argocd.argoproj.io/sync-wave=2", NULL},
        {"v1", "Service", NULL, "feature-store", "argocd.argoproj.io/sync-wave=2", NULL},
        {"v1", "ConfigMap", NULL, "model-server-config", NULL, NULL},
        {"v1", "ConfigMap", NULL, "feature-store-config", NULL, NULL},
        {"v1", "Secret", NULL, "feature-store-db", NULL, NULL},
        {"v1", "Namespace", NULL, "ml-platform", NULL, NULL},
        {"batch/v1", "Job", NULL, "feature-store-migrate",
         "argocd.argoproj.io/hook=PreSync;"
         "argocd.argoproj.io/hook-delete-policy=BeforeHookCreation,HookSucceeded", NULL},
        {"batch/v1", "Job", NULL, "smoke-test-*",
         "argocd.argoproj.io/hook=PostSync;argocd.argoproj.io/hook-delete-policy=HookSucceeded",
         NULL},
        {"batch/v1", "Job", NULL, "notify-failure", "argocd.argoproj.io/hook=SyncFail", NULL},
        {"monitoring.coreos.com/v1", "PrometheusRule", NULL, "ml-alerts",
         "argocd.argoproj.io/sync-wave=4", NULL},
        {"v1", "ConfigMap", NULL, "grafana-dashboard-ml", "argocd.argoproj.io/sync-wave=4", NULL},
        {0},
    };
    static const char *const want[] = {
        /* the PreSync migration in ml-platform pulls the Namespace with it */
        "PreSync 0 v1 Namespace ml-platform",
        "PreSync 0 batch/v1 Job ml-platform/feature-store-migrate",
        "Sync 0 v1 Secret ml-platform/feature-store-db",
        "Sync 0 v1 ConfigMap ml-platform/feature-store-config",
        "Sync 0 v1 ConfigMap ml-platform/model-server-config",
        "Sync 1 v1 PersistentVolumeClaim ml-platform/feature-store-data",
        "Sync 1 v1 PersistentVolumeClaim ml-platform/model-cache",
        "Sync 2 v1 Service ml-platform/feature-store",
        "Sync 2 apps/v1 Deployment ml-platform/feature-store",
        "Sync 3 v1 Service ml-platform/model-server",
        "Sync 3 apps/v1 Deployment ml-platform/model-server-embedder",
        "Sync 3 apps/v1 Deployment ml-platform/model-server-ranker",
        "Sync 4 v1 ConfigMap ml-platform/grafana-dashboard-ml",
        "Sync 4 monitoring.coreos.com/v1 PrometheusRule ml-platform/ml-alerts",
        "Sync 4 monitoring.coreos.com/v1 ServiceMonitor ml-platform/model-server",
        "PostSync 0 batch/v1 Job ml-platform/smoke-test-*",
        "SyncFail 0 batch/v1 Job ml-platform/notify-failure",
        NULL,
    };
    static const struct {
        enum ws_phase phase;
        int wave;
        size_t count;
        uint64_t timeout_ms;
    } waves[] = {
        {WS_PHASE_PRESYNC, 0, 2, 0}, {WS_PHASE_SYNC, 0, 3, 0},
        {WS_PHASE_SYNC, 1, 2, 0},    {WS_PHASE_SYNC, 2, 2, 0},
        {WS_PHASE_SYNC, 3, 3, 900000}, {WS_PHASE_SYNC, 4, 3, 0},
        {WS_PHASE_POSTSYNC, 0, 1, 0}, {WS_PHASE_SYNCFAIL, 0, 1, 0},
    };
    struct ws_plan p;
    struct ws_err err = {0};
    json_t *in = make_objs(s);
    char *got, *exp = join(want);
    const struct ws_plan_item *it;
    size_t i;
    int rc = ws_plan_build(&p, in, "ml-platform", NULL, NULL, &err);

    if (!tap_ok(rc == 0, "ml platform: builds"))
        tap_diag("  %s", err.msg);
    got = render(&p);
    tap_is_str(got, exp, "ml platform: full order");
    tap_is_int(p.nwaves, WS_ARRAY_SIZE(waves), "ml platform: wave count");
    for (i = 0; i < p.nwaves && i < WS_ARRAY_SIZE(waves); i++) {
        char name[64];
        snprintf(name, sizeof(name), "ml platform: wave %zu", i);
        tap_ok(p.waves[i].phase == waves[i].phase && p.waves[i].wave == waves[i].wave &&
                   p.waves[i].count == waves[i].count &&
                   p.waves[i].timeout_ms == waves[i].timeout_ms,
               "%s (%s %d, %zu items, %llu ms)", name, ws_phase_str(waves[i].phase),
               waves[i].wave, waves[i].count, (unsigned long long)waves[i].timeout_ms);
    }
    it = find(&p, "batch/v1 Job ml-platform/feature-store-migrate", WS_PHASE_PRESYNC);
    tap_ok(it && it->is_hook &&
               it->hook_delete == (WS_HOOK_DELETE_BEFORE_CREATION | WS_HOOK_DELETE_SUCCEEDED),
           "ml platform: migration hook delete policy");
    it = find(&p, "batch/v1 Job ml-platform/smoke-test-*", WS_PHASE_POSTSYNC);
    tap_ok(it && it->is_hook && it->hook_delete == WS_HOOK_DELETE_SUCCEEDED,
           "ml platform: smoke test hook delete policy");
    it = find(&p, "v1 PersistentVolumeClaim ml-platform/model-cache", WS_PHASE_SYNC);
    tap_ok(it && !it->is_hook && it->options == WS_OPT_PRUNE_FALSE && it->hook_delete == 0,
           "ml platform: PVC keeps Prune=false");
    it = find(&p, "v1 Namespace ml-platform", WS_PHASE_PRESYNC);
    tap_ok(it && !it->is_hook && it->input_index == 11, "ml platform: Namespace is no hook");
    free(got);
    free(exp);
    ws_plan_free(&p);
    json_decref(in);
}

int main(void)
{
    test_order();
    test_order_independent_of_input();
    test_duplicates_keep_input_order();
    test_hook_fields();
    test_multi_phase_items();
    test_sync_options();
    test_wave_timeouts();
    test_default_namespace();
    test_errors();
    test_skip_and_generate_name();
    test_small_api();
    test_ml_platform();
    return tap_done();
}
