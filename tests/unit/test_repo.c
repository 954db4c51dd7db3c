/* test_repo.c — unit tests for repo/repo.c and what runs on top of it:
 * snapshots, locks, check and prune.
 *
 * Everything runs on the in-memory backend with the cheapest KDF, and the
 * tests count the objects the engine leaves there (backend_list) rather
 * than trusting its own statistics. Blob contents are random so they are
 * stored raw and their sealed sizes are known exactly: n + 1 (compression
 * header) + CRYPTO_OVERHEAD. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "compress.h"
#include "lock.h"
#include "prune.h"
#include "inventory.h"
#include "repo.h"
#include "snapshot.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(repo, .init = setup);

#define PW "secret"
#define PWLEN 6
#define STORED(n) ((n) + 1 + CRYPTO_OVERHEAD) /* sealed size of n raw bytes */

static RepoInitOptions opts(size_t pack_size)
{
        RepoInitOptions o = {.pack_size = pack_size, .compression = COMPRESS_AUTO};
        cr_assert_eq(key_kdf_parse("min", &o.kdf), 0);
        return o;
}

static Backend *mem(void)
{
        Backend *be = NULL;
        cr_assert_eq(backend_mem_open(&be), 0);
        return be;
}

static Repo *init_on(Backend *be, size_t pack_size)
{
        RepoInitOptions o = opts(pack_size);
        Repo *r = NULL;
        cr_assert_eq(repo_init_on(be, PW, PWLEN, &o, &r), 0);
        cr_assert_not_null(r);
        return r;
}

static Repo *open_on(Backend *be, bool load_index)
{
        Repo *r = NULL;
        cr_assert_eq(repo_open_on(be, PW, PWLEN, &r), 0);
        if (load_index)
                cr_assert_eq(repo_load_index(r), 0);
        return r;
}

static int count_cb(const char *name, uint64_t size, void *ud)
{
        (*(size_t *)ud)++;
        return 0;
}

static size_t count(Backend *be, const char *prefix)
{
        size_t n = 0;
        cr_assert_eq(backend_list(be, prefix, count_cb, &n), 0);
        return n;
}

typedef struct Names {
        char v[128][ID_HEX_LEN + 16];
        size_t n;
} Names;

static int names_cb(const char *name, uint64_t size, void *ud)
{
        Names *x = ud;
        cr_assert_lt(x->n, 128);
        snprintf(x->v[x->n++], sizeof(x->v[0]), "%s", name);
        return 0;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint8_t *random_blob(size_t n)
{
        uint8_t *p = malloc(n ? n : 1);
        cr_assert_not_null(p);
        for (size_t i = 0; i < n; i++) {
                uint64_t x = rng_state;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                rng_state = x;
                p[i] = (uint8_t)(x >> 24);
        }
        return p;
}

static void save_random(Repo *r, size_t n, uint8_t id[ID_LEN], uint8_t **data_out)
{
        uint8_t *p = random_blob(n);
        bool added = false;
        cr_assert_eq(repo_blob_save(r, BLOB_DATA, p, n, id, &added), 0);
        cr_assert(added);
        if (data_out)
                *data_out = p;
        else
                free(p);
}

static void assert_blob(Repo *r, const uint8_t id[ID_LEN], const uint8_t *want, size_t n)
{
        Buf b = {0};
        cr_assert_eq(repo_blob_load(r, id, &b), 0);
        cr_assert_eq(b.len, n);
        cr_assert_arr_eq(b.data, want, n);
        cr_assert_eq(repo_blob_size(r, id), (int64_t)n);
        buf_free(&b);
}

/* The name of the pack holding a blob, from the loaded index. */
static void pack_of(Repo *r, const uint8_t id[ID_LEN], char name[ID_HEX_LEN + 9], IndexEntry *e)
{
        cr_assert(index_find(repo_index(r), id, e));
        cr_assert_neq(e->pack, INDEX_PACK_PENDING);
        const uint8_t *pid = index_pack_id(repo_index(r), e->pack);
        cr_assert_not_null(pid);
        pack_name(pid, name);
}

/* A tree of files, one per content blob, named f00, f01, ... */
static Tree *files_tree(uint8_t (*ids)[ID_LEN], size_t n)
{
        Tree *t = NULL;
        cr_assert_eq(tree_new(&t), 0);
        for (size_t i = 0; i < n; i++) {
                Node *nd = tree_add(t);
                char name[16];
                snprintf(name, sizeof(name), "f%02zu", i);
                nd->name = strdup(name);
                nd->type = NODE_FILE;
                nd->mode = 0644;
                nd->size = 1000;
                nd->ncontent = 1;
                nd->content = malloc(ID_LEN);
                memcpy(nd->content[0], ids[i], ID_LEN);
        }
        return t;
}

static Snapshot *snapshot_make(int64_t sec, const char *host, const uint8_t tree[ID_LEN])
{
        Snapshot *s = calloc(1, sizeof(*s));
        cr_assert_not_null(s);
        s->time_sec = sec;
        s->time_nsec = 250;
        s->host = strdup(host);
        s->username = strdup("tester");
        s->kind = strdup("files");
        s->source = strdup("/src");
        s->npaths = 1;
        s->paths = calloc(2, sizeof(char *));
        s->paths[0] = strdup("/src");
        memcpy(s->tree, tree, ID_LEN);
        return s;
}

/* ---- init and open ---- */

Test(repo, init_then_open)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        char id[ID_HEX_LEN + 1], key_id[ID_HEX_LEN + 1];
        snprintf(id, sizeof(id), "%s", repo_id(r));
        snprintf(key_id, sizeof(key_id), "%s", repo_key_id(r));
        cr_assert_eq(strlen(id), ID_HEX_LEN);
        cr_assert_eq(repo_compression(r), COMPRESS_AUTO);
        cr_assert_eq(chunker_min(repo_chunker(r)), CHUNKER_MIN_DEFAULT);
        cr_assert_eq(chunker_max(repo_chunker(r)), CHUNKER_MAX_DEFAULT);
        cr_assert_eq(count(be, "config"), 1);
        cr_assert_eq(count(be, "keys/"), 1);
        uint8_t k_enc[CRYPTO_KEY_LEN];
        memcpy(k_enc, repo_key(r)->enc, CRYPTO_KEY_LEN);
        repo_close(r);

        r = open_on(be, false);
        cr_assert_str_eq(repo_id(r), id);
        cr_assert_str_eq(repo_key_id(r), key_id);
        cr_assert_arr_eq(repo_key(r)->enc, k_enc, CRYPTO_KEY_LEN);
        cr_assert_eq(repo_compression(r), COMPRESS_AUTO);
        cr_assert_eq(repo_backend(r), be);
        repo_close(r);

        RepoInitOptions o = opts(0);
        cr_assert_eq(repo_init_on(be, PW, PWLEN, &o, &r), -EEXIST, "a repository is there");
        backend_close(be);
}

