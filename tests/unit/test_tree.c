/* test_tree.c — unit tests for repo/tree.c.
 *
 * A tree blob's JSON is hashed into its id, so the exact bytes are part of
 * the repository format: one small tree holding every kind of node is
 * pinned byte for byte. Everything else is a round trip, compared field by
 * field: names that are not UTF-8 (stored as hex), control characters,
 * xattrs with binary values. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tree.h"

static Tree *tree_make(void)
{
        Tree *t = NULL;
        cr_assert_eq(tree_new(&t), 0);
        cr_assert_not_null(t);
        return t;
}

static void fill_id(uint8_t id[ID_LEN], uint8_t first)
{
        for (int i = 0; i < ID_LEN; i++)
                id[i] = (uint8_t)(first + i);
}

static Node *add_node(Tree *t, const char *name, NodeType type)
{
        Node *n = tree_add(t);
        cr_assert_not_null(n);
        n->name = strdup(name);
        n->type = type;
        n->mode = 0644;
        n->uid = 1000;
        n->gid = 100;
        n->mtime = (Timespec){1767323045, 123456789}; /* 2026-01-02T03:04:05 */
        n->atime = (Timespec){1767323046, 0};
        n->ctime = (Timespec){1767323047, 999999999};
        n->inode = 4242;
        n->dev = 2049;
        n->links = 1;
        return n;
}

static void add_xattr(Node *n, const char *name, const void *value, size_t len)
{
        n->xattrs = realloc(n->xattrs, (n->nxattrs + 1) * sizeof(Xattr));
        cr_assert_not_null(n->xattrs);
        Xattr *x = &n->xattrs[n->nxattrs++];
        x->name = strdup(name);
        x->value = malloc(len + 1);
        memcpy(x->value, value, len);
        x->len = len;
}

/* One node of each kind, already in name order. */
static Tree *fixed_tree(void)
{
        Tree *t = tree_make();
        Node *n = add_node(t, "bin", NODE_SYMLINK);
        n->mode = 0777;
        n->linktarget = strdup("usr/bin");

        n = add_node(t, "disk", NODE_BLOCKDEV);
        n->mode = 0660;
        n->rdev = 0x801;

        n = add_node(t, "docs", NODE_DIR);
        n->mode = 0755;
        n->links = 2;
        n->has_subtree = true;
        fill_id(n->subtree, 0xd0);

        n = add_node(t, "file.txt", NODE_FILE);
        n->size = 12;
        n->ncontent = 2;
        n->content = malloc(2 * ID_LEN);
        fill_id(n->content[0], 0x00);
        fill_id(n->content[1], 0x80);
        add_xattr(n, "user.comment", "hi\0", 3);

        n = add_node(t, "null", NODE_CHARDEV);
        n->mode = 0666;
        n->rdev = 0x103;
        n->uid = n->gid = 0;

        n = add_node(t, "pipe", NODE_FIFO);
        n->mode = 0600;

        n = add_node(t, "sock", NODE_SOCKET);
        n->mode = 0755;
        return t;
}

