/* key.h — password key files: keys/<id>.
 *
 * A key file is JSON (not encrypted as a whole):
 *   {"version":1,"kdf":"argon2id","ops":N,"mem":N,"salt":"<hex 16>",
 *    "created":"<RFC 3339>","host":"...","user":"...",
 *    "data":"<hex of XChaCha20-Poly1305 sealed master key (64 bytes)>"}
 * The sealing key is crypto_pwhash(argon2id13, password, salt, ops, mem).
 * Any one key file opens the repository; several may exist. */
#pragma once
#include <jansson.h>
#include <stddef.h>

#include "backend.h"
#include "crypto.h"

typedef struct KdfParams {
        unsigned long long ops;
        size_t mem;
} KdfParams;

/* "min", "interactive" (the default), "moderate" -> params; -EINVAL. */
int key_kdf_parse(const char *name, KdfParams *out);

/* Write a new key file for mk under password; id_out gets its hex id. */
int key_add(Backend *be, const MasterKey *mk, const char *pw, size_t pwlen, const KdfParams *kdf,
            char id_out[ID_HEX_LEN + 1]);
/* Find the key file the password opens. -EACCES: no key matches;
 * -ENOENT: no key files at all. *out owned by the caller. */
int key_open(Backend *be, const char *pw, size_t pwlen, MasterKey **out, char id_out[ID_HEX_LEN + 1]);
/* JSON array of {"id","created","host","user","kdf_mem","kdf_ops"}; caller decrefs. */
int key_list(Backend *be, json_t **out);
