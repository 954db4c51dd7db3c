/* test_chunker.c — unit tests for repo/chunker.c.
 *
 * Boundaries are part of the repository format (a change loses
 * deduplication against every existing snapshot), so the exact chunk
 * lengths for fixed seeds and inputs are pinned here, and the optimised
 * scan is checked against a byte-at-a-time reference written from the
 * format's description. Inputs come from xorshift64 so they are the same
 * on every machine without fixture files. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunker.h"
#include "gen.h"

#define MiB ((size_t)1024 * 1024)
#define DATA_SEED UINT64_C(0x9E3779B97F4A7C15)
#define PREFIX_SEED UINT64_C(0xD1B54A32D192ED03)

/* Little-endian bytes of successive xorshift64 outputs. */
static void fill_prng(uint8_t *p, size_t n, uint64_t seed)
{
        for (size_t i = 0; i < n; i += 8) {
                uint64_t v = xorshift64(&seed);
                for (size_t b = 0; b < 8 && i + b < n; b++)
                        p[i + b] = (uint8_t)(v >> (8 * b));
        }
}

static uint8_t *prng_data(size_t n, uint64_t seed)
{
        uint8_t *p = malloc(n);
        cr_assert_not_null(p);
        fill_prng(p, n, seed);
        return p;
}

static void seed_iota(uint8_t seed[32], uint8_t first)
{
        for (int i = 0; i < 32; i++)
                seed[i] = (uint8_t)(first + i);
}

static Chunker *chunker_for(uint8_t first, size_t min, size_t avg, size_t max)
{
        uint8_t seed[32];
        Chunker *c = NULL;
        seed_iota(seed, first);
        cr_assert_eq(chunker_new(seed, min, avg, max, &c), 0);
        cr_assert_not_null(c);
        return c;
}

static Chunker *chunker_default(uint8_t first)
{
        return chunker_for(first, CHUNKER_MIN_DEFAULT, CHUNKER_AVG_DEFAULT, CHUNKER_MAX_DEFAULT);
}

/* Chunks all of buf (eof) and returns the number of chunks; their lengths
 * go to lens[0..cap). */
static size_t chunk_all(const Chunker *c, const uint8_t *buf, size_t n, size_t *lens, size_t cap)
{
        size_t off = 0, k = 0;
        while (off < n) {
                size_t l = chunker_next(c, buf + off, n - off, true);
                cr_assert_gt(l, 0);
                cr_assert_leq(l, n - off);
                if (k < cap)
                        lens[k] = l;
                k++;
                off += l;
        }
        return k;
}

/* End offsets (exclusive) of the chunks of buf, each minus `base`. */
static size_t chunk_ends(const Chunker *c, const uint8_t *buf, size_t n, size_t base,
                         size_t *ends, size_t cap)
{
        size_t off = 0, k = 0;
        while (off < n) {
                off += chunker_next(c, buf + off, n - off, true);
                cr_assert_lt(k, cap);
                ends[k++] = off - base;
        }
        return k;
}

/* ------------------------------------------------------------------ */

Test(chunker, boundaries_stable_for_fixed_seed)
{
        static const size_t expected[] = {
                1140893, 1234340, 1380418, 1051241, 1071782, 1327520,
                1115627, 1011531, 1234661, 596827, 2148530, 949182,
                1109131, 755079, 1116642, 1011837, 1146946, 1074287,
                1128053, 807743, 1124722, 1064680, 1896860, 1091332,
                799813, 1176088, 1229200, 1221461, 1170658, 367348,
        };
        const size_t n = 32 * MiB;
        uint8_t *data = prng_data(n, DATA_SEED);
        Chunker *c = chunker_default(0);
        size_t lens[64];

        size_t k = chunk_all(c, data, n, lens, 64);
        cr_assert_eq(k, 30);
        cr_assert_eq(k, sizeof(expected) / sizeof(expected[0]));
        size_t sum = 0;
        for (size_t i = 0; i < k; i++) {
                cr_expect_eq(lens[i], expected[i], "chunk %zu: %zu != %zu", i, lens[i], expected[i]);
                sum += lens[i];
        }
        cr_assert_eq(sum, n);

        chunker_free(c);
        free(data);
}

