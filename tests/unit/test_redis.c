/* test_redis.c — unit tests for backup/redis-client.c: redis:// URLs and
 * the password scrubbed from argv, key slots (values from a real
 * `CLUSTER KEYSLOT` of redis-server 7.0), Redis's glob as SCAN MATCH
 * applies it, and the order-independent digest. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis-client.h"
#include "util.h"

Test(redis, url_full)
{
        RedisUrl u;
        cr_assert_eq(redis_url_parse("redis://ann:p@ss:w0rd@db.example:6380/3", &u), 0);
        cr_assert_str_eq(u.host, "db.example");
        cr_assert_str_eq(u.user, "ann");
        cr_assert_str_eq(u.password, "p@ss:w0rd");
        cr_assert_eq(u.port, 6380);
        cr_assert_eq(u.db, 3);
        char *pub = redis_url_public(&u);
        cr_assert_str_eq(pub, "redis://ann@db.example:6380/3");
        free(pub);
        redis_url_clear(&u);
}

Test(redis, url_defaults_and_password_only)
{
        RedisUrl u;
        cr_assert_eq(redis_url_parse("redis://:secret@127.0.0.1", &u), 0);
        cr_assert_null(u.user);
        cr_assert_str_eq(u.password, "secret");
        cr_assert_eq(u.port, 6379);
        cr_assert_eq(u.db, -1);
        char *pub = redis_url_public(&u);
        cr_assert_str_eq(pub, "redis://127.0.0.1:6379");
        free(pub);
        redis_url_clear(&u);
}

Test(redis, url_errors)
{
        RedisUrl u;
        cr_assert_eq(redis_url_parse("http://h:1", &u), -EINVAL);
        cr_assert_eq(redis_url_parse("redis://h:0", &u), -EINVAL);
        cr_assert_eq(redis_url_parse("redis://h:70000", &u), -EINVAL);
        cr_assert_eq(redis_url_parse("redis://h:12x", &u), -EINVAL);
        cr_assert_eq(redis_url_parse("redis://h:1/x", &u), -EINVAL);
        cr_assert_eq(redis_url_parse("redis://:1", &u), -EINVAL);
}

Test(redis, scrub_hides_only_the_password)
{
        char a[] = "redis://ann:hunter2@h:1/2", b[] = "redis://:pw@h:1", c[] = "redis://h:1", d[] = "redis://tok@h:1";
        redis_url_scrub(a);
        redis_url_scrub(b);
        redis_url_scrub(c);
        redis_url_scrub(d);
        cr_assert_str_eq(a, "redis://ann:xxxxxxx@h:1/2");
        cr_assert_str_eq(b, "redis://:xx@h:1");
        cr_assert_str_eq(c, "redis://h:1");
        cr_assert_str_eq(d, "redis://xxx@h:1");
}

Test(redis, password_from_file_and_env)
{
        char path[] = "/tmp/cairn-test-redis-pw.XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "fromfile\r\nsecond line\n", 22), 22);
        close(fd);
        RedisUrl u;
        cr_assert_eq(redis_url_parse("redis://h:1", &u), 0);
        setenv("REDISCLI_AUTH", "fromenv", 1);
        cr_assert_eq(redis_url_password(&u, path), 0);
        cr_assert_str_eq(u.password, "fromfile");
        redis_url_clear(&u);
        cr_assert_eq(redis_url_parse("redis://h:1", &u), 0);
        cr_assert_eq(redis_url_password(&u, NULL), 0);
        cr_assert_str_eq(u.password, "fromenv");
        redis_url_clear(&u);
        cr_assert_eq(redis_url_parse("redis://:inurl@h:1", &u), 0);
        cr_assert_eq(redis_url_password(&u, path), 0);
        cr_assert_str_eq(u.password, "inurl");
        redis_url_clear(&u);
        unlink(path);
        cr_assert_eq(redis_url_parse("redis://h:1", &u), 0);
        cr_assert_eq(redis_url_password(&u, path), -ENOENT);
        redis_url_clear(&u);
        unsetenv("REDISCLI_AUTH");
}

Test(redis, key_slots_as_the_server_computes_them)
{
        static const struct {
                const char *key;
                unsigned slot;
        } v[] = {{"123456789", 12739},    {"foo", 12182},           {"bar", 5061},
                 {"{user1000}.following", 3443}, {"foo{}{bar}", 8363}, {"foo{{bar}}zap", 4015},
                 {"foo{bar}{zap}", 5061}, {"{bar", 4015}};
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                cr_assert_eq(redis_key_slot(v[i].key, strlen(v[i].key)), v[i].slot, "%s", v[i].key);
        /* binary-safe: the NUL and what follows are hashed */
        cr_assert_neq(redis_key_slot("a\0b", 3), redis_key_slot("a", 1));
}

static bool m(const char *pat, const char *s)
{
        return redis_glob_match(pat, strlen(pat), s, strlen(s));
}

