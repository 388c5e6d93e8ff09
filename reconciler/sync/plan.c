/* plan.c — the order of a sync, computed the way gitops-engine does it
 * (pkg/sync/sync_tasks.go, sync_phase.go, hook/, syncwaves/): hook phases and
 * delete policies from annotations, waves, Helm's kind order, names. Pure. */
#include "sync/plan.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kube/kube.h"
#include "base/util.h"

#define ANN_HOOK "argocd.argoproj.io/hook"
#define ANN_HOOK_DELETE "argocd.argoproj.io/hook-delete-policy"
#define ANN_SYNC_WAVE "argocd.argoproj.io/sync-wave"
#define ANN_SYNC_OPTIONS "argocd.argoproj.io/sync-options"
#define ANN_HELM_HOOK "helm.sh/hook"
#define ANN_HELM_WEIGHT "helm.sh/hook-weight"
#define ANN_HELM_DELETE "helm.sh/hook-delete-policy"
#define ANN_HELM_RESOURCE_POLICY "helm.sh/resource-policy"
#define ANN_WAVE_TIMEOUT "wavesync.dev/wave-timeout"

#define CRD_GROUP "apiextensions.k8s.io"
#define CRD_KIND "CustomResourceDefinition"

static const char *const phase_names[] = {
#define WS_X(name, text) [name] = text,
    WS_PHASES(WS_X)
#undef WS_X
};

const char *ws_phase_str(enum ws_phase p)
{
    return (unsigned)p < WS_PHASE_COUNT ? phase_names[p] : "?";
}

/* gitops-engine's kindOrder (itself Helm's install order, kind_sorter.go). */
static const char *const kind_order[] = {
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
};

int ws_plan_kind_rank(const char *kind)
{
    size_t i;
    for (i = 0; kind && i < WS_ARRAY_SIZE(kind_order); i++)
        if (strcmp(kind, kind_order[i]) == 0)
            return (int)i;
    return (int)WS_ARRAY_SIZE(kind_order);
}

/* Built-in cluster-scoped kinds, by group and kind so a custom resource that
 * happens to be called "Node" is not mistaken for one. Used only when neither
 * the scope callback nor a CRD in the input answers. */
static const struct {
    const char *group, *kind;
} cluster_kinds[] = {
    {"", "Namespace"},
    {"", "Node"},
    {"", "PersistentVolume"},
    {"", "ComponentStatus"},
    {"storage.k8s.io", "StorageClass"},
    {"storage.k8s.io", "CSIDriver"},
    {"storage.k8s.io", "CSINode"},
    {"storage.k8s.io", "VolumeAttachment"},
    {"rbac.authorization.k8s.io", "ClusterRole"},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
    {CRD_GROUP, CRD_KIND},
    {"apiregistration.k8s.io", "APIService"},
    {"scheduling.k8s.io", "PriorityClass"},
    {"networking.k8s.io", "IngressClass"},
    {"node.k8s.io", "RuntimeClass"},
    {"policy", "PodSecurityPolicy"},
    {"certificates.k8s.io", "CertificateSigningRequest"},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
    {"flowcontrol.apiserver.k8s.io", "FlowSchema"},
    {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
};

/* ---- small string helpers ------------------------------------------------ */

/* The group of an apiVersion: "apps/v1" → "apps", "v1" → "". */
static struct ws_tok api_group(const char *api_version)
{
    const char *slash = strchr(api_version, '/');
    return slash ? (struct ws_tok){api_version, (size_t)(slash - api_version)}
                 : (struct ws_tok){api_version, 0};
}

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- reading one object -------------------------------------------------- */

#define PHASE_BIT(p) (1u << (p))

/* What the annotations of one object say. */
struct obj_info {
    const char *ident;   /* for error messages */
    unsigned phases;     /* PHASE_BIT set; 0 with skipped */
    int skipped;         /* takes part in no sync phase */
    int is_hook;
    unsigned hook_delete;
    int wave;
    unsigned options;
    uint64_t wave_timeout_ms;
};

/* An annotation's value, NULL when absent. Kubernetes annotations are
 * strings; an unquoted YAML number would be refused by the API server, so it
 * is refused here, before anything is applied. */
static int annotation(const char **out, const json_t *obj, const char *key, const char *ident,
                      struct ws_err *err)
{
    json_t *v = json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                                key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return ws_err_set(err, WS_EINVAL, "%s: annotation %s is not a string (quote it)", ident,
                          key);
    *out = json_string_value(v);
    return 0;
}

/* Go's strconv.Atoi, which syncwaves.Wave uses: optional sign, digits, no
 * spaces; limited to a C int. */
static int parse_int(int *out, const char *s)
{
    const char *p = s + (*s == '+' || *s == '-');
    long long v = 0;
    if (!*p)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > (long long)INT_MAX + 1)
            return -1;
    }
    v = *s == '-' ? -v : v;
    if (v > INT_MAX || v < INT_MIN)
        return -1;
    *out = (int)v;
    return 0;
}

