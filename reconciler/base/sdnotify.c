/* sdnotify.c — see sdnotify.h. */
#include "base/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char watchdog_usec_text[32];
static uint64_t watchdog_usec;

void ws_sd_init(void)
{
    const char *p = getenv("NOTIFY_SOCKET"), *w = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    /* a path, or "@name" for the abstract namespace; anything else (vsock
       addresses) is not for us */
    if (p && (p[0] == '/' || p[0] == '@') && strlen(p) < sizeof(notify_path))
        snprintf(notify_path, sizeof(notify_path), "%s", p);
    if (w && (!pid || strtol(pid, NULL, 10) == (long)getpid())) {
        char *end;
        unsigned long long v = strtoull(w, &end, 10);
        if (*w && !*end && v > 0) {
            watchdog_usec = v;
            snprintf(watchdog_usec_text, sizeof(watchdog_usec_text), "%llu", v);
        }
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

int ws_sd_notify(const char *msg)
{
    struct sockaddr_un sa;
    socklen_t len;
    ssize_t n;
    int fd, saved;
    if (!notify_path[0])
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, notify_path, strlen(notify_path));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(notify_path));
    if (notify_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
    else
        len++;
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 1;
}

uint64_t ws_sd_watchdog_usec(void)
{
    return watchdog_usec;
}

char **ws_sd_exec_env(void)
{
    extern char **environ;
    size_t n = 0, k = 0;
    char **env;
    while (environ[n])
        n++;
    if (!(env = calloc(n + 4, sizeof(*env))))
        return NULL;
    memcpy(env, environ, n * sizeof(*env));
    k = n;
    if (notify_path[0] && asprintf(&env[k], "NOTIFY_SOCKET=%s", notify_path) > 0)
        k++;
    if (watchdog_usec && asprintf(&env[k], "WATCHDOG_USEC=%s", watchdog_usec_text) > 0)
        k++;
    if (watchdog_usec && asprintf(&env[k], "WATCHDOG_PID=%ld", (long)getpid()) > 0)
        k++;
    env[k] = NULL;
    return env;
}
