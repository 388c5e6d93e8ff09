/* test_config.c — tests for reconciler/config/config.c: wavesync.yaml fixtures
 * (tests/unit/data/config/ok_*.yaml, err_*.yaml) parsed against a scratch
 * folder holding a kubeconfig and secret files, lookups, secret references,
 * the webhook/status/server sections and their defaults, listen addresses and
 * sizes, Git URL normalisation, and that no secret ever reaches an error
 * message. */
#include "config/config.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "base/util.h"

#define GIT_TOKEN "env-secret-git-7f3a"
#define CLUSTER_TOKEN "env-secret-cluster-91c2"
#define FILE_TOKEN "file-secret-token-55d0"
#define KUBE_TOKEN "kube-token-value-0b1e"
#define HOOK_SECRET "env-secret-hook-3d41"
#define API_TOKEN "env-secret-api-c07e"

static char data_dir[PATH_MAX];
static char tmp[PATH_MAX]; /* scratch folder: base_dir of every parse */

static const char kubeconfig_text[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: dev\n"
    "  cluster: {server: https://127.0.0.1:6443}\n"
    "- name: prod\n"
    "  cluster: {server: \"https://10.1.0.1:6443/\"}\n"
    "users:\n"
    "- name: bot\n"
    "  user: {token: " KUBE_TOKEN "}\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: dev, user: bot}\n"
    "- name: prod\n"
    "  context: {cluster: prod, user: bot, namespace: ml-prod}\n";

static void write_file(const char *rel, const char *text)
{
    char path[PATH_MAX + 64];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    if (!(f = fopen(path, "w")) || fputs(text, f) < 0) {
        tap_diag("cannot write %s", path);
        exit(1);
    }
    fclose(f);
}

static void make_dir(const char *rel)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    mkdir(path, 0700);
}

static void setup(void)
{
    const char *src = getenv("WS_SRCDIR");
    char rel[PATH_MAX], t[] = "/tmp/ws-test-config-XXXXXX";
    snprintf(rel, sizeof(rel), "%s/tests/unit/data/config", src && *src ? src : ".");
    if (!realpath(rel, data_dir))
        snprintf(data_dir, sizeof(data_dir), "%s", rel);
    if (!mkdtemp(t) || !realpath(t, tmp)) {
        tap_diag("mkdtemp failed");
        exit(1);
    }
    write_file("kubeconfig", kubeconfig_text);
    make_dir("kube");
    make_dir("secrets");
    make_dir("certs");
    write_file("secrets/git-user", "bot-from-file\n");
    write_file("secrets/git-token", FILE_TOKEN "\r\n");
    write_file("secrets/cluster-token", "cluster-file-secret\n");
    write_file("secrets/empty", "\n");
    setenv("WS_TEST_GIT_TOKEN", GIT_TOKEN, 1);
    setenv("WS_TEST_CLUSTER_TOKEN", CLUSTER_TOKEN, 1);
    setenv("WS_TEST_HOOK_SECRET", HOOK_SECRET, 1);
    setenv("WS_TEST_API_TOKEN", API_TOKEN, 1);
    unsetenv("WS_TEST_UNSET_VARIABLE");
}

static void teardown(void)
{
    static const char *const files[] = {"kubeconfig", "wavesync.yaml", "secrets/git-user",
                                        "secrets/git-token", "secrets/cluster-token",
                                        "secrets/empty", "secrets", "certs", "kube"};
    char path[PATH_MAX + 64];
    size_t i;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
        remove(path);
    }
    rmdir(tmp);
}

/* "<tmp>/<rel>" */
static const char *in_tmp(const char *rel)
{
    static char out[PATH_MAX + 64];
    snprintf(out, sizeof(out), "%s/%s", tmp, rel);
    return out;
}

/* Parse text with "@TMP@" replaced by the scratch folder. */
static int parse_text(struct ws_config *c, const char *text, const char *name, struct ws_err *err)
{
    char buf[16384];
    size_t n = 0;
    const char *p = text;
    while (*p && n + PATH_MAX < sizeof(buf)) {
        if (strncmp(p, "@TMP@", 5) == 0) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", tmp);
            p += 5;
        } else {
            buf[n++] = *p++;
        }
    }
    buf[n] = '\0';
    ws_err_clear(err);
    return ws_config_parse(c, buf, n, name, tmp, err);
}

static int parse_fixture(struct ws_config *c, const char *file, struct ws_err *err)
{
    char path[PATH_MAX + 64], *buf = NULL;
    int rc;
    snprintf(path, sizeof(path), "%s/%s", data_dir, file);
    if (ws_file_read(&buf, NULL, path, 1 << 20, err) < 0) {
        tap_diag("cannot read fixture: %s", err->msg);
        memset(c, 0, sizeof(*c));
        return WS_EIO;
    }
    rc = parse_text(c, buf, file, err);
    free(buf);
    return rc;
}

