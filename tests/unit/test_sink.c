/* test_sink.c — unit tests for backup/sink.c: the chunk boundaries of a
 * stream do not depend on how it is written, and small writes do not make
 * the chunker scan the same bytes again and again (a dumper writes a few
 * bytes at a time: 200,000 Redis keys once took 65 s of chunker time). */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "backend.h"
#include "compress.h"
#include "gen.h"
#include "pool.h"
#include "repo.h"
#include "sink.h"
#include "tree.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(sink, .init = setup);

#define SIZE (24u * 1024 * 1024)

static Backend *be; /* kept by the test, closed after the repository */

static Repo *repo_mem_level(int compression)
{
        be = NULL;
        cr_assert_eq(backend_mem_open(&be), 0);
        RepoInitOptions o = {.compression = compression};
        cr_assert_eq(key_kdf_parse("min", &o.kdf), 0);
        Repo *r = NULL;
        cr_assert_eq(repo_init_on(be, "pw", 2, &o, &r), 0);
        return r;
}

static Repo *repo_mem(void)
{
        return repo_mem_level(COMPRESS_OFF);
}

/* Write data in pieces of `piece` bytes; the node gets the content list. */
static void write_pieces(Repo *r, const uint8_t *data, size_t piece, Node *n, SinkCounters *c)
{
        Pool *p = NULL;
        Sink *s = NULL;
        cr_assert_eq(pool_new(r, 2, 64u << 20, &p), 0);
        cr_assert_eq(sink_new(r, p, &s), 0);
        sink_begin(s);
        for (size_t off = 0; off < SIZE; off += piece)
                cr_assert_eq(sink_write(s, data + off, piece < SIZE - off ? piece : SIZE - off), 0);
        cr_assert_eq(sink_finish(s, n), 0);
        sink_counters(s, c);
        cr_assert_eq(pool_drain(p), 0);
        sink_free(s);
        pool_free(p);
}

Test(sink, boundaries_do_not_depend_on_write_sizes)
{
        Repo *r = repo_mem();
        uint8_t *data = malloc(SIZE);
        randombytes_buf_deterministic(data, SIZE, (const unsigned char *)"sink test seed sink test seed 32");
        Node whole = {0}, small = {0}, odd = {0};
        SinkCounters c;
        write_pieces(r, data, SIZE, &whole, &c);
        write_pieces(r, data, 19, &small, &c);
        write_pieces(r, data, 1234567, &odd, &c);
        cr_assert_gt(whole.ncontent, 8, "a 24 MiB stream in %zu chunks", whole.ncontent);
        cr_assert_eq(small.ncontent, whole.ncontent);
        cr_assert_eq(odd.ncontent, whole.ncontent);
        cr_assert_eq(memcmp(small.content, whole.content, whole.ncontent * ID_LEN), 0);
        cr_assert_eq(memcmp(odd.content, whole.content, whole.ncontent * ID_LEN), 0);
        cr_assert_eq(small.size, SIZE);
        node_clear(&whole);
        node_clear(&small);
        node_clear(&odd);
        free(data);
        repo_close(r);
        backend_close(be);
}

Test(sink, small_writes_scan_each_byte_about_once)
{
        Repo *r = repo_mem();
        uint8_t *data = malloc(SIZE);
        randombytes_buf_deterministic(data, SIZE, (const unsigned char *)"another seed for the scan count!");
        Node n = {0};
        SinkCounters c;
        write_pieces(r, data, 27, &n, &c);
        cr_assert_eq(c.bytes, SIZE);
        /* a cut attempt sees at most max bytes and finds a boundary, so
         * bytes are scanned at most twice (the tail after a cut again) */
        cr_assert_leq(c.scanned, 2ull * SIZE, "scanned %llu bytes for %u", (unsigned long long)c.scanned, SIZE);
        node_clear(&n);
        free(data);
        repo_close(r);
        backend_close(be);
}

