/* tmptree.c — locked temporary folders and the sweep of those left behind
 * by processes that are gone (see tmptree.h). */
#include "base/tmptree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int ws_rmtree(const char *path)
{
    if (!path || !*path)
        return WS_EINVAL;
    /* FTW_PHYS: a symlink is removed, never followed */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
        return errno == ENOENT ? 0 : WS_EIO;
    return 0;
}

/* The folder, opened for its lock: no symlink is followed. */
static int open_dir(const char *path)
{
    return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Is the folder open as fd still the one at path? A sweep that took the
 * lock first has removed it. */
static int still_there(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ws_tmptree_create(struct ws_tmptree *t, const char *root, const char *prefix, struct ws_err *err)
{
    t->path = NULL;
    t->lock_fd = -1;
    if (ws_mkdir_p(root, 0700) < 0)
        return ws_err_set(err, WS_EIO, "cannot create a folder under %s: %s", root, strerror(errno));
    /* Between mkdtemp and flock a sweep by another process may see the new
       folder unlocked and remove it: then make another. */
    for (int attempt = 0; attempt < 5; attempt++) {
        if (asprintf(&t->path, "%s/%sXXXXXX", root, prefix) < 0) {
            t->path = NULL;
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        }
        if (!mkdtemp(t->path) || (t->lock_fd = open_dir(t->path)) < 0) {
            int e = errno;
            ws_tmptree_remove(t);
            return ws_err_set(err, WS_EIO, "cannot create a folder under %s: %s", root, strerror(e));
        }
        if (flock(t->lock_fd, LOCK_EX) == 0 && still_there(t->lock_fd, t->path))
            return 0;
        ws_tmptree_remove(t);
    }
    return ws_err_set(err, WS_EIO, "cannot create a folder under %s: it keeps being removed", root);
}

void ws_tmptree_remove(struct ws_tmptree *t)
{
    /* removed while still locked, so no sweep works on it meanwhile */
    if (t->path)
        ws_rmtree(t->path);
    if (t->lock_fd >= 0)
        close(t->lock_fd);
    free(t->path);
    t->path = NULL;
    t->lock_fd = -1;
}

int ws_tmptree_sweep(const char *root, const char *prefix)
{
    size_t plen = strlen(prefix);
    struct dirent *e;
    int removed = 0;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : WS_EIO;
    while ((e = readdir(d))) {
        struct stat st;
        char *path = NULL;
        int fd;
        if (strncmp(e->d_name, prefix, plen) != 0 || asprintf(&path, "%s/%s", root, e->d_name) < 0)
            continue;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (fd = open_dir(path)) >= 0) {
            /* nobody holds it: its process is gone */
            if (flock(fd, LOCK_EX | LOCK_NB) == 0 && ws_rmtree(path) == 0)
                removed++;
            close(fd);
        }
        free(path);
    }
    closedir(d);
    return removed;
}