/* Hook phases. Argo CD's annotation wins; Helm's is read only without it
 * (hook.Types). Argo CD's "Skip" alone skips the object; mixed with phases it
 * is ignored (hook.Skip). PreDelete/PostDelete are valid Argo CD hooks that
 * run on deletion, never during a sync: such objects are skipped. */
static int read_phases(struct obj_info *in, const json_t *obj, struct ws_err *err)
{
    const char *argo, *helm, *p;
    struct ws_tok t;
    int rc, nskip = 0, nother = 0, any = 0, all_crd = 1;
    enum ws_phase ph;
    if ((rc = annotation(&argo, obj, ANN_HOOK, in->ident, err)) < 0 ||
        (rc = annotation(&helm, obj, ANN_HELM_HOOK, in->ident, err)) < 0)
        return rc;
    if (argo) {
        for (p = argo; ws_csv_next(&p, &t);) {
            for (ph = 0; ph < WS_PHASE_COUNT; ph++)
                if (ws_tok_eq(t, phase_names[ph]))
                    break;
            if (ph < WS_PHASE_COUNT)
                in->phases |= PHASE_BIT(ph);
            else if (ws_tok_eq(t, "Skip"))
                nskip++;
            else if (ws_tok_eq(t, "PreDelete") || ws_tok_eq(t, "PostDelete"))
                nother++;
            else
                return ws_err_set(err, WS_EINVAL,
                                  "%s: " ANN_HOOK " \"%.*s\" is not a hook type (PreSync, Sync, "
                                  "PostSync, SyncFail, Skip)", in->ident, (int)t.n, t.s);
        }
        /* gitops-engine would call this a hook with no phase and silently
         * never apply it; an empty value is far likelier a template slip. */
        if (!in->phases && !nskip && !nother)
            return ws_err_set(err, WS_EINVAL, "%s: " ANN_HOOK " is empty", in->ident);
        in->is_hook = in->phases || nother;
        in->skipped = !in->phases;
        return 0;
    }
    if (!helm)
        return 0;
    for (p = helm; ws_csv_next(&p, &t);) {
        any = 1;
        if (ws_tok_eq(t, "pre-install") || ws_tok_eq(t, "pre-upgrade"))
            in->phases |= PHASE_BIT(WS_PHASE_PRESYNC);
        else if (ws_tok_eq(t, "post-install") || ws_tok_eq(t, "post-upgrade"))
            in->phases |= PHASE_BIT(WS_PHASE_POSTSYNC);
        /* Argo CD supports no other Helm hook: test, test-success,
         * test-failure, pre/post-delete, pre/post-rollback — and any token
         * Helm itself would not know — are skipped without an error. */
        if (!ws_tok_eq(t, "crd-install"))
            all_crd = 0;
    }
    /* "crd-install" is Helm 2's way to ship CRDs; Argo CD treats those as
     * ordinary resources (helm.IsHook). */
    if (any && all_crd)
        return 0;
    in->is_hook = 1;
    in->skipped = !in->phases;
    return 0;
}

