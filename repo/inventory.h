/* inventory.h — every pack the index files name and every pack the
 * backend holds, side by side. check and prune start from this. */
#pragma once
#include <stdbool.h>

#include "index.h"
#include "repo.h"

typedef struct PackInfo {
        uint8_t id[ID_LEN];
        PackEntry *entries; /* as the index files list them */
        size_t n;
        bool in_index, on_backend;
        uint64_t size; /* on the backend */
} PackInfo;

typedef struct Inventory {
        PackInfo *packs;
        size_t n, cap;
        Index *ids; /* pack id -> number (index_add_pack) == position in packs */
        char (*index_files)[ID_HEX_LEN + 8];
        size_t nindex;
} Inventory;

/* bad(name, rc, ud) is told of index files that cannot be read. */
int inventory_load(Repo *r, Inventory *inv, void (*bad)(const char *name, int rc, void *ud), void *ud);
void inventory_free(Inventory *inv);
/* The size a pack must have given its index entries. */
uint64_t inventory_expected_size(const PackInfo *p);
