/* fs.c — see fs.h. The fuse_lowlevel_ops table, the views of the snapshot
 * list, and the read path. */
#include "fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "error.h"
#include "inode.h"
#include "lock.h"
#include "push.h"
#include "snapshot.h"

#define TIMEOUT_FOREVER 86400.0 /* snapshot contents never change */
#define TIMEOUT_VIEW 1.0         /* views change when snapshots come and go */
#define READAHEAD_BYTES (16u << 20)
/* A remote repository answers fewer, larger requests faster: dd of a
 * 300 MiB file through an S3 mount (s3rver on loopback) took 258 ranged
 * GETs of ~1 MiB at 134-171 MB/s; with 8 MiB tasks, 64 MiB read ahead and
 * refills of half the window, 84 GETs at 186-227 MB/s (s3rver, the bound,
 * spent a third less CPU). The price: each worker keeps a span buffer of
 * up to 8 MiB (that mount's peak RSS 287 -> 335 MiB with --cache-size 256). */
#define REMOTE_READAHEAD_BYTES (64u << 20)
#define REMOTE_TASK_BYTES (8u << 20)
#define LOCAL_TASK_BYTES (1u << 20)
#define PREFETCH_LISTED 256 /* first blobs of listed files fetched ahead */
#define EXPAND_DIRS 32           /* a directory's first subdirectories whose trees are loaded ahead */
#define EXPAND_BYTES (1u << 20)  /* ... and of whose files the first blobs are fetched */
#define EXPAND_BLOBS 16
#define PUSH_WINDOW (16u << 20) /* bytes of the next files pushed to the kernel */
#define PUSH_FILES 256          /* ... and at most this many files */
#define PUSH_MAX_FILE (8u << 20) /* bigger files are left to the kernel's read-ahead */
#define CHILD_KEY "%lu/%s"       /* the inode key of a name under a directory */

typedef struct Fs {
        Repo *repo;
        const FsOptions *opt;
        BlobCache *cache;
        Pusher *pusher;
        InodeTable *inodes;
        pthread_mutex_t mu;
        /* the snapshot list, oldest first, with each one's directory name */
        Snapshot **snaps;
        char **names;
        size_t nsnaps;
        uint64_t refreshed_ns;
        /* snapshot ids ever shown, so each has a stable number */
        char (*serials)[ID_HEX_LEN + 1];
        size_t nserials;
        struct timespec start;
        size_t readahead; /* bytes read ahead of a sequential reader */
        bool no_open;     /* the kernel opens files without asking */
} Fs;


/* ---- the snapshot list ---- */

static unsigned serial_of(Fs *fs, const char *id)
{
        for (size_t i = 0; i < fs->nserials; i++)
                if (strcmp(fs->serials[i], id) == 0)
                        return (unsigned)i;
        void *p = realloc(fs->serials, (fs->nserials + 1) * sizeof(*fs->serials));
        if (!p)
                return 0;
        fs->serials = p;
        snprintf(fs->serials[fs->nserials], sizeof(*fs->serials), "%s", id);
        return (unsigned)fs->nserials++;
}

static void free_names(Fs *fs)
{
        for (size_t i = 0; i < fs->nsnaps; i++)
                free(fs->names[i]);
        free(fs->names);
        fs->names = NULL;
}

/* With mu held. Reads the list again when it is older than FS_REFRESH_SEC. */
static void refresh(Fs *fs, bool force)
{
        uint64_t now = util_now_ns();
        if (!force && fs->snaps && now - fs->refreshed_ns < (uint64_t)FS_REFRESH_SEC * 1000000000ull)
                return;
        Snapshot **list;
        size_t n;
        if (snapshot_list(fs->repo, &list, &n) < 0) {
                fprintf(stderr, "cairn: mount: cannot list snapshots: %s\n", error_last());
                error_clear();
                return;
        }
        /* snapshots taken since need the index files written with them */
        if (repo_load_index(fs->repo) < 0) {
                fprintf(stderr, "cairn: mount: cannot load new index files: %s\n", error_last());
                error_clear();
        }
        free_names(fs);
        snapshot_list_free(fs->snaps, fs->nsnaps);
        fs->snaps = list;
        fs->nsnaps = n;
        fs->refreshed_ns = now;
        fs->names = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; fs->names && i < n; i++) {
                char t[64], name[80];
                util_format_time(list[i]->time_sec, 0, false, t, sizeof(t));
                /* snapshots taken within one second get -2, -3, ... */
                unsigned dup = 1;
                for (size_t k = i; k > 0 && list[k - 1]->time_sec == list[i]->time_sec; k--)
                        dup++;
                if (dup > 1)
                        snprintf(name, sizeof(name), "%s-%u", t, dup);
                else
                        snprintf(name, sizeof(name), "%s", t);
                fs->names[i] = strdup(name);
        }
}

/* ---- views ---- */

typedef struct VEntry {
        const char *name;
        InodeKind kind;
        View view;           /* VDIR */
        const char *view_key; /* VDIR */
        const char *target;  /* LINK */
        size_t snap;         /* SNAPROOT: index in fs->snaps */
} VEntry;

typedef struct VList {
        VEntry *v;
        size_t n, cap;
} VList;

static void vadd(VList *l, VEntry e)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                void *p = realloc(l->v, cap * sizeof(VEntry));
                if (!p)
                        return;
                l->v = p;
                l->cap = cap;
        }
        l->v[l->n++] = e;
}

