/* health_ml.c — built-in health for ML kinds: training jobs (Kubeflow, Trainer,
 * JobSet, Volcano, Kueue), model servers (KServe, Seldon, Ray Serve, Deployments
 * that load a model) and feature pipelines (freshness against an SLA, Argo
 * Workflows, Ray). Pure like health.c: the live object, its pods and "now". */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

#include "health/health_int.h" /* last: it defines short names for this file */

/* How long a condition may stay False with a reason that is not known to be
 * final before it counts as Degraded: a Deployment's default progress
 * deadline, which is also how long Knative waits for a revision. */
#define FALSE_GRACE_S 600
/* a controller still at work (no GPU free for a replica, a big model
   loading) normally gives up by itself; if it never does, this bounds it */
#define WORKING_GRACE_S 3600

/* --- small helpers ------------------------------------------------------------ */

/* A compact duration as Go prints it, zero units at the end dropped:
 * "3h10m", "1h", "1h0m1s", "25m48s", "45s". Exact, so an age just past an
 * SLA never reads the same as the SLA. */
static const char *span(char buf[32], int64_t s)
{
    long long h, m, sec;
    if (s < 0)
        s = 0;
    h = (long long)(s / 3600);
    m = (long long)(s % 3600 / 60);
    sec = (long long)(s % 60);
    if (h && sec)
        snprintf(buf, 32, "%lldh%lldm%llds", h, m, sec);
    else if (h && m)
        snprintf(buf, 32, "%lldh%lldm", h, m);
    else if (h)
        snprintf(buf, 32, "%lldh", h);
    else if (m && sec)
        snprintf(buf, 32, "%lldm%llds", m, sec);
    else if (m)
        snprintf(buf, 32, "%lldm", m);
    else
        snprintf(buf, 32, "%llds", sec);
    return buf;
}

/* An RFC 3339 time at v; 0, or -1 when absent or malformed. */
static int time_of(int64_t *out, const json_t *v)
{
    return ws_time_parse_rfc3339(out, text_of(v)) == 0 ? 0 : -1;
}

static void clear(struct text *t)
{
    t->len = 0;
    t->buf[0] = '\0';
}

/* "Kind is suspended", naming the Kueue queue it waits for when it has one. */
static void suspended(struct ws_health *out, const json_t *obj)
{
    const char *queue = str(obj, "metadata", "labels", "kueue.x-k8s.io/queue-name");
    say(out, WS_HEALTH_SUSPENDED, "%s is suspended%s%s%s", str(obj, "kind"),
        *queue ? " (waiting for admission to queue " : "", queue, *queue ? ")" : "");
}

/* --- pods of a job ------------------------------------------------------------ */

/* Labels operators put on a pod saying which part of the job it is. */
static const char *const role_labels[] = {
    "training.kubeflow.org/replica-type", "jobset.sigs.k8s.io/replicatedjob-name", "volcano.sh/task-spec",
    "ray.io/group",
};

static void name_pod(struct text *t, const json_t *pod)
{
    size_t i;
    add(t, "pod %s", str(pod, "metadata", "name"));
    for (i = 0; i < WS_ARRAY_SIZE(role_labels); i++) {
        const char *role = str(pod, "metadata", "labels", role_labels[i]);
        if (*role) {
            add(t, " (%s)", role);
            return;
        }
    }
}

/* A pod that crash-loops or cannot pull its image fails the job at once
 * (operators restart it forever, or count failures far slower). Returns 1
 * when it said Degraded. Otherwise `waiting` names the first pod the
 * scheduler cannot place (for lack of GPUs, mostly): the reason it waits. */
static int inspect_pods(struct ws_health *out, const json_t *pods, const char *uid, struct text *waiting)
{
    const json_t *pod, *first = NULL, *sched;
    size_t i, unscheduled = 0;
    struct text t;
    json_array_foreach(pods, i, pod) {
        if (!pod_of(pod, uid))
            continue;
        clear(&t);
        name_pod(&t, pod);
        add(&t, ": ");
        if (stuck_containers(&t, pod)) {
            say(out, WS_HEALTH_DEGRADED, "%s", t.buf);
            return 1;
        }
        if (streq(str(pod, "status", "phase"), "Pending") && cond_is(pod, "PodScheduled", "False") &&
            !unscheduled++)
            first = pod;
    }
    if (!first)
        return 0;
    sched = cond(first, "PodScheduled");
    name_pod(waiting, first);
    if (unscheduled > 1)
        add(waiting, " and %zu more", unscheduled - 1);
    if (streq(str(sched, "reason"), "Unschedulable"))
        add(waiting, " %s unschedulable: %s", unscheduled > 1 ? "are" : "is",
            or_else(str(sched, "message"), "no node fits"));
    else {
        add(waiting, " %s not scheduled yet: ", unscheduled > 1 ? "are" : "is");
        pending_reason(waiting, first); /* SchedulingGated, a scheduler's own reason... */
    }
    return 0;
}

/* Progressing: why it waits (an unschedulable pod) first, then what its
 * controller says. */
static void progressing(struct ws_health *out, const struct text *waiting, const struct text *progress)
{
    say(out, WS_HEALTH_PROGRESSING, "%s%s%s", waiting->buf, waiting->len && progress->len ? "; " : "",
        progress->buf);
}

/* " (workers: 3 active, 1 failed; ...)" from a list of child job counts
 * (JobSet's replicatedJobsStatus, TrainJob's jobsStatus). */
