/* serve.h — the push-driven service (`wavesync serve`): webhooks in, a durable
 * queue, routing, wave-ordered runs, commit statuses and the HTTP API. */
#ifndef WS_SERVE_H
#define WS_SERVE_H

/* Load the configuration at `config_path`, open the store in its stateDir,
 * listen (on `listen`, "HOST:PORT", when not NULL, else server.listen) and
 * serve until SIGTERM or SIGINT. Startup problems are printed to stderr as
 * "wavesync serve: …". Runs the service loop on the calling thread: returns
 * only when the service has stopped — 0 after a clean shutdown, or a
 * negative WS_E* code (error.h) when it could not start. SIGHUP, or a change
 * of the file, reloads the configuration by running `argv` (main's) again in
 * this process (reload.c); a file that does not load is refused. */
int ws_serve_run(const char *config_path, const char *listen, char **argv);

/* `wavesync store migrate`: bring the store of `config_path` (PostgreSQL,
 * or SQLite in stateDir) to this wavesync's schema, print what was done, and
 * nothing else. 0 or a negative WS_E* code (printed to stderr). */
int ws_serve_migrate(const char *config_path);

#endif
