/* config.h — wavesync.yaml: repositories, clusters, where Applications live,
 * settings, and secret references (env:NAME, file:PATH). Unknown keys,
 * missing references and bad durations are errors naming file:line.
 *
 *   repositories: [{name, url, type: git|helm, enableOCI, plainHTTP, offlineIndex, caFile,
 *                   credentials: {username, password, token, certFile, keyFile},
 *                   webhook: {secret, allowUnsigned},
 *                   status: {provider: github|gitlab, apiURL, token, project}}]
 *   clusters:     [{name, kubeconfig, context, aliases: [url…]} or
 *                  {name, server, caFile, caData, insecure, token, tokenFile,
 *                   certFile, certData, keyFile, keyData, exec, namespace, aliases} or
 *                  {name (default in-cluster), inCluster: true, serviceAccountDir, namespace, aliases}:
 *                   the pod's own cluster; https://kubernetes.default.svc is an implicit alias]
 *   applications: [{repository, path, revision}]
 *   settings:     {waveTimeout, syncTimeout, concurrency, stateDir, inventoryNamespace,
 *                  pollInterval, tools: {helm: {timeout, memory, cpu}, kustomize: {…}, jsonnet: {…}}}
 *   plugins:      [{name, init: [argv…], generate: [argv…], discover: {fileName: glob},
 *                   timeout, memory, cpu, maxOutput}]
 *   server:       {listen, apiToken, maxBodySize, readTimeout, fetchRetryTimeout,
 *                  shutdownGrace, rateLimit: {perSecond, burst}, publicURL}
 *   health:       {directory, scripts: {"group/Kind": lua}}
 *   store:        {postgres, password, caFile, certFile, keyFile, replica, lease}
 *   (clusters also take labels: {k: v}, for ApplicationSet cluster generators)
 */
#ifndef WS_CONFIG_H
#define WS_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/proc.h"
#include "config/kubeconfig.h"

#define WS_TOOL_DEFAULT_TIMEOUT_MS 120000
#define WS_PLUGIN_DEFAULT_TIMEOUT_MS 90000

/* What a repository holds: `type:` as written, else WS_REPO_ANY (the
 * Applications say: `chart:` set means Helm), but an oci:// URL or
 * enableOCI is always Helm. */
enum ws_repo_type { WS_REPO_ANY, WS_REPO_GIT, WS_REPO_HELM };

struct ws_repo {
    char *name;
    char *url;       /* as written */
    char *norm_url;  /* ws_git_url_normalize(url) */
    enum ws_repo_type type;
    int enable_oci;  /* Helm charts in an OCI registry (also implied by an oci:// URL) */
    int plain_http;  /* OCI registry over http:// instead of https:// (a local test registry) */
    int offline_index; /* Helm: when the repository cannot be reached, use the index cached by
                          an earlier run (a warning) instead of failing */
    char *username;  /* resolved secrets; NULL when not configured; never logged */
    char *password;
    char *token;     /* bearer token (Helm repositories and OCI registries) */
    char *cert_file, *key_file, *ca_file; /* TLS client certificate and key, CA bundle (absolute);
                                             Helm repositories and OCI registries */
    /* webhooks: the secret (GitHub/Gitea HMAC key, GitLab token, our hooks'
       HMAC key); deliveries without a valid signature are refused unless
       allow_unsigned is set explicitly. */
    char *webhook_secret;
    int allow_unsigned;
    /* commit status reporting; status_provider NULL = off */
    char *status_provider; /* "github" | "gitlab" */
    char *status_api_url;  /* default https://api.github.com / https://gitlab.com/api/v4 */
    char *status_token;
    char *status_project;  /* "owner/repo" or GitLab project id/path; NULL = from the push */
    int line;
};

struct ws_cluster_cfg {
    char *name;
    char **aliases;  /* server URLs that also select this cluster (normalised: no trailing '/') */
    size_t naliases;
    struct ws_kubeconfig kc; /* loaded at config load (kubeconfig+context, or inline) */
    json_t *labels;          /* {key: value} strings ({} when none), for ApplicationSet cluster generators */
    int line;
};

struct ws_app_dir {
    char *repository; /* a ws_repo name */
    char *path;       /* folder in that repository holding Application YAML ("" = root) */
    char *revision;   /* branch/tag/commit to read the Applications from; NULL = HEAD */
    int line;
};

struct ws_settings {
    uint64_t wave_timeout_ms;  /* default 5m */
    uint64_t sync_timeout_ms;  /* default 30m */
    int concurrency;           /* syncs at once; default 4 */
    char *state_dir;           /* default "$XDG_STATE_HOME/wavesync" or "~/.local/state/wavesync";
                                  relative paths are relative to the config file's folder */
    char *inventory_namespace; /* default "wavesync" */
    uint64_t poll_interval_ms; /* `serve` lists every repository's refs this often (plus jitter)
                                  and routes a moved ref as a push: lost webhooks; default 2m,
                                  0 = off */
    /* settings.tools: each run of helm, and of kustomize (build and edit, also as
       `kubectl kustomize`): timeout 120s, memory 2Gi (address space), cpu 60s.
       `setting` names the key ("settings.tools.helm") for messages; max_output
       is the renderer's. */
    struct ws_proc_limits helm, kustomize;
    /* settings.tools.jsonnet: each evaluation of a source's Jsonnet files
       (source/jsonnet.h): timeout 60s, memory 1Gi, cpu 60s */
    struct ws_proc_limits jsonnet;
};

