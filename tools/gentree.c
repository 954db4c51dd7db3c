/*
 * cairn-gentree: build a deterministic test tree for the integration tests.
 *
 *   cairn-gentree DIR [--seed N] [--small N] [--big-mib M]
 *   cairn-gentree --mutate-middle FILE [--seed N]
 *
 * The first form fills DIR (which must not exist or be empty) with every
 * kind of entry a backup has to carry: text and random files of many sizes,
 * empty files, one big file of alternating compressible/incompressible
 * 1 MiB blocks, many small files in nested directories, symlinks, a
 * hardlink group spanning directories, sparse files, a fifo, device nodes,
 * xattrs, names using every byte but '/' and NUL, special modes, foreign
 * owners and fixed nanosecond timestamps.  Everything comes from one
 * xorshift64* stream (and a second one for the timestamps), so one seed
 * always gives the same tree byte for byte; only `find`'s directory order
 * may differ.  It must run as root (mknod, chown).
 *
 * The second form overwrites 1 MiB in the middle of FILE with fresh
 * pseudo-random bytes and moves its mtime forward by one second, which is
 * what the "change 1 MiB of a big file" dedup test needs.
 *
 * Only libc is used, so the tool builds and runs before the library does.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define KIB 1024u

/* ------------------------------------------------------------------------ */
/* PRNG: xorshift64* seeded through splitmix64 so that seed 0 works too.     */

typedef struct {
        uint64_t s;
} Rng;

