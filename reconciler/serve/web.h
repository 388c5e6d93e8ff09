/* web.h — the web page served by `wavesync serve` at / (web/, embedded in
 * the binary at build time by scripts/embed-web). */
#ifndef WS_WEB_H
#define WS_WEB_H

#include <stddef.h>

#include "serve/httpd.h"

struct ws_web_file {
    const char *path;  /* "/ui/app.js" */
    const char *type;  /* Content-Type */
    const unsigned char *data;
    size_t len;
};
extern const struct ws_web_file ws_web_files[]; /* ends with a NULL path */

/* Answer GET / and GET /ui/…: 1 when the path was the page's (answered),
 * 0 when it is not (nothing sent). With the page's headers:
 * Content-Security-Policy with no inline script or style and
 * frame-ancestors 'none', X-Frame-Options, nosniff, no referrer; an ETag
 * (If-None-Match → 304); gzip when the browser takes it. */
int ws_web_handle(struct ws_httpd_req *req);

/* The headers every page answer carries (for tests and the API's HTML). */
extern const char ws_web_security_headers[];

#endif
