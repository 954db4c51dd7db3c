/* test_pack.c — unit tests for repo/pack.c.
 *
 * A pack is blob_0 || blob_1 || ... || sealed header || header length
 * (uint32 LE). These tests build packs from known blobs and check every
 * part of that layout byte for byte, then read headers back through the
 * in-memory backend, counting reads: a header that fits the 64 KiB tail
 * costs one read, a bigger one exactly two. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "crypto.h"
#include "pack.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(pack, .init = setup);

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void id_for(unsigned i, uint8_t id[ID_LEN])
{
        char s[32];
        snprintf(s, sizeof(s), "blob %u", i);
        crypto_object_id(s, strlen(s), id);
}

/* A pack of n blobs whose plaintexts are i*7+1 bytes of (uint8_t)i (or 1
 * byte when tiny), finished with k. */
typedef struct Built {
        uint8_t id[ID_LEN];
        Buf bytes;
        PackEntry *entries;
        size_t n;
        size_t blobs_len; /* bytes before the header */
} Built;

static Built build(const MasterKey *k, uint8_t type, size_t n, bool tiny)
{
        PackWriter *w = NULL;
        cr_assert_eq(pack_writer_new(type, &w), 0);
        cr_assert_eq(pack_writer_type(w), type);
        size_t expect_off = 0;
        for (size_t i = 0; i < n; i++) {
                size_t plen = tiny ? 1 : i * 7 + 1;
                uint8_t *plain = malloc(plen);
                cr_assert_not_null(plain);
                memset(plain, (int)i, plen);
                Buf sealed = {0};
                cr_assert_eq(crypto_seal(k, plain, plen, &sealed), 0);
                uint8_t id[ID_LEN];
                id_for((unsigned)i, id);
                int64_t off = pack_writer_add(w, id, sealed.data, sealed.len, (uint32_t)plen);
                cr_assert_eq(off, (int64_t)expect_off, "blob %zu", i);
                expect_off += sealed.len;
                cr_assert_eq(pack_writer_size(w), expect_off);
                cr_assert_eq(pack_writer_count(w), i + 1);
                buf_free(&sealed);
                free(plain);
        }
        Built b = {.blobs_len = expect_off};
        cr_assert_eq(pack_writer_finish(w, k, b.id, &b.bytes, &b.entries, &b.n), 0);
        pack_writer_free(w);
        return b;
}

static void built_free(Built *b)
{
        buf_free(&b->bytes);
        free(b->entries);
}

static MasterKey *key_random(void)
{
        MasterKey *k = crypto_key_new_random();
        cr_assert_not_null(k);
        return k;
}

Test(pack, writer_offsets_are_cumulative)
{
        MasterKey *k = key_random();
        PackWriter *w = NULL;
        cr_assert_eq(pack_writer_new(BLOB_DATA, &w), 0);
        static const size_t lens[] = {41, 100, 1, 4096, 57};
        uint8_t buf[4096];
        memset(buf, 0xab, sizeof(buf));
        size_t off = 0;
        for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
                uint8_t id[ID_LEN];
                id_for((unsigned)i, id);
                cr_assert_eq(pack_writer_add(w, id, buf, lens[i], 7), (int64_t)off);
                off += lens[i];
        }
        /* offsets 0, 41, 141, 142, 4238 */
        cr_assert_eq(off, 4295);
        cr_assert_eq(pack_writer_size(w), 4295);
        cr_assert_eq(pack_writer_count(w), 5);
        cr_assert_eq(pack_writer_type(w), BLOB_DATA);

        uint8_t pid[ID_LEN];
        Buf bytes = {0};
        PackEntry *e = NULL;
        size_t n = 0;
        cr_assert_eq(pack_writer_finish(w, k, pid, &bytes, &e, &n), 0);
        cr_assert_eq(n, 5);
        static const uint32_t offsets[] = {0, 41, 141, 142, 4238};
        for (size_t i = 0; i < n; i++) {
                uint8_t id[ID_LEN];
                id_for((unsigned)i, id);
                cr_assert_eq(e[i].offset, offsets[i], "entry %zu", i);
                cr_assert_eq(e[i].length, lens[i]);
                cr_assert_eq(e[i].raw_length, 7);
                cr_assert_eq(e[i].type, BLOB_DATA);
                cr_assert_arr_eq(e[i].id, id, ID_LEN);
        }
        cr_assert_eq(bytes.len, 4295 + 5 * PACK_RECORD_LEN + CRYPTO_OVERHEAD + 4);

        free(e);
        buf_free(&bytes);
        pack_writer_free(w);
        pack_writer_free(NULL);
        crypto_key_free(k);
}

