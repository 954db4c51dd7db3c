/* redis-client.c — URL, connection, raw RESP reading, digest and cluster
 * helpers shared by the Redis dumper and restorer (see redis-client.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "redis-client.h"
#include "util.h"

/* ------------------------------------------------------------------------ */
/* URL */

int redis_url_parse(const char *url, RedisUrl *out)
{
        memset(out, 0, sizeof(*out));
        out->db = -1;
        out->port = 6379;
        if (strncmp(url, "redis://", 8) != 0)
                return error_ret(-EINVAL, "'%s' is not a redis:// URL (redis://[USER:PASSWORD@]HOST:PORT[/DB])", url);
        const char *p = url + 8;
        const char *slash = strchr(p, '/');
        const char *at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
        if (at) {
                const char *colon = memchr(p, ':', (size_t)(at - p));
                if (colon) {
                        if (colon > p)
                                out->user = strndup(p, (size_t)(colon - p));
                        out->password = strndup(colon + 1, (size_t)(at - colon - 1));
                } else {
                        out->password = strndup(p, (size_t)(at - p));
                }
                p = at + 1;
        }
        size_t hl = slash ? (size_t)(slash - p) : strlen(p);
        const char *colon = memchr(p, ':', hl);
        out->host = strndup(p, colon ? (size_t)(colon - p) : hl);
        int rc = 0;
        if (colon) {
                char *end;
                long port = strtol(colon + 1, &end, 10);
                if (end != p + hl || port <= 0 || port > 65535)
                        rc = error_ret(-EINVAL, "bad port in the redis URL (give HOST:PORT, 1-65535)");
                out->port = (int)port;
        }
        if (rc == 0 && slash && slash[1] && redis_db_parse(slash + 1, &out->db) < 0)
                rc = error_ret(-EINVAL, "bad database number in the redis URL (give /N)");
        if (rc == 0 && (!out->host || !*out->host))
                rc = error_ret(-EINVAL, "no host in the redis URL");
        if (rc < 0)
                redis_url_clear(out);
        return rc;
}

int redis_db_parse(const char *s, int *db)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (!*s || *end || errno || v < 0 || v > 100000)
                return -EINVAL;
        *db = (int)v;
        return 0;
}

void redis_url_clear(RedisUrl *u)
{
        free(u->host);
        free(u->user);
        if (u->password)
                sodium_memzero(u->password, strlen(u->password));
        free(u->password);
        memset(u, 0, sizeof(*u));
        u->db = -1;
}

char *redis_url_public(const RedisUrl *u)
{
        char *s = NULL, db[32] = "";
        if (u->db >= 0)
                snprintf(db, sizeof(db), "/%d", u->db);
        if (asprintf(&s, "redis://%s%s%s:%d%s", u->user ? u->user : "", u->user ? "@" : "", u->host, u->port, db) < 0)
                return NULL;
        return s;
}

int redis_url_password(RedisUrl *u, const char *file)
{
        if (u->password)
                return 0;
        if (file) {
                char *text = NULL;
                size_t len = 0;
                int rc = util_read_file(file, &text, &len);
                if (rc < 0)
                        return error_ret(rc, "redis password file %s: %s", file, strerror(-rc));
                text[strcspn(text, "\r\n")] = 0;
                if (!text[0]) {
                        free(text);
                        return error_ret(-EINVAL, "redis password file %s is empty", file);
                }
                u->password = strdup(text);
                sodium_memzero(text, len);
                free(text);
                return u->password ? 0 : -ENOMEM;
        }
        const char *env = getenv("REDISCLI_AUTH");
        if (env && *env && !(u->password = strdup(env)))
                return -ENOMEM;
        return 0;
}

void redis_url_scrub(char *url)
{
        if (strncmp(url, "redis://", 8) != 0)
                return;
        char *p = url + 8, *slash = strchr(p, '/');
        char *at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
        if (!at)
                return;
        char *colon = memchr(p, ':', (size_t)(at - p));
        for (char *q = colon ? colon + 1 : p; q < at; q++)
                *q = 'x';
}

