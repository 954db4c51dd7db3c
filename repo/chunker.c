/* chunker.c — see chunker.h.
 *
 * FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking, level 2.
 * A gear hash h = (h << 1) + gear[byte] is rolled over the chunk starting at
 * byte `min` with h = 0; the bytes before `min` cannot hold a cut, so they
 * are not even read. Every bit of h is shifted out after 64 steps, so the
 * hash at any position depends on the last 64 bytes only, and starting from
 * zero costs nothing once 64 bytes have been hashed.
 *
 * Normalized chunking makes chunk sizes cluster around avg: up to avg a cut
 * needs log2(avg) + 2 zero bits (4x less likely than 1/avg), past avg only
 * log2(avg) - 2 (4x more likely), and at max the chunk is cut regardless.
 *
 * Everything below that decides a boundary is part of the repository
 * format: changing any of it changes every chunk id and loses
 * deduplication against existing snapshots. */
#include "chunker.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

struct Chunker {
        /* First, so that the table starts on sodium_malloc's alignment. */
        uint64_t gear[256];
        uint64_t mask_s; /* before avg: log2(avg) + 2 bits */
        uint64_t mask_l; /* from avg on: log2(avg) - 2 bits */
        size_t min, avg, max;
        size_t pad_; /* keeps sizeof a multiple of 16, see chunker_new */
};

/* Gear table, part of the repository format: the first 2048 bytes of the
 * XChaCha20 keystream (libsodium crypto_stream_xchacha20) keyed with the
 * 32-byte chunker seed and an all-zero 24-byte nonce, read as 256
 * little-endian uint64 values, gear[0] from bytes 0..7. A keystream is
 * used rather than the seed itself so the table is uniformly random and
 * does not reveal the seed. */
static void gear_derive(uint64_t gear[256], const uint8_t seed[32])
{
        uint8_t ks[256 * 8];
        static const uint8_t nonce[crypto_stream_xchacha20_NONCEBYTES];

        _Static_assert(crypto_stream_xchacha20_KEYBYTES == 32, "seed is the key");
        crypto_stream_xchacha20(ks, sizeof(ks), nonce, seed);
        for (size_t i = 0; i < 256; i++) {
                uint64_t v = 0;
                for (int b = 7; b >= 0; b--)
                        v = v << 8 | ks[i * 8 + b];
                gear[i] = v;
        }
        sodium_memzero(ks, sizeof(ks));
}

/* The top `bits` bits of the word. The low bits of a gear hash depend on
 * the last few bytes only (bit k on the last k + 1), so a mask there would
 * turn the 64-byte window into a handful of bytes; the top bits each see
 * at least 65 - bits bytes, and bit 63 all 64. FastCDC's spread masks
 * solve the same problem for low masks; taking the high bits directly is
 * simpler and needs no table. */
static uint64_t mask_top(unsigned bits)
{
        assert(bits >= 1 && bits <= 63);
        return ~UINT64_C(0) << (64 - bits);
}

static unsigned log2_pow2(size_t v)
{
        unsigned n = 0;
        while (v >>= 1)
                n++;
        return n;
}

int chunker_new(const uint8_t seed[32], size_t min, size_t avg, size_t max, Chunker **out)
{
        assert(seed);
        assert(out);
        *out = NULL;

        /* Below 64 bytes a chunk costs more in id, index entry and AEAD
         * tag than deduplicating it can save; avg's mask needs
         * log2(avg) + 2 <= 63 bits. */
        if (min < 64 || min >= avg || avg >= max || (avg & (avg - 1)) != 0)
                return -EINVAL;
        unsigned lg = log2_pow2(avg);
        if (lg + 2 > 63)
                return -EINVAL;

        /* sodium_malloc needs the library initialised; sodium_init is
         * idempotent and thread-safe, and the chunker may be the first
         * user (unit tests, tools that never touch a key). */
        if (sodium_init() < 0)
                return -ENOMEM; /* it could not set up its allocator */

        /* The gear table decides where boundaries fall, which is what the
         * seed keeps secret, so it lives in guarded memory and is wiped by
         * sodium_free. sodium_malloc aligns only sizes that are multiples
         * of 16. */
        _Static_assert(sizeof(Chunker) % 16 == 0, "sodium_malloc alignment");
        Chunker *c = sodium_malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;
        memset(c, 0, sizeof(*c));
        gear_derive(c->gear, seed);
        c->mask_s = mask_top(lg + 2);
        c->mask_l = mask_top(lg - 2);
        c->min = min;
        c->avg = avg;
        c->max = max;
        *out = c;
        return 0;
}

