/* semver.h — chart versions and version constraints, as Helm and Argo CD
 * read them (Masterminds semver v3): "1.2.3", "v1.2", "1.2.3-rc.1+build";
 * constraints "^1.2", "~1.2.0", ">=1.0 <2.0", "1.2.x", "*", "1.2 - 1.4",
 * "!=1.3.0", "^1 || ^2". A version with a pre-release matches only a
 * comparator that names a pre-release itself. Pure: no I/O, no allocation. */
#ifndef WS_SEMVER_H
#define WS_SEMVER_H

#include <stddef.h>
#include <stdint.h>

#define WS_SEMVER_PRE_MAX 96

struct ws_semver {
    uint64_t major, minor, patch;
    char pre[WS_SEMVER_PRE_MAX]; /* pre-release without '-', "" when none */
    int nparts;                  /* how many of major.minor.patch were written (1-3) */
};

/* Parse a version: optional leading 'v', 1 to 3 numeric parts, optional
 * "-pre.release" and "+build" (ignored). 0 or WS_EINVAL. */
int ws_semver_parse(struct ws_semver *out, const char *s);

/* Is `s` one exact version (three parts, no operator)? Then no index or
 * tag list is needed to resolve it. */
int ws_semver_is_exact(const char *s);

/* Order of two versions by semver precedence (build metadata ignored):
 * <0, 0, >0. */
int ws_semver_cmp(const struct ws_semver *a, const struct ws_semver *b);

/* Does version `v` satisfy constraint text `c`? 1 yes, 0 no, WS_EINVAL when
 * `c` is not a constraint. */
int ws_semver_match(const char *c, const struct ws_semver *v);

/* Is `c` a valid constraint? 0 or WS_EINVAL. */
int ws_semver_check(const char *c);

/* The highest of `versions[0..n)` (strings; unparseable ones are skipped)
 * that satisfies `c`: 1 with its index in *out, 0 when none does,
 * WS_EINVAL when `c` is not a constraint. With `underscore`, '_' in a
 * version stands for '+' (OCI tags cannot hold '+'). */
int ws_semver_best(size_t *out, const char *c, const char *const *versions, size_t n, int underscore);

#endif