static bool seen_before(const VList *l, const char *name)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i].name, name) == 0)
                        return true;
        return false;
}

static bool in_view(const Snapshot *s, View view, const char *key)
{
        switch (view) {
        case VIEW_HOST:
                return strcmp(s->host, key) == 0;
        case VIEW_TAG:
                return snapshot_has_tag(s, key);
        case VIEW_KIND:
                return strcmp(s->kind, key) == 0;
        default:
                return true;
        }
}

/* With mu held: the entries of a view. Names point into fs->snaps/names,
 * valid until the next refresh. */
static void view_list(Fs *fs, View view, const char *key, VList *l)
{
        refresh(fs, false);
        switch (view) {
        case VIEW_ROOT: {
                static const struct {
                        const char *name;
                        View view;
                } top[] = {{"snapshots", VIEW_SNAPSHOTS}, {"ids", VIEW_IDS}, {"hosts", VIEW_HOSTS},
                           {"tags", VIEW_TAGS}, {"kinds", VIEW_KINDS}};
                for (size_t i = 0; i < ELEMENTSOF(top); i++)
                        vadd(l, (VEntry){.name = top[i].name, .kind = INODE_VDIR, .view = top[i].view});
                return;
        }
        case VIEW_IDS:
                for (size_t i = 0; i < fs->nsnaps; i++)
                        vadd(l, (VEntry){.name = NULL, .kind = INODE_SNAPROOT, .snap = i});
                return;
        case VIEW_HOSTS:
        case VIEW_TAGS:
        case VIEW_KINDS:
                for (size_t i = 0; i < fs->nsnaps; i++) {
                        Snapshot *s = fs->snaps[i];
                        View sub = view == VIEW_HOSTS ? VIEW_HOST : view == VIEW_TAGS ? VIEW_TAG : VIEW_KIND;
                        if (view == VIEW_TAGS) {
                                for (size_t t = 0; t < s->ntags; t++)
                                        if (s->tags[t][0] && !strchr(s->tags[t], '/') && !seen_before(l, s->tags[t]))
                                                vadd(l, (VEntry){.name = s->tags[t], .kind = INODE_VDIR,
                                                                 .view = sub, .view_key = s->tags[t]});
                                continue;
                        }
                        const char *k = view == VIEW_HOSTS ? s->host : s->kind;
                        if (k[0] && !strchr(k, '/') && !seen_before(l, k))
                                vadd(l, (VEntry){.name = k, .kind = INODE_VDIR, .view = sub, .view_key = k});
                }
                return;
        default: {
                const char *latest = NULL;
                for (size_t i = 0; i < fs->nsnaps; i++)
                        if (in_view(fs->snaps[i], view, key) && fs->names[i]) {
                                vadd(l, (VEntry){.name = fs->names[i], .kind = INODE_SNAPROOT, .snap = i});
                                latest = fs->names[i];
                        }
                if (latest)
                        vadd(l, (VEntry){.name = "latest", .kind = INODE_LINK, .target = latest});
                return;
        }
        }
}

/* ids/ names are computed: 8 hex digits */
static const char *ventry_name(Fs *fs, const VEntry *e, char *buf)
{
        if (e->name)
                return e->name;
        snprintf(buf, 9, "%.8s", fs->snaps[e->snap]->id);
        return buf;
}

/* ---- inodes ---- */

static void stat_of(Fs *fs, const Inode *i, struct stat *st)
{
        memset(st, 0, sizeof(*st));
        st->st_ino = i->ino;
        st->st_blksize = 1 << 20;
        switch (i->kind) {
        case INODE_VDIR:
        case INODE_SNAPROOT:
                st->st_mode = S_IFDIR | (i->kind == INODE_VDIR ? 0555 : (i->node.mode ? i->node.mode : 0555));
                st->st_nlink = 2;
                st->st_uid = i->kind == INODE_VDIR ? getuid() : i->node.uid;
                st->st_gid = i->kind == INODE_VDIR ? getgid() : i->node.gid;
                if (i->kind == INODE_SNAPROOT) {
                        st->st_mtim = st->st_ctim = st->st_atim =
                                (struct timespec){i->node.mtime.sec, i->node.mtime.nsec};
                } else {
                        st->st_mtim = st->st_ctim = st->st_atim = fs->start;
                }
                return;
        case INODE_LINK:
                st->st_mode = S_IFLNK | 0777;
                st->st_nlink = 1;
                st->st_size = (off_t)strlen(i->target);
                st->st_uid = getuid();
                st->st_gid = getgid();
                st->st_mtim = st->st_ctim = st->st_atim = fs->start;
                return;
        case INODE_NODE:
                break;
        }
        const Node *n = &i->node;
        static const mode_t fmt[] = {[NODE_FILE] = S_IFREG,    [NODE_DIR] = S_IFDIR,  [NODE_SYMLINK] = S_IFLNK,
                                     [NODE_CHARDEV] = S_IFCHR, [NODE_BLOCKDEV] = S_IFBLK, [NODE_FIFO] = S_IFIFO,
                                     [NODE_SOCKET] = S_IFSOCK};
        st->st_mode = fmt[n->type] | (n->mode & 07777);
        st->st_nlink = n->type == NODE_DIR ? 2 : (n->links ? n->links : 1);
        st->st_uid = n->uid;
        st->st_gid = n->gid;
        st->st_rdev = (dev_t)n->rdev;
        if (n->type == NODE_FILE)
                st->st_size = (off_t)n->size;
        else if (n->type == NODE_SYMLINK)
                st->st_size = (off_t)strlen(n->linktarget);
        st->st_blocks = (st->st_size + 511) / 512;
        st->st_mtim = (struct timespec){n->mtime.sec, n->mtime.nsec};
        st->st_atim = (struct timespec){n->atime.sec, n->atime.nsec};
        st->st_ctim = st->st_mtim; /* ctime cannot be restored anywhere; show mtime */
}