static int is_zeroed(const struct ws_config *c)
{
    static const struct ws_config zero;
    return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* --- ok fixtures ---------------------------------------------------------------- */

static void test_minimal(void)
{
    struct ws_config c;
    struct ws_err err;
    const char *home = getenv("HOME");
    char *saved_home = home ? strdup(home) : NULL;

    setenv("XDG_STATE_HOME", "/xdg/state", 1);
    tap_is_int(parse_fixture(&c, "ok_minimal.yaml", &err), 0, "minimal: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    tap_is_int(c.nrepos, 1, "minimal: one repository");
    tap_is_str(c.repos[0].name, "platform", "minimal: repository name");
    tap_is_str(c.repos[0].norm_url, "/srv/git/ml-platform", "minimal: normalised file URL");
    tap_ok(c.repos[0].username == NULL && c.repos[0].password == NULL, "minimal: no credentials");
    tap_is_int(c.repos[0].line, 2, "minimal: repository line");
    tap_is_int(c.nclusters + c.napp_dirs, 0, "minimal: no clusters or application folders");
    tap_is_int(c.settings.wave_timeout_ms, 5 * 60 * 1000, "minimal: waveTimeout default 5m");
    tap_is_int(c.settings.sync_timeout_ms, 30 * 60 * 1000, "minimal: syncTimeout default 30m");
    tap_is_int(c.settings.concurrency, 4, "minimal: concurrency default 4");
    tap_is_int(c.settings.poll_interval_ms, 2 * 60 * 1000, "minimal: pollInterval default 2m");
    tap_is_str(c.settings.inventory_namespace, "wavesync", "minimal: inventoryNamespace default");
    tap_is_str(c.settings.state_dir, "/xdg/state/wavesync", "minimal: stateDir from XDG_STATE_HOME");
    tap_ok(c.settings.helm.timeout_ms == 120000 && c.settings.helm.memory_bytes == 2ull << 30 &&
               c.settings.helm.cpu_ms == 60000,
           "minimal: tools.helm defaults 120s, 2Gi, 60s of CPU");
    tap_ok(c.settings.kustomize.timeout_ms == 120000 && c.settings.kustomize.memory_bytes == 2ull << 30 &&
               c.settings.kustomize.cpu_ms == 60000,
           "minimal: tools.kustomize defaults likewise");
    tap_is_str(c.settings.helm.setting, "settings.tools.helm", "minimal: tools.helm names its key");
    tap_is_str(c.settings.kustomize.setting, "settings.tools.kustomize", "minimal: tools.kustomize names its key");
    tap_is_str(c.path, "ok_minimal.yaml", "minimal: path is the name given");
    tap_is_str(c.base_dir, tmp, "minimal: base_dir as given");
    ws_config_free(&c);
    tap_ok(is_zeroed(&c), "minimal: free zeroes");

    setenv("XDG_STATE_HOME", "relative/state", 1); /* ignored: XDG wants absolute paths */
    setenv("HOME", "/home/tester", 1);
    parse_fixture(&c, "ok_minimal.yaml", &err);
    tap_is_str(c.settings.state_dir, "/home/tester/.local/state/wavesync",
               "minimal: stateDir under HOME when XDG_STATE_HOME is not absolute");
    ws_config_free(&c);
    unsetenv("XDG_STATE_HOME");
    parse_fixture(&c, "ok_minimal.yaml", &err);
    tap_is_str(c.settings.state_dir, "/home/tester/.local/state/wavesync",
               "minimal: stateDir under HOME without XDG_STATE_HOME");
    ws_config_free(&c);
    if (saved_home)
        setenv("HOME", saved_home, 1);
    else
        unsetenv("HOME");
    free(saved_home);
}

static void test_full(void)
{
    struct ws_config c;
    struct ws_err err;
    const struct ws_cluster_cfg *k;
    tap_is_int(parse_fixture(&c, "ok_full.yaml", &err), 0, "full: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    if (c.nrepos != 3 || c.nclusters != 2 || c.napp_dirs != 2) {
        tap_ok(0, "full: 3 repositories, 2 clusters, 2 application folders");
        ws_config_free(&c);
        return;
    }
    tap_is_str(c.repos[0].url, "https://GitHub.com/Acme/ml-platform.git", "full: url as written");
    tap_is_str(c.repos[0].norm_url, "github.com/Acme/ml-platform", "full: url normalised");
    tap_is_str(c.repos[0].username, "deploy-bot", "full: literal username");
    tap_is_str(c.repos[0].password, GIT_TOKEN, "full: password from env:");
    tap_is_int(c.repos[0].line, 3, "full: repository line");
    tap_is_str(c.repos[1].norm_url, "gitlab.example.com/ml/models", "full: scp-like URL normalised");
    tap_ok(c.repos[1].username == NULL, "full: second repository has no credentials");
    tap_is_str(c.repos[2].norm_url, "/srv/git/local", "full: file URL normalised");

    k = &c.clusters[0];
    tap_is_str(k->name, "in-cluster", "full: kubeconfig cluster name");
    tap_is_int(k->line, 13, "full: cluster line");
    tap_is_str(k->kc.context, "prod", "full: context selected");
    tap_is_str(k->kc.server, "https://10.1.0.1:6443", "full: server from the context's cluster");
    tap_is_str(k->kc.token, KUBE_TOKEN, "full: kubeconfig user token");
    tap_is_str(k->kc.namespace_, "ml", "full: cluster namespace overrides the context's");
    tap_is_int(k->naliases, 2, "full: two aliases");
    tap_is_str(k->aliases[1], "https://Kubernetes.Default.svc:443",
               "full: alias kept as written without trailing '/'");
    k = &c.clusters[1];
    tap_is_str(k->kc.server, "https://ml.example.com:443", "full: inline server, no trailing '/'");
    tap_is_str(k->kc.ca_file, in_tmp("certs/ca.crt"), "full: inline caFile resolved against base_dir");
    tap_is_str(k->kc.token, CLUSTER_TOKEN, "full: inline token from env:");
    tap_is_str(k->kc.namespace_, "serving", "full: inline namespace");
    tap_ok(k->kc.context == NULL, "full: inline cluster has no context");

    tap_is_str(c.app_dirs[0].repository, "platform", "full: application folder repository");
    tap_is_str(c.app_dirs[0].path, "apps", "full: application folder path cleaned");
    tap_is_str(c.app_dirs[0].revision, "main", "full: application folder revision");
    tap_is_int(c.app_dirs[0].line, 26, "full: application folder line");
    tap_is_str(c.app_dirs[1].path, "", "full: application folder path defaults to the root");
    tap_ok(c.app_dirs[1].revision == NULL, "full: revision defaults to NULL (HEAD)");

    tap_is_int(c.settings.wave_timeout_ms, 90000, "full: waveTimeout 90s");
    tap_is_int(c.settings.sync_timeout_ms, 3600000, "full: syncTimeout 1h");
    tap_is_int(c.settings.concurrency, 8, "full: concurrency");
    tap_is_str(c.settings.state_dir, in_tmp("state"), "full: stateDir resolved against base_dir");
    tap_is_str(c.settings.inventory_namespace, "wavesync-system", "full: inventoryNamespace");

    /* lookups */
    tap_ok(ws_config_repo_by_name(&c, "models") == &c.repos[1], "lookup: repository by name");
    tap_ok(ws_config_repo_by_name(&c, "nope") == NULL, "lookup: unknown repository name");
    {
        static const struct {
            const char *url;
            int index; /* -1: no match */
        } rows[] = {
            {"https://github.com/Acme/ml-platform", 0},
            {"https://GITHUB.COM/Acme/ml-platform.git/", 0},
            {"git@github.com:Acme/ml-platform.git", 0},
            {"ssh://git@github.com:22/Acme/ml-platform", 0},
            {"https://bot:pw@github.com:443/Acme/ml-platform.git", 0},
            {"https://github.com/acme/ml-platform", -1}, /* paths keep their case */
            {"ssh://git@gitlab.example.com/ml/models.git", 1},
            {"https://gitlab.example.com/ml/models", 1},
            {"/srv/git/local", 2},
            {"file:///srv/git/local/", 2},
            {"https://gitlab.example.com:8443/ml/models", -1},
            {"", -1},
        };
        size_t i;
        for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
            const struct ws_repo *r = ws_config_repo_by_url(&c, rows[i].url);
            tap_ok(r == (rows[i].index < 0 ? NULL : &c.repos[rows[i].index]),
                   "lookup: repository by URL \"%s\"", rows[i].url);
        }
    }
    {
        static const struct {
            const char *server;
            int index;
        } rows[] = {
            {"https://10.1.0.1:6443", 0},
            {"https://10.1.0.1:6443/", 0},
            {"HTTPS://10.1.0.1:6443", 0},
            {"https://kubernetes.default.svc", 0},
            {"https://kubernetes.default.svc/", 0},
            {"https://KUBERNETES.default.svc:443", 0},
            {"https://ml.example.com", 1},
            {"https://ml.example.com:443/", 1},
            {"https://Ml.Example.Com", 1},
            {"https://ml.example.com:6443", -1},
            {"http://ml.example.com", -1},
            {"https://127.0.0.1:6443", -1},
            {"kubernetes.default.svc", -1},
        };
        size_t i;
        for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
            const struct ws_cluster_cfg *r = ws_config_cluster_by_server(&c, rows[i].server);
            tap_ok(r == (rows[i].index < 0 ? NULL : &c.clusters[rows[i].index]),
                   "lookup: cluster by server \"%s\"", rows[i].server);
        }
    }
    tap_ok(ws_config_cluster_by_name(&c, "edge") == &c.clusters[1], "lookup: cluster by name");
    tap_ok(ws_config_cluster_by_name(&c, "https://ml.example.com") == NULL,
           "lookup: a server URL is not a cluster name");
    ws_config_free(&c);
}

static void test_inline_and_secrets(void)
{
    struct ws_config c;
    struct ws_err err;
    tap_is_int(parse_fixture(&c, "ok_inline.yaml", &err), 0, "inline: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    if (c.nclusters == 3) {
        tap_ok(c.clusters[0].kc.insecure, "inline: insecure");
        tap_is_str(c.clusters[0].kc.token, "literal-token-value", "inline: literal token");
        tap_is_str(c.clusters[0].kc.namespace_, "default", "inline: namespace defaults to default");
        tap_ok(c.clusters[1].kc.ca_data && strstr(c.clusters[1].kc.ca_data, "TEST-CA"),
               "inline: caData decoded");
        tap_is_str(c.clusters[1].kc.token_file, in_tmp("tokens/gpu"), "inline: tokenFile resolved");
        tap_is_str(c.clusters[1].aliases[0], "https://gpu.internal", "inline: alias trailing '/' dropped");
        tap_ok(ws_config_cluster_by_server(&c, "https://gpu.internal:443") == &c.clusters[1],
               "inline: cluster by alias");
        tap_ok(c.clusters[2].kc.exec != NULL, "inline: exec plugin");
        if (c.clusters[2].kc.exec) {
            tap_is_str(c.clusters[2].kc.exec->command, in_tmp("bin/get-token"),
                       "inline: exec command with a '/' resolved against base_dir");
            tap_is_str(c.clusters[2].kc.exec->args[1], "exec", "inline: exec args");
        }
        tap_is_str(c.repos[0].norm_url, "git.example.com:2222/ml/platform",
                   "inline: ssh URL keeps a non-default port");
    } else {
        tap_ok(0, "inline: three clusters");
    }
    ws_config_free(&c);

    tap_is_int(parse_fixture(&c, "ok_secrets_file.yaml", &err), 0, "file secrets: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    if (c.nrepos == 1 && c.nclusters == 1) {
        tap_is_str(c.repos[0].username, "bot-from-file", "file secrets: username from a relative file");
        tap_is_str(c.repos[0].password, FILE_TOKEN, "file secrets: password, CRLF dropped");
        tap_is_str(c.clusters[0].kc.token, "cluster-file-secret",
                   "file secrets: inline token from an absolute file");
    }
    ws_config_free(&c);

    tap_is_int(parse_fixture(&c, "ok_relative_paths.yaml", &err), 0, "relative paths: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    if (c.nclusters == 2) {
        tap_is_str(c.clusters[0].kc.server, "https://127.0.0.1:6443",
                   "relative paths: kubeconfig found through ./kube/..");
        tap_is_str(c.clusters[0].kc.context, "dev", "relative paths: current-context used");
        tap_is_str(c.clusters[1].kc.cert_file, in_tmp("certs/client.crt"), "relative paths: certFile");
        tap_is_str(c.clusters[1].kc.key_file, in_tmp("certs/client.key"), "relative paths: keyFile");
        tap_is_str(c.settings.state_dir, in_tmp("var/state"), "relative paths: stateDir");
    }
    ws_config_free(&c);

    tap_is_int(parse_fixture(&c, "ok_empty_lists.yaml", &err), 0, "empty lists: allowed");
    tap_is_int(c.nrepos + c.nclusters + c.napp_dirs, 0, "empty lists: nothing configured");
    ws_config_free(&c);

    tap_is_int(parse_fixture(&c, "ok_flow_style.yaml", &err), 0, "flow style: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    tap_is_int(c.settings.wave_timeout_ms, 120000, "flow style: a bare number is seconds");
    tap_is_int(c.settings.sync_timeout_ms, 9000000, "flow style: 2h30m");
    tap_is_int(c.settings.concurrency, 1, "flow style: concurrency 1");
    if (c.napp_dirs == 2) {
        tap_is_str(c.app_dirs[1].path, "apps/training", "flow style: application folder path");
        tap_is_int(c.app_dirs[1].line, 6, "flow style: application folder line");
    }
    ws_config_free(&c);
}

static void test_load(void)
{
    struct ws_config c;
    struct ws_err err;
    char *text = NULL, path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/ok_relative_paths.yaml", data_dir);
    if (ws_file_read(&text, NULL, path, 1 << 20, &err) == 0)
        write_file("wavesync.yaml", text);
    free(text);
    ws_err_clear(&err);
    tap_is_int(ws_config_load(&c, in_tmp("wavesync.yaml"), &err), 0, "load: reads the file");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    tap_is_str(c.path, in_tmp("wavesync.yaml"), "load: path");
    tap_is_str(c.base_dir, tmp, "load: base_dir is the file's folder");
    tap_is_str(c.settings.state_dir, in_tmp("var/state"), "load: stateDir relative to the file");
    ws_config_free(&c);

    {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) && chdir(tmp) == 0) {
            tap_is_int(ws_config_load(&c, "wavesync.yaml", &err), 0, "load: a relative path");
            tap_is_str(c.base_dir, tmp, "load: relative path's base_dir made absolute");
            tap_is_str(c.clusters ? c.clusters[0].kc.server : NULL, "https://127.0.0.1:6443",
                       "load: kubeconfig found relative to the file");
            ws_config_free(&c);
            tap_is_int(ws_config_parse(&c, "repositories: []\n", 17, NULL, NULL, &err), 0,
                       "parse: no name, no base_dir");
            tap_is_str(c.path, "wavesync.yaml", "parse: default name");
            tap_is_str(c.base_dir, tmp, "parse: base_dir defaults to the working directory");
            ws_config_free(&c);
            tap_ok(chdir(cwd) == 0, "load: back to the working directory");
        }
    }

    tap_is_int(ws_config_load(&c, in_tmp("missing.yaml"), &err), WS_ECONFIG,
               "load: a missing file is a configuration error");
    tap_contains(err.msg, "missing.yaml", "load: the message names the file");
    tap_ok(is_zeroed(&c), "load: failure leaves the config zeroed");
}

