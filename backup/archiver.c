/* archiver.c — see archiver.h.
 *
 * One thread walks and reads (in name order, depth first) and hashes each
 * chunk as the sink cuts it; the pool compresses, seals and packs the new
 * ones on the other cores. Because ids are known on the walker's thread, a
 * directory's tree blob is complete when its walk ends and is saved at
 * once: no tree of the whole backup is kept in memory. */
#include "archiver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "error.h"
#include "sink.h"

struct Archiver {
        Repo *repo;
        ArchiverOptions opt;
        Pool *pool;
        Sink *sink;
        ArchiverStats st;
        dev_t root_dev;
        struct VFile *vfiles; /* virtual files written so far */
        size_t nvfiles, capvfiles;
};

#define INC(field) __atomic_add_fetch(&a->st.field, 1, __ATOMIC_RELAXED)
#define ADD(field, n) __atomic_add_fetch(&a->st.field, (n), __ATOMIC_RELAXED)

static void vfiles_free(Archiver *a);

int archiver_new(Repo *r, const ArchiverOptions *opt, Archiver **out)
{
        Archiver *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->repo = r;
        a->opt = *opt;
        /* a few chunks in flight per worker keeps both cores fed; more only
         * costs memory (24 MiB: ~40 MiB more peak RSS and fresh pages for
         * a backup of 1 GiB, no faster) */
        int rc = pool_new(r, opt->workers, (size_t)8 << 20, &a->pool);
        if (rc == 0)
                rc = sink_new(r, a->pool, &a->sink);
        if (rc < 0) {
                archiver_free(a);
                return rc;
        }
        *out = a;
        return 0;
}

void archiver_free(Archiver *a)
{
        if (!a)
                return;
        pool_free(a->pool);
        sink_free(a->sink);
        vfiles_free(a);
        free(a);
}

void archiver_stats(Archiver *a, ArchiverStats *out)
{
        uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&a->st;
        for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
                dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        SinkCounters c;
        sink_counters(a->sink, &c);
        out->bytes_read = c.bytes;
}

char *archiver_abspath(const char *path)
{
        char cwd[4096] = "";
        if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
                return NULL;
        size_t n = strlen(cwd) + strlen(path) + 3;
        char *in = malloc(n), *out = malloc(n);
        if (!in || !out) {
                free(in);
                free(out);
                return NULL;
        }
        snprintf(in, n, "%s/%s", cwd, path);
        size_t o = 0;
        char *save = NULL;
        for (char *c = strtok_r(in, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                        continue;
                }
                out[o++] = '/';
                size_t l = strlen(c);
                memcpy(out + o, c, l);
                o += l;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = 0;
        free(in);
        return out;
}

static bool excluded(Archiver *a, const char *path, const char *name)
{
        for (const char *const *p = a->opt.excludes; p && *p; p++) {
                const char *subject = strchr(*p, '/') ? path : name;
                if (fnmatch(*p, subject, 0) == 0)
                        return true;
        }
        return false;
}

static void warn(Archiver *a, const char *path, const char *msg)
{
        INC(errors);
        if (a->opt.warn)
                a->opt.warn(path, msg, a->opt.ud);
}

static Timespec ts(struct timespec t)
{
        return (Timespec){t.tv_sec, t.tv_nsec};
}

static void fill_stat(Node *n, const struct stat *st)
{
        n->mode = st->st_mode & 07777;
        n->uid = st->st_uid;
        n->gid = st->st_gid;
        n->mtime = ts(st->st_mtim);
        n->atime = ts(st->st_atim);
        n->ctime = ts(st->st_ctim);
        n->inode = st->st_ino;
        n->dev = st->st_dev;
        n->links = (uint32_t)st->st_nlink;
        if (S_ISREG(st->st_mode))
                n->type = NODE_FILE;
        else if (S_ISDIR(st->st_mode))
                n->type = NODE_DIR;
        else if (S_ISLNK(st->st_mode))
                n->type = NODE_SYMLINK;
        else if (S_ISCHR(st->st_mode))
                n->type = NODE_CHARDEV;
        else if (S_ISBLK(st->st_mode))
                n->type = NODE_BLOCKDEV;
        else if (S_ISFIFO(st->st_mode))
                n->type = NODE_FIFO;
        else
                n->type = NODE_SOCKET;
        if (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV)
                n->rdev = st->st_rdev;
        /* reading a symlink (readlink) sets its atime, and nothing like
         * O_NOATIME exists for it: a stored atime would change the tree on
         * every backup. Record the mtime there instead. */
        if (n->type == NODE_SYMLINK)
                n->atime = n->mtime;
}

static int read_xattrs(const char *path, Node *n)
{
        char list[65536];
        ssize_t len = llistxattr(path, list, sizeof(list));
        if (len <= 0)
                return 0; /* none, or not supported here */
        size_t count = 0;
        for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
                count++;
        n->xattrs = calloc(count, sizeof(Xattr));
        if (!n->xattrs)
                return -ENOMEM;
        for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
                ssize_t vl = lgetxattr(path, list + i, NULL, 0);
                if (vl < 0)
                        continue;
                Xattr *x = &n->xattrs[n->nxattrs];
                x->value = malloc((size_t)vl + 1);
                x->name = strdup(list + i);
                if (!x->value || !x->name) {
                        free(x->value);
                        free(x->name);
                        return -ENOMEM;
                }
                vl = lgetxattr(path, list + i, x->value, (size_t)vl);
                if (vl < 0) {
                        free(x->value);
                        free(x->name);
                        continue;
                }
                x->len = (size_t)vl;
                n->nxattrs++;
        }
        return 0;
}