static void jobs_summary(struct text *t, const json_t *list)
{
    static const char *const counts[] = {"ready", "active", "succeeded", "failed", "suspended"};
    const json_t *j;
    size_t i, k;
    json_array_foreach(list, i, j) {
        int any = 0;
        add(t, "%s%s:", i ? "; " : " (", str(j, "name"));
        for (k = 0; k < WS_ARRAY_SIZE(counts); k++)
            if (num(j, counts[k]))
                add(t, "%s %lld %s", any++ ? "," : "", num(j, counts[k]), counts[k]);
        if (!any)
            add(t, " 0 active");
    }
    if (json_array_size(list))
        add(t, ")");
}

/* --- Kubeflow training operator: PyTorchJob, TFJob, MPIJob, ... ---------------- */

static void kubeflow_health(struct ws_health *out, const json_t *job, const json_t *pods, int64_t now)
{
    const json_t *c, *latest = NULL, *rs;
    struct text t = {.len = 0}, wait = {.len = 0};
    const char *key;
    size_t i;
    int first = 1;

    if ((c = cond_is(job, "Failed", "True")) != NULL) {
        say(out, WS_HEALTH_DEGRADED, "%s", or_else(str(c, "message"), or_else(str(c, "reason"), "job failed")));
        return;
    }
    if ((c = cond_is(job, "Succeeded", "True")) != NULL) {
        say(out, WS_HEALTH_HEALTHY, "%s", or_else(str(c, "message"), "job succeeded"));
        return;
    }
    if (cond_is(job, "Suspended", "True") || json_is_true(get(job, "spec", "runPolicy", "suspend"))) {
        suspended(out, job);
        return;
    }
    if (inspect_pods(out, pods, str(job, "metadata", "uid"), &wait))
        return;
    /* The operator flips Running and Restarting; the last True one is now. */
    json_array_foreach(get(job, "status", "conditions"), i, c)
        if (streq(str(c, "status"), "True") &&
            (streq(str(c, "type"), "Running") || streq(str(c, "type"), "Restarting") ||
             streq(str(c, "type"), "Created")))
            latest = c;
    if (latest)
        add(&t, "%s", or_else(str(latest, "message"), str(latest, "type")));
    else
        add(&t, "%s %s: waiting for the training operator", str(job, "kind"), str(job, "metadata", "name"));
    json_object_foreach((json_t *)get(job, "status", "replicaStatuses"), key, rs) {
        add(&t, "%s%s: %lld active", first ? " (" : "; ", key, num(rs, "active"));
        if (num(rs, "succeeded"))
            add(&t, ", %lld succeeded", num(rs, "succeeded"));
        if (num(rs, "failed"))
            add(&t, ", %lld failed", num(rs, "failed"));
        first = 0;
    }
    if (!first)
        add(&t, ")");
    progressing(out, &wait, &t);
}

/* --- Kubeflow Trainer TrainJob and JobSet ------------------------------------- */

static void trainjob_health(struct ws_health *out, const json_t *tj, const json_t *pods, int64_t now)
{
    const json_t *c;
    struct text t = {.len = 0}, wait = {.len = 0};
    if ((c = cond_is(tj, "Failed", "True")) != NULL) {
        reason_message(&t, c);
        say(out, WS_HEALTH_DEGRADED, "TrainJob failed: %s", or_else(t.buf, "no reason given"));
        return;
    }
    if ((c = cond_is(tj, "Complete", "True")) != NULL) {
        say(out, WS_HEALTH_HEALTHY, "TrainJob complete%s%s", *str(c, "message") ? ": " : "", str(c, "message"));
        return;
    }
    if (cond_is(tj, "Suspended", "True") || json_is_true(get(tj, "spec", "suspend"))) {
        suspended(out, tj);
        return;
    }
    /* No uid filter: pods belong to the JobSet's Jobs, not to the TrainJob. */
    if (inspect_pods(out, pods, "", &wait))
        return;
    if ((c = cond_is(tj, "Created", "False")) != NULL) {
        add(&t, "TrainJob not created yet: ");
        reason_message(&t, c);
    } else
        add(&t, "TrainJob %s", json_array_size(get(tj, "status", "jobsStatus")) ? "running" : "starting");
    jobs_summary(&t, get(tj, "status", "jobsStatus"));
    progressing(out, &wait, &t);
}

static void jobset_health(struct ws_health *out, const json_t *js, const json_t *pods, int64_t now)
{
    const char *terminal = str(js, "status", "terminalState");
    const json_t *c;
    struct text t = {.len = 0}, wait = {.len = 0};
    if ((c = cond_is(js, "Failed", "True")) != NULL || streq(terminal, "Failed")) {
        reason_message(&t, c);
        say(out, WS_HEALTH_DEGRADED, "JobSet failed: %s", or_else(t.buf, "no reason given"));
        return;
    }
    if ((c = cond_is(js, "Completed", "True")) != NULL || streq(terminal, "Completed")) {
        say(out, WS_HEALTH_HEALTHY, "JobSet completed%s%s", *str(c, "message") ? ": " : "", str(c, "message"));
        return;
    }
    if (cond_is(js, "Suspended", "True") || json_is_true(get(js, "spec", "suspend"))) {
        suspended(out, js);
        return;
    }
    if (inspect_pods(out, pods, "", &wait))
        return;
    add(&t, "JobSet running");
    if (num(js, "status", "restarts"))
        add(&t, " after %lld restart%s", num(js, "status", "restarts"), num(js, "status", "restarts") == 1 ? "" : "s");
    jobs_summary(&t, get(js, "status", "replicatedJobsStatus"));
    progressing(out, &wait, &t);
}

/* --- Volcano Job ----------------------------------------------------------------- */

