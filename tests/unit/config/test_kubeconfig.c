/* test_kubeconfig.c — tests for reconciler/config/kubeconfig.c: every auth form from
 * fixture files (tests/unit/data/kubeconfig/ok_*.yaml, err_*.yaml), KUBECONFIG
 * merging, in-cluster settings and inline cluster settings. */
#include "config/kubeconfig.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "base/util.h"

#define CA_PEM "-----BEGIN CERTIFICATE-----\nTEST-CA\n-----END CERTIFICATE-----\n"
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QtQ0EKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nTEST-CLIENT\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nTEST-KEY\n-----END PRIVATE KEY-----\n"

/* Absolute path of the fixture folder (so resolved paths are predictable). */
static char data_dir[PATH_MAX];

static void find_data_dir(void)
{
    const char *src = getenv("WS_SRCDIR");
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s/tests/unit/data/kubeconfig", src && *src ? src : ".");
    if (!realpath(rel, data_dir))
        snprintf(data_dir, sizeof(data_dir), "%s", rel);
}

static void fixture_path(char *out, size_t len, const char *file)
{
    snprintf(out, len, "%s/%s", data_dir, file);
}

/* Parse a fixture from memory, named by its bare file name, with relative
 * paths resolved against the fixture folder. */
static int parse_fixture(struct ws_kubeconfig *c, const char *file, const char *context,
                         struct ws_err *err)
{
    char path[PATH_MAX + 64], *buf = NULL;
    size_t len = 0;
    int rc;
    fixture_path(path, sizeof(path), file);
    ws_err_clear(err);
    if ((rc = ws_file_read(&buf, &len, path, 1 << 20, err)) < 0) {
        tap_diag("cannot read fixture: %s", err->msg);
        memset(c, 0, sizeof(*c));
        return rc;
    }
    rc = ws_kubeconfig_parse(c, buf, len, file, data_dir, context, err);
    free(buf);
    return rc;
}

/* "<data_dir>/<rel>" */
static const char *in_data(const char *rel)
{
    static char out[PATH_MAX + 64];
    snprintf(out, sizeof(out), "%s/%s", data_dir, rel);
    return out;
}

static int is_zeroed(const struct ws_kubeconfig *c)
{
    static const struct ws_kubeconfig zero;
    return memcmp(c, &zero, sizeof(zero)) == 0;
}

static int has_prefix(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);
    return s && n >= m && strcmp(s + n - m, suffix) == 0;
}

/* --- ok fixtures ------------------------------------------------------------ */

