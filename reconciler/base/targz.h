/* targz.h — safe extraction of a gzip-compressed tar archive (a Helm chart)
 * into a folder. The archive is untrusted: entries with absolute paths,
 * ".." components, links, devices or FIFOs are refused, as is anything past
 * the limits on total bytes and entries (so a crafted archive cannot fill
 * memory or disk); nothing is ever written outside the folder.
 * Blocking file work: call from worker threads. */
#ifndef WS_TARGZ_H
#define WS_TARGZ_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct ws_targz_limits {
    uint64_t max_bytes;  /* sum of the files' sizes; 0 = 100 MiB (Helm's own limit) */
    size_t max_entries;  /* entries of any kind; 0 = 10,000 */
};

/* Extract `archive` (a .tgz file) into `dest` (an existing, empty folder
 * that no one else writes to). Regular files and folders only; pax and GNU
 * long names are understood. 0, or WS_EPARSE (not gzip, corrupt, truncated),
 * WS_EINVAL (a refused entry: the message names it), WS_ELIMIT, WS_EIO,
 * WS_ENOMEM. On error `dest` may hold part of the archive: the caller
 * removes it. */
int ws_targz_extract(const char *archive, const char *dest, const struct ws_targz_limits *lim,
                     struct ws_err *err);

/* Check one entry name as ws_targz_extract does and normalise it ("./a//b/"
 * → "a/b"). 0, or WS_EINVAL (empty, absolute, or a ".." component). Caller
 * frees *out. */
int ws_targz_clean_name(char **out, const char *name);

#endif