static void volcano_health(struct ws_health *out, const json_t *job, const json_t *pods, int64_t now)
{
    static const char *const failed[] = {"Failed", "Terminated", "Terminating", "Aborted", "Aborting"};
    const json_t *state = get(job, "status", "state");
    const char *phase = or_else(str(state, "phase"), "Pending");
    struct text t = {.len = 0}, wait = {.len = 0};
    size_t i;

    if (streq(phase, "Completed")) {
        say(out, WS_HEALTH_HEALTHY, "Volcano Job completed: %lld succeeded", num(job, "status", "succeeded"));
        return;
    }
    /* Terminated/Aborted end the job without success and are not retried;
     * Terminating/Aborting are the way there. */
    for (i = 0; i < WS_ARRAY_SIZE(failed); i++)
        if (streq(phase, failed[i])) {
            reason_message(&t, state);
            say(out, WS_HEALTH_DEGRADED, "Volcano Job %s%s%s (%lld failed, %lld succeeded)", phase,
                t.len ? ": " : "", t.buf, num(job, "status", "failed"), num(job, "status", "succeeded"));
            return;
        }
    if (inspect_pods(out, pods, str(job, "metadata", "uid"), &wait))
        return;
    add(&t, "Volcano Job %s: %lld running, %lld pending", phase, num(job, "status", "running"),
        num(job, "status", "pending"));
    if (num(job, "status", "minAvailable"))
        add(&t, " (minAvailable %lld)", num(job, "status", "minAvailable"));
    if (num(job, "status", "retryCount"))
        add(&t, ", retry %lld", num(job, "status", "retryCount"));
    if (*str(state, "reason") || *str(state, "message")) {
        add(&t, ": ");
        reason_message(&t, state);
    }
    progressing(out, &wait, &t);
}

/* --- Kueue Workload ---------------------------------------------------------------- */

/* A Workload's health is its admission: the job it stands for has its own
 * rule. Finished wins; then admitted (Healthy) or why not (Progressing). */
static void workload_health(struct ws_health *out, const json_t *wl, const json_t *pods, int64_t now)
{
    const json_t *c, *evicted = cond_is(wl, "Evicted", "True");
    const char *cq = str(wl, "status", "admission", "clusterQueue"), *lq = str(wl, "spec", "queueName");
    struct text t = {.len = 0};

    if ((c = cond_is(wl, "Finished", "True")) != NULL) {
        say(out, streq(str(c, "reason"), "Failed") ? WS_HEALTH_DEGRADED : WS_HEALTH_HEALTHY,
            "Workload finished: %s", or_else(str(c, "message"), str(c, "reason")));
        return;
    }
    if (json_is_false(get(wl, "spec", "active"))) {
        /* Deactivated by Kueue after too many requeues: it will not run
         * again by itself. By a person: held on purpose. */
        reason_message(&t, evicted);
        say(out, strstr(t.buf, "RequeuingLimitExceeded") ? WS_HEALTH_DEGRADED : WS_HEALTH_SUSPENDED,
            "Workload is deactivated%s%s", t.len ? ": " : "", t.buf);
        return;
    }
    /* Evicted (preempted, PodsReady timeout...) while still Admitted: its pods
     * are being stopped and it goes back in the queue. */
    if (!evicted && cond_is(wl, "Admitted", "True")) {
        say(out, WS_HEALTH_HEALTHY, "Workload admitted by ClusterQueue %s", or_else(cq, "(unnamed)"));
        return;
    }
    if (evicted) {
        add(&t, "evicted, waiting to be admitted again: ");
        reason_message(&t, evicted);
    } else if ((c = cond_is(wl, "QuotaReserved", "True")) != NULL) {
        add(&t, "quota reserved in ClusterQueue %s, waiting for admission checks", or_else(cq, "(unnamed)"));
        if ((c = cond(wl, "Admitted")) != NULL && *str(c, "message"))
            add(&t, ": %s", str(c, "message"));
    } else if ((c = cond(wl, "QuotaReserved")) != NULL) {
        add(&t, "waiting for quota: %s", or_else(str(c, "message"), str(c, "reason")));
    } else
        add(&t, "waiting for Kueue to consider the workload");
    if (*lq)
        add(&t, " (LocalQueue %s)", lq);
    say(out, WS_HEALTH_PROGRESSING, "Workload not admitted: %s", t.buf);
}

/* --- False conditions of model servers ------------------------------------------- */

/* Reasons for a False condition that waiting will not clear: Knative's failed
 * revisions, a Deployment past its progress deadline or unable to create
 * pods, KServe's runtime and spec errors, the kubelet's Err* and *BackOff.
 * Matched inside the text: KServe joins reasons of multi-node predictors. */
static int terminal_reason(const char *r)
{
    static const char *const final[] = {
        "RevisionFailed", "ContainerMissing", "ProgressDeadlineExceeded", "ExitCode", "FailedCreate",
        "InvalidSpec", "ModelLoadFailed", "RuntimeUnhealthy", "RuntimeNotRecognized", "NoSupportingRuntime",
        "RuntimeDisabled", "InvalidPredictorSpec", "InvalidWorkerSpecNotSet", "InvalidGPUAllocation",
        "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
        "CreateContainerError", "InvalidImageName", "OOMKilled", "InitializingTimeout",
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(final); i++)
        if (strstr(r, final[i]))
            return 1;
    return 0;
}

/* Reasons (or, for Seldon, states in the message) for a False condition
 * while the controller is still at work and will itself give up with one of
 * the terminal reasons above (Knative's and a Deployment's progress
 * deadline): a big model may rightly take longer than our grace period. */
static int in_progress(const json_t *c)
{
    static const char *const working[] = {
        "MinimumReplicasUnavailable", "RevisionMissing", "Deploying", "ContainerCreating", "PodInitializing",
        "ReplicaSetUpdated", "NewReplicaSetCreated", "FoundNewReplicaSet", "ModelProgressing", "ModelStateUnknown",
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(working); i++)
        if (streq(str(c, "reason"), working[i]) || streq(str(c, "message"), working[i]))
            return 1;
    return 0;
}

