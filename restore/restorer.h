/* restorer.h — restore a snapshot tree (or part of it) into a directory.
 *
 * Three passes: (1) walk the snapshot's trees: create directories,
 * symlinks, devices and fifos, and list every file and the blobs it is made
 * of; (2) fill file contents in parallel, reading packs in order with
 * adjacent blobs coalesced into one read and writing with pwrite at each
 * blob's offset (all-zero blobs are skipped, so holes stay holes), while
 * the calling thread creates the files at their final size, and hard links,
 * in walk order (a worker that reaches a file first waits for it): the
 * first reads are in flight before the last file exists; (3) metadata:
 * owner, mode, xattrs, times; a file's as soon as its last blob is written
 * (by the worker that wrote it), the rest at the end, directories last and
 * deepest first so their mtimes survive. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "repo.h"

typedef struct RestoreOptions {
        const char *target;
        const char *const *includes; /* NULL-terminated globs or NULL */
        const char *const *excludes;
        bool verify;
        unsigned workers; /* 0: 2 per CPU */
        void (*warn)(const char *path, const char *msg, void *ud);
        void *ud;
} RestoreOptions;

typedef struct RestoreStats {
        uint64_t files, dirs, others, bytes_total, bytes_done, errors;
        uint64_t files_incomplete; /* some contents unreadable (among errors) */
        uint64_t dirs_incomplete;  /* tree unreadable: contents unknown (among errors) */
        /* remote: packs read while the snapshot's trees were walked, and of
         * those the ones read again after (their read failed) */
        uint64_t packs_read_ahead, packs_read_again;
} RestoreStats;

typedef struct Restorer Restorer;

int restorer_new(Repo *r, const RestoreOptions *opt, Restorer **out);
void restorer_free(Restorer *rs);
/* Restore the node `root` found at `root_path` (absolute path in the
 * snapshot, for include/exclude matching): a directory's contents go into
 * the target, which gets the directory's metadata; a file goes into the
 * target under its own name. */
int restorer_run(Restorer *rs, const Node *root, const char *root_path);
void restorer_stats(Restorer *rs, RestoreStats *out);

/* Resolve an absolute path inside a snapshot tree. The node is copied
 * into *out (node_clear it). The root itself ("/") is a directory node
 * named "/" with the given tree. */
int restorer_lookup(Repo *r, const uint8_t tree[ID_LEN], const char *path, Node *out);
