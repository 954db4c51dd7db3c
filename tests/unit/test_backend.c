/* test_backend.c — unit tests for repo/backend-local.c and repo/backend-mem.c.
 *
 * The local backend runs in a fresh mkdtemp directory per test and is
 * checked against what is on disk (nested directories, no ".tmp-" files
 * left behind, nothing created by a mere open). The in-memory backend is
 * what every other repo/ test runs on, so its call counters are pinned
 * exactly: other tests assert engine behaviour through them. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "backend.h"
#include "util.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(backend, .init = setup);

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void rm_rf(const char *path)
{
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under TMPDIR; the caller removes it with rm_rf. */
static void temp_dir(char out[256])
{
        const char *tmp = getenv("TMPDIR");
        snprintf(out, 256, "%s/cairn-backend-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        cr_assert_not_null(mkdtemp(out));
}

static Backend *local_in(const char *dir)
{
        Backend *be = NULL;
        cr_assert_eq(backend_local_open(dir, &be), 0);
        cr_assert_not_null(be);
        cr_assert_str_eq(be->kind, "local");
        cr_assert_eq(be->version, BACKEND_VERSION);
        return be;
}

/* Collects listed names (sorted afterwards) and their sizes. */
typedef struct Listing {
        char names[64][128];
        uint64_t sizes[64];
        size_t n;
} Listing;

static int listing_cb(const char *name, uint64_t size, void *ud)
{
        Listing *l = ud;
        cr_assert_lt(l->n, 64);
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
        l->sizes[l->n++] = size;
        return 0;
}

static void listing_sort(Listing *l)
{
        for (size_t i = 1; i < l->n; i++)
                for (size_t j = i; j > 0 && strcmp(l->names[j - 1], l->names[j]) > 0; j--) {
                        char t[128];
                        uint64_t s = l->sizes[j];
                        memcpy(t, l->names[j], sizeof(t));
                        memcpy(l->names[j], l->names[j - 1], sizeof(t));
                        memcpy(l->names[j - 1], t, sizeof(t));
                        l->sizes[j] = l->sizes[j - 1];
                        l->sizes[j - 1] = s;
                }
}

static Listing list_sorted(Backend *be, const char *prefix)
{
        Listing l = {0};
        cr_assert_eq(backend_list(be, prefix, listing_cb, &l), 0, "list %s", prefix);
        listing_sort(&l);
        return l;
}

static int stop_cb(const char *name, uint64_t size, void *ud)
{
        (*(int *)ud)++;
        return 42;
}

/* Counts directory entries whose name contains ".tmp-", recursively. */
static size_t count_tmp(const char *dir)
{
        DIR *d = opendir(dir);
        cr_assert_not_null(d, "%s", dir);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (strstr(de->d_name, ".tmp-"))
                        n++;
                char sub[512];
                struct stat st;
                snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
                if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                        n += count_tmp(sub);
        }
        closedir(d);
        return n;
}

static const char sample[] = "0123456789abcdefghijklmnopqrstuvwxyz";
#define SAMPLE_LEN (sizeof(sample) - 1)

/* ---- local ---- */

