/* backend-s3.c — a repository in an S3-compatible bucket.
 *
 * Objects are keys under the prefix: "<prefix>/data/ab/ab12...". Requests
 * are signed with SigV4 (s3-sign.c) and sent with libcurl; URLs are built
 * with curl's URL API. Each thread takes an easy handle from a pool and
 * gives it back, so connections are kept alive and reused. Failed requests
 * (connection errors, stalls, 5xx, 429/SlowDown) are retried with
 * exponential backoff and full jitter; 403 and 404 are not, and their
 * errors name the object and the S3 code and message. Listings
 * (ListObjectsV2, continued while truncated) and error bodies are parsed
 * with expat. PUT bodies carry their SHA-256. */
#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "error.h"
#include "s3-sign.h"

typedef struct BackendS3 {
        Backend parent;
        char *base;   /* "http://host:port" with the bucket in the host if virtual-host style */
        char *host;   /* Host header value */
        char *bucket;
        char *prefix; /* "" or "dir/sub/" */
        bool vhost;
        char *region;
        char *access_key, *secret_key, *token; /* secret and token in sodium memory */
        char *cacert;
        bool insecure;
        bool create_bucket;
        long timeout;
        int retries;
        pthread_mutex_t mu;
        CURL **idle;
        size_t nidle, capidle;
} BackendS3;

/* ---- expat: error bodies and listings ---- */

typedef struct Xml {
        char path[256]; /* "ListBucketResult/Contents/Key" */
        Buf text;
        /* error; Region and Endpoint: where AWS says the bucket is */
        char code[128], message[512], region[64], endpoint[256];
        /* listing */
        backend_list_cb cb;
        void *ud;
        const char *strip; /* prefix to take off keys */
        char key[1024];
        uint64_t size;
        bool truncated;
        char token[1024];
        int rc;
} Xml;

static void xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
        Xml *x = ud;
        size_t l = strlen(x->path);
        snprintf(x->path + l, sizeof(x->path) - l, "%s%s", l ? "/" : "", name);
        x->text.len = 0;
}

static void xml_text(void *ud, const XML_Char *s, int len)
{
        Xml *x = ud;
        buf_append(&x->text, s, (size_t)len);
}

static void xml_end(void *ud, const XML_Char *name)
{
        Xml *x = ud;
        buf_append(&x->text, "", 1);
        x->text.len--;
        const char *t = x->text.data ? (const char *)x->text.data : "";
        if (strcmp(x->path, "Error/Code") == 0)
                snprintf(x->code, sizeof(x->code), "%s", t);
        else if (strcmp(x->path, "Error/Message") == 0)
                snprintf(x->message, sizeof(x->message), "%s", t);
        else if (strcmp(x->path, "Error/Region") == 0)
                snprintf(x->region, sizeof(x->region), "%s", t);
        else if (strcmp(x->path, "Error/Endpoint") == 0)
                snprintf(x->endpoint, sizeof(x->endpoint), "%s", t);
        else if (strcmp(x->path, "ListBucketResult/Contents/Key") == 0)
                snprintf(x->key, sizeof(x->key), "%s", t);
        else if (strcmp(x->path, "ListBucketResult/Contents/Size") == 0)
                x->size = strtoull(t, NULL, 10);
        else if (strcmp(x->path, "ListBucketResult/IsTruncated") == 0)
                x->truncated = strcmp(t, "true") == 0;
        else if (strcmp(x->path, "ListBucketResult/NextContinuationToken") == 0)
                snprintf(x->token, sizeof(x->token), "%s", t);
        else if (strcmp(x->path, "ListBucketResult/Contents") == 0 && x->cb && x->rc == 0) {
                size_t sl = strlen(x->strip);
                if (strncmp(x->key, x->strip, sl) == 0 && !strstr(x->key, ".tmp-"))
                        x->rc = x->cb(x->key + sl, x->size, x->ud);
                x->key[0] = 0;
                x->size = 0;
        }
        char *slash = strrchr(x->path, '/');
        if (slash)
                *slash = 0;
        else
                x->path[0] = 0;
        x->text.len = 0;
}

