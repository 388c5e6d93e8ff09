/* sdnotify.h — the service manager's side channels, written from scratch
 * (no libsystemd): readiness and watchdog messages to $NOTIFY_SOCKET
 * (sd_notify(3)'s datagram protocol), and whether stderr is the journal
 * ($JOURNAL_STREAM), so log lines can go to it with fields.
 * Without systemd every call is a no-op. */
#ifndef WS_SDNOTIFY_H
#define WS_SDNOTIFY_H

#include <stdint.h>

/* Read $NOTIFY_SOCKET, $WATCHDOG_USEC/$WATCHDOG_PID once and remove them
 * from the environment, so that no tool wavesync runs talks to the service
 * manager in its name. Call at startup, before any thread exists. */
void ws_sd_init(void);

/* Send one message ("READY=1\nSTATUS=…"); 1 sent, 0 no socket configured,
 * -1 the send failed (errno set). Thread-safe. */
int ws_sd_notify(const char *msg);

/* The watchdog interval the service manager asked for, in microseconds,
 * for this process; 0 when none. */
uint64_t ws_sd_watchdog_usec(void);

/* The environment for an exec of this process's own image (a reload): the
 * current one plus the variables ws_sd_init took out, WATCHDOG_PID being
 * this pid, which an exec keeps. Allocated; NULL when memory runs out. */
char **ws_sd_exec_env(void);

#endif
