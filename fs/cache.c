/* cache.c — see cache.h. */
#include "cache.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "error.h"

#define BUCKETS 16384
#define COALESCE_GAP (256u * 1024)
#define MAX_SPAN (8u * 1024 * 1024)
#define POOL_MAX 32
#define POOL_MIN (256u * 1024) /* smaller buffers come from malloc's arenas, cheaply */

enum { LOADING, READY, FAILED };

struct CacheEntry {
        uint8_t id[ID_LEN];
        int state, err;
        unsigned refs;
        Buf data; /* the plaintext is data.data[off..data.len) */
        size_t off;
        CacheEntry *hnext;
        CacheEntry *prev, *next; /* LRU, READY entries only; head = newest */
        /* for the loader */
        char pack[ID_HEX_LEN + 9];
        IndexEntry where;
        size_t reserved; /* budget taken while loading */
};

typedef struct Task {
        struct Task *next;
        CacheEntry **v;
        size_t n;
} Task;

struct BlobCache {
        Repo *repo;
        size_t max_bytes, bytes;
        size_t task_bytes;
        pthread_mutex_t mu;
        pthread_cond_t changed, work;
        CacheEntry *buckets[BUCKETS];
        CacheEntry *head, *tail;
        Task *tasks, *tasks_tail;
        size_t freed; /* bytes evicted since the last malloc_trim */
        /* Buffers of evicted blobs, kept for the next loads: a fresh buffer
         * of a megabyte or more is a new mapping (the mmap threshold is 1
         * MiB), faulted in page by page. Their room (1/32 of the budget:
         * enough for the loads in flight) comes out of the budget; at 1/8
         * the smaller cache cost random 4 KiB reads a quarter of their
         * IOPS. Entries may hold max_bytes - pool_room. */
        Buf pool[POOL_MAX];
        size_t npool, pool_bytes, pool_room;
        bool stop;
        pthread_t *threads;
        unsigned nthreads;
};

static size_t bucket(const uint8_t *id)
{
        uint32_t h;
        memcpy(&h, id, sizeof(h));
        return h % BUCKETS;
}

static CacheEntry *find(BlobCache *c, const uint8_t *id)
{
        for (CacheEntry *e = c->buckets[bucket(id)]; e; e = e->hnext)
                if (memcmp(e->id, id, ID_LEN) == 0)
                        return e;
        return NULL;
}

static void unhash(BlobCache *c, CacheEntry *e)
{
        for (CacheEntry **p = &c->buckets[bucket(e->id)]; *p; p = &(*p)->hnext)
                if (*p == e) {
                        *p = e->hnext;
                        return;
                }
}

static void lru_unlink(BlobCache *c, CacheEntry *e)
{
        if (e->prev)
                e->prev->next = e->next;
        else if (c->head == e)
                c->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else if (c->tail == e)
                c->tail = e->prev;
        e->prev = e->next = NULL;
}

static void lru_push(BlobCache *c, CacheEntry *e)
{
        e->prev = NULL;
        e->next = c->head;
        if (c->head)
                c->head->prev = e;
        c->head = e;
        if (!c->tail)
                c->tail = e;
}

static void entry_free(CacheEntry *e)
{
        buf_free(&e->data);
        free(e);
}

/* With mu held: keep an evicted entry's buffer for a later load, or
 * free it when the pool is full. */
static void pool_put(BlobCache *c, Buf *b)
{
        if (b->cap >= POOL_MIN && c->npool < POOL_MAX && c->pool_bytes + b->cap <= c->pool_room) {
                c->pool_bytes += b->cap;
                c->pool[c->npool++] = *b;
                *b = (Buf){0};
        } else {
                c->freed += b->cap;
                buf_free(b);
        }
}

/* A buffer of cap bytes may hold a blob of n: not one much larger, whose
 * pages, touched by an earlier blob, would stay resident uncounted. */
static bool fits(size_t cap, size_t n)
{
        return cap >= n && cap <= 2 * n;
}