static int xml_parse(Xml *x, const Buf *body)
{
        XML_Parser p = XML_ParserCreate(NULL);
        if (!p)
                return -ENOMEM;
        XML_SetUserData(p, x);
        XML_SetElementHandler(p, xml_start, xml_end);
        XML_SetCharacterDataHandler(p, xml_text);
        int ok = XML_Parse(p, body->data ? (const char *)body->data : "", (int)body->len, 1);
        XML_ParserFree(p);
        buf_free(&x->text);
        return ok == XML_STATUS_OK ? 0 : -EBADMSG;
}

/* ---- requests ---- */

static CURL *handle_get(BackendS3 *s)
{
        pthread_mutex_lock(&s->mu);
        CURL *h = s->nidle ? s->idle[--s->nidle] : NULL;
        pthread_mutex_unlock(&s->mu);
        return h ? h : curl_easy_init();
}

static void handle_put(BackendS3 *s, CURL *h)
{
        pthread_mutex_lock(&s->mu);
        if (s->nidle == s->capidle) {
                size_t cap = s->capidle ? s->capidle * 2 : 16;
                void *p = realloc(s->idle, cap * sizeof(CURL *));
                if (p) {
                        s->idle = p;
                        s->capidle = cap;
                }
        }
        if (s->nidle < s->capidle) {
                s->idle[s->nidle++] = h;
                h = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (h)
                curl_easy_cleanup(h);
}

/* Where a response body goes: appended to body after its first base
 * bytes, more told as it grows (a 2xx answer only: an error's body is
 * read by s3_error). */
typedef struct Sink {
        Buf *body;
        size_t base;
        CURL *h;
        backend_more_cb more;
        void *ud;
        int err; /* more's, which ended the transfer */
} Sink;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
        Sink *k = ud;
        if (buf_append(k->body, p, size * n) < 0)
                return 0;
        long status = 0;
        if (k->more && curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status >= 200 &&
            status < 300 && (k->err = k->more(k->ud, k->body->len - k->base)) < 0)
                return 0;
        return size * n;
}

typedef struct Upload {
        const uint8_t *p;
        size_t len, pos;
} Upload;

static size_t on_upload(char *p, size_t size, size_t n, void *ud)
{
        Upload *u = ud;
        size_t k = MIN(size * n, u->len - u->pos);
        memcpy(p, u->p + u->pos, k);
        u->pos += k;
        return k;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
        Upload *u = ud;
        if (origin != SEEK_SET || off < 0 || (size_t)off > u->len)
                return CURL_SEEKFUNC_CANTSEEK;
        u->pos = (size_t)off; /* curl resends a body on a reused connection that closed */
        return CURL_SEEKFUNC_OK;
}

static bool transient_curl(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SEND_FAIL_REWIND:
                return true;
        default:
                return false;
        }
}

static void backoff(int attempt)
{
        /* full jitter: uniform in [0, min(10 s, 100 ms * 2^attempt)) */
        uint64_t cap = MIN((uint64_t)10000, (uint64_t)100 << MIN(attempt, 10));
        uint64_t ms = randombytes_uniform((uint32_t)cap) + 1;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

typedef struct Request {
        const char *method;
        const char *name;  /* object name below the prefix; NULL for the bucket */
        const char *query; /* canonical query or "" */
        const char *range; /* "bytes=a-b" or NULL */
        const void *body;
        size_t blen;
        Buf *out;          /* response body */
        backend_more_cb more; /* told as the body arrives, or NULL */
        void *more_ud;
        long status;
        int64_t length;    /* Content-Length of the response */
        char bucket_region[64]; /* an error answer's x-amz-bucket-region, or "" */
} Request;

static int build_url(BackendS3 *s, const Request *rq, char **url, char **path)
{
        char key[2048], enc[6144];
        if (rq->name)
                snprintf(key, sizeof(key), "%s%s", s->prefix, rq->name);
        else
                key[0] = 0;
        s3_uri_encode(key, false, enc, sizeof(enc));
        if (s->vhost ? asprintf(path, "/%s", enc) < 0 : asprintf(path, "/%s%s%s", s->bucket, rq->name ? "/" : "", enc) < 0)
                return -ENOMEM;
        CURLU *u = curl_url();
        if (!u)
                return -ENOMEM;
        int rc = 0;
        if (curl_url_set(u, CURLUPART_URL, s->base, 0) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_PATH, *path, 0) != CURLUE_OK ||
            (rq->query && rq->query[0] && curl_url_set(u, CURLUPART_QUERY, rq->query, 0) != CURLUE_OK) ||
            curl_url_get(u, CURLUPART_URL, url, 0) != CURLUE_OK)
                rc = -EINVAL;
        curl_url_cleanup(u);
        return rc;
}

