/* test_targz.c — reconciler/base/targz.c on archives built here, byte by
 * byte: a good chart, pax and GNU long names, and crafted ones that must be
 * refused (.. and absolute names, links, devices, too many bytes or entries,
 * not gzip, corrupt, truncated). Nothing may land outside the folder. */
#include "base/targz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tap.h"
#include "base/tmptree.h"
#include "base/util.h"

struct tar {
    unsigned char *data;
    size_t len;
};

static void put(struct tar *t, const void *p, size_t n)
{
    t->data = realloc(t->data, t->len + n);
    memcpy(t->data + t->len, p, n);
    t->len += n;
}

static void header(struct tar *t, const char *name, char type, size_t size, const char *link)
{
    unsigned char h[512] = {0};
    unsigned sum = 0;
    size_t i;
    strncpy((char *)h, name, 100);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011zo", size);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (unsigned char)type;
    if (link)
        strncpy((char *)h + 157, link, 100);
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    for (i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    put(t, h, 512);
}

static void data(struct tar *t, const char *s, size_t n)
{
    static const unsigned char zero[512];
    put(t, s, n);
    if (n % 512)
        put(t, zero, 512 - n % 512);
}

static void file(struct tar *t, const char *name, const char *content)
{
    header(t, name, '0', strlen(content), NULL);
    data(t, content, strlen(content));
}

static void end(struct tar *t)
{
    static const unsigned char zero[1024];
    put(t, zero, sizeof(zero));
}

static char dir[4096];
static int seq;

/* Write t gzipped (or raw) to a file; extract into a fresh folder. */
static int extract(struct tar *t, int gzip, const struct ws_targz_limits *lim, struct ws_err *err, char *dest)
{
    char path[4200];
    int rc;
    snprintf(path, sizeof(path), "%s/a%d.tgz", dir, seq);
    snprintf(dest, 4200, "%s/out%d", dir, seq++);
    mkdir(dest, 0755);
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        gzwrite(g, t->data, (unsigned)t->len);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(t->data, 1, t->len, f);
        fclose(f);
    }
    ws_err_clear(err);
    rc = ws_targz_extract(path, dest, lim, err);
    free(t->data);
    t->data = NULL;
    t->len = 0;
    return rc;
}

static char *slurp(const char *dest, const char *rel)
{
    char path[8400], *buf = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dest, rel);
    if (ws_file_read(&buf, &len, path, 1 << 20, NULL) < 0)
        return NULL;
    return buf;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void test_good(void)
{
    struct tar t = {0};
    struct ws_err err;
    char dest[4200], *s, longname[300], pax[400];
    int n;
    header(&t, "mychart/", '5', 0, NULL);
    file(&t, "mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 1.0.0\n");
    file(&t, "./mychart/templates//cm.yaml", "kind: ConfigMap\n");
    /* GNU long name */
    memset(longname, 0, sizeof(longname));
    strcpy(longname, "mychart/templates/");
    memset(longname + strlen(longname), 'l', 150);
    header(&t, "././@LongLink", 'L', strlen(longname), NULL);
    data(&t, longname, strlen(longname));
    file(&t, "ignored-short-name", "long\n");
    /* pax path */
    n = snprintf(pax, sizeof(pax), "%d path=mychart/values.yaml\n", 0);
    n = snprintf(pax, sizeof(pax), "%d path=mychart/values.yaml\n", n + (n >= 9 ? 1 : 0));
    header(&t, "PaxHeaders/x", 'x', (size_t)n, NULL);
    data(&t, pax, (size_t)n);
    file(&t, "short", "replicas: 2\n");
    end(&t);
    tap_ok(extract(&t, 1, NULL, &err, dest) == 0, "a good archive extracts (%s)", err.msg);
    tap_is_str((s = slurp(dest, "mychart/Chart.yaml")), "apiVersion: v2\nname: mychart\nversion: 1.0.0\n",
               "Chart.yaml is there");
    free(s);
    tap_is_str((s = slurp(dest, "mychart/templates/cm.yaml")), "kind: ConfigMap\n", "./ and // are normalised");
    free(s);
    tap_is_str((s = slurp(dest, longname)), "long\n", "a GNU long name is honoured");
    free(s);
    tap_is_str((s = slurp(dest, "mychart/values.yaml")), "replicas: 2\n", "a pax path is honoured");
    free(s);
}

