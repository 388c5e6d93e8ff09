/* diff.h — desired versus live objects, the way people read a diff: the
 * fields that differ, by path. Fields the server owns (status, managedFields,
 * resourceVersion, uid, timestamps, generation) are ignored. Pure. */
#ifndef WS_DIFF_H
#define WS_DIFF_H

#include <jansson.h>

/* Paths where `desired` and `live` differ, as a JSON array of
 * {"path": ".spec.replicas", "desired": 3, "live": 2} (a missing side is
 * absent). Both may be NULL (a missing object). Caller decrefs. */
json_t *ws_diff_objects(const json_t *desired, const json_t *live);

/* 1 when `path` is a field the apiserver writes itself (status,
 * managedFields, resourceVersion, uid, timestamps, generation), written with
 * `sep` between its keys: ".metadata.uid" ('.') or "/metadata/uid" ('/'). */
int ws_diff_server_owned(const char *path, char sep);

/* 1 when every field set in `desired` has the same value in `live` (what
 * server-side apply would leave unchanged): ApplyOutOfSyncOnly's test. */
int ws_diff_is_subset(const json_t *desired, const json_t *live);

#endif
