/* index.h — where every blob is: the in-memory table and index files.
 *
 * In memory: a dense array of 48-byte entries (id, pack number with the
 * blob type in its top bit, offset, length, raw length) and an open
 * addressing table of uint32 positions into it, kept at most 3/4 full.
 * With the array reserved to size, that is at most 48 + 11 bytes a blob;
 * index_memory() reports the real figure. Pack ids are stored once each.
 *
 * Index files (index/<id>), sealed with the master key, hold records
 *   pack id (32) || count (4 LE) || count x pack header record (45 bytes)
 * back to back, one per pack.
 *
 * Not thread-safe: the repository serialises access. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "pack.h"

#define INDEX_PACK_PENDING UINT32_MAX /* blob being written; pack not known yet */

typedef struct IndexEntry {
        uint32_t pack;
        uint8_t type;
        uint32_t offset, length, raw_length;
} IndexEntry;

typedef struct Index Index;

int index_new(Index **out);
void index_free(Index *ix);
/* Make room for n more blobs without regrowing. */
int index_reserve(Index *ix, size_t n);
/* Register a pack id; returns its number (>= 0). Idempotent. */
int64_t index_add_pack(Index *ix, const uint8_t pack_id[ID_LEN]);
/* Add a blob; returns 1 if added, 0 if the id was already there. */
int index_add(Index *ix, const uint8_t id[ID_LEN], const IndexEntry *e);
/* Replace the entry of a blob that is present. */
int index_set(Index *ix, const uint8_t id[ID_LEN], const IndexEntry *e);
bool index_find(const Index *ix, const uint8_t id[ID_LEN], IndexEntry *out);
/* Remove a blob (a pending one whose write failed). */
int index_remove(Index *ix, const uint8_t id[ID_LEN]);
/* Borrowed, valid while ix lives and no pack is added. */
const uint8_t *index_pack_id(const Index *ix, uint32_t pack);
size_t index_count(const Index *ix);
size_t index_pack_count(const Index *ix);
/* Bytes of memory the index holds (arrays and table). */
size_t index_memory(const Index *ix);
typedef int (*index_foreach_cb)(const uint8_t id[ID_LEN], const IndexEntry *e, void *ud);
int index_foreach(const Index *ix, index_foreach_cb cb, void *ud);

/* Index files. */
typedef struct IndexPack {
        uint8_t id[ID_LEN];
        PackEntry *entries;
        size_t n;
} IndexPack;
int index_file_encode(const MasterKey *k, const IndexPack *packs, size_t n, Buf *out);
typedef int (*index_file_cb)(const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n, void *ud);
int index_file_decode(const MasterKey *k, const uint8_t *sealed, size_t len, index_file_cb cb, void *ud);
