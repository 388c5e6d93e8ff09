/* webhook_load.c — load generator for `wavesync serve`'s webhook endpoint:
 * N signed GitHub push deliveries over C keep-alive HTTP/1.1 connections, one
 * request in flight per connection; prints the status counts, deliveries per
 * second and latency. Standalone (libuv + libcrypto, not libwavesync):
 *
 *   gcc -O2 -o webhook_load bench/webhook_load.c $(pkg-config --cflags --libs libuv libcrypto)
 *
 *   webhook_load --url http://127.0.0.1:PORT/api/webhook/github --secret S \
 *       --repo-url URL --ref refs/heads/main --before SHA --after SHA \
 *       [--count N (20000)] [--connections C (32)] [--timeout-ms MS (30000)]
 *
 * Every delivery is built (body, X-GitHub-Delivery UUID, X-Hub-Signature-256)
 * before the clock starts, so the client's own cost is one write and one
 * parse per delivery. Exit status: 0 when there was no connection error and
 * at least one 2xx; 1 otherwise; 2 on bad arguments. */
#define _GNU_SOURCE /* asprintf, memmem */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <uv.h>

#define READ_CHUNK 65536
#define RESPONSE_MAX (1 << 20) /* a webhook answer is small; more is an error */
#define MAX_RECONNECTS_PER_CONN 3

struct opts {
    const char *url, *secret, *repo_url, *ref, *before, *after;
    long count, connections, timeout_ms;
    char host[256], hostport[300], port[8], path[1024];
};

struct delivery {
    char *raw; /* the whole request: head and body */
    size_t len;
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_timer_t timer; /* per-request timeout */
    char *in;         /* response bytes read so far */
    size_t in_len, in_cap;
    long current;     /* delivery in flight, or -1 */
    uint64_t sent_ns;
    int failures;     /* consecutive connection failures */
    int closing;
    int writing;      /* c->write is in use */
    int send_after_write; /* answered before the write callback came */
};

static struct opts o = {.count = 20000, .connections = 32, .timeout_ms = 30000};
static struct delivery *deliveries;
static double *latency_ms;
static long next_delivery, completed, answered, conn_errors, open_conns;
static long status_count[600];
static char read_buf[READ_CHUNK];
static struct sockaddr_storage server_addr;
static uv_loop_t *loop;
static uint64_t start_ns, end_ns;

/* ---- building the deliveries ------------------------------------------------ */

/* JSON string contents for s (quotes not included). Caller frees. */
static char *json_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 6 + 1), *p = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);
        } else {
            *p++ = (char)c;
        }
    }
    *p = '\0';
    return out;
}

/* "org/repo" and "repo" from a clone URL (".git" dropped). */
static void repo_names(const char *url, char *full, size_t fsize, char *name, size_t nsize)
{
    char tmp[512]; /* longer repository URLs are cut: names only label the event */
    char *last, *prev;
    size_t n;
    snprintf(tmp, sizeof(tmp), "%s", url);
    n = strlen(tmp);
    while (n && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    if (n > 4 && strcmp(tmp + n - 4, ".git") == 0)
        tmp[n -= 4] = '\0';
    last = strrchr(tmp, '/');
    if (!last) {
        snprintf(full, fsize, "%s", tmp);
        snprintf(name, nsize, "%s", tmp);
        return;
    }
    *last = '\0';
    prev = strrchr(tmp, '/');
    snprintf(name, nsize, "%s", last + 1);
    snprintf(full, fsize, "%s/%s", prev ? prev + 1 : tmp, last + 1);
}

static void uuid4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        fprintf(stderr, "webhook_load: no randomness for delivery ids\n");
        exit(1);
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* A push event shaped like GitHub's (the fields a receiver reads, and enough
 * of the rest to weigh what a real delivery weighs). */
