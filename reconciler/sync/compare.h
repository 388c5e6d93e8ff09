/* compare.h — is a live object what Git says? The comparison behind sync
 * status: every field the desired object (as wavesync applies it) sets must
 * have that value live, and every field wavesync's field manager owns live
 * must still be set in Git (a field removed from Git is a difference too).
 * Pure: no I/O, table-tested. */
#ifndef WS_SYNC_COMPARE_H
#define WS_SYNC_COMPARE_H

#include <jansson.h>
#include <stddef.h>

#define WS_SYNC_STATUSES(X)              \
    X(WS_SYNC_UNKNOWN, "Unknown")        \
    X(WS_SYNC_SYNCED, "Synced")          \
    X(WS_SYNC_OUTOFSYNC, "OutOfSync")

enum ws_sync_status {
#define WS_X(name, text) name,
    WS_SYNC_STATUSES(WS_X)
#undef WS_X
};

const char *ws_sync_status_str(enum ws_sync_status s);

/* Should the difference at `pointer` (RFC 6901, "/spec/replicas") of `obj`
 * be ignored (Application ignoreDifferences)? `manager` is set when the
 * question is about a field that field manager owns. 1 = ignore. */
typedef int (*ws_compare_ignore_cb)(const json_t *obj, const char *pointer, const char *manager, void *data);

/* Compare `desired` with `live` (both borrowed; live NULL = missing).
 * `manager` is wavesync's field manager ("wavesync"): fields it owns in
 * live's metadata.managedFields (operation Apply) that desired no longer sets
 * are differences. Server-owned fields (status, resourceVersion, uid,
 * timestamps, generation, managedFields) never are; resource quantities
 * compare by value ("0.5" = "500m"); a null or empty value in desired
 * matches a missing one. `ignore` (may be NULL) drops differences; fields
 * that another manager named in ignoreDifferences owns are asked with that
 * manager set.
 * Returns the differences as a new array of {"path": "/spec/replicas",
 * "desired": 3, "live": 2} ("desired" absent when Git no longer sets the
 * field, "live" absent when it is missing live), at most `max` of them
 * (0 = no limit), or NULL when out of memory. An empty array: in sync.
 * For a Secret only paths are given, never values. */
json_t *ws_compare(const json_t *desired, const json_t *live, const char *manager, ws_compare_ignore_cb ignore,
                   void *data, size_t max);

/* RFC 6901 escaping of one reference token ("a/b~c" -> "a~1b~0c") appended
 * to `out` ("/spec" + "x" -> "/spec/x"). 0, or -1 when it does not fit. */
int ws_pointer_append(char *out, size_t size, const char *token);

#endif