/* Chunks of every size, as a backup of many small files and a few big
 * ones makes them: the buffers come back and are handed out again, big
 * ones too, so after the first few nothing is allocated (each fresh
 * buffer is page faults; with 4 kept, and buffers of exactly a big
 * chunk's size, 1 GiB of the benchmark data took 800 allocations; here
 * 400 chunks took 195, now 34). */
Test(sink, pool_hands_out_its_buffers_again)
{
        Repo *r = repo_mem();
        Pool *p = NULL;
        cr_assert_eq(pool_new(r, 2, 8u << 20, &p), 0);
        uint32_t x = 12345;
        size_t chunks = 0;
        for (int i = 0; i < 400; i++) {
                x = x * 1103515245u + 12345u;
                /* 3 in 4 a small file (1-64 KiB), else 512 KiB to 8 MiB */
                size_t n = (x >> 8) % 4 ? 1024 + (x >> 12) % (63 * 1024)
                                         : (512u << 10) + (size_t)(x >> 4) % (((size_t)15 << 19) + 1);
                uint8_t *b = pool_buf_get(p, n);
                cr_assert_not_null(b);
                memset(b, i & 0xff, 64); /* the blob's bytes: its id comes from the first 64 */
                memset(b + 64, 0, n - 64);
                uint8_t id[ID_LEN] = {0};
                memcpy(id, &i, sizeof(i));
                cr_assert_eq(pool_submit(p, BLOB_DATA, id, b, n, NULL), 0);
                chunks++;
        }
        cr_assert_eq(pool_drain(p), 0);
        size_t fresh, reused;
        pool_buffer_counts(p, &fresh, &reused);
        cr_assert_eq(fresh + reused, chunks);
        /* at most what the queue (8 MiB) and two workers hold at once, in
         * power-of-two sizes from 64 KiB to 8 MiB */
        cr_assert_leq(fresh, 64, "%zu buffers allocated for %zu chunks", fresh, chunks);
        pool_free(p);
        repo_close(r);
        backend_close(be);
}

/* One file through a sink and a pool; the blobs stored at zstd 1. */
static uint64_t file_zstd1(Repo *r, const uint8_t *data, size_t n, size_t *chunks)
{
        Pool *p = NULL;
        Sink *s = NULL;
        RepoStats before, after;
        repo_stats(r, &before);
        /* one worker: the probe is done before the next blob is looked at
         * (with two, blobs compressed meanwhile go at zstd 3) */
        cr_assert_eq(pool_new(r, 1, 8u << 20, &p), 0);
        cr_assert_eq(sink_new(r, p, &s), 0);
        sink_begin(s);
        cr_assert_eq(sink_write(s, data, n), 0);
        Node node = {0};
        cr_assert_eq(sink_finish(s, &node), 0);
        cr_assert_eq(pool_drain(p), 0);
        *chunks = node.ncontent;
        node_clear(&node);
        sink_free(s);
        pool_free(p);
        repo_stats(r, &after);
        return after.blobs_zstd1 - before.blobs_zstd1;
}

/* Under "auto" a file of several chunks gets a hint: binary records go
 * at zstd 1 after the first chunk, logs stay at zstd 3, and a file of one
 * chunk gets none (zstd 3). */
Test(sink, files_learn_their_zstd_level)
{
        Repo *r = repo_mem_level(COMPRESS_AUTO);
        size_t chunks, big = 12u << 20, small = 300u << 10;
        uint8_t *rec = record_bytes(big, 5);
        uint64_t fast = file_zstd1(r, rec, big, &chunks);
        cr_assert_gt(chunks, 4, "%zu chunks", chunks);
        cr_assert_geq(fast, chunks - 1, "%llu of %zu chunks at zstd 1", (unsigned long long)fast, chunks);
        uint8_t *one = record_bytes(small, 6);
        cr_assert_eq(file_zstd1(r, one, small, &chunks), 0);
        cr_assert_eq(chunks, 1);
        uint8_t *log = log_bytes(big, 7);
        cr_assert_eq(file_zstd1(r, log, big, &chunks), 0);
        cr_assert_gt(chunks, 4);
        free(rec);
        free(one);
        free(log);
        repo_close(r);
        backend_close(be);
}
