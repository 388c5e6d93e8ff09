/* fuzz_kubeconfig.c — reconciler/config/kubeconfig.c on any text: a
 * kubeconfig file (clusters, users, contexts, exec plugins, base64 PEM
 * data), and the same document as a cluster's inline settings in
 * wavesync.yaml. A parsed config is copied and freed as the clients do. */
#include "fuzz.h"

#include <jansson.h>

#include "base/log.h"
#include "base/yaml.h"
#include "config/kubeconfig.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    return 0;
}

/* What kube_http.c builds its URLs and TLS options from. */
static void check(const struct ws_kubeconfig *c)
{
    struct ws_kubeconfig copy;
    const char *s = c->server;
    size_t n;

    FUZZ_CHECK(s != NULL, "no server");
    n = strlen(s);
    FUZZ_CHECK((strncmp(s, "https://", 8) == 0 && n > 8) || (strncmp(s, "http://", 7) == 0 && n > 7),
               "server \"%s\" has no host", s);
    FUZZ_CHECK(s[n - 1] != '/', "server \"%s\" ends in '/'", s);
    FUZZ_CHECK(c->namespace_ && c->namespace_[0], "no namespace");
    FUZZ_CHECK(!c->ca_data || c->ca_len > 0, "empty CA data");
    if (c->exec) {
        FUZZ_CHECK(c->exec->command && c->exec->args && c->exec->env, "exec plugin half set");
        FUZZ_CHECK(c->exec->api_version, "exec plugin without apiVersion");
    }
    (void)ws_kubeconfig_auth_kind(c);
    if (ws_kubeconfig_copy(&copy, c) == 0) {
        FUZZ_CHECK(strcmp(copy.server, c->server) == 0, "copy changed the server");
        FUZZ_CHECK(copy.key_len == c->key_len && copy.cert_len == c->cert_len, "copy changed lengths");
        FUZZ_CHECK(!c->key_data || memcmp(copy.key_data, c->key_data, c->key_len) == 0, "copy changed the key");
    }
    ws_kubeconfig_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_kubeconfig kc;
    struct ws_err err;
    json_t *root = NULL;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (ws_kubeconfig_parse(&kc, (const char *)data, size, "kubeconfig", "/etc/wavesync", NULL, &err) == 0)
        check(&kc);
    ws_kubeconfig_free(&kc);

    if (ws_yaml_parse_one(&root, (const char *)data, size, "inline", NULL, &err) == 0 && json_is_object(root)) {
        memset(&kc, 0, sizeof(kc));
        if (ws_kubeconfig_from_inline(&kc, root, "clusters[0]", &err) == 0)
            check(&kc);
        ws_kubeconfig_free(&kc);
    }
    json_decref(root);
    return 0;
}
