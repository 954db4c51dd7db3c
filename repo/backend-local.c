/* backend-local.c — a repository in a directory.
 *
 * Objects are files under the root with the object's name as relative path.
 * Writes go to "<name>.tmp-<random>", are fsynced, renamed over the final
 * name, and the directory is fsynced, so a crash leaves either the whole
 * object or nothing under its name (a stray .tmp- file at worst, which
 * list() does not report). */
#include "backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

typedef struct BackendLocal {
        Backend parent;
        char *root;
        int rootfd;
} BackendLocal;

static int local_path(BackendLocal *l, const char *name, char *out, size_t n)
{
        if (snprintf(out, n, "%s/%s", l->root, name) >= (int)n)
                return -ENAMETOOLONG;
        return 0;
}

static int local_missing(BackendLocal *l)
{
        error_set("%s: no repository there (check the path, or run 'cairn init')", l->root);
        return -ENOENT;
}

#define PACK_DIRECT_MIN (1u << 20)

static int local_read(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        BackendLocal *l = (BackendLocal *)be;
        if (l->rootfd < 0)
                return local_missing(l);
        _cleanup_close_ int fd = openat(l->rootfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        error_set("%s/%s: no such object", l->root, name);
                else
                        error_set("%s/%s: %s", l->root, name, strerror(-r));
                return r;
        }
        /* a range is blob data (a restore, the mount's cache), read once:
         * around the page cache when it holds none of it; a whole object
         * is metadata (index, snapshots, trees) that the next command
         * reads again, or a whole pack (check, prune): through it */
        bool direct = len != 0;
        if (len == 0) {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if ((uint64_t)st.st_size < off)
                        return -EINVAL;
                len = (uint64_t)st.st_size - off;
        }
        int r = buf_reserve(out, len + (direct ? UTIL_DIRECT_SLACK : 0));
        if (r < 0)
                return r;
        uint64_t done = 0;
        while (done < len) {
                size_t want = (size_t)MIN(len - done, (uint64_t)1 << 30);
                uint8_t *dst = out->data + out->len + done;
                r = direct ? util_pread_direct(fd, dst, want, off + done) : util_pread_full(fd, dst, want, off + done);
                if (r < 0) {
                        error_set("%s/%s: %s", l->root, name, strerror(-r));
                        return r;
                }
                if ((size_t)r < want) {
                        error_set("%s/%s: object shorter than expected", l->root, name);
                        return -ENODATA;
                }
                done += want;
        }
        out->len += len;
        return 0;
}

