/* kubeconfig.h — how to reach and authenticate to one cluster: parsed from a
 * kubeconfig file (clusters, users, contexts, current-context), from inline
 * settings, or from the in-cluster service account. Pure parsing; file reads
 * happen only in ws_kubeconfig_load / ws_kubeconfig_in_cluster (startup). */
#ifndef WS_KUBECONFIG_H
#define WS_KUBECONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* An exec credential plugin (client.authentication.k8s.io/v1 or v1beta1). */
struct ws_kube_exec {
    char *command;     /* resolved: relative paths with a '/' are made absolute against the kubeconfig's folder */
    char **args;       /* NULL-terminated */
    char **env;        /* "NAME=value", NULL-terminated (added to the inherited environment) */
    char *api_version; /* e.g. "client.authentication.k8s.io/v1" */
    int provide_cluster_info;
};

/* Everything needed to talk to one API server. Strings are owned; free the
 * whole struct with ws_kubeconfig_free. Data fields hold decoded PEM bytes. */
struct ws_kubeconfig {
    char *context;     /* context name used, or NULL for inline/in-cluster */
    char *server;      /* https://host:port, no trailing slash */
    char *namespace_;  /* default namespace ("default" when unset) */
    int insecure;      /* insecure-skip-tls-verify */
    char *tls_server_name;
    char *ca_file;
    char *ca_data;     size_t ca_len;
    char *cert_file;
    char *cert_data;   size_t cert_len;
    char *key_file;
    char *key_data;    size_t key_len;
    char *token;       /* never logged */
    char *token_file;
    char *username, *password; /* basic auth (legacy; supported for completeness) */
    struct ws_kube_exec *exec; /* NULL unless an exec plugin is configured */
};

/* Parse kubeconfig YAML text. `name` is used in errors; `base_dir` resolves
 * relative file paths (NULL: leave them as they are); `context` selects a
 * context (NULL: current-context). Fills *out (zeroed first). */
int ws_kubeconfig_parse(struct ws_kubeconfig *out, const char *buf, size_t len,
                        const char *name, const char *base_dir, const char *context,
                        struct ws_err *err);

/* Load from `path`, or when NULL from $KUBECONFIG (a ':'-separated list,
 * merged first-wins like kubectl) or ~/.kube/config. Blocking file reads:
 * call at startup or from a worker thread. */
int ws_kubeconfig_load(struct ws_kubeconfig *out, const char *path, const char *context,
                       struct ws_err *err);

/* In-cluster configuration: $KUBERNETES_SERVICE_HOST/PORT and the service
 * account files in `sa_dir` (NULL: /var/run/secrets/kubernetes.io/serviceaccount).
 * The token is read now and its file remembered for re-reads. */
int ws_kubeconfig_in_cluster(struct ws_kubeconfig *out, const char *sa_dir, struct ws_err *err);

/* Build from an inline JSON object with keys server, caFile, caData,
 * insecure, token, tokenFile, certFile, certData, keyFile, keyData, namespace
 * (as written in wavesync.yaml's clusters[]). */
int ws_kubeconfig_from_inline(struct ws_kubeconfig *out, const json_t *obj, const char *name,
                              struct ws_err *err);

/* Deep copy (for a client of a cluster the configuration keeps). */
int ws_kubeconfig_copy(struct ws_kubeconfig *dst, const struct ws_kubeconfig *src);

/* Free every owned field and zero the struct. Safe on a zeroed struct. */
void ws_kubeconfig_free(struct ws_kubeconfig *c);

/* Which credential this config uses, for messages: "client certificate",
 * "bearer token", "token file", "exec plugin", "basic auth" or "none". */
const char *ws_kubeconfig_auth_kind(const struct ws_kubeconfig *c);

#endif
