/* index.c — see index.h. */
#include "index.h"

#include <errno.h>
#include <string.h>

#define TYPE_BIT 0x80000000u
#define EMPTY UINT32_MAX

typedef struct Entry {
        uint8_t id[ID_LEN];
        uint32_t pack; /* top bit: tree blob */
        uint32_t offset, length, raw_length;
} Entry;
_Static_assert(sizeof(Entry) == 48, "index entry size");

struct Index {
        Entry *entries;
        size_t n, cap;
        uint32_t *slots;
        size_t nslots; /* power of two */
        uint8_t (*packs)[ID_LEN];
        size_t npacks, packcap;
        /* pack id -> number, for idempotent add_pack: a small table */
        uint32_t *packslots;
        size_t npackslots;
};

static uint64_t hash_id(const uint8_t *id)
{
        uint64_t h;
        memcpy(&h, id, sizeof(h)); /* ids are uniformly random */
        return h;
}

int index_new(Index **out)
{
        Index *ix = calloc(1, sizeof(*ix));
        if (!ix)
                return -ENOMEM;
        *out = ix;
        return 0;
}

void index_free(Index *ix)
{
        if (!ix)
                return;
        free(ix->entries);
        free(ix->slots);
        free(ix->packs);
        free(ix->packslots);
        free(ix);
}

static int rehash(Index *ix, size_t want)
{
        size_t ns = 16;
        while (ns * 3 / 4 < want)
                ns *= 2;
        if (ns <= ix->nslots)
                return 0;
        uint32_t *s = malloc(ns * sizeof(*s));
        if (!s)
                return -ENOMEM;
        memset(s, 0xff, ns * sizeof(*s));
        for (size_t i = 0; i < ix->n; i++) {
                size_t j = hash_id(ix->entries[i].id) & (ns - 1);
                while (s[j] != EMPTY)
                        j = (j + 1) & (ns - 1);
                s[j] = (uint32_t)i;
        }
        free(ix->slots);
        ix->slots = s;
        ix->nslots = ns;
        return 0;
}

int index_reserve(Index *ix, size_t n)
{
        if (ix->n + n > ix->cap) {
                Entry *e = realloc(ix->entries, (ix->n + n) * sizeof(*e));
                if (!e)
                        return -ENOMEM;
                ix->entries = e;
                ix->cap = ix->n + n;
        }
        return rehash(ix, ix->n + n);
}

static size_t probe(const Index *ix, const uint8_t *id, bool *found)
{
        /* no table before the first add: index_set/index_remove on an
         * empty index must answer -ENOENT, not walk a NULL table */
        if (!ix->nslots) {
                *found = false;
                return 0;
        }
        size_t j = hash_id(id) & (ix->nslots - 1);
        while (ix->slots[j] != EMPTY) {
                if (memcmp(ix->entries[ix->slots[j]].id, id, ID_LEN) == 0) {
                        *found = true;
                        return j;
                }
                j = (j + 1) & (ix->nslots - 1);
        }
        *found = false;
        return j;
}

int64_t index_add_pack(Index *ix, const uint8_t pack_id[ID_LEN])
{
        if (ix->npacks * 2 >= ix->npackslots) {
                size_t ns = ix->npackslots ? ix->npackslots * 2 : 64;
                uint32_t *s = malloc(ns * sizeof(*s));
                if (!s)
                        return -ENOMEM;
                memset(s, 0xff, ns * sizeof(*s));
                for (size_t i = 0; i < ix->npacks; i++) {
                        size_t j = hash_id(ix->packs[i]) & (ns - 1);
                        while (s[j] != EMPTY)
                                j = (j + 1) & (ns - 1);
                        s[j] = (uint32_t)i;
                }
                free(ix->packslots);
                ix->packslots = s;
                ix->npackslots = ns;
        }
        size_t j = hash_id(pack_id) & (ix->npackslots - 1);
        while (ix->packslots[j] != EMPTY) {
                if (memcmp(ix->packs[ix->packslots[j]], pack_id, ID_LEN) == 0)
                        return ix->packslots[j];
                j = (j + 1) & (ix->npackslots - 1);
        }
        if (ix->npacks == ix->packcap) {
                size_t cap = ix->packcap ? ix->packcap * 2 : 64;
                void *p = realloc(ix->packs, cap * ID_LEN);
                if (!p)
                        return -ENOMEM;
                ix->packs = p;
                ix->packcap = cap;
        }
        memcpy(ix->packs[ix->npacks], pack_id, ID_LEN);
        ix->packslots[j] = (uint32_t)ix->npacks;
        return (int64_t)ix->npacks++;
}

