/* push.h — file contents handed to the kernel before they are read.
 *
 * FUSE reads ahead within one file only: a reader of many small files
 * (tar, cp -r, rsync) waits for a round trip to this process for every
 * file, often two. The pusher takes the files such a reader is about to
 * open, in order, and stores their contents in the kernel's page cache
 * with fuse_lowlevel_notify_store(); their reads are then served by the
 * kernel alone. The blobs are prefetched when files are queued, so the
 * cache's workers decode them while the reader is still busy; one thread
 * pushes, in queue order. A push the kernel refuses (it forgot the inode,
 * or has not made it yet) is dropped: the file is read the ordinary way.
 * Thread-safe. */
#pragma once
#include <fuse_lowlevel.h>
#include <stdint.h>

#include "cache.h"

/* a file of more blobs than this is not pushed */
#define PUSH_MAX_BLOBS 64

typedef struct Pusher Pusher;
typedef struct PushJob PushJob;

int pusher_new(struct fuse_session *se, BlobCache *cache, Pusher **out);
/* Stops the thread; queued files are dropped. */
void pusher_free(Pusher *p);
/* The whole file ino: size bytes in n blobs, in order (ids copied). Takes
 * no lock, so a caller may make jobs under its own; NULL without memory. */
PushJob *push_job_new(fuse_ino_t ino, const uint8_t (*ids)[ID_LEN], size_t n, uint64_t size);
/* Prefetch the jobs' blobs and queue them, in order, before the jobs
 * queued so far (takes the jobs): a tree walk wants the files of the
 * directory it just entered before the rest of the one it came from. */
void pusher_submit(Pusher *p, PushJob **jobs, size_t n);