static double timeout_of(const Inode *i)
{
        return i->kind == INODE_VDIR || i->kind == INODE_LINK ? TIMEOUT_VIEW : TIMEOUT_FOREVER;
}

/* With mu held: the inode with this key (the table takes key), or a new
 * one with *fresh set, for the caller to fill. */
static Inode *inode_by_key(Fs *fs, char *key, bool *fresh)
{
        Inode *i = inode_find_key(fs->inodes, key);
        *fresh = !i;
        if (i) {
                free(key);
                return i;
        }
        return inode_add(fs->inodes, key);
}

/* With mu held: the inode for a view entry under parent. */
static Inode *inode_for_ventry(Fs *fs, Inode *parent, const VEntry *e)
{
        char buf[16], *key;
        const char *name = ventry_name(fs, e, buf);
        /* "latest" moves: each target is its own inode, so the kernel's
         * cached symlink of the old one is never served for the new */
        int k = e->kind == INODE_LINK
                        ? asprintf(&key, "%lu/%s->%s", (unsigned long)parent->ino, name, e->target)
                        : asprintf(&key, CHILD_KEY, (unsigned long)parent->ino, name);
        if (k < 0)
                return NULL;
        bool fresh;
        Inode *i = inode_by_key(fs, key, &fresh);
        if (!i || !fresh)
                return i;
        i->kind = e->kind;
        if (e->kind == INODE_VDIR) {
                i->view = e->view;
                i->view_key = e->view_key ? strdup(e->view_key) : NULL;
        } else if (e->kind == INODE_LINK) {
                i->target = strdup(e->target);
        } else {
                Snapshot *s = fs->snaps[e->snap];
                i->snap = serial_of(fs, s->id);
                i->node.type = NODE_DIR;
                i->node.name = strdup(name);
                i->node.mode = 0555;
                i->node.mtime = i->node.atime = i->node.ctime = (Timespec){s->time_sec, s->time_nsec};
                i->node.has_subtree = true;
                memcpy(i->node.subtree, s->tree, ID_LEN);
        }
        return i;
}

/* With mu held: the inode for n, one of parent's (loaded) children. */
static Inode *inode_for_node(Fs *fs, Inode *parent, const Node *n)
{
        char *key;
        bool hard = n->type != NODE_DIR && n->links > 1;
        int k = hard ? asprintf(&key, "h%u:%llu:%llu", parent->snap, (unsigned long long)n->dev,
                                (unsigned long long)n->inode)
                     : asprintf(&key, CHILD_KEY, (unsigned long)parent->ino, n->name);
        if (k < 0)
                return NULL;
        bool fresh;
        Inode *i = inode_by_key(fs, key, &fresh);
        if (!i || !fresh)
                return i;
        i->kind = INODE_NODE;
        i->snap = parent->snap;
        if (!hard) {
                i->parent = parent->ino;
                i->pos = (size_t)(n - parent->children->nodes);
        }
        if (node_copy(n, &i->node) < 0) {
                i->nlookup = 1;
                inode_forget(fs->inodes, i->ino, 1);
                return NULL;
        }
        return i;
}

/* A tree through the blob cache (a listing of its parent queued it
 * there); a failure is logged (a failed load by the cache). */
static int tree_load(Fs *fs, const uint8_t id[ID_LEN], Tree **out)
{
        CacheEntry *e;
        int rc = cache_get(fs->cache, id, &e);
        if (rc < 0)
                return rc;
        rc = tree_decode(cache_data(e), cache_size(e), out);
        cache_put(fs->cache, e);
        if (rc < 0) {
                char hex[ID_HEX_LEN + 1];
                util_hex(id, ID_LEN, hex);
                fprintf(stderr, "cairn: mount: tree %.16s is malformed\n", hex);
        }
        return rc;
}

/* Load a directory's tree (outside mu; installs it under mu). mu held on
 * entry and on return. */
static int load_children(Fs *fs, Inode *i)
{
        if (i->children)
                return 0;
        if (i->node.type != NODE_DIR)
                return -ENOTDIR;
        if (!i->node.has_subtree) {
                return tree_new(&i->children);
        }
        uint8_t id[ID_LEN];
        memcpy(id, i->node.subtree, ID_LEN);
        pthread_mutex_unlock(&fs->mu);
        Tree *t;
        int rc = tree_load(fs, id, &t);
        pthread_mutex_lock(&fs->mu);
        if (rc < 0)
                return -EIO;
        if (i->children)
                tree_free(t); /* another thread was quicker */
        else
                i->children = t;
        return 0;
}

static void fill_entry(Fs *fs, const Inode *i, struct fuse_entry_param *e)
{
        memset(e, 0, sizeof(*e));
        e->ino = i->ino;
        e->generation = 1;
        stat_of(fs, i, &e->attr);
        e->attr_timeout = e->entry_timeout = timeout_of(i);
}