static int s3_error(BackendS3 *s, const Request *rq, const char *path, const Buf *body)
{
        Xml x = {0};
        if (body->len)
                xml_parse(&x, body);
        const char *what = rq->name ? rq->name : s->bucket;
        /* a bucket in another region, or behind another endpoint: say
         * what to pass instead (AWS names them in the body or a header) */
        const char *region = x.region[0] ? x.region : rq->bucket_region;
        char hint[512] = ""; /* room for both: regions < 64, endpoint < 256 */
        int n = 0;
        if (region[0] && strcmp(region, s->region) != 0)
                n = snprintf(hint, sizeof(hint), " (the bucket is in region %s: pass --s3-region %s", region, region);
        if (x.endpoint[0])
                n += snprintf(hint + n, sizeof(hint) - (size_t)n, "%sS3 names the endpoint %s", n ? "; " : " (",
                              x.endpoint);
        if (n)
                snprintf(hint + n, sizeof(hint) - (size_t)n, ")");
        if (strcmp(x.code, "NoSuchBucket") == 0)
                error_set("s3 %s %s: %ld NoSuchBucket: bucket %s does not exist (create it, or pass "
                          "--s3-create-bucket to init)",
                          rq->method, what, rq->status, s->bucket);
        else if (x.code[0])
                error_set("s3 %s %s: %ld %s: %s%s", rq->method, what, rq->status, x.code, x.message, hint);
        else
                error_set("s3 %s %s: HTTP %ld%s", rq->method, what, rq->status, hint);
        if (rq->status == 404)
                return -ENOENT;
        if (rq->status == 416) /* a range past the object's end */
                return -ENODATA;
        if (rq->status == 403)
                return -EACCES;
        return -EIO;
}

