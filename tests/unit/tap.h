/* tap.h — a tiny TAP producer for unit tests run by automake's tap-driver.
 * Usage: tap_ok(cond, "name %d", i); ... return tap_done(); */
#ifndef WS_TAP_H
#define WS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

static inline int tap_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_count++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

/* Diagnostic line, shown by the harness in the log. */
#define tap_diag(...)                  \
    do {                               \
        printf("# ");                  \
        printf(__VA_ARGS__);           \
        printf("\n");                  \
    } while (0)

#define tap_is_int(got, want, name)                                               \
    do {                                                                          \
        long long g_ = (long long)(got), w_ = (long long)(want);                  \
        if (!tap_ok(g_ == w_, "%s", name))                                        \
            tap_diag("  got %lld, want %lld", g_, w_);                            \
    } while (0)

#define tap_is_str(got, want, name)                                               \
    do {                                                                          \
        const char *g_ = (got), *w_ = (want);                                     \
        int same_ = (g_ == NULL && w_ == NULL) ||                                 \
                    (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);            \
        if (!tap_ok(same_, "%s", name))                                           \
            tap_diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)",             \
                     w_ ? w_ : "(null)");                                         \
    } while (0)

/* Substring check, for error messages. */
#define tap_contains(got, needle, name)                                           \
    do {                                                                          \
        const char *g_ = (got), *n_ = (needle);                                   \
        if (!tap_ok(g_ != NULL && strstr(g_, n_) != NULL, "%s", name))            \
            tap_diag("  \"%s\" does not contain \"%s\"", g_ ? g_ : "(null)", n_); \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
