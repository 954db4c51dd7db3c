/* test_crypto.c — unit tests for repo/crypto.c and repo/key.c.
 *
 * Sealing is checked for its exact size, for round trips at the sizes a
 * repository stores (empty, tiny, a page, a chunk), and for rejecting any
 * single-bit change anywhere in the sealed bytes. Ids are pinned to the
 * published BLAKE2b-256 test vector. Key files run on the in-memory backend
 * with the cheapest KDF so the tests stay fast. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "crypto.h"
#include "key.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(crypto, .init = setup);

static MasterKey *key_random(void)
{
        MasterKey *k = crypto_key_new_random();
        cr_assert_not_null(k);
        return k;
}

static void fill_pattern(uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(i * 131 + (i >> 8));
}

static KdfParams kdf_min(void)
{
        KdfParams kdf;
        cr_assert_eq(key_kdf_parse("min", &kdf), 0);
        return kdf;
}

static void hex_of(const uint8_t id[ID_LEN], char out[ID_HEX_LEN + 1])
{
        util_hex(id, ID_LEN, out);
}

/* ---- sealing ---- */

Test(crypto, overhead_is_nonce_plus_tag)
{
        cr_assert_eq(CRYPTO_OVERHEAD, 40);
        cr_assert_eq(CRYPTO_OVERHEAD, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                              crypto_aead_xchacha20poly1305_ietf_ABYTES);
        MasterKey *k = key_random();
        Buf b = {0};
        cr_assert_eq(crypto_seal(k, "abc", 3, &b), 0);
        cr_assert_eq(b.len, 43);
        cr_assert_eq(crypto_seal(k, "", 0, &b), 0, "seal appends");
        cr_assert_eq(b.len, 83);
        buf_free(&b);
        crypto_key_free(k);
}

Test(crypto, seal_open_round_trip_sizes)
{
        static const size_t sizes[] = {0, 1, 4096, 1024 * 1024};
        MasterKey *k = key_random();
        uint8_t *plain = malloc(1024 * 1024);
        cr_assert_not_null(plain);
        fill_pattern(plain, 1024 * 1024);

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                size_t n = sizes[i];
                Buf sealed = {0}, opened = {0};
                cr_assert_eq(crypto_seal(k, plain, n, &sealed), 0);
                cr_assert_eq(sealed.len, n + CRYPTO_OVERHEAD);
                cr_assert_eq(crypto_open(k, sealed.data, sealed.len, &opened), 0, "size %zu", n);
                cr_assert_eq(opened.len, n);
                if (n)
                        cr_assert_arr_eq(opened.data, plain, n, "size %zu", n);

                /* the caller-buffer variants agree */
                uint8_t *to = malloc(n + CRYPTO_OVERHEAD);
                uint8_t *back = malloc(n + 1);
                cr_assert(to && back);
                crypto_seal_to(k, plain, n, to);
                cr_assert_eq(crypto_open_to(k, to, n + CRYPTO_OVERHEAD, back), 0);
                if (n)
                        cr_assert_arr_eq(back, plain, n);
                opened.len = 0;
                cr_assert_eq(crypto_open(k, to, n + CRYPTO_OVERHEAD, &opened), 0);
                cr_assert_eq(opened.len, n);

                free(to);
                free(back);
                buf_free(&sealed);
                buf_free(&opened);
        }
        free(plain);
        crypto_key_free(k);
}

Test(crypto, nonce_is_fresh_each_seal)
{
        MasterKey *k = key_random();
        Buf a = {0}, b = {0};
        cr_assert_eq(crypto_seal(k, "same", 4, &a), 0);
        cr_assert_eq(crypto_seal(k, "same", 4, &b), 0);
        cr_assert_eq(a.len, b.len);
        cr_assert_neq(memcmp(a.data, b.data, 24), 0, "nonces differ");
        cr_assert_neq(memcmp(a.data + 24, b.data + 24, a.len - 24), 0, "so do ciphertexts");
        buf_free(&a);
        buf_free(&b);
        crypto_key_free(k);
}

