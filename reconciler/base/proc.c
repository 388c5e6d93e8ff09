/* proc.c — bounded child processes (see proc.h): the guard and the program
 * it starts, the registry that kills every group when wavesync stops, and
 * two ways to wait — poll(2) on a worker thread, libuv handles on the loop.
 *
 * The process tree of one run:
 *   wavesync ── guard (fork, no exec; new session = the group; parent-death
 *                │      signal SIGHUP; waits in sigwaitinfo)
 *                └─ program (clone + execve; rlimits; parent-death SIGKILL)
 *                    └─ whatever it starts (same group)
 * wavesync kills the group (-guard pid) for its limits; the guard kills it
 * (kill(0)) when wavesync dies; when the program ends the guard exits with
 * its status, and wavesync kills what is left of the group before reaping
 * the guard, so the group id cannot have been reused. */
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

extern char **environ;

#define ERR_HEAD 8192        /* bytes of stderr kept for messages: its first ERR_KEEP_HEAD */
#define ERR_KEEP_HEAD 2048   /* and, past ERR_HEAD, its last bytes after ERR_MARK (where a */
#define ERR_MARK "\n[…]\n"   /* failing program says why is most often at the end) */
#define DRAIN_MS 1000        /* after the group is dead, how long to wait for output
                                still held by a process that left the group */
#define POLL_EXIT_MS 50      /* without pidfd: how often to look for the guard's exit */

/* ---- limits and messages --------------------------------------------------- */

static struct ws_proc_limits effective_limits(const struct ws_proc_limits *l)
{
    struct ws_proc_limits e = *l;
    if (!e.timeout_ms)
        e.timeout_ms = WS_PROC_DEFAULT_TIMEOUT_MS;
    if (!e.memory_bytes)
        e.memory_bytes = WS_PROC_DEFAULT_MEMORY;
    if (!e.cpu_ms)
        e.cpu_ms = WS_PROC_DEFAULT_CPU_MS;
    if (!e.max_output)
        e.max_output = WS_PROC_DEFAULT_OUTPUT;
    /* RLIMIT_CPU counts whole seconds: say what is enforced */
    e.cpu_ms = (e.cpu_ms + 999) / 1000 * 1000;
    return e;
}

/* In the largest unit that shows it exactly, as the limit was likely written:
 * "2 GiB", "1900 MiB", "4096 bytes"; else "1.4 GiB". */
static void format_size(char *buf, size_t len, uint64_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    int top = 0, exact = 0;
    while (top < 4 && n >> (10 * (top + 1)))
        top++;
    for (exact = top; exact > 0 && n % (1ull << (10 * exact)); exact--)
        ;
    if (exact == top || exact > 0)
        snprintf(buf, len, "%llu %s", (unsigned long long)(n >> (10 * exact)), units[exact]);
    else
        snprintf(buf, len, "%.1f %s", (double)n / (double)(1ull << (10 * top)), units[top]);
}

/* "120 s", "1.5 s", "250 ms". */
static void format_ms(char *buf, size_t len, uint64_t ms)
{
    if (ms < 1000)
        snprintf(buf, len, "%llu ms", (unsigned long long)ms);
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, len, "%.1f s", (double)ms / 1000);
}

/* " (settings.tools.helm.timeout)", or "" when the limits are not named. */
static void format_setting(char *buf, size_t len, const struct ws_proc_limits *l, const char *key)
{
    if (l->setting && *l->setting)
        snprintf(buf, len, " (%s.%s)", l->setting, key);
    else
        buf[0] = '\0';
}

/* Stderr on one line, trailing white space dropped; longer than fits, its
 * beginning and its end (where the reason usually is). */
static void stderr_line(char *buf, size_t len, const char *err, size_t n)
{
    size_t i, o = 0, head = n, tail = n;
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r' || err[n - 1] == ' '))
        n--;
    if (n + 1 > len && len > 64) { /* a quarter of the room for the beginning, the rest for the end */
        head = len / 4;
        tail = n - (len - head - 8);
    }
    for (i = 0; i < n && o + 1 < len; i++) {
        if (i == head && head < tail) {
            o += (size_t)snprintf(buf + o, len - o, " […] ");
            i = tail;
        }
        buf[o++] = err[i] == '\n' || err[i] == '\r' ? ' ' : err[i];
    }
    buf[o < len ? o : len - 1] = '\0';
}