/* ---- operations ---- */

static Fs *fs_of(fuse_req_t req)
{
        return fuse_req_userdata(req);
}

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
        if (conn->capable & FUSE_CAP_READDIRPLUS)
                conn->want |= FUSE_CAP_READDIRPLUS;
        conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
        if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
                conn->want |= FUSE_CAP_CACHE_SYMLINKS;
        if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)
                ((Fs *)userdata)->no_open = true;
        if (conn->capable & FUSE_CAP_ASYNC_READ)
                conn->want |= FUSE_CAP_ASYNC_READ;
        /* 1 MiB requests: libfuse derives max_pages from max_write */
        conn->max_write = 1 << 20;
        conn->max_readahead = 1 << 20;
        conn->max_read = 1 << 20; /* must match the max_read mount option */
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        Inode *p = inode_get(fs->inodes, parent), *i = NULL;
        int err = ENOENT;
        if (!p) {
                err = ESTALE;
        } else if (p->kind == INODE_VDIR) {
                VList l = {0};
                view_list(fs, p->view, p->view_key, &l);
                char buf[16];
                for (size_t k = 0; k < l.n && !i; k++)
                        if (strcmp(ventry_name(fs, &l.v[k], buf), name) == 0)
                                i = inode_for_ventry(fs, p, &l.v[k]);
                free(l.v);
        } else if (p->kind == INODE_SNAPROOT || (p->kind == INODE_NODE && p->node.type == NODE_DIR)) {
                int rc = load_children(fs, p);
                if (rc < 0)
                        err = -rc;
                else {
                        const Node *n = tree_find(p->children, name);
                        if (n)
                                i = inode_for_node(fs, p, n);
                }
        } else {
                err = ENOTDIR;
        }
        if (!i) {
                pthread_mutex_unlock(&fs->mu);
                fuse_reply_err(req, err);
                return;
        }
        struct fuse_entry_param e;
        fill_entry(fs, i, &e);
        i->nlookup++;
        pthread_mutex_unlock(&fs->mu);
        fuse_reply_entry(req, &e);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        inode_forget(fs->inodes, ino, nlookup);
        pthread_mutex_unlock(&fs->mu);
        fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        for (size_t k = 0; k < count; k++)
                inode_forget(fs->inodes, forgets[k].ino, forgets[k].nlookup);
        pthread_mutex_unlock(&fs->mu);
        fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino);
        if (!i) {
                pthread_mutex_unlock(&fs->mu);
                fuse_reply_err(req, ESTALE);
                return;
        }
        struct stat st;
        stat_of(fs, i, &st);
        double t = timeout_of(i);
        pthread_mutex_unlock(&fs->mu);
        fuse_reply_attr(req, &st, t);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino);
        char *target = NULL;
        if (i && i->kind == INODE_LINK)
                target = strdup(i->target);
        else if (i && i->kind == INODE_NODE && i->node.type == NODE_SYMLINK)
                target = strdup(i->node.linktarget);
        pthread_mutex_unlock(&fs->mu);
        if (!target) {
                fuse_reply_err(req, i ? EINVAL : ESTALE);
                return;
        }
        fuse_reply_readlink(req, target);
        free(target);
}

/* With mu held: make jobs for the pusher of d's files from child k on
 * (before end) that the kernel knows and nobody read or queued, up to
 * PUSH_WINDOW bytes and PUSH_FILES files; *n of them go to jobs. */
static void push_from(Fs *fs, Inode *d, size_t k, size_t end, PushJob **jobs, size_t *n)
{
        *n = 0;
        const Tree *t = d->children;
        uint64_t window = 0;
        size_t k0 = k;
        for (end = MIN(end, t->n); k < end && k < k0 + PUSH_FILES && window < PUSH_WINDOW; k++) {
                const Node *c = &t->nodes[k];
                if (c->type != NODE_FILE)
                        continue;
                window += MIN(c->size, PUSH_MAX_FILE);
                if (k < d->push_next || !c->size || c->size > PUSH_MAX_FILE || !c->ncontent ||
                    c->ncontent > PUSH_MAX_BLOBS || c->links > 1)
                        continue;
                char key[40 + 256];
                snprintf(key, sizeof(key), CHILD_KEY, (unsigned long)d->ino, c->name);
                Inode *ci = inode_find_key(fs->inodes, key);
                if (!ci || !ci->nlookup || ci->pushed)
                        continue;
                PushJob *j = push_job_new(ci->ino, (const uint8_t(*)[ID_LEN])c->content, c->ncontent, c->size);
                if (!j)
                        break;
                ci->pushed = true;
                jobs[(*n)++] = j;
        }
        d->push_next = MAX(d->push_next, k);
}

/* With mu held: f is read for the first time. When its directory's files
 * are being read one after another (f comes after the one read before it,
 * and at most where the pushed files end: those reach the reader without
 * a read), make jobs for the pusher of the next ones. */
static void push_ahead(Fs *fs, Inode *f, PushJob **jobs, size_t *n)
{
        *n = 0;
        Inode *d = f->parent ? inode_get(fs->inodes, f->parent) : NULL;
        if (!fs->pusher || !d || !d->children || f->pos >= d->children->n)
                return;
        bool sequential = d->read_next <= f->pos && f->pos <= MAX(d->read_next, d->push_next);
        d->read_next = f->pos + 1;
        if (sequential)
                push_from(fs, d, f->pos + 1, SIZE_MAX, jobs, n);
}

