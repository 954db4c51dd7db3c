/* gen.h — test data for the unit tests: the xorshift64 generator their
 * inputs come from (the same bytes on every machine), and two kinds of
 * data the compression hint tells apart (test_compress.c, test_sink.c).
 * Fails the test when out of memory. */
#pragma once
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t xorshift64(uint64_t *s)
{
        uint64_t x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

/* Binary records like the benchmark's .dat files (32 bytes: a counter, a
 * time, small skewed fields, a magic): zstd 1 comes within 1% of zstd 3. */
static inline uint8_t *record_bytes(size_t n, uint64_t seed)
{
        uint8_t *p = calloc(1, n + 32);
        cr_assert_not_null(p);
        uint32_t seq = 1000, tim = 1650000000;
        for (size_t off = 0; off < n; off += 32, seq++, tim += 10) {
                uint8_t *r = p + off;
                memcpy(r, &seq, 4);
                memcpy(r + 4, &tim, 4);
                uint64_t x = xorshift64(&seed), y = xorshift64(&seed);
                r[8] = (uint8_t)(x & 0x3f);
                r[10] = (uint8_t)((x >> 8) & (x >> 16) & (x >> 24));
                memcpy(r + 12, "REC1", 4);
                for (int j = 0; j < 12; j++)
                        r[16 + j] = (uint8_t)((y >> (5 * j)) & (y >> (5 * j + 2)) & 0x1f);
        }
        return p;
}

/* Log lines of words from a vocabulary of 256, picked with a skew, as
 * the benchmark's logs: zstd 3 finds more matches, well over 1% smaller. */
static inline uint8_t *log_bytes(size_t n, uint64_t seed)
{
        static const char *const syl[] = {"ba", "ker", "lo", "tion", "pa", "ck", "re", "st", "in", "dex",
                                          "sn", "ap", "or", "mu", "th", "ent"};
        static const char *const lvl[] = {"INFO ", "DEBUG", "WARN ", "INFO "};
        char *p = malloc(n + 512);
        cr_assert_not_null(p);
        size_t k = 0;
        for (unsigned i = 0; k < n; i++) {
                uint64_t x = xorshift64(&seed);
                k += (size_t)sprintf(p + k, "2026-12-06T%02u:%02u:%02u.%03uZ %s [%s%s]", i / 3600 % 24, i / 60 % 60,
                                     i % 60, (unsigned)(x % 1000), lvl[(x >> 10) % 4], syl[(x >> 12) % 4],
                                     syl[(x >> 14) % 16]);
                for (unsigned w = 0, nw = 3 + (unsigned)(x >> 18) % 7; w < nw; w++) {
                        uint64_t y = xorshift64(&seed);
                        unsigned a = (unsigned)(y & (y >> 4) & 15), b = (unsigned)((y >> 8) % 16);
                        k += (size_t)sprintf(p + k, " %s%s", syl[a], syl[b]);
                }
                k += (size_t)sprintf(p + k, " id=%u took=%ums\n", (unsigned)(x >> 24) % 100000,
                                     (unsigned)(x >> 44) % 1000);
        }
        return (uint8_t *)p;
}
