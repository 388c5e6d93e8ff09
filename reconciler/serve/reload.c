/* reload.c — the service and its service manager: readiness and the
 * watchdog (sd_notify), the state folder's lock, and reloading
 * wavesync.yaml on SIGHUP or when the file changes.
 *
 * A reload is one mechanism, the startup itself: the new file is read and
 * its Applications loaded on a worker thread; a file that does not load is
 * reported (log, /readyz, metrics) and the running configuration kept. One
 * that loads makes the service quiesce — webhooks are still accepted and
 * stored, no run, routing, poll or live-state render starts, and those in
 * flight end — then close its store and exec its own image with the same
 * arguments, handing over the listening socket (no connection is refused
 * meanwhile) and keeping its PID, so that the service manager sees a reload,
 * not a restart. The new image routes the triggers that arrived meanwhile
 * and runs what is pending, as after any restart. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/sdnotify.h"
#include "base/timer.h"
#include "base/util.h"
#include "serve/serve_int.h"

#define CONFIG_POLL_MS 2000
#define QUIESCE_TICK_MS 100
#define MAX_CONFIG_BYTES (4u << 20)

struct reload {
    struct svc *s;
    char *config_path;
    char **argv;
    uv_signal_t sighup;
    uv_fs_poll_t fs_poll;
    uv_timer_t *watchdog;
    uv_timer_t *quiesce;
    uint64_t config_hash;     /* of the file's bytes as the running configuration read them */
    int job;                  /* a check is running on a worker thread */
    int again;                /* asked again meanwhile: check once more */
    int lock_fd;
    uint64_t failures;        /* reloads refused since this image started */
    char error[1024];         /* why the last reload was refused ("" = it was not) */
    int64_t error_at;         /* wall-clock seconds */
    uint64_t quiesce_since_ms;
    uint64_t quiesce_logged_ms;
    int handles_closed;       /* ws__reload_stop closed them: freed once no check runs */
    int execing;              /* the store is closing for the exec */
    int stop_instead;         /* SIGTERM came meanwhile: exit instead of the exec */
};

struct check_job {
    uv_work_t work;
    struct reload *r;
    int forced;               /* SIGHUP: reload even when the bytes are the same */
    uint64_t hash;
    int unchanged;
    struct ws_err err;
};

/* FNV-1a over the file's bytes: tells "the file changed", nothing more. */
static int file_hash(const char *path, uint64_t *out, struct ws_err *err)
{
    FILE *f = fopen(path, "rb");
    uint64_t h = 14695981039346656037ULL;
    size_t total = 0, n;
    unsigned char buf[8192];
    if (!f)
        return ws_err_set(err, WS_ECONFIG, "%s: %s", path, strerror(errno));
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        total += n;
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        if (total > MAX_CONFIG_BYTES) {
            fclose(f);
            return ws_err_set(err, WS_ECONFIG, "%s: larger than %u MiB", path, MAX_CONFIG_BYTES >> 20);
        }
    }
    fclose(f);
    *out = h;
    return 0;
}

static void check_work(uv_work_t *w)
{
    struct check_job *j = ws_container_of(w, struct check_job, work);
    struct ws_config cfg;
    struct ws_catalog cat;
    ws_err_clear(&j->err);
    if (file_hash(j->r->config_path, &j->hash, &j->err) < 0)
        return;
    if (!j->forced && j->hash == j->r->config_hash) {
        j->unchanged = 1;
        return;
    }
    /* what the new image's startup will do, so that it cannot fail there */
    if (ws_config_load(&cfg, j->r->config_path, &j->err) < 0)
        return;
    if (ws_catalog_load(&cat, &cfg, 0, &j->err) == 0)
        ws_catalog_free(&cat);
    ws_config_free(&cfg);
}

static void start_check(struct reload *r, int forced);
static void on_quiesce_tick(uv_timer_t *t);