Test(backend, local_write_read_whole_and_ranges)
{
        char dir[256];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(backend_write(be, "config", sample, SAMPLE_LEN), 0);
        Buf b = {0};
        cr_assert_eq(backend_read(be, "config", 0, 0, &b), 0);
        cr_assert_eq(b.len, 36);
        cr_assert_arr_eq(b.data, sample, 36);

        /* reads append */
        cr_assert_eq(backend_read(be, "config", 10, 6, &b), 0);
        cr_assert_eq(b.len, 42);
        cr_assert_arr_eq(b.data + 36, "abcdef", 6);

        b.len = 0;
        cr_assert_eq(backend_read(be, "config", 30, 0, &b), 0, "len 0 reads to the end");
        cr_assert_eq(b.len, 6);
        cr_assert_arr_eq(b.data, "uvwxyz", 6);

        b.len = 0;
        cr_assert_eq(backend_read(be, "config", 35, 1, &b), 0);
        cr_assert_eq(b.len, 1);
        cr_assert_eq(b.data[0], 'z');

        b.len = 0;
        cr_assert_eq(backend_read(be, "config", 36, 0, &b), 0, "empty tail");
        cr_assert_eq(b.len, 0);
        cr_assert_eq(backend_read(be, "config", 30, 10, &b), -ENODATA, "range past the end");
        cr_assert_eq(backend_read(be, "config", 37, 0, &b), -EINVAL, "offset past the end");

        /* overwrite replaces the whole object */
        cr_assert_eq(backend_write(be, "config", "xyz", 3), 0);
        b.len = 0;
        cr_assert_eq(backend_read(be, "config", 0, 0, &b), 0);
        cr_assert_eq(b.len, 3);
        cr_assert_arr_eq(b.data, "xyz", 3);

        /* an empty object */
        cr_assert_eq(backend_write(be, "locks/empty", "", 0), 0);
        b.len = 0;
        cr_assert_eq(backend_read(be, "locks/empty", 0, 0, &b), 0);
        cr_assert_eq(b.len, 0);

        buf_free(&b);
        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_write_creates_nested_directories)
{
        char dir[256], path[512];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(backend_write(be, "data/ab/ab01", sample, 10), 0);
        snprintf(path, sizeof(path), "%s/data/ab/ab01", dir);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert(S_ISREG(st.st_mode));
        cr_assert_eq(st.st_size, 10);
        cr_assert_eq(st.st_mode & 07777, 0600);

        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_list_by_prefix)
{
        char dir[256];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(be->create(be), 0);
        cr_assert_eq(backend_write(be, "config", sample, 1), 0);
        cr_assert_eq(backend_write(be, "data/ab/ab01", sample, 2), 0);
        cr_assert_eq(backend_write(be, "data/ab/ab02", sample, 3), 0);
        cr_assert_eq(backend_write(be, "data/cd/cd01", sample, 4), 0);
        cr_assert_eq(backend_write(be, "index/i1", sample, 5), 0);
        cr_assert_eq(backend_write(be, "snapshots/s1", sample, 6), 0);
        cr_assert_eq(backend_write(be, "snapshots/s2", sample, 7), 0);

        Listing l = list_sorted(be, "data/");
        cr_assert_eq(l.n, 3);
        cr_assert_str_eq(l.names[0], "data/ab/ab01");
        cr_assert_str_eq(l.names[1], "data/ab/ab02");
        cr_assert_str_eq(l.names[2], "data/cd/cd01");
        cr_assert_eq(l.sizes[0], 2);
        cr_assert_eq(l.sizes[1], 3);
        cr_assert_eq(l.sizes[2], 4);

        l = list_sorted(be, "data/ab/");
        cr_assert_eq(l.n, 2);
        cr_assert_str_eq(l.names[0], "data/ab/ab01");
        cr_assert_str_eq(l.names[1], "data/ab/ab02");

        l = list_sorted(be, "data/ab/ab02");
        cr_assert_eq(l.n, 1);
        cr_assert_str_eq(l.names[0], "data/ab/ab02");

        l = list_sorted(be, "snapshots/");
        cr_assert_eq(l.n, 2);
        cr_assert_str_eq(l.names[0], "snapshots/s1");
        cr_assert_str_eq(l.names[1], "snapshots/s2");
        cr_assert_eq(l.sizes[1], 7);

        l = list_sorted(be, "snap");
        cr_assert_eq(l.n, 2, "a prefix may end inside a directory name");

        l = list_sorted(be, "keys/");
        cr_assert_eq(l.n, 0, "an existing empty directory");
        l = list_sorted(be, "nothere/");
        cr_assert_eq(l.n, 0, "a missing directory lists nothing");

        l = list_sorted(be, "");
        cr_assert_eq(l.n, 7);
        cr_assert_str_eq(l.names[0], "config");
        cr_assert_str_eq(l.names[4], "index/i1");

        /* a non-zero callback return stops the walk and is returned */
        int calls = 0;
        cr_assert_eq(backend_list(be, "data/", stop_cb, &calls), 42);
        cr_assert_eq(calls, 1);

        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_remove)
{
        char dir[256], path[512];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(backend_write(be, "data/ab/ab01", sample, 2), 0);
        cr_assert_eq(backend_write(be, "data/ab/ab02", sample, 3), 0);
        cr_assert_eq(backend_remove(be, "data/ab/ab01"), 0);
        snprintf(path, sizeof(path), "%s/data/ab/ab01", dir);
        cr_assert_eq(access(path, F_OK), -1);

        Listing l = list_sorted(be, "data/");
        cr_assert_eq(l.n, 1);
        cr_assert_str_eq(l.names[0], "data/ab/ab02");
        Buf b = {0};
        cr_assert_eq(backend_read(be, "data/ab/ab01", 0, 0, &b), -ENOENT);
        cr_assert_eq(backend_remove(be, "data/ab/ab01"), -ENOENT, "removing twice");

        buf_free(&b);
        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_stat)
{
        char dir[256];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(backend_write(be, "index/i1", sample, SAMPLE_LEN), 0);
        uint64_t size = 12345;
        cr_assert_eq(backend_stat(be, "index/i1", &size), 0);
        cr_assert_eq(size, 36);
        cr_assert_eq(backend_stat(be, "index/i1", NULL), 0, "size is optional");
        cr_assert_eq(backend_write(be, "index/i2", "", 0), 0);
        cr_assert_eq(backend_stat(be, "index/i2", &size), 0);
        cr_assert_eq(size, 0);

        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_missing_object_is_enoent)
{
        char dir[256];
        temp_dir(dir);
        Backend *be = local_in(dir);
        Buf b = {0};
        uint64_t size;

        cr_assert_eq(backend_read(be, "config", 0, 0, &b), -ENOENT);
        cr_assert_eq(backend_read(be, "data/ab/ab01", 4, 4, &b), -ENOENT);
        cr_assert_eq(b.len, 0);
        cr_assert_eq(backend_stat(be, "config", &size), -ENOENT);
        cr_assert_eq(backend_stat(be, "data/ab/ab01", &size), -ENOENT);
        cr_assert_eq(backend_remove(be, "config"), -ENOENT);

        buf_free(&b);
        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_write_leaves_no_temp_files)
{
        char dir[256];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(be->create(be), 0);
        for (int i = 0; i < 20; i++) {
                char name[64];
                snprintf(name, sizeof(name), "data/%02x/%02x%04d", i % 3, i % 3, i);
                cr_assert_eq(backend_write(be, name, sample, (size_t)i), 0);
        }
        cr_assert_eq(backend_write(be, "config", sample, 5), 0);
        cr_assert_eq(backend_write(be, "config", sample, 6), 0, "overwrite");
        cr_assert_eq(count_tmp(dir), 0);
        cr_assert_eq(list_sorted(be, "data/").n, 20);

        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_list_skips_temp_files)
{
        char dir[256], path[512];
        temp_dir(dir);
        Backend *be = local_in(dir);

        cr_assert_eq(backend_write(be, "data/ab/ab01", sample, 2), 0);
        /* what a crash in the middle of a write leaves behind */
        snprintf(path, sizeof(path), "%s/data/ab/ab02.tmp-0123456789abcdef", dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs("partial", f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/config.tmp-0011223344556677", dir);
        f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);

        Listing l = list_sorted(be, "data/");
        cr_assert_eq(l.n, 1);
        cr_assert_str_eq(l.names[0], "data/ab/ab01");
        l = list_sorted(be, "");
        cr_assert_eq(l.n, 1);
        cr_assert_str_eq(l.names[0], "data/ab/ab01");

        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_missing_dir_reads_enoent_and_is_not_created)
{
        char dir[256], missing[512];
        temp_dir(dir);
        snprintf(missing, sizeof(missing), "%s/repo/sub", dir);
        Backend *be = NULL;
        cr_assert_eq(backend_local_open(missing, &be), 0);

        Buf b = {0};
        uint64_t size;
        cr_assert_eq(backend_read(be, "config", 0, 0, &b), -ENOENT);
        cr_assert_eq(backend_stat(be, "config", &size), -ENOENT);
        Listing l = {0};
        cr_assert_eq(backend_list(be, "keys/", listing_cb, &l), -ENOENT);
        cr_assert_eq(l.n, 0);
        struct stat st;
        cr_assert_eq(stat(missing, &st), -1);
        cr_assert_eq(errno, ENOENT);
        snprintf(missing, sizeof(missing), "%s/repo", dir);
        cr_assert_eq(stat(missing, &st), -1, "not even the parent");

        buf_free(&b);
        backend_close(be);
        rm_rf(dir);
}

Test(backend, local_create_makes_layout)
{
        char dir[256], path[512];
        temp_dir(dir);
        snprintf(path, sizeof(path), "%s/new", dir);
        Backend *be = local_in(path);

        cr_assert_eq(be->create(be), 0);
        static const char *const subdirs[] = {"data", "index", "snapshots", "keys", "locks"};
        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                char sub[600];
                struct stat st;
                snprintf(sub, sizeof(sub), "%s/%s", path, subdirs[i]);
                cr_assert_eq(stat(sub, &st), 0, "%s", sub);
                cr_assert(S_ISDIR(st.st_mode));
        }
        cr_assert_eq(backend_write(be, "config", "c", 1), 0);
        cr_assert_eq(be->create(be), -EEXIST, "a repository is there already");

        backend_close(be);
        rm_rf(dir);
}

