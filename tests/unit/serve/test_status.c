/* test_status.c — reconciler/serve/status.c: the request builder from tables, then
 * the client against a scripted GitHub/GitLab API on loopback (libuv, same
 * loop): headers and body, state mapping, retries, errors that name the
 * status but never the token, order within a lane, and close. */
#include "serve/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "loopsrv.h"
#include "tap.h"
#include "base/util.h"

#define SHA "0123456789abcdef0123456789abcdef01234567"
#define TOK "tok-table-5f3a"

static uv_loop_t *loop;

/* ---- the request builder -------------------------------------------------- */

struct format_case {
    const char *name;
    enum ws_status_provider provider;
    const char *api, *repo, *sha, *token, *context;
    enum ws_status_state state;
    const char *description, *target_url;
    int want_rc;
    const char *want_url;  /* exact, when rc is 0 */
    const char *want_body; /* exact, when set */
};

static const struct format_case format_cases[] = {
    {"github default API", WS_STATUS_GITHUB, NULL, "octo/web", SHA, TOK, "ci/wavesync", WS_STATUS_PENDING,
     "Syncing", "https://ws.example/runs/7", 0, "https://api.github.com/repos/octo/web/statuses/" SHA,
     "{\"state\":\"pending\",\"context\":\"ci/wavesync\",\"description\":\"Syncing\","
     "\"target_url\":\"https://ws.example/runs/7\"}"},
    {"github running is pending, context defaults", WS_STATUS_GITHUB, "", "octo/web", SHA, TOK, NULL,
     WS_STATUS_RUNNING, NULL, NULL, 0, "https://api.github.com/repos/octo/web/statuses/" SHA,
     "{\"state\":\"pending\",\"context\":\"wavesync\"}"},
    {"github canceled is error", WS_STATUS_GITHUB, NULL, "octo/web", SHA, TOK, "c", WS_STATUS_CANCELED,
     "", "", 0, NULL, "{\"state\":\"error\",\"context\":\"c\"}"},
    {"github failure", WS_STATUS_GITHUB, NULL, "octo/web", SHA, TOK, "c", WS_STATUS_FAILURE, NULL, NULL, 0,
     NULL, "{\"state\":\"failure\",\"context\":\"c\"}"},
    {"github enterprise API, trailing slash dropped", WS_STATUS_GITHUB, "https://ghe.corp/api/v3//",
     "my-org/my.repo_1", "abcdef1", TOK, "c", WS_STATUS_SUCCESS, NULL, NULL, 0,
     "https://ghe.corp/api/v3/repos/my-org/my.repo_1/statuses/abcdef1", "{\"state\":\"success\",\"context\":\"c\"}"},
    {"gitlab default API, path escaped", WS_STATUS_GITLAB, NULL, "group/sub/proj", SHA, TOK, "wavesync/prod",
     WS_STATUS_FAILURE, "3 of 5 objects healthy", NULL, 0,
     "https://gitlab.com/api/v4/projects/group%2Fsub%2Fproj/statuses/" SHA,
     "{\"state\":\"failed\",\"name\":\"wavesync/prod\",\"description\":\"3 of 5 objects healthy\"}"},
    {"gitlab numeric id", WS_STATUS_GITLAB, "https://git.corp/api/v4", "4711", SHA, TOK, "c",
     WS_STATUS_ERROR, NULL, NULL, 0, "https://git.corp/api/v4/projects/4711/statuses/" SHA,
     "{\"state\":\"failed\",\"name\":\"c\"}"},
    {"gitlab running", WS_STATUS_GITLAB, NULL, "1", SHA, TOK, "c", WS_STATUS_RUNNING, NULL, NULL, 0, NULL,
     "{\"state\":\"running\",\"name\":\"c\"}"},
    {"gitlab canceled", WS_STATUS_GITLAB, NULL, "1", SHA, TOK, "c", WS_STATUS_CANCELED, NULL, NULL, 0, NULL,
     "{\"state\":\"canceled\",\"name\":\"c\"}"},
    {"http on loopback allowed", WS_STATUS_GITHUB, "http://127.0.0.1:8080", "o/r", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, 0, "http://127.0.0.1:8080/repos/o/r/statuses/" SHA, NULL},
    {"err: http off loopback", WS_STATUS_GITHUB, "http://api.github.com", "o/r", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: http to a name that looks like loopback", WS_STATUS_GITHUB, "http://127.0.0.1.evil.example",
     "o/r", SHA, TOK, "c", WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"http on localhost allowed", WS_STATUS_GITLAB, "http://localhost:1/api/v4", "g/p", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, 0, "http://localhost:1/api/v4/projects/g%2Fp/statuses/" SHA, NULL},
    {"err: credentials in API URL", WS_STATUS_GITHUB, "https://u:p@ghe.corp", "o/r", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: API URL with a query", WS_STATUS_GITHUB, "https://ghe.corp/api?x=1", "o/r", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: API URL not a URL", WS_STATUS_GITHUB, "::::", "o/r", SHA, TOK, "c", WS_STATUS_SUCCESS, NULL,
     NULL, WS_EINVAL, NULL, NULL},
    {"err: sha with a path", WS_STATUS_GITHUB, NULL, "o/r", "../../x", TOK, "c", WS_STATUS_SUCCESS, NULL,
     NULL, WS_EINVAL, NULL, NULL},
    {"err: sha too short", WS_STATUS_GITHUB, NULL, "o/r", "abc12", TOK, "c", WS_STATUS_SUCCESS, NULL, NULL,
     WS_EINVAL, NULL, NULL},
    {"err: github repo without owner", WS_STATUS_GITHUB, NULL, "web", SHA, TOK, "c", WS_STATUS_SUCCESS,
     NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: github repo with two slashes", WS_STATUS_GITHUB, NULL, "a/b/c", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: github owner ..", WS_STATUS_GITHUB, NULL, "../r", SHA, TOK, "c", WS_STATUS_SUCCESS, NULL, NULL,
     WS_EINVAL, NULL, NULL},
    {"err: gitlab path with trailing slash", WS_STATUS_GITLAB, NULL, "group/", SHA, TOK, "c",
     WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: no repo", WS_STATUS_GITLAB, NULL, "", SHA, TOK, "c", WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL,
     NULL, NULL},
    {"err: token missing", WS_STATUS_GITHUB, NULL, "o/r", SHA, NULL, "c", WS_STATUS_SUCCESS, NULL, NULL,
     WS_EINVAL, NULL, NULL},
    {"err: token with CRLF", WS_STATUS_GITHUB, NULL, "o/r", SHA, "tok-CRLF\r\nX-Evil: 1", "c",
     WS_STATUS_SUCCESS, NULL, NULL, WS_EINVAL, NULL, NULL},
    {"err: state out of range", WS_STATUS_GITHUB, NULL, "o/r", SHA, TOK, "c", (enum ws_status_state)99,
     NULL, NULL, WS_EINVAL, NULL, NULL},
};