static void test_cert_files(void)
{
    struct ws_kubeconfig c;
    struct ws_err err;
    char path[PATH_MAX + 64];
    int rc;

    rc = parse_fixture(&c, "ok_cert_files.yaml", NULL, &err);
    if (!tap_ok(rc == 0, "cert files: parses"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.context, "dev", "cert files: current-context used");
    tap_is_str(c.server, "https://dev.example.com:6443", "cert files: trailing slash dropped");
    tap_is_str(c.ca_file, in_data("pki/ca.crt"), "cert files: relative CA resolved against base_dir");
    tap_ok(c.ca_data == NULL && c.ca_len == 0, "cert files: no CA data");
    tap_is_str(c.tls_server_name, "api.dev.internal", "cert files: tls-server-name");
    tap_is_str(c.cert_file, in_data("pki/admin.crt"), "cert files: relative client cert resolved");
    tap_is_str(c.key_file, "/etc/wavesync/admin.key", "cert files: absolute client key kept");
    tap_ok(c.cert_data == NULL && c.key_data == NULL, "cert files: no inline cert/key");
    tap_is_str(c.namespace_, "ml", "cert files: namespace from the context");
    tap_is_int(c.insecure, 0, "cert files: not insecure");
    tap_ok(!c.token && !c.token_file && !c.username && !c.password && !c.exec,
           "cert files: no other credential");
    tap_is_str(ws_kubeconfig_auth_kind(&c), "client certificate", "cert files: auth kind");
    ws_kubeconfig_free(&c);
    tap_ok(is_zeroed(&c), "free zeroes the struct");
    ws_kubeconfig_free(&c); /* twice is safe */

    rc = parse_fixture(&c, "ok_cert_files.yaml", "dev-anonymous", &err);
    tap_is_int(rc, 0, "cert files: explicit context selected");
    tap_is_str(c.context, "dev-anonymous", "cert files: explicit context wins over current-context");
    tap_is_str(c.namespace_, "default", "cert files: namespace defaults to \"default\"");
    tap_ok(c.cert_file == NULL && c.key_file == NULL, "cert files: context without user has no cert");
    tap_is_str(ws_kubeconfig_auth_kind(&c), "none", "cert files: auth kind none without user");
    tap_is_str(c.ca_file, in_data("pki/ca.crt"), "cert files: cluster still resolved");
    ws_kubeconfig_free(&c);

    /* Without base_dir, relative paths are left as written. */
    {
        char *buf = NULL;
        size_t len = 0;
        fixture_path(path, sizeof(path), "ok_cert_files.yaml");
        ws_file_read(&buf, &len, path, 1 << 20, &err);
        rc = ws_kubeconfig_parse(&c, buf, len, "x", NULL, NULL, &err);
        tap_is_int(rc, 0, "cert files: parse without base_dir");
        tap_is_str(c.ca_file, "pki/ca.crt", "cert files: no base_dir leaves CA path relative");
        tap_is_str(c.cert_file, "pki/admin.crt", "cert files: no base_dir leaves cert path relative");
        ws_kubeconfig_free(&c);
        free(buf);
    }

    /* ws_kubeconfig_load with a path resolves against the file's folder. */
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, path, NULL, &err);
    if (!tap_ok(rc == 0, "cert files: load by path"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.cert_file, in_data("pki/admin.crt"),
               "cert files: load resolves against the file's folder");
    tap_is_str(c.namespace_, "ml", "cert files: load namespace");
    ws_kubeconfig_free(&c);
}

static void test_cert_data(void)
{
    struct ws_kubeconfig c;
    struct ws_err err;
    int rc = parse_fixture(&c, "ok_cert_data.yaml", NULL, &err);

    if (!tap_ok(rc == 0, "cert data: parses"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.context, "kind-wavesync", "cert data: context");
    tap_is_str(c.server, "https://127.0.0.1:39127", "cert data: server");
    tap_ok(c.ca_len == strlen(CA_PEM) && c.ca_data && memcmp(c.ca_data, CA_PEM, c.ca_len) == 0,
           "cert data: CA decoded to PEM bytes");
    tap_ok(c.cert_len == strlen(CERT_PEM) && c.cert_data &&
               memcmp(c.cert_data, CERT_PEM, c.cert_len) == 0,
           "cert data: client cert decoded");
    tap_ok(c.key_len == strlen(KEY_PEM) && c.key_data && memcmp(c.key_data, KEY_PEM, c.key_len) == 0,
           "cert data: client key decoded (base64 split over lines)");
    tap_ok(c.ca_file == NULL && c.cert_file == NULL && c.key_file == NULL, "cert data: no file paths");
    tap_is_str(c.namespace_, "default", "cert data: default namespace");
    tap_is_str(ws_kubeconfig_auth_kind(&c), "client certificate", "cert data: auth kind");
    ws_kubeconfig_free(&c);
}

static const struct {
    const char *context;   /* NULL: current-context */
    const char *want_context, *server, *ca_file, *token, *token_file, *username, *password, *ns,
        *auth;
    int insecure;
} token_cases[] = {
    {NULL, "prod", "https://prod.example.com", "/etc/ssl/prod-ca.pem", "s3cr3t-t0ken", NULL, NULL,
     NULL, "payments", "bearer token", 0},
    {"", "prod", "https://prod.example.com", "/etc/ssl/prod-ca.pem", "s3cr3t-t0ken", NULL, NULL,
     NULL, "payments", "bearer token", 0},
    {"robot", "robot", "https://prod.example.com", "/etc/ssl/prod-ca.pem", NULL,
     "secrets/robot.token", NULL, NULL, "default", "token file", 0},
    {"lab", "lab", "http://lab.example.com:8080", NULL, NULL, NULL, "admin", "hunter2", "default",
     "basic auth", 1},
};

static void test_tokens(void)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(token_cases); i++) {
        struct ws_kubeconfig c;
        struct ws_err err;
        char tf[PATH_MAX + 64] = "";
        const char *ctx = token_cases[i].want_context;
        int rc = parse_fixture(&c, "ok_tokens.yaml", token_cases[i].context, &err);
        if (!tap_ok(rc == 0, "tokens[%s]: parses", ctx))
            tap_diag("  %s", err.msg);
        if (token_cases[i].token_file)
            snprintf(tf, sizeof(tf), "%s", in_data(token_cases[i].token_file));
        tap_ok(c.context && strcmp(c.context, ctx) == 0, "tokens[%s]: context", ctx);
        tap_ok(c.server && strcmp(c.server, token_cases[i].server) == 0, "tokens[%s]: server %s", ctx,
               token_cases[i].server);
        tap_ok((c.ca_file == NULL) == (token_cases[i].ca_file == NULL) &&
                   (!c.ca_file || strcmp(c.ca_file, token_cases[i].ca_file) == 0),
               "tokens[%s]: CA file", ctx);
        tap_ok((c.token == NULL) == (token_cases[i].token == NULL) &&
                   (!c.token || strcmp(c.token, token_cases[i].token) == 0),
               "tokens[%s]: token", ctx);
        tap_ok((c.token_file == NULL) == (token_cases[i].token_file == NULL) &&
                   (!c.token_file || strcmp(c.token_file, tf) == 0),
               "tokens[%s]: tokenFile resolved against base_dir", ctx);
        tap_ok((c.username == NULL) == (token_cases[i].username == NULL) &&
                   (!c.username || strcmp(c.username, token_cases[i].username) == 0) &&
                   (c.password == NULL) == (token_cases[i].password == NULL) &&
                   (!c.password || strcmp(c.password, token_cases[i].password) == 0),
               "tokens[%s]: basic auth", ctx);
        tap_ok(c.namespace_ && strcmp(c.namespace_, token_cases[i].ns) == 0,
               "tokens[%s]: namespace %s", ctx, token_cases[i].ns);
        tap_is_int(c.insecure, token_cases[i].insecure, "tokens: insecure-skip-tls-verify");
        tap_is_str(ws_kubeconfig_auth_kind(&c), token_cases[i].auth, "tokens: auth kind");
        ws_kubeconfig_free(&c);
    }
}

