/* cli_health.c — `wavesync health [--config FILE] OBJECT.yaml…`: the health
 * of the objects in files, by wavesync.yaml's Lua scripts or the built-in
 * rules, so people writing scripts can try them (as Argo CD's
 * `argocd admin settings resource-overrides health` does). No cluster. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "health/health.h"
#include "health/lua_health.h"
#include "base/util.h"
#include "base/yaml.h"

#define INPUT_MAX_BYTES (32u << 20)

static void health_usage(FILE *f)
{
    fprintf(f, "usage: wavesync health OBJECT.yaml... (- reads standard input) [--config FILE] [--output json]\n"
               "  prints each object's health: by the Lua scripts of wavesync.yaml's health section\n"
               "  when one applies, else by the built-in rules (a missing ./wavesync.yaml: built-in only);\n"
               "  a key written twice in an object is a warning, and its last value counts\n");
}

static int add_object(json_t *objects, json_t *obj, const char *name, int line, struct ws_err *err)
{
    if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "kind")))
        return ws_err_set(err, WS_EINVAL, "%s:%d: not a Kubernetes object (no kind)", name, line);
    json_array_append_new(objects, json_pack("{s:O, s:s, s:i}", "object", obj, "file", name, "line", line)); /* steals */
    return 0;
}

/* A key written twice in a saved object: said on stderr, the last one used. */
static void warn_duplicate(void *data, const struct ws_yaml_dup *d)
{
    struct ws_buf b;
    (void)data;
    ws_buf_init(&b, 0);
    ws_buf_appendf(&b, "wavesync health: warning: %s:%d:%d: duplicate key ", d->name, d->line, d->column);
    ws_buf_append_escaped(&b, d->path);
    ws_buf_appendf(&b, " (first at line %d); using the last one, as Kubernetes reads it", d->first_line);
    fprintf(stderr, "%s\n", b.data ? b.data : "");
    ws_buf_free(&b);
}

/* Every object of a (multi-document) YAML or JSON file; a kind: *List is its
 * items, as `kubectl get -o yaml` writes them. These are saved objects to
 * look at, not manifests to apply: a repeated key is a warning and the last
 * value counts (what the API server's YAML reader keeps), where wavesync's
 * own manifests stay strict. */
