/* redis.c — cairn restore redis / redis-rdb (see redis-restore.h).
 *
 * The loader reads each command of a .resp file with RespReader: "*N",
 * then N times "$L" and L bytes. Arguments 0-2 (name, key, TTL) are kept
 * to route the command and to remember the key for the verification;
 * the rest, the DUMP payload above all, is copied piece by piece into the
 * output buffer of the connection that owns the key, flushed at 256 KiB.
 * Each connection counts its replies in flight and reads one back when it
 * has WINDOW of them. Into a cluster a copy of every command in flight is
 * kept, to send again where a MOVED or ASK reply points.
 *
 * A big plain string (a DUMP payload of type string, raw, of at least
 * SET_MIN bytes) goes as SET key value [PX|PXAT ttl] instead of its RESTORE:
 * the server then neither checks the payload's CRC64 nor copies the value
 * out of it, which took most of its time (128 values of 8 MiB: 2.27-2.53 s
 * by redis-cli --pipe of the RESTOREs, 0.85-1.52 s of the same as SETs).
 * The value, its TTL and what REPLACE does are the same; the payload's
 * integrity is the repository's (authenticated encryption) and the digest
 * of every payload checked against the backup's afterwards.
 *
 * The other plain strings without a TTL (raw or integer-encoded, shorter
 * than SET_MIN) go into one MSET of up to MSET_KEYS keys, sent before any
 * other command: the server then runs one command for many keys, and
 * neither checks a CRC64 nor decodes a payload for them (1,000,000 small
 * keys, 60% such strings: 15-25% less of the server's CPU, which is what
 * bounds that restore). Not into a cluster, where one MSET takes one slot. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "error.h"
#include "redis-restore.h"
#include "util.h"

#define WINDOW 4096
#define FLUSH_AT (256u * 1024)
#define SLOTS 16384
#define DBSIZE "*1\r\n$6\r\nDBSIZE\r\n"
#define SET_MIN (64u * 1024)
#define MSET_KEYS 128
#define MSET_BYTES (64u * 1024)

typedef struct Pending {
        uint8_t *cmd; /* cluster: the command, to send again; else NULL */
        size_t len;
        uint32_t keys; /* the commands it stands for (an MSET: its keys); 0: an ASKING */
} Pending;

typedef struct Conn {
        redisContext *c;
        char name[300];
        RespReader rd;
        Buf out;
        Pending *q; /* ring of replies in flight */
        size_t qhead, qn, qcap;
} Conn;

typedef struct Key {
        char *k;
        size_t len;
        int64_t expire_ms; /* absolute, 0: none */
} Key;

typedef struct Loader {
        const RedisRestoreOptions *o;
        bool cluster;
        Conn *conns;
        size_t nconns;
        uint16_t owner[SLOTS]; /* slot -> conn index */
        /* the current database's keys, for the verification */
        Key *keys;
        size_t nkeys, capkeys;
        uint64_t exists, errors, commands, bytes, sets, msets;
        bool empty; /* the target database was empty before the load */
        char first_err[512];
        /* the command being read */
        Buf head;    /* "*N" and arguments 0-2 as RESP */
        Buf copy;    /* cluster: the whole command */
        Buf arg[3];  /* arguments 0-2 */
        bool abs;    /* ABSTTL seen */
        bool replace; /* REPLACE seen */
        bool as_set;  /* the RESTORE goes as a SET (see the top) */
        bool as_mset; /* the RESTORE goes into the MSET batch (see the top) */
        Buf mset;     /* the batch: key and value of each, as RESP */
        uint32_t mset_keys;
        RedisDigestKey dk; /* its algorithm: the one the backup names */
        unsigned char dg[REDIS_DIGEST_MAX];
        Conn *to; /* where the current command goes; NULL: skipped */
} Loader;

/* ------------------------------------------------------------------------ */
/* connections */

