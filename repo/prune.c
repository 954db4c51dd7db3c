/* prune.c — see prune.h. */
#include "prune.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "inventory.h"
#include "walk.h"

typedef struct Used {
        Index *set;
} Used;

static int used_cb(const Snapshot *s, const char *path, const Node *n, void *ud)
{
        Used *u = ud;
        IndexEntry mark = {.pack = 0, .type = BLOB_DATA};
        for (size_t i = 0; i < n->ncontent; i++) {
                int rc = index_add(u->set, n->content[i], &mark);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int tree_missing(const Snapshot *s, const char *path, const uint8_t tree[ID_LEN], int rc, void *ud)
{
        /* deleting data while a snapshot is damaged could lose what a repair
         * would still find: refuse */
        error_set("snapshot %.8s: %s: a tree cannot be read (%s); run 'cairn check' and fix that first", s->id,
                  path, error_last());
        return rc;
}

typedef struct Writer {
        PackWriter *w[2];
        IndexPack *out;
        size_t nout, capout;
} Writer;

static int flush_writer(Repo *r, Writer *wr, int type)
{
        PackWriter *w = wr->w[type];
        wr->w[type] = NULL;
        if (!w || !pack_writer_count(w)) {
                pack_writer_free(w);
                return 0;
        }
        IndexPack ip;
        Buf bytes = {0};
        int rc = pack_writer_finish(w, repo_key(r), ip.id, &bytes, &ip.entries, &ip.n);
        pack_writer_free(w);
        char name[ID_HEX_LEN + 9];
        if (rc == 0) {
                pack_name(ip.id, name);
                rc = backend_write(repo_backend(r), name, bytes.data, bytes.len);
        }
        buf_free(&bytes);
        if (rc == 0 && wr->nout == wr->capout) {
                size_t cap = wr->capout ? wr->capout * 2 : 16;
                void *p = realloc(wr->out, cap * sizeof(IndexPack));
                if (!p)
                        rc = -ENOMEM;
                else {
                        wr->out = p;
                        wr->capout = cap;
                }
        }
        if (rc < 0) {
                free(ip.entries);
                return rc;
        }
        wr->out[wr->nout++] = ip;
        return 0;
}

int prune_run(Repo *r, const PruneOptions *opt, PruneStats *st)
{
        memset(st, 0, sizeof(*st));
        Inventory inv;
        Used u = {0};
        Snapshot **list = NULL;
        size_t nsnap = 0;
        Writer wr = {0};
        Index *claimed = NULL;
        uint8_t *verdict = NULL; /* per pack: 0 keep, 1 repack, 2 delete, 3 unindexed */
        int rc = inventory_load(r, &inv, NULL, NULL);
        if (rc == 0)
                rc = index_new(&u.set);
        if (rc == 0)
                rc = index_new(&claimed);
        if (rc == 0)
                rc = snapshot_list(r, &list, &nsnap);
        for (size_t i = 0; rc == 0 && i < nsnap; i++) {
                /* the tree ids themselves are used blobs too: walk adds them to u.set */
                rc = walk_snapshot(r, list[i], u.set, used_cb, tree_missing, &u);
        }
        if (rc == 0 && !(verdict = calloc(inv.n + 1, 1)))
                rc = -ENOMEM;

        /* decide; the first pack holding a used blob claims it, later copies are unused */
        for (size_t i = 0; rc == 0 && i < inv.n; i++) {
                PackInfo *p = &inv.packs[i];
                st->packs_total += p->on_backend;
                st->bytes_before += p->size;
                if (!p->in_index) {
                        verdict[i] = 3;
                        st->packs_unindexed++;
                        st->bytes_freed += p->size;
                        continue;
                }
                size_t used = 0;
                for (size_t k = 0; k < p->n; k++) {
                        IndexEntry mark = {0};
                        if (index_find(u.set, p->entries[k].id, NULL) && index_add(claimed, p->entries[k].id, &mark) == 1) {
                                used++;
                                p->entries[k].type |= 0x80; /* keep this one */
                        }
                }
                st->blobs_used += used;
                st->blobs_unused += p->n - used;
                if (used == p->n) {
                        verdict[i] = 0;
                        st->packs_kept++;
                } else if (used == 0) {
                        verdict[i] = 2;
                        st->packs_deleted++;
                        st->bytes_freed += p->size;
                } else {
                        verdict[i] = 1;
                        st->packs_repacked++;
                }
        }
        if (rc < 0 || opt->dry_run)
                goto out;

        /* repack: copy the used blobs, still sealed */
        size_t pack_target = PACK_TARGET_DEFAULT;
        for (size_t i = 0; rc == 0 && i < inv.n; i++) {
                if (verdict[i] != 1)
                        continue;
                PackInfo *p = &inv.packs[i];
                char name[ID_HEX_LEN + 9];
                pack_name(p->id, name);
                Buf whole = {0};
                rc = backend_read(repo_backend(r), name, 0, 0, &whole);
                for (size_t k = 0; rc == 0 && k < p->n; k++) {
                        PackEntry *e = &p->entries[k];
                        if (!(e->type & 0x80))
                                continue;
                        int type = e->type & 1;
                        if ((uint64_t)e->offset + e->length > whole.len) {
                                error_set("%s: blob beyond the end of the pack; run 'cairn check'", name);
                                rc = -EBADMSG;
                                break;
                        }
                        if (!wr.w[type] && (rc = pack_writer_new((uint8_t)type, &wr.w[type])) < 0)
                                break;
                        int64_t off = pack_writer_add(wr.w[type], e->id, whole.data + e->offset, e->length,
                                                      e->raw_length);
                        if (off < 0) {
                                rc = (int)off;
                                break;
                        }
                        st->bytes_repacked += e->length;
                        if (pack_writer_size(wr.w[type]) >= pack_target)
                                rc = flush_writer(r, &wr, type);
                }
                buf_free(&whole);
                st->bytes_freed += p->size;
        }
        for (int t = 0; rc == 0 && t < 2; t++)
                rc = flush_writer(r, &wr, t);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < wr.nout; i++) {
                uint64_t size = 0;
                for (size_t k = 0; k < wr.out[i].n; k++)
                        size += wr.out[i].entries[k].length;
                st->bytes_freed -= MIN(st->bytes_freed, size);
        }

        /* the new index: kept packs as they are, plus the new ones */
        size_t nnew = wr.nout;
        for (size_t i = 0; i < inv.n; i++)
                nnew += verdict[i] == 0;
        IndexPack *all = calloc(nnew + 1, sizeof(IndexPack));
        if (!all) {
                rc = -ENOMEM;
                goto out;
        }
        size_t k = 0;
        for (size_t i = 0; i < inv.n; i++)
                if (verdict[i] == 0) {
                        memcpy(all[k].id, inv.packs[i].id, ID_LEN);
                        for (size_t j = 0; j < inv.packs[i].n; j++)
                                inv.packs[i].entries[j].type &= 1;
                        all[k].entries = inv.packs[i].entries;
                        all[k].n = inv.packs[i].n;
                        k++;
                }
        for (size_t i = 0; i < wr.nout; i++)
                all[k++] = wr.out[i];
        char newid[ID_HEX_LEN + 1] = "";
        rc = nnew ? repo_index_write(r, all, nnew, newid) : 0;
        free(all);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < inv.nindex; i++) {
                if (newid[0] && strcmp(inv.index_files[i] + 6, newid) == 0)
                        continue; /* same content written again: that is the new one */
                int k2 = backend_remove(repo_backend(r), inv.index_files[i]);
                if (k2 < 0 && k2 != -ENOENT)
                        rc = k2;
        }
        for (size_t i = 0; rc == 0 && i < inv.n; i++) {
                if (verdict[i] == 0 || !inv.packs[i].on_backend)
                        continue;
                char name[ID_HEX_LEN + 9];
                pack_name(inv.packs[i].id, name);
                int k2 = backend_remove(repo_backend(r), name);
                if (k2 < 0 && k2 != -ENOENT)
                        rc = k2;
        }
out:
        for (int t = 0; t < 2; t++)
                pack_writer_free(wr.w[t]);
        for (size_t i = 0; i < wr.nout; i++)
                free(wr.out[i].entries);
        free(wr.out);
        free(verdict);
        snapshot_list_free(list, nsnap);
        index_free(u.set);
        index_free(claimed);
        inventory_free(&inv);
        return rc;
}
