/* health.c — built-in health rules for core Kubernetes kinds, following Argo
 * CD's gitops-engine (pkg/health) and its CronJob script, and for Argo
 * Rollouts' Rollout, following Argo CD's script for it; and the dispatch for
 * every rule (ML kinds live in health_ml.c); pure functions over the live
 * object, no allocation that outlives a call. */
#include "health/health.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#include "health/health_int.h" /* last: it defines short names for this file */

const char *ws_health_str(enum ws_health_status s)
{
    switch (s) {
#define WS_X(name, text) \
    case name:           \
        return text;
        WS_HEALTH_STATUSES(WS_X)
#undef WS_X
    }
    return "Unknown";
}

/* --- reading the object ---------------------------------------------------- */

/* spec.replicas as the apiserver defaults it (1 when absent). */
static long long spec_replicas(const json_t *obj)
{
    const json_t *r = get(obj, "spec", "replicas");
    return r ? int_of(r) : 1;
}

/* --- writing the verdict --------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Copy src into dst (cap bytes) as one line: whitespace runs (controller
 * messages carry newlines) become one space. A message that does not fit,
 * or was already cut (`cut`), ends in "..." on a UTF-8 character boundary. */
static void fit(char *dst, size_t cap, const char *src, int cut)
{
    size_t len = 0;
    while (is_space(*src))
        src++;
    for (; *src && len < cap - 1; src++) {
        if (is_space(*src) && (is_space(src[1]) || !src[1]))
            continue;
        dst[len++] = is_space(*src) ? ' ' : *src;
    }
    dst[len] = '\0';
    while (is_space(*src))
        src++;
    if (!cut && !*src)
        return;
    if (len + 4 > cap) {
        len = cap - 4;
        while (len > 0 && ((unsigned char)dst[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst + len, "...", 4);
}

void say(struct ws_health *out, enum ws_health_status s, const char *fmt, ...)
{
    char scratch[2048];
    va_list ap;
    int n;
    out->status = s;
    va_start(ap, fmt);
    n = vsnprintf(scratch, sizeof(scratch), fmt, ap);
    va_end(ap);
    if (n < 0)
        scratch[0] = '\0';
    fit(out->message, sizeof(out->message), scratch, n >= (int)sizeof(scratch));
}

void add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (t->len >= sizeof(t->buf) - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        t->buf[t->len] = '\0';
    else
        t->len = t->len + (size_t)n < sizeof(t->buf) ? t->len + (size_t)n : sizeof(t->buf) - 1;
}

/* "reason: message", "reason", "message" or "". */
void reason_message(struct text *t, const json_t *v)
{
    const char *reason = str(v, "reason"), *message = str(v, "message");
    add(t, "%s%s%s", reason, *reason && *message ? ": " : "", message);
}

/* --- shared rules ---------------------------------------------------------- */

/* Progressing while the controller has not seen the latest spec. With
 * `required`, a missing status.observedGeneration counts as not observed
 * (workload controllers always report it); otherwise only a reported one
 * that is behind counts. Returns 1 when it decided. */
int generation_pending(struct ws_health *out, const json_t *obj, int required)
{
    const json_t *seen = get(obj, "status", "observedGeneration");
    long long gen = num(obj, "metadata", "generation");
    if (!json_is_integer(seen)) {
        if (!required)
            return 0;
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout to finish: generation %lld not observed yet", gen);
        return 1;
    }
    if (int_of(seen) >= gen)
        return 0;
    say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: observed generation %lld of %lld",
        int_of(seen), gen);
    return 1;
}

/* A pod's container statuses, init containers first. */
static const char *const status_lists[] = {"initContainerStatuses", "containerStatuses"};

/* Waiting reasons that will not fix themselves: gitops-engine's pattern
 * (Err*, *Error, *BackOff) plus InvalidImageName. */
static int fatal_wait_reason(const char *r)
{
    return *r && (starts_with(r, "Err") || ends_with(r, "Error") || ends_with(r, "BackOff") ||
                  streq(r, "InvalidImageName"));
}

/* Describe every init or app container of `pod` stuck in a fatal waiting
 * state into t; returns how many. */
int stuck_containers(struct text *t, const json_t *pod)
{
    int found = 0;
    size_t l, i;
    const json_t *cs;
    for (l = 0; l < WS_ARRAY_SIZE(status_lists); l++) {
        json_array_foreach(get(pod, "status", status_lists[l]), i, cs) {
            const json_t *waiting = get(cs, "state", "waiting");
            if (!fatal_wait_reason(str(waiting, "reason")))
                continue;
            add(t, "%s%scontainer %s: ", found ? "; " : "", l == 0 ? "init " : "", str(cs, "name"));
            reason_message(t, waiting);
            found++;
        }
    }
    return found;
}

/* Why a failed container failed, into t; 0 when it did not. */
static int container_failure(struct text *t, const json_t *cs)
{
    const json_t *term = get(cs, "state", "terminated");
    const char *reason = str(term, "reason"), *message = str(term, "message");
    long long code = num(term, "exitCode");
    if (!term || (code == 0 && !*message && !streq(reason, "OOMKilled")))
        return 0;
    if (*message)
        add(t, "container %s: %s", str(cs, "name"), message);
    else if (streq(reason, "OOMKilled"))
        add(t, "container %s: OOMKilled (exit code %lld)", str(cs, "name"), code);
    else
        add(t, "container %s failed with exit code %lld%s%s%s", str(cs, "name"), code,
            *reason ? " (" : "", reason, *reason ? ")" : "");
    return 1;
}

/* Why a pending pod is pending, into t. */
void pending_reason(struct text *t, const json_t *pod)
{
    const json_t *sched = cond_is(pod, "PodScheduled", "False"), *cs;
    size_t l, i;
    if (sched) {
        reason_message(t, sched);
        return;
    }
    if (*str(pod, "status", "message")) {
        add(t, "%s", str(pod, "status", "message"));
        return;
    }
    for (l = 0; l < WS_ARRAY_SIZE(status_lists); l++)
        json_array_foreach(get(pod, "status", status_lists[l]), i, cs) {
            const json_t *waiting = get(cs, "state", "waiting");
            if (*str(waiting, "reason")) {
                add(t, "%scontainer %s: ", l == 0 ? "init " : "", str(cs, "name"));
                reason_message(t, waiting);
                return;
            }
        }
    add(t, "Pod is pending");
}

/* --- apps/v1 --------------------------------------------------------------- */

void ws__health_deployment(struct ws_health *out, const json_t *d, const json_t *pods, int64_t now)
{
    long long want = spec_replicas(d), updated = num(d, "status", "updatedReplicas"),
              total = num(d, "status", "replicas"), avail = num(d, "status", "availableReplicas");
    const json_t *progressing = cond(d, "Progressing");
    if (json_is_true(get(d, "spec", "paused")))
        say(out, WS_HEALTH_SUSPENDED, "Deployment is paused");
    else if (generation_pending(out, d, 1))
        return;
    else if (progressing && streq(str(progressing, "reason"), "ProgressDeadlineExceeded"))
        say(out, WS_HEALTH_DEGRADED, "Deployment \"%s\" exceeded its progress deadline: %s",
            str(d, "metadata", "name"), str(progressing, "message"));
    else if (updated < want)
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout to finish: %lld out of %lld new replicas have been updated...",
            updated, want);
    else if (total > updated)
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout to finish: %lld old replicas are pending termination...",
            total - updated);
    else if (avail < updated)
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout to finish: %lld of %lld updated replicas are available...", avail,
            updated);
    else
        say(out, WS_HEALTH_HEALTHY, "%lld of %lld replicas updated and available", avail, want);
}