Test(repo, open_wrong_password_is_eacces)
{
        Backend *be = mem();
        repo_close(init_on(be, 0));
        Repo *r = NULL;
        cr_assert_eq(repo_open_on(be, "secreT", 6, &r), -EACCES);
        cr_assert_eq(repo_open_on(be, PW, PWLEN - 1, &r), -EACCES);
        cr_assert_null(r);
        repo_close(open_on(be, false));
        backend_close(be);
}

Test(repo, open_empty_backend_is_enoent)
{
        Backend *be = mem();
        Repo *r = NULL;
        cr_assert_eq(repo_open_on(be, PW, PWLEN, &r), -ENOENT);
        cr_assert_null(r);
        backend_close(be);
}

Test(repo, custom_chunker_and_pack_sizes_persist)
{
        Backend *be = mem();
        RepoInitOptions o = opts(65536);
        o.chunk_min = 4096;
        o.chunk_avg = 16384;
        o.chunk_max = 65536;
        o.compression = COMPRESS_MAX;
        Repo *r = NULL;
        cr_assert_eq(repo_init_on(be, PW, PWLEN, &o, &r), 0);
        repo_close(r);
        r = open_on(be, false);
        cr_assert_eq(chunker_min(repo_chunker(r)), 4096);
        cr_assert_eq(chunker_max(repo_chunker(r)), 65536);
        cr_assert_eq(repo_compression(r), COMPRESS_MAX);
        repo_close(r);
        backend_close(be);
}

/* ---- blobs ---- */

Test(repo, blob_save_load_round_trip)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        static const char text[] = "hello, hello, hello, hello, hello, hello, hello, hello, hello, hello!";
        uint8_t tid[ID_LEN], rid[ID_LEN], eid[ID_LEN], want[ID_LEN];
        uint8_t *rnd = NULL;
        bool added = false;

        cr_assert_eq(repo_blob_save(r, BLOB_DATA, text, sizeof(text) - 1, tid, &added), 0);
        cr_assert(added);
        crypto_blob_id(repo_key(r), text, sizeof(text) - 1, want);
        cr_assert_arr_eq(tid, want, ID_LEN, "the id is the keyed hash of the plaintext");
        save_random(r, 100000, rid, &rnd);
        cr_assert_eq(repo_blob_save(r, BLOB_DATA, "", 0, eid, NULL), 0, "empty blob; added is optional");
        cr_assert(repo_blob_has(r, tid));
        cr_assert_eq(repo_flush(r), 0);

        assert_blob(r, tid, (const uint8_t *)text, sizeof(text) - 1);
        assert_blob(r, rid, rnd, 100000);
        Buf b = {0};
        cr_assert_eq(repo_blob_load(r, eid, &b), 0);
        cr_assert_eq(b.len, 0);
        cr_assert_eq(repo_blob_size(r, eid), 0);

        /* loads append to what the buffer holds */
        cr_assert_eq(buf_append(&b, "xy", 2), 0);
        cr_assert_eq(repo_blob_load(r, tid, &b), 0);
        cr_assert_eq(b.len, 2 + sizeof(text) - 1);
        cr_assert_arr_eq(b.data, "xyhello", 7);

        buf_free(&b);
        free(rnd);
        repo_close(r);
        backend_close(be);
}

Test(repo, blob_unknown_id_is_enoent)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t id[ID_LEN] = {1, 2, 3};
        Buf b = {0};
        cr_assert_eq(repo_blob_load(r, id, &b), -ENOENT);
        cr_assert_eq(repo_blob_size(r, id), -ENOENT);
        cr_assert_not(repo_blob_has(r, id));
        repo_close(r);
        backend_close(be);
}

Test(repo, blob_saved_twice_added_once)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t *p = random_blob(1000);
        uint8_t id1[ID_LEN], id2[ID_LEN];
        bool added = false;
        RepoStats st;

        cr_assert_eq(repo_blob_save(r, BLOB_DATA, p, 1000, id1, &added), 0);
        cr_assert(added);
        cr_assert_eq(repo_blob_save(r, BLOB_DATA, p, 1000, id2, &added), 0);
        cr_assert_not(added);
        cr_assert_arr_eq(id1, id2, ID_LEN);
        repo_stats(r, &st);
        cr_assert_eq(st.blobs_new[BLOB_DATA], 1);
        cr_assert_eq(st.blobs_new[BLOB_TREE], 0);
        cr_assert_eq(st.bytes_new_raw, 1000);
        cr_assert_eq(st.bytes_new_stored, STORED(1000));
        cr_assert_eq(st.packs_written, 0, "nothing written before a flush");

        cr_assert_eq(repo_flush(r), 0);
        /* after the flush too */
        cr_assert_eq(repo_blob_save(r, BLOB_DATA, p, 1000, id2, &added), 0);
        cr_assert_not(added);
        repo_stats(r, &st);
        cr_assert_eq(st.blobs_new[BLOB_DATA], 1);
        cr_assert_eq(st.packs_written, 1);
        repo_close(r);

        /* and after reopening with the index loaded */
        r = open_on(be, true);
        cr_assert_eq(repo_blob_save(r, BLOB_DATA, p, 1000, id2, &added), 0);
        cr_assert_not(added);
        repo_stats(r, &st);
        cr_assert_eq(st.blobs_new[BLOB_DATA], 0);
        cr_assert_eq(repo_flush(r), 0);
        cr_assert_eq(count(be, "data/"), 1);

        free(p);
        repo_close(r);
        backend_close(be);
}