static void test_exec(void)
{
    struct ws_kubeconfig c;
    struct ws_err err;
    char prefix[PATH_MAX + 8];
    int rc;

    rc = parse_fixture(&c, "ok_exec.yaml", NULL, &err);
    if (!tap_ok(rc == 0, "exec: parses"))
        tap_diag("  %s", err.msg);
    tap_ok(c.exec != NULL, "exec: plugin configured");
    if (c.exec) {
        snprintf(prefix, sizeof(prefix), "%s/", data_dir);
        tap_ok(c.exec->command && c.exec->command[0] == '/',
               "exec: relative command made absolute (%s)", c.exec->command);
        tap_ok(has_prefix(c.exec->command, prefix) && has_suffix(c.exec->command, "/bin/plugin"),
               "exec: relative command resolved against base_dir");
        tap_ok(c.exec->args && c.exec->args[0] && c.exec->args[1] && c.exec->args[2] &&
                   !c.exec->args[3] && strcmp(c.exec->args[0], "token") == 0 &&
                   strcmp(c.exec->args[1], "--cluster-id") == 0 &&
                   strcmp(c.exec->args[2], "wavesync") == 0,
               "exec: args in order, NULL-terminated");
        tap_ok(c.exec->env && c.exec->env[0] && c.exec->env[1] && !c.exec->env[2],
               "exec: two env entries, NULL-terminated");
        if (c.exec->env && c.exec->env[0] && c.exec->env[1]) {
            tap_is_str(c.exec->env[0], "AWS_PROFILE=deploy", "exec: env as NAME=value");
            tap_is_str(c.exec->env[1], "EMPTY=", "exec: env with an empty value");
        }
        tap_is_str(c.exec->api_version, "client.authentication.k8s.io/v1", "exec: apiVersion v1");
        tap_is_int(c.exec->provide_cluster_info, 1, "exec: provideClusterInfo");
    }
    tap_ok(c.ca_len == strlen(CA_PEM) && memcmp(c.ca_data, CA_PEM, c.ca_len) == 0,
           "exec: cluster CA data decoded");
    tap_is_str(ws_kubeconfig_auth_kind(&c), "exec plugin", "exec: auth kind");
    ws_kubeconfig_free(&c);

    rc = parse_fixture(&c, "ok_exec.yaml", "bare", &err);
    tap_is_int(rc, 0, "exec bare: parses");
    if (tap_ok(c.exec != NULL, "exec bare: plugin configured")) {
        tap_is_str(c.exec->command, "plugin", "exec bare: a bare command stays for PATH lookup");
        tap_ok(c.exec->args && !c.exec->args[0], "exec bare: no args is an empty list");
        tap_ok(c.exec->env && !c.exec->env[0], "exec bare: no env is an empty list");
        tap_is_str(c.exec->api_version, "client.authentication.k8s.io/v1beta1",
                   "exec bare: apiVersion v1beta1 accepted");
        tap_is_int(c.exec->provide_cluster_info, 0, "exec bare: provideClusterInfo defaults off");
    }
    ws_kubeconfig_free(&c);

    rc = parse_fixture(&c, "ok_exec.yaml", "absolute", &err);
    tap_is_int(rc, 0, "exec absolute: parses");
    if (tap_ok(c.exec != NULL, "exec absolute: plugin configured")) {
        tap_is_str(c.exec->command, "/usr/local/bin/plugin", "exec absolute: command kept");
        tap_ok(c.exec->args && !c.exec->args[0], "exec absolute: args: [] is empty");
        tap_ok(c.exec->env && !c.exec->env[0], "exec absolute: env: [] is empty");
        tap_is_int(c.exec->provide_cluster_info, 0, "exec absolute: provideClusterInfo false");
    }
    ws_kubeconfig_free(&c);
}

/* kubectl writes `args: null` / `env: null`; they mean "none". */
static void test_exec_null_lists(void)
{
    struct ws_kubeconfig c;
    struct ws_err err;
    int rc = parse_fixture(&c, "ok_exec_null_lists.yaml", NULL, &err);
    if (rc < 0)
        tap_diag("  %s", err.msg);
    tap_ok(rc == 0, "%s", "exec null lists: `args: null` and `env: null` accepted");
    if (rc == 0 && c.exec) {
        tap_is_str(c.exec->command, "aws", "exec null lists: command");
        tap_ok(c.exec->args && !c.exec->args[0], "exec null lists: args empty");
        tap_ok(c.exec->env && !c.exec->env[0], "exec null lists: env empty");
    }
    ws_kubeconfig_free(&c);
}

/* --- err fixtures ------------------------------------------------------------ */

