/* walk.c — see walk.h. */
#include "walk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

typedef struct Walk {
        Repo *repo;
        const Snapshot *snap;
        Index *seen;
        walk_node_cb node_cb;
        walk_error_cb err_cb;
        void *ud;
} Walk;

static int walk_tree(Walk *w, const uint8_t id[ID_LEN], const char *path)
{
        IndexEntry mark = {.pack = 0, .type = BLOB_TREE};
        int added = index_add(w->seen, id, &mark);
        if (added <= 0)
                return added; /* seen already, or out of memory */
        Tree *t;
        int rc = repo_tree_load(w->repo, id, &t);
        if (rc < 0)
                return w->err_cb ? w->err_cb(w->snap, path, id, rc, w->ud) : rc;
        for (size_t i = 0; rc == 0 && i < t->n; i++) {
                const Node *n = &t->nodes[i];
                size_t l = strlen(path) + strlen(n->name) + 2;
                char *p = malloc(l);
                if (!p) {
                        rc = -ENOMEM;
                        break;
                }
                snprintf(p, l, "%s/%s", strcmp(path, "/") == 0 ? "" : path, n->name);
                if (w->node_cb)
                        rc = w->node_cb(w->snap, p, n, w->ud);
                if (rc == 0 && n->type == NODE_DIR && n->has_subtree)
                        rc = walk_tree(w, n->subtree, p);
                free(p);
        }
        tree_free(t);
        return rc;
}

int walk_snapshot(Repo *r, const Snapshot *s, Index *seen, walk_node_cb node_cb, walk_error_cb err_cb, void *ud)
{
        Walk w = {r, s, seen, node_cb, err_cb, ud};
        return walk_tree(&w, s->tree, "/");
}