static void fill(Entry *d, const IndexEntry *e)
{
        d->pack = e->pack == INDEX_PACK_PENDING ? e->pack : (e->pack | (e->type == BLOB_TREE ? TYPE_BIT : 0));
        d->offset = e->offset;
        d->length = e->length;
        d->raw_length = e->raw_length;
}

int index_add(Index *ix, const uint8_t id[ID_LEN], const IndexEntry *e)
{
        if (ix->n + 1 > ix->nslots * 3 / 4) {
                int r = rehash(ix, ix->n + 1);
                if (r < 0)
                        return r;
        }
        bool found;
        size_t j = probe(ix, id, &found);
        if (found)
                return 0;
        if (ix->n == ix->cap) {
                size_t cap = ix->cap < 1024 ? 1024 : ix->cap / 2 * 3;
                Entry *p = realloc(ix->entries, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                ix->entries = p;
                ix->cap = cap;
        }
        Entry *d = &ix->entries[ix->n];
        memcpy(d->id, id, ID_LEN);
        fill(d, e);
        /* a pending entry remembers its type in the length's place until set */
        if (e->pack == INDEX_PACK_PENDING)
                d->raw_length = e->type;
        ix->slots[j] = (uint32_t)ix->n++;
        return 1;
}

int index_set(Index *ix, const uint8_t id[ID_LEN], const IndexEntry *e)
{
        bool found;
        size_t j = probe(ix, id, &found);
        if (!found)
                return -ENOENT;
        fill(&ix->entries[ix->slots[j]], e);
        return 0;
}

bool index_find(const Index *ix, const uint8_t id[ID_LEN], IndexEntry *out)
{
        if (!ix->nslots)
                return false;
        bool found;
        size_t j = probe(ix, id, &found);
        if (!found)
                return false;
        if (out) {
                const Entry *d = &ix->entries[ix->slots[j]];
                if (d->pack == INDEX_PACK_PENDING) {
                        *out = (IndexEntry){.pack = INDEX_PACK_PENDING, .type = (uint8_t)d->raw_length};
                } else {
                        out->pack = d->pack & ~TYPE_BIT;
                        out->type = (d->pack & TYPE_BIT) ? BLOB_TREE : BLOB_DATA;
                        out->offset = d->offset;
                        out->length = d->length;
                        out->raw_length = d->raw_length;
                }
        }
        return true;
}

int index_remove(Index *ix, const uint8_t id[ID_LEN])
{
        bool found;
        size_t j = probe(ix, id, &found);
        if (!found)
                return -ENOENT;
        uint32_t pos = ix->slots[j];
        /* move the last entry into the hole, then re-seat the table run */
        size_t last = ix->n - 1;
        if (pos != last) {
                bool f2;
                size_t jl = probe(ix, ix->entries[last].id, &f2);
                ix->entries[pos] = ix->entries[last];
                ix->slots[jl] = pos;
        }
        ix->n--;
        /* backward-shift deletion for linear probing */
        size_t mask = ix->nslots - 1, i = j;
        ix->slots[i] = EMPTY;
        for (size_t k = (i + 1) & mask; ix->slots[k] != EMPTY; k = (k + 1) & mask) {
                size_t home = hash_id(ix->entries[ix->slots[k]].id) & mask;
                /* can slot k's entry move to i? yes unless home lies in (i, k] */
                bool in_between = (i <= k) ? (home > i && home <= k) : (home > i || home <= k);
                if (!in_between) {
                        ix->slots[i] = ix->slots[k];
                        ix->slots[k] = EMPTY;
                        i = k;
                }
        }
        return 0;
}

const uint8_t *index_pack_id(const Index *ix, uint32_t pack)
{
        return pack < ix->npacks ? ix->packs[pack] : NULL;
}

size_t index_count(const Index *ix)
{
        return ix->n;
}

size_t index_pack_count(const Index *ix)
{
        return ix->npacks;
}

size_t index_memory(const Index *ix)
{
        return ix->cap * sizeof(Entry) + ix->nslots * sizeof(uint32_t) + ix->packcap * ID_LEN +
               ix->npackslots * sizeof(uint32_t);
}

int index_foreach(const Index *ix, index_foreach_cb cb, void *ud)
{
        for (size_t i = 0; i < ix->n; i++) {
                IndexEntry e;
                index_find(ix, ix->entries[i].id, &e);
                int r = cb(ix->entries[i].id, &e, ud);
                if (r)
                        return r;
        }
        return 0;
}

/* ---- index files ---- */

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int index_file_encode(const MasterKey *k, const IndexPack *packs, size_t n, Buf *out)
{
        Buf plain = {0};
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                uint8_t cnt[4];
                put32(cnt, (uint32_t)packs[i].n);
                r = buf_append(&plain, packs[i].id, ID_LEN);
                if (r == 0)
                        r = buf_append(&plain, cnt, 4);
                if (r == 0)
                        r = buf_reserve(&plain, packs[i].n * PACK_RECORD_LEN);
                for (size_t j = 0; j < packs[i].n && r == 0; j++) {
                        const PackEntry *e = &packs[i].entries[j];
                        uint8_t *p = plain.data + plain.len;
                        p[0] = e->type;
                        put32(p + 1, e->offset);
                        put32(p + 5, e->length);
                        put32(p + 9, e->raw_length);
                        memcpy(p + 13, e->id, ID_LEN);
                        plain.len += PACK_RECORD_LEN;
                }
        }
        if (r == 0)
                r = crypto_seal(k, plain.data, plain.len, out);
        buf_free(&plain);
        return r;
}

