/* s3-sign.c — see s3-sign.h. */
#include "s3-sign.h"

#include <errno.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
        uint8_t h[SHA256_DIGEST_LENGTH];
        SHA256(p, n, h);
        util_hex(h, sizeof(h), out);
}

void s3_sha256_hex_sodium(const void *p, size_t n, char out[65])
{
        uint8_t h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(h, p, n);
        util_hex(h, sizeof(h), out);
}

void s3_uri_encode(const char *in, bool encode_slash, char *out, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < n; p++) {
                unsigned char c = *p;
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
                        out[o++] = (char)c;
                } else {
                        out[o++] = '%';
                        out[o++] = hex[c >> 4];
                        out[o++] = hex[c & 15];
                }
        }
        out[o] = 0;
}

static void hmac(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key, klen);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, strlen(msg));
        crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof(st));
}

static int cmp_header(const void *a, const void *b)
{
        const char *x = *(const char *const *)a, *y = *(const char *const *)b;
        size_t lx = strcspn(x, ":"), ly = strcspn(y, ":");
        int c = strncmp(x, y, MIN(lx, ly));
        return c ? c : (lx < ly ? -1 : lx > ly);
}

int s3_sign(const S3SignInput *in, char *auth, size_t n, char *canon, size_t ncanon, char *sts, size_t nsts)
{
        if (!in->method || !in->host || !in->path || !in->amz_date || strlen(in->amz_date) != 16 || !in->region ||
            !in->service || !in->access_key || !in->secret_key || !in->payload_sha256)
                return -EINVAL;
        /* the headers to sign, sorted by name */
        const char *hv[64];
        char *owned[4] = {0};
        size_t nh = 0;
        for (const char *const *h = in->headers; h && *h && nh < 56; h++)
                hv[nh++] = *h;
        /* x-amz-content-sha256 is S3's own header; other services (and the
         * generic AWS test suite) sign without it */
        bool s3 = strcmp(in->service, "s3") == 0;
        if (asprintf(&owned[0], "host:%s", in->host) < 0 ||
            (s3 && asprintf(&owned[1], "x-amz-content-sha256:%s", in->payload_sha256) < 0) ||
            asprintf(&owned[2], "x-amz-date:%s", in->amz_date) < 0 ||
            (in->session_token && asprintf(&owned[3], "x-amz-security-token:%s", in->session_token) < 0)) {
                for (int i = 0; i < 4; i++)
                        free(owned[i]);
                return -ENOMEM;
        }
        for (int i = 0; i < 4; i++)
                if (owned[i])
                        hv[nh++] = owned[i];
        qsort(hv, nh, sizeof(char *), cmp_header);

        Buf c = {0}, signed_names = {0};
        buf_append(&c, in->method, strlen(in->method));
        buf_append(&c, "\n", 1);
        buf_append(&c, in->path, strlen(in->path));
        buf_append(&c, "\n", 1);
        buf_append(&c, in->query ? in->query : "", in->query ? strlen(in->query) : 0);
        buf_append(&c, "\n", 1);
        for (size_t i = 0; i < nh; i++) {
                /* header values are trimmed, as the specification says */
                const char *colon = strchr(hv[i], ':');
                const char *v = colon + 1;
                while (*v == ' ')
                        v++;
                size_t vl = strlen(v);
                while (vl && v[vl - 1] == ' ')
                        vl--;
                buf_append(&c, hv[i], (size_t)(colon - hv[i]) + 1);
                buf_append(&c, v, vl);
                buf_append(&c, "\n", 1);
                if (i)
                        buf_append(&signed_names, ";", 1);
                buf_append(&signed_names, hv[i], (size_t)(colon - hv[i]));
        }
        buf_append(&c, "\n", 1);
        buf_append(&c, signed_names.data, signed_names.len);
        buf_append(&c, "\n", 1);
        buf_append(&c, in->payload_sha256, strlen(in->payload_sha256));
        buf_append(&c, "", 1); /* NUL */
        buf_append(&signed_names, "", 1);
        for (int i = 0; i < 4; i++)
                free(owned[i]);
        if (!c.data || !signed_names.data) {
                buf_free(&c);
                buf_free(&signed_names);
                return -ENOMEM;
        }

        char date[9], scope[256], creq_hash[65], *string;
        memcpy(date, in->amz_date, 8);
        date[8] = 0;
        snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, in->region, in->service);
        s3_sha256_hex(c.data, c.len - 1, creq_hash);
        if (asprintf(&string, "AWS4-HMAC-SHA256\n%s\n%s\n%s", in->amz_date, scope, creq_hash) < 0) {
                buf_free(&c);
                buf_free(&signed_names);
                return -ENOMEM;
        }

        size_t sl = strlen(in->secret_key);
        uint8_t *k0 = sodium_malloc(sl + 4);
        uint8_t k[32];
        int rc = 0;
        if (!k0) {
                rc = -ENOMEM;
        } else {
                memcpy(k0, "AWS4", 4);
                memcpy(k0 + 4, in->secret_key, sl);
                hmac(k0, sl + 4, date, k);
                sodium_free(k0);
                hmac(k, 32, in->region, k);
                hmac(k, 32, in->service, k);
                hmac(k, 32, "aws4_request", k);
                uint8_t sig[32];
                char sighex[65];
                hmac(k, 32, string, sig);
                sodium_memzero(k, sizeof(k));
                util_hex(sig, 32, sighex);
                if ((size_t)snprintf(auth, n, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                                     in->access_key, scope, (char *)signed_names.data, sighex) >= n)
                        rc = -ENOSPC;
                if (canon && (size_t)snprintf(canon, ncanon, "%s", (char *)c.data) >= ncanon)
                        rc = -ENOSPC;
                if (sts && (size_t)snprintf(sts, nsts, "%s", string) >= nsts)
                        rc = -ENOSPC;
        }
        free(string);
        buf_free(&c);
        buf_free(&signed_names);
        return rc;
}
