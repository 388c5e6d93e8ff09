/* catalog.h — the Applications wavesync knows: read from the folders that
 * wavesync.yaml's `applications` entries name, in their repositories, at
 * their revisions. BLOCKING (git): load from a worker thread. */
#ifndef WS_CATALOG_H
#define WS_CATALOG_H

#include <jansson.h>

#include "app.h"
#include "config.h"

struct ws_catalog {
    struct ws_app *apps;
    size_t napps;
    json_t *skipped; /* [{file, kind, name, reason}] documents that are not Applications we run */
    json_t *sources; /* [{repository, path, revision, commit}] what was read */
    json_t *invalid; /* [{file, name?, error}] Application documents that failed to parse */
};

/* Mirror each applications[] repository into state_dir/repos, read its folder
 * (recursively) at its revision and parse every Application. An Application
 * that does not parse, a duplicate name, a document of another kind, or a
 * YAML error goes to `invalid` with a message naming the file, and the rest
 * load: one bad file does not stop the other applications. An
 * ApplicationSet is listed in `skipped` (not supported yet). Errors are
 * returned only for what stops everything (git, the configuration).
 * Mirrors fetched at or after `since` (Unix seconds; 0 = always fetch) are
 * read as they are. Each app's def_dir is the index of the cfg->app_dirs
 * entry it was read from. */
int ws_catalog_load(struct ws_catalog *out, const struct ws_config *cfg, int64_t since,
                    struct ws_err *err);
void ws_catalog_free(struct ws_catalog *c);
const struct ws_app *ws_catalog_find(const struct ws_catalog *c, const char *name);
/* The error recorded for an invalid Application called `name`, or NULL. */
const char *ws_catalog_invalid(const struct ws_catalog *c, const char *name);

#endif
