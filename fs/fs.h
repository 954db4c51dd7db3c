/* fs.h — the read-only FUSE file system over a repository.
 *
 *   /snapshots/<time>/...  /snapshots/latest -> <time>
 *   /ids/<short id>/...
 *   /hosts/<host>/<time>/... (+ latest), /tags/<tag>/..., /kinds/<kind>/...
 *
 * Low-level libfuse3 API, multi-threaded loop. Snapshot contents never
 * change, so their entries and attributes are cached by the kernel for a
 * day and open files keep their page cache; the views of the snapshot
 * list are re-read at most every FS_REFRESH_SEC when looked into. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "repo.h"

#define FS_REFRESH_SEC 3

typedef struct FsOptions {
        const char *mountpoint;
        size_t cache_bytes;
        bool daemon, allow_other;
        /* called once the mount is ready, before the loop (and before
         * detaching with daemon) */
        void (*ready)(void *ud);
        void *ud;
} FsOptions;

/* Mount and serve until unmounted or signalled. The repository must be
 * open with its index loaded. Takes a shared lock for the duration.
 * Returns 0 after a clean unmount. */
int fs_mount(Repo *r, const FsOptions *opt);
