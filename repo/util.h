/* util.h — small helpers shared by every folder: growable buffers, hex,
 * cleanup attributes, full reads and writes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(util_freep)
#define _cleanup_close_ _cleanup_(util_closep)
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

void util_freep(void *p);
void util_closep(int *fd);

/* A growable byte buffer. Zero-initialise; free with buf_free(). */
typedef struct Buf {
        uint8_t *data;
        size_t len, cap;
} Buf;

int buf_reserve(Buf *b, size_t extra);
int buf_append(Buf *b, const void *p, size_t n);
void buf_free(Buf *b);
/* Give the bytes to the caller (who free()s them) and reset b. */
uint8_t *buf_steal(Buf *b, size_t *len);

#define ID_LEN 32
#define ID_HEX_LEN 64
void util_hex(const uint8_t *in, size_t n, char *out); /* out: 2n+1 */
int util_unhex(const char *in, uint8_t *out, size_t n); /* 0 or -EINVAL */

int util_read_full(int fd, void *p, size_t n); /* bytes read (short at EOF) or -errno */
int util_write_full(int fd, const void *p, size_t n);
int util_pread_full(int fd, void *p, size_t n, uint64_t off);
int util_pwrite_full(int fd, const void *p, size_t n, uint64_t off);
/* util_pwrite_full, with the 4 KiB-aligned middle of a large write
 * (UTIL_DIRECT_MIN or more) sent around the page cache (O_DIRECT): on this
 * kind of VM filling fresh page-cache pages is what a restore or a pack
 * write spends most on, and neither is read back soon. The middle goes
 * straight from p when p sits at off's place in a page, otherwise through
 * bounce (4 KiB-aligned, bounce_len a multiple of 4 KiB; NULL: buffered).
 * Where O_DIRECT is refused (tmpfs, alignment) the write is buffered.
 * The middle goes through dfd, a second descriptor of the file opened
 * with O_DIRECT (-1: none, all buffered), the edges through fd. (O_DIRECT
 * set on fd for the middle instead would belong to the open file, and fail
 * another thread's unaligned write through it with EINVAL.) */
#define UTIL_DIRECT_MIN (16u * 1024)
#define UTIL_DIRECT_ALIGN 4096u
int util_pwrite_direct(int fd, int dfd, const void *p, size_t n, uint64_t off, uint8_t *bounce,
                       size_t bounce_len);
/* util_pwrite_full with the whole pages of the range written uncached
 * (pwritev2 RWF_DONTCACHE: Linux 6.14, ext4 6.17): they go through the page cache,
 * their writeback starts at once and the pages are given back when it
 * ends, so a restore recycles a few pages instead of filling fresh ones (on
 * this kind of VM the first touch of a page is what buffered writes cost
 * most) and does not wait for the disk as an O_DIRECT write does. The
 * partial pages at the edges are written through the page cache and stay
 * there, so that the neighbouring write does not read them back from the
 * disk. -EOPNOTSUPP, with nothing written, where the kernel or the file
 * system has no uncached writes, or the range holds no whole page; and
 * always when CAIRN_TEST_NO_UNCACHED is set (the tests of the fallback on
 * kernels before 6.14, Debian 12's own among them). */
int util_pwrite_uncached(int fd, const void *p, size_t n, uint64_t off);
/* util_pread_full for large reads of data not read again soon (packs): a
 * range the page cache holds none of is read around it (O_DIRECT,
 * 4 KiB-aligned, into dst and moved into place), so no page cache is
 * filled; otherwise, and where O_DIRECT or cachestat(2) is missing, through
 * it. dst has room for n + UTIL_DIRECT_SLACK bytes. */
/* dst rounded up to a page (< 4 KiB), off's place in its page (< 4 KiB),
 * the end rounded up to a page (< 4 KiB) */
#define UTIL_DIRECT_SLACK (3 * UTIL_DIRECT_ALIGN)
int util_pread_direct(int fd, uint8_t *dst, size_t n, uint64_t off);
/* Read a whole (small) file into a NUL-terminated buffer. */
int util_read_file(const char *path, char **out, size_t *len);
int util_mkdir_p(const char *path, unsigned mode);
bool util_all_zero(const void *p, size_t n);
uint64_t util_now_ns(void);
/* "2026-11-22T04:05:42Z" (and with fraction when frac). out >= 40 bytes. */
void util_format_time(int64_t sec, long nsec, bool frac, char *out, size_t n);
/* Parse RFC 3339 as written by util_format_time; 0 or -EINVAL. */
int util_parse_time(const char *s, int64_t *sec, long *nsec);
unsigned util_ncpu(void);

/* Per-thread scratch buffers, reused across calls and freed when the
 * thread exits (so worker threads that come and go leak nothing). */
enum { SCRATCH_SEAL, SCRATCH_OPEN, SCRATCH_SPAN, UTIL_SCRATCH_SLOTS };
Buf *util_scratch(unsigned slot);
/* Free a scratch buffer now if it grew beyond keep bytes. */
void util_scratch_trim(unsigned slot, size_t keep);