static void assert_node_eq(const Node *a, const Node *b)
{
        cr_assert_str_eq(a->name, b->name);
        const char *nm = a->name;
        cr_assert_eq(a->type, b->type, "%s", nm);
        cr_assert_eq(a->mode, b->mode, "%s", nm);
        cr_assert_eq(a->uid, b->uid, "%s", nm);
        cr_assert_eq(a->gid, b->gid, "%s", nm);
        cr_assert_eq(a->mtime.sec, b->mtime.sec, "%s", nm);
        cr_assert_eq(a->mtime.nsec, b->mtime.nsec, "%s", nm);
        cr_assert_eq(a->atime.sec, b->atime.sec, "%s", nm);
        cr_assert_eq(a->atime.nsec, b->atime.nsec, "%s", nm);
        cr_assert_eq(a->ctime.sec, b->ctime.sec, "%s", nm);
        cr_assert_eq(a->ctime.nsec, b->ctime.nsec, "%s", nm);
        cr_assert_eq(a->size, b->size, "%s", nm);
        cr_assert_eq(a->inode, b->inode, "%s", nm);
        cr_assert_eq(a->dev, b->dev, "%s", nm);
        cr_assert_eq(a->rdev, b->rdev, "%s", nm);
        cr_assert_eq(a->links, b->links, "%s", nm);
        if (a->linktarget || b->linktarget) {
                cr_assert(a->linktarget && b->linktarget, "%s", nm);
                cr_assert_str_eq(a->linktarget, b->linktarget, "%s", nm);
        }
        cr_assert_eq(a->ncontent, b->ncontent, "%s", nm);
        if (a->ncontent)
                cr_assert_arr_eq(a->content, b->content, a->ncontent * ID_LEN, "%s", nm);
        cr_assert_eq(a->has_subtree, b->has_subtree, "%s", nm);
        if (a->has_subtree)
                cr_assert_arr_eq(a->subtree, b->subtree, ID_LEN, "%s", nm);
        cr_assert_eq(a->nxattrs, b->nxattrs, "%s", nm);
        for (size_t i = 0; i < a->nxattrs; i++) {
                cr_assert_str_eq(a->xattrs[i].name, b->xattrs[i].name, "%s", nm);
                cr_assert_eq(a->xattrs[i].len, b->xattrs[i].len, "%s", nm);
                if (a->xattrs[i].len)
                        cr_assert_arr_eq(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].len, "%s", nm);
        }
}

static void assert_tree_eq(const Tree *a, const Tree *b)
{
        cr_assert_eq(a->n, b->n);
        for (size_t i = 0; i < a->n; i++)
                assert_node_eq(&a->nodes[i], &b->nodes[i]);
}

/* decode(encode(t)), checked equal to t; returns the JSON (caller frees). */
static char *round_trip(const Tree *t)
{
        Buf b = {0};
        cr_assert_eq(tree_encode(t, &b), 0);
        Tree *back = NULL;
        cr_assert_eq(tree_decode(b.data, b.len, &back), 0, "%.*s", (int)b.len, (const char *)b.data);
        assert_tree_eq(t, back);
        tree_free(back);
        /* and encoding again gives the same bytes */
        Buf again = {0};
        cr_assert_eq(tree_decode(b.data, b.len, &back), 0);
        cr_assert_eq(tree_encode(back, &again), 0);
        cr_assert_eq(again.len, b.len);
        cr_assert_arr_eq(again.data, b.data, b.len);
        tree_free(back);
        buf_free(&again);
        cr_assert_eq(buf_append(&b, "", 1), 0);
        return (char *)buf_steal(&b, NULL);
}

/* ------------------------------------------------------------------ */

Test(tree, encode_exact_json)
{
        static const char want[] =
                "{\"nodes\":["
                "{\"name\":\"bin\",\"type\":\"symlink\",\"mode\":511,\"uid\":1000,\"gid\":100,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":1,"
                "\"linktarget\":\"usr/bin\"},"
                "{\"name\":\"disk\",\"type\":\"blockdev\",\"mode\":432,\"uid\":1000,\"gid\":100,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":1,"
                "\"rdev\":2049},"
                "{\"name\":\"docs\",\"type\":\"dir\",\"mode\":493,\"uid\":1000,\"gid\":100,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":2,"
                "\"subtree\":\"d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef\"},"
                "{\"name\":\"file.txt\",\"type\":\"file\",\"mode\":420,\"uid\":1000,\"gid\":100,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":1,"
                "\"size\":12,\"content\":["
                "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
                "\"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\"],"
                "\"xattrs\":[{\"name\":\"user.comment\",\"value\":\"686900\"}]},"
                "{\"name\":\"null\",\"type\":\"chardev\",\"mode\":438,\"uid\":0,\"gid\":0,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":1,"
                "\"rdev\":259},"
                "{\"name\":\"pipe\",\"type\":\"fifo\",\"mode\":384,\"uid\":1000,\"gid\":100,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":1},"
                "{\"name\":\"sock\",\"type\":\"socket\",\"mode\":493,\"uid\":1000,\"gid\":100,"
                "\"mtime\":\"2026-01-02T03:04:05.123456789Z\",\"atime\":\"2026-01-02T03:04:06.000000000Z\","
                "\"ctime\":\"2026-01-02T03:04:07.999999999Z\",\"inode\":4242,\"dev\":2049,\"links\":1}"
                "]}";
        Tree *t = fixed_tree();
        Buf b = {0};
        cr_assert_eq(tree_encode(t, &b), 0);
        cr_assert_eq(buf_append(&b, "", 1), 0);
        cr_assert_str_eq((const char *)b.data, want);
        buf_free(&b);
        tree_free(t);
}

