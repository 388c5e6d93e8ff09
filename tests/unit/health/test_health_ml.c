/* test_health_ml.c — table-driven tests for reconciler/health/health_ml.c: each ML kind
 * against status objects as their controllers write them (full objects in
 * tests/unit/data/health/, a kubectl List of the object and its pods when pods
 * matter; trimmed ones inline as YAML flow), at a fixed "now"; the pod
 * selectors; and when a verdict asks to be looked at again. */
#include "health/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "base/util.h"
#include "base/yaml.h"

#define NOW "2026-03-02T12:00:00Z"

/* A fixture file name under tests/unit/data/health/, or an inline value
 * ("{...}" or "[...]", YAML flow). */
static json_t *load(const char *spec)
{
    const char *src = getenv("WS_SRCDIR");
    char path[4096];
    json_t *v = NULL;
    json_error_t jerr;
    struct ws_err err;

    ws_err_clear(&err);
    if (spec[0] == '{' || spec[0] == '[') {
        if (ws_yaml_parse_one(&v, spec, strlen(spec), "inline", NULL, &err) < 0)
            tap_diag("cannot parse inline value: %s", err.msg);
        return v;
    }
    snprintf(path, sizeof(path), "%s/tests/unit/data/health/%s", src && *src ? src : ".", spec);
    if (!(v = json_load_file(path, 0, &jerr)))
        tap_diag("cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
    return v;
}

/* A List (as `kubectl get pytorchjob/x pods -l ... -o json` prints it): its
 * first item is the object, its Pods are the object's pods. */
static int is_list(const json_t *v)
{
    const char *kind = json_string_value(json_object_get(v, "kind"));
    return kind && strcmp(kind, "List") == 0;
}

/* The pods in a List, or a copy of an array of them. */
static json_t *pods_of(const json_t *v)
{
    json_t *pods = json_array(), *item;
    size_t i;
    if (json_is_array(v)) {
        json_array_extend(pods, (json_t *)v);
        return pods;
    }
    json_array_foreach(json_object_get(v, "items"), i, item) {
        const char *kind = json_string_value(json_object_get(item, "kind"));
        if (kind && strcmp(kind, "Pod") == 0)
            json_array_append(pods, item);
    }
    return pods;
}

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    if (ws_time_parse_rfc3339(&t, rfc3339) < 0)
        tap_diag("bad time in the test: %s", rfc3339);
    return t;
}

/* Inline objects, trimmed to what the rules read. */
#define PT "apiVersion: kubeflow.org/v1, kind: PyTorchJob, "
#define TF "apiVersion: kubeflow.org/v1, kind: TFJob, "
#define TJ "apiVersion: trainer.kubeflow.org/v1alpha1, kind: TrainJob, "
#define JS "apiVersion: jobset.x-k8s.io/v1alpha2, kind: JobSet, "
#define VC "apiVersion: batch.volcano.sh/v1alpha1, kind: Job, "
#define WL "apiVersion: kueue.x-k8s.io/v1beta1, kind: Workload, "
#define ISVC "apiVersion: serving.kserve.io/v1beta1, kind: InferenceService, "
#define SDEP "apiVersion: machinelearning.seldon.io/v1, kind: SeldonDeployment, "
#define SMODEL "apiVersion: mlops.seldon.io/v1alpha1, kind: Model, "
#define SSERVER "apiVersion: mlops.seldon.io/v1alpha1, kind: Server, "
#define RC "apiVersion: ray.io/v1, kind: RayCluster, "
#define RJ "apiVersion: ray.io/v1, kind: RayJob, "
#define RS "apiVersion: ray.io/v1, kind: RayService, "
#define WF "apiVersion: argoproj.io/v1alpha1, kind: Workflow, "
#define CWF "apiVersion: argoproj.io/v1alpha1, kind: CronWorkflow, "
#define CRON "apiVersion: batch/v1, kind: CronJob, "
#define DEPLOY "apiVersion: apps/v1, kind: Deployment, "
#define PT_UID "7a1c3e52-0d4b-4f6a-9b1e-5c2d8f0a6e31"
#define PT_META "metadata: {name: bert-ft, namespace: ml-train, uid: " PT_UID "}, "
#define PT_RUNNING                                                                                    \
    "status: {conditions: [{type: Created, status: 'True', reason: PyTorchJobCreated}, {type: Running, " \
    "status: 'True', reason: PyTorchJobRunning, message: PyTorchJob ml-train/bert-ft is running.}]}"
/* A pod of (labels, owner uid) in CrashLoopBackOff. */
#define CRASHING_POD(name, labels, owner_uid)                                                         \
    "{apiVersion: v1, kind: Pod, metadata: {name: " name ", labels: {" labels "}, ownerReferences: " \
    "[{kind: X, name: x, uid: " owner_uid ", controller: true}]}, status: {phase: Running, "         \
    "containerStatuses: [{name: main, ready: false, restartCount: 6, state: {waiting: {reason: "      \
    "CrashLoopBackOff, message: 'back-off 2m40s restarting failed container=main pod=" name "'}}}]}}"
/* A pod the scheduler has no GPU for. */
#define GPU_PENDING_POD(name, labels)                                                                 \
    "{apiVersion: v1, kind: Pod, metadata: {name: " name ", labels: {" labels "}}, status: {phase: "  \
    "Pending, conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: "    \
    "'0/4 nodes are available: 4 Insufficient nvidia.com/gpu.'}]}}"
/* A Deployment rolled out, annotated wavesync.dev/model-loaded: ann. */
#define MODEL_DEPLOY(ann, status)                                                                     \
    "{" DEPLOY "metadata: {name: embedder, generation: 2, annotations: {wavesync.dev/model-loaded: "  \
    ann "}}, spec: {replicas: 1, selector: {matchLabels: {app: embedder}}}, status: "                \
    "{observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1" \
    status "}}"