/* ---- mem ---- */

Test(backend, mem_counts_calls)
{
        Backend *be = NULL;
        cr_assert_eq(backend_mem_open(&be), 0);
        cr_assert_str_eq(be->kind, "mem");
        BackendMemStats s;
        backend_mem_stats(be, &s);
        cr_assert_eq(s.reads + s.writes + s.lists + s.removes + s.stats, 0);
        cr_assert_eq(s.bytes_read + s.bytes_written, 0);

        cr_assert_eq(backend_write(be, "data/ab/ab01", sample, 10), 0);
        cr_assert_eq(backend_write(be, "data/cd/cd01", sample, 20), 0);
        cr_assert_eq(backend_write(be, "index/i1", sample, 6), 0);
        cr_assert_eq(backend_write(be, "index/i1", sample, 7), 0, "overwrite");

        Buf b = {0};
        cr_assert_eq(backend_read(be, "data/ab/ab01", 0, 0, &b), 0);
        cr_assert_eq(backend_read(be, "data/cd/cd01", 5, 3, &b), 0);
        cr_assert_eq(b.len, 13);
        cr_assert_arr_eq(b.data, "0123456789567", 13);
        cr_assert_eq(backend_read(be, "index/i1", 0, 0, &b), 0);
        cr_assert_eq(b.len, 20, "the overwrite took: 7 bytes");
        cr_assert_eq(backend_read(be, "nothere", 0, 0, &b), -ENOENT);
        cr_assert_eq(backend_read(be, "index/i1", 5, 3, &b), -ENODATA, "range past the end");

        Listing l = list_sorted(be, "data/");
        cr_assert_eq(l.n, 2);
        cr_assert_str_eq(l.names[0], "data/ab/ab01");
        cr_assert_str_eq(l.names[1], "data/cd/cd01");
        cr_assert_eq(l.sizes[1], 20);
        l = list_sorted(be, "");
        cr_assert_eq(l.n, 3);

        uint64_t size = 0;
        cr_assert_eq(backend_stat(be, "index/i1", &size), 0);
        cr_assert_eq(size, 7);
        cr_assert_eq(backend_stat(be, "nothere", &size), -ENOENT);

        cr_assert_eq(backend_remove(be, "data/cd/cd01"), 0);
        cr_assert_eq(backend_remove(be, "data/cd/cd01"), -ENOENT);
        cr_assert_eq(list_sorted(be, "data/").n, 1);

        backend_mem_stats(be, &s);
        cr_assert_eq(s.writes, 4);
        cr_assert_eq(s.bytes_written, 10 + 20 + 6 + 7);
        cr_assert_eq(s.reads, 5, "failed reads count too");
        cr_assert_eq(s.bytes_read, 10 + 3 + 7);
        cr_assert_eq(s.lists, 3);
        cr_assert_eq(s.stats, 2);
        cr_assert_eq(s.removes, 2);

        buf_free(&b);
        backend_close(be);
}

Test(backend, mem_flip_changes_one_bit)
{
        Backend *be = NULL;
        cr_assert_eq(backend_mem_open(&be), 0);
        cr_assert_eq(backend_write(be, "obj", sample, SAMPLE_LEN), 0);

        cr_assert_eq(backend_mem_flip(be, "obj", 3), 0);
        Buf b = {0};
        cr_assert_eq(backend_read(be, "obj", 0, 0, &b), 0);
        cr_assert_eq(b.len, 36);
        cr_assert_eq(b.data[3], '3' ^ 1);
        cr_assert_arr_eq(b.data, sample, 3);
        cr_assert_arr_eq(b.data + 4, sample + 4, 32);

        cr_assert_eq(backend_mem_flip(be, "obj", 3), 0, "flipping back");
        b.len = 0;
        cr_assert_eq(backend_read(be, "obj", 0, 0, &b), 0);
        cr_assert_arr_eq(b.data, sample, 36);

        cr_assert_eq(backend_mem_flip(be, "obj", 36), -ENOENT, "past the end");
        cr_assert_eq(backend_mem_flip(be, "nothere", 0), -ENOENT);

        buf_free(&b);
        backend_close(be);
}

Test(backend, mem_create_refuses_existing_repository)
{
        Backend *be = NULL;
        cr_assert_eq(backend_mem_open(&be), 0);
        cr_assert_eq(be->create(be), 0);
        cr_assert_eq(backend_write(be, "config", "c", 1), 0);
        cr_assert_eq(be->create(be), -EEXIST);
        backend_close(be);
}

