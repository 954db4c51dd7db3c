/* restorer.c — see restorer.h. */
#include "restorer.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "error.h"
#include "pack.h"

#define COALESCE_GAP (256u * 1024)   /* read across gaps smaller than this */
#define MAX_SPAN (32u * 1024 * 1024) /* one read at most, with few workers */
#define PREALLOC_MIN (1u << 20) /* files allocated whole from this size */
#define INCOMPLETE_HINT "zeros in place of what is missing; run 'cairn check --read-data'"
#define IN_THE_WAY "exists and is not a directory: left as it is, and the directory's contents not restored"
#define SPAN_BUDGET (32u * 1024 * 1024) /* local: all workers' reads together */

typedef struct Ref {
        uint32_t pack, offset, length, raw_length;
        uint32_t file;
        uint64_t file_off;
} Ref;

typedef struct Meta {
        char *path;
        Node node;    /* without content */
        int64_t file; /* its FileEntry, or -1 */
} Meta;

#define NO_LINK UINT32_MAX

typedef struct FileEntry {
        char *path;
        uint64_t size;
        uint32_t link_to;  /* another name of the same file (hard link), or NO_LINK */
        bool prealloc;     /* allocated whole by fallocate: holes are punched */
        bool linked;       /* made a hard link to link_to: its contents are that file's */
        bool failed;       /* could not be created (reported): nothing to write */
        uint32_t first_ref, nrefs; /* in creation order; refs are sorted later */
        uint32_t pending;          /* refs not written yet */
        /* some contents could not be read (reported): zeros there, no
         * metadata. Set by the workers, atomically: not beside the flags
         * above, which they read as one word */
        bool damaged;
        int64_t meta;              /* its Meta, or -1 */
        int fd; /* open from its creation to its last write (see FD_KEEP_MAX), or -1 */
        uint8_t (*ids)[ID_LEN];    /* for --verify */
        uint32_t *lens;
} FileEntry;

typedef struct Link {
        uint64_t dev, inode;
        uint32_t file; /* the first name's FileEntry */
        struct Link *next;
} Link;

#define LINK_BUCKETS 4096

/* A file created for its contents stays open for the workers that write
 * them, and gets its metadata through that descriptor when its last blob
 * is written: no second open, no path lookups. The main thread creates
 * files ahead of the workers: half the descriptors the process may open,
 * at most FD_KEEP_MAX, are kept so; the files past that are opened again
 * by name. */
#define FD_KEEP_MAX 16384

/* A remote restore reads the first packs the walk (pass 1, one thread)
 * finds blobs in while the walk goes on: the server and the other cores
 * would sit idle until pass 2 otherwise. A pack is read once the blobs the
 * walk found in it make up half of its data (so a restore of a few files
 * does not read whole packs for them), from its start to the end of its
 * last blob, in one GET as pass 2 would make; at most as many packs as
 * pass 2 has workers. Pass 2 decodes a pack read ahead from memory, and
 * reads again one whose read failed (it then reports what it cannot
 * read, as for any other pack). */
typedef struct Prefetch {
        struct Restorer *rs;
        uint32_t pack, len; /* the read: its first len bytes */
        bool done;          /* with rs->mu */
        pthread_t thread;
        Buf data; /* once done: its first len bytes, or empty when the read failed */
} Prefetch;

#define PREFETCH_MAX 16

typedef struct Group {
        size_t from, to; /* refs[from..to) */
} Group;

struct Restorer {
        Repo *repo;
        RestoreOptions opt;
        Index *index;
        Ref *refs;
        size_t nrefs, caprefs;
        FileEntry *files;
        size_t nfiles, capfiles;
        Meta *metas; /* non-directories */
        size_t nmetas, capmetas;
        Meta *dirs; /* in creation (pre-)order */
        size_t ndirs, capdirs;
        Link *links[LINK_BUCKETS];
        RestoreStats st;

        /* pass 2; files[0..created) exist (the main thread creates them
         * while the content workers read) */
        pthread_mutex_t mu;
        pthread_cond_t created_cond;
        size_t created;
        size_t next_group;
        uint32_t max_span; /* SPAN_BUDGET shared by the workers */
        Group *groups; /* each pack's run of refs */
        size_t ngroups;
        int error;
        char errmsg[1024];

        unsigned fds_kept, fd_keep; /* FileEntry.fd open now (atomic); at most */
        Prefetch pf[PREFETCH_MAX];
        unsigned npf, maxpf; /* started; at most (0: none, a local restore) */
        pthread_cond_t pf_cond;
        uint32_t *pack_end;  /* by pack number: the end of its last blob */
        uint64_t *pack_seen; /* bytes of its blobs pass 1 found so far */
};

/* The content workers of pass 2: a remote backend wants many requests in
 * flight; a local one a few per core. Measured when large writes went
 * around the page cache and waited for the disk: 4 per core with 4 MiB
 * reads (2 per core with 16 MiB: 2.0-2.8 s cold, 1.9-2.2 s warm for the
 * bench's 1 GiB; 4 per core: 2.1-2.2 s and 1.75-1.85 s, 20 MiB less
 * memory). Remote: whole packs in one request each (fewest requests), as
 * many at once as the memory budget holds (16 S3 workers with 32 MiB
 * reads each held half a GiB: 6 whole-pack reads, ~17 MiB each). */
static unsigned content_workers(const Restorer *rs)
{
        unsigned par = repo_backend(rs->repo)->parallel;
        unsigned n = rs->opt.workers ? rs->opt.workers : par ? MIN(par, 6u) : 4 * util_ncpu();
        return MIN(n, 64u);
}

/* ---- packs read while pass 1 walks ---- */

static void *prefetch_run(void *arg)
{
        Prefetch *p = arg;
        Restorer *rs = p->rs;
        char name[ID_HEX_LEN + 9];
        pack_name(index_pack_id(rs->index, p->pack), name);
        /* any failure leaves the pack to pass 2, which reports it */
        if (backend_read(repo_backend(rs->repo), name, 0, p->len, &p->data) < 0)
                buf_free(&p->data);
        pthread_mutex_lock(&rs->mu);
        p->done = true;
        pthread_cond_broadcast(&rs->pf_cond);
        pthread_mutex_unlock(&rs->mu);
        return NULL;
}

