/* main.c — the wavesync command line: subcommands, flags, exit codes.
 * Exit codes: 0 success; 1 a sync/apply failed; 2 usage or configuration
 * error; 3 cannot reach git or a cluster. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <uv.h>

#include "autoconfig.h"
#include "kube/applyset.h"
#include "cli/cli.h"
#include "git/git.h"
#include "kube/kube.h"
#include "kube/kube_http.h"
#include "config/kubeconfig.h"
#include "base/log.h"
#include "source/manifest.h"
#include "serve/serve.h"
#include "base/util.h"

#define EXIT_FAILED WS_EXIT_FAILED
#define EXIT_USAGE WS_EXIT_USAGE
#define EXIT_UNREACHABLE WS_EXIT_UNREACHABLE

#define MANIFEST_MAX_BYTES (32u << 20)


static void usage(FILE *f)
{
    fprintf(f,
            "usage: wavesync [global options] COMMAND [ARGS]\n"
            "\n"
            "commands (Applications from Git, as wavesync.yaml points at them):\n"
            "  sync [APP...]        sync applications (all when none named), wave by wave\n"
            "       --revision REV  --prune  --dry-run  --wave-timeout DUR  --junit FILE  --quiet\n"
            "  diff APP             live objects against Git, field by field (exit 1 when they differ)\n"
            "  plan APP             the phases and waves of a sync, in order\n"
            "  render APP           the manifests of an application at its revision\n"
            "  apps                 the applications and where they deploy\n"
            "\n"
            "commands (plain manifests):\n"
            "  apply [-f] PATH...   server-side apply manifests (files or folders) to a cluster:\n"
            "                       kinds resolved first, Namespaces and CRDs before the rest\n"
            "  health [--config FILE] FILE...  each object's health (wavesync.yaml's Lua scripts, else built-in)\n"
            "  version              print the version (and the cluster's, with --kubeconfig)\n"
            "\n"
            "global options:\n"
            "  --config FILE        wavesync.yaml to use (default ./wavesync.yaml)\n"
            "  --kubeconfig FILE    kubeconfig to use (default $KUBECONFIG, ~/.kube/config)\n"
            "  --context NAME       kubeconfig context (default current-context)\n"
            "  --output text|json   output format (default text)\n"
            "  --log-level LEVEL    debug, info, warn, error (default info)\n"
            "\n"
            "apply options:\n"
            "  --force-conflicts    take ownership of fields another manager owns\n"
            "  --dry-run            server-side dry run: validate, change nothing\n"
            "  --crd-timeout DUR    how long to wait for CRDs to be Established (default 60s)\n"
            "\n"
            "exit codes: 0 ok, 1 a sync or apply failed, 2 usage, configuration or input\n"
            "            error (nothing changed), 3 cannot reach git or a cluster\n");
}

static int has_manifest_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 || strcmp(dot, ".json") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect manifest files under path, sorted, recursing into folders. Runs
 * before the loop starts, so blocking reads are fine here. */
