/* route.h — changed paths of a push → affected applications. Pure: no I/O.
 *
 * The index is a trie over path components. Each node holds the ids whose
 * subtree or file rule ends there, and the glob patterns whose literal
 * (glob-free) leading components lead there. Matching walks each changed path
 * down the trie once, so a push costs about (changed paths × depth) hash
 * lookups plus the patterns met on the way — not applications × paths. */
#ifndef WS_ROUTE_H
#define WS_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Paths everywhere are repository-relative, '/'-separated. Rules are
 * normalised when added: "./", "." and empty components (duplicate, leading
 * or trailing '/') are dropped and ".." is resolved; a rule that climbs out of
 * the repository is WS_EINVAL. */

struct ws_route; /* the index; caller frees with ws_route_free */

/* A new, empty index in *out. 0 or WS_ENOMEM. */
int ws_route_new(struct ws_route **out);
/* Safe with NULL. */
void ws_route_free(struct ws_route *r);

/* `dir` ("" = repository root) and everything under it: "serving" matches
 * "serving" and "serving/x", never "serving-v2/x". Glob characters are literal
 * here. 0, WS_EINVAL (escapes the root) or WS_ENOMEM. */
int ws_route_add_subtree(struct ws_route *r, const char *dir, uint32_t id);

/* Exactly this file path (not what is under it); glob characters are
 * literal. WS_EINVAL for "" or a path escaping the root. */
int ws_route_add_file(struct ws_route *r, const char *path, uint32_t id);

/* glob: '*' and '?' (one character) and [...] ("[a-z]", "[!x]" or "[^x]"; a
 * ']' first in the class is literal) within one path component; a component
 * that is exactly "**" matches any number of components (incl. zero). There is
 * no escape character. Matches a changed path when the pattern matches the
 * path itself or any of its ancestor folders (a pattern naming a folder covers
 * its subtree). A pattern without glob characters is a subtree rule.
 * WS_EINVAL for "", an unterminated '[' or a pattern escaping the root. */
int ws_route_add_pattern(struct ws_route *r, const char *pattern, uint32_t id);

/* Argo CD's rules for one source of an application. source_path (NULL or ""
 * = the repository root) is normalised like any rule. With mgp == NULL, the
 * source path's subtree. Otherwise argocd.argoproj.io/manifest-generate-paths
 * replaces it (as in Argo CD): ';'-separated entries, whitespace trimmed,
 * empty entries ignored; an entry starting with '/' is relative to the
 * repository root, else relative to source_path ("." = the source path, ".."
 * allowed while it stays inside the repository); entries with glob characters
 * become patterns (relative to the source path; the source path itself is
 * always literal), others subtrees.
 * An mgp with no entry at all ("", " ; ") counts as absent: the source path's
 * subtree (Argo CD refreshes on every change for " ; " — wavesync does not).
 * An entry escaping the repository root, or a malformed glob, is an error
 * (WS_EINVAL, the message names the entry) and nothing is added. WS_ENOMEM may
 * leave some entries added: discard the index then. */
int ws_route_add_source(struct ws_route *r, const char *source_path, const char *mgp, uint32_t id,
                        struct ws_err *err);

/* The ids whose rules match any of the paths: sorted ascending, unique. *out
 * (caller frees with free()) may be NULL when *nout == 0; no paths → no ids
 * (a push without a list of files is the caller's to treat as "everything").
 * Empty and "." components in a path are skipped. 0, WS_EINVAL (a NULL path)
 * or WS_ENOMEM (then *out = NULL, *nout = 0).
 * Read-only on r: safe to call from several threads at once once built, as
 * long as nothing is added meanwhile. */
int ws_route_match(const struct ws_route *r, const char *const *paths, size_t npaths,
                   uint32_t **out, size_t *nout);

/* Rule and node counts, for logs and the benchmark. Any pointer may be NULL. */
void ws_route_stats(const struct ws_route *r, size_t *nodes, size_t *patterns, size_t *ids);

/* Would ws_route_add_source accept these rules? For validating an
 * Application's annotation when it is read (0 or WS_EINVAL with err set). */
int ws_route_check_source(const char *source_path, const char *mgp, struct ws_err *err);

#endif