static int pack_end_cb(const uint8_t id[ID_LEN], const IndexEntry *e, void *ud)
{
        (void)id;
        uint32_t *end = ud;
        if (e->pack != INDEX_PACK_PENDING)
                end[e->pack] = MAX(end[e->pack], e->offset + e->length);
        return 0;
}

/* Pass 1 found a blob of pack e->pack: read the pack now if it is among the
 * first few and half of its data is to be restored. */
static void prefetch(Restorer *rs, const IndexEntry *e)
{
        if (rs->npf >= rs->maxpf)
                return;
        if (!rs->pack_end) {
                size_t n = index_pack_count(rs->index);
                rs->pack_end = calloc(n, sizeof(*rs->pack_end));
                rs->pack_seen = calloc(n, sizeof(*rs->pack_seen));
                if (!rs->pack_end || !rs->pack_seen) {
                        rs->maxpf = 0; /* pass 2 reads them */
                        return;
                }
                index_foreach(rs->index, pack_end_cb, rs->pack_end);
        }
        uint32_t end = rs->pack_end[e->pack];
        if (rs->pack_seen[e->pack] == UINT64_MAX || (rs->pack_seen[e->pack] += e->length) * 2 < end ||
            end > MAX_SPAN)
                return;
        rs->pack_seen[e->pack] = UINT64_MAX; /* read (or tried) */
        Prefetch *p = &rs->pf[rs->npf];
        *p = (Prefetch){.rs = rs, .pack = e->pack, .len = end};
        if (pthread_create(&p->thread, NULL, prefetch_run, p) == 0) {
                rs->npf++;
                __atomic_add_fetch(&rs->st.packs_read_ahead, 1, __ATOMIC_RELAXED);
        } else
                rs->maxpf = 0; /* no threads to be had: pass 2 reads them */
}

/* The reads are started by pass 1 only: restorer_run joins them once. */
static void prefetch_join(Restorer *rs)
{
        for (unsigned i = 0; i < rs->npf; i++)
                pthread_join(rs->pf[i].thread, NULL);
}

/* The read pack of refs [from, to) when it holds them all (waiting for its
 * read to finish), else NULL; the caller frees its data. */
static Prefetch *prefetched(Restorer *rs, size_t from, size_t to)
{
        Prefetch *p = NULL;
        for (unsigned i = 0; i < rs->npf && !p; i++)
                if (rs->pf[i].pack == rs->refs[from].pack)
                        p = &rs->pf[i];
        if (!p)
                return NULL;
        pthread_mutex_lock(&rs->mu);
        while (!p->done)
                pthread_cond_wait(&rs->pf_cond, &rs->mu);
        pthread_mutex_unlock(&rs->mu);
        bool whole = true; /* a failed read holds nothing */
        for (size_t k = from; whole && k < to; k++)
                whole = (uint64_t)rs->refs[k].offset + rs->refs[k].length <= p->data.len;
        if (!whole) {
                buf_free(&p->data);
                __atomic_add_fetch(&rs->st.packs_read_again, 1, __ATOMIC_RELAXED);
        }
        return whole ? p : NULL;
}

/* Groups of prefetched packs first: their memory is given back soonest. */
static void prefetched_first(Restorer *rs)
{
        size_t k = 0;
        for (size_t g = 0; g < rs->ngroups; g++)
                for (unsigned i = 0; i < rs->npf; i++)
                        if (rs->pf[i].pack == rs->refs[rs->groups[g].from].pack) {
                                Group t = rs->groups[k];
                                rs->groups[k++] = rs->groups[g];
                                rs->groups[g] = t;
                                break;
                        }
}

int restorer_new(Repo *r, const RestoreOptions *opt, Restorer **out)
{
        Restorer *rs = calloc(1, sizeof(*rs));
        if (!rs)
                return -ENOMEM;
        rs->repo = r;
        rs->opt = *opt;
        rs->index = repo_index(r);
        pthread_mutex_init(&rs->mu, NULL);
        pthread_cond_init(&rs->created_cond, NULL);
        pthread_cond_init(&rs->pf_cond, NULL);
        if (repo_backend(r)->parallel)
                rs->maxpf = MIN(content_workers(rs), (unsigned)PREFETCH_MAX);
        *out = rs;
        return 0;
}

void restorer_free(Restorer *rs)
{
        if (!rs)
                return;
        for (size_t i = 0; i < rs->nfiles; i++) {
                if (rs->files[i].fd >= 0) /* the restore stopped before its last write */
                        close(rs->files[i].fd);
                free(rs->files[i].path);
                free(rs->files[i].ids);
                free(rs->files[i].lens);
        }
        for (size_t i = 0; i < rs->nmetas; i++) {
                free(rs->metas[i].path);
                node_clear(&rs->metas[i].node);
        }
        for (size_t i = 0; i < rs->ndirs; i++) {
                free(rs->dirs[i].path);
                node_clear(&rs->dirs[i].node);
        }
        for (size_t b = 0; b < LINK_BUCKETS; b++)
                while (rs->links[b]) {
                        Link *l = rs->links[b];
                        rs->links[b] = l->next;
                        free(l);
                }
        free(rs->refs);
        free(rs->files);
        free(rs->metas);
        free(rs->dirs);
        free(rs->groups);
        for (unsigned i = 0; i < rs->npf; i++)
                buf_free(&rs->pf[i].data);
        free(rs->pack_end);
        free(rs->pack_seen);
        pthread_mutex_destroy(&rs->mu);
        pthread_cond_destroy(&rs->created_cond);
        pthread_cond_destroy(&rs->pf_cond);
        free(rs);
}

void restorer_stats(Restorer *rs, RestoreStats *out)
{
        uint64_t *d = (uint64_t *)out, *s = (uint64_t *)&rs->st;
        for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
                d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* Errors of the repository's data, not of the restore: the files (or
 * directories) they touch are reported and the others restored. */