void ws_proc_describe(const struct ws_proc_result *r, char *buf, size_t len)
{
    const struct ws_proc_limits *l = &r->limits;
    char what[64], where[160], head[800];
    stderr_line(head, sizeof(head), r->errout ? r->errout : "", r->err_len);
    switch (r->end) {
    case WS_PROC_TIMEOUT:
        format_ms(what, sizeof(what), l->timeout_ms);
        format_setting(where, sizeof(where), l, "timeout");
        snprintf(buf, len, "killed after %s%s", what, where);
        break;
    case WS_PROC_MEMORY:
        format_size(what, sizeof(what), l->memory_bytes);
        format_setting(where, sizeof(where), l, "memory");
        snprintf(buf, len, "exceeded its memory limit of %s%s", what, where);
        break;
    case WS_PROC_CPU:
        format_ms(what, sizeof(what), l->cpu_ms);
        format_setting(where, sizeof(where), l, "cpu");
        snprintf(buf, len, "killed after %s of CPU time%s", what, where);
        break;
    case WS_PROC_OUTPUT:
        format_size(what, sizeof(what), l->max_output);
        snprintf(buf, len, "killed: wrote more than %s to stdout", what);
        break;
    case WS_PROC_STOPPED:
        snprintf(buf, len, "killed: wavesync is stopping");
        break;
    case WS_PROC_SIGNALED:
        snprintf(buf, len, "killed by signal %d (%s)%s%s", r->term_signal, strsignal(r->term_signal),
                 *head ? ": " : "", head);
        break;
    case WS_PROC_EXITED:
        snprintf(buf, len, "exited with status %lld%s%s", (long long)r->exit_status, *head ? ": " : "", head);
        break;
    }
}

/* Go prints "fatal error: out of memory" (or fails to start a thread), glibc
 * programs "memory exhausted" or ENOMEM's text, Python "MemoryError",
 * libjsonnet "a memory allocation error occurred": under
 * RLIMIT_AS an allocation fails, nothing kills the process, so what it says
 * on the way out is all there is to tell a memory limit by. */
static int says_out_of_memory(const char *err)
{
    static const char *const marks[] = {"out of memory", "cannot allocate memory", "memory exhausted",
                                        "MemoryError", "bad_alloc", "failed to reserve",
                                        "pthread_create failed", "memory allocation error"};
    for (size_t i = 0; i < WS_ARRAY_SIZE(marks); i++)
        if (strcasestr(err, marks[i]))
            return 1;
    return 0;
}

