/* check.h — verify a repository: index files, packs (sizes, and with
 * read_data every byte: pack hash, header, every blob's authentication and
 * id), snapshots and every tree and blob they reference. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "repo.h"

typedef struct CheckOptions {
        bool read_data;
        unsigned workers; /* for read_data; 0: one per CPU */
        /* each problem, one line; error is false for notes (unreferenced packs) */
        void (*report)(bool error, const char *msg, void *ud);
        void *ud;
} CheckOptions;

typedef struct CheckStats {
        uint64_t packs, packs_read, bytes_read, bytes_to_read, snapshots, trees, errors;
} CheckStats;

/* Returns 0 when the check ran (look at stats->errors), negative errno
 * when it could not run. Builds the in-memory index itself: open the
 * repository without repo_load_index(). */
int check_run(Repo *r, const CheckOptions *opt, CheckStats *stats);
