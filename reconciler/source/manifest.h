/* manifest.h — Kubernetes objects from YAML text: multi-document streams,
 * `List` kinds flattened, every object checked for apiVersion, kind and
 * metadata.name. Pure: callers read the files. */
#ifndef WS_MANIFEST_H
#define WS_MANIFEST_H

#include <jansson.h>

#include "base/error.h"

/* Append every object of `buf` to the array `objects` (references are
 * stolen by the array). `name` names the file in errors
 * ("fixtures/x.yaml:14: object has no kind"). On error nothing is appended. */
int ws_manifest_parse(json_t *objects, const char *buf, size_t len, const char *name,
                      struct ws_err *err);

#endif