Test(repo, flush_writes_one_pack_per_type_and_one_index)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t ids[3][ID_LEN], tid[ID_LEN];
        for (int i = 0; i < 3; i++)
                save_random(r, 1000 + (size_t)i, ids[i], NULL);
        Tree *t = files_tree(ids, 3);
        cr_assert_eq(repo_tree_save(r, t, tid), 0);
        tree_free(t);
        t = files_tree(ids, 2);
        cr_assert_eq(repo_tree_save(r, t, tid), 0);
        tree_free(t);
        cr_assert_eq(count(be, "data/"), 0);
        cr_assert_eq(count(be, "index/"), 0);

        BackendMemStats before, after;
        backend_mem_stats(be, &before);
        cr_assert_eq(repo_flush(r), 0);
        backend_mem_stats(be, &after);
        cr_assert_eq(after.writes - before.writes, 3, "two packs and one index file");
        cr_assert_eq(after.reads - before.reads, 0);
        cr_assert_eq(count(be, "data/"), 2);
        cr_assert_eq(count(be, "index/"), 1);
        RepoStats st;
        repo_stats(r, &st);
        cr_assert_eq(st.packs_written, 2);
        cr_assert_eq(st.blobs_new[BLOB_DATA], 3);
        cr_assert_eq(st.blobs_new[BLOB_TREE], 2);

        /* the data pack's exact size: blobs, header, length */
        char name[ID_HEX_LEN + 9];
        IndexEntry e;
        pack_of(r, ids[0], name, &e);
        cr_assert_eq(e.type, BLOB_DATA);
        cr_assert_eq(e.length, STORED(1000));
        uint64_t size = 0;
        cr_assert_eq(backend_stat(be, name, &size), 0);
        cr_assert_eq(size, STORED(1000) + STORED(1001) + STORED(1002) + 3 * PACK_RECORD_LEN + CRYPTO_OVERHEAD + 4);
        pack_of(r, tid, name, &e);
        cr_assert_eq(e.type, BLOB_TREE);

        /* nothing new: a flush writes nothing */
        backend_mem_stats(be, &before);
        cr_assert_eq(repo_flush(r), 0);
        backend_mem_stats(be, &after);
        cr_assert_eq(after.writes, before.writes);
        cr_assert_eq(count(be, "index/"), 1);

        repo_close(r);
        backend_close(be);
}

Test(repo, reopen_load_index_finds_every_blob)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        enum { NB = 50 };
        uint8_t ids[NB][ID_LEN];
        uint8_t *data[NB];
        for (size_t i = 0; i < NB; i++)
                save_random(r, 500 + 37 * i, ids[i], &data[i]);
        cr_assert_eq(repo_flush(r), 0);
        repo_close(r);

        r = open_on(be, false);
        cr_assert_not(repo_blob_has(r, ids[0]), "the index is not loaded by open");
        cr_assert_eq(repo_load_index(r), 0);
        cr_assert_eq(index_count(repo_index(r)), NB);
        cr_assert_eq(index_pack_count(repo_index(r)), 1);
        for (size_t i = 0; i < NB; i++) {
                cr_assert(repo_blob_has(r, ids[i]));
                assert_blob(r, ids[i], data[i], 500 + 37 * i);
                free(data[i]);
        }
        repo_close(r);
        backend_close(be);
}

Test(repo, flipped_pack_byte_loads_as_ebadmsg)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t a[ID_LEN], b[ID_LEN];
        uint8_t *adata, *bdata;
        save_random(r, 1000, a, &adata);
        save_random(r, 1000, b, &bdata);
        cr_assert_eq(repo_flush(r), 0);
        repo_close(r);

        r = open_on(be, true);
        char name[ID_HEX_LEN + 9];
        IndexEntry e;
        pack_of(r, a, name, &e);
        cr_assert_eq(e.offset, 0);
        /* nonce, ciphertext and tag of blob a */
        const uint64_t where[] = {0, 500, STORED(1000) - 1};
        for (size_t i = 0; i < ELEMENTSOF(where); i++) {
                cr_assert_eq(backend_mem_flip(be, name, where[i]), 0);
                Buf out = {0};
                cr_assert_eq(repo_blob_load(r, a, &out), -EBADMSG, "offset %llu", (unsigned long long)where[i]);
                cr_assert_eq(out.len, 0, "nothing appended");
                assert_blob(r, b, bdata, 1000); /* its neighbour is fine */
                cr_assert_eq(backend_mem_flip(be, name, where[i]), 0);
                buf_free(&out);
        }
        assert_blob(r, a, adata, 1000);
        free(adata);
        free(bdata);
        repo_close(r);
        backend_close(be);
}

Test(repo, blobs_beyond_pack_size_make_several_packs)
{
        /* 10,000 raw bytes are 10,041 sealed: a 64 KiB pack is full (>=
         * 65,536) at its 7th blob, so 40 blobs are 5 full packs handed to the
         * uploaders while saving and a 6th of 5 blobs written by the flush.
         * Uploads run on their own threads: which pack lands first is not
         * fixed, which blobs share a pack is. */
        Backend *be = mem();
        Repo *r = init_on(be, 64 * 1024);
        enum { NB = 40 };
        uint8_t ids[NB][ID_LEN];
        uint8_t *data[NB];
        RepoStats st;
        for (size_t i = 0; i < NB; i++)
                save_random(r, 10000, ids[i], &data[i]);
        cr_assert_eq(count(be, "index/"), 0, "the index waits for the flush");
        cr_assert_eq(repo_flush(r), 0);
        repo_stats(r, &st);
        cr_assert_eq(st.packs_written, 6);
        cr_assert_eq(st.bytes_new_stored, NB * STORED(10000));
        cr_assert_eq(count(be, "data/"), 6);
        cr_assert_eq(count(be, "index/"), 1);
        repo_close(r);

        r = open_on(be, true);
        cr_assert_eq(index_pack_count(repo_index(r)), 6);
        cr_assert_eq(index_count(repo_index(r)), NB);
        uint32_t first_pack[NB / 7 + 1];
        for (size_t i = 0; i < NB; i++) {
                IndexEntry e;
                char name[ID_HEX_LEN + 9];
                pack_of(r, ids[i], name, &e);
                if (i % 7 == 0) {
                        first_pack[i / 7] = e.pack;
                        for (size_t g = 0; g < i / 7; g++)
                                cr_assert_neq(first_pack[g], e.pack, "blob %zu shares a pack with group %zu", i, g);
                }
                cr_assert_eq(e.pack, first_pack[i / 7], "blob %zu", i);
                cr_assert_eq(e.offset, (i % 7) * STORED(10000));
                assert_blob(r, ids[i], data[i], 10000);
                free(data[i]);
        }
        repo_close(r);
        backend_close(be);
}

