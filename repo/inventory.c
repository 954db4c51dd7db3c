/* inventory.c — see inventory.h. */
#include "inventory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static PackInfo *get(Inventory *inv, const uint8_t id[ID_LEN])
{
        int64_t k = index_add_pack(inv->ids, id);
        if (k < 0)
                return NULL;
        if ((size_t)k == inv->n) {
                if (inv->n == inv->cap) {
                        size_t cap = inv->cap ? inv->cap * 2 : 64;
                        void *p = realloc(inv->packs, cap * sizeof(PackInfo));
                        if (!p)
                                return NULL;
                        inv->packs = p;
                        inv->cap = cap;
                }
                memset(&inv->packs[inv->n], 0, sizeof(PackInfo));
                memcpy(inv->packs[inv->n].id, id, ID_LEN);
                inv->n++;
        }
        return &inv->packs[k];
}

static int index_pack_cb(const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n, void *ud)
{
        Inventory *inv = ud;
        PackInfo *p = get(inv, pack_id);
        if (!p)
                return -ENOMEM;
        PackEntry *q = realloc(p->entries, (p->n + n + 1) * sizeof(PackEntry));
        if (!q)
                return -ENOMEM;
        p->entries = q;
        memcpy(p->entries + p->n, e, n * sizeof(PackEntry));
        p->n += n;
        p->in_index = true;
        return 0;
}

static int name_cb(const char *name, uint64_t size, void *ud)
{
        Inventory *inv = ud;
        void *p = realloc(inv->index_files, (inv->nindex + 1) * sizeof(*inv->index_files));
        if (!p)
                return -ENOMEM;
        inv->index_files = p;
        snprintf(inv->index_files[inv->nindex++], sizeof(*inv->index_files), "%s", name);
        return 0;
}

static int data_cb(const char *name, uint64_t size, void *ud)
{
        Inventory *inv = ud;
        const char *hex = strrchr(name, '/');
        uint8_t id[ID_LEN];
        if (!hex || strlen(hex + 1) != ID_HEX_LEN || util_unhex(hex + 1, id, ID_LEN) < 0)
                return 0;
        PackInfo *p = get(inv, id);
        if (!p)
                return -ENOMEM;
        p->on_backend = true;
        p->size = size;
        return 0;
}

typedef struct Ctx {
        Repo *repo;
        Inventory *inv;
} Ctx;

int inventory_load(Repo *r, Inventory *inv, void (*bad)(const char *name, int rc, void *ud), void *ud)
{
        memset(inv, 0, sizeof(*inv));
        int rc = index_new(&inv->ids);
        if (rc == 0)
                rc = backend_list(repo_backend(r), "index/", name_cb, inv);
        for (size_t i = 0; rc == 0 && i < inv->nindex; i++) {
                Buf b = {0};
                int k = backend_read(repo_backend(r), inv->index_files[i], 0, 0, &b);
                if (k == 0)
                        k = index_file_decode(repo_key(r), b.data, b.len, index_pack_cb, inv);
                buf_free(&b);
                if (k == -ENOMEM)
                        rc = k;
                else if (k < 0 && bad)
                        bad(inv->index_files[i], k, ud);
        }
        if (rc == 0)
                rc = backend_list(repo_backend(r), "data/", data_cb, inv);
        return rc;
}

void inventory_free(Inventory *inv)
{
        for (size_t i = 0; i < inv->n; i++)
                free(inv->packs[i].entries);
        free(inv->packs);
        free(inv->index_files);
        index_free(inv->ids);
        memset(inv, 0, sizeof(*inv));
}

uint64_t inventory_expected_size(const PackInfo *p)
{
        uint64_t end = 0;
        for (size_t i = 0; i < p->n; i++)
                end = MAX(end, (uint64_t)p->entries[i].offset + p->entries[i].length);
        return end + p->n * PACK_RECORD_LEN + CRYPTO_OVERHEAD + 4;
}
