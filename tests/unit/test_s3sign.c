/* test_s3sign.c — unit tests for repo/s3-sign.c (AWS Signature Version 4).
 *
 * Every expected value here is a published one, never output of our own
 * code: the four S3 examples of "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk"
 * (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html —
 * GET object with Range, PUT object, GET bucket lifecycle, GET bucket list
 * objects; canonical request, string to sign and signature), the generic
 * aws-sig-v4-test-suite case "get-vanilla", the SHA-256 of "" and of the PUT
 * example's body, and the UriEncode() rules of the same S3 page (unreserved
 * A-Za-z0-9-._~ kept, '/' kept in paths, every other byte %XX with
 * uppercase hex). The Authorization header's separators (',' or ', ')
 * carry no meaning, so header values are compared with the blanks after
 * commas removed; everything else is compared byte for byte. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "s3-sign.h"

static void setup(void)
{
        cr_assert_geq(sodium_init(), 0);
}

TestSuite(s3sign, .init = setup);

/* The credentials and time of all four S3 examples. */
#define EX_ACCESS "AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_DATE "20130524T000000Z"
#define EX_HOST "examplebucket.s3.amazonaws.com"
#define EX_SCOPE "20130524/us-east-1/s3/aws4_request"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static S3SignInput example_input(const char *method, const char *path, const char *query,
                                 const char *const *headers, const char *payload_sha256)
{
        S3SignInput in = {
                .method = method,
                .host = EX_HOST,
                .path = path,
                .query = query,
                .headers = headers,
                .payload_sha256 = payload_sha256,
                .amz_date = EX_DATE,
                .region = "us-east-1",
                .service = "s3",
                .access_key = EX_ACCESS,
                .secret_key = EX_SECRET,
                .session_token = NULL,
        };
        return in;
}

/* An Authorization value with the optional blanks after commas removed. */
static void squeeze(const char *in, char *out, size_t n)
{
        size_t j = 0;
        for (size_t i = 0; in[i] && j + 1 < n; i++) {
                if (in[i] == ' ' && i > 0 && in[i - 1] == ',')
                        continue;
                out[j++] = in[i];
        }
        out[j] = '\0';
}

/* Signs `in` and insists on the published canonical request, string to
 * sign and Authorization value. */
static void check_example(const S3SignInput *in, const char *want_canon, const char *want_sts,
                          const char *want_auth)
{
        char auth[1024], canon[4096], sts[1024], flat[1024];

        memset(auth, 0, sizeof(auth));
        int r = s3_sign(in, auth, sizeof(auth), canon, sizeof(canon), sts, sizeof(sts));
        cr_assert_eq(r, 0, "s3_sign returned %d", r);
        cr_assert_str_eq(canon, want_canon, "canonical request:\n%s\n--- expected:\n%s", canon, want_canon);
        cr_assert_str_eq(sts, want_sts, "string to sign:\n%s\n--- expected:\n%s", sts, want_sts);
        squeeze(auth, flat, sizeof(flat));
        cr_assert_str_eq(flat, want_auth, "Authorization:\n%s\n--- expected:\n%s", auth, want_auth);
}

/* ---- the S3 examples (sig-v4-header-based-auth) ---- */