/* Our answer to "a False condition never leaves it Progressing forever": a
 * terminal reason is Degraded at once; a controller still at work is
 * Progressing (its own deadline normally ends that; WORKING_GRACE_S if it
 * never does); any other False condition (an
 * IngressNotConfigured while the gateway catches up or never will, a
 * scheduler with no room) is Progressing until it has been False for
 * FALSE_GRACE_S, then Degraded. Without a lastTransitionTime the wave
 * deadline decides. */
static void false_condition(struct ws_health *out, const json_t *c, int64_t now)
{
    const char *type = str(c, "type");
    struct text t = {.len = 0};
    char a[32], b[32];
    int64_t since;
    reason_message(&t, c);
    int64_t grace = in_progress(c) ? WORKING_GRACE_S : FALSE_GRACE_S;
    if (terminal_reason(str(c, "reason")))
        say(out, WS_HEALTH_DEGRADED, "%s is False: %s", type, t.buf);
    else if (time_of(&since, get(c, "lastTransitionTime")) < 0)
        say(out, WS_HEALTH_PROGRESSING, "%s is False: %s", type, or_else(t.buf, "no reason given"));
    else if (in_progress(c) && now - since < grace) {
        recheck(out, since + grace, now);
        say(out, WS_HEALTH_PROGRESSING, "%s is False: %s", type, or_else(t.buf, "no reason given"));
    } else if (now - since >= grace)
        say(out, WS_HEALTH_DEGRADED, "%s has been False for %s: %s", type, span(a, now - since),
            or_else(t.buf, "no reason given"));
    else {
        recheck(out, since + grace, now);
        say(out, WS_HEALTH_PROGRESSING, "%s is False (for %s; Degraded after %s): %s", type, span(a, now - since),
            span(b, grace), or_else(t.buf, "no reason given"));
    }
}

/* The False condition to judge by: a terminal one, else the one under the
 * grace period that has been False the longest (it runs out first), else
 * one still at work; the aggregate (`aggregate`, "Ready") only when no
 * component is False. NULL when none is False. */
static const json_t *worst_false(const json_t *obj, const char *aggregate)
{
    const json_t *c, *best = NULL, *agg = NULL;
    int64_t t, best_t = 0;
    size_t i;
    json_array_foreach(get(obj, "status", "conditions"), i, c) {
        if (!streq(str(c, "status"), "False"))
            continue;
        if (terminal_reason(str(c, "reason")))
            return c;
        if (streq(str(c, "type"), aggregate)) {
            agg = c;
            continue;
        }
        if (in_progress(c) || time_of(&t, get(c, "lastTransitionTime")) < 0)
            t = INT64_MAX;
        if (!best || t < best_t) {
            best = c;
            best_t = t;
        }
    }
    return best ? best : agg;
}

/* The condition that is not True to show while Progressing, as "Type is
 * Status: reason: message": the first component one with a reason or
 * message, else the first component one, else the aggregate. 0 when all are
 * True. */
static int first_pending(struct text *t, const json_t *obj, const char *aggregate)
{
    const json_t *c, *pick = NULL, *agg = NULL;
    size_t i;
    json_array_foreach(get(obj, "status", "conditions"), i, c) {
        if (streq(str(c, "status"), "True"))
            continue;
        if (streq(str(c, "type"), aggregate))
            agg = c;
        else if (!pick || (!*str(pick, "reason") && !*str(pick, "message") &&
                           (*str(c, "reason") || *str(c, "message"))))
            pick = c;
    }
    if (!pick && !(pick = agg))
        return 0;
    add(t, "%s is %s", str(pick, "type"), or_else(str(pick, "status"), "Unknown"));
    if (*str(pick, "reason") || *str(pick, "message"))
        add(t, ": ");
    reason_message(t, pick);
    return 1;
}

/* --- KServe InferenceService ---------------------------------------------------- */

static void isvc_health(struct ws_health *out, const json_t *isvc, const json_t *pods, int64_t now)
{
    const json_t *ms = get(isvc, "status", "modelStatus"), *fail = get(ms, "lastFailureInfo"), *c;
    const char *transition = str(ms, "transitionStatus"), *active = str(ms, "states", "activeModelState"),
               *target = str(ms, "states", "targetModelState"), *url = str(isvc, "status", "url");
    struct text t = {.len = 0};

    if (cond_is(isvc, "Stopped", "True")) {
        say(out, WS_HEALTH_SUSPENDED, "InferenceService is stopped");
        return;
    }
    if (generation_pending(out, isvc, 0))
        return;
    /* A failed load of the new model wins over Ready: KServe keeps Ready True
     * while the previous revision serves, but the spec applied did not load. */
    if (streq(transition, "BlockedByFailedLoad") || streq(transition, "InvalidSpec") ||
        streq(active, "FailedToLoad")) {
        reason_message(&t, fail);
        if (t.len && (*str(fail, "location") || num(fail, "exitCode"))) {
            add(&t, " (%s", str(fail, "location"));
            if (num(fail, "exitCode"))
                add(&t, "%sexit code %lld", *str(fail, "location") ? ", " : "", num(fail, "exitCode"));
            add(&t, ")");
        }
        say(out, WS_HEALTH_DEGRADED, "%s: %s",
            streq(transition, "InvalidSpec") ? "predictor spec is invalid" : "model failed to load",
            or_else(t.buf, or_else(transition, active)));
        return;
    }
    if (cond_is(isvc, "Ready", "True")) {
        if (*active && !streq(active, "Loaded"))
            say(out, WS_HEALTH_PROGRESSING, "InferenceService is Ready, its model is %s", active);
        else if (streq(transition, "InProgress"))
            say(out, WS_HEALTH_PROGRESSING,
                "InferenceService is Ready with the previous model; the new one is %s",
                or_else(target, "loading"));
        else
            say(out, WS_HEALTH_HEALTHY, "InferenceService is ready%s%s%s", *active ? ", model Loaded" : "",
                *url ? " at " : "", url);
        return;
    }
    if (!json_array_size(get(isvc, "status", "conditions"))) {
        say(out, WS_HEALTH_PROGRESSING, "Waiting for the KServe controller to report status");
        return;
    }
    if ((c = worst_false(isvc, "Ready")) != NULL) {
        false_condition(out, c, now);
        return;
    }
    if (!first_pending(&t, isvc, "Ready"))
        add(&t, "Waiting for the InferenceService to become Ready");
    say(out, WS_HEALTH_PROGRESSING, "%s", t.buf);
}