static bool content_known(Archiver *a, const Node *p)
{
        for (size_t i = 0; i < p->ncontent; i++)
                if (!repo_blob_has(a->repo, p->content[i]))
                        return false;
        return true;
}

static int read_file(Archiver *a, const char *path, Node *n, const struct stat *st)
{
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        sink_begin(a->sink);
        int64_t k = sink_read_fd(a->sink, fd);
        int saved = errno;
        close(fd);
        if (k < 0 && k != -EIO && k != -EACCES)
                return (int)k; /* pool or memory failure: abort */
        if (k < 0) {
                errno = saved;
                return (int)k;
        }
        int rc = sink_finish(a->sink, n);
        if (rc < 0)
                return rc;
        ADD(total_bytes, n->size);
        (void)st;
        return 0;
}

static int walk_dir(Archiver *a, const char *path, const Node *parent, uint8_t id_out[ID_LEN], bool *changed);

/* Fill node for the entry at path. Returns 0, 1 when the entry is skipped
 * (warned), or a negative errno that aborts the backup. */
static int walk_entry(Archiver *a, const char *path, const char *name, const Node *parent, Node *n)
{
        struct stat st;
        if (lstat(path, &st) < 0) {
                warn(a, path, strerror(errno));
                return 1;
        }
        n->name = strdup(name);
        if (!n->name)
                return -ENOMEM;
        fill_stat(n, &st);
        int rc = read_xattrs(path, n);
        if (rc < 0)
                return rc;
        if (parent && parent->type != n->type)
                parent = NULL;

        switch (n->type) {
        case NODE_FILE: {
                INC(total_files);
                if (parent && parent->size == (uint64_t)st.st_size && parent->mtime.sec == st.st_mtim.tv_sec &&
                    parent->mtime.nsec == st.st_mtim.tv_nsec && parent->ctime.sec == st.st_ctim.tv_sec &&
                    parent->ctime.nsec == st.st_ctim.tv_nsec && parent->inode == st.st_ino &&
                    content_known(a, parent)) {
                        n->size = parent->size;
                        n->ncontent = parent->ncontent;
                        if (n->ncontent) {
                                n->content = malloc(n->ncontent * ID_LEN);
                                if (!n->content)
                                        return -ENOMEM;
                                memcpy(n->content, parent->content, n->ncontent * ID_LEN);
                        }
                        INC(files_unmodified);
                        ADD(total_bytes, n->size);
                        return 0;
                }
                rc = read_file(a, path, n, &st);
                if (rc == -EACCES || rc == -EPERM || rc == -EIO || rc == -ENXIO || rc == -ELOOP) {
                        warn(a, path, strerror(-rc));
                        return 1;
                }
                if (rc < 0)
                        return rc;
                if (parent)
                        INC(files_changed);
                else
                        INC(files_new);
                return 0;
        }
        case NODE_DIR: {
                if (a->opt.one_file_system && st.st_dev != a->root_dev)
                        return 0; /* the mount point itself, empty, as restic does */
                bool changed = true;
                rc = walk_dir(a, path, parent, n->subtree, &changed);
                if (rc == 1) {
                        return 1;
                }
                if (rc < 0)
                        return rc;
                n->has_subtree = true;
                return 0;
        }
        case NODE_SYMLINK: {
                size_t cap = (size_t)st.st_size + 1 > 256 ? (size_t)st.st_size + 1 : 256;
                n->linktarget = malloc(cap + 1);
                if (!n->linktarget)
                        return -ENOMEM;
                ssize_t l = readlink(path, n->linktarget, cap);
                if (l < 0) {
                        warn(a, path, strerror(errno));
                        return 1;
                }
                n->linktarget[l] = 0;
                return 0;
        }
        default:
                return 0;
        }
}