/* plugins[]: a config management plugin, Argo CD's sidecar plugin as
 * argument vectors run in the exported tree at the source path (source/plugin.h). */
struct ws_plugin_cfg {
    char *name;
    char **init;          /* NULL-terminated argument vector, or NULL */
    char **generate;      /* NULL-terminated argument vector (required) */
    char *discover_file;  /* discover.fileName: a glob relative to the source path, or NULL */
    struct ws_proc_limits limits; /* timeout (default 90s, as ARGOCD_EXEC_TIMEOUT), memory,
                                     cpu, maxOutput; limits.setting points at `setting` */
    char setting[32];     /* "plugins[2]", for messages */
    int line;
};

/* `wavesync serve`. */
struct ws_server_cfg {
    char *listen_host;          /* default 127.0.0.1 */
    int listen_port;            /* default 8080 */
    char *api_token;            /* bearer token for /api/v1; NULL = API writes refused */
    size_t max_body_bytes;      /* default 25 MB */
    uint64_t read_timeout_ms;   /* default 10s */
    uint64_t fetch_retry_ms;    /* how long a pushed commit that is not fetchable yet is retried; 2m */
    double rate_per_second;     /* webhook deliveries per source address; default 100 */
    double rate_burst;          /* default 200 */
    char *public_url;           /* for commit statuses' target_url; NULL = none */
    uint64_t shutdown_grace_ms; /* SIGTERM: running syncs may finish this long, then are
                                   checkpointed (run again at the next start); default 30s */
};

/* store: where `serve` keeps its state. Absent: SQLite in stateDir. With
 * postgres: PostgreSQL, which several replicas share. */
struct ws_store_cfg {
    char *postgres;    /* the libpq connection string or URI as written; NULL = SQLite */
    char *password;    /* resolved secret, or NULL (libpq's own: PGPASSWORD, ~/.pgpass) */
    char *sslmode;     /* as written in the string, else verify-full with caFile, else
                          disable for a server on this machine (a remote one without either is refused) */
    char *ca_file, *cert_file, *key_file; /* absolute, or NULL */
    char *where;       /* "host:port/dbname", for messages */
    char *replica;     /* this replica's name; NULL = "<host name>:<stateDir>" */
    uint64_t lease_ms; /* default 15s */
    int line;
};

/* Custom health checks, Argo CD's health.lua format. */
struct ws_health_cfg {
    char *directory;  /* <group>/<kind>/health.lua files (absolute), or NULL */
    json_t *scripts;  /* {"group/Kind": "lua source"} or NULL; these win over the directory */
};

struct ws_config {
    char *path;      /* the file it came from (or the name given to ws_config_parse) */
    char *base_dir;  /* its folder, absolute */
    struct ws_repo *repos;
    size_t nrepos;
    struct ws_cluster_cfg *clusters;
    size_t nclusters;
    struct ws_app_dir *app_dirs;
    size_t napp_dirs;
    struct ws_settings settings;
    struct ws_server_cfg server;
    struct ws_health_cfg health;
    struct ws_store_cfg store;
    struct ws_plugin_cfg *plugins;
    size_t nplugins;
};

/* Parse config text. `name` labels errors ("wavesync.yaml:12: unknown key
 * \"repo\" in repositories[0]"); `base_dir` resolves relative paths (kubeconfig,
 * tokenFile, caFile, stateDir, file: secrets). Reads referenced files
 * (kubeconfigs, file: secrets) — blocking: call at startup. Caller frees with
 * ws_config_free. */
int ws_config_parse(struct ws_config *out, const char *buf, size_t len, const char *name,
                    const char *base_dir, struct ws_err *err);
int ws_config_load(struct ws_config *out, const char *path, struct ws_err *err);
void ws_config_free(struct ws_config *c);

/* Override server.listen ("HOST:PORT", ":PORT", "[::1]:PORT"). 0 or WS_EINVAL. */
int ws_config_set_listen(struct ws_config *c, const char *listen);

/* Lookups (borrowed results, NULL when none). A repository matches by
 * normalised URL; a cluster by name, or by server URL / alias. */
const struct ws_repo *ws_config_repo_by_name(const struct ws_config *c, const char *name);
const struct ws_repo *ws_config_repo_by_url(const struct ws_config *c, const char *url);
const struct ws_plugin_cfg *ws_config_plugin_by_name(const struct ws_config *c, const char *name);
const struct ws_cluster_cfg *ws_config_cluster_by_name(const struct ws_config *c, const char *name);
const struct ws_cluster_cfg *ws_config_cluster_by_server(const struct ws_config *c,
                                                         const char *server);

/* Resolve a secret reference: "env:NAME" (the variable must be set and
 * non-empty), "file:PATH" (relative to base_dir; trailing newline dropped),
 * anything else is the literal value. Caller frees. Errors never contain the
 * secret's value. */
int ws_secret_resolve(char **out, const char *ref, const char *base_dir, struct ws_err *err);

/* Normalise a Git URL for matching: scheme, user and ".git" dropped, host
 * lower-cased, scp-like "git@host:org/repo" treated as ssh, trailing slashes
 * dropped: "https://GitHub.com/Org/Repo.git" → "github.com/Org/Repo";
 * file:///srv/x.git → "/srv/x". Caller frees; NULL on ENOMEM. */
char *ws_git_url_normalize(const char *url);

#endif
