/* test_jsonnet.c — reconciler/source/jsonnet.c with real child processes:
 * this binary is its own evaluator (it answers `__jsonnet` as wavesync
 * does). Imports next to the file and in libraries, extVars and TLAs (as
 * strings and as code), object / list / List results, errors that name
 * file:line relative to the tree, imports leaving the tree refused (also
 * through a symlink), and a runaway evaluation ended by its limits. */
#include "source/jsonnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "tap.h"

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512], *slash;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    if (!(f = fopen(path, "w")))
        abort();
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    char link[512];
    snprintf(root, sizeof(root), "%s/ws-jsonnet-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root))
        abort();
    put("lib/k.libsonnet", "{ cm(name, data):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name }, "
                           "data: data } }\n");
    put("apps/j/util.libsonnet", "{ labels: { team: 'ml' } }\n");
    put("apps/j/motd.txt", "hello\n");
    put("apps/j/main.jsonnet",
        "local k = import 'k.libsonnet';\nlocal u = import 'util.libsonnet';\n"
        "function(region='eu', replicas=1)\n"
        "  [k.cm('a', { env: std.extVar('env'), region: region, n: std.toString(std.extVar('n')),\n"
        "              motd: importstr 'motd.txt', r: std.toString(replicas) }) + { metadata+: { labels: u.labels } }]\n");
    put("apps/j/one.jsonnet", "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } }\n");
    put("apps/j/list.jsonnet", "{ apiVersion: 'v1', kind: 'List', items: [\n"
                               "  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'l1' } },\n"
                               "  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'l2' } } ] }\n");
    put("apps/j/empty.jsonnet", "[]\n");
    put("apps/j/emptyobj.jsonnet", "{}\n");
    put("apps/j/string.jsonnet", "'just text'\n");
    put("apps/j/nested.jsonnet", "[[{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }]]\n");
    put("apps/j/nokind.jsonnet", "{ apiVersion: 'v1', metadata: { name: 'x' } }\n");
    put("apps/j/boom.jsonnet", "local f = { a: 1 };\n\nf + { b: error 'boom: ' + std.extVar('env') }\n");
    put("apps/j/syntax.jsonnet", "{\n  a: ,\n}\n");
    put("apps/j/escape.jsonnet", "local p = import '../../../../../../etc/passwd';\np\n");
    put("apps/j/absolute.jsonnet", "importstr '/etc/hostname'\n");
    put("apps/j/viasymlink.jsonnet", "importstr 'link.txt'\n");
    put("apps/j/missing.jsonnet", "import 'nope.libsonnet'\n");
    put("apps/j/recurse.jsonnet", "local f(x) = f(x + 1) + 1;\nf(0)\n");
    put("apps/j/runaway.jsonnet",
        "local s = std.join('', [std.toString(i) + 'padpadpadpadpadpadpadpadpad' for i in std.range(1, 200000000)]);\n"
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { n: std.toString(std.length(s)) } }\n");
    snprintf(link, sizeof(link), "%s/apps/j/link.txt", root);
    if (symlink("/etc/hostname", link) < 0)
        abort();
}

static json_t *vars(const char *text)
{
    return text ? json_loads(text, 0, NULL) : NULL;
}

