/* inventory.h — what an application has applied, kept in the destination
 * cluster as a ConfigMap per application (so prune knows what left Git), and
 * the tracking annotation every applied object carries. Pure. */
#ifndef WS_INVENTORY_H
#define WS_INVENTORY_H

#include <jansson.h>
#include <stddef.h>

/* "app:group/Kind:namespace/name" (Argo CD's tracking-id layout) */
#define WS_TRACKING_ANNOTATION "wavesync.dev/tracking-id"
#define WS_INVENTORY_LABEL "wavesync.dev/inventory-for"

/* The ConfigMap's name for an application: "wavesync-inventory-<app>". */
void ws_inventory_name(char *out, size_t len, const char *app);

/* A reference {apiVersion, kind, namespace?, name} for an object. */
json_t *ws_inventory_ref(const json_t *obj);

/* Tracking id of an object for app; caller frees. */
char *ws_tracking_id(const char *app, const json_t *obj);

/* The inventory ConfigMap holding `refs` (array of references). */
json_t *ws_inventory_configmap(const char *app, const char *ns, const json_t *refs);

/* References stored in an inventory ConfigMap (empty array when none). */
json_t *ws_inventory_refs(const json_t *configmap);

/* Same object? Group, kind, namespace and name equal (the version may differ). */
int ws_inventory_same(const json_t *a, const json_t *b);

/* a ∪ b and a ∖ b (new arrays; order: a's, then b's). */
json_t *ws_inventory_union(const json_t *a, const json_t *b);
json_t *ws_inventory_minus(const json_t *a, const json_t *b);

#endif
