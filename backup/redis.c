/* redis.c — Redis backup: logical (SCAN + pipelined PTTL/DUMP, written as
 * RESTORE commands) and point in time (the RDB of a SYNC), for one server
 * or every master of a cluster, into the archiver's virtual files.
 *
 * Logical dump, per batch of keys: SCAN and TIME through hiredis, then
 * "PTTL k" and "DUMP k" for every key written raw to the socket and the
 * replies read with RespReader, so each DUMP payload streams from the
 * socket buffer into the chunker and the digest — a 500 MiB value is never
 * held in memory. SCAN may return a key twice; a set of 128-bit key hashes
 * keeps each key once (a duplicate would cancel itself in the XOR digest). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "redis.h"
#include "util.h"

#define SCAN_COUNT "1000"

/* ------------------------------------------------------------------------ */
/* seen keys: open addressing over 16-byte key hashes (all-zero = empty) */

typedef struct Seen {
        uint8_t (*slot)[16];
        size_t n, cap;
} Seen;

/* 1 if the key was new (now added), 0 if seen before. */
static int seen_add(Seen *s, const char *key, size_t len)
{
        if (2 * (s->n + 1) > s->cap) {
                size_t nc = s->cap ? s->cap * 2 : 1 << 14;
                uint8_t(*ns)[16] = calloc(nc, 16);
                if (!ns)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++) {
                        if (util_all_zero(s->slot[i], 16))
                                continue;
                        uint64_t h;
                        memcpy(&h, s->slot[i], 8);
                        size_t j = h & (nc - 1);
                        while (!util_all_zero(ns[j], 16))
                                j = (j + 1) & (nc - 1);
                        memcpy(ns[j], s->slot[i], 16);
                }
                free(s->slot);
                s->slot = ns;
                s->cap = nc;
        }
        uint8_t h[16];
        crypto_generichash(h, sizeof(h), (const unsigned char *)key, len, NULL, 0);
        h[15] |= 1; /* never all zero */
        uint64_t v;
        memcpy(&v, h, 8);
        size_t j = v & (s->cap - 1);
        while (!util_all_zero(s->slot[j], 16)) {
                if (memcmp(s->slot[j], h, 16) == 0)
                        return 0;
                j = (j + 1) & (s->cap - 1);
        }
        memcpy(s->slot[j], h, 16);
        s->n++;
        return 1;
}

/* ------------------------------------------------------------------------ */
/* logical dump */

#define GROUP_MAX 1024                /* keys of one PTTL/DUMP group */
#define GROUP_BYTES (16u * 1024 * 1024) /* payload bytes a group aims below */

typedef struct Dump {
        size_t group; /* keys per group, adapted (see dump_batch) */
        Archiver *a;
        RespReader rd;
        RedisDigestKey dk;
        Buf out;
} Dump;

static int payload_cb(void *ud, const char *p, size_t n)
{
        Dump *d = ud;
        redis_digest_update(&d->dk, p, n);
        return archiver_vfile_write(d->a, p, n);
}

static int buf_puts(Buf *b, const char *s)
{
        return buf_append(b, s, strlen(s));
}

/* Write PTTL + DUMP for the keys idx[from..to) of a SCAN batch. */
static int send_group(redisContext *c, redisReply *keys, const size_t *idx, size_t from, size_t to)
{
        Buf cmd = {0};
        int rc = 0;
        for (size_t j = from; rc == 0 && j < to; j++) {
                redisReply *k = keys->element[idx[j]];
                rc = buf_puts(&cmd, "*2\r\n$4\r\nPTTL\r\n");
                if (rc == 0)
                        rc = resp_put_bulk(&cmd, k->str, k->len);
                if (rc == 0)
                        rc = buf_puts(&cmd, "*2\r\n$4\r\nDUMP\r\n");
                if (rc == 0)
                        rc = resp_put_bulk(&cmd, k->str, k->len);
        }
        if (rc == 0 && cmd.len && (rc = util_write_full(c->fd, cmd.data, cmd.len)) < 0)
                error_set("sending to the server: %s", strerror(-rc));
        buf_free(&cmd);
        return rc;
}