static int s3_do(BackendS3 *s, Request *rq)
{
        char *url = NULL, *path = NULL;
        int rc = build_url(s, rq, &url, &path);
        if (rc < 0) {
                free(path);
                error_set("s3: cannot build a URL for %s", rq->name ? rq->name : s->bucket);
                return rc;
        }
        char payload[65];
        if (rq->body)
                s3_sha256_hex(rq->body, rq->blen, payload);
        else
                s3_sha256_hex("", 0, payload);
        /* the answer goes straight into the caller's buffer (an error body
         * too, read from there and dropped) */
        Buf own = {0}, *body = rq->out ? rq->out : &own;
        size_t base = body->len;
        int attempt = 0;
        for (;; attempt++) {
                body->len = base;
                char date[17], auth[1024], range[64] = "";
                time_t now = time(NULL);
                struct tm tm;
                gmtime_r(&now, &tm);
                strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
                const char *extra[2] = {NULL, NULL};
                if (rq->range) {
                        snprintf(range, sizeof(range), "range:%s", rq->range);
                        extra[0] = range;
                }
                S3SignInput in = {.method = rq->method, .host = s->host, .path = path,
                                  .query = rq->query ? rq->query : "", .headers = extra, .payload_sha256 = payload,
                                  .amz_date = date, .region = s->region, .service = "s3",
                                  .access_key = s->access_key, .secret_key = s->secret_key,
                                  .session_token = s->token};
                rc = s3_sign(&in, auth, sizeof(auth), NULL, 0, NULL, 0);
                if (rc < 0)
                        break;
                struct curl_slist *hdr = NULL;
                char line[1200];
                snprintf(line, sizeof(line), "Authorization: %s", auth);
                hdr = curl_slist_append(hdr, line);
                snprintf(line, sizeof(line), "x-amz-date: %s", date);
                hdr = curl_slist_append(hdr, line);
                snprintf(line, sizeof(line), "x-amz-content-sha256: %s", payload);
                hdr = curl_slist_append(hdr, line);
                if (s->token) {
                        snprintf(line, sizeof(line), "x-amz-security-token: %s", s->token);
                        hdr = curl_slist_append(hdr, line);
                }
                if (rq->range) {
                        snprintf(line, sizeof(line), "Range: %s", rq->range);
                        hdr = curl_slist_append(hdr, line);
                }
                hdr = curl_slist_append(hdr, "Expect:");
                sodium_memzero(auth, sizeof(auth));

                CURL *h = handle_get(s);
                if (!h) {
                        curl_slist_free_all(hdr);
                        rc = -ENOMEM;
                        break;
                }
                curl_easy_reset(h);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
                Sink sink = {body, base, h, rq->more, rq->more_ud, 0};
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, MIN(s->timeout, 30L));
                /* a stall, not a slow transfer, is what times a request out */
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->timeout);
                if (s->cacert)
                        curl_easy_setopt(h, CURLOPT_CAINFO, s->cacert);
                if (s->insecure) {
                        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
                }
                Upload up = {rq->body, rq->blen, 0};
                if (strcmp(rq->method, "PUT") == 0) {
                        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
                        curl_easy_setopt(h, CURLOPT_READDATA, &up);
                        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
                        curl_easy_setopt(h, CURLOPT_SEEKDATA, &up);
                        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->blen);
                } else if (strcmp(rq->method, "HEAD") == 0) {
                        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                } else if (strcmp(rq->method, "DELETE") == 0) {
                        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
                }
                CURLcode cc = curl_easy_perform(h);
                rq->status = 0;
                rq->bucket_region[0] = 0;
                curl_off_t clen = -1;
                if (cc == CURLE_OK) {
                        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rq->status);
                        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
                        /* AWS's redirect names the bucket's region in a
                         * header only (a HEAD answer has no body) */
                        struct curl_header *hv;
                        if ((rq->status < 200 || rq->status >= 300) &&
                            curl_easy_header(h, "x-amz-bucket-region", 0, CURLH_HEADER, -1, &hv) == CURLHE_OK)
                                snprintf(rq->bucket_region, sizeof(rq->bucket_region), "%s", hv->value);
                }
                rq->length = clen;
                curl_slist_free_all(hdr);
                if (cc != CURLE_OK) {
                        /* a handle that failed mid-request may hold a broken connection */
                        curl_easy_cleanup(h);
                } else {
                        handle_put(s, h);
                }

                bool retry = false;
                if (sink.err < 0) { /* the caller's own error, set by it */
                        rc = sink.err;
                } else if (cc != CURLE_OK) {
                        retry = transient_curl(cc);
                        error_set("s3 %s %s: %s", rq->method, rq->name ? rq->name : s->bucket, curl_easy_strerror(cc));
                        rc = -EIO;
                } else if (rq->status >= 200 && rq->status < 300) {
                        rc = 0;
                } else {
                        Buf err = {.data = body->data ? body->data + base : NULL, .len = body->len - base};
                        rc = s3_error(s, rq, path, &err);
                        retry = rq->status >= 500 || rq->status == 429;
                }
                if (!retry || attempt >= s->retries)
                        break;
                backoff(attempt);
        }
        if (rc < 0)
                body->len = base;
        buf_free(&own);
        free(url);
        free(path);
        return rc;
}

/* ---- the backend ---- */

static int s3_read_stream(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out,
                          backend_more_cb more, void *ud)
{
        BackendS3 *s = (BackendS3 *)be;
        char range[64];
        if (len)
                snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
                         (unsigned long long)(off + len - 1));
        else if (off)
                snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)off);
        size_t before = out->len;
        if (len && buf_reserve(out, len) < 0)
                return -ENOMEM;
        Request rq = {.method = "GET", .name = name, .range = len || off ? range : NULL, .out = out,
                      .more = more, .more_ud = ud};
        int rc = s3_do(s, &rq);
        if (rc == 0 && len && out->len - before != len) {
                error_set("s3 GET %s: got %zu bytes, expected %llu", name, out->len - before, (unsigned long long)len);
                out->len = before;
                rc = -ENODATA;
        }
        return rc;
}

static int s3_read(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        return s3_read_stream(be, name, off, len, out, NULL, NULL);
}

