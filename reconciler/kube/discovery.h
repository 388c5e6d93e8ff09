/* discovery.h — apiVersion + kind → resource path, plural and scope.
 * Pure logic: callers fetch /api/v1 or /apis/GROUP/VERSION and hand the
 * APIResourceList here; the cache answers lookups and builds paths. */
#ifndef WS_DISCOVERY_H
#define WS_DISCOVERY_H

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "base/util.h"

struct ws_resource {
    char group[254];    /* "" for the core group */
    char version[64];
    char kind[128];
    char resource[128]; /* plural, e.g. "deployments" */
    int namespaced;
    int has_status;     /* a /status subresource exists */
};

struct ws_discovery;

int ws_discovery_new(struct ws_discovery **out);
void ws_discovery_free(struct ws_discovery *d);

/* Split "apps/v1" into group "apps", version "v1" ("v1" → core group "").
 * Returns WS_EINVAL for an empty or malformed apiVersion. */
int ws_api_version_split(const char *api_version, char *group, size_t glen, char *version,
                         size_t vlen);

/* The discovery path of a group version: "/api/v1" or "/apis/apps/v1". */
void ws_discovery_gv_path(char *out, size_t len, const char *api_version);

/* Replace what is known about `api_version` with an APIResourceList. Returns
 * WS_EINVAL when `list` is not one (err says why). `now_ms` stamps the entry. */
int ws_discovery_store(struct ws_discovery *d, const char *api_version, const json_t *list,
                       uint64_t now_ms, struct ws_err *err);

/* Remember that a group version does not exist (the server said 404). */
void ws_discovery_store_missing(struct ws_discovery *d, const char *api_version, uint64_t now_ms);

/* Look up a kind. Returns 0 and fills *out; WS_ENOTFOUND when the group
 * version is known but has no such kind, or is known to be missing; 1 when
 * the group version is not cached (fetch it, then ask again). `*fetched_ms` (may be NULL) gets the
 * time the group version was stored, so callers can refresh stale misses. */
int ws_discovery_lookup(struct ws_discovery *d, const char *api_version, const char *kind,
                        struct ws_resource *out, uint64_t *fetched_ms);

/* Forget a group version (a miss on a stale entry triggers a refresh). */
void ws_discovery_forget(struct ws_discovery *d, const char *api_version);

/* Build an API path: /apis/G/V[/namespaces/NS]/RESOURCE[/NAME[/SUB]].
 * ns is ignored for cluster-scoped resources; name and sub may be NULL.
 * Segments are percent-encoded. Returns 0 or WS_ENOMEM/WS_ELIMIT. */
int ws_resource_path(struct ws_buf *out, const struct ws_resource *r, const char *ns,
                     const char *name, const char *sub);

#endif