/* Read the PTTL and DUMP replies of one key; write its RESTORE command.
 * *bytes grows by the payload's length. */
static int dump_key(Dump *d, redisReply *k, int64_t now_ms, uint64_t *nkeys, unsigned char dg[REDIS_DIGEST_MAX],
                    uint64_t *bytes)
{
        char *line;
        size_t len;
        int rc = resp_read_line(&d->rd, &line, &len);
        if (rc < 0)
                return rc;
        if (line[0] != ':')
                return error_ret(-EIO, "PTTL: %s", line[0] == '-' ? line + 1 : "unexpected reply");
        long long ttl = strtoll(line + 1, NULL, 10);
        if ((rc = resp_read_line(&d->rd, &line, &len)) < 0)
                return rc;
        if (line[0] == '-')
                return error_ret(-EIO, "DUMP: %s", line + 1);
        if (line[0] != '$')
                return error_ret(-EPROTO, "DUMP: unexpected reply");
        long long plen = strtoll(line + 1, NULL, 10);
        if (plen < 0)
                return 0; /* gone since SCAN saw it */
        bool abs = ttl >= 0;
        char ttls[32], plens[RESP_HEADER_MAX];
        snprintf(ttls, sizeof(ttls), "%" PRId64, abs ? now_ms + (int64_t)ttl : (int64_t)0);
        size_t plen_n = resp_header(plens, '$', (uint64_t)plen);
        d->out.len = 0;
        rc = buf_puts(&d->out, abs ? "*6\r\n$7\r\nRESTORE\r\n" : "*5\r\n$7\r\nRESTORE\r\n");
        if (rc == 0)
                rc = resp_put_bulk(&d->out, k->str, k->len);
        if (rc == 0)
                rc = resp_put_bulk(&d->out, ttls, strlen(ttls));
        if (rc == 0)
                rc = buf_append(&d->out, plens, plen_n);
        if (rc == 0)
                rc = archiver_vfile_write(d->a, d->out.data, d->out.len);
        if (rc == 0)
                rc = redis_digest_begin(&d->dk, k->str, k->len);
        if (rc == 0)
                rc = resp_read_bytes(&d->rd, (uint64_t)plen, true, payload_cb, d);
        if (rc == 0)
                redis_digest_end(&d->dk, dg);
        const char *tail = abs ? "\r\n$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n" : "\r\n$7\r\nREPLACE\r\n";
        if (rc == 0)
                rc = archiver_vfile_write(d->a, tail, strlen(tail));
        *bytes += (uint64_t)plen;
        (*nkeys)++;
        return rc;
}

/* PTTL + DUMP for every key of a SCAN batch, in groups with one more group
 * in flight while a group's replies are read. The group size adapts to
 * the payloads: big values shrink it (down to one key), so the server
 * never buffers more than a couple of big replies for us; small ones grow
 * it, so small keys go in few round trips. */
static int dump_batch(Dump *d, redisContext *c, redisReply *keys, int64_t now_ms, Seen *seen, uint64_t *nkeys,
                      unsigned char dg[REDIS_DIGEST_MAX])
{
        size_t *idx = malloc((keys->elements ? keys->elements : 1) * sizeof(size_t)), n = 0;
        if (!idx)
                return -ENOMEM;
        int rc = 0;
        for (size_t i = 0; i < keys->elements; i++) {
                redisReply *k = keys->element[i];
                int s = seen_add(seen, k->str, k->len);
                if (s < 0) {
                        rc = s;
                        break;
                }
                if (s == 1)
                        idx[n++] = i;
        }
        /* groups in flight: [g0, g1) being read, [g1, g2) sent after it */
        size_t g0 = 0, g1 = MIN(n, d->group), g2 = MIN(n, g1 + d->group);
        if (rc == 0)
                rc = send_group(c, keys, idx, g0, g2);
        /* on an error the connection is given up: replies need not be drained */
        while (rc == 0 && g0 < n) {
                uint64_t bytes = 0;
                for (size_t j = g0; rc == 0 && j < g1; j++)
                        rc = dump_key(d, keys->element[idx[j]], now_ms, nkeys, dg, &bytes);
                if (rc < 0)
                        break;
                if (bytes > GROUP_BYTES)
                        d->group = MAX(d->group / 4, 1);
                else if (bytes < GROUP_BYTES / 16)
                        d->group = MIN(d->group * 2, GROUP_MAX);
                g0 = g1;
                g1 = g2;
                g2 = MIN(n, g1 + d->group);
                rc = send_group(c, keys, idx, g1, g2);
        }
        free(idx);
        return rc;
}