/* Evaluation of one or two files: the objects' names in order, or the error. */
static void test_eval(void)
{
    static const struct {
        const char *name;
        const char *files[3];
        const char *ext_vars, *tlas, *libs;
        const char *names; /* "a,b" on success */
        const char *msg;   /* a substring of the error */
    } rows[] = {
        {"imports, importstr, libs, extVars (string and code), TLAs", {"apps/j/main.jsonnet"},
         "[{\"name\":\"env\",\"value\":\"prod\",\"code\":false},{\"name\":\"n\",\"value\":\"1+2\",\"code\":true}]",
         "[{\"name\":\"region\",\"value\":\"us\",\"code\":false},{\"name\":\"replicas\",\"value\":\"2*3\",\"code\":true}]",
         "[\"lib\"]", "a", NULL},
        {"an object is one manifest, a List its items", {"apps/j/one.jsonnet", "apps/j/list.jsonnet"}, NULL, NULL,
         NULL, "one,l1,l2", NULL},
        {"[] and {} render nothing", {"apps/j/empty.jsonnet", "apps/j/emptyobj.jsonnet"}, NULL, NULL, NULL, "", NULL},
        {"a string is an error naming the file", {"apps/j/string.jsonnet"}, NULL, NULL, NULL, NULL,
         "apps/j/string.jsonnet: evaluates to a string, not an object or a list of objects"},
        {"a list of lists is an error naming the item", {"apps/j/nested.jsonnet"}, NULL, NULL, NULL, NULL,
         "apps/j/nested.jsonnet[0]: not an object"},
        {"an object without kind", {"apps/j/nokind.jsonnet"}, NULL, NULL, NULL, NULL, "apps/j/nokind.jsonnet:1: object has no kind"},
        {"a runtime error names file:line", {"apps/j/boom.jsonnet"}, "[{\"name\":\"env\",\"value\":\"prod\"}]", NULL,
         NULL, NULL, "jsonnet: apps/j/boom.jsonnet:3:"},
        {"the runtime error's text", {"apps/j/boom.jsonnet"}, "[{\"name\":\"env\",\"value\":\"prod\"}]", NULL, NULL,
         NULL, "RUNTIME ERROR: boom: prod"},
        {"a missing extVar", {"apps/j/boom.jsonnet"}, NULL, NULL, NULL, NULL, "undefined external variable: env"},
        {"a syntax error names file:line", {"apps/j/syntax.jsonnet"}, NULL, NULL, NULL, NULL,
         "STATIC ERROR: apps/j/syntax.jsonnet:2:"},
        {"an import leaving the tree is refused", {"apps/j/escape.jsonnet"}, NULL, NULL, NULL, NULL,
         "apps/j/escape.jsonnet:1:11-48: RUNTIME ERROR: couldn't open import \"../../../../../../etc/passwd\": the "
         "import leaves the repository (refused)"},
        {"an absolute import is refused", {"apps/j/absolute.jsonnet"}, NULL, NULL, NULL, NULL,
         "couldn't open import \"/etc/hostname\": absolute import paths are refused"},
        {"an import through a symlink out of the tree is refused", {"apps/j/viasymlink.jsonnet"}, NULL, NULL, NULL,
         NULL, "apps/j/viasymlink.jsonnet:1:1-21: RUNTIME ERROR: couldn't open import \"link.txt\": the import leaves"},
        {"a library folder leaving the tree is refused", {"apps/j/one.jsonnet"}, NULL, NULL, "[\"../..\"]", NULL,
         "a library folder resolves outside the repository"},
        {"a missing import", {"apps/j/missing.jsonnet"}, NULL, NULL, NULL, NULL,
         "couldn't open import \"nope.libsonnet\": not found next to the importing file"},
        {"unbounded recursion ends at the stack limit", {"apps/j/recurse.jsonnet"}, NULL, NULL, NULL, NULL,
         "apps/j/recurse.jsonnet:1:"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_jsonnet_opts o = {0};
        struct ws_err err;
        json_t *objects = json_array(), *ev = vars(rows[i].ext_vars), *tl = vars(rows[i].tlas),
               *libs = vars(rows[i].libs), *obj;
        char names[256] = "";
        size_t k;
        int rc;
        ws_err_clear(&err);
        o.root = root;
        o.files = rows[i].files;
        o.ext_vars = ev;
        o.tlas = tl;
        o.libs = libs;
        rc = ws_jsonnet_eval(objects, &o, &err);
        json_array_foreach(objects, k, obj) {
            const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", k ? "," : "", n ? n : "?");
        }
        if (rows[i].names) {
            if (!tap_ok(rc == 0, "%s", rows[i].name))
                tap_diag("  rc %d: %s", rc, err.msg);
            tap_is_str(names, rows[i].names, "  the objects");
        } else {
            tap_ok(rc < 0 && json_array_size(objects) == 0, "%s: an error, nothing appended", rows[i].name);
            tap_contains(err.msg, rows[i].msg, "  the message");
        }
        json_decref(objects);
        json_decref(ev);
        json_decref(tl);
        json_decref(libs);
    }
}

/* What the first file renders, in detail. */
static void test_values(void)
{
    struct ws_jsonnet_opts o = {0};
    struct ws_err err;
    const char *files[] = {"apps/j/main.jsonnet", NULL};
    json_t *objects = json_array(), *data;
    json_t *ev = vars("[{\"name\":\"env\",\"value\":\"prod\"},{\"name\":\"n\",\"value\":\"40+2\",\"code\":true}]");
    o.root = root;
    o.files = files;
    o.ext_vars = ev;
    o.libs = json_loads("[\"lib\"]", 0, NULL);
    if (!tap_ok(ws_jsonnet_eval(objects, &o, &err) == 0, "main.jsonnet with defaults for its TLAs"))
        tap_diag("  %s", err.msg);
    data = json_object_get(json_array_get(objects, 0), "data");
    tap_is_str(json_string_value(json_object_get(data, "env")), "prod", "extVar string");
    tap_is_str(json_string_value(json_object_get(data, "n")), "42", "extVar code is evaluated");
    tap_is_str(json_string_value(json_object_get(data, "region")), "eu", "TLA default");
    tap_is_str(json_string_value(json_object_get(data, "motd")), "hello\n", "importstr next to the file");
    tap_is_str(json_string_value(json_object_get(
                   json_object_get(json_object_get(json_array_get(objects, 0), "metadata"), "labels"), "team")),
               "ml", "import next to the file");
    json_decref(objects);
    json_decref(ev);
    json_decref((json_t *)o.libs);
}

/* A file that allocates without end is killed by its limits, quickly. */
static void test_runaway(void)
{
    struct ws_jsonnet_opts o = {0};
    struct ws_err err;
    const char *files[] = {"apps/j/runaway.jsonnet", NULL};
    json_t *objects = json_array();
    struct timespec t0, t1;
    double secs;
    int rc;
    o.root = root;
    o.files = files;
    o.limits.timeout_ms = 4000;
    o.limits.memory_bytes = 256u << 20;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = ws_jsonnet_eval(objects, &o, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    tap_ok(rc == WS_ELIMIT || rc == WS_ETIMEOUT, "a runaway evaluation is ended by a limit (rc %d)", rc);
    if (!tap_ok(strstr(err.msg, "jsonnet: exceeded its memory limit of 256 MiB (settings.tools.jsonnet.memory)") ||
                    strstr(err.msg, "jsonnet: killed after 4 s (settings.tools.jsonnet.timeout)"),
                "the message names the limit and its setting"))
        tap_diag("  %s", err.msg);
    tap_ok(secs < 10, "within the timeout (%.1f s)", secs);
    json_decref(objects);
}

static void test_error_line(void)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"RUNTIME ERROR: boom\n\ta/b.jsonnet:3:5-9\tobject <anonymous>\n\tDuring evaluation\t\n",
         "a/b.jsonnet:3:5-9: RUNTIME ERROR: boom"},
        {"STATIC ERROR: a.jsonnet:2:1: unexpected: \"}\"\n", "STATIC ERROR: a.jsonnet:2:1: unexpected: \"}\""},
        {"RUNTIME ERROR: x\n\tDuring evaluation\t\n", "RUNTIME ERROR: x"},
        {"", ""},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        char buf[256];
        ws_jsonnet_error_line(buf, sizeof(buf), rows[i].in);
        tap_is_str(buf, rows[i].out, "error line");
    }
}

int main(int argc, char **argv)
{
    char cmd[600];
    if (argc > 1 && strcmp(argv[1], "__jsonnet") == 0) /* the child, as wavesync's main does it */
        return ws_jsonnet_main(argc - 1, argv + 1);
    setup();
    test_error_line();
    test_eval();
    test_values();
#if defined(__SANITIZE_ADDRESS__)
    (void)test_runaway; /* under AddressSanitizer the child has no memory limit */
    tap_ok(1, "# SKIP the runaway evaluation (AddressSanitizer build)");
#else
    test_runaway();
#endif
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", root);
    return tap_done();
}