Test(backend, open_by_location)
{
        Backend *be = NULL;
        cr_assert_eq(backend_open("mem:", &be), 0);
        cr_assert_str_eq(be->kind, "mem");
        backend_close(be);

        char dir[256], loc[300];
        temp_dir(dir);
        snprintf(loc, sizeof(loc), "local:%s", dir);
        cr_assert_eq(backend_open(loc, &be), 0);
        cr_assert_str_eq(be->kind, "local");
        cr_assert_eq(backend_write(be, "config", "c", 1), 0);
        backend_close(be);
        cr_assert_eq(backend_open(dir, &be), 0);
        uint64_t size;
        cr_assert_eq(backend_stat(be, "config", &size), 0);
        cr_assert_eq(size, 1);
        backend_close(be);
        rm_rf(dir);

        cr_assert_eq(backend_open("", &be), -EINVAL);
        cr_assert_eq(backend_open(NULL, &be), -EINVAL);
}

/* Pages of fd's first len bytes that are in the page cache. */
static size_t cached_pages(int fd, size_t len, unsigned char *vec)
{
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        cr_assert_neq(m, MAP_FAILED);
        cr_assert_eq(mincore(m, len, vec), 0);
        size_t n = 0;
        for (size_t i = 0; i < (len + 4095) / 4096; i++)
                n += vec[i] & 1;
        munmap(m, len);
        return n;
}

/* File c of a case table in dir, made empty. */
static int case_file(const char *dir, size_t c)
{
        char path[300];
        snprintf(path, sizeof(path), "%s/f%zu", dir, c);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        cr_assert_geq(fd, 0);
        return fd;
}

/* fd holds len bytes: src's n bytes at off (none when n is 0), fill
 * elsewhere; back has room for len. */
static void assert_file(int fd, size_t len, const uint8_t *src, uint64_t off, size_t n, uint8_t fill,
                        uint8_t *back, const char *what, size_t c)
{
        struct stat st;
        cr_assert_eq(fstat(fd, &st), 0);
        cr_assert_eq(st.st_size, (off_t)len, "%s case %zu: size %lld", what, c, (long long)st.st_size);
        cr_assert_eq(util_pread_full(fd, back, len, 0), (int)len);
        for (size_t i = 0; i < len; i++) {
                uint8_t want = i >= off && i < off + n ? src[i - off] : fill;
                if (back[i] != want)
                        cr_assert_fail("%s case %zu: byte %zu is %02x, not %02x", what, c, i, back[i], want);
        }
}

/* util_pwrite_direct on ext4 (TMPDIR) and tmpfs (/dev/shm, no O_DIRECT
 * before Linux 6.6): every split of head / aligned middle / tail, the data
 * aligned or not (through the bounce buffer, or buffered without one),
 * with an O_DIRECT descriptor and without (all buffered), the file's bytes
 * and size exact; where O_DIRECT works the middle is not left in the page
 * cache (the point of it) and the edges are. */
Test(backend, pwrite_direct_bytes_and_page_cache)
{
        enum { LEN = 3 << 20, FILE_LEN = LEN + (1 << 20) };
        uint8_t *src, *bounce;
        cr_assert_eq(posix_memalign((void **)&src, 4096, LEN + 8192), 0);
        cr_assert_eq(posix_memalign((void **)&bounce, 4096, 64 << 10), 0);
        randombytes_buf(src, LEN + 8192);
        uint8_t *back = malloc(FILE_LEN);
        unsigned char *vec = malloc(FILE_LEN / 4096 + 1);
        char dirs[2][256];
        temp_dir(dirs[0]);
        snprintf(dirs[1], sizeof(dirs[1]), "/dev/shm/cairn-backend-XXXXXX");
        cr_assert_not_null(mkdtemp(dirs[1]));
        struct { uint64_t off; size_t shift, n; bool bounce; } cases[] = {
                {0, 0, LEN, false},              /* pack: aligned, no bounce */
                {0, 0, LEN - 100, false},        /* aligned, unaligned tail */
                {4096, 0, 1 << 20, false},       /* aligned head and tail */
                {100, 100, LEN - 300, false},    /* p at off's place in its page */
                {100, 7, LEN - 300, true},       /* misaligned: through the bounce */
                {5000, 3, 300 << 10, true},      /* smaller than the bounce's multiple */
                {100, 7, LEN - 300, false},      /* misaligned, no bounce: buffered */
                {4095, 0, UTIL_DIRECT_MIN - 1, true}, /* below the threshold */
        };
        /* v 0: no O_DIRECT descriptor, all buffered; v 1: the middle through
         * a second descriptor opened with O_DIRECT */
        for (size_t vd = 0; vd < 4; vd++)
                for (size_t c = 0, v = vd / 2, d = vd % 2; c < sizeof(cases) / sizeof(cases[0]); c++) {
                        int fd = case_file(dirs[d], c), dfd = -1;
                        if (v == 1) {
                                char path[300];
                                snprintf(path, sizeof(path), "%s/f%zu", dirs[d], c);
                                dfd = open(path, O_WRONLY | O_DIRECT);
                                cr_assert(dfd >= 0 || d == 1, "%s: O_DIRECT: %s", path, strerror(errno));
                        }
                        /* a neighbour's bytes before and after, as a restore leaves them */
                        memset(back, 0xA5, FILE_LEN);
                        cr_assert_eq(util_pwrite_full(fd, back, FILE_LEN, 0), 0);
                        cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
                        fsync(fd);
                        cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
                        cr_assert_eq(util_pwrite_direct(fd, dfd, src + cases[c].shift, cases[c].n, cases[c].off,
                                                        cases[c].bounce ? bounce : NULL, 64 << 10),
                                     0, "%s case %zu", dirs[d], c);
                        size_t cached = d == 0 ? cached_pages(fd, FILE_LEN, vec) : 0;
                        assert_file(fd, FILE_LEN, src + cases[c].shift, cases[c].off, cases[c].n, 0xA5, back,
                                    dirs[d], c);
                        close(fd);
                        if (dfd >= 0)
                                close(dfd);
                        if (d == 1)
                                continue;
                        /* ext4: the middle went around the page cache unless it could not */
                        uint64_t a = (cases[c].off + 4095) / 4096 * 4096,
                                 b = (cases[c].off + cases[c].n) / 4096 * 4096;
                        bool direct = v == 1 && cases[c].n >= UTIL_DIRECT_MIN &&
                                      (((uintptr_t)(src + cases[c].shift + (a - cases[c].off)) % 4096) == 0 ||
                                       cases[c].bounce);
                        size_t edges = (a != cases[c].off) + (b != cases[c].off + cases[c].n);
                        if (direct)
                                cr_assert_eq(cached, edges, "case %zu: %zu pages cached, want the %zu edges", c,
                                             cached, edges);
                        else
                                cr_assert_geq(cached, (b - a) / 4096, "case %zu: buffered, %zu pages cached", c,
                                              cached);
                }
        rm_rf(dirs[0]);
        rm_rf(dirs[1]);
        free(back);
        free(vec);
        free(src);
        free(bounce);
}