static int collect_files(json_t *files, const char *path, struct ws_err *err)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;
    if (stat(path, &st) < 0)
        return ws_err_set(err, WS_ECONFIG, "%s: no such file or folder", path);
    if (!S_ISDIR(st.st_mode)) {
        json_array_append_new(files, json_string(path)); /* steals */
        return 0;
    }
    if (!(d = opendir(path)))
        return ws_err_set(err, WS_ECONFIG, "%s: cannot open folder", path);
    while ((de = readdir(d))) {
        char *full;
        if (de->d_name[0] == '.')
            continue;
        if (asprintf(&full, "%s/%s", path, de->d_name) < 0) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(char *));
            if (!nn) {
                free(full);
                rc = ws_err_set(err, WS_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        names[n++] = full;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (i = 0; i < n; i++) {
        struct stat cst;
        if (rc == 0 && stat(names[i], &cst) == 0 &&
            (S_ISDIR(cst.st_mode) || has_manifest_ext(names[i])))
            rc = collect_files(files, names[i], err);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int load_manifests(json_t *objects, char **paths, int npaths, struct ws_err *err)
{
    json_t *files = json_array(), *f;
    size_t i;
    int rc = 0;
    for (int p = 0; p < npaths && rc == 0; p++)
        rc = collect_files(files, paths[p], err);
    json_array_foreach(files, i, f) {
        char *buf = NULL;
        size_t len = 0;
        const char *name = json_string_value(f);
        if (rc < 0)
            break;
        if ((rc = ws_file_read(&buf, &len, name, MANIFEST_MAX_BYTES, err)) < 0) {
            rc = WS_ECONFIG;
            break;
        }
        rc = ws_manifest_parse(objects, buf, len, name, err);
        free(buf);
    }
    json_decref(files);
    return rc;
}

/* ---- one-shot loop plumbing shared by cluster commands ------------------- */

struct session {
    uv_loop_t loop;
    struct ws_http *http;
    struct ws_kube *kube;
};

static int session_open(struct session *s, const struct ws_global_opts *g, struct ws_err *err)
{
    struct ws_kubeconfig cfg;
    int rc;
    memset(s, 0, sizeof(*s));
    uv_loop_init(&s->loop); /* first, so session_close always has a loop */
    if ((rc = ws_kubeconfig_load(&cfg, g->kubeconfig, g->context, err)) < 0)
        return rc;
    if ((rc = ws_http_new(&s->http, &s->loop)) < 0) {
        ws_kubeconfig_free(&cfg);
        return ws_err_set(err, rc, "out of memory");
    }
    if ((rc = ws_kube_new(&s->kube, &s->loop, s->http, &cfg, NULL, err)) < 0) {
        ws_kubeconfig_free(&cfg);
        return rc;
    }
    return 0;
}

static void session_close(struct session *s)
{
    if (s->kube)
        ws_kube_free(s->kube);
    if (s->http)
        ws_http_close(s->http);
    uv_run(&s->loop, UV_RUN_DEFAULT); /* let every close callback run */
    uv_loop_close(&s->loop);
}

/* ---- apply ------------------------------------------------------------- */

struct apply_run {
    int code;
    json_t *results;
};

static void on_applied(int code, json_t *results, void *data)
{
    struct apply_run *run = data;
    run->code = code;
    run->results = json_incref(results);
}

static int cmd_apply(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"force-conflicts", no_argument, NULL, 'F'},
        {"dry-run", no_argument, NULL, 'n'},
        {"crd-timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **paths = calloc((size_t)argc + 1, sizeof(char *));
    int npaths = 0, c, rc, exit_code;
    unsigned flags = 0;
    uint64_t crd_timeout = 60000;
    json_t *objects = json_array(), *r;
    struct session s;
    struct apply_run run = {0};
    struct ws_err err;
    size_t i;
    ws_err_clear(&err);
    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            paths[npaths++] = optarg;
            break;
        case 'F':
            flags |= WS_APPLY_FORCE;
            break;
        case 'n':
            flags |= WS_APPLY_DRY_RUN;
            break;
        case 'T':
            if (ws_duration_parse(&crd_timeout, optarg) < 0) {
                fprintf(stderr, "wavesync apply: bad --crd-timeout \"%s\"\n", optarg);
                exit_code = EXIT_USAGE;
                goto out_early;
            }
            break;
        case 'h':
            usage(stdout);
            exit_code = 0;
            goto out_early;
        default:
            exit_code = EXIT_USAGE;
            goto out_early;
        }
    }
    for (; optind < argc; optind++)
        paths[npaths++] = argv[optind];
    if (npaths == 0) {
        fprintf(stderr, "wavesync apply: no files given\n");
        exit_code = EXIT_USAGE;
        goto out_early;
    }
    if ((rc = load_manifests(objects, paths, npaths, &err)) < 0) {
        fprintf(stderr, "wavesync apply: %s\n", err.msg);
        exit_code = EXIT_USAGE;
        goto out_early;
    }
    if ((rc = session_open(&s, g, &err)) < 0) {
        fprintf(stderr, "wavesync apply: %s\n", err.msg);
        session_close(&s);
        exit_code = EXIT_USAGE;
        goto out_early;
    }
    {
        uint64_t t0 = ws_now_ms();
        if ((rc = ws_applyset_start(s.kube, objects, flags, crd_timeout, on_applied, &run)) < 0) {
            fprintf(stderr, "wavesync apply: out of memory\n");
            run.code = rc;
        }
        uv_run(&s.loop, UV_RUN_DEFAULT);
        if (g->json_output) {
            json_t *out = json_pack("{s:b, s:I, s:O}", "ok", run.code == 0, "durationMs",
                                    (json_int_t)(ws_now_ms() - t0), "objects",
                                    run.results ? run.results : json_null());
            json_dumpf(out, stdout, JSON_INDENT(2));
            printf("\n");
            json_decref(out);
        } else {
            size_t ok = 0, failed = 0;
            json_array_foreach(run.results, i, r) {
                const char *rv = json_string_value(json_object_get(r, "resourceVersion"));
                if (json_is_true(json_object_get(r, "ok"))) {
                    ok++;
                    printf("applied %s%s%s\n", json_string_value(json_object_get(r, "object")),
                           rv ? " resourceVersion=" : "", rv ? rv : "");
                } else {
                    failed++;
                    fprintf(stderr, "error: %s\n",
                            json_string_value(json_object_get(r, "error")));
                }
            }
            printf("%zu applied, %zu failed in %llu ms%s\n", ok, failed,
                   (unsigned long long)(ws_now_ms() - t0),
                   flags & WS_APPLY_DRY_RUN ? " (server dry run)" : "");
        }
    }
    exit_code = ws_cli_exit_for(run.code);
    json_decref(run.results);
    session_close(&s);
out_early:
    json_decref(objects);
    free(paths);
    return exit_code;
}

/* ---- serve ------------------------------------------------------------- */

static int cmd_serve(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL;
    int ch;
    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((ch = getopt_long(argc, argv, "l:", longopts, NULL)) != -1) {
        if (ch != 'l')
            return EXIT_USAGE;
        listen = optarg;
    }
    return ws_cli_exit_for(ws_serve_run(g->config ? g->config : "wavesync.yaml", listen));
}

/* ---- version ----------------------------------------------------------- */

struct version_run {
    int code;
    char msg[1024];
    json_t *server;
};

static void on_version(const struct ws_kube_result *res, void *data)
{
    struct version_run *v = data;
    v->code = res->code;
    if (res->code < 0)
        snprintf(v->msg, sizeof(v->msg), "%s", res->err->msg);
    else
        v->server = json_incref(res->body);
}

static int cmd_version(const struct ws_global_opts *g)
{
    struct session s;
    struct version_run v = {0};
    struct ws_err err;
    int code = 0;
    ws_err_clear(&err);
    if (!g->kubeconfig && !g->context) {
        if (g->json_output)
            printf("{\"version\": \"%s\"}\n", PACKAGE_VERSION);
        else
            printf("wavesync %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (session_open(&s, g, &err) < 0) {
        fprintf(stderr, "wavesync version: %s\n", err.msg);
        session_close(&s);
        return EXIT_USAGE;
    }
    ws_kube_request(s.kube, "GET", "/version", NULL, NULL, "get server version", on_version, &v);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    if (v.code < 0) {
        fprintf(stderr, "wavesync version: %s\n", v.msg);
        code = ws_cli_exit_for(v.code);
    } else if (g->json_output) {
        json_t *out = json_pack("{s:s, s:O}", "version", PACKAGE_VERSION, "server", v.server);
        json_dumpf(out, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(out);
    } else {
        printf("wavesync %s\nserver %s (%s)\n", PACKAGE_VERSION,
               json_string_value(json_object_get(v.server, "gitVersion")),
               ws_kube_config(s.kube)->server);
    }
    json_decref(v.server);
    session_close(&s);
    return code;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'C'},
        {"kubeconfig", required_argument, NULL, 'k'},
        {"context", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct ws_global_opts g = {0};
    int c, level, rc;
    const char *cmd;
    /* Global options come before the command; stop at the first non-option. */
    while ((c = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'C':
            g.config = optarg;
            break;
        case 'k':
            g.kubeconfig = optarg;
            break;
        case 'c':
            g.context = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0)
                g.json_output = 1;
            else if (strcmp(optarg, "text") != 0) {
                fprintf(stderr, "wavesync: --output must be text or json\n");
                return EXIT_USAGE;
            }
            break;
        case 'l':
            if ((level = ws_log_level_parse(optarg)) < 0) {
                fprintf(stderr, "wavesync: unknown log level \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            ws_log_setup((enum ws_log_level)level, 0);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("wavesync %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ws_git_init();
    if (strcmp(cmd, "apply") == 0)
        rc = cmd_apply(&g, argc, argv);
    else if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(&g, argc, argv);
    else if (strcmp(cmd, "validate") == 0)
        rc = ws_cli_validate(&g, argc, argv);
    else if (strcmp(cmd, "trigger") == 0)
        rc = ws_cli_trigger(&g, argc, argv);
    else if (strcmp(cmd, "notify") == 0)
        rc = ws_cli_notify(&g, argc, argv);
    else if (strcmp(cmd, "sync") == 0)
        rc = ws_cli_sync(&g, argc, argv);
    else if (strcmp(cmd, "diff") == 0)
        rc = ws_cli_diff(&g, argc, argv);
    else if (strcmp(cmd, "plan") == 0)
        rc = ws_cli_plan(&g, argc, argv);
    else if (strcmp(cmd, "render") == 0)
        rc = ws_cli_render(&g, argc, argv);
    else if (strcmp(cmd, "apps") == 0)
        rc = ws_cli_apps(&g, argc, argv);
    else if (strcmp(cmd, "health") == 0)
        rc = ws_cli_health(&g, argc, argv);
    else if (strcmp(cmd, "version") == 0)
        rc = cmd_version(&g);
    else if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        rc = 0;
    } else {
        fprintf(stderr, "wavesync: unknown command \"%s\"\n", cmd);
        usage(stderr);
        rc = EXIT_USAGE;
    }
    ws_git_shutdown();
    curl_global_cleanup();
    return rc;
}