static void rng_seed(Rng *r, uint64_t seed)
{
        uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        r->s = z ? z : 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_next(Rng *r)
{
        uint64_t x = r->s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r->s = x;
        return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_below(Rng *r, uint64_t n)
{
        return n ? rng_next(r) % n : 0;
}

static void rng_fill(Rng *r, unsigned char *buf, size_t len)
{
        while (len >= 8) {
                uint64_t v = rng_next(r);
                memcpy(buf, &v, 8);
                buf += 8;
                len -= 8;
        }
        if (len) {
                uint64_t v = rng_next(r);
                memcpy(buf, &v, len);
        }
}

/* ------------------------------------------------------------------------ */
/* Errors and bookkeeping                                                    */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
        va_list ap;
        fputs("gentree: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

#define CHECK(expr, path)                                                            \
        do {                                                                         \
                if ((expr) < 0)                                                      \
                        die("%s: %s: %s", #expr, (path), strerror(errno));           \
        } while (0)

/*
 * Every path we create is remembered in creation order, so that timestamps
 * can be applied last and in reverse: children (created after their
 * directory) get their times before the directory does, and nothing touches
 * a directory after its mtime is set.  Extra hardlink names are counted but
 * not remembered, because their inode already has an entry.
 */
static char **paths;
static size_t npaths, cappaths;
static uint64_t nentries;
static uint64_t nbytes;

static void remember(const char *path)
{
        if (npaths == cappaths) {
                cappaths = cappaths ? cappaths * 2 : 1024;
                paths = realloc(paths, cappaths * sizeof(*paths));
                if (!paths)
                        die("out of memory");
        }
        paths[npaths] = strdup(path);
        if (!paths[npaths])
                die("out of memory");
        npaths++;
        nentries++;
}

static char *path_join(char *buf, size_t size, const char *dir, const char *name)
{
        int n = snprintf(buf, size, "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= size)
                die("path too long: %s/%s", dir, name);
        return buf;
}

/* ------------------------------------------------------------------------ */
/* Content generators                                                        */

static const char *const words[] = {
        "cairn", "backup", "restore", "snapshot", "repository", "chunk", "blob",
        "pack", "index", "tree", "the", "of", "and", "a", "to", "in", "is",
        "that", "for", "it", "with", "as", "was", "on", "be", "at", "by",
        "this", "had", "not", "are", "but", "from", "or", "have", "an", "they",
        "which", "one", "you", "were", "her", "all", "she", "there", "would",
        "their", "we", "him", "been", "has", "when", "who", "will", "more",
        "no", "if", "out", "so", "said", "what", "up", "its", "about", "into",
        "than", "them", "can", "only", "other", "new", "some", "could", "time",
        "these", "two", "may", "then", "do", "first", "any", "my", "now",
        "such", "like", "our", "over", "man", "me", "even", "most", "made",
        "after", "also", "did", "many", "before", "must", "through", "back",
        "years", "where", "much", "your", "way", "well", "down", "should",
        "because", "each", "just", "those", "people", "how", "too", "little",
        "state", "good", "very", "make", "world", "still", "own", "see", "men",
        "work", "long", "get", "here", "between", "both", "life", "being",
        "under", "never", "day", "same", "another", "know", "while", "last",
        "might", "us", "great", "old", "year", "off", "come", "since", "against",
};

/* Fill buf with compressible text: PRNG-chosen words, lines of ~10 words. */
static void gen_text(Rng *r, unsigned char *buf, size_t len)
{
        size_t nwords = sizeof(words) / sizeof(words[0]);
        size_t pos = 0;
        unsigned col = 0;
        while (pos < len) {
                const char *w = words[rng_below(r, nwords)];
                size_t wl = strlen(w);
                for (size_t i = 0; i < wl && pos < len; i++)
                        buf[pos++] = (unsigned char)w[i];
                if (pos < len)
                        buf[pos++] = (++col % 10 == 0) ? '\n' : ' ';
        }
}

enum { KIND_TEXT, KIND_RANDOM };

static void gen_content(Rng *r, int kind, unsigned char *buf, size_t len)
{
        if (kind == KIND_TEXT)
                gen_text(r, buf, len);
        else
                rng_fill(r, buf, len);
}

static void write_all(int fd, const unsigned char *buf, size_t len, const char *path)
{
        while (len) {
                ssize_t n = write(fd, buf, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        die("write %s: %s", path, strerror(errno));
                }
                buf += n;
                len -= (size_t)n;
        }
}

static void pwrite_all(int fd, const unsigned char *buf, size_t len, off_t off, const char *path)
{
        while (len) {
                ssize_t n = pwrite(fd, buf, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        die("pwrite %s: %s", path, strerror(errno));
                }
                buf += n;
                off += n;
                len -= (size_t)n;
        }
}

static unsigned char *iobuf; /* 1 MiB scratch */

/* Create a regular file of `size` bytes of one kind, written in 1 MiB steps. */
static void make_file(const char *path, Rng *r, int kind, uint64_t size, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        CHECK(fd, path);
        uint64_t left = size;
        while (left) {
                size_t n = left > MIB ? MIB : (size_t)left;
                gen_content(r, kind, iobuf, n);
                write_all(fd, iobuf, n, path);
                left -= n;
        }
        CHECK(close(fd), path);
        remember(path);
        nbytes += size;
}

static void make_file_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        CHECK(fd, path);
        write_all(fd, data, len, path);
        CHECK(close(fd), path);
        remember(path);
        nbytes += len;
}

static void make_dir(const char *path, mode_t mode)
{
        CHECK(mkdir(path, mode), path);
        remember(path);
}

static void make_symlink(const char *target, const char *path)
{
        CHECK(symlink(target, path), path);
        remember(path);
}

static void make_hardlink(const char *existing, const char *path)
{
        CHECK(link(existing, path), path);
        nentries++;
}

/* chown first: it clears setuid/setgid, so the mode is applied after it. */
static void set_owner_mode(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
        CHECK(lchown(path, uid, gid), path);
        CHECK(chmod(path, mode), path);
}

/* ------------------------------------------------------------------------ */
/* The tree, section by section                                              */

static void gen_varied(Rng *r)
{
        static const uint64_t sizes[] = {
                1, 2, 13, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537,
                524287, 524288, 524289, MIB - 1, MIB, MIB + 1, 3 * MIB + 17,
                9 * MIB + 5,
        };
        char p[PATH_MAX];

        make_dir("text", 0755);
        make_dir("random", 0755);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                snprintf(p, sizeof(p), "text/t_%08" PRIu64 ".txt", sizes[i]);
                make_file(p, r, KIND_TEXT, sizes[i], 0644);
                snprintf(p, sizeof(p), "random/r_%08" PRIu64 ".bin", sizes[i]);
                make_file(p, r, KIND_RANDOM, sizes[i], 0644);
        }

        /* Empty files, at the top and in a subdirectory. */
        make_file("empty-file", r, KIND_TEXT, 0, 0644);
        make_file("text/empty.txt", r, KIND_TEXT, 0, 0644);

        /* Two files with the same content: dedup within one backup. */
        make_file_bytes("text/dup-a.txt", "same bytes in two files\n", 24, 0644);
        make_file_bytes("text/dup-b.txt", "same bytes in two files\n", 24, 0644);

        make_dir("empty-dir", 0755);
}

/* big.bin: M MiB, 1 MiB blocks alternating text and random, text first. */
static void gen_big(Rng *r, unsigned mib)
{
        if (!mib)
                return;
        const char *path = "big.bin";
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd, path);
        for (unsigned i = 0; i < mib; i++) {
                gen_content(r, (i % 2) ? KIND_RANDOM : KIND_TEXT, iobuf, MIB);
                write_all(fd, iobuf, MIB, path);
        }
        CHECK(close(fd), path);
        remember(path);
        nbytes += (uint64_t)mib * MIB;
}

/*
 * N small files (0..8 KiB), 100 per leaf directory, three levels deep:
 * small/a00/b0/c0/f00000.  Every 50th file has the same content.
 */
static void gen_small(Rng *r, unsigned n)
{
        char p[PATH_MAX];
        if (!n)
                return;
        make_dir("small", 0755);
        unsigned nleaves = (n + 99) / 100;
        int last_a = -1, last_b = -1;
        for (unsigned leaf = 0; leaf < nleaves; leaf++) {
                int a = (int)(leaf / 100), b = (int)((leaf / 10) % 10), c = (int)(leaf % 10);
                if (a != last_a) {
                        snprintf(p, sizeof(p), "small/a%02d", a);
                        make_dir(p, 0755);
                        last_a = a;
                        last_b = -1;
                }
                if (b != last_b) {
                        snprintf(p, sizeof(p), "small/a%02d/b%d", a, b);
                        make_dir(p, 0755);
                        last_b = b;
                }
                snprintf(p, sizeof(p), "small/a%02d/b%d/c%d", a, b, c);
                make_dir(p, 0755);
                for (unsigned i = leaf * 100; i < n && i < (leaf + 1) * 100; i++) {
                        snprintf(p, sizeof(p), "small/a%02d/b%d/c%d/f%05u", a, b, c, i);
                        if (i % 50 == 0) {
                                make_file_bytes(p, "a small file that appears many times\n", 37, 0644);
                                continue;
                        }
                        uint64_t size = rng_below(r, 8 * KIB + 1);
                        int kind = (int)rng_below(r, 2);
                        make_file(p, r, kind, size, 0644);
                }
        }
}

static void gen_links(Rng *r)
{
        make_dir("links", 0755);
        make_symlink("../text/t_00004096.txt", "links/relative");
        make_symlink("/etc/passwd", "links/absolute");
        make_symlink("does/not/exist", "links/dangling");
        make_symlink("/nonexistent/cairn/absolute-dangling", "links/absolute-dangling");
        make_symlink("../text", "links/to-dir");
        make_symlink("relative", "links/chain");
        make_symlink("odd \n\xff target", "links/odd-target");

        /* A hardlink group of 3 names across directories, and a pair. */
        make_dir("hardlinks", 0755);
        make_dir("hardlinks/one", 0755);
        make_dir("hardlinks/two", 0755);
        make_file("hardlinks/one/file", r, KIND_TEXT, 10000, 0644);
        make_hardlink("hardlinks/one/file", "hardlinks/two/file-again");
        make_hardlink("hardlinks/one/file", "hardlinks/third-name");
        make_file("hardlinks/pair-a", r, KIND_RANDOM, 3000, 0640);
        make_hardlink("hardlinks/pair-a", "hardlinks/pair-b");
}

/*
 * sparse.img: 64 MiB apparent, 4 KiB of data at 0, at 16 MiB and at the end.
 * sparse-tail.img: 4 KiB of data, then a 32 MiB hole made by ftruncate.
 */
static void gen_sparse(Rng *r)
{
        const char *path = "sparse.img";
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd, path);
        static const off_t offs[] = { 0, 16 * (off_t)MIB, 64 * (off_t)MIB - 4096 };
        for (size_t i = 0; i < 3; i++) {
                rng_fill(r, iobuf, 4096);
                CHECK(lseek(fd, offs[i], SEEK_SET), path);
                write_all(fd, iobuf, 4096, path);
        }
        CHECK(close(fd), path);
        remember(path);
        nbytes += 64 * (uint64_t)MIB;

        path = "sparse-tail.img";
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd, path);
        gen_text(r, iobuf, 4096);
        pwrite_all(fd, iobuf, 4096, 0, path);
        CHECK(ftruncate(fd, 32 * (off_t)MIB), path);
        CHECK(close(fd), path);
        remember(path);
        nbytes += 32 * (uint64_t)MIB;
}

