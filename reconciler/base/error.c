/* error.c — struct ws_err helpers. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ws_code_str(int code)
{
    switch (code) {
#define WS_X(name, value, text) \
    case value:                 \
        return text;
        WS_ERROR_CODES(WS_X)
#undef WS_X
    }
    return "unknown error";
}

void ws_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (p && *p) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        size_t i;
        if (n == 0 || (n == 2 && *p < 0xC2)) {
            *p++ = '?';
            continue;
        }
        for (i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                break;
        if (i < n) {
            if (p[i] == '\0') { /* cut short at the end */
                *p = '\0';
                return;
            }
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void ws_err_clear(struct ws_err *e)
{
    if (!e)
        return;
    e->code = 0;
    e->http_status = 0;
    e->reason[0] = '\0';
    e->msg[0] = '\0';
}

int ws_err_set(struct ws_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    if (!e)
        return code;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    ws_utf8_sanitize(e->msg);
    return code;
}

int ws_err_prefix(struct ws_err *e, const char *fmt, ...)
{
    char head[512], old[sizeof(e->msg)];
    va_list ap;
    if (!e)
        return WS_EINVAL;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    {
        /* head, ": ", then as much of the old message as fits */
        size_t hl = strlen(head), ol = strnlen(old, sizeof(old) - 1), cap = sizeof(e->msg) - 1;
        size_t n = 0;
        memcpy(e->msg, head, hl < cap ? hl : cap);
        n = hl < cap ? hl : cap;
        if (n + 2 <= cap) {
            memcpy(e->msg + n, ": ", 2);
            n += 2;
        }
        if (ol > cap - n)
            ol = cap - n;
        memcpy(e->msg + n, old, ol);
        e->msg[n + ol] = '\0';
    }
    ws_utf8_sanitize(e->msg);
    return e->code;
}

enum ws_err_class ws_err_class(int code)
{
    switch (code) {
    case 0:
        return WS_ERRC_OK;
    case WS_ENET:
    case WS_EAUTH:
        return WS_ERRC_UNREACHABLE;
    case WS_EINVAL:
    case WS_ECONFIG:
    case WS_EPARSE:
    case WS_ENOTFOUND:
    case WS_ELIMIT:
        return WS_ERRC_INPUT;
    default:
        return WS_ERRC_FAILED;
    }
}