static void check_after(uv_work_t *w, int status)
{
    struct check_job *j = ws_container_of(w, struct check_job, work);
    struct reload *r = j->r;
    struct svc *s = r->s;
    int forced = r->again > 1;
    r->job = 0;
    if (r->handles_closed) { /* the service stopped meanwhile */
        free(j);
        free(r->config_path);
        free(r);
        return;
    }
    if (status < 0 || s->stopping) {
        if (!s->stopping)
            ws_sd_notify("READY=1"); /* RELOADING=1 was sent: nothing came of it */
        free(j);
        return;
    }
    if (r->again) { /* the file changed again while it was read: read it again */
        r->again = 0;
        free(j);
        start_check(r, forced);
        return;
    }
    if (j->unchanged) { /* touched, not changed: nothing to do */
        ws_sd_notify("READY=1");
        free(j);
        return;
    }
    if (j->err.code) {
        r->failures++;
        r->error_at = ws_wall_s();
        snprintf(r->error, sizeof(r->error), "%s", j->err.msg);
        ws_error("reload refused, still serving with the configuration loaded before: %s", j->err.msg);
        ws_sd_notify("READY=1\nSTATUS=serving; the last reload was refused (see the log or /readyz)");
        free(j);
        return;
    }
    free(j);
    r->error[0] = '\0';
    s->reloading = 1;
    r->quiesce_since_ms = r->quiesce_logged_ms = ws_now_ms();
    ws_info("reload: %s loads; waiting for %d running %s to end (webhooks are still accepted)",
            r->config_path, s->running, ws_plural((unsigned)s->running, "sync", "syncs"));
    ws__track_stop(s);
    ws__poll_stop(s);
    if (!r->quiesce)
        r->quiesce = ws_timer_start(s->loop, 0, on_quiesce_tick, r);
}

static void start_check(struct reload *r, int forced)
{
    struct check_job *j;
    if (r->s->stopping || r->s->reloading)
        return;
    if (r->job) {
        r->again = forced ? 2 : r->again ? r->again : 1;
        return;
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        ws_error("reload: out of memory");
        return;
    }
    j->r = r;
    j->forced = forced;
    ws_sd_notify("RELOADING=1\nSTATUS=reading the configuration again");
    if (uv_queue_work(r->s->loop, &j->work, check_work, check_after) < 0) {
        ws_error("reload: cannot start reading %s", r->config_path);
        free(j);
        return;
    }
    r->job = 1;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    struct reload *r = h->data;
    (void)signum;
    ws_info("SIGHUP: reading %s again", r->config_path);
    start_check(r, 1);
}

static void on_config_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    struct reload *r = h->data;
    (void)prev;
    (void)curr;
    if (status == 0) /* changed; a missing file is reported by the SIGHUP that follows a fix, not polled */
        start_check(r, 0);
}

static int quiet(const struct svc *s)
{
    if (s->running > 0 || ws__track_busy(s) || ws__poll_busy(s) || s->child_waits || s->removals)
        return 0;
    for (size_t i = 0; i < s->cfg->nrepos; i++)
        if (s->queues[i].busy)
            return 0;
    for (size_t i = 0; i < s->napps; i++)
        if (s->apps[i].starting)
            return 0;
    return 1;
}

static void exec_self(void *data)
{
    struct reload *r = data;
    struct svc *s = r->s;
    char fdv[64], **env;
    int fd = ws_httpd_fd(s->httpd);
    if (r->stop_instead) { /* the store is closed cleanly: nothing is lost */
        ws_info("stopped (during a reload)");
        _exit(0);
    }
    /* the listener stays open across the exec: connections wait in its backlog */
    if (fd >= 0)
        fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) & ~FD_CLOEXEC);
    snprintf(fdv, sizeof(fdv), "WAVESYNC_LISTEN_FD=%d:%s:%d", fd, s->cfg->server.listen_host,
             ws_httpd_port(s->httpd));
    if ((env = ws_sd_exec_env())) {
        size_t n = 0;
        while (env[n])
            n++;
        char **grown = realloc(env, (n + 3) * sizeof(*env));
        if (grown) {
            env = grown;
            env[n++] = fdv;
            env[n++] = "WAVESYNC_RELOADED=1";
            env[n] = NULL;
            execve("/proc/self/exe", r->argv, env);
        }
    }
    /* the store is closed: nothing safe is left but to stop, and be restarted */
    ws_error("reload: cannot run %s again: %s; stopping", r->argv[0], strerror(errno));
    _exit(2);
}

static void on_quiesce_tick(uv_timer_t *t)
{
    struct reload *r = t->data;
    struct svc *s = r->s;
    ws_timer_close(&r->quiesce);
    if (s->stopping)
        return;
    if (!quiet(s)) {
        if (ws_now_ms() - r->quiesce_logged_ms >= 30000) {
            r->quiesce_logged_ms = ws_now_ms();
            ws_info("reload: still waiting for %d running %s", s->running,
                    ws_plural((unsigned)s->running, "sync", "syncs"));
        }
        r->quiesce = ws_timer_start(s->loop, QUIESCE_TICK_MS, on_quiesce_tick, r);
        return;
    }
    ws_info("reload: quiet after %.1fs; starting again with the new configuration",
            (double)(ws_now_ms() - r->quiesce_since_ms) / 1000.0);
    ws_sd_notify("STATUS=starting again with the new configuration");
    /* later calls on the closing store fail (ECANCELED → 503, "deliver again") */
    r->execing = 1;
    ws_store_close(s->store, exec_self, r);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    ws_sd_notify("WATCHDOG=1");
}

