/* check.c — see check.h. */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "inventory.h"
#include "walk.h"

typedef struct Check {
        Repo *repo;
        const CheckOptions *opt;
        CheckStats *st;
        Inventory inv;
        pthread_mutex_t mu;
        size_t next;
        uint64_t missing_blobs;
} Check;

__attribute__((format(printf, 3, 4))) static void report(Check *c, bool error, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&c->mu);
        if (error)
                c->st->errors++;
        if (c->opt->report)
                c->opt->report(error, msg, c->opt->ud);
        pthread_mutex_unlock(&c->mu);
}

static void bad_index(const char *name, int rc, void *ud)
{
        report(ud, true, "%s: cannot be read: %s", name, rc == -EBADMSG ? "damaged (failed authentication)"
                                                                       : strerror(-rc));
}

static int cmp_entry(const void *x, const void *y)
{
        const PackEntry *a = x, *b = y;
        if (a->offset != b->offset)
                return a->offset < b->offset ? -1 : 1;
        return memcmp(a->id, b->id, ID_LEN);
}

/* Read a whole pack and check every byte. */
static void read_pack(Check *c, PackInfo *p, Buf *b, Buf *plain)
{
        char name[ID_HEX_LEN + 9];
        pack_name(p->id, name);
        b->len = 0;
        int rc = backend_read(repo_backend(c->repo), name, 0, 0, b);
        if (rc < 0) {
                report(c, true, "%s: cannot be read: %s", name, strerror(-rc));
                return;
        }
        __atomic_add_fetch(&c->st->bytes_read, b->len, __ATOMIC_RELAXED);
        __atomic_add_fetch(&c->st->packs_read, 1, __ATOMIC_RELAXED);
        uint8_t id[ID_LEN];
        if (pack_id_of(b->data, b->len, id) < 0 || memcmp(id, p->id, ID_LEN) != 0)
                report(c, true, "%s: header does not match the pack's name (the pack is damaged)", name);
        /* go on: say which blobs are hurt */
        if (b->len < 4 + CRYPTO_OVERHEAD) {
                report(c, true, "%s: too short to be a pack", name);
                return;
        }
        uint32_t hlen = (uint32_t)b->data[b->len - 4] | (uint32_t)b->data[b->len - 3] << 8 |
                        (uint32_t)b->data[b->len - 2] << 16 | (uint32_t)b->data[b->len - 1] << 24;
        PackEntry *hdr = NULL;
        size_t nh = 0;
        if ((uint64_t)hlen + 4 > b->len ||
            pack_header_decode(repo_key(c->repo), b->data + b->len - 4 - hlen, hlen, &hdr, &nh) < 0) {
                report(c, true, "%s: pack header is damaged", name);
        } else {
                PackEntry *ix = malloc((p->n + 1) * sizeof(PackEntry));
                if (ix) {
                        memcpy(ix, p->entries, p->n * sizeof(PackEntry));
                        qsort(ix, p->n, sizeof(PackEntry), cmp_entry);
                        qsort(hdr, nh, sizeof(PackEntry), cmp_entry);
                        bool same = nh == p->n;
                        for (size_t i = 0; same && i < nh; i++)
                                same = memcmp(ix[i].id, hdr[i].id, ID_LEN) == 0 && ix[i].type == hdr[i].type &&
                                       ix[i].offset == hdr[i].offset && ix[i].length == hdr[i].length &&
                                       ix[i].raw_length == hdr[i].raw_length;
                        if (!same)
                                report(c, true, "%s: header does not match the index", name);
                        free(ix);
                }
                free(hdr);
        }
        for (size_t i = 0; i < p->n; i++) {
                const PackEntry *e = &p->entries[i];
                char hex[ID_HEX_LEN + 1];
                util_hex(e->id, ID_LEN, hex);
                if ((uint64_t)e->offset + e->length > b->len) {
                        report(c, true, "%s: blob %.16s lies beyond the end of the pack", name, hex);
                        continue;
                }
                plain->len = 0;
                rc = repo_blob_decode(c->repo, b->data + e->offset, e->length, e->raw_length, plain);
                if (rc == 0) {
                        crypto_blob_id(repo_key(c->repo), plain->data, plain->len, id);
                        if (memcmp(id, e->id, ID_LEN) != 0)
                                rc = -EBADMSG;
                }
                if (rc < 0)
                        report(c, true, "%s: blob %.16s at offset %u is damaged", name, hex, e->offset);
        }
}

