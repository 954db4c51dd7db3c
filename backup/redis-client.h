/* redis-client.h — what the Redis dumper (backup/redis.c) and the Redis
 * restorer (restore/redis.c) share: the redis:// URL and its password,
 * connecting, a streaming RESP reader over the raw socket, the digest that
 * ties a restore to its backup, cluster discovery and key slots.
 *
 * hiredis makes the connection, authenticates and runs the few commands
 * whose replies are small (SCAN, INFO, CLUSTER SLOTS). Bulk traffic — DUMP
 * payloads, the RDB of a SYNC, RESTORE commands — goes through the raw
 * socket with RespReader, so a value of hundreds of MiB passes through a
 * fixed buffer and is never held whole. The two never interleave on one
 * connection: hiredis is used only while no raw reply is pending. */
#pragma once
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <xxhash.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

typedef struct RedisUrl {
        char *host, *user, *password; /* user/password: NULL if absent */
        int port, db;                 /* db: -1 if absent */
} RedisUrl;

/* Parse redis://[USER:PASSWORD@]HOST[:PORT][/DB]. */
int redis_url_parse(const char *url, RedisUrl *out);
void redis_url_clear(RedisUrl *u);
/* A database number "0".."100000" (the URL's /DB, --db): 0 or -EINVAL. */
int redis_db_parse(const char *s, int *db);
/* The URL without the password ("redis://user@host:port/db"); caller frees. */
char *redis_url_public(const RedisUrl *u);
/* Without a password in the URL, take the first line of file (when not
 * NULL), else $REDISCLI_AUTH. Errors name the file. */
int redis_url_password(RedisUrl *u, const char *file);
/* Overwrite the password part of a redis:// URL in place (argv), so that
 * process listings stop showing it, as mysql does with -p. */
void redis_url_scrub(char *url);

/* Connect to host:port (NULL/0: the URL's) and authenticate with the URL's
 * credentials. On failure error_set() carries Redis's or the socket's text. */
int redis_connect(const RedisUrl *u, const char *host, int port, redisContext **out);
/* Run a command whose reply must not be an error; *out (may be NULL) gets
 * the reply (freeReplyObject). Errors carry Redis's text. */
__attribute__((format(printf, 3, 4))) int redis_cmd(redisContext *c, redisReply **out, const char *fmt, ...);

/* ---- streaming RESP over the raw socket ---- */
typedef struct RespReader {
        int fd;
        /* instead of read(fd): count, 0 at the end, or -errno with the error set */
        ssize_t (*read)(void *ud, void *p, size_t n);
        void *ud;
        char *buf;
        size_t start, end, cap;
} RespReader;

void resp_reader_init(RespReader *r, int fd);
/* A reader of what fn returns (a file of a backup, not a socket). */
void resp_reader_init_fn(RespReader *r, ssize_t (*fn)(void *ud, void *p, size_t n), void *ud);
void resp_reader_free(RespReader *r);
/* One reply line ("+OK", "-ERR ...", ":12", "$5", "*2"), without CRLF,
 * NUL-terminated in the buffer; valid until the next call. Blocks. */
int resp_read_line(RespReader *r, char **line, size_t *len);
/* Whatever is buffered (reading when nothing is), consumed: p and n. */
int resp_read_some(RespReader *r, const char **p, size_t *n);
/* Skip bare "\n" bytes (a master's keep-alives before a SYNC payload). */
int resp_skip_newlines(RespReader *r);
/* Pass the next n bytes to fn in pieces (as they arrive); then, with crlf,
 * expect "\r\n". fn returns 0 or a negative errno, which stops the read. */
int resp_read_bytes(RespReader *r, uint64_t n, bool crlf, int (*fn)(void *ud, const char *p, size_t n), void *ud);
/* Buffer at least n bytes, or all that is left of a file reader's input:
 * how many are buffered (at r->buf + r->start, not consumed), or a
 * negative errno. For a look at what follows before reading it. */
