/* manifest.c — YAML documents to validated Kubernetes objects. */
#include "source/manifest.h"

#include <string.h>

#include "base/yaml.h"

static int check_object(const json_t *obj, const char *name, int line, struct ws_err *err)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    json_t *md = json_object_get(obj, "metadata");
    const char *n = json_string_value(json_object_get(md, "name"));
    const char *gn = json_string_value(json_object_get(md, "generateName"));
    if (!json_is_object(obj))
        return ws_err_set(err, WS_EINVAL, "%s:%d: document is not a mapping", name, line);
    if (!av || !*av)
        return ws_err_set(err, WS_EINVAL, "%s:%d: object has no apiVersion", name, line);
    if (!kind || !*kind)
        return ws_err_set(err, WS_EINVAL, "%s:%d: object has no kind", name, line);
    if (!json_is_object(md))
        return ws_err_set(err, WS_EINVAL, "%s:%d: %s has no metadata", name, line, kind);
    if (!(n && *n) && !(gn && *gn))
        return ws_err_set(err, WS_EINVAL, "%s:%d: %s has no metadata.name", name, line, kind);
    return 0;
}

int ws_manifest_parse(json_t *objects, const char *buf, size_t len, const char *name,
                      struct ws_err *err)
{
    struct ws_yaml_stream s = {0};
    json_t *found = json_array();
    size_t i;
    int rc;
    if (!found)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if ((rc = ws_yaml_parse(&s, buf, len, name, NULL, err)) < 0)
        goto out;
    for (i = 0; i < s.ndocs; i++) {
        json_t *doc = s.docs[i].value, *item;
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        size_t j;
        if (json_is_null(doc))
            continue;
        /* "List" and "*List" kinds (v1 List, ConfigMapList…) hold items */
        if (kind && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 &&
            json_is_array(json_object_get(doc, "items"))) {
            json_array_foreach(json_object_get(doc, "items"), j, item) {
                char idx[24];
                snprintf(idx, sizeof(idx), "%zu", j);
                if ((rc = check_object(item, name,
                                       ws_yaml_pos_line(s.docs[i].pos, "items", idx, NULL), err)) < 0)
                    goto out;
                json_array_append(found, item);
            }
            continue;
        }
        if ((rc = check_object(doc, name, s.docs[i].line, err)) < 0)
            goto out;
        json_array_append(found, doc);
    }
    json_array_extend(objects, found);
out:
    json_decref(found);
    ws_yaml_stream_free(&s);
    return rc;
}