static char *push_body(long i, const char *url, const char *html, const char *full, const char *name,
                       const char *owner)
{
    /* every run's bodies differ from the last run's: the service treats the
       same signed body under another delivery id as a replay */
    static char run_id[37];
    char *body = NULL, *commit = NULL;
    if (!run_id[0])
        uuid4(run_id);
    if (asprintf(&commit,
             "{\"id\":\"%s\",\"tree_id\":\"%s\",\"distinct\":true,"
             "\"message\":\"load test push %ld of run %s\",\"timestamp\":\"2025-01-01T00:00:00Z\","
             "\"url\":\"%s/commit/%s\","
             "\"author\":{\"name\":\"Load Gen\",\"email\":\"loadgen@example.invalid\",\"username\":\"loadgen\"},"
             "\"committer\":{\"name\":\"Load Gen\",\"email\":\"loadgen@example.invalid\",\"username\":\"loadgen\"},"
             "\"added\":[],\"removed\":[],\"modified\":[\"deploy/values.yaml\"]}",
             o.after, o.after, i, run_id, html, o.after) < 0)
        return NULL;
    if (asprintf(&body,
                 "{\"ref\":\"%s\",\"before\":\"%s\",\"after\":\"%s\","
                 "\"repository\":{\"id\":424242,\"node_id\":\"R_kgDOloadgen\",\"name\":\"%s\","
                 "\"full_name\":\"%s\",\"private\":false,"
                 "\"owner\":{\"name\":\"%s\",\"login\":\"%s\",\"id\":4242,\"type\":\"Organization\"},"
                 "\"html_url\":\"%s\",\"url\":\"%s\",\"clone_url\":\"%s\",\"git_url\":\"%s\","
                 "\"ssh_url\":\"%s\",\"default_branch\":\"main\",\"master_branch\":\"main\","
                 "\"created_at\":1700000000,\"pushed_at\":%ld},"
                 "\"pusher\":{\"name\":\"loadgen\",\"email\":\"loadgen@example.invalid\"},"
                 "\"sender\":{\"login\":\"loadgen\",\"id\":4243,\"type\":\"User\"},"
                 "\"created\":false,\"deleted\":false,\"forced\":false,\"base_ref\":null,"
                 "\"compare\":\"%s/compare/%.12s...%.12s\",\"commits\":[%s],\"head_commit\":%s}",
                 o.ref, o.before, o.after, name, full, owner, owner, html, html, url, url, url,
                 1700000000L + i, html, o.before, o.after, commit, commit) < 0)
        body = NULL;
    free(commit);
    return body;
}

static int build_deliveries(void)
{
    char full[1024], name[1024], owner[1024], *slash;
    char *url = json_escape(o.repo_url), *html, *ref = json_escape(o.ref);
    char *before = json_escape(o.before), *after = json_escape(o.after);
    size_t hl;
    if (!url || !ref || !before || !after)
        return -1;
    o.ref = ref; /* escaped once; freed at exit */
    o.before = before;
    o.after = after;
    repo_names(o.repo_url, full, sizeof(full), name, sizeof(name));
    snprintf(owner, sizeof(owner), "%s", full);
    if ((slash = strchr(owner, '/')))
        *slash = '\0';
    html = strdup(url);
    hl = strlen(html);
    if (hl > 4 && strcmp(html + hl - 4, ".git") == 0)
        html[hl - 4] = '\0';
    {
        char *f = json_escape(full), *n = json_escape(name), *w = json_escape(owner);
        for (long i = 0; i < o.count; i++) {
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int mac_len = 0;
            char sig[2 * EVP_MAX_MD_SIZE + 1], id[37];
            char *body = push_body(i, url, html, f, n, w);
            size_t blen;
            if (!body)
                return -1;
            blen = strlen(body);
            if (!HMAC(EVP_sha256(), o.secret, (int)strlen(o.secret), (unsigned char *)body, blen, mac,
                      &mac_len))
                return -1;
            for (unsigned int k = 0; k < mac_len; k++)
                sprintf(sig + 2 * k, "%02x", mac[k]);
            uuid4(id);
            if (asprintf(&deliveries[i].raw,
                         "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: GitHub-Hookshot/loadgen\r\n"
                         "Accept: */*\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                         "X-GitHub-Event: push\r\nX-GitHub-Delivery: %s\r\n"
                         "X-GitHub-Hook-ID: 424242\r\nX-GitHub-Hook-Installation-Target-Type: repository\r\n"
                         "X-GitHub-Hook-Installation-Target-ID: 424242\r\n"
                         "X-Hub-Signature-256: sha256=%s\r\n\r\n%s",
                         o.path, o.hostport, blen, id, sig, body) < 0)
                return -1;
            deliveries[i].len = strlen(deliveries[i].raw);
            free(body);
        }
        free(f);
        free(n);
        free(w);
    }
    free(url);
    free(html);
    return 0;
}

/* ---- HTTP responses ------------------------------------------------------------ */

