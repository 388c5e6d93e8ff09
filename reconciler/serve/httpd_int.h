/* httpd_int.h — httpd.c's request parsing without a socket, for the fuzz
 * target (tests/fuzz/fuzz_httpd.c). Not an API: the server itself never
 * calls it, and what it runs is exactly what a connection's bytes run. */
#ifndef WS_HTTPD_INT_H
#define WS_HTTPD_INT_H

#include <stddef.h>
#include <uv.h>

#include "serve/httpd.h"

/* What one ws__httpd_feed call did. */
struct ws__httpd_fed {
    size_t requests;  /* complete requests handed to the handler */
    size_t answers;   /* answers produced and dropped (a 100 Continue included) */
    int last_status;  /* the last answer's status, 0 when there was none */
};

/* Run `buf` through a connection's parsing — on_read's append and conn_pump:
 * http_parser with httpd.c's callbacks, limits, refusals and dispatch — on a
 * connection that has no socket: answers are counted and dropped, and no read,
 * timer or close is started. The bytes arrive in reads of at most `chunk`
 * bytes (0: one read), so callbacks see names, values and bodies split as a
 * slow client splits them. `handler` gets each complete request and must
 * answer it with ws_httpd_respond before it returns; parsing stops where a
 * connection's would (a refusal, a request that does not keep the connection
 * alive). `loop` is only asked the time. opts as for ws_httpd_start (host and
 * port unused; NULL for defaults). Fills *out; returns 0 or WS_ENOMEM. */
int ws__httpd_feed(uv_loop_t *loop, const struct ws_httpd_opts *opts, const char *buf, size_t len,
                   size_t chunk, ws_httpd_handler handler, void *data, struct ws__httpd_fed *out);

#endif