Test(chunker, shifted_input_resynchronises)
{
        const size_t n = 32 * MiB, shift = 1000;
        uint8_t *shifted = malloc(shift + n);
        cr_assert_not_null(shifted);
        fill_prng(shifted, shift, PREFIX_SEED);
        fill_prng(shifted + shift, n, DATA_SEED);
        const uint8_t *data = shifted + shift;
        Chunker *c = chunker_default(0);
        size_t a[64], b[64];

        size_t na = chunk_ends(c, data, n, 0, a, 64);
        /* As offsets into the original data (the first chunk is longer
         * than min > shift, so none ends inside the prefix). */
        size_t nb = chunk_ends(c, shifted, shift + n, shift, b, 64);

        size_t ia = 0, ib = 0;
        while (ib < nb && ib <= 2) {
                for (ia = 0; ia < na && a[ia] != b[ib]; ia++)
                        ;
                if (ia < na)
                        break;
                ib++;
        }
        cr_assert_leq(ib, 2, "no common boundary among the first 3 shifted ones");
        cr_assert_leq(ia, 2);
        cr_log_info("shifted input: resynchronised after %zu chunk(s)", ib);
        cr_assert_eq(na - ia, nb - ib);
        for (; ia < na; ia++, ib++)
                cr_assert_eq(a[ia], b[ib], "boundary %zu: %zu != %zu", ia, a[ia], b[ib]);

        chunker_free(c);
        free(shifted);
}

Test(chunker, different_seed_different_boundaries)
{
        const size_t n = 32 * MiB;
        uint8_t *data = prng_data(n, DATA_SEED);
        Chunker *c0 = chunker_default(0), *c1 = chunker_default(1);
        size_t a[64], b[64];

        size_t na = chunk_ends(c0, data, n, 0, a, 64);
        size_t nb = chunk_ends(c1, data, n, 0, b, 64);
        /* Both end at n; no content-defined boundary may coincide. */
        size_t common = 0;
        for (size_t i = 0; i + 1 < na; i++)
                for (size_t j = 0; j + 1 < nb; j++)
                        common += a[i] == b[j];
        cr_assert_eq(na, 30);
        cr_assert_eq(nb, 28);
        cr_assert_eq(common, 0);

        chunker_free(c0);
        chunker_free(c1);
        free(data);
}

Test(chunker, zeros_cut_at_max)
{
        const size_t n = 20 * MiB;
        uint8_t *zeros = calloc(n, 1);
        cr_assert_not_null(zeros);
        Chunker *c = chunker_default(0);
        size_t lens[8];

        cr_assert_eq(chunk_all(c, zeros, n, lens, 8), 3);
        cr_assert_eq(lens[0], CHUNKER_MAX_DEFAULT);
        cr_assert_eq(lens[1], CHUNKER_MAX_DEFAULT);
        cr_assert_eq(lens[2], n - 2 * CHUNKER_MAX_DEFAULT);
        /* Not at eof either: a full max-sized window is a chunk. */
        cr_assert_eq(chunker_next(c, zeros, n, false), CHUNKER_MAX_DEFAULT);
        cr_assert_eq(chunker_next(c, zeros, CHUNKER_MAX_DEFAULT, false), CHUNKER_MAX_DEFAULT);

        chunker_free(c);
        free(zeros);
}

Test(chunker, chunks_longer_than_min_except_last)
{
        const size_t n = 32 * MiB;
        uint8_t *data = prng_data(n, DATA_SEED);
        const size_t small_n = MiB + 7, cap = small_n / 64 + 1;
        Chunker *c = chunker_for(0, 64, 256, 1024);
        size_t *lens = malloc(cap * sizeof(*lens));
        cr_assert_not_null(lens);

        size_t k = chunk_all(c, data, small_n, lens, cap);
        cr_assert_gt(k, 1000);
        for (size_t i = 0; i + 1 < k; i++) {
                cr_assert_gt(lens[i], 64, "chunk %zu is %zu bytes", i, lens[i]);
                cr_assert_leq(lens[i], 1024);
        }
        free(lens);
        chunker_free(c);

        c = chunker_default(0);
        size_t big[64];
        k = chunk_all(c, data, n, big, 64);
        for (size_t i = 0; i + 1 < k; i++) {
                cr_assert_gt(big[i], CHUNKER_MIN_DEFAULT);
                cr_assert_leq(big[i], CHUNKER_MAX_DEFAULT);
        }
        cr_assert_lt(big[k - 1], CHUNKER_MIN_DEFAULT, "this input ends in a short chunk");

        chunker_free(c);
        free(data);
}

Test(chunker, eof_short_input)
{
        const size_t n = 2 * MiB;
        uint8_t *zeros = calloc(CHUNKER_MAX_DEFAULT, 1);
        cr_assert_not_null(zeros);
        Chunker *c = chunker_default(0);

        /* Shorter than min. */
        cr_assert_eq(chunker_next(c, zeros, 1000, true), 1000);
        cr_assert_eq(chunker_next(c, zeros, 1000, false), 0);
        cr_assert_eq(chunker_next(c, zeros, CHUNKER_MIN_DEFAULT, true), CHUNKER_MIN_DEFAULT);
        cr_assert_eq(chunker_next(c, zeros, CHUNKER_MIN_DEFAULT, false), 0);
        cr_assert_eq(chunker_next(c, zeros, 0, true), 0);
        cr_assert_eq(chunker_next(c, zeros, 0, false), 0);
        /* Between min and max with no cut (zeros never cut with this seed). */
        cr_assert_eq(chunker_next(c, zeros, n, true), n);
        cr_assert_eq(chunker_next(c, zeros, n, false), 0);
        cr_assert_eq(chunker_next(c, zeros, CHUNKER_MAX_DEFAULT - 1, false), 0);

        chunker_free(c);
        free(zeros);
}

