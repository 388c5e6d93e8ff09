/* health_int.h — internals shared by health.c (core kinds) and health_ml.c
 * (ML kinds): reading objects, one-line verdicts, pod inspection, the rule
 * table's shape (not an API). */
#ifndef WS_HEALTH_INT_H
#define WS_HEALTH_INT_H

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "health/health.h"

/* Annotations that select a rule (and are read by it). */
#define WS_HEALTH_ANN_SLA "wavesync.dev/sla"
#define WS_HEALTH_ANN_MODEL_LOADED "wavesync.dev/model-loaded"

/* --- reading the object ------------------------------------------------------ */

/* Walk object keys; NULL when any step is missing or not an object. */
static inline __attribute__((sentinel)) const json_t *ws__health_dig(const json_t *v, ...)
{
    va_list ap;
    const char *key;
    va_start(ap, v);
    while (v && (key = va_arg(ap, const char *)) != NULL)
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
    va_end(ap);
    return v;
}

static inline const char *ws__health_text_of(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

static inline long long ws__health_int_of(const json_t *v)
{
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_real(v)) { /* clamped: converting an out-of-range double is undefined */
        double d = json_real_value(v);
        return d != d ? 0 : d >= 9.2e18 ? LLONG_MAX : d <= -9.2e18 ? LLONG_MIN : (long long)d;
    }
    return 0;
}

#define get(v, ...) ws__health_dig((v), __VA_ARGS__, (const char *)NULL)
/* The string at a path, or "" (never NULL). */
#define str(v, ...) ws__health_text_of(get((v), __VA_ARGS__))
/* The integer at a path, or 0. */
#define num(v, ...) ws__health_int_of(get((v), __VA_ARGS__))
#define text_of ws__health_text_of
#define int_of ws__health_int_of

/* s, or `dflt` when s is empty. */
static inline const char *or_else(const char *s, const char *dflt)
{
    return *s ? s : dflt;
}

static inline int streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static inline int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The condition of `type` in status.conditions, or NULL. */
static inline const json_t *cond(const json_t *obj, const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach(get(obj, "status", "conditions"), i, c)
        if (streq(str(c, "type"), type))
            return c;
    return NULL;
}

/* The condition of `type` when its status is `status` ("True"), or NULL. */
static inline const json_t *cond_is(const json_t *obj, const char *type, const char *status)
{
    const json_t *c = cond(obj, type);
    return c && streq(str(c, "status"), status) ? c : NULL;
}

/* --- writing the verdict ----------------------------------------------------- */

/* A bounded string being built from parts ("container a: ...; container b: ..."). */
struct ws__health_text {
    char buf[2048]; /* larger than a message: the verdict decides where to cut */
    size_t len;
};

/* Set out's status and its message: one line, cut with "..." to fit. */
void ws__health_say(struct ws_health *out, enum ws_health_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append to t; never overflows (a full t stays as it is). */
void ws__health_add(struct ws__health_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append "reason: message", "reason", "message" or nothing. */
void ws__health_reason_message(struct ws__health_text *t, const json_t *v);
/* Progressing while status.observedGeneration is behind metadata.generation
 * (missing counts as behind only when `required`). 1 when it decided. */
int ws__health_generation_pending(struct ws_health *out, const json_t *obj, int required);
/* Describe the containers of `pod` stuck in CrashLoopBackOff, ImagePullBackOff,
 * ErrImagePull, Create*Error... into t; returns how many. */
int ws__health_stuck_containers(struct ws__health_text *t, const json_t *pod);
/* Why a pending pod is pending (PodScheduled=False first), into t. */
void ws__health_pending_reason(struct ws__health_text *t, const json_t *pod);
/* Does this pod count for an owner with this uid? Not when it is being
 * deleted or another controller owns it ("" uid: any controller). */
int ws__health_pod_of(const json_t *pod, const char *uid);
/* A LabelSelector in labelSelector query syntax into t; -1 when it is empty
 * or uses what that syntax cannot say. */
int ws__health_write_selector(struct ws__health_text *t, const json_t *sel);
/* The apps/v1 Deployment rule (rollout and readiness only). */
void ws__health_deployment(struct ws_health *out, const json_t *d, const json_t *pods, int64_t now);

/* Later verdicts may change with time alone (an SLA running out, a grace
 * period ending): keep the earliest such moment after `now`. */
static inline void ws__health_recheck(struct ws_health *out, int64_t at, int64_t now)
{
    if (at > now && (out->recheck_at == 0 || at < out->recheck_at))
        out->recheck_at = at;
}

/* Short names inside the two health files. */
#define say ws__health_say
#define add ws__health_add
#define reason_message ws__health_reason_message
#define generation_pending ws__health_generation_pending
#define stuck_containers ws__health_stuck_containers
#define pending_reason ws__health_pending_reason
#define pod_of ws__health_pod_of
#define write_selector ws__health_write_selector
#define recheck ws__health_recheck
#define text ws__health_text

/* --- rules ------------------------------------------------------------------- */

typedef void (*ws__health_assess_fn)(struct ws_health *out, const json_t *obj, const json_t *pods, int64_t now);
/* Write the pod label selector for obj into t; 0, or -1 when there is none. */
typedef int (*ws__health_select_fn)(struct ws__health_text *t, const json_t *obj);

/* One row of a rule table: the first row whose group and kind match (the
 * group is apiVersion up to '/', "" for core) and whose annotation, when
 * set, is on the object, decides. */
struct ws__health_rule {
    const char *group, *kind;
    const char *annotation;
    ws__health_assess_fn assess;
    ws__health_select_fn select; /* NULL: the rule reads no pods */
};

/* health_ml.c's rows, looked at before the core ones (they include the
 * annotated Deployment and CronJob rules). */
extern const struct ws__health_rule ws__health_ml_rules[];
extern const size_t ws__health_ml_rule_count;

#endif
