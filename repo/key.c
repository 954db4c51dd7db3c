/* key.c — see key.h. The KDF's memory (64 MiB at the default cost) is
 * allocated and released inside crypto_pwhash, before any pipeline runs. */
#include "key.h"

#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "error.h"

#define SALT_LEN crypto_pwhash_SALTBYTES

int key_kdf_parse(const char *name, KdfParams *out)
{
        if (!name || strcmp(name, "interactive") == 0) {
                *out = (KdfParams){crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
        } else if (strcmp(name, "min") == 0) {
                *out = (KdfParams){crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
        } else if (strcmp(name, "moderate") == 0) {
                *out = (KdfParams){crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
        } else {
                error_set("unknown KDF cost '%s' (use min, interactive or moderate)", name);
                return -EINVAL;
        }
        return 0;
}

static int derive(const char *pw, size_t pwlen, const uint8_t *salt, unsigned long long ops, size_t mem,
                  uint8_t *key)
{
        if (ops < crypto_pwhash_OPSLIMIT_MIN || mem < crypto_pwhash_MEMLIMIT_MIN ||
            mem > ((size_t)1 << 32))
                return -EINVAL;
        if (crypto_pwhash(key, 32, pw, pwlen, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
                return -ENOMEM;
        return 0;
}

int key_add(Backend *be, const MasterKey *mk, const char *pw, size_t pwlen, const KdfParams *kdf,
            char id_out[ID_HEX_LEN + 1])
{
        uint8_t salt[SALT_LEN];
        randombytes_buf(salt, sizeof(salt));
        uint8_t *key = sodium_malloc(32);
        if (!key)
                return -ENOMEM;
        int r = derive(pw, pwlen, salt, kdf->ops, kdf->mem, key);
        if (r < 0) {
                sodium_free(key);
                return error_ret(r, "cannot derive key from password: out of memory");
        }
        Buf sealed = {0};
        r = crypto_seal_raw(key, mk, sizeof(*mk), &sealed);
        sodium_free(key);
        if (r < 0)
                return r;

        char salthex[2 * SALT_LEN + 1], now[64], host[256] = "";
        char *datahex = malloc(2 * sealed.len + 1);
        if (!datahex) {
                buf_free(&sealed);
                return -ENOMEM;
        }
        util_hex(salt, sizeof(salt), salthex);
        util_hex(sealed.data, sealed.len, datahex);
        buf_free(&sealed);
        util_format_time(time(NULL), 0, false, now, sizeof(now));
        gethostname(host, sizeof(host) - 1);
        struct passwd *pwd = getpwuid(getuid());
        json_t *j = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "version", 1, "kdf", "argon2id", "ops",
                              (json_int_t)kdf->ops, "mem", (json_int_t)kdf->mem, "salt", salthex, "created", now,
                              "host", host, "user", pwd ? pwd->pw_name : "", "data", datahex);
        free(datahex);
        if (!j)
                return -ENOMEM;
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        uint8_t id[ID_LEN];
        char name[ID_HEX_LEN + 8];
        crypto_object_id(text, strlen(text), id);
        util_hex(id, ID_LEN, id_out);
        snprintf(name, sizeof(name), "keys/%s", id_out);
        r = backend_write(be, name, text, strlen(text));
        free(text);
        return r;
}

typedef struct KeyNames {
        char (*names)[ID_HEX_LEN + 8];
        size_t n;
} KeyNames;

static int collect(const char *name, uint64_t size, void *ud)
{
        KeyNames *k = ud;
        void *p = realloc(k->names, (k->n + 1) * sizeof(*k->names));
        if (!p)
                return -ENOMEM;
        k->names = p;
        snprintf(k->names[k->n++], sizeof(*k->names), "%s", name);
        return 0;
}

static int load_json(Backend *be, const char *name, json_t **out)
{
        Buf b = {0};
        int r = backend_read(be, name, 0, 0, &b);
        if (r < 0)
                return r;
        json_error_t err;
        *out = json_loadb((const char *)b.data, b.len, 0, &err);
        buf_free(&b);
        if (!*out) {
                error_set("%s: not a key file: %s", name, err.text);
                return -EBADMSG;
        }
        return 0;
}

static int try_key(json_t *j, const char *pw, size_t pwlen, MasterKey **out)
{
        json_int_t ops = 0, mem = 0;
        const char *salthex = NULL, *datahex = NULL;
        if (json_unpack(j, "{s:I, s:I, s:s, s:s}", "ops", &ops, "mem", &mem, "salt", &salthex, "data", &datahex) < 0)
                return -EBADMSG;
        uint8_t salt[SALT_LEN];
        size_t dlen = strlen(datahex) / 2;
        if (util_unhex(salthex, salt, SALT_LEN) < 0 || dlen != sizeof(MasterKey) + CRYPTO_OVERHEAD)
                return -EBADMSG;
        uint8_t sealed[sizeof(MasterKey) + CRYPTO_OVERHEAD];
        if (util_unhex(datahex, sealed, dlen) < 0)
                return -EBADMSG;
        uint8_t *key = sodium_malloc(32);
        MasterKey *mk = crypto_key_new();
        if (!key || !mk) {
                sodium_free(key);
                crypto_key_free(mk);
                return -ENOMEM;
        }
        int r = derive(pw, pwlen, salt, (unsigned long long)ops, (size_t)mem, key);
        if (r == 0)
                r = crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)mk, NULL, NULL, sealed + 24, dlen - 24, NULL,
                                                               0, sealed, key) == 0
                            ? 0
                            : -EACCES;
        sodium_free(key);
        if (r < 0) {
                crypto_key_free(mk);
                return r;
        }
        *out = mk;
        return 0;
}

int key_open(Backend *be, const char *pw, size_t pwlen, MasterKey **out, char id_out[ID_HEX_LEN + 1])
{
        KeyNames k = {0};
        int r = backend_list(be, "keys/", collect, &k);
        if (r < 0)
                goto out;
        if (k.n == 0) {
                r = -ENOENT;
                goto out;
        }
        r = -EACCES;
        for (size_t i = 0; i < k.n && r == -EACCES; i++) {
                json_t *j;
                if (load_json(be, k.names[i], &j) < 0)
                        continue;
                r = try_key(j, pw, pwlen, out);
                json_decref(j);
                if (r == -EBADMSG)
                        r = -EACCES;
                if (r == 0 && id_out)
                        snprintf(id_out, ID_HEX_LEN + 1, "%s", k.names[i] + 5);
        }
out:
        free(k.names);
        return r;
}

int key_list(Backend *be, json_t **out)
{
        KeyNames k = {0};
        int r = backend_list(be, "keys/", collect, &k);
        json_t *arr = json_array();
        for (size_t i = 0; r >= 0 && i < k.n; i++) {
                json_t *j;
                if (load_json(be, k.names[i], &j) < 0)
                        continue;
                json_array_append_new(arr, json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?}", "id", k.names[i] + 5,
                                                     "created", json_object_get(j, "created"), "host",
                                                     json_object_get(j, "host"), "user", json_object_get(j, "user"),
                                                     "kdf_mem", json_object_get(j, "mem"), "kdf_ops",
                                                     json_object_get(j, "ops")));
                json_decref(j);
        }
        free(k.names);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *out = arr;
        return 0;
}
