/* applyset.h — apply a set of objects to one cluster in one go: every kind is
 * resolved first (an unknown kind applies nothing), then Namespaces and
 * CustomResourceDefinitions, which are waited on until Established, then
 * everything else concurrently. The low-level engine behind `wavesync apply`
 * and the apply benchmark; the wave-ordered sync builds on the same client. */
#ifndef WS_APPLYSET_H
#define WS_APPLYSET_H

#include <jansson.h>

#include "kube/kube.h"

struct ws_applyset;

/* Called once when the set is done. `results` is an array with one entry per
 * object, in input order: {"object": ident, "ok": bool, "error": msg?,
 * "resourceVersion": rv?, "code": n}. Borrowed for the callback. `code` is 0,
 * or the first error's WS_E* code. */
typedef void (*ws_applyset_cb)(int code, json_t *results, void *data);

/* Start applying `objects` (a JSON array; borrowed until the callback).
 * flags are WS_APPLY_*; crd_timeout_ms bounds the wait for CRDs (0 = 60 s).
 * The set frees itself after the callback. */
int ws_applyset_start(struct ws_kube *k, json_t *objects, unsigned flags, uint64_t crd_timeout_ms,
                      ws_applyset_cb cb, void *data);

#endif
