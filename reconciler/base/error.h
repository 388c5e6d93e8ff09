/* error.h — the explicit error value carried by every request and job.
 * No global "last error": the caller owns a struct ws_err and passes it down. */
#ifndef WS_ERROR_H
#define WS_ERROR_H

#include <stddef.h>

/* Negative return codes used across wavesync. 0 is success. */
#define WS_ERROR_CODES(X)                                                     \
    X(WS_OK, 0, "ok")                                                         \
    X(WS_EINVAL, -1, "invalid input")                                         \
    X(WS_ENOMEM, -2, "out of memory")                                         \
    X(WS_EIO, -3, "i/o error")                                                \
    X(WS_EPARSE, -4, "parse error")                                           \
    X(WS_ELIMIT, -5, "limit exceeded")                                        \
    X(WS_ENOTFOUND, -6, "not found")                                          \
    X(WS_ECONFIG, -7, "configuration error")                                  \
    X(WS_EHTTP, -8, "http error")                                             \
    X(WS_ENET, -9, "network error")                                           \
    X(WS_ETIMEOUT, -10, "timed out")                                          \
    X(WS_ECONFLICT, -11, "conflict")                                          \
    X(WS_EAUTH, -12, "authentication failed")                                 \
    X(WS_ECANCELED, -13, "canceled")                                          \
    X(WS_EGONE, -14, "resource version too old")

enum ws_code {
#define WS_X(name, value, text) name = value,
    WS_ERROR_CODES(WS_X)
#undef WS_X
};

/* Human name of a code ("timed out"); never NULL. */
const char *ws_code_str(int code);

/* What a code means for whoever acts on it: the command line's exit code,
 * the service's retry decision. */
enum ws_err_class {
    WS_ERRC_OK,          /* 0 */
    WS_ERRC_FAILED,      /* the work failed (degraded, deadline, conflict…): may be retried */
    WS_ERRC_INPUT,       /* bad input or configuration: nothing changed, retrying cannot help */
    WS_ERRC_UNREACHABLE, /* cannot reach or authenticate to git or a cluster */
};
enum ws_err_class ws_err_class(int code);

struct ws_err {
    int code;       /* one of enum ws_code */
    int http_status; /* HTTP status when the error came from a server, else 0 */
    char reason[64]; /* Kubernetes Status.reason ("Conflict", "NotFound"), or "" */
    char msg[1024]; /* full human-readable message */
};

/* Make s valid UTF-8 in place: invalid bytes become '?', a sequence cut
 * short at the end (by a fixed-size buffer) is dropped. JSON needs it. */
void ws_utf8_sanitize(char *s);

/* Reset to "no error". Safe with NULL. */
void ws_err_clear(struct ws_err *e);

/* Set code and message (printf format); returns code so callers can
 * `return ws_err_set(err, WS_EINVAL, "...")`. Safe with NULL err. */
int ws_err_set(struct ws_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context to an existing message: "ctx: old message". */
int ws_err_prefix(struct ws_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