/* Dump database db into the file path; count and digest its keys. */
static int dump_db(Dump *d, redisContext *c, const char *path, int db, const char *match, uint64_t *nkeys,
                   unsigned char dg[REDIS_DIGEST_MAX])
{
        int rc = redis_cmd(c, NULL, "SELECT %d", db);
        if (rc < 0)
                return rc;
        if ((rc = archiver_vfile_begin(d->a, path)) < 0)
                return rc;
        char dbs[16];
        snprintf(dbs, sizeof(dbs), "%d", db);
        d->out.len = 0;
        rc = buf_puts(&d->out, "*2\r\n$6\r\nSELECT\r\n");
        if (rc == 0)
                rc = resp_put_bulk(&d->out, dbs, strlen(dbs));
        if (rc == 0)
                rc = archiver_vfile_write(d->a, d->out.data, d->out.len);
        Seen seen = {0};
        char cursor[32] = "0";
        do {
                redisReply *r, *t;
                if (match)
                        rc = redis_cmd(c, &r, "SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor, match);
                else
                        rc = redis_cmd(c, &r, "SCAN %s COUNT " SCAN_COUNT, cursor);
                if (rc < 0)
                        break;
                if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
                    r->element[1]->type != REDIS_REPLY_ARRAY) {
                        freeReplyObject(r);
                        rc = error_ret(-EPROTO, "unexpected SCAN reply");
                        break;
                }
                snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
                /* the server's clock turns PTTL into an absolute expiry */
                int64_t now_ms = 0;
                if ((rc = redis_cmd(c, &t, "TIME")) == 0) {
                        if (t->type == REDIS_REPLY_ARRAY && t->elements == 2)
                                now_ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
                                         strtoll(t->element[1]->str, NULL, 10) / 1000;
                        freeReplyObject(t);
                }
                if (rc == 0)
                        rc = dump_batch(d, c, r->element[1], now_ms, &seen, nkeys, dg);
                freeReplyObject(r);
        } while (rc == 0 && strcmp(cursor, "0") != 0);
        free(seen.slot);
        if (rc == 0)
                rc = archiver_vfile_end(d->a);
        return rc;
}

/* ------------------------------------------------------------------------ */
/* RDB through the replication protocol, as redis-cli --rdb: REPLCONF capa
 * eof (so a diskless master may stream), REPLCONF rdb-only 1 (Redis 7: no
 * replication stream afterwards; older servers refuse it, harmlessly),
 * SYNC. The master sends "\n" keep-alives while it prepares, then either
 * "$<len>\r\n" and len bytes, or "$EOF:<40-byte mark>\r\n", the bytes, and
 * the mark again at the end. */

#define EOF_MARK_LEN 40

typedef struct Rdb {
        Archiver *a;
        crypto_generichash_state h;
        uint64_t size;
        char magic[5];
} Rdb;

static int rdb_cb(void *ud, const char *p, size_t n)
{
        Rdb *r = ud;
        for (size_t i = 0; i < n && r->size + i < sizeof(r->magic); i++)
                r->magic[r->size + i] = p[i];
        r->size += n;
        crypto_generichash_update(&r->h, (const unsigned char *)p, n);
        return archiver_vfile_write(r->a, p, n);
}

