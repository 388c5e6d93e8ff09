/* util.c — buffers, base64, durations, URL escaping, clocks. */
#include "base/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ws_buf_init(struct ws_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(struct ws_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;
    if (extra > SIZE_MAX - b->len - 1)
        return WS_ENOMEM;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    p = realloc(b->data, ncap);
    if (!p)
        return WS_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int ws_buf_append(struct ws_buf *b, const void *p, size_t n)
{
    int rc;
    if (b->max && (n > b->max || b->len > b->max - n))
        return WS_ELIMIT;
    if ((rc = buf_reserve(b, n)) < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ws_buf_appendf(struct ws_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WS_EINVAL;
    if (b->max && ((size_t)n > b->max || b->len > b->max - (size_t)n))
        return WS_ELIMIT;
    if ((rc = buf_reserve(b, (size_t)n)) < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ws_buf_append_escaped(struct ws_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    int rc = 0;
    while (*p && rc == 0) {
        size_t n = 0;
        /* the longest run that needs nothing */
        while (p[n] && p[n] >= 0x20 && p[n] != 0x7f && !(p[n] == 0xC2 && p[n + 1] >= 0x80 && p[n + 1] <= 0x9F))
            n++;
        if (n) {
            rc = ws_buf_append(b, p, n);
            p += n;
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            rc = ws_buf_append(b, *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : "\\r", 2);
            p++;
        } else if (*p == 0xC2) { /* a C1 control, U+0080..U+009F: some terminals obey those too */
            rc = ws_buf_appendf(b, "\\u%04x", p[1]);
            p += 2;
        } else {
            rc = ws_buf_appendf(b, "\\x%02x", *p);
            p++;
        }
    }
    return rc;
}

void ws_buf_consume(struct ws_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

char *ws_buf_steal(struct ws_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void ws_buf_free(struct ws_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int ws_base64_decode(char **out, size_t *outlen, const char *in, size_t inlen)
{
    char *buf = malloc(inlen / 4 * 3 + 4);
    size_t i, n = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    if (!buf)
        return WS_ENOMEM;
    for (i = 0; i < inlen; i++) {
        int c = (unsigned char)in[i], v;
        if (isspace(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || (v = b64_value(c)) < 0) {
            free(buf);
            return WS_EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6 || pad > 2) { /* a lone trailing sextet cannot be valid */
        free(buf);
        return WS_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    if (outlen)
        *outlen = n;
    return 0;
}

char *ws_base64_encode(const void *in, size_t inlen)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = in;
    char *out = malloc((inlen + 2) / 3 * 4 + 1), *o = out;
    size_t i;
    if (!out)
        return NULL;
    for (i = 0; i + 2 < inlen; i += 3) {
        *o++ = tbl[p[i] >> 2];
        *o++ = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *o++ = tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        *o++ = tbl[p[i + 2] & 63];
    }
    if (i < inlen) {
        *o++ = tbl[p[i] >> 2];
        if (i + 1 < inlen) {
            *o++ = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
            *o++ = tbl[(p[i + 1] & 15) << 2];
        } else {
            *o++ = tbl[(p[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Scan digits[.digits] by hand: strtod would also take "1e3" and "0x10". */
static const char *scan_number(const char *p, double *out)
{
    double v = 0, scale = 1;
    int any = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        any = 1;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            scale /= 10;
            v += (*p++ - '0') * scale;
            any = 1;
        }
    }
    *out = v;
    return any ? p : NULL;
}

int ws_duration_parse(uint64_t *out_ms, const char *s)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    double total = 0, v;
    const char *p = s, *end;
    if (!s || !*s)
        return WS_EINVAL;
    if ((end = scan_number(s, &v)) && !*end) { /* a bare number is seconds */
        total = v * 1000;
        p = end;
    }
    while (*p) {
        size_t i, ulen = 0;
        int found = -1;
        if (!(end = scan_number(p, &v)))
            return WS_EINVAL;
        p = end;
        /* longest unit first so "ms" wins over "m" */
        for (i = 0; i < WS_ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > ulen) {
                found = (int)i;
                ulen = l;
            }
        }
        if (found < 0)
            return WS_EINVAL;
        total += v * units[found].ms;
        p += ulen;
    }
    if (total > 1e15)
        return WS_EINVAL;
    *out_ms = (uint64_t)total;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Read exactly n decimal digits (no sign, no spaces). */
static int fixed_digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

int ws_time_parse_rfc3339(int64_t *out, const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    int64_t t;
    const char *p = s;
    /* YYYY-MM-DDTHH:MM:SS, every field fixed-width digits */
    if (!s || fixed_digits(p, 4, &y) < 0 || p[4] != '-' || fixed_digits(p + 5, 2, &mo) < 0 ||
        p[7] != '-' || fixed_digits(p + 8, 2, &d) < 0 ||
        (p[10] != 'T' && p[10] != 't' && p[10] != ' ') || fixed_digits(p + 11, 2, &h) < 0 ||
        p[13] != ':' || fixed_digits(p + 14, 2, &mi) < 0 || p[16] != ':' ||
        fixed_digits(p + 17, 2, &sec) < 0)
        return WS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return WS_EINVAL;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return WS_EINVAL;
    p += 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return WS_EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, sign = *p == '-' ? -1 : 1;
        if (fixed_digits(p + 1, 2, &oh) < 0 || p[3] != ':' || fixed_digits(p + 4, 2, &om) < 0 ||
            oh > 23 || om > 59)
            return WS_EINVAL;
        t -= sign * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return WS_EINVAL;
    }
    if (*p)
        return WS_EINVAL;
    *out = t;
    return 0;
}

char *ws_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

uint64_t ws_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t ws_wall_s(void)
{
    return (int64_t)time(NULL);
}

int64_t ws_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ws_file_read(char **out, size_t *outlen, const char *path, size_t max,
                 struct ws_err *err)
{
    struct ws_buf b;
    char chunk[16384];
    int fd, rc = 0;
    ssize_t n;
    ws_buf_init(&b, max);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return ws_err_set(err, errno == ENOENT ? WS_ENOTFOUND : WS_EIO, "%s: %s", path,
                          strerror(errno));
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = ws_err_set(err, WS_EIO, "%s: read: %s", path, strerror(errno));
            break;
        }
        if ((rc = ws_buf_append(&b, chunk, (size_t)n)) < 0) {
            ws_err_set(err, rc, "%s: %s", path,
                       rc == WS_ELIMIT ? "file too large" : "out of memory");
            break;
        }
    }
    close(fd);
    if (rc < 0) {
        ws_buf_free(&b);
        return rc;
    }
    if (outlen)
        *outlen = b.len;
    *out = ws_buf_steal(&b);
    return 0;
}

char *ws_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

int ws_consttime_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = alen != blen;
    size_t i, n = alen < blen ? alen : blen;
    for (i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

int ws_secret_eq(const char *given, size_t glen, const char *secret)
{
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int na = 0, nb = 0;
    int eq;
    if (!given || !secret || !EVP_Digest(given, glen, a, &na, EVP_sha256(), NULL) ||
        !EVP_Digest(secret, strlen(secret), b, &nb, EVP_sha256(), NULL) || na != 32 || nb != 32)
        return 0;
    eq = ws_consttime_eq(a, 32, b, 32);
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return eq;
}

size_t ws_utf8_char(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = u[0] < 0x80                ? 1
                 : (u[0] & 0xE0) == 0xC0 ? 2
                 : (u[0] & 0xF0) == 0xE0 ? 3
                 : (u[0] & 0xF8) == 0xF0 ? 4
                                           : 0;
    uint32_t c;
    if (len <= 1 || len > n) {
        *cp = u[0];
        return 1;
    }
    c = u[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = u[0];
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3F);
    }
    *cp = c;
    return len;
}

void ws_str_quote_cut(char *out, size_t size, const char *s)
{
    size_t n = 0, room = size - 5; /* the closing quote, "...", NUL */
    if (!s) {
        snprintf(out, size, "(none)");
        return;
    }
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t k;
        if (*p < 0x20 || *p == 0x7f)
            k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
        else if (*p == '"' || *p == '\\')
            k = (size_t)snprintf(esc, sizeof(esc), "\\%c", *p);
        else
            esc[0] = (char)*p, esc[1] = '\0', k = 1;
        if (n + k > room) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(out + n, esc, k);
        n += k;
    }
    out[n++] = '"';
    out[n] = '\0';
}

int ws_mkdir_p(const char *path, unsigned mode)
{
    char *p = strdup(path), *s = p;
    int rc = p ? 0 : WS_ENOMEM;
    while (rc == 0 && s && *s) {
        if ((s = strchr(s + 1, '/')) != NULL)
            *s = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
            rc = WS_EIO;
        if (s)
            *s = '/';
    }
    free(p);
    return rc;
}

int ws_repo_path_clean(char **out, const char *path)
{
    const char *p = path ? path : "", *seg;
    char *buf;
    size_t n = 0, len;
    *out = NULL;
    if (p[0] == '/')
        return WS_EINVAL;
    if (!(buf = malloc(strlen(p) + 1)))
        return WS_ENOMEM;
    while (*p) {
        seg = p;
        len = strcspn(seg, "/");
        p = seg + len + (seg[len] == '/');
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (n == 0) {
                free(buf);
                return WS_EINVAL;
            }
            while (n > 0 && buf[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' before the dropped segment */
            continue;
        }
        if (n > 0)
            buf[n++] = '/';
        memcpy(buf + n, seg, len);
        n += len;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

struct ws_tok ws_tok_trim(const char *s, const char *e)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    return (struct ws_tok){s, (size_t)(e - s)};
}

/* Next comma-separated token of *p, trimmed; empty ones are skipped as
 * gitops-engine's GetAnnotationCSVs skips them. 0 at the end. */
int ws_csv_next(const char **p, struct ws_tok *t)
{
    while (**p) {
        const char *start = *p, *end = strchr(start, ',');
        if (!end)
            end = start + strlen(start);
        *p = *end ? end + 1 : end;
        *t = ws_tok_trim(start, end);
        if (t->n)
            return 1;
    }
    return 0;
}

int ws_tok_eq(struct ws_tok t, const char *s)
{
    return strlen(s) == t.n && memcmp(t.s, s, t.n) == 0;
}

int ws_tok_ieq(struct ws_tok t, const char *s)
{
    return strlen(s) == t.n && strncasecmp(t.s, s, t.n) == 0;
}

void ws_hex_encode(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}
