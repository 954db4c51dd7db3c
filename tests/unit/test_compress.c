/* test_compress.c — unit tests for repo/compress.c.
 *
 * The stored form is part of the repository format: one header byte (0 raw,
 * 1 zstd) and then the bytes. Compressible text must come back smaller with
 * header 1; random data must be kept raw (header 0, exactly n + 1 bytes),
 * both below and above the size where the cheap sample check kicks in. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "compress.h"
#include "gen.h"

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
        uint8_t *p = malloc(n ? n : 1);
        cr_assert_not_null(p);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(xorshift64(&seed) >> 32);
        return p;
}

/* English-looking text: compresses well at every level. */
static char *text_bytes(size_t n)
{
        static const char *const words[] = {"backup", "repository", "snapshot", "chunk", "pack",
                                            "index",  "restore",    "the",      "of",    "tree"};
        char *p = malloc(n + 1);
        cr_assert_not_null(p);
        uint64_t s = 12345;
        size_t k = 0;
        while (k < n) {
                const char *w = words[xorshift64(&s) % ELEMENTSOF(words)];
                for (size_t i = 0; w[i] && k < n; i++)
                        p[k++] = w[i];
                if (k < n)
                        p[k++] = ' ';
        }
        p[n] = 0;
        return p;
}

static void round_trip(int level, const void *p, size_t n, Buf *stored)
{
        Buf back = {0};
        stored->len = 0;
        cr_assert_eq(compress_blob(level, p, n, stored), 0);
        cr_assert_eq(compress_unblob(stored->data, stored->len, n, &back), 0, "level %d size %zu", level, n);
        cr_assert_eq(back.len, n);
        if (n)
                cr_assert_arr_eq(back.data, p, n);
        buf_free(&back);
}

Test(compress, text_round_trip_is_smaller)
{
        static const int levels[] = {COMPRESS_FAST, COMPRESS_AUTO, COMPRESS_MAX};
        static const size_t sizes[] = {512, 4096, 1024 * 1024};
        Buf stored = {0};
        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                char *text = text_bytes(sizes[s]);
                for (size_t l = 0; l < ELEMENTSOF(levels); l++) {
                        round_trip(levels[l], text, sizes[s], &stored);
                        cr_assert_eq(stored.data[0], 1, "level %d size %zu", levels[l], sizes[s]);
                        cr_assert_lt(stored.len, sizes[s], "level %d size %zu", levels[l], sizes[s]);
                        /* what follows the header is one plain zstd frame */
                        cr_assert_eq(ZSTD_getFrameContentSize(stored.data + 1, stored.len - 1), sizes[s]);
                }
                free(text);
        }
        buf_free(&stored);
}

Test(compress, random_data_stored_raw)
{
        /* below and above the 128 KiB where the sample check is used */
        static const size_t sizes[] = {100, 4096, 100000, 1024 * 1024};
        Buf stored = {0};
        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                size_t n = sizes[s];
                uint8_t *p = random_bytes(n, 0x9E3779B97F4A7C15u + s);
                round_trip(COMPRESS_AUTO, p, n, &stored);
                cr_assert_eq(stored.data[0], 0, "size %zu", n);
                cr_assert_eq(stored.len, n + 1);
                cr_assert_arr_eq(stored.data + 1, p, n);
                round_trip(COMPRESS_MAX, p, n, &stored);
                cr_assert_eq(stored.data[0], 0, "size %zu", n);
                cr_assert_eq(stored.len, n + 1);
                free(p);
        }
        buf_free(&stored);
}

Test(compress, off_and_tiny_inputs_stored_raw)
{
        Buf stored = {0};
        char *text = text_bytes(4096);
        round_trip(COMPRESS_OFF, text, 4096, &stored);
        cr_assert_eq(stored.data[0], 0);
        cr_assert_eq(stored.len, 4097);

        /* under 64 bytes compression is not even tried */
        char zeros[63] = {0};
        round_trip(COMPRESS_MAX, zeros, 63, &stored);
        cr_assert_eq(stored.data[0], 0);
        cr_assert_eq(stored.len, 64);

        round_trip(COMPRESS_AUTO, "", 0, &stored);
        cr_assert_eq(stored.len, 1);
        cr_assert_eq(stored.data[0], 0);
        free(text);
        buf_free(&stored);
}

Test(compress, blob_appends_to_buffer)
{
        Buf out = {0};
        cr_assert_eq(buf_append(&out, "xy", 2), 0);
        cr_assert_eq(compress_blob(COMPRESS_OFF, "abc", 3, &out), 0);
        cr_assert_eq(out.len, 6);
        cr_assert_arr_eq(out.data, "xy\0abc", 6);
        Buf back = {0};
        cr_assert_eq(buf_append(&back, "q", 1), 0);
        cr_assert_eq(compress_unblob(out.data + 2, 4, 3, &back), 0);
        cr_assert_eq(back.len, 4);
        cr_assert_arr_eq(back.data, "qabc", 4);
        buf_free(&out);
        buf_free(&back);
}

