/* health.h — built-in health assessment, compatible with Argo CD's statuses:
 * Healthy, Progressing, Degraded, Suspended, Missing, Unknown. Pure functions
 * over the live object (and, for Jobs, its pods); table-tested. ML kinds and
 * Lua overrides come later and plug in through the same entry point. */
#ifndef WS_HEALTH_H
#define WS_HEALTH_H

#include <jansson.h>
#include <stddef.h>

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

struct ws_health {
    enum ws_health_status status;
    char message[512]; /* why, for people: "Waiting for rollout: 1 of 2 updated replicas are available" */
};

/* Assess `obj` (the live object; NULL or json null means it does not exist:
 * Missing). `pods` (may be NULL) is a JSON array of the Pods that belong to
 * obj, as selected by ws_health_pod_selector; used for Jobs (a pod in
 * CrashLoopBackOff, ImagePullBackOff, ErrImagePull... makes the Job Degraded
 * before it fails); pods being deleted or controlled by another owner are
 * ignored. Both are borrowed for the call only; out is always filled, its
 * message is one line, cut with "..." when longer than the buffer.
 * Rules follow Argo CD's gitops-engine; where they differ, health.c says why. */
void ws_health_assess(struct ws_health *out, const json_t *obj, const json_t *pods);

/* For kinds whose health depends on their pods (Job): write a label selector
 * for those pods into buf (the Job's spec.selector, e.g.
 * "batch.kubernetes.io/controller-uid=<uid>", in labelSelector query syntax,
 * not yet URL-escaped) and return 1; else return 0 with buf empty. 0 also
 * when buf is too small (256 bytes fit any generated selector). */
int ws_health_pod_selector(const json_t *obj, char *buf, size_t len);

#endif