static void gen_special(void)
{
        make_dir("special", 0755);
        CHECK(mkfifo("special/fifo", 0644), "special/fifo");
        remember("special/fifo");
        CHECK(mknod("special/chardev", S_IFCHR | 0600, makedev(240, 7)), "special/chardev");
        remember("special/chardev");
        CHECK(mknod("special/blockdev", S_IFBLK | 0660, makedev(241, 9)), "special/blockdev");
        remember("special/blockdev");
}

static void gen_xattrs(Rng *r)
{
        static const char bin[] = "\x00\x01" "binary\x00value\xff\xfe\n";
        make_dir("xattr", 0755);
        make_file("xattr/file", r, KIND_TEXT, 1000, 0644);
        make_dir("xattr/dir", 0755);
        make_file("xattr/dir/inside", r, KIND_TEXT, 10, 0644);
        const char *targets[] = { "xattr/file", "xattr/dir" };
        for (size_t i = 0; i < 2; i++) {
                CHECK(lsetxattr(targets[i], "user.cairn.test", bin, sizeof(bin) - 1, 0), targets[i]);
                CHECK(lsetxattr(targets[i], "user.empty", "", 0, 0), targets[i]);
        }
        /* A larger value, on the file only. */
        rng_fill(r, iobuf, 2000);
        CHECK(lsetxattr("xattr/file", "user.cairn.big", iobuf, 2000, 0), "xattr/file");
}