/* Delete policies: Argo CD's and Helm's together (hook.DeletePolicies reads
 * both), BeforeHookCreation when neither names one. */
static int read_delete_policy(struct obj_info *in, const json_t *obj, struct ws_err *err)
{
    static const struct {
        const char *argo, *helm;
        unsigned flag;
    } pol[] = {
        {"BeforeHookCreation", "before-hook-creation", WS_HOOK_DELETE_BEFORE_CREATION},
        {"HookSucceeded", "hook-succeeded", WS_HOOK_DELETE_SUCCEEDED},
        {"HookFailed", "hook-failed", WS_HOOK_DELETE_FAILED},
    };
    const char *keys[2] = {ANN_HOOK_DELETE, ANN_HELM_DELETE};
    int k, rc;
    for (k = 0; k < 2; k++) {
        const char *p;
        struct ws_tok t;
        size_t i;
        if ((rc = annotation(&p, obj, keys[k], in->ident, err)) < 0)
            return rc;
        while (p && ws_csv_next(&p, &t)) {
            for (i = 0; i < WS_ARRAY_SIZE(pol); i++)
                if (ws_tok_eq(t, k == 0 ? pol[i].argo : pol[i].helm))
                    break;
            if (i == WS_ARRAY_SIZE(pol))
                return ws_err_set(err, WS_EINVAL, "%s: %s \"%.*s\" is not a delete policy (%s)",
                                  in->ident, keys[k], (int)t.n, t.s,
                                  k == 0 ? "BeforeHookCreation, HookSucceeded, HookFailed"
                                         : "before-hook-creation, hook-succeeded, hook-failed");
            in->hook_delete |= pol[i].flag;
        }
    }
    if (!in->hook_delete)
        in->hook_delete = WS_HOOK_DELETE_BEFORE_CREATION;
    return 0;
}

/* Wave, sync options and wave timeout. */
static int read_rest(struct obj_info *in, const json_t *obj, struct ws_err *err)
{
    const char *wave, *weight, *opts, *keep, *timeout;
    int rc;
    if ((rc = annotation(&wave, obj, ANN_SYNC_WAVE, in->ident, err)) < 0 ||
        (rc = annotation(&weight, obj, ANN_HELM_WEIGHT, in->ident, err)) < 0 ||
        (rc = annotation(&opts, obj, ANN_SYNC_OPTIONS, in->ident, err)) < 0 ||
        (rc = annotation(&keep, obj, ANN_HELM_RESOURCE_POLICY, in->ident, err)) < 0 ||
        (rc = annotation(&timeout, obj, ANN_WAVE_TIMEOUT, in->ident, err)) < 0)
        return rc;
    /* gitops-engine falls back to the Helm weight, then 0, when the wave does
     * not parse; we refuse it instead: a typo must not reorder a sync. */
    if (wave && parse_int(&in->wave, wave) < 0)
        return ws_err_set(err, WS_EINVAL, "%s: " ANN_SYNC_WAVE " \"%s\" is not an integer",
                          in->ident, wave);
    if (!wave && weight && parse_int(&in->wave, weight) < 0)
        return ws_err_set(err, WS_EINVAL, "%s: " ANN_HELM_WEIGHT " \"%s\" is not an integer",
                          in->ident, weight);
    if ((rc = ws_sync_options_parse(&in->options, opts, err)) < 0) {
        ws_err_prefix(err, "%s: " ANN_SYNC_OPTIONS, in->ident);
        return rc;
    }
    /* Argo CD documents helm.sh/resource-policy: keep as Delete=false. */
    if (keep && strcmp(keep, "keep") == 0)
        in->options |= WS_OPT_DELETE_FALSE;
    if (timeout && ws_duration_parse(&in->wave_timeout_ms, timeout) < 0)
        return ws_err_set(err, WS_EINVAL, "%s: " ANN_WAVE_TIMEOUT " \"%s\" is not a duration",
                          in->ident, timeout);
    return 0;
}