Test(crypto, every_bit_flip_fails_authentication)
{
        MasterKey *k = key_random();
        uint8_t plain[16];
        fill_pattern(plain, sizeof(plain));
        Buf sealed = {0}, out = {0};
        cr_assert_eq(crypto_seal(k, plain, sizeof(plain), &sealed), 0);
        cr_assert_eq(sealed.len, 56);

        /* nonce [0,24), ciphertext [24,40), tag [40,56) */
        size_t tried = 0;
        for (size_t byte = 0; byte < sealed.len; byte++)
                for (int bit = 0; bit < 8; bit++) {
                        sealed.data[byte] ^= (uint8_t)(1u << bit);
                        out.len = 0;
                        cr_assert_eq(crypto_open(k, sealed.data, sealed.len, &out), -EBADMSG, "byte %zu bit %d",
                                     byte, bit);
                        cr_assert_eq(out.len, 0, "nothing appended on failure");
                        uint8_t to[16];
                        cr_assert_eq(crypto_open_to(k, sealed.data, sealed.len, to), -EBADMSG);
                        sealed.data[byte] ^= (uint8_t)(1u << bit);
                        tried++;
                }
        cr_assert_eq(tried, 448);
        /* and the untouched message still opens */
        cr_assert_eq(crypto_open(k, sealed.data, sealed.len, &out), 0);
        cr_assert_arr_eq(out.data, plain, 16);

        buf_free(&sealed);
        buf_free(&out);
        crypto_key_free(k);
}

Test(crypto, truncated_input_fails_authentication)
{
        MasterKey *k = key_random();
        Buf sealed = {0}, out = {0};
        cr_assert_eq(crypto_seal(k, "hello", 5, &sealed), 0);
        for (size_t n = 0; n < sealed.len; n++)
                cr_assert_eq(crypto_open(k, sealed.data, n, &out), -EBADMSG, "length %zu", n);
        cr_assert_eq(out.len, 0);
        buf_free(&sealed);
        buf_free(&out);
        crypto_key_free(k);
}

Test(crypto, wrong_key_fails_authentication)
{
        MasterKey *k1 = key_random(), *k2 = key_random();
        Buf sealed = {0}, out = {0};
        cr_assert_eq(crypto_seal(k1, "secret", 6, &sealed), 0);
        cr_assert_eq(crypto_open(k2, sealed.data, sealed.len, &out), -EBADMSG);
        cr_assert_eq(out.len, 0);
        cr_assert_eq(crypto_open(k1, sealed.data, sealed.len, &out), 0);
        cr_assert_eq(out.len, 6);

        /* raw-key variants: the password-derived key */
        uint8_t raw1[32], raw2[32];
        randombytes_buf(raw1, sizeof(raw1));
        randombytes_buf(raw2, sizeof(raw2));
        sealed.len = out.len = 0;
        cr_assert_eq(crypto_seal_raw(raw1, "secret", 6, &sealed), 0);
        cr_assert_eq(crypto_open_raw(raw2, sealed.data, sealed.len, &out), -EBADMSG);
        cr_assert_eq(crypto_open_raw(raw1, sealed.data, sealed.len, &out), 0);
        cr_assert_arr_eq(out.data, "secret", 6);

        buf_free(&sealed);
        buf_free(&out);
        crypto_key_free(k1);
        crypto_key_free(k2);
}

/* ---- ids ---- */

