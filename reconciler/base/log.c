/* log.c — stderr logger; one write(2) per line so threads do not interleave. */
#include "base/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum ws_log_level min_level = WS_LOG_INFO;
static int log_json;

static const char *level_names[] = {
#define WS_X(name, text) text,
    WS_LOG_LEVELS(WS_X)
#undef WS_X
};

void ws_log_setup(enum ws_log_level min, int json)
{
    min_level = min;
    log_json = json;
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

void ws_log(enum ws_log_level level, const char *fmt, ...)
{
    char msg[2048], line[4096], ts[40];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;
    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!log_json) /* JSON escapes them itself */
        escape_controls(msg, sizeof(msg));
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03dZ", (int)(tv.tv_usec / 1000));
    if (log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level],
                              "msg", msg);
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