/* ------------------------------------------------------------------------ */
/* hiredis connection */

static int reply_check(redisContext *c, redisReply *r)
{
        if (!r)
                return error_ret(-EIO, "%s", c->errstr[0] ? c->errstr : "connection lost");
        if (r->type == REDIS_REPLY_ERROR) {
                error_set("%s", r->str);
                freeReplyObject(r);
                return -EIO;
        }
        return 0;
}

int redis_cmd(redisContext *c, redisReply **out, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(c, fmt, ap);
        va_end(ap);
        int rc = reply_check(c, r);
        if (rc < 0)
                return rc;
        if (out)
                *out = r;
        else
                freeReplyObject(r);
        return 0;
}

int redis_connect(const RedisUrl *u, const char *host, int port, redisContext **out)
{
        struct timeval tv = {10, 0};
        redisContext *c = redisConnectWithTimeout(host ? host : u->host, port ? port : u->port, tv);
        if (!c)
                return error_ret(-ENOMEM, "out of memory");
        if (c->err) {
                error_set("%s", c->errstr);
                redisFree(c);
                return -EIO;
        }
        /* replies may take a while (a big DUMP, a FLUSHDB), never forever */
        struct timeval rt = {300, 0};
        redisSetTimeout(c, rt);
        if (u->password) {
                int rc = u->user ? redis_cmd(c, NULL, "AUTH %s %s", u->user, u->password)
                                 : redis_cmd(c, NULL, "AUTH %s", u->password);
                if (rc < 0) {
                        redisFree(c);
                        return rc;
                }
        }
        *out = c;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* RESP over the raw socket */

#define READER_MIN (1u << 20)

void resp_reader_init(RespReader *r, int fd)
{
        memset(r, 0, sizeof(*r));
        r->fd = fd;
}

void resp_reader_init_fn(RespReader *r, ssize_t (*fn)(void *ud, void *p, size_t n), void *ud)
{
        resp_reader_init(r, -1);
        r->read = fn;
        r->ud = ud;
}

void resp_reader_free(RespReader *r)
{
        free(r->buf);
        r->buf = NULL;
        r->start = r->end = r->cap = 0;
}

/* Read more bytes after what is buffered. 0, or -EPIPE at end of stream. */
static int reader_fill(RespReader *r)
{
        if (r->start > 0 && r->start == r->end)
                r->start = r->end = 0;
        if (r->start > 0 && r->end == r->cap) {
                memmove(r->buf, r->buf + r->start, r->end - r->start);
                r->end -= r->start;
                r->start = 0;
        }
        if (r->end == r->cap) {
                size_t nc = r->cap ? r->cap * 2 : READER_MIN;
                char *nb = realloc(r->buf, nc + 1);
                if (!nb)
                        return -ENOMEM;
                r->buf = nb;
                r->cap = nc;
        }
        ssize_t n;
        if (r->read) {
                if ((n = r->read(r->ud, r->buf + r->end, r->cap - r->end)) < 0)
                        return (int)n;
                if (n == 0)
                        return error_ret(-EPIPE, "the file ends inside a command");
                r->end += (size_t)n;
                return 0;
        }
        do
                n = read(r->fd, r->buf + r->end, r->cap - r->end);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? error_ret(-ETIMEDOUT, "timed out waiting for the server")
                                                               : error_ret(-errno, "%s", strerror(errno));
        if (n == 0)
                return error_ret(-EPIPE, "the server closed the connection");
        r->end += (size_t)n;
        return 0;
}

int resp_read_line(RespReader *r, char **line, size_t *len)
{
        size_t scanned = 0;
        for (;;) {
                char *nl = r->end > r->start + scanned
                                   ? memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned)
                                   : NULL;
                if (nl) {
                        char *s = r->buf + r->start;
                        size_t n = (size_t)(nl - s);
                        if (n == 0 || s[n - 1] != '\r')
                                return error_ret(-EPROTO, "protocol error: a reply line without CRLF");
                        s[n - 1] = 0;
                        r->start += n + 1;
                        *line = s;
                        *len = n - 1;
                        return 0;
                }
                scanned = r->end - r->start;
                if (scanned > 64 * 1024)
                        return error_ret(-EPROTO, "protocol error: a reply line longer than 64 KiB");
                int rc = reader_fill(r);
                if (rc < 0)
                        return rc;
        }
}

