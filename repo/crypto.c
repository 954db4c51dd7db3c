/* crypto.c — see crypto.h. libsodium, and libcrypto for the bulk of the
 * AEAD, where it measured 2.3-2.4x faster. */
#include "crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(NONCE_LEN + TAG_LEN == CRYPTO_OVERHEAD, "sealed overhead");

MasterKey *crypto_key_new(void)
{
        MasterKey *k = sodium_malloc(sizeof(*k));
        if (k)
                sodium_memzero(k, sizeof(*k));
        return k;
}

MasterKey *crypto_key_new_random(void)
{
        MasterKey *k = crypto_key_new();
        if (k)
                randombytes_buf(k, sizeof(*k));
        return k;
}

void crypto_key_free(MasterKey *k)
{
        if (k)
                sodium_free(k); /* wipes */
}

/* ---- the AEAD ----
 * libsodium's XChaCha20-Poly1305-IETF is ChaCha20-Poly1305 (RFC 8439) under
 * the subkey HChaCha20(key, nonce[0..16)) and the 12-byte nonce
 * 0^4 || nonce[16..24). libcrypto runs the RFC 8439 part with AVX-512:
 * 2.2-3.1 GB/s against libsodium 1.0.18's 1.0-1.3 here (8 MiB pieces). Below 4 KiB libsodium is
 * as fast (no context to set up) and stays. */
#define LIBCRYPTO_FROM 4096

static EVP_CIPHER *chacha;
static pthread_key_t evp_key;
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

static void evp_ctx_free(void *p)
{
        EVP_CIPHER_CTX_free(p);
}

static void evp_init(void)
{
        if (pthread_key_create(&evp_key, evp_ctx_free) == 0)
                chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

/* This thread's context, or NULL when libcrypto cannot run the cipher. */
static EVP_CIPHER_CTX *evp_ctx(void)
{
        pthread_once(&evp_once, evp_init);
        if (!chacha)
                return NULL;
        EVP_CIPHER_CTX *c = pthread_getspecific(evp_key);
        if (!c && (c = EVP_CIPHER_CTX_new()) && pthread_setspecific(evp_key, c) != 0) {
                EVP_CIPHER_CTX_free(c);
                c = NULL;
        }
        return c;
}

/* enc: in[0..n) to out[0..n) and the tag to out + n. Else in[0..n) is
 * ciphertext followed by its tag. -ENOSYS when libcrypto could not start
 * (nothing written: the caller uses libsodium), -EBADMSG when the tag is
 * wrong, -EIO when it failed after writing (in place, the input is gone). */
static int evp_aead(int enc, const uint8_t key[32], const uint8_t nonce[24], const uint8_t *in, size_t n,
                    uint8_t *out)
{
        EVP_CIPHER_CTX *c = evp_ctx();
        if (!c)
                return -ENOSYS;
        uint8_t sub[32], iv[12] = {0};
        crypto_core_hchacha20(sub, nonce, key, NULL);
        memcpy(iv + 4, nonce + 16, 8);
        int ok = EVP_CipherInit_ex2(c, chacha, sub, iv, enc, NULL);
        sodium_memzero(sub, sizeof(sub));
        if (ok && !enc)
                ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(in + n));
        if (!ok)
                return -ENOSYS;
        int len;
        for (size_t off = 0; ok && off < n;) {
                int k = (int)MIN(n - off, (size_t)1 << 30);
                ok = EVP_CipherUpdate(c, out + off, &len, in + off, k);
                off += (size_t)k;
        }
        if (ok && !EVP_CipherFinal_ex(c, out + n, &len))
                ok = enc ? 0 : -1;
        if (ok && enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + n))
                ok = 0;
        if (ok == 1)
                return 0;
        if (!enc)
                sodium_memzero(out, n); /* never unauthenticated bytes */
        return ok < 0 ? -EBADMSG : -EIO;
}

