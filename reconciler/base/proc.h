/* proc.h — bounded child processes: helm and kustomize (blocking, from
 * worker threads) and exec credential plugins (on the libuv loop).
 *
 * A child gets an argument vector (never a shell), stdin from /dev/null (or
 * the bytes given), no descriptor of wavesync's beyond 0-2, and limits that
 * hold for everything it starts:
 *  - its own process group (a new session), killed as a whole with SIGKILL
 *    on timeout, when stdout passes its limit, when the program exits leaving
 *    helpers behind, and when wavesync stops (ws_proc_stop_all, and at exit);
 *  - it dies with wavesync, also when wavesync is SIGKILLed: the program runs
 *    under a guard — a fork of wavesync that never execs and only waits — whose
 *    parent-death signal makes it kill the group (a parent-death signal alone
 *    would end only the program, never its children);
 *  - address space (RLIMIT_AS) and CPU time (RLIMIT_CPU) per process, and no
 *    core files.
 * A limit that ends a child is named in the result and in messages:
 * "kubectl kustomize: killed after 120 s (settings.tools.kustomize.timeout)".
 * Linux only (prctl, pidfd). */
#ifndef WS_PROC_H
#define WS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/util.h"

#define WS_PROC_DEFAULT_TIMEOUT_MS 60000
#define WS_PROC_DEFAULT_MEMORY (2ull << 30)
#define WS_PROC_DEFAULT_CPU_MS 60000
#define WS_PROC_DEFAULT_OUTPUT (16u << 20)

/* Bounds on one child; 0 = the default. The memory limit is address space,
 * not resident memory: Go programs (helm, kubectl, kustomize) reserve about
 * 1.7 GiB of it before they allocate anything, so they need at least 2 GiB. */
struct ws_proc_limits {
    uint64_t timeout_ms;   /* wall clock; default 60 s */
    uint64_t memory_bytes; /* address space of each process; default 2 GiB */
    uint64_t cpu_ms;       /* CPU time of each process, rounded up to whole seconds; default 60 s */
    size_t max_output;     /* bytes of stdout, more kills the child; default 16 MiB (stderr:
                              8 KiB are kept, its first 2 KiB and its last bytes) */
    const char *setting;   /* where the limits are configured, for messages: "settings.tools.helm"
                              gives "(settings.tools.helm.timeout)"; NULL = not named. Borrowed. */
};

struct ws_proc_opts {
    const char *const *argv;      /* argv[0] is the program (searched in wavesync's PATH) */
    const char *const *env;       /* NULL = wavesync's environment; else the whole "NAME=value" list */
    const char *const *extra_env; /* added to the above; NULL = none */
    const char *cwd;              /* NULL = wavesync's */
    const char *input;            /* ws_proc_run only: written to stdin, then closed; NULL = /dev/null */
    size_t input_len;
    const char *name;             /* the program in messages ("helm template"); NULL = argv[0] */
    struct ws_proc_limits limits;
};

/* How a child ended. Only WS_PROC_EXITED with exit_status 0 is success. */
enum ws_proc_end {
    WS_PROC_EXITED,   /* exit_status says how */
    WS_PROC_SIGNALED, /* term_signal ended it, not one of our limits */
    WS_PROC_TIMEOUT,  /* killed at limits.timeout_ms */
    WS_PROC_OUTPUT,   /* killed: stdout passed limits.max_output */
    WS_PROC_MEMORY,   /* failed for want of memory (under limits.memory_bytes) */
    WS_PROC_CPU,      /* killed at limits.cpu_ms of CPU time */
    WS_PROC_STOPPED,  /* killed because wavesync is stopping */
};

struct ws_proc_result {
    enum ws_proc_end end;
    int64_t exit_status;  /* when end == WS_PROC_EXITED */
    int term_signal;      /* the signal that ended the child, 0 if none */
    const char *out;      /* stdout, NUL-terminated; borrowed until the callback returns */
    size_t out_len;
    const char *errout;   /* stderr, NUL-terminated; past 8 KiB its first 2 KiB, "\n[…]\n" and its
                             end; borrowed likewise */
    size_t err_len;
    struct ws_proc_limits limits; /* the limits in force (defaults filled in) */
    const char *name;     /* the program, for messages */
    uint64_t wall_ms;     /* how long it ran */
    uint64_t cpu_ms;      /* user + system CPU time of the child (and what it waited for) */
    uint64_t max_rss_kb;  /* peak resident memory of its largest process */
};

typedef void (*ws_proc_cb)(const struct ws_proc_result *res, void *data);

/* Start the program on the loop (the loop thread must live until the
 * callback: the guard's parent-death signal is tied to the thread that
 * starts it). The callback runs exactly once, on the loop thread, after
 * which the proc frees itself. Returns 0, or a negative WS_E* code when the
 * program cannot be started (WS_ENOTFOUND when it does not exist); the
 * callback is then not called. Starting blocks only until the program has
 * been exec'd. */
int ws_proc_run(uv_loop_t *loop, const struct ws_proc_opts *opts, ws_proc_cb cb, void *data,
                struct ws_err *err);

/* Describe a result in one line, without the program's name: "exited with
 * status 2: <stderr>" (a long one: its beginning […] its end), "killed after 120 s (settings.tools.helm.timeout)",
 * "exceeded its memory limit of 2 GiB (settings.tools.helm.memory)". */
void ws_proc_describe(const struct ws_proc_result *res, char *buf, size_t len);

/* Blocking variant for worker threads (never the loop thread). On success
 * (exit status 0) *out holds stdout (NUL-terminated; caller frees) and
 * *out_len its length (out_len may be NULL). A missing program is
 * WS_ENOTFOUND; any other failure is WS_EIO with a message that starts with
 * the program's name and says which limit ended it, or quotes its stderr.
 * Logs what the run took (time, CPU, peak memory) at debug level. */
int ws_proc_run_blocking(char **out, size_t *out_len, const struct ws_proc_opts *opts,
                         struct ws_err *err);

/* Kill every running child's group and refuse new children from now on
 * ("wavesync is stopping"). For shutdown; any thread. Also runs at exit, so
 * that exit — which waits for libuv's worker threads — never waits for a
 * tool to finish. */
void ws_proc_stop_all(void);

/* Is `name` an executable found in PATH (or a path to one)? */
int ws_proc_in_path(const char *name);

#endif