static int conn_add(Loader *l, const char *host, int port, size_t *idx)
{
        for (size_t i = 0; i < l->nconns; i++) {
                char name[300];
                snprintf(name, sizeof(name), "%s:%d", host, port);
                if (strcmp(l->conns[i].name, name) == 0) {
                        *idx = i;
                        return 0;
                }
        }
        Conn *v = realloc(l->conns, (l->nconns + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        l->conns = v;
        Conn *c = &v[l->nconns];
        memset(c, 0, sizeof(*c));
        snprintf(c->name, sizeof(c->name), "%s:%d", host, port);
        int rc = redis_connect(l->o->url, host, port, &c->c);
        if (rc < 0) {
                error_prefix("%s", c->name);
                return rc;
        }
        resp_reader_init(&c->rd, c->c->fd);
        *idx = l->nconns++;
        return 0;
}

static void conns_free(Loader *l)
{
        for (size_t i = 0; i < l->nconns; i++) {
                Conn *c = &l->conns[i];
                redisFree(c->c);
                resp_reader_free(&c->rd);
                buf_free(&c->out);
                for (size_t k = 0; k < c->qn; k++)
                        free(c->q[(c->qhead + k) % c->qcap].cmd);
                free(c->q);
        }
        free(l->conns);
}

/* A write failed: the server may have said why before it closed the
 * connection (a value over its proto-max-bulk-len); read the replies it
 * sent until that error. */
static int send_failed(Conn *c, int rc)
{
        char *line;
        size_t len;
        error_clear();
        for (size_t i = 0; i <= c->qn && resp_read_line(&c->rd, &line, &len) == 0; i++)
                if (line[0] == '-') {
                        error_clear();
                        error_set("%s: %s", c->name, line + 1);
                        return -EIO;
                }
        error_clear();
        error_set("%s: sending: %s", c->name, strerror(-rc));
        return rc;
}

static int conn_flush(Conn *c)
{
        if (!c->out.len)
                return 0;
        int rc = util_write_full(c->c->fd, c->out.data, c->out.len);
        c->out.len = 0;
        return rc < 0 ? send_failed(c, rc) : 0;
}

static int conn_write(Conn *c, const void *p, size_t n)
{
        if (c->out.len + n > FLUSH_AT) {
                int rc = conn_flush(c);
                if (rc < 0)
                        return rc;
                if (n > FLUSH_AT) {
                        rc = util_write_full(c->c->fd, p, n);
                        return rc < 0 ? send_failed(c, rc) : 0;
                }
        }
        return buf_append(&c->out, p, n);
}

static int push_pending(Conn *c, uint8_t *cmd, size_t len, uint32_t keys)
{
        if (c->qn == c->qcap) {
                size_t nc = c->qcap ? c->qcap * 2 : 64;
                Pending *q = malloc(nc * sizeof(*q));
                if (!q)
                        return -ENOMEM;
                for (size_t k = 0; k < c->qn; k++)
                        q[k] = c->q[(c->qhead + k) % c->qcap];
                free(c->q);
                c->q = q;
                c->qhead = 0;
                c->qcap = nc;
        }
        c->q[(c->qhead + c->qn++) % c->qcap] = (Pending){cmd, len, keys};
        return 0;
}

static int discard_cb(void *ud, const char *p, size_t n)
{
        return 0;
}

/* Skip the rest of a reply whose first line is line (nested arrays). */
static int skip_reply(Conn *c, const char *line)
{
        long long n = strtoll(line + 1, NULL, 10);
        if (line[0] == '$' && n >= 0)
                return resp_read_bytes(&c->rd, (uint64_t)n, true, discard_cb, NULL);
        if (line[0] == '*')
                for (long long i = 0; i < n; i++) {
                        char *l2;
                        size_t len;
                        int rc = resp_read_line(&c->rd, &l2, &len);
                        if (rc == 0)
                                rc = skip_reply(c, l2);
                        if (rc < 0)
                                return rc;
                }
        return 0;
}

static int send_to(Loader *l, size_t idx, uint8_t *cmd, size_t len, uint32_t keys);

/* MOVED slot host:port / ASK slot host:port: send the command there. */
static int redirect(Loader *l, const char *line, Pending *p)
{
        bool ask = strncmp(line, "-ASK ", 5) == 0;
        char host[256];
        int slot, port;
        if (sscanf(line + (ask ? 5 : 7), "%d %255[^:]:%d", &slot, host, &port) != 3 || slot < 0 || slot >= SLOTS)
                return error_ret(-EPROTO, "cannot follow '%s'", line + 1);
        size_t idx;
        int rc = conn_add(l, host, port, &idx);
        if (rc < 0)
                return rc;
        if (!ask)
                l->owner[slot] = (uint16_t)idx;
        else if ((rc = send_to(l, idx, (uint8_t *)strdup("*1\r\n$6\r\nASKING\r\n"), 16, 0)) < 0)
                return rc;
        uint8_t *cmd = p->cmd;
        p->cmd = NULL;
        return send_to(l, idx, cmd, p->len, p->keys);
}

/* Read the oldest reply of c. */
static int read_reply(Loader *l, Conn *c)
{
        char *line;
        size_t len;
        /* the server can only answer what it was sent: flush before waiting */
        int rc = resp_has_line(&c->rd) ? 0 : conn_flush(c);
        if (rc == 0)
                rc = resp_read_line(&c->rd, &line, &len);
        if (rc < 0) {
                error_prefix("%s", c->name);
                return rc;
        }
        Pending p = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qn--;
        if (line[0] == '-' && p.cmd && (strncmp(line, "-MOVED ", 7) == 0 || strncmp(line, "-ASK ", 5) == 0)) {
                rc = redirect(l, line, &p);
                free(p.cmd);
                return rc;
        }
        free(p.cmd);
        if (!p.keys)
                return 0;
        if (line[0] == '-') {
                if (!l->errors)
                        snprintf(l->first_err, sizeof(l->first_err), "%s: %s", c->name, line + 1);
                l->errors += p.keys;
        } else if (line[0] == ':') {
                l->exists += (uint64_t)MAX(strtoll(line + 1, NULL, 10), 0); /* EXISTS counts */
        } else if (line[0] == '$' || line[0] == '*') {
                rc = skip_reply(c, line);
        }
        return rc;
}

/* Account for one more command sent on conns[idx] (cmd: the copy kept in
 * a cluster, owned from here; when given it is also written). */
static int send_to(Loader *l, size_t idx, uint8_t *cmd, size_t len, uint32_t keys)
{
        Conn *c = &l->conns[idx];
        int rc = cmd ? conn_write(c, cmd, len) : 0;
        if (rc == 0)
                rc = push_pending(c, l->cluster ? cmd : NULL, len, keys);
        if (!l->cluster || rc < 0)
                free(cmd);
        /* a full window: read back half of it, so that replies are read
         * (and commands written) in batches, not one by one */
        if (c->qn >= WINDOW)
                while (rc == 0 && c->qn > WINDOW / 2)
                        rc = read_reply(l, c);
        return rc;
}

/* Send the MSET batch, if any, as one command to the (only) server. */
static int mset_flush(Loader *l)
{
        if (!l->mset_keys)
                return 0;
        char h[2 * RESP_HEADER_MAX];
        size_t hl = resp_header(h, '*', 1 + 2 * (uint64_t)l->mset_keys);
        hl += resp_header(h + hl, '$', 4);
        memcpy(h + hl, "MSET\r\n", 6);
        int rc = conn_write(&l->conns[0], h, hl + 6);
        if (rc == 0)
                rc = conn_write(&l->conns[0], l->mset.data, l->mset.len);
        uint32_t n = l->mset_keys;
        l->mset.len = 0;
        l->mset_keys = 0;
        return rc == 0 ? send_to(l, 0, NULL, 0, n) : rc;
}

static int drain(Loader *l)
{
        int rc = mset_flush(l);
        for (size_t i = 0; rc == 0 && i < l->nconns; i++)
                while (rc == 0 && l->conns[i].qn > 0)
                        rc = read_reply(l, &l->conns[i]);
        return rc;
}

/* A keyless command to every master (SELECT, FLUSHDB); waits for them. */
static int broadcast(Loader *l, const char *cmd)
{
        int rc = mset_flush(l);
        size_t n = l->cluster ? l->nconns : 1;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                uint8_t *c = (uint8_t *)strdup(cmd);
                rc = c ? send_to(l, i, c, strlen(cmd), 1) : -ENOMEM;
        }
        return rc == 0 ? drain(l) : rc;
}

static size_t route(Loader *l, const char *key, size_t len)
{
        return l->cluster ? l->owner[redis_key_slot(key, len)] : 0;
}

/* ------------------------------------------------------------------------ */
/* reading commands */

static int keys_add(Loader *l, const char *k, size_t len, int64_t expire_ms)
{
        if (l->nkeys == l->capkeys) {
                size_t nc = l->capkeys ? l->capkeys * 2 : 4096;
                Key *v = realloc(l->keys, nc * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->keys = v;
                l->capkeys = nc;
        }
        Key *e = &l->keys[l->nkeys];
        if (!(e->k = malloc(len ? len : 1)))
                return -ENOMEM;
        memcpy(e->k, k, len);
        e->len = len;
        e->expire_ms = expire_ms;
        l->nkeys++;
        return 0;
}

static void keys_clear(Loader *l)
{
        for (size_t i = 0; i < l->nkeys; i++)
                free(l->keys[i].k);
        l->nkeys = 0;
}

static int64_t now_ms(void)
{
        struct timeval tv;
        gettimeofday(&tv, NULL);
        return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int arg_cb(void *ud, const char *p, size_t n)
{
        return buf_append(ud, p, n);
}

/* Bytes of the current command: into its copy (a cluster) or straight
 * to its connection; nothing for a skipped command. */
static int out_write(Loader *l, const void *p, size_t n)
{
        if (!l->to)
                return 0;
        if (l->as_mset)
                return buf_append(&l->mset, p, n);
        return l->cluster ? buf_append(&l->copy, p, n) : conn_write(l->to, p, n);
}

/* A piece of an argument after the third: to the connection (and the
 * copy), and into the digest for the payload of a RESTORE. */
typedef struct Stream {
        Loader *l;
        bool digest;
        bool quiet; /* read, not sent (a RESTORE's flags when it goes as SET) */
        uint64_t off, from, to; /* sent: bytes [from, to) of the argument (to 0: all) */
        Buf small; /* the argument itself when short (REPLACE, ABSTTL) */
} Stream;

static int stream_cb(void *ud, const char *p, size_t n)
{
        Stream *s = ud;
        Loader *l = s->l;
        if (s->small.len + n <= 16)
                buf_append(&s->small, p, n);
        if (l->to)
                l->bytes += n;
        /* sent first: the server reads this piece while it is hashed */
        int rc = 0;
        if (s->to) {
                uint64_t a = MAX(s->off, s->from), b = MIN(s->off + n, s->to);
                if (a < b)
                        rc = out_write(l, p + (a - s->off), (size_t)(b - a));
        } else if (!s->quiet) {
                rc = out_write(l, p, n);
        }
        s->off += n;
        if (rc == 0 && s->digest)
                redis_digest_update(&l->dk, p, n);
        return rc;
}

/* The argument NUL-terminated (not counted in len). */
static const char *arg_cstr(Buf *b)
{
        if (buf_reserve(b, 1) < 0)
                return "";
        b->data[b->len] = 0;
        return (const char *)b->data;
}

static bool arg_is(const Buf *b, const char *s)
{
        return b->len == strlen(s) && strncasecmp((const char *)b->data, s, b->len) == 0;
}

static uint64_t be_uint(const uint8_t *p, int n)
{
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

typedef enum { STR_NONE, STR_RAW, STR_INT } StrKind;

/* Whether the next argument of rd is the DUMP payload of a plain string:
 * STR_RAW, its value is bytes [*from, *to) of it; STR_INT, an integer
 * encoding, its value is the decimal text put in num. Looks only. */
static StrKind string_next(RespReader *rd, uint64_t *from, uint64_t *to, char num[24])
{
        ssize_t have = resp_peek(rd, 48);
        if (have < 0) {
                error_clear(); /* the read that follows meets it again */
                return STR_NONE;
        }
        const char *b = rd->buf + rd->start, *nl = memchr(b, '\n', (size_t)have);
        if (!nl || b[0] != '$' || nl - b < 3 || nl[-1] != '\r')
                return STR_NONE;
        char *end;
        unsigned long long n = strtoull(b + 1, &end, 10);
        const uint8_t *p = (const uint8_t *)nl + 1;
        size_t avail = (size_t)have - (size_t)(nl + 1 - b);
        /* type 0 (string), its length (6, 14, 32 or 64 bits) or an integer
         * of 8, 16 or 32 bits; after the value the RDB version (2 bytes)
         * and the CRC64 (8) */
        if (end != nl - 1 || avail < 12 || p[0] != 0)
                return STR_NONE;
        uint8_t t = p[1];
        uint64_t len;
        int w;
        switch (t >> 6) {
        case 0:
                len = t & 0x3f, w = 0;
                break;
        case 1:
                len = (uint64_t)(t & 0x3f) << 8 | p[2], w = 1;
                break;
        case 2:
                if (t != 0x80 && t != 0x81)
                        return STR_NONE;
                w = t == 0x80 ? 4 : 8;
                len = be_uint(p + 2, w);
                break;
        default:
                if (t > 0xc2)
                        return STR_NONE; /* LZF, or not a string encoding */
                w = 1 << (t - 0xc0);
                if (2 + (unsigned)w + 10 != n || avail < 2 + (size_t)w)
                        return STR_NONE;
                uint32_t u = 0;
                for (int i = w - 1; i >= 0; i--)
                        u = u << 8 | p[2 + i]; /* little-endian */
                int64_t v = w == 1 ? (int8_t)u : w == 2 ? (int16_t)u : (int32_t)u;
                snprintf(num, 24, "%" PRId64, v);
                *from = *to = 0;
                return STR_INT;
        }
        if (len > n || 2 + (uint64_t)w + len + 10 != n)
                return STR_NONE;
        *from = 2 + (uint64_t)w;
        *to = *from + len;
        return STR_RAW;
}

/* Whether arg is a TTL a RESTORE takes: digits only, no sign. */
static bool plain_ttl(const Buf *arg)
{
        if (arg->len == 0 || arg->len > 18)
                return false;
        for (size_t i = 0; i < arg->len; i++)
                if (arg->data[i] < '0' || arg->data[i] > '9')
                        return false;
        return true;
}

/* Read and forward one command; 1 at the end of the file. */
static int load_command(Loader *l, RespReader *rd)
{
        char *line;
        size_t len;
        /* the end of the file is the only place a read may find nothing */
        if (resp_buffered(rd) == 0) {
                const char *p;
                size_t n;
                int rc = resp_read_some(rd, &p, &n);
                if (rc == -EPIPE) {
                        error_clear();
                        return 1;
                }
                if (rc < 0)
                        return rc;
                rd->start -= n; /* put back */
        }
        int rc = resp_read_line(rd, &line, &len);
        if (rc < 0)
                return rc;
        long long argc = line[0] == '*' ? strtoll(line + 1, NULL, 10) : -1;
        if (argc < 1)
                return error_ret(-EBADMSG, "not a RESP command stream");
        l->head.len = l->copy.len = 0;
        for (int i = 0; i < 3; i++)
                l->arg[i].len = 0;
        l->abs = l->replace = l->as_set = l->as_mset = false;
        l->to = NULL;
        uint64_t vfrom = 0, vto = 0;
        char num[24] = "";
        long long ttl = 0; /* a RESTORE's, in ms (absolute with ABSTTL) */
        char hdr[RESP_HEADER_MAX];
        buf_append(&l->head, hdr, resp_header(hdr, '*', (uint64_t)argc));
        bool restore = false;
        for (long long i = 0; rc == 0 && i < argc; i++) {
                if ((rc = resp_read_line(rd, &line, &len)) < 0)
                        break;
                long long n = line[0] == '$' ? strtoll(line + 1, NULL, 10) : -1;
                if (n < 0) {
                        rc = error_ret(-EBADMSG, "not a RESP command stream");
                        break;
                }
                size_t hlen = resp_header(hdr, '$', (uint64_t)n);
                if (i < 3) {
                        if ((rc = resp_read_bytes(rd, (uint64_t)n, true, arg_cb, &l->arg[i])) < 0)
                                break;
                        buf_append(&l->head, hdr, hlen);
                        buf_append(&l->head, l->arg[i].data, l->arg[i].len);
                        rc = buf_append(&l->head, "\r\n", 2);
                }
                /* route once the key is known (or there is none) */
                if (rc == 0 && i == MIN(argc - 1, 2)) {
                        restore = arg_is(&l->arg[0], "RESTORE") && argc >= 4;
                        if (argc <= 3 && (arg_is(&l->arg[0], "SELECT") || arg_is(&l->arg[0], "FLUSHDB") ||
                                          arg_is(&l->arg[0], "FLUSHALL"))) {
                                /* every master must see it, before what follows */
                                buf_append(&l->head, "", 1);
                                return broadcast(l, (const char *)l->head.data);
                        }
                        const char *k = arg_cstr(&l->arg[1]);
                        if (!(restore && l->o->match &&
                              !redis_glob_match(l->o->match, strlen(l->o->match), k, l->arg[1].len))) {
                                l->to = &l->conns[argc < 2 ? 0 : route(l, k, l->arg[1].len)];
                                /* RESTORE key ttl payload REPLACE [ABSTTL]: cairn's files */
                                StrKind sk = restore && (argc == 5 || argc == 6) && plain_ttl(&l->arg[2])
                                                     ? string_next(rd, &vfrom, &vto, num)
                                                     : STR_NONE;
                                if (restore)
                                        ttl = strtoll(arg_cstr(&l->arg[2]), NULL, 10);
                                l->as_set = sk == STR_RAW && vto - vfrom >= SET_MIN;
                                l->as_mset = sk && !l->as_set && ttl <= 0 && !l->cluster;
                                if (!l->as_mset)
                                        rc = mset_flush(l); /* what was before goes first */
                                if (rc == 0 && (l->as_set || l->as_mset)) {
                                        /* SET key or, in the batch, key */
                                        char h[3 * RESP_HEADER_MAX];
                                        size_t hl = 0;
                                        if (l->as_set) {
                                                hl = resp_header(h, '*', ttl > 0 ? 5 : 3);
                                                hl += resp_header(h + hl, '$', 3);
                                                memcpy(h + hl, "SET\r\n", 5);
                                                hl += 5;
                                        }
                                        hl += resp_header(h + hl, '$', l->arg[1].len);
                                        rc = out_write(l, h, hl);
                                        if (rc == 0)
                                                rc = out_write(l, l->arg[1].data, l->arg[1].len);
                                        if (rc == 0)
                                                rc = out_write(l, "\r\n", 2);
                                } else if (rc == 0) {
                                        rc = out_write(l, l->head.data, l->head.len);
                                }
                        }
                        if (restore && rc == 0)
                                rc = redis_digest_begin(&l->dk, k, l->arg[1].len);
                }
                if (rc == 0 && i >= 3) {
                        bool str = l->as_set || l->as_mset;
                        Stream s = {.l = l, .digest = restore && i == 3, .quiet = str && (i >= 4 || num[0])};
                        if (str && i == 3 && num[0]) {
                                /* an integer: its text, the payload only read */
                                rc = out_write(l, hdr, resp_header(hdr, '$', strlen(num)));
                                if (rc == 0)
                                        rc = out_write(l, num, strlen(num));
                                if (rc == 0)
                                        rc = out_write(l, "\r\n", 2);
                        } else if (str && i == 3) {
                                s.from = vfrom;
                                s.to = vto;
                                hlen = resp_header(hdr, '$', vto - vfrom);
                        }
                        if (rc == 0 && !s.quiet)
                                rc = out_write(l, hdr, hlen);
                        if (rc == 0)
                                rc = resp_read_bytes(rd, (uint64_t)n, true, stream_cb, &s);
                        if (rc < 0 && s.digest)
                                error_prefix("RESTORE with a %lld-byte payload", n);
                        if (rc == 0 && !s.quiet)
                                rc = out_write(l, "\r\n", 2);
                        if (rc == 0 && i >= 4 && arg_is(&s.small, "ABSTTL"))
                                l->abs = true;
                        if (rc == 0 && i >= 4 && arg_is(&s.small, "REPLACE"))
                                l->replace = true;
                        buf_free(&s.small);
                }
        }
        if (rc < 0)
                return rc;
        if (l->as_set || l->as_mset) {
                /* the SET's header promised its arguments, and MSET has no
                 * flags: a file of other flags cannot go on (cairn writes
                 * REPLACE, then ABSTTL) */
                if (!l->replace || (argc == 6 && !l->abs))
                        return error_ret(-EBADMSG, "a RESTORE of %.*s without REPLACE [ABSTTL]: not a file cairn wrote",
                                         (int)MIN(l->arg[1].len, 64), (const char *)l->arg[1].data);
        }
        if (l->as_set) {
                if (ttl > 0) {
                        const char *opt = l->abs ? "$4\r\nPXAT\r\n" : "$2\r\nPX\r\n";
                        rc = out_write(l, opt, strlen(opt));
                        if (rc == 0)
                                rc = out_write(l, hdr, resp_header(hdr, '$', l->arg[2].len));
                        if (rc == 0)
                                rc = out_write(l, l->arg[2].data, l->arg[2].len);
                        if (rc == 0)
                                rc = out_write(l, "\r\n", 2);
                }
                if (rc < 0)
                        return rc;
                l->sets++;
        }
        if (l->as_mset) {
                l->msets++;
                l->mset_keys++;
        }
        if (restore) {
                redis_digest_end(&l->dk, l->dg);
                l->commands++;
                if (l->to) {
                        int64_t exp = ttl <= 0 ? 0 : l->abs ? ttl : now_ms() + ttl;
                        rc = keys_add(l, (const char *)l->arg[1].data, l->arg[1].len, exp);
                }
        }
        if (rc == 0 && l->as_mset && (l->mset_keys >= MSET_KEYS || l->mset.len >= MSET_BYTES))
                rc = mset_flush(l);
        if (rc == 0 && l->to && !l->as_mset) {
                size_t idx = (size_t)(l->to - l->conns);
                uint8_t *cmd = NULL;
                size_t clen = 0;
                if (l->cluster)
                        cmd = buf_steal(&l->copy, &clen);
                /* a cluster's copy is written by send_to; a server's stream already was */
                rc = send_to(l, idx, cmd, clen, 1);
        }
        return rc;
}

/* ------------------------------------------------------------------------ */
/* one database */

static int select_db(Loader *l, int db)
{
        char n[16], cmd[64];
        snprintf(n, sizeof(n), "%d", db);
        snprintf(cmd, sizeof(cmd), "*2\r\n$6\r\nSELECT\r\n$%zu\r\n%s\r\n", strlen(n), n);
        return broadcast(l, cmd);
}

static ssize_t file_read(void *ud, void *p, size_t n)
{
        return source_file_read(ud, p, n);
}

/* Load the files of database db (one per master of a cluster backup). */
static int load_db(Loader *l, Source *src, const char *const *files, size_t nfiles, int db)
{
        int rc = select_db(l, db);
        if (rc == 0 && l->o->flush)
                rc = broadcast(l, "*1\r\n$7\r\nFLUSHDB\r\n");
        /* an empty target lets DBSIZE stand for a million EXISTS */
        l->exists = 0;
        if (rc == 0 && (rc = broadcast(l, DBSIZE)) == 0)
                l->empty = l->exists == 0;
        for (size_t f = 0; rc == 0 && f < nfiles; f++) {
                SourceFile *sf;
                if ((rc = source_file_open(src, files[f], &sf)) < 0)
                        break;
                RespReader rd;
                resp_reader_init_fn(&rd, file_read, sf);
                while ((rc = load_command(l, &rd)) == 0)
                        ;
                if (rc == 1)
                        rc = 0;
                else
                        error_prefix("%s/%s", source_name(src), files[f]);
                resp_reader_free(&rd);
                int crc = source_file_close(sf);
                if (crc < 0)
                        rc = crc;
        }
        if (rc == 0)
                rc = drain(l);
        return rc;
}

/* Every key sent that has not expired must exist now. */
static int verify_db(Loader *l, uint64_t *expired)
{
        /* into an empty database, its size says it (when no key expired
         * meanwhile, or some other client wrote: then look key by key) */
        if (l->empty) {
                int64_t now = now_ms() + 5000;
                uint64_t live = 0, gone = 0;
                for (size_t i = 0; i < l->nkeys; i++)
                        if (l->keys[i].expire_ms && l->keys[i].expire_ms < now)
                                gone++;
                        else
                                live++;
                l->exists = 0;
                int rc = broadcast(l, DBSIZE);
                if (rc < 0)
                        return rc;
                if (l->exists == live && !gone)
                        return 0;
        }
        /* EXISTS k1 k2 ... counts the keys that exist; a cluster refuses
         * keys of several slots in one command, so there it takes one */
        const size_t batch = l->cluster ? 1 : 128;
        int64_t now = now_ms() + 5000; /* keys about to expire are not counted */
        uint64_t want = 0;
        l->exists = 0;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < l->nkeys;) {
                size_t idx[128], n = 0;
                for (; i < l->nkeys && n < batch; i++) {
                        Key *k = &l->keys[i];
                        if (k->expire_ms && k->expire_ms < now)
                                (*expired)++;
                        else
                                idx[n++] = i;
                }
                if (!n)
                        continue;
                Buf b = {0};
                char hdr[32];
                snprintf(hdr, sizeof(hdr), "*%zu\r\n$6\r\nEXISTS\r\n", n + 1);
                rc = buf_append(&b, hdr, strlen(hdr));
                for (size_t j = 0; rc == 0 && j < n; j++)
                        rc = resp_put_bulk(&b, l->keys[idx[j]].k, l->keys[idx[j]].len);
                size_t len;
                uint8_t *cmd = buf_steal(&b, &len);
                Key *first = &l->keys[idx[0]];
                if (rc == 0)
                        rc = send_to(l, route(l, first->k, first->len), cmd, len, 1);
                else
                        free(cmd);
                want += n;
        }
        if (rc == 0)
                rc = drain(l);
        if (rc == 0 && l->exists != want)
                rc = error_ret(-EBADMSG, "%" PRIu64 " of the %" PRIu64 " keys restored are not on the server",
                               want - l->exists, want);
        return rc;
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

int redis_restore(Source *src, const RedisRestoreOptions *o, RedisRestoreStats *st)
{
        memset(st, 0, sizeof(*st));
        char *text;
        size_t tlen;
        int rc = source_read_all(src, "meta.json", &text, &tlen);
        if (rc < 0) {
                error_prefix("no Redis backup here (give the redis directory of a snapshot)");
                return rc;
        }
        json_error_t je;
        json_t *meta = json_loadb(text, tlen, 0, &je);
        free(text);
        json_t *dbs = json_object_get(meta, "dbs");
        if (!json_is_object(dbs)) {
                json_decref(meta);
                return error_ret(-EBADMSG, "%s/meta.json: not a cairn Redis backup (%s)", source_name(src),
                                 meta ? "no dbs" : je.text);
        }
        json_t *nodes = json_object_get(meta, "nodes");
        const char *dname = json_string_value(json_object_get(meta, "digest"));
        int alg = redis_digest_alg(dname);
        if (alg < 0) {
                rc = error_ret(-EBADMSG, "%s/meta.json: unknown digest \"%s\" (a backup of a newer cairn? restore it with that)",
                               source_name(src), dname ? dname : "");
                json_decref(meta);
                return rc;
        }
        Loader *l = calloc(1, sizeof(*l));
        if (!l) {
                json_decref(meta);
                return -ENOMEM;
        }
        l->o = o;
        l->dk.alg = (RedisDigestAlg)alg;
        redisContext *c = NULL;
        size_t idx;
        rc = redis_connect(o->url, NULL, 0, &c);
        int cl = rc == 0 ? redis_is_cluster(c) : rc;
        if (cl < 0)
                rc = cl;
        l->cluster = cl > 0;
        if (rc == 0 && l->cluster) {
                RedisNode *ms = NULL;
                size_t nm = 0;
                rc = redis_cluster_masters(c, o->url->host, &ms, &nm);
                for (size_t i = 0; rc == 0 && i < nm; i++) {
                        rc = conn_add(l, ms[i].host, ms[i].port, &idx);
                        for (size_t k = 0; rc == 0 && k < ms[i].nslots; k++)
                                for (int s = ms[i].slots[k][0]; s <= ms[i].slots[k][1] && s < SLOTS; s++)
                                        l->owner[s] = (uint16_t)idx;
                }
                redis_nodes_free(ms, nm);
                /* tests: start from a wrong slot map, so that the MOVED
                 * replies of the real cluster correct it */
                if (rc == 0 && getenv("CAIRN_TEST_REDIS_MISROUTE"))
                        memset(l->owner, 0, sizeof(l->owner));
                st->masters = (unsigned)l->nconns;
        } else if (rc == 0) {
                rc = conn_add(l, o->url->host, o->url->port, &idx);
        }
        if (c)
                redisFree(c);
        /* databases in numeric order */
        int *order = calloc(json_object_size(dbs) + 1, sizeof(int));
        size_t ndb = 0;
        const char *name;
        json_t *v;
        json_object_foreach(dbs, name, v) order[ndb++] = atoi(name);
        qsort(order, ndb, sizeof(int), cmp_int);
        bool any = false;
        for (size_t d = 0; rc == 0 && d < ndb; d++) {
                int db = order[d];
                if (o->db >= 0 && db != o->db)
                        continue;
                any = true;
                char dbname[16];
                snprintf(dbname, sizeof(dbname), "%d", db);
                v = json_object_get(dbs, dbname);
                /* the files: db<N>.resp, or <master>/db<N>.resp of each master */
                char **files = calloc(json_object_size(nodes) + 1, sizeof(char *));
                size_t nf = 0;
                if (json_is_object(nodes)) {
                        const char *nn;
                        json_t *nv;
                        json_object_foreach(nodes, nn, nv) {
                                if (json_object_get(json_object_get(nv, "dbs"), dbname) &&
                                    asprintf(&files[nf], "%s/db%d.resp", nn, db) >= 0)
                                        nf++;
                        }
                } else if (asprintf(&files[0], "db%d.resp", db) >= 0) {
                        nf = 1;
                }
                memset(l->dg, 0, sizeof(l->dg));
                l->commands = l->errors = 0;
                keys_clear(l);
                rc = load_db(l, src, (const char *const *)files, nf, db);
                for (size_t f = 0; f < nf; f++)
                        free(files[f]);
                free(files);
                if (rc == 0 && l->errors)
                        rc = error_ret(-EIO, "%" PRIu64 " of %" PRIu64 " commands failed; the first: %s", l->errors,
                                       l->commands, l->first_err);
                char hex[2 * REDIS_DIGEST_MAX + 1];
                util_hex(l->dg, redis_digest_len(l->dk.alg), hex);
                json_int_t want = json_integer_value(json_object_get(v, "keys"));
                const char *wdg = json_string_value(json_object_get(v, "digest"));
                if (rc == 0 && !o->match && ((json_int_t)l->commands != want || !wdg || strcmp(wdg, hex) != 0))
                        rc = error_ret(-EBADMSG,
                                       "verification failed: %" PRIu64 " keys in the files (backup: %lld), digest %.16s... "
                                       "(backup: %.16s...)",
                                       l->commands, (long long)want, hex, wdg ? wdg : "none");
                /* SELECT again: a file may have left another database selected */
                if (rc == 0)
                        rc = select_db(l, db);
                if (rc == 0)
                        rc = verify_db(l, &st->expired);
                if (rc < 0)
                        error_prefix("db%d", db);
                st->keys += l->nkeys;
                st->commands += l->commands;
        }
        st->bytes = l->bytes;
        st->strings_as_set = l->sets;
        st->strings_batched = l->msets;
        if (rc == 0 && !any)
                rc = error_ret(-ENOENT, "database %d is not in the backup", o->db);
        keys_clear(l);
        free(l->keys);
        redis_digest_free(&l->dk);
        for (int i = 0; i < 3; i++)
                buf_free(&l->arg[i]);
        buf_free(&l->head);
        buf_free(&l->copy);
        buf_free(&l->mset);
        conns_free(l);
        free(l);
        free(order);
        json_decref(meta);
        return rc;
}

/* ------------------------------------------------------------------------ */
/* RDB into a data directory */

typedef struct Copy {
        int fd;
        crypto_generichash_state h;
        uint64_t size;
} Copy;

int redis_restore_rdb(Source *src, const char *name, const char *datadir, bool force, uint64_t *size)
{
        char *text;
        size_t tlen;
        const char *node = NULL;
        if (!name)
                name = "dump.rdb";
        const char *slash = strrchr(name, '/');
        int rc = source_read_all(src, "meta.json", &text, &tlen);
        if (rc < 0) {
                error_clear();
                return error_ret(-ENOENT, "%s: no meta.json: give the redis directory of a backup made with --mode rdb "
                                          "or both (with --node for a cluster master)", source_name(src));
        }
        json_t *meta = json_loadb(text, tlen, 0, NULL);
        free(text);
        char nodename[300] = "";
        if (slash) {
                snprintf(nodename, sizeof(nodename), "%.*s", (int)(slash - name), name);
                node = nodename;
        }
        json_t *info = node ? json_object_get(json_object_get(json_object_get(meta, "nodes"), node), "rdb")
                            : json_object_get(meta, "rdb");
        if (!json_is_object(info)) {
                bool cluster = json_object_get(meta, "nodes") != NULL;
                json_decref(meta);
                if (!node && cluster)
                        return error_ret(-EINVAL, "%s is a cluster backup: name the master with --node HOST:PORT",
                                         source_name(src));
                return error_ret(-ENOENT, "%s: the backup has no RDB%s%s (it was made with --mode logical?)",
                                 source_name(src), node ? " for " : "", node ? node : "");
        }
        json_int_t want_size = json_integer_value(json_object_get(info, "size"));
        char want[65];
        snprintf(want, sizeof(want), "%s", json_string_value(json_object_get(info, "blake2b")) ?: "");
        json_decref(meta);

        struct stat st;
        if (stat(datadir, &st) < 0 || !S_ISDIR(st.st_mode))
                return error_ret(-ENOTDIR, "%s: not a directory (create the data directory first)", datadir);
        char dst[4096], tmp[4096];
        snprintf(dst, sizeof(dst), "%s/dump.rdb", datadir);
        snprintf(tmp, sizeof(tmp), "%s/.dump.rdb.cairn-%d", datadir, (int)getpid());
        if (!force && access(dst, F_OK) == 0)
                return error_ret(-EEXIST, "%s exists: stop that server's data from being replaced by accident; "
                                          "use --force to replace it", dst);
        SourceFile *f;
        if ((rc = source_file_open(src, name, &f)) < 0)
                return rc;
        Copy cp = {.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
        if (cp.fd < 0)
                rc = error_ret(-errno, "%s: %s", tmp, strerror(errno));
        crypto_generichash_init(&cp.h, NULL, 0, 32);
        char *buf = malloc(1 << 20);
        if (!buf)
                rc = -ENOMEM;
        while (rc == 0) {
                ssize_t n = source_file_read(f, buf, 1 << 20);
                if (n < 0) {
                        rc = (int)n;
                        error_prefix("%s/%s", source_name(src), name);
                        break;
                }
                if (n == 0)
                        break;
                crypto_generichash_update(&cp.h, (const unsigned char *)buf, (size_t)n);
                cp.size += (uint64_t)n;
                if ((rc = util_write_full(cp.fd, buf, (size_t)n)) < 0)
                        error_set("%s: %s", tmp, strerror(-rc));
        }
        free(buf);
        int crc = source_file_close(f);
        if (rc == 0)
                rc = crc;
        unsigned char h[32];
        char hex[65];
        crypto_generichash_final(&cp.h, h, sizeof(h));
        util_hex(h, sizeof(h), hex);
        if (rc == 0 && ((json_int_t)cp.size != want_size || strcmp(hex, want) != 0))
                rc = error_ret(-EBADMSG, "%s/%s: %" PRIu64 " bytes, BLAKE2b %.16s...; the backup recorded %lld bytes, %.16s...",
                               source_name(src), name, cp.size, hex, (long long)want_size, want);
        if (rc == 0 && fsync(cp.fd) < 0)
                rc = error_ret(-errno, "%s: %s", tmp, strerror(errno));
        if (cp.fd >= 0 && close(cp.fd) < 0 && rc == 0)
                rc = error_ret(-errno, "%s: %s", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, dst) < 0)
                rc = error_ret(-errno, "%s: %s", dst, strerror(errno));
        if (rc < 0) {
                unlink(tmp);
                return rc;
        }
        int dfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
        }
        *size = cp.size;
        return 0;
}
