/* discovery.c — cache of APIResourceLists keyed by group version. */
#include "kube/discovery.h"

#include <stdlib.h>
#include <string.h>

struct ws_discovery {
    /* "apps/v1" -> {"at": ms, "missing": bool, "kinds": {Kind: {resource, namespaced, status}}} */
    json_t *gvs;
};

int ws_discovery_new(struct ws_discovery **out)
{
    struct ws_discovery *d = calloc(1, sizeof(*d));
    if (!d || !(d->gvs = json_object())) {
        free(d);
        return WS_ENOMEM;
    }
    *out = d;
    return 0;
}

void ws_discovery_free(struct ws_discovery *d)
{
    if (!d)
        return;
    json_decref(d->gvs);
    free(d);
}

int ws_api_version_split(const char *api_version, char *group, size_t glen, char *version,
                         size_t vlen)
{
    const char *slash;
    size_t gl;
    if (!api_version || !*api_version)
        return WS_EINVAL;
    slash = strchr(api_version, '/');
    if (!slash) {
        if (strlen(api_version) >= vlen)
            return WS_EINVAL;
        group[0] = '\0';
        strcpy(version, api_version);
        return 0;
    }
    gl = (size_t)(slash - api_version);
    if (gl == 0 || gl >= glen || strlen(slash + 1) >= vlen || !slash[1] || strchr(slash + 1, '/'))
        return WS_EINVAL;
    memcpy(group, api_version, gl);
    group[gl] = '\0';
    strcpy(version, slash + 1);
    return 0;
}

void ws_discovery_gv_path(char *out, size_t len, const char *api_version)
{
    if (strchr(api_version, '/'))
        snprintf(out, len, "/apis/%s", api_version);
    else
        snprintf(out, len, "/api/%s", api_version);
}

static int has_verb(const json_t *resource, const char *verb)
{
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(resource, "verbs"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), verb) == 0)
            return 1;
    return 0;
}

int ws_discovery_store(struct ws_discovery *d, const char *api_version, const json_t *list,
                       uint64_t now_ms, struct ws_err *err)
{
    json_t *resources = json_object_get(list, "resources"), *r, *kinds, *entry;
    size_t i;
    if (!json_is_object(list) || !json_is_array(resources))
        return ws_err_set(err, WS_EINVAL, "discovery for %s: not an APIResourceList", api_version);
    if (!(kinds = json_object()))
        return WS_ENOMEM;
    /* First pass: top-level resources give the kind's plural and scope. */
    json_array_foreach(resources, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *kind = json_string_value(json_object_get(r, "kind"));
        if (!name || !kind || strchr(name, '/'))
            continue;
        /* Several resources may share a kind; the first listed plural
         * that supports "patch" wins, else the first. */
        entry = json_object_get(kinds, kind);
        if (entry && (json_is_true(json_object_get(entry, "patch")) || !has_verb(r, "patch")))
            continue;
        json_object_set_new(kinds, kind, /* steals */
                            json_pack("{s:s, s:b, s:b, s:b}", "resource", name, "namespaced",
                                      json_is_true(json_object_get(r, "namespaced")), "status", 0,
                                      "patch", has_verb(r, "patch")));
    }
    /* Second pass: subresources ("deployments/status") mark their kind. */
    json_array_foreach(resources, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *slash = name ? strchr(name, '/') : NULL;
        const char *key;
        json_t *k;
        if (!slash || strcmp(slash, "/status") != 0)
            continue;
        json_object_foreach(kinds, key, k) {
            const char *res = json_string_value(json_object_get(k, "resource"));
            if (res && strlen(res) == (size_t)(slash - name) &&
                strncmp(res, name, (size_t)(slash - name)) == 0)
                json_object_set_new(k, "status", json_true()); /* steals */
        }
    }
    json_object_set_new(d->gvs, api_version, /* steals */
                        json_pack("{s:I, s:b, s:o}", "at", (json_int_t)now_ms, "missing", 0,
                                  "kinds", kinds));
    return 0;
}

void ws_discovery_store_missing(struct ws_discovery *d, const char *api_version, uint64_t now_ms)
{
    json_object_set_new(d->gvs, api_version, /* steals */
                        json_pack("{s:I, s:b, s:{}}", "at", (json_int_t)now_ms, "missing", 1,
                                  "kinds"));
}

void ws_discovery_forget(struct ws_discovery *d, const char *api_version)
{
    json_object_del(d->gvs, api_version);
}

int ws_discovery_lookup(struct ws_discovery *d, const char *api_version, const char *kind,
                        struct ws_resource *out, uint64_t *fetched_ms)
{
    json_t *gv = json_object_get(d->gvs, api_version), *k;
    const char *res;
    if (!gv)
        return 1;
    if (fetched_ms)
        *fetched_ms = (uint64_t)json_integer_value(json_object_get(gv, "at"));
    k = json_object_get(json_object_get(gv, "kinds"), kind);
    if (!k)
        return WS_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    if (ws_api_version_split(api_version, out->group, sizeof(out->group), out->version,
                             sizeof(out->version)) < 0)
        return WS_ENOTFOUND;
    res = json_string_value(json_object_get(k, "resource"));
    snprintf(out->kind, sizeof(out->kind), "%s", kind);
    snprintf(out->resource, sizeof(out->resource), "%s", res ? res : "");
    out->namespaced = json_is_true(json_object_get(k, "namespaced"));
    out->has_status = json_is_true(json_object_get(k, "status"));
    return 0;
}

static int append_segment(struct ws_buf *out, const char *seg)
{
    char *e = ws_url_escape(seg);
    int rc;
    if (!e)
        return WS_ENOMEM;
    rc = ws_buf_appendf(out, "/%s", e);
    free(e);
    return rc;
}

int ws_resource_path(struct ws_buf *out, const struct ws_resource *r, const char *ns,
                     const char *name, const char *sub)
{
    int rc;
    if (r->group[0])
        rc = ws_buf_appendf(out, "/apis/%s/%s", r->group, r->version);
    else
        rc = ws_buf_appendf(out, "/api/%s", r->version);
    if (rc == 0 && r->namespaced && ns && *ns) {
        if ((rc = ws_buf_append(out, "/namespaces", 11)) == 0)
            rc = append_segment(out, ns);
    }
    if (rc == 0)
        rc = ws_buf_appendf(out, "/%s", r->resource);
    if (rc == 0 && name && *name)
        rc = append_segment(out, name);
    if (rc == 0 && name && *name && sub && *sub)
        rc = ws_buf_appendf(out, "/%s", sub);
    return rc;
}