static void test_format(void)
{
    for (size_t i = 0; i < WS_ARRAY_SIZE(format_cases); i++) {
        const struct format_case *fc = &format_cases[i];
        struct ws_status_target t = {fc->provider, fc->api, fc->token, fc->repo, fc->sha, fc->context,
                                     fc->state, fc->description, fc->target_url};
        struct ws_err err;
        char *url = NULL, *body = NULL;
        int rc = ws_status_format(&url, &body, &t, &err);
        tap_is_int(rc, fc->want_rc, fc->name);
        if (rc == 0) {
            if (fc->want_url)
                tap_is_str(url, fc->want_url, fc->name);
            if (fc->want_body)
                tap_is_str(body, fc->want_body, fc->name);
        } else {
            tap_ok(url == NULL && body == NULL && err.msg[0], "%s: no output, a message", fc->name);
            if (fc->token && *fc->token)
                tap_ok(strstr(err.msg, fc->token) == NULL, "%s: message without the token", fc->name);
        }
        free(url);
        free(body);
    }
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(ul * times + tl + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * times, tail, tl + 1);
    return s;
}

/* The description as the server would read it. */
static char *sent_description(const char *description)
{
    struct ws_status_target t = {WS_STATUS_GITHUB, NULL, "t", "o/r", SHA, "c", WS_STATUS_SUCCESS,
                                 description, NULL};
    char *url = NULL, *body = NULL, *out = NULL;
    json_t *doc;
    if (ws_status_format(&url, &body, &t, NULL) == 0 && (doc = json_loads(body, 0, NULL))) {
        const char *d = json_string_value(json_object_get(doc, "description"));
        out = d ? strdup(d) : NULL;
        json_decref(doc);
    }
    free(url);
    free(body);
    return out;
}

