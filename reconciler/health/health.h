/* health.h — built-in health assessment, compatible with Argo CD's statuses:
 * Healthy, Progressing, Degraded, Suspended, Missing, Unknown. Pure functions
 * over the live object (and, for kinds that run pods, those pods); core kinds
 * in health.c, ML kinds (training jobs, model servers, feature pipelines) in
 * health_ml.c; table-tested. Lua overrides plug in through the same entry. */
#ifndef WS_HEALTH_H
#define WS_HEALTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define WS_HEALTH_STATUSES(X)               \
    X(WS_HEALTH_HEALTHY, "Healthy")         \
    X(WS_HEALTH_PROGRESSING, "Progressing") \
    X(WS_HEALTH_DEGRADED, "Degraded")       \
    X(WS_HEALTH_SUSPENDED, "Suspended")     \
    X(WS_HEALTH_MISSING, "Missing")         \
    X(WS_HEALTH_UNKNOWN, "Unknown")

enum ws_health_status {
#define WS_X(name, text) name,
    WS_HEALTH_STATUSES(WS_X)
#undef WS_X
};

const char *ws_health_str(enum ws_health_status s);

/* The longest message a Lua health script's verdict keeps (bytes, "..."
 * included): generous for any real status text, yet a script cannot make
 * every report and API answer carry megabytes per object. */
#define WS_HEALTH_MESSAGE_MAX (64u << 10)

struct ws_health {
    enum ws_health_status status;
    /* why, for people, on one line (whitespace runs as one space, cut with
     * "..."): "Waiting for rollout: 1 of 2 updated replicas are available".
     * What logs, progress lines and summaries print. */
    char message[512];
    /* Unix seconds after which the verdict may change although neither the
     * object nor its pods did (a pipeline's SLA running out, a grace period
     * for a False condition ending); assess again then. 0: only on change. */
    int64_t recheck_at;
    /* The message exactly as a Lua script gave it (newlines and all; valid
     * UTF-8; at most WS_HEALTH_MESSAGE_MAX bytes) when that differs from
     * `message`, else NULL. Owned by the struct: ws_health_clear frees it.
     * The built-in rules never set it and never free it, so clear a struct
     * before reusing it for another assessment. */
    char *full_message;
};

/* The message to keep and show in full (JSON output, reports, the API):
 * full_message when set, else message. Borrowed from h. */
static inline const char *ws_health_message(const struct ws_health *h)
{
    return h->full_message ? h->full_message : h->message;
}

/* Free full_message (safe on a zeroed struct, and twice). */
static inline void ws_health_clear(struct ws_health *h)
{
    free(h->full_message);
    h->full_message = NULL;
}

/* Assess `obj` (the live object; NULL or json null means it does not exist:
 * Missing) at `now` (Unix seconds; SLAs and grace periods are measured
 * against it). `pods` (may be NULL) is a JSON array of the Pods that belong
 * to obj, as selected by ws_health_pod_selector: a pod in CrashLoopBackOff,
 * ImagePullBackOff, ErrImagePull... makes a Job or training job Degraded
 * before it fails, a pod the scheduler cannot place (no free GPU) is named as
 * the reason it waits, and a Deployment annotated wavesync.dev/model-loaded
 * reads the named condition from them; pods being deleted or controlled by
 * another owner are ignored. Both are borrowed for the call only; out is
 * always filled (but its full_message is left as it was: see struct
 * ws_health), its message is one line, cut with "..." when longer than
 * the buffer.
 * Core rules follow Argo CD's gitops-engine; where they differ, health.c
 * says why. A hook Pod (argocd.argoproj.io/hook, helm.sh/hook, read from
 * obj's own annotations) is Progressing until it has run to the end, so the
 * sync engine waits for it. Argo Rollouts' Rollout follows Argo CD's
 * health.lua for it (status.phase since Rollouts 1.0). ML rules (health_ml.c): Kubeflow PyTorchJob, TFJob, MPIJob,
 * XGBoostJob, PaddleJob, JAXJob; Trainer TrainJob; JobSet; Volcano Job; Kueue
 * Workload; KServe InferenceService; Seldon SeldonDeployment, Model, Server;
 * Ray RayJob, RayCluster, RayService; Argo Workflow and CronWorkflow; batch
 * CronJob and CronWorkflow annotated wavesync.dev/sla: <duration>. */
void ws_health_assess_at(struct ws_health *out, const json_t *obj, const json_t *pods, int64_t now);

/* ws_health_assess_at at the current wall-clock time. */
void ws_health_assess(struct ws_health *out, const json_t *obj, const json_t *pods);

/* For kinds whose health depends on their pods: write a label selector for
 * those pods (same namespace as obj) into buf, in labelSelector query syntax,
 * not yet URL-escaped, and return 1; else return 0 with buf empty. 0 also
 * when buf is too small (256 bytes fit every generated selector; a
 * Deployment's own spec.selector may need more).
 *   batch Job                      its spec.selector ("batch.kubernetes.io/controller-uid=<uid>")
 *   Kubeflow training jobs         training.kubeflow.org/job-name=<name>
 *   JobSet, TrainJob               jobset.sigs.k8s.io/jobset-name=<name> (a TrainJob runs a JobSet of its name)
 *   Volcano Job                    volcano.sh/job-name=<name>
 *   RayCluster                     ray.io/cluster=<name>
 *   RayJob                         ray.io/cluster=<status.rayClusterName>: only once the
 *                                  status names the cluster, so it can change after the first call
 *   Deployment with wavesync.dev/model-loaded   its spec.selector */
int ws_health_pod_selector(const json_t *obj, char *buf, size_t len);

#endif