ssize_t resp_peek(RespReader *r, size_t n);
/* Bytes already buffered (non-blocking check for replies). */
static inline size_t resp_buffered(const RespReader *r)
{
        return r->end - r->start;
}
/* A whole line is buffered: the next resp_read_line will not block. */
static inline bool resp_has_line(const RespReader *r)
{
        return r->end > r->start && memchr(r->buf + r->start, '\n', r->end - r->start) != NULL;
}
/* "<type><n>\r\n" ("*3\r\n", "$5\r\n") into out (RESP_HEADER_MAX bytes),
 * not NUL-terminated; its length. The per-argument snprintf it replaces
 * was a sixth of a restore's CPU for small keys. */
#define RESP_HEADER_MAX 24
size_t resp_header(char *out, char type, uint64_t n);
/* Append "$<n>\r\n" + bytes + "\r\n" to a buffer (the Buf of util.h). */
struct Buf;
int resp_put_bulk(struct Buf *b, const void *p, size_t n);

/* ---- verification digest ----
 * Order-independent: XOR over the keys of
 * H(le64(len(key)) || key || DUMP payload), fed in pieces, since payloads
 * are streamed. H is XXH3-128: a checksum that what a restore sends is what
 * the backup dumped, at memory speed (the repository's AEAD authenticates
 * the bytes; BLAKE2b took a core-second per GiB restored). Snapshots made
 * before 2026-12-03 used BLAKE2b-256; the meta names the one it has. */
#define REDIS_DIGEST_NAME "xor of xxh3-128(le64(len(key)) || key || dump payload)"
#define REDIS_DIGEST_NAME_BLAKE2B "xor of blake2b-256(le64(len(key)) || key || dump payload)"
#define REDIS_DIGEST_MAX 32 /* bytes, of either */
typedef enum { REDIS_DIGEST_XXH3, REDIS_DIGEST_BLAKE2B } RedisDigestAlg;
typedef struct RedisDigestKey {
        RedisDigestAlg alg; /* set once; zero is XXH3 */
        XXH3_state_t *x;    /* from XXH3_createState: it wants 64-byte alignment */
        crypto_generichash_state b;
} RedisDigestKey;
/* The algorithm a meta's "digest" names, or -1. */
int redis_digest_alg(const char *name);
/* Its length in bytes (the digest's hex is twice that). */
size_t redis_digest_len(RedisDigestAlg alg);
/* -ENOMEM, or 0. */
int redis_digest_begin(RedisDigestKey *k, const char *key, size_t klen);
void redis_digest_update(RedisDigestKey *k, const char *p, size_t n);
/* XOR the key's hash into acc (redis_digest_len bytes of it). */
void redis_digest_end(RedisDigestKey *k, unsigned char acc[REDIS_DIGEST_MAX]);
void redis_digest_free(RedisDigestKey *k);

/* Redis's glob, binary-safe, as SCAN MATCH and KEYS use it: '*', '?',
 * "[abc]", "[^a-z]", and '\\' quoting the next character. */
bool redis_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* ---- cluster ---- */
typedef struct RedisNode {
        char *host;
        int port;
        char id[41];       /* node id */
        int (*slots)[2];   /* [first, last] ranges */
        size_t nslots;
} RedisNode;

/* 1 when the server runs in cluster mode, 0 if not. */
int redis_is_cluster(redisContext *c);
/* The masters that own slots (from CLUSTER SLOTS), sorted by their first
 * slot; free with redis_nodes_free. An empty host in the reply (the node
 * we are connected to) becomes fallback_host. */
int redis_cluster_masters(redisContext *c, const char *fallback_host, RedisNode **out, size_t *n);
void redis_nodes_free(RedisNode *nodes, size_t n);
/* The hash slot of a key (CRC16/XMODEM mod 16384, {hash tags} honoured). */
unsigned redis_key_slot(const char *key, size_t len);