/* The diskless framing: everything up to the closing mark. The last
 * EOF_MARK_LEN bytes are held back until more arrive, so the mark itself
 * is never written; bytes after it (none with rdb-only) are ignored. */
static int rdb_read_eof(RespReader *rd, Rdb *r, const char *mark)
{
        enum { WIN = 1 << 20 };
        _cleanup_free_ char *win = malloc(WIN + EOF_MARK_LEN);
        size_t held = 0;
        if (!win)
                return -ENOMEM;
        for (;;) {
                const char *p;
                size_t n;
                int rc = resp_read_some(rd, &p, &n);
                if (rc < 0)
                        return rc;
                while (n > 0) {
                        size_t k = MIN(n, (size_t)WIN + EOF_MARK_LEN - held);
                        memcpy(win + held, p, k);
                        held += k;
                        p += k;
                        n -= k;
                        const char *m = memmem(win, held, mark, EOF_MARK_LEN);
                        if (m)
                                return rdb_cb(r, win, (size_t)(m - win));
                        if (held > EOF_MARK_LEN) {
                                size_t out = held - EOF_MARK_LEN;
                                if ((rc = rdb_cb(r, win, out)) < 0)
                                        return rc;
                                memmove(win, win + out, EOF_MARK_LEN);
                                held = EOF_MARK_LEN;
                        }
                }
        }
}

static int rdb_dump(Archiver *a, redisContext *c, const char *path, json_t **info)
{
        int rc = redis_cmd(c, NULL, "REPLCONF capa eof");
        if (rc < 0)
                return rc;
        redisReply *ro = redisCommand(c, "REPLCONF rdb-only 1");
        if (!ro)
                return error_ret(-EIO, "%s", c->errstr);
        freeReplyObject(ro);
        if ((rc = util_write_full(c->fd, "SYNC\r\n", 6)) < 0)
                return error_ret(rc, "sending SYNC: %s", strerror(-rc));
        RespReader rd;
        resp_reader_init(&rd, c->fd);
        Rdb r = {.a = a};
        crypto_generichash_init(&r.h, NULL, 0, 32);
        char *line, mark[EOF_MARK_LEN];
        size_t len;
        rc = resp_skip_newlines(&rd);
        if (rc == 0)
                rc = resp_read_line(&rd, &line, &len);
        if (rc == 0 && line[0] == '-')
                rc = error_ret(-EIO, "SYNC: %s", line + 1);
        else if (rc == 0 && line[0] != '$')
                rc = error_ret(-EPROTO, "SYNC: unexpected reply");
        bool eof = rc == 0 && strncmp(line, "$EOF:", 5) == 0;
        long long total = -1;
        if (rc == 0 && eof) {
                if (len != 5 + EOF_MARK_LEN)
                        rc = error_ret(-EPROTO, "SYNC: bad EOF mark");
                else
                        memcpy(mark, line + 5, EOF_MARK_LEN);
        } else if (rc == 0) {
                total = strtoll(line + 1, NULL, 10);
                if (total < 0)
                        rc = error_ret(-EPROTO, "SYNC: bad payload length");
        }
        if (rc == 0)
                rc = archiver_vfile_begin(a, path);
        if (rc == 0)
                rc = eof ? rdb_read_eof(&rd, &r, mark) : resp_read_bytes(&rd, (uint64_t)total, false, rdb_cb, &r);
        resp_reader_free(&rd);
        if (rc < 0) {
                error_prefix("RDB transfer, after %" PRIu64 " bytes", r.size);
                return rc;
        }
        if (r.size < 9 || memcmp(r.magic, "REDIS", 5) != 0)
                return error_ret(-EPROTO, "SYNC sent %" PRIu64 " bytes that are not an RDB file", r.size);
        if ((rc = archiver_vfile_end(a)) < 0)
                return rc;
        unsigned char h[32];
        char hex[65];
        crypto_generichash_final(&r.h, h, sizeof(h));
        util_hex(h, sizeof(h), hex);
        *info = json_pack("{s:I, s:s, s:s}", "size", (json_int_t)r.size, "blake2b", hex, "framing",
                          eof ? "eof-mark" : "length");
        return 0;
}

