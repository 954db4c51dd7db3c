/* s3-sign.h — AWS Signature Version 4 for S3 requests, written from the
 * AWS specification ("Signature Version 4 signing process").
 *
 *   canonical request = METHOD \n URI \n QUERY \n headers \n \n signed-headers \n payload-hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n DATE \n SCOPE \n hex(SHA256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * HMAC-SHA256 is libsodium's. The payload hash of uploads runs over every
 * byte, so SHA-256 of data uses OpenSSL's libcrypto, which uses the CPU's
 * SHA instructions (6x libsodium's portable code here; see tools/bench.sh). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct S3SignInput {
        const char *method;
        const char *host;  /* as sent in the Host header */
        const char *path;  /* URI-encoded */
        const char *query; /* canonical: sorted and encoded, "" if none */
        const char *const *headers; /* extra "name:value" (lowercase names), NULL-terminated or NULL */
        const char *payload_sha256; /* hex, or "UNSIGNED-PAYLOAD" */
        const char *amz_date;       /* "20130524T000000Z" */
        const char *region, *service;
        const char *access_key, *secret_key, *session_token; /* token may be NULL */
} S3SignInput;

/* The Authorization header value into auth; the canonical request and the
 * string to sign too when canon / sts are not NULL. 0, -EINVAL or -ENOSPC. */
int s3_sign(const S3SignInput *in, char *auth, size_t n, char *canon, size_t ncanon, char *sts, size_t nsts);
void s3_sha256_hex(const void *p, size_t n, char out[65]);
/* SHA-256 with libsodium, for the benchmark's comparison. */
void s3_sha256_hex_sodium(const void *p, size_t n, char out[65]);
/* URI-encode as SigV4 wants (A-Za-z0-9-._~ kept, the rest %XX uppercase). */
void s3_uri_encode(const char *in, bool encode_slash, char *out, size_t n);
