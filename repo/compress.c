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

#include <pthread.h>

/* One compression and one decompression context per thread, freed when
 * the thread exits. */
typedef struct Ctx {
        ZSTD_CCtx *c;
        ZSTD_DCtx *d;
        Buf trial; /* a hint's probe: the blob at zstd 1 */
} Ctx;

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *p)
{
        Ctx *x = p;
        ZSTD_freeCCtx(x->c);
        ZSTD_freeDCtx(x->d);
        buf_free(&x->trial);
        free(x);
}

static void ctx_init(void)
{
        pthread_key_create(&ctx_key, ctx_free);
}

static Ctx *ctx_get(void)
{
        pthread_once(&ctx_once, ctx_init);
        Ctx *x = pthread_getspecific(ctx_key);
        if (!x) {
                x = calloc(1, sizeof(*x));
                if (!x || pthread_setspecific(ctx_key, x) != 0) {
                        free(x);
                        return NULL;
                }
        }
        return x;
}

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

/* auto is zstd 3: level 1 was 7% faster on the benchmark data but left the
 * repository 3% larger than restic's; 3 makes it smaller. */
static int zstd_level(int level)
{
        switch (level) {
        case COMPRESS_FAST:
                return -1;
        case COMPRESS_MAX:
                return 12;
        default:
                return 3;
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

static bool looks_incompressible(ZSTD_CCtx *cctx, const uint8_t *p, size_t n)
{
        enum { SAMPLE = 32 * 1024 };
        uint8_t tmp[SAMPLE + 1024];
        if (n < 4 * SAMPLE)
                return false;
        const uint8_t *s = p + n / 2 - SAMPLE / 2;
        size_t c = ZSTD_compressCCtx(cctx, tmp, sizeof(tmp), s, SAMPLE, -5);
        return ZSTD_isError(c) || c > SAMPLE - SAMPLE / 32;
}

/* zstd at zlevel into out after its header byte; the frame's size, or
 * 0 when it failed or saved nothing. */
static size_t zstd_into(ZSTD_CCtx *cctx, const void *p, size_t n, int zlevel, Buf *out, int *err)
{
        size_t bound = ZSTD_compressBound(n);
        *err = buf_reserve(out, bound + 1);
        if (*err < 0)
                return 0;
        size_t c = ZSTD_compressCCtx(cctx, out->data + out->len + 1, bound, p, n, zlevel);
        return ZSTD_isError(c) || c >= n ? 0 : c;
}

CompressHint *compress_hint_new(void)
{
        CompressHint *h = calloc(1, sizeof(*h));
        if (h)
                h->refs = 1; /* zlevel 0: not decided yet */
        return h;
}

CompressHint *compress_hint_ref(CompressHint *h)
{
        if (h)
                __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
        return h;
}

void compress_hint_unref(CompressHint *h)
{
        if (h && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
                free(h);
}

int compress_blob_hint(int level, CompressHint *h, const void *p, size_t n, Buf *out, int *used)
{
        int dummy;
        if (!used)
                used = &dummy;
        *used = 0;
        if (level == COMPRESS_OFF || n < 64)
                return append_raw(p, n, out);
        Ctx *x = ctx_get();
        if (!x || (!x->c && !(x->c = ZSTD_createCCtx())))
                return -ENOMEM;
        ZSTD_CCtx *cctx = x->c;
        if (looks_incompressible(cctx, p, n))
                return append_raw(p, n, out);
        if (level != COMPRESS_AUTO)
                h = NULL;
        bool probe = h && __atomic_fetch_add(&h->seq, 1, __ATOMIC_RELAXED) % COMPRESS_PROBE_EVERY == 0;
        /* until the first probe has decided (zlevel 0), zstd 3: other
         * workers do not wait for it (a core would sit idle while the
         * producer's queue is full; no faster in A/B runs) */
        int zlevel = zstd_level(level);
        if (h && !probe)
                zlevel = __atomic_load_n(&h->zlevel, __ATOMIC_RELAXED) ?: zlevel;
        int r;
        size_t c = zstd_into(cctx, p, n, zlevel, out, &r), f = 0;
        if (probe && r == 0) {
                x->trial.len = 0;
                f = zstd_into(cctx, p, n, 1, &x->trial, &r);
        }
        if (probe)
                __atomic_store_n(&h->zlevel, r == 0 && f && (!c || f <= c + c / 100) ? 1 : zstd_level(COMPRESS_AUTO),
                                 __ATOMIC_RELAXED);
        if (r < 0)
                return r;
        if (f && (!c || f < c)) { /* the probe's smaller output */
                memcpy(out->data + out->len + 1, x->trial.data + 1, f);
                c = f;
                zlevel = 1;
        }
        if (!c)
                return append_raw(p, n, out);
        *used = zlevel;
        out->data[out->len] = 1;
        out->len += c + 1;
        return 0;
}

int compress_blob(int level, const void *p, size_t n, Buf *out)
{
        return compress_blob_hint(level, NULL, p, n, out, NULL);
}

const uint8_t *compress_stored(const void *p, size_t n, size_t raw_len)
{
        const uint8_t *b = p;
        return n >= 1 && b[0] == 0 && n - 1 == raw_len ? b + 1 : NULL;
}

int compress_unblob(const void *p, size_t n, size_t raw_len, Buf *out)
{
        const uint8_t *b = p;
        if (n < 1)
                return -EBADMSG;
        const uint8_t *stored = compress_stored(p, n, raw_len);
        if (stored)
                return buf_append(out, stored, raw_len);
        if (b[0] != 1) /* also a stored form of the wrong length */
                return -EBADMSG;
        Ctx *x = ctx_get();
        if (!x || (!x->d && !(x->d = ZSTD_createDCtx())))
                return -ENOMEM;
        ZSTD_DCtx *dctx = x->d;
        int r = buf_reserve(out, raw_len + 1);
        if (r < 0)
                return r;
        size_t d = ZSTD_decompressDCtx(dctx, out->data + out->len, raw_len, b + 1, n - 1);
        if (ZSTD_isError(d) || d != raw_len)
                return -EBADMSG;
        out->len += d;
        return 0;
}