typedef struct Sizes {
        uint64_t v[16];
        size_t n;
} Sizes;

static int sizes_cb(const char *name, uint64_t size, void *ud)
{
        Sizes *x = ud;
        cr_assert_lt(x->n, ELEMENTSOF(x->v));
        x->v[x->n++] = size;
        return 0;
}

Test(repo, pack_fills_the_buffer_of_a_written_pack)
{
        /* 7 blobs fill a 64 KiB pack (see above); once it is written its
         * buffer, still holding its bytes, is the next pack's: that pack
         * must start at offset 0 and hold only its own blobs */
        Backend *be = mem();
        Repo *r = init_on(be, 64 * 1024);
        enum { NB = 14 };
        uint8_t ids[NB][ID_LEN];
        uint8_t *data[NB];
        RepoStats st;
        for (size_t i = 0; i < 7; i++)
                save_random(r, 10000, ids[i], &data[i]);
        cr_assert_eq(repo_flush(r), 0, "waits for the full pack's upload");
        repo_stats(r, &st);
        cr_assert_eq(st.packs_written, 1);
        cr_assert_eq(st.pack_buffers_reused, 0);
        for (size_t i = 7; i < NB; i++)
                save_random(r, 10000, ids[i], &data[i]);
        cr_assert_eq(repo_flush(r), 0);
        repo_stats(r, &st);
        cr_assert_eq(st.packs_written, 2);
        cr_assert_eq(st.pack_buffers_reused, 1, "the second pack reused the first one's buffer");
        repo_close(r);

        r = open_on(be, true);
        char first[ID_HEX_LEN + 9] = "";
        for (size_t i = 0; i < NB; i++) {
                IndexEntry e;
                char name[ID_HEX_LEN + 9];
                pack_of(r, ids[i], name, &e);
                if (i == 0)
                        memcpy(first, name, sizeof(first));
                if (i < 7)
                        cr_assert_str_eq(name, first, "blob %zu", i);
                else
                        cr_assert_str_neq(name, first, "blob %zu", i);
                cr_assert_eq(e.offset, (i % 7) * STORED(10000), "blob %zu", i);
                assert_blob(r, ids[i], data[i], 10000);
                free(data[i]);
        }
        /* both packs: 7 blobs, a sealed header of 7 records, its length —
         * the same size, and nothing of the first pack left in the second */
        Sizes sz = {0};
        cr_assert_eq(backend_list(be, "data/", sizes_cb, &sz), 0);
        cr_assert_eq(sz.n, 2);
        cr_assert_gt(sz.v[0], 7 * STORED(10000));
        cr_assert_eq(sz.v[0], sz.v[1]);
        repo_close(r);
        backend_close(be);
}

static int count_packs_cb(const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n, void *ud)
{
        (*(size_t *)ud)++;
        return 0;
}

Test(repo, index_written_every_64_packs)
{
        /* one blob per pack: the 64th pack written writes an index file of
         * its own so that a long backup keeps its progress; packs are written
         * by uploader threads, so only the end state is fixed: one index of
         * 64 packs and one, from the flush, of the other 6 */
        Backend *be = mem();
        Repo *r = init_on(be, 4096);
        enum { NB = 70 };
        uint8_t ids[NB][ID_LEN];
        for (size_t i = 0; i < NB; i++) {
                save_random(r, 5000, ids[i], NULL);
                cr_assert_leq(count(be, "index/"), 1u, "after blob %zu", i);
        }
        cr_assert_eq(repo_flush(r), 0);
        cr_assert_eq(count(be, "data/"), NB);
        cr_assert_eq(count(be, "index/"), 2);
        size_t sizes[2] = {0}, k = 0;
        for (size_t i = 0; i < NB; i++)
                cr_assert_eq(repo_blob_size(r, ids[i]), 5000);
        /* the two index files hold 64 and 6 packs */
        Inventory inv;
        cr_assert_eq(inventory_load(r, &inv, NULL, NULL), 0);
        cr_assert_eq(inv.nindex, 2);
        for (size_t f = 0; f < inv.nindex; f++) {
                Buf b = {0};
                cr_assert_eq(backend_read(be, inv.index_files[f], 0, 0, &b), 0);
                size_t packs = 0;
                cr_assert_eq(index_file_decode(repo_key(r), b.data, b.len, count_packs_cb, &packs), 0);
                sizes[k++] = packs;
                buf_free(&b);
        }
        inventory_free(&inv);
        cr_assert((sizes[0] == 64 && sizes[1] == 6) || (sizes[0] == 6 && sizes[1] == 64), "index files of %zu and %zu packs",
                  sizes[0], sizes[1]);
        repo_close(r);

        r = open_on(be, true);
        cr_assert_eq(index_count(repo_index(r)), NB);
        cr_assert_eq(index_pack_count(repo_index(r)), NB);
        for (size_t i = 0; i < NB; i++)
                cr_assert_eq(repo_blob_size(r, ids[i]), 5000);
        repo_close(r);
        backend_close(be);
}

