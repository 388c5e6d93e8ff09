/* inventory.c — inventory ConfigMaps and tracking ids. */
#include "sync/inventory.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ws_inventory_name(char *out, size_t len, const char *app)
{
    size_t n = (size_t)snprintf(out, len, "wavesync-inventory-%s", app);
    /* ConfigMap names are DNS subdomains: lower case, at most 253 chars */
    for (size_t i = 0; i < len && out[i]; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    if (n >= 253 && len > 253)
        out[253] = '\0';
}

json_t *ws_inventory_ref(const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    json_t *ref = json_pack("{s:s?, s:s?, s:s?}", "apiVersion",
                            json_string_value(json_object_get(obj, "apiVersion")), "kind",
                            json_string_value(json_object_get(obj, "kind")), "name",
                            json_string_value(json_object_get(md, "name")));
    if (ref && ns && *ns)
        json_object_set_new(ref, "namespace", json_string(ns)); /* steals */
    return ref;
}

static const char *group_of(const char *api_version, size_t *len)
{
    const char *slash = api_version ? strchr(api_version, '/') : NULL;
    *len = slash ? (size_t)(slash - api_version) : 0;
    return api_version;
}

char *ws_tracking_id(const char *app, const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    size_t gl;
    const char *g = group_of(av, &gl);
    char *out;
    if (asprintf(&out, "%s:%.*s/%s:%s/%s", app, (int)gl, g ? g : "",
                 json_string_value(json_object_get(obj, "kind")) ?: "", ns ? ns : "",
                 json_string_value(json_object_get(md, "name")) ?: "") < 0)
        return NULL;
    return out;
}

json_t *ws_inventory_configmap(const char *app, const char *ns, const json_t *refs)
{
    char name[300], label[64];
    char *text = json_dumps(refs, JSON_COMPACT);
    json_t *cm;
    size_t n;
    ws_inventory_name(name, sizeof(name), app);
    /* a label value: at most 63 characters, ending in a letter or digit */
    snprintf(label, sizeof(label), "%.63s", name + 19);
    n = strlen(label);
    while (n > 0 && !isalnum((unsigned char)label[n - 1]))
        label[--n] = '\0';
    cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                   "ConfigMap", "metadata", "name", name, "namespace", ns, "labels",
                   "app.kubernetes.io/managed-by", "wavesync", WS_INVENTORY_LABEL, label,
                   "data", "objects.json", text ? text : "[]");
    free(text);
    return cm;
}

json_t *ws_inventory_refs(const json_t *configmap)
{
    const char *text =
        json_string_value(json_object_get(json_object_get(configmap, "data"), "objects.json"));
    json_t *refs = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(refs)) {
        json_decref(refs);
        refs = json_array();
    }
    return refs;
}

static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int ws_inventory_same(const json_t *a, const json_t *b)
{
    const char *ava = json_string_value(json_object_get(a, "apiVersion"));
    const char *avb = json_string_value(json_object_get(b, "apiVersion"));
    size_t la, lb;
    const char *ga = group_of(ava, &la), *gb = group_of(avb, &lb);
    if (la != lb || (la && strncmp(ga, gb, la) != 0))
        return 0;
    return str_eq(json_string_value(json_object_get(a, "kind")),
                  json_string_value(json_object_get(b, "kind"))) &&
           str_eq(json_string_value(json_object_get(a, "namespace")),
                  json_string_value(json_object_get(b, "namespace"))) &&
           str_eq(json_string_value(json_object_get(a, "name")),
                  json_string_value(json_object_get(b, "name")));
}

/* A ref's identity as a string (group, kind, namespace, name): what
 * ws_inventory_same compares, for a hash set. */
static void ref_key(char *out, size_t size, const json_t *r)
{
    size_t gl;
    const char *g = group_of(json_string_value(json_object_get(r, "apiVersion")), &gl);
    snprintf(out, size, "%.*s/%s/%s/%s", (int)gl, g ? g : "", json_string_value(json_object_get(r, "kind")) ?: "",
             json_string_value(json_object_get(r, "namespace")) ?: "",
             json_string_value(json_object_get(r, "name")) ?: "");
}

/* The refs of `arr` as a set ({key: true}), added to `set`. */
static void add_keys(json_t *set, const json_t *arr)
{
    size_t i;
    json_t *r;
    char key[1024];
    json_array_foreach(arr, i, r) {
        ref_key(key, sizeof(key), r);
        json_object_set_new(set, key, json_true()); /* steals */
    }
}

json_t *ws_inventory_union(const json_t *a, const json_t *b)
{
    json_t *out = json_array(), *seen = json_object(), *r;
    const json_t *both[2] = {a, b};
    char key[1024];
    size_t i;
    for (int k = 0; k < 2; k++)
        json_array_foreach(both[k], i, r) {
            ref_key(key, sizeof(key), r);
            if (json_object_get(seen, key))
                continue;
            json_object_set_new(seen, key, json_true()); /* steals */
            json_array_append(out, r);
        }
    json_decref(seen);
    return out;
}

json_t *ws_inventory_minus(const json_t *a, const json_t *b)
{
    json_t *out = json_array(), *drop = json_object(), *r;
    char key[1024];
    size_t i;
    add_keys(drop, b);
    json_array_foreach(a, i, r) {
        ref_key(key, sizeof(key), r);
        if (!json_object_get(drop, key))
            json_array_append(out, r);
    }
    json_decref(drop);
    return out;
}
