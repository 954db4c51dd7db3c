/* repo.h — an open repository: its backend, keys, config, index and the
 * blob store that the pipeline writes into.
 *
 * config (sealed with the master key) is JSON:
 *   {"version":1,"id":"<hex>","chunker_seed":"<hex 32>","chunk_min":N,
 *    "chunk_avg":N,"chunk_max":N,"pack_size":N,"compression":"auto"}
 *
 * Blob saving is thread-safe: each caller hashes, compresses and seals on
 * its own thread; packs are appended under the repository mutex and written
 * by whichever thread fills them. Write order is packs, then index, then
 * snapshot: repo_flush() writes the open packs and an index file for every
 * pack written since the last flush. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "chunker.h"
#include "compress.h"
#include "crypto.h"
#include "index.h"
#include "key.h"
#include "tree.h"

typedef struct Repo Repo;

typedef struct RepoInitOptions {
        KdfParams kdf;
        size_t chunk_min, chunk_avg, chunk_max; /* 0: defaults */
        size_t pack_size;                       /* 0: default */
        int compression;                        /* COMPRESS_* */
} RepoInitOptions;

typedef struct RepoStats {
        uint64_t blobs_new[2];    /* by type */
        uint64_t bytes_new_raw;   /* plaintext of new blobs */
        uint64_t bytes_new_stored; /* sealed bytes of new blobs in packs */
        uint64_t packs_written;
        uint64_t pack_buffers_reused; /* packs filled in a written pack's buffer */
        uint64_t blobs_zstd1; /* "auto" blobs stored at zstd 1, as their file's hint said */
} RepoStats;

int repo_init(const char *location, const char *pw, size_t pwlen, const RepoInitOptions *opt, Repo **out);
/* Opens and checks the password; does not load the index. Errors:
 * -ENOENT (no repository), -EACCES (wrong password). */
int repo_open(const char *location, const char *pw, size_t pwlen, Repo **out);
/* Flushes nothing: call repo_flush() first if blobs were saved. */
void repo_close(Repo *r);
/* The same on a backend the caller keeps (tests reopen one in-memory
 * backend several times): repo_close() leaves it open. */
int repo_init_on(Backend *be, const char *pw, size_t pwlen, const RepoInitOptions *opt, Repo **out);
int repo_open_on(Backend *be, const char *pw, size_t pwlen, Repo **out);

/* Load the index files not loaded yet (all of them the first time; those
 * written since, later: the mount calls it when new snapshots appear).
 * Thread-safe. */
int repo_load_index(Repo *r);
/* Add one pack's entries to the in-memory index (check builds the index
 * this way so that one damaged index file does not stop it). */
int repo_index_add_pack(Repo *r, const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n);

Backend *repo_backend(Repo *r);
const MasterKey *repo_key(Repo *r);
const Chunker *repo_chunker(Repo *r);
const char *repo_location(Repo *r);
const char *repo_id(Repo *r); /* hex */
const char *repo_key_id(Repo *r);
int repo_compression(Repo *r);
void repo_set_compression(Repo *r, int level);
/* The index; callers outside the pipeline (check, prune, stats) may use it
 * when no save is running. */
Index *repo_index(Repo *r);

/* Save a blob unless one with its id exists. *added (optional) tells which.
 * id_out gets the blob id. Thread-safe. */
int repo_blob_save(Repo *r, uint8_t type, const void *p, size_t n, uint8_t id_out[ID_LEN], bool *added);
/* Same with an id the caller computed already (crypto_blob_id). */
int repo_blob_save_id(Repo *r, uint8_t type, const uint8_t id[ID_LEN], const void *p, size_t n, bool *added);
/* The same, compressed with the hint of the file it belongs to (see
 * compress.h; NULL: none). */
int repo_blob_save_hint(Repo *r, uint8_t type, const uint8_t id[ID_LEN], const void *p, size_t n,
                        CompressHint *hint, bool *added);
bool repo_blob_has(Repo *r, const uint8_t id[ID_LEN]);
/* Append the plaintext of a blob to out. -ENOENT unknown id, -EBADMSG
 * damaged. Thread-safe. */
int repo_blob_load(Repo *r, const uint8_t id[ID_LEN], Buf *out);
/* A data blob for a stream that checks its content end to end: read into
 * span, decrypted there, *plain pointing at its bytes (in span, or in out
 * when it was decompressed); returns their length. Both buffers are reused
 * from call to call. Authenticated by the AEAD alone, as the restorer and
 * the mount read: the keyed-hash check of repo_blob_load is the caller's.
 * Thread-safe. */
int64_t repo_blob_read(Repo *r, const uint8_t id[ID_LEN], Buf *span, Buf *out, const uint8_t **plain);
/* Where a blob is stored: its pack's name and index entry. -ENOENT if
 * unknown or not yet written. Thread-safe. */
int repo_blob_locate(Repo *r, const uint8_t id[ID_LEN], char pack[ID_HEX_LEN + 9], IndexEntry *e);
/* Plaintext length of a blob, or -ENOENT. */
int64_t repo_blob_size(Repo *r, const uint8_t id[ID_LEN]);
/* Open a stored blob in place: sealed is overwritten (readers that own
 * the bytes they read save a copy and a per-thread buffer). A blob stored
 * uncompressed stays where it was decrypted: *plain points to its raw_len
 * bytes inside sealed and out is untouched; else *plain is NULL and out
 * got the decompressed bytes. */
int repo_blob_open_inplace(Repo *r, uint8_t *sealed, size_t n, uint32_t raw_len, Buf *out,
                           const uint8_t **plain);
/* Decode a stored blob read from a pack (sealed bytes) into out. */
int repo_blob_decode(Repo *r, const uint8_t *sealed, size_t n, uint32_t raw_len, Buf *out);

int repo_tree_load(Repo *r, const uint8_t id[ID_LEN], Tree **out);
int repo_tree_save(Repo *r, const Tree *t, uint8_t id_out[ID_LEN]);

/* Write open packs and the index of everything new since the last flush. */
int repo_flush(Repo *r);
void repo_stats(Repo *r, RepoStats *out);

/* Whole sealed objects under a directory ("snapshots", "locks"): named by
 * the object id of the sealed bytes. */
int repo_object_save(Repo *r, const char *dir, const void *p, size_t n, char id_out[ID_HEX_LEN + 1]);
int repo_object_load(Repo *r, const char *name, Buf *out);
int repo_json_save(Repo *r, const char *dir, json_t *j, char id_out[ID_HEX_LEN + 1]);
int repo_json_load(Repo *r, const char *name, json_t **out);

/* Pack-level helpers for check and prune. */
typedef struct RepoPackWriteResult {
        uint8_t id[ID_LEN];
        PackEntry *entries;
        size_t n;
} RepoPackWriteResult;
/* Write the index file for the given packs. */
int repo_index_write(Repo *r, const IndexPack *packs, size_t n, char id_out[ID_HEX_LEN + 1]);