static const struct {
    const char *file;
    const char *context;
    const char *needles[3]; /* each must appear in the message (besides the file name) */
} err_cases[] = {
    {"err_malformed.yaml", NULL,
     {"err_malformed.yaml:8:6: ", "while parsing a flow sequence at line 7"}},
    {"err_two_documents.yaml", NULL, {"err_two_documents.yaml:4: a second document"}},
    {"err_pem_in_data.yaml", NULL, {"\"certificate-authority-data\" is not valid base64"}},
    {"err_not_mapping.yaml", NULL, {"not a kubeconfig", "expected a mapping"}},
    {"err_empty.yaml", NULL, {"no current-context"}},
    {"err_no_current_context.yaml", NULL, {"no current-context"}},
    {"err_missing_context.yaml", NULL, {"context \"staging\" not found"}},
    {"ok_tokens.yaml", "nope", {"context \"nope\" not found"}},
    {"err_missing_cluster.yaml", NULL,
     {"context \"dev\"", "cluster \"dev-old\" not found"}},
    {"err_missing_user.yaml", NULL, {"context \"dev\"", "user \"bob\" not found"}},
    {"err_context_without_cluster.yaml", NULL, {"context \"dev\" names no cluster"}},
    {"err_no_server.yaml", NULL, {"cluster \"dev\"", "no \"server\""}},
    {"err_server_not_string.yaml", NULL,
     {"cluster \"dev\"", "\"server\" must be a string"}},
    {"err_server_scheme.yaml", NULL,
     {"cluster \"dev\"", "\"dev.example.com:6443\"", "https://"}},
    {"err_bad_base64.yaml", NULL,
     {"cluster \"dev\"", "\"certificate-authority-data\"", "base64"}},
    {"err_bad_base64_key.yaml", NULL,
     {"user \"admin\"", "\"client-key-data\"", "base64"}},
    /* Found by tests/fuzz/fuzz_kubeconfig.c: accepted before. */
    {"err_empty_base64.yaml", NULL,
     {"cluster \"dev\"", "\"certificate-authority-data\" holds no data"}},
    {"err_server_no_host.yaml", NULL, {"cluster \"dev\"", "server \"https:///\" names no host"}},
    {"err_cert_without_key.yaml", NULL, {"user \"admin\"", "without a client key"}},
    {"err_key_without_cert.yaml", NULL,
     {"user \"admin\"", "without a client certificate"}},
    {"err_insecure_with_ca.yaml", NULL,
     {"cluster \"dev\"", "insecure-skip-tls-verify", "certificate authority"}},
    {"err_auth_provider.yaml", NULL,
     {"user \"gke-user\"", "auth-provider \"gcp\" is not supported", "use an exec"}},
    {"err_exec_no_command.yaml", NULL, {"user \"plugin-user\"", "no \"command\""}},
    {"err_exec_v1alpha1.yaml", NULL,
     {"user \"plugin-user\"", "client.authentication.k8s.io/v1alpha1", "not supported"}},
    {"err_exec_no_api_version.yaml", NULL,
     {"user \"plugin-user\"", "no \"apiVersion\""}},
    {"err_exec_args_not_list.yaml", NULL,
     {"user \"plugin-user\"", "\"args\" must be a list"}},
    {"err_exec_env_no_value.yaml", NULL,
     {"user \"plugin-user\"", "env[0]", "\"value\""}},
    {"err_exec_not_mapping.yaml", NULL,
     {"user \"plugin-user\"", "\"exec\" must be a mapping"}},
};

static void test_errors(void)
{
    size_t i, j;
    for (i = 0; i < WS_ARRAY_SIZE(err_cases); i++) {
        const char *file = err_cases[i].file;
        struct ws_kubeconfig c;
        struct ws_err err;
        char path[PATH_MAX + 64];
        char name[200];
        int rc = parse_fixture(&c, file, err_cases[i].context, &err);
        tap_ok(rc == WS_ECONFIG, "%s: WS_ECONFIG (got %d)", file, rc);
        snprintf(name, sizeof(name), "%s: err.code matches the returned code (%d)", file, err.code);
        tap_ok(err.code == rc, "%s", name);
        tap_ok(has_prefix(err.msg, file), "%s: message starts with the file name", file);
        for (j = 0; j < 3 && err_cases[i].needles[j]; j++)
            tap_contains(err.msg, err_cases[i].needles[j], file);
        tap_ok(is_zeroed(&c), "%s: output left zeroed", file);
        ws_kubeconfig_free(&c);

        /* The same through ws_kubeconfig_load: the message names the path. */
        fixture_path(path, sizeof(path), file);
        ws_err_clear(&err);
        rc = ws_kubeconfig_load(&c, path, err_cases[i].context, &err);
        tap_ok(rc == WS_ECONFIG && has_prefix(err.msg, path), "%s: load fails naming the path", file);
        ws_kubeconfig_free(&c);
    }

    /* No name given: a placeholder names the source. */
    {
        struct ws_kubeconfig c;
        struct ws_err err;
        const char *text = "current-context: x\n";
        int rc = ws_kubeconfig_parse(&c, text, strlen(text), NULL, NULL, NULL, &err);
        tap_is_int(rc, WS_ECONFIG, "unnamed: missing context is WS_ECONFIG");
        tap_contains(err.msg, "<kubeconfig>", "unnamed: message uses <kubeconfig>");
        ws_kubeconfig_free(&c);
    }
}

