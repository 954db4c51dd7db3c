/* backend-cache.c — a local copy of a remote repository's metadata.
 *
 * Wraps another backend. Whole-object reads of index files, snapshots and
 * tree packs (the repository reads those whole; see repo_blob_load) are
 * kept in a directory on local disk, so listing snapshots, opening a
 * repository or mounting it does not download them again. Objects are
 * immutable (their names are hashes of what they hold) and authenticated
 * when used, so a cached copy is as good as the remote one. Removing an
 * object removes its copy; a listing of index/ or snapshots/ drops copies
 * of objects another client removed. Writes of those kinds are kept too.
 * Range reads and data packs pass through; read_local reads a range of a
 * copy that is there. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "error.h"

typedef struct BackendCache {
        Backend parent;
        Backend *inner;
        char *dir;
} BackendCache;

static bool cacheable(const char *name)
{
        return strncmp(name, "index/", 6) == 0 || strncmp(name, "snapshots/", 10) == 0 ||
               strncmp(name, "data/", 5) == 0;
}

static void path_of(BackendCache *c, const char *name, char *out, size_t n)
{
        snprintf(out, n, "%s/%s", c->dir, name);
}

static void store(BackendCache *c, const char *name, const void *p, size_t len)
{
        char path[PATH_MAX], tmp[PATH_MAX + 16];
        path_of(c, name, path, sizeof(path));
        snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
        char *slash = strrchr(path, '/');
        *slash = 0;
        util_mkdir_p(path, 0700);
        *slash = '/';
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return; /* a cache that cannot be written is only slower */
        bool ok = util_write_full(fd, p, len) == 0;
        close(fd);
        if (!ok || rename(tmp, path) < 0)
                unlink(tmp);
}

/* Append len bytes at off of the local copy of name (len 0: all of it)
 * straight into out. -ENOENT when there is no usable copy: none, or one
 * shorter than the range, which is removed so that the caller's fetch
 * stores it again, or one that cannot be read (a cache is only faster). */
static int read_copy(BackendCache *c, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        char path[PATH_MAX];
        path_of(c, name, path, sizeof(path));
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -ENOENT;
        if (len == 0)
                len = (uint64_t)st.st_size;
        if (len == 0 || off + len > (uint64_t)st.st_size) { /* cut short */
                unlink(path);
                return -ENOENT;
        }
        int rc = buf_reserve(out, len);
        if (rc < 0)
                return rc;
        if ((uint64_t)util_pread_full(fd, out->data + out->len, len, off) != len)
                return -ENOENT;
        out->len += len;
        return 0;
}

static int cache_read(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        BackendCache *c = (BackendCache *)be;
        if (len || off || !cacheable(name))
                return backend_read(c->inner, name, off, len, out);
        int rc = read_copy(c, name, 0, 0, out);
        if (rc != -ENOENT)
                return rc;
        size_t before = out->len;
        rc = backend_read(c->inner, name, 0, 0, out);
        if (rc == 0)
                store(c, name, out->data + before, out->len - before);
        return rc;
}

/* Ranges (blob data) stream from the inner backend; a whole read of what
 * is cached is cache_read's (from the copy, or fetched and kept). */
static int cache_read_stream(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out,
                             backend_more_cb more, void *ud)
{
        BackendCache *c = (BackendCache *)be;
        if (len || off || !cacheable(name))
                return backend_read_stream(c->inner, name, off, len, out, more, ud);
        return backend_read_then_more(be, name, off, len, out, more, ud);
}

/* A range of the local copy: a tree from a cached tree pack without
 * reading the whole pack again (a restore of the benchmark dataset read
 * its 0.5 MB tree pack once per directory). */
static int cache_read_local(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        if (!cacheable(name) || len == 0)
                return -ENOENT;
        return read_copy((BackendCache *)be, name, off, len, out);
}

static int cache_write(Backend *be, const char *name, const void *p, size_t len)
{
        BackendCache *c = (BackendCache *)be;
        int rc = backend_write(c->inner, name, p, len);
        if (rc == 0 && cacheable(name) && strncmp(name, "data/", 5) != 0)
                store(c, name, p, len);
        return rc;
}

typedef struct ListCtx {
        backend_list_cb cb;
        void *ud;
        char **seen;
        size_t n, cap;
} ListCtx;

static int list_cb(const char *name, uint64_t size, void *ud)
{
        ListCtx *l = ud;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                void *p = realloc(l->seen, cap * sizeof(char *));
                if (!p)
                        return -ENOMEM;
                l->seen = p;
                l->cap = cap;
        }
        const char *base = strrchr(name, '/');
        char *copy = strdup(base ? base + 1 : name);
        if (!copy)
                return -ENOMEM;
        l->seen[l->n++] = copy;
        return l->cb(name, size, l->ud);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cache_list(Backend *be, const char *prefix, backend_list_cb cb, void *ud)
{
        BackendCache *c = (BackendCache *)be;
        bool prunable = strcmp(prefix, "index/") == 0 || strcmp(prefix, "snapshots/") == 0;
        if (!prunable)
                return backend_list(c->inner, prefix, cb, ud);
        ListCtx l = {.cb = cb, .ud = ud};
        int rc = backend_list(c->inner, prefix, list_cb, &l);
        if (rc == 0) {
                /* drop copies of what is no longer there */
                if (l.n)
                        qsort(l.seen, l.n, sizeof(char *), cmp_str);
                char dirpath[PATH_MAX];
                path_of(c, prefix, dirpath, sizeof(dirpath));
                DIR *d = opendir(dirpath);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        const char *key = de->d_name;
                        if (de->d_name[0] == '.' ||
                            (l.n && bsearch(&key, l.seen, l.n, sizeof(char *), cmp_str)))
                                continue;
                        unlinkat(dirfd(d), de->d_name, 0);
                }
                if (d)
                        closedir(d);
        }
        for (size_t i = 0; i < l.n; i++)
                free(l.seen[i]);
        free(l.seen);
        return rc;
}

static int cache_remove(Backend *be, const char *name)
{
        BackendCache *c = (BackendCache *)be;
        if (cacheable(name)) {
                char path[PATH_MAX];
                path_of(c, name, path, sizeof(path));
                unlink(path);
        }
        return backend_remove(c->inner, name);
}

static int cache_stat(Backend *be, const char *name, uint64_t *size)
{
        return backend_stat(((BackendCache *)be)->inner, name, size);
}

static int cache_create(Backend *be)
{
        BackendCache *c = (BackendCache *)be;
        return c->inner->create(c->inner);
}

static void cache_close(Backend *be)
{
        BackendCache *c = (BackendCache *)be;
        backend_close(c->inner);
        free(c->dir);
        free(c);
}

int backend_cache_wrap(Backend *inner, const char *dir, Backend **out)
{
        BackendCache *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->parent = (Backend){
                .version = BACKEND_VERSION,
                .kind = inner->kind,
                .parallel = inner->parallel,
                .read = cache_read,
                .write = cache_write,
                .list = cache_list,
                .remove = cache_remove,
                .stat = cache_stat,
                .create = cache_create,
                .close = cache_close,
                .read_local = cache_read_local,
                .read_stream = inner->read_stream ? cache_read_stream : NULL,
        };
        c->inner = inner;
        c->dir = strdup(dir);
        if (!c->dir || util_mkdir_p(dir, 0700) < 0) {
                free(c->dir);
                free(c);
                return -EIO;
        }
        *out = &c->parent;
        return 0;
}