static void gen_names(Rng *r)
{
        char p[PATH_MAX];
        make_dir("names", 0755);

        /* Every byte 0x01..0xff except '/', each in a name of its own. */
        for (int b = 1; b < 256; b++) {
                if (b == '/')
                        continue;
                snprintf(p, sizeof(p), "names/byte-%02x-%c-", b, b);
                make_file(p, r, KIND_TEXT, (uint64_t)b, 0644);
        }

        static const char *const odd[] = {
                "new\nline", "\nleading-newline", "trailing-newline\n",
                "carriage\rreturn", "tab\there", " space at both ends ",
                "-leading-dash", "--help", "-", "\xff\xfe", "invalid \xc3\x28 utf8",
                "\x80lone-continuation", "h\xc3\xa9llo \xc3\xbcn\xc3\xaf" "c\xc3\xb6" "de \xe2\x9c\x93",
                "glob*?[x]{a,b}", "back\\slash", "quote\"s'", "...", "..a", ".hidden",
                "$HOME", "%s%n%x", "\x1b[31mansi", "\x7f",
        };
        for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
                path_join(p, sizeof(p), "names", odd[i]);
                make_file(p, r, KIND_TEXT, 10 + i, 0644);
        }

        /* A 255-byte name (the ext4/POSIX maximum), a file and a directory. */
        char longname[256];
        memset(longname, 'L', 255);
        longname[255] = '\0';
        path_join(p, sizeof(p), "names", longname);
        make_file(p, r, KIND_TEXT, 255, 0644);
        longname[0] = 'D';
        path_join(p, sizeof(p), "names", longname);
        make_dir(p, 0755);
        char inside[PATH_MAX];
        path_join(inside, sizeof(inside), p, "inside");
        make_file(inside, r, KIND_TEXT, 1, 0644);

        /* Odd directory names with content. */
        make_dir("names/dir\nwith newline", 0755);
        make_file("names/dir\nwith newline/file\ttab", r, KIND_RANDOM, 100, 0644);
        make_dir("names/\xff\xfe dir", 0755);
        make_symlink("../byte-41-A-", "names/\xff\xfe dir/link \xff");
}