/* --- webhook, status and server ---------------------------------------------------- */

static void check_server_defaults(const struct ws_config *c, const char *what)
{
    char name[160];
#define DEFAULT_IS(got, want, field)                                   \
    do {                                                              \
        snprintf(name, sizeof(name), "%s: " field " default", what);  \
        tap_is_int(got, want, name);                                  \
    } while (0)
    snprintf(name, sizeof(name), "%s: listen host default 127.0.0.1", what);
    tap_is_str(c->server.listen_host, "127.0.0.1", name);
    DEFAULT_IS(c->server.listen_port, 8080, "listen port");
    DEFAULT_IS(c->server.max_body_bytes, 25000000, "maxBodySize 25 MB");
    DEFAULT_IS(c->server.read_timeout_ms, 10000, "readTimeout 10s");
    DEFAULT_IS(c->server.fetch_retry_ms, 120000, "fetchRetryTimeout 2m");
    DEFAULT_IS(c->server.shutdown_grace_ms, 30000, "shutdownGrace 30s");
    DEFAULT_IS(c->server.rate_per_second * 1000, 100000, "rateLimit.perSecond 100");
    DEFAULT_IS(c->server.rate_burst * 1000, 200000, "rateLimit.burst 200");
#undef DEFAULT_IS
    snprintf(name, sizeof(name), "%s: no apiToken or publicURL by default", what);
    tap_ok(c->server.api_token == NULL && c->server.public_url == NULL, "%s", name);
}