static void statefulset_health(struct ws_health *out, const json_t *s, const json_t *pods, int64_t now)
{
    long long want = spec_replicas(s), ready = num(s, "status", "readyReplicas"),
              updated = num(s, "status", "updatedReplicas");
    const json_t *strategy = get(s, "spec", "updateStrategy");
    const json_t *rolling = get(strategy, "rollingUpdate");
    const char *type = str(strategy, "type");
    const char *update_rev = str(s, "status", "updateRevision");

    if (generation_pending(out, s, 1))
        return;
    if (num(s, "status", "observedGeneration") == 0) /* like kubectl */
        say(out, WS_HEALTH_PROGRESSING, "Waiting for statefulset spec update to be observed...");
    else if (ready < want)
        say(out, WS_HEALTH_PROGRESSING, "Waiting for %lld pods to be ready... (%lld of %lld ready)",
            want - ready, ready, want);
    else if (streq(type, "OnDelete"))
        say(out, WS_HEALTH_HEALTHY, "statefulset has %lld ready pods (%lld updated)", ready, updated);
    else if (json_is_object(rolling)) {
        /* The apiserver defaults partition to 0, so this is the usual path. */
        long long partition = num(rolling, "partition"), target = want - partition;
        if (target < 0)
            target = 0;
        if (updated < target)
            say(out, WS_HEALTH_PROGRESSING,
                "Waiting for %sroll out to finish: %lld out of %lld new pods have been updated...",
                partition > 0 ? "partitioned " : "", updated, target);
        else if (partition > 0)
            say(out, WS_HEALTH_HEALTHY,
                "partitioned roll out complete: %lld new pods have been updated (partition %lld)",
                updated, partition);
        else
            say(out, WS_HEALTH_HEALTHY, "statefulset rolling update complete: %lld pods at revision %s",
                updated, update_rev);
    } else if (!streq(update_rev, str(s, "status", "currentRevision")))
        say(out, WS_HEALTH_PROGRESSING,
            "waiting for statefulset rolling update to complete %lld pods at revision %s...", updated,
            update_rev);
    else
        say(out, WS_HEALTH_HEALTHY, "statefulset rolling update complete: %lld pods at revision %s",
            num(s, "status", "currentReplicas"), str(s, "status", "currentRevision"));
}

