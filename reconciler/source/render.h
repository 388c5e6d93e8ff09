/* render.h — the manifests of an Application source at a commit: a plain
 * directory read straight from the Git object database, or the output of
 * `kustomize build` / `kubectl kustomize` / `helm template` run on an
 * exported tree (base/proc.h: own process group, time, memory, CPU and
 * output limits, killed with wavesync). A `chart:` source is pulled from its
 * Helm repository or OCI registry (chart.h) instead of Git; a chart's
 * missing dependencies are placed in its charts/ first.
 * BLOCKING: run from worker threads only. */
#ifndef WS_RENDER_H
#define WS_RENDER_H

#include <jansson.h>
#include <stdint.h>

#include "source/app.h"
#include "base/error.h"
#include "base/proc.h"
#include "config/config.h"

struct ws_render_ctx {
    const char *repo_path;  /* local mirror of the source's repository */
    const char *commit;     /* resolved commit id */
    const char *app_name;
    const char *namespace_; /* destination namespace (helm --namespace), may be NULL */
    const char *tmp_root;   /* where to export trees for external tools */
    size_t max_bytes;       /* manifest bytes per source; 0 = 64 MiB */
    /* limits on each run of helm / kustomize (settings.tools); NULL = the
       defaults (120 s, 2 GiB, 60 s of CPU); max_output is max_bytes */
    const struct ws_proc_limits *helm_limits, *kustomize_limits;
    /* wavesync.yaml (repositories and their credentials, plugins); may be
       NULL in tests, then only Git sources without credentials render */
    const struct ws_config *config;
    const char *state_dir;  /* caches (chart archives, Helm indexes) live under it; may be NULL */
    int64_t fetched_since;  /* Helm indexes fetched at or after this Unix time are reused (a run's
                               snapshot, as for mirrors); 0 = fetch every time */
    const struct ws_app *app; /* the Application being rendered (plugin environment) */
};

/* Which renderer a source needs. */
enum ws_render_kind { WS_RENDER_DIRECTORY, WS_RENDER_KUSTOMIZE, WS_RENDER_HELM };

/* Decide the renderer: a chart from a Helm repository or an OCI registry
 * (`chart:`) is Helm; explicit helm/kustomize blocks win, else the files at
 * the source path (Chart.yaml → Helm, kustomization.yaml → Kustomize), else
 * a directory. A plugin source is an error. */
int ws_render_detect(enum ws_render_kind *out, const struct ws_render_ctx *ctx,
                     const struct ws_app_source *src, struct ws_err *err);

/* Append the source's objects to `objects` (a JSON array). Errors name the
 * file (directory sources: "apps/train/job.yaml:3:1: …") or the tool. */
int ws_render_source(json_t *objects, const struct ws_render_ctx *ctx,
                     const struct ws_app_source *src, struct ws_err *err);

#endif