static bool data_error(int rc)
{
        return rc == -ENOENT || rc == -ENODATA || rc == -EBADMSG;
}

static void warn(Restorer *rs, const char *path, const char *msg)
{
        __atomic_add_fetch(&rs->st.errors, 1, __ATOMIC_RELAXED);
        if (rs->opt.warn)
                rs->opt.warn(path, msg, rs->opt.ud);
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
        if (n < *cap)
                return 0;
        size_t c = *cap ? *cap * 2 : 64;
        void *p = realloc(*v, c * size);
        if (!p)
                return -ENOMEM;
        *v = p;
        *cap = c;
        return 0;
}

static int add_meta(Meta **v, size_t *n, size_t *cap, const char *path, const Node *node, int64_t file)
{
        int rc = grow((void **)v, cap, *n, sizeof(Meta));
        if (rc < 0)
                return rc;
        Meta *m = &(*v)[*n];
        Node tmp = *node;
        tmp.content = NULL;
        tmp.ncontent = 0;
        rc = node_copy(&tmp, &m->node);
        if (rc < 0)
                return rc;
        m->file = file;
        m->path = strdup(path);
        if (!m->path) {
                node_clear(&m->node);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

static bool matches(const char *const *pats, const char *path, const char *name)
{
        for (const char *const *p = pats; p && *p; p++)
                if (fnmatch(*p, strchr(*p, '/') ? path : name, 0) == 0)
                        return true;
        return false;
}

static Link **link_slot(Restorer *rs, uint64_t dev, uint64_t inode)
{
        size_t b = (size_t)((inode * 0x9E3779B97F4A7C15ull) ^ dev) % LINK_BUCKETS;
        Link **l = &rs->links[b];
        while (*l && !((*l)->dev == dev && (*l)->inode == inode))
                l = &(*l)->next;
        return l;
}

static void count_file(Restorer *rs, const FileEntry *f, int sign)
{
        __atomic_add_fetch(&rs->st.files, (uint64_t)(int64_t)sign, __ATOMIC_RELAXED);
        __atomic_add_fetch(&rs->st.bytes_total, (uint64_t)((int64_t)sign * (int64_t)f->size), __ATOMIC_RELAXED);
}

/* f's contents cannot all be read: named once (by whichever thread finds
 * it first), and it gets none of the snapshot's metadata. */
static void mark_incomplete(Restorer *rs, FileEntry *f, const char *why)
{
        if (__atomic_exchange_n(&f->damaged, true, __ATOMIC_RELAXED))
                return;
        char msg[1280];
        snprintf(msg, sizeof(msg), "the file is incomplete (%s): %s", INCOMPLETE_HINT, why);
        __atomic_add_fetch(&rs->st.files_incomplete, 1, __ATOMIC_RELAXED);
        warn(rs, f->path, msg);
}

/* The refs of file f to blob i of n, at offset off. */
static int add_ref(Restorer *rs, FileEntry *f, size_t i, const IndexEntry *e, uint64_t off)
{
        int rc = grow((void **)&rs->refs, &rs->caprefs, rs->nrefs, sizeof(Ref));
        if (rc < 0)
                return rc;
        rs->refs[rs->nrefs++] = (Ref){.pack = e->pack, .offset = e->offset, .length = e->length,
                                      .raw_length = e->raw_length, .file = (uint32_t)(f - rs->files),
                                      .file_off = off};
        if (f->lens)
                f->lens[i] = e->raw_length;
        prefetch(rs, e);
        return 0;
}

static bool indexed(Restorer *rs, const uint8_t id[ID_LEN], IndexEntry *e)
{
        return index_find(rs->index, id, e) && e->pack != INDEX_PACK_PENDING;
}

/* Pass 1 for a file: its entry and the refs to its blobs; create_file
 * makes it later, while the contents are read. */
static int plan_file(Restorer *rs, const char *path, const Node *n)
{
        uint32_t link_to = NO_LINK;
        if (n->links > 1) {
                Link **slot = link_slot(rs, n->dev, n->inode);
                if (*slot) {
                        link_to = (*slot)->file;
                } else {
                        Link *l = calloc(1, sizeof(*l));
                        if (!l)
                                return -ENOMEM;
                        l->dev = n->dev;
                        l->inode = n->inode;
                        l->file = (uint32_t)rs->nfiles;
                        *slot = l;
                }
        }
        int rc = grow((void **)&rs->files, &rs->capfiles, rs->nfiles, sizeof(FileEntry));
        if (rc < 0)
                return rc;
        FileEntry *f = &rs->files[rs->nfiles];
        memset(f, 0, sizeof(*f));
        f->path = strdup(path);
        f->size = n->size;
        f->link_to = link_to;
        f->meta = -1;
        f->fd = -1;
        f->first_ref = (uint32_t)rs->nrefs;
        if (!f->path)
                return -ENOMEM;
        if (rs->opt.verify && n->ncontent) {
                f->ids = malloc(n->ncontent * ID_LEN);
                f->lens = malloc(n->ncontent * sizeof(uint32_t));
                if (!f->ids || !f->lens)
                        return -ENOMEM;
                memcpy(f->ids, n->content, n->ncontent * ID_LEN);
        }
        uint64_t off = 0;
        size_t i = 0;
        for (IndexEntry e; i < n->ncontent && indexed(rs, n->content[i], &e); off += e.raw_length, i++)
                if ((rc = add_ref(rs, f, i, &e, off)) < 0)
                        return rc;
        /* The index lacks blob i: the blobs after the last one it lacks go at
         * their offsets from the end (the size is known); those between are
         * of unknown lengths, and stay zeros */
        uint64_t end = n->size;
        for (size_t k = n->ncontent; i < n->ncontent && k-- > i + 1;) {
                IndexEntry e;
                if (!indexed(rs, n->content[k], &e) || e.raw_length > end - off)
                        break;
                end -= e.raw_length;
                if ((rc = add_ref(rs, f, k, &e, end)) < 0)
                        return rc;
        }
        f->nrefs = f->pending = (uint32_t)(rs->nrefs - f->first_ref);
        rs->nfiles++;
        if (i < n->ncontent) {
                char hex[ID_HEX_LEN + 1], why[64];
                util_hex(n->content[i], ID_LEN, hex);
                snprintf(why, sizeof(why), "blob %.16s is not in the repository's index", hex);
                mark_incomplete(rs, f, why);
        }
        if (link_to == NO_LINK) /* another name counts if it becomes a copy */
                count_file(rs, f, 1);
        return 0;
}

/* Create file i at its final size, or as a hard link to its first name
 * (then its contents are that file's). A file that cannot be created is
 * reported and skipped: 0; an error that ends the restore: < 0. */
static int create_file(Restorer *rs, size_t i)
{
        FileEntry *f = &rs->files[i];
        if (f->link_to != NO_LINK) {
                if (!rs->files[f->link_to].failed) {
                        unlink(f->path);
                        if (link(rs->files[f->link_to].path, f->path) == 0) {
                                f->linked = true;
                                return 0;
                        }
                }
                count_file(rs, f, 1); /* no link here: a copy of its own */
        }
        int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600), in_way = 0;
        if (fd < 0 && errno == EEXIST) {
                /* what is there is replaced, never written through: a
                 * symlink, or another name (hard link) of a file outside
                 * the target */
                in_way = unlink(f->path) < 0 && errno != ENOENT ? errno : 0; /* EISDIR: a directory */
                fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (fd < 0) {
                int e = errno == EEXIST && in_way ? in_way : errno;
                f->failed = true;
                count_file(rs, f, -1);
                warn(rs, f->path, strerror(e));
                return 0;
        }
        /* a large file is allocated at once: its blocks are then written in
         * place; ext4 completes the writeback of such (unwritten) blocks
         * where it can give the pages of uncached writes back, and lets
         * direct writes into them run in parallel where those are used */
        f->prealloc = f->size >= PREALLOC_MIN && fallocate(fd, 0, 0, (off_t)f->size) == 0;
        int rc = !f->prealloc && ftruncate(fd, (off_t)f->size) < 0 ? -errno : 0;
        if (rc == 0 && f->nrefs && __atomic_load_n(&rs->fds_kept, __ATOMIC_RELAXED) < rs->fd_keep) {
                __atomic_add_fetch(&rs->fds_kept, 1, __ATOMIC_RELAXED);
                f->fd = fd; /* published with the file's creation */
        } else {
                close(fd);
        }
        if (rc < 0)
                error_set("%s: %s", f->path, strerror(-rc));
        return rc;
}

static int restore_special(Restorer *rs, const char *path, const Node *n)
{
        unlink(path);
        int rc = 0;
        switch (n->type) {
        case NODE_SYMLINK:
                rc = symlink(n->linktarget, path);
                break;
        case NODE_CHARDEV:
                rc = mknod(path, S_IFCHR | 0600, (dev_t)n->rdev);
                break;
        case NODE_BLOCKDEV:
                rc = mknod(path, S_IFBLK | 0600, (dev_t)n->rdev);
                break;
        case NODE_FIFO:
                rc = mkfifo(path, 0600);
                break;
        default:
                return 1; /* sockets are not restored, as with tar */
        }
        if (rc < 0) {
                warn(rs, path, strerror(errno));
                return 1;
        }
        rs->st.others++;
        return 0;
}

static int walk(Restorer *rs, const uint8_t tree_id[ID_LEN], const char *dst, const char *snap, bool included,
                bool top);

/* A directory of the restore at path: made, or one already there used;
 * anything else there (a file, or a symlink that would lead the restore
 * out of the target) is left alone. 0, or 1 when it could not be had
 * (reported). */
static int make_dir(Restorer *rs, const char *path, mode_t mode)
{
        if (mkdir(path, mode) == 0)
                return 0;
        int e = errno;
        struct stat st;
        if (e == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                return 0;
        warn(rs, path, e == EEXIST ? IN_THE_WAY : strerror(e));
        return 1;
}

/* dst is included and its parents are not: make the directories above it,
 * below the target only. 0; 1 when one could not be had (reported). */
static int make_parents(Restorer *rs, const char *dst)
{
        char *p = strdup(dst);
        if (!p)
                return -ENOMEM;
        int rc = 0;
        size_t below = strlen(rs->opt.target) + 1;
        for (char *s = p + MIN(below, strlen(p)); rc == 0 && (s = strchr(s, '/')); *s++ = '/') {
                *s = 0;
                rc = make_dir(rs, p, 0755);
        }
        free(p);
        return rc;
}

static int restore_node(Restorer *rs, const Node *n, const char *dst, const char *snap, bool included)
{
        if (matches(rs->opt.excludes, snap, n->name))
                return 0;
        bool inc = included || matches(rs->opt.includes, snap, n->name);
        if (n->type == NODE_DIR) {
                if (inc && !included) {
                        int rc = make_parents(rs, dst);
                        if (rc != 0)
                                return rc < 0 ? rc : 0;
                }
                if (inc) {
                        if (make_dir(rs, dst, 0700))
                                return 0;
                        int rc = add_meta(&rs->dirs, &rs->ndirs, &rs->capdirs, dst, n, -1);
                        if (rc < 0)
                                return rc;
                        rs->st.dirs++;
                }
                int rc = n->has_subtree ? walk(rs, n->subtree, dst, snap, inc, false) : 0;
                if (rc == 1 && inc) {
                        /* its contents are unknown: none of its metadata
                         * either. Nothing was added below it: its Meta is
                         * the last */
                        Meta *m = &rs->dirs[--rs->ndirs];
                        free(m->path);
                        node_clear(&m->node);
                }
                return rc == 1 ? 0 : rc;
        }
        if (!inc)
                return 0;
        if (!included) {
                int rc = make_parents(rs, dst);
                if (rc != 0)
                        return rc < 0 ? rc : 0;
        }
        int64_t file = n->type == NODE_FILE ? (int64_t)rs->nfiles : -1;
        int rc = n->type == NODE_FILE ? plan_file(rs, dst, n) : restore_special(rs, dst, n);
        if (rc == 1)
                return 0;
        if (rc < 0)
                return rc;
        rc = add_meta(&rs->metas, &rs->nmetas, &rs->capmetas, dst, n, file);
        if (rc == 0 && file >= 0)
                rs->files[file].meta = (int64_t)rs->nmetas - 1;
        return rc;
}

static char *join(const char *a, const char *b)
{
        size_t l = strlen(a) + strlen(b) + 2;
        char *s = malloc(l);
        if (s)
                snprintf(s, l, "%s%s%s", a, strcmp(a, "/") == 0 ? "" : "/", b);
        return s;
}

/* 1: the tree of a directory below the top could not be read (lost or
 * damaged in the repository): reported, and the restore goes on. */
static int walk(Restorer *rs, const uint8_t tree_id[ID_LEN], const char *dst, const char *snap, bool included,
                bool top)
{
        Tree *t;
        int rc = repo_tree_load(rs->repo, tree_id, &t);
        if (rc < 0 && !top && data_error(rc)) {
                char msg[1280];
                snprintf(msg, sizeof(msg), "the directory's contents are unknown (run 'cairn check --read-data'): %s",
                         error_last());
                __atomic_add_fetch(&rs->st.dirs_incomplete, 1, __ATOMIC_RELAXED);
                warn(rs, dst, msg);
                return 1;
        }
        if (rc < 0)
                return rc;
        for (size_t i = 0; rc == 0 && i < t->n; i++) {
                char *d = join(dst, t->nodes[i].name), *s = join(snap, t->nodes[i].name);
                rc = d && s ? restore_node(rs, &t->nodes[i], d, s, included) : -ENOMEM;
                free(d);
                free(s);
        }
        tree_free(t);
        return rc;
}

/* ---- pass 2: contents ---- */

static int cmp_ref(const void *x, const void *y)
{
        const Ref *a = x, *b = y;
        if (a->pack != b->pack)
                return a->pack < b->pack ? -1 : 1;
        if (a->offset != b->offset)
                return a->offset < b->offset ? -1 : 1;
        if (a->file != b->file)
                return a->file < b->file ? -1 : 1;
        return a->file_off < b->file_off ? -1 : (a->file_off > b->file_off);
}

static void fail(Restorer *rs, int rc)
{
        pthread_mutex_lock(&rs->mu);
        if (!rs->error) {
                rs->error = rc;
                snprintf(rs->errmsg, sizeof(rs->errmsg), "%s", error_last());
        }
        pthread_cond_broadcast(&rs->created_cond); /* wait_created gives up */
        pthread_mutex_unlock(&rs->mu);
}

#define BOUNCE_LEN (1u << 20)
#define NO_FILE UINT32_MAX

/* One content worker's open file, and for writes around the page cache
 * (see util_pwrite_direct) its own O_DIRECT descriptor of the file and a
 * buffer: the descriptor of the file's FileEntry is shared by the workers,
 * and turning O_DIRECT on it would fail another's unaligned writes. */
typedef struct Writer {
        int fd;
        bool own; /* opened by this worker (else the file's FileEntry.fd) */
        uint32_t file;
        int dfd;        /* O_DIRECT, on dfile; -1 (also where it was refused) */
        uint32_t dfile; /* NO_FILE: none tried yet */
        uint8_t *bounce;
} Writer;

static void writer_close(Writer *w)
{
        if (w->own)
                close(w->fd);
        if (w->dfd >= 0)
                close(w->dfd);
        free(w->bounce);
}

/* A large write around the page cache, where the kernel has no uncached
 * writes: through the worker's own O_DIRECT descriptor of f (buffered
 * where O_DIRECT is refused). */
static int write_direct(Writer *w, const FileEntry *f, const Ref *ref, const uint8_t *p)
{
        if (w->dfile != ref->file) {
                if (w->dfd >= 0)
                        close(w->dfd);
                w->dfd = open(f->path, O_WRONLY | O_DIRECT | O_CLOEXEC);
                w->dfile = ref->file;
        }
        if (w->dfd >= 0 && !w->bounce && posix_memalign((void **)&w->bounce, UTIL_DIRECT_ALIGN, BOUNCE_LEN) != 0)
                w->bounce = NULL;
        return util_pwrite_direct(w->fd, w->dfd, p, ref->raw_length, ref->file_off, w->bounce,
                                  w->bounce ? BOUNCE_LEN : 0);
}

/* Writes of this size or more (the blobs of large files) go uncached
 * (util_pwrite_uncached); smaller ones, most small files whole, through the
 * page cache. Local restores of the bench's 1 GiB on this VM, one series of
 * 3 rounds: 1.8-1.9 s, against 2.0-3.3 s with every write uncached (a
 * small write's own writeback is a disk request of its own), 1.9-3.0 s with
 * 1 MiB as the threshold and 2.2-2.7 s all through the page cache; around
 * it (O_DIRECT, waiting for the disk: ~5900 requests of 175 KB on average,
 * 0.8 ms each) 2.4-3.2 s in other series. */
#define UNCACHED_MIN (256u << 10)

/* Wait until the main thread has created file `file`; -ECANCELED when the
 * restore failed meanwhile. */
static int wait_created(Restorer *rs, uint32_t file)
{
        if (__atomic_load_n(&rs->created, __ATOMIC_ACQUIRE) > file)
                return 0;
        pthread_mutex_lock(&rs->mu);
        while (rs->created <= file && !rs->error)
                pthread_cond_wait(&rs->created_cond, &rs->mu);
        int rc = rs->created > file ? 0 : -ECANCELED;
        pthread_mutex_unlock(&rs->mu);
        return rc;
}

static void publish_created(Restorer *rs, size_t n)
{
        pthread_mutex_lock(&rs->mu);
        __atomic_store_n(&rs->created, n, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&rs->created_cond); /* no waiter: no syscall */
        pthread_mutex_unlock(&rs->mu);
}

/* 1: nothing to write (the file was made a link, or not created) */
static int write_ref(Restorer *rs, const Ref *ref, const uint8_t *p, Writer *w)
{
        int rc = wait_created(rs, ref->file);
        if (rc < 0)
                return rc;
        const FileEntry *f = &rs->files[ref->file];
        if (f->linked || f->failed)
                return 1;
        bool hole = util_all_zero(p, ref->raw_length);
        if (hole && !f->prealloc)
                return 0; /* the file was sized with ftruncate: a hole reads as zeros */
        if (w->fd < 0 || w->file != ref->file) {
                if (w->own)
                        close(w->fd);
                w->own = f->fd < 0;
                w->fd = w->own ? open(f->path, O_WRONLY | O_CLOEXEC) : f->fd;
                w->file = ref->file;
                if (w->fd < 0) {
                        int e = errno;
                        w->own = false;
                        error_set("%s: %s", f->path, strerror(e));
                        return -e;
                }
        }
        if (hole) { /* reads as zeros already: give the blocks back */
                if (fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)ref->file_off,
                              ref->raw_length) == 0)
                        return 0;
                /* no hole punching here: write the zeros */
        }
        /* small files through the page cache, large writes uncached; where
         * the kernel has no uncached writes, around the page cache */
        if (ref->raw_length < UNCACHED_MIN)
                rc = util_pwrite_full(w->fd, p, ref->raw_length, ref->file_off);
        else if ((rc = util_pwrite_uncached(w->fd, p, ref->raw_length, ref->file_off)) == -EOPNOTSUPP)
                rc = write_direct(w, f, ref, p);
        if (rc < 0)
                error_set("%s: %s%s", f->path, strerror(-rc),
                          rc == -ENOSPC ? " (free some space and restore again)" : "");
        return rc;
}

static void apply_meta(Restorer *rs, const Meta *m, int fd);

/* Whether f's metadata is applied as soon as its last blob is written
 * (file_done), rather than at the end: not for other names of a hard link
 * (their file may still be written through its first name), nor for a
 * file that was not created. */
static bool meta_when_written(const FileEntry *f)
{
        return f->link_to == NO_LINK && !f->failed;
}

/* Whether f's contents are incomplete: its own, or those of the first
 * name it is a hard link to. Such a file keeps the restore's time and
 * mode 0600, not the snapshot's metadata: it is not what was saved. */
static bool damaged(const Restorer *rs, const FileEntry *f)
{
        return __atomic_load_n(&f->damaged, __ATOMIC_RELAXED) ||
               (f->linked && __atomic_load_n(&rs->files[f->link_to].damaged, __ATOMIC_RELAXED));
}

/* Every byte of f is written: its metadata now, while other files are
 * still being read (the end of the restore then only has directories and
 * what is not a plain file left); through fd when it is open on f. */
static void file_done(Restorer *rs, FileEntry *f, int fd)
{
        if (meta_when_written(f) && !damaged(rs, f))
                apply_meta(rs, &rs->metas[f->meta], f->fd >= 0 ? f->fd : fd);
        if (f->fd >= 0) {
                close(f->fd);
                f->fd = -1;
                __atomic_sub_fetch(&rs->fds_kept, 1, __ATOMIC_RELAXED);
        }
}

/* The contents of the refs [i, j) of a pack could not be read (the pack
 * is missing or shorter than the index says, or a blob fails
 * authentication): each file that has its own contents there is
 * reported once, and the restore goes on with the rest. 0, or < 0 when
 * the restore failed meanwhile. */
static int damage(Restorer *rs, size_t i, size_t j, const char *why)
{
        for (size_t k = i; k < j; k++) {
                const Ref *ref = &rs->refs[k];
                int rc = wait_created(rs, ref->file);
                if (rc < 0)
                        return rc;
                FileEntry *f = &rs->files[ref->file];
                if (!f->linked && !f->failed)
                        mark_incomplete(rs, f, why);
                if (__atomic_sub_fetch(&f->pending, 1, __ATOMIC_ACQ_REL) == 0)
                        file_done(rs, f, -1);
        }
        return 0;
}

/* Decode the refs [i, j) of pack `name` from span, which holds the pack's
 * bytes from offset start on, and write them to their files. */
static int decode_refs(Restorer *rs, const char *name, size_t i, size_t j, uint32_t start, const Buf *span,
                       Buf *plain, Writer *w)
{
        uint32_t decoded = UINT32_MAX;
        const uint8_t *p = NULL;
        bool bad = false; /* the blob at `decoded` cannot be read */
        int rc = 0;
        for (size_t k = i; rc == 0 && k < j; k++) {
                const Ref *ref = &rs->refs[k];
                if (ref->offset != decoded) {
                        /* a blob stored uncompressed is written from the span */
                        plain->len = 0;
                        rc = repo_blob_open_inplace(rs->repo, span->data + (ref->offset - start), ref->length,
                                                    ref->raw_length, plain, &p);
                        if (rc == 0 && !p)
                                p = plain->data;
                        bad = rc == -EBADMSG;
                        if (bad) {
                                error_set("%s: the blob at offset %u is damaged (it fails authentication "
                                          "or does not decompress)",
                                          name, ref->offset);
                                rc = 0;
                        }
                        decoded = ref->offset;
                }
                if (bad) {
                        rc = damage(rs, k, k + 1, error_last());
                        continue;
                }
                if (rc == 0 && (rc = write_ref(rs, ref, p, w)) == 0)
                        __atomic_add_fetch(&rs->st.bytes_done, ref->raw_length, __ATOMIC_RELAXED);
                if (rc == 1)
                        rc = 0;
                if (rc == 0 && __atomic_sub_fetch(&rs->files[ref->file].pending, 1, __ATOMIC_ACQ_REL) == 0)
                        file_done(rs, &rs->files[ref->file], w->file == ref->file ? w->fd : -1);
        }
        return rc;
}

/* One read on its way: the refs [next, j) are decoded as their bytes
 * arrive (a remote pack's first blobs are written while the rest of it
 * downloads). */
typedef struct Stream {
        Restorer *rs;
        const char *name; /* the pack's */
        size_t next, j;
        uint32_t start;
        Buf *span, *plain;
        Writer *w;
        int err; /* of decoding or writing: not the read's */
} Stream;

static int on_more(void *ud, size_t got)
{
        Stream *st = ud;
        const Ref *refs = st->rs->refs;
        size_t k = st->next;
        /* Every ref whose bytes are in is decoded now, waiting (in
         * write_ref) for its file to be created if need be: a read that
         * fails later loses none of them. Waiting here does not fail the
         * download (curl's low-speed check counts the bytes a blocked
         * callback was handed: with file creation slowed to 20 ms a file,
         * callbacks were held for seconds against --s3-timeout 2 and no
         * request was tried again). Refs of one blob share its offset and
         * length, and are decoded together: decoding opens the blob in
         * place, once. */
        while (k < st->j && refs[k].offset + refs[k].length - st->start <= got)
                k++;
        while (k > st->next && k < st->j && refs[k - 1].offset == refs[k].offset)
                k--;
        if (k == st->next)
                return 0;
        st->err = decode_refs(st->rs, st->name, st->next, k, st->start, st->span, st->plain, st->w);
        st->next = k;
        return st->err;
}

static int restore_group(Restorer *rs, size_t from, size_t to, Buf *span, Buf *plain, Writer *w)
{
        Backend *be = repo_backend(rs->repo);
        char name[ID_HEX_LEN + 9];
        pack_name(index_pack_id(rs->index, rs->refs[from].pack), name);
        Prefetch *p = prefetched(rs, from, to);
        if (p) {
                int rc = decode_refs(rs, name, from, to, 0, &p->data, plain, w);
                buf_free(&p->data);
                return rc;
        }
        int rc = 0;
        size_t i = from;
        /* once the pack turned out shorter than the index says: one blob a
         * read, so that only the files of the blobs past its end are named */
        bool one = false;
        while (rc == 0 && i < to) {
                /* one read covers refs i..j-1 */
                uint32_t start = rs->refs[i].offset, end = start + rs->refs[i].length;
                size_t j = i + 1;
                while (j < to && (one ? rs->refs[j].offset == start : rs->refs[j].offset <= end + COALESCE_GAP) &&
                       rs->refs[j].offset + rs->refs[j].length - start <= rs->max_span) {
                        end = MAX(end, rs->refs[j].offset + rs->refs[j].length);
                        j++;
                }
                span->len = 0;
                Stream st = {rs, name, i, j, start, span, plain, w, 0};
                rc = backend_read_stream(be, name, start, end - start, span, on_more, &st);
                if (st.err < 0) {
                        rc = st.err;
                        break;
                }
                /* what arrived before the read failed is written */
                i = st.next;
                if (rc == -ENODATA && !one && i < j && rs->refs[j - 1].offset != rs->refs[i].offset) {
                        one = true;
                        rc = 0;
                        continue;
                }
                if (data_error(rc))
                        rc = damage(rs, i, j, error_last());
                else if (rc == 0 && i < j)
                        rc = decode_refs(rs, name, i, j, start, span, plain, w);
                i = j;
        }
        return rc;
}

static void *content_worker(void *arg)
{
        Restorer *rs = arg;
        Buf span = {0}, plain = {0};
        Writer w = {.fd = -1, .dfd = -1, .dfile = NO_FILE};
        for (;;) {
                pthread_mutex_lock(&rs->mu);
                size_t g = rs->next_group++;
                bool stop = rs->error != 0 || g >= rs->ngroups;
                pthread_mutex_unlock(&rs->mu);
                if (stop)
                        break;
                int rc = restore_group(rs, rs->groups[g].from, rs->groups[g].to, &span, &plain, &w);
                if (rc < 0)
                        fail(rs, rc);
        }
        writer_close(&w);
        buf_free(&span);
        buf_free(&plain);
        return NULL;
}

/* Pass 2: the content workers read packs while this thread creates the
 * files in order (a worker waits for a file it gets to first). */
static int restore_contents(Restorer *rs)
{
        /* the soft limit on open files up to the hard one (often 1024 of
         * 524288): the files kept open while written */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                if (rl.rlim_cur < rl.rlim_max) {
                        rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)2 * FD_KEEP_MAX);
                        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                                getrlimit(RLIMIT_NOFILE, &rl);
                }
                rs->fd_keep = (unsigned)MIN(rl.rlim_cur / 2, (rlim_t)FD_KEEP_MAX);
        }
        if (rs->nrefs) /* refs is NULL when no file has contents */
                qsort(rs->refs, rs->nrefs, sizeof(Ref), cmp_ref);
        rs->groups = malloc(MAX(rs->nrefs, (size_t)1) * sizeof(Group));
        if (!rs->groups)
                return -ENOMEM;
        for (size_t i = 0; i < rs->nrefs; i++) {
                if (i == 0 || rs->refs[i].pack != rs->refs[i - 1].pack)
                        rs->groups[rs->ngroups++].from = i;
                rs->groups[rs->ngroups - 1].to = i + 1;
        }
        prefetched_first(rs);
        unsigned par = repo_backend(rs->repo)->parallel, n = content_workers(rs);
        pthread_t th[64];
        rs->max_span = par ? MAX_SPAN : MAX(4u << 20, MIN(MAX_SPAN, SPAN_BUDGET / n));
        unsigned started = 0;
        for (unsigned i = 0; rs->ngroups && i < n; i++)
                if (pthread_create(&th[i], NULL, content_worker, rs) == 0)
                        started++;
        for (size_t i = 0; i < rs->nfiles && !__atomic_load_n(&rs->error, __ATOMIC_RELAXED); i++) {
                int rc = create_file(rs, i);
                if (rc < 0) {
                        fail(rs, rc);
                        break;
                }
                publish_created(rs, i + 1);
                if (!rs->files[i].nrefs)
                        file_done(rs, &rs->files[i], -1);
        }
        if (!started && !rs->error)
                content_worker(rs);
        for (unsigned i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        if (rs->error)
                error_set("%s", rs->errmsg);
        return rs->error;
}