Test(crypto, object_id_is_blake2b_256)
{
        uint8_t id[ID_LEN];
        char hex[ID_HEX_LEN + 1];
        crypto_object_id("abc", 3, id);
        hex_of(id, hex);
        cr_assert_str_eq(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
        crypto_object_id("", 0, id);
        hex_of(id, hex);
        cr_assert_str_eq(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

Test(crypto, blob_id_is_keyed)
{
        MasterKey *k1 = key_random(), *k2 = key_random();
        uint8_t a[ID_LEN], b[ID_LEN], c[ID_LEN], plain[ID_LEN], other[ID_LEN];
        crypto_blob_id(k1, "abc", 3, a);
        crypto_blob_id(k1, "abc", 3, b);
        crypto_blob_id(k2, "abc", 3, c);
        crypto_object_id("abc", 3, plain);
        crypto_blob_id(k1, "abd", 3, other);
        cr_assert_arr_eq(a, b, ID_LEN, "same key, same id");
        cr_assert_arr_neq(a, c, ID_LEN, "another key, another id");
        cr_assert_arr_neq(a, plain, ID_LEN, "not the unkeyed hash");
        cr_assert_arr_neq(a, other, ID_LEN);

        /* exactly BLAKE2b-256 keyed with the id key (not the encryption key) */
        uint8_t want[ID_LEN];
        crypto_generichash(want, ID_LEN, (const uint8_t *)"abc", 3, k1->id, CRYPTO_KEY_LEN);
        cr_assert_arr_eq(a, want, ID_LEN);
        crypto_key_free(k1);
        crypto_key_free(k2);
}

Test(crypto, key_new_is_zeroed_and_random_is_not)
{
        MasterKey *z = crypto_key_new(), *r = key_random();
        cr_assert_not_null(z);
        cr_assert(sodium_is_zero((const unsigned char *)z, sizeof(*z)));
        cr_assert_not(sodium_is_zero((const unsigned char *)r, sizeof(*r)));
        cr_assert_arr_neq(r->enc, r->id, CRYPTO_KEY_LEN);
        crypto_key_free(z);
        crypto_key_free(r);
        crypto_key_free(NULL);
}

/* ---- key files ---- */

Test(crypto, kdf_parse)
{
        KdfParams kdf;
        cr_assert_eq(key_kdf_parse("min", &kdf), 0);
        cr_assert_eq(kdf.ops, crypto_pwhash_OPSLIMIT_MIN);
        cr_assert_eq(kdf.mem, crypto_pwhash_MEMLIMIT_MIN);
        cr_assert_eq(key_kdf_parse("interactive", &kdf), 0);
        cr_assert_eq(kdf.ops, crypto_pwhash_OPSLIMIT_INTERACTIVE);
        cr_assert_eq(kdf.mem, crypto_pwhash_MEMLIMIT_INTERACTIVE);
        cr_assert_eq(key_kdf_parse(NULL, &kdf), 0, "the default");
        cr_assert_eq(kdf.mem, crypto_pwhash_MEMLIMIT_INTERACTIVE);
        cr_assert_eq(key_kdf_parse("moderate", &kdf), 0);
        cr_assert_eq(kdf.ops, crypto_pwhash_OPSLIMIT_MODERATE);
        cr_assert_eq(kdf.mem, crypto_pwhash_MEMLIMIT_MODERATE);
        cr_assert_eq(key_kdf_parse("fast", &kdf), -EINVAL);
        cr_assert_eq(key_kdf_parse("", &kdf), -EINVAL);
}

Test(crypto, key_add_open_round_trip)
{
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        MasterKey *mk = key_random(), *got = NULL;
        KdfParams kdf = kdf_min();
        char id[ID_HEX_LEN + 1] = "", opened_id[ID_HEX_LEN + 1] = "";

        cr_assert_eq(key_add(be, mk, "pw", 2, &kdf, id), 0);
        cr_assert_eq(strlen(id), ID_HEX_LEN);
        char name[ID_HEX_LEN + 8];
        snprintf(name, sizeof(name), "keys/%s", id);
        uint64_t size;
        cr_assert_eq(backend_stat(be, name, &size), 0);

        /* the key file is plain JSON named by its hash */
        Buf b = {0};
        cr_assert_eq(backend_read(be, name, 0, 0, &b), 0);
        uint8_t oid[ID_LEN];
        char ohex[ID_HEX_LEN + 1];
        crypto_object_id(b.data, b.len, oid);
        hex_of(oid, ohex);
        cr_assert_str_eq(ohex, id);
        json_error_t err;
        json_t *j = json_loadb((const char *)b.data, b.len, 0, &err);
        cr_assert_not_null(j);
        cr_assert_str_eq(json_string_value(json_object_get(j, "kdf")), "argon2id");
        cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
        cr_assert_eq(json_integer_value(json_object_get(j, "ops")), (json_int_t)crypto_pwhash_OPSLIMIT_MIN);
        cr_assert_eq(json_integer_value(json_object_get(j, "mem")), (json_int_t)crypto_pwhash_MEMLIMIT_MIN);
        cr_assert_eq(strlen(json_string_value(json_object_get(j, "salt"))), 32);
        cr_assert_eq(strlen(json_string_value(json_object_get(j, "data"))), 2 * (64 + CRYPTO_OVERHEAD));
        json_decref(j);

        cr_assert_eq(key_open(be, "pw", 2, &got, opened_id), 0);
        cr_assert_not_null(got);
        cr_assert_str_eq(opened_id, id);
        cr_assert_arr_eq(got->enc, mk->enc, CRYPTO_KEY_LEN);
        cr_assert_arr_eq(got->id, mk->id, CRYPTO_KEY_LEN);

        buf_free(&b);
        crypto_key_free(got);
        crypto_key_free(mk);
        backend_close(be);
}

Test(crypto, key_open_wrong_password_is_eacces)
{
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        MasterKey *mk = key_random(), *got = NULL;
        KdfParams kdf = kdf_min();
        char id[ID_HEX_LEN + 1];

        cr_assert_eq(key_open(be, "pw", 2, &got, NULL), -ENOENT, "no key files at all");
        cr_assert_eq(key_add(be, mk, "correct horse", 13, &kdf, id), 0);
        cr_assert_eq(key_open(be, "correct hors", 12, &got, NULL), -EACCES);
        cr_assert_eq(key_open(be, "correct horsf", 13, &got, NULL), -EACCES);
        cr_assert_eq(key_open(be, "", 0, &got, NULL), -EACCES);
        cr_assert_null(got);
        cr_assert_eq(key_open(be, "correct horse", 13, &got, NULL), 0, "id_out is optional");
        cr_assert_arr_eq(got->enc, mk->enc, CRYPTO_KEY_LEN);

        crypto_key_free(got);
        crypto_key_free(mk);
        backend_close(be);
}

Test(crypto, key_two_passwords_open_same_master_key)
{
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        MasterKey *mk = key_random(), *a = NULL, *b = NULL;
        KdfParams kdf = kdf_min();
        char id1[ID_HEX_LEN + 1], id2[ID_HEX_LEN + 1], got1[ID_HEX_LEN + 1], got2[ID_HEX_LEN + 1];

        cr_assert_eq(key_add(be, mk, "first", 5, &kdf, id1), 0);
        cr_assert_eq(key_add(be, mk, "second", 6, &kdf, id2), 0);
        cr_assert_str_neq(id1, id2);
        cr_assert_eq(key_open(be, "first", 5, &a, got1), 0);
        cr_assert_eq(key_open(be, "second", 6, &b, got2), 0);
        cr_assert_str_eq(got1, id1, "each password finds its own key file");
        cr_assert_str_eq(got2, id2);
        cr_assert_arr_eq(a->enc, mk->enc, CRYPTO_KEY_LEN);
        cr_assert_arr_eq(a->id, mk->id, CRYPTO_KEY_LEN);
        cr_assert_arr_eq(b->enc, mk->enc, CRYPTO_KEY_LEN);
        cr_assert_arr_eq(b->id, mk->id, CRYPTO_KEY_LEN);
        MasterKey *c = NULL;
        cr_assert_eq(key_open(be, "third", 5, &c, NULL), -EACCES);

        crypto_key_free(a);
        crypto_key_free(b);
        crypto_key_free(mk);
        backend_close(be);
}

Test(crypto, key_list_counts_key_files)
{
        Backend *be;
        cr_assert_eq(backend_mem_open(&be), 0);
        MasterKey *mk = key_random();
        KdfParams kdf = kdf_min();
        char ids[3][ID_HEX_LEN + 1];
        json_t *list = NULL;

        cr_assert_eq(key_list(be, &list), 0);
        cr_assert_eq(json_array_size(list), 0);
        json_decref(list);

        for (int i = 0; i < 3; i++)
                cr_assert_eq(key_add(be, mk, "pw", 2, &kdf, ids[i]), 0);
        /* something else in the repository is not a key */
        cr_assert_eq(backend_write(be, "config", "x", 1), 0);
        cr_assert_eq(key_list(be, &list), 0);
        cr_assert_eq(json_array_size(list), 3);
        int found = 0;
        for (size_t i = 0; i < 3; i++) {
                json_t *e = json_array_get(list, i);
                const char *id = json_string_value(json_object_get(e, "id"));
                cr_assert_not_null(id);
                for (int k = 0; k < 3; k++)
                        found += strcmp(id, ids[k]) == 0;
                cr_assert_eq(json_integer_value(json_object_get(e, "kdf_mem")),
                             (json_int_t)crypto_pwhash_MEMLIMIT_MIN);
                cr_assert_eq(json_integer_value(json_object_get(e, "kdf_ops")),
                             (json_int_t)crypto_pwhash_OPSLIMIT_MIN);
                cr_assert(json_is_string(json_object_get(e, "created")));
        }
        cr_assert_eq(found, 3);

        json_decref(list);
        crypto_key_free(mk);
        backend_close(be);
}

/* libcrypto's ChaCha20-Poly1305 under libsodium's HChaCha20 subkey gives
 * libsodium's XChaCha20-Poly1305 bytes exactly, both ways, in place too,
 * at sizes around the block (64), the Poly1305 block (16) and the 4 KiB
 * switch-over. */
Test(crypto, aead_implementations_agree)
{
        static const size_t sizes[] = {0, 1, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 65537, (1u << 20) + 3};
        const size_t max = (1u << 20) + 3;
        uint8_t key[32], nonce[24];
        uint8_t *plain = malloc(max), *a = malloc(max + 16), *b = malloc(max + 16), *back = malloc(max + 16);
        cr_assert(plain && a && b && back);
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                size_t n = sizes[i];
                randombytes_buf(key, sizeof(key));
                randombytes_buf(nonce, sizeof(nonce));
                randombytes_buf(plain, n);
                cr_assert_eq(crypto_aead_seal(CRYPTO_AEAD_SODIUM, key, nonce, plain, n, a), 0);
                cr_assert_eq(crypto_aead_seal(CRYPTO_AEAD_LIBCRYPTO, key, nonce, plain, n, b), 0);
                cr_assert_arr_eq(a, b, n + 16, "sealed bytes differ at size %zu", n);
                cr_assert_eq(crypto_aead_seal(CRYPTO_AEAD_AUTO, key, nonce, plain, n, b), 0);
                cr_assert_arr_eq(a, b, n + 16, "auto at size %zu", n);
                for (int impl = CRYPTO_AEAD_AUTO; impl <= CRYPTO_AEAD_LIBCRYPTO; impl++) {
                        memset(back, 0xAA, n);
                        cr_assert_eq(crypto_aead_open((CryptoAead)impl, key, nonce, a, n + 16, back), 0,
                                     "open %d, size %zu", impl, n);
                        if (n)
                                cr_assert_arr_eq(back, plain, n, "open %d, size %zu", impl, n);
                }
                /* in place: the plaintext where the ciphertext goes */
                memcpy(b, plain, n);
                cr_assert_eq(crypto_aead_seal(CRYPTO_AEAD_LIBCRYPTO, key, nonce, b, n, b), 0);
                cr_assert_arr_eq(a, b, n + 16, "in-place seal at size %zu", n);
                cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, b, n + 16, b), 0);
                if (n)
                        cr_assert_arr_eq(b, plain, n, "in-place open at size %zu", n);
        }
        free(plain);
        free(a);
        free(b);
        free(back);
}