/* --- Seldon ---------------------------------------------------------------------- */

static void seldon_deployment_health(struct ws_health *out, const json_t *sd, const json_t *pods, int64_t now)
{
    const char *state = str(sd, "status", "state"), *desc = str(sd, "status", "description"),
               *url = str(sd, "status", "address", "url");
    if (generation_pending(out, sd, 0))
        return;
    if (streq(state, "Available"))
        say(out, WS_HEALTH_HEALTHY, "SeldonDeployment available%s%s", *url ? " at " : "", url);
    else if (streq(state, "Failed"))
        say(out, WS_HEALTH_DEGRADED, "SeldonDeployment failed: %s", or_else(desc, "no description"));
    else
        say(out, WS_HEALTH_PROGRESSING, "SeldonDeployment %s%s%s", or_else(state, "Creating"), *desc ? ": " : "",
            desc);
}

/* Seldon Core v2 Model and Server: Ready rolls the others up. A Model's
 * ModelReady carries the scheduler's state (ModelFailed, ScheduleFailed...)
 * in its message and the detail in its reason. */
static void seldon_v2_health(struct ws_health *out, const json_t *obj, const json_t *pods, int64_t now)
{
    const json_t *mr = cond(obj, "ModelReady"), *c;
    const char *kind = str(obj, "kind");
    struct text t = {.len = 0};
    if (generation_pending(out, obj, 0))
        return;
    if (cond_is(obj, "Ready", "True")) {
        if (json_is_integer(get(obj, "status", "replicas")))
            say(out, WS_HEALTH_HEALTHY, "%s ready on %lld replica%s", kind, num(obj, "status", "replicas"),
                num(obj, "status", "replicas") == 1 ? "" : "s");
        else
            say(out, WS_HEALTH_HEALTHY, "%s ready", kind);
        return;
    }
    if (mr && !streq(str(mr, "status"), "True") &&
        (strstr(str(mr, "message"), "ModelFailed") || strstr(str(mr, "message"), "TerminateFailed") ||
         strstr(str(mr, "reason"), "ModelFailed"))) {
        say(out, WS_HEALTH_DEGRADED, "%s %s: %s", kind, or_else(str(mr, "message"), "ModelFailed"),
            or_else(str(mr, "reason"), "no reason given"));
        return;
    }
    if ((c = worst_false(obj, "Ready")) != NULL) {
        false_condition(out, c, now);
        return;
    }
    if (!first_pending(&t, obj, "Ready"))
        add(&t, "Waiting for the Seldon scheduler to report status");
    say(out, WS_HEALTH_PROGRESSING, "%s", t.buf);
}

/* --- Ray ------------------------------------------------------------------------- */

static void raycluster_health(struct ws_health *out, const json_t *rc, const json_t *pods, int64_t now)
{
    const char *state = str(rc, "status", "state");
    const json_t *c, *head = cond(rc, "HeadPodReady");
    struct text t = {.len = 0}, wait = {.len = 0};
    if (json_is_true(get(rc, "spec", "suspend")) || cond_is(rc, "RayClusterSuspended", "True") ||
        streq(state, "suspended")) {
        suspended(out, rc);
        return;
    }
    if ((c = cond_is(rc, "ReplicaFailure", "True")) != NULL || streq(state, "failed")) {
        reason_message(&t, c ? c : get(rc, "status"));
        say(out, WS_HEALTH_DEGRADED, "RayCluster cannot create its pods: %s", or_else(t.buf, "state failed"));
        return;
    }
    if (inspect_pods(out, pods, str(rc, "metadata", "uid"), &wait))
        return;
    /* HeadPodReady is live; state "ready" (kept for old KubeRay) only ever
     * says the cluster was provisioned once. */
    if (head ? streq(str(head, "status"), "True") : streq(state, "ready")) {
        say(out, WS_HEALTH_HEALTHY, "RayCluster ready: head ready, %lld of %lld workers available",
            num(rc, "status", "availableWorkerReplicas"), num(rc, "status", "desiredWorkerReplicas"));
        return;
    }
    add(&t, "RayCluster starting: %lld of %lld workers available", num(rc, "status", "availableWorkerReplicas"),
        num(rc, "status", "desiredWorkerReplicas"));
    if (head && (*str(head, "reason") || *str(head, "message"))) {
        add(&t, "; head pod not ready: ");
        reason_message(&t, head);
    }
    progressing(out, &wait, &t);
}

