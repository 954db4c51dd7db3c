/* archiver.h — back up paths of the local filesystem into one tree.
 *
 * The tree mirrors absolute paths as restic does: backing up /srv/data
 * gives root -> srv -> data -> ...; the intermediate directories carry their
 * real metadata. With a parent tree, a file whose size, mtime, ctime and
 * inode are unchanged takes its content list from the parent without being
 * read. Unreadable entries are reported through warn() and left out. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "repo.h"

typedef struct ArchiverOptions {
        const char *const *excludes; /* NULL-terminated glob patterns, or NULL */
        bool one_file_system;
        const uint8_t *parent_tree; /* NULL: no parent */
        unsigned workers;           /* 0: one per CPU */
        void (*warn)(const char *path, const char *msg, void *ud);
        void *ud;
} ArchiverOptions;

typedef struct ArchiverStats {
        uint64_t files_new, files_changed, files_unmodified;
        uint64_t dirs_new, dirs_changed, dirs_unmodified;
        uint64_t trees_reused; /* directories stored as the parent's tree blob, not encoded again */
        uint64_t total_files, total_dirs, total_bytes, bytes_read;
        uint64_t errors; /* entries skipped because they could not be read */
} ArchiverStats;

typedef struct Archiver Archiver;

int archiver_new(Repo *r, const ArchiverOptions *opt, Archiver **out);
void archiver_free(Archiver *a);
/* Back up paths; tree_out gets the root tree. Blobs are saved and
 * repo_flush() is done before this returns 0. */
int archiver_run(Archiver *a, const char *const *paths, size_t n, uint8_t tree_out[ID_LEN]);
/* Back up one stream (stdin, a command's output) as the file "name" at the
 * root of the tree. mode/uid/gid/mtime: now and the caller's. */
int archiver_run_stream(Archiver *a, int fd, const char *name, uint8_t tree_out[ID_LEN]);
/* Virtual files, for database dumps: begin a file at a relative path in
 * the snapshot ("redis/db0.resp"), write its bytes (chunked and saved as
 * they come: nothing is staged), end it; after the last one,
 * archiver_vfinish builds the directories and saves the tree, and
 * everything is flushed as with archiver_run. */
int archiver_vfile_begin(Archiver *a, const char *path);
int archiver_vfile_write(Archiver *a, const void *p, size_t n);
int archiver_vfile_end(Archiver *a);
int archiver_vfinish(Archiver *a, uint8_t tree_out[ID_LEN]);
/* Thread-safe snapshot of the counters, for progress. */
void archiver_stats(Archiver *a, ArchiverStats *out);
/* Make a path absolute and lexically clean ("//a/./b/../c/" -> "/a/c"). */
char *archiver_abspath(const char *path);
