/* jsonnet.h — Jsonnet files of a directory source evaluated to manifest
 * objects with the Jsonnet C library, in a child process: wavesync runs
 * itself (`/proc/self/exe __jsonnet …`, a hidden command) under base/proc.h's
 * limits, so that a file that recurses, allocates or loops without end costs
 * a bounded child, never the service. The child evaluates from an exported
 * tree; every import (import, importstr) is resolved by our own callback and
 * must stay — symlinks resolved — inside that tree: relative to the
 * importing file, then in each library folder (directory.jsonnet.libs).
 * BLOCKING (ws_jsonnet_eval): worker threads only. */
#ifndef WS_JSONNET_H
#define WS_JSONNET_H

#include <jansson.h>

#include "base/error.h"
#include "base/proc.h"

/* The defaults of settings.tools.jsonnet (a C++ evaluator: 1 GiB of address
 * space is plenty for any sane file). */
#define WS_JSONNET_DEFAULT_TIMEOUT_MS 60000
#define WS_JSONNET_DEFAULT_MEMORY (1ull << 30)

struct ws_jsonnet_opts {
    const char *root;         /* the exported repository tree (absolute) */
    const char *const *files; /* *.jsonnet to evaluate, relative to root, NULL-terminated */
    const json_t *ext_vars;   /* [{name, value, code: bool}] or NULL (app.h) */
    const json_t *tlas;       /* the same shape, or NULL */
    const json_t *libs;       /* ["path/in/repo", …] library folders, or NULL */
    struct ws_proc_limits limits; /* 0 = the defaults above; max_output bounds the JSON */
    const char *self;         /* a binary whose main handles `__jsonnet` (ws_jsonnet_main);
                                 NULL = /proc/self/exe */
};

/* Evaluate every file and append its objects to `objects` (a JSON array; on
 * error nothing is appended). A file whose result is an object is one
 * manifest (an empty object none), a list many, a `List` kind its items;
 * anything else is an error naming the file. Evaluation errors name
 * "file:line:col" relative to the repository; an import leaving the
 * repository is refused, naming the importing file and the import. Limits
 * that end the evaluation are named ("jsonnet: killed after 60 s
 * (settings.tools.jsonnet.timeout)"). */
int ws_jsonnet_eval(json_t *objects, const struct ws_jsonnet_opts *o, struct ws_err *err);

/* The child: `__jsonnet ROOT [--ext-str K=V] [--ext-code K=V] [--tla-str K=V]
 * [--tla-code K=V] [--lib DIR]… -- FILE…` (argv[0] is "__jsonnet"). Writes
 * {"results": [{"file", "value"}…]} or {"error": "file:line:col: …"} to
 * stdout and returns 0; other exit codes are usage or I/O failures. */
int ws_jsonnet_main(int argc, char **argv);

/* libjsonnet's multi-line error as one line that starts with the location:
 * "RUNTIME ERROR: x\n\ta.jsonnet:3:5-9\t…" → "a.jsonnet:3:5-9: RUNTIME ERROR: x".
 * Pure; for tests. */
void ws_jsonnet_error_line(char *buf, size_t len, const char *msg);

#endif
