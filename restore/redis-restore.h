/* redis-restore.h (restore/redis.c) — load a Redis backup written by
 * backup/redis.c: the logical files into a server or a cluster, verified
 * against meta.json; the RDB into a data directory.
 *
 * The RESP commands of db<N>.resp stream from the source to the server
 * (a value passes through a fixed buffer), pipelined with a bounded window
 * of replies in flight; every reply is read and errors are counted, the
 * first one reported. Into a cluster each key goes to the master owning
 * its slot, MOVED and ASK followed. Then the verification: the keys and
 * the digest of the payloads sent must equal meta.json's per database
 * (the file is what was dumped, every command was accepted), and every key
 * sent must exist on the server (keys whose absolute expiry has passed
 * since the backup are counted as expired, not as missing). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "redis-client.h"
#include "source.h"

typedef struct RedisRestoreOptions {
        const RedisUrl *url;
        int db;            /* -1: every database in the backup */
        const char *match; /* only keys matching this glob, or NULL */
        bool flush;        /* FLUSHDB each target database first */
} RedisRestoreOptions;

typedef struct RedisRestoreStats {
        uint64_t keys, bytes, expired, commands;
        uint64_t strings_as_set;  /* big plain strings sent as SET, not RESTORE */
        uint64_t strings_batched; /* small plain strings without a TTL sent in MSETs */
        unsigned masters; /* 0: not a cluster */
} RedisRestoreStats;

/* Load the logical backup of src (meta.json, db<N>.resp or
 * <master>/db<N>.resp). Errors name the database and what differed. */
int redis_restore(Source *src, const RedisRestoreOptions *o, RedisRestoreStats *st);

/* Place src's RDB (name, or "dump.rdb" when NULL) as datadir/dump.rdb:
 * temp file, fsync, rename. Size and BLAKE2b-256 must equal meta.json's
 * (looked up in src, or in its parent for a cluster master's directory).
 * An existing dump.rdb is replaced only with force. */
int redis_restore_rdb(Source *src, const char *name, const char *datadir, bool force, uint64_t *size);