/* With mu held: the smallest pooled buffer that fits a blob of n bytes,
 * else the largest smaller one (realloc grows it in place or by mremap:
 * its pages stay, only the growth is faulted in; reading 1 GiB with a 64
 * MiB cache took 251k faults without this, 88k with it), or an empty one. */
static Buf pool_take(BlobCache *c, size_t n)
{
        size_t fit = c->npool, grow = c->npool;
        for (size_t i = 0; i < c->npool; i++) {
                size_t cap = c->pool[i].cap;
                if (fits(cap, n) && (fit == c->npool || cap < c->pool[fit].cap))
                        fit = i;
                else if (cap < n && (grow == c->npool || cap > c->pool[grow].cap))
                        grow = i;
        }
        size_t best = fit < c->npool ? fit : grow;
        if (best == c->npool)
                return (Buf){0};
        Buf b = c->pool[best];
        c->pool[best] = c->pool[--c->npool];
        c->pool_bytes -= b.cap;
        b.len = 0;
        return b;
}

/* With mu held: drop unreferenced entries, oldest first, until under budget. */
static void evict(BlobCache *c)
{
        CacheEntry *e = c->tail;
        while (c->bytes > c->max_bytes - c->pool_room && e) {
                CacheEntry *prev = e->prev;
                if (e->refs == 0) {
                        lru_unlink(c, e);
                        unhash(c, e);
                        c->bytes -= e->data.len;
                        pool_put(c, &e->data);
                        entry_free(e);
                }
                e = prev;
        }
}

/* With mu held: a load starts; its blob counts against the budget from
 * now on, so loads in flight cannot push the cache past it. */
static void reserve(BlobCache *c, CacheEntry *e)
{
        e->reserved = e->where.raw_length;
        c->bytes += e->reserved;
        evict(c);
        e->data = pool_take(c, (size_t)e->where.raw_length + 1);
}

/* With mu held: a load ended. */
static void finish(BlobCache *c, CacheEntry *e, int rc)
{
        c->bytes -= e->reserved;
        e->reserved = 0;
        if (rc == 0) {
                e->state = READY;
                c->bytes += e->data.len;
                lru_push(c, e);
                evict(c);
        } else {
                char hex[ID_HEX_LEN + 1];
                util_hex(e->id, ID_LEN, hex);
                syslog(LOG_ERR, "cairn mount: blob %.16s in %s: %s", hex, e->pack[0] ? e->pack : "?",
                       rc == -EBADMSG ? "damaged (failed authentication)" : strerror(-rc));
                fprintf(stderr, "cairn: mount: blob %.16s in %s: %s\n", hex, e->pack[0] ? e->pack : "?",
                        rc == -EBADMSG ? "damaged (failed authentication)" : strerror(-rc));
                e->state = FAILED;
                e->err = rc;
                unhash(c, e);
                if (e->refs == 0)
                        entry_free(e);
        }
        pthread_cond_broadcast(&c->changed);
}

/* Read and decode a run of entries of one pack, sorted by offset. Called
 * without mu. Each entry is finished as soon as it is decoded, so a reader
 * waiting for the first blob of a run does not wait for the whole run;
 * rcs gets each entry's code. */