/* --- ws_kubeconfig_load: KUBECONFIG lists, HOME --------------------------- */

static int write_file(const char *dir, const char *rel, const char *text)
{
    char path[PATH_MAX];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (!(f = fopen(path, "w")))
        return -1;
    fputs(text, f);
    return fclose(f);
}

static const char kc_a[] =
    "current-context: a-ctx\n"
    "clusters:\n"
    "- name: shared\n"
    "  cluster: {server: \"https://a.example.com\"}\n"
    "users:\n"
    "- name: a-user\n"
    "  user: {tokenFile: a.token}\n"
    "contexts:\n"
    "- name: a-ctx\n"
    "  context: {cluster: shared, user: a-user, namespace: from-a}\n";

static const char kc_b[] =
    "current-context: b-ctx\n"
    "clusters:\n"
    "- name: shared\n"
    "  cluster: {server: \"https://b.example.com\"}\n"
    "- name: b-only\n"
    "  cluster: {server: \"https://b-only.example.com\"}\n"
    "users:\n"
    "- name: b-user\n"
    "  user: {tokenFile: b.token}\n"
    "- name: a-user\n"
    "  user: {token: from-b}\n"
    "contexts:\n"
    "- name: b-ctx\n"
    "  context: {cluster: b-only, user: b-user}\n"
    "- name: a-ctx\n"
    "  context: {cluster: b-only, user: b-user}\n"
    "- name: mixed\n"
    "  context: {cluster: shared, user: b-user}\n";

