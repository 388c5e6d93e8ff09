/* cli.h — the command line's shared pieces: global options, exit codes and
 * the subcommands implemented outside main.c. */
#ifndef WS_CLI_H
#define WS_CLI_H

/* Exit codes (DESIGN.md): 0 success. */
#define WS_EXIT_FAILED 1      /* a sync failed: degraded, hook failed, wave deadline */
#define WS_EXIT_USAGE 2       /* usage, configuration or input error; nothing changed */
#define WS_EXIT_UNREACHABLE 3 /* cannot reach git or a cluster */

/* The exit code for a WS_E* outcome: bad input and configuration 2,
 * cannot reach or authenticate 3, any other failure 1. */
int ws_cli_exit_for(int code);

struct ws_global_opts {
    const char *config;     /* --config; NULL = ./wavesync.yaml */
    const char *kubeconfig; /* --kubeconfig (apply, version) */
    const char *context;
    int json_output;
    char **argv;            /* main's: serve runs its own image again to reload */
};

int ws_cli_apps(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_render(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_plan(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_sync(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_diff(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_validate(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_trigger(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_status(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_notify(const struct ws_global_opts *g, int argc, char **argv);
int ws_cli_health(const struct ws_global_opts *g, int argc, char **argv);

#endif