/* ---- pass 3: metadata ---- */

/* m's owner, mode, xattrs and times, through fd when it is open on it (a
 * plain file), else by its path */
static void apply_meta(Restorer *rs, const Meta *m, int fd)
{
        const Node *n = &m->node;
        if ((fd >= 0 ? fchown(fd, n->uid, n->gid) : lchown(m->path, n->uid, n->gid)) < 0 && errno != EPERM)
                warn(rs, m->path, strerror(errno));
        if (n->type != NODE_SYMLINK && (fd >= 0 ? fchmod(fd, n->mode & 07777) : chmod(m->path, n->mode & 07777)) < 0)
                warn(rs, m->path, strerror(errno));
        for (size_t i = 0; i < n->nxattrs; i++) {
                const Xattr *x = &n->xattrs[i];
                if ((fd >= 0 ? fsetxattr(fd, x->name, x->value, x->len, 0)
                             : lsetxattr(m->path, x->name, x->value, x->len, 0)) < 0 &&
                    errno != ENOTSUP && errno != EPERM)
                        warn(rs, m->path, strerror(errno));
        }
        struct timespec t[2] = {{n->atime.sec, n->atime.nsec}, {n->mtime.sec, n->mtime.nsec}};
        if ((fd >= 0 ? futimens(fd, t) : utimensat(AT_FDCWD, m->path, t, AT_SYMLINK_NOFOLLOW)) < 0)
                warn(rs, m->path, strerror(errno));
}