int crypto_aead_seal(CryptoAead impl, const uint8_t key[32], const uint8_t nonce[24], const void *in, size_t n,
                     uint8_t *out)
{
        bool evp = impl == CRYPTO_AEAD_LIBCRYPTO || (impl == CRYPTO_AEAD_AUTO && n >= LIBCRYPTO_FROM);
        int rc = evp ? evp_aead(1, key, nonce, in, n, out) : -ENOSYS;
        if (rc == 0 || (rc == -EIO && in == out))
                return rc;
        crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, in, n, NULL, 0, NULL, nonce, key);
        return 0;
}

int crypto_aead_open(CryptoAead impl, const uint8_t key[32], const uint8_t nonce[24], const void *in, size_t n,
                     uint8_t *out)
{
        if (n < TAG_LEN)
                return -EBADMSG;
        bool evp = impl == CRYPTO_AEAD_LIBCRYPTO || (impl == CRYPTO_AEAD_AUTO && n - TAG_LEN >= LIBCRYPTO_FROM);
        int rc = evp ? evp_aead(0, key, nonce, in, n - TAG_LEN, out) : -ENOSYS;
        if (rc != -ENOSYS && !(rc == -EIO && in != out))
                return rc;
        return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in, n, NULL, 0, nonce, key) == 0 ? 0
                                                                                                         : -EBADMSG;
}

static int seal_with(const uint8_t *key, const void *plain, size_t n, uint8_t *out)
{
        randombytes_buf(out, NONCE_LEN);
        return crypto_aead_seal(CRYPTO_AEAD_AUTO, key, out, plain, n, out + NONCE_LEN);
}

static int open_with(const uint8_t *key, const void *sealed, size_t n, uint8_t *out)
{
        if (n < CRYPTO_OVERHEAD)
                return -EBADMSG;
        const uint8_t *s = sealed;
        return crypto_aead_open(CRYPTO_AEAD_AUTO, key, s, s + NONCE_LEN, n - NONCE_LEN, out);
}

int crypto_seal_to(const MasterKey *k, const void *plain, size_t n, uint8_t *out)
{
        return seal_with(k->enc, plain, n, out);
}

int crypto_seal_inplace(const MasterKey *k, uint8_t *buf, size_t n)
{
        randombytes_buf(buf, NONCE_LEN);
        return crypto_aead_seal(CRYPTO_AEAD_AUTO, k->enc, buf, buf + NONCE_LEN, n, buf + NONCE_LEN);
}

int crypto_seal(const MasterKey *k, const void *plain, size_t n, Buf *out)
{
        return crypto_seal_raw(k->enc, plain, n, out);
}

int crypto_open_to(const MasterKey *k, const void *sealed, size_t n, uint8_t *out)
{
        return open_with(k->enc, sealed, n, out);
}

int crypto_open(const MasterKey *k, const void *sealed, size_t n, Buf *out)
{
        return crypto_open_raw(k->enc, sealed, n, out);
}

int crypto_seal_raw(const uint8_t key[32], const void *plain, size_t n, Buf *out)
{
        int r = buf_reserve(out, n + CRYPTO_OVERHEAD);
        if (r < 0)
                return r;
        if ((r = seal_with(key, plain, n, out->data + out->len)) < 0)
                return r;
        out->len += n + CRYPTO_OVERHEAD;
        return 0;
}

int crypto_open_raw(const uint8_t key[32], const void *sealed, size_t n, Buf *out)
{
        if (n < CRYPTO_OVERHEAD)
                return -EBADMSG;
        int r = buf_reserve(out, n - CRYPTO_OVERHEAD + 1);
        if (r < 0)
                return r;
        r = open_with(key, sealed, n, out->data + out->len);
        if (r < 0)
                return r;
        out->len += n - CRYPTO_OVERHEAD;
        return 0;
}

void crypto_blob_id(const MasterKey *k, const void *p, size_t n, uint8_t id[ID_LEN])
{
        crypto_generichash(id, ID_LEN, p, n, k->id, sizeof(k->id));
}

void crypto_object_id(const void *p, size_t n, uint8_t id[ID_LEN])
{
        crypto_generichash(id, ID_LEN, p, n, NULL, 0);
}
