/* fakectl.c — plays the controllers for end-to-end tests on a control plane
 * that runs none (the envtest approach): it watches Deployments,
 * StatefulSets, Jobs and PersistentVolumeClaims and writes their /status the
 * way the real controllers would, and logs every event it sees with its
 * resourceVersion so tests can assert on the order things happened in.
 *
 *   fakectl LOGFILE        (KUBECONFIG from the environment; runs until killed)
 *
 * Behaviour is steered by annotations on the objects themselves:
 *   e2e.wavesync.dev/ready-after: 300ms   become ready only after this delay
 *   e2e.wavesync.dev/never-ready: "true"  a Deployment that never becomes available
 *   e2e.wavesync.dev/crashloop: "true"    a Job whose pod is in CrashLoopBackOff
 *   e2e.wavesync.dev/fail: "true"         a Job that fails
 * Log lines (JSON): {"t": ms, "event": "ADDED", "kind": …, "namespace": …,
 *   "name": …, "rv": n, "uid": …} and {"t": ms, "action": "ready", …, "rv": n}
 *   where rv is the resourceVersion the status write produced. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <uv.h>

#include "kube/kube.h"
#include "config/kubeconfig.h"
#include "base/util.h"

static uv_loop_t *loop;
static struct ws_kube *kube;
static FILE *log_file;
static uint64_t t0;
static json_t *handled; /* "Kind/ns/name/generation" already acted on */

struct pending {
    uv_timer_t timer;
    json_t *obj;
};

static void log_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        fprintf(log_file, "%s\n", s);
        fflush(log_file);
        free(s);
    }
    json_decref(o);
}

static const char *ann(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

static const char *md(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static json_int_t rv_num(const json_t *obj)
{
    const char *rv = md(obj, "resourceVersion");
    return rv ? strtoll(rv, NULL, 10) : 0;
}

struct status_ctx {
    char kind[64], ns[256], name[256], action[32];
};

static void act(const json_t *obj);

static void on_patched(const struct ws_kube_result *res, void *data)
{
    struct status_ctx *c = data;
    const json_t *observed = json_object_get(json_object_get(res->body, "status"), "observedGeneration");
    if (res->code < 0)
        fprintf(stderr, "fakectl: %s %s/%s: %s\n", c->kind, c->ns, c->name, res->err->msg);
    else
        log_json(json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "t", (json_int_t)(ws_now_ms() - t0), "action",
                           c->action, "kind", c->kind, "namespace", c->ns, "name", c->name, "rv",
                           rv_num(res->body)));
    /* two status writes raced and the older generation's landed last (a spec
       change right after a create): act again on the object as it is now */
    if (res->code == 0 && observed &&
        json_integer_value(observed) <
            json_integer_value(json_object_get(json_object_get(res->body, "metadata"), "generation")))
        act(res->body);
    free(c);
}

static void patch_status(const json_t *obj, json_t *status, const char *action)
{
    struct status_ctx *c = calloc(1, sizeof(*c));
    json_t *patch = json_pack("{s:o}", "status", status);
    struct ws_kube_ref ref = ws_kube_ref_of(obj);
    snprintf(c->kind, sizeof(c->kind), "%s", ref.kind);
    snprintf(c->ns, sizeof(c->ns), "%s", ref.namespace_ ? ref.namespace_ : "");
    snprintf(c->name, sizeof(c->name), "%s", ref.name);
    snprintf(c->action, sizeof(c->action), "%s", action);
    ws_kube_patch_status(kube, &ref, patch, on_patched, c);
    json_decref(patch);
}

static const char *now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static void on_sa(const struct ws_kube_result *res, void *data)
{
    (void)data;
    if (res->code < 0)
        fprintf(stderr, "fakectl: service account: %s\n", res->err->msg);
}

static void on_pod_created(const struct ws_kube_result *res, void *data)
{
    json_t *status = data;
    if (res->code < 0) {
        fprintf(stderr, "fakectl: pod: %s\n", res->err->msg);
        json_decref(status);
        return;
    }
    patch_status(res->body, status, "crashloop");
}

/* A Job's pod stuck in CrashLoopBackOff, labelled as the Job controller would. */
static void crashloop_pod(const json_t *job)
{
    json_t *labels = json_object_get(json_object_get(json_object_get(json_object_get(job, "spec"), "template"),
                                                     "metadata"),
                                     "labels");
    char name[300];
    json_t *pod, *status;
    snprintf(name, sizeof(name), "%s-crash", md(job, "name"));
    pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:O}, s:{s:s, s:[{s:s, s:s}]}}", "apiVersion", "v1", "kind", "Pod",
                    "metadata", "name", name, "namespace", md(job, "namespace"), "labels",
                    labels ? labels : json_object(), "spec", "restartPolicy", "OnFailure", "containers", "name",
                    "train", "image", "registry.local/train:1");
    status = json_pack("{s:s, s:[{s:s, s:b, s:i, s:{s:{s:s, s:s}}}]}", "phase", "Running", "containerStatuses",
                       "name", "train", "ready", 0, "restartCount", 5, "state", "waiting", "reason",
                       "CrashLoopBackOff", "message", "back-off 40s restarting failed container=train");
    ws_kube_create(kube, pod, 0, on_pod_created, status);
    json_decref(pod);
}

