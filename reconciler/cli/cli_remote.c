/* cli_remote.c — commands that talk to a running `wavesync serve`:
 * `trigger` (a manual re-run through the API), `status` (sync status and
 * health, as `argocd app get` shows them) and `notify` (a signed push
 * event, sent by hooks/post-receive). One-shot, so plain blocking libcurl. */
#include "autoconfig.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "config/config.h"
#include "base/util.h"
#include "serve/webhook.h"

struct reply {
    long status;
    struct ws_buf body;
};

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
    struct reply *r = data;
    return ws_buf_append(&r->body, p, size * n) == 0 ? size * n : 0;
}

/* One request; 0 when a response came (any status), else -1 with msg. */
static int request(struct reply *out, const char *method, const char *url, struct curl_slist *hdrs,
                   const char *body, char *msg, size_t msglen)
{
    CURL *c = curl_easy_init();
    CURLcode rc;
    char errbuf[CURL_ERROR_SIZE] = "";
    memset(out, 0, sizeof(*out));
    ws_buf_init(&out->body, 4u << 20);
    if (!c) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wavesync/" PACKAGE_VERSION);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(msg, msglen, "%s %s: %s", method, url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static const char *error_of(const struct reply *r, json_t **doc)
{
    *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    const char *e = json_string_value(json_object_get(*doc, "error"));
    return e ? e : r->body.data ? r->body.data : "";
}

/* --- trigger ------------------------------------------------------------------ */

static char *default_server(const struct ws_config *cfg)
{
    char *out = NULL;
    const char *host = cfg->server.listen_host;
    if (!host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    if (asprintf(&out, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, cfg->server.listen_port) < 0)
        return NULL;
    return out;
}

static int get_json(json_t **out, const char *url, struct curl_slist *hdrs, char *msg, size_t msglen)
{
    struct reply r;
    json_t *doc = NULL;
    int rc = request(&r, "GET", url, hdrs, NULL, msg, msglen);
    *out = NULL;
    if (rc == 0 && r.status != 200) {
        snprintf(msg, msglen, "GET %s: HTTP %ld: %s", url, r.status, error_of(&r, &doc));
        rc = -1;
    } else if (rc == 0 && !(*out = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL))) {
        snprintf(msg, msglen, "GET %s: the answer is not JSON", url);
        rc = -1;
    }
    json_decref(doc);
    ws_buf_free(&r.body);
    return rc;
}

/* --wait through the service's event stream (GET /api/v1/events?app=…,
 * read from the first event it still keeps): the first finished "run" of
 * the application whose trigger is ours or newer (a newer push supersedes a
 * pending run); wave lines go to stderr as they come. */
struct sse_wait {
    struct ws_buf line, data;
    char event[32];
    int64_t trigger, run;
    int reset, quiet;
    const char *app;
};

static void sse_dispatch(struct sse_wait *w)
{
    json_t *ev = w->data.len ? json_loadb(w->data.data, w->data.len, 0, NULL) : NULL;
    const char *state = json_string_value(json_object_get(ev, "state"));
    if (strcmp(w->event, "reset") == 0) {
        w->reset = 1;
    } else if (strcmp(w->event, "run") == 0 && state && strcmp(state, "Running") != 0 &&
               strcmp(state, "Interrupted") != 0 && /* it runs again after the restart */
               json_integer_value(json_object_get(ev, "trigger")) >= w->trigger) {
        w->run = json_integer_value(json_object_get(ev, "run"));
    } else if (strcmp(w->event, "wave") == 0 && !w->quiet &&
               (state = json_string_value(json_object_get(ev, "result")))) {
        fprintf(stderr, "%s: run %lld: wave %s %lld: %s%s%s\n", w->app,
                (long long)json_integer_value(json_object_get(ev, "run")),
                json_string_value(json_object_get(ev, "phase")) ?: "?",
                (long long)json_integer_value(json_object_get(ev, "wave")), state,
                json_object_get(ev, "waitedOn") ? ", last: " : "",
                json_string_value(json_object_get(ev, "waitedOn")) ?: "");
    }
    json_decref(ev);
    w->event[0] = '\0';
    w->data.len = 0;
}

static size_t on_sse(char *p, size_t size, size_t n, void *data)
{
    struct sse_wait *w = data;
    for (size_t i = 0; i < size * n; i++) {
        if (p[i] != '\n') {
            if (ws_buf_append(&w->line, &p[i], 1) < 0)
                return 0;
            continue;
        }
        if (w->line.len == 0) { /* a blank line ends an event */
            sse_dispatch(w);
        } else if (w->line.len > 6 && strncmp(w->line.data, "event:", 6) == 0) {
            snprintf(w->event, sizeof(w->event), "%.*s", (int)(w->line.len - 6 - (w->line.data[6] == ' ')),
                     w->line.data + 6 + (w->line.data[6] == ' '));
        } else if (w->line.len >= 5 && strncmp(w->line.data, "data:", 5) == 0) {
            size_t skip = 5 + (w->line.len > 5 && w->line.data[5] == ' ');
            if (ws_buf_append(&w->data, w->line.data + skip, w->line.len - skip) < 0)
                return 0;
        }
        w->line.len = 0;
        if (w->run || w->reset)
            return 0; /* enough: end the transfer */
    }
    return size * n;
}

/* The run that answered trigger `trigger`: its id, 0 when the stream cannot
 * tell (an older service, a stream that lost the events), -1 on timeout. */
static int64_t wait_events(const char *server, const char *app, int64_t trigger, struct curl_slist *hdrs,
                           uint64_t timeout_ms, int quiet)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    char *esc = ws_url_escape(app);
    struct sse_wait w;
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    CURLcode rc;
    long status = 0;
    memset(&w, 0, sizeof(w));
    w.trigger = trigger;
    w.quiet = quiet;
    w.app = app;
    ws_buf_init(&w.line, 1u << 20);
    ws_buf_init(&w.data, 4u << 20);
    for (const struct curl_slist *x = hdrs; x; x = x->next)
        h = curl_slist_append(h, x->data);
    h = curl_slist_append(h, "Accept: text/event-stream");
    h = curl_slist_append(h, "Last-Event-ID: 0"); /* from the oldest event it keeps */
    snprintf(url, sizeof(url), "%s/api/v1/events?app=%s", server, esc ? esc : app);
    free(esc);
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "wavesync/" PACKAGE_VERSION);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        if (rc == CURLE_OPERATION_TIMEDOUT && status == 200 && !w.run)
            w.run = -1;
    }
    curl_slist_free_all(h);
    ws_buf_free(&w.line);
    ws_buf_free(&w.data);
    return status == 200 ? w.run : 0;
}