Test(pack, finish_layout_blobs_header_length)
{
        MasterKey *k = key_random();
        Built b = build(k, BLOB_TREE, 10, false);

        /* blobs are sealed plaintexts of i*7+1 bytes: 41, 48, 55, ... */
        cr_assert_eq(b.n, 10);
        size_t off = 0;
        for (size_t i = 0; i < b.n; i++) {
                cr_assert_eq(b.entries[i].offset, off, "entry %zu", i);
                cr_assert_eq(b.entries[i].length, i * 7 + 1 + CRYPTO_OVERHEAD);
                cr_assert_eq(b.entries[i].raw_length, i * 7 + 1);
                cr_assert_eq(b.entries[i].type, BLOB_TREE);
                off += b.entries[i].length;
        }
        cr_assert_eq(off, b.blobs_len);
        cr_assert_eq(b.blobs_len, 10 * 40 + 7 * 45 + 10);

        /* the trailing 4 bytes are the sealed header length */
        uint32_t hlen = le32(b.bytes.data + b.bytes.len - 4);
        cr_assert_eq(hlen, 10 * PACK_RECORD_LEN + CRYPTO_OVERHEAD);
        cr_assert_eq(b.bytes.len, b.blobs_len + hlen + 4);

        /* every blob opens where the entries say */
        for (size_t i = 0; i < b.n; i++) {
                Buf plain = {0};
                cr_assert_eq(crypto_open(k, b.bytes.data + b.entries[i].offset, b.entries[i].length, &plain), 0);
                cr_assert_eq(plain.len, b.entries[i].raw_length);
                for (size_t j = 0; j < plain.len; j++)
                        cr_assert_eq(plain.data[j], (uint8_t)i);
                buf_free(&plain);
        }
        built_free(&b);
        crypto_key_free(k);
}

Test(pack, header_decode_gives_back_entries)
{
        MasterKey *k = key_random();
        Built b = build(k, BLOB_DATA, 25, false);
        uint32_t hlen = le32(b.bytes.data + b.bytes.len - 4);

        PackEntry *e = NULL;
        size_t n = 0;
        cr_assert_eq(pack_header_decode(k, b.bytes.data + b.bytes.len - 4 - hlen, hlen, &e, &n), 0);
        cr_assert_eq(n, 25);
        for (size_t i = 0; i < n; i++) {
                cr_assert_arr_eq(e[i].id, b.entries[i].id, ID_LEN, "entry %zu", i);
                cr_assert_eq(e[i].type, b.entries[i].type);
                cr_assert_eq(e[i].offset, b.entries[i].offset);
                cr_assert_eq(e[i].length, b.entries[i].length);
                cr_assert_eq(e[i].raw_length, b.entries[i].raw_length);
        }
        /* the header record layout: type, offset, length, raw length (LE), id */
        Buf plain = {0};
        cr_assert_eq(crypto_open(k, b.bytes.data + b.bytes.len - 4 - hlen, hlen, &plain), 0);
        cr_assert_eq(plain.len, 25 * PACK_RECORD_LEN);
        const uint8_t *r = plain.data + 3 * PACK_RECORD_LEN;
        cr_assert_eq(r[0], BLOB_DATA);
        cr_assert_eq(le32(r + 1), b.entries[3].offset);
        cr_assert_eq(le32(r + 5), 3 * 7 + 1 + CRYPTO_OVERHEAD);
        cr_assert_eq(le32(r + 9), 3 * 7 + 1);
        cr_assert_arr_eq(r + 13, b.entries[3].id, ID_LEN);

        buf_free(&plain);
        free(e);
        built_free(&b);
        crypto_key_free(k);
}

