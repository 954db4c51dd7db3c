/* backend-mem.c — objects in memory, for unit tests. Counts every call so
 * tests can assert how the engine uses its backend. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "error.h"

typedef struct MemObject {
        char *name;
        uint8_t *data;
        size_t len;
        struct MemObject *next;
} MemObject;

typedef struct BackendMem {
        Backend parent;
        pthread_mutex_t mu;
        MemObject *head;
        BackendMemStats stats;
} BackendMem;

static MemObject *mem_find(BackendMem *m, const char *name)
{
        for (MemObject *o = m->head; o; o = o->next)
                if (strcmp(o->name, name) == 0)
                        return o;
        return NULL;
}

static int mem_read(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        BackendMem *m = (BackendMem *)be;
        pthread_mutex_lock(&m->mu);
        m->stats.reads++;
        MemObject *o = mem_find(m, name);
        int r = 0;
        if (!o) {
                error_set("mem:%s: no such object", name);
                r = -ENOENT;
        } else if (off > o->len || (len && off + len > o->len)) {
                error_set("mem:%s: object shorter than expected", name);
                r = -ENODATA;
        } else {
                if (!len)
                        len = o->len - off;
                r = buf_append(out, o->data + off, len);
                m->stats.bytes_read += len;
        }
        pthread_mutex_unlock(&m->mu);
        return r;
}

static int mem_write(Backend *be, const char *name, const void *data, size_t len)
{
        BackendMem *m = (BackendMem *)be;
        MemObject *o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->name = strdup(name);
        o->data = malloc(len ? len : 1);
        if (!o->name || !o->data) {
                free(o->name);
                free(o->data);
                free(o);
                return -ENOMEM;
        }
        memcpy(o->data, data, len);
        o->len = len;
        pthread_mutex_lock(&m->mu);
        m->stats.writes++;
        m->stats.bytes_written += len;
        MemObject *old = mem_find(m, name);
        if (old) {
                free(old->data);
                old->data = o->data;
                old->len = len;
                free(o->name);
                free(o);
        } else {
                o->next = m->head;
                m->head = o;
        }
        pthread_mutex_unlock(&m->mu);
        return 0;
}

static int mem_list(Backend *be, const char *prefix, backend_list_cb cb, void *ud)
{
        BackendMem *m = (BackendMem *)be;
        /* copy names first: cb may call back into the backend */
        pthread_mutex_lock(&m->mu);
        m->stats.lists++;
        size_t n = 0;
        for (MemObject *o = m->head; o; o = o->next)
                n++;
        char **names = calloc(n + 1, sizeof(char *));
        uint64_t *sizes = calloc(n + 1, sizeof(uint64_t));
        size_t k = 0;
        for (MemObject *o = m->head; names && sizes && o; o = o->next)
                if (strncmp(o->name, prefix, strlen(prefix)) == 0) {
                        sizes[k] = o->len;
                        names[k++] = strdup(o->name);
                }
        pthread_mutex_unlock(&m->mu);
        int r = names && sizes ? 0 : -ENOMEM;
        for (size_t i = 0; i < k; i++) {
                if (r == 0)
                        r = names[i] ? cb(names[i], sizes[i], ud) : -ENOMEM;
                free(names[i]);
        }
        free(names);
        free(sizes);
        return r;
}

static int mem_remove(Backend *be, const char *name)
{
        BackendMem *m = (BackendMem *)be;
        pthread_mutex_lock(&m->mu);
        m->stats.removes++;
        int r = -ENOENT;
        for (MemObject **p = &m->head; *p; p = &(*p)->next)
                if (strcmp((*p)->name, name) == 0) {
                        MemObject *o = *p;
                        *p = o->next;
                        free(o->name);
                        free(o->data);
                        free(o);
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&m->mu);
        return r;
}

static int mem_stat(Backend *be, const char *name, uint64_t *size)
{
        BackendMem *m = (BackendMem *)be;
        pthread_mutex_lock(&m->mu);
        m->stats.stats++;
        MemObject *o = mem_find(m, name);
        if (o && size)
                *size = o->len;
        pthread_mutex_unlock(&m->mu);
        return o ? 0 : -ENOENT;
}

static int mem_create(Backend *be)
{
        BackendMem *m = (BackendMem *)be;
        return mem_find(m, "config") ? -EEXIST : 0;
}

static void mem_close(Backend *be)
{
        BackendMem *m = (BackendMem *)be;
        while (m->head) {
                MemObject *o = m->head;
                m->head = o->next;
                free(o->name);
                free(o->data);
                free(o);
        }
        pthread_mutex_destroy(&m->mu);
        free(m);
}

int backend_mem_open(Backend **out)
{
        BackendMem *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->parent = (Backend){
                .version = BACKEND_VERSION,
                .kind = "mem",
                .read = mem_read,
                .write = mem_write,
                .list = mem_list,
                .remove = mem_remove,
                .stat = mem_stat,
                .create = mem_create,
                .close = mem_close,
        };
        pthread_mutex_init(&m->mu, NULL);
        *out = &m->parent;
        return 0;
}

void backend_mem_stats(Backend *be, BackendMemStats *out)
{
        BackendMem *m = (BackendMem *)be;
        pthread_mutex_lock(&m->mu);
        *out = m->stats;
        pthread_mutex_unlock(&m->mu);
}

int backend_mem_flip(Backend *be, const char *name, uint64_t off)
{
        BackendMem *m = (BackendMem *)be;
        pthread_mutex_lock(&m->mu);
        MemObject *o = mem_find(m, name);
        int r = -ENOENT;
        if (o && off < o->len) {
                o->data[off] ^= 1;
                r = 0;
        }
        pthread_mutex_unlock(&m->mu);
        return r;
}
