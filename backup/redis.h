/* redis.h — Redis backup into the virtual files of one snapshot.
 *
 * Files, under redis/ (a cluster: under redis/<host>:<port>/ per master):
 *   db<N>.resp  logical: "SELECT N", then per key
 *               "RESTORE key <ms> payload REPLACE [ABSTTL]" (<ms>: the
 *               absolute expiry in ms with ABSTTL, 0 without expiry) —
 *               valid input for redis-cli --pipe
 *   dump.rdb    point in time: the RDB a SYNC sends, as redis-cli --rdb
 *   meta.json   (redis/ only) per database the key count and digest
 *               (redis-client.h), per RDB its size and BLAKE2b-256, and
 *               for a cluster every master's id, address and slots.
 * Any Redis or connection error fails the whole backup. */
#pragma once
#include <jansson.h>

#include "archiver.h"
#include "redis-client.h"

enum { REDIS_MODE_LOGICAL = 1, REDIS_MODE_RDB = 2, REDIS_MODE_BOTH = 3 };

typedef struct RedisBackupOptions {
        const RedisUrl *url;
        int mode;          /* REDIS_MODE_* */
        int db;            /* -1: every database with keys (or the URL's) */
        const char *match; /* SCAN MATCH pattern or NULL */
} RedisBackupOptions;

/* Dump into the archiver's virtual files, meta.json included; *meta_out
 * (caller decrefs) gets meta.json's content. The caller runs
 * archiver_vfinish and saves the snapshot. */
int redis_backup_run(Archiver *a, const RedisBackupOptions *o, json_t **meta_out);
