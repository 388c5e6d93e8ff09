/* test_plugin.c — reconciler/source/plugin.c: Argo CD's selection (by name,
 * by discover.fileName), the build environment (nothing of wavesync's own
 * but PATH; user variables only as ARGOCD_ENV_*), and init + generate with
 * real processes: manifests, a non-zero exit, output that is not
 * manifests, no output, a plugin past its timeout. */
#include "source/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "tap.h"

static char root[256], home[300];

static void put(const char *rel, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (!(f = fopen(path, "w")))
        abort();
    fputs(text, f);
    fclose(f);
}

static const char config_text[] =
    "repositories: []\n"
    "plugins:\n"
    "- name: cue\n"
    "  generate: [sh, -c, 'echo cue']\n"
    "  discover: {fileName: '*.cue'}\n"
    "- name: envsubst\n"
    "  init: [sh, -c, 'echo init > .inited']\n"
    "  generate:\n"
    "  - sh\n"
    "  - -c\n"
    "  - |\n"
    "    test -f .inited || exit 9\n"
    "    printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: %s}\\ndata: {foo: \"%s\", home: \"%s\", "
    "params: %s}\\n---\\napiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: two}\\n' \"$ARGOCD_APP_NAME\" "
    "\"$ARGOCD_ENV_FOO\" \"$HOME\" \"$ARGOCD_APP_PARAMETERS\"\n"
    "  discover: {fileName: './subdir/s*.yaml'}\n"
    "- name: nodiscover\n"
    "  generate: [sh, -c, 'echo \"{apiVersion: v1, kind: ConfigMap, metadata: {name: nd}}\"']\n"
    "- name: fails\n"
    "  generate: [sh, -c, 'echo partial; echo \"cannot render: bad input\" >&2; exit 3']\n"
    "- name: prose\n"
    "  generate: [sh, -c, 'echo this is not YAML at all']\n"
    "- name: silent\n"
    "  generate: ['true']\n"
    "- name: hangs\n"
    "  generate: [sh, -c, 'sleep 30 & sleep 30']\n"
    "  timeout: 1s\n"
    "- name: missing\n"
    "  generate: [no-such-program-wavesync]\n";

static struct ws_config cfg;