static void daemonset_health(struct ws_health *out, const json_t *d, const json_t *pods, int64_t now)
{
    long long desired = num(d, "status", "desiredNumberScheduled"),
              updated = num(d, "status", "updatedNumberScheduled"),
              avail = num(d, "status", "numberAvailable");
    const char *name = str(d, "metadata", "name");
    if (generation_pending(out, d, 1))
        return;
    if (streq(str(d, "spec", "updateStrategy", "type"), "OnDelete"))
        say(out, WS_HEALTH_HEALTHY, "daemon set %lld out of %lld new pods have been updated", updated,
            desired);
    else if (updated < desired)
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for daemon set \"%s\" rollout to finish: %lld out of %lld new pods have been "
            "updated...",
            name, updated, desired);
    else if (avail < desired)
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for daemon set \"%s\" rollout to finish: %lld of %lld updated pods are "
            "available...",
            name, avail, desired);
    else
        say(out, WS_HEALTH_HEALTHY, "%lld of %lld pods updated and available", avail, desired);
}

static void replicaset_health(struct ws_health *out, const json_t *r, const json_t *pods, int64_t now)
{
    long long want = spec_replicas(r), avail = num(r, "status", "availableReplicas");
    const json_t *failure = cond_is(r, "ReplicaFailure", "True");
    struct text t = {.len = 0};
    if (generation_pending(out, r, 1))
        return;
    if (failure) {
        reason_message(&t, failure);
        say(out, WS_HEALTH_DEGRADED, "%s", t.buf);
    } else if (avail < want)
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout to finish: %lld out of %lld new replicas are available...", avail,
            want);
    else
        say(out, WS_HEALTH_HEALTHY, "%lld of %lld replicas available", avail, want);
}

/* --- core/v1 --------------------------------------------------------------- */

#define ANN_HOOK "argocd.argoproj.io/hook"
#define ANN_HELM_HOOK "helm.sh/hook"
#define ANN_IGNORE_RESTART_POLICY "argocd.argoproj.io/ignore-restart-policy"

/* Is obj a sync hook? The way sync/plan.c reads it (gitops-engine's
 * hook.IsHook), from the annotations the object carries live: Argo CD's
 * annotation wins and makes a hook unless all it says is Skip; without it,
 * Helm's makes a hook unless all it says is crd-install (Helm 2's CRDs,
 * ordinary resources to Argo CD). */
static int is_hook(const json_t *obj)
{
    const json_t *ann = get(obj, "metadata", "annotations");
    const char *p = str(ann, ANN_HOOK), *not_a_hook = "Skip";
    struct ws_tok t;
    if (!get(ann, ANN_HOOK)) {
        p = str(ann, ANN_HELM_HOOK);
        not_a_hook = "crd-install";
    }
    while (ws_csv_next(&p, &t))
        if (!ws_tok_eq(t, not_a_hook))
            return 1;
    return 0;
}

static void pod_health(struct ws_health *out, const json_t *pod, const json_t *pods, int64_t now)
{
    const char *phase = str(pod, "status", "phase");
    const char *policy = str(pod, "spec", "restartPolicy");
    struct text t = {.len = 0};
    size_t i;
    const json_t *cs;

    /* Unlike gitops-engine (restartPolicy Always only), for every policy:
     * a hook or job pod that cannot pull its image will not recover either.
     * Deliberately, this includes restartPolicy OnFailure in CrashLoopBackOff,
     * which Argo CD calls Progressing: the kubelet restarts such a container
     * with a back-off capped at 5 min, for ever in a bare pod, until the
     * backoffLimit in a Job's, so a crash-looping training or hook pod would
     * hold its wave until the wave's deadline, hours for a training wave,
     * burning its GPUs. Failing the wave now, with the container's reason,
     * is what a person wants to read. A pod meant to survive early crashes
     * (waiting for a dependency) should say so with an init container or
     * restartPolicy Always. */
    if (stuck_containers(&t, pod)) {
        say(out, WS_HEALTH_DEGRADED, "%s", t.buf);
        return;
    }
    if (streq(phase, "Pending")) {
        pending_reason(&t, pod);
        say(out, WS_HEALTH_PROGRESSING, "%s", t.buf);
    } else if (streq(phase, "Succeeded")) {
        say(out, WS_HEALTH_HEALTHY, "%s", or_else(str(pod, "status", "message"), "Pod completed"));
    } else if (streq(phase, "Failed")) {
        size_t l;
        if (*str(pod, "status", "message") || *str(pod, "status", "reason"))
            reason_message(&t, get(pod, "status"));
        for (l = 0; l < WS_ARRAY_SIZE(status_lists) && !t.len; l++)
            json_array_foreach(get(pod, "status", status_lists[l]), i, cs)
                if (container_failure(&t, cs))
                    break;
        say(out, WS_HEALTH_DEGRADED, "%s", t.len ? t.buf : "Pod failed");
    } else if (streq(phase, "Running")) {
        const json_t *ready = cond(pod, "Ready");
        int hook = is_hook(pod);
        /* ignore-restart-policy (any value, as Argo CD reads it) lets an
         * operator's long-running pod with restartPolicy Never be judged by
         * readiness; never a hook's: a hook is done only when it has run to
         * the end, and a Ready hook pod has only started (Argo CD ignores
         * the annotation on hooks too). */
        int lasting = !*policy || streq(policy, "Always") ||
                      (!hook && get(pod, "metadata", "annotations", ANN_IGNORE_RESTART_POLICY));
        int unready = 0;
        if (!lasting) {
            /* Finite pods (hooks, job pods) are done only when Succeeded. */
            say(out, WS_HEALTH_PROGRESSING, "%s",
                or_else(str(pod, "status", "message"),
                        hook ? "Hook pod is running; waiting for it to complete" : "Pod is running"));
            return;
        }
        json_array_foreach(get(pod, "status", "containerStatuses"), i, cs)
            if (!json_is_true(json_object_get(cs, "ready"))) {
                const json_t *last = get(cs, "lastState", "terminated");
                if (last) {
                    /* Restarted and not ready again: gitops-engine says Degraded. */
                    say(out, WS_HEALTH_DEGRADED,
                        "container %s is not ready, last terminated: %s (exit code %lld)",
                        str(cs, "name"), or_else(str(last, "reason"), "Error"), num(last, "exitCode"));
                    return;
                }
                unready++;
            }
        if (ready ? streq(str(ready, "status"), "True") : unready == 0) {
            say(out, WS_HEALTH_HEALTHY, "Pod is running and ready");
            return;
        }
        add(&t, "Waiting for pod to be ready");
        if (ready && (*str(ready, "reason") || *str(ready, "message"))) {
            add(&t, ": ");
            reason_message(&t, ready);
        }
        say(out, WS_HEALTH_PROGRESSING, "%s", t.buf);
    } else {
        say(out, WS_HEALTH_UNKNOWN, "%s", or_else(str(pod, "status", "message"), "Pod phase is unknown"));
    }
}