/* Value of header `name` in the head [p, end), or NULL. */
static const char *find_header(const char *p, const char *end, const char *name, size_t *vlen)
{
    size_t n = strlen(name);
    const char *line = memchr(p, '\n', (size_t)(end - p));
    while (line && line + 1 < end) {
        const char *s = line + 1, *e = memchr(s, '\n', (size_t)(end - s));
        if (!e)
            break;
        if ((size_t)(e - s) > n && strncasecmp(s, name, n) == 0 && s[n] == ':') {
            const char *v = s + n + 1;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            *vlen = (size_t)(e - v);
            while (*vlen && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
                (*vlen)--;
            return v;
        }
        line = e;
    }
    return NULL;
}

/* Bytes of a chunked body at p: > 0 when complete, 0 when more is needed,
 * -1 when malformed. Trailers are not expected from a webhook answer. */
static long chunked_len(const char *p, size_t n)
{
    size_t at = 0;
    for (;;) {
        char *end;
        const char *nl = memchr(p + at, '\n', n - at);
        unsigned long size;
        if (!nl)
            return 0;
        errno = 0;
        size = strtoul(p + at, &end, 16);
        if (end == p + at || errno)
            return -1;
        at = (size_t)(nl - p) + 1;
        if (size == 0) {
            /* the empty line that ends the (absent) trailers */
            if (n - at < 2)
                return 0;
            return memcmp(p + at, "\r\n", 2) == 0 ? (long)(at + 2) : -1;
        }
        if (n - at < size + 2)
            return 0;
        at += size + 2;
    }
}

/* Parse one response from c->in: 1 with *status and *close set when it is
 * complete (its bytes consumed), 0 when more is needed, -1 when malformed. */
static int parse_response(struct conn *c, int *status, int *close)
{
    char *head_end = c->in_len >= 4 ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
    const char *v;
    size_t vlen, head, body = 0;
    if (!head_end)
        return c->in_len > 65536 ? -1 : 0;
    head = (size_t)(head_end - c->in) + 4;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->in + 9);
    if (*status < 100 || *status > 599)
        return -1;
    *close = (v = find_header(c->in, head_end + 2, "Connection", &vlen)) && vlen == 5 &&
             strncasecmp(v, "close", 5) == 0;
    if ((v = find_header(c->in, head_end + 2, "Transfer-Encoding", &vlen)) && vlen >= 7 &&
        strncasecmp(v + vlen - 7, "chunked", 7) == 0) {
        long n = chunked_len(c->in + head, c->in_len - head);
        if (n <= 0)
            return (int)n;
        body = (size_t)n;
    } else if ((v = find_header(c->in, head_end + 2, "Content-Length", &vlen))) {
        body = strtoul(v, NULL, 10);
    } else if (*status != 204 && *status != 304 && *status >= 200) {
        return -1; /* a body up to EOF would break keep-alive */
    }
    if (body > RESPONSE_MAX)
        return -1;
    if (c->in_len < head + body)
        return 0;
    memmove(c->in, c->in + head + body, c->in_len - head - body);
    c->in_len -= head + body;
    return 1;
}

/* ---- connections --------------------------------------------------------------- */

static void conn_open(struct conn *c);
static void send_next(struct conn *c);

static void maybe_finish(void)
{
    if (completed == o.count && !end_ns)
        end_ns = uv_hrtime();
}

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->closing > 0)
        return;
    open_conns--;
    c->in_len = 0;
    /* reconnect while work remains, unless this slot keeps failing */
    if (next_delivery < o.count && c->failures <= MAX_RECONNECTS_PER_CONN)
        conn_open(c);
    else
        maybe_finish();
}