static int cmp_str(const void *x, const void *y)
{
        return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Whether the directory's tree equals the parent snapshot's, node for node
 * and with nothing in the stored blob that this version does not read. */
static bool same_as_parent(const Tree *t, const Tree *ptree)
{
        if (!ptree || ptree->foreign || ptree->n != t->n)
                return false;
        for (size_t i = 0; i < t->n; i++)
                if (!node_same(&t->nodes[i], &ptree->nodes[i]))
                        return false;
        return true;
}

/* Returns 0, 1 (directory unreadable, warned), or negative errno. */
static int walk_dir(Archiver *a, const char *path, const Node *parent, uint8_t id_out[ID_LEN], bool *changed)
{
        /* O_NOATIME: reading a directory must not change what the next
         * backup sees (its atime), or every tree would churn */
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
        if (dfd < 0 && errno == EPERM)
                dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        close(dfd);
                warn(a, path, strerror(errno));
                return 1;
        }
        INC(total_dirs);
        char **names = NULL;
        size_t n = 0, cap = 0;
        int rc = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        void *p = realloc(names, cap * sizeof(char *));
                        if (!p) {
                                rc = -ENOMEM;
                                break;
                        }
                        names = p;
                }
                if (!(names[n++] = strdup(de->d_name))) {
                        rc = -ENOMEM;
                        break;
                }
        }
        closedir(d);
        if (rc == 0 && n > 1)
                qsort(names, n, sizeof(char *), cmp_str);

        Tree *ptree = NULL;
        if (rc == 0 && parent && parent->has_subtree) {
                if (repo_tree_load(a->repo, parent->subtree, &ptree) < 0) {
                        error_clear();
                        ptree = NULL; /* parent damaged: read everything */
                }
        }
        Tree *t = NULL;
        if (rc == 0)
                rc = tree_new(&t);
        size_t plen = strlen(path);
        for (size_t i = 0; rc == 0 && i < n; i++) {
                size_t l = plen + strlen(names[i]) + 2;
                char *child = malloc(l);
                if (!child) {
                        rc = -ENOMEM;
                        break;
                }
                snprintf(child, l, "%s%s%s", path, path[plen - 1] == '/' ? "" : "/", names[i]);
                if (!excluded(a, child, names[i])) {
                        Node *node = tree_add(t);
                        if (!node) {
                                free(child);
                                rc = -ENOMEM;
                                break;
                        }
                        const Node *pn = ptree ? tree_find(ptree, names[i]) : NULL;
                        rc = walk_entry(a, child, names[i], pn, node);
                        if (rc == 1) {
                                node_clear(node);
                                t->n--;
                                rc = 0;
                        }
                }
                free(child);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (rc == 0 && same_as_parent(t, ptree)) {
                /* the parent's tree blob is the one this tree would encode
                 * to: no encoding, hashing or index lookup (in a backup
                 * where little changed, most of the work per directory) */
                memcpy(id_out, parent->subtree, ID_LEN);
                INC(trees_reused);
        } else if (rc == 0) {
                /* names were sorted with strcmp, so the tree is too */
                rc = repo_tree_save(a->repo, t, id_out);
        }
        *changed = !(parent && parent->has_subtree && memcmp(parent->subtree, id_out, ID_LEN) == 0);
        if (rc == 0) {
                if (!parent)
                        INC(dirs_new);
                else if (*changed)
                        INC(dirs_changed);
                else
                        INC(dirs_unmodified);
        }
        tree_free(t);
        tree_free(ptree);
        return rc;
}

/* ---- the prefix directories above the backed-up paths ---- */

typedef struct Prefix {
        char *name;
        char *target; /* full path when this entry is backed up itself */
        struct Prefix **kids;
        size_t nkids;
} Prefix;

static void prefix_free(Prefix *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->nkids; i++)
                prefix_free(p->kids[i]);
        free(p->kids);
        free(p->name);
        free(p->target);
        free(p);
}

static Prefix *prefix_child(Prefix *p, const char *name)
{
        for (size_t i = 0; i < p->nkids; i++)
                if (strcmp(p->kids[i]->name, name) == 0)
                        return p->kids[i];
        void *v = realloc(p->kids, (p->nkids + 1) * sizeof(*p->kids));
        if (!v)
                return NULL;
        p->kids = v;
        Prefix *c = calloc(1, sizeof(*c));
        if (!c || !(c->name = strdup(name))) {
                free(c);
                return NULL;
        }
        p->kids[p->nkids++] = c;
        return c;
}