Test(chunker, invalid_parameters)
{
        uint8_t seed[32];
        Chunker *c;
        seed_iota(seed, 0);

        static const size_t bad[][3] = {
                {512, 512, 4096},     /* min == avg */
                {1024, 512, 4096},    /* min > avg */
                {64, 4096, 4096},     /* avg == max */
                {64, 8192, 4096},     /* avg > max */
                {64, 3000, 4096},     /* avg not a power of two */
                {100, 384, 4096},     /* avg not a power of two */
                {63, 128, 256},       /* min below 64 */
                {0, 128, 256},
                {0, 0, 0},
                {64, (size_t)1 << 62, SIZE_MAX}, /* mask_s would need 64 bits */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                c = (Chunker *)seed; /* must be reset to NULL on failure */
                cr_assert_eq(chunker_new(seed, bad[i][0], bad[i][1], bad[i][2], &c), -EINVAL,
                             "case %zu", i);
                cr_assert_null(c);
        }

        cr_assert_eq(chunker_new(seed, 64, 128, 129, &c), 0);
        cr_assert_eq(chunker_min(c), 64);
        cr_assert_eq(chunker_max(c), 129);
        chunker_free(c);
        chunker_free(NULL);
}

Test(chunker, small_sizes_exact)
{
        static const size_t expected[] = {
                324, 335, 261, 155, 283, 263, 274, 117, 262, 176, 492, 277,
                352, 189, 315, 273, 441, 305, 321, 276, 272, 320, 280, 317,
                310, 257, 240, 69, 328, 473, 273, 278, 283, 287, 242, 473,
                313, 260, 345, 344, 364, 267, 165, 297, 317, 350, 202, 321,
                276, 360, 275, 413, 352, 295, 134, 307, 396, 295, 273, 316,
                363, 303, 404, 349, 117, 303, 268, 362, 258, 296, 271, 305,
                291, 288, 311, 68, 283, 263, 134, 71, 267, 76, 261, 266,
                319, 326, 261, 300, 298, 317, 312, 348, 211, 283, 311, 270,
                262, 280, 127, 302, 260, 270, 572, 346, 310, 333, 303, 270,
                285, 235, 272, 231, 107, 307, 418, 451, 407, 299, 277, 259,
                293, 122, 325, 298, 303, 281, 272, 345, 309, 111, 296, 257,
                338, 422, 288, 370, 289, 110, 379, 353, 352, 352, 280, 310,
                491, 264, 303, 336, 351, 265, 271, 85, 290, 304, 262, 211,
                264, 356, 417, 440, 273, 259, 347, 268, 269, 302, 265, 370,
                276, 270, 361, 261, 467, 257, 309, 308, 284, 321, 294, 230,
                428, 262, 370, 258, 286, 282, 196, 187, 291, 237, 361, 257,
                200, 299, 315, 350, 345, 281, 93, 299, 262, 402, 294, 430,
                320, 450, 304, 271, 335, 80, 306, 308, 268, 135, 230, 376,
                258, 450, 66, 328, 324, 378, 281, 269, 83, 228,
        };
        const size_t n = 64 * 1024;
        uint8_t *data = prng_data(n, DATA_SEED);
        Chunker *c = chunker_for(0, 64, 256, 1024);
        size_t lens[512];

        size_t k = chunk_all(c, data, n, lens, 512);
        cr_assert_eq(k, 226);
        cr_assert_eq(k, sizeof(expected) / sizeof(expected[0]));
        size_t sum = 0;
        for (size_t i = 0; i < k; i++) {
                cr_expect_eq(lens[i], expected[i], "chunk %zu: %zu != %zu", i, lens[i], expected[i]);
                sum += lens[i];
        }
        cr_assert_eq(sum, n);

        chunker_free(c);
        free(data);
}

/* ------------------------------------------------------------------ */

/* The format as documented in chunker.c, one byte at a time. */
static void ref_gear(const uint8_t seed[32], uint64_t gear[256])
{
        static const uint8_t nonce[24];
        uint8_t ks[2048];
        crypto_stream_xchacha20(ks, sizeof(ks), nonce, seed);
        for (int i = 0; i < 256; i++) {
                gear[i] = 0;
                for (int b = 0; b < 8; b++)
                        gear[i] |= (uint64_t)ks[8 * i + b] << (8 * b);
        }
}