static void act(const json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    json_int_t gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
    char ts[40];
    if (strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0) {
        json_int_t replicas = json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas"));
        const char *never = ann(obj, "e2e.wavesync.dev/never-ready");
        if (!json_object_get(json_object_get(obj, "spec"), "replicas"))
            replicas = 1;
        if (never && strcmp(never, "true") == 0) {
            patch_status(obj,
                         json_pack("{s:I, s:I, s:I, s:I, s:I, s:[{s:s, s:s, s:s, s:s}]}", "observedGeneration",
                                   gen, "replicas", replicas, "updatedReplicas", replicas, "readyReplicas",
                                   (json_int_t)0, "unavailableReplicas", replicas, "conditions", "type",
                                   "Available", "status", "False", "reason", "MinimumReplicasUnavailable",
                                   "message", "Deployment does not have minimum availability."),
                         "unavailable");
            return;
        }
        if (strcmp(kind, "Deployment") == 0)
            patch_status(obj,
                         json_pack("{s:I, s:I, s:I, s:I, s:I, s:[{s:s, s:s, s:s}]}", "observedGeneration", gen,
                                   "replicas", replicas, "updatedReplicas", replicas, "readyReplicas", replicas,
                                   "availableReplicas", replicas, "conditions", "type", "Available", "status",
                                   "True", "reason", "MinimumReplicasAvailable"),
                         "ready");
        else
            patch_status(obj,
                         json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "observedGeneration", gen, "replicas",
                                   replicas, "updatedReplicas", replicas, "readyReplicas", replicas,
                                   "availableReplicas", replicas, "currentReplicas", replicas),
                         "ready");
    } else if (strcmp(kind, "Job") == 0) {
        const char *crash = ann(obj, "e2e.wavesync.dev/crashloop");
        const char *failj = ann(obj, "e2e.wavesync.dev/fail");
        now_rfc3339(ts, sizeof(ts));
        if (crash && strcmp(crash, "true") == 0) {
            patch_status(obj, json_pack("{s:s, s:i}", "startTime", ts, "active", 1), "running");
            crashloop_pod(obj);
        } else if (failj && strcmp(failj, "true") == 0) {
            patch_status(obj,
                         json_pack("{s:s, s:i, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "startTime", ts,
                                   "failed", 1, "conditions", "type", "FailureTarget", "status", "True", "reason",
                                   "BackoffLimitExceeded", "message", "Job has reached the specified backoff limit",
                                   "type", "Failed", "status", "True", "reason", "BackoffLimitExceeded", "message",
                                   "Job has reached the specified backoff limit"),
                         "failed");
        } else {
            patch_status(obj,
                         json_pack("{s:s, s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}]}", "startTime", ts, "completionTime",
                                   ts, "succeeded", 1, "conditions", "type", "SuccessCriteriaMet", "status", "True",
                                   "type", "Complete", "status", "True"),
                         "ready");
        }
    } else if (strcmp(kind, "PersistentVolumeClaim") == 0) {
        patch_status(obj, json_pack("{s:s}", "phase", "Bound"), "ready");
    } else if (strcmp(kind, "Namespace") == 0) {
        /* the service-account controller: pods need "default" */
        json_t *sa = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
                               "metadata", "name", "default", "namespace", md(obj, "name"));
        ws_kube_apply(kube, sa, "fakectl", 0, on_sa, NULL);
        json_decref(sa);
    }
}