Test(pack, header_encode_empty)
{
        MasterKey *k = key_random();
        Buf h = {0};
        cr_assert_eq(pack_header_encode(k, NULL, 0, &h), 0);
        cr_assert_eq(h.len, CRYPTO_OVERHEAD);
        PackEntry *e = NULL;
        size_t n = 99;
        cr_assert_eq(pack_header_decode(k, h.data, h.len, &e, &n), 0);
        cr_assert_eq(n, 0);
        free(e);
        buf_free(&h);
        crypto_key_free(k);
}

Test(pack, header_not_whole_records_is_ebadmsg)
{
        MasterKey *k = key_random();
        uint8_t plain[PACK_RECORD_LEN + 1] = {0};
        Buf h = {0};
        cr_assert_eq(crypto_seal(k, plain, sizeof(plain), &h), 0);
        PackEntry *e = NULL;
        size_t n = 0;
        cr_assert_eq(pack_header_decode(k, h.data, h.len, &e, &n), -EBADMSG);
        buf_free(&h);
        crypto_key_free(k);
}

Test(pack, id_is_object_id_of_tail)
{
        MasterKey *k = key_random();
        Built b = build(k, BLOB_DATA, 5, false);
        uint8_t want[ID_LEN], got[ID_LEN];
        uint32_t hlen = (uint32_t)b.bytes.data[b.bytes.len - 4] | (uint32_t)b.bytes.data[b.bytes.len - 3] << 8 |
                        (uint32_t)b.bytes.data[b.bytes.len - 2] << 16 | (uint32_t)b.bytes.data[b.bytes.len - 1] << 24;
        crypto_object_id(b.bytes.data + b.bytes.len - 4 - hlen, hlen + 4, want);
        cr_assert_arr_eq(b.id, want, ID_LEN);
        cr_assert_eq(pack_id_of(b.bytes.data, b.bytes.len, got), 0);
        cr_assert_arr_eq(got, want, ID_LEN);
        cr_assert_eq(pack_id_of(b.bytes.data, 10, got), -EBADMSG);
        built_free(&b);
        crypto_key_free(k);
}

static void check_read_header(size_t nblobs, unsigned reads_expected)
{
        MasterKey *k = key_random();
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        Built b = build(k, BLOB_DATA, nblobs, true);
        char name[ID_HEX_LEN + 9];
        pack_name(b.id, name);
        cr_assert_eq(backend_write(be, name, b.bytes.data, b.bytes.len), 0);

        BackendMemStats before, after;
        backend_mem_stats(be, &before);
        PackEntry *e = NULL;
        size_t n = 0;
        cr_assert_eq(pack_read_header(be, k, name, b.bytes.len, &e, &n), 0);
        backend_mem_stats(be, &after);
        cr_assert_eq(after.reads - before.reads, reads_expected);
        cr_assert_eq(n, nblobs);
        for (size_t i = 0; i < n; i++) {
                cr_assert_arr_eq(e[i].id, b.entries[i].id, ID_LEN, "entry %zu", i);
                cr_assert_eq(e[i].offset, i * (1 + CRYPTO_OVERHEAD));
                cr_assert_eq(e[i].length, 1 + CRYPTO_OVERHEAD);
                cr_assert_eq(e[i].raw_length, 1);
                cr_assert_eq(e[i].type, BLOB_DATA);
        }
        free(e);
        built_free(&b);
        backend_close(be);
        crypto_key_free(k);
}

Test(pack, read_header_small_one_read)
{
        check_read_header(3, 1);
}

Test(pack, read_header_larger_than_64k_two_reads)
{
        /* 2000 * 45 + 40 = 90040 bytes of header: beyond the 64 KiB tail */
        cr_assert_gt(2000 * PACK_RECORD_LEN + CRYPTO_OVERHEAD, 64 * 1024);
        check_read_header(2000, 2);
}