static void conn_close(struct conn *c, int failed)
{
    if (c->closing)
        return;
    if (c->current >= 0) { /* the delivery in flight is lost */
        completed++;
        c->current = -1;
        failed = 1;
    }
    if (failed) {
        conn_errors++;
        c->failures++;
    }
    c->closing = 2;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    fprintf(stderr, "webhook_load: no answer within %ld ms\n", o.timeout_ms);
    conn_close(c, 1);
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    (void)n;
    b->base = read_buf; /* the loop is single-threaded: one buffer serves all */
    b->len = sizeof(read_buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    int status = 0, close = 0, rc;
    if (n == UV_EOF || n < 0) {
        if (n != UV_EOF || c->current >= 0)
            fprintf(stderr, "webhook_load: connection %s\n", n == UV_EOF ? "closed by the server mid-request"
                                                                          : uv_strerror((int)n));
        conn_close(c, n != UV_EOF);
        return;
    }
    if (n == 0)
        return;
    if (c->in_len + (size_t)n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 4096;
        char *p;
        while (cap < c->in_len + (size_t)n)
            cap *= 2;
        if (!(p = realloc(c->in, cap))) {
            conn_close(c, 1);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, b->base, (size_t)n);
    c->in_len += (size_t)n;
    if (c->current < 0) {
        fprintf(stderr, "webhook_load: bytes from the server with no request in flight\n");
        conn_close(c, 1);
        return;
    }
    if ((rc = parse_response(c, &status, &close)) == 0)
        return;
    if (rc < 0) {
        fprintf(stderr, "webhook_load: malformed response\n");
        conn_close(c, 1);
        return;
    }
    uv_timer_stop(&c->timer);
    latency_ms[answered++] = (double)(uv_hrtime() - c->sent_ns) / 1e6;
    status_count[status]++;
    completed++;
    c->current = -1;
    c->failures = 0;
    maybe_finish();
    if (close) /* the server ends keep-alive: a new connection, not an error */
        conn_close(c, 0);
    else if (c->writing) /* answered early: c->write is still busy */
        c->send_after_write = 1;
    else
        send_next(c);
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    c->writing = 0;
    if (status < 0) {
        if (status != UV_ECANCELED) {
            fprintf(stderr, "webhook_load: write: %s\n", uv_strerror(status));
            conn_close(c, 1);
        }
        return;
    }
    if (c->send_after_write) {
        c->send_after_write = 0;
        send_next(c);
    }
}

static void send_next(struct conn *c)
{
    uv_buf_t b;
    if (next_delivery >= o.count) {
        conn_close(c, 0); /* done: no error */
        return;
    }
    c->current = next_delivery++;
    b = uv_buf_init(deliveries[c->current].raw, (unsigned)deliveries[c->current].len);
    c->write.data = c;
    c->sent_ns = uv_hrtime();
    uv_timer_start(&c->timer, on_timeout, (uint64_t)o.timeout_ms, 0);
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c, 1);
    else
        c->writing = 1;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED)
            fprintf(stderr, "webhook_load: connect: %s\n", uv_strerror(status));
        conn_close(c, 1);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    send_next(c);
}

static void conn_open(struct conn *c)
{
    int rc;
    c->current = -1;
    c->closing = 0;
    c->writing = c->send_after_write = 0;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c->connect.data = c;
    open_conns++;
    if ((rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&server_addr, on_connect)) < 0) {
        fprintf(stderr, "webhook_load: connect: %s\n", uv_strerror(rc));
        c->failures = MAX_RECONNECTS_PER_CONN + 1; /* will not work next time either */
        conn_close(c, 1);
    }
}

/* ---- arguments and report ----------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: webhook_load --url http://HOST:PORT/api/webhook/github --secret S --repo-url URL\n"
            "                    --ref REF --before SHA --after SHA [--count N] [--connections C]\n"
            "                    [--timeout-ms MS]\n");
    exit(2);
}

static long parse_long(const char *s, long min, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        usage();
    return v;
}

static void parse_url(void)
{
    const char *p = o.url, *hend, *pstart;
    if (strncmp(p, "http://", 7) != 0) {
        fprintf(stderr, "webhook_load: --url must be http://HOST[:PORT]/PATH\n");
        exit(2);
    }
    p += 7;
    pstart = strchr(p, '/');
    if (!pstart)
        pstart = p + strlen(p);
    snprintf(o.hostport, sizeof(o.hostport), "%.*s", (int)(pstart - p), p);
    snprintf(o.path, sizeof(o.path), "%s", *pstart ? pstart : "/");
    if (*p == '[') { /* [v6]:port */
        hend = memchr(p, ']', (size_t)(pstart - p));
        if (!hend)
            usage();
        snprintf(o.host, sizeof(o.host), "%.*s", (int)(hend - p - 1), p + 1);
        hend++;
    } else {
        hend = memchr(p, ':', (size_t)(pstart - p));
        if (!hend)
            hend = pstart;
        snprintf(o.host, sizeof(o.host), "%.*s", (int)(hend - p), p);
    }
    snprintf(o.port, sizeof(o.port), "%.*s", *hend == ':' ? (int)(pstart - hend - 1) : 2,
             *hend == ':' ? hend + 1 : "80");
}