/* The first blobs of t's files from child k on, about budget bytes of
 * them and at most max, go to out; returns how many. */
static size_t first_blobs(const Tree *t, size_t k, uint64_t budget, size_t max, uint8_t (*out)[ID_LEN])
{
        size_t n = 0;
        uint64_t bytes = 0;
        for (; k < t->n && n < max; k++) {
                const Node *c = &t->nodes[k];
                if (c->type != NODE_FILE || !c->ncontent)
                        continue;
                if ((bytes += c->size / c->ncontent) > budget)
                        break;
                memcpy(out[n++], c->content[0], ID_LEN);
        }
        return n;
}

/* After a listing, on the thread that answered it: the trees of the
 * subdirectories listed (inos[k], 0 for one not to expand, at most
 * EXPAND_DIRS; their blobs were queued first) are loaded and installed, so that a walker entering
 * one does not wait for its tree, and the first blobs of their files are
 * queued (in one go: blobs of one pack are read together), so that the
 * first files it reads there do not wait for their packs. Further files
 * reach it through the pusher once it lists them. */
static void expand_listed(Fs *fs, const fuse_ino_t *inos, const uint8_t (*ids)[ID_LEN], size_t n)
{
        if (!n)
                return;
        uint8_t(*pre)[ID_LEN] = malloc(EXPAND_DIRS * EXPAND_BLOBS * ID_LEN);
        size_t npre = 0;
        for (size_t k = 0; pre && k < n; k++) {
                Tree *t = NULL;
                if (!inos[k] || tree_load(fs, ids[k], &t) < 0)
                        continue; /* entering it tells the reader */
                pthread_mutex_lock(&fs->mu);
                /* inode numbers are not reused: this is the directory, or gone */
                Inode *d = inode_get(fs->inodes, inos[k]);
                if (d && !d->children) {
                        d->children = t;
                        t = NULL;
                }
                if (d)
                        npre += first_blobs(d->children, 0, EXPAND_BYTES, EXPAND_BLOBS, pre + npre);
                pthread_mutex_unlock(&fs->mu);
                tree_free(t);
        }
        if (npre)
                cache_prefetch(fs->cache, (const uint8_t(*)[ID_LEN])pre, npre);
        free(pre);
}