static void rayjob_health(struct ws_health *out, const json_t *rj, const json_t *pods, int64_t now)
{
    const char *deploy = str(rj, "status", "jobDeploymentStatus"), *job = str(rj, "status", "jobStatus"),
               *msg = str(rj, "status", "message");
    struct text t = {.len = 0}, wait = {.len = 0};
    if (streq(deploy, "Complete") && streq(job, "SUCCEEDED")) {
        say(out, WS_HEALTH_HEALTHY, "Ray job SUCCEEDED%s%s", *msg ? ": " : "", msg);
        return;
    }
    if (streq(deploy, "Complete") || streq(deploy, "Failed")) {
        reason_message(&t, get(rj, "status"));
        say(out, WS_HEALTH_DEGRADED, "Ray job %s%s%s", or_else(job, "failed"), t.len ? ": " : "", t.buf);
        return;
    }
    if (streq(deploy, "Suspended") || streq(deploy, "Suspending") || json_is_true(get(rj, "spec", "suspend"))) {
        suspended(out, rj);
        return;
    }
    if (inspect_pods(out, pods, "", &wait))
        return;
    add(&t, "Ray job %s (%s)", or_else(job, "not submitted"), or_else(deploy, "Initializing"));
    if (*str(rj, "status", "rayClusterName"))
        add(&t, " on RayCluster %s", str(rj, "status", "rayClusterName"));
    if (*msg)
        add(&t, ": %s", msg);
    progressing(out, &wait, &t);
}

/* Serve applications that failed to deploy fail the service (Ray Serve keeps
 * retrying, but the config applied does not run). 1 when it said Degraded. */
static int serve_apps_failed(struct ws_health *out, const json_t *apps, const char *which)
{
    const char *name;
    json_t *app;
    json_object_foreach((json_t *)apps, name, app) {
        const char *st = str(app, "status");
        if (streq(st, "DEPLOY_FAILED") || streq(st, "UNHEALTHY")) {
            say(out, WS_HEALTH_DEGRADED, "Serve application %s%s is %s: %s", name, which, st,
                or_else(str(app, "message"), "no message"));
            return 1;
        }
    }
    return 0;
}

static void rayservice_health(struct ws_health *out, const json_t *rs, const json_t *pods, int64_t now)
{
    const json_t *ready = cond(rs, "Ready"), *upgrade = cond_is(rs, "UpgradeInProgress", "True");
    const char *svc = str(rs, "status", "serviceStatus");
    /* spelled NumServeEndpoints before KubeRay 1.2 */
    long long endpoints = num(rs, "status", "numServeEndpoints") + num(rs, "status", "NumServeEndpoints");
    struct text t = {.len = 0};
    if (generation_pending(out, rs, 0))
        return;
    if (serve_apps_failed(out, get(rs, "status", "activeServiceStatus", "applicationStatuses"), "") ||
        serve_apps_failed(out, get(rs, "status", "pendingServiceStatus", "applicationStatuses"),
                          " (pending cluster)"))
        return;
    if (ready && streq(str(ready, "reason"), "InitializingTimeout")) {
        reason_message(&t, ready);
        say(out, WS_HEALTH_DEGRADED, "RayService did not start: %s", t.buf);
        return;
    }
    if (upgrade) {
        reason_message(&t, upgrade);
        say(out, WS_HEALTH_PROGRESSING, "RayService upgrade in progress%s%s", t.len ? ": " : "", t.buf);
        return;
    }
    /* KubeRay before 1.3 has no conditions, only serviceStatus. */
    if (ready ? streq(str(ready, "status"), "True") : streq(svc, "Running")) {
        say(out, WS_HEALTH_HEALTHY, "RayService serving on %lld endpoint%s", endpoints, endpoints == 1 ? "" : "s");
        return;
    }
    if (ready)
        reason_message(&t, ready);
    say(out, WS_HEALTH_PROGRESSING, "RayService not ready: %s", or_else(t.buf, or_else(svc, "starting")));
}

/* --- Argo Workflows -------------------------------------------------------------- */

static void workflow_health(struct ws_health *out, const json_t *wf, const json_t *pods, int64_t now)
{
    const char *phase = str(wf, "status", "phase"), *msg = str(wf, "status", "message"),
               *progress = str(wf, "status", "progress");
    if (streq(phase, "Succeeded"))
        say(out, WS_HEALTH_HEALTHY, "Workflow succeeded%s%s", *progress ? " " : "", progress);
    else if (streq(phase, "Failed") || streq(phase, "Error"))
        say(out, WS_HEALTH_DEGRADED, "Workflow %s: %s", streq(phase, "Error") ? "errored" : "failed",
            or_else(msg, "no message"));
    else if (json_is_true(get(wf, "spec", "suspend")))
        say(out, WS_HEALTH_SUSPENDED, "Workflow is suspended");
    else
        say(out, WS_HEALTH_PROGRESSING, "Workflow %s%s%s%s%s", or_else(phase, "Pending"), *progress ? " " : "",
            progress, *msg ? ": " : "", msg);
}

/* A CronWorkflow that cannot submit its workflows (bad spec, missing service
 * account) is Degraded; else Healthy, as a CronJob is. 1 when Degraded. */
static int cronworkflow_broken(struct ws_health *out, const json_t *cw)
{
    const json_t *c = cond_is(cw, "SubmissionError", "True");
    if (c || (c = cond_is(cw, "SpecError", "True")) != NULL) {
        say(out, WS_HEALTH_DEGRADED, "CronWorkflow %s: %s", str(c, "type"), or_else(str(c, "message"), "no message"));
        return 1;
    }
    return 0;
}

static void cronworkflow_health(struct ws_health *out, const json_t *cw, const json_t *pods, int64_t now)
{
    const char *last = str(cw, "status", "lastScheduledTime");
    int suspend = json_is_true(get(cw, "spec", "suspend"));
    if (suspend || streq(str(cw, "status", "phase"), "Stopped")) /* Stopped: v3.6 stopStrategy */
        say(out, WS_HEALTH_SUSPENDED, "CronWorkflow is %s", suspend ? "suspended" : "stopped");
    else if (!cronworkflow_broken(out, cw))
        say(out, WS_HEALTH_HEALTHY, "%s%s", *last ? "Last scheduled at " : "CronWorkflow has not been scheduled yet",
            last);
}