Test(tree, encode_empty_tree)
{
        Tree *t = tree_make();
        Buf b = {0};
        cr_assert_eq(tree_encode(t, &b), 0);
        cr_assert_eq(b.len, 12);
        cr_assert_arr_eq(b.data, "{\"nodes\":[]}", 12);
        Tree *back = NULL;
        cr_assert_eq(tree_decode(b.data, b.len, &back), 0);
        cr_assert_eq(back->n, 0);
        cr_assert_null(tree_find(back, "x"));
        tree_free(back);
        buf_free(&b);
        tree_free(t);
        tree_free(NULL);
}

Test(tree, decode_encode_round_trip_every_type)
{
        Tree *t = fixed_tree();
        free(round_trip(t));
        tree_free(t);
}

Test(tree, file_without_content_round_trips)
{
        Tree *t = tree_make();
        Node *n = add_node(t, "empty", NODE_FILE);
        n->size = 0;
        Node *d = add_node(t, "emptydir", NODE_DIR);
        d->has_subtree = false;
        char *json = round_trip(t);
        cr_assert_not_null(strstr(json, "\"content\":[]"));
        cr_assert_null(strstr(json, "subtree"));
        free(json);
        tree_free(t);
}

Test(tree, invalid_utf8_names_go_to_hex)
{
        Tree *t = tree_make();
        Node *f = add_node(t, "a\xff\xfe", NODE_FILE);
        add_xattr(f, "user.\xc3\x28", "\x00\xff", 2); /* invalid 2-byte sequence */
        Node *l = add_node(t, "b\xc3\xa9", NODE_SYMLINK); /* valid: "bé" */
        l->linktarget = strdup("\x80target");
        char *json = round_trip(t);
        cr_assert_not_null(strstr(json, "{\"name_hex\":\"61fffe\",\"type\":\"file\""), "%s", json);
        cr_assert_not_null(strstr(json, "\"xattrs\":[{\"name_hex\":\"757365722ec328\",\"value\":\"00ff\"}]"), "%s",
                           json);
        cr_assert_not_null(strstr(json, "{\"name\":\"b\xc3\xa9\",\"type\":\"symlink\""), "%s", json);
        cr_assert_not_null(strstr(json, "\"linktarget_hex\":\"80746172676574\""), "%s", json);
        cr_assert_null(strstr(json, "\"name\":\"a"));
        free(json);
        tree_free(t);
}

Test(tree, control_characters_round_trip)
{
        static const char *const names[] = {
                "line\nbreak", "tab\there", "cr\r", "\x01\x02\x1f", "del\x7f", "quote\"back\\slash", "/slash",
                " leading space", "\xe2\x80\xa8 line separator", "\xf0\x9f\x98\x80 emoji",
        };
        Tree *t = tree_make();
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                Node *n = add_node(t, names[i], NODE_SYMLINK);
                n->linktarget = strdup(names[ELEMENTSOF(names) - 1 - i]);
        }
        tree_sort(t);
        char *json = round_trip(t);
        /* valid UTF-8 all of them: escaped (jansson writes \u001F), never hex */
        cr_assert_null(strstr(json, "_hex"), "%s", json);
        cr_assert_not_null(strstr(json, "\"line\\nbreak\""), "%s", json);
        cr_assert_not_null(strstr(json, "\"\\u0001\\u0002\\u001F\""), "%s", json);
        cr_assert_null(strchr(json, '\n'), "one line of JSON");
        free(json);
        tree_free(t);
}

