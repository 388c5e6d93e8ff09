/* test_proc.c — reconciler/base/proc.c with real processes: output, stdin
 * and descriptors, the limits (time, output, memory, CPU) and what each one
 * says, the whole group killed with no process left behind, children dying
 * with a SIGKILLed parent, runs on the loop, and ws_proc_stop_all. The
 * memory limit is set in the child before it allocates: the host is never
 * at risk. Also base/tmptree.c's sweep. */
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/tmptree.h"
#include "tap.h"

static char tmp[512];

/* This process adopts orphans (the guard of a killed helper, a program's
 * leftovers) so that a test can reap them: a zombie still counts as a
 * member of its process group. Call only while no run is waiting. */
static void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* Is process group pgid empty within ms milliseconds? */
static int group_gone_within(pid_t pgid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        reap_orphans();
        if (kill(-pgid, 0) < 0 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int pid_gone_within(pid_t pid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        reap_orphans();
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static long read_number(const char *name)
{
    char path[600];
    long v = -1;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    if ((f = fopen(path, "r"))) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int wait_for_file(const char *name, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (read_number(name) > 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int run_sh(char **out, const char *script, struct ws_proc_limits l, struct ws_err *err)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct ws_proc_opts o = {0};
    o.argv = argv;
    o.cwd = tmp;
    o.limits = l;
    o.limits.setting = "settings.tools.test";
    return ws_proc_run_blocking(out, NULL, &o, err);
}

/* --- messages ------------------------------------------------------------------ */

static void test_describe(void)
{
    static const struct {
        enum ws_proc_end end;
        int status, sig;
        const char *setting, *errout, *want;
        unsigned long long memory; /* 0: 2 GiB */
    } rows[] = {
        {WS_PROC_TIMEOUT, 0, 9, "settings.tools.kustomize", "", "killed after 120 s (settings.tools.kustomize.timeout)", 0},
        {WS_PROC_TIMEOUT, 0, 9, NULL, "", "killed after 120 s", 0},
        {WS_PROC_MEMORY, 2, 0, "settings.tools.helm", "fatal error: out of memory\n",
         "exceeded its memory limit of 2 GiB (settings.tools.helm.memory)", 0},
        {WS_PROC_CPU, 0, 9, "settings.tools.helm", "", "killed after 60 s of CPU time (settings.tools.helm.cpu)", 0},
        {WS_PROC_OUTPUT, 0, 9, "settings.tools.helm", "", "killed: wrote more than 64 MiB to stdout", 0},
        {WS_PROC_STOPPED, 0, 9, NULL, "", "killed: wavesync is stopping", 0},
        {WS_PROC_EXITED, 1, 0, NULL, "Error: no chart\nhere\n", "exited with status 1: Error: no chart here", 0},
        {WS_PROC_SIGNALED, 0, 11, NULL, "", "killed by signal 11 (Segmentation fault)", 0},
        /* a size in the largest unit that shows it exactly */
        {WS_PROC_MEMORY, 2, 0, NULL, "", "exceeded its memory limit of 1900 MiB", 1900ull << 20},
        {WS_PROC_MEMORY, 2, 0, NULL, "", "exceeded its memory limit of 1.4 GiB", 1500000000ull},
        {WS_PROC_MEMORY, 2, 0, NULL, "", "exceeded its memory limit of 3 TiB", 3ull << 40},
        {WS_PROC_MEMORY, 2, 0, NULL, "", "exceeded its memory limit of 64 KiB", 64ull << 10},
        {WS_PROC_MEMORY, 2, 0, NULL, "", "exceeded its memory limit of 1000 bytes", 1000},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_proc_result r = {0};
        char buf[300], name[64];
        r.end = rows[i].end;
        r.exit_status = rows[i].status;
        r.term_signal = rows[i].sig;
        r.errout = rows[i].errout;
        r.err_len = strlen(rows[i].errout);
        r.limits.timeout_ms = 120000;
        r.limits.memory_bytes = rows[i].memory ? rows[i].memory : 2ull << 30;
        r.limits.cpu_ms = 60000;
        r.limits.max_output = 64u << 20;
        r.limits.setting = rows[i].setting;
        ws_proc_describe(&r, buf, sizeof(buf));
        snprintf(name, sizeof(name), "describe row %zu", i);
        tap_is_str(buf, rows[i].want, name);
    }
}

/* --- plain runs ----------------------------------------------------------------- */

static void test_output_and_stdin(void)
{
    struct ws_proc_limits l = {0};
    struct ws_err err;
    char *out = NULL;
    int fd, rc;

    rc = run_sh(&out, "echo hello; echo noise >&2", l, &err);
    tap_is_int(rc, 0, "a run that succeeds");
    tap_is_str(out, "hello\n", "its stdout");
    free(out);

    /* stdin is /dev/null: cat ends at once */
    rc = run_sh(&out, "cat; echo done", l, &err);
    tap_is_str(rc == 0 ? out : err.msg, "done\n", "stdin is /dev/null");
    free(out);

    /* a descriptor wavesync leaks (no close-on-exec) does not reach the program */
    fd = open("/dev/null", O_RDONLY);
    dup2(fd, 42);
    close(fd);
    rc = run_sh(&out, "if [ -e /proc/self/fd/42 ]; then echo leaked; else echo closed; fi", l, &err);
    tap_is_str(rc == 0 ? out : err.msg, "closed\n", "descriptors beyond 0-2 are closed");
    free(out);
    close(42);

    /* its own session and process group, not ours */
    rc = run_sh(&out, "cut -d' ' -f5,6 /proc/$$/stat", l, &err);
    if (rc == 0) {
        long pgrp = -1, sid = -1;
        sscanf(out, "%ld %ld", &pgrp, &sid);
        tap_ok(pgrp > 0 && pgrp != getpgrp() && sid == pgrp, "own session and group (group %ld, ours %d)", pgrp,
               (int)getpgrp());
    } else {
        tap_ok(0, "own session and group: %s", err.msg);
    }
    free(out);

    rc = run_sh(&out, "echo 'Error: bad chart' >&2; exit 3", l, &err);
    tap_is_int(rc, WS_EIO, "a failing program is WS_EIO");
    tap_is_str(err.msg, "sh: exited with status 3: Error: bad chart", "its message quotes stderr");
    /* a long stderr: the message has its beginning and its end, where the reason is */
    rc = run_sh(&out, "echo 'npm WARN first line' >&2; i=0; while [ $i -lt 3000 ]; do echo \"progress line $i\" >&2; "
                      "i=$((i+1)); done; echo 'Error: main.ts(3,1): the reason' >&2; exit 1", l, &err);
    tap_is_int(rc, WS_EIO, "a failing program with a long stderr");
    tap_ok(strncmp(err.msg, "sh: exited with status 1: npm WARN first line progress line 0", 61) == 0,
           "its message starts with the beginning of stderr");
    tap_contains(err.msg, " […] ", "…marks what was left out");
    {
        size_t n = strlen(err.msg), w = strlen("progress line 2999 Error: main.ts(3,1): the reason");
        if (!tap_ok(n > w && strcmp(err.msg + n - w, "progress line 2999 Error: main.ts(3,1): the reason") == 0,
                    "…and ends with its end"))
            tap_diag("  %s", err.msg);
    }

    {
        const char *argv[] = {"wavesync-no-such-program", NULL};
        struct ws_proc_opts o = {0};
        o.argv = argv;
        rc = ws_proc_run_blocking(&out, NULL, &o, &err);
        tap_is_int(rc, WS_ENOTFOUND, "a missing program is WS_ENOTFOUND");
        tap_contains(err.msg, "not found in PATH", "its message");
    }
    {
        const char *argv[] = {"true", NULL};
        struct ws_proc_opts o = {0};
        o.argv = argv;
        o.cwd = "/nonexistent/folder";
        rc = ws_proc_run_blocking(&out, NULL, &o, &err);
        tap_ok(rc == WS_EIO && strstr(err.msg, "cannot enter /nonexistent/folder"), "a missing folder: %s",
               err.msg);
    }
}

/* --- the limits ------------------------------------------------------------------------ */

static void test_timeout_kills_group(void)
{
    struct ws_proc_limits l = {.timeout_ms = 300};
    struct ws_err err;
    uint64_t t0 = ws_now_ms(), took;
    char *out = NULL;
    long pgid, bg;
    int rc;

    unlink("pgid");
    rc = run_sh(&out, "cut -d' ' -f5 /proc/$$/stat > pgid; sleep 100 & echo $! > bg; sleep 100", l, &err);
    took = ws_now_ms() - t0;
    pgid = read_number("pgid");
    bg = read_number("bg");
    tap_is_int(rc, WS_ETIMEOUT, "timeout: WS_ETIMEOUT");
    tap_is_str(err.msg, "sh: killed after 300 ms (settings.tools.test.timeout)", "timeout: the message names the limit");
    tap_ok(took >= 300 && took < 2000, "timeout: ended after %llu ms", (unsigned long long)took);
    tap_ok(pgid > 0 && group_gone_within((pid_t)pgid, 1000), "timeout: the whole group is gone (group %ld)", pgid);
    tap_ok(bg > 0 && pid_gone_within((pid_t)bg, 1000), "timeout: the background child is gone too");
}

static void test_leftovers_after_exit(void)
{
    struct ws_proc_limits l = {.timeout_ms = 10000};
    struct ws_err err;
    uint64_t t0 = ws_now_ms(), took;
    char *out = NULL;
    int rc;
    /* the program exits at once, a child it left holds stdout open */
    rc = run_sh(&out, "sleep 100 & echo $!", l, &err);
    took = ws_now_ms() - t0;
    tap_is_int(rc, 0, "leftovers: the program's exit is what counts");
    tap_ok(took < 1500, "leftovers: no wait for them (%llu ms)", (unsigned long long)took);
    tap_ok(out && atol(out) > 0 && pid_gone_within((pid_t)atol(out), 1000), "leftovers: killed with the group");
    free(out);
}

static void test_output_bound(void)
{
    struct ws_proc_limits l = {.timeout_ms = 10000, .max_output = 64 << 10};
    struct ws_err err;
    char *out = NULL;
    int rc = run_sh(&out, "yes wavesync", l, &err);
    tap_is_int(rc, WS_ELIMIT, "output: over the limit is WS_ELIMIT");
    tap_is_str(err.msg, "sh: killed: wrote more than 64 KiB to stdout", "output: the message");
    tap_ok(out == NULL, "output: nothing returned");
}

static void test_memory_limit(void)
{
    struct ws_proc_limits l = {.timeout_ms = 20000, .memory_bytes = 256u << 20};
    struct ws_err err;
    char *out = NULL;
    int rc;

    rc = run_sh(&out, "exec python3 -c 'x = bytearray(3 << 30)'", l, &err);
    tap_is_int(rc, WS_ELIMIT, "memory: python allocating 3 GiB under 256 MiB is WS_ELIMIT");
    tap_is_str(err.msg, "sh: exceeded its memory limit of 256 MiB (settings.tools.test.memory)",
               "memory: the message names the limit");

    rc = run_sh(&out, "head -c 3G /dev/zero | tail", l, &err);
    tap_is_int(rc, WS_ELIMIT, "memory: tail buffering a 3 GiB line is WS_ELIMIT");
    tap_contains(err.msg, "exceeded its memory limit of 256 MiB", "memory: its message");

    rc = run_sh(&out, "exec python3 -c 'x = bytearray(64 << 20); print(len(x))'", l, &err);
    tap_is_str(rc == 0 ? out : err.msg, "67108864\n", "memory: 64 MiB fits under 256 MiB");
    free(out);
}

static void test_cpu_limit(void)
{
    struct ws_proc_limits l = {.timeout_ms = 20000, .cpu_ms = 1000};
    struct ws_err err;
    uint64_t t0 = ws_now_ms(), took;
    char *out = NULL;
    int rc;

    rc = run_sh(&out, "while :; do :; done", l, &err);
    took = ws_now_ms() - t0;
    tap_is_int(rc, WS_ELIMIT, "cpu: a busy loop is WS_ELIMIT");
    tap_is_str(err.msg, "sh: killed after 1 s of CPU time (settings.tools.test.cpu)", "cpu: the message names the limit");
    tap_ok(took < 5000, "cpu: ended after %llu ms", (unsigned long long)took);

    /* a program that ignores SIGXCPU, as Go programs do, is killed a second later */
    rc = run_sh(&out, "trap '' XCPU; while :; do :; done", l, &err);
    tap_is_int(rc, WS_ELIMIT, "cpu: SIGXCPU ignored: still WS_ELIMIT");
    tap_contains(err.msg, "of CPU time (settings.tools.test.cpu)", "cpu: SIGXCPU ignored: the message");
}

/* --- wavesync dies ------------------------------------------------------------------------ */

/* A helper process starts a program (and its child) and is SIGKILLed: the
 * guard kills the group. */
static void test_parent_death(void)
{
    long pgid, prog, bg;
    pid_t helper;
    int status;

    unlink("pgid");
    unlink("prog");
    unlink("bg");
    helper = fork();
    if (helper == 0) {
        struct ws_proc_limits l = {.timeout_ms = 60000};
        struct ws_err err;
        char *out = NULL;
        run_sh(&out, "cut -d' ' -f5 /proc/$$/stat > pgid; sleep 100 & echo $! > bg; echo $$ > prog; sleep 100", l,
               &err);
        _exit(0);
    }
    tap_ok(wait_for_file("prog", 5000), "parent death: the program runs");
    pgid = read_number("pgid");
    prog = read_number("prog");
    bg = read_number("bg");
    kill(helper, SIGKILL);
    waitpid(helper, &status, 0);
    tap_ok(pid_gone_within((pid_t)prog, 1000), "parent death: the program is gone within a second");
    tap_ok(pid_gone_within((pid_t)bg, 1000), "parent death: its child too");
    tap_ok(pgid > 0 && group_gone_within((pid_t)pgid, 1000), "parent death: the whole group is gone (group %ld)",
           pgid);
}

/* --- on the loop ---------------------------------------------------------------------------- */

struct loop_case {
    int called;
    enum ws_proc_end end;
    int64_t status;
    char out[256];
    char why[1100];
};

static void on_done(const struct ws_proc_result *r, void *data)
{
    struct loop_case *c = data;
    c->called++;
    c->end = r->end;
    c->status = r->exit_status;
    snprintf(c->out, sizeof(c->out), "%s", r->out);
    ws_proc_describe(r, c->why, sizeof(c->why));
}

static void run_on_loop(struct loop_case *c, const char *script, const char *input, uint64_t timeout_ms)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct ws_proc_opts o = {0};
    struct ws_err err;
    uv_loop_t loop;
    memset(c, 0, sizeof(*c));
    uv_loop_init(&loop);
    o.argv = argv;
    o.cwd = tmp;
    o.input = input;
    o.input_len = input ? strlen(input) : 0;
    o.limits.timeout_ms = timeout_ms;
    o.limits.setting = "settings.test";
    if (ws_proc_run(&loop, &o, on_done, c, &err) < 0)
        snprintf(c->why, sizeof(c->why), "%s", err.msg);
    uv_run(&loop, UV_RUN_DEFAULT);
    tap_is_int(uv_loop_close(&loop), 0, "loop: closed cleanly");
}

static void test_loop(void)
{
    struct loop_case c;
    long pgid;
    run_on_loop(&c, "cat", "token-from-stdin", 5000);
    tap_ok(c.called == 1 && c.end == WS_PROC_EXITED && c.status == 0, "loop: a run succeeds (%s)", c.why);
    tap_is_str(c.out, "token-from-stdin", "loop: input reaches stdin");

    run_on_loop(&c, "cat", NULL, 5000);
    tap_ok(c.called == 1 && c.end == WS_PROC_EXITED && c.out[0] == '\0', "loop: no input is /dev/null");

    unlink("pgid");
    run_on_loop(&c, "cut -d' ' -f5 /proc/$$/stat > pgid; sleep 100 & sleep 100", NULL, 300);
    pgid = read_number("pgid");
    tap_ok(c.called == 1 && c.end == WS_PROC_TIMEOUT, "loop: timeout");
    tap_is_str(c.why, "killed after 300 ms (settings.test.timeout)", "loop: its message");
    tap_ok(pgid > 0 && group_gone_within((pid_t)pgid, 1000), "loop: the whole group is gone");
}

/* --- temporary trees ------------------------------------------------------------------------- */

static void test_sweep(void)
{
    struct ws_tmptree live = WS_TMPTREE_INIT;
    struct ws_err err;
    char root[600], path[700], dead[700];
    pid_t helper;
    int status;

    snprintf(root, sizeof(root), "%s/trees", tmp);
    tap_is_int(ws_tmptree_create(&live, root, "wavesync-export-", &err), 0, "sweep: a tree of ours");
    /* a tree of a process that died without removing it */
    helper = fork();
    if (helper == 0) {
        struct ws_tmptree t = WS_TMPTREE_INIT;
        FILE *f;
        if (ws_tmptree_create(&t, root, "wavesync-export-", &err) < 0)
            _exit(1);
        snprintf(path, sizeof(path), "%s/chart.yaml", t.path);
        if ((f = fopen(path, "w")))
            fclose(f);
        snprintf(path, sizeof(path), "%s/dead", tmp);
        if ((f = fopen(path, "w"))) {
            fprintf(f, "%s\n", t.path);
            fclose(f);
        }
        kill(getpid(), SIGKILL);
    }
    waitpid(helper, &status, 0);
    snprintf(path, sizeof(path), "%s/dead", tmp);
    {
        FILE *f = fopen(path, "r");
        dead[0] = '\0';
        if (f) {
            if (!fgets(dead, sizeof(dead), f))
                dead[0] = '\0';
            dead[strcspn(dead, "\n")] = '\0';
            fclose(f);
        }
    }
    /* neither ours nor a sweep's business */
    snprintf(path, sizeof(path), "%s/other-folder", root);
    mkdir(path, 0700);
    tap_ok(dead[0] && access(dead, F_OK) == 0, "sweep: the killed process left its tree");
    tap_is_int(ws_tmptree_sweep(root, "wavesync-export-"), 1, "sweep: one tree removed");
    tap_ok(access(dead, F_OK) != 0, "sweep: the dead process's tree is gone");
    tap_ok(access(live.path, F_OK) == 0, "sweep: the tree in use stays");
    tap_ok(access(path, F_OK) == 0, "sweep: other folders stay");
    ws_tmptree_remove(&live);
    tap_is_int(ws_tmptree_sweep("/nonexistent/root", "wavesync-export-"), 0, "sweep: a missing root is fine");
}

/* --- stopping ---------------------------------------------------------------------------------- */

struct slow_run {
    int rc;
    struct ws_err err;
};

static void *slow_thread(void *arg)
{
    struct slow_run *s = arg;
    struct ws_proc_limits l = {.timeout_ms = 60000};
    char *out = NULL;
    s->rc = run_sh(&out, "echo $$ > slow; sleep 100", l, &s->err);
    free(out);
    return NULL;
}

/* Last: stopping is for good. */
static void test_stop_all(void)
{
    struct slow_run s = {0};
    struct ws_proc_limits l = {0};
    struct ws_err err;
    pthread_t t;
    uint64_t t0;
    char *out = NULL;
    long prog;

    unlink("slow");
    pthread_create(&t, NULL, slow_thread, &s);
    tap_ok(wait_for_file("slow", 5000), "stop: a slow program runs");
    prog = read_number("slow");
    t0 = ws_now_ms();
    ws_proc_stop_all();
    pthread_join(t, NULL);
    tap_ok(ws_now_ms() - t0 < 2000, "stop: its run ends at once");
    tap_is_int(s.rc, WS_ECANCELED, "stop: WS_ECANCELED");
    tap_is_str(s.err.msg, "sh: killed: wavesync is stopping", "stop: the message");
    tap_ok(pid_gone_within((pid_t)prog, 1000), "stop: the program is gone");
    tap_is_int(run_sh(&out, "true", l, &err), WS_ECANCELED, "stop: nothing new starts");
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "%s/wavesync-test-proc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp) || chdir(tmp) < 0) {
        perror("mkdtemp");
        return 1;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    test_describe();
    test_output_and_stdin();
    test_timeout_kills_group();
    test_leftovers_after_exit();
    test_output_bound();
    test_memory_limit();
    test_cpu_limit();
    test_parent_death();
    test_loop();
    test_sweep();
    test_stop_all();
    ws_rmtree(tmp);
    return tap_done();
}