Test(repo, tree_save_load_round_trip)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t ids[4][ID_LEN], tid[ID_LEN], again[ID_LEN], sub[ID_LEN];
        for (int i = 0; i < 4; i++)
                save_random(r, 300, ids[i], NULL);
        Tree *leaf = files_tree(ids, 4);
        cr_assert_eq(repo_tree_save(r, leaf, sub), 0);

        Tree *t = files_tree(ids, 2);
        Node *d = tree_add(t);
        d->name = strdup("sub");
        d->type = NODE_DIR;
        d->mode = 0755;
        d->has_subtree = true;
        memcpy(d->subtree, sub, ID_LEN);
        Node *l = tree_add(t);
        l->name = strdup("zlink\xff");
        l->type = NODE_SYMLINK;
        l->linktarget = strdup("f00");
        l->mtime = (Timespec){1700000000, 5};
        tree_sort(t);
        cr_assert_eq(repo_tree_save(r, t, tid), 0);
        cr_assert_eq(repo_tree_save(r, t, again), 0);
        cr_assert_arr_eq(tid, again, ID_LEN, "the same tree, the same blob");
        RepoStats st;
        repo_stats(r, &st);
        cr_assert_eq(st.blobs_new[BLOB_TREE], 2);
        cr_assert_eq(repo_flush(r), 0);
        repo_close(r);

        r = open_on(be, true);
        Tree *back = NULL;
        cr_assert_eq(repo_tree_load(r, tid, &back), 0);
        cr_assert_eq(back->n, 4);
        cr_assert_str_eq(back->nodes[0].name, "f00");
        cr_assert_arr_eq(back->nodes[0].content[0], ids[0], ID_LEN);
        cr_assert_str_eq(back->nodes[1].name, "f01");
        cr_assert_arr_eq(back->nodes[1].content[0], ids[1], ID_LEN);
        cr_assert_eq(back->nodes[1].size, 1000);
        Node *bd = tree_find(back, "sub");
        cr_assert_not_null(bd);
        cr_assert_eq(bd->type, NODE_DIR);
        cr_assert(bd->has_subtree);
        cr_assert_arr_eq(bd->subtree, sub, ID_LEN);
        Node *bl = tree_find(back, "zlink\xff");
        cr_assert_not_null(bl);
        cr_assert_str_eq(bl->linktarget, "f00");
        cr_assert_eq(bl->mtime.sec, 1700000000);
        cr_assert_eq(bl->mtime.nsec, 5);
        tree_free(back);
        cr_assert_eq(repo_tree_load(r, sub, &back), 0);
        cr_assert_eq(back->n, 4);
        tree_free(back);

        /* a data blob is not a tree */
        cr_assert_eq(repo_tree_load(r, ids[0], &back), -EBADMSG);
        uint8_t unknown[ID_LEN] = {7};
        cr_assert_eq(repo_tree_load(r, unknown, &back), -ENOENT);

        tree_free(t);
        tree_free(leaf);
        repo_close(r);
        backend_close(be);
}

/* ---- snapshots ---- */

Test(repo, snapshot_save_load_round_trip)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t tree[ID_LEN], parent[ID_LEN];
        memset(tree, 0xab, ID_LEN);
        memset(parent, 0xcd, ID_LEN);
        Snapshot *s = snapshot_make(1767323045, "host1", tree);
        s->has_parent = true;
        memcpy(s->parent, parent, ID_LEN);
        s->ntags = 2;
        s->tags = calloc(3, sizeof(char *));
        s->tags[0] = strdup("daily");
        s->tags[1] = strdup("db");
        s->summary = json_pack("{s:i}", "files", 3);
        cr_assert_eq(snapshot_save(r, s), 0);
        cr_assert_eq(strlen(s->id), ID_HEX_LEN);
        char name[ID_HEX_LEN + 16];
        snprintf(name, sizeof(name), "snapshots/%s", s->id);
        uint64_t size;
        cr_assert_eq(backend_stat(be, name, &size), 0);

        Snapshot *back = NULL;
        cr_assert_eq(snapshot_load(r, s->id, &back), 0);
        cr_assert_str_eq(back->id, s->id);
        cr_assert_eq(back->time_sec, 1767323045);
        cr_assert_eq(back->time_nsec, 250);
        cr_assert_str_eq(back->host, "host1");
        cr_assert_str_eq(back->username, "tester");
        cr_assert_str_eq(back->kind, "files");
        cr_assert_str_eq(back->source, "/src");
        cr_assert_eq(back->npaths, 1);
        cr_assert_str_eq(back->paths[0], "/src");
        cr_assert_eq(back->ntags, 2);
        cr_assert_str_eq(back->tags[1], "db");
        cr_assert(snapshot_has_tag(back, "daily"));
        cr_assert_not(snapshot_has_tag(back, "weekly"));
        cr_assert_arr_eq(back->tree, tree, ID_LEN);
        cr_assert(back->has_parent);
        cr_assert_arr_eq(back->parent, parent, ID_LEN);
        cr_assert_eq(json_integer_value(json_object_get(back->summary, "files")), 3);

        snapshot_free(back);
        snapshot_free(s);
        snapshot_free(NULL);
        repo_close(r);
        backend_close(be);
}

Test(repo, snapshot_tampered_is_ebadmsg)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t tree[ID_LEN] = {1};
        Snapshot *s = snapshot_make(1700000000, "h", tree), *back = NULL;
        cr_assert_eq(snapshot_save(r, s), 0);
        char name[ID_HEX_LEN + 16];
        snprintf(name, sizeof(name), "snapshots/%s", s->id);
        cr_assert_eq(backend_mem_flip(be, name, 30), 0);
        cr_assert_eq(snapshot_load(r, s->id, &back), -EBADMSG);
        cr_assert_null(back);
        cr_assert_eq(backend_mem_flip(be, name, 30), 0);
        cr_assert_eq(snapshot_load(r, s->id, &back), 0);
        snapshot_free(back);
        cr_assert_eq(snapshot_load(r, "00", &back), -ENOENT);
        snapshot_free(s);
        repo_close(r);
        backend_close(be);
}