/* readdir and readdirplus share this: off counts entries after . and .. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
        Fs *fs = fs_of(req);
        char *buf = malloc(size);
        if (!buf) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        size_t used = 0;
        pthread_mutex_lock(&fs->mu);
        Inode *d = inode_get(fs->inodes, ino);
        if (!d) {
                pthread_mutex_unlock(&fs->mu);
                free(buf);
                fuse_reply_err(req, ESTALE);
                return;
        }
        VList l = {0};
        size_t count;
        if (d->kind == INODE_VDIR) {
                view_list(fs, d->view, d->view_key, &l);
                count = l.n;
        } else {
                int rc = load_children(fs, d);
                if (rc < 0) {
                        pthread_mutex_unlock(&fs->mu);
                        free(buf);
                        fuse_reply_err(req, -rc);
                        return;
                }
                count = d->children->n;
        }
        /* whoever lists a directory usually reads its files next, in this
         * order (tar, cp -r, rsync): start fetching their first blobs */
        uint8_t (*pre)[ID_LEN] = NULL;
        size_t npre = 0;
        size_t from = (size_t)(off > 2 ? off - 2 : 0);
        if (d->kind != INODE_VDIR && (pre = malloc(PREFETCH_LISTED * ID_LEN)))
                npre = first_blobs(d->children, from, READAHEAD_BYTES, PREFETCH_LISTED, pre);
        /* ... and enters its subdirectories: their trees are fetched first,
         * and the first EXPAND_DIRS expanded (expand_listed). Only among a
         * directory's first PREFETCH_LISTED entries (and files pushed only
         * among its first PUSH_FILES): listing a directory of thousands
         * must not load thousands of trees and files; further on, pushes
         * follow the reader (push_ahead). */
        uint8_t(*sub)[ID_LEN] = NULL;
        fuse_ino_t subino[EXPAND_DIRS];
        size_t nsub = 0, before = 0; /* subdirectories in earlier answers */
        for (size_t k = 0; d->kind != INODE_VDIR && k < MIN(from, PREFETCH_LISTED); k++)
                before += d->children->nodes[k].type == NODE_DIR && d->children->nodes[k].has_subtree;
        for (size_t k = (size_t)off; k < count + 2; k++) {
                const char *name;
                char nbuf[16];
                Inode *i = NULL;
                struct fuse_entry_param e;
                memset(&e, 0, sizeof(e));
                if (k < 2) {
                        name = k == 0 ? "." : "..";
                        e.attr.st_mode = S_IFDIR;
                        e.attr.st_ino = k == 0 ? ino : FUSE_ROOT_ID;
                } else if (d->kind == INODE_VDIR) {
                        name = ventry_name(fs, &l.v[k - 2], nbuf);
                        if (plus)
                                i = inode_for_ventry(fs, d, &l.v[k - 2]);
                        else {
                                e.attr.st_mode = l.v[k - 2].kind == INODE_LINK ? S_IFLNK : S_IFDIR;
                                e.attr.st_ino = 0xffffffff;
                        }
                } else {
                        const Node *n = &d->children->nodes[k - 2];
                        name = n->name;
                        if (plus)
                                i = inode_for_node(fs, d, n);
                        else {
                                Inode tmp = {.kind = INODE_NODE, .node = *n};
                                stat_of(fs, &tmp, &e.attr);
                                e.attr.st_ino = 0xffffffff;
                        }
                }
                if (plus && i)
                        fill_entry(fs, i, &e);
                /* in a readdirplus reply every entry is a plus entry; the
                 * kernel takes no lookup for "." and ".." (ino 0 there) */
                size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)k + 1)
                                   : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, (off_t)k + 1);
                if (need > size - used)
                        break;
                used += need;
                if (plus && i)
                        i->nlookup++;
                const Node *n = k >= 2 && d->kind != INODE_VDIR && k - 2 < PREFETCH_LISTED ? &d->children->nodes[k - 2] : NULL;
                if (!n || n->type != NODE_DIR || !n->has_subtree || (i && i->children) ||
                    !(sub || (sub = malloc(PREFETCH_LISTED * ID_LEN))))
                        continue;
                if (nsub < EXPAND_DIRS) /* with readdirplus the kernel knows it now */
                        subino[nsub] = i && before + nsub < EXPAND_DIRS ? i->ino : 0;
                memcpy(sub[nsub++], n->subtree, ID_LEN);
        }
        free(l.v);
        /* the kernel asks for the next entries once it made the ones
         * before: their files can be pushed now (before, a push could
         * come before the inode and be refused) */
        PushJob *jobs[PUSH_FILES];
        size_t njobs = 0;
        if (d->kind != INODE_VDIR && plus && fs->pusher && from > 0)
                push_from(fs, d, d->push_next, MIN(from, PUSH_FILES), jobs, &njobs);
        pthread_mutex_unlock(&fs->mu);
        fuse_reply_buf(req, buf, used);
        free(buf);
        if (npre)
                cache_prefetch_first(fs->cache, (const uint8_t(*)[ID_LEN])pre, npre);
        free(pre);
        if (njobs)
                pusher_submit(fs->pusher, jobs, njobs);
        if (nsub)
                cache_prefetch_first(fs->cache, (const uint8_t(*)[ID_LEN])sub, nsub);
        expand_listed(fs, subino, (const uint8_t(*)[ID_LEN])sub, MIN(nsub, EXPAND_DIRS));
        free(sub);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        do_readdir(req, ino, size, off, false);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        do_readdir(req, ino, size, off, true);
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino);
        bool dir = i && (i->kind == INODE_VDIR || i->kind == INODE_SNAPROOT ||
                         (i->kind == INODE_NODE && i->node.type == NODE_DIR));
        bool immutable = i && i->kind != INODE_VDIR;
        pthread_mutex_unlock(&fs->mu);
        if (!dir) {
                fuse_reply_err(req, i ? ENOTDIR : ESTALE);
                return;
        }
        fi->cache_readdir = immutable;
        fi->keep_cache = immutable;
        fuse_reply_open(req, fi);
}

/* With mu held: the file's cumulative blob offsets, computed once, so a
 * read finds its blob by binary search. 0 or a positive errno. */
static int file_offsets(Fs *fs, Inode *i)
{
        if (i->offsets)
                return 0;
        uint64_t *o = malloc((i->node.ncontent + 1) * sizeof(uint64_t));
        if (!o)
                return ENOMEM;
        uint64_t pos = 0;
        for (size_t k = 0; k < i->node.ncontent; k++) {
                o[k] = pos;
                int64_t sz = repo_blob_size(fs->repo, i->node.content[k]);
                if (sz < 0) {
                        char hex[ID_HEX_LEN + 1];
                        util_hex(i->node.content[k], ID_LEN, hex);
                        fprintf(stderr, "cairn: mount: %s: blob %.16s is not in the index\n", i->node.name, hex);
                        free(o);
                        return EIO;
                }
                pos += (uint64_t)sz;
        }
        o[i->node.ncontent] = pos;
        i->offsets = o;
        return 0;
}

/* Opening costs a round trip to this process for every file (70 us here,
 * a third of reading a small file through tar). Where the kernel can do
 * without, open answers ENOSYS once and the kernel stops asking: it opens
 * files itself with keep_cache, and reads carry no file handle (the read
 * state lives in the inode). Writes never get here: the mount is ro. */
static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        Fs *fs = fs_of(req);
        if ((fi->flags & O_ACCMODE) != O_RDONLY) {
                fuse_reply_err(req, EROFS);
                return;
        }
        if (fs->no_open) {
                fuse_reply_err(req, ENOSYS);
                return;
        }
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino);
        int err = 0;
        if (!i)
                err = ESTALE;
        else if (i->kind != INODE_NODE || i->node.type != NODE_FILE)
                err = i->kind == INODE_NODE && i->node.type != NODE_DIR ? EACCES : EISDIR;
        else
                err = file_offsets(fs, i);
        pthread_mutex_unlock(&fs->mu);
        if (err) {
                fuse_reply_err(req, err);
                return;
        }
        fi->fh = 0;
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
}

