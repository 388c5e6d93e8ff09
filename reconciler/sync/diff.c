/* diff.c — field-level differences between two Kubernetes objects. */
#include "sync/diff.h"

#include <stdio.h>
#include <string.h>

int ws_diff_server_owned(const char *path, char sep)
{
    static const char *const owned[] = {
        "status", "metadata.managedFields", "metadata.resourceVersion", "metadata.uid",
        "metadata.creationTimestamp", "metadata.generation", "metadata.selfLink",
        "metadata.deletionTimestamp", "metadata.deletionGracePeriodSeconds",
    };
    if (*path++ != sep)
        return 0;
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        const char *o = owned[i], *p = path;
        while (*o && (*p == *o || (*o == '.' && *p == sep)))
            o++, p++;
        if (!*o && !*p)
            return 1;
    }
    return 0;
}

static int server_owned(const char *path)
{
    return ws_diff_server_owned(path, '.');
}

static void add(json_t *out, const char *path, const json_t *desired, const json_t *live)
{
    json_t *d = json_pack("{s:s}", "path", path);
    if (desired)
        json_object_set(d, "desired", (json_t *)desired);
    if (live)
        json_object_set(d, "live", (json_t *)live);
    json_array_append_new(out, d); /* steals */
}

static void walk(json_t *out, const char *path, const json_t *desired, const json_t *live)
{
    char sub[1024];
    if ((!desired && !live) || server_owned(path))
        return;
    if (json_is_object(desired) && json_is_object(live)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)desired, key, v) {
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            walk(out, sub, v, json_object_get(live, key));
        }
        json_object_foreach((json_t *)live, key, v) {
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            if (!json_object_get(desired, key) && !server_owned(sub))
                add(out, sub, NULL, v);
        }
        return;
    }
    if (json_is_array(desired) && json_is_array(live) &&
        json_array_size(desired) == json_array_size(live)) {
        for (size_t i = 0; i < json_array_size(desired); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            walk(out, sub, json_array_get(desired, i), json_array_get(live, i));
        }
        return;
    }
    if (!json_equal(desired, live))
        add(out, path[0] ? path : ".", desired, live);
}

json_t *ws_diff_objects(const json_t *desired, const json_t *live)
{
    json_t *out = json_array();
    if (out)
        walk(out, "", desired, live);
    return out;
}

static int subset_at(const char *path, const json_t *desired, const json_t *live)
{
    char sub[1024];
    if (server_owned(path)) /* a manifest's status or creationTimestamp: not ours to compare */
        return 1;
    if (json_is_object(desired)) {
        const char *key;
        json_t *v;
        if (!json_is_object(live))
            return 0;
        json_object_foreach((json_t *)desired, key, v) {
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            if (!subset_at(sub, v, json_object_get(live, key)))
                return 0;
        }
        return 1;
    }
    if (json_is_array(desired)) {
        if (!json_is_array(live) || json_array_size(desired) != json_array_size(live))
            return 0;
        for (size_t i = 0; i < json_array_size(desired); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (!subset_at(sub, json_array_get(desired, i), json_array_get(live, i)))
                return 0;
        }
        return 1;
    }
    if (json_is_integer(desired) && json_is_string(live)) {
        /* quantities: "cpu: 2" live as "2" */
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(desired));
        return strcmp(buf, json_string_value(live)) == 0;
    }
    return json_equal(desired, live);
}

int ws_diff_is_subset(const json_t *desired, const json_t *live)
{
    return subset_at("", desired, live);
}