Test(repo, snapshot_list_and_find)
{
        /* 17 snapshots: two of them share a first hex digit whatever the
         * ids turn out to be, which makes an ambiguous prefix */
        enum { NS = 17 };
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t tree[ID_LEN] = {0};
        char ids[NS][ID_HEX_LEN + 1];
        /* saved in an order unrelated to their times */
        for (int i = 0; i < NS; i++) {
                int k = (i * 5) % NS;
                Snapshot *s = snapshot_make(1700000000 + 3600 * k, k % 2 ? "odd" : "even", tree);
                tree[0] = (uint8_t)k;
                memcpy(s->tree, tree, ID_LEN);
                cr_assert_eq(snapshot_save(r, s), 0);
                memcpy(ids[k], s->id, sizeof(ids[k]));
                snapshot_free(s);
        }
        Snapshot **list = NULL;
        size_t n = 0;
        cr_assert_eq(snapshot_list(r, &list, &n), 0);
        cr_assert_eq(n, NS);
        for (size_t i = 0; i < n; i++) {
                cr_assert_eq(list[i]->time_sec, 1700000000 + 3600 * (int64_t)i, "sorted oldest first");
                cr_assert_str_eq(list[i]->id, ids[i]);
                cr_assert_eq(list[i]->tree[0], i);
        }

        cr_assert_eq(snapshot_find(list, n, "latest", NULL), NS - 1);
        SnapshotFilter odd = {.host = "odd"}, none = {.host = "nobody"};
        cr_assert_eq(snapshot_find(list, n, "latest", &odd), 15);
        cr_assert_eq(snapshot_find(list, n, "latest", &none), -ENOENT);

        /* full ids and their shortest unique prefixes */
        int ambiguous = -1;
        for (size_t i = 0; i < n; i++) {
                cr_assert_eq(snapshot_find(list, n, ids[i], NULL), (int)i);
                for (size_t len = 1; len <= ID_HEX_LEN; len++) {
                        size_t matches = 0;
                        for (size_t j = 0; j < n; j++)
                                matches += strncmp(ids[j], ids[i], len) == 0;
                        char prefix[ID_HEX_LEN + 1];
                        snprintf(prefix, len + 1, "%s", ids[i]);
                        if (matches == 1) {
                                cr_assert_eq(snapshot_find(list, n, prefix, NULL), (int)i, "%s", prefix);
                                break;
                        }
                        cr_assert_eq(snapshot_find(list, n, prefix, NULL), -EEXIST, "%s", prefix);
                        if (len == 1)
                                ambiguous = (int)i;
                }
        }
        cr_assert_geq(ambiguous, 0, "pigeonhole: 17 ids, 16 first digits");

        cr_assert_eq(snapshot_find(list, n, "g", NULL), -ENOENT);
        cr_assert_eq(snapshot_find(list, n, "0000000000000000000000000000000000000000000000000000000000000000", NULL),
                     -ENOENT);
        char longer[ID_HEX_LEN + 2];
        snprintf(longer, sizeof(longer), "%s0", ids[3]);
        cr_assert_eq(snapshot_find(list, n, longer, NULL), -ENOENT, "longer than an id");
        cr_assert_eq(snapshot_find(list, 0, "latest", NULL), -ENOENT, "no snapshots");

        snapshot_list_free(list, n);
        repo_close(r);
        backend_close(be);
}

/* ---- locks ---- */

Test(repo, lock_shared_and_exclusive)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        RepoLock *a = NULL, *b = NULL, *x = NULL;

        cr_assert_eq(lock_acquire(r, false, &a), 0);
        cr_assert_eq(lock_acquire(r, false, &b), 0, "shared locks coexist");
        cr_assert_eq(count(be, "locks/"), 2);
        cr_assert_eq(lock_acquire(r, true, &x), -EBUSY);
        cr_assert_null(x);
        cr_assert_eq(count(be, "locks/"), 2, "the refused lock leaves nothing behind");

        lock_release(a);
        cr_assert_eq(count(be, "locks/"), 1);
        cr_assert_eq(lock_acquire(r, true, &x), -EBUSY, "one shared lock is still held");
        lock_release(b);
        cr_assert_eq(count(be, "locks/"), 0);

        cr_assert_eq(lock_acquire(r, true, &x), 0);
        cr_assert_eq(count(be, "locks/"), 1);
        cr_assert_eq(lock_acquire(r, false, &a), -EBUSY, "an exclusive lock excludes shared ones");
        RepoLock *y = NULL;
        cr_assert_eq(lock_acquire(r, true, &y), -EBUSY);
        lock_release(x);
        cr_assert_eq(count(be, "locks/"), 0);
        lock_release(NULL);

        repo_close(r);
        backend_close(be);
}

/* Taking a lock costs one write and one listing (requests, on S3), and
 * reads only the locks of others: not a listing before the write, nor
 * our own lock read back. */
Test(repo, lock_acquire_requests)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        RepoLock *a = NULL, *b = NULL;
        BackendMemStats s0, s1;
        backend_mem_stats(be, &s0);
        cr_assert_eq(lock_acquire(r, false, &a), 0);
        backend_mem_stats(be, &s1);
        cr_assert_eq(s1.writes - s0.writes, 1);
        cr_assert_eq(s1.lists - s0.lists, 1);
        cr_assert_eq(s1.reads - s0.reads, 0, "our own lock is not read back");

        backend_mem_stats(be, &s0);
        cr_assert_eq(lock_acquire(r, false, &b), 0);
        backend_mem_stats(be, &s1);
        cr_assert_eq(s1.lists - s0.lists, 1);
        cr_assert_eq(s1.reads - s0.reads, 1, "the other lock is read");
        lock_release(a);
        lock_release(b);
        repo_close(r);
        backend_close(be);
}

