/* pack.h — pack files: data/<2 hex>/<id>.
 *
 * Layout:
 *   blob_0 || blob_1 || ... || sealed header || header length (uint32 LE)
 * Each blob is sealed (crypto.h) over its stored form (compress.h). The
 * header, sealed with the master key, is count records of
 *   type (1) || offset (4 LE) || length (4 LE) || raw length (4 LE) || id (32)
 * where length is the sealed length in the pack and raw length the
 * plaintext length.
 *
 * The pack id is the BLAKE2b-256 of the pack's tail: the sealed header and
 * its length. The header names every blob by its keyed hash and length and
 * is itself authenticated, and every blob is authenticated on its own, so
 * a changed byte anywhere in the pack is still found (check --read-data)
 * without hashing every stored byte a second time on the backup path
 * (that hash cost 7% of a backup's CPU). The header's random nonce keeps
 * ids unique. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "crypto.h"
#include "util.h"

enum { BLOB_DATA = 0, BLOB_TREE = 1 };

#define PACK_RECORD_LEN 45
#define PACK_TARGET_DEFAULT (16u * 1024 * 1024)

typedef struct PackEntry {
        uint8_t id[ID_LEN];
        uint8_t type;
        uint32_t offset, length, raw_length;
} PackEntry;

typedef struct PackWriter PackWriter;

int pack_writer_new(uint8_t type, PackWriter **out);
void pack_writer_free(PackWriter *w);
/* Give an empty writer an emptied buffer of an earlier pack to fill (its
 * pages already faulted in); the writer owns it from now on. */
void pack_writer_adopt(PackWriter *w, Buf *spare);
/* Append one sealed blob; returns its offset in the pack (>= 0). */
int64_t pack_writer_add(PackWriter *w, const uint8_t id[ID_LEN], const void *sealed, size_t n, uint32_t raw_len);
size_t pack_writer_size(const PackWriter *w);
size_t pack_writer_count(const PackWriter *w);
uint8_t pack_writer_type(const PackWriter *w);
/* Seal the header onto the pack, compute its id, and hand over the bytes
 * and records (caller frees both with free()/buf_free()). */
int pack_writer_finish(PackWriter *w, const MasterKey *k, uint8_t id[ID_LEN], Buf *bytes, PackEntry **entries,
                       size_t *n);

/* The id of a whole pack held in memory (-EBADMSG if it has no valid tail). */
int pack_id_of(const uint8_t *pack, size_t len, uint8_t id[ID_LEN]);
/* Encode/decode the sealed header (without the trailing length). */
int pack_header_encode(const MasterKey *k, const PackEntry *e, size_t n, Buf *out);
int pack_header_decode(const MasterKey *k, const uint8_t *sealed, size_t len, PackEntry **out, size_t *n);
/* Read and decode the header of a stored pack of the given size. */
int pack_read_header(Backend *be, const MasterKey *k, const char *name, uint64_t size, PackEntry **out, size_t *n);
/* "data/ab/ab12..." for an id. */
void pack_name(const uint8_t id[ID_LEN], char out[ID_HEX_LEN + 9]);