static int fsync_dir(int dirfd, const char *dir)
{
        _cleanup_close_ int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

static int local_write(Backend *be, const char *name, const void *data, size_t len)
{
        BackendLocal *l = (BackendLocal *)be;
        if (l->rootfd < 0)
                return local_missing(l);
        char tmp[PATH_MAX], dir[PATH_MAX];
        uint8_t rnd[8];
        char rhex[17];
        randombytes_buf(rnd, sizeof(rnd));
        util_hex(rnd, sizeof(rnd), rhex);
        snprintf(tmp, sizeof(tmp), "%s.tmp-%s", name, rhex);
        snprintf(dir, sizeof(dir), "%s", name);
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = 0;
        else
                strcpy(dir, ".");

        int fd = openat(l->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == ENOENT && slash) {
                char full[PATH_MAX];
                local_path(l, dir, full, sizeof(full));
                util_mkdir_p(full, 0700);
                fd = openat(l->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        }
        if (fd < 0) {
                int r = -errno;
                error_set("%s/%s: cannot create: %s", l->root, name, strerror(-r));
                return r;
        }
        /* data packs (page-aligned buffers, ~16 MiB) skip the page cache:
         * 15% of a backup's CPU went to filling it; smaller objects are
         * metadata the next command reads, kept there */
        int dfd = len >= PACK_DIRECT_MIN ? openat(l->rootfd, tmp, O_WRONLY | O_DIRECT | O_CLOEXEC) : -1;
        int r = util_pwrite_direct(fd, dfd, data, len, 0, NULL, 0);
        if (dfd >= 0)
                close(dfd);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(l->rootfd, tmp, l->rootfd, name) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(l->rootfd, tmp, 0);
                error_set("%s/%s: cannot write: %s%s", l->root, name, strerror(-r),
                          r == -ENOSPC ? " (free some space and run the command again)" : "");
                return r;
        }
        r = fsync_dir(l->rootfd, dir);
        if (r < 0) {
                error_set("%s/%s: cannot sync directory: %s", l->root, dir, strerror(-r));
                return r;
        }
        return 0;
}

static int list_dir(BackendLocal *l, const char *rel, const char *prefix, backend_list_cb cb, void *ud)
{
        int fd = openat(l->rootfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-"))
                        continue;
                char name[PATH_MAX];
                snprintf(name, sizeof(name), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        size_t pl = strlen(prefix), nl = strlen(name);
                        /* descend only where the prefix may still match */
                        if (strncmp(name, prefix, MIN(pl, nl)) == 0)
                                r = list_dir(l, name, prefix, cb, ud);
                } else if (S_ISREG(st.st_mode) && strncmp(name, prefix, strlen(prefix)) == 0) {
                        r = cb(name, (uint64_t)st.st_size, ud);
                }
        }
        closedir(d);
        return r;
}

static int local_list(Backend *be, const char *prefix, backend_list_cb cb, void *ud)
{
        BackendLocal *l = (BackendLocal *)be;
        if (l->rootfd < 0)
                return local_missing(l);
        char rel[PATH_MAX];
        /* start from the deepest directory the prefix names */
        snprintf(rel, sizeof(rel), "%s", prefix);
        char *slash = strrchr(rel, '/');
        if (slash)
                *slash = 0;
        else
                rel[0] = 0;
        return list_dir(l, rel, prefix, cb, ud);
}

static int local_remove(Backend *be, const char *name)
{
        BackendLocal *l = (BackendLocal *)be;
        if (l->rootfd < 0)
                return local_missing(l);
        if (unlinkat(l->rootfd, name, 0) < 0) {
                int r = -errno;
                error_set("%s/%s: cannot remove: %s", l->root, name, strerror(-r));
                return r;
        }
        return 0;
}

static int local_stat(Backend *be, const char *name, uint64_t *size)
{
        BackendLocal *l = (BackendLocal *)be;
        if (l->rootfd < 0)
                return local_missing(l);
        struct stat st;
        if (fstatat(l->rootfd, name, &st, 0) < 0)
                return -errno;
        if (size)
                *size = (uint64_t)st.st_size;
        return 0;
}

static int local_create(Backend *be)
{
        BackendLocal *l = (BackendLocal *)be;
        struct stat st;
        if (l->rootfd < 0) {
                int r = util_mkdir_p(l->root, 0700);
                if (r < 0 || (l->rootfd = open(l->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                        r = r < 0 ? r : -errno;
                        error_set("%s: cannot create repository directory: %s", l->root, strerror(-r));
                        return r;
                }
        }
        if (fstatat(l->rootfd, "config", &st, 0) == 0) {
                error_set("%s: a repository already exists there", l->root);
                return -EEXIST;
        }
        static const char *const dirs[] = {"data", "index", "snapshots", "keys", "locks"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdirat(l->rootfd, dirs[i], 0700) < 0 && errno != EEXIST) {
                        int r = -errno;
                        error_set("%s/%s: cannot create: %s", l->root, dirs[i], strerror(-r));
                        return r;
                }
        return 0;
}

static void local_close(Backend *be)
{
        BackendLocal *l = (BackendLocal *)be;
        if (l->rootfd >= 0)
                close(l->rootfd);
        free(l->root);
        free(l);
}

int backend_local_open(const char *path, Backend **out)
{
        BackendLocal *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->parent = (Backend){
                .version = BACKEND_VERSION,
                .kind = "local",
                .read = local_read,
                .write = local_write,
                .list = local_list,
                .remove = local_remove,
                .stat = local_stat,
                .create = local_create,
                .close = local_close,
        };
        l->root = strdup(path);
        l->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* a missing directory is fine until create() makes it: init names
         * one that does not exist yet, and opening must not make one */
        if (l->rootfd < 0 && errno != ENOENT) {
                int r = -errno;
                error_set("%s: cannot open repository directory: %s", path, strerror(-r));
                local_close(&l->parent);
                return r;
        }
        *out = &l->parent;
        return 0;
}