static void pvc_health(struct ws_health *out, const json_t *pvc, const json_t *pods, int64_t now)
{
    const char *phase = str(pvc, "status", "phase");
    const json_t *ann = get(pvc, "metadata", "annotations");
    const char *prov = str(ann, "volume.kubernetes.io/storage-provisioner");
    if (!*prov)
        prov = str(ann, "volume.beta.kubernetes.io/storage-provisioner");
    if (streq(phase, "Bound"))
        say(out, WS_HEALTH_HEALTHY, "Bound to volume %s", str(pvc, "spec", "volumeName"));
    else if (streq(phase, "Lost"))
        say(out, WS_HEALTH_DEGRADED, "Claim lost its volume %s", str(pvc, "spec", "volumeName"));
    else if (streq(phase, "Pending") && *prov)
        say(out, WS_HEALTH_PROGRESSING, "Waiting for %s to provision a volume", prov);
    else if (streq(phase, "Pending"))
        /* No provisioner has picked it up: a static volume that does not
         * exist yet, or a WaitForFirstConsumer class (binds only once a pod
         * uses the claim, so a consumer in a later wave will never come). */
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for the claim to be bound (a WaitForFirstConsumer storage class binds only "
            "once a pod uses the claim)");
    else
        say(out, WS_HEALTH_UNKNOWN, "Claim phase is \"%s\"", phase);
}

/* Service and Ingress: Healthy once the load balancer has an address (a
 * Service only when it is of type LoadBalancer). */
static void lb_health(struct ws_health *out, const json_t *obj, const json_t *pods, int64_t now)
{
    const json_t *first = json_array_get(get(obj, "status", "loadBalancer", "ingress"), 0);
    const char *type = str(obj, "spec", "type");
    int svc = streq(str(obj, "kind"), "Service");
    if (svc && !streq(type, "LoadBalancer"))
        say(out, WS_HEALTH_HEALTHY, "%s service", or_else(type, "ClusterIP"));
    else if (first)
        say(out, WS_HEALTH_HEALTHY, "Load balancer at %s",
            or_else(str(first, "ip"), str(first, "hostname")));
    else
        say(out, WS_HEALTH_PROGRESSING, "Waiting for the %s to publish an address",
            svc ? "load balancer" : "ingress controller");
}

/* --- other groups ---------------------------------------------------------- */

/* Is this pod in the Job's way? Pods of another controller are skipped in
 * case the caller's selector was wider than the Job's. */
int pod_of(const json_t *pod, const char *uid)
{
    size_t i;
    const json_t *ref;
    if (get(pod, "metadata", "deletionTimestamp"))
        return 0;
    json_array_foreach(get(pod, "metadata", "ownerReferences"), i, ref)
        if (json_is_true(json_object_get(ref, "controller")) && *uid && !streq(str(ref, "uid"), uid))
            return 0;
    return 1;
}

