/* compress.c — see compress.h.
 *
 * Compression decides backup speed, so incompressible input must cost
 * almost nothing: a 32 KiB sample from the middle of the blob is compressed
 * at zstd's fastest level first, and when it shrinks by less than 3% the
 * blob is stored raw without trying the rest. */
#include "compress.h"

#include <errno.h>
#include <string.h>
#include <zstd.h>

static _Thread_local ZSTD_CCtx *cctx;
static _Thread_local ZSTD_DCtx *dctx;

int compress_parse_level(const char *s)
{
        static const char *const names[] = {"off", "fast", "auto", "max"};
        for (int i = 0; i < (int)ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *compress_level_name(int level)
{
        static const char *const names[] = {"off", "fast", "auto", "max"};
        return level >= 0 && level < 4 ? names[level] : "?";
}

static int zstd_level(int level)
{
        switch (level) {
        case COMPRESS_FAST:
                return -1;
        case COMPRESS_MAX:
                return 12;
        default:
                return 1;
        }
}

static int append_raw(const void *p, size_t n, Buf *out)
{
        int r = buf_reserve(out, n + 1);
        if (r < 0)
                return r;
        out->data[out->len++] = 0;
        memcpy(out->data + out->len, p, n);
        out->len += n;
        return 0;
}

static bool looks_incompressible(const uint8_t *p, size_t n)
{
        enum { SAMPLE = 32 * 1024 };
        static _Thread_local uint8_t tmp[SAMPLE + 1024];
        if (n < 4 * SAMPLE)
                return false;
        const uint8_t *s = p + n / 2 - SAMPLE / 2;
        size_t c = ZSTD_compressCCtx(cctx, tmp, sizeof(tmp), s, SAMPLE, -5);
        return ZSTD_isError(c) || c > SAMPLE - SAMPLE / 32;
}

int compress_blob(int level, const void *p, size_t n, Buf *out)
{
        if (level == COMPRESS_OFF || n < 64)
                return append_raw(p, n, out);
        if (!cctx && !(cctx = ZSTD_createCCtx()))
                return -ENOMEM;
        if (looks_incompressible(p, n))
                return append_raw(p, n, out);
        size_t bound = ZSTD_compressBound(n);
        int r = buf_reserve(out, bound + 1);
        if (r < 0)
                return r;
        size_t c = ZSTD_compressCCtx(cctx, out->data + out->len + 1, bound, p, n, zstd_level(level));
        if (ZSTD_isError(c) || c >= n)
                return append_raw(p, n, out);
        out->data[out->len] = 1;
        out->len += c + 1;
        return 0;
}

int compress_unblob(const void *p, size_t n, size_t raw_len, Buf *out)
{
        const uint8_t *b = p;
        if (n < 1)
                return -EBADMSG;
        if (b[0] == 0) {
                if (n - 1 != raw_len)
                        return -EBADMSG;
                return buf_append(out, b + 1, n - 1);
        }
        if (b[0] != 1)
                return -EBADMSG;
        if (!dctx && !(dctx = ZSTD_createDCtx()))
                return -ENOMEM;
        int r = buf_reserve(out, raw_len + 1);
        if (r < 0)
                return r;
        size_t d = ZSTD_decompressDCtx(dctx, out->data + out->len, raw_len, b + 1, n - 1);
        if (ZSTD_isError(d) || d != raw_len)
                return -EBADMSG;
        out->len += d;
        return 0;
}