Test(tree, sort_is_bytewise)
{
        static const char *const in[] = {"b", "\xc3\xa9", "a", "B", "aa", "a\xff", "A", "_", "0"};
        static const char *const want[] = {"0", "A", "B", "_", "a", "aa", "a\xff", "b", "\xc3\xa9"};
        Tree *t = tree_make();
        for (size_t i = 0; i < ELEMENTSOF(in); i++)
                add_node(t, in[i], NODE_FIFO);
        tree_sort(t);
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                cr_assert_str_eq(t->nodes[i].name, want[i], "position %zu", i);
        tree_free(t);
}

Test(tree, find_binary_search)
{
        Tree *t = tree_make();
        char name[32];
        /* added in reverse, sorted afterwards */
        for (int i = 999; i >= 0; i -= 2) {
                snprintf(name, sizeof(name), "n%04d", i);
                Node *n = add_node(t, name, NODE_FILE);
                n->size = (uint64_t)i;
        }
        cr_assert_eq(t->n, 500);
        tree_sort(t);
        for (int i = 0; i < 1000; i++) {
                snprintf(name, sizeof(name), "n%04d", i);
                Node *n = tree_find(t, name);
                if (i % 2) {
                        cr_assert_not_null(n, "%s", name);
                        cr_assert_str_eq(n->name, name);
                        cr_assert_eq(n->size, (uint64_t)i);
                        cr_assert_eq(n, &t->nodes[i / 2], "borrowed from the tree");
                } else {
                        cr_assert_null(n, "%s", name);
                }
        }
        cr_assert_null(tree_find(t, ""));
        cr_assert_null(tree_find(t, "n"));
        cr_assert_null(tree_find(t, "n09990"));
        cr_assert_null(tree_find(t, "z"));
        tree_free(t);
}

Test(tree, node_copy_is_deep)
{
        Tree *t = fixed_tree();
        Node copy;
        for (size_t i = 0; i < t->n; i++) {
                cr_assert_eq(node_copy(&t->nodes[i], &copy), 0);
                assert_node_eq(&copy, &t->nodes[i]);
                cr_assert_neq(copy.name, t->nodes[i].name);
                if (copy.ncontent)
                        cr_assert_neq(copy.content, t->nodes[i].content);
                if (copy.nxattrs)
                        cr_assert_neq(copy.xattrs, t->nodes[i].xattrs);
                node_clear(&copy);
                cr_assert_null(copy.name);
                cr_assert_eq(copy.nxattrs, 0);
        }
        tree_free(t);
}

Test(tree, type_names)
{
        static const char *const names[] = {"file", "dir", "symlink", "chardev", "blockdev", "fifo", "socket"};
        for (int i = 0; i < 7; i++) {
                cr_assert_str_eq(node_type_name((NodeType)i), names[i]);
                NodeType got;
                cr_assert_eq(node_type_parse(names[i], &got), 0);
                cr_assert_eq(got, (NodeType)i);
        }
        cr_assert_str_eq(node_type_name((NodeType)7), "?");
        NodeType got;
        cr_assert_eq(node_type_parse("File", &got), -EINVAL);
        cr_assert_eq(node_type_parse("", &got), -EINVAL);
}