int resp_read_some(RespReader *r, const char **p, size_t *n)
{
        if (r->start == r->end) {
                int rc = reader_fill(r);
                if (rc < 0)
                        return rc;
        }
        *p = r->buf + r->start;
        *n = r->end - r->start;
        r->start = r->end;
        return 0;
}

ssize_t resp_peek(RespReader *r, size_t n)
{
        while (r->end - r->start < n) {
                int rc = reader_fill(r);
                if (rc == -EPIPE && r->read) { /* the end of the file: what there is */
                        error_clear();
                        break;
                }
                if (rc < 0)
                        return rc;
        }
        return (ssize_t)(r->end - r->start);
}

int resp_skip_newlines(RespReader *r)
{
        for (;;) {
                while (r->start < r->end && r->buf[r->start] == '\n')
                        r->start++;
                if (r->start < r->end)
                        return 0;
                int rc = reader_fill(r);
                if (rc < 0)
                        return rc;
        }
}

int resp_read_bytes(RespReader *r, uint64_t n, bool crlf, int (*fn)(void *ud, const char *p, size_t n), void *ud)
{
        while (n > 0) {
                if (r->start == r->end) {
                        int rc = reader_fill(r);
                        if (rc < 0)
                                return rc;
                }
                size_t k = (size_t)MIN((uint64_t)(r->end - r->start), n);
                int rc = fn(ud, r->buf + r->start, k);
                if (rc < 0)
                        return rc;
                r->start += k;
                n -= k;
        }
        if (!crlf)
                return 0;
        while (r->end - r->start < 2) {
                int rc = reader_fill(r);
                if (rc < 0)
                        return rc;
        }
        if (r->buf[r->start] != '\r' || r->buf[r->start + 1] != '\n')
                return error_ret(-EPROTO, "protocol error: a bulk reply without CRLF");
        r->start += 2;
        return 0;
}

size_t resp_header(char *out, char type, uint64_t n)
{
        char digits[20];
        size_t k = 0;
        do {
                digits[k++] = (char)('0' + n % 10);
                n /= 10;
        } while (n);
        size_t len = 0;
        out[len++] = type;
        while (k)
                out[len++] = digits[--k];
        out[len++] = '\r';
        out[len++] = '\n';
        return len;
}

