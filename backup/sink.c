/* sink.c — see sink.h. */
#include "sink.h"

#include <errno.h>
#include <string.h>

#include "error.h"
#include "pack.h"

struct Sink {
        Repo *repo;
        Pool *pool;
        const Chunker *chunker;
        size_t max;
        uint8_t *buf; /* start..end hold bytes not yet cut */
        size_t cap, start, end;
        uint8_t (*content)[ID_LEN];
        size_t ncontent, capcontent;
        uint64_t size;
        uint64_t total, total_new, scanned;
        CompressHint *hint; /* of the current file, once it has a second chunk */
};

int sink_new(Repo *r, Pool *p, Sink **out)
{
        Sink *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->repo = r;
        s->pool = p;
        s->chunker = repo_chunker(r);
        s->max = chunker_max(s->chunker);
        s->cap = 2 * s->max;
        s->buf = malloc(s->cap);
        if (!s->buf) {
                free(s);
                return -ENOMEM;
        }
        *out = s;
        return 0;
}

void sink_free(Sink *s)
{
        if (!s)
                return;
        compress_hint_unref(s->hint);
        free(s->buf);
        free(s->content);
        free(s);
}

void sink_begin(Sink *s)
{
        s->start = s->end = 0;
        s->ncontent = 0;
        s->size = 0;
        compress_hint_unref(s->hint);
        s->hint = NULL;
}

/* more: a chunk of the file follows this one */
static int emit(Sink *s, const uint8_t *p, size_t n, bool more)
{
        if (s->ncontent == s->capcontent) {
                size_t cap = s->capcontent ? s->capcontent * 2 : 16;
                void *q = realloc(s->content, cap * ID_LEN);
                if (!q)
                        return -ENOMEM;
                s->content = q;
                s->capcontent = cap;
        }
        uint8_t *id = s->content[s->ncontent++];
        crypto_blob_id(repo_key(s->repo), p, n, id);
        s->size += n;
        __atomic_add_fetch(&s->total, n, __ATOMIC_RELAXED);
        if (repo_blob_has(s->repo, id))
                return 0;
        uint8_t *copy = pool_buf_get(s->pool, n);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, p, n);
        __atomic_add_fetch(&s->total_new, n, __ATOMIC_RELAXED);
        /* a file of one chunk gets no hint: nothing to learn for */
        if (!s->hint && (more || s->ncontent > 1))
                s->hint = compress_hint_new();
        return pool_submit(s->pool, BLOB_DATA, id, copy, n, s->hint);
}

/* Cut every chunk whose end is known; with eof, the rest too. Without
 * eof it waits for a max-size chunk's worth of bytes: a boundary does not
 * depend on when it is looked for, and asking after every small write
 * (a dumper writes a few bytes at a time) would scan the same bytes again
 * and again. */
static int cut(Sink *s, bool eof)
{
        while (eof ? s->end > s->start : s->end - s->start >= s->max) {
                size_t n = chunker_next(s->chunker, s->buf + s->start, s->end - s->start, eof);
                /* a cut ends the scan; without one every byte up to max was looked at */
                s->scanned += n ? n : MIN(s->end - s->start, s->max);
                if (n == 0)
                        break;
                int r = emit(s, s->buf + s->start, n, !eof || n < s->end - s->start);
                if (r < 0)
                        return r;
                s->start += n;
        }
        if (s->start == s->end)
                s->start = s->end = 0;
        return 0;
}

/* Make room for at least max bytes after end. */
static void compact(Sink *s)
{
        if (s->cap - s->end >= s->max)
                return;
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
}

int sink_write(Sink *s, const void *p, size_t n)
{
        const uint8_t *b = p;
        while (n) {
                compact(s);
                size_t k = MIN(n, s->cap - s->end);
                memcpy(s->buf + s->end, b, k);
                s->end += k;
                b += k;
                n -= k;
                int r = cut(s, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

int64_t sink_read_fd(Sink *s, int fd)
{
        int64_t total = 0;
        for (;;) {
                compact(s);
                ssize_t k = read(fd, s->buf + s->end, s->cap - s->end);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return total;
                s->end += (size_t)k;
                total += k;
                int r = cut(s, false);
                if (r < 0)
                        return r;
        }
}

int sink_finish(Sink *s, Node *node)
{
        int r = cut(s, true);
        if (r < 0)
                return r;
        free(node->content);
        node->content = NULL;
        node->ncontent = s->ncontent;
        node->size = s->size;
        if (s->ncontent) {
                node->content = malloc(s->ncontent * ID_LEN);
                if (!node->content)
                        return -ENOMEM;
                memcpy(node->content, s->content, s->ncontent * ID_LEN);
        }
        return 0;
}

void sink_counters(Sink *s, SinkCounters *out)
{
        out->bytes = __atomic_load_n(&s->total, __ATOMIC_RELAXED);
        out->new_bytes = __atomic_load_n(&s->total_new, __ATOMIC_RELAXED);
        out->scanned = s->scanned; /* the producer's own counter */
}
