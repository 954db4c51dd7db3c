/* crypto.c — see crypto.h. libsodium only. */
#include "crypto.h"

#include <errno.h>
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

static void seal_with(const uint8_t *key, const void *plain, size_t n, uint8_t *out)
{
        randombytes_buf(out, NONCE_LEN);
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_LEN, NULL, plain, n, NULL, 0, NULL, out, key);
}

static int open_with(const uint8_t *key, const void *sealed, size_t n, uint8_t *out)
{
        if (n < CRYPTO_OVERHEAD)
                return -EBADMSG;
        const uint8_t *s = sealed;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, s + NONCE_LEN, n - NONCE_LEN, NULL, 0, s,
                                                       key) != 0)
                return -EBADMSG;
        return 0;
}

void crypto_seal_to(const MasterKey *k, const void *plain, size_t n, uint8_t *out)
{
        seal_with(k->enc, plain, n, out);
}

void crypto_seal_inplace(const MasterKey *k, uint8_t *buf, size_t n)
{
        randombytes_buf(buf, NONCE_LEN);
        crypto_aead_xchacha20poly1305_ietf_encrypt(buf + NONCE_LEN, NULL, buf + NONCE_LEN, n, NULL, 0, NULL, buf,
                                                   k->enc);
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
        seal_with(key, plain, n, out->data + out->len);
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
