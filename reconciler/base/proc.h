/* proc.h — run an external program on the libuv loop: argument vector (never
 * a shell), captured stdout/stderr with a hard size limit, optional stdin,
 * a timeout that kills the child. Used for exec credential plugins and, later,
 * kustomize/helm. */
#ifndef WS_PROC_H
#define WS_PROC_H

#include <stddef.h>
#include <uv.h>

#include "base/util.h"

struct ws_proc;

struct ws_proc_result {
    int64_t exit_status; /* valid when term_signal == 0 */
    int term_signal;     /* signal that ended the child, 0 if none */
    int timed_out;       /* 1 when the timeout killed it */
    int truncated;       /* 1 when output exceeded the limit (the child was killed) */
    const char *out;     /* stdout, NUL-terminated; borrowed until the callback returns */
    size_t out_len;
    const char *errout;  /* stderr, NUL-terminated; borrowed likewise */
    size_t err_len;
};

typedef void (*ws_proc_cb)(const struct ws_proc_result *res, void *data);

struct ws_proc_opts {
    const char *const *argv; /* argv[0] is the program (PATH is searched) */
    const char *const *env;  /* NULL = inherit; else "NAME=value" list, NULL-terminated */
    const char *cwd;         /* NULL = inherit */
    const char *input;       /* written to stdin then closed; NULL = empty stdin */
    size_t input_len;
    size_t max_output;       /* per stream; 0 = 16 MiB */
    uint64_t timeout_ms;     /* 0 = 60 s */
};

/* Start the program. The callback runs exactly once on the loop thread
 * (also when spawning fails), after which the proc frees itself. Returns 0,
 * or a negative WS_E* code (the callback is then not called). */
int ws_proc_run(uv_loop_t *loop, const struct ws_proc_opts *opts, ws_proc_cb cb, void *data,
                struct ws_err *err);

/* Describe a failed result in one line ("exited with status 2: <stderr head>"). */
void ws_proc_describe(const struct ws_proc_result *res, char *buf, size_t len);

#endif

/* Blocking variant for worker threads (never the loop thread): run argv in
 * cwd with an extra environment (NULL-terminated "NAME=value" list added to
 * the inherited one, may be NULL), stdin from /dev/null, capture stdout (at
 * most max_output bytes; more kills the child) and the head of stderr, kill
 * it after timeout_ms. On success (exit 0) *out holds stdout (caller frees).
 * A missing program is WS_ENOTFOUND; any other failure is WS_EIO with a
 * message naming the program and quoting its stderr. */
int ws_proc_run_blocking(char **out, size_t *out_len, const char *const *argv,
                         const char *const *extra_env, const char *cwd, size_t max_output,
                         uint64_t timeout_ms, struct ws_err *err);

/* Is `name` an executable found in PATH (or a path to one)? */
int ws_proc_in_path(const char *name);