/* --- feature pipelines: freshness against wavesync.dev/sla ------------------------ */

/* A CronJob (or CronWorkflow) annotated wavesync.dev/sla is Healthy while its
 * last successful run is within the SLA, Degraded once it is not; one that
 * never succeeded is Progressing until the SLA has passed since it was
 * created. Argo's CronWorkflow status records no success time: its last
 * scheduled run stands in, and a v3.6 status that counts failures and no
 * success counts as never succeeded. */
static void sla_health(struct ws_health *out, const json_t *obj, const json_t *pods, int64_t now)
{
    const char *sla_text = str(obj, "metadata", "annotations", WS_HEALTH_ANN_SLA);
    int cron_workflow = streq(str(obj, "kind"), "CronWorkflow");
    const json_t *last_v = get(obj, "status", cron_workflow ? "lastScheduledTime" : "lastSuccessfulTime");
    const char *what = cron_workflow ? "last run scheduled" : "last success";
    char a[32], b[32];
    uint64_t sla_ms;
    int64_t sla, last, created;

    if (ws_duration_parse(&sla_ms, sla_text) < 0 || sla_ms < 1000) {
        say(out, WS_HEALTH_DEGRADED, "invalid %s \"%s\": expected a duration of at least 1s, such as 1h or 30m",
            WS_HEALTH_ANN_SLA, sla_text);
        return;
    }
    sla = (int64_t)(sla_ms / 1000);
    if (json_is_true(get(obj, "spec", "suspend"))) {
        say(out, WS_HEALTH_SUSPENDED, "%s is suspended (SLA %s not checked)", str(obj, "kind"), span(a, sla));
        return;
    }
    if (cron_workflow && cronworkflow_broken(out, obj))
        return;
    if (cron_workflow && json_is_integer(get(obj, "status", "succeeded")) && num(obj, "status", "succeeded") == 0 &&
        num(obj, "status", "failed") > 0)
        last_v = NULL;
    if (time_of(&last, last_v) == 0) {
        if (now - last <= sla) {
            recheck(out, last + sla + 1, now);
            say(out, WS_HEALTH_HEALTHY, "%s %s ago, within SLA %s", what, span(a, now - last), span(b, sla));
        } else
            say(out, WS_HEALTH_DEGRADED, "%s %s ago, SLA %s", what, span(a, now - last), span(b, sla));
        return;
    }
    if (time_of(&created, get(obj, "metadata", "creationTimestamp")) < 0)
        created = now; /* not created yet as far as we know: the SLA starts now */
    if (now - created < sla) {
        /* a new pipeline has not missed its SLA yet: holding its wave until the
           first run would fail every first sync */
        recheck(out, created + sla, now);
        say(out, WS_HEALTH_HEALTHY, "no successful run yet; SLA %s runs out in %s", span(a, sla),
            span(b, created + sla - now));
    } else
        say(out, WS_HEALTH_DEGRADED, "no successful run in %s (created %s ago)", span(a, sla), span(b, now - created));
}

/* --- Deployments that serve a model ------------------------------------------------ */

/* A Deployment annotated wavesync.dev/model-loaded: <ConditionType> is
 * Healthy once the rollout is, and the condition is True on the Deployment
 * or, when the Deployment has no such condition, on each of its running pods
 * (a condition the model server or a sidecar patches; a readiness gate of
 * that type is covered by the rollout already). Its pods also say why it
 * waits (no GPU) or that it never will (CrashLoopBackOff while loading). */
/* The pods of the Deployment's current template: same image for every
 * container name. A pod of the previous rollout that crash-loops must not
 * fail the rollout that replaces it. New array (caller decrefs). */
static json_t *current_pods(const json_t *d, const json_t *pods)
{
    const json_t *want = get(d, "spec", "template", "spec", "containers"), *pod, *c, *w;
    json_t *out = json_array();
    size_t i, k, j;
    json_array_foreach(pods, i, pod) {
        int same = 1;
        json_array_foreach(get(pod, "spec", "containers"), k, c)
            json_array_foreach(want, j, w)
                if (streq(str(c, "name"), str(w, "name")) && !streq(str(c, "image"), str(w, "image")))
                    same = 0;
        if (same)
            json_array_append(out, (json_t *)pod);
    }
    return out;
}

static void model_deployment_health_of(struct ws_health *out, const json_t *d, const json_t *pods, int64_t now);

static void model_deployment_health(struct ws_health *out, const json_t *d, const json_t *pods, int64_t now)
{
    json_t *current = pods ? current_pods(d, pods) : NULL;
    model_deployment_health_of(out, d, current, now);
    json_decref(current);
}

