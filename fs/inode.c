/* inode.c — see inode.h. Two chained hash tables, by number and by key. */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 65536

struct InodeTable {
        Inode *by_ino[NBUCKETS];
        Inode *by_key[NBUCKETS];
        fuse_ino_t next;
};

static size_t hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 1099511628211ull;
        return (size_t)(h % NBUCKETS);
}

int inode_table_new(InodeTable **out)
{
        InodeTable *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->next = FUSE_ROOT_ID;
        *out = t;
        return 0;
}

static void inode_free(Inode *i)
{
        free(i->key);
        free(i->view_key);
        free(i->target);
        node_clear(&i->node);
        tree_free(i->children);
        free(i->offsets);
        free(i);
}

void inode_table_free(InodeTable *t)
{
        if (!t)
                return;
        for (size_t b = 0; b < NBUCKETS; b++)
                while (t->by_ino[b]) {
                        Inode *i = t->by_ino[b];
                        t->by_ino[b] = i->next_ino;
                        inode_free(i);
                }
        free(t);
}

Inode *inode_get(InodeTable *t, fuse_ino_t ino)
{
        for (Inode *i = t->by_ino[ino % NBUCKETS]; i; i = i->next_ino)
                if (i->ino == ino)
                        return i;
        return NULL;
}

Inode *inode_find_key(InodeTable *t, const char *key)
{
        for (Inode *i = t->by_key[hash_str(key)]; i; i = i->next_key)
                if (strcmp(i->key, key) == 0)
                        return i;
        return NULL;
}

Inode *inode_add(InodeTable *t, char *key)
{
        Inode *i = calloc(1, sizeof(*i));
        if (!i) {
                free(key);
                return NULL;
        }
        i->ino = t->next++;
        i->key = key;
        i->next_ino = t->by_ino[i->ino % NBUCKETS];
        t->by_ino[i->ino % NBUCKETS] = i;
        size_t b = hash_str(key);
        i->next_key = t->by_key[b];
        t->by_key[b] = i;
        return i;
}

void inode_forget(InodeTable *t, fuse_ino_t ino, uint64_t n)
{
        Inode *i = inode_get(t, ino);
        if (!i || ino == FUSE_ROOT_ID)
                return;
        i->nlookup = n >= i->nlookup ? 0 : i->nlookup - n;
        if (i->nlookup)
                return;
        for (Inode **p = &t->by_ino[ino % NBUCKETS]; *p; p = &(*p)->next_ino)
                if (*p == i) {
                        *p = i->next_ino;
                        break;
                }
        for (Inode **p = &t->by_key[hash_str(i->key)]; *p; p = &(*p)->next_key)
                if (*p == i) {
                        *p = i->next_key;
                        break;
                }
        inode_free(i);
}
