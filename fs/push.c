/* push.c — see push.h. */
#include "push.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct PushJob {
        struct PushJob *next;
        fuse_ino_t ino;
        uint64_t size;
        size_t n;
        uint8_t (*ids)[ID_LEN];
};
typedef struct PushJob Job;

struct Pusher {
        struct fuse_session *se;
        BlobCache *cache;
        pthread_mutex_t mu;
        pthread_cond_t work;
        Job *head, *tail;
        bool stop;
        pthread_t thread;
        /* a file of several blobs goes out of this one buffer, kept: given
         * several buffers, libfuse copies them into a fresh allocation for
         * every file (new pages, unmapped after), a tenth of the mount's
         * time in a tree of small files */
        Buf flat;
};

static void job_free(Job *j)
{
        free(j->ids);
        free(j);
}

/* Store one file, whole, in one message from offset 0. Returns false when
 * a blob could not be loaded or the kernel refused. */
static bool push_file(Pusher *p, const Job *j)
{
        if (j->n > PUSH_MAX_BLOBS)
                return false;
        CacheEntry *held[PUSH_MAX_BLOBS];
        size_t nb = 0;
        uint64_t bytes = 0;
        bool ok = true;
        for (; nb < j->n; nb++) {
                if (cache_get(p->cache, j->ids[nb], &held[nb]) < 0) {
                        ok = false;
                        break;
                }
                bytes += cache_size(held[nb]);
        }
        ok = ok && bytes == j->size;
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(bytes);
        if (ok && nb == 1) {
                bv.buf[0].mem = (void *)cache_data(held[0]);
        } else if (ok) {
                p->flat.len = 0;
                for (size_t m = 0; ok && m < nb; m++)
                        ok = buf_append(&p->flat, cache_data(held[m]), cache_size(held[m])) == 0;
                bv.buf[0].mem = p->flat.data;
        }
        if (ok)
                ok = fuse_lowlevel_notify_store(p->se, j->ino, 0, &bv, 0) == 0;
        for (size_t m = 0; m < nb; m++)
                cache_put(p->cache, held[m]);
        return ok;
}

static void *run(void *arg)
{
        Pusher *p = arg;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                while (!p->head && !p->stop)
                        pthread_cond_wait(&p->work, &p->mu);
                if (p->stop)
                        break;
                Job *j = p->head;
                p->head = j->next;
                if (!p->head)
                        p->tail = NULL;
                pthread_mutex_unlock(&p->mu);
                push_file(p, j); /* a file not pushed is read the ordinary way */
                job_free(j);
                pthread_mutex_lock(&p->mu);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

int pusher_new(struct fuse_session *se, BlobCache *cache, Pusher **out)
{
        Pusher *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->se = se;
        p->cache = cache;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->work, NULL);
        int rc = pthread_create(&p->thread, NULL, run, p);
        if (rc != 0) {
                pthread_mutex_destroy(&p->mu);
                pthread_cond_destroy(&p->work);
                free(p);
                return -rc;
        }
        *out = p;
        return 0;
}

void pusher_free(Pusher *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        while (p->head) {
                Job *j = p->head;
                p->head = j->next;
                job_free(j);
        }
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->work);
        buf_free(&p->flat);
        free(p);
}

PushJob *push_job_new(fuse_ino_t ino, const uint8_t (*ids)[ID_LEN], size_t n, uint64_t size)
{
        Job *j = n ? calloc(1, sizeof(*j)) : NULL;
        if (!j)
                return NULL;
        j->ids = malloc(n * ID_LEN);
        if (!j->ids) {
                free(j);
                return NULL;
        }
        memcpy(j->ids, ids, n * ID_LEN);
        j->ino = ino;
        j->n = n;
        j->size = size;
        return j;
}

void pusher_submit(Pusher *p, PushJob **jobs, size_t n)
{
        if (!n)
                return;
        /* all the jobs' blobs in one call: tasks of about a megabyte of
         * them, each read from its pack in few reads */
        size_t nids = 0;
        for (size_t k = 0; k < n; k++)
                nids += jobs[k]->n;
        uint8_t(*ids)[ID_LEN] = malloc(nids * ID_LEN);
        for (size_t k = 0, at = 0; ids && k < n; at += jobs[k]->n, k++)
                memcpy(ids[at], jobs[k]->ids, jobs[k]->n * ID_LEN);
        if (ids)
                cache_prefetch_first(p->cache, (const uint8_t(*)[ID_LEN])ids, nids);
        free(ids);
        for (size_t k = 0; k + 1 < n; k++)
                jobs[k]->next = jobs[k + 1];
        pthread_mutex_lock(&p->mu);
        jobs[n - 1]->next = p->head;
        p->head = jobs[0];
        if (!p->tail)
                p->tail = jobs[n - 1];
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
}
