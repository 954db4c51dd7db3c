/* chunker.h — content-defined chunking (FastCDC with normalized chunking).
 *
 * The gear table (256 x uint64) is derived from the repository's secret
 * 32-byte chunker seed, so boundaries reveal nothing across repositories.
 * The chunker is stateless between chunks: the caller keeps the data of the
 * current chunk contiguous from its start and asks where it ends. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNKER_MIN_DEFAULT (512u * 1024)
#define CHUNKER_AVG_DEFAULT (1024u * 1024)
#define CHUNKER_MAX_DEFAULT (8u * 1024 * 1024)

typedef struct Chunker Chunker;

/* min < avg < max, avg a power of two. Returns 0 or -EINVAL/-ENOMEM;
 * the caller owns *out (chunker_free). */
int chunker_new(const uint8_t seed[32], size_t min, size_t avg, size_t max, Chunker **out);
void chunker_free(Chunker *c);

/* buf[0] is the first byte of a chunk. Returns the length of that chunk
 * when its end lies within buf[0..len): a content-defined cut, or max, or
 * len itself when eof is true. Returns 0 when more data is needed (no cut
 * found, len < max and !eof). */
size_t chunker_next(const Chunker *c, const uint8_t *buf, size_t len, bool eof);

size_t chunker_max(const Chunker *c);
size_t chunker_min(const Chunker *c);
