/* targz.c — a small, strict tar reader over zlib's gzip stream, for chart
 * archives: regular files and folders, pax "path" records and GNU long
 * names; everything else refused. Bounded in bytes and entries. */
#include "base/targz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/util.h"

#define BLOCK 512
#define DEFAULT_MAX_BYTES (100ull << 20)
#define DEFAULT_MAX_ENTRIES 10000
#define NAME_MAX_LEN 4096

struct reader {
    gzFile gz;
    const char *archive;
    struct ws_err *err;
};

/* Exactly n bytes, or an error (a short read is a truncated archive). */
static int read_full(struct reader *r, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int k = gzread(r->gz, (char *)buf + got, (unsigned)(n - got > (1u << 20) ? (1u << 20) : n - got));
        if (k < 0) {
            int zerr;
            const char *m = gzerror(r->gz, &zerr), *c = m ? strstr(m, ">: ") : NULL;
            /* zlib names the descriptor ("<fd:13>: …"): the archive is named already */
            return ws_err_set(r->err, WS_EPARSE, "%s: corrupt archive (%s)", r->archive,
                              c ? c + 3 : m ? m : "gzip error");
        }
        if (k == 0)
            return ws_err_set(r->err, WS_EPARSE, "%s: truncated archive", r->archive);
        got += (size_t)k;
    }
    return 0;
}

static int skip(struct reader *r, uint64_t n)
{
    char buf[8192];
    while (n > 0) {
        size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t)n;
        int rc = read_full(r, buf, k);
        if (rc < 0)
            return rc;
        n -= k;
    }
    return 0;
}