static void gen_modes(Rng *r)
{
        make_dir("modes", 0755);
        static const struct {
                const char *name;
                mode_t mode;
        } files[] = {
                { "modes/f0600", 0600 }, { "modes/f0755", 0755 },
                { "modes/f0444", 0444 }, { "modes/f4755-setuid", 04755 },
                { "modes/f2755-setgid", 02755 }, { "modes/f0000", 0000 },
                { "modes/f6777", 06777 }, { "modes/f1644-sticky", 01644 },
        };
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                make_file(files[i].name, r, KIND_TEXT, 100 + i, 0644);
                CHECK(chmod(files[i].name, files[i].mode), files[i].name);
        }
        /* Directories get their modes after their contents exist. */
        make_dir("modes/d2755-setgid", 0755);
        make_file("modes/d2755-setgid/file", r, KIND_TEXT, 50, 0644);
        make_dir("modes/d1777-sticky", 0755);
        make_file("modes/d1777-sticky/file", r, KIND_TEXT, 50, 0644);
        make_dir("modes/d0555-readonly", 0755);
        make_file("modes/d0555-readonly/file", r, KIND_TEXT, 50, 0644);
        make_dir("modes/d0700", 0755);
        make_file("modes/d0700/file", r, KIND_TEXT, 50, 0600);
        make_dir("modes/d0000", 0755);
        make_file("modes/d0000/file", r, KIND_TEXT, 50, 0644);
        CHECK(chmod("modes/d2755-setgid", 02755), "modes/d2755-setgid");
        CHECK(chmod("modes/d1777-sticky", 01777), "modes/d1777-sticky");
        CHECK(chmod("modes/d0555-readonly", 0555), "modes/d0555-readonly");
        CHECK(chmod("modes/d0700", 0700), "modes/d0700");
        CHECK(chmod("modes/d0000", 0000), "modes/d0000");
}

static void gen_owners(Rng *r)
{
        make_dir("owners", 0755);
        make_file("owners/file-1234", r, KIND_TEXT, 300, 0644);
        set_owner_mode("owners/file-1234", 1234, 5678, 0644);
        make_file("owners/setuid-4321", r, KIND_RANDOM, 300, 0644);
        set_owner_mode("owners/setuid-4321", 4321, 8765, 04755);
        make_dir("owners/dir-4321", 0755);
        make_file("owners/dir-4321/file-0", r, KIND_TEXT, 30, 0644);
        make_file("owners/dir-4321/file-1234", r, KIND_TEXT, 30, 0644);
        set_owner_mode("owners/dir-4321/file-1234", 1234, 5678, 0600);
        set_owner_mode("owners/dir-4321", 4321, 8765, 02750);
        make_symlink("file-1234", "owners/link-1234");
        CHECK(lchown("owners/link-1234", 1234, 5678), "owners/link-1234");
        make_symlink("/nowhere", "owners/link-4321");
        CHECK(lchown("owners/link-4321", 4321, 8765), "owners/link-4321");
        CHECK(mkfifo("owners/fifo-1234", 0640), "owners/fifo-1234");
        remember("owners/fifo-1234");
        CHECK(lchown("owners/fifo-1234", 1234, 8765), "owners/fifo-1234");
        /* Only the group foreign. */
        make_file("owners/group-only", r, KIND_TEXT, 3, 0644);
        set_owner_mode("owners/group-only", 0, 5678, 0664);
}

/*
 * Timestamps, last of all: reverse creation order puts every child before
 * its directory.  A separate PRNG stream keeps them independent of file
 * contents.  A few special values: whole seconds, 999999999 ns, after 2038.
 */
static void apply_times(uint64_t seed)
{
        Rng t;
        rng_seed(&t, seed ^ 0x74696D6573ULL);
        for (size_t k = npaths; k-- > 0;) {
                struct timespec ts[2];
                for (int j = 0; j < 2; j++) {
                        ts[j].tv_sec = (time_t)(1500000000 + rng_below(&t, 200000000));
                        ts[j].tv_nsec = (long)rng_below(&t, 1000000000);
                }
                switch (k % 97) {
                case 1:
                        ts[1].tv_nsec = 0;
                        break;
                case 2:
                        ts[1].tv_nsec = 999999999;
                        break;
                case 3:
                        ts[1].tv_sec = (time_t)4102444800LL + 123; /* 2100-01-01 */
                        break;
                default:
                        break;
                }
                CHECK(utimensat(AT_FDCWD, paths[k], ts, AT_SYMLINK_NOFOLLOW), paths[k]);
        }
        struct timespec root[2] = {
                { .tv_sec = 1600000000, .tv_nsec = 123456789 },
                { .tv_sec = 1600000001, .tv_nsec = 987654321 },
        };
        CHECK(utimensat(AT_FDCWD, ".", root, 0), ".");
}

