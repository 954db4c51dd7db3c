/* test_index.c — unit tests for repo/index.c.
 *
 * The in-memory index is an array of entries plus a linear-probing table
 * with backward-shift deletion. Removal is where such tables go wrong, so
 * it is tested on hand-built probe chains (ids chosen so their home slots
 * collide, including a chain that wraps past the end of the table) and on
 * 100,000 random ids. The memory figure per blob is printed and bounded:
 * it decides how big a repository fits in RAM. Ids come from xorshift64,
 * the same on every machine. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "index.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(index, .init = setup);

static void random_id(uint64_t *s, uint8_t id[ID_LEN])
{
        for (int i = 0; i < ID_LEN; i += 8) {
                uint64_t v = xorshift64(s);
                memcpy(id + i, &v, 8);
        }
}

/* n random ids, back to back. */
static uint8_t (*random_ids(size_t n, uint64_t seed))[ID_LEN]
{
        uint8_t (*ids)[ID_LEN] = malloc(n * ID_LEN);
        cr_assert_not_null(ids);
        for (size_t i = 0; i < n; i++)
                random_id(&seed, ids[i]);
        return ids;
}

/* An id whose home slot in a 16-slot table is `home` (the table hashes the
 * first 8 bytes, little-endian), made unique by tag. */
static void chain_id(unsigned home, unsigned tag, uint8_t id[ID_LEN])
{
        memset(id, 0, ID_LEN);
        id[0] = (uint8_t)(home | (tag << 4));
        id[1] = (uint8_t)(tag >> 4);
        id[31] = (uint8_t)tag;
}

static IndexEntry entry_for(size_t i)
{
        return (IndexEntry){.pack = (uint32_t)(i % 7), .type = (uint8_t)(i % 2), .offset = (uint32_t)(i * 3),
                            .length = (uint32_t)(i + 41), .raw_length = (uint32_t)(i + 1)};
}

static void assert_entry(const Index *ix, const uint8_t id[ID_LEN], size_t i)
{
        IndexEntry got, want = entry_for(i);
        cr_assert(index_find(ix, id, &got), "blob %zu not found", i);
        cr_assert_eq(got.pack, want.pack, "blob %zu", i);
        cr_assert_eq(got.type, want.type, "blob %zu", i);
        cr_assert_eq(got.offset, want.offset, "blob %zu", i);
        cr_assert_eq(got.length, want.length, "blob %zu", i);
        cr_assert_eq(got.raw_length, want.raw_length, "blob %zu", i);
}

static Index *index_make(void)
{
        Index *ix = NULL;
        cr_assert_eq(index_new(&ix), 0);
        cr_assert_not_null(ix);
        return ix;
}

/* ---- the table ---- */

Test(index, add_find_remove)
{
        Index *ix = index_make();
        uint8_t (*ids)[ID_LEN] = random_ids(3, 1);
        cr_assert_eq(index_count(ix), 0);
        cr_assert_not(index_find(ix, ids[0], NULL), "empty index");

        for (size_t i = 0; i < 3; i++) {
                IndexEntry e = entry_for(i);
                cr_assert_eq(index_add(ix, ids[i], &e), 1);
        }
        cr_assert_eq(index_count(ix), 3);
        for (size_t i = 0; i < 3; i++)
                assert_entry(ix, ids[i], i);
        cr_assert(index_find(ix, ids[1], NULL), "out is optional");

        cr_assert_eq(index_remove(ix, ids[1]), 0);
        cr_assert_eq(index_count(ix), 2);
        cr_assert_not(index_find(ix, ids[1], NULL));
        assert_entry(ix, ids[0], 0);
        assert_entry(ix, ids[2], 2);
        cr_assert_eq(index_remove(ix, ids[1]), -ENOENT, "removing twice");
        cr_assert_eq(index_count(ix), 2);

        cr_assert_eq(index_remove(ix, ids[0]), 0);
        cr_assert_eq(index_remove(ix, ids[2]), 0);
        cr_assert_eq(index_count(ix), 0);
        cr_assert_not(index_find(ix, ids[2], NULL));

        /* and it is usable again */
        IndexEntry e = entry_for(5);
        cr_assert_eq(index_add(ix, ids[1], &e), 1);
        assert_entry(ix, ids[1], 5);

        free(ids);
        index_free(ix);
        index_free(NULL);
}