static void *read_worker(void *arg)
{
        Check *c = arg;
        Buf b = {0}, plain = {0};
        for (;;) {
                pthread_mutex_lock(&c->mu);
                size_t i = c->next++;
                pthread_mutex_unlock(&c->mu);
                if (i >= c->inv.n)
                        break;
                PackInfo *p = &c->inv.packs[i];
                if (p->in_index && p->on_backend)
                        read_pack(c, p, &b, &plain);
        }
        buf_free(&b);
        buf_free(&plain);
        return NULL;
}

static int node_cb(const Snapshot *s, const char *path, const Node *n, void *ud)
{
        Check *c = ud;
        for (size_t i = 0; i < n->ncontent; i++)
                if (!repo_blob_has(c->repo, n->content[i])) {
                        char hex[ID_HEX_LEN + 1];
                        util_hex(n->content[i], ID_LEN, hex);
                        report(c, true, "snapshot %.8s: %s: data blob %.16s is missing", s->id, path, hex);
                }
        if (n->type == NODE_DIR && n->has_subtree && !repo_blob_has(c->repo, n->subtree)) {
                char hex[ID_HEX_LEN + 1];
                util_hex(n->subtree, ID_LEN, hex);
                report(c, true, "snapshot %.8s: %s: tree %.16s is missing", s->id, path, hex);
        }
        return 0;
}

static int tree_error(const Snapshot *s, const char *path, const uint8_t tree[ID_LEN], int rc, void *ud)
{
        Check *c = ud;
        char hex[ID_HEX_LEN + 1];
        util_hex(tree, ID_LEN, hex);
        if (rc == -ENOMEM)
                return rc;
        if (rc != -ENOENT) /* a missing tree is reported by its parent */
                report(c, true, "snapshot %.8s: %s: tree %.16s cannot be read: %s", s->id, path, hex,
                       error_last());
        error_clear();
        return 0;
}

int check_run(Repo *r, const CheckOptions *opt, CheckStats *st)
{
        Check c = {.repo = r, .opt = opt, .st = st};
        memset(st, 0, sizeof(*st));
        pthread_mutex_init(&c.mu, NULL);
        int rc = inventory_load(r, &c.inv, bad_index, &c);
        for (size_t i = 0; rc == 0 && i < c.inv.n; i++)
                if (c.inv.packs[i].in_index)
                        rc = repo_index_add_pack(r, c.inv.packs[i].id, c.inv.packs[i].entries, c.inv.packs[i].n);
        for (size_t i = 0; rc == 0 && i < c.inv.n; i++) {
                PackInfo *p = &c.inv.packs[i];
                char name[ID_HEX_LEN + 9];
                pack_name(p->id, name);
                st->packs++;
                if (p->in_index && !p->on_backend)
                        report(&c, true, "%s: listed in the index but missing", name);
                else if (!p->in_index)
                        report(&c, false, "%s: not referenced by any index (left by an interrupted backup; "
                                          "'cairn prune' removes it)", name);
                else if (p->size != inventory_expected_size(p))
                        report(&c, true, "%s: size %llu, but the index says %llu", name,
                               (unsigned long long)p->size, (unsigned long long)inventory_expected_size(p));
        }
        for (size_t i = 0; rc == 0 && i < c.inv.n; i++)
                if (c.inv.packs[i].in_index && c.inv.packs[i].on_backend)
                        __atomic_add_fetch(&st->bytes_to_read, c.inv.packs[i].size, __ATOMIC_RELAXED);
        if (rc == 0 && opt->read_data) {
                unsigned par = repo_backend(r)->parallel;
                unsigned n = opt->workers ? opt->workers : par ? MIN(par, 16u) : util_ncpu();
                pthread_t th[32];
                unsigned started = 0;
                for (unsigned i = 0; i < MIN(n, 32u); i++)
                        if (pthread_create(&th[i], NULL, read_worker, &c) == 0)
                                started++;
                if (!started)
                        read_worker(&c);
                for (unsigned i = 0; i < started; i++)
                        pthread_join(th[i], NULL);
        }
        Snapshot **list = NULL;
        size_t n = 0;
        Index *seen = NULL;
        if (rc == 0)
                rc = index_new(&seen);
        if (rc == 0) {
                int k = snapshot_list(r, &list, &n);
                if (k < 0) {
                        report(&c, true, "snapshots cannot be read: %s", error_last());
                        list = NULL;
                        n = 0;
                }
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
                st->snapshots++;
                if (!repo_blob_has(r, list[i]->tree)) {
                        report(&c, true, "snapshot %.8s: its root tree is missing", list[i]->id);
                        continue;
                }
                rc = walk_snapshot(r, list[i], seen, node_cb, tree_error, &c);
        }
        if (seen)
                st->trees = index_count(seen);
        snapshot_list_free(list, n);
        index_free(seen);
        inventory_free(&c.inv);
        pthread_mutex_destroy(&c.mu);
        return rc;
}
