/* fuzz_manifest.c — reconciler/source/manifest.c on any bytes: the objects
 * of a rendered application (a directory's files, Kustomize's or Helm's
 * output). Every object it hands on must be one the sync engine can name. */
#include "fuzz.h"

#include <jansson.h>

#include "base/log.h"
#include "source/manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    return 0;
}

static int nonempty(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *objects, *obj;
    struct ws_err err;
    size_t i;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (!(objects = json_array()))
        return 0;
    if (ws_manifest_parse(objects, (const char *)data, size, "fuzz.yaml", &err) == 0) {
        json_array_foreach(objects, i, obj) {
            const json_t *md = json_object_get(obj, "metadata");
            FUZZ_CHECK(json_is_object(obj), "object %zu is not a mapping", i);
            FUZZ_CHECK(nonempty(json_object_get(obj, "apiVersion")), "object %zu: apiVersion", i);
            FUZZ_CHECK(nonempty(json_object_get(obj, "kind")), "object %zu: kind", i);
            FUZZ_CHECK(json_is_object(md) && (nonempty(json_object_get(md, "name")) ||
                                              nonempty(json_object_get(md, "generateName"))),
                       "object %zu: metadata.name", i);
        }
    } else {
        FUZZ_CHECK(json_array_size(objects) == 0, "an error appended %zu objects",
                   json_array_size(objects));
    }
    json_decref(objects);
    return 0;
}