/* first blob whose range holds off */
static size_t blob_at(const uint64_t *o, size_t n, uint64_t off)
{
        size_t lo = 0, hi = n; /* o[lo] <= off < o[hi] */
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (o[mid] <= off)
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        Fs *fs = fs_of(req);
        PushJob *jobs[PUSH_FILES];
        size_t njobs = 0;
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino); /* kept while the file is open */
        int oerr = !i ? ESTALE : i->kind != INODE_NODE || i->node.type != NODE_FILE ? EISDIR : file_offsets(fs, i);
        if (!oerr && !i->pushed) {
                i->pushed = true;
                push_ahead(fs, i, jobs, &njobs);
        }
        pthread_mutex_unlock(&fs->mu);
        if (njobs)
                pusher_submit(fs->pusher, jobs, njobs);
        if (oerr) {
                fuse_reply_err(req, oerr);
                return;
        }
        const Node *n = &i->node;
        uint64_t start = (uint64_t)off, total = i->offsets[n->ncontent];
        if (start >= total || size == 0) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        uint64_t end = MIN(total, start + size);
        size_t b = blob_at(i->offsets, n->ncontent, start);

        /* A sequential reader gets the next blobs read ahead. The window
         * grows to fs->readahead as the reader goes on (a look at a file's
         * first bytes does not fetch 64 MiB of it from S3), and is refilled
         * only once less than half of it is left: a refill then holds whole
         * tasks of adjacent blobs, one request each on S3, where topping it
         * up at every read queued one blob, one ranged GET, at a time. */
        bool sequential = __atomic_load_n(&i->next_off, __ATOMIC_RELAXED) == start;
        __atomic_store_n(&i->next_off, end, __ATOMIC_RELAXED);
        if (sequential || start == 0) {
                uint64_t window = MIN(fs->readahead, MAX((uint64_t)READAHEAD_BYTES, end));
                size_t ahead = __atomic_load_n(&i->ahead, __ATOMIC_RELAXED);
                size_t from = MAX(ahead, b + 1), to = from;
                if (from < n->ncontent && i->offsets[from] < end + window / 2)
                        while (to < n->ncontent && i->offsets[to] < end + window)
                                to++;
                if (to > from) {
                        __atomic_store_n(&i->ahead, to, __ATOMIC_RELAXED);
                        cache_prefetch(fs->cache, (const uint8_t(*)[ID_LEN])n->content[from], to - from);
                }
        }

        /* reply straight from the cached blobs: no copy of our own */
        enum { MAXV = 64 };
        struct iovec iov[MAXV];
        CacheEntry *held[MAXV];
        size_t nv = 0;
        int err = 0;
        for (uint64_t pos = start; pos < end; b++) {
                if (nv == MAXV) {
                        end = pos; /* a short read; the kernel asks for the rest */
                        break;
                }
                int rc = cache_get(fs->cache, n->content[b], &held[nv]);
                if (rc < 0) {
                        err = rc == -ENOMEM ? ENOMEM : EIO;
                        break;
                }
                uint64_t bstart = i->offsets[b], blen = i->offsets[b + 1] - bstart;
                if (cache_size(held[nv]) != blen) {
                        nv++;
                        err = EIO;
                        break;
                }
                uint64_t from = pos - bstart, len = MIN(blen - from, end - pos);
                iov[nv].iov_base = (void *)(cache_data(held[nv]) + from);
                iov[nv].iov_len = len;
                nv++;
                pos += len;
        }
        if (err)
                fuse_reply_err(req, err);
        else
                fuse_reply_iov(req, iov, (int)nv);
        for (size_t k = 0; k < nv; k++)
                cache_put(fs->cache, held[k]);
}

static const Xattr *find_xattr(const Node *n, const char *name)
{
        for (size_t k = 0; k < n->nxattrs; k++)
                if (strcmp(n->xattrs[k].name, name) == 0)
                        return &n->xattrs[k];
        return NULL;
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino);
        const Xattr *x = i && i->kind == INODE_NODE ? find_xattr(&i->node, name) : NULL;
        if (!x) {
                pthread_mutex_unlock(&fs->mu);
                fuse_reply_err(req, i ? ENODATA : ESTALE);
                return;
        }
        if (size == 0) {
                size_t len = x->len;
                pthread_mutex_unlock(&fs->mu);
                fuse_reply_xattr(req, len);
        } else if (size < x->len) {
                pthread_mutex_unlock(&fs->mu);
                fuse_reply_err(req, ERANGE);
        } else {
                Buf b = {0};
                buf_append(&b, x->value, x->len);
                pthread_mutex_unlock(&fs->mu);
                fuse_reply_buf(req, (const char *)b.data, b.len);
                buf_free(&b);
        }
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
        Fs *fs = fs_of(req);
        pthread_mutex_lock(&fs->mu);
        Inode *i = inode_get(fs->inodes, ino);
        Buf b = {0};
        for (size_t k = 0; i && i->kind == INODE_NODE && k < i->node.nxattrs; k++)
                buf_append(&b, i->node.xattrs[k].name, strlen(i->node.xattrs[k].name) + 1);
        pthread_mutex_unlock(&fs->mu);
        if (!i)
                fuse_reply_err(req, ESTALE);
        else if (size == 0)
                fuse_reply_xattr(req, b.len);
        else if (size < b.len)
                fuse_reply_err(req, ERANGE);
        else
                fuse_reply_buf(req, (const char *)b.data, b.len);
        buf_free(&b);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
        struct statvfs sv;
        memset(&sv, 0, sizeof(sv));
        sv.f_bsize = 1 << 20;
        sv.f_frsize = 4096;
        sv.f_namemax = 255;
        sv.f_flag = ST_RDONLY;
        fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops fs_ops = {
        .init = fs_op_init,
        .lookup = fs_op_lookup,
        .forget = fs_op_forget,
        .forget_multi = fs_op_forget_multi,
        .getattr = fs_op_getattr,
        .readlink = fs_op_readlink,
        .opendir = fs_op_opendir,
        .readdir = fs_op_readdir,
        .readdirplus = fs_op_readdirplus,
        .open = fs_op_open,
        .read = fs_op_read,
        .getxattr = fs_op_getxattr,
        .listxattr = fs_op_listxattr,
        .statfs = fs_op_statfs,
};