struct trunc_case {
    const char *name, *unit;
    size_t times;
    const char *tail;
    size_t want_chars;
    const char *want_end; /* the description must end with this */
};

static const struct trunc_case trunc_cases[] = {
    {"140 ASCII characters pass", "a", 140, "", 140, "aaa"},
    {"141 ASCII characters: 139 and an ellipsis", "a", 141, "", 140, "aa\xE2\x80\xA6"},
    {"two-byte characters cut on a boundary", "\xC3\xA9", 200, "", 140, "\xC3\xA9\xE2\x80\xA6"},
    {"four-byte characters cut on a boundary", "\xF0\x9F\x9A\x80", 150, "", 140,
     "\xF0\x9F\x9A\x80\xE2\x80\xA6"},
    {"ASCII then multibyte past the limit", "b", 139, "\xE2\x82\xAC\xE2\x82\xAC", 140, "b\xE2\x80\xA6"},
    {"invalid UTF-8 becomes ?", "x", 3, "\xFF", 4, "xxx?"},
};

static void test_truncate(void)
{
    for (size_t i = 0; i < WS_ARRAY_SIZE(trunc_cases); i++) {
        const struct trunc_case *tc = &trunc_cases[i];
        char *in = repeat(tc->unit, tc->times, tc->tail);
        char *got = sent_description(in);
        size_t gl = got ? strlen(got) : 0, el = strlen(tc->want_end);
        tap_ok(got != NULL, "description: %s: sent", tc->name);
        tap_is_int(got ? utf8_chars(got) : 0, tc->want_chars, tc->name);
        tap_ok(got && gl >= el && memcmp(got + gl - el, tc->want_end, el) == 0, "description: %s: ending",
               tc->name);
        free(got);
        free(in);
    }
}

static void test_names(void)
{
    static const struct {
        const char *name;
        enum ws_status_state state;
        const char *github, *gitlab;
    } cases[] = {
        {"pending", WS_STATUS_PENDING, "pending", "pending"},
        {"running", WS_STATUS_RUNNING, "pending", "running"},
        {"success", WS_STATUS_SUCCESS, "success", "success"},
        {"failure", WS_STATUS_FAILURE, "failure", "failed"},
        {"error", WS_STATUS_ERROR, "error", "failed"},
        {"canceled", WS_STATUS_CANCELED, "error", "canceled"},
    };
    enum ws_status_state s;
    enum ws_status_provider p;
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        tap_ok(ws_status_state_parse(&s, cases[i].name) == 0 && s == cases[i].state, "state parse %s",
               cases[i].name);
        tap_is_str(ws_status_state_str(cases[i].state), cases[i].name, "state name");
        tap_is_str(ws_status_state_wire(WS_STATUS_GITHUB, cases[i].state), cases[i].github, "github wire");
        tap_is_str(ws_status_state_wire(WS_STATUS_GITLAB, cases[i].state), cases[i].gitlab, "gitlab wire");
    }
    tap_is_int(ws_status_state_parse(&s, "failed"), WS_EINVAL, "state parse: GitLab's word is not ours");
    tap_ok(ws_status_provider_parse(&p, "gitlab") == 0 && p == WS_STATUS_GITLAB, "provider parse gitlab");
    tap_is_int(ws_status_provider_parse(&p, "gitea"), WS_EINVAL, "provider parse: unknown");
}

/* ---- the scripted API server ------------------------------------------------- */

struct req {
    char method[16], target[1024];
    char *headers, *body;
    char context[64];
    int answered;
    int overlapped; /* an earlier request of its context was still open */
    int concurrent; /* requests open (any context) when it arrived */
};

#define MAX_REQS 64
static struct req reqs[MAX_REQS];
static int nreqs;
static int port;

/* The current test's answer to request number idx: a malloc'd raw response,
 * or NULL to never answer. *delay_ms holds it back. */
typedef char *(*handler_fn)(const struct req *r, int idx, uint64_t *delay_ms);
static handler_fn handler;

/* Record a request (its context, whether an earlier one of the same context
 * or any other was still open) and ask the current test's handler. */