static const struct {
    const char *name;
    const char *obj;  /* fixture (a List brings its pods) or inline */
    const char *pods; /* fixture List or inline array; NULL: the List's, or none */
    const char *now;  /* NULL: NOW */
    enum ws_health_status want;
    const char *msg;     /* substring of the message */
    const char *recheck; /* NULL: not checked; "": none expected; else the time */
} cases[] = {
    /* --- Kubeflow training operator -------------------------------------- */
    {"pytorchjob succeeded", "pytorchjob_healthy_succeeded.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "PyTorchJob ml-train/bert-ft successfully completed.", ""},
    {"pytorchjob failed", "pytorchjob_degraded_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "PyTorchJob bert-ft is failed because 1 Worker replica(s) failed.", NULL},
    {"pytorchjob running", "pytorchjob_progressing_running.json", NULL, NULL, WS_HEALTH_PROGRESSING,
     "PyTorchJob ml-train/bert-ft is running. (Master: 1 active; Worker: 2 active)", ""},
    {"pytorchjob with a worker in CrashLoopBackOff", "pytorchjob_degraded_crashloop_worker.json", NULL, NULL,
     WS_HEALTH_DEGRADED,
     "pod bert-ft-worker-1 (worker): container pytorch: CrashLoopBackOff: back-off 40s restarting failed "
     "container=pytorch",
     NULL},
    {"pytorchjob waiting for GPUs", "pytorchjob_progressing_waiting_gpus.json", NULL, NULL, WS_HEALTH_PROGRESSING,
     "pod bert-ft-worker-0 (worker) and 1 more are unschedulable: 0/3 nodes are available: 3 Insufficient "
     "nvidia.com/gpu.",
     NULL},
    {"pytorchjob waiting for GPUs: the operator's word comes after", "pytorchjob_progressing_waiting_gpus.json", NULL,
     NULL, WS_HEALTH_PROGRESSING, "preemption victims found for incoming pod.; PyTorchJob bert-ft is created. (Master",
     NULL},
    {"pytorchjob succeeded: old crash-looping pods do not matter", "pytorchjob_healthy_succeeded.json",
     "pytorchjob_degraded_crashloop_worker.json", NULL, WS_HEALTH_HEALTHY, "successfully completed", NULL},
    {"pytorchjob: a crash-looping pod of another owner is ignored", "{" PT PT_META PT_RUNNING "}",
     "[" CRASHING_POD("bert-ft-worker-0", "training.kubeflow.org/job-name: bert-ft", "0000-other") "]", NULL,
     WS_HEALTH_PROGRESSING, "is running", NULL},
    {"pytorchjob: a crash-looping pod being deleted is ignored", "{" PT PT_META PT_RUNNING "}",
     "[{apiVersion: v1, kind: Pod, metadata: {name: bert-ft-worker-0, deletionTimestamp: '2026-03-02T11:59:00Z'}, "
     "status: {phase: Running, containerStatuses: [{name: pytorch, state: {waiting: {reason: CrashLoopBackOff}}}]}}]",
     NULL, WS_HEALTH_PROGRESSING, "is running", NULL},
    {"pytorchjob: master cannot pull its image", "{" PT PT_META PT_RUNNING "}",
     "[{apiVersion: v1, kind: Pod, metadata: {name: bert-ft-master-0, labels: {training.kubeflow.org/replica-type: "
     "master}}, status: {phase: Pending, containerStatuses: [{name: pytorch, state: {waiting: {reason: "
     "ImagePullBackOff, message: 'Back-off pulling image \"registry.acme.io/ml/bert-ft:2.3.2\"'}}}]}}]",
     NULL, WS_HEALTH_DEGRADED,
     "pod bert-ft-master-0 (master): container pytorch: ImagePullBackOff: Back-off pulling image", NULL},
    {"pytorchjob suspended by Kueue",
     "{" PT "metadata: {name: bert-ft, labels: {kueue.x-k8s.io/queue-name: team-recsys}}, spec: {runPolicy: {suspend: "
     "true}}, status: {conditions: [{type: Created, status: 'True'}, {type: Suspended, status: 'True', reason: "
     "PyTorchJobSuspended, message: PyTorchJob bert-ft is suspended.}]}}",
     NULL, NULL, WS_HEALTH_SUSPENDED, "PyTorchJob is suspended (waiting for admission to queue team-recsys)", NULL},
    {"tfjob restarting",
     "{" TF "metadata: {name: mnist}, status: {conditions: [{type: Created, status: 'True'}, {type: Running, status: "
     "'False'}, {type: Restarting, status: 'True', reason: TFJobRestarting, message: TFJob mnist is restarting because "
     "1 Worker replica(s) failed.}], replicaStatuses: {Worker: {active: 3, failed: 1}}}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "TFJob mnist is restarting because 1 Worker replica(s) failed. (Worker: 3 active, 1 failed)", NULL},
    {"mpijob just created", "{apiVersion: kubeflow.org/v2beta1, kind: MPIJob, metadata: {name: allreduce}, spec: {}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "MPIJob allreduce: waiting for the training operator", NULL},
    {"xgboostjob succeeded",
     "{apiVersion: kubeflow.org/v1, kind: XGBoostJob, metadata: {name: ctr}, status: {conditions: [{type: "
     "Succeeded, status: 'True', message: XGBoostJob ctr is successfully completed.}]}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "XGBoostJob ctr is successfully completed.", NULL},
    {"paddlejob failed without a message",
     "{apiVersion: kubeflow.org/v1, kind: PaddleJob, metadata: {name: ernie}, status: {conditions: [{type: Failed, "
     "status: 'True', reason: PaddleJobFailed}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "PaddleJobFailed", NULL},

    /* --- Trainer TrainJob and JobSet ---------------------------------------- */
    {"trainjob running", "trainjob_progressing_running.json", NULL, NULL, WS_HEALTH_PROGRESSING,
     "TrainJob running (dataset-initializer: 1 succeeded; node: 4 ready, 4 active)", NULL},
    {"trainjob complete",
     "{" TJ "metadata: {name: llama-sft}, status: {conditions: [{type: Created, status: 'True'}, {type: Complete, "
     "status: 'True', reason: JobsCompleted, message: jobset completed successfully}]}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "TrainJob complete: jobset completed successfully", NULL},
    {"trainjob failed",
     "{" TJ "metadata: {name: llama-sft}, status: {conditions: [{type: Failed, status: 'True', reason: "
     "ReachedMaxRestarts, message: jobset failed due to reaching max number of restarts}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "TrainJob failed: ReachedMaxRestarts: jobset failed due to reaching max", NULL},
    {"trainjob suspended", "{" TJ "metadata: {name: llama-sft}, spec: {suspend: true}}", NULL, NULL,
     WS_HEALTH_SUSPENDED, "TrainJob is suspended", NULL},
    {"trainjob whose node crash-loops", "trainjob_progressing_running.json",
     "[" CRASHING_POD("llama-sft-node-0-2-7tq9c",
                      "jobset.sigs.k8s.io/jobset-name: llama-sft, jobset.sigs.k8s.io/replicatedjob-name: node",
                      "0000-job-uid") "]",
     NULL, WS_HEALTH_DEGRADED, "pod llama-sft-node-0-2-7tq9c (node): container main: CrashLoopBackOff", NULL},
    {"trainjob whose jobs cannot be built",
     "{" TJ "metadata: {name: llama-sft}, status: {conditions: [{type: Created, status: 'False', reason: "
     "JobsBuildFailed, message: 'Failed to build Jobs: runtime torch-distributed not found'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "TrainJob not created yet: JobsBuildFailed: Failed to build Jobs", NULL},
    {"jobset completed", "jobset_healthy_completed.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "JobSet completed: jobset completed successfully", NULL},
    {"jobset failed", "jobset_degraded_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "JobSet failed: ReachedMaxRestarts: jobset failed due to reaching max number of restarts", NULL},
    {"jobset failed by terminalState alone",
     "{" JS "metadata: {name: llama-sft}, status: {terminalState: Failed}}", NULL, NULL, WS_HEALTH_DEGRADED,
     "JobSet failed", NULL},
    {"jobset running after a restart",
     "{" JS "metadata: {name: llama-sft}, status: {restarts: 1, replicatedJobsStatus: [{name: node, ready: 3, "
     "succeeded: 0, failed: 0, active: 4, suspended: 0}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "JobSet running after 1 restart (node: 3 ready, 4 active)", NULL},
    {"jobset waiting for GPUs", "{" JS "metadata: {name: llama-sft}, status: {}}",
     "[" GPU_PENDING_POD("llama-sft-node-0-0-k2x8d", "jobset.sigs.k8s.io/replicatedjob-name: node") "]", NULL,
     WS_HEALTH_PROGRESSING,
     "pod llama-sft-node-0-0-k2x8d (node) is unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
     NULL},

    /* --- Volcano Job --------------------------------------------------------- */
    {"volcano job completed", "volcano_healthy_completed.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "Volcano Job completed: 4 succeeded", NULL},
    {"volcano job terminated by policy", "volcano_degraded_terminated.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "Volcano Job Terminated: PodFailed: Pod ml-train/resnet-dist-worker-2 failed, job terminated by policy", NULL},
    {"volcano job waiting for GPUs (gang)", "volcano_progressing_waiting_gpus.json", NULL, NULL,
     WS_HEALTH_PROGRESSING,
     "pod resnet-dist-worker-0 (worker) and 3 more are unschedulable: 0/5 nodes are unavailable: 3 Insufficient "
     "nvidia.com/gpu",
     NULL},
    {"volcano job running",
     "{" VC "metadata: {name: resnet-dist}, status: {state: {phase: Running}, running: 4, minAvailable: 4}}", NULL,
     NULL, WS_HEALTH_PROGRESSING, "Volcano Job Running: 4 running, 0 pending (minAvailable 4)", NULL},
    {"volcano job aborted",
     "{" VC "metadata: {name: resnet-dist}, status: {state: {phase: Aborted, reason: PodEvicted, message: 'pod "
     "evicted, job aborted by policy AbortJob'}, failed: 0}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "Volcano Job Aborted: PodEvicted: pod evicted", NULL},

    /* --- Kueue Workload ----------------------------------------------------- */
    {"workload waiting for quota", "kueue_workload_progressing_pending_quota.json", NULL, NULL,
     WS_HEALTH_PROGRESSING,
     "waiting for quota: couldn't assign flavors to pod set worker: insufficient quota for nvidia.com/gpu in flavor "
     "a100-80g",
     NULL},
    {"workload waiting for quota names its LocalQueue", "kueue_workload_progressing_pending_quota.json", NULL, NULL,
     WS_HEALTH_PROGRESSING, "(LocalQueue team-recsys)", NULL},
    {"workload admitted", "kueue_workload_healthy_admitted.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "Workload admitted by ClusterQueue gpu-cluster-queue", NULL},
    {"workload finished with a failure",
     "{" WL "metadata: {name: w}, spec: {active: true}, status: {conditions: [{type: Admitted, status: 'True'}, {type: "
     "Finished, status: 'True', reason: Failed, message: 'Job failed: BackoffLimitExceeded'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "Workload finished: Job failed: BackoffLimitExceeded", NULL},
    {"workload finished",
     "{" WL "metadata: {name: w}, status: {conditions: [{type: Finished, status: 'True', reason: Succeeded, message: "
     "Job finished successfully}]}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "Workload finished: Job finished successfully", NULL},
    {"workload preempted",
     "{" WL "metadata: {name: w}, spec: {queueName: team-recsys}, status: {conditions: [{type: QuotaReserved, status: "
     "'False', reason: Pending}, {type: Evicted, status: 'True', reason: Preempted, message: 'Preempted to "
     "accommodate a workload (UID: 11aa) due to prioritization in the ClusterQueue'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "evicted, waiting to be admitted again: Preempted: Preempted to accommodate a workload", NULL},
    {"workload deactivated after too many requeues",
     "{" WL "metadata: {name: w}, spec: {active: false}, status: {conditions: [{type: Evicted, status: 'True', "
     "reason: DeactivatedDueToRequeuingLimitExceeded, message: 'The workload is deactivated due to exceeding the "
     "maximum number of re-queuing retries'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "Workload is deactivated: DeactivatedDueToRequeuingLimitExceeded", NULL},
    {"workload held on purpose", "{" WL "metadata: {name: w}, spec: {active: false}, status: {}}", NULL, NULL,
     WS_HEALTH_SUSPENDED, "Workload is deactivated", NULL},
    {"workload waiting for admission checks",
     "{" WL "metadata: {name: w}, status: {admission: {clusterQueue: gpu-cq}, conditions: [{type: QuotaReserved, "
     "status: 'True'}, {type: Admitted, status: 'False', reason: UnsatisfiedChecks, message: 'The workload has not all "
     "checks ready'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "quota reserved in ClusterQueue gpu-cq, waiting for admission checks: The workload has not all checks ready",
     NULL},

    /* --- KServe InferenceService ---------------------------------------------- */
    {"inferenceservice ready with its model loaded", "inferenceservice_healthy_ready.json", NULL, NULL,
     WS_HEALTH_HEALTHY,
     "InferenceService is ready, model Loaded at http://recommendation-v2.ml-serving.svc.cluster.local", ""},
    {"inferenceservice whose new model failed to load (old one still serves)",
     "inferenceservice_degraded_model_load_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "model failed to load: ModelLoadFailed: OSError: [Errno 28] No space left on device: '/mnt/models/model.pt' "
     "(recommendation-v2-predictor-00002-deployment-7d9c5b8f6-x2kqp, exit code 1)",
     NULL},
    {"inferenceservice waiting for its revision", "inferenceservice_progressing_revision_missing.json", NULL, NULL,
     WS_HEALTH_PROGRESSING,
     "PredictorReady is Unknown: RevisionMissing: Configuration \"recommendation-v2-predictor\" is waiting for a "
     "Revision to become ready.",
     NULL},
    {"inferenceservice whose revision failed (Argo CD's degraded sample)",
     "inferenceservice_degraded_revision_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "PredictorConfigurationReady is False: RevisionFailed: Revision \"recommendation-v2-predictor-00002\" failed",
     NULL},
    {"inferenceservice: IngressNotConfigured for a while is Progressing",
     "{" ISVC "metadata: {name: r, generation: 1}, status: {observedGeneration: 1, conditions: [{type: IngressReady, "
     "status: 'False', reason: IngressNotConfigured, message: Ingress has not yet been reconciled., "
     "lastTransitionTime: '2026-03-02T11:58:00Z'}, {type: PredictorReady, status: 'True'}, {type: Ready, status: "
     "'False', reason: IngressNotConfigured, lastTransitionTime: '2026-03-02T11:58:00Z'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "IngressReady is False (for 2m; Degraded after 10m): IngressNotConfigured: Ingress has not yet been reconciled.",
     "2026-03-02T12:08:00Z"},
    {"inferenceservice: IngressNotConfigured past the grace period is Degraded",
     "{" ISVC "metadata: {name: r, generation: 1}, status: {observedGeneration: 1, conditions: [{type: IngressReady, "
     "status: 'False', reason: IngressNotConfigured, message: Ingress has not yet been reconciled., "
     "lastTransitionTime: '2026-03-02T11:48:00Z'}, {type: Ready, status: 'False', reason: IngressNotConfigured, "
     "lastTransitionTime: '2026-03-02T11:47:00Z'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "IngressReady has been False for 12m: IngressNotConfigured", NULL},
    {"inferenceservice raw deployment loading a big model for 25m: the Deployment's deadline decides",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: PredictorReady, status: 'False', reason: "
     "MinimumReplicasUnavailable, message: Deployment does not have minimum availability., lastTransitionTime: "
     "'2026-03-02T11:35:00Z'}, {type: IngressReady, status: 'True'}, {type: Ready, status: 'False', reason: "
     "MinimumReplicasUnavailable, lastTransitionTime: '2026-03-02T11:35:00Z'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "PredictorReady is False: MinimumReplicasUnavailable: Deployment does not have minimum availability.",
     "2026-03-02T12:35:00Z"},
    {"inferenceservice raw deployment with no replica up for more than an hour: Degraded after all",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: PredictorReady, status: 'False', reason: "
     "MinimumReplicasUnavailable, message: Deployment does not have minimum availability., lastTransitionTime: "
     "'2026-03-02T10:55:00Z'}, {type: IngressReady, status: 'True'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "PredictorReady has been False for 1h5m", NULL},
    {"inferenceservice: a condition under the grace period is judged before one still at work",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: PredictorReady, status: 'False', reason: "
     "MinimumReplicasUnavailable, lastTransitionTime: '2026-03-02T11:30:00Z'}, {type: IngressReady, status: 'False', "
     "reason: IngressNotConfigured, lastTransitionTime: '2026-03-02T11:45:00Z'}, {type: Ready, status: 'False'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "IngressReady has been False for 15m: IngressNotConfigured", NULL},
    {"inferenceservice: only Ready is False, with no time",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: PredictorReady, status: 'Unknown'}, {type: Ready, "
     "status: 'False', reason: PredictorNotReady}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "Ready is False: PredictorNotReady", ""},
    {"inferenceservice raw deployment past its progress deadline",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: PredictorReady, status: 'False', reason: "
     "ProgressDeadlineExceeded, message: 'ReplicaSet \"r-predictor-5d8f\" has timed out progressing.', "
     "lastTransitionTime: '2026-03-02T11:59:00Z'}, {type: Ready, status: 'False'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "PredictorReady is False: ProgressDeadlineExceeded: ReplicaSet", NULL},
    {"inferenceservice with an invalid spec",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: Ready, status: 'Unknown'}], modelStatus: "
     "{transitionStatus: InvalidSpec, states: {activeModelState: '', targetModelState: FailedToLoad}, "
     "lastFailureInfo: {reason: NoSupportingRuntime, message: No ServingRuntime supports specified "
     "framework/version}}}}",
     NULL, NULL, WS_HEALTH_DEGRADED,
     "predictor spec is invalid: NoSupportingRuntime: No ServingRuntime supports specified framework/version", NULL},
    {"inferenceservice whose first model crash-loops in the storage initializer",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: Ready, status: 'False', reason: RevisionMissing}], "
     "modelStatus: {transitionStatus: BlockedByFailedLoad, states: {activeModelState: FailedToLoad, "
     "targetModelState: FailedToLoad}, lastFailureInfo: {reason: ModelLoadFailed, message: 'NoCredentialsError: "
     "Unable to locate credentials', exitCode: 1}}}}",
     NULL, NULL, WS_HEALTH_DEGRADED,
     "model failed to load: ModelLoadFailed: NoCredentialsError: Unable to locate credentials (exit code 1)", NULL},
    {"inferenceservice serving the old model while the new one loads",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: Ready, status: 'True'}], modelStatus: "
     "{transitionStatus: InProgress, states: {activeModelState: Loaded, targetModelState: Loading}}}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "Ready with the previous model; the new one is Loading", NULL},
    {"inferenceservice ready, model still loading",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: Ready, status: 'True'}], modelStatus: "
     "{transitionStatus: UpToDate, states: {activeModelState: Loading}}}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "InferenceService is Ready, its model is Loading", NULL},
    {"inferenceservice ready without modelStatus (older KServe)",
     "{" ISVC "metadata: {name: r}, status: {url: 'http://r.ml.example.com', conditions: [{type: Ready, status: "
     "'True'}]}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "InferenceService is ready at http://r.ml.example.com", NULL},
    {"inferenceservice stopped",
     "{" ISVC "metadata: {name: r}, status: {conditions: [{type: Stopped, status: 'True'}, {type: Ready, status: "
     "'False', reason: Stopped}]}}",
     NULL, NULL, WS_HEALTH_SUSPENDED, "InferenceService is stopped", NULL},
    {"inferenceservice just applied", "{" ISVC "metadata: {name: r}, spec: {}}", NULL, NULL, WS_HEALTH_PROGRESSING,
     "Waiting for the KServe controller to report status", NULL},
    {"inferenceservice whose new spec was not observed yet",
     "{" ISVC "metadata: {name: r, generation: 3}, status: {observedGeneration: 2, conditions: [{type: Ready, status: "
     "'True'}], modelStatus: {transitionStatus: UpToDate, states: {activeModelState: Loaded}}}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "observed generation 2 of 3", NULL},

    /* --- Seldon --------------------------------------------------------------- */
    {"seldondeployment available", "seldondeployment_healthy_available.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "SeldonDeployment available at http://nlp-classifier-default.ml-serving.svc.cluster.local:8000", NULL},
    {"seldondeployment failed",
     "{" SDEP "metadata: {name: nlp}, status: {state: Failed, description: 'Cannot find field: implementation'}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "SeldonDeployment failed: Cannot find field: implementation", NULL},
    {"seldondeployment creating", "{" SDEP "metadata: {name: nlp}, status: {state: Creating}}", NULL, NULL,
     WS_HEALTH_PROGRESSING, "SeldonDeployment Creating", NULL},
    {"seldon model that failed to load", "seldon_model_degraded_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "Model ModelFailed: rpc error: code = Internal desc = failed to load model fraud-xgb_1: XGBoostError", NULL},
    {"seldon model ready",
     "{" SMODEL "metadata: {name: iris}, status: {replicas: 1, conditions: [{type: ModelReady, status: 'True'}, "
     "{type: Ready, status: 'True'}]}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "Model ready on 1 replica", NULL},
    {"seldon model not scheduled yet (its server may be starting)",
     "{" SMODEL "metadata: {name: iris}, status: {conditions: [{type: ModelReady, status: 'False', message: "
     "ScheduleFailed, reason: 'failed to schedule model iris. [no matching servers are available]', "
     "lastTransitionTime: '2026-03-02T11:59:00Z'}, {type: Ready, status: 'False', lastTransitionTime: "
     "'2026-03-02T11:59:00Z'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "ModelReady is False (for 1m; Degraded after 10m): failed to schedule model",
     "2026-03-02T12:09:00Z"},
    {"seldon model loading a large model for 40m",
     "{" SMODEL "metadata: {name: llama}, status: {conditions: [{type: ModelReady, status: 'False', message: "
     "ModelProgressing, lastTransitionTime: '2026-03-02T11:20:00Z'}, {type: Ready, status: 'False'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "ModelReady is False: ModelProgressing", "2026-03-02T12:20:00Z"},
    {"seldon server ready",
     "{" SSERVER "metadata: {name: mlserver}, status: {replicas: 2, conditions: [{type: StatefulSetReady, status: "
     "'True'}, {type: Ready, status: 'True'}]}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "Server ready on 2 replicas", NULL},
    {"seldon server starting",
     "{" SSERVER "metadata: {name: mlserver}, status: {conditions: [{type: StatefulSetReady, status: 'Unknown', "
     "reason: StatefulSetNotReady, message: 1 of 2 replicas ready}, {type: Ready, status: 'Unknown'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "StatefulSetReady is Unknown: StatefulSetNotReady: 1 of 2 replicas ready",
     NULL},

    /* --- Ray ------------------------------------------------------------------- */
    {"raycluster ready", "raycluster_healthy_ready.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "RayCluster ready: head ready, 3 of 3 workers available", NULL},
    {"raycluster cannot create its pods",
     "{" RC "metadata: {name: features-ray}, status: {state: failed, conditions: [{type: ReplicaFailure, status: "
     "'True', reason: FailedCreateWorkerPod, message: 'pods \"features-ray-cpu-workers-worker-x\" is forbidden: "
     "exceeded quota: ml-features'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "RayCluster cannot create its pods: FailedCreateWorkerPod: pods", NULL},
    {"raycluster head starting",
     "{" RC "metadata: {name: features-ray}, status: {desiredWorkerReplicas: 3, availableWorkerReplicas: 1, "
     "conditions: [{type: HeadPodReady, status: 'False', reason: HeadPodNotFound}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "RayCluster starting: 1 of 3 workers available; head pod not ready: HeadPodNotFound", NULL},
    {"raycluster suspended", "{" RC "metadata: {name: features-ray}, spec: {suspend: true}, status: {}}", NULL, NULL,
     WS_HEALTH_SUSPENDED, "RayCluster is suspended", NULL},
    {"raycluster whose worker crash-loops", "{" RC "metadata: {name: features-ray, uid: rc-1}, status: {}}",
     "[" CRASHING_POD("features-ray-cpu-workers-worker-9x2kd",
                      "ray.io/cluster: features-ray, ray.io/group: cpu-workers", "rc-1") "]",
     NULL, WS_HEALTH_DEGRADED, "pod features-ray-cpu-workers-worker-9x2kd (cpu-workers): container main", NULL},
    {"rayjob succeeded", "rayjob_healthy_succeeded.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "Ray job SUCCEEDED: Job finished successfully.", NULL},
    {"rayjob failed", "rayjob_degraded_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "Ray job FAILED: AppFailed: Job entrypoint command failed with exit code 1, last available logs (truncated to "
     "20,000 chars): KeyError: 'user_id'",
     NULL},
    {"rayjob stopped",
     "{" RJ "metadata: {name: j}, status: {jobStatus: STOPPED, jobDeploymentStatus: Complete}}", NULL, NULL,
     WS_HEALTH_DEGRADED, "Ray job STOPPED", NULL},
    {"rayjob running",
     "{" RJ "metadata: {name: j}, status: {jobStatus: RUNNING, jobDeploymentStatus: Running, rayClusterName: "
     "j-raycluster-k4l2n}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "Ray job RUNNING (Running) on RayCluster j-raycluster-k4l2n", NULL},
    {"rayjob waiting for a GPU worker",
     "{" RJ "metadata: {name: j}, status: {jobDeploymentStatus: Initializing, rayClusterName: j-raycluster-k4l2n}}",
     "[" GPU_PENDING_POD("j-raycluster-k4l2n-gpu-worker-5xq", "ray.io/group: gpu") "]", NULL, WS_HEALTH_PROGRESSING,
     "pod j-raycluster-k4l2n-gpu-worker-5xq (gpu) is unschedulable: 0/4 nodes are available: 4 Insufficient "
     "nvidia.com/gpu.; Ray job not submitted (Initializing)",
     NULL},
    {"rayservice serving", "rayservice_healthy_running.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "RayService serving on 3 endpoints", NULL},
    {"rayservice whose new config fails to deploy", "rayservice_degraded_deploy_failed.json", NULL, NULL,
     WS_HEALTH_DEGRADED,
     "Serve application ranker (pending cluster) is DEPLOY_FAILED: Deploying application ranker failed: "
     "ModuleNotFoundError",
     NULL},
    {"rayservice upgrading",
     "{" RS "metadata: {name: ranker}, status: {conditions: [{type: Ready, status: 'True'}, {type: UpgradeInProgress, "
     "status: 'True', reason: BothActivePendingClustersExist, message: Both active and pending Ray clusters exist}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "RayService upgrade in progress: BothActivePendingClustersExist: Both active and pending Ray clusters exist",
     NULL},
    {"rayservice that never started",
     "{" RS "metadata: {name: ranker}, status: {conditions: [{type: Ready, status: 'False', reason: "
     "InitializingTimeout, message: 'RayService ranker has been initializing for 15m'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "RayService did not start: InitializingTimeout", NULL},
    {"rayservice from KubeRay without conditions",
     "{" RS "metadata: {name: ranker}, status: {serviceStatus: Running, NumServeEndpoints: 1}}", NULL, NULL,
     WS_HEALTH_HEALTHY, "RayService serving on 1 endpoint", NULL},
    {"rayservice starting",
     "{" RS "metadata: {name: ranker}, status: {conditions: [{type: Ready, status: 'False', reason: Initializing, "
     "message: 'RayService is initializing'}]}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "RayService not ready: Initializing: RayService is initializing", NULL},

    /* --- Argo Workflows ---------------------------------------------------- */
    {"workflow failed", "workflow_degraded_failed.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "Workflow failed: Error (exit code 1): failed to connect to online store redis-features:6379", NULL},
    {"workflow succeeded", "{" WF "metadata: {name: w}, status: {phase: Succeeded, progress: 3/3}}", NULL, NULL,
     WS_HEALTH_HEALTHY, "Workflow succeeded 3/3", NULL},
    {"workflow running", "{" WF "metadata: {name: w}, status: {phase: Running, progress: 1/3}}", NULL, NULL,
     WS_HEALTH_PROGRESSING, "Workflow Running 1/3", NULL},
    {"workflow error", "{" WF "metadata: {name: w}, status: {phase: Error, message: 'pod deleted'}}", NULL, NULL,
     WS_HEALTH_DEGRADED, "Workflow errored: pod deleted", NULL},
    {"workflow suspended", "{" WF "metadata: {name: w}, spec: {suspend: true}, status: {phase: Running}}", NULL, NULL,
     WS_HEALTH_SUSPENDED, "Workflow is suspended", NULL},
    {"workflow just submitted", "{" WF "metadata: {name: w}, spec: {}}", NULL, NULL, WS_HEALTH_PROGRESSING,
     "Workflow Pending", NULL},
    {"cronworkflow scheduled",
     "{" CWF "metadata: {name: c}, status: {lastScheduledTime: '2026-03-02T11:00:00Z'}}", NULL, NULL,
     WS_HEALTH_HEALTHY, "Last scheduled at 2026-03-02T11:00:00Z", NULL},
    {"cronworkflow cannot submit",
     "{" CWF "metadata: {name: c}, status: {conditions: [{type: SubmissionError, status: 'True', message: "
     "'serviceaccounts \"feast\" not found'}]}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "CronWorkflow SubmissionError: serviceaccounts \"feast\" not found", NULL},

    /* --- feature pipelines: wavesync.dev/sla ------------------------------ */
    {"cronjob fresh within its SLA", "cronjob_healthy_sla_fresh.json", NULL, NULL, WS_HEALTH_HEALTHY,
     "last success 25m48s ago, within SLA 1h", "2026-03-02T12:34:13Z"},
    {"cronjob stale", "cronjob_degraded_sla_stale.json", NULL, NULL, WS_HEALTH_DEGRADED,
     "last success 3h10m ago, SLA 1h", ""},
    {"cronjob that never succeeded, SLA not over", "cronjob_progressing_sla_never_yet.json", NULL, NULL,
     WS_HEALTH_HEALTHY, "no successful run yet; SLA 1h runs out in 40m", "2026-03-02T12:40:00Z"},
    {"cronjob that never succeeded, SLA over", "cronjob_progressing_sla_never_yet.json", NULL,
     "2026-03-02T12:45:00Z", WS_HEALTH_DEGRADED, "no successful run in 1h (created 1h5m ago)", NULL},
    {"cronjob fresh one second before the SLA ends", "cronjob_healthy_sla_fresh.json", NULL, "2026-03-02T12:34:12Z",
     WS_HEALTH_HEALTHY, "last success 1h ago, within SLA 1h", NULL},
    {"cronjob stale one second after", "cronjob_healthy_sla_fresh.json", NULL, "2026-03-02T12:34:13Z",
     WS_HEALTH_DEGRADED, "last success 1h0m1s ago, SLA 1h", NULL},
    {"cronjob SLA in minutes",
     "{" CRON "metadata: {name: p, annotations: {wavesync.dev/sla: 90m}}, spec: {schedule: '0 * * * *'}, status: "
     "{lastSuccessfulTime: '2026-03-02T09:00:00Z'}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "last success 3h ago, SLA 1h30m", NULL},
    {"cronjob with an SLA that is not a duration",
     "{" CRON "metadata: {name: p, annotations: {wavesync.dev/sla: daily}}, spec: {schedule: '0 2 * * *'}}", NULL,
     NULL, WS_HEALTH_DEGRADED, "invalid wavesync.dev/sla \"daily\"", NULL},
    {"cronjob suspended with an SLA",
     "{" CRON "metadata: {name: p, annotations: {wavesync.dev/sla: 2h}}, spec: {schedule: '0 2 * * *', suspend: true}}",
     NULL, NULL, WS_HEALTH_SUSPENDED, "CronJob is suspended (SLA 2h not checked)", NULL},
    {"cronjob success stamped ahead of our clock",
     "{" CRON "metadata: {name: p, annotations: {wavesync.dev/sla: 1h}}, spec: {schedule: '* * * * *'}, status: "
     "{lastSuccessfulTime: '2026-03-02T12:00:30Z'}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "last success 0s ago, within SLA 1h", NULL},
    {"cronjob without an SLA keeps the core rule",
     "{" CRON "metadata: {name: p}, spec: {schedule: '0 2 * * *'}, status: {lastScheduleTime: '2026-02-01T02:00:00Z', "
     "lastSuccessfulTime: '2026-02-01T02:04:00Z'}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "last successful run at 2026-02-01T02:04:00Z", ""},
    {"cronworkflow fresh within its SLA",
     "{" CWF "metadata: {name: c, annotations: {wavesync.dev/sla: 1h}}, status: {lastScheduledTime: "
     "'2026-03-02T11:40:00Z', succeeded: 12, failed: 1}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "last run scheduled 20m ago, within SLA 1h", NULL},
    {"cronworkflow stale",
     "{" CWF "metadata: {name: c, annotations: {wavesync.dev/sla: 2h}}, status: {lastScheduledTime: "
     "'2026-03-02T07:00:00Z'}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "last run scheduled 5h ago, SLA 2h", NULL},
    {"cronworkflow whose runs all failed",
     "{" CWF "metadata: {name: c, creationTimestamp: '2026-03-01T00:00:00Z', annotations: {wavesync.dev/sla: 2h}}, "
     "status: {lastScheduledTime: '2026-03-02T11:50:00Z', succeeded: 0, failed: 9}}",
     NULL, NULL, WS_HEALTH_DEGRADED, "no successful run in 2h (created 36h ago)", NULL},

    /* --- Deployments serving a model ---------------------------------------- */
    {"deployment with its model loaded on every pod", "deployment_healthy_model_loaded.json", NULL, NULL,
     WS_HEALTH_HEALTHY, "2 of 2 replicas updated and available; acme.io/ModelLoaded is True on 2 pods", NULL},
    {"deployment mid-rollout: an old-template pod crash-loops, not the new one", "deployment_progressing_old_pod_crashloop.json",
     NULL, NULL, WS_HEALTH_PROGRESSING, "1 out of 2 new replicas have been updated", NULL},
    {"deployment with a pod still loading", "deployment_progressing_model_loading.json", NULL, NULL,
     WS_HEALTH_PROGRESSING,
     "waiting for condition acme.io/ModelLoaded: 1 of 2 pods report it True; pod embedder-7c9f8d6b5-9wzt7: "
     "acme.io/ModelLoaded is False: Loading: loading weights: 11 of 24 shards",
     NULL},
    {"deployment whose pods were not seen yet", MODEL_DEPLOY("ModelLoaded", ""), NULL, NULL, WS_HEALTH_PROGRESSING,
     "waiting for condition ModelLoaded: no pod reports it yet", NULL},
    {"deployment reporting the condition itself",
     MODEL_DEPLOY("ModelLoaded", ", conditions: [{type: Available, status: 'True'}, {type: ModelLoaded, status: "
                                 "'True', reason: Loaded}]"),
     NULL, NULL, WS_HEALTH_HEALTHY, "1 of 1 replicas updated and available; ModelLoaded is True", NULL},
    {"deployment whose own condition is False",
     MODEL_DEPLOY("ModelLoaded", ", conditions: [{type: ModelLoaded, status: 'False', reason: Downloading, message: "
                                 "'fetching s3://acme-models/bge-large'}]"),
     NULL, NULL, WS_HEALTH_PROGRESSING,
     "waiting for condition ModelLoaded (False): Downloading: fetching s3://acme-models/bge-large", NULL},
    {"deployment still rolling out: the rollout speaks first",
     "{" DEPLOY "metadata: {name: embedder, generation: 2, annotations: {wavesync.dev/model-loaded: ModelLoaded}}, "
     "spec: {replicas: 2}, status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1}}",
     NULL, NULL, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: 1 of 2 updated replicas are available", NULL},
    {"deployment waiting for a GPU: the rollout, then why",
     "{" DEPLOY "metadata: {name: embedder, generation: 2, annotations: {wavesync.dev/model-loaded: ModelLoaded}}, "
     "spec: {replicas: 2}, status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1}}",
     "[" GPU_PENDING_POD("embedder-7c9f8d6b5-zz9k1", "app: embedder") "]", NULL, WS_HEALTH_PROGRESSING,
     "1 of 2 updated replicas are available...; pod embedder-7c9f8d6b5-zz9k1 is unschedulable: 0/4 nodes are "
     "available: 4 Insufficient nvidia.com/gpu.",
     NULL},
    {"deployment whose model server crash-loops", MODEL_DEPLOY("ModelLoaded", ""),
     "[" CRASHING_POD("embedder-7c9f8d6b5-4kq2x", "app: embedder", "rs-uid") "]", NULL, WS_HEALTH_DEGRADED,
     "pod embedder-7c9f8d6b5-4kq2x: container main: CrashLoopBackOff", NULL},
    {"deployment paused",
     "{" DEPLOY "metadata: {name: embedder, generation: 2, annotations: {wavesync.dev/model-loaded: ModelLoaded}}, "
     "spec: {paused: true}, status: {observedGeneration: 1}}",
     NULL, NULL, WS_HEALTH_SUSPENDED, "Deployment is paused", NULL},
    {"deployment with an empty model-loaded annotation is a plain Deployment", MODEL_DEPLOY("''", ""), NULL, NULL,
     WS_HEALTH_HEALTHY, "1 of 1 replicas updated and available", NULL},
    {"deployment scaled to zero has no model to load",
     "{" DEPLOY "metadata: {name: embedder, generation: 2, annotations: {wavesync.dev/model-loaded: ModelLoaded}}, "
     "spec: {replicas: 0}, status: {observedGeneration: 2}}",
     NULL, NULL, WS_HEALTH_HEALTHY, "no pods to load a model", NULL},
};

static void test_cases(void)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        json_t *v = load(cases[i].obj), *p = cases[i].pods ? load(cases[i].pods) : NULL, *pods = NULL;
        const json_t *obj = v;
        struct ws_health h;
        int ok;

        if (is_list(v)) {
            obj = json_array_get(json_object_get(v, "items"), 0);
            pods = pods_of(v);
        }
        if (p) {
            json_decref(pods);
            pods = pods_of(p);
        }
        memset(&h, 0xA5, sizeof(h));
        ws_health_assess_at(&h, obj, pods, at(cases[i].now ? cases[i].now : NOW));
        ok = obj && (cases[i].pods == NULL || p) && h.status == cases[i].want &&
             memchr(h.message, '\0', sizeof(h.message)) && strstr(h.message, cases[i].msg) &&
             !strchr(h.message, '\n') && !strstr(h.message, "(null)");
        if (!tap_ok(ok, "%s: %s", cases[i].name, ws_health_str(cases[i].want)))
            tap_diag("  got %s \"%.*s\", want %s containing \"%s\"", ws_health_str(h.status),
                     (int)sizeof(h.message), h.message, ws_health_str(cases[i].want), cases[i].msg);
        if (cases[i].recheck) {
            int64_t want = *cases[i].recheck ? at(cases[i].recheck) : 0;
            if (!tap_ok(h.recheck_at == want, "%s: recheck %s", cases[i].name,
                        *cases[i].recheck ? cases[i].recheck : "none"))
                tap_diag("  got %lld, want %lld", (long long)h.recheck_at, (long long)want);
        }
        json_decref(v);
        json_decref(p);
        json_decref(pods);
    }
}

/* --- pod selectors ---------------------------------------------------------- */

static void test_pod_selector(void)
{
    static const struct {
        const char *name, *obj;
        size_t len;
        int want;
        const char *selector;
    } sel[] = {
        {"pytorchjob: its job-name label", "pytorchjob_progressing_running.json", 256, 1,
         "training.kubeflow.org/job-name=bert-ft"},
        {"tfjob", "{" TF "metadata: {name: mnist}}", 256, 1, "training.kubeflow.org/job-name=mnist"},
        {"mpijob v2beta1", "{apiVersion: kubeflow.org/v2beta1, kind: MPIJob, metadata: {name: allreduce}}", 256, 1,
         "training.kubeflow.org/job-name=allreduce"},
        {"trainjob: the JobSet of its name", "trainjob_progressing_running.json", 256, 1,
         "jobset.sigs.k8s.io/jobset-name=llama-sft"},
        {"jobset", "jobset_healthy_completed.json", 256, 1, "jobset.sigs.k8s.io/jobset-name=llama-sft"},
        {"volcano job", "volcano_healthy_completed.json", 256, 1, "volcano.sh/job-name=resnet-dist"},
        {"raycluster", "raycluster_healthy_ready.json", 256, 1, "ray.io/cluster=features-ray"},
        {"rayjob: its cluster, once known", "rayjob_healthy_succeeded.json", 256, 1,
         "ray.io/cluster=feature-backfill-raycluster-k4l2n"},
        {"rayjob before its cluster exists", "{" RJ "metadata: {name: j}, status: {}}", 256, 0, ""},
        {"deployment serving a model: its spec.selector", "deployment_healthy_model_loaded.json", 256, 1,
         "app.kubernetes.io/component=server,app.kubernetes.io/name=embedder"},
        {"plain deployment: no pods needed", "deployment_healthy_available.json", 256, 0, ""},
        {"inferenceservice: its status says enough", "inferenceservice_healthy_ready.json", 256, 0, ""},
        {"workload: no pods of its own", "kueue_workload_healthy_admitted.json", 256, 0, ""},
        {"cronjob with an SLA", "cronjob_healthy_sla_fresh.json", 256, 0, ""},
        {"batch Job still selects by controller-uid",
         "{apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {selector: {matchLabels: "
         "{batch.kubernetes.io/controller-uid: 0f5e2a1c-7d3b-4e8a-9c6f-2b1d4a8e7c35}}}}",
         256, 1, "batch.kubernetes.io/controller-uid=0f5e2a1c-7d3b-4e8a-9c6f-2b1d4a8e7c35"},
        {"a Job kind of another group is Volcano's only for batch.volcano.sh",
         "{apiVersion: example.com/v1, kind: Job, metadata: {name: x}}", 256, 0, ""},
        {"too small a buffer", "pytorchjob_progressing_running.json", 20, 0, ""},
        {"exactly large enough", "pytorchjob_progressing_running.json", 39, 1,
         "training.kubeflow.org/job-name=bert-ft"},
    };
    size_t i;
    char buf[256];

    for (i = 0; i < WS_ARRAY_SIZE(sel); i++) {
        json_t *v = load(sel[i].obj);
        const json_t *obj = is_list(v) ? json_array_get(json_object_get(v, "items"), 0) : v;
        memset(buf, 'x', sizeof(buf));
        tap_is_int(ws_health_pod_selector(obj, buf, sel[i].len), sel[i].want, sel[i].name);
        tap_is_str(buf, sel[i].selector, sel[i].name);
        json_decref(v);
    }
}

/* ws_health_assess is ws_health_assess_at now: a CronJob that succeeded a
 * minute ago is fresh, one that succeeded two days ago is not. */
static void test_wall_clock(void)
{
    char fresh[64], obj_text[512];
    time_t t = (time_t)ws_wall_s() - 60;
    struct tm tm;
    struct ws_health h;
    json_t *obj;

    gmtime_r(&t, &tm);
    strftime(fresh, sizeof(fresh), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(obj_text, sizeof(obj_text),
             "{" CRON "metadata: {name: p, annotations: {wavesync.dev/sla: 1h}}, spec: {schedule: '* * * * *'}, "
             "status: {lastSuccessfulTime: '%s'}}",
             fresh);
    obj = load(obj_text);
    ws_health_assess(&h, obj, NULL);
    tap_is_int(h.status, WS_HEALTH_HEALTHY, "wall clock: a success a minute ago is within the SLA");
    tap_ok(h.recheck_at > ws_wall_s() + 3000, "wall clock: recheck when the SLA runs out (%lld)",
           (long long)h.recheck_at);
    json_decref(obj);
    obj = load("{" CRON "metadata: {name: p, annotations: {wavesync.dev/sla: 1h}}, spec: {schedule: '* * * * *'}, "
               "status: {lastSuccessfulTime: '2020-01-01T00:00:00Z'}}");
    ws_health_assess(&h, obj, NULL);
    tap_is_int(h.status, WS_HEALTH_DEGRADED, "wall clock: a success in 2020 is stale");
    json_decref(obj);
}

int main(void)
{
    test_cases();
    test_pod_selector();
    test_wall_clock();
    return tap_done();
}
