/* crypto.h — the repository's keys and the sealing of every stored byte.
 *
 * Sealed format of every object and blob:
 *   nonce (24 random bytes) || XChaCha20-Poly1305 ciphertext || tag (16)
 * as libsodium's crypto_aead_xchacha20poly1305_ietf defines it. Payloads
 * of 4 KiB and more are sealed and opened with libcrypto's ChaCha20-Poly1305
 * under libsodium's HChaCha20 subkey: the same bytes, 2.3x the speed here
 * (AVX-512; `cairn selftest-aead` and the benchmark time both).
 * No associated data. Blob ids are keyed BLAKE2b-256 of the plaintext with
 * the repository's id key, so ids say nothing outside the repository.
 * Object ids (file names) are unkeyed BLAKE2b-256 of the sealed bytes. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CRYPTO_KEY_LEN 32
#define CRYPTO_OVERHEAD (24 + 16)

/* The master key: lives in sodium_malloc'd memory, wiped on free. */
typedef struct MasterKey {
        uint8_t enc[CRYPTO_KEY_LEN];  /* XChaCha20-Poly1305 */
        uint8_t id[CRYPTO_KEY_LEN];   /* BLAKE2b key for blob ids */
} MasterKey;

MasterKey *crypto_key_new_random(void);
MasterKey *crypto_key_new(void); /* zeroed, to be filled */
void crypto_key_free(MasterKey *k);

/* Seal plain[0..n) into out (appends n + CRYPTO_OVERHEAD bytes). */
int crypto_seal(const MasterKey *k, const void *plain, size_t n, Buf *out);
/* Seal into a caller buffer of n + CRYPTO_OVERHEAD bytes. 0, or -EIO. */
int crypto_seal_to(const MasterKey *k, const void *plain, size_t n, uint8_t *out);
/* Open sealed[0..n) into out (appends). -EBADMSG when authentication fails. */
int crypto_open(const MasterKey *k, const void *sealed, size_t n, Buf *out);
/* Seal in place: buf[0..24) receives the nonce, buf[24..24+n) holds the
 * plaintext and becomes ciphertext, and 16 bytes after it must be free.
 * -EIO when libcrypto failed midway (the plaintext is then lost). */
int crypto_seal_inplace(const MasterKey *k, uint8_t *buf, size_t n);
/* Open into a caller buffer of n - CRYPTO_OVERHEAD bytes. */
int crypto_open_to(const MasterKey *k, const void *sealed, size_t n, uint8_t *out);

/* Seal/open with a raw 32-byte key (the password-derived key). */
int crypto_seal_raw(const uint8_t key[32], const void *plain, size_t n, Buf *out);
int crypto_open_raw(const uint8_t key[32], const void *sealed, size_t n, Buf *out);

/* The AEAD itself, for tests and the self-test: out = ciphertext || tag
 * (in == out allowed). Open takes n = ciphertext + tag bytes, -EBADMSG
 * when authentication fails (out is then zeroed). CRYPTO_AEAD_AUTO is
 * what sealing uses: libcrypto from 4 KiB on, libsodium below and when
 * libcrypto cannot start, or fails midway with the input still intact;
 * -EIO when it failed midway in place (never wrong bytes). */
typedef enum { CRYPTO_AEAD_AUTO, CRYPTO_AEAD_SODIUM, CRYPTO_AEAD_LIBCRYPTO } CryptoAead;
int crypto_aead_seal(CryptoAead impl, const uint8_t key[32], const uint8_t nonce[24], const void *in, size_t n,
                     uint8_t *out);
int crypto_aead_open(CryptoAead impl, const uint8_t key[32], const uint8_t nonce[24], const void *in, size_t n,
                     uint8_t *out);

void crypto_blob_id(const MasterKey *k, const void *p, size_t n, uint8_t id[ID_LEN]);
void crypto_object_id(const void *p, size_t n, uint8_t id[ID_LEN]);
