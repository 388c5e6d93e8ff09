/* chart.c — charts from Helm repositories and OCI registries, verified by
 * digest and cached by digest; a chart's dependencies into its charts/.
 * libcurl easy on worker threads; TLS always verified. */
#include "source/chart.h"
#include "source/chart_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "base/log.h"
#include "base/targz.h"
#include "base/util.h"
#include "base/yaml.h"
#include "source/semver.h"

#define INDEX_MAX_BYTES (64ull << 20) /* the biggest public indexes are tens of MB */
#define ARCHIVE_MAX_BYTES (64ull << 20) /* compressed; extraction has its own limit */
#define SMALL_MAX_BYTES (4u << 20)      /* manifests, tag lists, tokens, Chart.yaml */
#define MAX_ENTRIES 200000              /* versions of one chart in an index */
#define CONNECT_TIMEOUT_S 15L
#define TOTAL_TIMEOUT_S 300L
#define LOW_SPEED_S 30L

#define HELM_LAYER "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"

/* ---- small helpers ------------------------------------------------------- */

char *ws__chart_fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static void sha256_hex(char out[65], const void *p, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    ws_hex_encode(out, md, 32);
}

static int is_hex64(const char *s)
{
    size_t i;
    for (i = 0; i < 64; i++)
        if (!s[i] || !isxdigit((unsigned char)s[i]))
            return 0;
    return s[64] == '\0';
}

int ws__chart_file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

void ws_chart_url_shown(char *out, size_t size, const char *url)
{
    const char *sep = strstr(url, "://"), *host = sep ? sep + 3 : url, *at, *end;
    char tmp[512];
    end = host + strcspn(host, "/?#");
    at = memchr(host, '@', (size_t)(end - host));
    snprintf(tmp, sizeof(tmp), "%.*s%.*s", sep ? (int)(host - url) : 0, url,
             (int)strcspn(at ? at + 1 : host, "?#"), at ? at + 1 : host);
    ws_str_quote_cut(out, size, tmp);
}

/* ---- the index (a stream of libyaml events) ----------------------------- */

struct ev {
    yaml_parser_t p;
    yaml_event_t e;
    int have;
    struct ws_err *err;
};

static int ev_next(struct ev *x)
{
    if (x->have)
        yaml_event_delete(&x->e);
    x->have = 0;
    if (!yaml_parser_parse(&x->p, &x->e))
        return ws_err_set(x->err, WS_EPARSE, "index.yaml:%zu: %s", x->p.problem_mark.line + 1,
                          x->p.problem ? x->p.problem : "bad YAML");
    x->have = 1;
    return 0;
}

/* Skip the value whose first event is current. */
static int ev_skip(struct ev *x)
{
    int depth = 0, rc;
    do {
        switch (x->e.type) {
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            depth++;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            return ws_err_set(x->err, WS_EPARSE, "index.yaml: unexpected end");
        default:
            break;
        }
        if (depth == 0)
            return 0;
        if ((rc = ev_next(x)) < 0)
            return rc;
    } while (1);
}

static int ev_scalar(struct ev *x, char **out)
{
    free(*out);
    *out = NULL;
    if (x->e.type != YAML_SCALAR_EVENT)
        return ev_skip(x);
    if (!(*out = strndup((const char *)x->e.data.scalar.value, x->e.data.scalar.length)))
        return ws_err_set(x->err, WS_ENOMEM, "out of memory");
    return 0;
}

static int read_version(struct ev *x, struct ws_chart_entry *e)
{
    int rc;
    for (;;) {
        char *key = NULL;
        if ((rc = ev_next(x)) < 0)
            return rc;
        if (x->e.type == YAML_MAPPING_END_EVENT)
            return 0;
        if ((rc = ev_scalar(x, &key)) < 0)
            return rc;
        if ((rc = ev_next(x)) < 0) {
            free(key);
            return rc;
        }
        if (key && strcmp(key, "version") == 0)
            rc = ev_scalar(x, &e->version);
        else if (key && strcmp(key, "digest") == 0)
            rc = ev_scalar(x, &e->digest);
        else if (key && strcmp(key, "urls") == 0 && x->e.type == YAML_SEQUENCE_START_EVENT) {
            for (;;) {
                if ((rc = ev_next(x)) < 0 || x->e.type == YAML_SEQUENCE_END_EVENT)
                    break;
                if (!e->url)
                    rc = ev_scalar(x, &e->url);
                else
                    rc = ev_skip(x);
                if (rc < 0)
                    break;
            }
        } else
            rc = ev_skip(x);
        free(key);
        if (rc < 0)
            return rc;
    }
}