/* Whether the running kernel is Linux major.minor or later. */
static bool kernel_at_least(int major, int minor)
{
        struct utsname u;
        int a = 0, b = 0;
        cr_assert_eq(uname(&u), 0);
        cr_assert_eq(sscanf(u.release, "%d.%d", &a, &b), 2, "kernel release %s", u.release);
        return a > major || (a == major && b >= minor);
}

/* Whether the file system of dir takes uncached writes: one page written
 * with the bare system call. */
static bool takes_uncached(const char *dir)
{
        static uint8_t page[4096];
        int fd = case_file(dir, 999);
        struct iovec v = {page, sizeof(page)};
        ssize_t k = pwritev2(fd, &v, 1, 0, 0x80 /* RWF_DONTCACHE */);
        cr_assert(k == (ssize_t)sizeof(page) || (k < 0 && errno == EOPNOTSUPP), "%s: pwritev2: %s", dir,
                  k < 0 ? strerror(errno) : "short write");
        close(fd);
        return k > 0;
}

/* util_pwrite_uncached on ext4 (TMPDIR), into a file allocated whole as a
 * restore allocates a large one, and on tmpfs (/dev/shm, which has no
 * uncached writes). Where the file system takes them (ext4 from Linux
 * 6.17; required from 6.18, the kernel this was measured on): the bytes
 * exact at offsets on and off page boundaries, the file's size kept, and
 * once written back (fdatasync) none of its whole pages left in the page
 * cache (the partly written pages at its edges, written buffered, may
 * stay), where a buffered write leaves every page. Where it does not, and
 * for a range without a whole page: -EOPNOTSUPP and nothing written. (Into
 * blocks written before, ext4 on 6.18 keeps the pages: a restore's files
 * are new.) */
Test(backend, pwrite_uncached_bytes_and_page_cache)
{
        enum { LEN = 3 << 20, FILE_LEN = LEN + (1 << 20) };
        uint8_t *src = malloc(LEN), *back = malloc(FILE_LEN);
        unsigned char *vec = malloc(FILE_LEN / 4096 + 1);
        randombytes_buf(src, LEN);
        char dirs[2][256];
        temp_dir(dirs[0]);
        snprintf(dirs[1], sizeof(dirs[1]), "/dev/shm/cairn-backend-XXXXXX");
        cr_assert_not_null(mkdtemp(dirs[1]));
        bool takes[2] = {takes_uncached(dirs[0]), takes_uncached(dirs[1])};
        cr_assert(takes[0] || !kernel_at_least(6, 18), "%s: no uncached writes on this kernel", dirs[0]);
        cr_assert(!takes[1], "tmpfs took an uncached write: the fallback is no longer tested here");
        struct { uint64_t off; size_t n; } cases[] = {
                {0, LEN},              /* whole pages */
                {100, LEN - 300},      /* partial pages at both edges */
                {4096, (1 << 20) + 1}, /* one byte into a page */
                {FILE_LEN - 5000, 5000}, /* up to the end of the file */
                {5000, 4000},          /* no whole page: refused */
        };
        for (size_t d = 0; d < 2; d++)
                for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                        int fd = case_file(dirs[d], c);
                        cr_assert_eq(fallocate(fd, 0, 0, FILE_LEN), 0);
                        uint64_t a = (cases[c].off + 4095) / 4096 * 4096, e = cases[c].off + cases[c].n;
                        bool works = takes[d] && a + 4096 <= e;
                        int r = util_pwrite_uncached(fd, src, cases[c].n, cases[c].off);
                        cr_assert_eq(r, works ? 0 : -EOPNOTSUPP, "%s case %zu: %d", dirs[d], c, r);
                        cr_assert_eq(fdatasync(fd), 0);
                        size_t cached = works ? cached_pages(fd, FILE_LEN, vec) : 0;
                        assert_file(fd, FILE_LEN, src, cases[c].off, works ? cases[c].n : 0, 0, back, dirs[d], c);
                        close(fd);
                        if (works) {
                                size_t edges = (cases[c].off % 4096 != 0) + ((cases[c].off + cases[c].n) % 4096 != 0);
                                cr_assert_leq(cached, edges, "case %zu: %zu pages cached, want at most the %zu edges",
                                              c, cached, edges);
                        }
                }
        /* CAIRN_TEST_NO_UNCACHED (files_roundtrip's restore through the
         * fallback): refused on every kernel, nothing written */
        int fd = case_file(dirs[0], sizeof(cases) / sizeof(cases[0]) + 1);
        cr_assert_eq(fallocate(fd, 0, 0, FILE_LEN), 0);
        cr_assert_eq(setenv("CAIRN_TEST_NO_UNCACHED", "1", 1), 0);
        cr_assert_eq(util_pwrite_uncached(fd, src, LEN, 0), -EOPNOTSUPP);
        cr_assert_eq(unsetenv("CAIRN_TEST_NO_UNCACHED"), 0);
        assert_file(fd, FILE_LEN, src, 0, 0, 0, back, dirs[0], 99);
        close(fd);
        /* the same write buffered leaves its pages: what the above tells apart */
        fd = case_file(dirs[0], sizeof(cases) / sizeof(cases[0]));
        cr_assert_eq(util_pwrite_full(fd, src, LEN, 0), 0);
        cr_assert_eq(fdatasync(fd), 0);
        cr_assert_eq(cached_pages(fd, LEN, vec), LEN / 4096);
        close(fd);
        rm_rf(dirs[0]);
        rm_rf(dirs[1]);
        free(back);
        free(vec);
        free(src);
}