static void job_health(struct ws_health *out, const json_t *job, const json_t *pods, int64_t now)
{
    const json_t *pod, *unscheduled = NULL, *failed = cond_is(job, "Failed", "True");
    const char *uid = str(job, "metadata", "uid");
    struct text t = {.len = 0};
    size_t i;

    if (failed || (failed = cond_is(job, "FailureTarget", "True")) != NULL) {
        reason_message(&t, failed);
        say(out, WS_HEALTH_DEGRADED, "%s", t.len ? t.buf : "Job failed");
        return;
    }
    if (cond_is(job, "Complete", "True")) {
        say(out, WS_HEALTH_HEALTHY, "Job completed: %lld succeeded",
            num(job, "status", "succeeded"));
        return;
    }
    if (json_is_true(get(job, "spec", "suspend")) || cond_is(job, "Suspended", "True")) {
        const char *queue = str(job, "metadata", "labels", "kueue.x-k8s.io/queue-name");
        say(out, WS_HEALTH_SUSPENDED, "Job is suspended%s%s%s",
            *queue ? " (waiting for admission to queue " : "", queue, *queue ? ")" : "");
        return;
    }
    /* A pod that crash-loops or cannot pull its image fails the Job long
     * before backoffLimit does: a failed pod counts once, and with OnFailure
     * the container restarts count too, but the kubelet's back-off between
     * restarts (up to 5 minutes) makes reaching the limit slow, and an image
     * that cannot be pulled never counts at all. */
    json_array_foreach(pods, i, pod) {
        if (!pod_of(pod, uid))
            continue;
        add(&t, "pod %s: ", str(pod, "metadata", "name"));
        if (stuck_containers(&t, pod)) {
            say(out, WS_HEALTH_DEGRADED, "%s", t.buf);
            return;
        }
        t.len = 0;
        t.buf[0] = '\0';
        if (!unscheduled && streq(str(pod, "status", "phase"), "Pending") &&
            cond_is(pod, "PodScheduled", "False"))
            unscheduled = pod;
    }
    add(&t, "Job running: %lld active, %lld succeeded", num(job, "status", "active"),
        num(job, "status", "succeeded"));
    if (num(job, "status", "failed"))
        add(&t, ", %lld failed", num(job, "status", "failed"));
    if (unscheduled) {
        add(&t, "; pod %s: ", str(unscheduled, "metadata", "name"));
        reason_message(&t, cond(unscheduled, "PodScheduled"));
    }
    say(out, WS_HEALTH_PROGRESSING, "%s", t.buf);
}

/* Argo CD's CronJob script, except that a failed last run is Healthy with a
 * note: it happened before this sync and must not fail it. */
static void cronjob_health(struct ws_health *out, const json_t *cj, const json_t *pods, int64_t now)
{
    const char *scheduled = str(cj, "status", "lastScheduleTime");
    const char *succeeded = str(cj, "status", "lastSuccessfulTime");
    size_t active = json_array_size(get(cj, "status", "active"));
    int64_t ts, tok;
    struct text t = {.len = 0};

    if (json_is_true(get(cj, "spec", "suspend"))) {
        say(out, WS_HEALTH_SUSPENDED, "CronJob is suspended");
        return;
    }
    if (!*scheduled) {
        say(out, WS_HEALTH_HEALTHY, "CronJob has not been scheduled yet");
        return;
    }
    add(&t, "Last scheduled at %s", scheduled);
    if (active)
        add(&t, "; %zu active job%s", active, active == 1 ? "" : "s");
    if (!*succeeded)
        add(&t, "; no successful run yet");
    else if (!active && ws_time_parse_rfc3339(&ts, scheduled) == 0 &&
             ws_time_parse_rfc3339(&tok, succeeded) == 0 && tok < ts)
        add(&t, "; the last run did not succeed (last success at %s)", succeeded);
    else
        add(&t, "; last successful run at %s", succeeded);
    say(out, WS_HEALTH_HEALTHY, "%s", t.buf);
}

static void crd_health(struct ws_health *out, const json_t *crd, const json_t *pods, int64_t now)
{
    const json_t *terminating = cond_is(crd, "Terminating", "True"),
                 *names = cond_is(crd, "NamesAccepted", "False"), *established = cond(crd, "Established"),
                 *nonstructural = cond_is(crd, "NonStructuralSchema", "True");
    if (!json_array_size(get(crd, "status", "conditions")))
        say(out, WS_HEALTH_PROGRESSING, "Waiting for the CRD to be established");
    else if (terminating)
        say(out, WS_HEALTH_PROGRESSING, "CRD is being terminated: %s", str(terminating, "message"));
    else if (names)
        say(out, WS_HEALTH_DEGRADED, "CRD names have not been accepted: %s", str(names, "message"));
    else if (!streq(str(established, "status"), "True"))
        /* gitops-engine says Degraded; it is only not yet, and waves wait for it. */
        say(out, WS_HEALTH_PROGRESSING, "CRD is not established yet%s%s",
            *str(established, "message") ? ": " : "", str(established, "message"));
    else if (nonstructural)
        say(out, WS_HEALTH_DEGRADED, "Schema violations found: %s", str(nonstructural, "message"));
    else
        say(out, WS_HEALTH_HEALTHY, "CRD is established");
}

static void apiservice_health(struct ws_health *out, const json_t *api, const json_t *pods, int64_t now)
{
    const json_t *avail = cond(api, "Available");
    struct text t = {.len = 0};
    if (!avail) {
        say(out, WS_HEALTH_PROGRESSING, "Waiting to be processed");
        return;
    }
    reason_message(&t, avail);
    /* Not Degraded when unavailable: its backing service is usually still
     * starting (gitops-engine agrees). */
    say(out, streq(str(avail, "status"), "True") ? WS_HEALTH_HEALTHY : WS_HEALTH_PROGRESSING, "%s",
        t.buf);
}

static int hpa_degraded(const json_t *c)
{
    const char *type = str(c, "type"), *reason = str(c, "reason");
    if (streq(type, "AbleToScale"))
        return streq(reason, "FailedGetScale") || streq(reason, "FailedUpdateScale");
    if (streq(type, "ScalingActive"))
        /* gitops-engine lists FailedGetResourceMetric; the HPA controller
         * reports the same failure for the other metric sources too. */
        return (starts_with(reason, "FailedGet") && ends_with(reason, "Metric")) ||
               streq(reason, "InvalidSelector");
    return 0;
}