static void model_deployment_health_of(struct ws_health *out, const json_t *d, const json_t *pods, int64_t now)
{
    const char *type = str(d, "metadata", "annotations", WS_HEALTH_ANN_MODEL_LOADED);
    const json_t *c = cond(d, type), *pod, *not_yet = NULL;
    struct text t = {.len = 0}, wait = {.len = 0};
    struct ws_health rollout = {.status = WS_HEALTH_UNKNOWN};
    size_t i, n = 0, loaded = 0;

    ws__health_deployment(&rollout, d, pods, now);
    if (!*type || rollout.status == WS_HEALTH_SUSPENDED || rollout.status == WS_HEALTH_DEGRADED) {
        *out = rollout;
        return;
    }
    /* A model server that crash-loops while loading will not get ready. */
    if (inspect_pods(out, pods, "", &wait))
        return;
    if (rollout.status != WS_HEALTH_HEALTHY) {
        say(out, rollout.status, "%s%s%s", rollout.message, wait.len ? "; " : "", wait.buf);
        return;
    }
    if (c) {
        reason_message(&t, c);
        if (streq(str(c, "status"), "True"))
            say(out, WS_HEALTH_HEALTHY, "%s; %s is True", rollout.message, type);
        else
            say(out, WS_HEALTH_PROGRESSING, "waiting for condition %s (%s)%s%s", type,
                or_else(str(c, "status"), "Unknown"), t.len ? ": " : "", t.buf);
        return;
    }
    if (num(d, "status", "replicas") == 0 && get(d, "spec", "replicas") && num(d, "spec", "replicas") == 0) {
        say(out, WS_HEALTH_HEALTHY, "%s; no pods to load a model", rollout.message);
        return;
    }
    json_array_foreach(pods, i, pod) {
        const char *phase = str(pod, "status", "phase");
        if (!pod_of(pod, "") || streq(phase, "Succeeded") || streq(phase, "Failed"))
            continue;
        n++;
        if (cond_is(pod, type, "True"))
            loaded++;
        else if (!not_yet)
            not_yet = pod;
    }
    if (n && loaded == n) {
        say(out, WS_HEALTH_HEALTHY, "%s; %s is True on %zu pod%s", rollout.message, type, n, n == 1 ? "" : "s");
        return;
    }
    add(&t, "waiting for condition %s: ", type);
    if (!n)
        add(&t, "no pod reports it yet");
    else {
        add(&t, "%zu of %zu pods report it True; ", loaded, n);
        name_pod(&t, not_yet);
        c = cond(not_yet, type);
        add(&t, ": %s is %s", type, c ? or_else(str(c, "status"), "Unknown") : "not reported");
        if (c && (*str(c, "reason") || *str(c, "message"))) {
            add(&t, ": ");
            reason_message(&t, c);
        }
    }
    say(out, WS_HEALTH_PROGRESSING, "%s", t.buf);
}

/* --- pod selectors ------------------------------------------------------------------- */

static int name_selector(struct text *t, const char *label, const char *value)
{
    if (!*value)
        return -1;
    add(t, "%s=%s", label, value);
    return 0;
}

static int kubeflow_selector(struct text *t, const json_t *job)
{
    return name_selector(t, "training.kubeflow.org/job-name", str(job, "metadata", "name"));
}

/* A TrainJob runs a JobSet of its own name. */
static int jobset_selector(struct text *t, const json_t *js)
{
    return name_selector(t, "jobset.sigs.k8s.io/jobset-name", str(js, "metadata", "name"));
}

static int volcano_selector(struct text *t, const json_t *job)
{
    return name_selector(t, "volcano.sh/job-name", str(job, "metadata", "name"));
}

static int raycluster_selector(struct text *t, const json_t *rc)
{
    return name_selector(t, "ray.io/cluster", str(rc, "metadata", "name"));
}

/* The RayJob's cluster has a generated name, known once the status says it. */
static int rayjob_selector(struct text *t, const json_t *rj)
{
    return name_selector(t, "ray.io/cluster", str(rj, "status", "rayClusterName"));
}

static int deployment_selector(struct text *t, const json_t *d)
{
    if (!*str(d, "metadata", "annotations", WS_HEALTH_ANN_MODEL_LOADED))
        return -1;
    return write_selector(t, get(d, "spec", "selector"));
}

/* --- the table ---------------------------------------------------------------------- */

const struct ws__health_rule ws__health_ml_rules[] = {
    /* training */
    {"kubeflow.org", "PyTorchJob", NULL, kubeflow_health, kubeflow_selector},
    {"kubeflow.org", "TFJob", NULL, kubeflow_health, kubeflow_selector},
    {"kubeflow.org", "MPIJob", NULL, kubeflow_health, kubeflow_selector},
    {"kubeflow.org", "XGBoostJob", NULL, kubeflow_health, kubeflow_selector},
    {"kubeflow.org", "PaddleJob", NULL, kubeflow_health, kubeflow_selector},
    {"kubeflow.org", "JAXJob", NULL, kubeflow_health, kubeflow_selector},
    {"trainer.kubeflow.org", "TrainJob", NULL, trainjob_health, jobset_selector},
    {"jobset.x-k8s.io", "JobSet", NULL, jobset_health, jobset_selector},
    {"batch.volcano.sh", "Job", NULL, volcano_health, volcano_selector},
    {"kueue.x-k8s.io", "Workload", NULL, workload_health, NULL},
    /* model servers */
    {"serving.kserve.io", "InferenceService", NULL, isvc_health, NULL},
    {"machinelearning.seldon.io", "SeldonDeployment", NULL, seldon_deployment_health, NULL},
    {"mlops.seldon.io", "Model", NULL, seldon_v2_health, NULL},
    {"mlops.seldon.io", "Server", NULL, seldon_v2_health, NULL},
    {"ray.io", "RayService", NULL, rayservice_health, NULL},
    {"apps", "Deployment", WS_HEALTH_ANN_MODEL_LOADED, model_deployment_health, deployment_selector},
    /* pipelines */
    {"batch", "CronJob", WS_HEALTH_ANN_SLA, sla_health, NULL},
    {"argoproj.io", "CronWorkflow", WS_HEALTH_ANN_SLA, sla_health, NULL},
    {"argoproj.io", "CronWorkflow", NULL, cronworkflow_health, NULL},
    {"argoproj.io", "Workflow", NULL, workflow_health, NULL},
    {"ray.io", "RayJob", NULL, rayjob_health, rayjob_selector},
    {"ray.io", "RayCluster", NULL, raycluster_health, raycluster_selector},
};

const size_t ws__health_ml_rule_count = WS_ARRAY_SIZE(ws__health_ml_rules);