int ws__reload_lock(struct svc *s, const char *state_dir, struct ws_err *err)
{
    char *path = NULL, *probe = NULL, pid[32], other[32] = "";
    int fd = -1, probe_fd;
    ssize_t n;
    /* writable: SQLite must create its journal files beside the database */
    if (asprintf(&probe, "%s/.wavesync-write-test-XXXXXX", state_dir) < 0)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if ((probe_fd = mkstemp(probe)) < 0) {
        ws_err_set(err, WS_ECONFIG, "the state folder %s is not writable: %s (settings.stateDir)", state_dir,
                   strerror(errno));
        free(probe);
        return WS_ECONFIG;
    }
    close(probe_fd);
    unlink(probe);
    free(probe);
    if (asprintf(&path, "%s/wavesync.lock", state_dir) < 0)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        ws_err_set(err, WS_ECONFIG, "cannot open %s: %s", path, strerror(errno));
        free(path);
        return WS_ECONFIG;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if ((n = pread(fd, other, sizeof(other) - 1, 0)) > 0)
            other[strcspn(other, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            ws_err_set(err, WS_ECONFIG,
                       "the state folder %s is in use by another wavesync serve%s%s%s (%s is locked): one "
                       "service per state folder",
                       state_dir, other[0] ? " (pid " : "", other, other[0] ? ")" : "", path);
        else
            ws_err_set(err, WS_ECONFIG, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        free(path);
        return WS_ECONFIG;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        ws_warn("%s: cannot write our pid: %s", path, strerror(errno));
    free(path);
    s->lock_fd = fd;
    return 0;
}

int ws__reload_start(struct svc *s, const char *config_path, char **argv)
{
    struct reload *r = calloc(1, sizeof(*r));
    struct ws_err err;
    uint64_t usec = ws_sd_watchdog_usec();
    if (!r || !(r->config_path = strdup(config_path))) {
        free(r);
        return WS_ENOMEM;
    }
    r->s = s;
    r->argv = argv;
    s->reload = r;
    ws_err_clear(&err);
    if (file_hash(config_path, &r->config_hash, &err) < 0)
        ws_warn("%s", err.msg);
    uv_signal_init(s->loop, &r->sighup);
    r->sighup.data = r;
    uv_signal_start(&r->sighup, on_sighup, SIGHUP);
    uv_fs_poll_init(s->loop, &r->fs_poll);
    r->fs_poll.data = r;
    uv_fs_poll_start(&r->fs_poll, on_config_changed, config_path, CONFIG_POLL_MS);
    if (usec) { /* fed from the loop: a loop that stops turning stops feeding it */
        uint64_t every = usec / 2000 ? usec / 2000 : 1;
        if ((r->watchdog = ws_timer_new(s->loop, r))) {
            uv_timer_start(r->watchdog, on_watchdog, 0, every);
            uv_unref((uv_handle_t *)r->watchdog);
        }
    }
    return 0;
}

static void on_reload_closed(uv_handle_t *h)
{
    struct reload *r = h->data;
    r->handles_closed = 1;
    if (!r->job) { /* else check_after frees it */
        free(r->config_path);
        free(r);
    }
}

static void nop_close(uv_handle_t *h)
{
    (void)h;
}

void ws__reload_stop(struct svc *s)
{
    struct reload *r = s->reload;
    if (!r)
        return;
    s->reload = NULL;
    ws_timer_close(&r->watchdog);
    ws_timer_close(&r->quiesce);
    uv_close((uv_handle_t *)&r->sighup, nop_close);
    uv_close((uv_handle_t *)&r->fs_poll, on_reload_closed); /* closed after the signal handle */
}

void ws__reload_status(const struct svc *s, char *buf, size_t len)
{
    const struct reload *r = s->reload;
    buf[0] = '\0';
    if (r && r->error[0]) {
        char ts[32];
        time_t t = (time_t)r->error_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(buf, len, "the last reload (%s) was refused, serving with the configuration loaded before: %s\n",
                 ts, r->error);
    } else if (s->reloading) {
        snprintf(buf, len, "reloading: waiting for %d running %s to end\n", s->running,
                 ws_plural((unsigned)s->running, "sync", "syncs"));
    }
}

uint64_t ws__reload_failures(const struct svc *s)
{
    return s->reload ? s->reload->failures : 0;
}

int ws__reload_refused(const struct svc *s)
{
    return s->reload && s->reload->error[0];
}

int ws__reload_execing(struct svc *s)
{
    if (!s->reload || !s->reload->execing)
        return 0;
    s->reload->stop_instead = 1;
    return 1;
}