static void hpa_health(struct ws_health *out, const json_t *hpa, const json_t *pods, int64_t now)
{
    const json_t *conds = get(hpa, "status", "conditions"), *c;
    json_t *parsed = NULL;
    size_t i;
    if (generation_pending(out, hpa, 0))
        return;
    /* autoscaling/v1 keeps its conditions as JSON in an annotation. */
    if (!conds) {
        const char *ann = str(hpa, "metadata", "annotations", "autoscaling.alpha.kubernetes.io/conditions");
        conds = parsed = *ann ? json_loads(ann, 0, NULL) : NULL;
    }
    /* Any degraded condition wins over a healthy one before it (the order
     * of conditions is not meaningful). */
    json_array_foreach(conds, i, c)
        if (hpa_degraded(c)) {
            say(out, WS_HEALTH_DEGRADED, "%s", str(c, "message"));
            goto out;
        }
    json_array_foreach(conds, i, c)
        if ((streq(str(c, "type"), "AbleToScale") || streq(str(c, "type"), "ScalingLimited")) &&
            streq(str(c, "status"), "True")) {
            say(out, WS_HEALTH_HEALTHY, "%s", str(c, "message"));
            goto out;
        }
    say(out, WS_HEALTH_PROGRESSING, "Waiting to Autoscale");
out:
    json_decref(parsed);
}

/* --- argoproj.io Rollout --------------------------------------------------- */

/* Argo CD's Rollout script (resource_customizations/argoproj.io/Rollout),
 * with one refinement from Argo Rollouts' own GetRolloutPhase (a resume the
 * controller has not acted on yet is Progressing, not Suspended). */

/* A generation as the Rollouts controller writes it: since v0.10 a string of
 * digits ("3"; older objects and tests use an integer); 0 for anything else,
 * such as the pod template hash v0.9 kept in status.observedGeneration. */
static int rollout_generation(long long *out, const json_t *v)
{
    const char *s = text_of(v), *p;
    if (json_is_integer(v)) {
        *out = int_of(v);
        return 1;
    }
    if (!*s || strlen(s) > 18) /* 18 digits cannot overflow */
        return 0;
    for (p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    *out = strtoll(s, NULL, 10);
    return 1;
}

/* Progressing while the controller has not seen the latest spec, or, with
 * spec.workloadRef, the referenced Deployment's latest template (the
 * controller notes that generation in an annotation of the Rollout). An
 * observedGeneration that is not a number says nothing, nor does one above
 * metadata.generation: an all-digit v0.9 hash. 1 when it decided. */
static int rollout_spec_pending(struct ws_health *out, const json_t *ro)
{
    const json_t *status = get(ro, "status");
    long long gen = num(ro, "metadata", "generation"), seen = 0, want;
    int have = 0;
    if (!json_is_object(status)) {
        say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout spec update to be observed");
        return 1;
    }
    if (rollout_generation(&seen, get(status, "observedGeneration")) && seen < gen) {
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout spec update to be observed (observed generation %lld of %lld)", seen, gen);
        return 1;
    }
    /* Without the annotation there is nothing to compare with; without the
     * status field the controller has not looked yet (Argo CD's script). */
    if (get(ro, "spec", "workloadRef") &&
        rollout_generation(&want, get(ro, "metadata", "annotations", "rollout.argoproj.io/workload-generation")) &&
        (!(have = rollout_generation(&seen, get(status, "workloadObservedGeneration"))) || seen != want)) {
        if (have)
            say(out, WS_HEALTH_PROGRESSING,
                "Waiting for rollout spec update to be observed (referenced workload generation %lld, "
                "observed %lld)", want, seen);
        else
            say(out, WS_HEALTH_PROGRESSING,
                "Waiting for rollout spec update to be observed (referenced workload generation %lld)", want);
        return 1;
    }
    return 0;
}

/* Suspended, saying why and, for a canary, at which step:
 * "Rollout is paused: CanaryPauseStep (step 2 of 4)". */
static void rollout_paused(struct ws_health *out, const json_t *ro, const char *why)
{
    const json_t *idx = get(ro, "status", "currentStepIndex");
    size_t steps = json_array_size(get(ro, "spec", "strategy", "canary", "steps"));
    struct text t = {.len = 0};
    add(&t, "Rollout is paused%s%s", *why ? ": " : "", why);
    if (json_is_integer(idx) && int_of(idx) >= 0 && (size_t)int_of(idx) < steps)
        add(&t, " (step %lld of %zu)", int_of(idx) + 1, steps);
    say(out, WS_HEALTH_SUSPENDED, "%s", t.buf);
}

/* Why a Rollout without a phase is paused ("" when it is not): a pause
 * condition's reason, or spec.paused. */
static const char *rollout_pause_reason(const json_t *ro)
{
    const json_t *pc = json_array_get(get(ro, "status", "pauseConditions"), 0);
    if (pc)
        return or_else(str(pc, "reason"), "paused");
    return json_is_true(get(ro, "spec", "paused")) ? "manually paused" : "";
}

/* Before Argo Rollouts 1.0 the controller wrote no phase: work it out from
 * conditions, pauses, replica counts and which ReplicaSet is stable, as
 * Argo CD's script does. */
static void rollout_legacy(struct ws_health *out, const json_t *ro)
{
    const json_t *status = get(ro, "status"), *invalid = cond(ro, "InvalidSpec"),
                 *progressing = cond(ro, "Progressing");
    const char *reason = str(progressing, "reason"), *hash = str(status, "currentPodHash");
    const char *stable = or_else(str(status, "stableRS"), str(status, "canary", "stableRS"));
    const char *paused = rollout_pause_reason(ro);
    long long want = spec_replicas(ro), updated = num(status, "updatedReplicas"),
              total = num(status, "replicas"), avail = num(status, "availableReplicas");
    struct text t = {.len = 0};

    if (invalid || streq(reason, "RolloutAborted") || streq(reason, "ProgressDeadlineExceeded")) {
        reason_message(&t, invalid ? invalid : progressing);
        say(out, WS_HEALTH_DEGRADED, "%s", t.buf);
        return;
    }
    if (*paused) {
        rollout_paused(out, ro, paused);
        return;
    }
    if (!*hash) {
        say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: status has not been reconciled");
        return;
    }
    if (updated < want) {
        say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: %lld of %lld replicas updated",
            updated, want);
        return;
    }
    if (avail < updated) {
        say(out, WS_HEALTH_PROGRESSING,
            "Waiting for rollout to finish: %lld of %lld updated replicas are available", avail, updated);
        return;
    }
    if (get(ro, "spec", "strategy", "blueGreen")) {
        if (!streq(str(status, "blueGreen", "activeSelector"), hash)) {
            say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: active service cutover pending");
            return;
        }
        /* An empty stableRS is a v0.7 blue-green, which never set it. */
        if (*stable && !streq(stable, hash)) {
            say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: waiting for analysis to complete");
            return;
        }
    } else if (get(ro, "spec", "strategy", "canary")) {
        if (total > updated) {
            say(out, WS_HEALTH_PROGRESSING,
                "Waiting for rollout to finish: %lld old replicas are pending termination", total - updated);
            return;
        }
        if (!*stable || !streq(stable, hash)) {
            say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish: waiting for all steps to complete");
            return;
        }
    }
    say(out, WS_HEALTH_HEALTHY, "Rollout is healthy: %lld of %lld replicas updated and available", avail, want);
}