/* The mount keeps an uncompressed blob where it was decrypted: only a
 * well-formed stored form of exactly raw_len bytes is handed out. */
Test(compress, stored_form_in_place)
{
        Buf out = {0};
        cr_assert_eq(compress_blob(COMPRESS_OFF, "abc", 3, &out), 0);
        cr_assert_eq(compress_stored(out.data, out.len, 3), out.data + 1);
        cr_assert_null(compress_stored(out.data, out.len, 2), "raw length differs");
        cr_assert_null(compress_stored(out.data, 0, 0), "empty input");
        out.len = 0;
        char text[4096];
        memset(text, 'a', sizeof(text));
        cr_assert_eq(compress_blob(COMPRESS_AUTO, text, sizeof(text), &out), 0);
        cr_assert_eq(out.data[0], 1);
        cr_assert_null(compress_stored(out.data, out.len, sizeof(text)), "compressed form");
        buf_free(&out);
}

Test(compress, level_parsing)
{
        cr_assert_eq(compress_parse_level("off"), COMPRESS_OFF);
        cr_assert_eq(compress_parse_level("fast"), COMPRESS_FAST);
        cr_assert_eq(compress_parse_level("auto"), COMPRESS_AUTO);
        cr_assert_eq(compress_parse_level("max"), COMPRESS_MAX);
        cr_assert_eq(compress_parse_level(""), -EINVAL);
        cr_assert_eq(compress_parse_level("Auto"), -EINVAL);
        cr_assert_eq(compress_parse_level("maximum"), -EINVAL);
        cr_assert_eq(compress_parse_level("3"), -EINVAL);
        cr_assert_str_eq(compress_level_name(COMPRESS_OFF), "off");
        cr_assert_str_eq(compress_level_name(COMPRESS_FAST), "fast");
        cr_assert_str_eq(compress_level_name(COMPRESS_AUTO), "auto");
        cr_assert_str_eq(compress_level_name(COMPRESS_MAX), "max");
        cr_assert_str_eq(compress_level_name(4), "?");
        cr_assert_str_eq(compress_level_name(-1), "?");
}

Test(compress, damaged_zstd_frame_is_ebadmsg)
{
        const size_t n = 8192;
        char *text = text_bytes(n);
        Buf stored = {0}, back = {0};
        cr_assert_eq(compress_blob(COMPRESS_AUTO, text, n, &stored), 0);
        cr_assert_eq(stored.data[0], 1);

        /* truncated frame */
        cr_assert_eq(compress_unblob(stored.data, stored.len - 1, n, &back), -EBADMSG);
        cr_assert_eq(compress_unblob(stored.data, 5, n, &back), -EBADMSG);
        cr_assert_eq(compress_unblob(stored.data, 1, n, &back), -EBADMSG);
        /* damaged magic number */
        stored.data[1] ^= 0xff;
        cr_assert_eq(compress_unblob(stored.data, stored.len, n, &back), -EBADMSG);
        stored.data[1] ^= 0xff;
        /* not a zstd frame at all */
        uint8_t junk[64];
        memset(junk, 0x5a, sizeof(junk));
        junk[0] = 1;
        cr_assert_eq(compress_unblob(junk, sizeof(junk), n, &back), -EBADMSG);
        /* unknown header byte and empty input */
        stored.data[0] = 2;
        cr_assert_eq(compress_unblob(stored.data, stored.len, n, &back), -EBADMSG);
        cr_assert_eq(compress_unblob(stored.data, 0, 0, &back), -EBADMSG);
        cr_assert_eq(back.len, 0, "nothing appended on failure");

        free(text);
        buf_free(&stored);
        buf_free(&back);
}

Test(compress, wrong_raw_len_is_ebadmsg)
{
        const size_t n = 8192;
        char *text = text_bytes(n);
        Buf stored = {0}, back = {0};

        cr_assert_eq(compress_blob(COMPRESS_AUTO, text, n, &stored), 0);
        cr_assert_eq(stored.data[0], 1);
        cr_assert_eq(compress_unblob(stored.data, stored.len, n - 1, &back), -EBADMSG);
        cr_assert_eq(compress_unblob(stored.data, stored.len, n + 1, &back), -EBADMSG);
        cr_assert_eq(compress_unblob(stored.data, stored.len, 0, &back), -EBADMSG);
        cr_assert_eq(back.len, 0);

        stored.len = 0;
        cr_assert_eq(compress_blob(COMPRESS_OFF, text, n, &stored), 0);
        cr_assert_eq(stored.data[0], 0);
        cr_assert_eq(compress_unblob(stored.data, stored.len, n - 1, &back), -EBADMSG);
        cr_assert_eq(compress_unblob(stored.data, stored.len, n + 1, &back), -EBADMSG);
        cr_assert_eq(back.len, 0);
        cr_assert_eq(compress_unblob(stored.data, stored.len, n, &back), 0);
        cr_assert_eq(back.len, n);

        free(text);
        buf_free(&stored);
        buf_free(&back);
}

