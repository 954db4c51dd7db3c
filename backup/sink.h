/* sink.h — turns a byte stream into the content of one file node.
 *
 * Bytes written (or read from a descriptor) are cut by the repository's
 * chunker; each chunk is hashed here, on the producer's thread, and handed
 * to the pool unless the repository has it already. One sink serves many
 * files in turn (sink_begin ... sink_finish), so its 2 x max-chunk buffer
 * is allocated once. This is the one path every backup takes: files,
 * stdin, commands and database dumpers. */
#pragma once
#include <stdint.h>

#include "pool.h"
#include "repo.h"
#include "tree.h"

typedef struct Sink Sink;

typedef struct SinkCounters {
        uint64_t bytes;     /* bytes consumed */
        uint64_t new_bytes; /* bytes of chunks the repository did not have */
        uint64_t scanned;   /* bytes handed to the chunker (each at most once
                               per cut attempt): stays near bytes */
} SinkCounters;

int sink_new(Repo *r, Pool *p, Sink **out);
void sink_free(Sink *s);
/* Start a new file; node receives content and size at sink_finish. */
void sink_begin(Sink *s);
int sink_write(Sink *s, const void *p, size_t n);
/* Read fd to its end. Returns bytes read or a negative errno (the read
 * error; what was read so far stays in the sink). */
int64_t sink_read_fd(Sink *s, int fd);
/* Cut the last chunk and give the content list to node (content, ncontent,
 * size are replaced). */
int sink_finish(Sink *s, Node *node);
/* Running totals over every file of this sink (read by progress). */
void sink_counters(Sink *s, SinkCounters *out);
