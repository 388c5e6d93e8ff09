/* git_socket.h — our TCP stream for libgit2's HTTP(S) transport (TCP_NODELAY,
 * bounded reads and writes). */
#ifndef WS_GIT_SOCKET_H
#define WS_GIT_SOCKET_H

/* Make libgit2 use it for every new connection (plain, and under TLS).
 * Call once after git_libgit2_init, before any worker thread starts.
 * Returns 0 or a libgit2 error. */
int ws_git_socket_register(void);

#endif