Test(index, empty_index_remove_and_set_are_enoent)
{
        Index *ix = index_make();
        uint8_t id[ID_LEN] = {1, 2, 3};
        IndexEntry e = entry_for(1);
        cr_assert_eq(index_remove(ix, id), -ENOENT);
        cr_assert_eq(index_set(ix, id, &e), -ENOENT);
        cr_assert_eq(index_count(ix), 0);
        index_free(ix);
}

Test(index, tree_type_kept_beside_pack_number)
{
        Index *ix = index_make();
        uint8_t a[ID_LEN] = {1}, b[ID_LEN] = {2};
        IndexEntry ta = {.pack = 0x7ffffffe, .type = BLOB_TREE, .offset = 1, .length = 2, .raw_length = 3};
        IndexEntry tb = {.pack = 0x7ffffffe, .type = BLOB_DATA, .offset = UINT32_MAX, .length = UINT32_MAX,
                         .raw_length = UINT32_MAX};
        cr_assert_eq(index_add(ix, a, &ta), 1);
        cr_assert_eq(index_add(ix, b, &tb), 1);
        IndexEntry got;
        cr_assert(index_find(ix, a, &got));
        cr_assert_eq(got.pack, 0x7ffffffe);
        cr_assert_eq(got.type, BLOB_TREE);
        cr_assert_eq(got.raw_length, 3);
        cr_assert(index_find(ix, b, &got));
        cr_assert_eq(got.pack, 0x7ffffffe);
        cr_assert_eq(got.type, BLOB_DATA);
        cr_assert_eq(got.offset, UINT32_MAX);
        cr_assert_eq(got.length, UINT32_MAX);
        cr_assert_eq(got.raw_length, UINT32_MAX);
        index_free(ix);
}

Test(index, duplicate_add_returns_zero_and_keeps_entry)
{
        Index *ix = index_make();
        uint8_t (*ids)[ID_LEN] = random_ids(1, 2);
        IndexEntry e1 = entry_for(1), e2 = entry_for(2);
        cr_assert_eq(index_add(ix, ids[0], &e1), 1);
        cr_assert_eq(index_add(ix, ids[0], &e2), 0);
        cr_assert_eq(index_add(ix, ids[0], &e1), 0);
        cr_assert_eq(index_count(ix), 1);
        assert_entry(ix, ids[0], 1);
        free(ids);
        index_free(ix);
}

Test(index, pending_then_set)
{
        Index *ix = index_make();
        uint8_t (*ids)[ID_LEN] = random_ids(2, 3);
        IndexEntry pend_tree = {.pack = INDEX_PACK_PENDING, .type = BLOB_TREE};
        IndexEntry pend_data = {.pack = INDEX_PACK_PENDING, .type = BLOB_DATA};
        cr_assert_eq(index_add(ix, ids[0], &pend_tree), 1);
        cr_assert_eq(index_add(ix, ids[1], &pend_data), 1);
        cr_assert_eq(index_add(ix, ids[0], &pend_data), 0, "a pending blob is present");
        cr_assert_eq(index_count(ix), 2);

        IndexEntry got;
        cr_assert(index_find(ix, ids[0], &got));
        cr_assert_eq(got.pack, INDEX_PACK_PENDING);
        cr_assert_eq(got.type, BLOB_TREE);
        cr_assert_eq(got.offset, 0);
        cr_assert_eq(got.length, 0);
        cr_assert_eq(got.raw_length, 0);
        cr_assert(index_find(ix, ids[1], &got));
        cr_assert_eq(got.pack, INDEX_PACK_PENDING);
        cr_assert_eq(got.type, BLOB_DATA);

        IndexEntry real = {.pack = 4, .type = BLOB_TREE, .offset = 100, .length = 60, .raw_length = 20};
        cr_assert_eq(index_set(ix, ids[0], &real), 0);
        cr_assert(index_find(ix, ids[0], &got));
        cr_assert_eq(got.pack, 4);
        cr_assert_eq(got.type, BLOB_TREE);
        cr_assert_eq(got.offset, 100);
        cr_assert_eq(got.length, 60);
        cr_assert_eq(got.raw_length, 20);
        cr_assert_eq(index_count(ix), 2);

        /* a pending blob whose write failed is removed */
        cr_assert_eq(index_remove(ix, ids[1]), 0);
        cr_assert_not(index_find(ix, ids[1], NULL));
        uint8_t other[ID_LEN] = {9};
        cr_assert_eq(index_set(ix, other, &real), -ENOENT);

        free(ids);
        index_free(ix);
}