/* Blobs of n bytes of gen(seed) with one hint; each must come back.
 * Returns how many were stored at zstd 1. */
static unsigned hinted(CompressHint *h, int level, uint8_t *(*gen)(size_t, uint64_t), unsigned blobs, size_t n)
{
        Buf stored = {0}, back = {0};
        unsigned fast = 0;
        for (unsigned i = 0; i < blobs; i++) {
                uint8_t *p = gen(n, 77 + i);
                stored.len = back.len = 0;
                int used = -1;
                cr_assert_eq(compress_blob_hint(level, h, p, n, &stored, &used), 0);
                cr_assert(used != 0 && stored.data[0] == 1, "blob %u stored raw", i);
                cr_assert_eq(compress_unblob(stored.data, stored.len, n, &back), 0);
                cr_assert_eq(back.len, n);
                cr_assert_arr_eq(back.data, p, n);
                fast += used == 1;
                free(p);
        }
        buf_free(&stored);
        buf_free(&back);
        return fast;
}

/* The premise of the hint, on these generators: zstd 1 is within 1% of
 * zstd 3 on records and not on logs. */
Test(compress, hint_premise)
{
        size_t n = 256 * 1024, bound = ZSTD_compressBound(n);
        uint8_t *out = malloc(bound);
        uint8_t *rec = record_bytes(n, 1), *log = log_bytes(n, 1);
        size_t r1 = ZSTD_compress(out, bound, rec, n, 1), r3 = ZSTD_compress(out, bound, rec, n, 3);
        size_t l1 = ZSTD_compress(out, bound, log, n, 1), l3 = ZSTD_compress(out, bound, log, n, 3);
        cr_assert_leq(r1, r3 + r3 / 100, "records: zstd 1 %zu, zstd 3 %zu", r1, r3);
        cr_assert_gt(l1, l3 + l3 / 50, "logs: zstd 1 %zu, zstd 3 %zu", l1, l3);
        cr_assert_lt(r3, n * 3 / 5, "records compress: %zu of %zu", r3, n);
        free(out);
        free(rec);
        free(log);
}

/* Records: after the first blob (the probe, stored at whichever level
 * came out smaller) the file's blobs go at zstd 1. */
Test(compress, hint_picks_zstd1_where_it_is_as_good)
{
        CompressHint *h = compress_hint_new();
        cr_assert_not_null(h);
        unsigned fast = hinted(h, COMPRESS_AUTO, record_bytes, 5, 256 * 1024);
        cr_assert_eq(h->zlevel, 1);
        cr_assert_geq(fast, 4, "%u of 5 blobs at zstd 1", fast);
        cr_assert_eq(h->seq, 5);
        compress_hint_unref(h);
}

/* Logs: the probe keeps zstd 3, and no blob is stored at zstd 1. */
Test(compress, hint_keeps_zstd3_where_it_pays)
{
        CompressHint *h = compress_hint_new();
        cr_assert_eq(hinted(h, COMPRESS_AUTO, log_bytes, 5, 256 * 1024), 0);
        cr_assert_eq(h->zlevel, 3);
        compress_hint_unref(h);
}

/* A stream that turns from logs to records: the probe of blob
 * COMPRESS_PROBE_EVERY looks again and moves it to zstd 1. */
Test(compress, hint_looks_again)
{
        CompressHint *h = compress_hint_new();
        cr_assert_eq(hinted(h, COMPRESS_AUTO, log_bytes, COMPRESS_PROBE_EVERY, 128 * 1024), 0);
        cr_assert_eq(h->zlevel, 3);
        cr_assert_geq(hinted(h, COMPRESS_AUTO, record_bytes, 2, 128 * 1024), 1);
        cr_assert_eq(h->zlevel, 1);
        compress_hint_unref(h);
}

/* Only "auto" follows a hint; "max" and "fast" keep their level. */
Test(compress, hint_only_under_auto)
{
        CompressHint *h = compress_hint_new();
        cr_assert_eq(hinted(h, COMPRESS_MAX, record_bytes, 2, 256 * 1024), 0);
        cr_assert_eq(hinted(h, COMPRESS_FAST, record_bytes, 2, 256 * 1024), 0);
        cr_assert_eq(h->seq, 0);
        cr_assert_eq(h->zlevel, 0, "decided without a probe");
        cr_assert_eq(compress_hint_ref(h), h);
        cr_assert_eq(h->refs, 2);
        compress_hint_unref(h);
        compress_hint_unref(h);
}