/* ---- scope --------------------------------------------------------------- */

/* Is group/kind namespaced? The callback (discovery) knows what the server
 * serves; a CRD in the same input knows about a kind the server does not
 * serve yet; else the built-in list. A callback result < 0 means "unknown". */
static int is_namespaced(const char *api_version, const char *kind, const json_t *crds,
                         ws_plan_scope_fn fn, void *data)
{
    struct ws_tok g = api_group(api_version);
    size_t i;
    json_t *crd;
    int r;
    if (fn && (r = fn(api_version, kind, data)) >= 0)
        return r != 0;
    json_array_foreach(crds, i, crd) {
        json_t *spec = json_object_get(crd, "spec");
        const char *cg = json_string_value(json_object_get(spec, "group"));
        const char *ck = json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
        const char *scope = json_string_value(json_object_get(spec, "scope"));
        if (cg && ck && ws_tok_eq(g, cg) && strcmp(ck, kind) == 0)
            return !(scope && strcmp(scope, "Cluster") == 0);
    }
    for (i = 0; i < WS_ARRAY_SIZE(cluster_kinds); i++)
        if (ws_tok_eq(g, cluster_kinds[i].group) && strcmp(kind, cluster_kinds[i].kind) == 0)
            return 0;
    return 1;
}

static int is_kind(const json_t *obj, const char *group, const char *kind)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *k = json_string_value(json_object_get(obj, "kind"));
    return av && k && strcmp(k, kind) == 0 && ws_tok_eq(api_group(av), group);
}

/* ---- ordering ------------------------------------------------------------ */

/* The name sorted on: a hook's generateName stands in for the name
 * gitops-engine generates from it (same prefix, same suffix per phase). */
static const char *sort_name(const json_t *obj)
{
    const char *n = md_str(obj, "name");
    return n && *n ? n : str_or_empty(md_str(obj, "generateName"));
}

static int cmp_pw(enum ws_phase pa, int wa, enum ws_phase pb, int wb)
{
    if (pa != pb)
        return pa < pb ? -1 : 1;
    return wa < wb ? -1 : wa > wb;
}

/* sync_tasks.go's Less: phase, wave, kind rank, name. Go's sort.Sort is not
 * stable and compares nothing more, so equal names land in any order there;
 * we add namespace and input position for one total, repeatable order.
 * Hooks and other resources are not told apart, as in gitops-engine. */
static int cmp_items(const void *va, const void *vb)
{
    const struct ws_plan_item *a = va, *b = vb;
    int c;
    if ((c = cmp_pw(a->phase, a->wave, b->phase, b->wave)) != 0)
        return c;
    if (a->kind_rank != b->kind_rank)
        return a->kind_rank < b->kind_rank ? -1 : 1;
    if ((c = strcmp(sort_name(a->obj), sort_name(b->obj))) != 0)
        return c;
    if ((c = strcmp(str_or_empty(md_str(a->obj, "namespace")),
                    str_or_empty(md_str(b->obj, "namespace")))) != 0)
        return c;
    /* one object's items differ in phase, compared first */
    return a->input_index < b->input_index ? -1 : a->input_index > b->input_index;
}

/* Does `r` depend on Namespace/CRD `d`? Namespace N: r is in N. CRD: r's
 * group and kind are the ones the CRD defines (sync_tasks.go's Sort). */
static int depends_on(const json_t *r, const json_t *d, int d_is_ns)
{
    if (d_is_ns) {
        const char *ns = md_str(r, "namespace"), *name = md_str(d, "name");
        return ns && name && strcmp(ns, name) == 0;
    } else {
        json_t *spec = json_object_get(d, "spec");
        const char *g = json_string_value(json_object_get(spec, "group"));
        const char *k = json_string_value(json_object_get(json_object_get(spec, "names"), "kind"));
        return g && k && is_kind(r, g, k);
    }
}