Test(redis, glob_like_scan_match)
{
        cr_assert(m("*", ""));
        cr_assert(m("k3:1*", "k3:1:x"));
        cr_assert(!m("k3:1*", "k3:2:x"));
        cr_assert(m("h?llo", "hello"));
        cr_assert(!m("h?llo", "hllo"));
        cr_assert(m("h[ae]llo", "hallo"));
        cr_assert(!m("h[ae]llo", "hillo"));
        cr_assert(m("h[^e]llo", "hallo"));
        cr_assert(!m("h[^e]llo", "hello"));
        cr_assert(m("h[a-b]llo", "hbllo"));
        cr_assert(m("h[b-a]llo", "hallo"));
        cr_assert(m("a\\*b", "a*b"));
        cr_assert(!m("a\\*b", "axb"));
        cr_assert(m("*a*b*c*", "xxaxxbxxcxx"));
        cr_assert(!m("*a*b*c*", "xxaxxcxxbxx"));
        cr_assert(m("/*/", "/a/b/"));
        /* binary: NUL and invalid UTF-8 in the key */
        cr_assert(redis_glob_match("k*\xff", 3, "k\0\x80\xff", 4));
        cr_assert(!redis_glob_match("k?", 2, "k\0\0", 3));
}

static void digest_props(RedisDigestAlg alg)
{
        const size_t len = redis_digest_len(alg);
        unsigned char a[REDIS_DIGEST_MAX] = {0}, b[REDIS_DIGEST_MAX] = {0}, zero[REDIS_DIGEST_MAX] = {0};
        RedisDigestKey k = {.alg = alg};
        cr_assert_eq(redis_digest_begin(&k, "k1", 2), 0);
        redis_digest_update(&k, "payload-one", 11);
        redis_digest_end(&k, a);
        redis_digest_begin(&k, "k2", 2);
        redis_digest_update(&k, "pay", 3);
        redis_digest_update(&k, "load-two", 8);
        redis_digest_end(&k, a);

        redis_digest_begin(&k, "k2", 2);
        redis_digest_update(&k, "payload-two", 11);
        redis_digest_end(&k, b);
        redis_digest_begin(&k, "k1", 2);
        redis_digest_update(&k, "payload-one", 11);
        redis_digest_end(&k, b);
        cr_assert_eq(memcmp(a, b, len), 0);
        cr_assert_neq(memcmp(a, zero, len), 0);
        /* nothing beyond the digest's length is touched */
        cr_assert_eq(memcmp(a + len, zero, REDIS_DIGEST_MAX - len), 0);
        /* the key length is hashed: ("k1","2x") differs from ("k12","x") */
        unsigned char c[REDIS_DIGEST_MAX] = {0}, d[REDIS_DIGEST_MAX] = {0};
        redis_digest_begin(&k, "k1", 2);
        redis_digest_update(&k, "2x", 2);
        redis_digest_end(&k, c);
        redis_digest_begin(&k, "k12", 3);
        redis_digest_update(&k, "x", 1);
        redis_digest_end(&k, d);
        cr_assert_neq(memcmp(c, d, len), 0);
        redis_digest_free(&k);
}

Test(redis, digest_is_order_independent_and_piecewise)
{
        digest_props(REDIS_DIGEST_XXH3);
        digest_props(REDIS_DIGEST_BLAKE2B);
}

/* The format snapshots record: one key's hash, against xxh128sum and
 * Python's hashlib.blake2b(digest_size=32) of le64(2) || "k1" || "payload-one". */
Test(redis, digest_known_answers)
{
        static const struct {
                const char *name, *hex;
        } want[] = {
                {REDIS_DIGEST_NAME, "c5ad67fe9cf2b944eb9d79c09eb3082b"},
                {REDIS_DIGEST_NAME_BLAKE2B, "b11c35fea05c4a9e3ba2b17eb54e5cf800a4be216f3322c40b0db82e3da688f7"},
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                int alg = redis_digest_alg(want[i].name);
                cr_assert_geq(alg, 0);
                RedisDigestKey k = {.alg = (RedisDigestAlg)alg};
                unsigned char acc[REDIS_DIGEST_MAX] = {0};
                char hex[2 * REDIS_DIGEST_MAX + 1];
                redis_digest_begin(&k, "k1", 2);
                redis_digest_update(&k, "payload-one", 11);
                redis_digest_end(&k, acc);
                redis_digest_free(&k);
                util_hex(acc, redis_digest_len(k.alg), hex);
                cr_assert_str_eq(hex, want[i].hex);
        }
        cr_assert_eq(redis_digest_alg("xor of md5"), -1);
        cr_assert_eq(redis_digest_alg(NULL), -1);
}

Test(redis, resp_header_bytes)
{
        char out[RESP_HEADER_MAX];
        size_t n = resp_header(out, '*', 0);
        cr_assert_eq(n, 4);
        cr_assert_eq(memcmp(out, "*0\r\n", 4), 0);
        n = resp_header(out, '$', 10);
        cr_assert_eq(memcmp(out, "$10\r\n", n), 0);
        cr_assert_eq(n, 5);
        n = resp_header(out, '$', 104857616);
        cr_assert_eq(n, 12);
        cr_assert_eq(memcmp(out, "$104857616\r\n", n), 0);
        n = resp_header(out, '$', UINT64_MAX);
        cr_assert_eq(n, 23);
        cr_assert_eq(memcmp(out, "$18446744073709551615\r\n", n), 0);
}
