/* util.h — small helpers shared by every module: bounded buffers, base64,
 * durations, URL escaping, clocks. Pure, no I/O except ws_file_read. */
#ifndef WS_UTIL_H
#define WS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define WS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ws_container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

/* A growable byte buffer with a hard maximum size. Always NUL-terminated
 * after the data (the terminator is not counted in len). */
struct ws_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited */
};

void ws_buf_init(struct ws_buf *b, size_t max);
/* Append n bytes; returns 0, WS_ENOMEM, or WS_ELIMIT when max would be exceeded
 * (nothing is appended then). */
int ws_buf_append(struct ws_buf *b, const void *p, size_t n);
int ws_buf_appendf(struct ws_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s for a terminal: control characters as escapes (\n, \t, \r,
 * \x1b; C1 controls as \u009b), so text from a cluster or a script stays
 * on its line and cannot drive the terminal. Other bytes as they are.
 * Returns as ws_buf_append. */
int ws_buf_append_escaped(struct ws_buf *b, const char *s);
/* Drop the first n bytes. */
void ws_buf_consume(struct ws_buf *b, size_t n);
/* Hand the data over to the caller (who frees it with free()); b is reset. */
char *ws_buf_steal(struct ws_buf *b);
void ws_buf_free(struct ws_buf *b);

/* Decode standard base64 (padding optional, whitespace ignored). On success
 * *out is a malloc'd NUL-terminated buffer (caller frees), *outlen its size. */
int ws_base64_decode(char **out, size_t *outlen, const char *in, size_t inlen);
/* Encode to standard base64 with padding; caller frees. NULL on ENOMEM. */
char *ws_base64_encode(const void *in, size_t inlen);

/* Parse a Go-style duration ("90s", "5m", "1h30m", "250ms", "0") into
 * milliseconds. A bare number is seconds. Returns 0 or WS_EINVAL. */
int ws_duration_parse(uint64_t *out_ms, const char *s);

/* Parse an RFC 3339 timestamp ("2026-11-27T05:00:00Z", offsets and fractions
 * allowed) into Unix seconds. Returns 0 or WS_EINVAL. */
int ws_time_parse_rfc3339(int64_t *out, const char *s);

/* Percent-encode for a URL query value or path segment (RFC 3986
 * unreserved characters pass). Caller frees; NULL on ENOMEM. */
char *ws_url_escape(const char *s);

/* Monotonic milliseconds, and wall-clock Unix seconds. */
uint64_t ws_now_ms(void);
int64_t ws_wall_s(void);
/* Wall-clock milliseconds since the epoch (comparable with file times). */
int64_t ws_wall_ms(void);

/* Read a whole file (blocking: call at startup or from a worker thread).
 * Files larger than max bytes are refused with WS_ELIMIT. Caller frees. */
int ws_file_read(char **out, size_t *outlen, const char *path, size_t max,
                 struct ws_err *err);

/* mkdir -p (blocking: startup or a worker thread). 0, WS_EIO or WS_ENOMEM;
 * errno says why after WS_EIO. */
int ws_mkdir_p(const char *path, unsigned mode);

/* strdup that returns NULL for NULL. */
char *ws_strdup0(const char *s);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void ws_hex_encode(char *out, const unsigned char *in, size_t n);

/* Constant-time comparison of two byte strings of possibly different length
 * (the length difference is not hidden, the content is). 1 when equal. */
int ws_consttime_eq(const void *a, size_t alen, const void *b, size_t blen);

/* Is `given` (glen bytes) the secret? Both are hashed (SHA-256) first and
 * the digests compared in constant time, so the time taken says nothing
 * about the secret's length or content. */
int ws_secret_eq(const char *given, size_t glen, const char *secret);

/* `s` (untrusted: a revision, a URL, a path from a pushed file) for a
 * message: in double quotes, control characters and quotes escaped, cut
 * with "..." so that the whole fits in `size` (at least 16). NULL gives
 * "(none)". */
void ws_str_quote_cut(char *out, size_t size, const char *s);

/* The UTF-8 character at s (n > 0 bytes left): its length, and its code
 * point in *cp; a stray or cut byte is a character of length 1 (its byte
 * value), so a scan always moves on. */
size_t ws_utf8_char(const char *s, size_t n, uint32_t *cp);

/* Normalise a repository-relative path: strip "./" and trailing '/',
 * collapse "a/../b"; a path that leaves the root ("../x", "/etc") is an
 * error. Caller frees. */
int ws_repo_path_clean(char **out, const char *path);

/* A slice of a string (not NUL-terminated). */
struct ws_tok {
    const char *s;
    size_t n;
};

/* [s, e) without leading and trailing white space. */
struct ws_tok ws_tok_trim(const char *s, const char *e);

/* The next comma-separated token of *p, trimmed, advancing *p; empty tokens
 * are skipped (as gitops-engine's GetAnnotationCSVs skips them). 0 at the end. */
int ws_csv_next(const char **p, struct ws_tok *t);

/* 1 when the token equals s exactly (ws_tok_ieq: ignoring ASCII case). */
int ws_tok_eq(struct ws_tok t, const char *s);
int ws_tok_ieq(struct ws_tok t, const char *s);

/* "object" or "objects" for a count, for messages: "%zu %s", n, ws_plural(n, "object", "objects"). */
static inline const char *ws_plural(unsigned long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

#endif