/* The libcrypto path rejects a change in any part (both halves of the
 * nonce, the ciphertext, every tag byte), a wrong key and a short input,
 * and leaves zeros, never unauthenticated plaintext. */
Test(crypto, aead_libcrypto_rejects_tampering)
{
        enum { N = 8192 };
        uint8_t key[32], nonce[24], plain[N], sealed[N + 16], out[N], zero[N] = {0};
        randombytes_buf(key, sizeof(key));
        randombytes_buf(nonce, sizeof(nonce));
        randombytes_buf(plain, sizeof(plain));
        cr_assert_eq(crypto_aead_seal(CRYPTO_AEAD_LIBCRYPTO, key, nonce, plain, N, sealed), 0);
        static const size_t nonce_at[] = {0, 15, 16, 23};
        for (size_t i = 0; i < ELEMENTSOF(nonce_at); i++) {
                nonce[nonce_at[i]] ^= 0x80;
                memset(out, 0xAA, N);
                cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, sealed, N + 16, out), -EBADMSG,
                             "nonce byte %zu", nonce_at[i]);
                cr_assert_arr_eq(out, zero, N, "zeroed after a failure");
                nonce[nonce_at[i]] ^= 0x80;
        }
        static const size_t at[] = {0, 1, 4095, 4096, N - 1};
        for (size_t i = 0; i < ELEMENTSOF(at) + 16; i++) {
                size_t byte = i < ELEMENTSOF(at) ? at[i] : N + (i - ELEMENTSOF(at));
                for (int bit = 0; bit < 8; bit += 7) {
                        sealed[byte] ^= (uint8_t)(1u << bit);
                        cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, sealed, N + 16, out),
                                     -EBADMSG, "byte %zu bit %d", byte, bit);
                        sealed[byte] ^= (uint8_t)(1u << bit);
                }
        }
        cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, sealed, N + 15, out), -EBADMSG);
        cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, sealed, 15, out), -EBADMSG);
        key[31] ^= 1;
        cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, sealed, N + 16, out), -EBADMSG);
        key[31] ^= 1;
        cr_assert_eq(crypto_aead_open(CRYPTO_AEAD_LIBCRYPTO, key, nonce, sealed, N + 16, out), 0);
        cr_assert_arr_eq(out, plain, N);
}
