/* main.c — the wavesync command line: subcommands, flags, exit codes.
 * Exit codes: 0 success; 1 a sync/apply failed; 2 usage or configuration
 * error; 3 cannot reach git or a cluster. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
#include "base/sdnotify.h"
#include "source/jsonnet.h"
#include "source/manifest.h"
#include "serve/serve.h"
#include "base/util.h"

#define EXIT_FAILED WS_EXIT_FAILED
#define EXIT_USAGE WS_EXIT_USAGE
#define EXIT_UNREACHABLE WS_EXIT_UNREACHABLE

#define MANIFEST_MAX_BYTES (32u << 20)


/* ---- commands and their help ---------------------------------------------- */

/* Global options, as bits: which ones a command reads. Any other one given to
 * it is an error rather than silently ignored. */
#define G_CONFIG 0x01
#define G_KUBECONFIG 0x02 /* --kubeconfig and --context */
#define G_OUTPUT 0x04
#define G_LOG 0x08
#define G_APPS (G_CONFIG | G_OUTPUT | G_LOG) /* commands on wavesync.yaml's Applications */

struct command {
    const char *name;
    int (*run)(const struct ws_global_opts *g, int argc, char **argv);
    unsigned globals;
    const char *synopsis; /* after "wavesync NAME" */
    const char *summary;
    const char *options;  /* one "  --opt ARG   what" line each, or NULL */
};

static int cmd_apply(const struct ws_global_opts *g, int argc, char **argv);
static int cmd_serve(const struct ws_global_opts *g, int argc, char **argv);
static int cmd_version(const struct ws_global_opts *g, int argc, char **argv);
static int cmd_store(const struct ws_global_opts *g, int argc, char **argv);
static int cmd_help(const struct ws_global_opts *g, int argc, char **argv);

static const struct command commands[] = {
    {"sync", ws_cli_sync, G_APPS, "[APP...] [options]",
     "sync applications (all when none is named), wave by wave",
     "  -r, --revision REV     sync this branch, tag or commit instead of targetRevision\n"
     "  -p, --prune            prune even when syncPolicy.automated.prune is off\n"
     "  -n, --dry-run          server-side dry run: what would be created or changed, per object\n"
     "  -w, --wave-timeout DUR deadline per wave (default settings.waveTimeout)\n"
     "  -j, --junit FILE       JUnit XML, one test case per object\n"
     "  -q, --quiet            no progress lines\n"
     "  --apply-all            apply every object, also those already live as Git says\n"
     "                         (by default one list per resource type finds those, and they are left alone)\n"
     "  CI mode: --repo-dir DIR --before SHA --after SHA [--ref REF] [--repository NAME|URL]\n"
     "           [--default-branch BRANCH]: sync exactly the applications the pushed range affects\n"},
    {"diff", ws_cli_diff, G_APPS, "APP [options]",
     "live objects against Git, field by field (exit 1 when they differ)",
     "  -r, --revision REV     compare with this branch, tag or commit\n"},
    {"plan", ws_cli_plan, G_APPS, "APP [--revision REV]", "the phases and waves of a sync, in order",
     "  -r, --revision REV     plan this branch, tag or commit instead of targetRevision\n"},
    {"render", ws_cli_render, G_APPS, "APP [--revision REV]",
     "the manifests of an application at its revision (YAML; JSON with --output json)",
     "  -r, --revision REV     render this branch, tag or commit instead of targetRevision\n"},
    {"apps", ws_cli_apps, G_APPS, "", "the applications, their sources and destinations (and ApplicationSet)",
     NULL},
    {"validate", ws_cli_validate, G_APPS, "[APP...] [options]",
     "render and plan offline; exit 2 naming the file or object at fault",
     "  -r, --revision REV     validate at this branch, tag or commit\n"
     "  --repo-dir DIR --before SHA --after SHA [--ref REF] [--repository NAME|URL]\n"
     "  [--default-branch BRANCH]   only the applications a pushed range affects (a pre-receive hook)\n"},
    {"health", ws_cli_health, G_CONFIG | G_OUTPUT | G_LOG, "FILE... (- reads standard input)",
     "each object's health: wavesync.yaml's Lua scripts when one applies, else the built-in rules", NULL},
    {"serve", cmd_serve, G_CONFIG | G_LOG, "[--listen HOST:PORT]",
     "the push-driven service: webhooks, the queue, runs, the HTTP API",
     "  -l, --listen HOST:PORT listen here instead of server.listen\n"},
    {"store", cmd_store, G_CONFIG | G_LOG, "migrate",
     "bring the service's store (store.postgres, else SQLite in stateDir) to this version's schema",
     NULL},
    {"trigger", ws_cli_trigger, G_CONFIG | G_OUTPUT | G_LOG, "APP [options]",
     "ask a running service to sync APP now",
     "  -s, --server URL       the service (default: wavesync.yaml's server.listen, $WAVESYNC_SERVER)\n"
     "  -t, --token REF        API token: env:NAME or file:PATH (default server.apiToken, $WAVESYNC_TOKEN)\n"
     "  -r, --revision REV     sync this revision\n"
     "  -p, --prune            prune\n"
     "  -n, --dry-run          server-side dry run\n"
     "  -w, --wait             wait for the run and exit with its result\n"
     "  -T, --timeout DUR      how long --wait waits (default 30m)\n"},
    {"status", ws_cli_status, G_CONFIG | G_OUTPUT | G_LOG, "[APP] [--server URL]",
     "sync status and health from a running service: every application, or one with its objects",
     "  -s, --server URL       the service (default: wavesync.yaml's server.listen, $WAVESYNC_SERVER)\n"},
    {"notify", ws_cli_notify, G_LOG,
     "--server URL --secret REF --repository URL --ref REF --before SHA --after SHA",
     "send a signed push event to the service (what hooks/post-receive runs)",
     "  --delivery ID          delivery id (default: generated)\n"
     "  --pusher NAME          who pushed (default $USER)\n"},
    {"apply", cmd_apply, G_KUBECONFIG | G_OUTPUT | G_LOG, "[-f] PATH... [options]",
     "server-side apply plain manifests (files or folders): kinds resolved first, Namespaces and CRDs first",
     "  -f, --filename PATH    a file or folder (may repeat; bare paths work too)\n"
     "  --force-conflicts      take ownership of fields another manager owns\n"
     "  --dry-run              server-side dry run: validate, change nothing\n"
     "  --crd-timeout DUR      how long to wait for CRDs to be Established (default 60s)\n"},
    {"version", cmd_version, G_KUBECONFIG | G_OUTPUT | G_LOG, "",
     "print the version (and the cluster's, with --kubeconfig or --context)", NULL},
    {"help", cmd_help, 0, "[COMMAND]", "this text, or a command's", NULL},
};