static size_t ref_next(const uint64_t gear[256], size_t min, size_t avg, size_t max,
                       const uint8_t *buf, size_t len, bool eof)
{
        unsigned lg = (unsigned)__builtin_ctzll(avg);
        uint64_t mask_s = ~UINT64_C(0) << (64 - (lg + 2));
        uint64_t mask_l = ~UINT64_C(0) << (64 - (lg - 2));
        uint64_t h = 0;

        for (size_t i = min; i < len && i < max; i++) {
                h = (h << 1) + gear[buf[i]];
                if ((h & (i < avg ? mask_s : mask_l)) == 0)
                        return i + 1;
        }
        if (len >= max)
                return max;
        return eof ? len : 0;
}

Test(chunker, matches_reference_definition)
{
        static const size_t sizes[][3] = {
                {64, 128, 256}, {65, 256, 1024}, {100, 512, 4096},
                {1000, 4096, 5003}, {4095, 8192, 65536},
        };
        const size_t n = 4 * MiB;
        uint8_t *data = prng_data(n, DATA_SEED);
        /* Low-entropy stretches so the max cut and long scans happen. */
        memset(data + MiB, 0, 100000);
        memset(data + 2 * MiB, 0xa5, 300000);
        uint64_t rng = PREFIX_SEED;

        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                uint8_t seed[32];
                uint64_t gear[256];
                seed_iota(seed, (uint8_t)(7 * s));
                ref_gear(seed, gear);
                Chunker *c = chunker_for((uint8_t)(7 * s), sizes[s][0], sizes[s][1], sizes[s][2]);
                size_t min = sizes[s][0], avg = sizes[s][1], max = sizes[s][2];

                for (size_t off = 0; off < n;) {
                        size_t rem = n - off;
                        size_t want = ref_next(gear, min, avg, max, data + off, rem, true);
                        cr_assert_eq(chunker_next(c, data + off, rem, true), want,
                                     "sizes %zu at %zu", s, off);
                        /* The same chunk seen through a random shorter window. */
                        size_t len = xorshift64(&rng) % (max + 16);
                        if (len > rem)
                                len = rem;
                        for (int eof = 0; eof <= 1; eof++)
                                cr_assert_eq(chunker_next(c, data + off, len, eof),
                                             ref_next(gear, min, avg, max, data + off, len, eof),
                                             "sizes %zu at %zu len %zu eof %d", s, off, len, eof);
                        off += want;
                }
                chunker_free(c);
        }
        free(data);
}

/* How a backup feeds the chunker: a window that grows by reads of
 * arbitrary size, restarting at each chunk. The result must not depend on
 * how the data arrived. */
Test(chunker, streaming_matches_whole_buffer)
{
        const size_t n = 32 * MiB;
        uint8_t *data = prng_data(n, DATA_SEED);
        Chunker *c = chunker_default(0);
        size_t whole[64], streamed[64];
        uint64_t rng = PREFIX_SEED;

        size_t nw = chunk_all(c, data, n, whole, 64);
        size_t ns = 0, start = 0, avail = 0;
        while (start < n) {
                size_t l = chunker_next(c, data + start, avail - start, avail == n);
                if (l == 0) {
                        size_t read = 1 + xorshift64(&rng) % (3 * MiB);
                        avail = avail + read < n ? avail + read : n;
                        continue;
                }
                cr_assert_lt(ns, 64);
                streamed[ns++] = l;
                start += l;
                if (avail < start)
                        avail = start;
        }
        cr_assert_eq(ns, nw);
        for (size_t i = 0; i < nw; i++)
                cr_assert_eq(streamed[i], whole[i], "chunk %zu", i);

        chunker_free(c);
        free(data);
}

/* Measured, not asserted: the number depends on the machine and on what
 * else runs. "scan" counts only the bytes hashed (past min in each
 * chunk), which is what the gear loop costs. */
Test(chunker, scan_throughput)
{
        const size_t n = 256 * MiB;
        uint8_t *data = prng_data(n, DATA_SEED);
        Chunker *c = chunker_default(0);
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        size_t off = 0, hashed = 0, chunks = 0;
        while (off < n) {
                size_t l = chunker_next(c, data + off, n - off, true);
                if (l > CHUNKER_MIN_DEFAULT)
                        hashed += l - CHUNKER_MIN_DEFAULT;
                off += l;
                chunks++;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

        /* printf, not cr_log_info: shown without --verbose. */
        printf("chunker: %zu chunks in %zu MiB: input %.0f MB/s, scan %.0f MB/s (%zu bytes hashed)\n",
               chunks, n / MiB, (double)n / sec / 1e6, (double)hashed / sec / 1e6, hashed);
        cr_assert_eq(off, n);

        chunker_free(c);
        free(data);
}