int resp_put_bulk(Buf *b, const void *p, size_t n)
{
        char hdr[RESP_HEADER_MAX];
        size_t l = resp_header(hdr, '$', n);
        int rc = buf_reserve(b, (size_t)l + n + 2);
        if (rc < 0)
                return rc;
        memcpy(b->data + b->len, hdr, (size_t)l);
        memcpy(b->data + b->len + l, p, n);
        memcpy(b->data + b->len + l + n, "\r\n", 2);
        b->len += (size_t)l + n + 2;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* digest */

int redis_digest_alg(const char *name)
{
        if (name && strcmp(name, REDIS_DIGEST_NAME) == 0)
                return REDIS_DIGEST_XXH3;
        if (name && strcmp(name, REDIS_DIGEST_NAME_BLAKE2B) == 0)
                return REDIS_DIGEST_BLAKE2B;
        return -1;
}

size_t redis_digest_len(RedisDigestAlg alg)
{
        return alg == REDIS_DIGEST_XXH3 ? sizeof(XXH128_canonical_t) : 32;
}

int redis_digest_begin(RedisDigestKey *k, const char *key, size_t klen)
{
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
                le[i] = (unsigned char)((uint64_t)klen >> (8 * i));
        if (k->alg == REDIS_DIGEST_XXH3) {
                if (!k->x && !(k->x = XXH3_createState()))
                        return -ENOMEM;
                XXH3_128bits_reset(k->x);
        } else {
                crypto_generichash_init(&k->b, NULL, 0, 32);
        }
        redis_digest_update(k, (const char *)le, sizeof(le));
        redis_digest_update(k, key, klen);
        return 0;
}

void redis_digest_update(RedisDigestKey *k, const char *p, size_t n)
{
        if (k->alg == REDIS_DIGEST_XXH3)
                XXH3_128bits_update(k->x, p, n);
        else
                crypto_generichash_update(&k->b, (const unsigned char *)p, n);
}

void redis_digest_end(RedisDigestKey *k, unsigned char acc[REDIS_DIGEST_MAX])
{
        unsigned char h[REDIS_DIGEST_MAX];
        if (k->alg == REDIS_DIGEST_XXH3)
                XXH128_canonicalFromHash((XXH128_canonical_t *)h, XXH3_128bits_digest(k->x));
        else
                crypto_generichash_final(&k->b, h, 32);
        for (size_t i = 0; i < redis_digest_len(k->alg); i++)
                acc[i] ^= h[i];
}

void redis_digest_free(RedisDigestKey *k)
{
        XXH3_freeState(k->x);
        k->x = NULL;
}

/* ------------------------------------------------------------------------ */
/* glob */

/* One "[...]" class at pat (after the '['): *matched, and the length of
 * the class up to and including its ']' (or the pattern's end). */
static size_t glob_class(const char *pat, size_t plen, unsigned char c, bool *matched)
{
        size_t i = 0;
        bool neg = i < plen && pat[i] == '^', hit = false;
        if (neg)
                i++;
        while (i < plen && pat[i] != ']') {
                if (pat[i] == '\\' && i + 1 < plen) {
                        hit |= (unsigned char)pat[i + 1] == c;
                        i += 2;
                } else if (i + 2 < plen && pat[i + 1] == '-' && pat[i + 2] != ']') {
                        unsigned char a = (unsigned char)pat[i], b = (unsigned char)pat[i + 2];
                        if (a > b) {
                                unsigned char t = a;
                                a = b;
                                b = t;
                        }
                        hit |= c >= a && c <= b;
                        i += 3;
                } else {
                        hit |= (unsigned char)pat[i] == c;
                        i++;
                }
        }
        *matched = neg ? !hit : hit;
        return i < plen ? i + 1 : i;
}

bool redis_glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
        /* iterative, with one backtrack point: the last '*' seen */
        size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
        while (i < slen) {
                if (p < plen && pat[p] == '*') {
                        star_p = ++p;
                        star_i = i;
                        continue;
                }
                if (p < plen) {
                        bool ok;
                        size_t step = 1;
                        if (pat[p] == '?') {
                                ok = true;
                        } else if (pat[p] == '[') {
                                step = 1 + glob_class(pat + p + 1, plen - p - 1, (unsigned char)s[i], &ok);
                        } else if (pat[p] == '\\' && p + 1 < plen) {
                                ok = pat[p + 1] == s[i];
                                step = 2;
                        } else {
                                ok = pat[p] == s[i];
                        }
                        if (ok) {
                                p += step;
                                i++;
                                continue;
                        }
                }
                if (star_p == (size_t)-1)
                        return false;
                p = star_p;
                i = ++star_i;
        }
        while (p < plen && pat[p] == '*')
                p++;
        return p == plen;
}

/* ------------------------------------------------------------------------ */
/* cluster */

int redis_is_cluster(redisContext *c)
{
        redisReply *r;
        int rc = redis_cmd(c, &r, "INFO cluster");
        if (rc < 0)
                return rc;
        rc = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_enabled:1") != NULL;
        freeReplyObject(r);
        return rc;
}

void redis_nodes_free(RedisNode *nodes, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(nodes[i].host);
                free(nodes[i].slots);
        }
        free(nodes);
}

