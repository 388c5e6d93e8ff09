/* render.h — the manifests of an Application source at a commit: a plain
 * directory read straight from the Git object database (its Jsonnet files
 * evaluated by source/jsonnet.h), or the output of `kustomize build` /
 * `kubectl kustomize` / `helm template` / a config management plugin
 * (source/plugin.h) run on an exported tree (base/proc.h: own process group,
 * time, memory, CPU and output limits, killed with wavesync). A `chart:`
 * source is pulled from its Helm repository or OCI registry (chart.h)
 * instead of Git; a chart's missing dependencies are placed in its charts/
 * first.
 * BLOCKING: run from worker threads only. */
#ifndef WS_RENDER_H
#define WS_RENDER_H

#include <jansson.h>
#include <stdint.h>

#include "source/app.h"
#include "base/error.h"
#include "base/proc.h"
#include "config/config.h"

/* A `ref` source of the Application, resolved: where "$ref/…" values files
 * are read from. */
struct ws_render_ref {
    const struct ws_app_source *src; /* one of app->sources */
    const char *repo_path;           /* its repository's mirror */
    const char *commit;              /* at its targetRevision */
};

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
    int64_t fetched_since;  /* Helm indexes fetched at or after this Unix time (ms) are reused (a run's
                               snapshot, as for mirrors); 0 = fetch every time */
    const struct ws_app *app; /* the Application being rendered (plugin environment, refs) */
    const struct ws_render_ref *refs; /* the app's ref sources, resolved; nrefs of them */
    size_t nrefs;
};

/* Which renderer a source needs. */
enum ws_render_kind { WS_RENDER_DIRECTORY, WS_RENDER_KUSTOMIZE, WS_RENDER_HELM, WS_RENDER_PLUGIN };

/* Decide the renderer from the source and Git alone: a chart from a Helm
 * repository or an OCI registry (`chart:`) is Helm; explicit plugin / helm /
 * kustomize blocks win, else the files at the source path (Chart.yaml →
 * Helm, kustomization.yaml → Kustomize), else a directory. (ws_render_source
 * first asks plugins with discover rules, as Argo CD does, for a source
 * without an explicit type.) */
int ws_render_detect(enum ws_render_kind *out, const struct ws_render_ctx *ctx,
                     const struct ws_app_source *src, struct ws_err *err);

/* Append the source's objects to `objects` (a JSON array); a ref-only
 * source (ws_app_source_ref_only) appends nothing. Errors name the
 * file (directory sources: "apps/train/job.yaml:3:1: …", Jsonnet
 * "apps/x/main.jsonnet:4:9-20: RUNTIME ERROR: …") or the tool or plugin. A
 * directory whose files render nothing because none is read (unknown
 * names) or its Jsonnet evaluates to nothing is an error, unless the
 * Application has allowEmpty; YAML/JSON files without documents, a folder of
 * hidden files only (.gitkeep), render nothing without complaint. */
int ws_render_source(json_t *objects, const struct ws_render_ctx *ctx,
                     const struct ws_app_source *src, struct ws_err *err);

#endif
