/* prune.h — remove what no snapshot uses.
 *
 * Packs whose blobs are all unused are deleted; packs with some unused
 * blobs are repacked (their used blobs, still sealed, are copied into new
 * packs: nothing is decrypted or recompressed); packs that no index names
 * (left by an interrupted backup) are deleted. Order keeps every step
 * safe to interrupt: new packs, then a new index, then the old index
 * files are removed, then the old packs. Needs the exclusive lock. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "repo.h"

typedef struct PruneOptions {
        bool dry_run;
} PruneOptions;

typedef struct PruneStats {
        uint64_t packs_total, packs_kept, packs_repacked, packs_deleted, packs_unindexed;
        uint64_t blobs_used, blobs_unused, bytes_before, bytes_freed, bytes_repacked;
} PruneStats;

int prune_run(Repo *r, const PruneOptions *opt, PruneStats *st);
