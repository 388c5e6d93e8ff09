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
};

/* Mirror each applications[] repository into state_dir/repos, read its folder
 * (recursively) at its revision and parse every Application. Duplicate
 * names are an error naming both files; an ApplicationSet is listed in
 * `skipped` (ApplicationSets are not supported yet); any other kind is an
 * error naming the file. */
int ws_catalog_load(struct ws_catalog *out, const struct ws_config *cfg, struct ws_err *err);
void ws_catalog_free(struct ws_catalog *c);
const struct ws_app *ws_catalog_find(const struct ws_catalog *c, const char *name);

#endif
