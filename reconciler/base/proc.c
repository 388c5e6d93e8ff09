/* proc.c — child processes on the loop with bounded output and a deadline.
 * A proc is freed only after every one of its handles has closed. */
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct ws_proc {
    uv_process_t process;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    uv_write_t write_req;
    struct ws_buf obuf, ebuf;
    char *input;
    ws_proc_cb cb;
    void *data;
    int open_handles;
    int exited;
    int64_t exit_status;
    int term_signal;
    int timed_out;
    int truncated;
};

static void finish_if_done(struct ws_proc *p);

static void on_handle_closed(uv_handle_t *h)
{
    struct ws_proc *p = h->data;
    p->open_handles--;
    finish_if_done(p);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

static void finish_if_done(struct ws_proc *p)
{
    struct ws_proc_result r;
    if (p->open_handles > 0)
        return;
    if (!p->cb)
        goto out;
    memset(&r, 0, sizeof(r));
    r.exit_status = p->exit_status;
    r.term_signal = p->term_signal;
    r.timed_out = p->timed_out;
    r.truncated = p->truncated;
    r.out = p->obuf.data ? p->obuf.data : "";
    r.out_len = p->obuf.len;
    r.errout = p->ebuf.data ? p->ebuf.data : "";
    r.err_len = p->ebuf.len;
    p->cb(&r, p->data);
out:
    ws_buf_free(&p->obuf);
    ws_buf_free(&p->ebuf);
    free(p->input);
    free(p);
}

static void kill_child(struct ws_proc *p)
{
    if (!p->exited)
        uv_process_kill(&p->process, SIGKILL);
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
    struct ws_buf *b = (uv_pipe_t *)s == &p->out ? &p->obuf : &p->ebuf;
    if (n > 0) {
        if (ws_buf_append(b, buf->base, (size_t)n) < 0) {
            p->truncated = 1;
            kill_child(p);
            close_handle((uv_handle_t *)s);
        }
        return;
    }
    if (n < 0) /* UV_EOF or a read error: either way this stream is done */
        close_handle((uv_handle_t *)s);
}

static void on_child_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct ws_proc *p = proc->data;
    p->exited = 1;
    p->exit_status = status;
    p->term_signal = sig;
    uv_timer_stop(&p->timer);
    close_handle((uv_handle_t *)&p->timer);
    close_handle((uv_handle_t *)proc);
}

static void on_timeout(uv_timer_t *t)
{
    struct ws_proc *p = t->data;
    p->timed_out = 1;
    kill_child(p);
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
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    int rc;
    if (!p)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    p->cb = cb;
    p->data = data;
    ws_buf_init(&p->obuf, opts->max_output ? opts->max_output : 16u << 20);
    ws_buf_init(&p->ebuf, opts->max_output ? opts->max_output : 16u << 20);
    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_timer_init(loop, &p->timer);
    p->in.data = p->out.data = p->err.data = p->timer.data = p->process.data = p;
    p->write_req.data = p;
    p->open_handles = 4; /* the three pipes and the timer; the process adds one */

    memset(&po, 0, sizeof(po));
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->err;
    po.file = opts->argv[0];
    po.args = (char **)opts->argv;
    po.env = (char **)opts->env;
    po.cwd = opts->cwd;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_child_exit;

    rc = uv_spawn(loop, &p->process, &po);
    if (rc < 0) {
        ws_err_set(err, WS_EIO, "cannot run %s: %s", opts->argv[0], uv_strerror(rc));
        /* The process handle is initialised even when uv_spawn fails: close
         * it with the rest; the proc is freed after the last close, silently. */
        p->cb = NULL;
        p->open_handles = 5;
        uv_close((uv_handle_t *)&p->process, on_handle_closed);
        uv_close((uv_handle_t *)&p->in, on_handle_closed);
        uv_close((uv_handle_t *)&p->out, on_handle_closed);
        uv_close((uv_handle_t *)&p->err, on_handle_closed);
        uv_close((uv_handle_t *)&p->timer, on_handle_closed);
        return rc == UV_ENOENT ? WS_ENOTFOUND : WS_EIO;
    }
    p->open_handles++;
    uv_timer_start(&p->timer, on_timeout, opts->timeout_ms ? opts->timeout_ms : 60000, 0);
    uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
    if (opts->input && opts->input_len) {
        uv_buf_t b;
        p->input = malloc(opts->input_len);
        if (p->input) {
            memcpy(p->input, opts->input, opts->input_len);
            b = uv_buf_init(p->input, (unsigned)opts->input_len);
            if (uv_write(&p->write_req, (uv_stream_t *)&p->in, &b, 1, on_written) == 0)
                return 0;
        }
    }
    close_handle((uv_handle_t *)&p->in);
    return 0;
}