/* Ids laid out in a 16-slot table (at most 12 fit before it grows):
 *   homes 3,3,3,3 -> slots 3..6; home 4 -> 7; home 5 -> 8;
 *   homes 15,15 -> 15, 0 (wraps); home 0 -> 1; home 1 -> 2;
 * one run of occupied slots 15, 0, 1, ..., 8 that wraps past the end,
 * with entries displaced from their homes by up to 4 slots. */
static const unsigned chain_homes[] = {3, 3, 3, 3, 4, 5, 15, 15, 0, 1};
#define NCHAIN ELEMENTSOF(chain_homes)

static Index *chain_index(uint8_t ids[NCHAIN][ID_LEN])
{
        Index *ix = index_make();
        for (size_t i = 0; i < NCHAIN; i++) {
                chain_id(chain_homes[i], (unsigned)i + 1, ids[i]);
                IndexEntry e = entry_for(i);
                cr_assert_eq(index_add(ix, ids[i], &e), 1);
        }
        /* still the 16-slot table the ids were chosen for */
        cr_assert_eq(index_memory(ix), 1024 * 48 + 16 * 4);
        return ix;
}

Test(index, remove_from_middle_of_probe_chains)
{
        uint8_t ids[NCHAIN][ID_LEN];
        /* each one removed alone */
        for (size_t r = 0; r < NCHAIN; r++) {
                Index *ix = chain_index(ids);
                cr_assert_eq(index_remove(ix, ids[r]), 0, "remove %zu", r);
                cr_assert_eq(index_count(ix), NCHAIN - 1);
                cr_assert_not(index_find(ix, ids[r], NULL), "removed %zu still found", r);
                for (size_t i = 0; i < NCHAIN; i++)
                        if (i != r)
                                assert_entry(ix, ids[i], i);
                index_free(ix);
        }
        /* and every pair, in both orders */
        for (size_t a = 0; a < NCHAIN; a++)
                for (size_t b = 0; b < NCHAIN; b++) {
                        if (a == b)
                                continue;
                        Index *ix = chain_index(ids);
                        cr_assert_eq(index_remove(ix, ids[a]), 0);
                        cr_assert_eq(index_remove(ix, ids[b]), 0);
                        cr_assert_not(index_find(ix, ids[a], NULL), "remove %zu then %zu", a, b);
                        cr_assert_not(index_find(ix, ids[b], NULL), "remove %zu then %zu", a, b);
                        for (size_t i = 0; i < NCHAIN; i++)
                                if (i != a && i != b)
                                        assert_entry(ix, ids[i], i);
                        /* re-adding finds its way back */
                        IndexEntry e = entry_for(a);
                        cr_assert_eq(index_add(ix, ids[a], &e), 1);
                        for (size_t i = 0; i < NCHAIN; i++)
                                if (i != b)
                                        assert_entry(ix, ids[i], i);
                        index_free(ix);
                }
}

Test(index, remove_all_of_a_chain_in_random_orders)
{
        uint8_t ids[NCHAIN][ID_LEN];
        uint64_t rng = 77;
        for (int round = 0; round < 200; round++) {
                Index *ix = chain_index(ids);
                size_t order[NCHAIN];
                bool gone[NCHAIN] = {false};
                for (size_t i = 0; i < NCHAIN; i++)
                        order[i] = i;
                for (size_t i = NCHAIN - 1; i > 0; i--) {
                        size_t j = xorshift64(&rng) % (i + 1), t = order[i];
                        order[i] = order[j];
                        order[j] = t;
                }
                for (size_t k = 0; k < NCHAIN; k++) {
                        cr_assert_eq(index_remove(ix, ids[order[k]]), 0);
                        gone[order[k]] = true;
                        for (size_t i = 0; i < NCHAIN; i++) {
                                if (gone[i])
                                        cr_assert_not(index_find(ix, ids[i], NULL), "round %d", round);
                                else
                                        assert_entry(ix, ids[i], i);
                        }
                }
                cr_assert_eq(index_count(ix), 0);
                index_free(ix);
        }
}