static int s3_write(Backend *be, const char *name, const void *data, size_t len)
{
        Request rq = {.method = "PUT", .name = name, .body = data ? data : "", .blen = len};
        return s3_do((BackendS3 *)be, &rq);
}

static int bucket_check(BackendS3 *s)
{
        Request rq = {.method = "GET", .name = NULL, .query = "list-type=2&max-keys=1"};
        int rc = s3_do(s, &rq);
        if (rc == -ENOENT) {
                error_prefix("bucket %s does not exist (create it, or pass --s3-create-bucket to init)", s->bucket);
                return -ENXIO;
        }
        return rc;
}

static int s3_stat(Backend *be, const char *name, uint64_t *size)
{
        BackendS3 *s = (BackendS3 *)be;
        Request rq = {.method = "HEAD", .name = name};
        int rc = s3_do(s, &rq);
        if (rc == -ENOENT && strcmp(name, "config") == 0) {
                /* a HEAD answer has no body to tell NoSuchKey from NoSuchBucket */
                int k = bucket_check(s);
                if (k < 0)
                        return k;
                error_set("s3 HEAD %s: 404 NoSuchKey", name);
        } else if (rc < 0 && rc != -ENOENT && rq.status >= 400) {
                /* a HEAD answer has no body: ask again with a GET of one
                 * byte to learn the S3 error code and message */
                Buf one = {0};
                Request get = {.method = "GET", .name = name, .range = "bytes=0-0", .out = &one};
                int k = s3_do(s, &get);
                buf_free(&one);
                if (k < 0)
                        return k;
        }
        if (rc == 0 && size)
                *size = rq.length >= 0 ? (uint64_t)rq.length : 0;
        return rc;
}

static int s3_remove(Backend *be, const char *name)
{
        Request rq = {.method = "DELETE", .name = name};
        return s3_do((BackendS3 *)be, &rq);
}

static int s3_list(Backend *be, const char *prefix, backend_list_cb cb, void *ud)
{
        BackendS3 *s = (BackendS3 *)be;
        char full[2048], encprefix[6144], *token = NULL;
        snprintf(full, sizeof(full), "%s%s", s->prefix, prefix);
        s3_uri_encode(full, true, encprefix, sizeof(encprefix));
        int rc = 0;
        for (;;) {
                char *query, enctoken[4096] = "";
                if (token)
                        s3_uri_encode(token, true, enctoken, sizeof(enctoken));
                /* canonical order: parameters sorted by name */
                if (asprintf(&query, "%s%s%slist-type=2&max-keys=1000&prefix=%s", token ? "continuation-token=" : "",
                             enctoken, token ? "&" : "", encprefix) < 0) {
                        rc = -ENOMEM;
                        break;
                }
                Buf body = {0};
                Request rq = {.method = "GET", .name = NULL, .query = query, .out = &body};
                rc = s3_do(s, &rq);
                free(query);
                if (rc < 0) {
                        buf_free(&body);
                        break;
                }
                Xml x = {.cb = cb, .ud = ud, .strip = s->prefix};
                int k = xml_parse(&x, &body);
                buf_free(&body);
                if (k < 0) {
                        error_set("s3 list %s: the listing is not valid XML", prefix);
                        rc = k;
                        break;
                }
                if (x.rc) {
                        rc = x.rc;
                        break;
                }
                free(token);
                token = NULL;
                if (!x.truncated)
                        break;
                if (!x.token[0]) {
                        error_set("s3 list %s: truncated listing without a continuation token", prefix);
                        rc = -EIO;
                        break;
                }
                token = strdup(x.token);
        }
        free(token);
        return rc;
}