static char *dispatch(const struct loopsrv_req *lr, uint64_t *delay_ms)
{
    struct req *r;
    json_t *doc;
    int idx;
    if (nreqs == MAX_REQS)
        return NULL;
    idx = nreqs++;
    r = &reqs[idx];
    snprintf(r->method, sizeof(r->method), "%s", lr->method);
    snprintf(r->target, sizeof(r->target), "%s", lr->target);
    r->headers = strdup(lr->headers);
    r->body = strdup(lr->body);
    if ((doc = json_loads(r->body, 0, NULL))) {
        const char *ctx = json_string_value(json_object_get(doc, "context"));
        if (!ctx)
            ctx = json_string_value(json_object_get(doc, "name"));
        snprintf(r->context, sizeof(r->context), "%s", ctx ? ctx : "");
        json_decref(doc);
    }
    for (int i = 0; i < idx; i++) {
        if (!reqs[i].answered) {
            r->concurrent++;
            if (strcmp(reqs[i].context, r->context) == 0)
                r->overlapped = 1;
        }
    }
    return handler(r, idx, delay_ms);
}

static void answered(int idx)
{
    if (idx < nreqs)
        reqs[idx].answered = 1;
}

static void reset_server(handler_fn h)
{
    for (int i = 0; i < nreqs; i++) {
        free(reqs[i].headers);
        free(reqs[i].body);
    }
    memset(reqs, 0, sizeof(reqs));
    nreqs = 0;
    handler = h;
    loopsrv_reset(dispatch, answered);
}

/* ---- client helpers ------------------------------------------------------------ */

struct result {
    int done, code, http_status, seq;
    char msg[1024];
};
static int done_seq;

static void on_status(int code, const struct ws_err *err, void *data)
{
    struct result *r = data;
    r->done++;
    r->code = code;
    r->http_status = err ? err->http_status : -1;
    r->seq = ++done_seq;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "(no err)");
}

static void on_tick(uv_timer_t *t)
{
    (void)t; /* only wakes uv_run up */
}

/* Run the loop until *flag >= want or ms pass. */
static void run_until(const int *flag, int want, uint64_t ms)
{
    uv_timer_t tick;
    uint64_t deadline = ws_now_ms() + ms;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    while ((!flag || *flag < want) && ws_now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static char api_github[64], api_gitlab[64];

static struct ws_status_client *client(const struct ws_status_opts *opts)
{
    struct ws_status_client *c = NULL;
    if (ws_status_client_new(&c, loop) < 0 || ws_status_client_set_opts(c, opts) < 0) {
        tap_ok(0, "client created");
        exit(1);
    }
    return c;
}

static void close_client(struct ws_status_client *c)
{
    ws_status_client_close(c);
    run_until(NULL, 0, 30); /* let the transport's handles close */
}

static struct ws_status_target gh(const char *context, enum ws_status_state state)
{
    struct ws_status_target t = {WS_STATUS_GITHUB, api_github, "tok-gh-0123456789", "octo/web", SHA,
                                 context, state, "Sync started", NULL};
    return t;
}

/* ---- scripts ----------------------------------------------------------------- */

static char *h_created(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)idx, (void)delay;
    return loopsrv_response(201, NULL, "{\"id\":1}");
}

static char *h_500_then_201(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)delay;
    return idx == 0 ? loopsrv_response(500, NULL, "{\"message\":\"Server Error\"}") : loopsrv_response(201, NULL, "{}");
}

static char *h_429_then_201(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)delay;
    return idx == 0 ? loopsrv_response(429, "Retry-After: 0\r\n", "{\"message\":\"slow down\"}")
                    : loopsrv_response(201, NULL, "{}");
}

static char *h_401(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)idx, (void)delay;
    /* a careless server echoing the credential back */
    return loopsrv_response(401, NULL, "{\"message\":\"Bad credentials (tok-gh-0123456789)\"}");
}

static char *h_401_cut(const struct req *r, int idx, uint64_t *delay)
{
    char body[400];
    (void)r, (void)idx, (void)delay;
    /* the echoed token straddles where the client cuts the server's words */
    snprintf(body, sizeof(body), "{\"message\":\"%0290d tok-gh-0123456789\"}", 0);
    return loopsrv_response(401, NULL, body);
}

static char *h_503(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)idx, (void)delay;
    return loopsrv_response(503, NULL, "{\"message\":\"unavailable\"}");
}

static char *h_404(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)idx, (void)delay;
    return loopsrv_response(404, NULL, "{\"message\":\"Not Found\"}");
}

static char *h_slow_first(const struct req *r, int idx, uint64_t *delay)
{
    (void)r;
    if (idx == 0)
        *delay = 150;
    return loopsrv_response(201, NULL, "{}");
}

