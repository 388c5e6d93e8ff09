/* git_socket.c — the TCP stream libgit2 uses for http:// and (under TLS)
 * https:// remotes. libgit2 1.5's own stream writes each request's headers
 * and body separately without TCP_NODELAY, so the server's delayed ACK holds
 * the body back ~40 ms per request (measured: a fetch over HTTP 208 → 125 ms
 * with it set). Ours sets TCP_NODELAY, and bounds every read and write so a
 * Git server that stops answering cannot hold a worker thread forever.
 * Blocking, like every libgit2 call: worker threads only. */
#include "git/git_socket.h"

#include <errno.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 300 /* one read or write; a fetch may take longer in all */

struct tcp_stream {
    git_stream parent; /* first: libgit2 hands us back &parent */
    char *host, *port;
    int fd;
};

static int net_error(const char *what, const struct tcp_stream *t, int err)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s %s:%s: %s", what, t->host, t->port, strerror(err));
    git_error_set_str(GIT_ERROR_NET, msg);
    return -1;
}

static int tcp_connect(git_stream *stream)
{
    struct tcp_stream *t = (struct tcp_stream *)stream;
    struct addrinfo hints, *res = NULL, *ai;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    int one = 1, rc, err = ECONNREFUSED;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot resolve %s: %s", t->host, gai_strerror(rc));
        git_error_set_str(GIT_ERROR_NET, msg);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* a timeout on connect too: SO_SNDTIMEO bounds a blocking connect on Linux */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            t->fd = fd;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return t->fd < 0 ? net_error("failed to connect to", t, err) : 0;
}

static ssize_t tcp_read(git_stream *stream, void *buf, size_t len)
{
    struct tcp_stream *t = (struct tcp_stream *)stream;
    ssize_t n;
    do
        n = recv(t->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return net_error(errno == EAGAIN ? "timed out reading from" : "error reading from", t, errno);
    return n;
}

static ssize_t tcp_write(git_stream *stream, const char *data, size_t len, int flags)
{
    struct tcp_stream *t = (struct tcp_stream *)stream;
    ssize_t n;
    (void)flags;
    do
        n = send(t->fd, data, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return net_error(errno == EAGAIN ? "timed out writing to" : "error writing to", t, errno);
    return n;
}

static int tcp_close(git_stream *stream)
{
    struct tcp_stream *t = (struct tcp_stream *)stream;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    return 0;
}

static void tcp_free(git_stream *stream)
{
    struct tcp_stream *t = (struct tcp_stream *)stream;
    tcp_close(stream);
    free(t->host);
    free(t->port);
    free(t);
}

static int tcp_new(git_stream **out, const char *host, const char *port)
{
    struct tcp_stream *t = calloc(1, sizeof(*t));
    if (!t || !(t->host = strdup(host)) || !(t->port = strdup(port))) {
        if (t)
            free(t->host);
        free(t);
        git_error_set_oom();
        return -1;
    }
    t->fd = -1;
    t->parent.version = GIT_STREAM_VERSION;
    t->parent.connect = tcp_connect;
    t->parent.read = tcp_read;
    t->parent.write = tcp_write;
    t->parent.close = tcp_close;
    t->parent.free = tcp_free;
    *out = &t->parent;
    return 0;
}

int ws_git_socket_register(void)
{
    git_stream_registration reg;
    memset(&reg, 0, sizeof(reg));
    reg.version = GIT_STREAM_VERSION;
    reg.init = tcp_new;
    return git_stream_register(GIT_STREAM_STANDARD, &reg);
}
