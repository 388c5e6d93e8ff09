/* httpd.h — the HTTP/1.1 server behind `wavesync serve` (webhooks, REST API,
 * metrics): libuv for I/O, the system http_parser for parsing. Keep-alive,
 * pipelining answered in order, hard limits on headers, body, read time,
 * idle time and connections, and a graceful shutdown. Loop thread only. */
#ifndef WS_HTTPD_H
#define WS_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"

struct ws_httpd;

struct ws_httpd_opts {
    const char *host;         /* "127.0.0.1" default; IPv6 literal allowed */
    int port;                 /* 0 = ephemeral (ws_httpd_port tells which) */
    size_t max_header_bytes;  /* 0 → 64 KiB; request line + headers. http_parser
                                 itself stops at 80 KiB, larger values do not help */
    size_t max_body_bytes;    /* 0 → 25 MiB */
    uint64_t read_timeout_ms; /* 0 → 10 s, whole request from its first byte */
    uint64_t idle_timeout_ms; /* 0 → 60 s, keep-alive idle (also bounds a client
                                 that stops reading our response) */
    size_t max_connections;   /* 0 → 1024; extra connections get 503 and close */
    int listen_fd;            /* 0: bind host:port; else a listening TCP socket handed
                                 over (a reload), used as it is */
};

struct ws_httpd_header {
    char *name;  /* as sent (case kept) */
    char *value; /* surrounding blanks trimmed */
};

/* One request. Allocated by the server (inside a larger private struct) and
 * borrowed by the handler until it passes the request to ws_httpd_respond,
 * which frees it: no field may be used after that call. */
struct ws_httpd_req {
    const char *method; /* "GET", "POST", … (static string) */
    char *path;         /* percent-decoded path without the query ("/" at least) */
    char *query;        /* raw query string (after '?') or NULL */
    struct ws_httpd_header *headers;
    size_t nheaders;
    char *body;         /* never NULL; NUL-terminated after body_len bytes */
    size_t body_len;
    char remote[64];    /* peer address "ip" (no port) for rate limiting / logs */
};

/* Called on the loop thread once per complete request, in order per
 * connection. The handler answers with ws_httpd_respond now or later. */
typedef void (*ws_httpd_handler)(struct ws_httpd_req *req, void *data);

/* Bind, listen and start accepting on `loop`. On success *out is the server,
 * released by ws_httpd_shutdown (never freed directly). Errors name
 * host:port ("listen on 127.0.0.1:8080: address already in use"); bind and
 * listen failures leave nothing registered with the loop (should libuv itself
 * refuse the bound socket, the listener is freed on the next loop turn).
 * `host` must be an IP literal (no DNS on the loop). Sets SIGPIPE to ignored
 * when it still has its default action: libuv writes with write(2), and a
 * peer that goes away mid-answer must not kill the process.
 * Returns 0, WS_EINVAL, WS_ENOMEM or WS_ENET. */
int ws_httpd_start(struct ws_httpd **out, uv_loop_t *loop, const struct ws_httpd_opts *opts,
                   ws_httpd_handler handler, void *data, struct ws_err *err);

/* The port actually bound (useful with opts.port = 0). */
int ws_httpd_port(const struct ws_httpd *s);
/* The listening socket's descriptor (to hand it over to a new image). */
int ws_httpd_fd(const struct ws_httpd *s);

/* Value of the first header called `name` (case-insensitive); NULL if absent.
 * Borrowed from req. */
const char *ws_httpd_header(const struct ws_httpd_req *req, const char *name);

/* The value of query parameter `name` (not percent-decoded: the parameters
 * we take are names and numbers), malloc'd, or NULL when absent. */
char *ws_httpd_query(const struct ws_httpd_req *req, const char *name);

/* Answer a request, now (from the handler) or later from the loop thread.
 * `content_type` may be NULL; `extra_headers` is NULL or "Name: value\r\n…"
 * (the caller vouches for it: no user input in it unchecked). body/len are
 * copied. Every request must be answered exactly once, and req is freed by
 * this call; when its connection died meanwhile the answer is dropped.
 * A status below 200 or a content type with CR/LF is a bug: answered 500.
 * Returns 0. */
int ws_httpd_respond(struct ws_httpd_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len);

/* A response whose body goes on: Server-Sent Events. Sends the status line
 * and headers (with Cache-Control: no-store and Connection: close, no
 * length) and keeps the connection for ws_httpd_stream_write; no other
 * request is read from it. req is freed by this call, as by
 * ws_httpd_respond. `closed(data)` is called once, from the loop, when the
 * connection ends by itself (the reader went away, the server shuts down);
 * the stream is freed after it returns. NULL when the connection is gone
 * already (or the server is stopping: answered 503). */
struct ws_httpd_stream;
struct ws_httpd_stream *ws_httpd_stream_open(struct ws_httpd_req *req, int status, const char *content_type,
                                             const char *extra_headers, void (*closed)(void *data), void *data);
/* Queue bytes (copied). -1 when the stream is dead: its reader fell more than
 * 1 MiB behind (it is cut off) or the connection broke; closed() is not
 * called for that, and the caller ends it with ws_httpd_stream_close. */
int ws_httpd_stream_write(struct ws_httpd_stream *st, const char *data, size_t len);
/* End the stream (what is queued is still written) and free it; closed() is
 * not called. NULL is a no-op. */
void ws_httpd_stream_close(struct ws_httpd_stream *st);

/* Stop accepting (new connections are refused at once); close idle
 * connections; let requests in progress finish and get their answers (with
 * `Connection: close`). When every request has been answered and all handles
 * are closed, call done(data) (may be NULL) and free the server: ws_httpd_stats
 * still works inside done, nothing after it. Calling it twice is a no-op. */
void ws_httpd_shutdown(struct ws_httpd *s, void (*done)(void *data), void *data);

/* Counters for /metrics. All are totals since start except `active`. */
struct ws_httpd_stats {
    uint64_t connections;  /* accepted, including those refused with 503 */
    uint64_t requests;     /* complete requests handed to the handler */
    uint64_t rejected_413, rejected_431, timeouts_408, bad_400;
    uint64_t rejected_503; /* over max_connections */
    uint64_t active;       /* connections open and serving right now */
};
void ws_httpd_stats(const struct ws_httpd *s, struct ws_httpd_stats *out);

#endif