Test(s3sign, aws_example_get_object_with_range)
{
        const char *const headers[] = {"range:bytes=0-9", NULL};
        S3SignInput in = example_input("GET", "/test.txt", "", headers, EMPTY_SHA256);
        check_example(&in,
                      "GET\n"
                      "/test.txt\n"
                      "\n"
                      "host:examplebucket.s3.amazonaws.com\n"
                      "range:bytes=0-9\n"
                      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                      "x-amz-date:20130524T000000Z\n"
                      "\n"
                      "host;range;x-amz-content-sha256;x-amz-date\n"
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      "AWS4-HMAC-SHA256\n"
                      "20130524T000000Z\n"
                      "20130524/us-east-1/s3/aws4_request\n"
                      "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
                      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

Test(s3sign, aws_example_put_object)
{
        /* The body is "Welcome to Amazon S3."; the key "test$file.text". */
        const char *const headers[] = {"date:Fri, 24 May 2013 00:00:00 GMT",
                                       "x-amz-storage-class:REDUCED_REDUNDANCY", NULL};
        char payload[65];
        s3_sha256_hex("Welcome to Amazon S3.", strlen("Welcome to Amazon S3."), payload);
        cr_assert_str_eq(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

        S3SignInput in = example_input("PUT", "/test%24file.text", "", headers, payload);
        check_example(&in,
                      "PUT\n"
                      "/test%24file.text\n"
                      "\n"
                      "date:Fri, 24 May 2013 00:00:00 GMT\n"
                      "host:examplebucket.s3.amazonaws.com\n"
                      "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
                      "x-amz-date:20130524T000000Z\n"
                      "x-amz-storage-class:REDUCED_REDUNDANCY\n"
                      "\n"
                      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                      "AWS4-HMAC-SHA256\n"
                      "20130524T000000Z\n"
                      "20130524/us-east-1/s3/aws4_request\n"
                      "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
                      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                      "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

Test(s3sign, aws_example_get_bucket_lifecycle)
{
        /* "GET ?lifecycle": a sub-resource without a value is "lifecycle=". */
        const char *const headers[] = {NULL};
        S3SignInput in = example_input("GET", "/", "lifecycle=", headers, EMPTY_SHA256);
        check_example(&in,
                      "GET\n"
                      "/\n"
                      "lifecycle=\n"
                      "host:examplebucket.s3.amazonaws.com\n"
                      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                      "x-amz-date:20130524T000000Z\n"
                      "\n"
                      "host;x-amz-content-sha256;x-amz-date\n"
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      "AWS4-HMAC-SHA256\n"
                      "20130524T000000Z\n"
                      "20130524/us-east-1/s3/aws4_request\n"
                      "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
                      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                      "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                      "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

Test(s3sign, aws_example_get_bucket_list_objects)
{
        /* headers NULL itself: no extra headers at all. */
        S3SignInput in = example_input("GET", "/", "max-keys=2&prefix=J", NULL, EMPTY_SHA256);
        check_example(&in,
                      "GET\n"
                      "/\n"
                      "max-keys=2&prefix=J\n"
                      "host:examplebucket.s3.amazonaws.com\n"
                      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                      "x-amz-date:20130524T000000Z\n"
                      "\n"
                      "host;x-amz-content-sha256;x-amz-date\n"
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      "AWS4-HMAC-SHA256\n"
                      "20130524T000000Z\n"
                      "20130524/us-east-1/s3/aws4_request\n"
                      "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
                      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                      "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                      "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* The signature alone, without the optional canon/sts outputs. */
Test(s3sign, canon_and_sts_outputs_are_optional)
{
        const char *const headers[] = {"range:bytes=0-9", NULL};
        S3SignInput in = example_input("GET", "/test.txt", "", headers, EMPTY_SHA256);
        char auth[512];
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), NULL, 0, NULL, 0), 0);
        cr_assert_not_null(strstr(auth, "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
                           "Authorization: %s", auth);
        cr_assert_eq(strncmp(auth, "AWS4-HMAC-SHA256 Credential=" EX_ACCESS "/" EX_SCOPE ",",
                             strlen("AWS4-HMAC-SHA256 Credential=" EX_ACCESS "/" EX_SCOPE ",")),
                     0, "Authorization: %s", auth);
}

/* ---- aws-sig-v4-test-suite: get-vanilla ----
 * A non-S3 service ("service"): the suite signs only host and x-amz-date,
 * so the signer must not add x-amz-content-sha256 (an S3-only header) for
 * it. Note the suite's secret has '+' where the S3 examples have '/'. */
Test(s3sign, aws_test_suite_get_vanilla)
{
        S3SignInput in = {
                .method = "GET",
                .host = "example.amazonaws.com",
                .path = "/",
                .query = "",
                .headers = NULL,
                .payload_sha256 = EMPTY_SHA256,
                .amz_date = "20150830T123600Z",
                .region = "us-east-1",
                .service = "service",
                .access_key = "AKIDEXAMPLE",
                .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                .session_token = NULL,
        };
        check_example(&in,
                      "GET\n"
                      "/\n"
                      "\n"
                      "host:example.amazonaws.com\n"
                      "x-amz-date:20150830T123600Z\n"
                      "\n"
                      "host;x-amz-date\n"
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      "AWS4-HMAC-SHA256\n"
                      "20150830T123600Z\n"
                      "20150830/us-east-1/service/aws4_request\n"
                      "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
                      "SignedHeaders=host;x-amz-date,"
                      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* ---- session token ----
 * No published S3 example carries one; SigV4 says the token travels as
 * x-amz-security-token and is signed like any other header, in sorted
 * order. The signature must differ from the token-less one. */
Test(s3sign, session_token_is_a_signed_header)
{
        const char *const headers[] = {"range:bytes=0-9", NULL};
        S3SignInput in = example_input("GET", "/test.txt", "", headers, EMPTY_SHA256);
        in.session_token = "FQoGZXIvYXdzEXAMPLETOKEN";
        char auth[1024], canon[4096], flat[1024];
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), canon, sizeof(canon), NULL, 0), 0);
        cr_assert_not_null(strstr(canon, "\nx-amz-date:20130524T000000Z\n"
                                         "x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN\n\n"
                                         "host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token\n"),
                           "canonical request:\n%s", canon);
        squeeze(auth, flat, sizeof(flat));
        cr_assert_not_null(strstr(flat, ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
                           "Authorization: %s", auth);
        cr_assert_null(strstr(auth, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
                       "the token changed nothing: %s", auth);
        cr_assert_null(strstr(auth, EX_SECRET), "the secret key is in the Authorization value");
}

/* ---- errors ---- */

Test(s3sign, short_auth_buffer_is_enospc)
{
        const char *const headers[] = {"range:bytes=0-9", NULL};
        S3SignInput in = example_input("GET", "/test.txt", "", headers, EMPTY_SHA256);
        char auth[32];
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), NULL, 0, NULL, 0), -ENOSPC);
}

Test(s3sign, short_canon_buffer_is_enospc)
{
        const char *const headers[] = {"range:bytes=0-9", NULL};
        S3SignInput in = example_input("GET", "/test.txt", "", headers, EMPTY_SHA256);
        char auth[1024], canon[40];
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), canon, sizeof(canon), NULL, 0), -ENOSPC);
}

Test(s3sign, missing_fields_are_einval)
{
        const char *const headers[] = {NULL};
        char auth[1024];
        S3SignInput in = example_input("GET", "/", "", headers, EMPTY_SHA256);
        in.secret_key = NULL;
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), NULL, 0, NULL, 0), -EINVAL);
        in = example_input("GET", "/", "", headers, EMPTY_SHA256);
        in.amz_date = NULL;
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), NULL, 0, NULL, 0), -EINVAL);
        in = example_input("GET", "/", "", headers, EMPTY_SHA256);
        in.host = NULL;
        cr_assert_eq(s3_sign(&in, auth, sizeof(auth), NULL, 0, NULL, 0), -EINVAL);
}

