/* pool.c — see pool.h. */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

typedef struct Job {
        struct Job *next;
        uint8_t type;
        uint8_t id[ID_LEN];
        uint8_t *data;
        size_t n;
        CompressHint *hint; /* a reference, or NULL */
} Job;

struct Pool {
        Repo *repo;
        pthread_t *threads;
        unsigned nthreads;
        pthread_mutex_t mu;
        pthread_cond_t has_work, has_room, idle;
        Job *head, *tail;
        size_t queued_bytes, max_bytes;
        unsigned busy;
        bool stop;
        int error;
        char errmsg[1024];
        /* recycled buffers; each starts with its capacity (see buf_base) */
        uint8_t *spare[64];
        unsigned nspare;
        size_t spare_bytes; /* their capacities; at most 2 max_bytes + SPARE_SLACK */
        size_t fresh, reused; /* buffers handed out: allocated, or a spare */
};

#define BUF_HDR 16
#define BUF_MIN ((size_t)64 << 10) /* a small file's chunk: a small buffer */
/* As many buffers are kept for reuse as the queue can hold at once (its
 * bytes, rounded up to powers of two, and a chunk of the largest size):
 * a freed one came back as fresh pages (a page fault and a zeroed page
 * each 4 KiB, costly on this kind of VM). */
#define SPARE_SLACK ((size_t)8 << 20)

static size_t buf_cap(const uint8_t *data)
{
        size_t cap;
        memcpy(&cap, data - BUF_HDR, sizeof(cap));
        return cap;
}

static void buf_release(Pool *p, uint8_t *data)
{
        /* called with p->mu held */
        size_t cap = buf_cap(data);
        if (p->nspare < ELEMENTSOF(p->spare) && p->spare_bytes + cap <= 2 * p->max_bytes + SPARE_SLACK) {
                p->spare[p->nspare++] = data;
                p->spare_bytes += cap;
        } else {
                free(data - BUF_HDR);
        }
}

uint8_t *pool_buf_get(Pool *p, size_t n)
{
        pthread_mutex_lock(&p->mu);
        /* the smallest that fits: big buffers stay for big chunks */
        unsigned best = p->nspare;
        for (unsigned i = 0; i < p->nspare; i++)
                if (buf_cap(p->spare[i]) >= n && (best == p->nspare || buf_cap(p->spare[i]) < buf_cap(p->spare[best])))
                        best = i;
        if (best < p->nspare) {
                uint8_t *d = p->spare[best];
                p->spare_bytes -= buf_cap(d);
                p->spare[best] = p->spare[--p->nspare];
                p->reused++;
                pthread_mutex_unlock(&p->mu);
                return d;
        }
        p->fresh++;
        pthread_mutex_unlock(&p->mu);
        /* a power of two: a buffer fits later chunks of about its size too
         * (one of exactly n bytes fitted no bigger chunk) */
        size_t cap = BUF_MIN;
        while (cap < n)
                cap *= 2;
        uint8_t *base = malloc(cap + BUF_HDR);
        if (!base)
                return NULL;
        memcpy(base, &cap, sizeof(cap));
        return base + BUF_HDR;
}

static void *worker(void *arg)
{
        Pool *p = arg;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                while (!p->head && !p->stop)
                        pthread_cond_wait(&p->has_work, &p->mu);
                if (!p->head && p->stop)
                        break;
                Job *j = p->head;
                p->head = j->next;
                if (!p->head)
                        p->tail = NULL;
                p->busy++;
                bool failed = p->error != 0;
                pthread_mutex_unlock(&p->mu);

                int rc = failed ? 0 : repo_blob_save_hint(p->repo, j->type, j->id, j->data, j->n, j->hint, NULL);
                compress_hint_unref(j->hint);

                pthread_mutex_lock(&p->mu);
                if (rc < 0 && !p->error) {
                        p->error = rc;
                        snprintf(p->errmsg, sizeof(p->errmsg), "%s", error_last());
                }
                p->queued_bytes -= j->n;
                p->busy--;
                buf_release(p, j->data);
                free(j);
                pthread_cond_broadcast(&p->has_room);
                if (!p->head && !p->busy)
                        pthread_cond_broadcast(&p->idle);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

int pool_new(Repo *r, unsigned workers, size_t max_queued_bytes, Pool **out)
{
        Pool *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->repo = r;
        p->max_bytes = max_queued_bytes;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->has_work, NULL);
        pthread_cond_init(&p->has_room, NULL);
        pthread_cond_init(&p->idle, NULL);
        if (!workers)
                workers = util_ncpu();
        p->threads = calloc(workers, sizeof(pthread_t));
        if (!p->threads) {
                free(p);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < workers; i++) {
                if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
                        break;
                p->nthreads++;
        }
        if (!p->nthreads) {
                pool_free(p);
                return -EAGAIN;
        }
        *out = p;
        return 0;
}

static int pool_error(Pool *p)
{
        if (p->error)
                error_set("%s", p->errmsg);
        return p->error;
}

int pool_submit(Pool *p, uint8_t type, const uint8_t id[ID_LEN], uint8_t *data, size_t n, CompressHint *hint)
{
        Job *j = malloc(sizeof(*j));
        if (!j) {
                pthread_mutex_lock(&p->mu);
                buf_release(p, data);
                pthread_mutex_unlock(&p->mu);
                return -ENOMEM;
        }
        j->next = NULL;
        j->type = type;
        memcpy(j->id, id, ID_LEN);
        j->data = data;
        j->n = n;
        j->hint = NULL;
        pthread_mutex_lock(&p->mu);
        /* one job always fits, however large, or a big chunk would wait forever */
        while (!p->error && p->queued_bytes && p->queued_bytes + n > p->max_bytes)
                pthread_cond_wait(&p->has_room, &p->mu);
        int rc = pool_error(p);
        if (rc) {
                buf_release(p, data);
                pthread_mutex_unlock(&p->mu);
                free(j);
                return rc;
        }
        j->hint = compress_hint_ref(hint);
        if (p->tail)
                p->tail->next = j;
        else
                p->head = j;
        p->tail = j;
        p->queued_bytes += n;
        pthread_cond_signal(&p->has_work);
        pthread_mutex_unlock(&p->mu);
        return 0;
}

void pool_buffer_counts(Pool *p, size_t *fresh, size_t *reused)
{
        pthread_mutex_lock(&p->mu);
        *fresh = p->fresh;
        *reused = p->reused;
        pthread_mutex_unlock(&p->mu);
}

int pool_drain(Pool *p)
{
        pthread_mutex_lock(&p->mu);
        while (p->head || p->busy)
                pthread_cond_wait(&p->idle, &p->mu);
        int rc = pool_error(p);
        pthread_mutex_unlock(&p->mu);
        return rc;
}

void pool_free(Pool *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->has_work);
        pthread_mutex_unlock(&p->mu);
        for (unsigned i = 0; i < p->nthreads; i++)
                pthread_join(p->threads[i], NULL);
        while (p->head) {
                Job *j = p->head;
                p->head = j->next;
                free(j->data - BUF_HDR);
                compress_hint_unref(j->hint);
                free(j);
        }
        for (unsigned i = 0; i < p->nspare; i++)
                free(p->spare[i] - BUF_HDR);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->has_work);
        pthread_cond_destroy(&p->has_room);
        pthread_cond_destroy(&p->idle);
        free(p->threads);
        free(p);
}
