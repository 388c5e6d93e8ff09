/* kube_http.h — libcurl's multi interface driven by the libuv loop: one
 * uv_timer for curl's timeouts and one uv_poll per socket curl asks about.
 * Knows nothing of Kubernetes; kube.c configures the easy handles. */
#ifndef WS_KUBE_HTTP_H
#define WS_KUBE_HTTP_H

#include <curl/curl.h>
#include <uv.h>

struct ws_http;

/* Called once when a transfer ends (on the loop thread). The easy handle is
 * already removed from the multi handle; the callee owns and cleans it. */
typedef void (*ws_http_done_cb)(CURL *easy, CURLcode result, void *data);

/* Create a transport on `loop`. Caller closes with ws_http_close. */
int ws_http_new(struct ws_http **out, uv_loop_t *loop);

/* Start a configured easy handle. Do not set CURLOPT_PRIVATE: the transport
 * owns it. Returns 0 or WS_ENOMEM/WS_EHTTP. */
int ws_http_add(struct ws_http *h, CURL *easy, ws_http_done_cb cb, void *data);

/* Abort a running transfer without calling its callback. The transport
 * takes `easy` over and cleans it up (at once, or — when called from inside
 * curl's callbacks — as soon as curl returns; its write callback is
 * silenced meanwhile). Adds made from inside curl's callbacks are likewise
 * deferred until curl returns. */
void ws_http_remove(struct ws_http *h, CURL *easy);

/* Is curl inside one of its callbacks right now (a write callback, say)?
 * Owners that must free what an easy handle points at (buffers, headers)
 * defer that with ws_http_defer until curl has returned. */
int ws_http_in_curl(const struct ws_http *h);

/* Run fn(arg) as soon as curl has returned to us (at once when it is not
 * running). Returns 0 or WS_ENOMEM. */
int ws_http_defer(struct ws_http *h, void (*fn)(void *), void *arg);

/* Number of transfers running. */
size_t ws_http_running(const struct ws_http *h);

/* Abort any transfer still running (no callbacks; their easy handles are
 * cleaned up), close the loop handles and free the transport once they are
 * closed. Owners normally remove their own transfers first. */
void ws_http_close(struct ws_http *h);

#endif
