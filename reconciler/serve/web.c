/* web.c — see web.h. The files are small and few: each is compressed once,
 * the first time a browser asks for it, and kept. Loop thread only. */
#include "serve/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/util.h"

const char ws_web_security_headers[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n";

struct cached {
    unsigned char *gz;
    size_t gzlen;
    char etag[24];
    int done;
};
static struct cached cache[32];

static void prepare(size_t i)
{
    const struct ws_web_file *f = &ws_web_files[i];
    struct cached *c = &cache[i];
    z_stream z;
    uint64_t h = 14695981039346656037ULL;
    c->done = 1;
    for (size_t k = 0; k < f->len; k++)
        h = (h ^ f->data[k]) * 1099511628211ULL;
    snprintf(c->etag, sizeof(c->etag), "\"%016llx\"", (unsigned long long)h);
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) /* 15 + 16: gzip */
        return;
    c->gzlen = deflateBound(&z, f->len) + 32;
    if ((c->gz = malloc(c->gzlen))) {
        z.next_in = (unsigned char *)f->data;
        z.avail_in = (uInt)f->len;
        z.next_out = c->gz;
        z.avail_out = (uInt)c->gzlen;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out < f->len) {
            c->gzlen = z.total_out;
        } else { /* no smaller: sent as it is */
            free(c->gz);
            c->gz = NULL;
        }
    }
    deflateEnd(&z);
}

static int takes_gzip(const struct ws_httpd_req *req)
{
    const char *ae = ws_httpd_header(req, "Accept-Encoding");
    for (const char *p = ae; p && (p = strstr(p, "gzip")); p += 4) {
        const char *q = p + 4;
        while (*q == ' ')
            q++;
        if (*q == ';' && (q = strchr(q, '=')) && strtod(q + 1, NULL) <= 0)
            continue; /* gzip;q=0: refused */
        return 1;
    }
    return 0;
}

int ws_web_handle(struct ws_httpd_req *req)
{
    const char *path = strcmp(req->path, "/") == 0 || strcmp(req->path, "/index.html") == 0 ? "/ui/index.html"
                                                                                               : req->path;
    char hdrs[1024];
    const char *inm;
    size_t i;
    if (strncmp(path, "/ui/", 4) != 0)
        return 0;
    for (i = 0; ws_web_files[i].path && i < WS_ARRAY_SIZE(cache); i++)
        if (strcmp(ws_web_files[i].path, path) == 0)
            break;
    if (!ws_web_files[i].path || i >= WS_ARRAY_SIZE(cache)) {
        ws_httpd_respond(req, 404, "text/plain; charset=utf-8", ws_web_security_headers, "not found\n", 10);
        return 1;
    }
    if (strcmp(req->method, "GET") != 0) {
        ws_httpd_respond(req, 405, "text/plain; charset=utf-8", "Allow: GET\r\n", "use GET\n", 8);
        return 1;
    }
    if (!cache[i].done)
        prepare(i);
    inm = ws_httpd_header(req, "If-None-Match");
    if (inm && strcmp(inm, cache[i].etag) == 0) {
        snprintf(hdrs, sizeof(hdrs), "%sETag: %s\r\nCache-Control: no-cache\r\n", ws_web_security_headers,
                 cache[i].etag);
        ws_httpd_respond(req, 304, NULL, hdrs, NULL, 0);
        return 1;
    }
    int gz = cache[i].gz && takes_gzip(req);
    snprintf(hdrs, sizeof(hdrs), "%sETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s",
             ws_web_security_headers, cache[i].etag, gz ? "Content-Encoding: gzip\r\n" : "");
    if (gz)
        ws_httpd_respond(req, 200, ws_web_files[i].type, hdrs, (const char *)cache[i].gz, cache[i].gzlen);
    else
        ws_httpd_respond(req, 200, ws_web_files[i].type, hdrs, (const char *)ws_web_files[i].data,
                         ws_web_files[i].len);
    return 1;
}
