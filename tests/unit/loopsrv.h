/* loopsrv.h — a scripted HTTP/1.1 server on loopback for unit tests of our
 * HTTP clients (the Kubernetes transport, commit statuses): it runs on the
 * test's libuv loop, hands each whole request to the current handler, and
 * sends what the handler returns — at once, after a delay, or never. For the
 * paths a real server will not produce on demand; the real ones are tested
 * end to end. One server per test process. */
#ifndef WS_TEST_LOOPSRV_H
#define WS_TEST_LOOPSRV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct loopsrv_req {
    int idx;            /* 0, 1, … in arrival order since loopsrv_reset */
    char method[16];
    char target[1024];
    const char *headers; /* request line and headers, each ending with CRLF; borrowed */
    const char *body;    /* NUL-terminated copy of the body; borrowed */
    size_t body_len;
};

/* The test's answer to a request: a malloc'd raw HTTP response (freed by the
 * server), or NULL to never answer. Setting *delay_ms holds the answer back;
 * the connection reads nothing more until it is sent. */
typedef char *(*loopsrv_handler)(const struct loopsrv_req *r, uint64_t *delay_ms);

/* Called when the answer to request `idx` is written (optional). */
typedef void (*loopsrv_answered_cb)(int idx);

/* Listen on 127.0.0.1 with an ephemeral port on `loop`; returns the port. */
int loopsrv_start(uv_loop_t *loop);

/* Close the listener and every connection still open (their handles are
 * closed on the next run of the loop). */
void loopsrv_stop(void);

/* Install the handler for the next test and zero the counters below. */
void loopsrv_reset(loopsrv_handler h, loopsrv_answered_cb answered);

/* Requests received and not yet answered (one whose connection closed first
 * stops counting), the most ever open at once, and all received. */
extern int loopsrv_open, loopsrv_max_open, loopsrv_total;

/* "HTTP/1.1 <status>" with a JSON content type, `extra` header lines (each
 * ending with CRLF, may be NULL) and `body`. Malloc'd. */
char *loopsrv_response(int status, const char *extra, const char *body);

/* The value of header `name` (case-insensitive) in `headers`, copied into
 * out; NULL when absent. */
const char *loopsrv_header(const char *headers, const char *name, char *out, size_t size);

#endif