static void test_refused(void)
{
    struct tar t = {0};
    struct ws_err err;
    struct ws_targz_limits lim = {0};
    char dest[4200], outside[4300];
    size_t i;
    static const char *const bad_names[] = {"../evil", "a/../../evil", "/tmp/evil-abs", "..", "a/.."};
    for (i = 0; i < WS_ARRAY_SIZE(bad_names); i++) {
        file(&t, "ok/Chart.yaml", "x\n");
        file(&t, bad_names[i], "evil\n");
        end(&t);
        tap_ok(extract(&t, 1, NULL, &err, dest) == WS_EINVAL && strstr(err.msg, "leaves the archive"),
               "entry \"%s\" is refused (%s)", bad_names[i], err.msg);
    }
    snprintf(outside, sizeof(outside), "%s/evil", dir);
    tap_ok(!exists(outside) && !exists("/tmp/evil-abs"), "nothing was written outside the folder");

    header(&t, "c/link", '2', 0, "../../etc/passwd");
    end(&t);
    tap_ok(extract(&t, 1, NULL, &err, dest) == WS_EINVAL && strstr(err.msg, "link"), "a symlink is refused (%s)",
           err.msg);
    header(&t, "c/hard", '1', 0, "c/x");
    end(&t);
    tap_ok(extract(&t, 1, NULL, &err, dest) == WS_EINVAL, "a hard link is refused");
    header(&t, "c/dev", '3', 0, NULL);
    end(&t);
    tap_ok(extract(&t, 1, NULL, &err, dest) == WS_EINVAL && strstr(err.msg, "special"), "a device is refused");

    /* limits */
    lim.max_bytes = 10;
    file(&t, "c/a", "12345678");
    file(&t, "c/b", "12345678");
    end(&t);
    tap_ok(extract(&t, 1, &lim, &err, dest) == WS_ELIMIT, "more bytes than the limit: refused (%s)", err.msg);
    lim.max_bytes = 0;
    lim.max_entries = 3;
    for (i = 0; i < 5; i++)
        file(&t, "c/f", "x");
    end(&t);
    tap_ok(extract(&t, 1, &lim, &err, dest) == WS_ELIMIT, "more entries than the limit: refused (%s)", err.msg);
    /* a claimed size of 4 GiB: refused before reading anything */
    header(&t, "c/huge", '0', (size_t)1 << 32, NULL);
    end(&t);
    tap_ok(extract(&t, 1, NULL, &err, dest) == WS_ELIMIT, "a 4 GiB entry is refused at its header (%s)", err.msg);

    /* corrupt input */
    file(&t, "c/a", "x");
    end(&t);
    tap_ok(extract(&t, 0, NULL, &err, dest) == WS_EPARSE && strstr(err.msg, "gzip"), "not gzip: refused (%s)",
           err.msg);
    file(&t, "c/a", "hello");
    t.data[148] ^= 1; /* checksum */
    end(&t);
    tap_ok(extract(&t, 1, NULL, &err, dest) == WS_EPARSE && strstr(err.msg, "checksum"), "bad checksum: refused");
    file(&t, "c/a", "hello");
    t.len -= 100; /* data cut short */
    tap_ok(extract(&t, 1, NULL, &err, dest) == WS_EPARSE && strstr(err.msg, "truncated"),
           "truncated archive: refused (%s)", err.msg);
    {
        /* gzip header then garbage */
        char path[4200];
        FILE *f;
        snprintf(path, sizeof(path), "%s/garbage.tgz", dir);
        f = fopen(path, "wb");
        fwrite("\x1f\x8b\x08\x00garbagegarbagegarbage", 1, 25, f);
        fclose(f);
        ws_err_clear(&err);
        tap_ok(ws_targz_extract(path, dir, NULL, &err) == WS_EPARSE, "corrupt gzip: refused (%s)", err.msg);
    }
}

static void test_clean_name(void)
{
    char *out = NULL;
    tap_ok(ws_targz_clean_name(&out, "./a//b/./c/") == 0 && strcmp(out, "a/b/c") == 0, "clean name a/b/c");
    free(out);
    tap_ok(ws_targz_clean_name(&out, "./") == WS_EINVAL, "\"./\" alone is refused");
    tap_ok(ws_targz_clean_name(&out, "a/..b/c") == 0, "\"..b\" is a name, not ..");
    free(out);
}

int main(void)
{
    struct ws_tmptree tt = WS_TMPTREE_INIT;
    struct ws_err err;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (ws_tmptree_create(&tt, tmp, "ws-test-targz-", &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s", tt.path);
    test_good();
    test_refused();
    test_clean_name();
    ws_tmptree_remove(&tt);
    return tap_done();
}