void ws_proc_describe(const struct ws_proc_result *r, char *buf, size_t len)
{
    char head[300];
    size_t n = r->err_len < sizeof(head) - 1 ? r->err_len : sizeof(head) - 1;
    memcpy(head, r->errout, n);
    head[n] = '\0';
    while (n > 0 && (head[n - 1] == '\n' || head[n - 1] == '\r' || head[n - 1] == ' '))
        head[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (head[i] == '\n')
            head[i] = ' ';
    if (r->timed_out)
        snprintf(buf, len, "timed out and was killed%s%s", n ? ": " : "", head);
    else if (r->truncated)
        snprintf(buf, len, "produced more output than allowed and was killed");
    else if (r->term_signal)
        snprintf(buf, len, "killed by signal %d%s%s", r->term_signal, n ? ": " : "", head);
    else
        snprintf(buf, len, "exited with status %lld%s%s", (long long)r->exit_status,
                 n ? ": " : "", head);
}

/* ---- blocking runs (worker threads) --------------------------------------- */


int ws_proc_in_path(const char *name)
{
    const char *path = getenv("PATH"), *p;
    char buf[4096];
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    for (p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
        if (access(buf, X_OK) == 0)
            return 1;
        p = colon ? colon + 1 : NULL;
    }
    return 0;
}

/* environ + extra, for posix_spawnp; caller frees the array (not the strings). */
static char **merged_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    char **env;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    if (!(env = calloc(n + m + 1, sizeof(char *))))
        return NULL;
    memcpy(env, environ, n * sizeof(char *));
    if (m)
        memcpy(env + n, extra, m * sizeof(char *));
    return env;
}

int ws_proc_run_blocking(char **out, size_t *out_len, const char *const *argv,
                         const char *const *extra_env, const char *cwd, size_t max_output,
                         uint64_t timeout_ms, struct ws_err *err)
{
    int opipe[2] = {-1, -1}, epipe[2] = {-1, -1}, status = 0, rc = 0, killed = 0, open_fds = 2;
    posix_spawn_file_actions_t fa;
    struct ws_buf ob, eb;
    char **env = NULL;
    pid_t pid = -1;
    uint64_t deadline = ws_now_ms() + (timeout_ms ? timeout_ms : 60000);
    ws_buf_init(&ob, max_output ? max_output : 64u << 20);
    ws_buf_init(&eb, 4096);
    *out = NULL;
    if (!ws_proc_in_path(argv[0]))
        return ws_err_set(err, WS_ENOTFOUND, "%s: not found in PATH", argv[0]);
    if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0 || !(env = merged_env(extra_env))) {
        rc = ws_err_set(err, WS_EIO, "%s: cannot start: %s", argv[0], strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(opipe[1]);
    close(epipe[1]);
    opipe[1] = epipe[1] = -1;
    if (rc != 0) {
        rc = ws_err_set(err, rc == ENOENT ? WS_ENOTFOUND : WS_EIO, "%s: cannot start: %s", argv[0],
                        strerror(rc));
        pid = -1;
        goto out;
    }
    while (open_fds > 0) {
        struct pollfd pfd[2] = {{opipe[0], POLLIN, 0}, {epipe[0], POLLIN, 0}};
        int64_t left = (int64_t)(deadline - ws_now_ms());
        char chunk[16384];
        if (left <= 0) {
            killed = 1;
            break;
        }
        if (poll(pfd, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            ssize_t n;
            int fd = i == 0 ? opipe[0] : epipe[0];
            if (fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(fd, chunk, sizeof(chunk));
            if (n <= 0) {
                close(fd);
                if (i == 0)
                    opipe[0] = -1;
                else
                    epipe[0] = -1;
                open_fds--;
            } else if (i == 0 && ws_buf_append(&ob, chunk, (size_t)n) < 0) {
                killed = 2;
                open_fds = 0;
            } else if (i == 1) {
                ws_buf_append(&eb, chunk, eb.len + (size_t)n > 4000 ? 4000 - eb.len : (size_t)n);
            }
        }
    }
    if (killed)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (killed) {
        rc = ws_err_set(err, WS_EIO, "%s: %s", argv[0],
                        killed == 1 ? "timed out and was killed" : "output too large; killed");
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *e = eb.data ? eb.data : "";
        size_t n = strlen(e);
        while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
            e[--n] = '\0';
        rc = ws_err_set(err, WS_EIO, "%s failed (%s %d)%s%s", argv[0],
                        WIFEXITED(status) ? "exit status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), n ? ": " : "", e);
    }
out:
    for (int i = 0; i < 2; i++) {
        if (opipe[i] >= 0)
            close(opipe[i]);
        if (epipe[i] >= 0)
            close(epipe[i]);
    }
    free(env);
    ws_buf_free(&eb);
    if (rc < 0) {
        ws_buf_free(&ob);
        return rc;
    }
    if (out_len)
        *out_len = ob.len;
    *out = ws_buf_steal(&ob);
    return 0;
}
