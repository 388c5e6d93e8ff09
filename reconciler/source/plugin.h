/* plugin.h — config management plugins (wavesync.yaml `plugins:`, Argo CD's
 * sidecar plugins): which plugin renders a source, and running its init and
 * generate argument vectors (never a shell) in the exported tree at the
 * source path, under base/proc.h's limits, with a clean environment and
 * Argo CD's build environment variables.
 * BLOCKING (ws_plugin_generate): worker threads only. */
#ifndef WS_PLUGIN_H
#define WS_PLUGIN_H

#include <jansson.h>

#include "base/error.h"
#include "config/config.h"
#include "source/app.h"

/* Does any plugin have a discover rule (so that sources without an explicit
 * type must be looked at for plugins first, as Argo CD does)? */
int ws_plugin_any_discovery(const struct ws_config *c);

/* Argo CD's selection, for a source whose folder is `dir` (in an exported
 * tree): a named plugin (src->plugin_name) must exist (else WS_EINVAL naming
 * it) and, when it has a discover rule, match; otherwise the first plugin
 * whose discover.fileName glob matches a file under `dir`. *out is NULL when
 * nothing matches (an error only when `src` has a plugin block: the caller
 * decides). Borrowed from `c`. */
int ws_plugin_select(const struct ws_plugin_cfg **out, const struct ws_config *c, const struct ws_app_source *src,
                     const char *dir, struct ws_err *err);

/* Does plugin `p`'s discover.fileName match under `dir`? */
int ws_plugin_discovers(const struct ws_plugin_cfg *p, const char *dir);

struct ws_plugin_run {
    const struct ws_plugin_cfg *plugin;
    const struct ws_app_source *src;
    const char *dir;          /* the source path in the exported tree: the working folder */
    const char *home;         /* HOME: an empty temporary folder */
    const char *app_name;
    const char *app_namespace; /* may be NULL */
    const char *revision;      /* the resolved commit */
    size_t max_output;         /* when the plugin sets none; 0 = base/proc.h's default */
};

/* The environment of a run, Argo CD's build environment: PATH (wavesync's),
 * HOME, ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE, ARGOCD_APP_REVISION (and
 * _SHORT, _SHORT_8), ARGOCD_APP_SOURCE_PATH, ARGOCD_APP_SOURCE_REPO_URL,
 * ARGOCD_APP_SOURCE_TARGET_REVISION, ARGOCD_APP_PARAMETERS (JSON) with
 * PARAM_<NAME>… and ARGOCD_ENV_<name> for each plugin.env entry; nothing of
 * wavesync's own environment besides PATH (no credentials). A
 * NULL-terminated "NAME=value" list; caller frees with ws_plugin_env_free.
 * Pure but for getenv("PATH"). */
int ws_plugin_env(char ***out, const struct ws_plugin_run *r);
void ws_plugin_env_free(char **env);

/* Run init (when set), then generate, and append generate's YAML/JSON
 * stream to `objects` (nothing on error). Errors name the plugin and the
 * source path: a non-zero exit (with the tail of stderr), a limit that
 * killed it, output that is not manifests. */
int ws_plugin_generate(json_t *objects, const struct ws_plugin_run *r, struct ws_err *err);

#endif