static void setup(void)
{
    struct ws_err err;
    char sub[300];
    snprintf(root, sizeof(root), "%s/ws-plugin-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root))
        abort();
    snprintf(sub, sizeof(sub), "%s/subdir", root);
    snprintf(home, sizeof(home), "%s/home", root);
    mkdir(sub, 0700);
    mkdir(home, 0700);
    put("subdir/values.yaml", "x: 1\n");
    if (ws_config_parse(&cfg, config_text, sizeof(config_text) - 1, "wavesync.yaml", root, &err) < 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        abort();
    }
}

static void test_select(void)
{
    static const struct {
        const char *name;    /* source.plugin.name, NULL = none */
        const char *file;    /* created before, "" = none */
        const char *want;    /* the plugin chosen, NULL = none */
        const char *msg;     /* or the error */
    } rows[] = {
        {NULL, "", NULL, NULL},                               /* nothing discovers: the caller decides */
        {NULL, "subdir/site.yaml", "envsubst", NULL},         /* ./subdir/s*.yaml */
        {NULL, "main.cue", "cue", NULL},                      /* the first match, in order */
        {"nodiscover", "", "nodiscover", NULL},               /* by name, without a discover rule */
        {"envsubst", "", "envsubst", NULL},                   /* by name, its rule matches (site.yaml) */
        {"nope", "", NULL, "plugin \"nope\" is not configured"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_app_source src = {0};
        const struct ws_plugin_cfg *p = (void *)1;
        struct ws_err err;
        int rc;
        if (*rows[i].file)
            put(rows[i].file, "x\n");
        src.plugin_name = (char *)rows[i].name;
        src.path = (char *)"";
        ws_err_clear(&err);
        rc = ws_plugin_select(&p, &cfg, &src, root, &err);
        if (rows[i].msg) {
            tap_ok(rc == WS_EINVAL && !p, "select row %zu: an error", i);
            tap_contains(err.msg, rows[i].msg, "  the message");
        } else {
            if (!tap_ok(rc == 0, "select row %zu", i))
                tap_diag("  %s", err.msg);
            tap_is_str(p ? p->name : NULL, rows[i].want, "  the plugin");
        }
    }
    {
        struct ws_app_source src = {0};
        const struct ws_plugin_cfg *p;
        struct ws_err err;
        char path[512];
        snprintf(path, sizeof(path), "%s/subdir/site.yaml", root);
        unlink(path);
        src.plugin_name = (char *)"envsubst";
        src.path = (char *)"apps/x";
        tap_ok(ws_plugin_select(&p, &cfg, &src, root, &err) == WS_EINVAL,
               "a named plugin whose discover rule does not match is refused (Argo CD)");
        tap_contains(err.msg, "its discover.fileName \"./subdir/s*.yaml\" matches no file at path \"apps/x\"",
                     "  the message");
        put("subdir/site.yaml", "x\n");
    }
    tap_ok(ws_plugin_any_discovery(&cfg), "some plugin discovers");
}

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

static struct ws_app_source source(void)
{
    struct ws_app_source s = {0};
    s.repo_url = (char *)"https://git.example/ml.git";
    s.target_revision = (char *)"main";
    s.path = (char *)"apps/gen";
    s.plugin_env = json_loads("[{\"name\":\"FOO\",\"value\":\"bar\"},{\"name\":\"PATH\",\"value\":\"/evil\"}]", 0, NULL);
    s.plugin_parameters = json_loads("[{\"name\":\"values-files\",\"array\":[\"dev.yaml\"]},"
                                     "{\"name\":\"helm-parameters\",\"map\":{\"image.tag\":\"v1\"}},"
                                     "{\"name\":\"mode\",\"string\":\"fast\"}]",
                                     0, NULL);
    return s;
}

static void test_env(void)
{
    static const struct {
        const char *name, *value; /* NULL value: must be absent */
    } rows[] = {
        {"HOME", "/tmp/h"},
        {"ARGOCD_APP_NAME", "train"},
        {"ARGOCD_APP_NAMESPACE", "ml"},
        {"ARGOCD_APP_REVISION", "0123456789abcdef0123456789abcdef01234567"},
        {"ARGOCD_APP_REVISION_SHORT", "0123456"},
        {"ARGOCD_APP_REVISION_SHORT_8", "01234567"},
        {"ARGOCD_APP_SOURCE_PATH", "apps/gen"},
        {"ARGOCD_APP_SOURCE_REPO_URL", "https://git.example/ml.git"},
        {"ARGOCD_APP_SOURCE_TARGET_REVISION", "main"},
        {"ARGOCD_ENV_FOO", "bar"},
        {"ARGOCD_ENV_PATH", "/evil"},
        {"ARGOCD_APP_PARAMETERS", "[{\"name\":\"values-files\",\"array\":[\"dev.yaml\"]},{\"name\":\"helm-parameters\","
                                  "\"map\":{\"image.tag\":\"v1\"}},{\"name\":\"mode\",\"string\":\"fast\"}]"},
        {"PARAM_VALUES_FILES_0", "dev.yaml"},
        {"PARAM_HELM_PARAMETERS_IMAGE_TAG", "v1"},
        {"PARAM_MODE", "fast"},
        {"WS_TEST_SECRET", NULL},
        {"FOO", NULL},
    };
    struct ws_app_source s = source();
    struct ws_plugin_run r = {0};
    char **env = NULL;
    setenv("WS_TEST_SECRET", "hunter2", 1);
    r.plugin = &cfg.plugins[1];
    r.src = &s;
    r.home = "/tmp/h";
    r.app_name = "train";
    r.app_namespace = "ml";
    r.revision = "0123456789abcdef0123456789abcdef01234567";
    tap_ok(ws_plugin_env(&env, &r) == 0, "the environment");
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        if (rows[i].value)
            tap_is_str(env_get(env, rows[i].name), rows[i].value, rows[i].name);
        else
            tap_ok(!env_get(env, rows[i].name), "%s absent", rows[i].name);
    }
    tap_is_str(env_get(env, "PATH"), getenv("PATH"), "PATH is wavesync's (a user variable cannot set it)");
    ws_plugin_env_free(env);
    json_decref(s.plugin_env);
    json_decref(s.plugin_parameters);
}

static void test_generate(void)
{
    static const struct {
        const char *plugin;
        int rc;            /* 0 or the error code */
        const char *names; /* on success */
        const char *msg;   /* on error, a substring */
    } rows[] = {
        {"envsubst", 0, "train,two", NULL},
        {"nodiscover", 0, "nd", NULL},
        {"fails", WS_EIO, NULL,
         "source path \"apps/gen\": plugin \"fails\" generate: exited with status 3: cannot render: bad input"},
        {"prose", WS_EINVAL, NULL, "plugin \"prose\" generate output (source path \"apps/gen\"):1: document is not a mapping"},
        {"silent", WS_EINVAL, NULL, "plugin \"silent\" generate printed no manifests (source path \"apps/gen\")"},
        {"hangs", WS_ETIMEOUT, NULL, "plugin \"hangs\" generate: killed after 1 s (plugins[6].timeout)"},
        {"missing", WS_EINVAL, NULL, "plugin \"missing\" generate: program \"no-such-program-wavesync\" not found"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_app_source s = source();
        struct ws_plugin_run r = {0};
        struct ws_err err;
        json_t *objects = json_array(), *o;
        char names[256] = "";
        size_t k;
        struct timespec t0, t1;
        int rc;
        r.plugin = ws_config_plugin_by_name(&cfg, rows[i].plugin);
        r.src = &s;
        r.dir = root;
        r.home = home;
        r.app_name = "train";
        r.app_namespace = "ml";
        r.revision = "0123456789abcdef0123456789abcdef01234567";
        ws_err_clear(&err);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = ws_plugin_generate(objects, &r, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        json_array_foreach(objects, k, o) {
            const char *n = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", k ? "," : "", n ? n : "?");
        }
        if (!tap_ok(rc == rows[i].rc, "plugin %s: rc %d", rows[i].plugin, rows[i].rc))
            tap_diag("  rc %d: %s", rc, err.msg);
        if (rows[i].names) {
            tap_is_str(names, rows[i].names, "  the objects");
        } else {
            tap_ok(json_array_size(objects) == 0, "  nothing appended");
            tap_contains(err.msg, rows[i].msg, "  the message");
        }
        if (strcmp(rows[i].plugin, "envsubst") == 0) {
            json_t *data = json_object_get(json_array_get(objects, 0), "data");
            tap_is_str(json_string_value(json_object_get(data, "foo")), "bar", "  ARGOCD_ENV_FOO reached it");
            tap_is_str(json_string_value(json_object_get(data, "home")), home, "  HOME is the temporary folder");
            tap_ok(json_is_array(json_object_get(data, "params")), "  ARGOCD_APP_PARAMETERS is JSON");
        }
        if (strcmp(rows[i].plugin, "hangs") == 0)
            tap_ok(t1.tv_sec - t0.tv_sec < 5, "  killed at its timeout, its children too (%lld s)",
                   (long long)(t1.tv_sec - t0.tv_sec));
        json_decref(objects);
        json_decref(s.plugin_env);
        json_decref(s.plugin_parameters);
    }
}

int main(void)
{
    char cmd[600];
    setup();
    test_select();
    test_env();
    test_generate();
    ws_config_free(&cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", root);
    return tap_done();
}
