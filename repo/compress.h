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
/* Append the plaintext of a stored form to out; raw_len is the expected
 * plaintext length (-EBADMSG when it differs or the frame is damaged). */
int compress_unblob(const void *p, size_t n, size_t raw_len, Buf *out);
/* The plaintext inside a stored form kept uncompressed (raw_len bytes at
 * the returned pointer), or NULL when it is compressed or malformed. */
const uint8_t *compress_stored(const void *p, size_t n, size_t raw_len);