static void load_run(BlobCache *c, CacheEntry **v, size_t n, int *rcs, bool worker)
{
        uint32_t start = v[0]->where.offset, end = start;
        for (size_t i = 0; i < n; i++)
                end = MAX(end, v[i]->where.offset + v[i]->where.length);
        Buf *span = util_scratch(SCRATCH_SPAN);
        int rc = span ? 0 : -ENOMEM;
        if (span) {
                span->len = 0;
                rc = backend_read(repo_backend(c->repo), v[0]->pack, start, end - start, span);
        }
        for (size_t i = 0; i < n; i++) {
                rcs[i] = rc;
                if (rc == 0) {
                        const uint8_t *plain;
                        v[i]->data.len = 0;
                        rcs[i] = repo_blob_open_inplace(c->repo, span->data + (v[i]->where.offset - start),
                                                        v[i]->where.length, v[i]->where.raw_length,
                                                        &v[i]->data, &plain);
                        if (rcs[i] == 0 && plain && n == 1 && fits(span->cap, span->len)) {
                                /* a lone blob stored uncompressed: the entry
                                 * takes the span as it is and the thread the
                                 * entry's buffer for its next read (a copy
                                 * saved, and no fresh pages on either side) */
                                Buf mine = v[i]->data;
                                v[i]->data = *span;
                                v[i]->off = (size_t)(plain - span->data);
                                v[i]->data.len = v[i]->off + v[i]->where.raw_length;
                                *span = mine;
                        } else if (rcs[i] == 0 && plain) {
                                rcs[i] = buf_append(&v[i]->data, plain, v[i]->where.raw_length);
                        }
                }
                pthread_mutex_lock(&c->mu);
                finish(c, v[i], rcs[i]);
                pthread_mutex_unlock(&c->mu);
        }
        /* FUSE threads load one blob now and then: they keep little and
         * give the rest to the pool. The workers keep theirs (at most
         * MAX_SPAN each): freed after each run, every pread went into
         * freshly mapped pages, a third of the mount's faults in a tar. */
        if (span && !worker && span->cap > ((size_t)1 << 20)) {
                pthread_mutex_lock(&c->mu);
                pool_put(c, span);
                pthread_mutex_unlock(&c->mu);
        }
}

int cache_get(BlobCache *c, const uint8_t id[ID_LEN], CacheEntry **out)
{
        pthread_mutex_lock(&c->mu);
        CacheEntry *e = find(c, id);
        if (e) {
                e->refs++;
                while (e->state == LOADING)
                        pthread_cond_wait(&c->changed, &c->mu);
                if (e->state == FAILED) {
                        int rc = e->err;
                        if (--e->refs == 0)
                                entry_free(e);
                        pthread_mutex_unlock(&c->mu);
                        return rc;
                }
                lru_unlink(c, e);
                lru_push(c, e);
                pthread_mutex_unlock(&c->mu);
                *out = e;
                return 0;
        }
        e = calloc(1, sizeof(*e));
        if (!e) {
                pthread_mutex_unlock(&c->mu);
                return -ENOMEM;
        }
        memcpy(e->id, id, ID_LEN);
        e->state = LOADING;
        e->refs = 1;
        e->hnext = c->buckets[bucket(id)];
        c->buckets[bucket(id)] = e;
        pthread_mutex_unlock(&c->mu);

        int rc = repo_blob_locate(c->repo, id, e->pack, &e->where);
        if (rc == 0) {
                pthread_mutex_lock(&c->mu);
                reserve(c, e);
                pthread_mutex_unlock(&c->mu);
                load_run(c, &e, 1, &rc, false);
        } else {
                pthread_mutex_lock(&c->mu);
                finish(c, e, rc);
                pthread_mutex_unlock(&c->mu);
        }
        pthread_mutex_lock(&c->mu);
        if (rc < 0) {
                if (--e->refs == 0)
                        entry_free(e);
                pthread_mutex_unlock(&c->mu);
                return rc;
        }
        pthread_mutex_unlock(&c->mu);
        *out = e;
        return 0;
}

/* Blobs under glibc's mmap threshold live in malloc arenas, and evicting
 * them leaves free holes there that larger blobs cannot use: after a tree
 * of small files, reading big files pushed RSS 200 MiB past the cache
 * size. Giving freed pages back now and then keeps RSS near the budget. */
static void maybe_trim(BlobCache *c)
{
        pthread_mutex_lock(&c->mu);
        bool trim = c->freed > c->max_bytes / 8;
        if (trim)
                c->freed = 0;
        pthread_mutex_unlock(&c->mu);
        if (trim)
                malloc_trim(0);
}

void cache_put(BlobCache *c, CacheEntry *e)
{
        if (!e)
                return;
        pthread_mutex_lock(&c->mu);
        e->refs--;
        evict(c);
        pthread_mutex_unlock(&c->mu);
        maybe_trim(c);
}

const uint8_t *cache_data(const CacheEntry *e)
{
        return e->data.data + e->off;
}