static int verify(Restorer *rs)
{
        Buf b = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < rs->nfiles; i++) {
                FileEntry *f = &rs->files[i];
                if (!f->ids || f->failed || damaged(rs, f)) /* reported already */
                        continue;
                int fd = open(f->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        rc = -errno;
                        error_set("verify %s: %s", f->path, strerror(errno));
                        break;
                }
                uint64_t off = 0;
                for (uint32_t k = 0; rc == 0 && k < f->nrefs; k++) {
                        b.len = 0;
                        rc = buf_reserve(&b, f->lens[k]);
                        int got = rc == 0 ? util_pread_full(fd, b.data, f->lens[k], off) : rc;
                        uint8_t id[ID_LEN];
                        if (got >= 0)
                                crypto_blob_id(repo_key(rs->repo), b.data, (size_t)got, id);
                        if (got < 0 || (uint32_t)got != f->lens[k] || memcmp(id, f->ids[k], ID_LEN) != 0) {
                                error_set("verify %s: content differs from the snapshot at offset %llu", f->path,
                                          (unsigned long long)off);
                                rc = -EBADMSG;
                        }
                        off += f->lens[k];
                }
                close(fd);
        }
        buf_free(&b);
        return rc;
}

int restorer_run(Restorer *rs, const Node *root, const char *root_path)
{
        int rc = util_mkdir_p(rs->opt.target, 0700);
        if (rc < 0) {
                error_set("%s: cannot create target: %s", rs->opt.target, strerror(-rc));
                return rc;
        }
        struct stat st;
        if (stat(rs->opt.target, &st) == 0 && !S_ISDIR(st.st_mode)) {
                error_set("%s: the target exists and is not a directory (give a directory for --target)",
                          rs->opt.target);
                return -ENOTDIR;
        }
        if (root->type == NODE_DIR) {
                bool inc = !rs->opt.includes || !rs->opt.includes[0];
                rc = add_meta(&rs->dirs, &rs->ndirs, &rs->capdirs, rs->opt.target, root, -1);
                if (rc == 0 && root->has_subtree)
                        rc = walk(rs, root->subtree, rs->opt.target, root_path, inc, true);
        } else {
                char *dst = join(rs->opt.target, root->name);
                rc = dst ? restore_node(rs, root, dst, root_path, true) : -ENOMEM;
                free(dst);
        }
        if (rc == 0)
                rc = restore_contents(rs);
        prefetch_join(rs); /* pass 2 used them; or the restore failed before */
        if (rc < 0)
                return rc;
        /* every file's contents are written: what file_done left */
        for (size_t i = 0; i < rs->nmetas; i++) {
                const FileEntry *f = rs->metas[i].file >= 0 ? &rs->files[rs->metas[i].file] : NULL;
                if (!f || (!meta_when_written(f) && !f->failed && !damaged(rs, f)))
                        apply_meta(rs, &rs->metas[i], -1);
        }
        for (size_t i = rs->ndirs; i-- > 0;)
                apply_meta(rs, &rs->dirs[i], -1);
        if (rs->opt.verify)
                rc = verify(rs);
        return rc;
}

