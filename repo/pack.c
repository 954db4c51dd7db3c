/* pack.c — see pack.h for the format. */
#include "pack.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

struct PackWriter {
        uint8_t type;
        Buf bytes;
        PackEntry *entries;
        size_t n, cap;
};

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int pack_writer_new(uint8_t type, PackWriter **out)
{
        PackWriter *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->type = type;
        *out = w;
        return 0;
}

void pack_writer_free(PackWriter *w)
{
        if (!w)
                return;
        buf_free(&w->bytes);
        free(w->entries);
        free(w);
}

void pack_writer_adopt(PackWriter *w, Buf *spare)
{
        buf_free(&w->bytes);
        w->bytes = *spare;
        w->bytes.len = 0;
        *spare = (Buf){0};
}

int64_t pack_writer_add(PackWriter *w, const uint8_t id[ID_LEN], const void *sealed, size_t n, uint32_t raw_len)
{
        if (w->bytes.len + n > UINT32_MAX)
                return -EFBIG;
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 64;
                PackEntry *p = realloc(w->entries, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                w->entries = p;
                w->cap = cap;
        }
        if (!w->bytes.data) {
                /* page-aligned, for the local backend's direct writes; the
                 * pages are only touched (and resident) as blobs arrive */
                size_t cap = PACK_TARGET_DEFAULT + ((size_t)9 << 20);
                void *p = NULL;
                if (n + 65536 <= cap && posix_memalign(&p, 4096, cap) == 0) {
                        w->bytes.data = p;
                        w->bytes.cap = cap;
                }
        }
        /* grow in large steps: a pack is written once, then freed */
        if (w->bytes.cap < w->bytes.len + n) {
                int r = buf_reserve(&w->bytes, MAX(n, (size_t)4 << 20));
                if (r < 0)
                        return r;
        }
        int64_t off = (int64_t)w->bytes.len;
        memcpy(w->bytes.data + w->bytes.len, sealed, n);
        w->bytes.len += n;
        PackEntry *e = &w->entries[w->n++];
        memcpy(e->id, id, ID_LEN);
        e->type = w->type;
        e->offset = (uint32_t)off;
        e->length = (uint32_t)n;
        e->raw_length = raw_len;
        return off;
}

size_t pack_writer_size(const PackWriter *w)
{
        return w->bytes.len;
}

size_t pack_writer_count(const PackWriter *w)
{
        return w->n;
}

uint8_t pack_writer_type(const PackWriter *w)
{
        return w->type;
}

int pack_header_encode(const MasterKey *k, const PackEntry *e, size_t n, Buf *out)
{
        uint8_t *plain = malloc(n * PACK_RECORD_LEN + 1);
        if (!plain)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                uint8_t *p = plain + i * PACK_RECORD_LEN;
                p[0] = e[i].type;
                put32(p + 1, e[i].offset);
                put32(p + 5, e[i].length);
                put32(p + 9, e[i].raw_length);
                memcpy(p + 13, e[i].id, ID_LEN);
        }
        int r = crypto_seal(k, plain, n * PACK_RECORD_LEN, out);
        free(plain);
        return r;
}

int pack_header_decode(const MasterKey *k, const uint8_t *sealed, size_t len, PackEntry **out, size_t *n)
{
        Buf plain = {0};
        int r = crypto_open(k, sealed, len, &plain);
        if (r < 0) {
                buf_free(&plain); /* a failed open may have reserved room */
                return r;
        }
        if (plain.len % PACK_RECORD_LEN) {
                buf_free(&plain);
                return -EBADMSG;
        }
        size_t count = plain.len / PACK_RECORD_LEN;
        PackEntry *e = calloc(count ? count : 1, sizeof(*e));
        if (!e) {
                buf_free(&plain);
                return -ENOMEM;
        }
        for (size_t i = 0; i < count; i++) {
                const uint8_t *p = plain.data + i * PACK_RECORD_LEN;
                e[i].type = p[0];
                e[i].offset = get32(p + 1);
                e[i].length = get32(p + 5);
                e[i].raw_length = get32(p + 9);
                memcpy(e[i].id, p + 13, ID_LEN);
        }
        buf_free(&plain);
        *out = e;
        *n = count;
        return 0;
}

int pack_writer_finish(PackWriter *w, const MasterKey *k, uint8_t id[ID_LEN], Buf *bytes, PackEntry **entries,
                       size_t *n)
{
        size_t before = w->bytes.len;
        int r = pack_header_encode(k, w->entries, w->n, &w->bytes);
        if (r < 0)
                return r;
        uint8_t len[4];
        put32(len, (uint32_t)(w->bytes.len - before));
        r = buf_append(&w->bytes, len, 4);
        if (r < 0)
                return r;
        crypto_object_id(w->bytes.data + before, w->bytes.len - before, id);
        *bytes = w->bytes;
        w->bytes = (Buf){0};
        *entries = w->entries;
        *n = w->n;
        w->entries = NULL;
        w->n = w->cap = 0;
        return 0;
}

int pack_read_header(Backend *be, const MasterKey *k, const char *name, uint64_t size, PackEntry **out, size_t *n)
{
        /* most headers fit in the last 64 KiB: one read in the common case */
        uint64_t tail = MIN(size, (uint64_t)64 * 1024);
        Buf b = {0};
        if (size < 4 + CRYPTO_OVERHEAD) {
                error_set("%s: pack too short (%llu bytes)", name, (unsigned long long)size);
                return -EBADMSG;
        }
        int r = backend_read(be, name, size - tail, tail, &b);
        if (r < 0)
                return r;
        uint32_t hlen = get32(b.data + b.len - 4);
        if ((uint64_t)hlen + 4 > size) {
                buf_free(&b);
                error_set("%s: pack header length %u is out of range", name, hlen);
                return -EBADMSG;
        }
        if ((uint64_t)hlen + 4 > tail) {
                buf_free(&b);
                r = backend_read(be, name, size - 4 - hlen, hlen + 4, &b);
                if (r < 0)
                        return r;
        }
        r = pack_header_decode(k, b.data + b.len - 4 - hlen, hlen, out, n);
        buf_free(&b);
        if (r == -EBADMSG)
                error_set("%s: pack header failed authentication", name);
        return r;
}

int pack_id_of(const uint8_t *pack, size_t len, uint8_t id[ID_LEN])
{
        if (len < 4 + CRYPTO_OVERHEAD)
                return -EBADMSG;
        uint32_t hlen = get32(pack + len - 4);
        if ((uint64_t)hlen + 4 > len)
                return -EBADMSG;
        crypto_object_id(pack + len - 4 - hlen, hlen + 4, id);
        return 0;
}

void pack_name(const uint8_t id[ID_LEN], char out[ID_HEX_LEN + 9])
{
        char hex[ID_HEX_LEN + 1];
        util_hex(id, ID_LEN, hex);
        snprintf(out, ID_HEX_LEN + 9, "data/%.2s/%s", hex, hex);
}