static const char global_help[] =
    "global options (before or after the command):\n"
    "  --config FILE          wavesync.yaml to use (default ./wavesync.yaml)\n"
    "  --kubeconfig FILE      kubeconfig for apply and version (default $KUBECONFIG, ~/.kube/config)\n"
    "  --context NAME         kubeconfig context (default current-context)\n"
    "  -o, --output text|json output format (default text)\n"
    "  --log-level LEVEL      debug, info, warn, error (default info)\n"
    "  -h, --help             help (for a command: wavesync COMMAND --help)\n"
    "  --version              print the version (as wavesync version does)\n";

static const char exit_help[] =
    "exit codes: 0 ok, 1 a sync or apply failed, 2 usage, configuration or input\n"
    "            error (nothing changed), 3 cannot reach git or a cluster\n";

static void usage(FILE *f)
{
    fprintf(f, "usage: wavesync COMMAND [ARGS] [options]\n\ncommands:\n");
    for (size_t i = 0; i < WS_ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n%s\n%s", global_help, exit_help);
}

static void command_usage(FILE *f, const struct command *c)
{
    fprintf(f, "usage: wavesync %s%s%s\n  %s\n", c->name, *c->synopsis ? " " : "", c->synopsis, c->summary);
    if (c->options)
        fprintf(f, "\noptions:\n%s", c->options);
    fprintf(f, "\n%s", global_help);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < WS_ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_help(const struct ws_global_opts *g, int argc, char **argv)
{
    const struct command *c;
    (void)g;
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 || !(c = find_command(argv[1]))) {
        fprintf(stderr, "wavesync help: unknown command \"%s\"\n", argv[1]);
        return EXIT_USAGE;
    }
    command_usage(stdout, c);
    return 0;
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

/* As kubectl: with no --kubeconfig, no $KUBECONFIG and no ~/.kube/config,
 * a process in a pod ($KUBERNETES_SERVICE_HOST set) uses its service account. */
static int in_pod_without_kubeconfig(const struct ws_global_opts *g)
{
    const char *home = getenv("HOME"), *env = getenv("KUBECONFIG"), *host = getenv("KUBERNETES_SERVICE_HOST");
    char path[4096];
    if (g->kubeconfig || g->context || (env && *env) || !host || !*host)
        return 0;
    if (home && *home) {
        snprintf(path, sizeof(path), "%s/.kube/config", home);
        if (access(path, F_OK) == 0)
            return 0;
    }
    return 1;
}

static int session_open(struct session *s, const struct ws_global_opts *g, struct ws_err *err)
{
    struct ws_kubeconfig cfg;
    int rc;
    memset(s, 0, sizeof(*s));
    uv_loop_init(&s->loop); /* first, so session_close always has a loop */
    rc = in_pod_without_kubeconfig(g) ? ws_kubeconfig_in_cluster(&cfg, NULL, err)
                                      : ws_kubeconfig_load(&cfg, g->kubeconfig, g->context, err);
    if (rc < 0)
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
    while ((c = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
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
    if (optind < argc) {
        fprintf(stderr, "wavesync serve: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_USAGE;
    }
    return ws_cli_exit_for(ws_serve_run(g->config ? g->config : "wavesync.yaml", listen, g->argv));
}

static int cmd_store(const struct ws_global_opts *g, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "migrate") != 0 || argc > 2) {
        fprintf(stderr, "wavesync store: usage: wavesync store migrate\n");
        return EXIT_USAGE;
    }
    return ws_cli_exit_for(ws_serve_migrate(g->config ? g->config : "wavesync.yaml"));
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

static int cmd_version(const struct ws_global_opts *g, int argc, char **argv)
{
    struct session s;
    struct version_run v = {0};
    struct ws_err err;
    int code = 0;
    ws_err_clear(&err);
    if (argc > 1) {
        fprintf(stderr, "wavesync version: unexpected argument \"%s\"\n", argv[1]);
        return EXIT_USAGE;
    }
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

/* ---- global options, before or after the command ---------------------------- */

struct global_opt {
    const char *name;  /* long name */
    char short_name;   /* or 0 */
    int takes_value;
    unsigned bit;      /* G_*: what a command must read for this option to apply; 0 = any */
};

static const struct global_opt global_opts[] = {
    {"config", 0, 1, G_CONFIG},  {"kubeconfig", 0, 1, G_KUBECONFIG}, {"context", 0, 1, G_KUBECONFIG},
    {"output", 'o', 1, G_OUTPUT}, {"log-level", 0, 1, 0},             {"help", 'h', 0, 0},
    {"version", 0, 0, 0},
};

/* Is argv[*i] a global option? Returns its entry (and its value in *value,
 * taken from "--name=value", "-ovalue" or the next argument, advancing *i),
 * NULL when it is not one. A missing value is reported and *bad set. */
static const struct global_opt *take_global(int argc, char **argv, int *i, const char **value, int *bad)
{
    const char *a = argv[*i];
    *value = NULL;
    for (size_t k = 0; k < WS_ARRAY_SIZE(global_opts); k++) {
        const struct global_opt *o = &global_opts[k];
        size_t n = strlen(o->name);
        const char *inline_value = NULL;
        if (a[0] == '-' && a[1] == '-' && strncmp(a + 2, o->name, n) == 0 && (a[2 + n] == '\0' || a[2 + n] == '='))
            inline_value = a[2 + n] == '=' ? a + 3 + n : NULL;
        else if (o->short_name && a[0] == '-' && a[1] == o->short_name)
            inline_value = a[2] ? a + 2 : NULL;
        else
            continue;
        if (!o->takes_value) {
            if (inline_value) {
                fprintf(stderr, "wavesync: --%s takes no value\n", o->name);
                *bad = 1;
            }
            return o;
        }
        if (inline_value)
            *value = inline_value;
        else if (*i + 1 < argc)
            *value = argv[++*i];
        else {
            fprintf(stderr, "wavesync: --%s needs a value\n", o->name);
            *bad = 1;
        }
        return o;
    }
    return NULL;
}

static int set_global(struct ws_global_opts *g, const struct global_opt *o, const char *v)
{
    int level;
    if (strcmp(o->name, "config") == 0) {
        g->config = v;
    } else if (strcmp(o->name, "kubeconfig") == 0) {
        g->kubeconfig = v;
    } else if (strcmp(o->name, "context") == 0) {
        g->context = v;
    } else if (strcmp(o->name, "output") == 0) {
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
            fprintf(stderr, "wavesync: --output must be text or json (got \"%s\")\n", v);
            return -1;
        }
        g->json_output = strcmp(v, "json") == 0;
    } else if (strcmp(o->name, "log-level") == 0) {
        if ((level = ws_log_level_parse(v)) < 0) {
            fprintf(stderr, "wavesync: unknown log level \"%s\" (debug, info, warn, error)\n", v);
            return -1;
        }
        ws_log_setup((enum ws_log_level)level, 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ws_global_opts g = {0};
    const struct command *cmd = NULL;
    char **args = calloc((size_t)argc + 1, sizeof(char *));
    char prog[64];
    unsigned given = 0;
    int nargs = 1, help = 0, version = 0, bad = 0, rc;
    const char *cmd_name = NULL;
    /* Hidden: the bounded child that evaluates Jsonnet (source/jsonnet.h);
       wavesync runs itself for it, never a person. Not in --help. */
    if (argc > 1 && strcmp(argv[1], "__jsonnet") == 0) {
        free(args);
        return ws_jsonnet_main(argc - 1, argv + 1);
    }
    if (!args)
        return EXIT_FAILED;
    g.argv = argv;
    ws_sd_init(); /* before any thread: it edits the environment */
    ws_log_setup(WS_LOG_INFO, 0);
    /* Global options are taken out wherever they stand (as kubectl and argocd
     * accept them) until "--"; everything else goes to the command, whose own
     * parser rejects what it does not know. */
    for (int i = 1; i < argc && !bad; i++) {
        const struct global_opt *o;
        const char *v;
        if (strcmp(argv[i], "--") == 0) {
            while (++i < argc)
                args[nargs++] = argv[i];
            break;
        }
        if ((o = take_global(argc, argv, &i, &v, &bad))) {
            if (bad)
                break;
            if (strcmp(o->name, "help") == 0)
                help = 1;
            else if (strcmp(o->name, "version") == 0)
                version = 1;
            else if (set_global(&g, o, v) < 0)
                bad = 1;
            given |= o->bit;
            continue;
        }
        if (!cmd_name) {
            if (argv[i][0] == '-' && argv[i][1]) {
                fprintf(stderr, "wavesync: unknown option \"%s\" before the command (its options go after it)\n",
                        argv[i]);
                bad = 1;
                break;
            }
            cmd_name = argv[i];
            continue;
        }
        args[nargs++] = argv[i];
    }
    if (bad) {
        free(args);
        return EXIT_USAGE;
    }
    if (!cmd_name) {
        free(args);
        if (version) {
            printf("wavesync %s\n", PACKAGE_VERSION);
            return 0;
        }
        usage(help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    if (!(cmd = find_command(cmd_name))) {
        fprintf(stderr, "wavesync: unknown command \"%s\" (wavesync --help lists them)\n", cmd_name);
        free(args);
        return EXIT_USAGE;
    }
    if (help || version) {
        if (help)
            command_usage(stdout, cmd);
        else
            printf("wavesync %s\n", PACKAGE_VERSION);
        free(args);
        return 0;
    }
    for (size_t k = 0; k < WS_ARRAY_SIZE(global_opts); k++) {
        unsigned bit = global_opts[k].bit;
        if (bit && (given & bit) && !(cmd->globals & bit)) {
            fprintf(stderr, "wavesync %s: --%s does not apply to %s%s\n", cmd->name, global_opts[k].name, cmd->name,
                    bit == G_KUBECONFIG && (cmd->globals & G_CONFIG) ? " (clusters come from wavesync.yaml)"
                    : bit == G_CONFIG                                ? " (it reads no wavesync.yaml)"
                    : bit == G_OUTPUT                                ? " (it has one output format)"
                                                                     : "");
            free(args);
            return EXIT_USAGE;
        }
    }
    /* getopt prefixes its messages with argv[0] */
    snprintf(prog, sizeof(prog), "wavesync %s", cmd->name);
    args[0] = prog;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ws_git_init();
    rc = cmd->run(&g, nargs, args);
    ws_git_shutdown();
    curl_global_cleanup();
    free(args);
    return rc;
}
