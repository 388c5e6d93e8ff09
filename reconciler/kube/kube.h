/* kube.h — Kubernetes API client for one cluster, asynchronous on the libuv
 * loop: authentication (certificates, bearer tokens, token files, exec
 * plugins), bounded in-flight requests, retries with backoff, discovery,
 * server-side apply, get, delete, list, /status patches and watches.
 *
 * Every callback runs on the loop thread. Every error carries the HTTP
 * status, the Kubernetes Status reason and message, and the object's
 * identity ("apps/v1 Deployment ml/trainer"). */
#ifndef WS_KUBE_H
#define WS_KUBE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "kube/discovery.h"
#include "base/error.h"
#include "kube/kube_http.h"
#include "config/kubeconfig.h"

struct ws_kube;
struct ws_kube_req;

struct ws_kube_opts {
    size_t max_inflight;     /* requests on the wire per cluster; 0 = 64 */
    uint64_t timeout_ms;     /* per request (not watches); 0 = 30 s */
    uint64_t connect_timeout_ms; /* 0 = 10 s */
    int max_retries;         /* on 5xx and connection errors; -1 = none (429s too), 0 = 4 */
    uint64_t throttle_max_ms; /* 429 Too Many Requests is back-pressure (API Priority and
                                 Fairness), not failure: retried, honouring Retry-After,
                                 for this long after the request was made; 0 = 10 min
                                 (a sync's wave deadline usually ends it first) */
    uint64_t retry_base_ms;  /* first backoff; doubles, with jitter; 0 = 200 ms */
    uint64_t retry_max_ms;   /* backoff cap (Retry-After may exceed it up to 60 s); 0 = 5 s */
    const char *user_agent;  /* 0 = "wavesync/VERSION" */
    const char *name;        /* the cluster's name in wavesync.yaml, for messages (copied); NULL = none */
};

/* Counters for /metrics and benchmarks. */
#define WS_KUBE_STAT_CODES 48
struct ws_kube_stats {
    uint64_t requests;  /* attempts sent */
    uint64_t retries;
    uint64_t throttled; /* 429 Too Many Requests answers (each retried) */
    uint64_t by_class[6]; /* responses by status class: [0]=no response, [2]=2xx … [5]=5xx */
    uint64_t http2;       /* responses that came over HTTP/2 */
    uint64_t connections; /* new connections opened (the rest reused one) */
    /* responses by HTTP method and status code (0 = no response), first
       WS_KUBE_STAT_CODES distinct pairs; later pairs count in `other` */
    struct { char method[8]; int code; uint64_t n; } by_code[WS_KUBE_STAT_CODES];
    size_t nby_code;
    uint64_t other;
};

/* Create a client. Takes ownership of *cfg's contents (cfg is zeroed).
 * `http` is shared by every client on the loop and must outlive them. */
int ws_kube_new(struct ws_kube **out, uv_loop_t *loop, struct ws_http *http,
                struct ws_kubeconfig *cfg, const struct ws_kube_opts *opts, struct ws_err *err);

/* Cancel every request and watch (no further callbacks) and free the
 * client. Loop handles close asynchronously: run the loop afterwards. Never
 * call it from one of this client's own callbacks. */
void ws_kube_free(struct ws_kube *k);

/* Requests not yet delivered (queued, on the wire, backing off, resolving,
 * or waiting for delivery); watches not counted. Lets a one-shot caller
 * drain best-effort requests (hook clean-up) before freeing the client. */
size_t ws_kube_outstanding(const struct ws_kube *k);

const struct ws_kubeconfig *ws_kube_config(const struct ws_kube *k);
uv_loop_t *ws_kube_loop(const struct ws_kube *k);
const struct ws_kube_stats *ws_kube_stats(const struct ws_kube *k);

/* The result handed to every callback. `body` is the decoded JSON response
 * (borrowed: json_incref to keep it past the callback), or NULL — on an HTTP
 * error it is the server's Status, when there was one. On failure `code` < 0
 * and `err` says what failed. */
struct ws_kube_result {
    int code;
    long status;
    json_t *body;
    const struct ws_err *err;
    const struct ws_resource *resource; /* the resolved kind, when there was one */
};

typedef void (*ws_kube_cb)(const struct ws_kube_result *res, void *data);

/* An object reference. Strings are copied by the call. */
struct ws_kube_ref {
    const char *api_version;
    const char *kind;
    const char *namespace_; /* NULL/"" = the client's default for namespaced kinds */
    const char *name;
};

/* The reference of an object (strings borrowed from obj). */
struct ws_kube_ref ws_kube_ref_of(const json_t *obj);

/* Apply flags. */
#define WS_APPLY_FORCE 0x1   /* take ownership of conflicting fields */
#define WS_APPLY_DRY_RUN 0x2 /* server-side dry run: validate, change nothing */
#define WS_APPLY_NO_VALIDATION 0x4 /* fieldValidation=Ignore (default Strict: unknown fields are errors) */

/* Server-side apply `obj` (apiVersion, kind, metadata.name required; a
 * namespaced object without metadata.namespace gets the client's default).
 * field_manager NULL = "wavesync". The callback gets the object as stored. */
struct ws_kube_req *ws_kube_apply(struct ws_kube *k, const json_t *obj, const char *field_manager,
                                  unsigned flags, ws_kube_cb cb, void *data);

struct ws_kube_req *ws_kube_get(struct ws_kube *k, const struct ws_kube_ref *ref, ws_kube_cb cb,
                                void *data);

/* Create (POST) an object; the way to honour metadata.generateName.
 * flags: WS_APPLY_DRY_RUN. The callback gets the created object. */
struct ws_kube_req *ws_kube_create(struct ws_kube *k, const json_t *obj, unsigned flags,
                                   ws_kube_cb cb, void *data);

