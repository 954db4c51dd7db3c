/* tree.c — see tree.h. */
#include "tree.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

static const char *const type_names[] = {"file", "dir", "symlink", "chardev", "blockdev", "fifo", "socket"};

const char *node_type_name(NodeType t)
{
        return (unsigned)t < ELEMENTSOF(type_names) ? type_names[t] : "?";
}

int node_type_parse(const char *s, NodeType *out)
{
        for (size_t i = 0; i < ELEMENTSOF(type_names); i++)
                if (strcmp(s, type_names[i]) == 0) {
                        *out = (NodeType)i;
                        return 0;
                }
        return -EINVAL;
}

int tree_new(Tree **out)
{
        *out = calloc(1, sizeof(Tree));
        return *out ? 0 : -ENOMEM;
}

void node_clear(Node *n)
{
        free(n->name);
        free(n->linktarget);
        free(n->content);
        for (size_t i = 0; i < n->nxattrs; i++) {
                free(n->xattrs[i].name);
                free(n->xattrs[i].value);
        }
        free(n->xattrs);
        memset(n, 0, sizeof(*n));
}

int node_copy(const Node *src, Node *dst)
{
        *dst = *src;
        dst->name = src->name ? strdup(src->name) : NULL;
        dst->linktarget = src->linktarget ? strdup(src->linktarget) : NULL;
        dst->content = NULL;
        dst->xattrs = NULL;
        if (src->ncontent) {
                dst->content = malloc(src->ncontent * ID_LEN);
                if (dst->content)
                        memcpy(dst->content, src->content, src->ncontent * ID_LEN);
        }
        if (src->nxattrs) {
                dst->xattrs = calloc(src->nxattrs, sizeof(Xattr));
                for (size_t i = 0; dst->xattrs && i < src->nxattrs; i++) {
                        dst->xattrs[i].name = strdup(src->xattrs[i].name);
                        dst->xattrs[i].len = src->xattrs[i].len;
                        dst->xattrs[i].value = malloc(src->xattrs[i].len + 1);
                        if (dst->xattrs[i].value)
                                memcpy(dst->xattrs[i].value, src->xattrs[i].value, src->xattrs[i].len);
                }
        }
        if ((src->name && !dst->name) || (src->linktarget && !dst->linktarget) || (src->ncontent && !dst->content) ||
            (src->nxattrs && !dst->xattrs)) {
                node_clear(dst);
                return -ENOMEM;
        }
        return 0;
}

static bool time_eq(Timespec a, Timespec b)
{
        return a.sec == b.sec && a.nsec == b.nsec;
}

static bool str_eq(const char *a, const char *b)
{
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool xattrs_eq(const Node *a, const Node *b)
{
        if (a->nxattrs != b->nxattrs)
                return false;
        for (size_t i = 0; i < a->nxattrs; i++) {
                const Xattr *x = &a->xattrs[i], *y = &b->xattrs[i];
                if (!str_eq(x->name, y->name) || x->len != y->len || memcmp(x->value, y->value, x->len) != 0)
                        return false;
        }
        return true;
}

/* The fields tree_encode writes besides the ones every node has; node_same
 * compares by the same tests. */
static bool writes_content(const Node *n) /* size and content */
{
        return n->type == NODE_FILE;
}

static bool writes_subtree(const Node *n)
{
        return n->type == NODE_DIR && n->has_subtree;
}

static bool writes_link(const Node *n)
{
        return n->type == NODE_SYMLINK && n->linktarget;
}

static bool writes_rdev(const Node *n)
{
        return n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV;
}

/* What node_json writes must match; what it leaves out must be what
 * node_parse gives for an absent key. */
bool node_same(const Node *now, const Node *stored)
{
        bool file = writes_content(now), sub = writes_subtree(now);
        size_t ncontent = file ? now->ncontent : 0;
        return now->type == stored->type && str_eq(now->name, stored->name) && now->mode == stored->mode &&
               now->uid == stored->uid && now->gid == stored->gid && time_eq(now->mtime, stored->mtime) &&
               time_eq(now->atime, stored->atime) && time_eq(now->ctime, stored->ctime) &&
               now->inode == stored->inode && now->dev == stored->dev && now->links == stored->links &&
               (file ? now->size : 0) == stored->size && (writes_rdev(now) ? now->rdev : 0) == stored->rdev &&
               ncontent == stored->ncontent &&
               (!ncontent || memcmp(now->content, stored->content, ncontent * ID_LEN) == 0) &&
               sub == stored->has_subtree && (!sub || memcmp(now->subtree, stored->subtree, ID_LEN) == 0) &&
               str_eq(writes_link(now) ? now->linktarget : NULL, stored->linktarget) && xattrs_eq(now, stored);
}

void tree_free(Tree *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                node_clear(&t->nodes[i]);
        free(t->nodes);
        free(t);
}

Node *tree_add(Tree *t)
{
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                Node *p = realloc(t->nodes, cap * sizeof(*p));
                if (!p)
                        return NULL;
                t->nodes = p;
                t->cap = cap;
        }
        Node *n = &t->nodes[t->n++];
        memset(n, 0, sizeof(*n));
        return n;
}