Test(tree, malformed_json_is_ebadmsg)
{
        static const char id64[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        char bad_content[256], short_content[256], bad_subtree[256];
        snprintf(bad_content, sizeof(bad_content),
                 "{\"nodes\":[{\"name\":\"f\",\"type\":\"file\",\"content\":[\"%.63sg\"]}]}", id64);
        snprintf(short_content, sizeof(short_content),
                 "{\"nodes\":[{\"name\":\"f\",\"type\":\"file\",\"content\":[\"%.62s\"]}]}", id64);
        snprintf(bad_subtree, sizeof(bad_subtree), "{\"nodes\":[{\"name\":\"d\",\"type\":\"dir\",\"subtree\":5}]}");
        const char *const cases[] = {
                "",
                "{",
                "not json",
                "[]",
                "{}",
                "{\"nodes\":5}",
                "{\"nodes\":{}}",
                "{\"nodes\":[5]}",
                "{\"nodes\":[{}]}",
                "{\"nodes\":[{\"type\":\"file\"}]}",                      /* no name */
                "{\"nodes\":[{\"name\":5,\"type\":\"file\"}]}",           /* name not a string */
                "{\"nodes\":[{\"name\":\"x\"}]}",                         /* no type */
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"door\"}]}",       /* unknown type */
                "{\"nodes\":[{\"name_hex\":\"6\",\"type\":\"file\"}]}",   /* odd hex */
                "{\"nodes\":[{\"name_hex\":\"zz\",\"type\":\"file\"}]}",  /* not hex */
                "{\"nodes\":[{\"name_hex\":\"610062\",\"type\":\"file\"}]}", /* NUL in a name */
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"mtime\":\"yesterday\"}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"mtime\":5}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"mtime\":\"2026-01-02T03:04:05+01:00\"}]}",
                "{\"nodes\":[{\"name\":\"l\",\"type\":\"symlink\"}]}",    /* no target */
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"xattrs\":[{\"name\":\"u\"}]}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"xattrs\":[{\"value\":\"00\"}]}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"xattrs\":[{\"name\":\"u\",\"value\":\"0g\"}]}]}",
                "{\"nodes\":[{\"name\":\"ok\",\"type\":\"fifo\"},{\"name\":\"x\",\"type\":\"?\"}]}",
                bad_content,
                short_content,
                bad_subtree,
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Tree *t = (Tree *)cases; /* must stay untouched on failure */
                cr_assert_eq(tree_decode(cases[i], strlen(cases[i]), &t), -EBADMSG, "case %zu: %s", i, cases[i]);
                cr_assert_eq(t, (Tree *)cases, "case %zu", i);
        }
        /* the good twin of bad_content decodes */
        char good[256];
        snprintf(good, sizeof(good), "{\"nodes\":[{\"name\":\"f\",\"type\":\"file\",\"content\":[\"%s\"]}]}", id64);
        Tree *t = NULL;
        cr_assert_eq(tree_decode(good, strlen(good), &t), 0);
        cr_assert_eq(t->n, 1);
        cr_assert_eq(t->nodes[0].ncontent, 1);
        cr_assert_eq(t->nodes[0].content[0][31], 0x1f);
        tree_free(t);
}

Test(tree, decode_ignores_unknown_fields)
{
        static const char json[] =
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\",\"mode\":384,\"future\":{\"a\":[1,2]}}],\"extra\":1}";
        Tree *t = NULL;
        cr_assert_eq(tree_decode(json, strlen(json), &t), 0);
        cr_assert_eq(t->n, 1);
        cr_assert_str_eq(t->nodes[0].name, "x");
        cr_assert_eq(t->nodes[0].type, NODE_FIFO);
        cr_assert_eq(t->nodes[0].mode, 0600);
        cr_assert_eq(t->nodes[0].mtime.sec, 0, "absent times are zero");
        tree_free(t);
}

/* ---- node_same and Tree.foreign: when a backup may reuse a parent tree ---- */

static Tree *decode_str(const char *json)
{
        Tree *t = NULL;
        cr_assert_eq(tree_decode(json, strlen(json), &t), 0, "%s", json);
        return t;
}

static Tree *encode_decode(const Tree *t)
{
        Buf b = {0};
        cr_assert_eq(tree_encode(t, &b), 0);
        Tree *back = NULL;
        cr_assert_eq(tree_decode(b.data, b.len, &back), 0);
        buf_free(&b);
        return back;
}

Test(tree, node_same_after_round_trip_and_fields_the_encoding_leaves_out)
{
        Tree *t = fixed_tree();
        Tree *back = encode_decode(t);
        cr_assert_not(back->foreign, "our own encoding is not foreign");
        cr_assert_eq(back->n, t->n);
        for (size_t i = 0; i < t->n; i++) {
                Node *n = &t->nodes[i];
                cr_assert(node_same(n, &back->nodes[i]), "%s", n->name);
                /* what stat gives but the encoding drops: a directory's or a
                 * link's size, rdev 0 or not for non-devices */
                if (n->type != NODE_FILE)
                        n->size = 4096;
                if (n->type != NODE_CHARDEV && n->type != NODE_BLOCKDEV)
                        n->rdev = 77;
                cr_assert(node_same(n, &back->nodes[i]), "%s with unencoded fields set", n->name);
        }
        tree_free(back);
        tree_free(t);
}

/* Every field tree_encode writes, changed one at a time on a copy of each
 * node of the fixed tree that has it, makes node_same false. */
Test(tree, node_same_sees_every_encoded_field)
{
        Tree *t = fixed_tree();
        Tree *back = encode_decode(t);
        enum { NAME, TYPE, MODE, UID, GID, MTIME_S, MTIME_NS, ATIME_S, ATIME_NS, CTIME_S, CTIME_NS, INODE, DEV, LINKS,
               SIZE, CONTENT_ID, CONTENT_N, SUBTREE_ID, SUBTREE_HAS, LINKTARGET, RDEV, XNAME, XVALUE, XLEN, XCOUNT,
               NFIELDS };
        int changed[NFIELDS] = {0};
        for (size_t i = 0; i < t->n; i++) {
                const Node *src = &t->nodes[i], *stored = &back->nodes[i];
                for (int f = 0; f < NFIELDS; f++) {
                        Node c;
                        cr_assert_eq(node_copy(src, &c), 0);
                        bool applies = true;
                        switch (f) {
                        case NAME: c.name[0] ^= 1; break;
                        case TYPE: c.type = c.type == NODE_FIFO ? NODE_SOCKET : NODE_FIFO; break;
                        case MODE: c.mode ^= 1; break;
                        case UID: c.uid++; break;
                        case GID: c.gid++; break;
                        case MTIME_S: c.mtime.sec++; break;
                        case MTIME_NS: c.mtime.nsec ^= 1; break;
                        case ATIME_S: c.atime.sec++; break;
                        case ATIME_NS: c.atime.nsec ^= 1; break;
                        case CTIME_S: c.ctime.sec++; break;
                        case CTIME_NS: c.ctime.nsec ^= 1; break;
                        case INODE: c.inode++; break;
                        case DEV: c.dev++; break;
                        case LINKS: c.links++; break;
                        case SIZE: applies = c.type == NODE_FILE; c.size++; break;
                        case CONTENT_ID: applies = c.ncontent > 1; if (applies) c.content[1][31] ^= 1; break;
                        case CONTENT_N: applies = c.ncontent > 1; c.ncontent = applies ? 1 : c.ncontent; break;
                        case SUBTREE_ID: applies = c.has_subtree; c.subtree[0] ^= 1; break;
                        case SUBTREE_HAS: applies = c.has_subtree; c.has_subtree = false; break;
                        case LINKTARGET: applies = c.linktarget != NULL; if (applies) c.linktarget[0] ^= 1; break;
                        case RDEV: applies = c.type == NODE_CHARDEV || c.type == NODE_BLOCKDEV; c.rdev++; break;
                        case XNAME: applies = c.nxattrs > 0; if (applies) c.xattrs[0].name[0] ^= 1; break;
                        case XVALUE: applies = c.nxattrs > 0; if (applies) c.xattrs[0].value[0] ^= 1; break;
                        case XLEN: applies = c.nxattrs > 0 && c.xattrs[0].len > 1; if (applies) c.xattrs[0].len--; break;
                        case XCOUNT: applies = c.nxattrs > 0; if (applies) c.nxattrs = 0; break;
                        }
                        if (applies) {
                                cr_assert_not(node_same(&c, stored), "%s: field %d changed", src->name, f);
                                changed[f]++;
                        }
                        if (f == CONTENT_N && applies)
                                c.ncontent = 2;
                        if (f == XCOUNT && applies)
                                c.nxattrs = 1;
                        node_clear(&c);
                }
        }
        for (int f = 0; f < NFIELDS; f++)
                cr_assert_gt(changed[f], 0, "field %d was never tried", f);
        tree_free(back);
        tree_free(t);
}

Test(tree, node_same_refuses_a_stored_field_the_encoding_would_leave_out)
{
        /* a dir stored with a size, a fifo with rdev or content, a file with
         * a subtree: decoding keeps them, so the blob is not what we write */
        static const char *const json[] = {
                "{\"nodes\":[{\"name\":\"d\",\"type\":\"dir\",\"mode\":493,\"size\":4096}]}",
                "{\"nodes\":[{\"name\":\"d\",\"type\":\"dir\",\"mode\":493,\"rdev\":1}]}",
                "{\"nodes\":[{\"name\":\"d\",\"type\":\"dir\",\"mode\":493,\"content\":"
                "[\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"]}]}",
                "{\"nodes\":[{\"name\":\"d\",\"type\":\"file\",\"mode\":493,\"size\":4096,\"subtree\":"
                "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}]}",
        };
        static const NodeType types[] = {NODE_DIR, NODE_DIR, NODE_DIR, NODE_FILE};
        for (size_t i = 0; i < ELEMENTSOF(json); i++) {
                Tree *stored = decode_str(json[i]);
                cr_assert_not(stored->foreign, "%s", json[i]);
                /* equal in every field but the one named (the file's size
                 * is written, and stored) */
                Node now = {.name = (char *)"d", .type = types[i], .mode = 0755, .size = 4096, .rdev = 1};
                cr_assert_not(node_same(&now, &stored->nodes[0]), "%s", json[i]);
                stored->nodes[0].has_subtree = false;
                stored->nodes[0].size = types[i] == NODE_FILE ? 4096 : 0;
                stored->nodes[0].rdev = 0;
                free(stored->nodes[0].content);
                stored->nodes[0].content = NULL;
                stored->nodes[0].ncontent = 0;
                cr_assert(node_same(&now, &stored->nodes[0]), "%s without its extra field", json[i]);
                tree_free(stored);
        }
        /* and without the extra field the same node is the same */
        Tree *stored = decode_str("{\"nodes\":[{\"name\":\"d\",\"type\":\"dir\",\"mode\":493}]}");
        Node now = {.name = (char *)"d", .type = NODE_DIR, .mode = 0755, .size = 4096};
        cr_assert(node_same(&now, &stored->nodes[0]));
        tree_free(stored);
}