/* ------------------------------------------------------------------------ */
/* --mutate-middle                                                           */

static int mutate_middle(const char *path, uint64_t seed)
{
        struct stat st;
        int fd = open(path, O_RDWR | O_CLOEXEC);
        CHECK(fd, path);
        CHECK(fstat(fd, &st), path);
        if (!S_ISREG(st.st_mode))
                die("%s: not a regular file", path);
        size_t len = st.st_size < (off_t)MIB ? (size_t)st.st_size : MIB;
        off_t off = st.st_size / 2 - (off_t)len / 2;
        Rng r;
        rng_seed(&r, seed ^ 0x6D7574617465ULL);
        rng_fill(&r, iobuf, len);
        pwrite_all(fd, iobuf, len, off, path);
        CHECK(fsync(fd), path);
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        ts[1].tv_sec += 1;
        CHECK(futimens(fd, ts), path);
        CHECK(close(fd), path);
        printf("gentree: mutated %zu bytes at offset %lld of %s\n", len, (long long)off, path);
        return 0;
}

/* ------------------------------------------------------------------------ */

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
        fputs("usage: cairn-gentree DIR [--seed N] [--small N] [--big-mib M]\n"
              "       cairn-gentree --mutate-middle FILE [--seed N]\n",
              stderr);
        exit(2);
}

static uint64_t parse_num(const char *opt, const char *s)
{
        char *end;
        errno = 0;
        if (!s || !*s || *s == '-')
                die("%s needs a non-negative number", opt);
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || *end)
                die("%s: bad number '%s'", opt, s);
        return v;
}

/* Create DIR, or accept it if it exists and is empty. */
static void prepare_dir(const char *dir)
{
        if (mkdir(dir, 0755) == 0)
                return;
        if (errno != EEXIST)
                die("mkdir %s: %s", dir, strerror(errno));
        DIR *d = opendir(dir);
        if (!d)
                die("%s: %s", dir, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        die("%s: exists and is not empty", dir);
        }
        closedir(d);
}

int main(int argc, char **argv)
{
        const char *dir = NULL, *mutate = NULL;
        uint64_t seed = 1, small = 20000, big_mib = 100;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *v = NULL;
#define OPT(name)                                                                      \
        ((strcmp(a, name) == 0 && (v = (i + 1 < argc ? argv[++i] : NULL), 1)) ||       \
         (strncmp(a, name "=", sizeof(name)) == 0 && (v = a + sizeof(name), 1)))
                if (OPT("--seed"))
                        seed = parse_num("--seed", v);
                else if (OPT("--small"))
                        small = parse_num("--small", v);
                else if (OPT("--big-mib"))
                        big_mib = parse_num("--big-mib", v);
                else if (OPT("--mutate-middle")) {
                        if (!v)
                                die("--mutate-middle needs a file");
                        mutate = v;
                } else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
                        usage();
                else if (a[0] == '-' && a[1])
                        die("unknown option %s", a);
                else if (!dir)
                        dir = a;
                else
                        usage();
#undef OPT
        }
        if (small > 1000000 || big_mib > 1000000)
                die("--small/--big-mib too large");

        iobuf = malloc(MIB);
        if (!iobuf)
                die("out of memory");

        if (mutate) {
                if (dir)
                        usage();
                return mutate_middle(mutate, seed);
        }
        if (!dir)
                usage();

        umask(0);
        prepare_dir(dir);
        if (chdir(dir) < 0)
                die("chdir %s: %s", dir, strerror(errno));
        CHECK(chmod(".", 0755), dir);

        Rng r;
        rng_seed(&r, seed);
        gen_varied(&r);
        gen_big(&r, (unsigned)big_mib);
        gen_small(&r, (unsigned)small);
        gen_links(&r);
        gen_sparse(&r);
        gen_special();
        gen_xattrs(&r);
        gen_names(&r);
        gen_modes(&r);
        gen_owners(&r);
        apply_times(seed);

        printf("gentree: %" PRIu64 " entries, %" PRIu64 " bytes\n", nentries, nbytes);
        for (size_t k = 0; k < npaths; k++)
                free(paths[k]);
        free(paths);
        free(iobuf);
        return 0;
}
