/* test_chart.c — the pure parts of reconciler/source/chart.c: index.yaml
 * read as an event stream (small recorded indexes, as `helm repo index`
 * writes them, with the keys the reader must skip), and WWW-Authenticate
 * Bearer challenges as registries send them. */
#include "source/chart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"

/* As `helm repo index` wrote it for two charts (trimmed digests kept whole). */
static const char index_yaml[] =
    "apiVersion: v1\n"
    "entries:\n"
    "  model-server:\n"
    "  - annotations:\n"
    "      category: ML\n"
    "    apiVersion: v2\n"
    "    appVersion: 2.1.0\n"
    "    created: \"2026-11-30T10:00:00.000000000Z\"\n"
    "    dependencies:\n"
    "    - name: redis\n"
    "      repository: https://charts.example.com\n"
    "      version: ^17.0.0\n"
    "    description: Serves models\n"
    "    digest: 7d6d4b0c5e3b2a1f00112233445566778899aabbccddeeff0011223344556677\n"
    "    maintainers:\n"
    "    - {name: ml, email: ml@example.com}\n"
    "    name: model-server\n"
    "    urls:\n"
    "    - charts/model-server-1.2.0.tgz\n"
    "    - https://mirror.example.com/model-server-1.2.0.tgz\n"
    "    version: 1.2.0\n"
    "  - apiVersion: v2\n"
    "    digest: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
    "    name: model-server\n"
    "    urls: [https://cdn.example.com/model-server-1.10.0.tgz]\n"
    "    version: 1.10.0\n"
    "  - name: model-server\n"
    "    version: 2.0.0-rc.1\n"
    "    urls: [model-server-2.0.0-rc.1.tgz]\n"
    "  operator:\n"
    "  - name: operator\n"
    "    version: 0.3.1\n"
    "    urls: [operator-0.3.1.tgz]\n"
    "    digest: ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
    "generated: \"2026-11-30T10:00:00Z\"\n";

static void test_index(void)
{
    struct ws_chart_entries e;
    struct ws_err err;
    int rc = ws_chart_index_read(&e, NULL, index_yaml, sizeof(index_yaml) - 1, "model-server", &err);
    tap_ok(rc == 0 && e.n == 3, "index: three versions of model-server (rc %d, n %zu)", rc, e.n);
    if (rc == 0 && e.n == 3) {
        tap_is_str(e.v[0].version, "1.2.0", "index: first version");
        tap_is_str(e.v[0].url, "charts/model-server-1.2.0.tgz", "index: urls[0], relative");
        tap_is_str(e.v[0].digest, "7d6d4b0c5e3b2a1f00112233445566778899aabbccddeeff0011223344556677",
                   "index: digest");
        tap_is_str(e.v[1].url, "https://cdn.example.com/model-server-1.10.0.tgz", "index: flow-style urls");
        tap_is_str(e.v[2].digest, NULL, "index: a version without digest has none");
    }
    ws_chart_entries_free(&e);
    rc = ws_chart_index_read(&e, NULL, index_yaml, sizeof(index_yaml) - 1, "operator", &err);
    tap_ok(rc == 0 && e.n == 1 && !strcmp(e.v[0].version, "0.3.1"), "index: the other chart");
    ws_chart_entries_free(&e);
    rc = ws_chart_index_read(&e, NULL, index_yaml, sizeof(index_yaml) - 1, "redis", &err);
    tap_ok(rc == 0 && e.n == 0, "index: a chart only named as a dependency is not an entry");
    ws_chart_entries_free(&e);

    rc = ws_chart_index_read(&e, NULL, "entries: [\n", 11, "x", &err);
    tap_ok(rc == WS_EPARSE, "index: broken YAML is a parse error (%s)", err.msg);
    rc = ws_chart_index_read(&e, NULL, "- a\n- b\n", 8, "x", &err);
    tap_ok(rc == WS_EPARSE, "index: a list is not an index (%s)", err.msg);
    rc = ws_chart_index_read(&e, NULL, "", 0, "x", &err);
    tap_ok(rc == WS_EPARSE, "index: empty is an error");
    {
        /* from a FILE, as the cache is read */
        FILE *f = fmemopen((void *)index_yaml, sizeof(index_yaml) - 1, "r");
        rc = ws_chart_index_read(&e, f, NULL, 0, "model-server", &err);
        tap_ok(rc == 0 && e.n == 3, "index: read from a FILE stream");
        ws_chart_entries_free(&e);
        fclose(f);
    }
}

static void test_challenge(void)
{
    char *realm, *service, *scope;
    int rc = ws_chart_bearer_challenge(
        &realm, &service, &scope,
        "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
        "scope=\"repository:charts/model-server:pull\"");
    tap_ok(rc == 0, "challenge: Bearer parsed");
    tap_is_str(realm, "https://auth.example.com/token", "challenge: realm");
    tap_is_str(service, "registry.example.com", "challenge: service");
    tap_is_str(scope, "repository:charts/model-server:pull", "challenge: scope with ':' inside quotes");
    free(realm);
    free(service);
    free(scope);
    rc = ws_chart_bearer_challenge(&realm, &service, &scope, "Bearer realm=https://ghcr.io/token, service=ghcr.io");
    tap_ok(rc == 0 && !strcmp(realm, "https://ghcr.io/token") && !strcmp(service, "ghcr.io") && !scope,
           "challenge: unquoted values, no scope");
    free(realm);
    free(service);
    free(scope);
    tap_ok(ws_chart_bearer_challenge(&realm, &service, &scope, "Basic realm=\"registry\"") == WS_EINVAL,
           "challenge: Basic is not Bearer");
    tap_ok(ws_chart_bearer_challenge(&realm, &service, &scope, "Bearer service=\"x\"") == WS_EINVAL,
           "challenge: Bearer without realm is refused");
}

static void test_fetch_refusals(void)
{
    struct ws_chart_env env = {NULL, "/nonexistent-state", 0};
    struct ws_err err;
    char *path = NULL, *ver = NULL;
    tap_ok(ws_chart_fetch(&path, &ver, &env, "file:///etc", "x", "1.0.0", &err) == WS_EINVAL &&
               strstr(err.msg, "https://"),
           "fetch: a file:// repository is refused (%s)", err.msg);
    tap_ok(ws_chart_fetch(&path, &ver, &env, "https://h/charts", "../x", "1.0.0", &err) == WS_EINVAL,
           "fetch: a chart name with .. is refused");
    tap_ok(ws_chart_fetch(&path, &ver, &env, "https://user:secret@h/charts", "x", "", &err) == WS_EINVAL &&
               !strstr(err.msg, "secret"),
           "fetch: the message never shows URL credentials (%s)", err.msg);
}

int main(void)
{
    test_index();
    test_challenge();
    test_fetch_refusals();
    return tap_done();
}