Test(tree, foreign_keys_mark_the_tree)
{
        static const char *const foreign[] = {
                /* a key this version does not read, in a node, an xattr, the root */
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\",\"mode\":384,\"future\":1}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\",\"xattrs\":[{\"name\":\"user.a\",\"value\":\"00\","
                "\"flags\":1}]}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\"}],\"extra\":1}",
                /* a known key that this node's type does not read, or twice */
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\",\"linktarget\":\"y\"}]}",
                "{\"nodes\":[{\"name\":\"x\",\"name_hex\":\"78\",\"type\":\"fifo\"}]}",
                /* a value of a type it does not read */
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\",\"mode\":\"0600\"}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\",\"content\":{}}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(foreign); i++) {
                Tree *t = decode_str(foreign[i]);
                cr_assert(t->foreign, "%s", foreign[i]);
                tree_free(t);
        }
        static const char *const known[] = {
                "{\"nodes\":[]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"fifo\"}]}",
                "{\"nodes\":[{\"name_hex\":\"ff\",\"type\":\"symlink\",\"linktarget_hex\":\"fe\"}]}",
                "{\"nodes\":[{\"name\":\"x\",\"type\":\"file\",\"size\":0,\"content\":[],\"xattrs\":"
                "[{\"name_hex\":\"ff\",\"value\":\"\"}]}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                Tree *t = decode_str(known[i]);
                cr_assert_not(t->foreign, "%s", known[i]);
                tree_free(t);
        }
}