/* ---- mounting ---- */

/* The kernel reads ahead at most 128 KiB on a FUSE mount (its default for a
 * new backing device, which the INIT reply may only lower), so a
 * sequential reader sends one 128 KiB request at a time. As root we may
 * raise the device's read_ahead_kb; then reads arrive in 1 MiB requests
 * with several in flight. This runs on its own thread because stat() of
 * the mount point is answered by the loop that starts after it. */
static void *raise_readahead(void *arg)
{
        const char *mp = arg;
        struct stat st;
        if (stat(mp, &st) < 0)
                return NULL;
        char path[128];
        snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
        FILE *f = fopen(path, "w");
        if (f) {
                fputs("4096", f);
                fclose(f);
        }
        return NULL;
}

int fs_mount(Repo *r, const FsOptions *opt)
{
        Fs fs = {.repo = r, .opt = opt};
        clock_gettime(CLOCK_REALTIME, &fs.start);
        pthread_mutex_init(&fs.mu, NULL);
        int rc = inode_table_new(&fs.inodes);
        if (rc < 0)
                return rc;
        Inode *root = inode_add(fs.inodes, strdup("/"));
        if (!root) {
                inode_table_free(fs.inodes);
                return -ENOMEM;
        }
        root->kind = INODE_VDIR;
        root->view = VIEW_ROOT;
        root->nlookup = 1;

        RepoLock *lock = NULL;
        rc = lock_acquire_paused(r, false, &lock);
        if (rc < 0) {
                inode_table_free(fs.inodes);
                return rc;
        }

        char *argv[] = {"cairn", "-o", "ro,default_permissions,fsname=cairn,subtype=cairn,max_read=1048576",
                        opt->allow_other ? "-o" : NULL, opt->allow_other ? "allow_other" : NULL, NULL};
        struct fuse_args args = FUSE_ARGS_INIT(opt->allow_other ? 5 : 3, argv);
        struct fuse_session *se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
        fuse_opt_free_args(&args);
        if (!se) {
                error_set("%s: cannot start a FUSE session", opt->mountpoint);
                rc = -EIO;
                goto out;
        }
        if (fuse_set_signal_handlers(se) != 0) {
                rc = -EIO;
                goto out_session;
        }
        if (fuse_session_mount(se, opt->mountpoint) != 0) {
                error_set("%s: cannot mount (is /dev/fuse there, and fusermount3 installed?)", opt->mountpoint);
                rc = -EIO;
                goto out_signals;
        }
        if (opt->ready)
                opt->ready(opt->ud);
        if (opt->daemon && fuse_daemonize(0) != 0) {
                rc = -EIO;
                goto out_unmount;
        }
        /* threads start only now: a daemon's fork keeps none */
        lock_refresh_start(lock);
        unsigned par = repo_backend(r)->parallel; /* 0: local */
        /* at most a quarter of the cache: read-ahead evicting itself */
        fs.readahead = MIN(par ? REMOTE_READAHEAD_BYTES : READAHEAD_BYTES, opt->cache_bytes / 4);
        rc = cache_new(r, opt->cache_bytes, par ? MIN(par, 8u) : 4, par ? REMOTE_TASK_BYTES : LOCAL_TASK_BYTES,
                       &fs.cache);
        if (rc == 0)
                rc = pusher_new(se, fs.cache, &fs.pusher);
        pthread_t ra;
        bool ra_started = rc == 0 && pthread_create(&ra, NULL, raise_readahead, (void *)opt->mountpoint) == 0;
        if (rc == 0) {
                struct fuse_loop_config *cfg = fuse_loop_cfg_create();
                fuse_loop_cfg_set_max_threads(cfg, 10);
                fuse_loop_cfg_set_idle_threads(cfg, 10);
                rc = fuse_session_loop_mt(se, cfg) < 0 ? -EIO : 0;
                fuse_loop_cfg_destroy(cfg);
        }
        if (ra_started)
                pthread_join(ra, NULL);
out_unmount:
        pusher_free(fs.pusher); /* before the session it writes to */
        fs.pusher = NULL;
        fuse_session_unmount(se);
out_signals:
        fuse_remove_signal_handlers(se);
out_session:
        fuse_session_destroy(se);
out:
        cache_free(fs.cache);
        lock_release(lock);
        free_names(&fs);
        snapshot_list_free(fs.snaps, fs.nsnaps);
        free(fs.serials);
        inode_table_free(fs.inodes);
        pthread_mutex_destroy(&fs.mu);
        return rc;
}