Test(repo, lock_remove_all)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        RepoLock *a = NULL;
        cr_assert_eq(lock_acquire(r, false, &a), 0);
        unsigned removed = 99;
        cr_assert_eq(lock_remove(r, false, &removed), 0);
        cr_assert_eq(removed, 0, "a live lock is not stale");
        cr_assert_eq(lock_remove(r, true, &removed), 0);
        cr_assert_eq(removed, 1);
        cr_assert_eq(count(be, "locks/"), 0);
        RepoLock *x = NULL;
        cr_assert_eq(lock_acquire(r, true, &x), 0);
        lock_release(x);
        lock_release(a); /* its file is gone already: harmless */
        repo_close(r);
        backend_close(be);
}

/* ---- check and prune ---- */

/* One backup session: save the data blobs (dedup against what is there),
 * a tree of them, flush, and a snapshot. */
static void backup(Repo *r, uint8_t (*ids)[ID_LEN], uint8_t **data, size_t n, int64_t when, char id_out[ID_HEX_LEN + 1])
{
        for (size_t i = 0; i < n; i++) {
                uint8_t got[ID_LEN];
                cr_assert_eq(repo_blob_save(r, BLOB_DATA, data[i], 1000, got, NULL), 0);
                memcpy(ids[i], got, ID_LEN);
        }
        Tree *t = files_tree(ids, n);
        uint8_t tid[ID_LEN];
        cr_assert_eq(repo_tree_save(r, t, tid), 0);
        tree_free(t);
        cr_assert_eq(repo_flush(r), 0);
        Snapshot *s = snapshot_make(when, "h", tid);
        cr_assert_eq(snapshot_save(r, s), 0);
        memcpy(id_out, s->id, ID_HEX_LEN + 1);
        snapshot_free(s);
}

static void report_cb(bool error, const char *msg, void *ud)
{
        if (error)
                fprintf(stderr, "check: %s\n", msg);
}

Test(repo, check_good_repository_has_no_errors)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t ids[4][ID_LEN];
        uint8_t *data[4];
        for (int i = 0; i < 4; i++)
                data[i] = random_blob(1000);
        char s1[ID_HEX_LEN + 1], s2[ID_HEX_LEN + 1];
        backup(r, ids, data, 3, 1700000000, s1);
        backup(r, ids, data + 1, 3, 1700003600, s2);
        repo_close(r);

        r = open_on(be, false);
        CheckOptions o = {.read_data = true, .workers = 2, .report = report_cb};
        CheckStats st;
        cr_assert_eq(check_run(r, &o, &st), 0);
        cr_assert_eq(st.errors, 0);
        cr_assert_eq(st.snapshots, 2);
        cr_assert_eq(st.trees, 2);
        cr_assert_eq(st.packs, 4, "a data and a tree pack per session");
        cr_assert_eq(st.packs_read, 4);
        uint64_t total = 0;
        Names names = {0};
        cr_assert_eq(backend_list(be, "data/", names_cb, &names), 0);
        for (size_t i = 0; i < names.n; i++) {
                uint64_t size;
                cr_assert_eq(backend_stat(be, names.v[i], &size), 0);
                total += size;
        }
        cr_assert_eq(st.bytes_read, total);
        repo_close(r);

        r = open_on(be, false);
        o.read_data = false;
        cr_assert_eq(check_run(r, &o, &st), 0);
        cr_assert_eq(st.errors, 0);
        cr_assert_eq(st.packs_read, 0);
        repo_close(r);

        for (int i = 0; i < 4; i++)
                free(data[i]);
        backend_close(be);
}

Test(repo, check_reports_flipped_byte_with_read_data)
{
        Backend *be = mem();
        Repo *r = init_on(be, 0);
        uint8_t ids[3][ID_LEN];
        uint8_t *data[3];
        for (int i = 0; i < 3; i++)
                data[i] = random_blob(1000);
        char sid[ID_HEX_LEN + 1];
        backup(r, ids, data, 3, 1700000000, sid);
        repo_close(r);

        r = open_on(be, true);
        char name[ID_HEX_LEN + 9];
        IndexEntry e;
        pack_of(r, ids[1], name, &e);
        repo_close(r);
        cr_assert_eq(backend_mem_flip(be, name, e.offset + 100), 0);

        /* sizes are unchanged: only reading the data finds it */
        r = open_on(be, false);
        CheckOptions o = {.read_data = false};
        CheckStats st;
        cr_assert_eq(check_run(r, &o, &st), 0);
        cr_assert_eq(st.errors, 0);
        repo_close(r);

        /* the blob fails authentication: one error, naming it */
        r = open_on(be, false);
        o.read_data = true;
        cr_assert_eq(check_run(r, &o, &st), 0);
        cr_assert_eq(st.errors, 1);
        repo_close(r);

        for (int i = 0; i < 3; i++)
                free(data[i]);
        backend_close(be);
}

static void prune_scenario(Backend *be, uint8_t (*ids)[ID_LEN], uint8_t **data, char snaps[3][ID_HEX_LEN + 1])
{
        /* A: a1 a2 s1 s2, B: s1 s2 b1 b2, C: c1 c2 — one session each, so
         *   D1 = [a1 a2 s1 s2]  T1 = [tree A]
         *   D2 = [b1 b2]        T2 = [tree B]
         *   D3 = [c1 c2]        T3 = [tree C]
         * ids/data: 0 a1, 1 a2, 2 s1, 3 s2, 4 b1, 5 b2, 6 c1, 7 c2 */
        Repo *r = init_on(be, 0);
        for (int i = 0; i < 8; i++)
                data[i] = random_blob(1000);
        uint8_t tmp[4][ID_LEN];
        uint8_t *bset[4] = {data[2], data[3], data[4], data[5]};
        backup(r, tmp, data, 4, 1700000000, snaps[0]);
        memcpy(ids, tmp, 4 * ID_LEN);
        backup(r, tmp, bset, 4, 1700003600, snaps[1]);
        memcpy(ids[4], tmp[2], ID_LEN);
        memcpy(ids[5], tmp[3], ID_LEN);
        backup(r, tmp, data + 6, 2, 1700007200, snaps[2]);
        memcpy(ids[6], tmp, 2 * ID_LEN);
        repo_close(r);
        cr_assert_eq(count(be, "data/"), 6);
        cr_assert_eq(count(be, "index/"), 3);
}