size_t cache_size(const CacheEntry *e)
{
        return e->data.len - e->off;
}

size_t cache_bytes(BlobCache *c)
{
        pthread_mutex_lock(&c->mu);
        size_t b = c->bytes;
        pthread_mutex_unlock(&c->mu);
        return b;
}

static int cmp_where(const void *x, const void *y)
{
        const CacheEntry *a = *(CacheEntry *const *)x, *b = *(CacheEntry *const *)y;
        int k = strcmp(a->pack, b->pack);
        if (k)
                return k;
        return a->where.offset < b->where.offset ? -1 : (a->where.offset > b->where.offset);
}

static void run_task(BlobCache *c, Task *t)
{
        int *rcs = calloc(t->n + 1, sizeof(int));
        size_t k = 0;
        /* entries whose blob cannot be located fail at once */
        for (size_t i = 0; i < t->n; i++) {
                int rc = repo_blob_locate(c->repo, t->v[i]->id, t->v[i]->pack, &t->v[i]->where);
                if (rc < 0) {
                        pthread_mutex_lock(&c->mu);
                        finish(c, t->v[i], rc);
                        pthread_mutex_unlock(&c->mu);
                } else {
                        t->v[k++] = t->v[i];
                }
        }
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < k; i++)
                reserve(c, t->v[i]);
        pthread_mutex_unlock(&c->mu);
        qsort(t->v, k, sizeof(CacheEntry *), cmp_where);
        if (!rcs)
                for (size_t i = 0; i < k; i++) {
                        pthread_mutex_lock(&c->mu);
                        finish(c, t->v[i], -ENOMEM);
                        pthread_mutex_unlock(&c->mu);
                }
        for (size_t i = 0; rcs && i < k;) {
                size_t j = i + 1;
                uint32_t start = t->v[i]->where.offset;
                uint32_t end = start + t->v[i]->where.length;
                while (j < k && strcmp(t->v[j]->pack, t->v[i]->pack) == 0 &&
                       t->v[j]->where.offset <= end + COALESCE_GAP &&
                       t->v[j]->where.offset + t->v[j]->where.length - start <= MAX_SPAN) {
                        end = MAX(end, t->v[j]->where.offset + t->v[j]->where.length);
                        j++;
                }
                load_run(c, t->v + i, j - i, rcs + i, true);
                i = j;
        }
        free(rcs);
        free(t->v);
        free(t);
}