static char *h_never(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)idx, (void)delay;
    return NULL;
}

static char *h_gitlab_transition(const struct req *r, int idx, uint64_t *delay)
{
    (void)r, (void)delay;
    return loopsrv_response(400, NULL,
                    idx == 0 ? "{\"message\":\"Cannot transition status via :run from :running "
                               "(Reason(s): Status cannot transition via \\\"run\\\")\"}"
                             : "{\"message\":\"Cannot transition status via :run from :success "
                               "(Reason(s): Status cannot transition via \\\"run\\\")\"}");
}

/* ---- client tests ---------------------------------------------------------------- */

static void test_github_request(void)
{
    struct ws_status_client *c = client(NULL);
    struct ws_status_target t = gh("ci/wavesync", WS_STATUS_RUNNING);
    struct result res = {0};
    struct ws_status_stats st;
    char v[256];
    json_t *doc;
    reset_server(h_created);
    t.target_url = "https://ws.example/runs/1";
    tap_is_int(ws_status_post(c, &t, on_status, &res), 0, "github: post accepted");
    tap_is_int(res.done, 0, "github: done not called from inside post");
    run_until(&res.done, 1, 5000);
    tap_ok(res.done == 1 && res.code == 0, "github: done once with 0 (got %d, %s)", res.code, res.msg);
    tap_is_int(nreqs, 1, "github: one request");
    tap_is_str(reqs[0].method, "POST", "github: method");
    tap_is_str(reqs[0].target, "/repos/octo/web/statuses/" SHA, "github: path");
    tap_is_str(loopsrv_header(reqs[0].headers, "Authorization", v, sizeof(v)), "Bearer tok-gh-0123456789",
               "github: Authorization: Bearer");
    tap_is_str(loopsrv_header(reqs[0].headers, "Accept", v, sizeof(v)), "application/vnd.github+json",
               "github: Accept");
    tap_is_str(loopsrv_header(reqs[0].headers, "X-GitHub-Api-Version", v, sizeof(v)), "2022-11-28",
               "github: API version");
    tap_is_str(loopsrv_header(reqs[0].headers, "Content-Type", v, sizeof(v)), "application/json",
               "github: Content-Type");
    tap_ok(loopsrv_header(reqs[0].headers, "User-Agent", v, sizeof(v)) && strncmp(v, "wavesync", 8) == 0,
           "github: User-Agent wavesync");
    tap_ok(loopsrv_header(reqs[0].headers, "PRIVATE-TOKEN", v, sizeof(v)) == NULL, "github: no GitLab header");
    doc = json_loads(reqs[0].body, 0, NULL);
    tap_ok(doc != NULL, "github: body is JSON");
    tap_is_str(json_string_value(json_object_get(doc, "state")), "pending", "github: running sent as pending");
    tap_is_str(json_string_value(json_object_get(doc, "context")), "ci/wavesync", "github: context");
    tap_is_str(json_string_value(json_object_get(doc, "description")), "Sync started", "github: description");
    tap_is_str(json_string_value(json_object_get(doc, "target_url")), "https://ws.example/runs/1",
               "github: target_url");
    json_decref(doc);
    ws_status_client_stats(c, &st);
    tap_ok(st.posted == 1 && st.failed == 0 && st.retries == 0, "github: stats posted 1");
    tap_is_int(ws_status_client_pending(c), 0, "github: nothing pending");
    close_client(c);
}