static int read_objects(json_t *objects, const char *file, struct ws_err *err)
{
    int is_stdin = strcmp(file, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : file;
    struct ws_yaml_stream st = {0};
    struct ws_yaml_limits opts = {0};
    char *buf = NULL;
    size_t len = 0;
    int rc;
    if ((rc = ws_file_read(&buf, &len, is_stdin ? "/dev/stdin" : file, INPUT_MAX_BYTES, err)) < 0)
        return rc;
    opts.keep_last_duplicate = 1;
    opts.on_duplicate = warn_duplicate;
    if ((rc = ws_yaml_parse(&st, buf, len, name, &opts, err)) < 0)
        goto out;
    for (size_t i = 0; i < st.ndocs && rc == 0; i++) {
        json_t *doc = st.docs[i].value, *items = json_object_get(doc, "items"), *item;
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        size_t k;
        if (json_is_null(doc))
            continue;
        if (kind && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 && json_is_array(items)) {
            json_array_foreach(items, k, item) {
                if ((rc = add_object(objects, item, name, st.docs[i].line, err)) < 0)
                    break;
            }
        } else {
            rc = add_object(objects, doc, name, st.docs[i].line, err);
        }
    }
out:
    ws_yaml_stream_free(&st);
    free(buf);
    return rc;
}

/* "namespace/name", or "name" for a cluster-scoped object. */
static void object_name(char *buf, size_t len, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (ns && *ns)
        snprintf(buf, len, "%s/%s", ns, name ? name : "");
    else
        snprintf(buf, len, "%s", name ? name : "");
}

int ws_cli_health(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {NULL, 0, NULL, 0},
    };
    const char *config = g->config;
    struct ws_config cfg;
    int have_cfg = 0, rc = 0;
    struct ws_lua_health *lh = NULL;
    json_t *objects = json_array(), *results = json_array(), *v;
    struct ws_err err;
    size_t i;
    ws_err_clear(&err);
    memset(&cfg, 0, sizeof(cfg));
    optind = 0; /* 0: glibc re-initialises its permutation state */
    /* --config, --output and -h are global options: main() has taken them out */
    if (getopt_long(argc, argv, "", longopts, NULL) != -1) { /* an option health does not know */
        health_usage(stderr);
        rc = WS_EXIT_USAGE;
        goto out;
    }
    if (optind >= argc) {
        health_usage(stderr);
        rc = WS_EXIT_USAGE;
        goto out;
    }
    /* all input first: a bad file prints nothing but its error */
    for (int a = optind; a < argc; a++)
        if (read_objects(objects, argv[a], &err) < 0) {
            fprintf(stderr, "wavesync health: %s\n", err.msg);
            rc = WS_EXIT_USAGE;
            goto out;
        }
    if (!config && access("wavesync.yaml", F_OK) == 0)
        config = "wavesync.yaml";
    if (config) {
        if (ws_config_load(&cfg, config, &err) < 0) {
            fprintf(stderr, "wavesync health: %s\n", err.msg);
            rc = WS_EXIT_USAGE;
            goto out;
        }
        have_cfg = 1;
    }
    if (ws_lua_health_new(&lh, have_cfg ? &cfg.health : NULL, NULL, &err) < 0) {
        fprintf(stderr, "wavesync health: %s\n", err.msg);
        rc = WS_EXIT_USAGE;
        goto out;
    }

    json_array_foreach(objects, i, v) {
        const json_t *obj = json_object_get(v, "object");
        const json_t *meta = json_object_get(obj, "metadata");
        const char *src = ws_lua_health_source(lh, obj);
        char source[1100];
        struct ws_health h = {0};
        if (!ws_lua_health_assess(lh, obj, &h)) {
            ws_health_assess(&h, obj, NULL);
            src = NULL;
        }
        if (src)
            snprintf(source, sizeof(source), "lua:%s", src);
        else
            snprintf(source, sizeof(source), "built-in");
        json_array_append_new(
            results, /* steals */
            json_pack("{s:{s:s?, s:s?, s:s*, s:s?}, s:O, s:O, s:s, s:s, s:s}", "object", "apiVersion",
                      json_string_value(json_object_get(obj, "apiVersion")), "kind",
                      json_string_value(json_object_get(obj, "kind")), "namespace",
                      json_string_value(json_object_get(meta, "namespace")), "name",
                      json_string_value(json_object_get(meta, "name")), "file", json_object_get(v, "file"), "line",
                      json_object_get(v, "line"), "status", ws_health_str(h.status), "message",
                      ws_health_message(&h), "source", source));
        ws_health_clear(&h);
    }
    if (g->json_output) {
        json_dumpf(results, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        printf("%-22s %-44s %-12s %s\n", "KIND", "NAME", "STATUS", "MESSAGE");
        json_array_foreach(results, i, v) {
            const json_t *o = json_object_get(v, "object");
            char name[600];
            struct ws_buf msg;
            /* the message as kept, but on its row: escapes for newlines and
               other control characters */
            ws_buf_init(&msg, 0);
            ws_buf_append_escaped(&msg, json_string_value(json_object_get(v, "message")));
            object_name(name, sizeof(name), json_object_get(json_array_get(objects, i), "object"));
            printf("%-22s %-44s %-12s %s\n", json_string_value(json_object_get(o, "kind")), name,
                   json_string_value(json_object_get(v, "status")), msg.data ? msg.data : "");
            ws_buf_free(&msg);
        }
    }
    fflush(stdout);
out:
    ws_lua_health_free(lh);
    if (have_cfg)
        ws_config_free(&cfg);
    json_decref(objects);
    json_decref(results);
    return rc;
}
