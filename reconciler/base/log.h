/* log.h — leveled logging to stderr, text or JSON lines. Callers never pass
 * secrets (tokens, keys, webhook secrets) to the logger. */
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

/* Set the minimum level printed (default info) and the format. Call at
 * startup, before threads start. */
void ws_log_setup(enum ws_log_level min, int json);
/* Parse "debug", "info", ...; returns -1 when unknown. */
int ws_log_level_parse(const char *s);

void ws_log(enum ws_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ws_debug(...) ws_log(WS_LOG_DEBUG, __VA_ARGS__)
#define ws_info(...) ws_log(WS_LOG_INFO, __VA_ARGS__)
#define ws_warn(...) ws_log(WS_LOG_WARN, __VA_ARGS__)
#define ws_error(...) ws_log(WS_LOG_ERROR, __VA_ARGS__)

#endif