Test(index, stress_remove_half_of_100k)
{
        const size_t n = 100000;
        uint8_t (*ids)[ID_LEN] = random_ids(n, 0x9E3779B97F4A7C15u);
        Index *ix = index_make();
        for (size_t i = 0; i < n; i++) {
                IndexEntry e = entry_for(i);
                cr_assert_eq(index_add(ix, ids[i], &e), 1);
        }
        cr_assert_eq(index_count(ix), n);
        /* remove a pseudo-random half */
        uint64_t rng = 5;
        bool *gone = calloc(n, sizeof(bool));
        cr_assert_not_null(gone);
        size_t removed = 0;
        for (size_t i = 0; i < n; i++)
                if (xorshift64(&rng) & 1) {
                        cr_assert_eq(index_remove(ix, ids[i]), 0, "blob %zu", i);
                        gone[i] = true;
                        removed++;
                }
        cr_assert_gt(removed, 49000);
        cr_assert_lt(removed, 51000);
        cr_assert_eq(index_count(ix), n - removed);
        for (size_t i = 0; i < n; i++) {
                if (gone[i]) {
                        cr_assert_not(index_find(ix, ids[i], NULL), "removed blob %zu found", i);
                        cr_assert_eq(index_remove(ix, ids[i]), -ENOENT);
                } else {
                        assert_entry(ix, ids[i], i);
                }
        }
        /* ids never added are not found either */
        uint8_t (*others)[ID_LEN] = random_ids(1000, 12345);
        for (size_t i = 0; i < 1000; i++)
                cr_assert_not(index_find(ix, others[i], NULL));
        free(others);
        free(gone);
        free(ids);
        index_free(ix);
}

Test(index, add_pack_is_idempotent)
{
        Index *ix = index_make();
        uint8_t (*pids)[ID_LEN] = random_ids(200, 8);
        cr_assert_eq(index_pack_count(ix), 0);
        cr_assert_null(index_pack_id(ix, 0));
        for (size_t i = 0; i < 200; i++)
                cr_assert_eq(index_add_pack(ix, pids[i]), (int64_t)i);
        for (size_t i = 0; i < 200; i++)
                cr_assert_eq(index_add_pack(ix, pids[i]), (int64_t)i, "again %zu", i);
        cr_assert_eq(index_pack_count(ix), 200);
        for (size_t i = 0; i < 200; i++)
                cr_assert_arr_eq(index_pack_id(ix, (uint32_t)i), pids[i], ID_LEN);
        cr_assert_null(index_pack_id(ix, 200));
        cr_assert_eq(index_count(ix), 0, "packs are not blobs");
        free(pids);
        index_free(ix);
}

typedef struct Seen {
        uint8_t (*ids)[ID_LEN];
        size_t n;
        unsigned visits[64];
        unsigned stop_after, calls;
} Seen;

static int foreach_cb(const uint8_t id[ID_LEN], const IndexEntry *e, void *ud)
{
        Seen *s = ud;
        s->calls++;
        for (size_t i = 0; i < s->n; i++)
                if (memcmp(s->ids[i], id, ID_LEN) == 0) {
                        IndexEntry want = entry_for(i);
                        cr_assert_eq(e->offset, want.offset);
                        cr_assert_eq(e->type, want.type);
                        s->visits[i]++;
                }
        return s->stop_after && s->calls == s->stop_after ? 7 : 0;
}

Test(index, foreach_visits_each_once)
{
        Index *ix = index_make();
        Seen s = {.ids = random_ids(50, 9), .n = 50};
        for (size_t i = 0; i < 50; i++) {
                IndexEntry e = entry_for(i);
                cr_assert_eq(index_add(ix, s.ids[i], &e), 1);
        }
        cr_assert_eq(index_remove(ix, s.ids[10]), 0);
        cr_assert_eq(index_foreach(ix, foreach_cb, &s), 0);
        cr_assert_eq(s.calls, 49);
        for (size_t i = 0; i < 50; i++)
                cr_assert_eq(s.visits[i], i == 10 ? 0u : 1u, "blob %zu", i);

        s.calls = 0;
        s.stop_after = 5;
        cr_assert_eq(index_foreach(ix, foreach_cb, &s), 7, "a non-zero return stops");
        cr_assert_eq(s.calls, 5);
        free(s.ids);
        index_free(ix);
}

/* ---- index files ---- */

typedef struct Decoded {
        uint8_t ids[8][ID_LEN];
        PackEntry *entries[8];
        size_t n[8];
        size_t packs;
        int ret;
} Decoded;

static int decode_cb(const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n, void *ud)
{
        Decoded *d = ud;
        cr_assert_lt(d->packs, 8);
        memcpy(d->ids[d->packs], pack_id, ID_LEN);
        d->entries[d->packs] = malloc((n + 1) * sizeof(PackEntry));
        memcpy(d->entries[d->packs], e, n * sizeof(PackEntry));
        d->n[d->packs++] = n;
        return d->ret;
}