static int cmp_node(const void *a, const void *b)
{
        return strcmp(((const Node *)a)->name, ((const Node *)b)->name);
}

void tree_sort(Tree *t)
{
        if (t->n > 1)
                qsort(t->nodes, t->n, sizeof(Node), cmp_node);
}

Node *tree_find(const Tree *t, const char *name)
{
        Node key = {.name = (char *)name};
        return t->n ? bsearch(&key, t->nodes, t->n, sizeof(Node), cmp_node) : NULL;
}

/* ---- encoding ---- */

static bool valid_utf8(const char *s, size_t n)
{
        json_t *j = json_stringn(s, n); /* jansson validates */
        json_decref(j);
        return j != NULL;
}

int tree_json_set_bytes(json_t *o, const char *key, const char *hexkey, const char *s, size_t n)
{
        if (valid_utf8(s, n))
                return json_object_set_new(o, key, json_stringn(s, n));
        char *hex = malloc(2 * n + 1);
        if (!hex)
                return -1;
        util_hex((const uint8_t *)s, n, hex);
        int r = json_object_set_new(o, hexkey, json_string(hex));
        free(hex);
        return r;
}

static json_t *time_json(Timespec t)
{
        char s[64];
        util_format_time(t.sec, t.nsec, true, s, sizeof(s));
        return json_string(s);
}

static json_t *node_json(const Node *n)
{
        json_t *o = json_object();
        if (!o)
                return NULL;
        int r = tree_json_set_bytes(o, "name", "name_hex", n->name, strlen(n->name));
        r |= json_object_set_new(o, "type", json_string(node_type_name(n->type)));
        r |= json_object_set_new(o, "mode", json_integer(n->mode));
        r |= json_object_set_new(o, "uid", json_integer(n->uid));
        r |= json_object_set_new(o, "gid", json_integer(n->gid));
        r |= json_object_set_new(o, "mtime", time_json(n->mtime));
        r |= json_object_set_new(o, "atime", time_json(n->atime));
        r |= json_object_set_new(o, "ctime", time_json(n->ctime));
        r |= json_object_set_new(o, "inode", json_integer((json_int_t)n->inode));
        r |= json_object_set_new(o, "dev", json_integer((json_int_t)n->dev));
        r |= json_object_set_new(o, "links", json_integer(n->links));
        if (writes_content(n)) {
                r |= json_object_set_new(o, "size", json_integer((json_int_t)n->size));
                json_t *c = json_array();
                for (size_t i = 0; i < n->ncontent; i++) {
                        char hex[ID_HEX_LEN + 1];
                        util_hex(n->content[i], ID_LEN, hex);
                        r |= json_array_append_new(c, json_string(hex));
                }
                r |= json_object_set_new(o, "content", c);
        }
        if (writes_subtree(n)) {
                char hex[ID_HEX_LEN + 1];
                util_hex(n->subtree, ID_LEN, hex);
                r |= json_object_set_new(o, "subtree", json_string(hex));
        }
        if (writes_link(n))
                r |= tree_json_set_bytes(o, "linktarget", "linktarget_hex", n->linktarget, strlen(n->linktarget));
        if (writes_rdev(n))
                r |= json_object_set_new(o, "rdev", json_integer((json_int_t)n->rdev));
        if (n->nxattrs) {
                json_t *xa = json_array();
                for (size_t i = 0; i < n->nxattrs; i++) {
                        json_t *x = json_object();
                        r |= tree_json_set_bytes(x, "name", "name_hex", n->xattrs[i].name, strlen(n->xattrs[i].name));
                        char *hex = malloc(2 * n->xattrs[i].len + 1);
                        if (!hex) {
                                r = -1;
                                json_decref(x);
                                break;
                        }
                        util_hex(n->xattrs[i].value, n->xattrs[i].len, hex);
                        r |= json_object_set_new(x, "value", json_string(hex));
                        free(hex);
                        r |= json_array_append_new(xa, x);
                }
                r |= json_object_set_new(o, "xattrs", xa);
        }
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int tree_encode(const Tree *t, Buf *out)
{
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < t->n; i++) {
                json_t *n = node_json(&t->nodes[i]);
                if (!n || json_array_append_new(arr, n)) {
                        json_decref(arr);
                        return -ENOMEM;
                }
        }
        json_t *root = json_pack("{s:o}", "nodes", arr);
        if (!root)
                return -ENOMEM;
        char *s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (!s)
                return -ENOMEM;
        int r = buf_append(out, s, strlen(s));
        free(s);
        return r;
}

/* Each getter counts the keys it read in *seen, so that node_parse can
 * tell a node that holds keys it does not know (see Tree.foreign). */
static char *get_bytes(json_t *o, const char *key, const char *hexkey, size_t *seen)
{
        json_t *v = json_object_get(o, key);
        if (json_is_string(v)) {
                ++*seen;
                return strndup(json_string_value(v), json_string_length(v));
        }
        v = json_object_get(o, hexkey);
        if (!json_is_string(v))
                return NULL;
        ++*seen;
        size_t n = json_string_length(v) / 2;
        char *s = malloc(n + 1);
        if (!s || util_unhex(json_string_value(v), (uint8_t *)s, n) < 0) {
                free(s);
                return NULL;
        }
        s[n] = 0;
        if (strlen(s) != n) { /* a NUL inside a name is never valid */
                free(s);
                return NULL;
        }
        return s;
}

