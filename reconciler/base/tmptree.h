/* tmptree.h — temporary folders (the trees helm and kustomize run in) that
 * do not outlive a killed wavesync for long. Each is created under a root
 * with a recognisable name and kept locked (flock on the folder) while it is
 * used; the kernel drops the lock when the process dies, however it dies, so
 * a folder nobody holds is a leftover and ws_tmptree_sweep removes it —
 * also while other wavesync processes share the root, whose folders stay.
 * Blocking file work: startup or worker threads. */
#ifndef WS_TMPTREE_H
#define WS_TMPTREE_H

#include "base/error.h"

struct ws_tmptree {
    char *path;  /* NULL when there is none */
    int lock_fd; /* the folder, open and locked; -1 when none */
};

#define WS_TMPTREE_INIT {NULL, -1}

/* Create root/<prefix>XXXXXX (root too, mode 0700, when missing) and lock
 * it. 0, or WS_EIO / WS_ENOMEM with a message naming the root. Remove it with
 * ws_tmptree_remove on every path. */
int ws_tmptree_create(struct ws_tmptree *t, const char *root, const char *prefix, struct ws_err *err);

/* Remove the folder with everything in it, then release the lock; *t is
 * reset. Safe on a reset or partly made tree. */
void ws_tmptree_remove(struct ws_tmptree *t);

/* Remove every root/<prefix>* folder that no live process holds. Only
 * folders whose name starts with `prefix` are looked at (never a symlink,
 * never anything else). Returns how many were removed; a missing root is 0,
 * one that cannot be read WS_EIO. */
int ws_tmptree_sweep(const char *root, const char *prefix);

/* rm -rf that never follows a symlink. 0 (also when path is missing),
 * WS_EINVAL for an empty path, WS_EIO. */
int ws_rmtree(const char *path);

#endif