static void decoded_free(Decoded *d)
{
        for (size_t i = 0; i < d->packs; i++)
                free(d->entries[i]);
}

/* Three packs of 1, 3 and 70 entries. */
static void three_packs(IndexPack packs[3])
{
        static const size_t counts[3] = {1, 3, 70};
        uint64_t rng = 99;
        for (size_t p = 0; p < 3; p++) {
                random_id(&rng, packs[p].id);
                packs[p].n = counts[p];
                packs[p].entries = calloc(counts[p], sizeof(PackEntry));
                for (size_t i = 0; i < counts[p]; i++) {
                        PackEntry *e = &packs[p].entries[i];
                        random_id(&rng, e->id);
                        e->type = (uint8_t)((p + i) % 2);
                        e->offset = (uint32_t)(i * 1000);
                        e->length = (uint32_t)(900 + i);
                        e->raw_length = (uint32_t)(2000 + p * 100 + i);
                }
        }
}

Test(index, file_encode_decode_round_trip)
{
        MasterKey *k = crypto_key_new_random();
        IndexPack packs[3];
        three_packs(packs);
        Buf sealed = {0};
        cr_assert_eq(index_file_encode(k, packs, 3, &sealed), 0);
        cr_assert_eq(sealed.len, 3 * (ID_LEN + 4) + 74 * PACK_RECORD_LEN + CRYPTO_OVERHEAD);

        Decoded d = {0};
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), 0);
        cr_assert_eq(d.packs, 3);
        for (size_t p = 0; p < 3; p++) {
                cr_assert_arr_eq(d.ids[p], packs[p].id, ID_LEN);
                cr_assert_eq(d.n[p], packs[p].n);
                for (size_t i = 0; i < packs[p].n; i++) {
                        const PackEntry *a = &d.entries[p][i], *b = &packs[p].entries[i];
                        cr_assert_arr_eq(a->id, b->id, ID_LEN, "pack %zu entry %zu", p, i);
                        cr_assert_eq(a->type, b->type);
                        cr_assert_eq(a->offset, b->offset);
                        cr_assert_eq(a->length, b->length);
                        cr_assert_eq(a->raw_length, b->raw_length);
                }
        }
        /* the plaintext layout: pack id, count (LE), records */
        Buf plain = {0};
        cr_assert_eq(crypto_open(k, sealed.data, sealed.len, &plain), 0);
        cr_assert_arr_eq(plain.data, packs[0].id, ID_LEN);
        cr_assert_arr_eq(plain.data + ID_LEN, "\1\0\0\0", 4);
        const uint8_t *second = plain.data + ID_LEN + 4 + PACK_RECORD_LEN;
        cr_assert_arr_eq(second, packs[1].id, ID_LEN);
        cr_assert_arr_eq(second + ID_LEN, "\3\0\0\0", 4);

        buf_free(&plain);
        decoded_free(&d);
        for (size_t p = 0; p < 3; p++)
                free(packs[p].entries);
        buf_free(&sealed);
        crypto_key_free(k);
}

Test(index, file_empty_and_callback_stop)
{
        MasterKey *k = crypto_key_new_random();
        Buf sealed = {0};
        cr_assert_eq(index_file_encode(k, NULL, 0, &sealed), 0);
        cr_assert_eq(sealed.len, CRYPTO_OVERHEAD);
        Decoded d = {0};
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), 0);
        cr_assert_eq(d.packs, 0);

        IndexPack packs[3];
        three_packs(packs);
        sealed.len = 0;
        cr_assert_eq(index_file_encode(k, packs, 3, &sealed), 0);
        d.ret = 5;
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), 5);
        cr_assert_eq(d.packs, 1, "stopped after the first pack");

        decoded_free(&d);
        for (size_t p = 0; p < 3; p++)
                free(packs[p].entries);
        buf_free(&sealed);
        crypto_key_free(k);
}

Test(index, file_tampered_is_ebadmsg)
{
        MasterKey *k = crypto_key_new_random(), *k2 = crypto_key_new_random();
        IndexPack packs[3];
        three_packs(packs);
        Buf sealed = {0};
        cr_assert_eq(index_file_encode(k, packs, 3, &sealed), 0);

        for (size_t off = 0; off < sealed.len; off += 97) {
                sealed.data[off] ^= 0x10;
                Decoded d = {0};
                cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), -EBADMSG, "offset %zu",
                             off);
                cr_assert_eq(d.packs, 0, "nothing reported from a damaged file");
                sealed.data[off] ^= 0x10;
        }
        Decoded d = {0};
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len - 1, decode_cb, &d), -EBADMSG);
        cr_assert_eq(index_file_decode(k2, sealed.data, sealed.len, decode_cb, &d), -EBADMSG);
        cr_assert_eq(d.packs, 0);

        for (size_t p = 0; p < 3; p++)
                free(packs[p].entries);
        buf_free(&sealed);
        crypto_key_free(k);
        crypto_key_free(k2);
}