static int get_time(json_t *o, const char *key, Timespec *t, size_t *seen)
{
        json_t *v = json_object_get(o, key);
        if (!v)
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        ++*seen;
        return util_parse_time(json_string_value(v), &t->sec, &t->nsec) < 0 ? -EBADMSG : 0;
}

static uint64_t get_u64(json_t *o, const char *key, size_t *seen)
{
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v))
                return 0;
        ++*seen;
        return (uint64_t)json_integer_value(v);
}

static int parse_id(json_t *v, uint8_t *id)
{
        if (!json_is_string(v) || json_string_length(v) != ID_HEX_LEN)
                return -EBADMSG;
        return util_unhex(json_string_value(v), id, ID_LEN) < 0 ? -EBADMSG : 0;
}

static int node_parse(json_t *o, Node *n, bool *foreign)
{
        if (!json_is_object(o))
                return -EBADMSG;
        size_t seen = 0;
        n->name = get_bytes(o, "name", "name_hex", &seen);
        json_t *type = json_object_get(o, "type");
        if (!n->name || !json_is_string(type) || node_type_parse(json_string_value(type), &n->type) < 0)
                return -EBADMSG;
        seen++;
        n->mode = (uint32_t)get_u64(o, "mode", &seen);
        n->uid = (uint32_t)get_u64(o, "uid", &seen);
        n->gid = (uint32_t)get_u64(o, "gid", &seen);
        n->size = get_u64(o, "size", &seen);
        n->inode = get_u64(o, "inode", &seen);
        n->dev = get_u64(o, "dev", &seen);
        n->rdev = get_u64(o, "rdev", &seen);
        n->links = (uint32_t)get_u64(o, "links", &seen);
        if (get_time(o, "mtime", &n->mtime, &seen) < 0 || get_time(o, "atime", &n->atime, &seen) < 0 ||
            get_time(o, "ctime", &n->ctime, &seen) < 0)
                return -EBADMSG;
        json_t *c = json_object_get(o, "content");
        if (json_is_array(c)) {
                seen++;
                n->ncontent = json_array_size(c);
        }
        if (n->ncontent) {
                n->content = malloc(n->ncontent * ID_LEN);
                if (!n->content)
                        return -ENOMEM;
                for (size_t i = 0; i < n->ncontent; i++)
                        if (parse_id(json_array_get(c, i), n->content[i]) < 0)
                                return -EBADMSG;
        }
        json_t *st = json_object_get(o, "subtree");
        if (st) {
                if (parse_id(st, n->subtree) < 0)
                        return -EBADMSG;
                n->has_subtree = true;
                seen++;
        }
        if (n->type == NODE_SYMLINK) {
                n->linktarget = get_bytes(o, "linktarget", "linktarget_hex", &seen);
                if (!n->linktarget)
                        return -EBADMSG;
        }
        json_t *xa = json_object_get(o, "xattrs");
        size_t nx = 0;
        if (json_is_array(xa)) {
                seen++;
                nx = json_array_size(xa);
        }
        if (nx) {
                n->xattrs = calloc(nx, sizeof(Xattr));
                if (!n->xattrs)
                        return -ENOMEM;
                for (size_t i = 0; i < nx; i++) {
                        json_t *x = json_array_get(xa, i);
                        Xattr *d = &n->xattrs[n->nxattrs++];
                        size_t xseen = 1; /* value */
                        d->name = get_bytes(x, "name", "name_hex", &xseen);
                        json_t *v = json_object_get(x, "value");
                        if (!d->name || !json_is_string(v))
                                return -EBADMSG;
                        if (json_object_size(x) != xseen)
                                *foreign = true;
                        d->len = json_string_length(v) / 2;
                        d->value = malloc(d->len + 1);
                        if (!d->value || util_unhex(json_string_value(v), d->value, d->len) < 0)
                                return -EBADMSG;
                }
        }
        if (json_object_size(o) != seen)
                *foreign = true;
        return 0;
}

int tree_decode(const void *json, size_t len, Tree **out)
{
        json_error_t err;
        json_t *root = json_loadb(json, len, 0, &err);
        if (!root)
                return -EBADMSG;
        json_t *nodes = json_object_get(root, "nodes");
        Tree *t;
        int r = json_is_array(nodes) ? tree_new(&t) : -EBADMSG;
        if (r < 0) {
                json_decref(root);
                return r;
        }
        t->foreign = json_object_size(root) != 1;
        for (size_t i = 0; r == 0 && i < json_array_size(nodes); i++) {
                Node *n = tree_add(t);
                r = n ? node_parse(json_array_get(nodes, i), n, &t->foreign) : -ENOMEM;
        }
        json_decref(root);
        if (r < 0) {
                tree_free(t);
                return r;
        }
        *out = t;
        return 0;
}