static void resolve(void)
{
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    int rc;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* synchronous (no callback): before the clock starts */
    if ((rc = uv_getaddrinfo(loop, &req, NULL, o.host, o.port, &hints)) < 0) {
        fprintf(stderr, "webhook_load: cannot resolve %s: %s\n", o.host, uv_strerror(rc));
        exit(1);
    }
    memcpy(&server_addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, long n, double p)
{
    long rank = (long)(p / 100.0 * (double)n + 0.999999);
    if (n == 0)
        return 0;
    if (rank < 1)
        rank = 1;
    return v[rank > n ? n - 1 : rank - 1];
}

static int report(void)
{
    double secs = (double)(end_ns - start_ns) / 1e9;
    long ok = 0, other = 0;
    qsort(latency_ms, (size_t)answered, sizeof(double), cmp_double);
    for (int s = 200; s < 300; s++)
        ok += status_count[s];
    printf("webhook_load: %ld deliveries, %ld connections, %s\n", o.count, o.connections, o.url);
    printf("total         %ld\n", o.count);
    printf("sent          %ld\n", next_delivery);
    printf("answered      %ld\n", answered);
    for (int s = 100; s < 600; s++)
        if (status_count[s]) {
            printf("status %d    %ld\n", s, status_count[s]);
            if ((s < 200 || s >= 300) && s != 429)
                other += status_count[s];
        }
    printf("2xx           %ld\n", ok);
    printf("429           %ld\n", status_count[429]);
    printf("other         %ld\n", other);
    printf("conn errors   %ld\n", conn_errors);
    printf("elapsed       %.3f s\n", secs);
    printf("rate          %.0f deliveries/s (%.0f accepted 2xx/s)\n", secs > 0 ? (double)answered / secs : 0,
           secs > 0 ? (double)ok / secs : 0);
    printf("latency       median %.2f ms, p99 %.2f ms, max %.2f ms\n", percentile(latency_ms, answered, 50),
           percentile(latency_ms, answered, 99), answered ? latency_ms[answered - 1] : 0);
    return conn_errors || ok == 0 || completed < o.count ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct conn *conns;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--url") == 0)
            o.url = v;
        else if (strcmp(a, "--secret") == 0)
            o.secret = v;
        else if (strcmp(a, "--repo-url") == 0)
            o.repo_url = v;
        else if (strcmp(a, "--ref") == 0)
            o.ref = v;
        else if (strcmp(a, "--before") == 0)
            o.before = v;
        else if (strcmp(a, "--after") == 0)
            o.after = v;
        else if (strcmp(a, "--count") == 0)
            o.count = parse_long(v, 1, 10000000);
        else if (strcmp(a, "--connections") == 0)
            o.connections = parse_long(v, 1, 10000);
        else if (strcmp(a, "--timeout-ms") == 0)
            o.timeout_ms = parse_long(v, 1, 3600000);
        else
            usage();
        i++;
    }
    if (!o.url || !o.secret || !o.repo_url || !o.ref || !o.before || !o.after)
        usage();
    if (o.connections > o.count)
        o.connections = o.count;
    loop = uv_default_loop();
    parse_url();
    resolve();
    deliveries = calloc((size_t)o.count, sizeof(*deliveries));
    latency_ms = calloc((size_t)o.count, sizeof(*latency_ms));
    conns = calloc((size_t)o.connections, sizeof(*conns));
    if (!deliveries || !latency_ms || !conns || build_deliveries() < 0) {
        fprintf(stderr, "webhook_load: out of memory building %ld deliveries\n", o.count);
        return 1;
    }

    start_ns = uv_hrtime();
    for (long i = 0; i < o.connections; i++)
        conn_open(&conns[i]);
    uv_run(loop, UV_RUN_DEFAULT);
    if (!end_ns)
        end_ns = uv_hrtime();
    rc = report();

    for (long i = 0; i < o.connections; i++)
        free(conns[i].in);
    for (long i = 0; i < o.count; i++)
        free(deliveries[i].raw);
    free(conns);
    free(deliveries);
    free(latency_ms);
    free((char *)o.ref);
    free((char *)o.before);
    free((char *)o.after);
    uv_loop_close(loop);
    return rc;
}
