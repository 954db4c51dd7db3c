/* compress.h — the one-byte-header compression of a blob's plaintext.
 *
 * Stored form (before sealing): 0x00 || raw bytes, or 0x01 || zstd frame.
 * Incompressible data is detected cheaply and kept raw. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum { COMPRESS_OFF = 0, COMPRESS_FAST = 1, COMPRESS_AUTO = 2, COMPRESS_MAX = 3 };

/* "off", "fast", "auto", "max" -> level; -EINVAL otherwise. */
int compress_parse_level(const char *s);
const char *compress_level_name(int level);

/* Append the stored form of p[0..n) to out. */
int compress_blob(int level, const void *p, size_t n, Buf *out);

/* Under "auto", the blobs of one file (or stream) share a hint: every
 * COMPRESS_PROBE_EVERY-th compressible blob is compressed at zstd 3 and at
 * zstd 1, the smaller kept, and the blobs after it use zstd 1 when that
 * came within 1% of zstd 3's size, else zstd 3. On binary records
 * (the benchmark's .dat files) zstd 3 took 70% more time for 0.6% less
 * output; on its logs and sources zstd 1 came out 13-27% larger. Shared
 * by the pool's workers: its fields are read and written atomically. */
typedef struct CompressHint {
        unsigned refs; /* holders: compress_hint_unref frees it at 0 */
        unsigned seq;  /* compressible blobs compressed with it */
        int zlevel;    /* the zstd level for the next blobs; 0 until the first probe */
} CompressHint;
#define COMPRESS_PROBE_EVERY 32

/* A hint with one holder (NULL when out of memory: blobs then go as
 * without one). */
CompressHint *compress_hint_new(void);
CompressHint *compress_hint_ref(CompressHint *h);
void compress_hint_unref(CompressHint *h);
/* compress_blob with hint h (NULL: none; not "auto": ignored); *used
 * (when not NULL) gets the zstd level of the stored form, 0 if raw. */
int compress_blob_hint(int level, CompressHint *h, const void *p, size_t n, Buf *out, int *used);
/* Append the plaintext of a stored form to out; raw_len is the expected
 * plaintext length (-EBADMSG when it differs or the frame is damaged). */
int compress_unblob(const void *p, size_t n, size_t raw_len, Buf *out);
/* The plaintext inside a stored form kept uncompressed (raw_len bytes at
 * the returned pointer), or NULL when it is compressed or malformed. */
const uint8_t *compress_stored(const void *p, size_t n, size_t raw_len);
