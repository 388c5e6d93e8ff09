/* log.c — stderr logger; one write(2) per line so threads do not interleave.
 * Journal entries: one datagram each (the native protocol of
 * systemd-journald.socket(8): "FIELD=value" lines, or "FIELD\n" + 64-bit
 * little-endian length + value + "\n" when the value holds a newline). */
#include "base/log.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static enum ws_log_level min_level = WS_LOG_INFO;
static int log_json;
static int journal_fd = -1;

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *level_names[] = {
#define WS_X(name, text) text,
    WS_LOG_LEVELS(WS_X)
#undef WS_X
};

/* $JOURNAL_STREAM is "device:inode" of the stream systemd connected our
 * stderr to; a stderr redirected since (a pipe, a file) is not the journal. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void ws_log_setup(enum ws_log_level min, int json)
{
    min_level = min;
    log_json = json;
    if (journal_fd < 0 && stderr_is_journal())
        journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static const int priorities[] = {7, 6, 4, 3}; /* syslog's debug, info, warning, err */

static size_t field(char *buf, size_t at, size_t cap, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (!strchr(value, '\n')) {
        if (at + nl + vl + 2 > cap)
            return at;
        memcpy(buf + at, name, nl);
        buf[at + nl] = '=';
        memcpy(buf + at + nl + 1, value, vl);
        buf[at + nl + 1 + vl] = '\n';
        return at + nl + vl + 2;
    }
    if (at + nl + 1 + 8 + vl + 1 > cap)
        return at;
    memcpy(buf + at, name, nl);
    buf[at + nl] = '\n';
    for (int i = 0; i < 8; i++)
        buf[at + nl + 1 + (size_t)i] = (char)((uint64_t)vl >> (8 * i) & 0xff);
    memcpy(buf + at + nl + 9, value, vl);
    buf[at + nl + 9 + vl] = '\n';
    return at + nl + vl + 10;
}

static int journal_send(enum ws_log_level level, const struct ws_log_ctx *ctx, const char *msg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET};
    char buf[4096], num[32];
    size_t n = 0;
    n = field(buf, n, sizeof(buf), "PRIORITY", (char[2]){(char)('0' + priorities[level]), 0});
    n = field(buf, n, sizeof(buf), "SYSLOG_IDENTIFIER", "wavesync");
    if (ctx && ctx->app)
        n = field(buf, n, sizeof(buf), "WAVESYNC_APPLICATION", ctx->app);
    if (ctx && ctx->run > 0) {
        snprintf(num, sizeof(num), "%" PRId64, ctx->run);
        n = field(buf, n, sizeof(buf), "WAVESYNC_RUN", num);
    }
    if (ctx && ctx->trigger > 0) {
        snprintf(num, sizeof(num), "%" PRId64, ctx->trigger);
        n = field(buf, n, sizeof(buf), "WAVESYNC_TRIGGER", num);
    }
    n = field(buf, n, sizeof(buf), "MESSAGE", msg);
    return sendto(journal_fd, buf, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -1 : 0;
}

int ws_log_level_parse(const char *s)
{
    size_t i;
    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Control characters as escapes (\n, \r, \t, \xNN), so that nothing a
 * message quotes (a webhook field, a Git ref, a tool's stderr) can forge a
 * log line or drive a terminal. In place; cuts at the buffer's end. */
static void escape_controls(char *msg, size_t size)
{
    char tmp[2048];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sizeof(tmp); p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            tmp[n++] = (char)*p;
        } else if (*p == '\n' || *p == '\r' || *p == '\t') {
            tmp[n++] = '\\';
            tmp[n++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
        } else {
            n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "\\x%02x", *p);
        }
    }
    tmp[n] = '\0';
    snprintf(msg, size, "%s", tmp);
}

static void log_line(enum ws_log_level level, const struct ws_log_ctx *ctx, const char *fmt, va_list ap)
{
    char msg[2048], line[4096], ts[40];
    struct timeval tv;
    struct tm tm;
    int n;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (journal_fd >= 0 && journal_send(level, ctx, msg) == 0)
        return;
    if (!log_json) /* JSON escapes them itself */
        escape_controls(msg, sizeof(msg));
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03dZ", (int)(tv.tv_usec / 1000));
    if (log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level],
                              "msg", msg);
        if (o && ctx && ctx->app)
            json_object_set_new(o, "application", json_string(ctx->app));
        if (o && ctx && ctx->run > 0)
            json_object_set_new(o, "run", json_integer(ctx->run));
        if (o && ctx && ctx->trigger > 0)
            json_object_set_new(o, "trigger", json_integer(ctx->trigger));
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        n = snprintf(line, sizeof(line), "%s\n", s ? s : msg);
        free(s);
        json_decref(o);
    } else {
        n = snprintf(line, sizeof(line), "%s %-5s %s\n", ts, level_names[level], msg);
    }
    if (n > (int)sizeof(line))
        n = sizeof(line);
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nothing useful to do when stderr is gone */
    }
}

void ws_log(enum ws_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (level < min_level)
        return;
    va_start(ap, fmt);
    log_line(level, NULL, fmt, ap);
    va_end(ap);
}

void ws_log_at(enum ws_log_level level, const struct ws_log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    if (level < min_level)
        return;
    va_start(ap, fmt);
    log_line(level, ctx, fmt, ap);
    va_end(ap);
}
