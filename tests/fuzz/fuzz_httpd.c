/* fuzz_httpd.c — the HTTP/1.1 request side of reconciler/serve/httpd.c on
 * any bytes: http_parser with httpd.c's callbacks, header and body limits,
 * percent-decoding and pipelining, through ws__httpd_feed (httpd_int.h),
 * which runs a connection's own parsing code without a socket.
 *
 * Input: byte 0 is the read size (0: everything in one read, else that many
 * bytes a read, so names, values and bodies arrive split); byte 1 bit 0 asks
 * for small limits (1 KiB of headers, 4 KiB of body) so the 413 and 431
 * paths are reached; the rest is what the client sends. */
#include "fuzz.h"

#include <uv.h>

#include "base/log.h"
#include "serve/httpd.h"
#include "serve/httpd_int.h"

static uv_loop_t *loop;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    loop = uv_default_loop();
    return 0;
}

/* What the service's handler (serve/api.c) relies on in a request; then an
 * answer that echoes a request header as its content type, so the check on
 * answers sees hostile text too. */
static void handler(struct ws_httpd_req *req, void *data)
{
    size_t *seen = data, i;
    const char *ct;

    FUZZ_CHECK(req->method && req->method[0], "no method");
    FUZZ_CHECK(req->path && req->path[0], "empty path"); /* httpd.h: "/" at least */
    FUZZ_CHECK(req->body && req->body[req->body_len] == '\0', "body not terminated");
    for (i = 0; i < req->nheaders; i++) {
        const char *v = req->headers[i].value;
        size_t n = strlen(v);
        FUZZ_CHECK(req->headers[i].name[0] != '\0', "header %zu has no name", i);
        FUZZ_CHECK(n == 0 || (v[n - 1] != ' ' && v[n - 1] != '\t'), "header %zu not trimmed", i);
    }
    ct = ws_httpd_header(req, "Content-Type");
    (*seen)++;
    ws_httpd_respond(req, 200, ct, NULL, req->body, req->body_len < 64 ? req->body_len : 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_httpd_opts small = {.max_header_bytes = 1024, .max_body_bytes = 4096};
    struct ws__httpd_fed fed;
    size_t seen = 0;

    if (size < 2 || size > FUZZ_MAX_INPUT)
        return 0;
    if (ws__httpd_feed(loop, data[1] & 1 ? &small : NULL, (const char *)data + 2, size - 2,
                       data[0], handler, &seen, &fed) < 0)
        return 0;
    FUZZ_CHECK(fed.requests == seen, "%zu requests handed on, %zu seen", fed.requests, seen);
    FUZZ_CHECK(fed.answers >= seen, "%zu answers for %zu requests", fed.answers, seen);
    return 0;
}