Test(repo, prune_after_forget_repacks_and_deletes)
{
        Backend *be = mem();
        uint8_t ids[8][ID_LEN];
        uint8_t *data[8];
        char snaps[3][ID_HEX_LEN + 1], name[ID_HEX_LEN + 16];
        prune_scenario(be, ids, data, snaps);

        /* forget A and C; a pack an interrupted backup left behind */
        snprintf(name, sizeof(name), "snapshots/%s", snaps[0]);
        cr_assert_eq(backend_remove(be, name), 0);
        snprintf(name, sizeof(name), "snapshots/%s", snaps[2]);
        cr_assert_eq(backend_remove(be, name), 0);
        cr_assert_eq(backend_write(be, "data/ff/ff00000000000000000000000000000000000000000000000000000000000000",
                                   "junk", 4),
                     0);

        Repo *r = open_on(be, false);
        RepoLock *lock = NULL;
        cr_assert_eq(lock_acquire(r, true, &lock), 0);
        cr_assert_eq(repo_load_index(r), 0);
        PruneOptions po = {.dry_run = false};
        PruneStats ps;
        cr_assert_eq(prune_run(r, &po, &ps), 0);
        lock_release(lock);
        repo_close(r);

        /* D1 repacked (s1 s2 used), T1 D3 T3 deleted, D2 T2 kept, junk gone */
        cr_assert_eq(ps.packs_total, 7);
        cr_assert_eq(ps.packs_kept, 2);
        cr_assert_eq(ps.packs_repacked, 1);
        cr_assert_eq(ps.packs_deleted, 3);
        cr_assert_eq(ps.packs_unindexed, 1);
        cr_assert_eq(ps.blobs_used, 5, "s1 s2 b1 b2, tree B");
        cr_assert_eq(ps.blobs_unused, 6, "a1 a2 c1 c2, trees A and C");
        cr_assert_eq(ps.bytes_repacked, 2 * STORED(1000));
        cr_assert_eq(count(be, "data/"), 3, "D2, T2 and the new pack of s1 s2");
        cr_assert_eq(count(be, "index/"), 1);
        cr_assert_eq(count(be, "snapshots/"), 1);

        r = open_on(be, false);
        CheckOptions o = {.read_data = true, .report = report_cb};
        CheckStats st;
        cr_assert_eq(check_run(r, &o, &st), 0);
        cr_assert_eq(st.errors, 0);
        cr_assert_eq(st.snapshots, 1);
        cr_assert_eq(st.trees, 1);
        cr_assert_eq(st.packs, 3);
        repo_close(r);

        r = open_on(be, true);
        cr_assert_eq(index_count(repo_index(r)), 5);
        for (int i = 2; i < 6; i++)
                assert_blob(r, ids[i], data[i], 1000);
        cr_assert_not(repo_blob_has(r, ids[0]));
        cr_assert_not(repo_blob_has(r, ids[1]));
        cr_assert_not(repo_blob_has(r, ids[6]));
        cr_assert_not(repo_blob_has(r, ids[7]));
        repo_close(r);

        for (int i = 0; i < 8; i++)
                free(data[i]);
        backend_close(be);
}

Test(repo, prune_dry_run_changes_nothing)
{
        Backend *be = mem();
        uint8_t ids[8][ID_LEN];
        uint8_t *data[8];
        char snaps[3][ID_HEX_LEN + 1], name[ID_HEX_LEN + 16];
        prune_scenario(be, ids, data, snaps);
        snprintf(name, sizeof(name), "snapshots/%s", snaps[0]);
        cr_assert_eq(backend_remove(be, name), 0);

        Repo *r = open_on(be, true);
        BackendMemStats before, after;
        backend_mem_stats(be, &before);
        PruneOptions po = {.dry_run = true};
        PruneStats ps;
        cr_assert_eq(prune_run(r, &po, &ps), 0);
        backend_mem_stats(be, &after);
        cr_assert_eq(after.writes, before.writes);
        cr_assert_eq(after.removes, before.removes);
        /* D1 would be repacked, T1 deleted */
        cr_assert_eq(ps.packs_total, 6);
        cr_assert_eq(ps.packs_kept, 4);
        cr_assert_eq(ps.packs_repacked, 1);
        cr_assert_eq(ps.packs_deleted, 1);
        cr_assert_eq(ps.blobs_used, 8);
        cr_assert_eq(ps.blobs_unused, 3);
        repo_close(r);

        cr_assert_eq(count(be, "data/"), 6);
        cr_assert_eq(count(be, "index/"), 3);
        for (int i = 0; i < 8; i++)
                free(data[i]);
        backend_close(be);
}

Test(repo, prune_with_nothing_to_do_keeps_everything)
{
        Backend *be = mem();
        uint8_t ids[8][ID_LEN];
        uint8_t *data[8];
        char snaps[3][ID_HEX_LEN + 1];
        prune_scenario(be, ids, data, snaps);

        Repo *r = open_on(be, true);
        PruneOptions po = {.dry_run = false};
        PruneStats ps;
        cr_assert_eq(prune_run(r, &po, &ps), 0);
        repo_close(r);
        cr_assert_eq(ps.packs_kept, 6);
        cr_assert_eq(ps.packs_repacked + ps.packs_deleted + ps.packs_unindexed, 0);
        cr_assert_eq(ps.blobs_used, 11);
        cr_assert_eq(ps.blobs_unused, 0);
        cr_assert_eq(ps.bytes_freed, 0);
        cr_assert_eq(count(be, "data/"), 6);
        cr_assert_eq(count(be, "index/"), 1, "the three index files are merged into one");

        r = open_on(be, false);
        CheckOptions o = {.read_data = true, .report = report_cb};
        CheckStats st;
        cr_assert_eq(check_run(r, &o, &st), 0);
        cr_assert_eq(st.errors, 0);
        cr_assert_eq(st.snapshots, 3);
        repo_close(r);
        for (int i = 0; i < 8; i++)
                free(data[i]);
        backend_close(be);
}
