/* tree.h — one directory of a snapshot, stored as a JSON tree blob.
 *
 * {"nodes":[{"name":..., "type":"file", "mode":420, "uid":0, "gid":0,
 *   "mtime":"2026-...Z", "atime":..., "ctime":..., "size":N, "inode":N,
 *   "links":N, "dev":N, "content":["<hex blob id>",...]}, ...]}
 * Nodes are sorted by name (bytewise). Names, link targets and xattr names
 * that are not valid UTF-8 are stored hex-encoded under "name_hex",
 * "linktarget_hex", and xattrs as {"name" or "name_hex", "value" (hex)}.
 * Types: file, dir (with "subtree"), symlink ("linktarget"), chardev and
 * blockdev ("rdev"), fifo, socket. "mode" holds the 12 permission bits. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum NodeType {
        NODE_FILE,
        NODE_DIR,
        NODE_SYMLINK,
        NODE_CHARDEV,
        NODE_BLOCKDEV,
        NODE_FIFO,
        NODE_SOCKET,
} NodeType;

typedef struct Xattr {
        char *name;
        uint8_t *value;
        size_t len;
} Xattr;

typedef struct Timespec {
        int64_t sec;
        long nsec;
} Timespec;

typedef struct Node {
        char *name;
        NodeType type;
        uint32_t mode;
        uint32_t uid, gid;
        Timespec mtime, atime, ctime;
        uint64_t size, inode, dev, rdev;
        uint32_t links;
        char *linktarget;
        uint8_t (*content)[ID_LEN];
        size_t ncontent;
        bool has_subtree;
        uint8_t subtree[ID_LEN];
        Xattr *xattrs;
        size_t nxattrs;
} Node;

typedef struct Tree {
        Node *nodes;
        size_t n, cap;
        /* tree_decode met a key it does not read (a newer writer's field):
         * the blob holds more than its nodes say */
        bool foreign;
} Tree;

int tree_new(Tree **out);
void tree_free(Tree *t);
/* Append a node (the tree takes ownership of its pointers) and return it. */
Node *tree_add(Tree *t);
void tree_sort(Tree *t);
/* Binary search by name in a sorted tree; NULL if absent. Borrowed. */
Node *tree_find(const Tree *t, const char *name);
void node_clear(Node *n);
int node_copy(const Node *src, Node *dst);
/* Whether a node read back from a stored tree (tree_decode) is exactly
 * what encoding `now` would store: every field tree_encode writes for
 * now's type is equal, and every field it leaves out is empty in stored. */
bool node_same(const Node *now, const Node *stored);

int tree_encode(const Tree *t, Buf *out);
int tree_decode(const void *json, size_t len, Tree **out);

/* Set key to the string s[0..n), or hexkey to its hex when it is not
 * valid UTF-8 (names may hold any byte but '/' and NUL). */
typedef struct json_t json_t;
int tree_json_set_bytes(json_t *o, const char *key, const char *hexkey, const char *s, size_t n);

const char *node_type_name(NodeType t);
int node_type_parse(const char *s, NodeType *out);