static void *worker(void *arg)
{
        BlobCache *c = arg;
        pthread_mutex_lock(&c->mu);
        for (;;) {
                while (!c->tasks && !c->stop)
                        pthread_cond_wait(&c->work, &c->mu);
                if (c->stop)
                        break;
                Task *t = c->tasks;
                c->tasks = t->next;
                if (!c->tasks)
                        c->tasks_tail = NULL;
                pthread_mutex_unlock(&c->mu);
                run_task(c, t);
                pthread_mutex_lock(&c->mu);
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

/* With mu held: queue the tasks head..tail (linked), behind the queued
 * ones or, first, before them. */
static void enqueue(BlobCache *c, Task *head, Task *tail, bool first)
{
        if (first) {
                tail->next = c->tasks;
                c->tasks = head;
                if (!c->tasks_tail)
                        c->tasks_tail = tail;
        } else {
                if (c->tasks_tail)
                        c->tasks_tail->next = head;
                else
                        c->tasks = head;
                c->tasks_tail = tail;
        }
        pthread_cond_broadcast(&c->work);
}

/* The blobs go out in tasks of about task_bytes each, in the order given,
 * so that the workers decode one reader's next blobs side by side and the
 * first of them is ready first. */
static void prefetch(BlobCache *c, const uint8_t (*ids)[ID_LEN], size_t n, bool first)
{
        if (!c->nthreads || !n)
                return;
        int64_t *sizes = malloc(n * sizeof(int64_t));
        if (!sizes)
                return;
        for (size_t i = 0; i < n; i++) /* the index has its own lock */
                sizes[i] = repo_blob_size(c->repo, ids[i]);
        Task *t = NULL, *head = NULL, *tail = NULL;
        uint64_t bytes = 0;
        size_t room = 0;
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < n; i++) {
                if (sizes[i] < 0 || find(c, ids[i]))
                        continue;
                if (!t) {
                        /* room for the blobs up to task_bytes from here (a
                         * task also ends when full: cached ones are skipped) */
                        room = 0;
                        for (uint64_t b = 0; i + room < n && b < c->task_bytes; room++)
                                b += sizes[i + room] > 0 ? (uint64_t)sizes[i + room] : 0;
                        t = calloc(1, sizeof(*t));
                        if (t && !(t->v = calloc(room, sizeof(CacheEntry *)))) {
                                free(t);
                                t = NULL;
                        }
                        if (!t)
                                break;
                        bytes = 0;
                }
                CacheEntry *e = calloc(1, sizeof(*e));
                if (!e)
                        break;
                memcpy(e->id, ids[i], ID_LEN);
                e->state = LOADING;
                e->hnext = c->buckets[bucket(e->id)];
                c->buckets[bucket(e->id)] = e;
                t->v[t->n++] = e;
                if ((bytes += (uint64_t)sizes[i]) >= c->task_bytes || t->n == room) {
                        *(tail ? &tail->next : &head) = t;
                        tail = t;
                        t = NULL;
                }
        }
        if (t && t->n) {
                *(tail ? &tail->next : &head) = t;
                tail = t;
        } else if (t) {
                free(t->v);
                free(t);
        }
        if (head)
                enqueue(c, head, tail, first);
        pthread_mutex_unlock(&c->mu);
        free(sizes);
}

void cache_prefetch(BlobCache *c, const uint8_t (*ids)[ID_LEN], size_t n)
{
        prefetch(c, ids, n, false);
}

void cache_prefetch_first(BlobCache *c, const uint8_t (*ids)[ID_LEN], size_t n)
{
        prefetch(c, ids, n, true);
}

int cache_new(Repo *r, size_t max_bytes, unsigned workers, size_t task_bytes, BlobCache **out)
{
        BlobCache *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->repo = r;
        c->max_bytes = max_bytes;
        c->task_bytes = MIN(task_bytes, MAX_SPAN);
        c->pool_room = max_bytes / 32;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->changed, NULL);
        pthread_cond_init(&c->work, NULL);
        c->threads = calloc(workers + 1, sizeof(pthread_t));
        for (unsigned i = 0; c->threads && i < workers; i++)
                if (pthread_create(&c->threads[c->nthreads], NULL, worker, c) == 0)
                        c->nthreads++;
        *out = c;
        return 0;
}

void cache_free(BlobCache *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_broadcast(&c->work);
        pthread_mutex_unlock(&c->mu);
        for (unsigned i = 0; i < c->nthreads; i++)
                pthread_join(c->threads[i], NULL);
        while (c->tasks) {
                Task *t = c->tasks;
                c->tasks = t->next;
                for (size_t i = 0; i < t->n; i++) {
                        unhash(c, t->v[i]);
                        entry_free(t->v[i]);
                }
                free(t->v);
                free(t);
        }
        /* every reader has put what it got: anything still referenced is a
         * leak, which would keep blobs past the budget for good */
        size_t held = 0;
        for (size_t b = 0; b < BUCKETS; b++)
                for (CacheEntry *e = c->buckets[b]; e; e = e->hnext)
                        held += e->refs > 0;
        if (held)
                fprintf(stderr, "cairn: mount: %zu blobs still referenced at unmount (a bug: please report it)\n", held);
        for (size_t b = 0; b < BUCKETS; b++)
                while (c->buckets[b]) {
                        CacheEntry *e = c->buckets[b];
                        c->buckets[b] = e->hnext;
                        entry_free(e);
                }
        for (size_t i = 0; i < c->npool; i++)
                buf_free(&c->pool[i]);
        free(c->threads);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->changed);
        pthread_cond_destroy(&c->work);
        free(c);
}