/* ---- SHA-256 ---- */

Test(s3sign, sha256_hex_known_values)
{
        char out[65];
        s3_sha256_hex("", 0, out);
        cr_assert_str_eq(out, EMPTY_SHA256);
        cr_assert_eq(strlen(out), 64);
        s3_sha256_hex("Welcome to Amazon S3.", 21, out);
        cr_assert_str_eq(out, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

/* ---- UriEncode ---- */

static void check_enc(const char *in, bool slash, const char *want)
{
        char out[256];
        memset(out, 'X', sizeof(out));
        s3_uri_encode(in, slash, out, sizeof(out));
        cr_assert_str_eq(out, want, "s3_uri_encode(\"%s\", %s)", in, slash ? "true" : "false");
}

Test(s3sign, uri_encode_unreserved_kept)
{
        check_enc("ABCXYZabcxyz0189-._~", true, "ABCXYZabcxyz0189-._~");
        check_enc("ABCXYZabcxyz0189-._~", false, "ABCXYZabcxyz0189-._~");
        check_enc("", true, "");
}

Test(s3sign, uri_encode_space_is_percent20)
{
        check_enc("a b", true, "a%20b");
        check_enc("a b", false, "a%20b");
}

Test(s3sign, uri_encode_slash)
{
        check_enc("data/ab/ab12", false, "data/ab/ab12");
        check_enc("data/ab/ab12", true, "data%2Fab%2Fab12");
}

Test(s3sign, uri_encode_reserved_bytes)
{
        /* From the S3 PUT example: "test$file.text" -> "test%24file.text". */
        check_enc("test$file.text", false, "test%24file.text");
        check_enc("a+b=c&d?e#f%g:h,i;j*k", true, "a%2Bb%3Dc%26d%3Fe%23f%25g%3Ah%2Ci%3Bj%2Ak");
        check_enc("!'()@[]", true, "%21%27%28%29%40%5B%5D");
}

Test(s3sign, uri_encode_utf8_bytes_uppercase_hex)
{
        /* aws-sig-v4-test-suite get-utf8: U+1234 is "/%E1%88%B4". */
        check_enc("/\xe1\x88\xb4", false, "/%E1%88%B4");
        check_enc("caf\xc3\xa9", true, "caf%C3%A9");
        check_enc("\xff\x01", true, "%FF%01");
}

Test(s3sign, uri_encode_truncates_within_the_buffer)
{
        /* Never writes past n and always terminates. */
        char out[8];
        memset(out, 'X', sizeof(out));
        s3_uri_encode("a b c d e f", true, out, 6);
        cr_assert_eq(out[6], 'X');
        cr_assert_eq(out[7], 'X');
        cr_assert_lt(strlen(out), 6);
}