/* ------------------------------------------------------------------------ */
/* one server (or one master of a cluster) */

/* Databases with keys, from INFO keyspace ("db3:keys=10,expires=0,..."). */
static int keyspace_dbs(redisContext *c, int **out, size_t *n)
{
        redisReply *r;
        int rc = redis_cmd(c, &r, "INFO keyspace");
        if (rc < 0)
                return rc;
        *out = NULL;
        *n = 0;
        for (const char *p = r->str; p && (p = strstr(p, "db")); p += 2) {
                if (p != r->str && p[-1] != '\n')
                        continue;
                char *end;
                long db = strtol(p + 2, &end, 10);
                if (end == p + 2 || *end != ':')
                        continue;
                int *v = realloc(*out, (*n + 1) * sizeof(int));
                if (!v) {
                        freeReplyObject(r);
                        return -ENOMEM;
                }
                *out = v;
                v[(*n)++] = (int)db;
        }
        freeReplyObject(r);
        return 0;
}

/* Dump one server into files under prefix ("redis/" or "redis/h:p/");
 * fill node with "dbs" and "rdb". */
static int dump_server(Archiver *a, redisContext *c, const char *prefix, const RedisBackupOptions *o, json_t *node)
{
        char path[512];
        int rc = 0;
        if (o->mode & REDIS_MODE_LOGICAL) {
                int *dbs = NULL, one = o->db >= 0 ? o->db : o->url->db;
                size_t n = 0;
                if (one >= 0) {
                        if (!(dbs = malloc(sizeof(int))))
                                return -ENOMEM;
                        dbs[0] = one;
                        n = 1;
                } else if ((rc = keyspace_dbs(c, &dbs, &n)) < 0) {
                        return rc;
                }
                json_t *jdbs = json_object();
                json_object_set_new(node, "dbs", jdbs);
                Dump d = {.a = a, .group = 256};
                resp_reader_init(&d.rd, c->fd);
                for (size_t i = 0; rc == 0 && i < n; i++) {
                        uint64_t nk = 0;
                        unsigned char dg[REDIS_DIGEST_MAX] = {0};
                        char hex[2 * REDIS_DIGEST_MAX + 1], name[16];
                        snprintf(path, sizeof(path), "%sdb%d.resp", prefix, dbs[i]);
                        rc = dump_db(&d, c, path, dbs[i], o->match, &nk, dg);
                        if (rc < 0) {
                                error_prefix("db%d", dbs[i]);
                                break;
                        }
                        util_hex(dg, redis_digest_len(d.dk.alg), hex);
                        snprintf(name, sizeof(name), "%d", dbs[i]);
                        json_object_set_new(jdbs, name, json_pack("{s:I, s:s}", "keys", (json_int_t)nk, "digest", hex));
                }
                resp_reader_free(&d.rd);
                redis_digest_free(&d.dk);
                buf_free(&d.out);
                free(dbs);
        }
        if (rc == 0 && (o->mode & REDIS_MODE_RDB)) {
                json_t *info = NULL;
                snprintf(path, sizeof(path), "%sdump.rdb", prefix);
                rc = rdb_dump(a, c, path, &info);
                if (rc == 0)
                        json_object_set_new(node, "rdb", info);
        }
        return rc;
}