int restorer_lookup(Repo *r, const uint8_t tree[ID_LEN], const char *path, Node *out)
{
        Node cur = {.type = NODE_DIR, .has_subtree = true, .mode = 0755};
        memcpy(cur.subtree, tree, ID_LEN);
        cur.name = strdup("/");
        if (!cur.name)
                return -ENOMEM;
        char *copy = strdup(path), *save = NULL;
        int rc = copy ? 0 : -ENOMEM;
        for (char *c = copy ? strtok_r(copy, "/", &save) : NULL; rc == 0 && c; c = strtok_r(NULL, "/", &save)) {
                if (cur.type != NODE_DIR || !cur.has_subtree) {
                        error_set("%s: not a directory in the snapshot", path);
                        rc = -ENOTDIR;
                        break;
                }
                Tree *t;
                rc = repo_tree_load(r, cur.subtree, &t);
                if (rc < 0)
                        break;
                Node *n = tree_find(t, c);
                if (!n) {
                        error_set("%s: no such file or directory in the snapshot", path);
                        rc = -ENOENT;
                } else {
                        node_clear(&cur);
                        rc = node_copy(n, &cur);
                }
                tree_free(t);
        }
        free(copy);
        if (rc < 0) {
                node_clear(&cur);
                return rc;
        }
        *out = cur;
        return 0;
}