static void test_gitlab_states(void)
{
    static const struct {
        enum ws_status_state state;
        const char *wire;
    } seq[] = {
        {WS_STATUS_PENDING, "pending"}, {WS_STATUS_RUNNING, "running"}, {WS_STATUS_SUCCESS, "success"},
        {WS_STATUS_FAILURE, "failed"},  {WS_STATUS_ERROR, "failed"},    {WS_STATUS_CANCELED, "canceled"},
    };
    struct ws_status_client *c = client(NULL);
    struct result res[WS_ARRAY_SIZE(seq)];
    int all = 0;
    char v[256];
    memset(res, 0, sizeof(res));
    reset_server(h_created);
    for (size_t i = 0; i < WS_ARRAY_SIZE(seq); i++) {
        struct ws_status_target t = {WS_STATUS_GITLAB, api_gitlab, "glpat-secret", "group/project", SHA,
                                     "wavesync/prod", seq[i].state, "d", NULL};
        ws_status_post(c, &t, on_status, &res[i]);
    }
    for (uint64_t deadline = ws_now_ms() + 5000; ws_now_ms() < deadline && !res[WS_ARRAY_SIZE(seq) - 1].done;)
        run_until(&res[WS_ARRAY_SIZE(seq) - 1].done, 1, 5000);
    tap_is_int(nreqs, (int)WS_ARRAY_SIZE(seq), "gitlab: one request per post");
    for (size_t i = 0; i < WS_ARRAY_SIZE(seq) && (int)i < nreqs; i++) {
        json_t *doc = json_loads(reqs[i].body, 0, NULL);
        tap_is_str(json_string_value(json_object_get(doc, "state")), seq[i].wire, "gitlab: state in order");
        json_decref(doc);
        all += res[i].done == 1 && res[i].code == 0;
    }
    tap_is_int(all, (int)WS_ARRAY_SIZE(seq), "gitlab: every post done with 0");
    if (nreqs > 0) {
        json_t *doc = json_loads(reqs[0].body, 0, NULL);
        tap_is_str(reqs[0].target, "/api/v4/projects/group%2Fproject/statuses/" SHA,
                   "gitlab: project path URL-escaped");
        tap_is_str(loopsrv_header(reqs[0].headers, "PRIVATE-TOKEN", v, sizeof(v)), "glpat-secret",
                   "gitlab: PRIVATE-TOKEN");
        tap_ok(loopsrv_header(reqs[0].headers, "Authorization", v, sizeof(v)) == NULL, "gitlab: no Authorization");
        tap_is_str(json_string_value(json_object_get(doc, "name")), "wavesync/prod", "gitlab: name is the context");
        json_decref(doc);
    }
    close_client(c);
}

static void test_retries(void)
{
    struct ws_status_opts fast = {.retry_base_ms = 20};
    struct ws_status_client *c = client(&fast);
    struct ws_status_target t = gh("ci/retry", WS_STATUS_SUCCESS);
    struct result res = {0};
    struct ws_status_stats st;

    reset_server(h_500_then_201);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_ok(res.code == 0, "500 then 201: succeeds (%s)", res.msg);
    tap_is_int(nreqs, 2, "500 then 201: two requests");
    ws_status_client_stats(c, &st);
    tap_ok(st.retries == 1 && st.posted == 1 && st.failed == 0, "500 then 201: one retry counted");

    memset(&res, 0, sizeof(res));
    reset_server(h_429_then_201);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_ok(res.code == 0 && nreqs == 2, "429 then 201: retried and succeeds");
    close_client(c);

    /* 503 forever: gives up after max_retries, naming the status */
    c = client(&(struct ws_status_opts){.retry_base_ms = 10, .max_retries = 2});
    memset(&res, 0, sizeof(res));
    reset_server(h_503);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_is_int(res.code, WS_EHTTP, "503 forever: WS_EHTTP");
    tap_is_int(nreqs, 3, "503 forever: 1 + 2 retries");
    tap_contains(res.msg, "HTTP 503", "503 forever: message names the status");
    tap_contains(res.msg, "gave up", "503 forever: message says it gave up");
    tap_is_int(res.http_status, 503, "503 forever: http_status");
    close_client(c);
}