/* A Namespace moves to the earliest (phase, wave) of the objects in it, a CRD
 * to that of its custom resources — never later than it already is. This is
 * gitops-engine's adjustDeps, hooks included: a PreSync hook in namespace N
 * pulls N's Namespace into PreSync, without which the hook could not be
 * created. The sort that follows puts the Namespace first in its wave (kind
 * rank 0) and the CRD before every custom resource (they rank last), where
 * gitops-engine inserts it just before the first dependant: same waves. */
static void move_dependencies(struct ws_plan_item *items, size_t n)
{
    size_t i, j;
    int pass;
    for (pass = 0; pass < 2; pass++) {
        int ns = pass == 0;
        for (i = 0; i < n; i++) {
            struct ws_plan_item *d = &items[i];
            if (!(ns ? is_kind(d->obj, "", "Namespace") : is_kind(d->obj, CRD_GROUP, CRD_KIND)))
                continue;
            for (j = 0; j < n; j++) {
                struct ws_plan_item *r = &items[j];
                if (j != i && cmp_pw(r->phase, r->wave, d->phase, d->wave) < 0 &&
                    depends_on(r->obj, d->obj, ns)) {
                    d->phase = r->phase;
                    d->wave = r->wave;
                }
            }
        }
    }
}

static int build_waves(struct ws_plan *p, struct ws_err *err)
{
    size_t i;
    for (i = 0; i < p->nitems; i++) {
        struct ws_plan_item *it = &p->items[i];
        struct ws_plan_wave *w = p->nwaves ? &p->waves[p->nwaves - 1] : NULL;
        if (!w || w->phase != it->phase || w->wave != it->wave) {
            if (!p->waves && !(p->waves = calloc(p->nitems, sizeof(*p->waves))))
                return ws_err_set(err, WS_ENOMEM, "out of memory");
            w = &p->waves[p->nwaves++];
            *w = (struct ws_plan_wave){.phase = it->phase, .wave = it->wave, .first = i};
        }
        w->count++;
        /* the slowest object sets the wave's deadline */
        if (it->wave_timeout_ms > w->timeout_ms)
            w->timeout_ms = it->wave_timeout_ms;
    }
    return 0;
}

/* ---- building ------------------------------------------------------------ */

static int push_item(struct ws_plan *p, size_t *cap, const struct ws_plan_item *it)
{
    if (p->nitems == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct ws_plan_item *n = realloc(p->items, ncap * sizeof(*n));
        if (!n)
            return WS_ENOMEM;
        p->items = n;
        *cap = ncap;
    }
    p->items[p->nitems++] = *it;
    return 0;
}