/* The application until a run newer than `after_run` has finished: from
 * the event stream, else by asking every 200 ms. */
static int wait_run(const char *server, const char *app, int64_t trigger, int64_t after_run,
                    struct curl_slist *hdrs, int json_output, uint64_t timeout_ms)
{
    uint64_t deadline = ws_now_ms() + timeout_ms;
    char url[2048], msg[2048];
    char *esc = ws_url_escape(app);
    json_t *doc = NULL, *run = NULL;
    int64_t last = wait_events(server, app, trigger, hdrs, timeout_ms, json_output);
    int rc = WS_EXIT_FAILED;
    snprintf(url, sizeof(url), "%s/api/v1/applications/%s", server, esc ? esc : app);
    free(esc);
    if (last < 0) {
        fprintf(stderr, "wavesync trigger: %s: no finished run after %.0fs (--timeout)\n", app,
                (double)timeout_ms / 1000.0);
        return WS_EXIT_FAILED;
    }
    while (last == 0) {
        if (get_json(&doc, url, hdrs, msg, sizeof(msg)) < 0) {
            fprintf(stderr, "wavesync trigger: %s\n", msg);
            return WS_EXIT_UNREACHABLE;
        }
        if (json_integer_value(json_object_get(doc, "lastRun")) > after_run &&
            strcmp(json_string_value(json_object_get(doc, "state")) ?: "", "Running") != 0 &&
            !json_is_true(json_object_get(doc, "pending"))) {
            last = json_integer_value(json_object_get(doc, "lastRun"));
            break;
        }
        json_decref(doc);
        doc = NULL;
        if (ws_now_ms() > deadline) {
            fprintf(stderr, "wavesync trigger: %s: no finished run after %.0fs (--timeout)\n", app,
                    (double)timeout_ms / 1000.0);
            return WS_EXIT_FAILED;
        }
        usleep(200 * 1000);
    }
    json_decref(doc);
    snprintf(url, sizeof(url), "%s/api/v1/runs/%lld", server, (long long)last);
    if (get_json(&run, url, hdrs, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "wavesync trigger: %s\n", msg);
        return WS_EXIT_UNREACHABLE;
    }
    if (json_output) {
        json_dumpf(run, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        const char *m = json_string_value(json_object_get(run, "message"));
        printf("run %lld of %s: %s%s%s\n", (long long)last, app, json_string_value(json_object_get(run, "state")),
               m && *m ? ": " : "", m ? m : "");
    }
    if (strcmp(json_string_value(json_object_get(run, "state")) ?: "", "Succeeded") == 0)
        rc = 0;
    json_decref(run);
    return rc;
}

int ws_cli_trigger(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'}, {"token", required_argument, NULL, 't'},
        {"revision", required_argument, NULL, 'r'}, {"prune", no_argument, NULL, 'p'},
        {"dry-run", no_argument, NULL, 'n'}, {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    const char *server_arg = getenv("WAVESYNC_SERVER"), *token_ref = getenv("WAVESYNC_TOKEN");
    const char *revision = NULL;
    char *server = NULL, *token = NULL, *esc = NULL, *body = NULL, url[2048], msg[2048], auth[4200];
    struct ws_config cfg;
    int have_cfg = 0, prune = 0, dry = 0, wait = 0, ch, rc = WS_EXIT_USAGE;
    struct curl_slist *hdrs = NULL;
    struct reply r = {0};
    struct ws_err err;
    json_t *doc = NULL, *app = NULL, *req = NULL;
    int64_t before_run = 0;
    uint64_t timeout_ms = 30 * 60 * 1000;

    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((ch = getopt_long(argc, argv, "s:t:r:pnwT:", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': server_arg = optarg; break;
        case 't': token_ref = optarg; break;
        case 'r': revision = optarg; break;
        case 'p': prune = 1; break;
        case 'n': dry = 1; break;
        case 'w': wait = 1; break;
        case 'T':
            if (ws_duration_parse(&timeout_ms, optarg) < 0 || timeout_ms == 0) {
                fprintf(stderr, "wavesync trigger: bad --timeout \"%s\" (e.g. 10m)\n", optarg);
                return WS_EXIT_USAGE;
            }
            break;
        default: return WS_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "wavesync trigger: name one application\n");
        return WS_EXIT_USAGE;
    }
    ws_err_clear(&err);
    /* the server and token default to what wavesync.yaml says */
    if ((!server_arg || !token_ref) && access(g->config ? g->config : "wavesync.yaml", R_OK) == 0) {
        if (ws_config_load(&cfg, g->config ? g->config : "wavesync.yaml", &err) < 0) {
            fprintf(stderr, "wavesync trigger: %s\n", err.msg);
            return WS_EXIT_USAGE;
        }
        have_cfg = 1;
    }
    if (server_arg)
        server = strdup(server_arg);
    else if (have_cfg)
        server = default_server(&cfg);
    if (token_ref) {
        if (ws_secret_resolve(&token, token_ref, ".", &err) < 0) {
            fprintf(stderr, "wavesync trigger: --token: %s\n", err.msg);
            goto out;
        }
    } else if (have_cfg && cfg.server.api_token) {
        token = strdup(cfg.server.api_token);
    }
    if (!server) {
        fprintf(stderr, "wavesync trigger: no server: give --server URL (or $WAVESYNC_SERVER, or a wavesync.yaml)\n");
        goto out;
    }
    server[strcspn(server, "\n")] = '\0';
    while (*server && server[strlen(server) - 1] == '/')
        server[strlen(server) - 1] = '\0';
    if (!*server) {
        fprintf(stderr, "wavesync trigger: --server is empty\n");
        goto out;
    }
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    esc = ws_url_escape(argv[optind]);
    if (wait) { /* the run to wait for is newer than the last one now */
        snprintf(url, sizeof(url), "%s/api/v1/applications/%s", server, esc);
        if (get_json(&app, url, hdrs, msg, sizeof(msg)) == 0)
            before_run = json_integer_value(json_object_get(app, "lastRun"));
    }
    snprintf(url, sizeof(url), "%s/api/v1/applications/%s/sync", server, esc);
    req = json_pack("{s:s?, s:b, s:b}", "revision", revision, "prune", prune, "dryRun", dry);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (request(&r, "POST", url, hdrs, body, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "wavesync trigger: %s\n", msg);
        rc = WS_EXIT_UNREACHABLE;
        goto out;
    }
    if (r.status != 202) {
        fprintf(stderr, "wavesync trigger: %s: HTTP %ld: %s\n", argv[optind], r.status, error_of(&r, &doc));
        rc = r.status == 401 || r.status == 403 ? WS_EXIT_UNREACHABLE : WS_EXIT_USAGE;
        goto out;
    }
    doc = json_loadb(r.body.data, r.body.len, 0, NULL);
    if (!g->json_output || !wait)
        printf("%s: sync queued (trigger %lld)\n", argv[optind],
               (long long)json_integer_value(json_object_get(doc, "trigger")));
    rc = wait ? wait_run(server, argv[optind], json_integer_value(json_object_get(doc, "trigger")), before_run,
                         hdrs, g->json_output, timeout_ms)
              : 0;
out:
    json_decref(doc);
    json_decref(app);
    ws_buf_free(&r.body);
    curl_slist_free_all(hdrs);
    free(body);
    free(esc);
    free(server);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    if (have_cfg)
        ws_config_free(&cfg);
    return rc;
}

/* --- notify ----------------------------------------------------------------------- */

int ws_cli_notify(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'}, {"secret", required_argument, NULL, 'k'},
        {"repository", required_argument, NULL, 'R'}, {"ref", required_argument, NULL, 'f'},
        {"before", required_argument, NULL, 'b'}, {"after", required_argument, NULL, 'a'},
        {"delivery", required_argument, NULL, 'd'}, {"pusher", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *secret_ref = NULL, *repo = NULL, *ref = NULL, *before = NULL, *after = NULL;
    const char *delivery = NULL, *pusher = getenv("USER");
    char *secret = NULL, *body = NULL, url[2048], msg[2048], sig[65], h[256], id[64];
    struct curl_slist *hdrs = NULL;
    struct reply r = {0};
    struct ws_err err;
    json_t *doc = NULL;
    int ch, rc = WS_EXIT_USAGE;
    (void)g;
    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': server = optarg; break;
        case 'k': secret_ref = optarg; break;
        case 'R': repo = optarg; break;
        case 'f': ref = optarg; break;
        case 'b': before = optarg; break;
        case 'a': after = optarg; break;
        case 'd': delivery = optarg; break;
        case 'u': pusher = optarg; break;
        default: return WS_EXIT_USAGE;
        }
    }
    if (!server || !*server || !secret_ref || !repo || !ref || !before || !after || optind != argc) {
        fprintf(stderr, "usage: wavesync notify --server URL --secret env:NAME|file:PATH --repository URL "
                        "--ref REF --before SHA --after SHA [--delivery ID] [--pusher NAME]\n");
        return WS_EXIT_USAGE;
    }
    ws_err_clear(&err);
    if (ws_secret_resolve(&secret, secret_ref, ".", &err) < 0) {
        fprintf(stderr, "wavesync notify: --secret: %s\n", err.msg);
        return WS_EXIT_USAGE;
    }
    if (!delivery) {
        snprintf(id, sizeof(id), "%.12s-%lld-%d", after, (long long)ws_wall_s(), (int)getpid());
        delivery = id;
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "repository", repo, "ref", ref, "before", before, "after",
                    after, "pusher", pusher);
    body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    doc = NULL;
    if (!body) {
        memset(secret, 0, strlen(secret));
        free(secret);
        return WS_EXIT_FAILED;
    }
    ws_hook_hmac_hex(sig, secret, strlen(secret), body, strlen(body));
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "X-Wavesync-Event: push");
    snprintf(h, sizeof(h), "X-Wavesync-Delivery: %s", delivery);
    hdrs = curl_slist_append(hdrs, h);
    snprintf(h, sizeof(h), "X-Wavesync-Signature-256: sha256=%s", sig);
    hdrs = curl_slist_append(hdrs, h);
    snprintf(url, sizeof(url), "%.*s/api/webhook/generic", (int)(strlen(server) - (server[strlen(server) - 1] == '/')),
             server);
    if (request(&r, "POST", url, hdrs, body, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "wavesync notify: %s\n", msg);
        rc = WS_EXIT_UNREACHABLE;
    } else if (r.status / 100 != 2) {
        fprintf(stderr, "wavesync notify: %s: HTTP %ld: %s\n", url, r.status, error_of(&r, &doc));
        rc = r.status == 401 ? WS_EXIT_UNREACHABLE : WS_EXIT_USAGE;
    } else {
        doc = json_loadb(r.body.data, r.body.len, 0, NULL);
        printf("wavesync: %s %.12s: %s\n", ref, after,
               json_string_value(json_object_get(doc, "status")) ?: "accepted");
        rc = 0;
    }
    json_decref(doc);
    ws_buf_free(&r.body);
    curl_slist_free_all(hdrs);
    free(body);
    memset(secret, 0, strlen(secret));
    free(secret);
    return rc;
}

/* --- status -------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "3 of 4 objects synced" style counts for the one-application view. */
static void print_app(const json_t *a)
{
    const json_t *cmp = json_object_get(a, "comparedTo"), *aw = json_object_get(a, "awaitingManualSync");
    const json_t *src = json_array_get(json_object_get(a, "sources"), 0), *heal = json_object_get(a, "selfHealing");
    static const char *const headers[] = {"GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"};
    struct ws_table t;
    size_t i;
    json_t *r;
    printf("Name:           %s\n", jstr(a, "name"));
    printf("Destination:    %s/%s\n", jstr(a, "destinationName") ?: jstr(a, "destinationServer") ?: "?",
           jstr(a, "namespace") ?: "-");
    printf("Source:         %s %s @ %s\n", jstr(src, "repoURL") ?: "?", jstr(src, "path") ?: "",
           jstr(src, "targetRevision") ?: "HEAD");
    printf("Sync policy:    %s\n", json_is_true(json_object_get(a, "automated"))
                                       ? (json_is_true(json_object_get(a, "selfHeal")) ? "automated, selfHeal"
                                                                                       : "automated")
                                       : "manual");
    printf("Sync status:    %s", jstr(a, "syncStatus"));
    if (jstr(cmp, "revision"))
        printf(" (compared with %.12s)", jstr(cmp, "revision"));
    if (json_is_object(aw))
        printf(", awaiting a manual sync of %.12s", jstr(aw, "revision"));
    printf("\nHealth status:  %s\n", jstr(json_object_get(a, "health"), "status"));
    if (jstr(cmp, "message") && *jstr(cmp, "message")) {
        char *m = ws_table_escape(jstr(cmp, "message"));
        printf("Message:        %s\n", m ? m : "");
        free(m);
    }
    if (jstr(heal, "message"))
        printf("Self-heal:      %s\n", jstr(heal, "message"));
    printf("Last run:       %lld %s%s%.12s\n", (long long)json_integer_value(json_object_get(a, "lastRun")),
           jstr(a, "lastResult") ?: "-", jstr(a, "lastRevision") ? " at " : "", jstr(a, "lastRevision") ?: "");
    if (ws_table_init(&t, WS_ARRAY_SIZE(headers), headers) < 0)
        return;
    json_array_foreach(json_object_get(a, "resources"), i, r) {
        const json_t *h = json_object_get(r, "health"), *d = json_array_get(json_object_get(r, "diff"), 0);
        char msg[512];
        if (json_is_true(json_object_get(r, "requiresPruning")))
            snprintf(msg, sizeof(msg), "gone from Git: to prune");
        else if (d)
            snprintf(msg, sizeof(msg), "%s%s", jstr(d, "path"),
                     json_array_size(json_object_get(r, "diff")) > 1 ? " (and more)" : "");
        else
            snprintf(msg, sizeof(msg), "%s", jstr(h, "message") ?: "");
        ws_table_add(&t, (const char *const[]){jstr(r, "group")[0] ? jstr(r, "group") : "-", jstr(r, "kind"),
                                                jstr(r, "namespace"), jstr(r, "name"), jstr(r, "status"),
                                                jstr(h, "status"), msg});
    }
    printf("\n");
    ws_table_print(&t, stdout);
    ws_table_free(&t);
}

int ws_cli_status(const struct ws_global_opts *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"NAME", "SYNC STATUS", "HEALTH", "STATE", "LAST RESULT", "REVISION",
                                          "MESSAGE"};
    const char *server_arg = getenv("WAVESYNC_SERVER");
    char *server = NULL, url[2048], msg[2048];
    struct ws_config cfg;
    struct ws_err err;
    struct reply r = {0};
    json_t *doc = NULL, *a;
    int ch, rc = WS_EXIT_USAGE;
    size_t i;
    optind = 0; /* 0: glibc re-initialises its permutation state */
    while ((ch = getopt_long(argc, argv, "s:", longopts, NULL)) != -1) {
        if (ch != 's')
            return WS_EXIT_USAGE;
        server_arg = optarg;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "wavesync status: name one application, or none for all\n");
        return WS_EXIT_USAGE;
    }
    ws_err_clear(&err);
    if (server_arg) {
        server = strdup(server_arg);
    } else if (access(g->config ? g->config : "wavesync.yaml", R_OK) == 0) {
        if (ws_config_load(&cfg, g->config ? g->config : "wavesync.yaml", &err) < 0) {
            fprintf(stderr, "wavesync status: %s\n", err.msg);
            return WS_EXIT_USAGE;
        }
        server = default_server(&cfg);
        ws_config_free(&cfg);
    }
    if (!server || !*server) {
        fprintf(stderr, "wavesync status: no server: give --server URL (or $WAVESYNC_SERVER, or a wavesync.yaml)\n");
        free(server);
        return WS_EXIT_USAGE;
    }
    while (*server && server[strlen(server) - 1] == '/')
        server[strlen(server) - 1] = '\0';
    if (optind < argc) {
        char *esc = ws_url_escape(argv[optind]);
        snprintf(url, sizeof(url), "%s/api/v1/applications/%s", server, esc ? esc : "");
        free(esc);
    } else {
        snprintf(url, sizeof(url), "%s/api/v1/applications", server);
    }
    if (request(&r, "GET", url, NULL, NULL, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "wavesync status: %s\n", msg);
        rc = WS_EXIT_UNREACHABLE;
        goto out;
    }
    if (r.status != 200) {
        fprintf(stderr, "wavesync status: %s: HTTP %ld: %s\n", url, r.status, error_of(&r, &doc));
        rc = r.status == 404 ? WS_EXIT_USAGE : WS_EXIT_FAILED;
        goto out;
    }
    if (!(doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL))) {
        fprintf(stderr, "wavesync status: %s: the answer is not JSON\n", url);
        rc = WS_EXIT_FAILED;
        goto out;
    }
    rc = 0;
    if (g->json_output) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (optind < argc) {
        print_app(doc);
    } else {
        struct ws_table t;
        if (ws_table_init(&t, WS_ARRAY_SIZE(headers), headers) == 0) {
            json_array_foreach(json_object_get(doc, "applications"), i, a) {
                char rev[13];
                const json_t *cmp = json_object_get(a, "comparedTo");
                snprintf(rev, sizeof(rev), "%.12s", jstr(cmp, "revision") ?: "-");
                ws_table_add(&t, (const char *const[]){jstr(a, "name"), jstr(a, "syncStatus"),
                                                        jstr(json_object_get(a, "health"), "status"), jstr(a, "state"),
                                                        jstr(a, "lastResult"), rev, jstr(cmp, "message")});
            }
            ws_table_print(&t, stdout);
            ws_table_free(&t);
        }
    }
out:
    ws_buf_free(&r.body);
    json_decref(doc);
    free(server);
    return rc;
}