static int s3_create(Backend *be)
{
        BackendS3 *s = (BackendS3 *)be;
        Request rq = {.method = "GET", .name = NULL, .query = "list-type=2&max-keys=1"};
        int rc = s3_do(s, &rq);
        if (rc == -ENOENT && s->create_bucket) {
                error_clear();
                Buf cfg = {0};
                if (strcmp(s->region, "us-east-1") != 0) {
                        char *x;
                        if (asprintf(&x, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                         "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                                     s->region) > 0) {
                                buf_append(&cfg, x, strlen(x));
                                free(x);
                        }
                }
                Request mk = {.method = "PUT", .name = NULL, .body = cfg.data ? (void *)cfg.data : "", .blen = cfg.len};
                rc = s3_do(s, &mk);
                buf_free(&cfg);
        } else if (rc == -ENOENT) {
                error_prefix("bucket %s does not exist (create it, or pass --s3-create-bucket)", s->bucket);
        }
        if (rc < 0)
                return rc;
        if (s3_stat(be, "config", NULL) == 0) {
                error_set("s3:%s/%s: a repository already exists there", s->bucket, s->prefix);
                return -EEXIST;
        }
        error_clear();
        return 0;
}

static void s3_close(Backend *be)
{
        BackendS3 *s = (BackendS3 *)be;
        for (size_t i = 0; i < s->nidle; i++)
                curl_easy_cleanup(s->idle[i]);
        free(s->idle);
        free(s->base);
        free(s->host);
        free(s->bucket);
        free(s->prefix);
        free(s->region);
        free(s->access_key);
        if (s->secret_key)
                sodium_free(s->secret_key);
        if (s->token)
                sodium_free(s->token);
        free(s->cacert);
        pthread_mutex_destroy(&s->mu);
        free(s);
}

static char *secret_dup(const char *v)
{
        size_t n = strlen(v);
        char *p = sodium_malloc(n + 1);
        if (p)
                memcpy(p, v, n + 1);
        return p;
}

/* [profile] key = value from an AWS credentials file; from: where its
 * name came from, for the errors ("" for the command line) */
static int read_credentials_file(BackendS3 *s, const char *file, const char *from)
{
        char *text;
        int rc = util_read_file(file, &text, NULL);
        if (rc < 0) {
                error_set("credentials file %s%s: %s", file, from, strerror(-rc));
                return rc;
        }
        const char *profile = getenv("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default";
        bool in = false;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                while (*line == ' ' || *line == '\t')
                        line++;
                size_t l = strlen(line);
                while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
                        line[--l] = 0;
                if (line[0] == '[') {
                        char *end = strchr(line, ']');
                        if (end)
                                *end = 0;
                        in = strcmp(line + 1, profile) == 0;
                        continue;
                }
                char *eq = strchr(line, '=');
                if (!in || !eq)
                        continue;
                *eq = 0;
                char *k = line, *v = eq + 1;
                size_t kl = strlen(k);
                while (kl && k[kl - 1] == ' ')
                        k[--kl] = 0;
                while (*v == ' ')
                        v++;
                if (strcmp(k, "aws_access_key_id") == 0) {
                        free(s->access_key);
                        s->access_key = strdup(v);
                } else if (strcmp(k, "aws_secret_access_key") == 0) {
                        if (s->secret_key)
                                sodium_free(s->secret_key);
                        s->secret_key = secret_dup(v);
                } else if (strcmp(k, "aws_session_token") == 0) {
                        if (s->token)
                                sodium_free(s->token);
                        s->token = secret_dup(v);
                }
        }
        sodium_memzero(text, strlen(text));
        free(text);
        if (!s->access_key || !s->secret_key) {
                error_set("credentials file %s%s: profile [%s] has no aws_access_key_id and aws_secret_access_key "
                          "(set AWS_PROFILE to the profile that has them)",
                          file, from, profile);
                return -EINVAL;
        }
        return 0;
}

/* Where the AWS CLI keeps its keys, read when neither the command line
 * nor the environment gives any: AWS_SHARED_CREDENTIALS_FILE, else
 * ~/.aws/credentials when it exists; NULL for neither. *from names the
 * source for read_credentials_file's errors. */
static char *shared_credentials_file(const char **from)
{
        const char *env = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
        if (env && *env) {
                *from = " (AWS_SHARED_CREDENTIALS_FILE)";
                return strdup(env);
        }
        char *path = NULL;
        *from = " (the AWS CLI's, read as no keys are in the environment)";
        if (home && *home && asprintf(&path, "%s/.aws/credentials", home) >= 0 && access(path, F_OK) == 0)
                return path;
        free(path);
        return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

int backend_s3_open(const char *url, Backend **out)
{
        pthread_once(&curl_once, curl_init);
        const BackendOptions *o = backend_options();
        BackendS3 *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->parent = (Backend){
                .version = BACKEND_VERSION,
                .kind = "s3",
                .parallel = o->s3_connections ? o->s3_connections : 16,
                .read = s3_read,
                .read_stream = s3_read_stream,
                .write = s3_write,
                .list = s3_list,
                .remove = s3_remove,
                .stat = s3_stat,
                .create = s3_create,
                .close = s3_close,
        };
        pthread_mutex_init(&s->mu, NULL);
        s->timeout = o->s3_timeout ? (long)o->s3_timeout : 60;
        s->retries = o->s3_retries >= 0 ? o->s3_retries : 8;
        s->vhost = o->s3_virtual_host;
        s->insecure = o->insecure_tls;
        s->create_bucket = o->s3_create_bucket;
        s->cacert = o->cacert ? strdup(o->cacert) : NULL;
        if (s->insecure)
                fprintf(stderr, "cairn: warning: TLS certificate verification is off (--insecure-tls): anyone on "
                                "the path can read and change this traffic\n");
        const char *region = o->s3_region ? o->s3_region
                             : getenv("AWS_REGION")   ? getenv("AWS_REGION")
                             : getenv("AWS_DEFAULT_REGION") ? getenv("AWS_DEFAULT_REGION")
                                                             : "us-east-1";
        s->region = strdup(region);

        /* split URL: scheme://host[:port]/bucket[/prefix] with curl's URL parser */
        int rc = -EINVAL;
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
        if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
                error_set("s3:%s: not a valid URL (use s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX])", url);
                goto out;
        }
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        const char *p = path;
        while (*p == '/')
                p++;
        const char *slash = strchr(p, '/');
        s->bucket = slash ? strndup(p, (size_t)(slash - p)) : strdup(p);
        if (!s->bucket || strlen(s->bucket) < 3) {
                error_set("s3:%s: give a bucket name of at least 3 characters after the host", url);
                goto out;
        }
        const char *pre = slash ? slash + 1 : "";
        size_t pl = strlen(pre);
        while (pl && pre[pl - 1] == '/')
                pl--;
        if (asprintf(&s->prefix, "%.*s%s", (int)pl, pre, pl ? "/" : "") < 0)
                goto out;
        char hostport[512];
        snprintf(hostport, sizeof(hostport), "%s%s%s%s%s", s->vhost ? s->bucket : "", s->vhost ? "." : "", host,
                 port ? ":" : "", port ? port : "");
        s->host = strdup(hostport);
        if (asprintf(&s->base, "%s://%s", scheme, hostport) < 0)
                goto out;
        if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
                error_set("s3:%s: the scheme must be http or https", url);
                goto out;
        }

        /* one source gives the whole set (key, secret, token): a session
         * token from the environment never goes with a file's keys */
        if (o->s3_credentials_file) {
                if ((rc = read_credentials_file(s, o->s3_credentials_file, "")) < 0)
                        goto out;
        } else if (!getenv("AWS_ACCESS_KEY_ID") && !getenv("AWS_SECRET_ACCESS_KEY")) {
                /* neither in the environment: the AWS CLI's file, if any */
                const char *from;
                char *shared = shared_credentials_file(&from);
                rc = shared ? read_credentials_file(s, shared, from) : 0;
                free(shared);
                if (rc < 0)
                        goto out;
        } else {
                if (getenv("AWS_ACCESS_KEY_ID"))
                        s->access_key = strdup(getenv("AWS_ACCESS_KEY_ID"));
                if (getenv("AWS_SECRET_ACCESS_KEY"))
                        s->secret_key = secret_dup(getenv("AWS_SECRET_ACCESS_KEY"));
                if (getenv("AWS_SESSION_TOKEN") && *getenv("AWS_SESSION_TOKEN"))
                        s->token = secret_dup(getenv("AWS_SESSION_TOKEN"));
        }
        rc = -EINVAL;
        if (!s->access_key || !s->secret_key) {
                error_set("s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use "
                          "--s3-credentials-file (or ~/.aws/credentials)");
                goto out;
        }
        rc = 0;
out:
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(path);
        curl_url_cleanup(u);
        if (rc < 0) {
                s3_close(&s->parent);
                return rc;
        }
        *out = &s->parent;
        return 0;
}
