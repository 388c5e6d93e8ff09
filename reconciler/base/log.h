/* log.h — leveled logging to stderr, text or JSON lines; or, when stderr is
 * the systemd journal ($JOURNAL_STREAM names it), entries in the journal's
 * native protocol with fields (PRIORITY, WAVESYNC_APPLICATION, …). Callers
 * never pass secrets (tokens, keys, webhook secrets) to the logger. */
#ifndef WS_LOG_H
#define WS_LOG_H

#define WS_LOG_LEVELS(X) \
    X(WS_LOG_DEBUG, "debug") \
    X(WS_LOG_INFO, "info")   \
    X(WS_LOG_WARN, "warn")   \
    X(WS_LOG_ERROR, "error")

enum ws_log_level {
#define WS_X(name, text) name,
    WS_LOG_LEVELS(WS_X)
#undef WS_X
};

#include <stdint.h>

/* Set the minimum level printed (default info) and the format. Call at
 * startup, before threads start. When stderr is the journal, entries go to
 * the journal's socket whatever the format (falling back to stderr if a send
 * fails). */
void ws_log_setup(enum ws_log_level min, int json);

/* What a line is about, as fields: the journal's WAVESYNC_APPLICATION,
 * WAVESYNC_RUN, WAVESYNC_TRIGGER; JSON lines' "application", "run",
 * "trigger". NULL / 0 = not about one. */
struct ws_log_ctx {
    const char *app;
    int64_t run, trigger;
};

void ws_log_at(enum ws_log_level level, const struct ws_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse "debug", "info", ...; returns -1 when unknown. */
int ws_log_level_parse(const char *s);

void ws_log(enum ws_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ws_debug(...) ws_log(WS_LOG_DEBUG, __VA_ARGS__)
#define ws_info(...) ws_log(WS_LOG_INFO, __VA_ARGS__)
#define ws_warn(...) ws_log(WS_LOG_WARN, __VA_ARGS__)
#define ws_error(...) ws_log(WS_LOG_ERROR, __VA_ARGS__)

#endif
