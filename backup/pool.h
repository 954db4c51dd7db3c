/* pool.h — the worker pool that compresses, seals and packs blobs.
 *
 * The producer (the walker, or a stream reader) hashes each chunk itself,
 * so tree nodes are complete as soon as a file is read; only the expensive
 * part (compression, encryption, pack append and write) runs here. The
 * queue is bounded in bytes so memory stays flat whatever the input. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "repo.h"

typedef struct Pool Pool;

/* workers 0: one per CPU. */
int pool_new(Repo *r, unsigned workers, size_t max_queued_bytes, Pool **out);
/* A buffer of at least n bytes for pool_submit. Buffers come back to the
 * pool when their job is done and are handed out again: a backup
 * allocates a handful of them, not one per chunk (each fresh allocation
 * of a megabyte costs page faults and shows as system time). */
uint8_t *pool_buf_get(Pool *p, size_t n);
/* How many buffers pool_buf_get allocated, and how many it handed out
 * again. */
void pool_buffer_counts(Pool *p, size_t *fresh, size_t *reused);
/* Queue a blob; data must come from pool_buf_get and the pool owns it.
 * hint: the compression hint of its file (the job takes a reference), or
 * NULL. Blocks while the queue is full. Returns the first error any
 * worker hit, so a producer stops early. */
int pool_submit(Pool *p, uint8_t type, const uint8_t id[ID_LEN], uint8_t *data, size_t n, CompressHint *hint);
/* Wait until every queued blob is saved; returns the first error. */
int pool_drain(Pool *p);
/* Stops the workers (after draining). NULL is a no-op. */
void pool_free(Pool *p);