static void test_errors(void)
{
    struct ws_status_client *c = client(&(struct ws_status_opts){.retry_base_ms = 10});
    struct ws_status_target t = gh("ci/err", WS_STATUS_SUCCESS);
    struct result res = {0};
    struct ws_status_stats st;
    int dummy = 0;

    reset_server(h_401);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    run_until(&dummy, 1, 60); /* a retry would have arrived by now */
    tap_is_int(res.code, WS_EAUTH, "401: WS_EAUTH");
    tap_is_int(nreqs, 1, "401: not retried");
    tap_is_int(res.http_status, 401, "401: http_status");
    tap_contains(res.msg, "HTTP 401", "401: message names the status");
    tap_contains(res.msg, "octo/web", "401: message names the repository");
    tap_contains(res.msg, "Bad credentials", "401: message has the server's words");
    tap_ok(strstr(res.msg, "tok-gh-0123456789") == NULL, "401: message never has the token (%s)", res.msg);
    ws_status_client_stats(c, &st);
    tap_ok(st.failed == 1 && st.posted == 0, "401: counted as failed");
    tap_contains(res.msg, "[redacted]", "401: the echoed token is masked");

    memset(&res, 0, sizeof(res));
    reset_server(h_401_cut);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_ok(res.code == WS_EAUTH && strstr(res.msg, "tok-gh-01") == NULL && strstr(res.msg, "[redacted]"),
           "401: a token cut short in the message is masked too");

    memset(&res, 0, sizeof(res));
    reset_server(h_404);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_is_int(res.code, WS_ENOTFOUND, "404: WS_ENOTFOUND");

    /* GitLab's "already in that state" is done; another refused transition is not */
    {
        struct ws_status_target g = {WS_STATUS_GITLAB, api_gitlab, "glpat-x", "7", SHA, "c",
                                     WS_STATUS_RUNNING, NULL, NULL};
        struct result r2 = {0};
        memset(&res, 0, sizeof(res));
        reset_server(h_gitlab_transition);
        ws_status_post(c, &g, on_status, &res);
        ws_status_post(c, &g, on_status, &r2);
        run_until(&r2.done, 1, 5000);
        tap_is_int(res.code, 0, "gitlab 400 running from running: done");
        tap_is_int(r2.code, WS_EINVAL, "gitlab 400 running from success: WS_EINVAL");
        tap_contains(r2.msg, "HTTP 400", "gitlab 400: message names the status");
    }

    /* a refused target is reported through done, later, and never sent */
    memset(&res, 0, sizeof(res));
    reset_server(h_created);
    t.sha = "not-a-sha";
    tap_is_int(ws_status_post(c, &t, on_status, &res), 0, "bad sha: accepted for reporting");
    tap_is_int(res.done, 0, "bad sha: done not called from inside post");
    run_until(&res.done, 1, 5000);
    tap_is_int(res.code, WS_EINVAL, "bad sha: done gets WS_EINVAL");
    tap_contains(res.msg, "not a commit sha", "bad sha: says why");
    tap_is_int(nreqs, 0, "bad sha: nothing sent");
    ws_status_client_stats(c, &st);
    tap_is_int(st.failed, 5, "failed counts two 401s, 404, the refused GitLab transition and the bad sha");
    close_client(c);
}

static void test_timeout_and_refused(void)
{
    struct ws_status_client *c = client(&(struct ws_status_opts){.timeout_ms = 200, .max_retries = -1});
    struct ws_status_target t = gh("ci/timeout", WS_STATUS_SUCCESS);
    struct result res = {0};
    uint64_t t0 = ws_now_ms();
    struct ws_status_stats st;
    char api[64];
    uv_tcp_t probe;
    struct sockaddr_in addr;
    struct sockaddr_storage got;
    int len = sizeof(got);

    reset_server(h_never);
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_is_int(res.code, WS_ETIMEOUT, "no answer: WS_ETIMEOUT");
    tap_ok(ws_now_ms() - t0 < 2000, "no answer: within the timeout (%llu ms)",
           (unsigned long long)(ws_now_ms() - t0));
    close_client(c);

    /* a port nobody listens on: connection refused, retried, WS_ENET */
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &probe);
    uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0);
    uv_tcp_getsockname(&probe, (struct sockaddr *)&got, &len);
    snprintf(api, sizeof(api), "http://127.0.0.1:%d", ntohs(((struct sockaddr_in *)&got)->sin_port));
    uv_close((uv_handle_t *)&probe, NULL);
    run_until(NULL, 0, 5);
    c = client(&(struct ws_status_opts){.retry_base_ms = 10, .max_retries = 1});
    memset(&res, 0, sizeof(res));
    t.api_url = api;
    ws_status_post(c, &t, on_status, &res);
    run_until(&res.done, 1, 5000);
    tap_is_int(res.code, WS_ENET, "refused: WS_ENET");
    tap_contains(res.msg, "cannot reach", "refused: message says so");
    ws_status_client_stats(c, &st);
    tap_is_int(st.retries, 1, "refused: retried once");
    close_client(c);
}