Test(pack, read_header_exactly_at_tail_boundary)
{
        /* 1455 records: 65475 + 40 + 4 = 65519 bytes, still one read */
        check_read_header(1455, 1);
}

Test(pack, read_header_just_past_tail_boundary)
{
        /* 1456 records: 65520 + 40 + 4 = 65564 bytes, one more read */
        check_read_header(1456, 2);
}

Test(pack, read_header_pack_smaller_than_tail)
{
        /* the whole pack is shorter than 64 KiB */
        check_read_header(1, 1);
}

Test(pack, tampered_header_is_ebadmsg)
{
        MasterKey *k = key_random();
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        Built b = build(k, BLOB_DATA, 4, false);
        char name[ID_HEX_LEN + 9];
        pack_name(b.id, name);
        cr_assert_eq(backend_write(be, name, b.bytes.data, b.bytes.len), 0);
        uint32_t hlen = le32(b.bytes.data + b.bytes.len - 4);
        PackEntry *e = NULL;
        size_t n = 0;

        /* first byte of the header (nonce), one inside, the last (tag) */
        const uint64_t where[] = {b.blobs_len, b.blobs_len + 30, b.blobs_len + hlen - 1};
        for (size_t i = 0; i < ELEMENTSOF(where); i++) {
                cr_assert_eq(backend_mem_flip(be, name, where[i]), 0);
                cr_assert_eq(pack_read_header(be, k, name, b.bytes.len, &e, &n), -EBADMSG, "offset %llu",
                             (unsigned long long)where[i]);
                cr_assert_eq(backend_mem_flip(be, name, where[i]), 0);
        }
        cr_assert_eq(pack_read_header(be, k, name, b.bytes.len, &e, &n), 0, "undamaged again");
        cr_assert_eq(n, 4);
        free(e);

        /* a damaged length: points before the header, or beyond the pack */
        cr_assert_eq(backend_mem_flip(be, name, b.bytes.len - 4), 0);
        cr_assert_eq(pack_read_header(be, k, name, b.bytes.len, &e, &n), -EBADMSG);
        cr_assert_eq(backend_mem_flip(be, name, b.bytes.len - 4), 0);
        cr_assert_eq(backend_mem_flip(be, name, b.bytes.len - 1), 0);
        cr_assert_eq(pack_read_header(be, k, name, b.bytes.len, &e, &n), -EBADMSG);
        cr_assert_eq(backend_mem_flip(be, name, b.bytes.len - 1), 0);

        /* another key */
        MasterKey *k2 = key_random();
        cr_assert_eq(pack_read_header(be, k2, name, b.bytes.len, &e, &n), -EBADMSG);

        /* too short to hold a header at all */
        cr_assert_eq(backend_write(be, "data/00/short", b.bytes.data, 43), 0);
        cr_assert_eq(pack_read_header(be, k, "data/00/short", 43, &e, &n), -EBADMSG);

        crypto_key_free(k2);
        built_free(&b);
        backend_close(be);
        crypto_key_free(k);
}

Test(pack, read_header_missing_pack_is_enoent)
{
        MasterKey *k = key_random();
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        PackEntry *e = NULL;
        size_t n = 0;
        cr_assert_eq(pack_read_header(be, k, "data/ab/ab00", 1000, &e, &n), -ENOENT);
        backend_close(be);
        crypto_key_free(k);
}

Test(pack, name_format)
{
        uint8_t id[ID_LEN];
        for (int i = 0; i < ID_LEN; i++)
                id[i] = (uint8_t)(0xab + i * 17);
        char name[ID_HEX_LEN + 9];
        memset(name, 'x', sizeof(name));
        pack_name(id, name);
        cr_assert_str_eq(name, "data/ab/abbccddeef00112233445566778899aa"
                               "bbccddeeff102132435465768798a9ba");
        cr_assert_eq(strlen(name), 5 + 3 + ID_HEX_LEN);

        memset(id, 0, sizeof(id));
        id[0] = 0x0f;
        pack_name(id, name);
        cr_assert_str_eq(name, "data/0f/0f00000000000000000000000000000000000000000000000000000000000000");
}