static void rollout_health(struct ws_health *out, const json_t *ro, const json_t *pods, int64_t now)
{
    const json_t *status = get(ro, "status");
    const char *phase = str(status, "phase"), *message = str(status, "message");

    if (rollout_spec_pending(out, ro))
        return;
    /* Resumed (pause conditions cleared) but the controller has not acted
     * on it yet; the phase still says Paused (Argo Rollouts' IsUnpausing). */
    if (json_is_true(get(status, "controllerPause")) && !json_array_size(get(status, "pauseConditions"))) {
        say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to unpause");
        return;
    }
    if (!*phase) {
        rollout_legacy(out, ro);
        return;
    }
    /* Since Argo Rollouts 1.0 the controller works out the phase itself,
     * aborts, progress deadlines and invalid specs included (as Degraded
     * with a "reason: message"); take it as Argo CD does. */
    if (streq(phase, "Paused"))
        rollout_paused(out, ro, or_else(message, rollout_pause_reason(ro)));
    else if (streq(phase, "Healthy"))
        say(out, WS_HEALTH_HEALTHY, "%s", or_else(message, "Rollout is healthy"));
    else if (streq(phase, "Degraded"))
        say(out, WS_HEALTH_DEGRADED, "%s", or_else(message, "Rollout is degraded"));
    else if (streq(phase, "Progressing"))
        say(out, WS_HEALTH_PROGRESSING, "Waiting for rollout to finish%s%s", *message ? ": " : "", message);
    else
        say(out, WS_HEALTH_UNKNOWN, "Rollout phase is \"%s\"%s%s", phase, *message ? ": " : "", message);
}

/* --- dispatch -------------------------------------------------------------- */

static int job_selector(struct text *t, const json_t *job)
{
    const char *name = str(job, "metadata", "name");
    if (write_selector(t, get(job, "spec", "selector")) == 0)
        return 0;
    /* Not defaulted yet (never the case for a live Job): the name label. */
    t->len = 0;
    t->buf[0] = '\0';
    if (!*name)
        return -1;
    add(t, "batch.kubernetes.io/job-name=%s", name);
    return 0;
}

static const struct ws__health_rule rules[] = {
    {"apps", "Deployment", NULL, ws__health_deployment, NULL},
    {"apps", "StatefulSet", NULL, statefulset_health, NULL},
    {"apps", "DaemonSet", NULL, daemonset_health, NULL},
    {"apps", "ReplicaSet", NULL, replicaset_health, NULL},
    {"", "Pod", NULL, pod_health, NULL},
    {"", "PersistentVolumeClaim", NULL, pvc_health, NULL},
    {"", "Service", NULL, lb_health, NULL},
    {"networking.k8s.io", "Ingress", NULL, lb_health, NULL},
    {"extensions", "Ingress", NULL, lb_health, NULL},
    {"batch", "Job", NULL, job_health, job_selector},
    {"batch", "CronJob", NULL, cronjob_health, NULL},
    {"apiextensions.k8s.io", "CustomResourceDefinition", NULL, crd_health, NULL},
    {"apiregistration.k8s.io", "APIService", NULL, apiservice_health, NULL},
    {"autoscaling", "HorizontalPodAutoscaler", NULL, hpa_health, NULL},
    {"argoproj.io", "Rollout", NULL, rollout_health, NULL},
};