static uint64_t padded(uint64_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* An octal number field (NUL/space terminated); -1 when malformed. Base-256
 * sizes (for files over 8 GiB) are beyond any limit: refused too. */
static int64_t octal(const unsigned char *f, size_t n)
{
    int64_t v = 0;
    size_t i = 0;
    if (n && (f[0] & 0x80))
        return -1;
    while (i < n && f[i] == ' ')
        i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        v = v * 8 + (f[i] - '0');
        if (v > (int64_t)1 << 40)
            return -1;
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    return v;
}

static int checksum_ok(const unsigned char *h)
{
    int64_t want = octal(h + 148, 8);
    unsigned sum = 0;
    size_t i;
    for (i = 0; i < BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return want >= 0 && (unsigned)want == sum;
}

static int all_zero(const unsigned char *h)
{
    size_t i;
    for (i = 0; i < BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

int ws_targz_clean_name(char **out, const char *name)
{
    struct ws_buf b;
    const char *p = name;
    *out = NULL;
    if (!name || !*name || name[0] == '/')
        return WS_EINVAL;
    ws_buf_init(&b, NAME_MAX_LEN);
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            ws_buf_free(&b);
            return WS_EINVAL;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if ((b.len && ws_buf_append(&b, "/", 1) < 0) || ws_buf_append(&b, p, n) < 0) {
                ws_buf_free(&b);
                return WS_EINVAL;
            }
        }
        p += n;
        while (*p == '/')
            p++;
    }
    if (!b.len) {
        ws_buf_free(&b);
        return WS_EINVAL;
    }
    *out = ws_buf_steal(&b);
    return *out ? 0 : WS_ENOMEM;
}

/* mkdir -p of rel's parents (rel is clean), under dest. */
static int make_parents(const char *dest, const char *rel, struct ws_err *err)
{
    char path[NAME_MAX_LEN * 2];
    const char *slash = strrchr(rel, '/');
    int n;
    if (!slash)
        return 0;
    n = snprintf(path, sizeof(path), "%s/%.*s", dest, (int)(slash - rel), rel);
    if (n < 0 || (size_t)n >= sizeof(path))
        return ws_err_set(err, WS_EINVAL, "archive entry name too long");
    if (ws_mkdir_p(path, 0755) < 0)
        return ws_err_set(err, WS_EIO, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

/* A pax extended header's "path" record, if any (other records ignored). */
static int pax_path(char **out, const char *data, size_t len)
{
    size_t i = 0;
    *out = NULL;
    while (i < len) {
        size_t reclen = 0, j = i;
        const char *kv, *eq;
        while (j < len && data[j] >= '0' && data[j] <= '9' && reclen < len)
            reclen = reclen * 10 + (size_t)(data[j++] - '0');
        if (j >= len || data[j] != ' ' || reclen <= j - i + 1 || i + reclen > len || data[i + reclen - 1] != '\n')
            return WS_EPARSE;
        kv = data + j + 1;
        eq = memchr(kv, '=', (size_t)(data + i + reclen - 1 - kv));
        if (eq && eq - kv == 4 && memcmp(kv, "path", 4) == 0) {
            free(*out);
            if (!(*out = strndup(eq + 1, (size_t)(data + i + reclen - 1 - eq - 1))))
                return WS_ENOMEM;
        }
        i += reclen;
    }
    return 0;
}

static int write_file(struct reader *r, const char *dest, const char *rel, uint64_t size, int mode)
{
    char path[NAME_MAX_LEN * 2], buf[16384];
    uint64_t left = size;
    int fd, rc = 0, n;
    n = snprintf(path, sizeof(path), "%s/%s", dest, rel);
    if (n < 0 || (size_t)n >= sizeof(path))
        return ws_err_set(r->err, WS_EINVAL, "%s: entry name too long", r->archive);
    /* O_NOFOLLOW: never through a link (none is ever created, but be sure) */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, (mode & 0111) ? 0755 : 0644);
    if (fd < 0)
        return ws_err_set(r->err, WS_EIO, "%s: cannot write %s: %s", r->archive, rel, strerror(errno));
    while (left > 0 && rc == 0) {
        size_t k = left > sizeof(buf) ? sizeof(buf) : (size_t)left;
        if ((rc = read_full(r, buf, k)) < 0)
            break;
        if (write(fd, buf, k) != (ssize_t)k)
            rc = ws_err_set(r->err, WS_EIO, "%s: cannot write %s: %s", r->archive, rel, strerror(errno));
        left -= k;
    }
    if (close(fd) < 0 && rc == 0)
        rc = ws_err_set(r->err, WS_EIO, "%s: cannot write %s: %s", r->archive, rel, strerror(errno));
    if (rc == 0)
        rc = skip(r, padded(size) - size);
    return rc;
}

/* The data of a long-name entry (GNU 'L', pax 'x'), bounded. */
static int read_meta(struct reader *r, char **out, uint64_t size)
{
    char *buf;
    int rc;
    *out = NULL;
    if (size > 64 * 1024)
        return ws_err_set(r->err, WS_ELIMIT, "%s: an extended header of %llu bytes", r->archive,
                          (unsigned long long)size);
    if (!(buf = malloc((size_t)size + 1)))
        return ws_err_set(r->err, WS_ENOMEM, "out of memory");
    if ((rc = read_full(r, buf, (size_t)size)) < 0 || (rc = skip(r, padded(size) - size)) < 0) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *out = buf;
    return 0;
}

int ws_targz_extract(const char *archive, const char *dest, const struct ws_targz_limits *lim,
                     struct ws_err *err)
{
    struct reader r = {NULL, archive, err};
    unsigned char h[BLOCK], magic[2];
    uint64_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEFAULT_MAX_BYTES, total = 0;
    size_t max_entries = lim && lim->max_entries ? lim->max_entries : DEFAULT_MAX_ENTRIES, entries = 0;
    char *long_name = NULL, *rel = NULL;
    int fd, rc = 0, zeros = 0;
    FILE *f;
    /* gzread passes non-gzip input through as is: check the magic first */
    if (!(f = fopen(archive, "rbe")))
        return ws_err_set(err, WS_EIO, "cannot open %s: %s", archive, strerror(errno));
    if (fread(magic, 1, 2, f) != 2 || magic[0] != 0x1f || magic[1] != 0x8b) {
        fclose(f);
        return ws_err_set(err, WS_EPARSE, "%s: not a gzip-compressed archive", archive);
    }
    fclose(f);
    if ((fd = open(archive, O_RDONLY | O_CLOEXEC)) < 0)
        return ws_err_set(err, WS_EIO, "cannot open %s: %s", archive, strerror(errno));
    if (!(r.gz = gzdopen(fd, "rb"))) {
        close(fd);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    for (;;) {
        int64_t size;
        char type, name[256 + 2];
        const char *entry;
        if ((rc = read_full(&r, h, BLOCK)) < 0) {
            if (zeros == 1) /* one zero block then EOF: accepted, as tar does */
                rc = 0;
            break;
        }
        if (all_zero(h)) {
            if (++zeros == 2)
                break;
            continue;
        }
        zeros = 0;
        if (!checksum_ok(h)) {
            rc = ws_err_set(err, WS_EPARSE, "%s: corrupt archive (bad tar header checksum)", archive);
            break;
        }
        if (++entries > max_entries) {
            rc = ws_err_set(err, WS_ELIMIT, "%s: more than %zu entries", archive, max_entries);
            break;
        }
        size = octal(h + 124, 12);
        type = (char)h[156];
        if (size < 0) {
            rc = ws_err_set(err, WS_EPARSE, "%s: corrupt archive (bad size field)", archive);
            break;
        }
        if (type == 'L' || type == 'x') {
            char *meta = NULL;
            if ((rc = read_meta(&r, &meta, (uint64_t)size)) < 0)
                break;
            free(long_name);
            long_name = NULL;
            if (type == 'L') {
                long_name = meta;
            } else {
                rc = pax_path(&long_name, meta, (size_t)size);
                free(meta);
                if (rc < 0) {
                    rc = rc == WS_ENOMEM ? ws_err_set(err, rc, "out of memory")
                                         : ws_err_set(err, WS_EPARSE, "%s: corrupt pax header", archive);
                    break;
                }
            }
            continue;
        }
        if (type == 'g' || type == 'K') { /* global pax header, GNU long link name */
            if ((rc = skip(&r, padded((uint64_t)size))) < 0)
                break;
            continue;
        }
        if (long_name) {
            entry = long_name;
        } else {
            /* ustar: prefix "/" name */
            size_t pl = strnlen((const char *)h + 345, 155);
            if (memcmp(h + 257, "ustar", 5) == 0 && pl)
                snprintf(name, sizeof(name), "%.*s/%.*s", (int)pl, (const char *)h + 345, 100, (const char *)h);
            else
                snprintf(name, sizeof(name), "%.*s", 100, (const char *)h);
            entry = name;
        }
        free(rel);
        rel = NULL;
        if ((rc = ws_targz_clean_name(&rel, entry)) < 0) {
            char shown[160];
            ws_str_quote_cut(shown, sizeof(shown), entry);
            rc = rc == WS_ENOMEM ? ws_err_set(err, rc, "out of memory")
                                 : ws_err_set(err, WS_EINVAL, "%s: entry %s leaves the archive's folder (refused)",
                                              archive, shown);
            break;
        }
        free(long_name);
        long_name = NULL;
        if (type == '5') {
            char path[NAME_MAX_LEN * 2];
            if ((rc = skip(&r, padded((uint64_t)size))) < 0)
                break;
            snprintf(path, sizeof(path), "%s/%s", dest, rel);
            if (ws_mkdir_p(path, 0755) < 0) {
                rc = ws_err_set(err, WS_EIO, "cannot create %s: %s", path, strerror(errno));
                break;
            }
            continue;
        }
        if (type != '0' && type != '\0' && type != '7') {
            char shown[160];
            ws_str_quote_cut(shown, sizeof(shown), rel);
            rc = ws_err_set(err, WS_EINVAL, "%s: entry %s is a %s (only files and folders are accepted)", archive,
                            shown, type == '1' || type == '2' ? "link" : "special file");
            break;
        }
        total += (uint64_t)size;
        if (total > max_bytes) {
            rc = ws_err_set(err, WS_ELIMIT, "%s: more than %llu bytes once extracted", archive,
                            (unsigned long long)max_bytes);
            break;
        }
        if ((rc = make_parents(dest, rel, err)) < 0 ||
            (rc = write_file(&r, dest, rel, (uint64_t)size, (int)octal(h + 100, 8))) < 0)
            break;
    }
    free(long_name);
    free(rel);
    gzclose(r.gz);
    return rc;
}
