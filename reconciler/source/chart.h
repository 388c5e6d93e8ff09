/* chart.h — Helm charts that do not live in the Application's Git tree
 * (chart.c; dependencies in chart_deps.c):
 * from Helm repositories (index.yaml over HTTP(S)), from OCI registries
 * (the distribution API, pulled with libcurl), and a chart's dependencies
 * (Chart.yaml / Chart.lock) placed into its charts/ folder before
 * `helm template` — never through helm's own repository configuration.
 *
 * Versions are exact or Masterminds constraints (semver.h); the highest
 * match wins. Archives are verified against their sha256 digest (the
 * index's `digest`, the OCI layer's digest) and cached by digest under
 * stateDir/charts/sha256/, shared by every Application; an exact version
 * already resolved once needs no network at all (stateDir/charts/refs/).
 * Indexes are cached under stateDir/charts/index/ and reused while fetched
 * at or after `fresh_since` (a run's snapshot): one download per run.
 *
 * Errors: WS_ENET (cannot reach the repository; also TLS failures),
 * WS_EAUTH (refused credentials), WS_ENOTFOUND (no such chart or version),
 * WS_EPARSE / WS_EINVAL / WS_ELIMIT (bad index, digest, archive). Messages
 * name the repository URL, the chart and the version, never a credential.
 * BLOCKING (libcurl easy, files): worker threads only. */
#ifndef WS_CHART_H
#define WS_CHART_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "config/config.h"

struct ws_chart_env {
    const struct ws_config *config; /* repositories (credentials, options); may be NULL */
    const char *state_dir;          /* the cache lives in state_dir/charts; required */
    int64_t fresh_since;            /* an index fetched at or after this Unix time (ms) is reused; 0 = fetch */
};

/* The cached archive of chart `name` at `version` (exact, or a constraint)
 * from `repo_url` (https://, http://, oci://, or a bare registry host whose
 * repository has enableOCI). *out_path (caller frees) is the archive under
 * the cache; *out_version (caller frees, may be NULL) the version chosen. */
int ws_chart_fetch(char **out_path, char **out_version, const struct ws_chart_env *env, const char *repo_url,
                   const char *name, const char *version, struct ws_err *err);

/* Fetch, then extract into `dest` (an empty folder): *out_dir (caller
 * frees) is dest/<name>, the chart's folder; its missing dependencies are
 * fetched too. */
int ws_chart_pull(char **out_dir, const struct ws_chart_env *env, const char *repo_url, const char *name,
                  const char *version, const char *dest, struct ws_err *err);

/* The chart at `chart_dir` (inside `root`, which file:// dependencies may not
 * leave): every dependency of its Chart.yaml that charts/ lacks is fetched
 * (the Chart.lock version when there is one) and placed in charts/ as an
 * archive (a repository) or a folder (file://). Repositories: a URL that is
 * one of wavesync.yaml's repositories, or "@name" / "alias:name" naming one. */
int ws_chart_deps(const struct ws_chart_env *env, const char *chart_dir, const char *root, struct ws_err *err);

/* `url` for a message: scheme://host/path, quoted and cut to `size`; userinfo
 * (credentials), query and fragment dropped. */
void ws_chart_url_shown(char *out, size_t size, const char *url);

/* --- pure parts, for tests ---------------------------------------------- */

struct ws_chart_entry {
    char *version, *url, *digest; /* url: urls[0]; digest: hex, may be NULL */
};
struct ws_chart_entries {
    struct ws_chart_entry *v;
    size_t n;
};

/* The entries of chart `name` in an index.yaml, read as a stream of events
 * (an index of tens of MB is never held as a tree): from `f`, or from
 * `buf`/`len` when f is NULL. 0 (n may be 0: the chart is not there) or
 * WS_EPARSE / WS_ELIMIT / WS_ENOMEM. Free with ws_chart_entries_free. */
int ws_chart_index_read(struct ws_chart_entries *out, FILE *f, const char *buf, size_t len, const char *name,
                        struct ws_err *err);
void ws_chart_entries_free(struct ws_chart_entries *e);

/* A WWW-Authenticate Bearer challenge: realm, service and scope (each
 * caller-freed, NULL when absent). 0, or WS_EINVAL when not a Bearer one. */
int ws_chart_bearer_challenge(char **realm, char **service, char **scope, const char *header);

#endif