static void test_server_defaults(void)
{
    static const struct {
        const char *what, *text;
    } rows[] = {
        {"no server section", "repositories:\n- {name: a, url: /srv/a}\n"},
        {"server: null", "repositories:\n- {name: a, url: /srv/a}\nserver:\n"},
        {"server: {}", "repositories:\n- {name: a, url: /srv/a}\nserver: {}\n"},
        {"empty rateLimit and strings",
         "repositories:\n- {name: a, url: /srv/a, webhook: {}}\n"
         "server: {rateLimit: {}, apiToken: \"\", publicURL: null, listen: \"\"}\n"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char what[96];
        int rc = parse_text(&c, rows[i].text, "inline.yaml", &err);
        if (!tap_ok(rc == 0, "defaults: %s: parses", rows[i].what)) {
            tap_diag("  %s", err.msg);
            continue;
        }
        snprintf(what, sizeof(what), "defaults: %s", rows[i].what);
        check_server_defaults(&c, what);
        tap_ok(c.repos[0].webhook_secret == NULL && !c.repos[0].allow_unsigned,
               "defaults: %s: no webhook secret, signatures required", rows[i].what);
        tap_ok(c.repos[0].status_provider == NULL && c.repos[0].status_api_url == NULL &&
                   c.repos[0].status_token == NULL && c.repos[0].status_project == NULL,
               "defaults: %s: commit statuses off", rows[i].what);
        ws_config_free(&c);
    }
}

static void test_server_full(void)
{
    struct ws_config c;
    struct ws_err err;
    const struct ws_repo *r;
    tap_is_int(parse_fixture(&c, "ok_server.yaml", &err), 0, "server: parses");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    if (c.nrepos != 3) {
        tap_ok(0, "server: three repositories");
        ws_config_free(&c);
        return;
    }
    r = &c.repos[0];
    tap_is_str(r->webhook_secret, HOOK_SECRET, "webhook: secret from env:");
    tap_is_int(r->allow_unsigned, 0, "webhook: allowUnsigned false");
    tap_is_str(r->status_provider, "github", "status: provider github");
    tap_is_str(r->status_api_url, "https://api.github.com", "status: GitHub apiURL default");
    tap_is_str(r->status_token, FILE_TOKEN, "status: token from a file");
    tap_ok(r->status_project == NULL, "status: project NULL = from the push");
    r = &c.repos[1];
    tap_is_str(r->webhook_secret, "bot-from-file", "webhook: secret from an absolute file");
    tap_is_int(r->allow_unsigned, 1, "webhook: allowUnsigned true");
    tap_is_str(r->status_provider, "gitlab", "status: provider gitlab");
    tap_is_str(r->status_api_url, "https://gitlab.example.com/api/v4", "status: apiURL as written");
    tap_is_str(r->status_token, "literal-status-token", "status: literal token");
    tap_is_str(r->status_project, "ml/models", "status: project");
    r = &c.repos[2];
    tap_ok(r->webhook_secret == NULL, "webhook: no secret");
    tap_is_int(r->allow_unsigned, 1, "webhook: allowUnsigned without a secret");
    tap_is_str(r->status_api_url, "https://gitlab.com/api/v4", "status: GitLab apiURL default");
    tap_is_str(r->status_token, GIT_TOKEN, "status: token from env:");

    tap_is_str(c.server.listen_host, "::1", "server: IPv6 listen host without brackets");
    tap_is_int(c.server.listen_port, 9443, "server: listen port");
    tap_is_str(c.server.api_token, API_TOKEN, "server: apiToken from env:");
    tap_is_int(c.server.max_body_bytes, 512 * 1024, "server: maxBodySize 512KiB");
    tap_is_int(c.server.read_timeout_ms, 15000, "server: readTimeout 15s");
    tap_is_int(c.server.fetch_retry_ms, 300000, "server: fetchRetryTimeout 5m");
    tap_is_int(c.server.shutdown_grace_ms, 45000, "server: shutdownGrace, a bare number is seconds");
    tap_is_int(c.server.rate_per_second * 10, 25, "server: rateLimit.perSecond 2.5");
    tap_is_int(c.server.rate_burst, 10, "server: rateLimit.burst");
    tap_is_str(c.server.public_url, "https://wavesync.example.com/", "server: publicURL as written");
    ws_config_free(&c);
}

/* server.listen in the file and ws_config_set_listen on a parsed config:
 * the same rules. A failure changes nothing. */
static void test_listen(void)
{
    static const struct {
        const char *listen;
        int rc;
        const char *host; /* NULL with an error: the defaults stay */
        int port;
    } rows[] = {
        {"0.0.0.0:9090", 0, "0.0.0.0", 9090},
        {"localhost:1", 0, "localhost", 1},
        {"wavesync.internal:65535", 0, "wavesync.internal", 65535},
        {":9090", 0, "127.0.0.1", 9090}, /* the host stays */
        {"9090", 0, "127.0.0.1", 9090},
        {"[::1]:8443", 0, "::1", 8443},
        {"[::]:80", 0, "::", 80},
        {"[fe80::1%eth0]:80", 0, "fe80::1%eth0", 80},
        {"::1:8080", WS_EINVAL, NULL, 0},
        {"::1", WS_EINVAL, NULL, 0},
        {"fe80::1", WS_EINVAL, NULL, 0},
        {"[::1]", WS_EINVAL, NULL, 0},
        {"[::1]8080", WS_EINVAL, NULL, 0},
        {"host:", WS_EINVAL, NULL, 0},
        {"host:http", WS_EINVAL, NULL, 0},
        {"host:80x", WS_EINVAL, NULL, 0},
        {"host:65536", WS_EINVAL, NULL, 0},
        {"host:-1", WS_EINVAL, NULL, 0},
        {"", WS_EINVAL, NULL, 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char text[256];
        const char *host = rows[i].host ? rows[i].host : "127.0.0.1";
        int port = rows[i].host ? rows[i].port : 8080, rc;

        if (parse_text(&c, "repositories: []\n", "inline.yaml", &err) < 0) {
            tap_ok(0, "listen: base configuration");
            continue;
        }
        rc = ws_config_set_listen(&c, rows[i].listen);
        if (!tap_ok(rc == rows[i].rc, "set_listen(\"%s\") returns %d", rows[i].listen, rows[i].rc))
            tap_diag("  got %d", rc);
        if (!tap_ok(c.server.listen_host && strcmp(c.server.listen_host, host) == 0 &&
                        c.server.listen_port == port,
                    "set_listen(\"%s\") → %s:%d", rows[i].listen, host, port))
            tap_diag("  got %s:%d", c.server.listen_host ? c.server.listen_host : "(null)",
                     c.server.listen_port);
        ws_config_free(&c);

        if (!*rows[i].listen)
            continue; /* an empty listen in the file is "not set" */
        snprintf(text, sizeof(text), "repositories: []\nserver:\n  listen: \"%s\"\n", rows[i].listen);
        rc = parse_text(&c, text, "inline.yaml", &err);
        if (rows[i].rc == 0) {
            if (!tap_ok(rc == 0 && strcmp(c.server.listen_host, host) == 0 && c.server.listen_port == port,
                        "server.listen \"%s\" → %s:%d", rows[i].listen, host, port))
                tap_diag("  rc %d: %s", rc, err.msg);
        } else {
            tap_ok(rc == WS_ECONFIG && strncmp(err.msg, "inline.yaml:3: server.listen", 28) == 0,
                   "server.listen \"%s\" is an error at line 3", rows[i].listen);
        }
        ws_config_free(&c);
    }

    /* a failed override leaves the previous one */
    {
        struct ws_config c;
        struct ws_err err;
        if (parse_text(&c, "repositories: []\n", "inline.yaml", &err) == 0) {
            ws_config_set_listen(&c, "10.0.0.1:7000");
            tap_is_int(ws_config_set_listen(&c, "[::1]"), WS_EINVAL, "set_listen: error after a success");
            tap_ok(strcmp(c.server.listen_host, "10.0.0.1") == 0 && c.server.listen_port == 7000,
                   "set_listen: the earlier address stays");
            tap_is_int(ws_config_set_listen(&c, ":7001"), 0, "set_listen: port only");
            tap_ok(strcmp(c.server.listen_host, "10.0.0.1") == 0 && c.server.listen_port == 7001,
                   "set_listen: port only keeps the host set before");
        }
        ws_config_free(&c);
    }
}

static void test_max_body_size(void)
{
    static const struct {
        const char *yaml; /* the value as written in YAML */
        size_t want;      /* 0: an error */
    } rows[] = {
        {"25MB", 25000000},
        {"512KiB", 524288},
        {"1048576", 1048576},
        {"\"1048576\"", 1048576},
        {"2 MiB", 2097152},
        {"1GiB", 1073741824},
        {"3G", 3000000000u},
        {"10K", 10000},
        {"64KB", 64000},
        {"100B", 100},
        {"25XB", 0},
        {"25mb", 0},
        {"MB", 0},
        {"1.5MB", 0},
        {"-5", 0},
        {"\"-5\"", 0},
        {"0", 0},
        {"0MB", 0},
        {"\" 5MB\"", 0},
        {"true", 0},
        {"[25MB]", 0},
        {"2.5", 0},
        {"99999999999999999999GB", 0},
        /* beyond 64 bits: strtoull saturates; it must not become "unlimited" */
        {"\"99999999999999999999\"", 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char text[256];
        int rc;
        snprintf(text, sizeof(text), "repositories: []\nserver:\n  maxBodySize: %s\n", rows[i].yaml);
        rc = parse_text(&c, text, "inline.yaml", &err);
        if (rows[i].want) {
            if (!tap_ok(rc == 0 && c.server.max_body_bytes == rows[i].want, "maxBodySize %s = %zu",
                        rows[i].yaml, rows[i].want))
                tap_diag("  rc %d, got %zu: %s", rc, c.server.max_body_bytes, err.msg);
        } else if (!tap_ok(rc == WS_ECONFIG && strstr(err.msg, "inline.yaml:3: server.maxBodySize"),
                           "maxBodySize %s is an error", rows[i].yaml)) {
            tap_diag("  rc %d, got %zu: %s", rc, c.server.max_body_bytes, err.msg);
        }
        ws_config_free(&c);
    }
}

/* Durations and rates of the server section, one key at a time. */
static void test_server_values(void)
{
    static const struct {
        const char *server; /* flow mapping for server: */
        size_t field;       /* offsetof(struct ws_server_cfg, …) */
        int is_rate;
        double want;        /* ms, or the rate; < 0: an error naming this */
        const char *msg;
    } rows[] = {
        {"{readTimeout: 90s}", offsetof(struct ws_server_cfg, read_timeout_ms), 0, 90000, NULL},
        {"{readTimeout: 3}", offsetof(struct ws_server_cfg, read_timeout_ms), 0, 3000, NULL},
        {"{readTimeout: 1m30s}", offsetof(struct ws_server_cfg, read_timeout_ms), 0, 90000, NULL},
        {"{fetchRetryTimeout: 1h}", offsetof(struct ws_server_cfg, fetch_retry_ms), 0, 3600000, NULL},
        {"{shutdownGrace: 500ms}", offsetof(struct ws_server_cfg, shutdown_grace_ms), 0, 500, NULL},
        {"{fetchRetryTimeout: 0}", 0, 0, -1, "server.fetchRetryTimeout must be greater than zero"},
        {"{shutdownGrace: soon}", 0, 0, -1, "bad duration \"soon\" for server.shutdownGrace"},
        {"{readTimeout: [1s]}", 0, 0, -1, "for server.readTimeout"},
        {"{rateLimit: {perSecond: 0.5}}", offsetof(struct ws_server_cfg, rate_per_second), 1, 0.5, NULL},
        {"{rateLimit: {perSecond: 7}}", offsetof(struct ws_server_cfg, rate_burst), 1, 200, NULL},
        {"{rateLimit: {burst: 3}}", offsetof(struct ws_server_cfg, rate_burst), 1, 3, NULL},
        {"{rateLimit: {burst: 3}}", offsetof(struct ws_server_cfg, rate_per_second), 1, 100, NULL},
        {"{rateLimit: {burst: 0.25}}", offsetof(struct ws_server_cfg, rate_burst), 1, 1, NULL},
        {"{rateLimit: {perSecond: 0}}", 0, 1, -1, "server.rateLimit.perSecond must be a number greater than zero"},
        {"{rateLimit: {burst: \"10\"}}", 0, 1, -1, "server.rateLimit.burst must be a number greater than zero"},
        {"{rateLimit: {burst: true}}", 0, 1, -1, "server.rateLimit.burst must be a number greater than zero"},
        {"{publicURL: 8080}", 0, 0, -1, "server.publicURL must be a string"},
        {"{listen: [a]}", 0, 0, -1, "server.listen must be a string"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char text[256];
        int rc;
        snprintf(text, sizeof(text), "repositories: []\nserver: %s\n", rows[i].server);
        rc = parse_text(&c, text, "inline.yaml", &err);
        if (rows[i].want >= 0) {
            const char *f = (const char *)&c.server + rows[i].field;
            double got = rows[i].is_rate ? *(const double *)(const void *)f
                                         : (double)*(const uint64_t *)(const void *)f;
            if (!tap_ok(rc == 0 && got == rows[i].want, "server %s → %g", rows[i].server, rows[i].want))
                tap_diag("  rc %d, got %g: %s", rc, rc == 0 ? got : 0, err.msg);
        } else {
            tap_ok(rc == WS_ECONFIG && strncmp(err.msg, "inline.yaml:2: ", 15) == 0,
                   "server %s: an error at line 2", rows[i].server);
            tap_contains(err.msg, rows[i].msg, rows[i].server);
        }
        ws_config_free(&c);
    }
}

/* settings.pollInterval: a duration where 0 means off, bounded 1s..24h. */
static void test_poll_interval(void)
{
    static const struct {
        const char *value;   /* YAML for pollInterval */
        long long want;      /* ms; < 0: an error at line 3 naming this */
        const char *msg;
    } rows[] = {
        {"2m", 120000, NULL},
        {"90s", 90000, NULL},
        {"1m30s", 90000, NULL},
        {"30", 30000, NULL},          /* a bare number is seconds */
        {"1s", 1000, NULL},
        {"24h", 86400000, NULL},
        {"0", 0, NULL},               /* off */
        {"0s", 0, NULL},
        {"\"0\"", 0, NULL},
        {"~", 120000, NULL},          /* null: the default */
        {"500ms", -1, "settings.pollInterval must be 0 (off) or between 1s and 24h (got \"500ms\")"},
        {"25h", -1, "settings.pollInterval must be 0 (off) or between 1s and 24h (got \"25h\")"},
        {"90000", -1, "settings.pollInterval must be 0 (off) or between 1s and 24h (got 90000)"},
        {"soon", -1, "bad duration \"soon\" for settings.pollInterval"},
        {"-1s", -1, "bad duration \"-1s\" for settings.pollInterval"},
        {"[2m]", -1, "for settings.pollInterval"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char text[256], name[128];
        int rc;
        snprintf(text, sizeof(text), "repositories: []\nsettings:\n  pollInterval: %s\n", rows[i].value);
        rc = parse_text(&c, text, "inline.yaml", &err);
        snprintf(name, sizeof(name), "pollInterval: %s", rows[i].value);
        if (rows[i].want >= 0) {
            if (!tap_ok(rc == 0 && (long long)c.settings.poll_interval_ms == rows[i].want, "%s → %lld ms", name,
                        rows[i].want))
                tap_diag("  rc %d, got %llu: %s", rc, (unsigned long long)c.settings.poll_interval_ms, err.msg);
        } else {
            if (!tap_ok(rc == WS_ECONFIG && strncmp(err.msg, "inline.yaml:3: ", 15) == 0,
                        "%s: an error naming the file and line 3", name))
                tap_diag("  rc %d: %s", rc, err.msg);
            tap_contains(err.msg, rows[i].msg, name);
        }
        ws_config_free(&c);
    }
}

/* settings.tools: per tool timeout, memory (a size; Kubernetes' Gi/Mi too)
 * and cpu; a bad value names the key and the line. */
static void test_tools(void)
{
    static const struct {
        const char *yaml; /* under settings: */
        unsigned long long helm_timeout, helm_memory, helm_cpu, kust_memory;
        const char *msg;  /* an error at the line of the key, naming it */
    } rows[] = {
        {"tools: {helm: {timeout: 30s, memory: 4Gi, cpu: 2m}}", 30000, 4ull << 30, 120000, 2ull << 30, NULL},
        {"tools: {kustomize: {memory: 3GiB}}", 120000, 2ull << 30, 60000, 3ull << 30, NULL},
        {"tools: {helm: {memory: 512Mi}, kustomize: {memory: 1500MB}}", 120000, 512ull << 20, 60000, 1500000000ull,
         NULL},
        {"tools: {helm: {timeout: 90}}", 90000, 2ull << 30, 60000, 2ull << 30, NULL},
        {"tools: {helm: ~}", 120000, 2ull << 30, 60000, 2ull << 30, NULL},
        {"tools: {}", 120000, 2ull << 30, 60000, 2ull << 30, NULL},
        {"tools: {helm: {memory: 2 gigs}}", 0, 0, 0, 0,
         "settings.tools.helm.memory must be a size such as \"2Gi\" or \"4GiB\" (got \"2 gigs\")"},
        {"tools: {kustomize: {memory: 2048}}", 0, 0, 0, 0,
         "settings.tools.kustomize.memory must be at least 64Mi (got 2048; a bare number is bytes)"},
        {"tools: {helm: {memory: 0}}", 0, 0, 0, 0, "settings.tools.helm.memory must be a size"},
        {"tools: {helm: {timeout: soon}}", 0, 0, 0, 0, "bad duration \"soon\" for settings.tools.helm.timeout"},
        {"tools: {kustomize: {cpu: 0s}}", 0, 0, 0, 0, "settings.tools.kustomize.cpu must be greater than zero"},
        {"tools: {helm: {memroy: 2Gi}}", 0, 0, 0, 0,
         "unknown key \"memroy\" in settings.tools.helm (did you mean \"memory\"?)"},
        {"tools: {jsonnet: {timeout: 5s}}", 120000, 2ull << 30, 60000, 2ull << 30, NULL},
        {"tools: {jsonet: {}}", 0, 0, 0, 0, "unknown key \"jsonet\" in settings.tools (did you mean \"jsonnet\"?)"},
        {"tools: [helm]", 0, 0, 0, 0, "settings.tools must be a mapping"},
        {"tools: {helm: 2Gi}", 0, 0, 0, 0, "settings.tools.helm must be a mapping"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char text[256], name[128];
        int rc;
        snprintf(text, sizeof(text), "repositories: []\nsettings:\n  %s\n", rows[i].yaml);
        rc = parse_text(&c, text, "inline.yaml", &err);
        snprintf(name, sizeof(name), "settings.%s", rows[i].yaml);
        if (!rows[i].msg) {
            if (!tap_ok(rc == 0 && c.settings.helm.timeout_ms == rows[i].helm_timeout &&
                            c.settings.helm.memory_bytes == rows[i].helm_memory &&
                            c.settings.helm.cpu_ms == rows[i].helm_cpu &&
                            c.settings.kustomize.memory_bytes == rows[i].kust_memory,
                        "%s", name))
                tap_diag("  rc %d, helm %llu ms %llu bytes %llu ms, kustomize %llu bytes: %s", rc,
                         (unsigned long long)c.settings.helm.timeout_ms,
                         (unsigned long long)c.settings.helm.memory_bytes, (unsigned long long)c.settings.helm.cpu_ms,
                         (unsigned long long)c.settings.kustomize.memory_bytes, err.msg);
        } else {
            if (!tap_ok(rc == WS_ECONFIG && strncmp(err.msg, "inline.yaml:3: ", 15) == 0,
                        "%s: an error naming the file and line 3", name))
                tap_diag("  rc %d: %s", rc, err.msg);
            tap_contains(err.msg, rows[i].msg, name);
        }
        ws_config_free(&c);
    }
}

/* plugins: name, generate (and init) argument vectors, discover.fileName,
 * limits; errors name wavesync.yaml:line. */
static void test_plugins(void)
{
    static const struct {
        const char *yaml; /* after "plugins:\n" */
        int line;         /* of the error; 0 = parses */
        const char *msg;
    } rows[] = {
        {"- name: cdk8s\n  init: [npm, ci]\n  generate: [sh, -c, 'cdk8s synth -o /dev/stdout']\n"
         "  discover: {fileName: './main.ts'}\n  timeout: 2m\n  memory: 1Gi\n  maxOutput: 8Mi\n", 0, NULL},
        {"- {name: a, generate: [gen]}\n- {name: b, generate: [gen2], discover: {fileName: '*.cue'}}\n", 0, NULL},
        {"- name: a\n  generate: [x]\n  shell: true\n", 5, "unknown key \"shell\" in plugins[0]"},
        {"- name: a\n", 3, "plugins[0] (\"a\"): generate is required"},
        {"- generate: [x]\n", 3, "plugins[0]: name is required"},
        {"- {name: a, generate: []}\n", 3, "plugins[0].generate must be a non-empty argument vector"},
        {"- {name: a, generate: 'sh -c x'}\n", 3, "plugins[0].generate must be a list"},
        {"- name: a\n  generate:\n    - sh\n    - [x]\n", 6, "plugins[0].generate[1] must be a string"},
        {"- {name: a, generate: ['']}\n", 3, "plugins[0].generate[0] must be a string (the program)"},
        {"- {name: a, generate: [x], timeout: soon}\n", 3, "bad duration \"soon\" for plugins[0].timeout"},
        {"- {name: a, generate: [x], memory: 1k}\n", 3, "plugins[0].memory must be a size of at least 64Mi"},
        {"- {name: a, generate: [x], discover: {glob: x}}\n", 3, "unknown key \"glob\" in plugins[0].discover"},
        {"- {name: a, generate: [x]}\n- {name: a, generate: [y]}\n", 4, "duplicate plugin name \"a\" (lines 3 and 4)"},
        {"  {name: a}\n", 2, "plugins must be a list"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char text[512], at[32];
        int rc;
        snprintf(text, sizeof(text), "repositories: []\nplugins:\n%s", rows[i].yaml);
        rc = parse_text(&c, text, "inline.yaml", &err);
        if (!rows[i].msg) {
            if (!tap_ok(rc == 0 && c.nplugins >= 1 && c.plugins[0].generate && c.plugins[0].limits.timeout_ms,
                        "plugins row %zu parses", i))
                tap_diag("  rc %d: %s", rc, err.msg);
        } else {
            snprintf(at, sizeof(at), "inline.yaml:%d: ", rows[i].line);
            if (!tap_ok(rc == WS_ECONFIG && strncmp(err.msg, at, strlen(at)) == 0,
                        "plugins row %zu: an error at line %d", i, rows[i].line))
                tap_diag("  rc %d: %s", rc, err.msg);
            tap_contains(err.msg, rows[i].msg, "plugins row message");
        }
        ws_config_free(&c);
    }
    /* the first row, in detail */
    {
        struct ws_config c;
        struct ws_err err;
        const struct ws_plugin_cfg *p;
        if (parse_text(&c, "repositories: []\nplugins:\n- name: cdk8s\n  init: [npm, ci]\n"
                           "  generate: [sh, -c, 'synth']\n  discover: {fileName: './main.ts'}\n"
                           "  timeout: 2m\n  memory: 1Gi\n  maxOutput: 8Mi\n- {name: other, generate: [o]}\n",
                       "inline.yaml", &err) == 0) {
            p = ws_config_plugin_by_name(&c, "cdk8s");
            tap_ok(p && p->init && strcmp(p->init[1], "ci") == 0 && !p->init[2], "plugin init argv");
            tap_ok(p && strcmp(p->generate[2], "synth") == 0 && !p->generate[3], "plugin generate argv");
            tap_is_str(p ? p->discover_file : NULL, "./main.ts", "plugin discover.fileName");
            tap_ok(p && p->limits.timeout_ms == 120000 && p->limits.memory_bytes == (1ull << 30) &&
                       p->limits.max_output == (8u << 20),
                   "plugin limits");
            tap_is_str(p ? p->limits.setting : NULL, "plugins[0]", "plugin limits named for messages");
            p = ws_config_plugin_by_name(&c, "other");
            tap_ok(p && p->limits.timeout_ms == WS_PLUGIN_DEFAULT_TIMEOUT_MS && !p->discover_file && !p->init,
                   "plugin defaults: 90 s, no discovery, no init");
            tap_ok(!ws_config_plugin_by_name(&c, "nope"), "unknown plugin: NULL");
            ws_config_free(&c);
        } else {
            tap_ok(0, "plugins parse: %s", err.msg);
        }
    }
}

/* --- err fixtures ---------------------------------------------------------------- */

static void test_errors(void)
{
    static const struct {
        const char *file;
        int line; /* 0: any */
        const char *msg;
    } rows[] = {
        {"err_empty.yaml", 1, "no repositories"},
        {"err_not_mapping.yaml", 1, "expected a mapping"},
        {"err_yaml_syntax.yaml", 0, "err_yaml_syntax.yaml:"},
        {"err_two_documents.yaml", 4, "expected one YAML document"},
        {"err_unknown_top.yaml", 4, "unknown key \"waveTimeout\" at the top level"},
        {"err_unknown_repo_key.yaml", 6, "unknown key \"branch\" in repositories[1]"},
        {"err_unknown_cluster_key.yaml", 9,
         "unknown key \"contex\" in clusters[1] (did you mean \"context\"?)"},
        {"err_unknown_settings_key.yaml", 6, "unknown key \"parallelism\" in settings"},
        {"err_unknown_credentials_key.yaml", 6,
         "unknown key \"sshKey\" in repositories[0].credentials"},
        {"err_repositories_not_list.yaml", 1, "repositories must be a list"},
        {"err_missing_url.yaml", 4, "repositories[1]: url is required"},
        {"err_missing_name.yaml", 2, "repositories[0]: name is required"},
        {"err_name_not_string.yaml", 2, "repositories[0].name must be a string"},
        {"err_duplicate_repo.yaml", 6, "duplicate repository name \"platform\" (lines 2 and 6)"},
        {"err_duplicate_repo_url.yaml", 4,
         "repositories \"platform\" (line 2) and \"platform-ssh\" (line 4) have the same URL"},
        {"err_duplicate_cluster.yaml", 9, "duplicate cluster name \"dev\" (lines 5 and 9)"},
        {"err_same_server.yaml", 7,
         "clusters[1] \"other\": server https://127.0.0.1:6443 also selects cluster \"dev\" (line 5)"},
        {"err_unknown_repository_ref.yaml", 7, "applications[1]: unknown repository \"platfrom\""},
        {"err_app_path_escapes.yaml", 6, "path \"apps/../../etc\" escapes the repository"},
        {"err_bad_wave_timeout.yaml", 5, "bad duration \"5x\" for settings.waveTimeout"},
        {"err_bad_sync_timeout.yaml", 6, "bad duration \"soon\" for settings.syncTimeout"},
        {"err_zero_timeout.yaml", 5, "settings.waveTimeout must be greater than zero"},
        {"err_bad_concurrency.yaml", 5, "settings.concurrency must be an integer of at least 1 (got 0)"},
        {"err_concurrency_string.yaml", 5, "(got \"four\")"},
        {"err_bad_inventory_namespace.yaml", 5, "is not a valid namespace name"},
        {"err_kubeconfig_and_server.yaml", 7, "not both"},
        {"err_no_access.yaml", 5, "clusters[0] \"dev\": needs kubeconfig (and context), server (inline settings) or inCluster: true"},
        {"err_inline_with_kubeconfig.yaml", 8, "\"token\" is an inline setting"},
        {"err_context_without_kubeconfig.yaml", 7, "context needs kubeconfig"},
        {"err_missing_env.yaml", 6,
         "repositories[0].credentials.password: environment variable WS_TEST_UNSET_VARIABLE is not set"},
        {"err_missing_secret_file.yaml", 7, "secrets/missing-token: No such file"},
        {"err_empty_secret_file.yaml", 5, "secrets/empty is empty"},
        {"err_kubeconfig_missing.yaml", 6, "clusters[0] \"dev\": kubeconfig: "},
        {"err_context_not_found.yaml", 7, "context \"staging\" not found"},
        {"err_inline_server_scheme.yaml", 5, "must start with https://"},
        {"err_insecure_not_bool.yaml", 7, "clusters[0].insecure must be true or false"},
        {"err_alias_not_url.yaml", 9, "clusters[0].aliases[1] must be a server URL"},
        /* repositories[].webhook */
        {"err_webhook_unknown_key.yaml", 5,
         "unknown key \"secrte\" in repositories[0].webhook (did you mean \"secret\"?)"},
        {"err_webhook_not_mapping.yaml", 4, "repositories[0].webhook must be a mapping"},
        {"err_webhook_allow_unsigned.yaml", 6,
         "repositories[0].webhook.allowUnsigned must be true or false"},
        {"err_webhook_secret_env.yaml", 5,
         "repositories[0].webhook.secret: environment variable WS_TEST_UNSET_VARIABLE is not set"},
        {"err_webhook_secret_file.yaml", 4, "secrets/empty is empty"},
        /* repositories[].status */
        {"err_status_provider.yaml", 6,
         "repositories[0].status.provider must be \"github\" or \"gitlab\" (got \"bitbucket\")"},
        {"err_status_no_token.yaml", 4, "repositories[0].status: token is required"},
        {"err_status_no_provider.yaml", 6, "repositories[1].status: provider is required"},
        {"err_status_unknown_key.yaml", 7,
         "unknown key \"apiUrl\" in repositories[0].status (did you mean \"apiURL\"?)"},
        {"err_status_not_mapping.yaml", 4, "repositories[0].status must be a mapping"},
        /* server */
        {"err_server_listen_ipv6.yaml", 6, "server.listen \"::1:8080\" is not HOST:PORT"},
        {"err_server_listen_port.yaml", 5, "server.listen \"0.0.0.0:65536\" is not HOST:PORT"},
        {"err_server_max_body.yaml", 6,
         "server.maxBodySize must be a size such as \"25MB\" or \"512KiB\""},
        {"err_server_read_timeout.yaml", 5, "bad duration \"10x\" for server.readTimeout"},
        {"err_server_zero_grace.yaml", 5, "server.shutdownGrace must be greater than zero"},
        {"err_server_unknown_key.yaml", 6, "unknown key \"listn\" in server (did you mean \"listen\"?)"},
        {"err_server_not_mapping.yaml", 4, "server must be a mapping"},
        {"err_server_rate_negative.yaml", 5,
         "server.rateLimit.perSecond must be a number greater than zero"},
        {"err_server_rate_string.yaml", 7, "server.rateLimit.burst must be a number greater than zero"},
        {"err_server_rate_unknown_key.yaml", 6,
         "unknown key \"perSecnd\" in server.rateLimit (did you mean \"perSecond\"?)"},
        {"err_server_rate_not_mapping.yaml", 5, "server.rateLimit must be a mapping"},
        {"err_server_api_token_env.yaml", 5,
         "server.apiToken: environment variable WS_TEST_UNSET_VARIABLE is not set"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        char prefix[256];
        int rc = parse_fixture(&c, rows[i].file, &err);
        tap_ok(rc == WS_ECONFIG, "%s: configuration error", rows[i].file);
        if (rc != WS_ECONFIG)
            tap_diag("  rc %d, message \"%s\"", rc, err.msg);
        if (rows[i].line)
            snprintf(prefix, sizeof(prefix), "%s:%d: ", rows[i].file, rows[i].line);
        else
            snprintf(prefix, sizeof(prefix), "%s:", rows[i].file);
        if (!tap_ok(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s: message starts with %s",
                    rows[i].file, prefix))
            tap_diag("  got \"%s\"", err.msg);
        tap_contains(err.msg, rows[i].msg, rows[i].file);
        tap_ok(is_zeroed(&c), "%s: failure leaves the config zeroed", rows[i].file);
        ws_config_free(&c);
    }
}

/* --- secrets --------------------------------------------------------------------- */

static void test_secret_resolve(void)
{
    struct ws_err err;
    char *s = NULL;
    tap_is_int(ws_secret_resolve(&s, "plain-value", tmp, &err), 0, "secret: literal");
    tap_is_str(s, "plain-value", "secret: literal value");
    free(s);
    tap_is_int(ws_secret_resolve(&s, "env:WS_TEST_GIT_TOKEN", tmp, &err), 0, "secret: env");
    tap_is_str(s, GIT_TOKEN, "secret: env value");
    free(s);
    tap_is_int(ws_secret_resolve(&s, "file:secrets/git-token", tmp, &err), 0, "secret: file");
    tap_is_str(s, FILE_TOKEN, "secret: file value without its line ending");
    free(s);
    s = (char *)"untouched";
    tap_is_int(ws_secret_resolve(&s, "env:WS_TEST_UNSET_VARIABLE", tmp, &err), WS_ECONFIG,
               "secret: unset variable");
    tap_ok(s == NULL, "secret: *out NULL on failure");
    tap_contains(err.msg, "WS_TEST_UNSET_VARIABLE is not set", "secret: message names the variable");
    setenv("WS_TEST_EMPTY_VARIABLE", "", 1);
    tap_is_int(ws_secret_resolve(&s, "env:WS_TEST_EMPTY_VARIABLE", tmp, &err), WS_ECONFIG,
               "secret: empty variable");
    tap_contains(err.msg, "is empty", "secret: empty variable message");
    tap_is_int(ws_secret_resolve(&s, "env:", tmp, &err), WS_ECONFIG, "secret: env: without a name");
    tap_is_int(ws_secret_resolve(&s, "file:", tmp, &err), WS_ECONFIG, "secret: file: without a path");
    tap_is_int(ws_secret_resolve(&s, "file:secrets/none", tmp, &err), WS_ECONFIG,
               "secret: missing file");
    tap_contains(err.msg, in_tmp("secrets/none"), "secret: missing file message names the path");
}

/* Secrets resolved before a later error must not leak into its message. */
static void test_no_secret_in_errors(void)
{
    static const struct {
        const char *what, *text, *secret;
    } rows[] = {
        {"literal password, then a bad duration",
         "repositories:\n- name: a\n  url: /srv/a\n  credentials: {username: u, password: hunter2-literal-pw}\n"
         "settings: {waveTimeout: 5x}\n",
         "hunter2-literal-pw"},
        {"env: password, then an unknown cluster key",
         "repositories:\n- {name: a, url: /srv/a, credentials: {password: env:WS_TEST_GIT_TOKEN}}\n"
         "clusters:\n- {name: c, server: https://h, tokn: x}\n",
         GIT_TOKEN},
        {"file: password, then a path escaping",
         "repositories:\n- {name: a, url: /srv/a, credentials: {password: file:secrets/git-token}}\n"
         "applications:\n- {repository: a, path: ../up}\n",
         FILE_TOKEN},
        {"inline literal token with a bad server",
         "repositories: []\nclusters:\n- {name: c, server: ftp://h, token: tok-literal-secret-8812}\n",
         "tok-literal-secret-8812"},
        {"inline env: token with bad caData",
         "repositories: []\nclusters:\n- {name: c, server: https://h, caData: '%%%', token: env:WS_TEST_CLUSTER_TOKEN}\n",
         CLUSTER_TOKEN},
        {"env: token, then a duplicate cluster",
         "repositories: []\nclusters:\n- {name: c, server: https://h, token: env:WS_TEST_CLUSTER_TOKEN}\n"
         "- {name: c, server: https://i, token: env:WS_TEST_CLUSTER_TOKEN}\n",
         CLUSTER_TOKEN},
        {"kubeconfig token, then a bad setting",
         "repositories: []\nclusters:\n- {name: c, kubeconfig: kubeconfig}\nsettings: {concurrency: -1}\n",
         KUBE_TOKEN},
        {"webhook secret literal, then a bad listen address",
         "repositories:\n- {name: a, url: /srv/a, webhook: {secret: hook-literal-secret-6a2f}}\n"
         "server: {listen: \"::1:80\"}\n",
         "hook-literal-secret-6a2f"},
        {"webhook secret env:, then a bad status provider",
         "repositories:\n- {name: a, url: /srv/a, webhook: {secret: env:WS_TEST_HOOK_SECRET},\n"
         "   status: {provider: gitea, token: env:WS_TEST_HOOK_SECRET}}\n",
         HOOK_SECRET},
        {"status token literal, then a bad maxBodySize",
         "repositories:\n- {name: a, url: /srv/a, status: {provider: github, token: st-literal-91aa}}\n"
         "server: {maxBodySize: lots}\n",
         "st-literal-91aa"},
        {"apiToken env:, then a bad listen address",
         "repositories: []\nserver: {apiToken: env:WS_TEST_API_TOKEN, listen: \"host:http\"}\n", API_TOKEN},
        {"apiToken literal, then a bad rate",
         "repositories: []\nserver: {apiToken: api-literal-77c3, rateLimit: {burst: 0}}\n",
         "api-literal-77c3"},
        {"a secret that is not a string",
         "repositories:\n- {name: a, url: /srv/a, credentials: {password: [sekrit-in-list]}}\n",
         "sekrit-in-list"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        int rc = parse_text(&c, rows[i].text, "inline.yaml", &err);
        tap_ok(rc < 0, "no secret in errors: %s: fails", rows[i].what);
        if (!tap_ok(strstr(err.msg, rows[i].secret) == NULL, "no secret in errors: %s: message clean",
                    rows[i].what))
            tap_diag("  leaked in \"%s\"", err.msg);
        ws_config_free(&c);
    }
}

/* --- Git URL normalisation --------------------------------------------------------- */

static void test_url_normalize(void)
{
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"https://GitHub.com/Org/Repo.git", "github.com/Org/Repo"},
        {"https://github.com/Org/Repo/", "github.com/Org/Repo"},
        {"https://github.com/Org/Repo.git/", "github.com/Org/Repo"},
        {"HTTPS://Host.COM:443", "host.com"},
        {"http://git.example.com:80/a/b", "git.example.com/a/b"},
        {"https://git.example.com:8443/a/b.git", "git.example.com:8443/a/b"},
        {"https://user:secret@github.com/org/repo", "github.com/org/repo"},
        {"ssh://git@github.com/org/repo.git", "github.com/org/repo"},
        {"ssh://git@GitHub.com:22/org/repo.git", "github.com/org/repo"},
        {"ssh://git@git.example.com:2222/ml/platform.git", "git.example.com:2222/ml/platform"},
        {"git+ssh://git@host.example/x", "host.example/x"},
        {"git://git.example.com/x.git", "git.example.com/x"},
        {"git@github.com:org/repo.git", "github.com/org/repo"},
        {"git@GitHub.com:/org/repo", "github.com/org/repo"},
        {"github.com:org/repo", "github.com/org/repo"},
        {"file:///srv/git/ml-platform.git", "/srv/git/ml-platform"},
        {"file://localhost/srv/x.git", "/srv/x"},
        {"file:///", "/"},
        {"/srv/git/x.git/", "/srv/git/x"},
        {"/srv//git/x", "/srv/git/x"},
        {"relative/dir.git", "relative/dir"},
        {"https://github.com/org/repo?ref=main#frag", "github.com/org/repo"},
        {"https://[::1]:8443/r.git", "[::1]:8443/r"},
        {"https://[FE80::1]/r", "[fe80::1]/r"},
        {"  https://github.com/org/repo  ", "github.com/org/repo"},
        {"https://gitlab.com/Group/Sub/Project", "gitlab.com/Group/Sub/Project"},
        {"", ""},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        char *got = ws_git_url_normalize(rows[i].in), name[256];
        snprintf(name, sizeof(name), "normalize \"%s\"", rows[i].in);
        tap_is_str(got, rows[i].want, name);
        free(got);
    }
}

/* Helm repositories and OCI registries: type, enableOCI, plainHTTP,
 * offlineIndex, caFile, token/certFile/keyFile; and what is refused. */
static void test_helm_repos(void)
{
    static const struct {
        const char *text;
        const char *msg; /* NULL: parses */
    } rows[] = {
        {"repositories:\n- {name: c, url: oci://r.example.com/charts}\n", NULL},
        {"repositories:\n- {name: c, url: https://charts.example.com, type: helm, offlineIndex: true}\n", NULL},
        {"repositories:\n- {name: c, url: https://charts.example.com, type: chart}\n",
         "inline.yaml:2: repositories[0].type must be \"git\" or \"helm\" (got \"chart\")"},
        {"repositories:\n- {name: c, url: oci://r.example.com/charts, type: git}\n", "holds Helm charts, not Git"},
        {"repositories:\n- {name: c, url: https://charts.example.com, offlineIndex: true}\n",
         "offlineIndex is for Helm repositories: add type: helm"},
        {"repositories:\n- name: c\n  url: https://charts.example.com\n  credentials: {certFile: a.crt}\n",
         "certFile and keyFile go together"},
        {"repositories:\n- name: c\n  url: https://charts.example.com\n  credentials: {token: t, username: u}\n",
         "give a token or a username and password, not both"},
        {"repositories:\n- {name: c, url: oci://r.example.com/charts}\napplications:\n- {repository: c, path: apps}\n",
         "repository \"c\" is a Helm repository; Applications are read from Git"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_config c;
        struct ws_err err;
        int rc;
        ws_err_clear(&err);
        rc = parse_text(&c, rows[i].text, "inline.yaml", &err);
        if (!rows[i].msg) {
            tap_ok(rc == 0, "helm repos %zu parses (%s)", i, err.msg);
        } else {
            tap_ok(rc == WS_ECONFIG, "helm repos %zu refused", i);
            tap_contains(err.msg, rows[i].msg, "helm repos: the message");
        }
        if (rc == 0)
            ws_config_free(&c);
    }
    {
        struct ws_config c;
        struct ws_err err;
        setenv("WS_TEST_CHART_TOKEN", "tok-123", 1);
        if (parse_text(&c,
                       "repositories:\n- name: reg\n  url: registry.example.com/charts\n  enableOCI: true\n"
                       "  plainHTTP: true\n  caFile: ca.pem\n"
                       "  credentials: {token: env:WS_TEST_CHART_TOKEN, certFile: c.crt, keyFile: c.key}\n",
                       "inline.yaml", &err) == 0) {
            const struct ws_repo *r = ws_config_repo_by_url(&c, "oci://registry.example.com/charts");
            tap_ok(r && r->type == WS_REPO_HELM && r->enable_oci && r->plain_http, "enableOCI: type helm, matched by "
                                                                                  "the oci:// URL");
            tap_is_str(r ? r->token : NULL, "tok-123", "the token is resolved from env:");
            tap_ok(r && r->ca_file && r->ca_file[0] == '/' && strstr(r->ca_file, "/ca.pem") && r->cert_file &&
                       r->cert_file[0] == '/' && r->key_file && r->key_file[0] == '/',
                   "caFile, certFile and keyFile are made absolute");
            ws_config_free(&c);
        } else {
            tap_ok(0, "enableOCI repository parses (%s)", err.msg);
        }
    }
}

/* --- clusters[].inCluster ------------------------------------------------------ */

/* inCluster: true reads the pod's service account (here a scratch folder
 * given as serviceAccountDir) and answers to Argo CD's
 * https://kubernetes.default.svc; the keys that name another way in are
 * refused, and outside a pod the error names the variables. */
static void test_in_cluster(void)
{
    static const struct {
        const char *text, *msg;
        int line;
    } bad[] = {
        {"clusters:\n  - inCluster: true\n    serviceAccountDir: sa\n    kubeconfig: kubeconfig\n",
         "clusters[0] \"in-cluster\": inCluster uses the pod's service account: \"kubeconfig\" does not go with it", 4},
        {"clusters:\n  - inCluster: true\n    serviceAccountDir: sa\n    server: https://10.0.0.1\n",
         "\"server\" does not go with it", 4},
        {"clusters:\n  - name: self\n    inCluster: true\n    serviceAccountDir: sa\n    token: abc\n",
         "clusters[0] \"self\": inCluster uses the pod's service account: \"token\" does not go with it", 5},
        {"clusters:\n  - name: x\n    inCluster: yes please\n", "clusters[0].inCluster must be true or false", 3},
        {"clusters:\n  - name: x\n    server: https://10.0.0.1\n    serviceAccountDir: sa\n",
         "clusters[0] \"x\": serviceAccountDir needs inCluster: true", 4},
        {"clusters:\n  - inCluster: true\n    serviceAccountDir: missing\n",
         "clusters[0] \"in-cluster\": in-cluster: service account token", 2},
        {"clusters:\n  - inCluster: true\n    serviceAccountDir: sa\n  - name: dev\n    kubeconfig: kubeconfig\n"
         "    aliases: [https://kubernetes.default.svc]\n",
         "server https://kubernetes.default.svc also selects cluster \"in-cluster\"", 4},
    };
    struct ws_config c;
    struct ws_err err;
    size_t i;
    int rc;

    make_dir("sa");
    write_file("sa/token", "sa-token-2b7e\n");
    write_file("sa/ca.crt", "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n");
    write_file("sa/namespace", "wavesync\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);

    rc = parse_text(&c, "clusters:\n  - inCluster: true\n    serviceAccountDir: sa\n", "w.yaml", &err);
    if (!tap_ok(rc == 0, "inCluster: parses"))
        tap_diag("  %s", err.msg);
    if (c.nclusters == 1) {
        tap_is_str(c.clusters[0].name, "in-cluster", "inCluster: the name defaults to Argo CD's in-cluster");
        tap_is_str(c.clusters[0].kc.server, "https://10.96.0.1:443", "inCluster: server from the environment");
        tap_is_str(c.clusters[0].kc.token, "sa-token-2b7e", "inCluster: the service account token");
        tap_is_str(c.clusters[0].kc.token_file, in_tmp("sa/token"),
                   "inCluster: token file kept for re-reads (serviceAccountDir relative to the file)");
        tap_is_str(c.clusters[0].kc.ca_file, in_tmp("sa/ca.crt"), "inCluster: the service account CA");
        tap_is_str(c.clusters[0].kc.namespace_, "wavesync", "inCluster: the pod's namespace");
        tap_ok(ws_config_cluster_by_server(&c, "https://kubernetes.default.svc/") == &c.clusters[0],
               "inCluster: destination.server https://kubernetes.default.svc selects it");
        tap_ok(ws_config_cluster_by_server(&c, "https://10.96.0.1:443") == &c.clusters[0],
               "inCluster: and so does its own address");
        tap_ok(ws_config_cluster_by_name(&c, "in-cluster") == &c.clusters[0],
               "inCluster: destination.name in-cluster selects it");
    } else {
        tap_ok(0, "inCluster: one cluster");
    }
    ws_config_free(&c);

    rc = parse_text(&c,
                    "clusters:\n  - name: home\n    inCluster: true\n    serviceAccountDir: sa\n"
                    "    namespace: ml\n    aliases: [https://kubernetes.default.svc, https://api.home:6443]\n"
                    "    labels: {env: prod}\n",
                    "w.yaml", &err);
    if (!tap_ok(rc == 0, "inCluster with a name, namespace, aliases and labels: parses"))
        tap_diag("  %s", err.msg);
    if (c.nclusters == 1) {
        tap_is_str(c.clusters[0].name, "home", "inCluster: a name given is kept");
        tap_is_str(c.clusters[0].kc.namespace_, "ml", "inCluster: namespace overrides the pod's");
        tap_is_int(c.clusters[0].naliases, 2, "inCluster: kubernetes.default.svc listed once");
        tap_ok(ws_config_cluster_by_server(&c, "https://api.home:6443") == &c.clusters[0],
               "inCluster: its other aliases");
        tap_is_str(json_string_value(json_object_get(c.clusters[0].labels, "env")), "prod", "inCluster: labels");
    }
    ws_config_free(&c);

    for (i = 0; i < WS_ARRAY_SIZE(bad); i++) {
        char prefix[64];
        rc = parse_text(&c, bad[i].text, "w.yaml", &err);
        if (!tap_ok(rc == WS_ECONFIG, "inCluster bad %zu: configuration error", i))
            tap_diag("  rc %d", rc);
        snprintf(prefix, sizeof(prefix), "w.yaml:%d: ", bad[i].line);
        if (!tap_ok(strncmp(err.msg, prefix, strlen(prefix)) == 0, "inCluster bad %zu: at line %d", i,
                    bad[i].line))
            tap_diag("  got \"%s\"", err.msg);
        tap_contains(err.msg, bad[i].msg, "inCluster bad: message");
        tap_ok(is_zeroed(&c), "inCluster bad %zu: config left zeroed", i);
        ws_config_free(&c);
    }

    unsetenv("KUBERNETES_SERVICE_HOST");
    rc = parse_text(&c, "clusters:\n  - inCluster: true\n", "w.yaml", &err);
    tap_is_int(rc, WS_ECONFIG, "inCluster outside a pod: configuration error");
    tap_contains(err.msg, "w.yaml:2: clusters[0] \"in-cluster\": in-cluster: KUBERNETES_SERVICE_HOST",
                 "inCluster outside a pod: names the variables");
    ws_config_free(&c);
    unsetenv("KUBERNETES_SERVICE_PORT");

    remove(in_tmp("sa/token"));
    remove(in_tmp("sa/ca.crt"));
    remove(in_tmp("sa/namespace"));
    remove(in_tmp("sa"));
}

int main(void)
{
    setup();
    test_minimal();
    test_full();
    test_inline_and_secrets();
    test_load();
    test_server_defaults();
    test_server_full();
    test_listen();
    test_max_body_size();
    test_tools();
    test_plugins();
    test_server_values();
    test_poll_interval();
    test_errors();
    test_secret_resolve();
    test_no_secret_in_errors();
    test_url_normalize();
    test_helm_repos();
    test_in_cluster();
    teardown();
    return tap_done();
}