static void on_pending_closed(uv_handle_t *h)
{
    struct pending *p = h->data;
    json_decref(p->obj);
    free(p);
}

static void on_delay(uv_timer_t *t)
{
    struct pending *p = t->data;
    act(p->obj);
    uv_close((uv_handle_t *)t, on_pending_closed);
}

static void on_event(enum ws_watch_event ev, json_t *obj, const struct ws_err *e, void *data)
{
    const char *kind = data;
    const char *names[] = {"ADDED", "MODIFIED", "DELETED", "SYNCED", "ERROR", "RELISTING"};
    char key[700];
    const char *delay;
    uint64_t ms = 0;
    if (ev == WS_WATCH_ERROR) {
        fprintf(stderr, "fakectl: watch %s: %s\n", kind, e->msg);
        return;
    }
    if (!obj)
        return;
    log_json(json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:I, s:s?}", "t", (json_int_t)(ws_now_ms() - t0), "event",
                       names[ev], "kind", kind, "namespace", md(obj, "namespace"), "name", md(obj, "name"), "rv",
                       rv_num(obj), "uid", md(obj, "uid")));
    if (ev == WS_WATCH_DELETED)
        return;
    /* act once per object generation (status writes come back as MODIFIED) */
    snprintf(key, sizeof(key), "%s/%s/%s/%s/%lld", kind, md(obj, "namespace") ?: "", md(obj, "name") ?: "",
             md(obj, "uid") ?: "",
             (long long)json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation")));
    if (json_object_get(handled, key) || strcmp(kind, "Pod") == 0)
        return;
    json_object_set_new(handled, key, json_true());
    delay = ann(obj, "e2e.wavesync.dev/ready-after");
    if (delay && ws_duration_parse(&ms, delay) == 0 && ms > 0) {
        struct pending *p = calloc(1, sizeof(*p));
        p->obj = json_incref(obj);
        uv_timer_init(loop, &p->timer);
        p->timer.data = p;
        uv_timer_start(&p->timer, on_delay, ms, 0);
        return;
    }
    act(obj);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    fclose(log_file);
    uv_stop(s->loop);
    _Exit(0);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *api_version, *kind;
    } kinds[] = {{"apps/v1", "Deployment"}, {"apps/v1", "StatefulSet"}, {"batch/v1", "Job"},
                 {"v1", "PersistentVolumeClaim"}, {"v1", "Pod"}, {"v1", "ConfigMap"}, {"v1", "Service"},
                 {"v1", "Secret"}, {"v1", "Namespace"}, {"v1", "PersistentVolume"}};
    struct ws_kubeconfig cfg;
    struct ws_http *http;
    struct ws_err err;
    uv_signal_t sig;
    if (argc != 2) {
        fprintf(stderr, "usage: fakectl LOGFILE\n");
        return 2;
    }
    if (!(log_file = fopen(argv[1], "a"))) {
        perror(argv[1]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop = uv_default_loop();
    t0 = ws_now_ms();
    handled = json_object();
    ws_err_clear(&err);
    if (ws_kubeconfig_load(&cfg, NULL, NULL, &err) < 0) {
        fprintf(stderr, "fakectl: %s\n", err.msg);
        return 2;
    }
    ws_http_new(&http, loop);
    if (ws_kube_new(&kube, loop, http, &cfg, NULL, &err) < 0) {
        fprintf(stderr, "fakectl: %s\n", err.msg);
        return 2;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct ws_kube_ref ref = {kinds[i].api_version, kinds[i].kind, NULL, NULL};
        ws_kube_watch_start(kube, &ref, NULL, on_event, (void *)kinds[i].kind);
    }
    uv_signal_init(loop, &sig);
    uv_signal_start(&sig, on_signal, SIGTERM);
    fprintf(stderr, "fakectl: watching\n");
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
