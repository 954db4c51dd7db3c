/* test_source.c — unit tests for restore/source.c: a directory's file
 * (a dump inside a cairn mount, typically) reads back byte for byte, and
 * the page cache behind the reader is dropped as it goes, so a restore of
 * many GiB leaves at most the last few MiB of its input cached. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"

#define MIB (1u << 20)
#define FILE_SIZE (20 * MIB)

/* Pages of path resident in the page cache in [off, off + len). */
static size_t resident(const char *path, size_t off, size_t len)
{
        int fd = open(path, O_RDONLY);
        cr_assert_geq(fd, 0);
        long page = sysconf(_SC_PAGESIZE);
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
        cr_assert_neq(m, MAP_FAILED);
        size_t npages = (len + (size_t)page - 1) / (size_t)page, n = 0;
        unsigned char *vec = malloc(npages);
        cr_assert_not_null(vec);
        cr_assert_eq(mincore(m, len, vec), 0);
        for (size_t i = 0; i < npages; i++)
                n += vec[i] & 1;
        free(vec);
        munmap(m, len);
        close(fd);
        return n;
}

/* On a disk file system (tmpfs keeps its pages whatever is advised): the
 * file is written and synced (dirty pages are not dropped), read whole in
 * 1 MiB reads, and then only the part after the last 8 MiB mark is cached.
 * Without the drop-behind all 20 MiB stay cached. */
Test(source, path_file_reads_back_and_drops_the_cache_behind_it)
{
        char dir[] = "/var/tmp/cairn-test-source.XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        char path[sizeof(dir) + 16];
        snprintf(path, sizeof(path), "%s/db0.resp", dir);

        uint8_t *data = malloc(FILE_SIZE);
        cr_assert_not_null(data);
        for (size_t i = 0; i < FILE_SIZE; i++)
                data[i] = (uint8_t)(i * 2654435761u >> 13);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, data, FILE_SIZE), (ssize_t)FILE_SIZE);
        cr_assert_eq(fsync(fd), 0);
        close(fd);
        long page = sysconf(_SC_PAGESIZE);
        cr_assert_eq(resident(path, 0, FILE_SIZE), FILE_SIZE / (size_t)page,
                     "the freshly written file should be cached before the read");

        Source *s = NULL;
        char *file = NULL;
        cr_assert_eq(source_open_path(path, &s, &file), 0);
        cr_assert_str_eq(file, "db0.resp");
        SourceFile *f = NULL;
        cr_assert_eq(source_file_open(s, file, &f), 0);
        uint8_t *back = malloc(FILE_SIZE + 1);
        cr_assert_not_null(back);
        size_t got = 0;
        for (;;) {
                ssize_t n = source_file_read(f, back + got, MIN(MIB, FILE_SIZE + 1 - got));
                cr_assert_geq(n, 0);
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        cr_assert_eq(got, FILE_SIZE);
        cr_assert_eq(memcmp(back, data, FILE_SIZE), 0);

        /* drops at 8 and 16 MiB: [0, 16 MiB) gone, the last 4 MiB kept */
        cr_assert_eq(resident(path, 0, 16 * MIB), 0, "%zu pages before the 16 MiB mark still cached",
                     resident(path, 0, 16 * MIB));
        cr_assert_eq(resident(path, 16 * MIB, 4 * MIB), 4 * MIB / (size_t)page);
        cr_assert_eq(source_file_close(f), 0);
        source_free(s);
        free(file);
        free(back);
        free(data);
        cr_assert_eq(unlink(path), 0);
        cr_assert_eq(rmdir(dir), 0);
}
