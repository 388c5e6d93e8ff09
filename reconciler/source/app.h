/* app.h — Argo CD's argoproj.io/v1alpha1 Application, as wavesync reads it:
 * sources, destination, sync policy, annotations. Pure: parsing and
 * validation of an already-parsed YAML document, errors naming file:line. */
#ifndef WS_APP_H
#define WS_APP_H

/* A branch, tag or commit longer than this is not one (refused, never echoed whole). */
#define WS_MAX_REVISION 1024

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "source/ignore.h"

struct ws_app_source {
    char *repo_url;
    char *target_revision; /* "HEAD" when empty */
    char *path;            /* normalised, relative to the repository root ("" = root); never escapes */
    char *chart;           /* Helm chart name from a Helm repository or an OCI registry (repo_url);
                              target_revision is then its version or a semver constraint */
    char *ref;             /* spec.sources[].ref: other sources' valueFiles say "$ref/path" for a file
                              of this source's repository; NULL when not set */
    int has_path;          /* path was written (a ref source without path or chart renders nothing) */
    /* directory */
    int recurse;
    char *include;         /* glob, e.g. "*.yaml" or "{a.yaml,b.yaml}"; NULL = all manifests */
    char *exclude;
    /* directory.jsonnet: [{name, value (string), code (bool)}] or NULL; libs:
       folders relative to the repository root (normalised, never escaping) */
    json_t *jsonnet_ext_vars, *jsonnet_tlas, *jsonnet_libs;
    /* plugin: name NULL = discovery (plugin.h); env [{name, value}] (as
       ARGOCD_ENV_<name>); parameters as written ([{name, string|array|map}],
       ARGOCD_APP_PARAMETERS) or NULL */
    char *plugin_name;
    json_t *plugin_env, *plugin_parameters;
    /* helm */
    char *helm_release_name;
    char **helm_value_files; /* NULL-terminated, relative to path, or "$ref/path" (relative to the
                                root of the repository of the source whose ref is `ref`) */
    json_t *helm_parameters; /* [{name, value}] or NULL */
    char *helm_values;       /* inline values (YAML text) or NULL */
    int helm_ignore_missing; /* helm.ignoreMissingValueFiles */
    /* kustomize */
    char *kustomize_name_prefix, *kustomize_name_suffix;
    json_t *kustomize_images; /* ["name=new:tag", …] or NULL */
    int has_helm, has_kustomize, has_directory, has_plugin; /* which blocks were given */
};

struct ws_app {
    char *name;
    char *file;          /* where it was defined, for messages */
    int line;
    json_t *annotations; /* object (owned), {} when none */
    json_t *labels;
    struct ws_app_source *sources;
    size_t nsources;
    char *dest_server;   /* one of server / name is set */
    char *dest_name;
    char *dest_namespace; /* may be NULL */
    char *project;
    int automated, auto_prune, self_heal, allow_empty;
    unsigned sync_options; /* WS_OPT_* (sync_options.h) from spec.syncPolicy.syncOptions */
    int retry_limit;       /* 0 = no retries */
    uint64_t retry_backoff_ms, retry_max_backoff_ms;
    int retry_factor;
    uint64_t wave_timeout_ms;    /* wavesync.dev/wave-timeout; 0 = settings default */
    char *manifest_generate_paths; /* argocd.argoproj.io/manifest-generate-paths, or NULL */
    struct ws_ignore_rule *ignore; /* spec.ignoreDifferences (ignore.h), in order; owned */
    size_t nignore;
    size_t def_dir;      /* set by the catalog: which configured applications folder `file` is in */
};

/* Whether the source renders nothing by itself: a `ref` source without a
 * path or chart, only there for other sources' "$ref/…" values files (as in
 * Argo CD). */
int ws_app_source_ref_only(const struct ws_app_source *s);

/* For a values file "$ref/path": the source whose ref is `ref` in *out and
 * the repository-relative path in *path (borrowed from vf). 0, or
 * WS_ENOTFOUND when vf is not a "$…/" reference or names no source. */
int ws_app_value_ref(const struct ws_app *a, const char *vf, const struct ws_app_source **out,
                     const char **path);

/* Parse an Application from one YAML document (`obj`, with its position
 * mirror `pos` from yaml.h, may be NULL). `file` names the source file.
 * Validates: apiVersion argoproj.io/v1alpha1, kind Application, a name, one
 * of source/sources, a destination with server or name, paths that stay
 * inside the repository, durations, spec.ignoreDifferences entries (known
 * keys, a kind, JSON pointers, the jq paths ignore.h takes). Caller frees
 * with ws_app_free. */
int ws_app_parse(struct ws_app *out, const json_t *obj, const json_t *pos, const char *file,
                 struct ws_err *err);
void ws_app_free(struct ws_app *a);

#endif
