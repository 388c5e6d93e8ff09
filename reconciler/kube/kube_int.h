/* kube_int.h — internals shared by kube.c and kube_watch.c (not an API). */
#ifndef WS_KUBE_INT_H
#define WS_KUBE_INT_H

#include "kube/kube.h"
#include "base/proc.h"
#include "base/util.h"

struct ws__req_list {
    struct ws_kube_req *head, *tail;
};

/* Returns 1 to keep reading, 0 to abort the stream. */
typedef int (*ws__stream_cb)(struct ws_kube_req *r, const char *chunk, size_t len, void *data);

struct ws_kube_req {
    struct ws_kube *kube;
    struct ws__req_list *list; /* the list it is on: pending, active, waiting, resolving, failing */
    struct ws_kube_req *prev, *next;
    char what[600];            /* "apply apps/v1 Deployment ml/trainer", for errors */
    char *method, *path, *query, *body;
    size_t body_len;
    char content_type[64];
    /* kind requests: resolved through discovery before they are sent */
    char *api_version, *kind, *ns, *name, *sub;
    struct ws_resource resource;
    int resolved, resolve_only, refetched, all_namespaces;
    uint64_t created_ms;
    /* wire state */
    CURL *easy;
    struct curl_slist *hdrs;
    struct ws_buf resp;
    char errbuf[CURL_ERROR_SIZE];
    long status;
    int attempt, auth_retried, no_retry, too_large, canceled, in_callback;
    int throttled;             /* 429 responses so far */
    uv_timer_t *backoff;
    ws__stream_cb stream_cb; /* set for watches: 200 bodies go here, not to resp */
    /* the outcome, kept until it is delivered from the loop (never from
     * inside the call that started the request) */
    int done_code;
    struct ws_err done_err;
    json_t *done_body;
    ws_kube_cb cb;
    void *data;
};

enum ws__cred_state { WS__CRED_READY, WS__CRED_STALE, WS__CRED_REFRESHING };

struct ws_kube {
    uv_loop_t *loop;
    struct ws_http *http;
    struct ws_kubeconfig cfg;
    struct ws_kube_opts opts;
    char *name;               /* opts.name, owned; "" when none */
    char where[600];          /* "cluster \"gpu-east\" (https://…)" or the server URL, for messages */
    struct ws_discovery *disc;
    json_t *disc_inflight; /* set of group versions being fetched */
    struct ws__req_list pending, active, waiting, resolving, failing, completed;
    uv_timer_t *deliver_timer; /* delivers `completed` on the next loop iteration */
    size_t active_count;
    size_t inflight_limit;  /* max_inflight, halved on each 429 and grown back by one per
                               success (additive increase, multiplicative decrease) */
    int pumping;
    /* credentials */
    enum ws__cred_state cred_state;
    uint64_t cred_expires_ms; /* monotonic; 0 = no expiry */
    char *auth_header;        /* "Authorization: Bearer …"; never logged */
    struct ws_exec_cred exec_cred;
    void *cred_job;
    unsigned exec_runs;
    struct ws_kube_watch *watches;
    struct ws_kube_stats stats;
};

void ws__req_list_push(struct ws__req_list *l, struct ws_kube_req *r);
void ws__req_list_remove(struct ws_kube_req *r);
struct ws_kube_req *ws__req_new(struct ws_kube *k, const char *method, const char *what,
                                ws_kube_cb cb, void *data);
void ws__req_submit(struct ws_kube_req *r);
/* A request for a kind (resolved through discovery). When the arguments are
 * bad (or memory runs out) *failed is set and the returned request (if not
 * NULL) already carries its error, delivered later: return it as is, do not
 * touch or start it. Otherwise start it with ws__kind_req_start. */
struct ws_kube_req *ws__kind_req(struct ws_kube *k, const char *method, const char *verb,
                                 const struct ws_kube_ref *ref, ws_kube_cb cb, void *data, int *failed);
void ws__kind_req_start(struct ws_kube_req *r);
void ws__watch_stop_all(struct ws_kube *k);
/* How many times the exec plugin ran (tests check the token cache). */
unsigned ws__kube_exec_runs(const struct ws_kube *k);

#endif