static uint64_t tv_ms(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* How the child ended: a limit we enforced (ours), one the kernel enforced
 * (CPU: SIGXCPU at the soft limit, SIGKILL at the hard one), a failed
 * allocation, or the program's own exit. */
static void classify(struct ws_proc_result *r, int status, const struct rusage *ru, enum ws_proc_end ours)
{
    r->cpu_ms = tv_ms(ru->ru_utime) + tv_ms(ru->ru_stime);
    r->max_rss_kb = ru->ru_maxrss > 0 ? (uint64_t)ru->ru_maxrss : 0;
    r->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (ours != WS_PROC_EXITED)
        r->end = ours;
    else if (r->term_signal == SIGXCPU || (r->term_signal == SIGKILL && r->cpu_ms >= r->limits.cpu_ms))
        r->end = WS_PROC_CPU;
    else if ((r->term_signal || r->exit_status != 0) && says_out_of_memory(r->errout))
        r->end = WS_PROC_MEMORY;
    else
        r->end = r->term_signal ? WS_PROC_SIGNALED : WS_PROC_EXITED;
}

/* ---- finding the program ------------------------------------------------ */

/* The path execve gets: argv[0] itself when it has a '/', else the first
 * executable match in PATH. Resolved before fork: execvp may allocate. */
static int find_program(char *buf, size_t len, const char *name)
{
    const char *path = getenv("PATH"), *p;
    if (strchr(name, '/')) {
        snprintf(buf, len, "%s", name);
        return access(name, X_OK) == 0;
    }
    for (p = path && *path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        struct stat st;
        snprintf(buf, len, "%.*s/%s", (int)n, n ? p : ".", name);
        if (access(buf, X_OK) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
        p = colon ? colon + 1 : NULL;
    }
    return 0;
}

int ws_proc_in_path(const char *name)
{
    char buf[4096];
    return find_program(buf, sizeof(buf), name);
}

/* base (or environ) + extra; caller frees the array, not the strings. */
static char **merged_env(const char *const *base, const char *const *extra)
{
    const char *const *b = base ? base : (const char *const *)environ;
    size_t n = 0, m = 0;
    char **env;
    while (b[n])
        n++;
    while (extra && extra[m])
        m++;
    if (!(env = calloc(n + m + 1, sizeof(char *))))
        return NULL;
    memcpy(env, b, n * sizeof(char *));
    if (m)
        memcpy(env + n, extra, m * sizeof(char *));
    return env;
}

/* ---- the registry: every running child, for ws_proc_stop_all -------------- */

struct child {
    pid_t pid;      /* the guard's; also the process group's id */
    int pidfd;      /* readable once the guard has exited; -1 = look with waitid */
    int out_fd, err_fd, in_fd; /* our ends of its pipes; -1 when closed or handed to libuv */
    int stopped;    /* ws_proc_stop_all killed it */
    uint64_t started_ms;
    struct child *prev, *next;
};

static struct {
    pthread_mutex_t lock;
    struct child *head;
    int stopping;
} reg = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void stop_at_exit(void)
{
    ws_proc_stop_all();
}

static void reg_init(void)
{
    /* Registered after libuv's destructor, so it runs before it: libuv joins
       its worker threads at exit, and a thread waiting for a tool would hold
       exit up for as long as the tool's timeout. */
    atexit(stop_at_exit);
}

/* Kill the child's whole group. Also the guard itself: until its setsid the
 * group does not exist yet. Safe until the guard is reaped. */
static void kill_group(const struct child *c)
{
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
}

void ws_proc_stop_all(void)
{
    pthread_mutex_lock(&reg.lock);
    reg.stopping = 1;
    for (struct child *c = reg.head; c; c = c->next) {
        c->stopped = 1;
        kill_group(c);
    }
    pthread_mutex_unlock(&reg.lock);
}

/* Take the child out of the registry; 1 when ws_proc_stop_all killed it. */
static int reg_remove(struct child *c)
{
    int stopped;
    pthread_mutex_lock(&reg.lock);
    if (c->prev)
        c->prev->next = c->next;
    else if (reg.head == c)
        reg.head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    stopped = c->stopped;
    pthread_mutex_unlock(&reg.lock);
    return stopped;
}

/* ---- between fork and exec: async-signal-safe calls only ---------------------- */

/* Everything the guard and the program need, prepared before fork. */
struct plan {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int in_fd, out_fd, err_fd;
    int report_fd;       /* write end, close-on-exec: a struct report when setup fails */
    pid_t parent;        /* wavesync */
    struct rlimit as, cpu;
    int max_fd;          /* for closing descriptors where close_range is missing */
};

enum stage { STAGE_SETUP = 1, STAGE_FORK, STAGE_CHDIR, STAGE_EXEC };

struct report {
    int stage;
    int error;
};

static _Noreturn void fail_child(const struct plan *p, int stage)
{
    struct report r = {stage, errno};
    ssize_t n = write(p->report_fd, &r, sizeof(r));
    (void)n;
    _exit(127);
}

/* Close every descriptor from `low` up, except `keep`. */
static void close_from(int low, int keep, int max_fd)
{
#ifdef SYS_close_range
    if (keep < low) {
        if (syscall(SYS_close_range, low, ~0U, 0) == 0)
            return;
    } else if ((keep == low || syscall(SYS_close_range, low, keep - 1, 0) == 0) &&
               syscall(SYS_close_range, keep + 1, ~0U, 0) == 0) {
        return;
    }
#endif
    for (int fd = low; fd < max_fd; fd++)
        if (fd != keep)
            close(fd);
}

/* Every handler back to the default: wavesync's (libuv's signal pipe) must
 * not run here, and an ignored SIGPIPE must not reach the program. */
static void reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL); /* glibc's own signals answer EINVAL: fine */
}

static _Noreturn void program_main(const struct plan *p, pid_t guard)
{
    static const struct rlimit no_core = {0, 0};
    sigset_t none;
    /* Dies with the guard; the guard may already be gone. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != guard)
        _exit(127);
    if (setrlimit(RLIMIT_AS, &p->as) < 0 || setrlimit(RLIMIT_CPU, &p->cpu) < 0 ||
        setrlimit(RLIMIT_CORE, &no_core) < 0)
        fail_child(p, STAGE_SETUP);
    if (dup2(p->in_fd, 0) < 0 || dup2(p->out_fd, 1) < 0 || dup2(p->err_fd, 2) < 0)
        fail_child(p, STAGE_SETUP);
    if (p->cwd && chdir(p->cwd) < 0)
        fail_child(p, STAGE_CHDIR);
    close_from(3, p->report_fd, p->max_fd); /* report_fd closes on exec */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(p->path, p->argv, p->envp);
    fail_child(p, STAGE_EXEC);
}