/* Is obj of group/kind? The group is apiVersion up to '/' ("" for core). */
static int is_kind(const json_t *obj, const char *group, const char *kind)
{
    const char *api = str(obj, "apiVersion"), *slash = strchr(api, '/');
    size_t glen = slash ? (size_t)(slash - api) : 0;
    return streq(str(obj, "kind"), kind) && strlen(group) == glen && strncmp(api, group, glen) == 0;
}

static const struct ws__health_rule *match(const struct ws__health_rule *table, size_t n, const json_t *obj)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (is_kind(obj, table[i].group, table[i].kind) &&
            (!table[i].annotation || get(obj, "metadata", "annotations", table[i].annotation)))
            return &table[i];
    return NULL;
}

/* The rule for obj, ML rows first (they hold the annotated variants of core
 * kinds); NULL for kinds without one. */
static const struct ws__health_rule *rule_for(const json_t *obj)
{
    const struct ws__health_rule *r = match(ws__health_ml_rules, ws__health_ml_rule_count, obj);
    return r ? r : match(rules, WS_ARRAY_SIZE(rules), obj);
}

/* Argo CD keeps hook objects it is about to delete out of "Pending deletion". */
static int hook_finalizer(const json_t *obj)
{
    size_t i;
    const json_t *f;
    json_array_foreach(get(obj, "metadata", "finalizers"), i, f)
        if (streq(text_of(f), "argocd.argoproj.io/hook-finalizer"))
            return 1;
    return 0;
}

void ws_health_assess_at(struct ws_health *out, const json_t *obj, const json_t *pods, int64_t now)
{
    const struct ws__health_rule *r;
    out->status = WS_HEALTH_UNKNOWN;
    out->message[0] = '\0';
    out->recheck_at = 0;
    if (!obj || json_is_null(obj)) {
        say(out, WS_HEALTH_MISSING, "Object does not exist");
        return;
    }
    if (!json_is_object(obj)) {
        say(out, WS_HEALTH_UNKNOWN, "Not a Kubernetes object");
        return;
    }
    if (get(obj, "metadata", "deletionTimestamp") && !hook_finalizer(obj)) {
        say(out, WS_HEALTH_PROGRESSING, "Pending deletion");
        return;
    }
    if ((r = rule_for(obj)) != NULL) {
        r->assess(out, obj, json_is_array(pods) ? pods : NULL, now);
        return;
    }
    if (!generation_pending(out, obj, 0))
        say(out, WS_HEALTH_HEALTHY, "no health check for %s", str(obj, "kind"));
}

void ws_health_assess(struct ws_health *out, const json_t *obj, const json_t *pods)
{
    ws_health_assess_at(out, obj, pods, ws_wall_s());
}

/* --- pod selector ---------------------------------------------------------- */

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A LabelSelector in the syntax of the labelSelector query parameter:
 * matchLabels (sorted), then matchExpressions. -1 when it has neither or
 * uses what that syntax cannot say. */
int write_selector(struct text *t, const json_t *sel)
{
    const json_t *labels = get(sel, "matchLabels"), *e, *v;
    const char *keys[64], *key;
    size_t n = 0, i, j;
    json_t *val;
    json_object_foreach((json_t *)labels, key, val) {
        if (n == WS_ARRAY_SIZE(keys))
            return -1;
        keys[n++] = key;
    }
    qsort(keys, n, sizeof(keys[0]), compare_keys);
    for (i = 0; i < n; i++)
        add(t, "%s%s=%s", t->len ? "," : "", keys[i], str(labels, keys[i]));
    json_array_foreach(get(sel, "matchExpressions"), i, e) {
        const char *op = str(e, "operator"), *k = str(e, "key"), *sep = t->len ? "," : "";
        if (streq(op, "Exists") || streq(op, "DoesNotExist"))
            add(t, "%s%s%s", sep, *op == 'D' ? "!" : "", k);
        else if (streq(op, "In") || streq(op, "NotIn")) {
            add(t, "%s%s %s (", sep, k, *op == 'I' ? "in" : "notin");
            json_array_foreach(get(e, "values"), j, v)
                add(t, "%s%s", j ? "," : "", text_of(v));
            add(t, ")");
        } else
            return -1;
    }
    return t->len ? 0 : -1;
}

int ws_health_pod_selector(const json_t *obj, char *buf, size_t len)
{
    const struct ws__health_rule *r;
    struct text t = {.len = 0};
    if (!buf || len == 0)
        return 0;
    buf[0] = '\0';
    if (!json_is_object(obj) || !(r = rule_for(obj)) || !r->select || r->select(&t, obj) < 0)
        return 0;
    if (!t.len || t.len >= len || t.len >= sizeof(t.buf) - 1)
        return 0;
    memcpy(buf, t.buf, t.len + 1);
    return 1;
}
