/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <time.h>

void util_freep(void *p)
{
        free(*(void **)p);
}

void util_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}

int buf_reserve(Buf *b, size_t extra)
{
        if (b->len + extra <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra)
                cap = cap / 2 * 3 + 64;
        uint8_t *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int buf_append(Buf *b, const void *p, size_t n)
{
        int r = buf_reserve(b, n);
        if (r < 0)
                return r;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

void buf_free(Buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

uint8_t *buf_steal(Buf *b, size_t *len)
{
        uint8_t *p = b->data;
        if (len)
                *len = b->len;
        b->data = NULL;
        b->len = b->cap = 0;
        return p;
}

void util_hex(const uint8_t *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = 0;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int util_unhex(const char *in, uint8_t *out, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int hi = hexval(in[2 * i]), lo = hi < 0 ? -1 : hexval(in[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return in[2 * n] == 0 ? 0 : -EINVAL;
}

int util_read_full(int fd, void *p, size_t n)
{
        size_t done = 0;
        while (done < n) {
                ssize_t k = read(fd, (char *)p + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t)k;
        }
        return (int)done;
}

int util_write_full(int fd, const void *p, size_t n)
{
        size_t done = 0;
        while (done < n) {
                ssize_t k = write(fd, (const char *)p + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t)k;
        }
        return 0;
}

int util_pread_full(int fd, void *p, size_t n, uint64_t off)
{
        size_t done = 0;
        while (done < n) {
                ssize_t k = pread(fd, (char *)p + done, n - done, (off_t)(off + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t)k;
        }
        return (int)done;
}

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14; Debian 12's headers predate it */
#endif

/* All n bytes at off, with pwritev2's flags (0: a plain pwrite). */
static int pwrite_flags(int fd, const void *p, size_t n, uint64_t off, int flags)
{
        size_t done = 0;
        while (done < n) {
                struct iovec v = {(void *)((const char *)p + done), n - done};
                ssize_t k = pwritev2(fd, &v, 1, (off_t)(off + done), flags);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t)k;
        }
        return 0;
}

int util_pwrite_full(int fd, const void *p, size_t n, uint64_t off)
{
        return pwrite_flags(fd, p, n, off, 0);
}

/* The whole pages of [off, off + n): *head bytes before them, *mid bytes
 * long (0: none). */
static void page_middle(uint64_t off, size_t n, size_t *head, size_t *mid)
{
        *head = (size_t)((UTIL_DIRECT_ALIGN - off % UTIL_DIRECT_ALIGN) % UTIL_DIRECT_ALIGN);
        *mid = n > *head ? (n - *head) / UTIL_DIRECT_ALIGN * UTIL_DIRECT_ALIGN : 0;
}

/* The partial pages around that middle, through the page cache. */
static int pwrite_edges(int fd, const uint8_t *b, size_t n, uint64_t off, size_t head, size_t mid)
{
        int r = util_pwrite_full(fd, b, head, off);
        return r < 0 ? r : util_pwrite_full(fd, b + head + mid, n - head - mid, off + head + mid);
}

static int pwrite_chunks(int fd, const uint8_t *p, size_t n, uint64_t off, uint8_t *bounce, size_t bounce_len)
{
        if (((uintptr_t)p % UTIL_DIRECT_ALIGN) == 0)
                return util_pwrite_full(fd, p, n, off);
        for (size_t done = 0; done < n;) {
                size_t k = MIN(n - done, bounce_len);
                memcpy(bounce, p + done, k);
                int r = util_pwrite_full(fd, bounce, k, off + done);
                if (r < 0)
                        return r;
                done += k;
        }
        return 0;
}

/* O_DIRECT on fd for one transfer: the flags to put back, or -1 where it
 * is refused (the caller then goes through the page cache). Only for a
 * descriptor no other thread uses: the flag belongs to the open file. */
static int direct_on(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        return fl >= 0 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0 ? fl : -1;
}

int util_pwrite_direct(int fd, int dfd, const void *p, size_t n, uint64_t off, uint8_t *bounce,
                       size_t bounce_len)
{
        const uint8_t *b = p;
        size_t head, mid;
        page_middle(off, n, &head, &mid);
        bool aligned = ((uintptr_t)(b + head) % UTIL_DIRECT_ALIGN) == 0;
        if (dfd < 0 || n < UTIL_DIRECT_MIN || !mid || (!aligned && (!bounce || bounce_len < UTIL_DIRECT_ALIGN)))
                return util_pwrite_full(fd, p, n, off);
        int r = pwrite_chunks(dfd, b + head, mid, off + head, bounce, bounce_len / UTIL_DIRECT_ALIGN * UTIL_DIRECT_ALIGN);
        if (r == -EINVAL) /* refused: the same bytes through the page cache */
                r = util_pwrite_full(fd, b + head, mid, off + head);
        return r < 0 ? r : pwrite_edges(fd, b, n, off, head, mid);
}

int util_pwrite_uncached(int fd, const void *p, size_t n, uint64_t off)
{
        /* only whole pages uncached: a partly written page dropped once
         * written back would have to be read from the disk again when the
         * next write (the next blob of the file) fills the rest of it */
        const uint8_t *b = p;
        size_t head, mid;
        page_middle(off, n, &head, &mid);
        if (!mid || getenv("CAIRN_TEST_NO_UNCACHED")) /* the fallback's tests set it */
                return -EOPNOTSUPP;
        int r = pwrite_flags(fd, b + head, mid, off + head, RWF_DONTCACHE);
        return r < 0 ? r : pwrite_edges(fd, b, n, off, head, mid);
}

/* cachestat(2), Linux 6.5 (Debian 12's headers predate it) */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct cachestat_range_ {
        uint64_t off, len;
};
struct cachestat_ {
        uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int util_pread_direct(int fd, uint8_t *dst, size_t n, uint64_t off)
{
        /* around the page cache only when it holds none of the range (a read
         * with RWF_NOWAIT would start readahead into it); older kernels read
         * through it */
        struct cachestat_range_ range = {off, n};
        struct cachestat_ cs;
        if (n < UTIL_DIRECT_MIN || syscall(__NR_cachestat, fd, &range, &cs, 0) < 0 || cs.nr_cache)
                return util_pread_full(fd, dst, n, off);
        uint64_t a = off / UTIL_DIRECT_ALIGN * UTIL_DIRECT_ALIGN;
        size_t skip = (size_t)(off - a);
        size_t need = (skip + n + UTIL_DIRECT_ALIGN - 1) / UTIL_DIRECT_ALIGN * UTIL_DIRECT_ALIGN;
        uint8_t *p = (uint8_t *)(((uintptr_t)dst + UTIL_DIRECT_ALIGN - 1) & ~(uintptr_t)(UTIL_DIRECT_ALIGN - 1));
        int fl = direct_on(fd), r = -EINVAL;
        if (fl >= 0) {
                r = util_pread_full(fd, p, need, a);
                fcntl(fd, F_SETFL, fl);
        }
        if (r == -EINVAL) /* refused: through the page cache */
                return util_pread_full(fd, dst, n, off);
        if (r < 0)
                return r;
        size_t take = (size_t)r > skip ? MIN((size_t)r - skip, n) : 0;
        memmove(dst, p + skip, take);
        return (int)take;
}

int util_read_file(const char *path, char **out, size_t *len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        Buf b = {0};
        for (;;) {
                int r = buf_reserve(&b, 65536);
                if (r < 0) {
                        buf_free(&b);
                        return r;
                }
                ssize_t k = read(fd, b.data + b.len, b.cap - b.len - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        buf_free(&b);
                        return r;
                }
                if (k == 0)
                        break;
                b.len += (size_t)k;
        }
        b.data[b.len] = 0;
        if (len)
                *len = b.len;
        *out = (char *)b.data;
        return 0;
}

int util_mkdir_p(const char *path, unsigned mode)
{
        char tmp[4096];
        size_t n = strlen(path);
        if (n >= sizeof(tmp))
                return -ENAMETOOLONG;
        memcpy(tmp, path, n + 1);
        for (char *p = tmp + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

bool util_all_zero(const void *p, size_t n)
{
        const uint8_t *b = p;
        if (n == 0)
                return true;
        if (b[0] != 0)
                return false;
        /* each byte equals its successor and the first is zero */
        return memcmp(b, b + 1, n - 1) == 0;
}

uint64_t util_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void util_format_time(int64_t sec, long nsec, bool frac, char *out, size_t n)
{
        struct tm tm;
        time_t t = (time_t)sec;
        gmtime_r(&t, &tm);
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        if (frac)
                snprintf(out, n, "%s.%09ldZ", base, nsec);
        else
                snprintf(out, n, "%sZ", base);
}

int util_parse_time(const char *s, int64_t *sec, long *nsec)
{
        struct tm tm = {0};
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        long ns = 0;
        if (*p == '.') {
                p++;
                int digits = 0;
                while (*p >= '0' && *p <= '9') {
                        if (digits < 9) {
                                ns = ns * 10 + (*p - '0');
                                digits++;
                        }
                        p++;
                }
                while (digits++ < 9)
                        ns *= 10;
        }
        if (strcmp(p, "Z") != 0)
                return -EINVAL;
        *sec = (int64_t)timegm(&tm);
        if (nsec)
                *nsec = ns;
        return 0;
}

unsigned util_ncpu(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (unsigned)n : 1;
}

/* ---- per-thread scratch ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
        Buf *b = p;
        for (unsigned i = 0; i < UTIL_SCRATCH_SLOTS; i++)
                buf_free(&b[i]);
        free(b);
}

static void scratch_init(void)
{
        pthread_key_create(&scratch_key, scratch_free);
}

Buf *util_scratch(unsigned slot)
{
        pthread_once(&scratch_once, scratch_init);
        Buf *b = pthread_getspecific(scratch_key);
        if (!b) {
                b = calloc(UTIL_SCRATCH_SLOTS, sizeof(Buf));
                if (!b || pthread_setspecific(scratch_key, b) != 0) {
                        free(b);
                        return NULL;
                }
        }
        return &b[slot];
}

void util_scratch_trim(unsigned slot, size_t keep)
{
        Buf *b = util_scratch(slot);
        if (b && b->cap > keep)
                buf_free(b);
}