void chunker_free(Chunker *c)
{
        if (c)
                sodium_free(c); /* wipes */
}

size_t chunker_max(const Chunker *c)
{
        return c->max;
}

size_t chunker_min(const Chunker *c)
{
        return c->min;
}

/* Hides x from the optimiser's reassociation; emits no instruction. */
#define OPAQUE(x) __asm__("" : "+r"(x))

/* Rolls *h over p[i..end) and returns the index of the first byte after
 * which (h & mask) == 0, or end.
 *
 * The plain update h = (h << 1) + g is one scaled lea per byte, and on
 * recent Intel cores that lea has two cycles of latency: a serial loop
 * tops out near 1.5 GB/s at 3 GHz however it is unrolled. Four bytes at a
 * time, h4 = (h << 4) + t with t = 8g1 + 4g2 + 2g3 + g4 computed off the
 * dependency chain, leaves two cycles per four bytes on the chain; the
 * three intermediate hashes hang off h and only feed the tests. The
 * compiler would happily reassociate t back into the chain, hence OPAQUE.
 * The hashes, and so the cuts, are exactly those of the byte-at-a-time
 * loop; test_chunker.c checks that against a reference. */
static inline size_t scan(const uint64_t *restrict gear, const uint8_t *restrict p,
                          size_t i, size_t end, uint64_t mask, uint64_t *hp)
{
        uint64_t h = *hp;

        for (; i + 4 <= end; i += 4) {
                uint64_t g1 = gear[p[i]], g2 = gear[p[i + 1]];
                uint64_t g3 = gear[p[i + 2]], g4 = gear[p[i + 3]];
                uint64_t t2 = (g1 << 1) + g2;
                uint64_t t3 = (t2 << 1) + g3;
                uint64_t t4 = (t3 << 1) + g4;
                OPAQUE(t2);
                OPAQUE(t3);
                OPAQUE(t4);
                uint64_t h1 = (h << 1) + g1, h2 = (h << 2) + t2;
                uint64_t h3 = (h << 3) + t3, h4 = (h << 4) + t4;
                if (__builtin_expect(!(h1 & mask), 0)) {
                        h = h1;
                        goto found;
                }
                if (__builtin_expect(!(h2 & mask), 0)) {
                        h = h2;
                        i += 1;
                        goto found;
                }
                if (__builtin_expect(!(h3 & mask), 0)) {
                        h = h3;
                        i += 2;
                        goto found;
                }
                h = h4;
                if (__builtin_expect(!(h & mask), 0)) {
                        i += 3;
                        goto found;
                }
        }
        for (; i < end; i++) {
                h = (h << 1) + gear[p[i]];
                if (!(h & mask))
                        goto found;
        }
        *hp = h;
        return end;
found:
        *hp = h;
        return i;
}

/* A cut "after byte i" makes the chunk i + 1 bytes long: the byte that
 * completed the matching hash belongs to the chunk it ends. Chunk lengths
 * are therefore in (min, max], or shorter only at eof. */
size_t chunker_next(const Chunker *c, const uint8_t *buf, size_t len, bool eof)
{
        size_t end = len < c->max ? len : c->max;

        if (end <= c->min)
                return eof ? len : 0; /* len <= min < max here */

        uint64_t h = 0;
        size_t mid = end < c->avg ? end : c->avg;
        size_t i = scan(c->gear, buf, c->min, mid, c->mask_s, &h);
        if (i == mid && mid < end)
                i = scan(c->gear, buf, mid, end, c->mask_l, &h);
        if (i < end)
                return i + 1;

        if (len >= c->max)
                return c->max;
        return eof ? len : 0;
}
