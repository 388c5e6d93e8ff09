/* test_compare.c — table-driven tests for reconciler/sync/compare.c: what
 * counts as a difference between the object wavesync applies and the live
 * one (server defaults, quantities, list keys, fields removed from Git as
 * managedFields show them, Secrets, ignore rules). */
#include <stdio.h>
#include <string.h>

#include "sync/compare.h"
#include "tap.h"

/* A Deployment as applied, and live with the server's additions. */
#define DESIRED                                                                                      \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"m\",\"namespace\":\"ml\"," \
    "\"labels\":{\"app\":\"m\"}},\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{"      \
    "\"name\":\"s\",\"image\":\"img:1\",\"ports\":[{\"containerPort\":8080}],\"resources\":{\"requests\":{" \
    "\"cpu\":0.5,\"memory\":\"1Gi\"}}}]}}}}"

#define MANAGED(fields)                                                                               \
    "\"managedFields\":[{\"manager\":\"wavesync\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\"," \
    "\"fieldsV1\":" fields "}]"

#define WS_FIELDS                                                                                     \
    "{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:replicas\":{},\"f:template\":{"      \
    "\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"s\\\"}\":{\".\":{},\"f:name\":{},\"f:image\":{},"  \
    "\"f:ports\":{\"k:{\\\"containerPort\\\":8080,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"               \
    "\"f:containerPort\":{}}},\"f:resources\":{\"f:requests\":{\"f:cpu\":{},\"f:memory\":{}}}}}}}}}"

#define LIVE(image, replicas, extra_label)                                                            \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"m\",\"namespace\":\"ml\"," \
    "\"resourceVersion\":\"7\",\"uid\":\"u\",\"generation\":3,\"labels\":{\"app\":\"m\"" extra_label "}," \
    MANAGED(WS_FIELDS) "},\"spec\":{\"replicas\":" replicas ",\"template\":{\"spec\":{\"containers\":[{"   \
    "\"name\":\"s\",\"image\":\"" image "\",\"imagePullPolicy\":\"IfNotPresent\",\"ports\":[{"               \
    "\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":{\"cpu\":\"500m\","          \
    "\"memory\":\"1Gi\"}}}]}}},\"status\":{\"replicas\":2}}"

static int ignore_replicas(const json_t *obj, const char *pointer, const char *manager, void *data)
{
    (void)obj;
    (void)data;
    return manager ? strcmp(manager, "hpa") == 0 : strcmp(pointer, "/spec/replicas") == 0;
}

static const struct {
    const char *name, *desired, *live;
    ws_compare_ignore_cb ignore;
    const char *paths; /* expected difference paths, joined with ' ' */
} rows[] = {
    {"in sync: server defaults, status, metadata and 0.5 = 500m are no difference", DESIRED,
     LIVE("img:1", "2", ""), NULL, ""},
    {"a label added live is not ours to compare", DESIRED, LIVE("img:1", "2", ",\"extra\":\"x\""), NULL, ""},
    {"an image changed live", DESIRED, LIVE("img:2", "2", ""), NULL,
     "/spec/template/spec/containers/0/image"},
    {"replicas changed live", DESIRED, LIVE("img:1", "5", ""), NULL, "/spec/replicas"},
    {"replicas changed live, ignored by a rule", DESIRED, LIVE("img:1", "5", ""), ignore_replicas, ""},
    {"missing live: one difference at the root", DESIRED, NULL, NULL, "/"},
    {"a field Git no longer sets but wavesync's Apply owns live is a difference",
     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"m\",\"namespace\":\"ml\","
     "\"labels\":{\"app\":\"m\"}},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"s\","
     "\"image\":\"img:1\",\"ports\":[{\"containerPort\":8080}],\"resources\":{\"requests\":{\"cpu\":\"500m\","
     "\"memory\":\"1Gi\"}}}]}}}}",
     LIVE("img:1", "2", ""), NULL, "/spec/replicas"},
    {"a container port removed from Git (list item by key) is a difference",
     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"m\",\"namespace\":\"ml\","
     "\"labels\":{\"app\":\"m\"}},\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{"
     "\"name\":\"s\",\"image\":\"img:1\",\"ports\":[],\"resources\":{\"requests\":{\"cpu\":0.5,"
     "\"memory\":\"1Gi\"}}}]}}}}",
     LIVE("img:1", "2", ""), NULL, "/spec/template/spec/containers/0/ports"},
    {"a Secret's stringData equal to live data (base64) is no difference",
     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"stringData\":{\"user\":\"ml\"}}",
     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"data\":{\"user\":\"bWw=\"},"
     "\"type\":\"Opaque\"}",
     NULL, ""},
    {"a Secret's stringData changed live: the path, never the value",
     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"stringData\":{\"user\":\"ml\"}}",
     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"data\":{\"user\":\"b3RoZXI=\"}}",
     NULL, "/stringData/user"},
    {"quantities compare by value only under resources: 1Gi = 1073741824",
     "{\"kind\":\"X\",\"spec\":{\"resources\":{\"limits\":{\"memory\":\"1Gi\"}},\"size\":\"1k\"}}",
     "{\"kind\":\"X\",\"spec\":{\"resources\":{\"limits\":{\"memory\":1073741824}},\"size\":\"1000\"}}", NULL,
     "/spec/size"},
    {"a key with '/' is escaped in the pointer",
     "{\"kind\":\"X\",\"metadata\":{\"annotations\":{\"a/b~c\":\"1\"}}}",
     "{\"kind\":\"X\",\"metadata\":{\"annotations\":{\"a/b~c\":\"2\"}}}", NULL,
     "/metadata/annotations/a~1b~0c"},
    {"null and empty in Git match a missing field", "{\"kind\":\"X\",\"spec\":{\"a\":null,\"b\":{},\"c\":[]}}",
     "{\"kind\":\"X\",\"spec\":{}}", NULL, ""},
    {"a list of a different length differs as a whole", "{\"kind\":\"X\",\"spec\":{\"args\":[\"a\",\"b\"]}}",
     "{\"kind\":\"X\",\"spec\":{\"args\":[\"a\"]}}", NULL, "/spec/args"},
};

int main(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_error_t je;
        json_t *d = json_loads(rows[i].desired, 0, &je), *l = rows[i].live ? json_loads(rows[i].live, 0, &je) : NULL;
        json_t *out, *v;
        char got[1024] = "";
        size_t k;
        if (!d || (rows[i].live && !l)) {
            tap_ok(0, "%s: fixture parses (%s)", rows[i].name, je.text);
            continue;
        }
        out = ws_compare(d, l, "wavesync", rows[i].ignore, NULL, 0);
        json_array_foreach(out, k, v) {
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "",
                     json_string_value(json_object_get(v, "path")));
            if (strstr(rows[i].name, "never the value"))
                tap_ok(!json_object_get(v, "desired") && !json_object_get(v, "live"), "%s: no values",
                       rows[i].name);
        }
        tap_is_str(got, rows[i].paths, rows[i].name);
        json_decref(out);
        json_decref(d);
        json_decref(l);
    }
    {
        char p[16] = "/a";
        tap_is_int(ws_pointer_append(p, sizeof(p), "b/c"), 0, "pointer_append: fits");
        tap_is_str(p, "/a/b~1c", "pointer_append: escapes '/'");
        tap_is_int(ws_pointer_append(p, sizeof(p), "0123456789"), -1, "pointer_append: too long is refused");
    }
    tap_is_str(ws_sync_status_str(WS_SYNC_OUTOFSYNC), "OutOfSync", "status names");
    return tap_done();
}