static int read_versions(struct ev *x, struct ws_chart_entries *out)
{
    int rc;
    if (x->e.type != YAML_SEQUENCE_START_EVENT)
        return ev_skip(x);
    for (;;) {
        struct ws_chart_entry *grown;
        if ((rc = ev_next(x)) < 0)
            return rc;
        if (x->e.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        if (x->e.type != YAML_MAPPING_START_EVENT) {
            if ((rc = ev_skip(x)) < 0)
                return rc;
            continue;
        }
        if (out->n >= MAX_ENTRIES)
            return ws_err_set(x->err, WS_ELIMIT, "index.yaml: more than %d versions of one chart", MAX_ENTRIES);
        if (!(grown = realloc(out->v, (out->n + 1) * sizeof(*out->v))))
            return ws_err_set(x->err, WS_ENOMEM, "out of memory");
        out->v = grown;
        memset(&out->v[out->n], 0, sizeof(out->v[0]));
        out->n++;
        if ((rc = read_version(x, &out->v[out->n - 1])) < 0)
            return rc;
    }
}

static int read_entries(struct ev *x, struct ws_chart_entries *out, const char *name)
{
    int rc;
    if (x->e.type != YAML_MAPPING_START_EVENT)
        return ev_skip(x);
    for (;;) {
        char *key = NULL;
        if ((rc = ev_next(x)) < 0)
            return rc;
        if (x->e.type == YAML_MAPPING_END_EVENT)
            return 0;
        if ((rc = ev_scalar(x, &key)) < 0 || (rc = ev_next(x)) < 0) {
            free(key);
            return rc;
        }
        rc = key && strcmp(key, name) == 0 ? read_versions(x, out) : ev_skip(x);
        free(key);
        if (rc < 0)
            return rc;
    }
}

int ws_chart_index_read(struct ws_chart_entries *out, FILE *f, const char *buf, size_t len, const char *name,
                        struct ws_err *err)
{
    struct ev x;
    int rc, seen_root = 0;
    memset(out, 0, sizeof(*out));
    memset(&x, 0, sizeof(x));
    x.err = err;
    if (!yaml_parser_initialize(&x.p))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (f)
        yaml_parser_set_input_file(&x.p, f);
    else
        yaml_parser_set_input_string(&x.p, (const unsigned char *)buf, len);
    for (;;) {
        if ((rc = ev_next(&x)) < 0)
            break;
        if (x.e.type == YAML_STREAM_END_EVENT)
            break;
        if (x.e.type == YAML_STREAM_START_EVENT || x.e.type == YAML_DOCUMENT_START_EVENT ||
            x.e.type == YAML_DOCUMENT_END_EVENT)
            continue;
        if (x.e.type != YAML_MAPPING_START_EVENT || seen_root) {
            rc = ws_err_set(err, WS_EPARSE, "index.yaml: not a Helm repository index (expected one mapping)");
            break;
        }
        seen_root = 1;
        for (;;) {
            char *key = NULL;
            if ((rc = ev_next(&x)) < 0)
                break;
            if (x.e.type == YAML_MAPPING_END_EVENT)
                break;
            if ((rc = ev_scalar(&x, &key)) < 0 || (rc = ev_next(&x)) < 0) {
                free(key);
                break;
            }
            rc = key && strcmp(key, "entries") == 0 ? read_entries(&x, out, name) : ev_skip(&x);
            free(key);
            if (rc < 0)
                break;
        }
        if (rc < 0)
            break;
    }
    if (x.have)
        yaml_event_delete(&x.e);
    yaml_parser_delete(&x.p);
    if (rc == 0 && !seen_root)
        rc = ws_err_set(err, WS_EPARSE, "index.yaml: empty");
    if (rc < 0)
        ws_chart_entries_free(out);
    return rc;
}

void ws_chart_entries_free(struct ws_chart_entries *e)
{
    size_t i;
    for (i = 0; e && i < e->n; i++) {
        free(e->v[i].version);
        free(e->v[i].url);
        free(e->v[i].digest);
    }
    if (e) {
        free(e->v);
        memset(e, 0, sizeof(*e));
    }
}

/* The versions of one chart in one index file, remembered for the process:
 * 50 Applications of one repository in a run parse its (maybe tens of MB)
 * index once, not 50 times. Keyed by the file, its size and mtime, and the
 * chart; a few slots, reused round robin; guarded (worker threads). */
#define MEMO_SLOTS 8
struct memo {
    char *path, *name;
    struct timespec mtime;
    off_t size;
    struct ws_chart_entries e;
};
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct memo memo[MEMO_SLOTS];
static size_t memo_next;

static int entries_copy(struct ws_chart_entries *out, const struct ws_chart_entries *in)
{
    size_t i;
    memset(out, 0, sizeof(*out));
    if (!in->n)
        return 0;
    if (!(out->v = calloc(in->n, sizeof(*out->v))))
        return WS_ENOMEM;
    out->n = in->n;
    for (i = 0; i < in->n; i++) {
        out->v[i].version = ws_strdup0(in->v[i].version);
        out->v[i].url = ws_strdup0(in->v[i].url);
        out->v[i].digest = ws_strdup0(in->v[i].digest);
        if ((in->v[i].version && !out->v[i].version) || (in->v[i].url && !out->v[i].url) ||
            (in->v[i].digest && !out->v[i].digest)) {
            ws_chart_entries_free(out);
            return WS_ENOMEM;
        }
    }
    return 0;
}

/* ws_chart_index_read on the cached index file `path`, through the memo. */
static int index_entries(struct ws_chart_entries *out, const char *path, const char *name, struct ws_err *err)
{
    struct stat st;
    FILE *f;
    size_t i;
    int rc = 1;
    memset(out, 0, sizeof(*out));
    if (!(f = fopen(path, "re")))
        return ws_err_set(err, WS_EIO, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return ws_err_set(err, WS_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    pthread_mutex_lock(&memo_lock);
    for (i = 0; i < MEMO_SLOTS && rc == 1; i++) {
        struct memo *m = &memo[i];
        if (m->path && !strcmp(m->path, path) && !strcmp(m->name, name) && m->size == st.st_size &&
            m->mtime.tv_sec == st.st_mtim.tv_sec && m->mtime.tv_nsec == st.st_mtim.tv_nsec)
            rc = entries_copy(out, &m->e) < 0 ? ws_err_set(err, WS_ENOMEM, "out of memory") : 0;
    }
    pthread_mutex_unlock(&memo_lock);
    if (rc != 1) {
        fclose(f);
        return rc;
    }
    rc = ws_chart_index_read(out, f, NULL, 0, name, err);
    fclose(f);
    if (rc == 0) {
        struct memo fresh = {NULL, NULL, st.st_mtim, st.st_size, {NULL, 0}};
        if ((fresh.path = strdup(path)) && (fresh.name = strdup(name)) && entries_copy(&fresh.e, out) == 0) {
            struct memo old;
            pthread_mutex_lock(&memo_lock);
            old = memo[memo_next];
            memo[memo_next] = fresh;
            memo_next = (memo_next + 1) % MEMO_SLOTS;
            pthread_mutex_unlock(&memo_lock);
            fresh = old; /* freed below, outside the lock */
        }
        free(fresh.path);
        free(fresh.name);
        ws_chart_entries_free(&fresh.e);
    }
    return rc;
}

/* ---- HTTP ------------------------------------------------------------------ */

struct http {
    const struct ws_repo *repo; /* credentials and TLS settings; may be NULL */
    const char *url;
    const char *accept;
    const char *bearer;   /* Authorization: Bearer …; NULL = none */
    int basic;            /* send the repository's username/password */
    uint64_t max;
    /* the body goes to `file` (hashed on the way) or to `buf` */
    FILE *file;
    EVP_MD_CTX *md;
    struct ws_buf buf;
    uint64_t got;
    int over;
    long status;
    char *www_auth;       /* the last WWW-Authenticate header */
};

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
    struct http *h = data;
    size_t len = size * n;
    if (h->got + len > h->max) {
        h->over = 1;
        return 0;
    }
    h->got += len;
    if (h->file) {
        if (fwrite(p, 1, len, h->file) != len)
            return 0;
        if (h->md)
            EVP_DigestUpdate(h->md, p, len);
        return len;
    }
    return ws_buf_append(&h->buf, p, len) < 0 ? 0 : len;
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
    struct http *h = data;
    size_t len = size * n;
    if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
        const char *v = p + 17;
        size_t vl = len - 17;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        free(h->www_auth);
        h->www_auth = strndup(v, vl);
    }
    return len;
}

/* One GET. 0 with h->status set (any status), or WS_ENET / WS_ELIMIT /
 * WS_EIO. `what` names the request in messages. */
static int http_get(struct http *h, const char *what, struct ws_err *err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "", *auth = NULL, *acc = NULL, shown[300];
    CURLcode cc;
    int rc = 0;
    const struct ws_repo *r = h->repo;
    h->status = 0;
    h->got = 0;
    h->over = 0;
    free(h->www_auth);
    h->www_auth = NULL;
    ws_chart_url_shown(shown, sizeof(shown), h->url);
    if (!c)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (h->bearer && !(auth = ws__chart_fmt("Authorization: Bearer %s", h->bearer))) {
        curl_easy_cleanup(c);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    if (h->accept && (acc = ws__chart_fmt("Accept: %s", h->accept)))
        hdrs = curl_slist_append(hdrs, acc);
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_S);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wavesync");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip'd indexes */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (r && r->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
    if (r && r->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, r->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, r->key_file);
    }
    if (h->basic && r && r->username) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, r->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    if (h->over)
        rc = ws_err_set(err, WS_ELIMIT, "%s %s: larger than %llu bytes", what, shown, (unsigned long long)h->max);
    else if (cc != CURLE_OK)
        rc = ws_err_set(err, cc == CURLE_WRITE_ERROR ? WS_EIO : WS_ENET, "%s %s: cannot reach it: %s", what, shown,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
    curl_slist_free_all(hdrs);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(acc);
    curl_easy_cleanup(c);
    return rc;
}

/* An HTTP status as an error class. */
static int status_error(long status, const char *what, const char *url, struct ws_err *err)
{
    char shown[300];
    ws_chart_url_shown(shown, sizeof(shown), url);
    if (status == 401 || status == 403)
        return ws_err_set(err, WS_EAUTH, "%s %s: HTTP %ld (%s)", what, shown, status,
                          status == 401 ? "credentials missing or refused" : "access denied");
    if (status == 404)
        return ws_err_set(err, WS_ENOTFOUND, "%s %s: HTTP 404 (not found)", what, shown);
    if (status >= 500 || status == 429 || status == 408)
        return ws_err_set(err, WS_ENET, "%s %s: HTTP %ld (the server is failing)", what, shown, status);
    return ws_err_set(err, WS_EHTTP, "%s %s: HTTP %ld", what, shown, status);
}

/* ---- the cache --------------------------------------------------------------- */

static char *cache_path(const struct ws_chart_env *env, const char *sub, const char *hex, const char *ext)
{
    return ws__chart_fmt("%s/charts/%s/%s%s", env->state_dir, sub, hex, ext);
}

static int cache_dir(const struct ws_chart_env *env, const char *sub, struct ws_err *err)
{
    char *d = ws__chart_fmt("%s/charts/%s", env->state_dir, sub);
    int rc = 0;
    if (!d)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    /* 0700: charts of private repositories are no one else's to read */
    if (ws_mkdir_p(d, 0700) < 0)
        rc = ws_err_set(err, WS_EIO, "cannot create %s: %s", d, strerror(errno));
    free(d);
    return rc;
}

/* A temporary file next to `final` (same folder: rename is atomic). */
static FILE *tmp_next_to(char **tmp, const char *final)
{
    int fd;
    *tmp = ws__chart_fmt("%s.tmp.XXXXXX", final);
    if (!*tmp)
        return NULL;
    if ((fd = mkstemp(*tmp)) < 0) {
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    return fdopen(fd, "w");
}

/* The ref file of (kind, url, name, version): the digest it resolved to. */
static char *ref_path(const struct ws_chart_env *env, const char *kind, const char *url, const char *name,
                      const char *version)
{
    char *key = ws__chart_fmt("%s\n%s\n%s\n%s", kind, url, name, version), hex[65];
    if (!key)
        return NULL;
    sha256_hex(hex, key, strlen(key));
    free(key);
    return cache_path(env, "refs", hex, "");
}

/* The blob path of a digest already in the cache, for an exact version
 * resolved before: no network. NULL when unknown. */
static char *ref_lookup(const struct ws_chart_env *env, const char *kind, const char *url, const char *name,
                        const char *version)
{
    char *ref = ref_path(env, kind, url, name, version), *data = NULL, *blob = NULL;
    size_t len = 0;
    if (ref && ws_file_read(&data, &len, ref, 128, NULL) == 0) {
        while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
            data[--len] = '\0';
        if (is_hex64(data) && (blob = cache_path(env, "sha256", data, ".tgz")) && !ws__chart_file_exists(blob)) {
            free(blob);
            blob = NULL;
        }
    }
    free(ref);
    free(data);
    return blob;
}

static void ref_store(const struct ws_chart_env *env, const char *kind, const char *url, const char *name,
                      const char *version, const char *hex)
{
    char *ref = ref_path(env, kind, url, name, version), *tmp = NULL;
    FILE *f;
    if (!ref || cache_dir(env, "refs", NULL) < 0 || !(f = tmp_next_to(&tmp, ref))) {
        free(ref);
        return;
    }
    fprintf(f, "%s\n", hex);
    if (fclose(f) == 0 && rename(tmp, ref) == 0) {
        free(tmp);
        tmp = NULL;
    }
    if (tmp)
        unlink(tmp);
    free(tmp);
    free(ref);
}

/* Download `h->url` into the cache as the blob of `want_hex`, verifying it.
 * *out is the blob's path (caller frees). */
static int download_blob(char **out, struct http *h, const struct ws_chart_env *env, const char *want_hex,
                         const char *what, struct ws_err *err)
{
    char *final = NULL, *tmp = NULL, got_hex[65];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc;
    *out = NULL;
    if ((rc = cache_dir(env, "sha256", err)) < 0)
        return rc;
    if (!(final = cache_path(env, "sha256", want_hex, ".tgz")))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (ws__chart_file_exists(final)) {
        *out = final;
        return 0;
    }
    if (!(h->file = tmp_next_to(&tmp, final)) || !(h->md = EVP_MD_CTX_new())) {
        rc = ws_err_set(err, WS_EIO, "cannot write the chart cache %s: %s", final, strerror(errno));
        goto out;
    }
    EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
    h->max = ARCHIVE_MAX_BYTES;
    if ((rc = http_get(h, what, err)) < 0)
        goto out;
    if (h->status != 200) {
        rc = status_error(h->status, what, h->url, err);
        goto out;
    }
    EVP_DigestFinal_ex(h->md, md, &mdlen);
    ws_hex_encode(got_hex, md, 32);
    if (strcasecmp(got_hex, want_hex) != 0) {
        rc = ws_err_set(err, WS_EINVAL, "%s: digest mismatch: the archive's sha256 is %.16s…, the repository says %.16s…",
                        what, got_hex, want_hex);
        goto out;
    }
    if (fclose(h->file) != 0) {
        h->file = NULL;
        rc = ws_err_set(err, WS_EIO, "cannot write the chart cache %s", final);
        goto out;
    }
    h->file = NULL;
    if (rename(tmp, final) < 0) {
        rc = ws_err_set(err, WS_EIO, "cannot write the chart cache %s: %s", final, strerror(errno));
        goto out;
    }
    *out = final;
    final = NULL;
out:
    if (h->file)
        fclose(h->file);
    h->file = NULL;
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
    if (tmp && !*out)
        unlink(tmp);
    free(tmp);
    free(final);
    return rc;
}

/* ---- Helm repositories over HTTP(S) --------------------------------------- */

/* The index file of `repo_url`, fresh for this run, downloaded if needed;
 * with offlineIndex, a stale copy when the repository cannot be reached.
 * *out is its path (caller frees). */
static int get_index(char **out, const struct ws_chart_env *env, const struct ws_repo *repo, const char *repo_url,
                     struct ws_err *err)
{
    char hex[65], *path = NULL, *tmp = NULL, *url = NULL, *lock = NULL;
    struct http h;
    struct stat st;
    int rc, lockfd = -1;
    size_t n = strlen(repo_url);
    *out = NULL;
    memset(&h, 0, sizeof(h));
    sha256_hex(hex, repo_url, n);
    if ((rc = cache_dir(env, "index", err)) < 0)
        return rc;
    if (!(path = cache_path(env, "index", hex, ".yaml")) ||
        !(url = ws__chart_fmt("%.*s/index.yaml", (int)(n && repo_url[n - 1] == '/' ? n - 1 : n), repo_url)))
        goto nomem;
    if (env->fresh_since > 0 && stat(path, &st) == 0 && (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >= env->fresh_since) {
        *out = path; /* fetched already during this run */
        free(url);
        return 0;
    }
    /* one download per index at a time (threads and processes): whoever
       waited finds it fresh */
    if ((lock = ws__chart_fmt("%s.lock", path)) && (lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
        while (flock(lockfd, LOCK_EX) < 0 && errno == EINTR)
            ;
        if (env->fresh_since > 0 && stat(path, &st) == 0 && (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 >= env->fresh_since) {
            *out = path;
            path = NULL;
            rc = 0;
            goto out;
        }
    }
    h.repo = repo;
    h.url = url;
    h.basic = 1;
    h.bearer = repo ? repo->token : NULL;
    h.max = INDEX_MAX_BYTES;
    if (!(h.file = tmp_next_to(&tmp, path))) {
        rc = ws_err_set(err, WS_EIO, "cannot write the index cache %s: %s", path, strerror(errno));
        goto out;
    }
    rc = http_get(&h, "Helm repository", err);
    if (rc == 0 && h.status != 200)
        rc = status_error(h.status, "Helm repository index", url, err);
    if (fclose(h.file) != 0 && rc == 0)
        rc = ws_err_set(err, WS_EIO, "cannot write the index cache %s", path);
    h.file = NULL;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = ws_err_set(err, WS_EIO, "cannot write the index cache %s: %s", path, strerror(errno));
    else if (rc == 0) {
        free(tmp);
        tmp = NULL;
    }
    if (rc == WS_ENET && repo && repo->offline_index && stat(path, &st) == 0) {
        ws_warn("Helm repository %s cannot be reached (%s); using its index cached %lld s ago (offlineIndex)",
                repo->name, err ? err->msg : "", (long long)(ws_wall_s() - (int64_t)st.st_mtime));
        ws_err_clear(err);
        rc = 0;
    }
    if (rc == 0) {
        *out = path;
        path = NULL;
    }
out:
    if (tmp)
        unlink(tmp);
    if (lockfd >= 0)
        close(lockfd); /* drops the lock */
    free(lock);
    free(tmp);
    free(path);
    free(url);
    free(h.www_auth);
    return rc;
nomem:
    free(path);
    free(url);
    return ws_err_set(err, WS_ENOMEM, "out of memory");
}

/* Is the archive URL on the repository's own origin (scheme://host:port)?
 * Only then are the repository's credentials sent with it, as Helm does
 * without --pass-credentials. */
static int same_origin(const char *a, const char *b)
{
    const char *ha = strstr(a, "://"), *hb = strstr(b, "://");
    size_t na, nb;
    if (!ha || !hb)
        return 0;
    na = (size_t)(ha + 3 - a) + strcspn(ha + 3, "/?#");
    nb = (size_t)(hb + 3 - b) + strcspn(hb + 3, "/?#");
    return na == nb && strncasecmp(a, b, na) == 0;
}

/* urls[0] resolved against the repository URL. Caller frees. */
static char *resolve_url(const char *repo_url, const char *ref)
{
    CURLU *u = curl_url();
    char *base = NULL, *res = NULL, *out = NULL;
    size_t n = strlen(repo_url);
    if (!u)
        return NULL;
    base = n && repo_url[n - 1] == '/' ? strdup(repo_url) : ws__chart_fmt("%s/", repo_url);
    if (base && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &res, 0) == CURLUE_OK)
        out = strdup(res);
    curl_free(res);
    free(base);
    curl_url_cleanup(u);
    return out;
}

static int fetch_http(char **out_path, char **out_version, const struct ws_chart_env *env,
                      const struct ws_repo *repo, const char *repo_url, const char *name, const char *version,
                      const char *label, struct ws_err *err)
{
    struct ws_chart_entries ents = {0};
    char *index = NULL, *archive_url = NULL, *hex = NULL;
    const struct ws_chart_entry *pick = NULL;
    struct http h;
    size_t i, at = 0;
    int rc, exact = ws_semver_is_exact(version);
    memset(&h, 0, sizeof(h));
    if (exact && (*out_path = ref_lookup(env, "helm", repo_url, name, version))) {
        *out_version = strdup(version);
        return 0; /* resolved by an earlier run: no network */
    }
    if ((rc = get_index(&index, env, repo, repo_url, err)) < 0)
        goto out;
    if ((rc = index_entries(&ents, index, name, err)) < 0) {
        ws_err_prefix(err, "%s", label);
        goto out;
    }
    if (ents.n == 0) {
        rc = ws_err_set(err, WS_ENOTFOUND, "%s: no chart \"%s\" in the repository's index", label, name);
        goto out;
    }
    for (i = 0; exact && i < ents.n && !pick; i++)
        if (ents.v[i].version && strcmp(ents.v[i].version, version) == 0)
            pick = &ents.v[i];
    if (!pick) {
        const char **vs = calloc(ents.n, sizeof(*vs));
        if (!vs) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < ents.n; i++)
            vs[i] = ents.v[i].version;
        rc = ws_semver_best(&at, version, vs, ents.n, 0);
        free(vs);
        if (rc < 0) {
            rc = ws_err_set(err, WS_EINVAL, "%s: targetRevision is not a version or a version constraint", label);
            goto out;
        }
        if (rc == 0) {
            rc = ws_err_set(err, WS_ENOTFOUND, "%s: no version of chart \"%s\" matches (the index has %zu, e.g. %s)",
                            label, name, ents.n, ents.v[0].version ? ents.v[0].version : "?");
            goto out;
        }
        pick = &ents.v[at];
    }
    if (!pick->url) {
        rc = ws_err_set(err, WS_EPARSE, "%s: version %s has no urls in the index", label, pick->version);
        goto out;
    }
    hex = pick->digest ? strdup(strncmp(pick->digest, "sha256:", 7) == 0 ? pick->digest + 7 : pick->digest) : NULL;
    if (!hex || !is_hex64(hex)) {
        rc = ws_err_set(err, WS_EINVAL, "%s: version %s has %s digest in the index: an archive that cannot be "
                        "verified is refused", label, pick->version, pick->digest ? "a malformed" : "no");
        goto out;
    }
    for (i = 0; hex[i]; i++)
        hex[i] = (char)tolower((unsigned char)hex[i]);
    if (!(archive_url = resolve_url(repo_url, pick->url))) {
        rc = ws_err_set(err, WS_EPARSE, "%s: bad archive URL in the index", label);
        goto out;
    }
    h.repo = repo;
    h.url = archive_url;
    h.basic = same_origin(archive_url, repo_url);
    h.bearer = h.basic && repo ? repo->token : NULL;
    {
        char what[800];
        snprintf(what, sizeof(what), "%s: chart archive", label);
        if ((rc = download_blob(out_path, &h, env, hex, what, err)) < 0)
            goto out;
    }
    if (!(*out_version = strdup(pick->version))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    ref_store(env, "helm", repo_url, name, pick->version, hex);
out:
    ws_chart_entries_free(&ents);
    free(index);
    free(archive_url);
    free(hex);
    free(h.www_auth);
    return rc;
}

/* ---- OCI registries ------------------------------------------------------------ */

int ws_chart_bearer_challenge(char **realm, char **service, char **scope, const char *header)
{
    const char *p = header;
    *realm = *service = *scope = NULL;
    if (!p || strncasecmp(p, "Bearer ", 7) != 0)
        return WS_EINVAL;
    p += 7;
    while (*p) {
        const char *k, *v;
        size_t kn, vn;
        char **slot = NULL;
        while (*p == ' ' || *p == ',')
            p++;
        k = p;
        while (*p && *p != '=' && *p != ',' && *p != ' ')
            p++;
        kn = (size_t)(p - k);
        if (*p != '=')
            continue;
        p++;
        if (*p == '"') {
            v = ++p;
            while (*p && *p != '"')
                p++;
            vn = (size_t)(p - v);
            if (*p)
                p++;
        } else {
            v = p;
            while (*p && *p != ',')
                p++;
            vn = (size_t)(p - v);
        }
        if (kn == 5 && strncasecmp(k, "realm", 5) == 0)
            slot = realm;
        else if (kn == 7 && strncasecmp(k, "service", 7) == 0)
            slot = service;
        else if (kn == 5 && strncasecmp(k, "scope", 5) == 0)
            slot = scope;
        if (slot) {
            free(*slot);
            *slot = strndup(v, vn);
        }
    }
    if (!*realm) {
        free(*service);
        free(*scope);
        *service = *scope = NULL;
        return WS_EINVAL;
    }
    return 0;
}

struct oci {
    const struct ws_repo *repo;
    char *base;   /* https://host:port */
    char *name;   /* repository path: "charts/nginx" */
    char *token;  /* bearer token from the registry's token service, or the configured one */
    const char *label;
};

/* Ask the token service of a Bearer challenge for a token (with the
 * repository's username/password when configured). */
static int oci_token(struct oci *o, const char *challenge, struct ws_err *err)
{
    char *realm = NULL, *service = NULL, *scope = NULL, *url = NULL, *es = NULL, *esc = NULL;
    struct http h;
    json_t *doc = NULL;
    const char *tok;
    int rc;
    memset(&h, 0, sizeof(h));
    if (ws_chart_bearer_challenge(&realm, &service, &scope, challenge) < 0)
        return ws_err_set(err, WS_EAUTH, "%s: the registry asks for credentials wavesync cannot give (%.60s)",
                          o->label, challenge ? challenge : "no challenge");
    es = service ? ws_url_escape(service) : NULL;
    esc = scope ? ws_url_escape(scope) : NULL;
    url = ws__chart_fmt("%s%s%s%s%s%s", realm, strchr(realm, '?') ? "&" : "?", es ? "service=" : "", es ? es : "",
              esc ? (es ? "&scope=" : "scope=") : "", esc ? esc : "");
    if (!url) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    ws_buf_init(&h.buf, SMALL_MAX_BYTES);
    h.repo = o->repo;
    h.url = url;
    h.basic = 1;
    h.max = SMALL_MAX_BYTES;
    if ((rc = http_get(&h, "registry token service", err)) < 0)
        goto out;
    if (h.status != 200) {
        rc = status_error(h.status, "registry token service", url, err);
        ws_err_prefix(err, "%s", o->label);
        goto out;
    }
    doc = json_loadb(h.buf.data ? h.buf.data : "", h.buf.len, 0, NULL);
    tok = json_string_value(json_object_get(doc, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(doc, "access_token"));
    if (!tok || !*tok) {
        rc = ws_err_set(err, WS_EAUTH, "%s: the registry's token service gave no token", o->label);
        goto out;
    }
    free(o->token);
    o->token = strdup(tok);
    rc = o->token ? 0 : ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    json_decref(doc);
    ws_buf_free(&h.buf);
    free(h.www_auth);
    free(realm);
    free(service);
    free(scope);
    free(url);
    free(es);
    free(esc);
    return rc;
}

/* GET base + path with the registry's auth dance: anonymous (or the
 * configured token) first; on 401, a Bearer challenge is answered through
 * the token service, a Basic one with the username and password. */
static int oci_get(struct oci *o, struct http *h, const char *path, const char *what, struct ws_err *err)
{
    char *url = ws__chart_fmt("%s%s", o->base, path);
    int rc, tries;
    if (!url)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    h->repo = o->repo;
    h->url = url;
    for (tries = 0; tries < 3; tries++) {
        h->bearer = o->token;
        h->basic = !o->token && tries > 0;
        if (h->file) {
            rewind(h->file);
            if (ftruncate(fileno(h->file), 0) < 0) {
                rc = ws_err_set(err, WS_EIO, "cannot write the chart cache");
                break;
            }
            if (h->md)
                EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
        } else {
            h->buf.len = 0;
        }
        if ((rc = http_get(h, what, err)) < 0)
            break;
        if (h->status != 401 || tries == 2)
            break;
        if (h->www_auth && strncasecmp(h->www_auth, "Bearer", 6) == 0) {
            if ((rc = oci_token(o, h->www_auth, err)) < 0)
                break;
        } else if (!o->repo || !o->repo->username || h->basic) {
            break; /* nothing (more) to offer: the 401 is the answer */
        }
    }
    h->url = NULL;
    free(url);
    return rc;
}

static int oci_small(struct oci *o, json_t **out, const char *path, const char *accept, const char *what,
                     struct ws_err *err)
{
    struct http h;
    int rc;
    *out = NULL;
    memset(&h, 0, sizeof(h));
    ws_buf_init(&h.buf, SMALL_MAX_BYTES);
    h.max = SMALL_MAX_BYTES;
    h.accept = accept;
    if ((rc = oci_get(o, &h, path, what, err)) == 0 && h.status != 200) {
        char *u = ws__chart_fmt("%s%s", o->base, path);
        rc = status_error(h.status, what, u ? u : o->base, err);
        free(u);
    }
    if (rc == 0 && !(*out = json_loadb(h.buf.data ? h.buf.data : "", h.buf.len, 0, NULL)))
        rc = ws_err_set(err, WS_EPARSE, "%s: %s is not JSON", o->label, what);
    if (rc < 0 && rc != WS_EPARSE && err && !strstr(err->msg, o->label))
        ws_err_prefix(err, "%s", o->label);
    ws_buf_free(&h.buf);
    free(h.www_auth);
    return rc;
}

/* oci://host[:port]/path or a bare host/path: base URL and repository name
 * (path + "/" + chart). */
static int oci_parse(struct oci *o, const char *repo_url, const char *chart, int plain)
{
    const char *s = repo_url, *slash;
    size_t n;
    if (strncasecmp(s, "oci://", 6) == 0)
        s += 6;
    slash = s + strcspn(s, "/");
    if (slash == s)
        return WS_EINVAL;
    o->base = ws__chart_fmt("%s://%.*s", plain ? "http" : "https", (int)(slash - s), s);
    while (*slash == '/')
        slash++;
    n = strlen(slash);
    while (n && slash[n - 1] == '/')
        n--;
    o->name = n ? ws__chart_fmt("%.*s/%s", (int)n, slash, chart) : strdup(chart);
    return o->base && o->name ? 0 : WS_ENOMEM;
}

static int fetch_oci(char **out_path, char **out_version, const struct ws_chart_env *env,
                     const struct ws_repo *repo, const char *repo_url, const char *name, const char *version,
                     const char *label, struct ws_err *err)
{
    struct oci o;
    json_t *tags = NULL, *manifest = NULL, *layer, *layers;
    char *tag = NULL, *path = NULL, *hex = NULL, *p;
    const char *digest = NULL;
    struct http h;
    size_t i;
    int rc;
    memset(&o, 0, sizeof(o));
    memset(&h, 0, sizeof(h));
    o.repo = repo;
    o.label = label;
    if (ws_semver_is_exact(version) && (*out_path = ref_lookup(env, "oci", repo_url, name, version))) {
        *out_version = strdup(version);
        return 0;
    }
    if ((rc = oci_parse(&o, repo_url, name, repo && repo->plain_http)) < 0) {
        rc = rc == WS_ENOMEM ? ws_err_set(err, rc, "out of memory")
                             : ws_err_set(err, WS_EINVAL, "%s: not a registry URL", label);
        goto out;
    }
    if (repo && repo->token && !(o.token = strdup(repo->token))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if (ws_semver_is_exact(version)) {
        tag = strdup(version);
    } else {
        const char **vs;
        json_t *list;
        size_t at = 0;
        if (ws_semver_check(version) < 0) {
            rc = ws_err_set(err, WS_EINVAL, "%s: targetRevision is not a version or a version constraint", label);
            goto out;
        }
        if (!(path = ws__chart_fmt("/v2/%s/tags/list?n=10000", o.name))) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = oci_small(&o, &tags, path, "application/json", "tag list", err)) < 0)
            goto out;
        list = json_object_get(tags, "tags");
        if (!(vs = calloc(json_array_size(list) + 1, sizeof(*vs)))) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < json_array_size(list); i++)
            vs[i] = json_string_value(json_array_get(list, i));
        rc = ws_semver_best(&at, version, vs, json_array_size(list), 1);
        tag = rc == 1 ? strdup(vs[at]) : NULL;
        free(vs);
        if (rc == 0) {
            rc = ws_err_set(err, WS_ENOTFOUND, "%s: no tag of %s matches (%zu tags)", label, o.name,
                            json_array_size(list));
            goto out;
        }
    }
    if (!tag) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (p = tag; *p; p++)
        if (*p == '+')
            *p = '_'; /* Helm's tags: '+' is not allowed */
    free(path);
    if (!(path = ws__chart_fmt("/v2/%s/manifests/%s", o.name, tag))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = oci_small(&o, &manifest, path, OCI_MANIFEST, "manifest", err)) < 0)
        goto out;
    layers = json_object_get(manifest, "layers");
    for (i = 0; i < json_array_size(layers) && !digest; i++) {
        layer = json_array_get(layers, i);
        if (json_is_string(json_object_get(layer, "mediaType")) &&
            strcmp(json_string_value(json_object_get(layer, "mediaType")), HELM_LAYER) == 0)
            digest = json_string_value(json_object_get(layer, "digest"));
    }
    if (!digest) {
        rc = ws_err_set(err, WS_EINVAL, "%s: %s:%s is not a Helm chart (no %s layer)", label, o.name, tag, HELM_LAYER);
        goto out;
    }
    if (strncmp(digest, "sha256:", 7) != 0 || !is_hex64(digest + 7)) {
        rc = ws_err_set(err, WS_EINVAL, "%s: unsupported layer digest (only sha256)", label);
        goto out;
    }
    if (!(hex = strdup(digest + 7))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (p = hex; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    free(path);
    if (!(path = cache_path(env, "sha256", hex, ".tgz"))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if (!ws__chart_file_exists(path)) {
        /* the blob: through oci_get for the auth, into the cache */
        char *tmp = NULL, *bpath = ws__chart_fmt("/v2/%s/blobs/%s", o.name, digest), got[65];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char what[800];
        snprintf(what, sizeof(what), "%s: chart blob", label);
        if ((rc = cache_dir(env, "sha256", err)) < 0 || !bpath || !(h.file = tmp_next_to(&tmp, path)) ||
            !(h.md = EVP_MD_CTX_new())) {
            if (rc == 0)
                rc = ws_err_set(err, WS_EIO, "cannot write the chart cache %s", path);
        } else {
            EVP_DigestInit_ex(h.md, EVP_sha256(), NULL);
            h.max = ARCHIVE_MAX_BYTES;
            if ((rc = oci_get(&o, &h, bpath, what, err)) == 0 && h.status != 200) {
                char *u = ws__chart_fmt("%s%s", o.base, bpath);
                rc = status_error(h.status, what, u ? u : o.base, err);
                free(u);
            }
            if (rc == 0) {
                EVP_DigestFinal_ex(h.md, md, &mdlen);
                ws_hex_encode(got, md, 32);
                if (strcmp(got, hex) != 0)
                    rc = ws_err_set(err, WS_EINVAL, "%s: digest mismatch: the blob's sha256 is %.16s…, the manifest "
                                    "says %.16s…", what, got, hex);
            }
            if (fclose(h.file) != 0 && rc == 0)
                rc = ws_err_set(err, WS_EIO, "cannot write the chart cache %s", path);
            h.file = NULL;
            if (rc == 0 && rename(tmp, path) < 0)
                rc = ws_err_set(err, WS_EIO, "cannot write the chart cache %s: %s", path, strerror(errno));
        }
        if (h.file)
            fclose(h.file);
        h.file = NULL;
        EVP_MD_CTX_free(h.md);
        h.md = NULL;
        if (tmp && rc < 0)
            unlink(tmp);
        free(tmp);
        free(bpath);
        if (rc < 0)
            goto out;
    }
    for (p = tag; *p; p++)
        if (*p == '_')
            *p = '+';
    ref_store(env, "oci", repo_url, name, tag, hex);
    *out_path = path;
    path = NULL;
    *out_version = tag;
    tag = NULL;
out:
    json_decref(tags);
    json_decref(manifest);
    free(tag);
    free(path);
    free(hex);
    free(h.www_auth);
    free(o.base);
    free(o.name);
    if (o.token)
        memset(o.token, 0, strlen(o.token));
    free(o.token);
    return rc;
}

/* ---- the front door ------------------------------------------------------------ */

int ws_chart_fetch(char **out_path, char **out_version, const struct ws_chart_env *env, const char *repo_url,
                   const char *name, const char *version, struct ws_err *err)
{
    const struct ws_repo *repo = env->config ? ws_config_repo_by_url(env->config, repo_url) : NULL;
    char label[700], shown[300], sname[128], sver[128];
    int rc, oci;
    *out_path = NULL;
    if (out_version)
        *out_version = NULL;
    ws_chart_url_shown(shown, sizeof(shown), repo_url ? repo_url : "");
    ws_str_quote_cut(sname, sizeof(sname), name);
    ws_str_quote_cut(sver, sizeof(sver), version);
    snprintf(label, sizeof(label), "Helm chart %s version %s from %s", sname, sver, shown);
    if (!repo_url || !name || !*name || !version || !*version)
        return ws_err_set(err, WS_EINVAL, "%s: a chart needs repoURL, chart and targetRevision", label);
    if (strchr(name, '/') || strstr(name, "..") || strpbrk(name, "?#% \t\n"))
        return ws_err_set(err, WS_EINVAL, "%s: bad chart name", label);
    if (!env->state_dir)
        return ws_err_set(err, WS_EINVAL, "%s: no state folder for the chart cache", label);
    oci = strncasecmp(repo_url, "oci://", 6) == 0 || (repo && repo->enable_oci);
    if (!oci && strncasecmp(repo_url, "https://", 8) != 0 && strncasecmp(repo_url, "http://", 7) != 0)
        return ws_err_set(err, WS_EINVAL, "%s: a Helm repository URL is https://, http:// or oci:// (or a registry "
                          "host with enableOCI: true)", label);
    {
        char *path = NULL, *ver = NULL;
        rc = oci ? fetch_oci(&path, &ver, env, repo, repo_url, name, version, label, err)
                 : fetch_http(&path, &ver, env, repo, repo_url, name, version, label, err);
        if (rc == 0 && !ver)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        if (rc < 0) {
            free(path);
            free(ver);
            if (err && !strstr(err->msg, "Helm chart "))
                ws_err_prefix(err, "%s", label);
            return rc;
        }
        ws_debug("%s: %s (version %s)", label, path, ver);
        *out_path = path;
        if (out_version)
            *out_version = ver;
        else
            free(ver);
    }
    return 0;
}

int ws_chart_pull(char **out_dir, const struct ws_chart_env *env, const char *repo_url, const char *name,
                  const char *version, const char *dest, struct ws_err *err)
{
    char *archive = NULL, *ver = NULL, *dir = NULL;
    int rc;
    *out_dir = NULL;
    if ((rc = ws_chart_fetch(&archive, &ver, env, repo_url, name, version, err)) < 0)
        return rc;
    if ((rc = ws_targz_extract(archive, dest, NULL, err)) < 0) {
        char shown[300];
        ws_chart_url_shown(shown, sizeof(shown), repo_url);
        ws_err_prefix(err, "Helm chart \"%s\" version \"%s\" from %s", name, ver, shown);
        goto out;
    }
    if (!(dir = ws__chart_fmt("%s/%s", dest, name))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    {
        char *cy = ws__chart_fmt("%s/Chart.yaml", dir);
        int ok = cy && ws__chart_file_exists(cy);
        free(cy);
        if (!ok) {
            char shown[300];
            ws_chart_url_shown(shown, sizeof(shown), repo_url);
            rc = ws_err_set(err, WS_EINVAL, "Helm chart \"%s\" version \"%s\" from %s: the archive has no %s/Chart.yaml",
                            name, ver, shown, name);
            goto out;
        }
    }
    if ((rc = ws_chart_deps(env, dir, dir, err)) < 0)
        goto out;
    *out_dir = dir;
    dir = NULL;
out:
    free(archive);
    free(ver);
    free(dir);
    return rc;
}