/* util_pread_direct: with the file out of the page cache, a third of it in
 * (the middle third), and all of it in; offsets and lengths at and off page
 * boundaries, past the end; bytes exact, short at EOF; on ext4 a read of a
 * range the page cache held none of leaves none of it there. */
Test(backend, pread_direct_bytes_and_page_cache)
{
        enum { LEN = 3 << 20 };
        uint8_t *src = malloc(LEN), *dst = malloc(LEN + UTIL_DIRECT_SLACK + 8);
        unsigned char *vec = malloc(LEN / 4096 + 1);
        randombytes_buf(src, LEN);
        char dirs[2][256];
        temp_dir(dirs[0]);
        snprintf(dirs[1], sizeof(dirs[1]), "/dev/shm/cairn-backend-XXXXXX");
        cr_assert_not_null(mkdtemp(dirs[1]));
        struct { uint64_t off; size_t n; int shift; } cases[] = {
                {0, LEN, 0}, {4096, 1 << 20, 3}, {100, LEN - 100, 5}, {12345, 300 << 10, 1},
                {LEN - (200 << 10) - 7, 200 << 10, 0}, /* ends 7 bytes before EOF */
                {LEN - (100 << 10), 200 << 10, 2},     /* runs past EOF: short */
                {5, UTIL_DIRECT_MIN - 1, 0},          /* below the threshold */
        };
        for (size_t d = 0; d < 2; d++) {
                char path[300];
                snprintf(path, sizeof(path), "%s/f", dirs[d]);
                int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
                cr_assert_geq(fd, 0);
                cr_assert_eq(util_pwrite_full(fd, src, LEN, 0), 0);
                fsync(fd);
                for (int warm = 0; warm < 3; warm++)
                        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                                posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                                if (warm)
                                        cr_assert_eq(util_pread_full(fd, dst, warm == 1 ? LEN / 3 : LEN,
                                                                     warm == 1 ? LEN / 3 : 0),
                                                     warm == 1 ? LEN / 3 : LEN);
                                size_t before = d == 0 ? cached_pages(fd, LEN, vec) : 0;
                                memset(dst, 0, LEN + UTIL_DIRECT_SLACK + 8);
                                uint8_t *to = dst + cases[c].shift;
                                int got = util_pread_direct(fd, to, cases[c].n, cases[c].off);
                                size_t want = MIN(cases[c].n, LEN - cases[c].off);
                                cr_assert_eq(got, (int)want, "%s warm %d case %zu: read %d, want %zu", dirs[d],
                                             warm, c, got, want);
                                cr_assert(memcmp(to, src + cases[c].off, want) == 0, "%s warm %d case %zu: bytes",
                                          dirs[d], warm, c);
                                if (d == 0 && cases[c].n >= UTIL_DIRECT_MIN && warm == 0)
                                        cr_assert_eq(cached_pages(fd, LEN, vec), before,
                                                     "warm %d case %zu: the read filled the page cache", warm, c);
                        }
                close(fd);
        }
        rm_rf(dirs[0]);
        rm_rf(dirs[1]);
        free(src);
        free(dst);
        free(vec);
}

/* The worst case of util_pread_direct's slack: dst one byte past a page
 * (rounded up by 4095), off 4095 bytes into its page, the end 1 byte into
 * its last page: the aligned read needs n + 3 * 4 KiB - 3 bytes from dst.
 * Nothing past dst + n + UTIL_DIRECT_SLACK is written. (With a slack of
 * 8 KiB the kernel wrote 4 KiB past the buffer: the mount's heap broke
 * during the benchmark's fio run.) */
Test(backend, pread_direct_stays_in_its_slack)
{
        enum { LEN = 2 << 20, N = (256 << 10) + 2, OFF = (64 << 10) + 4095, GUARD = 8192 };
        uint8_t *src = malloc(LEN), *mem;
        randombytes_buf(src, LEN);
        cr_assert_eq(posix_memalign((void **)&mem, 4096, 4096 + N + UTIL_DIRECT_SLACK + GUARD), 0);
        char dir[256], path[300];
        temp_dir(dir);
        snprintf(path, sizeof(path), "%s/f", dir);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        cr_assert_geq(fd, 0);
        cr_assert_eq(util_pwrite_full(fd, src, LEN, 0), 0);
        fsync(fd);
        for (size_t shift = 1; shift < 4096; shift += 1023) {
                cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
                unsigned char vec[LEN / 4096];
                cr_assert_eq(cached_pages(fd, LEN, vec), 0, "the file left the page cache");
                uint8_t *dst = mem + shift, *guard = dst + N + UTIL_DIRECT_SLACK;
                memset(mem, 0, 4096 + N + UTIL_DIRECT_SLACK + GUARD);
                memset(guard, 0x5A, GUARD);
                cr_assert_eq(util_pread_direct(fd, dst, N, OFF), N);
                cr_assert(memcmp(dst, src + OFF, N) == 0, "shift %zu: bytes", shift);
                for (size_t i = 0; i < GUARD; i++)
                        if (guard[i] != 0x5A)
                                cr_assert_fail("shift %zu: byte %zu past the slack was written", shift, i);
        }
        close(fd);
        rm_rf(dir);
        free(src);
        free(mem);
}

/* A repository object of the local backend in dir, opened for reading. */
static int object_open(const char *dir, const char *name)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_RDONLY);
        cr_assert_geq(fd, 0, "%s", path);
        return fd;
}

/* Pages of a repository object in the page cache. */
static size_t object_cached(const char *dir, const char *name, size_t len)
{
        int fd = object_open(dir, name);
        unsigned char *vec = malloc(len / 4096 + 1);
        size_t n = cached_pages(fd, len, vec);
        free(vec);
        close(fd);
        return n;
}

static void object_drop(const char *dir, const char *name)
{
        int fd = object_open(dir, name);
        cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        close(fd);
}

/* Which local I/O goes around the page cache (ext4, TMPDIR): a data pack's
 * write (1 MiB or more) and a range read of blob data do; metadata writes
 * (smaller objects) and whole-object reads (index, snapshots, trees: the
 * next command reads them again; whole packs for check and prune) stay in
 * it. Before this was settled a
 * 265 KB tree pack was read with O_DIRECT by every command. */