Test(index, file_malformed_is_ebadmsg)
{
        MasterKey *k = crypto_key_new_random();
        uint8_t plain[ID_LEN + 4 + PACK_RECORD_LEN] = {0};
        Buf sealed = {0};
        Decoded d = {0};

        /* a truncated pack id and count */
        cr_assert_eq(crypto_seal(k, plain, ID_LEN + 3, &sealed), 0);
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), -EBADMSG);
        /* a count of 2 with one record */
        plain[ID_LEN] = 2;
        sealed.len = 0;
        cr_assert_eq(crypto_seal(k, plain, sizeof(plain), &sealed), 0);
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), -EBADMSG);
        /* a huge count */
        plain[ID_LEN + 3] = 0xff;
        sealed.len = 0;
        cr_assert_eq(crypto_seal(k, plain, sizeof(plain), &sealed), 0);
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), -EBADMSG);
        cr_assert_eq(d.packs, 0);
        /* and the well-formed one decodes */
        plain[ID_LEN] = 1;
        plain[ID_LEN + 3] = 0;
        sealed.len = 0;
        cr_assert_eq(crypto_seal(k, plain, sizeof(plain), &sealed), 0);
        cr_assert_eq(index_file_decode(k, sealed.data, sealed.len, decode_cb, &d), 0);
        cr_assert_eq(d.packs, 1);
        cr_assert_eq(d.n[0], 1);

        decoded_free(&d);
        buf_free(&sealed);
        crypto_key_free(k);
}

/* ---- memory ---- */

static double fill_million(bool reserve)
{
        const size_t n = 1000000;
        uint8_t (*ids)[ID_LEN] = random_ids(n, reserve ? 0xC0FFEE : 0xBEEF);
        Index *ix = index_make();
        uint8_t pid[ID_LEN] = {42};
        int64_t p = index_add_pack(ix, pid);
        cr_assert_eq(p, 0);
        if (reserve)
                cr_assert_eq(index_reserve(ix, n), 0);
        for (size_t i = 0; i < n; i++) {
                IndexEntry e = {.pack = (uint32_t)p, .type = BLOB_DATA, .offset = (uint32_t)i,
                                .length = 1000, .raw_length = 2000};
                cr_assert_eq(index_add(ix, ids[i], &e), 1);
        }
        cr_assert_eq(index_count(ix), n);
        size_t bytes = index_memory(ix);
        double per = (double)bytes / (double)n;
        /* printf, not cr_log_info: shown without --verbose. */
        printf("index: %zu blobs, %zu bytes, %.1f bytes/blob (%s)\n", n, bytes, per,
               reserve ? "reserved" : "grown one by one");
        fflush(stdout);
        /* spot check after all the growing */
        for (size_t i = 0; i < n; i += 997) {
                IndexEntry e;
                cr_assert(index_find(ix, ids[i], &e));
                cr_assert_eq(e.offset, i);
        }
        free(ids);
        index_free(ix);
        return per;
}

Test(index, memory_per_blob_reserved)
{
        double per = fill_million(true);
        cr_assert_leq(per, 64.0, "%.1f bytes/blob", per);
}

Test(index, memory_per_blob_grown)
{
        double per = fill_million(false);
        cr_assert_leq(per, 80.0, "%.1f bytes/blob", per);
}

Test(index, reserve_does_not_regrow)
{
        Index *ix = index_make();
        cr_assert_eq(index_reserve(ix, 5000), 0);
        size_t before = index_memory(ix);
        /* 5000 entries, and 8192 slots (6144 usable at 3/4) */
        cr_assert_eq(before, 5000 * 48 + 8192 * 4);
        uint8_t (*ids)[ID_LEN] = random_ids(5000, 4);
        for (size_t i = 0; i < 5000; i++) {
                IndexEntry e = entry_for(i);
                cr_assert_eq(index_add(ix, ids[i], &e), 1);
        }
        cr_assert_eq(index_memory(ix), before);
        for (size_t i = 0; i < 5000; i++)
                assert_entry(ix, ids[i], i);
        free(ids);
        index_free(ix);
}