static void test_order(void)
{
    struct ws_status_client *c = client(NULL);
    struct ws_status_target a1 = gh("ci/a", WS_STATUS_PENDING), a2 = gh("ci/a", WS_STATUS_SUCCESS);
    struct ws_status_target b1 = gh("ci/b", WS_STATUS_PENDING);
    struct result ra1 = {0}, ra2 = {0}, rb1 = {0};
    int ia1 = -1, ia2 = -1, ib1 = -1;
    reset_server(h_slow_first); /* the first pending is answered after 150 ms */
    ws_status_post(c, &a1, on_status, &ra1);
    ws_status_post(c, &a2, on_status, &ra2);
    ws_status_post(c, &b1, on_status, &rb1);
    tap_is_int(ws_status_client_pending(c), 3, "order: three pending");
    run_until(&ra2.done, 1, 5000);
    run_until(&rb1.done, 1, 5000);
    for (int i = 0; i < nreqs; i++) {
        json_t *doc = json_loads(reqs[i].body, 0, NULL);
        const char *st = json_string_value(json_object_get(doc, "state"));
        if (strcmp(reqs[i].context, "ci/a") == 0 && st && strcmp(st, "pending") == 0)
            ia1 = i;
        else if (strcmp(reqs[i].context, "ci/a") == 0)
            ia2 = i;
        else
            ib1 = i;
        json_decref(doc);
    }
    tap_ok(ia1 >= 0 && ia2 >= 0 && ib1 >= 0, "order: all three sent");
    tap_ok(ia1 >= 0 && ia1 < ia2, "order: pending reaches the server before success");
    tap_ok(ia2 >= 0 && !reqs[ia2].overlapped, "order: success sent only after pending was answered");
    tap_ok(ib1 >= 0 && reqs[ib1].concurrent >= 1, "order: another context is not held up");
    tap_ok(ra1.seq && ra1.seq < ra2.seq, "order: done callbacks in post order");
    tap_ok(ra1.code == 0 && ra2.code == 0 && rb1.code == 0, "order: all succeed");
    close_client(c);
}

static struct ws_status_client *closing_client;

static void close_from_done(int code, const struct ws_err *err, void *data)
{
    on_status(code, err, data);
    ws_status_client_close(closing_client);
}

static void test_close(void)
{
    struct ws_status_client *c = client(NULL);
    struct ws_status_target a1 = gh("ci/a", WS_STATUS_PENDING), a2 = gh("ci/a", WS_STATUS_SUCCESS);
    struct ws_status_target b1 = gh("ci/b", WS_STATUS_PENDING);
    struct result ra1 = {0}, ra2 = {0}, rb1 = {0};

    reset_server(h_never);
    ws_status_post(c, &a1, on_status, &ra1);
    ws_status_post(c, &a2, on_status, &ra2);
    ws_status_post(c, &b1, on_status, &rb1);
    run_until(&nreqs, 2, 5000); /* both lane heads on the wire */
    tap_is_int(nreqs, 2, "close: two requests on the wire, one queued");
    ws_status_client_close(c);
    tap_ok(ra1.done == 1 && ra2.done == 1 && rb1.done == 1, "close: every done called before close returns");
    tap_ok(ra1.code == WS_ECANCELED && ra2.code == WS_ECANCELED && rb1.code == WS_ECANCELED,
           "close: WS_ECANCELED");
    tap_ok(ra1.seq < ra2.seq, "close: lane order kept");
    tap_contains(ra1.msg, "octo/web", "close: message names the commit");
    run_until(NULL, 0, 30);

    /* closed from inside a done callback while another lane waits */
    closing_client = c = client(NULL);
    memset(&ra1, 0, sizeof(ra1));
    memset(&rb1, 0, sizeof(rb1));
    reset_server(h_created);
    ws_status_post(c, &a1, close_from_done, &ra1);
    run_until(&ra1.done, 1, 5000);
    tap_ok(ra1.done == 1 && ra1.code == 0, "close in callback: the callback's post succeeded");
    tap_is_int(ws_status_post(c = client(NULL), &b1, NULL, NULL), 0, "a new client after that works");
    ws_status_client_close(c);
    run_until(NULL, 0, 30);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(void)
{
    uv_loop_t l;
    int rc;
    uv_loop_init(&l);
    loop = &l;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    port = loopsrv_start(loop);
    snprintf(api_github, sizeof(api_github), "http://127.0.0.1:%d", port);
    snprintf(api_gitlab, sizeof(api_gitlab), "http://127.0.0.1:%d/api/v4/", port);

    test_format();
    test_truncate();
    test_names();
    test_github_request();
    test_gitlab_states();
    test_retries();
    test_errors();
    test_timeout_and_refused();
    test_order();
    test_close();

    reset_server(NULL);
    loopsrv_stop();
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(loop);
    tap_is_int(rc, 0, "loop closes: no handle left");
    curl_global_cleanup();
    return tap_done();
}