/* Replace (PUT) an existing object; obj must carry metadata.resourceVersion. */
struct ws_kube_req *ws_kube_replace(struct ws_kube *k, const json_t *obj, ws_kube_cb cb,
                                    void *data);

/* How many 429 Too Many Requests this request has had so far (0 for NULL):
 * a caller whose deadline passes can say it was throttled, not stuck. */
int ws_kube_req_throttled(const struct ws_kube_req *r);

/* From the discovery cache only (no request): 1 namespaced, 0 cluster-scoped,
 * -1 not known yet (resolve it first). */
int ws_kube_is_namespaced(struct ws_kube *k, const char *api_version, const char *kind);

/* propagation: "Foreground", "Background", "Orphan" or NULL (server default). */
struct ws_kube_req *ws_kube_delete(struct ws_kube *k, const struct ws_kube_ref *ref,
                                   const char *propagation, ws_kube_cb cb, void *data);

/* List objects of a kind (ref->name ignored; ref->namespace_ NULL lists all
 * namespaces). label_selector may be NULL. The body is the List. */
struct ws_kube_req *ws_kube_list(struct ws_kube *k, const struct ws_kube_ref *ref,
                                 const char *label_selector, ws_kube_cb cb, void *data);

/* Merge-patch the /status subresource (what controllers, and tests playing
 * them, do). */
struct ws_kube_req *ws_kube_patch_status(struct ws_kube *k, const struct ws_kube_ref *ref,
                                         const json_t *patch, ws_kube_cb cb, void *data);

/* Resolve ref's apiVersion+kind through discovery (cached; refreshed on a
 * miss); namespace and name only label errors. res->resource is set on
 * success. */
struct ws_kube_req *ws_kube_resolve(struct ws_kube *k, const struct ws_kube_ref *ref,
                                    ws_kube_cb cb, void *data);

/* Raw request against a path ("/version", "/api/v1/namespaces?limit=1").
 * body may be NULL; content_type NULL = application/json. */
struct ws_kube_req *ws_kube_request(struct ws_kube *k, const char *method, const char *path,
                                    const json_t *body, const char *content_type,
                                    const char *what, ws_kube_cb cb, void *data);

/* Cancel a request that has not called back yet; its callback will not be
 * called. Safe to call from any callback on the loop thread. Callbacks never
 * run before the call that started the request returns (bad arguments are
 * reported through the callback too); the calls above return NULL only when
 * memory ran out, after calling back. */
void ws_kube_cancel(struct ws_kube_req *req);

/* ---- watch ------------------------------------------------------------- */
struct ws_kube_watch;

enum ws_watch_event {
    WS_WATCH_ADDED,
    WS_WATCH_MODIFIED,
    WS_WATCH_DELETED,
    WS_WATCH_SYNCED, /* a list has been delivered: the first, or the re-list after
                        WS_WATCH_RELISTING (object NULL) */
    WS_WATCH_ERROR,  /* the watch failed for good: no more events (err set); still
                        call ws_kube_watch_stop to free it */
    WS_WATCH_RELISTING, /* events were lost (410 Gone): a fresh list follows as ADDED
                           events, then WS_WATCH_SYNCED; an object it does not
                           deliver was deleted meanwhile (object NULL) */
};

typedef void (*ws_kube_watch_cb)(enum ws_watch_event ev, json_t *object,
                                 const struct ws_err *err, void *data);

struct ws_kube_watch_opts {
    const char *label_selector;
    const char *field_selector;
    const char *resource_version; /* NULL: list first, deliver items as ADDED, then SYNCED */
};

/* Watch a kind (ref->name, when set, watches that one object). The watch
 * lists, then streams events; it re-watches from the last resourceVersion
 * when the server ends the stream, re-lists on 410 Gone, asks for bookmarks,
 * and retries connection errors with backoff. `object` is borrowed. */
struct ws_kube_watch *ws_kube_watch_start(struct ws_kube *k, const struct ws_kube_ref *ref,
                                          const struct ws_kube_watch_opts *opts,
                                          ws_kube_watch_cb cb, void *data);

/* Stop a watch; no callbacks after this returns. Safe from its callback. */
void ws_kube_watch_stop(struct ws_kube_watch *w);

/* ---- helpers (pure; unit tested) ---------------------------------------- */

/* "apps/v1 Deployment ml/trainer" (namespace omitted when empty); without a
 * name, the collection: "v1 ConfigMap (namespace ml)" or "v1 Namespace". */
void ws_kube_ident(char *out, size_t len, const char *api_version, const char *kind,
                   const char *ns, const char *name);
void ws_kube_ident_obj(char *out, size_t len, const json_t *obj);

/* Turn an HTTP error response into err: code from the status (404
 * WS_ENOTFOUND, 409 WS_ECONFLICT, 401/403 WS_EAUTH, 410 WS_EGONE, 400/422
 * WS_EINVAL, 504 WS_ETIMEOUT, else WS_EHTTP), reason and message from a Status body when
 * there is one, else a prefix of the raw body. `what` names the operation
 * and object ("apply apps/v1 Deployment ml/trainer"). */
int ws_kube_decode_error(struct ws_err *err, long status, const char *body, size_t body_len,
                         const char *what);

/* Parse an ExecCredential from a plugin's stdout: token, optional client
 * certificate/key (PEM) and expiry (0 = none). Strings are malloc'd. */
struct ws_exec_cred {
    char *token;
    char *cert_pem;
    char *key_pem;
    int64_t expires_at; /* Unix seconds */
};
int ws_exec_cred_parse(struct ws_exec_cred *out, const char *json, size_t len,
                       const char *command, struct ws_err *err);
void ws_exec_cred_free(struct ws_exec_cred *c);

#endif