static int cmp_node(const void *a, const void *b)
{
        const RedisNode *x = a, *y = b;
        return x->slots[0][0] - y->slots[0][0];
}

static int cmp_range(const void *a, const void *b)
{
        return ((const int *)a)[0] - ((const int *)b)[0];
}

int redis_cluster_masters(redisContext *c, const char *fallback_host, RedisNode **out, size_t *n)
{
        redisReply *r;
        int rc = redis_cmd(c, &r, "CLUSTER SLOTS");
        if (rc < 0)
                return rc;
        RedisNode *nodes = NULL;
        size_t nn = 0;
        if (r->type != REDIS_REPLY_ARRAY)
                rc = error_ret(-EPROTO, "unexpected CLUSTER SLOTS reply");
        for (size_t i = 0; rc == 0 && i < r->elements; i++) {
                redisReply *e = r->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[2]->type != REDIS_REPLY_ARRAY ||
                    e->element[2]->elements < 3) {
                        rc = error_ret(-EPROTO, "unexpected CLUSTER SLOTS entry");
                        break;
                }
                redisReply *m = e->element[2];
                const char *id = m->element[2]->str;
                size_t k;
                for (k = 0; k < nn && strcmp(nodes[k].id, id) != 0; k++)
                        ;
                if (k == nn) {
                        RedisNode *v = realloc(nodes, (nn + 1) * sizeof(*v));
                        if (!v) {
                                rc = -ENOMEM;
                                break;
                        }
                        nodes = v;
                        memset(&nodes[nn], 0, sizeof(nodes[nn]));
                        const char *h = m->element[0]->str;
                        nodes[nn].host = strdup(h && *h && strcmp(h, "?") != 0 ? h : fallback_host);
                        nodes[nn].port = (int)m->element[1]->integer;
                        snprintf(nodes[nn].id, sizeof(nodes[nn].id), "%s", id);
                        nn++;
                }
                int(*s)[2] = realloc(nodes[k].slots, (nodes[k].nslots + 1) * sizeof(*s));
                if (!s) {
                        rc = -ENOMEM;
                        break;
                }
                nodes[k].slots = s;
                s[nodes[k].nslots][0] = (int)e->element[0]->integer;
                s[nodes[k].nslots][1] = (int)e->element[1]->integer;
                nodes[k].nslots++;
        }
        freeReplyObject(r);
        if (rc == 0 && nn == 0)
                rc = error_ret(-EPROTO, "the cluster has no slots assigned (is it created?)");
        if (rc < 0) {
                redis_nodes_free(nodes, nn);
                return rc;
        }
        for (size_t k = 0; k < nn; k++)
                qsort(nodes[k].slots, nodes[k].nslots, sizeof(*nodes[k].slots), cmp_range);
        qsort(nodes, nn, sizeof(*nodes), cmp_node);
        *out = nodes;
        *n = nn;
        return 0;
}

/* CRC16-CCITT (XMODEM: poly 0x1021, init 0), as the cluster specification
 * names it; the table is built once. */
static uint16_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
        for (unsigned i = 0; i < 256; i++) {
                uint16_t v = (uint16_t)(i << 8);
                for (int b = 0; b < 8; b++)
                        v = (uint16_t)(v & 0x8000 ? (v << 1) ^ 0x1021 : v << 1);
                crc_table[i] = v;
        }
}

unsigned redis_key_slot(const char *key, size_t len)
{
        pthread_once(&crc_once, crc_init);
        /* {tag}: only the part between the first { and the next } is
         * hashed, when that part is not empty */
        const char *open = memchr(key, '{', len);
        if (open) {
                const char *close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
                if (close && close > open + 1) {
                        key = open + 1;
                        len = (size_t)(close - key);
                }
        }
        uint16_t crc = 0;
        for (size_t i = 0; i < len; i++)
                crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ (unsigned char)key[i]) & 0xff]);
        return crc & 16383;
}