/* The guard ends as the program did: the same exit status, or the same
 * signal raised on itself, so wavesync reads the program's end from it. */
static _Noreturn void relay(int status)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        kill(getpid(), sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        _exit(128 + sig); /* a signal whose default action does not end a process */
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

static _Noreturn void guard_main(const struct plan *p)
{
    static const struct rlimit no_core = {0, 0};
    sigset_t waited;
    pid_t me, prog;
    int status;
    reset_signals(); /* the mask stays full: the guard takes signals with sigwaitinfo */
    if (setsid() < 0)
        fail_child(p, STAGE_SETUP);
    prctl(PR_SET_NAME, "wavesync-guard");
    /* The parent-death signal follows the thread that forked: a worker
       thread stays inside ws_proc_run_blocking until the guard is reaped,
       the loop thread lives as long as its loop. If wavesync died before
       the prctl, getppid() is no longer wavesync. */
    if (prctl(PR_SET_PDEATHSIG, SIGHUP) < 0 || getppid() != p->parent)
        _exit(127);
    setrlimit(RLIMIT_CORE, &no_core); /* relay() may raise a core-dumping signal */
    me = getpid();
    /* A raw clone, not fork(): fork runs the pthread_atfork handlers of
       every library in wavesync, which may take locks that threads of
       wavesync held when the guard was forked. */
    prog = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
    if (prog == 0)
        program_main(p, me);
    if (prog < 0)
        fail_child(p, STAGE_FORK);
    close_from(0, -1, p->max_fd); /* the pipes and the report: only the program holds them */
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    sigaddset(&waited, SIGHUP);
    for (;;) {
        int sig = sigwaitinfo(&waited, NULL);
        if (sig == SIGHUP) /* wavesync is gone: the whole group, the guard with it */
            kill(0, SIGKILL);
        if (sig == SIGCHLD && waitpid(prog, &status, WNOHANG) == prog)
            relay(status);
    }
}

/* ---- starting a child (parent side) ------------------------------------------ */

/* Descriptors 0-2 may be closed in wavesync; the program's must not land there. */
static int above_stdio(int fd)
{
    int moved;
    if (fd < 0 || fd > 2)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static int open_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    return fds[0] < 0 || fds[1] < 0 ? -1 : 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static struct rlimit clamp(uint64_t soft, uint64_t hard, int resource)
{
    struct rlimit cur, r = {(rlim_t)soft, (rlim_t)hard};
    /* an unprivileged process cannot raise its hard limit: stay under it */
    if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
        if (r.rlim_max > cur.rlim_max)
            r.rlim_max = cur.rlim_max;
        if (r.rlim_cur > r.rlim_max)
            r.rlim_cur = r.rlim_max;
    }
    return r;
}

static const char *stage_text(int stage)
{
    switch (stage) {
    case STAGE_FORK:
        return "fork";
    case STAGE_CHDIR:
        return "cannot enter its folder";
    case STAGE_EXEC:
        return "exec";
    default:
        return "setup";
    }
}

/* Wait for the guard to exit and collect its status; the group is killed
 * first (what the program left behind), while the unreaped guard still
 * holds the group's id. Returns 1 when ws_proc_stop_all had killed it. */
static int reap(struct child *c, int *status, struct rusage *ru)
{
    int stopped = reg_remove(c);
    kill_group(c);
    memset(ru, 0, sizeof(*ru));
    while (wait4(c->pid, status, 0, ru) < 0 && errno == EINTR)
        ;
    close_fd(&c->pidfd);
    return stopped;
}

/* Start opts->argv under a guard. With `want_input`, c->in_fd is the write
 * end of its stdin; otherwise stdin is /dev/null. Returns once the program
 * has been exec'd: 0, or WS_ENOTFOUND / WS_EIO / WS_ENOMEM / WS_ECANCELED. */
static int child_start(struct child *c, const struct ws_proc_opts *o, int want_input,
                       const struct ws_proc_limits *l, struct ws_err *err)
{
    const char *name = o->name ? o->name : o->argv[0];
    int opipe[2] = {-1, -1}, epipe[2] = {-1, -1}, ipipe[2] = {-1, -1}, rpipe[2] = {-1, -1};
    char path[4096], **envp = NULL;
    struct report rep;
    struct plan p;
    sigset_t all, old;
    ssize_t n;
    pid_t pid;
    int rc = 0, stopping;

    memset(c, 0, sizeof(*c));
    c->pid = -1;
    c->pidfd = c->out_fd = c->err_fd = c->in_fd = -1;
    pthread_once(&reg_once, reg_init);
    if (!find_program(path, sizeof(path), o->argv[0]))
        return ws_err_set(err, WS_ENOTFOUND, "%s: %s not found in PATH", name, o->argv[0]);
    if (!(envp = merged_env(o->env, o->extra_env)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (!want_input) /* stdin: /dev/null, never wavesync's own */
        ipipe[0] = above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (open_pipe(opipe) < 0 || open_pipe(epipe) < 0 || open_pipe(rpipe) < 0 ||
        (want_input ? open_pipe(ipipe) : ipipe[0]) < 0) {
        rc = ws_err_set(err, WS_EIO, "%s: cannot start: %s", name, strerror(errno));
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.path = path;
    p.argv = (char *const *)o->argv;
    p.envp = envp;
    p.cwd = o->cwd;
    p.in_fd = ipipe[0];
    p.out_fd = opipe[1];
    p.err_fd = epipe[1];
    p.report_fd = rpipe[1];
    p.parent = getpid();
    /* SIGXCPU at the limit, SIGKILL a second later for programs (Go's) that ignore it */
    p.cpu = clamp(l->cpu_ms / 1000, l->cpu_ms / 1000 + 1, RLIMIT_CPU);
    p.as = clamp(l->memory_bytes, l->memory_bytes, RLIMIT_AS);
    p.max_fd = (int)sysconf(_SC_OPEN_MAX);
    if (p.max_fd <= 0 || p.max_fd > 65536)
        p.max_fd = 65536;

    /* No handler of wavesync's may run in the guard before it resets them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&reg.lock);
    stopping = reg.stopping;
    pid = stopping ? -1 : fork();
    if (pid == 0)
        guard_main(&p);
    if (pid > 0) {
        c->pid = pid;
        c->started_ms = ws_now_ms();
        c->next = reg.head;
        if (reg.head)
            reg.head->prev = c;
        reg.head = c;
    }
    pthread_mutex_unlock(&reg.lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = stopping ? ws_err_set(err, WS_ECANCELED, "%s: not started: wavesync is stopping", name)
                      : ws_err_set(err, WS_EIO, "%s: cannot start: fork: %s", name, strerror(errno));
        goto out;
    }
    close_fd(&opipe[1]);
    close_fd(&epipe[1]);
    close_fd(&ipipe[0]);
    close_fd(&rpipe[1]);
    /* EOF: the program has been exec'd (the report pipe closes on exec). */
    while ((n = read(rpipe[0], &rep, sizeof(rep))) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof(rep)) {
        int status;
        struct rusage ru;
        reap(c, &status, &ru);
        if (rep.stage == STAGE_EXEC && (rep.error == ENOENT || rep.error == EACCES))
            rc = ws_err_set(err, WS_ENOTFOUND, "%s: cannot run %s: %s", name, path, strerror(rep.error));
        else if (rep.stage == STAGE_CHDIR)
            rc = ws_err_set(err, WS_EIO, "%s: cannot enter %s: %s", name, o->cwd, strerror(rep.error));
        else
            rc = ws_err_set(err, WS_EIO, "%s: cannot start (%s): %s", name, stage_text(rep.stage),
                            strerror(rep.error));
        c->pid = -1;
        goto out;
    }
#ifdef SYS_pidfd_open
    c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    if (c->pidfd >= 0)
        fcntl(c->pidfd, F_SETFD, FD_CLOEXEC);
    c->out_fd = opipe[0];
    c->err_fd = epipe[0];
    c->in_fd = ipipe[1];
    opipe[0] = epipe[0] = ipipe[1] = -1;
out:
    for (int i = 0; i < 2; i++) {
        close_fd(&opipe[i]);
        close_fd(&epipe[i]);
        close_fd(&ipipe[i]);
        close_fd(&rpipe[i]);
    }
    free(envp);
    return rc;
}

/* Has the guard exited (not yet reaped)? For kernels without pidfd. */
static int guard_gone(const struct child *c)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == c->pid;
}

/* ---- what the child writes -------------------------------------------------------- */

/* stdout whole up to the limit; of stderr, the head. Returns -1 when stdout
 * passed its limit. */
/* Stderr past ERR_HEAD: keep the first ERR_KEEP_HEAD bytes, then ERR_MARK,
 * then the last bytes, so that the buffer always ends with what the program
 * wrote last. */
static void absorb_err(struct ws_buf *e, const char *p, size_t n)
{
    const size_t mark = sizeof(ERR_MARK) - 1, t = ERR_KEEP_HEAD + mark, tail_max = ERR_HEAD - t;
    size_t room = e->len < ERR_HEAD ? ERR_HEAD - e->len : 0, cur_len, want, keep;
    const char *cur;
    if (n <= room) {
        ws_buf_append(e, p, n);
        return;
    }
    if (ws_buf_append(e, p, room) < 0 || e->len != ERR_HEAD)
        return;
    p += room;
    n -= room;
    cur = memcmp(e->data + ERR_KEEP_HEAD, ERR_MARK, mark) == 0 ? e->data + t : e->data + ERR_KEEP_HEAD;
    cur_len = ERR_HEAD - (size_t)(cur - e->data);
    want = cur_len + n < tail_max ? cur_len + n : tail_max;
    if (n >= want) {
        memcpy(e->data + t, p + n - want, want);
    } else {
        keep = want - n;
        memmove(e->data + t, cur + cur_len - keep, keep);
        memcpy(e->data + t + keep, p, n);
    }
    memcpy(e->data + ERR_KEEP_HEAD, ERR_MARK, mark);
    e->len = t + want;
    e->data[e->len] = '\0';
}

static int absorb(struct ws_buf *out, struct ws_buf *errb, int is_err, const char *p, size_t n)
{
    if (is_err) {
        absorb_err(errb, p, n);
        return 0;
    }
    return ws_buf_append(out, p, n) < 0 ? -1 : 0;
}

static void log_usage(const struct ws_proc_result *r)
{
    ws_debug("%s: %s in %.2f s, %.2f CPU-s, peak RSS %llu MiB", r->name,
             r->end == WS_PROC_EXITED && r->exit_status == 0 ? "done" : "failed", (double)r->wall_ms / 1000,
             (double)r->cpu_ms / 1000, (unsigned long long)r->max_rss_kb / 1024);
}

/* ---- blocking runs (worker threads) ----------------------------------------------- */

static int code_for(enum ws_proc_end end)
{
    switch (end) {
    case WS_PROC_MEMORY:
    case WS_PROC_CPU:
    case WS_PROC_OUTPUT:
        return WS_ELIMIT; /* the input asks too much: retrying cannot help */
    case WS_PROC_TIMEOUT:
        return WS_ETIMEOUT;
    case WS_PROC_STOPPED:
        return WS_ECANCELED;
    default:
        return WS_EIO;
    }
}

int ws_proc_run_blocking(char **out, size_t *out_len, const struct ws_proc_opts *opts, struct ws_err *err)
{
    struct ws_proc_limits l = effective_limits(&opts->limits);
    struct ws_proc_result r;
    enum ws_proc_end ours = WS_PROC_EXITED;
    struct ws_buf ob, eb;
    struct child c;
    struct rusage ru;
    uint64_t deadline, drain_until = 0;
    int rc, status = 0, exited = 0;

    *out = NULL;
    if ((rc = child_start(&c, opts, 0, &l, err)) < 0)
        return rc;
    ws_buf_init(&ob, l.max_output);
    ws_buf_init(&eb, ERR_HEAD + 1);
    deadline = c.started_ms + l.timeout_ms;
    while (c.out_fd >= 0 || c.err_fd >= 0 || !exited) {
        struct pollfd pfd[3] = {{c.out_fd, POLLIN, 0}, {c.err_fd, POLLIN, 0}, {c.pidfd, POLLIN, 0}};
        uint64_t now = ws_now_ms(), until;
        char chunk[16384];
        if (!exited && ours == WS_PROC_EXITED && now >= deadline) {
            ours = WS_PROC_TIMEOUT;
            kill_group(&c);
        }
        if (exited && now >= drain_until) /* output held by a process that left the group */
            break;
        /* wake for the deadline, the end of the drain, or (killed) to look again */
        until = exited ? drain_until : ours == WS_PROC_EXITED ? deadline : now + 1000;
        if (until > now + 1000)
            until = now + 1000;
        if (!exited && c.pidfd < 0 && until > now + POLL_EXIT_MS)
            until = now + POLL_EXIT_MS;
        /* once the guard has exited its pidfd stays readable: no longer polled */
        if (poll(pfd, exited ? 2 : 3, (int)(until > now ? until - now : 0)) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            int *fd = i == 0 ? &c.out_fd : &c.err_fd;
            ssize_t n;
            if (*fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if ((n = read(*fd, chunk, sizeof(chunk))) < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close_fd(fd);
            } else if (absorb(&ob, &eb, i, chunk, (size_t)n) < 0) {
                if (ours == WS_PROC_EXITED)
                    ours = WS_PROC_OUTPUT;
                kill_group(&c);
                close_fd(fd);
            }
        }
        if (!exited && (c.pidfd >= 0 ? (pfd[2].revents & POLLIN) != 0 : guard_gone(&c))) {
            exited = 1;
            kill_group(&c); /* what the program left behind */
            drain_until = ws_now_ms() + DRAIN_MS;
        }
    }
    close_fd(&c.out_fd);
    close_fd(&c.err_fd);
    if (reap(&c, &status, &ru) && ours == WS_PROC_EXITED)
        ours = WS_PROC_STOPPED;

    memset(&r, 0, sizeof(r));
    r.limits = l;
    r.name = opts->name ? opts->name : opts->argv[0];
    r.errout = eb.data ? eb.data : "";
    r.err_len = eb.len;
    r.out = ob.data ? ob.data : "";
    r.out_len = ob.len;
    r.wall_ms = ws_now_ms() - c.started_ms;
    classify(&r, status, &ru, ours);
    log_usage(&r);
    if (r.end != WS_PROC_EXITED || r.exit_status != 0) {
        char why[900];
        ws_proc_describe(&r, why, sizeof(why));
        rc = ws_err_set(err, code_for(r.end), "%s: %s", r.name, why);
        ws_buf_free(&ob);
    } else {
        if (out_len)
            *out_len = ob.len;
        *out = ws_buf_steal(&ob);
        if (!*out && !(*out = calloc(1, 1)))
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    ws_buf_free(&eb);
    return rc;
}

/* ---- runs on the loop ---------------------------------------------------------------- */

/* A proc is freed only after every one of its handles has closed. */
struct ws_proc {
    struct child child;
    uv_pipe_t in, out, err;
    uv_poll_t exit_poll;   /* the guard's pidfd */
    uv_timer_t timer;      /* the deadline, then the drain; without pidfd also the exit check */
    uv_write_t write_req;
    struct ws_buf obuf, ebuf;
    struct ws_proc_limits limits;
    char *name, *setting, *input;
    ws_proc_cb cb;
    void *data;
    int open_handles;
    int has_poll;
    int exited;
    enum ws_proc_end ours;
};

static void proc_finish(struct ws_proc *p)
{
    struct ws_proc_result r;
    struct rusage ru;
    int status = 0;
    if (reap(&p->child, &status, &ru) && p->ours == WS_PROC_EXITED) /* exited: does not block */
        p->ours = WS_PROC_STOPPED;
    memset(&r, 0, sizeof(r));
    r.limits = p->limits;
    r.limits.setting = p->setting;
    r.name = p->name;
    r.out = p->obuf.data ? p->obuf.data : "";
    r.out_len = p->obuf.len;
    r.errout = p->ebuf.data ? p->ebuf.data : "";
    r.err_len = p->ebuf.len;
    r.wall_ms = ws_now_ms() - p->child.started_ms;
    classify(&r, status, &ru, p->ours);
    log_usage(&r);
    p->cb(&r, p->data);
    ws_buf_free(&p->obuf);
    ws_buf_free(&p->ebuf);
    free(p->name);
    free(p->setting);
    free(p->input);
    free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct ws_proc *p = h->data;
    if (--p->open_handles == 0)
        proc_finish(p);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* The last step: once the guard has exited and both streams are done, the
 * timer and the exit watch close; the last close reaps and reports. */
static void maybe_done(struct ws_proc *p)
{
    if (!p->exited || !uv_is_closing((uv_handle_t *)&p->out) || !uv_is_closing((uv_handle_t *)&p->err))
        return;
    close_handle((uv_handle_t *)&p->timer);
    if (p->has_poll)
        close_handle((uv_handle_t *)&p->exit_poll);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static __thread char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct ws_proc *p = s->data;
    int is_err = (uv_pipe_t *)s == &p->err;
    if (n > 0 && absorb(&p->obuf, &p->ebuf, is_err, buf->base, (size_t)n) == 0)
        return;
    if (n > 0 && p->ours == WS_PROC_EXITED) { /* stdout passed its limit */
        p->ours = WS_PROC_OUTPUT;
        kill_group(&p->child);
    }
    if (n != 0) { /* the limit, EOF or a read error: either way this stream is done */
        close_handle((uv_handle_t *)s);
        maybe_done(p);
    }
}

static void on_drained(uv_timer_t *t)
{
    struct ws_proc *p = t->data;
    close_handle((uv_handle_t *)&p->out);
    close_handle((uv_handle_t *)&p->err);
    maybe_done(p);
}

/* The guard has exited: kill what the program left behind, and give output
 * still held by a process that left the group a moment, not more. */
static void guard_exited(struct ws_proc *p)
{
    p->exited = 1;
    kill_group(&p->child);
    if (p->has_poll)
        uv_poll_stop(&p->exit_poll);
    uv_timer_start(&p->timer, on_drained, DRAIN_MS, 0);
    maybe_done(p);
}

static void on_exit_poll(uv_poll_t *h, int status, int events)
{
    struct ws_proc *p = h->data;
    (void)status;
    (void)events;
    if (!p->exited)
        guard_exited(p);
}

/* The deadline; without pidfd also the look for the guard's exit. */
static void on_timer(uv_timer_t *t)
{
    struct ws_proc *p = t->data;
    uint64_t now = ws_now_ms(), deadline = p->child.started_ms + p->limits.timeout_ms;
    if (p->exited)
        return;
    if (!p->has_poll && guard_gone(&p->child)) {
        guard_exited(p);
        return;
    }
    if (now < deadline) {
        /* the loop's clock lags the real one: a one-shot timer may fire early */
        if (p->has_poll)
            uv_timer_start(&p->timer, on_timer, deadline - now, 0);
        return;
    }
    if (p->ours == WS_PROC_EXITED) {
        p->ours = WS_PROC_TIMEOUT;
        kill_group(&p->child);
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct ws_proc *p = req->data;
    (void)status; /* a child that does not read its stdin is not an error */
    close_handle((uv_handle_t *)&p->in);
}

int ws_proc_run(uv_loop_t *loop, const struct ws_proc_opts *opts, ws_proc_cb cb, void *data,
                struct ws_err *err)
{
    struct ws_proc *p = calloc(1, sizeof(*p));
    int want_input = opts->input && opts->input_len, rc;
    uint64_t tick;
    if (!p)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    p->limits = effective_limits(&opts->limits);
    p->name = strdup(opts->name ? opts->name : opts->argv[0]);
    p->setting = ws_strdup0(opts->limits.setting);
    p->input = want_input ? malloc(opts->input_len) : NULL;
    if (!p->name || (opts->limits.setting && !p->setting) || (want_input && !p->input)) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto fail;
    }
    p->limits.setting = p->setting;
    if ((rc = child_start(&p->child, opts, want_input, &p->limits, err)) < 0)
        goto fail;
    p->cb = cb;
    p->data = data;
    ws_buf_init(&p->obuf, p->limits.max_output);
    ws_buf_init(&p->ebuf, ERR_HEAD + 1);
    /* libuv owns the pipe ends from here (uv_pipe_open; closed with the handles) */
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_pipe_init(loop, &p->in, 0);
    uv_timer_init(loop, &p->timer);
    p->out.data = p->err.data = p->in.data = p->timer.data = p->exit_poll.data = p;
    p->write_req.data = p;
    p->open_handles = 4;
    uv_pipe_open(&p->out, p->child.out_fd);
    uv_pipe_open(&p->err, p->child.err_fd);
    p->child.out_fd = p->child.err_fd = -1;
    if (p->child.pidfd >= 0 && uv_poll_init(loop, &p->exit_poll, p->child.pidfd) == 0) {
        p->has_poll = 1;
        p->open_handles++;
        uv_poll_start(&p->exit_poll, UV_READABLE, on_exit_poll);
    }
    /* with pidfd the timer fires once, at the deadline; without, it also looks for the exit */
    tick = p->has_poll ? p->limits.timeout_ms : POLL_EXIT_MS;
    uv_timer_start(&p->timer, on_timer, tick, p->has_poll ? 0 : POLL_EXIT_MS);
    uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
    if (want_input) {
        uv_buf_t b;
        uv_pipe_open(&p->in, p->child.in_fd);
        p->child.in_fd = -1;
        memcpy(p->input, opts->input, opts->input_len);
        b = uv_buf_init(p->input, (unsigned)opts->input_len);
        if (uv_write(&p->write_req, (uv_stream_t *)&p->in, &b, 1, on_written) == 0)
            return 0;
    }
    close_handle((uv_handle_t *)&p->in);
    return 0;
fail:
    free(p->name);
    free(p->setting);
    free(p->input);
    free(p);
    return rc;
}
