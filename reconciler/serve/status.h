/* status.h — commit statuses on GitHub ("Create a commit status") and GitLab
 * ("Set the pipeline status of a commit"), posted when a sync run starts and
 * ends, through libcurl multi on the libuv loop (kube_http.h).
 *
 * Order: posts for the same (provider, API, repository, sha, context) form a
 * FIFO lane; only a lane's head is ever on the wire, so a "success" never
 * overtakes its "pending" (nor its retries). Different lanes run
 * concurrently, up to opts.max_inflight requests at once.
 *
 * Secrets: the token is copied into the post, sent only in its header
 * (Authorization: Bearer for GitHub, PRIVATE-TOKEN for GitLab), never logged,
 * scrubbed from any error message (even when a server echoes it back), and
 * wiped from memory when the post is freed. TLS is always verified; plain
 * http:// is accepted only for a loopback API (tests, local proxies). */
#ifndef WS_STATUS_H
#define WS_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"

/* id, config name, default API base URL */
#define WS_STATUS_PROVIDERS(X)                                  \
    X(WS_STATUS_GITHUB, "github", "https://api.github.com")     \
    X(WS_STATUS_GITLAB, "gitlab", "https://gitlab.com/api/v4")

enum ws_status_provider {
#define WS_X(id, name, api) id,
    WS_STATUS_PROVIDERS(WS_X)
#undef WS_X
};

/* Our states: id, our name, GitHub state, GitLab state. GitHub has no
 * "running" (a queued and a running sync are both "pending") and no
 * "canceled" (a superseded run is an "error"); GitLab has no "error" (it is
 * "failed"). */
#define WS_STATUS_STATES(X)                                          \
    X(WS_STATUS_PENDING, "pending", "pending", "pending")            \
    X(WS_STATUS_RUNNING, "running", "pending", "running")            \
    X(WS_STATUS_SUCCESS, "success", "success", "success")            \
    X(WS_STATUS_FAILURE, "failure", "failure", "failed")             \
    X(WS_STATUS_ERROR, "error", "error", "failed")                   \
    X(WS_STATUS_CANCELED, "canceled", "error", "canceled")

enum ws_status_state {
#define WS_X(id, name, github, gitlab) id,
    WS_STATUS_STATES(WS_X)
#undef WS_X
};

/* Names ("github", "running"); never NULL ("?" when out of range). */
const char *ws_status_provider_str(enum ws_status_provider p);
const char *ws_status_state_str(enum ws_status_state s);
/* The state name the provider's API expects ("failed" for GitLab failure). */
const char *ws_status_state_wire(enum ws_status_provider p, enum ws_status_state s);
/* Parse a name; 0 or WS_EINVAL. */
int ws_status_provider_parse(enum ws_status_provider *out, const char *s);
int ws_status_state_parse(enum ws_status_state *out, const char *s);

/* One status to post. All strings are borrowed for the call only:
 * ws_status_post copies what it needs. */
struct ws_status_target {
    enum ws_status_provider provider;
    const char *api_url;     /* NULL or "" = the provider's default; https://,
                                or http:// to a loopback host only */
    const char *token;       /* required; printable ASCII, no spaces */
    const char *repo;        /* GitHub "owner/repo"; GitLab numeric project id
                                or "group/sub/project" (URL-escaped for you) */
    const char *sha;         /* 7–64 hex digits */
    const char *context;     /* GitHub context / GitLab name; NULL = "wavesync" */
    enum ws_status_state state;
    const char *description; /* optional; invalid UTF-8 becomes '?', cut to 140
                                characters (on a character boundary, ending
                                with "…") */
    const char *target_url;  /* optional link shown next to the status */
};

/* Pure: validate t and build the request URL and JSON body the post will
 * send. On success *out_url and *out_body are malloc'd (caller frees both
 * with free()); on failure both are NULL and err says what is wrong
 * (WS_EINVAL, WS_ENOMEM). No I/O; never mentions the token. */
int ws_status_format(char **out_url, char **out_body, const struct ws_status_target *t,
                     struct ws_err *err);

struct ws_status_opts {
    uint64_t timeout_ms;    /* whole request, per attempt (connect included);
                               0 = 10000 */
    int max_retries;        /* after the first attempt; 0 = 3, negative = none */
    uint64_t retry_base_ms; /* first backoff, doubled per retry up to 8 s,
                               ±25% jitter; 0 = 500. A Retry-After (≤ 60 s)
                               from the server wins. */
    size_t max_inflight;    /* requests on the wire at once; 0 = 8 */
    const char *ca_file;    /* extra CA bundle (GitHub Enterprise, self-hosted
                               GitLab); NULL = the system store. Copied. */
};

struct ws_status_stats {
    uint64_t posted;   /* answered 2xx (or already in that state, GitLab) */
    uint64_t failed;   /* gave up: HTTP error, network, timeout, bad answer */
    uint64_t retries;  /* attempts repeated after 5xx/429/connection errors */
    uint64_t canceled; /* dropped by ws_status_client_close */
};

struct ws_status_client;

/* Called once per accepted post, on the loop thread, never from inside
 * ws_status_post. code is 0 or a WS_E* code: WS_EINVAL (a target
 * ws_status_format refuses — nothing was sent — or HTTP 400/422, e.g. a
 * field the server refuses), WS_EAUTH (401/403), WS_ENOTFOUND (404: no such
 * repository, or the token cannot see it), WS_EHTTP (other statuses, or
 * 5xx/429 after the last retry), WS_ENET, WS_ETIMEOUT, WS_ENOMEM,
 * WS_ECANCELED (client closed). err is never NULL; on failure err->msg names
 * the commit and context, and the HTTP status when there was one
 * (err->http_status), and never contains the token. err is borrowed for the
 * call. */
typedef void (*ws_status_done_cb)(int code, const struct ws_err *err, void *data);

/* A client with its own curl transport on `loop`, default options. Caller
 * releases it with ws_status_client_close. Returns 0 or WS_ENOMEM. */
int ws_status_client_new(struct ws_status_client **out, uv_loop_t *loop);

/* Replace the options (copied; 0 fields get their defaults). Applies to
 * attempts started afterwards. Returns 0 or WS_ENOMEM (options unchanged). */
int ws_status_client_set_opts(struct ws_status_client *c, const struct ws_status_opts *opts);

/* Copy t and queue it behind earlier posts of its lane; done (may be NULL)
 * gets the outcome, including a refused target (WS_EINVAL, with the reason).
 * Returns 0, or WS_ENOMEM / WS_ECANCELED (client closing) — done is then
 * never called. */
int ws_status_post(struct ws_status_client *c, const struct ws_status_target *t,
                   ws_status_done_cb done, void *data);

/* Posts not yet answered (queued, on the wire, waiting to retry, or
 * answered but not yet delivered). */
size_t ws_status_client_pending(const struct ws_status_client *c);

/* Counters since ws_status_client_new. */
void ws_status_client_stats(const struct ws_status_client *c, struct ws_status_stats *out);

/* Abort everything: transfers are dropped, and every post not yet
 * delivered gets its done callback now — results that had already arrived
 * keep their code, the rest get WS_ECANCELED — in lane order, before this
 * returns. Then c is freed; its loop handles close as the loop runs on (run
 * the loop until it returns before uv_loop_close). Safe with NULL, and from
 * inside a done callback (c is then freed when that callback returns; do
 * not use c afterwards either way). */
void ws_status_client_close(struct ws_status_client *c);

#endif