/* Add node's per-database counts and digests into the totals. */
static void dbs_merge(json_t *total, json_t *dbs)
{
        const char *name;
        json_t *v;
        json_object_foreach(dbs, name, v) {
                json_t *t = json_object_get(total, name);
                const size_t len = redis_digest_len(REDIS_DIGEST_XXH3);
                unsigned char acc[REDIS_DIGEST_MAX] = {0}, x[REDIS_DIGEST_MAX];
                json_int_t keys = 0;
                if (t) {
                        util_unhex(json_string_value(json_object_get(t, "digest")), acc, len);
                        keys = json_integer_value(json_object_get(t, "keys"));
                }
                util_unhex(json_string_value(json_object_get(v, "digest")), x, len);
                for (size_t i = 0; i < len; i++)
                        acc[i] ^= x[i];
                char hex[2 * REDIS_DIGEST_MAX + 1];
                util_hex(acc, len, hex);
                json_object_set_new(total, name,
                                    json_pack("{s:I, s:s}", "keys",
                                              keys + json_integer_value(json_object_get(v, "keys")), "digest", hex));
        }
}

static int dump_cluster(Archiver *a, redisContext *c, const RedisBackupOptions *o, json_t *meta)
{
        RedisNode *nodes;
        size_t n;
        int rc = redis_cluster_masters(c, o->url->host, &nodes, &n);
        if (rc < 0)
                return rc;
        json_t *jnodes = json_object(), *total = json_object();
        json_object_set_new(meta, "nodes", jnodes);
        for (size_t i = 0; rc == 0 && i < n; i++) {
                char name[300], prefix[320];
                snprintf(name, sizeof(name), "%s:%d", nodes[i].host, nodes[i].port);
                snprintf(prefix, sizeof(prefix), "redis/%s/", name);
                redisContext *nc;
                if ((rc = redis_connect(o->url, nodes[i].host, nodes[i].port, &nc)) < 0) {
                        error_prefix("master %s", name);
                        break;
                }
                json_t *slots = json_array();
                for (size_t k = 0; k < nodes[i].nslots; k++)
                        json_array_append_new(slots, json_pack("[i, i]", nodes[i].slots[k][0], nodes[i].slots[k][1]));
                json_t *node = json_pack("{s:s, s:o}", "id", nodes[i].id, "slots", slots);
                json_object_set_new(jnodes, name, node);
                rc = dump_server(a, nc, prefix, o, node);
                if (rc < 0)
                        error_prefix("master %s", name);
                redisFree(nc);
                if (rc == 0)
                        dbs_merge(total, json_object_get(node, "dbs"));
        }
        json_object_set_new(meta, "dbs", total);
        redis_nodes_free(nodes, n);
        return rc;
}

int redis_backup_run(Archiver *a, const RedisBackupOptions *o, json_t **meta_out)
{
        redisContext *c;
        int rc = redis_connect(o->url, NULL, 0, &c);
        if (rc < 0)
                return rc;
        const char *mode = o->mode == REDIS_MODE_BOTH ? "both" : o->mode == REDIS_MODE_RDB ? "rdb" : "logical";
        json_t *meta = json_pack("{s:i, s:s, s:s}", "format", 1, "digest", REDIS_DIGEST_NAME, "mode", mode);
        int cluster = redis_is_cluster(c);
        if (cluster < 0)
                rc = cluster;
        else if (cluster && (o->db > 0 || o->url->db > 0))
                rc = error_ret(-EINVAL, "a cluster has only database 0");
        else if (cluster)
                rc = dump_cluster(a, c, o, meta);
        else
                rc = dump_server(a, c, "redis/", o, meta);
        json_object_set_new(meta, "cluster", json_boolean(cluster > 0));
        redisFree(c);
        char *s = NULL;
        if (rc == 0) {
                s = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
                rc = s ? archiver_vfile_begin(a, "redis/meta.json") : -ENOMEM;
        }
        if (rc == 0)
                rc = archiver_vfile_write(a, s, strlen(s));
        if (rc == 0)
                rc = archiver_vfile_write(a, "\n", 1);
        if (rc == 0)
                rc = archiver_vfile_end(a);
        free(s);
        if (rc < 0) {
                json_decref(meta);
                return rc;
        }
        *meta_out = meta;
        return 0;
}
