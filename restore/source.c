/* source.c — see source.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A blob of a snapshot file, decrypted: the feeder fills the free slots
 * while the reader copies out of the oldest. Four, not two: with 8 MiB
 * blobs, two made the reader wait on each decryption's jitter (1 GiB of
 * big Redis values restored 2% slower than through the socket pair
 * before, four 8% faster, mean of six runs each). At most 4 x 16 MiB (a
 * compressed blob's span and plaintext). */
#define NSLOT 4
typedef struct Chunk {
        Buf span, plain; /* reused: where it was read and decrypted, decompressed */
        const uint8_t *p;
        size_t n, off;
} Chunk;

/* A directory's file is read once, front to back: the page cache behind
 * the reader is dropped every DROP_BEHIND bytes (as `dd iflag=nocache`
 * does), so restoring a dump of many GiB neither evicts what else the
 * machine caches nor makes the kernel find that much new memory: inside a
 * cairn mount the file's pages are not the mount's blob cache, only a
 * second copy of what the restore already sent. A 1 GiB Redis restore
 * from a mount took 5.4-6.6 s with them kept, where the same restore from
 * the repository took 2.4-3.6 s (2026-12-03, a VM whose fresh memory is
 * slow to touch). */
#define DROP_BEHIND (8u << 20)

struct SourceFile {
        int fd;         /* a directory's file; -1 for a snapshot's */
        uint64_t pos, kept; /* directory file: bytes read; from kept on, in the page cache */
        char path[4096]; /* for messages */
        /* snapshot files: the feeder */
        Repo *repo;
        Node node;
        pthread_t thread;
        bool started;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        Chunk slot[NSLOT];
        unsigned head, ready; /* the reader's slot; slots filled */
        bool done, closing;   /* the feeder ended (rc); the reader closes */
        bool seen;            /* the reader got rc */
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

/* The feeder: every blob of the file in order, decrypted into the free
 * slot (buffers kept for the whole file: no fresh pages for each blob).
 * Blobs are authenticated by the AEAD; their content is the reader's to
 * verify (the digests and counts a restore checks, as it does reading
 * through a mount). */
static void *feed(void *arg)
{
        SourceFile *f = arg;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < f->node.ncontent; i++) {
                pthread_mutex_lock(&f->mu);
                while (f->ready == NSLOT && !f->closing)
                        pthread_cond_wait(&f->cv, &f->mu);
                bool stop = f->closing;
                /* stays the free slot while the reader moves on */
                Chunk *c = &f->slot[(f->head + f->ready) % NSLOT];
                pthread_mutex_unlock(&f->mu);
                if (stop)
                        break;
                int64_t n = repo_blob_read(f->repo, f->node.content[i], &c->span, &c->plain, &c->p);
                if (n < 0) {
                        rc = (int)n;
                        break;
                }
                c->n = (size_t)n;
                c->off = 0;
                pthread_mutex_lock(&f->mu);
                f->ready++;
                pthread_cond_signal(&f->cv);
                pthread_mutex_unlock(&f->mu);
        }
        if (rc < 0) {
                if (!error_last()[0])
                        error_set("%s", strerror(-rc));
                snprintf(f->err, sizeof(f->err), "%s", error_last());
        }
        pthread_mutex_lock(&f->mu);
        f->rc = rc;
        f->done = true;
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
        return NULL;
}

int source_file_open(Source *s, const char *rel, SourceFile **out)
{
        SourceFile *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->fd = -1;
        int rc = 0;
        if (!s->repo) {
                snprintf(f->path, sizeof(f->path), "%s/%s", s->name, rel);
                if ((f->fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0)
                        rc = error_ret(-errno, "%s: %s", f->path, strerror(errno));
        } else {
                char path[4096];
                snprintf(path, sizeof(path), "/%s", rel);
                snprintf(f->path, sizeof(f->path), "%s/%s", s->name, rel);
                rc = restorer_lookup(s->repo, s->tree, path, &f->node);
                if (rc < 0) {
                        error_clear();
                        error_set("%s: %s in the snapshot", f->path, rc == -ENOENT ? "no such file" : strerror(-rc));
                } else if (f->node.type != NODE_FILE) {
                        rc = error_ret(-EISDIR, "%s: not a file", f->path);
                }
                if (rc == 0) {
                        pthread_mutex_init(&f->mu, NULL);
                        pthread_cond_init(&f->cv, NULL);
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
        return 0;
}

/* The reader is done with its slot: the feeder may fill it. */
static void slot_release(SourceFile *f)
{
        pthread_mutex_lock(&f->mu);
        f->head = (f->head + 1) % NSLOT;
        f->ready--;
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
}

ssize_t source_file_read(SourceFile *f, void *p, size_t n)
{
        if (n == 0)
                return 0; /* else a blob with bytes left would be asked again and again */
        if (f->fd >= 0) {
                ssize_t k;
                do
                        k = read(f->fd, p, n);
                while (k < 0 && errno == EINTR);
                if (k < 0)
                        return error_ret(-errno, "%s", strerror(errno));
                f->pos += (uint64_t)k;
                if (f->pos - f->kept >= DROP_BEHIND) {
                        /* advice only: a file system without a page cache ignores it */
                        (void)posix_fadvise(f->fd, (off_t)f->kept, (off_t)(f->pos - f->kept), POSIX_FADV_DONTNEED);
                        f->kept = f->pos;
                }
                return k;
        }
        for (;;) {
                pthread_mutex_lock(&f->mu);
                while (!f->ready && !f->done)
                        pthread_cond_wait(&f->cv, &f->mu);
                bool end = !f->ready;
                int rc = f->rc;
                pthread_mutex_unlock(&f->mu);
                if (end && rc < 0) {
                        f->seen = true;
                        return error_ret(rc, "%s", f->err);
                }
                if (end)
                        return 0;
                Chunk *c = &f->slot[f->head];
                size_t k = MIN(n, c->n - c->off);
                memcpy(p, c->p + c->off, k);
                c->off += k;
                if (c->off == c->n)
                        slot_release(f);
                if (k)
                        return (ssize_t)k;
        }
}

int source_file_close(SourceFile *f)
{
        if (!f)
                return 0;
        if (f->fd >= 0)
                close(f->fd);
        int rc = 0;
        if (f->started) {
                pthread_mutex_lock(&f->mu);
                f->closing = true;
                pthread_cond_signal(&f->cv);
                pthread_mutex_unlock(&f->mu);
                pthread_join(f->thread, NULL);
                if (f->rc < 0 && !f->seen)
                        rc = error_ret(f->rc, "%s: %s", f->path, f->err);
        }
        if (f->repo) {
                pthread_mutex_destroy(&f->mu);
                pthread_cond_destroy(&f->cv);
        }
        for (int i = 0; i < NSLOT; i++) {
                buf_free(&f->slot[i].span);
                buf_free(&f->slot[i].plain);
        }
        node_clear(&f->node);
        free(f);
        return rc;
}

int source_read_all(Source *s, const char *rel, char **out, size_t *len)
{
        SourceFile *f;
        int rc = source_file_open(s, rel, &f);
        if (rc < 0)
                return rc;
        Buf b = {0};
        for (;;) {
                if ((rc = buf_reserve(&b, 65536 + 1)) < 0)
                        break;
                ssize_t n = source_file_read(f, b.data + b.len, 65536);
                if (n < 0)
                        error_prefix("%s", f->path);
                if (n <= 0) {
                        rc = (int)n;
                        break;
                }
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
