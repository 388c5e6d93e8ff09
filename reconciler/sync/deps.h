/* deps.h — `wavesync.dev/depends-on` between applications synced together:
 * a dependent starts once every dependency in the same run has succeeded
 * (its objects Healthy); a dependency that fails keeps its dependents from
 * starting; a cycle is an error naming it. Pure. */
#ifndef WS_DEPS_H
#define WS_DEPS_H

#include <stddef.h>

#include "source/app.h"
#include "base/error.h"

enum ws_dep_state { WS_DEP_WAITING, WS_DEP_RUNNING, WS_DEP_SUCCEEDED, WS_DEP_FAILED };

struct ws_deps {
    size_t n;
    size_t **on;       /* on[i]: indices (into the run) app i waits for; -1 terminated */
    size_t *non;
    enum ws_dep_state *state;
};

/* The dependency graph of `apps` (n of them, the applications of one run).
 * Dependencies naming an application outside the run are ignored (they are
 * not being synced now). A cycle → WS_ECONFIG with the cycle in err
 * ("wavesync.dev/depends-on cycle: a → b → a"). Caller frees with
 * ws_deps_free. */
int ws_deps_build(struct ws_deps *out, const struct ws_app *const *apps, size_t n, struct ws_err *err);
void ws_deps_free(struct ws_deps *d);

/* May app i start now? 1 when all its dependencies succeeded; 0 when one is
 * still waiting or running; -1 when one failed (it never will: *failed is
 * set to that dependency's index). */
int ws_deps_ready(const struct ws_deps *d, size_t i, size_t *failed);

/* Parse the annotation value "a, b,c" into names (NULL-terminated, caller
 * frees each and the array). Empty entries are skipped. */
int ws_deps_parse(char ***out, const char *value);

#endif