static int prefix_add(Prefix *root, const char *abs)
{
        char *copy = strdup(abs), *save = NULL;
        if (!copy)
                return -ENOMEM;
        Prefix *p = root;
        for (char *c = strtok_r(copy, "/", &save); c && p; c = strtok_r(NULL, "/", &save))
                p = prefix_child(p, c);
        free(copy);
        if (!p)
                return -ENOMEM;
        if (p == root) {
                error_set("backing up / as a whole is not supported; name the directories under it");
                return -EINVAL;
        }
        free(p->target);
        p->target = strdup(abs);
        return p->target ? 0 : -ENOMEM;
}

static int prefix_tree(Archiver *a, Prefix *p, const char *path, const Node *parent, uint8_t id_out[ID_LEN]);

static int prefix_node(Archiver *a, Prefix *k, const char *path, const Tree *ptree, Node *n)
{
        const Node *pn = ptree ? tree_find(ptree, k->name) : NULL;
        if (k->target)
                return walk_entry(a, k->target, k->name, pn, n);
        struct stat st;
        if (lstat(path, &st) < 0)
                return -errno;
        n->name = strdup(k->name);
        if (!n->name)
                return -ENOMEM;
        fill_stat(n, &st);
        int rc = read_xattrs(path, n);
        if (rc == 0)
                rc = prefix_tree(a, k, path, pn && pn->type == NODE_DIR ? pn : NULL, n->subtree);
        n->has_subtree = rc == 0;
        return rc;
}

static int prefix_tree(Archiver *a, Prefix *p, const char *path, const Node *parent, uint8_t id_out[ID_LEN])
{
        Tree *ptree = NULL, *t = NULL;
        if (parent && parent->has_subtree && repo_tree_load(a->repo, parent->subtree, &ptree) < 0) {
                error_clear();
                ptree = NULL;
        }
        int rc = tree_new(&t);
        for (size_t i = 0; rc == 0 && i < p->nkids; i++) {
                Prefix *k = p->kids[i];
                size_t l = strlen(path) + strlen(k->name) + 2;
                char *child = malloc(l);
                if (!child) {
                        rc = -ENOMEM;
                        break;
                }
                snprintf(child, l, "%s%s%s", path, strcmp(path, "/") == 0 ? "" : "/", k->name);
                Node *n = tree_add(t);
                rc = n ? prefix_node(a, k, child, ptree, n) : -ENOMEM;
                if (rc == 1) {
                        node_clear(n);
                        t->n--;
                        rc = 0;
                }
                free(child);
        }
        if (rc == 0) {
                tree_sort(t);
                rc = repo_tree_save(a->repo, t, id_out);
        }
        tree_free(t);
        tree_free(ptree);
        return rc;
}

static int finish(Archiver *a, int rc)
{
        int d = pool_drain(a->pool);
        if (rc == 0)
                rc = d;
        if (rc == 0)
                rc = repo_flush(a->repo);
        return rc;
}

int archiver_run(Archiver *a, const char *const *paths, size_t n, uint8_t tree_out[ID_LEN])
{
        Prefix root = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                char *abs = archiver_abspath(paths[i]);
                struct stat st;
                if (!abs) {
                        rc = -ENOMEM;
                } else if (lstat(abs, &st) < 0) {
                        rc = -errno;
                        error_set("%s: %s (nothing was backed up)", paths[i], strerror(errno));
                } else {
                        if (i == 0)
                                a->root_dev = st.st_dev;
                        rc = prefix_add(&root, abs);
                }
                free(abs);
        }
        if (rc == 0) {
                Node parent = {.type = NODE_DIR};
                if (a->opt.parent_tree) {
                        memcpy(parent.subtree, a->opt.parent_tree, ID_LEN);
                        parent.has_subtree = true;
                }
                rc = prefix_tree(a, &root, "/", a->opt.parent_tree ? &parent : NULL, tree_out);
        }
        for (size_t i = 0; i < root.nkids; i++)
                prefix_free(root.kids[i]);
        free(root.kids);
        return finish(a, rc);
}

/* ---- virtual files: streams and database dumps ---- */

typedef struct VFile {
        char *path;
        Node node;
} VFile;

static void vfiles_free(Archiver *a)
{
        for (size_t i = 0; i < a->nvfiles; i++) {
                free(a->vfiles[i].path);
                node_clear(&a->vfiles[i].node);
        }
        free(a->vfiles);
        a->vfiles = NULL;
        a->nvfiles = a->capvfiles = 0;
}

static void now_node(Node *n, NodeType type, uint32_t mode)
{
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        n->type = type;
        n->mode = mode;
        n->uid = getuid();
        n->gid = getgid();
        n->mtime = n->atime = n->ctime = ts(now);
        n->links = 1;
}

