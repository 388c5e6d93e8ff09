/* test_health.c — table-driven tests for reconciler/health/health.c: every built-in
 * rule against live objects as the apiserver returns them (full objects in
 * tests/unit/data/health/, trimmed ones inline as YAML flow), the Job pod
 * selector, status names and message hygiene. */
#include "health/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"
#include "base/yaml.h"

/* A fixture file name under tests/unit/data/health/, or an inline object
 * ("{...}" or "[...]", YAML flow). A *List becomes its items array. */
static json_t *load(const char *spec)
{
    const char *src = getenv("WS_SRCDIR");
    char path[4096];
    char *buf = NULL;
    size_t len = 0;
    json_t *v = NULL, *items;
    json_error_t jerr;
    struct ws_err err;

    ws_err_clear(&err);
    if (spec[0] == '{' || spec[0] == '[') {
        if (ws_yaml_parse_one(&v, spec, strlen(spec), "inline", NULL, &err) < 0)
            tap_diag("cannot parse inline object: %s", err.msg);
        return v;
    }
    snprintf(path, sizeof(path), "%s/tests/unit/data/health/%s", src && *src ? src : ".", spec);
    if (strstr(spec, ".json")) {
        if (!(v = json_load_file(path, 0, &jerr)))
            tap_diag("cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
    } else if (ws_file_read(&buf, &len, path, 1 << 20, &err) < 0 ||
               ws_yaml_parse_one(&v, buf, len, spec, NULL, &err) < 0) {
        tap_diag("cannot load %s: %s", path, err.msg);
    }
    free(buf);
    if ((items = json_object_get(v, "items")) != NULL && json_is_array(items)) {
        json_incref(items);
        json_decref(v);
        v = items;
    }
    return v;
}

/* Inline objects: trimmed to what the rules read, shaped as a live apiserver
 * returns them (strings quoted where YAML would retype them). */
#define DEPLOY "apiVersion: apps/v1, kind: Deployment, "
#define STS "apiVersion: apps/v1, kind: StatefulSet, "
#define DS "apiVersion: apps/v1, kind: DaemonSet, "
#define RS "apiVersion: apps/v1, kind: ReplicaSet, "
#define POD "apiVersion: v1, kind: Pod, "
#define JOB "apiVersion: batch/v1, kind: Job, "
#define CRON "apiVersion: batch/v1, kind: CronJob, "
#define PVC "apiVersion: v1, kind: PersistentVolumeClaim, "
#define SVC "apiVersion: v1, kind: Service, "
#define ING "apiVersion: networking.k8s.io/v1, kind: Ingress, "
#define CRD "apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, "
#define APISVC "apiVersion: apiregistration.k8s.io/v1, kind: APIService, "
#define HPA2 "apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, "
#define HPA1 "apiVersion: autoscaling/v1, kind: HorizontalPodAutoscaler, "
#define ROLLOUT "apiVersion: argoproj.io/v1alpha1, kind: Rollout, "
/* A Rollout before Argo Rollouts 1.0 (no status.phase), generation observed. */
#define RO_META "metadata: {name: ranker, generation: 4}, "
#define RO_CANARY "spec: {replicas: 3, strategy: {canary: {steps: [{setWeight: 50}, {pause: {}}]}}}, "
#define RO_BLUEGREEN "spec: {replicas: 2, strategy: {blueGreen: {activeService: a, previewService: p}}}, "
/* A hook pod running and ready, with the annotation that would otherwise
 * make it judged by readiness. */
#define HOOK_POD_RUNNING(hook_ann, policy)                                                                   \
    "{" POD "metadata: {name: db-migrate-x7k2p, annotations: {" hook_ann ", "                                \
    "argocd.argoproj.io/ignore-restart-policy: 'true'}}, spec: {restartPolicy: " policy "}, status: {phase: " \
    "Running, conditions: [{type: Ready, status: 'True'}, {type: ContainersReady, status: 'True'}], "         \
    "containerStatuses: [{name: migrate, ready: true, started: true, restartCount: 0, state: {running: "      \
    "{startedAt: '2026-03-02T09:00:00Z'}}}]}}"
#define JOB_UID "3f0c2a8e-1b7d-4c6e-9a5f-2e4d6c8b0a13"
#define JOB_META "metadata: {name: sft-run, namespace: ml-train, uid: " JOB_UID ", generation: 1}, "
#define OWNED_BY(uid) "ownerReferences: [{apiVersion: batch/v1, kind: Job, name: sft-run, uid: " uid ", controller: true}]"

static const struct {
    const char *name;
    const char *obj;  /* fixture or inline; NULL = no object */
    const char *pods; /* fixture or inline array, or NULL */
    enum ws_health_status want;
    const char *msg; /* substring of the message */
} cases[] = {
    /* --- Deployment ------------------------------------------------------ */
    {"deployment mid-rollout", "deployment_progressing_midrollout.json", NULL, WS_HEALTH_PROGRESSING,
     "Waiting for rollout to finish: 2 of 3 updated replicas are available"},
    {"deployment ProgressDeadlineExceeded", "deployment_degraded_deadline.json", NULL,
     WS_HEALTH_DEGRADED,
     "\"embedder\" exceeded its progress deadline: ReplicaSet \"embedder-5f8c6d7b9\" has timed out"},
    {"deployment paused", "deployment_suspended_paused.json", NULL, WS_HEALTH_SUSPENDED,
     "Deployment is paused"},
    {"deployment observedGeneration behind", "deployment_progressing_generation.json", NULL,
     WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: observed generation 1 of 2"},
    {"deployment available", "deployment_healthy_available.json", NULL, WS_HEALTH_HEALTHY,
     "3 of 3 replicas updated and available"},
    {"deployment new replicas being updated",
     "{" DEPLOY "metadata: {name: api, generation: 3}, spec: {replicas: 3}, status: {observedGeneration: 3, "
     "replicas: 4, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "1 out of 3 new replicas have been updated..."},
    {"deployment old replicas pending termination",
     "{" DEPLOY "metadata: {name: api, generation: 3}, spec: {replicas: 3}, status: {observedGeneration: 3, "
     "replicas: 4, updatedReplicas: 3, readyReplicas: 4, availableReplicas: 4}}",
     NULL, WS_HEALTH_PROGRESSING, "1 old replicas are pending termination"},
    {"deployment just created, no status",
     "{" DEPLOY "metadata: {name: api, generation: 1}, spec: {replicas: 2}}", NULL,
     WS_HEALTH_PROGRESSING, "generation 1 not observed yet"},
    {"deployment scaled to zero",
     "{" DEPLOY "metadata: {name: api, generation: 4}, spec: {replicas: 0}, status: {observedGeneration: 4}}",
     NULL, WS_HEALTH_HEALTHY, "0 of 0 replicas"},
    {"deployment paused wins over an unobserved generation",
     "{" DEPLOY "metadata: {name: api, generation: 5}, spec: {replicas: 1, paused: true}, "
     "status: {observedGeneration: 4}}",
     NULL, WS_HEALTH_SUSPENDED, "paused"},
    {"a Deployment kind of another group is not apps/v1",
     "{apiVersion: apps.example.com/v1, kind: Deployment, metadata: {name: x, generation: 1}, spec: {}}",
     NULL, WS_HEALTH_HEALTHY, "no health check for Deployment"},

    /* --- StatefulSet ----------------------------------------------------- */
    {"statefulset partitioned rollout in progress", "statefulset_progressing_partition.json", NULL,
     WS_HEALTH_PROGRESSING, "Waiting for partitioned roll out to finish: 1 out of 2 new pods"},
    {"statefulset partitioned rollout done", "statefulset_healthy_partition.json", NULL,
     WS_HEALTH_HEALTHY, "partitioned roll out complete: 2 new pods have been updated"},
    {"statefulset pods not ready",
     "{" STS "metadata: {name: etcd, generation: 1}, spec: {replicas: 3, updateStrategy: {type: RollingUpdate, "
     "rollingUpdate: {partition: 0}}}, status: {observedGeneration: 1, replicas: 3, readyReplicas: 1, "
     "currentReplicas: 3, updatedReplicas: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting for 2 pods to be ready"},
    {"statefulset observedGeneration behind",
     "{" STS "metadata: {name: etcd, generation: 3}, spec: {replicas: 3}, status: {observedGeneration: 2, "
     "replicas: 3, readyReplicas: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "observed generation 2 of 3"},
    {"statefulset OnDelete",
     "{" STS "metadata: {name: etcd, generation: 2}, spec: {replicas: 3, updateStrategy: {type: OnDelete}}, "
     "status: {observedGeneration: 2, replicas: 3, readyReplicas: 3, updatedReplicas: 1}}",
     NULL, WS_HEALTH_HEALTHY, "statefulset has 3 ready pods (1 updated)"},
    {"statefulset rolling update not yet applied to all pods",
     "{" STS "metadata: {name: web, generation: 2}, spec: {replicas: 3, updateStrategy: {type: RollingUpdate, "
     "rollingUpdate: {partition: 0}}}, status: {observedGeneration: 2, replicas: 3, readyReplicas: 3, "
     "updatedReplicas: 1, currentRevision: web-6b8d, updateRevision: web-5d8f}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting for roll out to finish: 1 out of 3 new pods"},
    {"statefulset rolling update complete",
     "{" STS "metadata: {name: web, generation: 2}, spec: {replicas: 3, updateStrategy: {type: RollingUpdate, "
     "rollingUpdate: {partition: 0}}}, status: {observedGeneration: 2, replicas: 3, readyReplicas: 3, "
     "currentReplicas: 3, updatedReplicas: 3, currentRevision: web-5d8f, updateRevision: web-5d8f}}",
     NULL, WS_HEALTH_HEALTHY, "rolling update complete: 3 pods at revision web-5d8f"},
    {"statefulset without rollingUpdate: revisions differ",
     "{" STS "metadata: {name: web, generation: 2}, spec: {replicas: 2}, status: {observedGeneration: 2, "
     "replicas: 2, readyReplicas: 2, updatedReplicas: 1, currentRevision: web-6b8d, updateRevision: web-5d8f}}",
     NULL, WS_HEALTH_PROGRESSING, "rolling update to complete 1 pods at revision web-5d8f"},

    /* --- DaemonSet ------------------------------------------------------- */
    {"daemonset rollout (kubectl -o yaml)", "daemonset_progressing_rollout.yaml", NULL,
     WS_HEALTH_PROGRESSING, "\"nvidia-device-plugin\" rollout to finish: 2 out of 4 new pods"},
    {"daemonset pods not yet available",
     "{" DS "metadata: {name: fluent-bit, generation: 2}, spec: {updateStrategy: {type: RollingUpdate}}, "
     "status: {observedGeneration: 2, desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "3 of 4 updated pods are available"},
    {"daemonset OnDelete",
     "{" DS "metadata: {name: fluent-bit, generation: 2}, spec: {updateStrategy: {type: OnDelete}}, "
     "status: {observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3}}",
     NULL, WS_HEALTH_HEALTHY, "daemon set 1 out of 3 new pods have been updated"},
    {"daemonset available",
     "{" DS "metadata: {name: fluent-bit, generation: 2}, spec: {updateStrategy: {type: RollingUpdate}}, "
     "status: {observedGeneration: 2, desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 4}}",
     NULL, WS_HEALTH_HEALTHY, "4 of 4 pods updated and available"},
    {"daemonset observedGeneration behind",
     "{" DS "metadata: {name: fluent-bit, generation: 2}, spec: {}, status: {observedGeneration: 1, "
     "desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 4}}",
     NULL, WS_HEALTH_PROGRESSING, "observed generation 1 of 2"},

    /* --- ReplicaSet ------------------------------------------------------ */
    {"replicaset ReplicaFailure (quota)",
     "{" RS "metadata: {name: train-7c9, generation: 1}, spec: {replicas: 2}, status: {observedGeneration: 1, "
     "replicas: 0, availableReplicas: 0, conditions: [{type: ReplicaFailure, status: 'True', "
     "lastTransitionTime: '2026-03-02T09:00:00Z', reason: FailedCreate, message: 'pods \"train-7c9-x8j2k\" is "
     "forbidden: exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=8, used: "
     "requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8'}]}}",
     NULL, WS_HEALTH_DEGRADED, "FailedCreate: pods \"train-7c9-x8j2k\" is forbidden: exceeded quota"},
    {"replicaset replicas not available",
     "{" RS "metadata: {name: web-5d8f, generation: 1}, spec: {replicas: 2}, status: {observedGeneration: 1, "
     "replicas: 2, readyReplicas: 1, availableReplicas: 1}}",
     NULL, WS_HEALTH_PROGRESSING, "1 out of 2 new replicas are available"},
    {"replicaset available",
     "{" RS "metadata: {name: web-5d8f, generation: 1}, spec: {replicas: 2}, status: {observedGeneration: 1, "
     "replicas: 2, readyReplicas: 2, availableReplicas: 2}}",
     NULL, WS_HEALTH_HEALTHY, "2 of 2 replicas available"},

    /* --- Pod ------------------------------------------------------------- */
    {"pod pending on GPUs", "pod_progressing_gpu_pending.json", NULL, WS_HEALTH_PROGRESSING,
     "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."},
    {"pod in CrashLoopBackOff", "pod_degraded_crashloop.json", NULL, WS_HEALTH_DEGRADED,
     "container server: CrashLoopBackOff: back-off 5m0s restarting failed container=server"},
    {"pod init container in ImagePullBackOff", "pod_degraded_imagepull_init.json", NULL,
     WS_HEALTH_DEGRADED, "init container fetch-weights: ImagePullBackOff: Back-off pulling image"},
    {"pod OOMKilled", "pod_degraded_oomkilled.json", NULL, WS_HEALTH_DEGRADED,
     "container eval: OOMKilled (exit code 137)"},
    {"pod running and ready",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Running, conditions: "
     "[{type: Ready, status: 'True'}, {type: ContainersReady, status: 'True'}], containerStatuses: "
     "[{name: web, ready: true, restartCount: 0, state: {running: {startedAt: '2026-03-02T09:00:00Z'}}}]}}",
     NULL, WS_HEALTH_HEALTHY, "running and ready"},
    {"pod running, container not ready yet",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Running, conditions: "
     "[{type: Ready, status: 'False', reason: ContainersNotReady, message: 'containers with unready status: "
     "[web]'}], containerStatuses: [{name: web, ready: false, restartCount: 0, started: true, state: "
     "{running: {startedAt: '2026-03-02T09:00:00Z'}}, lastState: {}}]}}",
     NULL, WS_HEALTH_PROGRESSING, "ContainersNotReady: containers with unready status: [web]"},
    {"pod restarted and not ready again",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Running, conditions: "
     "[{type: Ready, status: 'False', reason: ContainersNotReady}], containerStatuses: [{name: web, ready: false, "
     "restartCount: 1, state: {running: {startedAt: '2026-03-02T09:05:00Z'}}, lastState: {terminated: "
     "{exitCode: 2, reason: Error, finishedAt: '2026-03-02T09:04:58Z'}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container web is not ready, last terminated: Error (exit code 2)"},
    {"pod running with restartPolicy Never (a hook)",
     "{" POD "metadata: {name: db-migrate}, spec: {restartPolicy: Never}, status: {phase: Running, conditions: "
     "[{type: Ready, status: 'True'}], containerStatuses: [{name: migrate, ready: true, state: {running: {}}}]}}",
     NULL, WS_HEALTH_PROGRESSING, "Pod is running"},
    {"pod with ignore-restart-policy assessed as Always",
     "{" POD "metadata: {name: op-managed, annotations: {argocd.argoproj.io/ignore-restart-policy: 'true'}}, "
     "spec: {restartPolicy: OnFailure}, status: {phase: Running, conditions: [{type: Ready, status: 'True'}], "
     "containerStatuses: [{name: main, ready: true, state: {running: {}}}]}}",
     NULL, WS_HEALTH_HEALTHY, "ready"},
    {"hook pod (PostSync) with ignore-restart-policy, running and ready",
     HOOK_POD_RUNNING("argocd.argoproj.io/hook: PostSync", "Never"), NULL, WS_HEALTH_PROGRESSING,
     "Hook pod is running; waiting for it to complete"},
    {"hook pod (PreSync, OnFailure) with ignore-restart-policy, running and ready",
     HOOK_POD_RUNNING("argocd.argoproj.io/hook: PreSync", "OnFailure"), NULL, WS_HEALTH_PROGRESSING,
     "Hook pod is running"},
    {"hook pod (several phases) with ignore-restart-policy, running and ready",
     HOOK_POD_RUNNING("argocd.argoproj.io/hook: 'PreSync, SyncFail'", "Never"), NULL, WS_HEALTH_PROGRESSING,
     "Hook pod is running"},
    {"helm hook pod with ignore-restart-policy, running and ready",
     HOOK_POD_RUNNING("helm.sh/hook: 'pre-install,pre-upgrade'", "Never"), NULL, WS_HEALTH_PROGRESSING,
     "Hook pod is running"},
    {"hook pod running, not ready yet",
     "{" POD "metadata: {name: db-migrate-x7k2p, annotations: {argocd.argoproj.io/hook: PostSync}}, spec: "
     "{restartPolicy: Never}, status: {phase: Running, conditions: [{type: Ready, status: 'False', reason: "
     "ContainersNotReady}], containerStatuses: [{name: migrate, ready: false, started: true, state: {running: "
     "{}}}]}}",
     NULL, WS_HEALTH_PROGRESSING, "Hook pod is running"},
    {"hook pod succeeded",
     "{" POD "metadata: {name: db-migrate-x7k2p, annotations: {argocd.argoproj.io/hook: PostSync, "
     "argocd.argoproj.io/ignore-restart-policy: 'true'}}, spec: {restartPolicy: Never}, status: {phase: "
     "Succeeded, conditions: [{type: Ready, status: 'False', reason: PodCompleted}], containerStatuses: [{name: "
     "migrate, ready: false, state: {terminated: {exitCode: 0, reason: Completed}}}]}}",
     NULL, WS_HEALTH_HEALTHY, "Pod completed"},
    {"hook pod failed",
     "{" POD "metadata: {name: db-migrate-x7k2p, annotations: {argocd.argoproj.io/hook: PostSync, "
     "argocd.argoproj.io/ignore-restart-policy: 'true'}}, spec: {restartPolicy: Never}, status: {phase: Failed, "
     "containerStatuses: [{name: migrate, ready: false, state: {terminated: {exitCode: 1, reason: Error, "
     "message: 'relation \"features\" already exists'}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container migrate: relation \"features\" already exists"},
    /* Argo CD's semantics, kept: restartPolicy Always never reaches
     * Succeeded, so a hook pod with it is done once ready. */
    {"hook pod with restartPolicy Always, running and ready",
     HOOK_POD_RUNNING("argocd.argoproj.io/hook: PreSync", "Always"), NULL, WS_HEALTH_HEALTHY,
     "running and ready"},
    {"Skip alone is not a hook: ignore-restart-policy applies",
     HOOK_POD_RUNNING("argocd.argoproj.io/hook: Skip", "Never"), NULL, WS_HEALTH_HEALTHY, "running and ready"},
    {"Helm crd-install is not a hook: ignore-restart-policy applies",
     HOOK_POD_RUNNING("helm.sh/hook: crd-install", "Never"), NULL, WS_HEALTH_HEALTHY, "running and ready"},
    {"not a hook, restartPolicy Always, running and ready",
     "{" POD "metadata: {name: api-5d8f-x2x9z, annotations: {prometheus.io/scrape: 'true'}}, spec: "
     "{restartPolicy: Always}, status: {phase: Running, conditions: [{type: Ready, status: 'True'}], "
     "containerStatuses: [{name: api, ready: true, restartCount: 0, state: {running: {}}}]}}",
     NULL, WS_HEALTH_HEALTHY, "Pod is running and ready"},
    /* Deliberately not Argo CD's Progressing: a crash-looping training pod
     * fails its wave now instead of at the wave's deadline (health.c). */
    {"pod restartPolicy OnFailure in CrashLoopBackOff",
     "{" POD "metadata: {name: finetune-llama-0}, spec: {restartPolicy: OnFailure}, status: {phase: Running, "
     "conditions: [{type: Ready, status: 'False', reason: ContainersNotReady}], containerStatuses: [{name: "
     "trainer, ready: false, restartCount: 4, state: {waiting: {reason: CrashLoopBackOff, message: 'back-off "
     "1m20s restarting failed container=trainer pod=finetune-llama-0_ml-train'}}, lastState: {terminated: "
     "{exitCode: 1, reason: Error}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container trainer: CrashLoopBackOff: back-off 1m20s restarting"},
    {"pod succeeded",
     "{" POD "metadata: {name: db-migrate}, spec: {restartPolicy: Never}, status: {phase: Succeeded, "
     "containerStatuses: [{name: migrate, ready: false, state: {terminated: {exitCode: 0, reason: Completed}}}]}}",
     NULL, WS_HEALTH_HEALTHY, "Pod completed"},
    {"pod evicted",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Failed, reason: Evicted, "
     "message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 59124Ki.'}}",
     NULL, WS_HEALTH_DEGRADED, "Evicted: The node was low on resource: memory."},
    {"pod failed with an exit code",
     "{" POD "metadata: {name: job-x}, spec: {restartPolicy: Never}, status: {phase: Failed, containerStatuses: "
     "[{name: main, ready: false, state: {terminated: {exitCode: 3, reason: Error}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container main failed with exit code 3 (Error)"},
    {"pod failed with a termination message",
     "{" POD "metadata: {name: job-x}, spec: {restartPolicy: Never}, status: {phase: Failed, containerStatuses: "
     "[{name: main, ready: false, state: {terminated: {exitCode: 1, reason: Error, message: 'loss went NaN at "
     "step 1200'}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container main: loss went NaN at step 1200"},
    {"pod failed in an init container",
     "{" POD "metadata: {name: job-x}, spec: {restartPolicy: Never}, status: {phase: Failed, "
     "initContainerStatuses: [{name: download, ready: false, state: {terminated: {exitCode: 22, reason: Error}}}], "
     "containerStatuses: [{name: main, ready: false, state: {waiting: {reason: PodInitializing}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container download failed with exit code 22"},
    {"pod on a lost node",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Unknown, reason: NodeLost, "
     "message: 'Node gpu-node-4 which was running pod web-0 is unresponsive'}}",
     NULL, WS_HEALTH_UNKNOWN, "is unresponsive"},
    {"pod creating containers",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Pending, conditions: "
     "[{type: PodScheduled, status: 'True'}], containerStatuses: [{name: web, ready: false, state: "
     "{waiting: {reason: ContainerCreating}}}]}}",
     NULL, WS_HEALTH_PROGRESSING, "container web: ContainerCreating"},
    {"pod just created",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Pending, qosClass: BestEffort}}",
     NULL, WS_HEALTH_PROGRESSING, "Pod is pending"},
    {"pod ErrImagePull with restartPolicy Never",
     "{" POD "metadata: {name: hook}, spec: {restartPolicy: Never}, status: {phase: Pending, containerStatuses: "
     "[{name: main, ready: false, state: {waiting: {reason: ErrImagePull, message: 'rpc error: code = "
     "Unknown desc = failed to pull and unpack image'}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container main: ErrImagePull: rpc error"},
    {"pod CreateContainerConfigError",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Pending, containerStatuses: "
     "[{name: web, ready: false, state: {waiting: {reason: CreateContainerConfigError, message: 'secret "
     "\"hf-token\" not found'}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "CreateContainerConfigError: secret \"hf-token\" not found"},
    {"pod InvalidImageName",
     "{" POD "metadata: {name: web-0}, spec: {restartPolicy: Always}, status: {phase: Pending, containerStatuses: "
     "[{name: web, ready: false, state: {waiting: {reason: InvalidImageName, message: 'Failed to apply default "
     "image tag \"ghcr.io/acme/Web:1\": couldn''t parse image name'}}}]}}",
     NULL, WS_HEALTH_DEGRADED, "container web: InvalidImageName"},
    {"pod being deleted",
     "{" POD "metadata: {name: web-0, deletionTimestamp: '2026-03-02T09:10:00Z', deletionGracePeriodSeconds: 30}, "
     "spec: {restartPolicy: Always}, status: {phase: Running}}",
     NULL, WS_HEALTH_PROGRESSING, "Pending deletion"},
    {"hook pod being deleted under Argo CD's hook finalizer is still assessed",
     "{" POD "metadata: {name: hook, deletionTimestamp: '2026-03-02T09:10:00Z', finalizers: "
     "[argocd.argoproj.io/hook-finalizer]}, spec: {restartPolicy: Never}, status: {phase: Succeeded}}",
     NULL, WS_HEALTH_HEALTHY, "Pod completed"},

    /* --- Job ------------------------------------------------------------- */
    {"job with a pod in CrashLoopBackOff", "job_degraded_crashloop.json", "podlist_job_crashloop.json",
     WS_HEALTH_DEGRADED,
     "pod bert-pretrain-7xk9q: container trainer: CrashLoopBackOff: back-off 2m40s restarting"},
    {"the same job without its pods", "job_degraded_crashloop.json", NULL, WS_HEALTH_PROGRESSING,
     "Job running: 1 active, 0 succeeded"},
    {"job complete",
     "{" JOB JOB_META "spec: {completions: 1}, status: {startTime: '2026-03-02T09:00:00Z', completionTime: "
     "'2026-03-02T11:42:10Z', succeeded: 1, ready: 0, terminating: 0, conditions: [{type: SuccessCriteriaMet, "
     "status: 'True', reason: CompletionsReached, message: Reached expected number of succeeded pods}, "
     "{type: Complete, status: 'True', reason: CompletionsReached, message: Reached expected number of "
     "succeeded pods}]}}",
     NULL, WS_HEALTH_HEALTHY, "Job completed: 1 succeeded"},
    {"job failed: backoff limit",
     "{" JOB JOB_META "spec: {backoffLimit: 2}, status: {failed: 3, ready: 0, conditions: [{type: FailureTarget, "
     "status: 'True', reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}, "
     "{type: Failed, status: 'True', reason: BackoffLimitExceeded, message: Job has reached the specified "
     "backoff limit}]}}",
     NULL, WS_HEALTH_DEGRADED, "BackoffLimitExceeded: Job has reached the specified backoff limit"},
    {"job failing (FailureTarget before Failed)",
     "{" JOB JOB_META "spec: {activeDeadlineSeconds: 3600}, status: {active: 1, conditions: [{type: "
     "FailureTarget, status: 'True', reason: DeadlineExceeded, message: Job was active longer than specified "
     "deadline}]}}",
     NULL, WS_HEALTH_DEGRADED, "DeadlineExceeded: Job was active longer than specified deadline"},
    {"job suspended",
     "{" JOB JOB_META "spec: {suspend: true}, status: {conditions: [{type: Suspended, status: 'True', reason: "
     "JobSuspended, message: Job suspended}]}}",
     NULL, WS_HEALTH_SUSPENDED, "Job is suspended"},
    {"job waiting for Kueue admission",
     "{" JOB "metadata: {name: sft-run, uid: " JOB_UID ", labels: {kueue.x-k8s.io/queue-name: team-a}}, "
     "spec: {suspend: true}, status: {}}",
     NULL, WS_HEALTH_SUSPENDED, "waiting for admission to queue team-a"},
    {"job whose pod waits for GPUs", "{" JOB JOB_META "spec: {}, status: {active: 1, ready: 0}}",
     "[{metadata: {name: sft-run-q8x2z, " OWNED_BY(JOB_UID) "}, spec: {restartPolicy: Never}, status: "
     "{phase: Pending, conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: "
     "'0/3 nodes are available: 3 Insufficient nvidia.com/gpu.'}]}}]",
     WS_HEALTH_PROGRESSING,
     "1 active, 0 succeeded; pod sft-run-q8x2z: Unschedulable: 0/3 nodes are available: 3 Insufficient"},
    {"job whose pod cannot pull its image", "{" JOB JOB_META "spec: {}, status: {active: 1}}",
     "[{metadata: {name: sft-run-q8x2z, " OWNED_BY(JOB_UID) "}, spec: {restartPolicy: Never}, status: "
     "{phase: Pending, containerStatuses: [{name: trainer, ready: false, state: {waiting: {reason: "
     "ImagePullBackOff, message: 'Back-off pulling image \"ghcr.io/acme/sft:9.9\"'}}}]}}]",
     WS_HEALTH_DEGRADED, "pod sft-run-q8x2z: container trainer: ImagePullBackOff"},
    {"job ignores a crash-looping pod of another controller", "{" JOB JOB_META "spec: {}, status: {active: 1}}",
     "[{metadata: {name: other-x, " OWNED_BY("0a0a0a0a-0000-4000-8000-000000000000") "}, status: {phase: Running, "
     "containerStatuses: [{name: c, state: {waiting: {reason: CrashLoopBackOff}}}]}}]",
     WS_HEALTH_PROGRESSING, "Job running"},
    {"job ignores a terminating pod", "{" JOB JOB_META "spec: {}, status: {active: 1}}",
     "[{metadata: {name: sft-run-a, deletionTimestamp: '2026-03-02T09:10:00Z', " OWNED_BY(JOB_UID) "}, "
     "status: {phase: Running, containerStatuses: [{name: c, state: {waiting: {reason: CrashLoopBackOff}}}]}}]",
     WS_HEALTH_PROGRESSING, "Job running"},
    {"job retrying after failed pods",
     "{" JOB JOB_META "spec: {backoffLimit: 6}, status: {active: 1, failed: 2, succeeded: 0}}", "[]",
     WS_HEALTH_PROGRESSING, "Job running: 1 active, 0 succeeded, 2 failed"},

    /* --- CronJob --------------------------------------------------------- */
    {"cronjob whose last run failed before this sync", "cronjob_healthy_lastrunfailed.json", NULL,
     WS_HEALTH_HEALTHY, "the last run did not succeed (last success at 2026-03-02T00:04:31Z)"},
    {"cronjob suspended",
     "{" CRON "metadata: {name: nightly-eval}, spec: {schedule: '0 2 * * *', suspend: true}, status: {}}", NULL,
     WS_HEALTH_SUSPENDED, "CronJob is suspended"},
    {"cronjob never scheduled",
     "{" CRON "metadata: {name: nightly-eval}, spec: {schedule: '0 2 * * *', suspend: false}, status: {}}", NULL,
     WS_HEALTH_HEALTHY, "CronJob has not been scheduled yet"},
    {"cronjob last run succeeded",
     "{" CRON "metadata: {name: nightly-eval}, spec: {schedule: '0 2 * * *'}, status: {lastScheduleTime: "
     "'2026-03-02T02:00:00Z', lastSuccessfulTime: '2026-03-02T02:17:45Z'}}",
     NULL, WS_HEALTH_HEALTHY, "last successful run at 2026-03-02T02:17:45Z"},
    {"cronjob running now",
     "{" CRON "metadata: {name: nightly-eval}, spec: {schedule: '0 2 * * *'}, status: {lastScheduleTime: "
     "'2026-03-02T02:00:00Z', lastSuccessfulTime: '2026-03-01T02:17:45Z', active: [{apiVersion: batch/v1, "
     "kind: Job, name: nightly-eval-29543160, namespace: ml-eval}]}}",
     NULL, WS_HEALTH_HEALTHY, "Last scheduled at 2026-03-02T02:00:00Z; 1 active job"},
    {"cronjob never succeeded",
     "{" CRON "metadata: {name: nightly-eval}, spec: {schedule: '0 2 * * *'}, status: {lastScheduleTime: "
     "'2026-03-02T02:00:00Z'}}",
     NULL, WS_HEALTH_HEALTHY, "no successful run yet"},

    /* --- PersistentVolumeClaim ------------------------------------------- */
    {"pvc waiting for a consumer (kubectl -o yaml)", "persistentvolumeclaim_progressing_waitforfirstconsumer.yaml",
     NULL, WS_HEALTH_PROGRESSING, "WaitForFirstConsumer"},
    {"pvc bound",
     "{" PVC "metadata: {name: data, annotations: {pv.kubernetes.io/bind-completed: 'yes'}}, spec: "
     "{volumeName: pvc-5f6a7b8c-9d0e-4f1a-2b3c-4d5e6f7a8b9c}, status: {phase: Bound, accessModes: "
     "[ReadWriteOnce], capacity: {storage: 500Gi}}}",
     NULL, WS_HEALTH_HEALTHY, "Bound to volume pvc-5f6a7b8c"},
    {"pvc being provisioned",
     "{" PVC "metadata: {name: data, annotations: {volume.beta.kubernetes.io/storage-provisioner: ebs.csi.aws.com, "
     "volume.kubernetes.io/storage-provisioner: ebs.csi.aws.com, volume.kubernetes.io/selected-node: "
     "ip-10-0-3-12.ec2.internal}}, spec: {storageClassName: gp3}, status: {phase: Pending}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting for ebs.csi.aws.com to provision a volume"},
    {"pvc lost",
     "{" PVC "metadata: {name: data}, spec: {volumeName: pvc-0d1e}, status: {phase: Lost}}", NULL,
     WS_HEALTH_DEGRADED, "Claim lost its volume pvc-0d1e"},

    /* --- Service --------------------------------------------------------- */
    {"service ClusterIP",
     "{" SVC "metadata: {name: api}, spec: {type: ClusterIP, clusterIP: 10.96.12.7}, status: {loadBalancer: {}}}",
     NULL, WS_HEALTH_HEALTHY, "ClusterIP service"},
    {"service LoadBalancer without address",
     "{" SVC "metadata: {name: gateway}, spec: {type: LoadBalancer}, status: {loadBalancer: {}}}", NULL,
     WS_HEALTH_PROGRESSING, "Waiting for the load balancer"},
    {"service LoadBalancer with hostname",
     "{" SVC "metadata: {name: gateway}, spec: {type: LoadBalancer}, status: {loadBalancer: {ingress: "
     "[{hostname: a1b2c3-1234567890.us-east-1.elb.amazonaws.com}]}}}",
     NULL, WS_HEALTH_HEALTHY, "Load balancer at a1b2c3-1234567890.us-east-1.elb.amazonaws.com"},
    {"service LoadBalancer with IP",
     "{" SVC "metadata: {name: gateway}, spec: {type: LoadBalancer}, status: {loadBalancer: {ingress: "
     "[{ip: 203.0.113.10, ipMode: VIP}]}}}",
     NULL, WS_HEALTH_HEALTHY, "203.0.113.10"},

    /* --- Ingress --------------------------------------------------------- */
    {"ingress with an address",
     "{" ING "metadata: {name: api, generation: 1}, spec: {ingressClassName: nginx}, status: {loadBalancer: "
     "{ingress: [{ip: 198.51.100.7}]}}}",
     NULL, WS_HEALTH_HEALTHY, "Load balancer at 198.51.100.7"},
    {"ingress not yet published",
     "{" ING "metadata: {name: api, generation: 1}, spec: {ingressClassName: nginx}, status: {loadBalancer: {}}}",
     NULL, WS_HEALTH_PROGRESSING, "publish an address"},

    /* --- CustomResourceDefinition ---------------------------------------- */
    {"crd established", "customresourcedefinition_healthy_established.json", NULL, WS_HEALTH_HEALTHY,
     "CRD is established"},
    {"crd names conflict",
     "{" CRD "metadata: {name: models.ml.acme.io, generation: 1}, spec: {group: ml.acme.io}, status: "
     "{conditions: [{type: NamesAccepted, status: 'False', reason: ListKindConflict, message: '\"ModelList\" is "
     "already in use'}, {type: Established, status: 'False', reason: NotAccepted, message: not all names are "
     "accepted}]}}",
     NULL, WS_HEALTH_DEGRADED, "CRD names have not been accepted: \"ModelList\" is already in use"},
    {"crd not established yet",
     "{" CRD "metadata: {name: models.ml.acme.io, generation: 1}, spec: {group: ml.acme.io}, status: "
     "{conditions: [{type: NamesAccepted, status: 'True', reason: NoConflicts}, {type: Established, status: "
     "'False', reason: Installing, message: the initial names have been accepted}]}}",
     NULL, WS_HEALTH_PROGRESSING, "CRD is not established yet"},
    {"crd just created",
     "{" CRD "metadata: {name: models.ml.acme.io, generation: 1}, spec: {group: ml.acme.io}, status: "
     "{acceptedNames: {kind: '', plural: ''}, storedVersions: [v1]}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting for the CRD to be established"},

    /* --- APIService ------------------------------------------------------ */
    {"apiservice without endpoints yet", "apiservice_progressing_missingendpoints.json", NULL,
     WS_HEALTH_PROGRESSING, "MissingEndpoints: endpoints for service/metrics-server"},
    {"apiservice local",
     "{" APISVC "metadata: {name: v1.apps}, spec: {group: apps, version: v1, groupPriorityMinimum: 17800, "
     "versionPriority: 15}, status: {conditions: [{type: Available, status: 'True', reason: Local, message: "
     "Local APIServices are always available}]}}",
     NULL, WS_HEALTH_HEALTHY, "Local: Local APIServices are always available"},
    {"apiservice not processed yet",
     "{" APISVC "metadata: {name: v1beta1.custom.metrics.k8s.io}, spec: {group: custom.metrics.k8s.io}}", NULL,
     WS_HEALTH_PROGRESSING, "Waiting to be processed"},

    /* --- HorizontalPodAutoscaler ----------------------------------------- */
    {"hpa cannot read metrics", "horizontalpodautoscaler_degraded_metrics.json", NULL, WS_HEALTH_DEGRADED,
     "unable to fetch metrics from resource metrics API"},
    {"hpa v2 healthy",
     "{" HPA2 "metadata: {name: api}, spec: {minReplicas: 2, maxReplicas: 10}, status: {currentReplicas: 2, "
     "desiredReplicas: 2, conditions: [{type: AbleToScale, status: 'True', reason: ReadyForNewScale, message: "
     "recommended size matches current size}, {type: ScalingActive, status: 'True', reason: ValidMetricFound}, "
     "{type: ScalingLimited, status: 'True', reason: TooFewReplicas}]}}",
     NULL, WS_HEALTH_HEALTHY, "recommended size matches current size"},
    {"hpa v2 degraded after a healthy condition (external metric)",
     "{" HPA2 "metadata: {name: vllm}, spec: {}, status: {conditions: [{type: AbleToScale, status: 'True', "
     "reason: SucceededGetScale}, {type: ScalingActive, status: 'False', reason: FailedGetExternalMetric, "
     "message: 'the HPA was unable to compute the replica count: unable to get external metric "
     "ml-serving/vllm_queue_depth'}]}}",
     NULL, WS_HEALTH_DEGRADED, "unable to get external metric"},
    {"hpa scaled to zero (scaling disabled)",
     "{" HPA2 "metadata: {name: api}, spec: {}, status: {conditions: [{type: AbleToScale, status: 'True', "
     "reason: SucceededGetScale, message: the HPA controller was able to get the target's current scale}, "
     "{type: ScalingActive, status: 'False', reason: ScalingDisabled, message: scaling is disabled since the "
     "replica count of the target is zero}]}}",
     NULL, WS_HEALTH_HEALTHY, "able to get the target's current scale"},
    {"hpa v1 with conditions in its annotation",
     "{" HPA1 "metadata: {name: api, annotations: {autoscaling.alpha.kubernetes.io/conditions: '[{\"type\":"
     "\"AbleToScale\",\"status\":\"False\",\"lastTransitionTime\":\"2026-03-02T09:00:00Z\",\"reason\":"
     "\"FailedGetScale\",\"message\":\"the HPA controller was unable to get the target''s current scale: "
     "deployments/scale.apps \\\"api\\\" not found\"}]'}}, spec: {maxReplicas: 5}, status: {currentReplicas: 0, "
     "desiredReplicas: 0}}",
     NULL, WS_HEALTH_DEGRADED, "deployments/scale.apps \"api\" not found"},
    {"hpa v1 without conditions",
     "{" HPA1 "metadata: {name: api}, spec: {maxReplicas: 5}, status: {currentReplicas: 0, desiredReplicas: 0}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting to Autoscale"},
    {"hpa observedGeneration behind",
     "{" HPA2 "metadata: {name: api, generation: 2}, spec: {}, status: {observedGeneration: 1, conditions: "
     "[{type: AbleToScale, status: 'True'}]}}",
     NULL, WS_HEALTH_PROGRESSING, "observed generation 1 of 2"},

    /* --- Argo Rollouts Rollout ---------------------------------------------- */
    {"rollout canary paused at a pause step", "rollout_suspended_canary_pause_step.yaml", NULL,
     WS_HEALTH_SUSPENDED, "Rollout is paused: CanaryPauseStep (step 2 of 4)"},
    {"rollout blue-green waiting for promotion", "rollout_suspended_bluegreen_awaiting_promotion.yaml", NULL,
     WS_HEALTH_SUSPENDED, "Rollout is paused: BlueGreenPause"},
    {"rollout aborted", "rollout_degraded_aborted.yaml", NULL, WS_HEALTH_DEGRADED,
     "RolloutAborted: Rollout aborted update to revision 6: Metric \"p95-latency\" assessed Failed"},
    {"rollout progress deadline exceeded", "rollout_degraded_progress_deadline.yaml", NULL, WS_HEALTH_DEGRADED,
     "ProgressDeadlineExceeded: ReplicaSet \"tokenizer-5d8f7c9b6\" has timed out progressing."},
    {"rollout fully promoted", "rollout_healthy_fully_promoted.yaml", NULL, WS_HEALTH_HEALTHY,
     "Rollout is healthy"},
    {"rollout generation not yet observed (status still Healthy)", "rollout_progressing_generation.yaml", NULL,
     WS_HEALTH_PROGRESSING, "Waiting for rollout spec update to be observed (observed generation 11 of 12)"},
    {"rollout without a phase (v0.10), steps done and stable", "rollout_healthy_legacy_v0_10.yaml", NULL,
     WS_HEALTH_HEALTHY, "Rollout is healthy: 3 of 3 replicas updated and available"},
    {"rollout just created, no status",
     "{" ROLLOUT "metadata: {name: ranker, generation: 1}, " RO_CANARY "}", NULL, WS_HEALTH_PROGRESSING,
     "Waiting for rollout spec update to be observed"},
    {"rollout observedGeneration as an integer, behind",
     "{" ROLLOUT "metadata: {name: ranker, generation: 5}, " RO_CANARY "status: {observedGeneration: 4, phase: "
     "Healthy}}",
     NULL, WS_HEALTH_PROGRESSING, "observed generation 4 of 5"},
    {"rollout v0.9: observedGeneration is a pod hash, says nothing",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: 7d5f9b8c4, currentPodHash: 64d8b9c7f5, stableRS: "
     "64d8b9c7f5, replicas: 3, updatedReplicas: 3, availableReplicas: 3}}",
     NULL, WS_HEALTH_HEALTHY, "Rollout is healthy"},
    {"rollout v0.9: an all-digit pod hash above the generation says nothing",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '586473921', currentPodHash: 64d8b9c7f5, "
     "stableRS: 64d8b9c7f5, replicas: 3, updatedReplicas: 3, availableReplicas: 3}}",
     NULL, WS_HEALTH_HEALTHY, "Rollout is healthy"},
    {"rollout workloadRef: the referenced Deployment's generation not observed",
     "{" ROLLOUT "metadata: {name: ranker, generation: 2, annotations: {rollout.argoproj.io/workload-generation: "
     "'3'}}, spec: {replicas: 3, workloadRef: {apiVersion: apps/v1, kind: Deployment, name: ranker}, strategy: "
     "{canary: {steps: [{setWeight: 50}]}}}, status: {observedGeneration: '2', workloadObservedGeneration: '2', "
     "phase: Healthy}}",
     NULL, WS_HEALTH_PROGRESSING, "referenced workload generation 3, observed 2"},
    {"rollout workloadRef: the controller has not looked at the Deployment yet",
     "{" ROLLOUT "metadata: {name: ranker, generation: 2, annotations: {rollout.argoproj.io/workload-generation: "
     "'1'}}, spec: {replicas: 3, workloadRef: {apiVersion: apps/v1, kind: Deployment, name: ranker}, strategy: "
     "{canary: {steps: [{setWeight: 50}]}}}, status: {observedGeneration: '2', phase: Progressing}}",
     NULL, WS_HEALTH_PROGRESSING, "(referenced workload generation 1)"},
    {"rollout workloadRef observed",
     "{" ROLLOUT "metadata: {name: ranker, generation: 2, annotations: {rollout.argoproj.io/workload-generation: "
     "'3'}}, spec: {replicas: 3, workloadRef: {apiVersion: apps/v1, kind: Deployment, name: ranker}, strategy: "
     "{canary: {steps: [{setWeight: 50}]}}}, status: {observedGeneration: '2', workloadObservedGeneration: '3', "
     "phase: Healthy}}",
     NULL, WS_HEALTH_HEALTHY, "Rollout is healthy"},
    {"rollout resumed, controller not caught up yet",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', controllerPause: true, phase: Paused, "
     "message: CanaryPauseStep}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting for rollout to unpause"},
    {"rollout phase Progressing",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', phase: Progressing, message: more replicas "
     "need to be updated}}",
     NULL, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: more replicas need to be updated"},
    {"rollout phase Paused by spec.paused",
     "{" ROLLOUT RO_META "spec: {paused: true, replicas: 3, strategy: {blueGreen: {activeService: a}}}, status: "
     "{observedGeneration: '4', phase: Paused, message: manually paused}}",
     NULL, WS_HEALTH_SUSPENDED, "Rollout is paused: manually paused"},
    {"rollout phase Degraded from InvalidSpec",
     "{" ROLLOUT RO_META "spec: {replicas: 3, strategy: {}}, status: {observedGeneration: '4', phase: Degraded, "
     "message: 'InvalidSpec: The Rollout \"ranker\" is invalid: spec.strategy.strategy: Required value'}}",
     NULL, WS_HEALTH_DEGRADED, "InvalidSpec: The Rollout \"ranker\" is invalid"},
    {"rollout phase this rule does not know",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', phase: Scaling}}", NULL, WS_HEALTH_UNKNOWN,
     "Rollout phase is \"Scaling\""},
    {"rollout without a phase: InvalidSpec",
     "{" ROLLOUT RO_META "spec: {replicas: 3, strategy: {}}, status: {observedGeneration: '4', conditions: [{type: "
     "InvalidSpec, status: 'True', reason: InvalidSpec, message: 'The Rollout \"ranker\" is invalid: "
     "spec.strategy.strategy: Required value'}]}}",
     NULL, WS_HEALTH_DEGRADED, "InvalidSpec: The Rollout \"ranker\" is invalid"},
    {"rollout without a phase: aborted",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', abort: true, currentPodHash: 5c8d, stableRS: "
     "64d8, conditions: [{type: Progressing, status: 'False', reason: RolloutAborted, message: Rollout is "
     "aborted}]}}",
     NULL, WS_HEALTH_DEGRADED, "RolloutAborted: Rollout is aborted"},
    {"rollout without a phase: progress deadline exceeded",
     "{" ROLLOUT RO_META RO_BLUEGREEN "status: {observedGeneration: '4', currentPodHash: 5c8d, conditions: [{type: "
     "Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: 'ReplicaSet \"ranker-5c8d\" has "
     "timed out progressing.'}]}}",
     NULL, WS_HEALTH_DEGRADED, "ProgressDeadlineExceeded: ReplicaSet \"ranker-5c8d\" has timed out"},
    {"rollout without a phase: canary paused at a step",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', currentPodHash: 5c8d, stableRS: 64d8, "
     "currentStepIndex: 1, controllerPause: true, pauseConditions: [{reason: CanaryPauseStep, startTime: "
     "'2025-06-03T10:00:00Z'}], replicas: 4, updatedReplicas: 2, availableReplicas: 4}}",
     NULL, WS_HEALTH_SUSPENDED, "Rollout is paused: CanaryPauseStep (step 2 of 2)"},
    {"rollout without a phase: spec.paused",
     "{" ROLLOUT RO_META "spec: {paused: true, replicas: 3, strategy: {canary: {}}}, status: {observedGeneration: "
     "'4', currentPodHash: 5c8d, stableRS: 5c8d}}",
     NULL, WS_HEALTH_SUSPENDED, "Rollout is paused: manually paused"},
    {"rollout without a phase: status not reconciled",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4'}}", NULL, WS_HEALTH_PROGRESSING,
     "status has not been reconciled"},
    {"rollout without a phase: replicas to update",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', currentPodHash: 5c8d, stableRS: 64d8, "
     "replicas: 3, updatedReplicas: 1, availableReplicas: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "1 of 3 replicas updated"},
    {"rollout without a phase: updated replicas becoming available",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', currentPodHash: 5c8d, stableRS: 64d8, "
     "replicas: 3, updatedReplicas: 3, availableReplicas: 2}}",
     NULL, WS_HEALTH_PROGRESSING, "2 of 3 updated replicas are available"},
    {"rollout without a phase: canary, old replicas pending termination",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', currentPodHash: 5c8d, stableRS: 64d8, "
     "replicas: 4, updatedReplicas: 3, availableReplicas: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "1 old replicas are pending termination"},
    {"rollout without a phase: canary steps not done (v0.7 stableRS under canary)",
     "{" ROLLOUT RO_META RO_CANARY "status: {observedGeneration: '4', currentPodHash: 5c8d, canary: {stableRS: "
     "64d8}, replicas: 3, updatedReplicas: 3, availableReplicas: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "waiting for all steps to complete"},
    {"rollout without a phase: blue-green cutover pending",
     "{" ROLLOUT RO_META RO_BLUEGREEN "status: {observedGeneration: '4', currentPodHash: 5c8d, stableRS: 64d8, "
     "blueGreen: {activeSelector: 64d8, previewSelector: 5c8d}, replicas: 4, updatedReplicas: 2, "
     "availableReplicas: 4}}",
     NULL, WS_HEALTH_PROGRESSING, "active service cutover pending"},
    {"rollout without a phase: blue-green waiting for post-promotion analysis",
     "{" ROLLOUT RO_META RO_BLUEGREEN "status: {observedGeneration: '4', currentPodHash: 5c8d, stableRS: 64d8, "
     "blueGreen: {activeSelector: 5c8d}, replicas: 4, updatedReplicas: 2, availableReplicas: 4}}",
     NULL, WS_HEALTH_PROGRESSING, "waiting for analysis to complete"},
    {"rollout without a phase: blue-green promoted (v0.7, no stableRS)",
     "{" ROLLOUT RO_META RO_BLUEGREEN "status: {observedGeneration: '4', currentPodHash: 5c8d, blueGreen: "
     "{activeSelector: 5c8d}, replicas: 2, updatedReplicas: 2, availableReplicas: 2}}",
     NULL, WS_HEALTH_HEALTHY, "Rollout is healthy: 2 of 2 replicas"},
    {"a Rollout kind of another group",
     "{apiVersion: rollouts.example.com/v1, kind: Rollout, metadata: {name: x, generation: 1}, spec: {}}", NULL,
     WS_HEALTH_HEALTHY, "no health check for Rollout"},

    /* --- everything else ------------------------------------------------- */
    {"no object", NULL, NULL, WS_HEALTH_MISSING, "does not exist"},
    {"json null", "[null]", NULL, WS_HEALTH_MISSING, "does not exist"},
    {"ConfigMap", "{apiVersion: v1, kind: ConfigMap, metadata: {name: settings}, data: {a: b}}", NULL,
     WS_HEALTH_HEALTHY, "no health check for ConfigMap"},
    /* (InferenceService has a rule now, in health_ml.c: a made-up kind here) */
    {"custom resource with observedGeneration behind",
     "{apiVersion: features.acme.io/v1, kind: FeatureView, metadata: {name: clicks, generation: 4}, "
     "spec: {}, status: {observedGeneration: 3}}",
     NULL, WS_HEALTH_PROGRESSING, "observed generation 3 of 4"},
    {"custom resource up to date",
     "{apiVersion: features.acme.io/v1, kind: FeatureView, metadata: {name: clicks, generation: 4}, "
     "spec: {}, status: {observedGeneration: 4}}",
     NULL, WS_HEALTH_HEALTHY, "no health check for FeatureView"},
    {"not an object", "[[1, 2]]", NULL, WS_HEALTH_UNKNOWN, "Not a Kubernetes object"},
};

static void test_cases(void)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        json_t *obj = cases[i].obj ? load(cases[i].obj) : NULL;
        json_t *pods = cases[i].pods ? load(cases[i].pods) : NULL;
        const json_t *arg = obj;
        struct ws_health h;
        int ok;

        /* "[x]" wraps a value that is not a mapping. */
        if (json_is_array(obj) && cases[i].obj[0] == '[')
            arg = json_array_get(obj, 0);
        memset(&h, 0xA5, sizeof(h));
        ws_health_assess(&h, arg, pods);
        ok = (cases[i].obj == NULL || obj) && (cases[i].pods == NULL || pods) &&
             h.status == cases[i].want && memchr(h.message, '\0', sizeof(h.message)) &&
             strstr(h.message, cases[i].msg) && !strchr(h.message, '\n');
        if (!tap_ok(ok, "%s: %s", cases[i].name, ws_health_str(cases[i].want)))
            tap_diag("  got %s \"%.*s\", want %s containing \"%s\"", ws_health_str(h.status),
                     (int)sizeof(h.message), h.message, ws_health_str(cases[i].want), cases[i].msg);
        json_decref(obj);
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
        {"live job: its controller-uid", "job_degraded_crashloop.json", 256, 1,
         "batch.kubernetes.io/controller-uid=d2c1b0a9-8f7e-4d6c-b5a4-938271605f4e"},
        {"manual selector: labels sorted, then expressions",
         "{" JOB "metadata: {name: sweep}, spec: {manualSelector: true, selector: {matchLabels: {team: ml, app: "
         "sweep}, matchExpressions: [{key: tier, operator: In, values: [gpu, cpu]}, {key: canary, operator: "
         "DoesNotExist}, {key: track, operator: Exists}, {key: zone, operator: NotIn, values: [us-east-1a]}]}}}",
         256, 1, "app=sweep,team=ml,tier in (gpu,cpu),!canary,track,zone notin (us-east-1a)"},
        {"job without a selector: the job-name label", "{" JOB "metadata: {name: sft-run}, spec: {}}", 256, 1,
         "batch.kubernetes.io/job-name=sft-run"},
        {"too small a buffer: no selector", "job_degraded_crashloop.json", 40, 0, ""},
        {"deployment: no pods needed", "deployment_healthy_available.json", 256, 0, ""},
        {"a Job kind of another group", "{apiVersion: example.com/v1, kind: Job, metadata: {name: x}}", 256, 0,
         ""},
    };
    size_t i;
    char buf[256];

    for (i = 0; i < WS_ARRAY_SIZE(sel); i++) {
        json_t *obj = load(sel[i].obj);
        memset(buf, 'x', sizeof(buf));
        tap_is_int(ws_health_pod_selector(obj, buf, sel[i].len), sel[i].want, sel[i].name);
        tap_is_str(buf, sel[i].selector, sel[i].name);
        json_decref(obj);
    }
    tap_is_int(ws_health_pod_selector(NULL, buf, sizeof(buf)), 0, "NULL object: no selector");
    tap_is_int(ws_health_pod_selector(NULL, NULL, 0), 0, "NULL buffer: no selector");
}

/* --- names and message hygiene ---------------------------------------------- */

static void test_names(void)
{
    tap_is_str(ws_health_str(WS_HEALTH_HEALTHY), "Healthy", "name: Healthy");
    tap_is_str(ws_health_str(WS_HEALTH_PROGRESSING), "Progressing", "name: Progressing");
    tap_is_str(ws_health_str(WS_HEALTH_DEGRADED), "Degraded", "name: Degraded");
    tap_is_str(ws_health_str(WS_HEALTH_SUSPENDED), "Suspended", "name: Suspended");
    tap_is_str(ws_health_str(WS_HEALTH_MISSING), "Missing", "name: Missing");
    tap_is_str(ws_health_str(WS_HEALTH_UNKNOWN), "Unknown", "name: Unknown");
    tap_is_str(ws_health_str((enum ws_health_status)99), "Unknown", "name: out of range");
}

/* A controller message longer than the buffer, in multi-byte UTF-8 with
 * newlines: cut on a character boundary, marked, on one line. */
static void test_long_message(void)
{
    json_t *rs = load("{" RS "metadata: {name: x, generation: 1}, spec: {replicas: 1}, status: "
                      "{observedGeneration: 1, conditions: [{type: ReplicaFailure, status: 'True'}]}}");
    json_t *c = json_array_get(json_object_get(json_object_get(rs, "status"), "conditions"), 0);
    char msg[3000] = "";
    struct ws_health h;
    size_t i, n;
    int valid = 1;

    for (i = 0; i < 150; i++) /* ~1,800 bytes */
        strcat(msg, i % 7 == 6 ? "Überschreitung\n\n  " : "Kontingent ");
    json_object_set_new(c, "message", json_string(msg)); /* reference stolen */
    ws_health_assess(&h, rs, NULL);
    n = strlen(h.message);
    tap_is_int(h.status, WS_HEALTH_DEGRADED, "long message: still Degraded");
    tap_ok(n < sizeof(h.message) && n > sizeof(h.message) - 8, "long message: fills the buffer (%zu)", n);
    tap_ok(n >= 3 && strcmp(h.message + n - 3, "...") == 0, "long message: ends with ...");
    tap_ok(!strchr(h.message, '\n') && !strstr(h.message, "  "), "long message: whitespace collapsed");
    for (i = 0; i < n; i++) { /* every lead byte is followed by its continuation bytes */
        unsigned char b = (unsigned char)h.message[i];
        size_t k = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
        for (; k > 0; k--)
            if (++i >= n || ((unsigned char)h.message[i] & 0xC0) != 0x80)
                valid = 0;
    }
    tap_ok(valid, "long message: valid UTF-8 after the cut");
    json_decref(rs);
}

int main(void)
{
    test_cases();
    test_pod_selector();
    test_names();
    test_long_message();
    return tap_done();
}
