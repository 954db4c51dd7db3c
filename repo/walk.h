/* walk.h — visiting every tree reachable from the snapshots, once each.
 *
 * check and prune both need "every blob some snapshot uses": this walks
 * each snapshot's trees depth first, skipping trees already seen (trees
 * dedup, so most of a repository's snapshots share most of their trees). */
#pragma once
#include "index.h"
#include "repo.h"
#include "snapshot.h"

/* Called for each node of each tree the first time the tree is seen.
 * path is the node's path inside the snapshot. A non-zero return stops. */
typedef int (*walk_node_cb)(const Snapshot *s, const char *path, const Node *n, void *ud);
/* Called when a tree cannot be loaded; return 0 to go on, non-zero to stop. */
typedef int (*walk_error_cb)(const Snapshot *s, const char *path, const uint8_t tree[ID_LEN], int rc, void *ud);

/* seen: a set of tree ids (an Index used as a set; may be shared between
 * calls). Adds every tree id it visits. */
int walk_snapshot(Repo *r, const Snapshot *s, Index *seen, walk_node_cb node_cb, walk_error_cb err_cb, void *ud);