/* Read object `idx` and append one item per phase it runs in. */
static int add_object(struct ws_plan *p, size_t *cap, const json_t *obj, size_t idx,
                      const json_t *crds, const char *default_ns, ws_plan_scope_fn scope_fn,
                      void *scope_data, struct ws_err *err)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *name, *gen, *ns;
    char ident[512], starred[300];
    struct obj_info in = {.ident = ident};
    json_t *use = NULL;
    enum ws_phase ph;
    int rc;

    if (!json_is_object(obj))
        return ws_err_set(err, WS_EINVAL, "object %zu is not a mapping", idx);
    if (!av || !*av || !kind || !*kind)
        return ws_err_set(err, WS_EINVAL, "object %zu has no %s", idx,
                          !av || !*av ? "apiVersion" : "kind");
    name = md_str(obj, "name");
    gen = md_str(obj, "generateName");
    ns = md_str(obj, "namespace");
    if (!(name && *name) && gen && *gen)
        snprintf(starred, sizeof(starred), "%s*", gen);
    else
        snprintf(starred, sizeof(starred), "%s", str_or_empty(name));

    if (!(ns && *ns) && default_ns && *default_ns &&
        is_namespaced(av, kind, crds, scope_fn, scope_data)) {
        /* never touch the caller's object: the copy carries the namespace */
        if (!(use = json_deep_copy(obj)))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        json_t *md = json_object_get(use, "metadata");
        if (!json_is_object(md) &&
            json_object_set_new(use, "metadata", md = json_object()) < 0) /* stolen */
            goto nomem;
        if (json_object_set_new(md, "namespace", json_string(default_ns)) < 0) /* stolen */
            goto nomem;
        ns = default_ns;
    } else {
        use = json_incref((json_t *)obj);
    }
    ws_kube_ident(ident, sizeof(ident), av, kind, ns, starred);

    if ((rc = read_phases(&in, use, err)) < 0)
        goto out;
    if (in.skipped) {
        p->nskipped++;
        goto out;
    }
    if (!(name && *name) && !(in.is_hook && gen && *gen)) {
        rc = ws_err_set(err, WS_EINVAL, "%s (object %zu): metadata.name is required%s", ident,
                        idx, gen && *gen ? " (generateName is only for hooks)" : "");
        goto out;
    }
    if (!in.is_hook)
        in.phases = PHASE_BIT(WS_PHASE_SYNC);
    else if ((rc = read_delete_policy(&in, use, err)) < 0)
        goto out;
    if ((rc = read_rest(&in, use, err)) < 0)
        goto out;

    for (ph = 0; ph < WS_PHASE_COUNT; ph++) {
        struct ws_plan_item it = {
            .obj = use, .phase = ph, .wave = in.wave, .is_hook = in.is_hook,
            .hook_delete = in.hook_delete, .options = in.options,
            .wave_timeout_ms = in.wave_timeout_ms, .kind_rank = ws_plan_kind_rank(kind),
            .input_index = idx,
            .is_child = !in.is_hook && (is_kind(use, "argoproj.io", "Application") ||
                                        is_kind(use, "argoproj.io", "ApplicationSet")),
        };
        if (!(in.phases & PHASE_BIT(ph)))
            continue;
        snprintf(it.ident, sizeof(it.ident), "%s", ident);
        if (push_item(p, cap, &it) < 0)
            goto nomem;
        json_incref(use); /* one reference per item */
    }
    rc = 0;
    goto out;
nomem:
    rc = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    json_decref(use);
    return rc;
}

int ws_plan_build(struct ws_plan *out, const json_t *objects, const char *default_ns,
                  ws_plan_scope_fn is_namespaced_fn, void *scope_data, struct ws_err *err)
{
    struct ws_plan p = {0};
    json_t *crds = NULL, *obj;
    size_t i, cap = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_array(objects))
        return ws_err_set(err, WS_EINVAL, "objects is not a list");
    /* CRDs of the input, to know the scope of kinds the server lacks yet */
    if (!(crds = json_array()))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    json_array_foreach(objects, i, obj)
        if (is_kind(obj, CRD_GROUP, CRD_KIND) && json_array_append(crds, obj) < 0) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            goto out;
        }
    json_array_foreach(objects, i, obj)
        if ((rc = add_object(&p, &cap, obj, i, crds, default_ns, is_namespaced_fn, scope_data,
                             err)) < 0)
            goto out;

    if (p.nitems) {
        move_dependencies(p.items, p.nitems);
        qsort(p.items, p.nitems, sizeof(*p.items), cmp_items);
    }
    if ((rc = build_waves(&p, err)) < 0)
        goto out;
    *out = p;
    memset(&p, 0, sizeof(p));
    rc = 0;
out:
    ws_plan_free(&p);
    json_decref(crds);
    return rc;
}

void ws_plan_free(struct ws_plan *p)
{
    size_t i;
    if (!p)
        return;
    for (i = 0; i < p->nitems; i++)
        json_decref(p->items[i].obj);
    free(p->items);
    free(p->waves);
    memset(p, 0, sizeof(*p));
}
