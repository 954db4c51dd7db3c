/* inode.h — the mount's inode table.
 *
 * How a fuse_ino_t maps to what it shows: every inode the kernel knows is
 * an Inode here, found by number. Inode 1 is the root. The others are
 * made on lookup (and for each entry readdirplus returns) and carry what
 * their getattr/readdir/read need: a virtual directory (a view of the
 * snapshot list and its key, e.g. hosts/<host>), a symlink ("latest"), a
 * snapshot's root, or a node of a snapshot tree (a copy of the tree node,
 * with content ids for files and the subtree id for directories).
 *
 * The same entry looked up twice gets the same number: inodes are also
 * found by a key, "<parent>/<name>", or for the names of one hardlink
 * group in one snapshot "h<snapshot>:<dev>:<inode>", so they share one
 * number, as on the source file system.
 *
 * Lifetime: each successful lookup adds one to nlookup; forget subtracts
 * what the kernel says, and at zero the inode is unhashed and freed
 * (never the root). Directory contents (the Tree) are loaded when first
 * listed or looked into and live as long as the inode. Not thread-safe by
 * itself: the file system holds its mutex around every call. */
#pragma once
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "tree.h"

typedef enum InodeKind {
        INODE_VDIR,     /* root and the views */
        INODE_LINK,     /* "latest" */
        INODE_SNAPROOT, /* a snapshot's root directory */
        INODE_NODE,     /* an entry of a snapshot tree */
} InodeKind;

typedef enum View {
        VIEW_ROOT,
        VIEW_SNAPSHOTS,
        VIEW_IDS,
        VIEW_HOSTS,
        VIEW_HOST,
        VIEW_TAGS,
        VIEW_TAG,
        VIEW_KINDS,
        VIEW_KIND,
} View;

typedef struct Inode {
        fuse_ino_t ino;
        uint64_t nlookup;
        InodeKind kind;
        char *key;
        View view;        /* VDIR */
        char *view_key;   /* VDIR: the host, tag or kind */
        char *target;     /* LINK */
        unsigned snap;    /* SNAPROOT, NODE: the snapshot's number (fs.c) */
        Node node;        /* NODE; SNAPROOT: a directory node with the tree */
        Tree *children;   /* directories, once loaded */
        uint64_t *offsets; /* files: ncontent + 1 cumulative offsets, once opened */
        uint64_t next_off;  /* files: where a sequential reader reads next */
        size_t ahead;       /* files: blobs before this index are read ahead */
        fuse_ino_t parent;  /* NODE, but not hardlinks: the directory listing it */
        size_t pos;         /* its index in the parent's children */
        bool pushed;        /* files: read, or queued for the pusher */
        size_t read_next;   /* directories: 1 + index of the child read last */
        size_t push_next;   /* directories: children before this were considered */
        struct Inode *next_ino, *next_key;
} Inode;

typedef struct InodeTable InodeTable;

int inode_table_new(InodeTable **out);
void inode_table_free(InodeTable *t);
Inode *inode_get(InodeTable *t, fuse_ino_t ino);
Inode *inode_find_key(InodeTable *t, const char *key);
/* A new inode with the next number, hashed by number and key (the table
 * takes key). nlookup starts at 0. */
Inode *inode_add(InodeTable *t, char *key);
/* Subtract n lookups; frees the inode at zero (not the root). */
void inode_forget(InodeTable *t, fuse_ino_t ino, uint64_t n);