Test(backend, local_page_cache_use)
{
        enum { META = 300 << 10, PACK = 3 << 20 };
        char dir[256];
        temp_dir(dir);
        Backend *be = local_in(dir);
        uint8_t *data;
        cr_assert_eq(posix_memalign((void **)&data, 4096, PACK), 0);
        randombytes_buf(data, PACK);
        cr_assert_eq(backend_write(be, "index/meta", data, META), 0);
        cr_assert_eq(backend_write(be, "data/ab/pack", data, PACK), 0);
        cr_assert_eq(object_cached(dir, "index/meta", META), META / 4096, "metadata written through the cache");
        cr_assert_eq(object_cached(dir, "data/ab/pack", PACK), 0, "a pack written around the cache");

        object_drop(dir, "index/meta");
        Buf b = {0};
        cr_assert_eq(backend_read(be, "index/meta", 0, 0, &b), 0);
        cr_assert_eq(b.len, META);
        cr_assert(memcmp(b.data, data, META) == 0);
        cr_assert_eq(object_cached(dir, "index/meta", META), META / 4096, "a whole read left it cached");

        b.len = 0;
        cr_assert_eq(backend_read(be, "data/ab/pack", 12345, 1 << 20, &b), 0);
        cr_assert_eq(b.len, 1 << 20);
        cr_assert(memcmp(b.data, data + 12345, 1 << 20) == 0);
        cr_assert_eq(object_cached(dir, "data/ab/pack", PACK), 0, "a cold range read filled the cache");

        /* a whole pack (check --read-data, prune) is read through it */
        b.len = 0;
        cr_assert_eq(backend_read(be, "data/ab/pack", 0, 0, &b), 0);
        cr_assert_eq(b.len, PACK);
        cr_assert(memcmp(b.data, data, PACK) == 0);
        cr_assert_eq(object_cached(dir, "data/ab/pack", PACK), PACK / 4096, "a whole pack read went around the cache");

        buf_free(&b);
        free(data);
        backend_close(be);
        rm_rf(dir);
}

/* Descriptors this process has open. */
static size_t open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        cr_assert_not_null(d);
        size_t n = 0;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* The metadata cache (backend-cache.c) in front of a mem backend: a whole
 * read of a pack keeps a copy, ranged reads pass through, and read_local
 * serves ranges of a copy without the inner backend (a tree from its
 * cached tree pack; before read_local every tree load read the whole pack
 * again). */
Test(backend, cache_read_local_serves_ranges_of_copies)
{
        char dir[256];
        temp_dir(dir);
        Backend *mem = NULL, *be = NULL;
        cr_assert_eq(backend_mem_open(&mem), 0);
        cr_assert_eq(backend_cache_wrap(mem, dir, &be), 0);
        enum { N = 4096 };
        uint8_t pack[N];
        for (size_t i = 0; i < N; i++)
                pack[i] = (uint8_t)(i * 7 + i / 256);
        const char *name = "data/ab/ab02";
        cr_assert_eq(backend_write(mem, name, pack, N), 0, "not through the cache: no copy");
        cr_assert_eq(backend_read_local(mem, name, 0, 10, &(Buf){0}), -ENOENT, "mem keeps no copies");

        Buf b = {0};
        BackendMemStats s;
        cr_assert_eq(backend_read_local(be, name, 100, 50, &b), -ENOENT, "no copy yet");
        cr_assert_eq(backend_read(be, name, 100, 50, &b), 0);
        cr_assert_arr_eq(b.data, pack + 100, 50);
        cr_assert_eq(backend_read_local(be, name, 100, 50, &b), -ENOENT, "a ranged read keeps no copy");
        b.len = 0;
        cr_assert_eq(backend_read(be, name, 0, 0, &b), 0);
        cr_assert_eq(b.len, N);
        backend_mem_stats(mem, &s);
        cr_assert_eq(s.reads, 2);
        cr_assert_eq(s.bytes_read, 50 + N);

        /* now from the copy: exact bytes, appended, the inner one untouched */
        b.len = 0;
        cr_assert_eq(backend_read_local(be, name, 1000, 300, &b), 0);
        cr_assert_eq(backend_read_local(be, name, 0, 1, &b), 0);
        cr_assert_eq(b.len, 301);
        cr_assert_arr_eq(b.data, pack + 1000, 300);
        cr_assert_eq(b.data[300], pack[0]);
        cr_assert_eq(backend_read_local(be, name, 0, N, &b), 0);
        cr_assert_eq(b.len, 301 + N);
        cr_assert_eq(backend_read(be, name, 0, 0, &b), 0, "a whole read from the copy");
        cr_assert_eq(b.len, 301 + 2 * N);
        cr_assert_arr_eq(b.data + 301 + N, pack, N);
        backend_mem_stats(mem, &s);
        cr_assert_eq(s.reads, 2, "mem not read again");

        /* a copy cut short is dropped: -ENOENT, and a whole read fetches it */
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        cr_assert_eq(truncate(path, N - 100), 0);
        b.len = 0;
        size_t fds = open_fds();
        cr_assert_eq(backend_read_local(be, name, N - 200, 150, &b), -ENOENT, "past the copy's end");
        cr_assert_eq(open_fds(), fds, "the copy's descriptor is closed");
        cr_assert_eq(b.len, 0, "nothing appended on failure");
        cr_assert_eq(access(path, F_OK), -1, "the short copy is gone");
        cr_assert_eq(backend_read(be, name, 0, 0, &b), 0);
        cr_assert_eq(b.len, N);
        cr_assert_arr_eq(b.data, pack, N);
        b.len = 0;
        cr_assert_eq(backend_read_local(be, name, N - 200, 150, &b), 0, "copied again whole");
        cr_assert_arr_eq(b.data, pack + N - 200, 150);
        cr_assert_eq(backend_read_local(be, "data/cd/cd02", 0, 1, &b), -ENOENT, "an object never read");
        cr_assert_eq(backend_write(mem, "config", pack, 10), 0);
        cr_assert_eq(backend_read(be, "config", 0, 0, &b), 0);
        cr_assert_eq(backend_read_local(be, "config", 0, 1, &b), -ENOENT, "config is not cached");
        backend_mem_stats(mem, &s);
        cr_assert_eq(s.reads, 4, "besides the refetch, only the read of config reached mem");

        buf_free(&b);
        backend_close(be); /* closes mem too */
        rm_rf(dir);
}

