/* cache.h — decrypted blobs for the mount: a byte-bounded LRU cache with
 * read-ahead on worker threads.
 *
 * cache_get() returns a blob's plaintext, loading it on the caller's
 * thread when it is not there (a second reader of the same blob waits for
 * the first instead of loading it again). cache_prefetch() queues blobs
 * for the workers, which sort them by pack and offset and read runs of
 * adjacent blobs of one pack with a single backend read. Entries in use
 * are never evicted; the rest go least recently used first once the cache
 * holds more than its budget. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "repo.h"

typedef struct BlobCache BlobCache;
typedef struct CacheEntry CacheEntry;

/* Workers read prefetched blobs in tasks of about task_bytes each (one
 * backend read per run of adjacent blobs of a pack in a task). */
int cache_new(Repo *r, size_t max_bytes, unsigned workers, size_t task_bytes, BlobCache **out);
void cache_free(BlobCache *c);
/* A referenced entry (release with cache_put), or -EBADMSG (damaged:
 * failed authentication), -ENOENT (unknown blob), -EIO. */
int cache_get(BlobCache *c, const uint8_t id[ID_LEN], CacheEntry **out);
void cache_put(BlobCache *c, CacheEntry *e);
const uint8_t *cache_data(const CacheEntry *e);
size_t cache_size(const CacheEntry *e);
/* Load these blobs in the background unless cached or loading already,
 * after the blobs queued before. */
void cache_prefetch(BlobCache *c, const uint8_t (*ids)[ID_LEN], size_t n);
/* The same, before every blob queued so far (in the order given): for
 * what a reader needs next, such as the files of the directory a tree
 * walk just entered, ahead of those of the directories it is still in. */
void cache_prefetch_first(BlobCache *c, const uint8_t (*ids)[ID_LEN], size_t n);
/* Bytes held now (for tests and statfs). */
size_t cache_bytes(BlobCache *c);