int index_file_decode(const MasterKey *k, const uint8_t *sealed, size_t len, index_file_cb cb, void *ud)
{
        Buf plain = {0};
        int r = crypto_open(k, sealed, len, &plain);
        if (r < 0) {
                buf_free(&plain); /* a failed open may have reserved room */
                return r;
        }
        size_t pos = 0;
        PackEntry *e = NULL;
        size_t ecap = 0;
        while (r == 0 && pos < plain.len) {
                if (plain.len - pos < ID_LEN + 4) {
                        r = -EBADMSG;
                        break;
                }
                const uint8_t *pid = plain.data + pos;
                uint32_t n = get32(plain.data + pos + ID_LEN);
                pos += ID_LEN + 4;
                if ((plain.len - pos) / PACK_RECORD_LEN < n) {
                        r = -EBADMSG;
                        break;
                }
                if (n > ecap) {
                        PackEntry *p = realloc(e, n * sizeof(*e));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        e = p;
                        ecap = n;
                }
                for (uint32_t j = 0; j < n; j++) {
                        const uint8_t *p = plain.data + pos + (size_t)j * PACK_RECORD_LEN;
                        e[j].type = p[0];
                        e[j].offset = get32(p + 1);
                        e[j].length = get32(p + 5);
                        e[j].raw_length = get32(p + 9);
                        memcpy(e[j].id, p + 13, ID_LEN);
                }
                pos += (size_t)n * PACK_RECORD_LEN;
                r = cb(pid, e, n, ud);
        }
        free(e);
        buf_free(&plain);
        return r;
}