int archiver_vfile_begin(Archiver *a, const char *path)
{
        if (!path[0] || path[0] == '/' || strstr(path, "//") || path[strlen(path) - 1] == '/') {
                error_set("%s: not a relative file path", path);
                return -EINVAL;
        }
        if (a->nvfiles == a->capvfiles) {
                size_t cap = a->capvfiles ? a->capvfiles * 2 : 16;
                void *p = realloc(a->vfiles, cap * sizeof(VFile));
                if (!p)
                        return -ENOMEM;
                a->vfiles = p;
                a->capvfiles = cap;
        }
        VFile *f = &a->vfiles[a->nvfiles];
        memset(f, 0, sizeof(*f));
        const char *base = strrchr(path, '/');
        f->path = strdup(path);
        f->node.name = strdup(base ? base + 1 : path);
        if (!f->path || !f->node.name) {
                free(f->path);
                free(f->node.name);
                return -ENOMEM;
        }
        now_node(&f->node, NODE_FILE, 0644);
        a->nvfiles++;
        sink_begin(a->sink);
        return 0;
}

int archiver_vfile_write(Archiver *a, const void *p, size_t n)
{
        return sink_write(a->sink, p, n);
}

int archiver_vfile_end(Archiver *a)
{
        if (!a->nvfiles)
                return -EINVAL;
        Node *n = &a->vfiles[a->nvfiles - 1].node;
        int rc = sink_finish(a->sink, n);
        if (rc == 0) {
                INC(files_new);
                INC(total_files);
                ADD(total_bytes, n->size);
        }
        return rc;
}

/* The tree of the directory "prefix" (ending in '/', or "" for the root)
 * from the virtual files whose paths start with it; sorted by path. */
static int vtree_dir(Archiver *a, size_t from, size_t to, size_t plen, uint8_t id_out[ID_LEN])
{
        Tree *t;
        int rc = tree_new(&t);
        for (size_t i = from; rc == 0 && i < to;) {
                const char *rest = a->vfiles[i].path + plen;
                const char *slash = strchr(rest, '/');
                Node *n = tree_add(t);
                if (!n) {
                        rc = -ENOMEM;
                        break;
                }
                if (!slash) {
                        rc = node_copy(&a->vfiles[i].node, n);
                        i++;
                        continue;
                }
                /* a directory: every file below it, consecutive after sorting */
                size_t dlen = (size_t)(slash - rest) + 1, j = i;
                while (j < to && strncmp(a->vfiles[j].path + plen, rest, dlen) == 0)
                        j++;
                now_node(n, NODE_DIR, 0755);
                n->name = strndup(rest, dlen - 1);
                rc = n->name ? vtree_dir(a, i, j, plen + dlen, n->subtree) : -ENOMEM;
                n->has_subtree = rc == 0;
                INC(dirs_new);
                i = j;
        }
        if (rc == 0) {
                tree_sort(t);
                for (size_t k = 1; rc == 0 && k < t->n; k++)
                        if (strcmp(t->nodes[k - 1].name, t->nodes[k].name) == 0) {
                                error_set("%s: written twice", t->nodes[k].name);
                                rc = -EEXIST;
                        }
        }
        if (rc == 0)
                rc = repo_tree_save(a->repo, t, id_out);
        tree_free(t);
        return rc;
}

static int cmp_vfile(const void *x, const void *y)
{
        return strcmp(((const VFile *)x)->path, ((const VFile *)y)->path);
}

int archiver_vfinish(Archiver *a, uint8_t tree_out[ID_LEN])
{
        /* wait for the data before the trees that name it */
        int rc = pool_drain(a->pool);
        if (rc == 0 && a->nvfiles > 1)
                qsort(a->vfiles, a->nvfiles, sizeof(VFile), cmp_vfile);
        if (rc == 0)
                rc = vtree_dir(a, 0, a->nvfiles, 0, tree_out);
        vfiles_free(a);
        return finish(a, rc);
}

int archiver_run_stream(Archiver *a, int fd, const char *name, uint8_t tree_out[ID_LEN])
{
        int rc = archiver_vfile_begin(a, name);
        if (rc < 0)
                return rc;
        int64_t k = sink_read_fd(a->sink, fd);
        if (k < 0) {
                rc = (int)k;
                error_set("reading %s: %s", name, strerror(-rc));
        }
        if (rc == 0)
                rc = archiver_vfile_end(a);
        if (rc < 0) {
                vfiles_free(a);
                return finish(a, rc);
        }
        return archiver_vfinish(a, tree_out);
}
