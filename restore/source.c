/* source.c — see source.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "error.h"
#include "restorer.h"
#include "source.h"
#include "tree.h"
#include "util.h"

struct Source {
        char *name;  /* directory path, or SNAPSHOT path for messages */
        Repo *repo;  /* NULL: a directory on disk */
        uint8_t tree[ID_LEN];
};

struct SourceFile {
        int fd; /* what the caller reads */
        /* snapshot files: the feeder */
        Repo *repo;
        Node node;
        int wfd;
        pthread_t thread;
        bool started;
        int rc;
        char err[1024]; /* the feeder's message (error.h is per thread) */
};

static int source_new(const char *name, Repo *r, const uint8_t *tree, Source **out)
{
        Source *s = calloc(1, sizeof(*s));
        if (!s || !(s->name = strdup(name))) {
                free(s);
                return -ENOMEM;
        }
        s->repo = r;
        if (tree)
                memcpy(s->tree, tree, ID_LEN);
        *out = s;
        return 0;
}

/* dirname/basename of path into freshly allocated strings */
static int split_path(const char *path, char **dir, char **base)
{
        char *a = strdup(path), *b = strdup(path);
        if (!a || !b) {
                free(a);
                free(b);
                return -ENOMEM;
        }
        *dir = strdup(dirname(a));
        *base = strdup(basename(b));
        free(a);
        free(b);
        if (!*dir || !*base) {
                free(*dir);
                free(*base);
                return -ENOMEM;
        }
        return 0;
}

int source_open_path(const char *path, Source **out, char **file_out)
{
        struct stat st;
        *file_out = NULL;
        if (stat(path, &st) < 0)
                return error_ret(-errno, "%s: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return source_new(path, NULL, NULL, out);
        char *dir, *base;
        int rc = split_path(path, &dir, &base);
        if (rc < 0)
                return rc;
        rc = source_new(dir, NULL, NULL, out);
        free(dir);
        if (rc < 0) {
                free(base);
                return rc;
        }
        *file_out = base;
        return 0;
}

int source_open_snapshot(Repo *r, const uint8_t tree[ID_LEN], const char *path, Source **out, char **file_out)
{
        Node n = {0};
        *file_out = NULL;
        int rc = restorer_lookup(r, tree, path, &n);
        if (rc < 0)
                return rc;
        if (n.type == NODE_DIR && n.has_subtree) {
                rc = source_new(path, r, n.subtree, out);
                node_clear(&n);
                return rc;
        }
        node_clear(&n);
        char *dir, *base;
        if ((rc = split_path(path, &dir, &base)) < 0)
                return rc;
        if ((rc = restorer_lookup(r, tree, dir, &n)) == 0)
                rc = source_new(dir, r, n.subtree, out);
        node_clear(&n);
        free(dir);
        if (rc < 0) {
                free(base);
                return rc;
        }
        *file_out = base;
        return 0;
}

void source_free(Source *s)
{
        if (!s)
                return;
        free(s->name);
        free(s);
}

const char *source_name(const Source *s)
{
        return s->name;
}

/* The feeder: every blob of the file, in order, into the socket. Blobs
 * are read and decrypted in two buffers kept for the whole file (no fresh
 * pages for each); their content is the reader's to verify (the digests
 * and counts a restore checks, as it does reading through a mount). */
static void *feed(void *arg)
{
        SourceFile *f = arg;
        Buf span = {0}, plain = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < f->node.ncontent; i++) {
                const uint8_t *p;
                int64_t n = repo_blob_read(f->repo, f->node.content[i], &span, &plain, &p);
                if (n < 0)
                        rc = (int)n;
                for (size_t off = 0; rc == 0 && off < (size_t)n;) {
                        ssize_t w = send(f->wfd, p + off, (size_t)n - off, MSG_NOSIGNAL);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0) {
                                /* the reader stopped early: not the feeder's error */
                                rc = errno == EPIPE || errno == ECONNRESET ? 1 : -errno;
                                break;
                        }
                        off += (size_t)w;
                }
        }
        if (rc < 0 && !error_last()[0])
                error_set("%s", strerror(-rc));
        if (rc < 0) {
                error_prefix("%s", f->node.name);
                snprintf(f->err, sizeof(f->err), "%s", error_last());
        }
        buf_free(&span);
        buf_free(&plain);
        f->rc = rc < 0 ? rc : 0;
        close(f->wfd);
        f->wfd = -1;
        return NULL;
}

int source_file_open(Source *s, const char *rel, SourceFile **out, int *fd)
{
        SourceFile *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->fd = f->wfd = -1;
        int rc = 0;
        if (!s->repo) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", s->name, rel);
                if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                        rc = error_ret(-errno, "%s: %s", path, strerror(errno));
        } else {
                char path[4096];
                snprintf(path, sizeof(path), "/%s", rel);
                rc = restorer_lookup(s->repo, s->tree, path, &f->node);
                if (rc < 0) {
                        error_clear();
                        error_set("%s/%s: %s in the snapshot", s->name, rel,
                                  rc == -ENOENT ? "no such file" : strerror(-rc));
                } else if (f->node.type != NODE_FILE) {
                        rc = error_ret(-EISDIR, "%s/%s: not a file", s->name, rel);
                }
                int sv[2];
                if (rc == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        rc = error_ret(-errno, "socketpair: %s", strerror(errno));
                if (rc == 0) {
                        f->fd = sv[0];
                        f->wfd = sv[1];
                        int sz = 4 << 20;
                        setsockopt(f->wfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
                        shutdown(f->fd, SHUT_WR);
                        f->repo = s->repo;
                        if (pthread_create(&f->thread, NULL, feed, f) != 0)
                                rc = error_ret(-EAGAIN, "cannot start a thread");
                        else
                                f->started = true;
                }
        }
        if (rc < 0) {
                source_file_close(f);
                return rc;
        }
        *out = f;
        *fd = f->fd;
        return 0;
}

int source_file_close(SourceFile *f)
{
        if (!f)
                return 0;
        if (f->fd >= 0)
                close(f->fd); /* a feeder still writing gets EPIPE and stops */
        int rc = 0;
        if (f->started) {
                pthread_join(f->thread, NULL);
                rc = f->rc;
                if (rc < 0)
                        error_set("%s", f->err);
        } else if (f->wfd >= 0) {
                close(f->wfd);
        }
        node_clear(&f->node);
        free(f);
        return rc;
}

int source_read_all(Source *s, const char *rel, char **out, size_t *len)
{
        SourceFile *f;
        int fd;
        int rc = source_file_open(s, rel, &f, &fd);
        if (rc < 0)
                return rc;
        Buf b = {0};
        for (;;) {
                if ((rc = buf_reserve(&b, 65536 + 1)) < 0)
                        break;
                ssize_t n = read(fd, b.data + b.len, 65536);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = error_ret(-errno, "%s/%s: %s", s->name, rel, strerror(errno));
                        break;
                }
                if (n == 0)
                        break;
                b.len += (size_t)n;
        }
        int crc = source_file_close(f);
        if (rc == 0)
                rc = crc;
        if (rc < 0) {
                buf_free(&b);
                return rc;
        }
        b.data[b.len] = 0;
        *len = b.len;
        *out = (char *)buf_steal(&b, len);
        return 0;
}