static void setenvf(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void setenvf(const char *name, const char *fmt, ...)
{
    char v[3 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    setenv(name, v, 1);
}

static void test_load(void)
{
    char dir[] = "/tmp/ws-test-kubeconfig-XXXXXX", p[PATH_MAX], want[PATH_MAX];
    struct ws_kubeconfig c;
    struct ws_err err;
    char *saved_home = ws_strdup0(getenv("HOME"));
    int rc;

    if (!tap_ok(mkdtemp(dir) != NULL, "load: temp dir"))
        return;
    snprintf(p, sizeof(p), "%s/sub", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/home", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/home/.kube", dir);
    mkdir(p, 0700);
    tap_ok(write_file(dir, "a.yaml", kc_a) == 0 && write_file(dir, "sub/b.yaml", kc_b) == 0 &&
               write_file(dir, "bad.yaml", "clusters: [\n") == 0 &&
               write_file(dir, "creds.yaml", "current-context: \"\"\nusers: []\n") == 0 &&
               write_file(dir, "home/.kube/config", kc_b) == 0,
           "load: wrote kubeconfig files");

    /* a:b — first wins for current-context and for each named entry. */
    setenvf("KUBECONFIG", "%s/a.yaml:%s/sub/b.yaml", dir, dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    if (!tap_ok(rc == 0, "load a:b: ok"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.context, "a-ctx", "load a:b: current-context from the first file");
    tap_is_str(c.server, "https://a.example.com", "load a:b: cluster \"shared\" from the first file");
    snprintf(want, sizeof(want), "%s/a.token", dir);
    tap_is_str(c.token_file, want, "load a:b: user from the first file, path against its folder");
    tap_ok(c.token == NULL, "load a:b: the second file's a-user is ignored");
    tap_is_str(c.namespace_, "from-a", "load a:b: context a-ctx from the first file");
    ws_kubeconfig_free(&c);

    rc = ws_kubeconfig_load(&c, NULL, "b-ctx", &err);
    tap_is_int(rc, 0, "load a:b --context b-ctx: ok");
    tap_is_str(c.server, "https://b-only.example.com",
               "load a:b b-ctx: entries only in the second file");
    snprintf(want, sizeof(want), "%s/sub/b.token", dir);
    tap_is_str(c.token_file, want, "load a:b b-ctx: path resolved against the second file's folder");
    ws_kubeconfig_free(&c);

    rc = ws_kubeconfig_load(&c, NULL, "mixed", &err);
    tap_is_int(rc, 0, "load a:b --context mixed: ok");
    tap_is_str(c.server, "https://a.example.com", "load a:b mixed: shared cluster still first-wins");
    tap_is_str(c.token_file, want, "load a:b mixed: user from the second file");
    ws_kubeconfig_free(&c);

    /* b:a — order reversed. */
    setenvf("KUBECONFIG", "%s/sub/b.yaml:%s/a.yaml", dir, dir);
    rc = ws_kubeconfig_load(&c, NULL, "a-ctx", &err);
    tap_is_int(rc, 0, "load b:a: ok");
    tap_is_str(c.server, "https://b-only.example.com", "load b:a: a-ctx now from b");
    tap_is_str(c.token_file, want, "load b:a: user b-user");
    ws_kubeconfig_free(&c);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    tap_is_str(c.context, "b-ctx", "load b:a: current-context from b");
    ws_kubeconfig_free(&c);

    /* Known bug (see the report): an empty current-context (as `kubectl
     * config set-credentials` writes into a new file) hides the next file's
     * one; kubectl takes the first non-empty value. */
    setenvf("KUBECONFIG", "%s/creds.yaml:%s/a.yaml", dir, dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    if (rc < 0)
        tap_diag("  %s", err.msg);
    tap_ok(rc == 0 && c.context && strcmp(c.context, "a-ctx") == 0, "%s", "load creds:a: empty current-context does not win");
    ws_kubeconfig_free(&c);

    /* Missing members of a list are skipped. */
    setenvf("KUBECONFIG", "%s/missing1.yaml:%s/a.yaml:%s/missing2.yaml", dir, dir, dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    if (!tap_ok(rc == 0, "load missing:a:missing: ok"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.context, "a-ctx", "load missing:a:missing: a used");
    ws_kubeconfig_free(&c);

    /* Empty list members are ignored too. */
    setenvf("KUBECONFIG", "::%s/a.yaml:", dir);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    tap_is_int(rc, 0, "load with empty list members: ok");
    ws_kubeconfig_free(&c);

    /* None exists. */
    setenvf("KUBECONFIG", "%s/missing1.yaml:%s/missing2.yaml", dir, dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    tap_is_int(rc, WS_ECONFIG, "load none existing: WS_ECONFIG");
    tap_contains(err.msg, "none of", "load none existing: says none exists");
    tap_contains(err.msg, "missing1.yaml", "load none existing: names the list");
    tap_ok(is_zeroed(&c), "load none existing: output zeroed");
    ws_kubeconfig_free(&c);

    /* A broken member names its file. */
    setenvf("KUBECONFIG", "%s/a.yaml:%s/bad.yaml", dir, dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    tap_is_int(rc, WS_ECONFIG, "load a:bad: WS_ECONFIG");
    snprintf(want, sizeof(want), "%s/bad.yaml:", dir);
    tap_contains(err.msg, want, "load a:bad: message names bad.yaml with its position");
    ws_kubeconfig_free(&c);

    /* A single missing file is an error, not skipped. */
    setenvf("KUBECONFIG", "%s/missing.yaml", dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    tap_is_int(rc, WS_ECONFIG, "load single missing: WS_ECONFIG");
    tap_contains(err.msg, "kubeconfig", "load single missing: says kubeconfig");
    tap_contains(err.msg, "missing.yaml", "load single missing: names the file");
    ws_kubeconfig_free(&c);

    /* An explicit path wins over KUBECONFIG. */
    setenvf("KUBECONFIG", "%s/a.yaml", dir);
    snprintf(p, sizeof(p), "%s/sub/b.yaml", dir);
    rc = ws_kubeconfig_load(&c, p, NULL, &err);
    tap_is_int(rc, 0, "load explicit path: ok");
    tap_is_str(c.context, "b-ctx", "load explicit path: KUBECONFIG ignored");
    ws_kubeconfig_free(&c);

    /* KUBECONFIG unset or empty: ~/.kube/config. */
    unsetenv("KUBECONFIG");
    setenvf("HOME", "%s/home", dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    if (!tap_ok(rc == 0, "load default: ~/.kube/config"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.context, "b-ctx", "load default: its current-context");
    snprintf(want, sizeof(want), "%s/home/.kube/b.token", dir);
    tap_is_str(c.token_file, want, "load default: paths against ~/.kube");
    ws_kubeconfig_free(&c);
    setenv("KUBECONFIG", "", 1);
    rc = ws_kubeconfig_load(&c, "", NULL, &err);
    tap_is_int(rc, 0, "load default: empty KUBECONFIG and empty path fall back to HOME");
    ws_kubeconfig_free(&c);

    setenvf("HOME", "%s/sub", dir);
    ws_err_clear(&err);
    rc = ws_kubeconfig_load(&c, NULL, NULL, &err);
    tap_is_int(rc, WS_ECONFIG, "load default: no ~/.kube/config is WS_ECONFIG");
    tap_contains(err.msg, ".kube/config", "load default: message names ~/.kube/config");
    ws_kubeconfig_free(&c);

    unsetenv("KUBECONFIG");
    if (saved_home)
        setenv("HOME", saved_home, 1);
    else
        unsetenv("HOME");
    free(saved_home);
    snprintf(p, sizeof(p), "%s/a.yaml", dir), unlink(p);
    snprintf(p, sizeof(p), "%s/bad.yaml", dir), unlink(p);
    snprintf(p, sizeof(p), "%s/creds.yaml", dir), unlink(p);
    snprintf(p, sizeof(p), "%s/sub/b.yaml", dir), unlink(p);
    snprintf(p, sizeof(p), "%s/home/.kube/config", dir), unlink(p);
    snprintf(p, sizeof(p), "%s/home/.kube", dir), rmdir(p);
    snprintf(p, sizeof(p), "%s/home", dir), rmdir(p);
    snprintf(p, sizeof(p), "%s/sub", dir), rmdir(p);
    rmdir(dir);
}

/* --- in-cluster ----------------------------------------------------------- */

static void test_in_cluster(void)
{
    char dir[] = "/tmp/ws-test-sa-XXXXXX", want[PATH_MAX], p[PATH_MAX];
    struct ws_kubeconfig c;
    struct ws_err err;
    int rc;

    if (!tap_ok(mkdtemp(dir) != NULL, "in-cluster: temp dir"))
        return;
    tap_ok(write_file(dir, "token", "eyJhbGciOiJSUzI1NiJ9.sa-token\n") == 0 &&
               write_file(dir, "namespace", "wavesync-system\n") == 0 &&
               write_file(dir, "ca.crt", CA_PEM) == 0,
           "in-cluster: wrote service account files");

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ws_err_clear(&err);
    rc = ws_kubeconfig_in_cluster(&c, dir, &err);
    if (!tap_ok(rc == 0, "in-cluster: ok"))
        tap_diag("  %s", err.msg);
    tap_is_str(c.server, "https://10.96.0.1:443", "in-cluster: server from env");
    tap_is_str(c.token, "eyJhbGciOiJSUzI1NiJ9.sa-token", "in-cluster: token read, newline dropped");
    snprintf(want, sizeof(want), "%s/token", dir);
    tap_is_str(c.token_file, want, "in-cluster: token file remembered");
    snprintf(want, sizeof(want), "%s/ca.crt", dir);
    tap_is_str(c.ca_file, want, "in-cluster: CA file");
    tap_is_str(c.namespace_, "wavesync-system", "in-cluster: namespace file, newline dropped");
    tap_ok(c.context == NULL, "in-cluster: no context name");
    tap_is_str(ws_kubeconfig_auth_kind(&c), "token file", "in-cluster: auth kind");
    ws_kubeconfig_free(&c);

    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    rc = ws_kubeconfig_in_cluster(&c, dir, &err);
    tap_is_int(rc, 0, "in-cluster IPv6: ok");
    tap_is_str(c.server, "https://[fd00:10:96::1]:443", "in-cluster IPv6: host in brackets");
    ws_kubeconfig_free(&c);

    snprintf(p, sizeof(p), "%s/namespace", dir);
    unlink(p);
    rc = ws_kubeconfig_in_cluster(&c, dir, &err);
    tap_is_int(rc, 0, "in-cluster without namespace file: ok");
    tap_is_str(c.namespace_, "default", "in-cluster without namespace file: \"default\"");
    ws_kubeconfig_free(&c);

    snprintf(p, sizeof(p), "%s/token", dir);
    unlink(p);
    ws_err_clear(&err);
    rc = ws_kubeconfig_in_cluster(&c, dir, &err);
    tap_ok(rc < 0, "in-cluster without token: fails (%d)", rc);
    tap_contains(err.msg, p, "in-cluster without token: names the token path");
    tap_ok(is_zeroed(&c), "in-cluster without token: output zeroed");
    ws_kubeconfig_free(&c);

    unsetenv("KUBERNETES_SERVICE_PORT");
    ws_err_clear(&err);
    rc = ws_kubeconfig_in_cluster(&c, dir, &err);
    tap_is_int(rc, WS_ECONFIG, "in-cluster without port: WS_ECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ws_err_clear(&err);
    rc = ws_kubeconfig_in_cluster(&c, dir, &err);
    tap_is_int(rc, WS_ECONFIG, "in-cluster without host: WS_ECONFIG");
    tap_contains(err.msg, "KUBERNETES_SERVICE_HOST",
                 "in-cluster without env: message names the variable");
    tap_ok(is_zeroed(&c), "in-cluster without env: output zeroed");
    unsetenv("KUBERNETES_SERVICE_PORT");

    snprintf(p, sizeof(p), "%s/ca.crt", dir);
    unlink(p);
    rmdir(dir);
}

/* --- inline ---------------------------------------------------------------- */

static const struct {
    const char *json;
    int rc;
    const char *server, *auth, *ns; /* for rc == 0 */
    const char *needle;             /* for rc < 0 */
} inline_cases[] = {
    {"{\"server\": \"https://10.0.0.1:6443/\", \"token\": \"abc\"}", 0, "https://10.0.0.1:6443",
     "bearer token", "default", NULL},
    {"{\"server\": \"https://k.example.com\", \"tokenFile\": \"/run/token\", \"namespace\": \"ml\"}",
     0, "https://k.example.com", "token file", "ml", NULL},
    {"{\"server\": \"https://k.example.com\", \"caData\": \"" CA_B64 "\"}", 0,
     "https://k.example.com", "none", "default", NULL},
    {"{\"server\": \"https://k.example.com\", \"insecure\": true}", 0, "https://k.example.com",
     "none", "default", NULL},
    {"{\"server\": \"https://k.example.com\", \"certFile\": \"/c.pem\", \"keyFile\": \"/k.pem\"}", 0,
     "https://k.example.com", "client certificate", "default", NULL},
    {"{\"server\": \"https://k.example.com\", \"exec\": {\"apiVersion\": "
     "\"client.authentication.k8s.io/v1\", \"command\": \"gke-gcloud-auth-plugin\"}}",
     0, "https://k.example.com", "exec plugin", "default", NULL},
    {"{\"server\": \"k.example.com:6443\", \"token\": \"abc\"}", WS_ECONFIG, NULL, NULL, NULL,
     "\"k.example.com:6443\" must start with https://"},
    {"{\"token\": \"abc\"}", WS_ECONFIG, NULL, NULL, NULL, "no \"server\""},
    {"{\"server\": 6443}", WS_ECONFIG, NULL, NULL, NULL, "\"server\" must be a string"},
    {"{\"server\": \"https://k\", \"caData\": \"%%%\"}", WS_ECONFIG, NULL, NULL, NULL,
     "\"certificate-authority-data\" is not valid base64"},
    {"{\"server\": \"https://k\", \"insecure\": true, \"caFile\": \"/ca.pem\"}", WS_ECONFIG, NULL,
     NULL, NULL, "insecure-skip-tls-verify cannot be combined"},
    {"{\"server\": \"https://k\", \"certFile\": \"/c.pem\"}", WS_ECONFIG, NULL, NULL, NULL,
     "without a client key"},
};

static void test_inline(void)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(inline_cases); i++) {
        json_error_t jerr;
        json_t *obj = json_loads(inline_cases[i].json, 0, &jerr);
        struct ws_kubeconfig c;
        struct ws_err err;
        int rc;
        if (!tap_ok(obj != NULL, "inline[%zu]: test JSON parses", i)) {
            tap_diag("  %s", jerr.text);
            continue;
        }
        ws_err_clear(&err);
        rc = ws_kubeconfig_from_inline(&c, obj, "wavesync.yaml: clusters[0]", &err);
        if (inline_cases[i].rc == 0) {
            if (!tap_ok(rc == 0, "inline[%zu]: ok", i))
                tap_diag("  %s", err.msg);
            tap_is_str(c.server, inline_cases[i].server, "inline: server");
            tap_is_str(ws_kubeconfig_auth_kind(&c), inline_cases[i].auth, "inline: auth kind");
            tap_is_str(c.namespace_, inline_cases[i].ns, "inline: namespace");
            tap_ok(c.context == NULL, "inline[%zu]: no context name", i);
        } else {
            tap_ok(rc == inline_cases[i].rc, "inline[%zu]: fails with %d (got %d)", i,
                   inline_cases[i].rc, rc);
            tap_ok(has_prefix(err.msg, "wavesync.yaml: clusters[0]: "),
                   "inline[%zu]: message starts with the name", i);
            tap_contains(err.msg, inline_cases[i].needle, "inline: message says what is wrong");
            tap_ok(is_zeroed(&c), "inline[%zu]: output zeroed", i);
        }
        ws_kubeconfig_free(&c);
        json_decref(obj);
    }

    /* Field details. */
    {
        json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "server", "https://k", "caData", CA_B64,
                                "token", "t0k", "tlsServerName", "api.internal");
        struct ws_kubeconfig c;
        struct ws_err err;
        int rc = ws_kubeconfig_from_inline(&c, obj, "inline", &err);
        tap_is_int(rc, 0, "inline details: ok");
        tap_ok(c.ca_len == strlen(CA_PEM) && c.ca_data && memcmp(c.ca_data, CA_PEM, c.ca_len) == 0,
               "inline details: caData decoded");
        tap_is_str(c.token, "t0k", "inline details: token");
        tap_is_str(c.tls_server_name, "api.internal", "inline details: tlsServerName");
        tap_is_int(c.insecure, 0, "inline details: not insecure");
        ws_kubeconfig_free(&c);
        json_decref(obj);
    }
}

static void test_auth_kind(void)
{
    struct ws_kubeconfig c;
    struct ws_kube_exec x;
    char tok[] = "t", file[] = "/f", user[] = "u", cert[] = "c";
    memset(&c, 0, sizeof(c));
    memset(&x, 0, sizeof(x));
    tap_is_str(ws_kubeconfig_auth_kind(&c), "none", "auth kind: zeroed is none");
    c.username = user;
    tap_is_str(ws_kubeconfig_auth_kind(&c), "basic auth", "auth kind: username");
    c.token = tok;
    tap_is_str(ws_kubeconfig_auth_kind(&c), "bearer token", "auth kind: token over basic auth");
    c.token_file = file;
    tap_is_str(ws_kubeconfig_auth_kind(&c), "token file", "auth kind: token file over token");
    c.cert_data = cert;
    tap_is_str(ws_kubeconfig_auth_kind(&c), "client certificate", "auth kind: certificate over tokens");
    c.exec = &x;
    tap_is_str(ws_kubeconfig_auth_kind(&c), "exec plugin", "auth kind: exec over everything");
}

int main(void)
{
    find_data_dir();
    tap_diag("fixtures in %s", data_dir);
    test_cert_files();
    test_cert_data();
    test_tokens();
    test_exec();
    test_exec_null_lists();
    test_errors();
    test_load();
    test_in_cluster();
    test_inline();
    test_auth_kind();
    return tap_done();
}