typedef struct MoreLog {
        size_t calls, got[4];
        int fail; /* returned by more */
} MoreLog;

static int log_more(void *ud, size_t got)
{
        MoreLog *m = ud;
        if (m->calls < 4)
                m->got[m->calls] = got;
        m->calls++;
        return m->fail;
}

/* A backend without read_stream (mem, and the metadata cache over it):
 * the read, then more once with every byte of the range; more's error
 * ends the read; a failed read never calls more. */
Test(backend, read_stream_without_streaming_backend)
{
        Backend *mem = NULL, *be = NULL;
        cr_assert_eq(backend_mem_open(&mem), 0);
        cr_assert_null(mem->read_stream);
        char dir[256];
        temp_dir(dir);
        cr_assert_eq(backend_cache_wrap(mem, dir, &be), 0);
        cr_assert_null(be->read_stream, "the cache streams only what its inner backend streams");
        cr_assert_eq(backend_write(be, "data/ab/ab01", sample, 20), 0);

        Buf b = {0};
        cr_assert_eq(buf_append(&b, "xy", 2), 0);
        MoreLog m = {0};
        cr_assert_eq(backend_read_stream(be, "data/ab/ab01", 5, 10, &b, log_more, &m), 0);
        cr_assert_eq(m.calls, 1);
        cr_assert_eq(m.got[0], 10, "got counts the range's bytes, not what the buffer held before");
        cr_assert_eq(b.len, 12);
        cr_assert_arr_eq(b.data, "xy56789abcde", 12);

        m = (MoreLog){.fail = -ENOSPC};
        cr_assert_eq(backend_read_stream(be, "data/ab/ab01", 0, 4, &b, log_more, &m), -ENOSPC);
        cr_assert_eq(m.calls, 1);

        m = (MoreLog){0};
        cr_assert_eq(backend_read_stream(be, "data/ab/ab01", 15, 10, &b, log_more, &m), -ENODATA);
        cr_assert_eq(backend_read_stream(be, "data/cd/none", 0, 0, &b, log_more, &m), -ENOENT);
        cr_assert_eq(m.calls, 0, "no more after a failed read");
        buf_free(&b);
        backend_close(be);
        rm_rf(dir);
}

/* A streaming backend over mem, as S3 is one: a read delivers its range 7
 * bytes at a time, and after the first half starts again from the start
 * (a request tried again). */
typedef struct Chunky {
        Backend parent;
        Backend *mem;
} Chunky;

static Backend *chunky_mem(Backend *be)
{
        return ((Chunky *)be)->mem;
}

static int chunky_read(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        return backend_read(chunky_mem(be), name, off, len, out);
}

static int chunky_read_stream(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out,
                              backend_more_cb more, void *ud)
{
        Buf all = {0};
        int rc = backend_read(chunky_mem(be), name, off, len, &all);
        size_t before = out->len;
        bool again = true;
        for (size_t got = 0; rc == 0 && got < all.len;) {
                got = MIN(all.len, got + 7);
                out->len = before;
                rc = buf_append(out, all.data, got);
                if (rc == 0)
                        rc = more(ud, got);
                if (again && got > all.len / 2 && got < all.len) {
                        again = false;
                        got = 0;
                }
        }
        buf_free(&all);
        return rc;
}

static int chunky_write(Backend *be, const char *name, const void *p, size_t n)
{
        return backend_write(chunky_mem(be), name, p, n);
}

static void chunky_close(Backend *be)
{
        backend_close(chunky_mem(be));
        free(be);
}

/* The metadata cache over a streaming backend: ranges stream from it
 * (more as the pieces arrive, again from the start after the retry);
 * a whole read of a cacheable object is fetched and kept, then served
 * from the copy, more once with all of it. */
Test(backend, read_stream_through_the_cache)
{
        Chunky *ch = calloc(1, sizeof(*ch));
        cr_assert_not_null(ch);
        ch->parent = (Backend){.version = BACKEND_VERSION, .kind = "chunky", .read = chunky_read,
                               .write = chunky_write, .close = chunky_close,
                               .read_stream = chunky_read_stream};
        cr_assert_eq(backend_mem_open(&ch->mem), 0);
        Backend *mem = ch->mem, *be = NULL;
        char dir[256];
        temp_dir(dir);
        cr_assert_eq(backend_cache_wrap(&ch->parent, dir, &be), 0);
        cr_assert_not_null(be->read_stream);
        cr_assert_eq(backend_write(mem, "data/ab/ab01", sample, 30), 0);

        Buf b = {0};
        MoreLog m = {0};
        cr_assert_eq(backend_read_stream(be, "data/ab/ab01", 2, 20, &b, log_more, &m), 0);
        /* 7, 14, then the retry: 7, 14, 20 */
        cr_assert_eq(m.calls, 5);
        size_t want[4] = {7, 14, 7, 14};
        cr_assert_arr_eq(m.got, want, sizeof(want));
        cr_assert_eq(b.len, 20);
        cr_assert_arr_eq(b.data, sample + 2, 20);

        BackendMemStats s0, s1;
        for (int round = 0; round < 2; round++) {
                backend_mem_stats(mem, &s0);
                m = (MoreLog){0};
                b.len = 0;
                cr_assert_eq(backend_read_stream(be, "data/ab/ab01", 0, 0, &b, log_more, &m), 0);
                backend_mem_stats(mem, &s1);
                cr_assert_eq(m.calls, 1, "round %d", round);
                cr_assert_eq(m.got[0], 30);
                cr_assert_arr_eq(b.data, sample, 30);
                cr_assert_eq(s1.reads - s0.reads, round == 0 ? 1 : 0, "round %d: fetched once, then the copy", round);
        }
        buf_free(&b);
        backend_close(be); /* closes chunky and mem */
        rm_rf(dir);
}
