/* repo.c — see repo.h. */
#include "repo.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "compress.h"
#include "error.h"
#include "pack.h"

#define INDEX_FLUSH_PACKS 64 /* write an index file every this many packs */
#define MAX_UPLOADERS 4      /* packs written at once (each holds 16 MiB) */

struct Repo {
        Backend *be;
        bool borrowed; /* be belongs to the caller */
        bool cached;   /* be keeps metadata in a local cache */
        MasterKey *key;
        char *location;
        char id[ID_HEX_LEN + 1];
        char key_id[ID_HEX_LEN + 1];
        uint8_t chunker_seed[32];
        size_t chunk_min, chunk_avg, chunk_max, pack_size;
        int compression;
        Chunker *chunker;

        pthread_mutex_t mu;
        Index *index;
        Index *index_files; /* ids of the index files loaded (a set) */
        PackWriter *writers[2];
        /* a written pack's buffer, kept for the next pack: a fresh 25 MiB
         * buffer per pack cost a page fault per 4 KiB stored (a local
         * backup of the benchmark dataset: 187k faults, 68k with one kept;
         * a second kept one saved no more); data NULL when none */
        Buf spare_pack;
        IndexPack *unindexed; /* packs written but not yet in an index file */
        size_t nunindexed, capunindexed;
        RepoStats stats;

        /* full packs go to uploader threads, so compression goes on while
         * a pack is written (an fsync locally, a PUT on S3) */
        pthread_mutex_t up_mu;
        pthread_cond_t up_work, up_done;
        struct Upload *up_head, *up_tail;
        unsigned up_pending; /* queued or being written */
        pthread_t up_threads[MAX_UPLOADERS];
        unsigned up_nthreads;
        bool up_stop;
        int up_error;
        char up_errmsg[1024];
};

typedef struct Upload {
        struct Upload *next;
        PackWriter *w;
} Upload;

Backend *repo_backend(Repo *r)
{
        return r->be;
}

const MasterKey *repo_key(Repo *r)
{
        return r->key;
}

const Chunker *repo_chunker(Repo *r)
{
        return r->chunker;
}

const char *repo_location(Repo *r)
{
        return r->location;
}

const char *repo_id(Repo *r)
{
        return r->id;
}

const char *repo_key_id(Repo *r)
{
        return r->key_id;
}

int repo_compression(Repo *r)
{
        return r->compression;
}

void repo_set_compression(Repo *r, int level)
{
        r->compression = level;
}

Index *repo_index(Repo *r)
{
        return r->index;
}

static Repo *repo_alloc(const char *location)
{
        Repo *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        pthread_mutex_init(&r->mu, NULL);
        pthread_mutex_init(&r->up_mu, NULL);
        pthread_cond_init(&r->up_work, NULL);
        pthread_cond_init(&r->up_done, NULL);
        r->location = strdup(location);
        if (!r->location || index_new(&r->index) < 0 || index_new(&r->index_files) < 0) {
                index_free(r->index);
                free(r->location);
                free(r);
                return NULL;
        }
        return r;
}

static void uploaders_stop(Repo *r);

void repo_close(Repo *r)
{
        if (!r)
                return;
        uploaders_stop(r);
        for (int t = 0; t < 2; t++)
                pack_writer_free(r->writers[t]);
        buf_free(&r->spare_pack);
        for (size_t i = 0; i < r->nunindexed; i++)
                free(r->unindexed[i].entries);
        free(r->unindexed);
        index_free(r->index);
        index_free(r->index_files);
        chunker_free(r->chunker);
        crypto_key_free(r->key);
        if (r->be && !r->borrowed)
                backend_close(r->be);
        pthread_mutex_destroy(&r->mu);
        pthread_mutex_destroy(&r->up_mu);
        pthread_cond_destroy(&r->up_work);
        pthread_cond_destroy(&r->up_done);
        free(r->location);
        free(r);
}

/* ---- objects ---- */

int repo_object_save(Repo *r, const char *dir, const void *p, size_t n, char id_out[ID_HEX_LEN + 1])
{
        Buf sealed = {0};
        int rc = crypto_seal(r->key, p, n, &sealed);
        if (rc < 0)
                return rc;
        uint8_t id[ID_LEN];
        char hex[ID_HEX_LEN + 1], name[ID_HEX_LEN + 64];
        crypto_object_id(sealed.data, sealed.len, id);
        util_hex(id, ID_LEN, hex);
        snprintf(name, sizeof(name), "%s/%s", dir, hex);
        rc = backend_write(r->be, name, sealed.data, sealed.len);
        buf_free(&sealed);
        if (rc == 0 && id_out)
                memcpy(id_out, hex, sizeof(hex));
        return rc;
}

int repo_object_load(Repo *r, const char *name, Buf *out)
{
        Buf sealed = {0};
        int rc = backend_read(r->be, name, 0, 0, &sealed);
        if (rc < 0)
                return rc;
        rc = crypto_open(r->key, sealed.data, sealed.len, out);
        buf_free(&sealed);
        if (rc == -EBADMSG)
                error_set("%s: failed authentication (damaged or not of this repository)", name);
        return rc;
}

int repo_json_save(Repo *r, const char *dir, json_t *j, char id_out[ID_HEX_LEN + 1])
{
        char *s = json_dumps(j, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        int rc = repo_object_save(r, dir, s, strlen(s), id_out);
        free(s);
        return rc;
}

int repo_json_load(Repo *r, const char *name, json_t **out)
{
        Buf b = {0};
        int rc = repo_object_load(r, name, &b);
        if (rc < 0) {
                buf_free(&b); /* a failed open may have reserved room */
                return rc;
        }
        json_error_t err;
        *out = json_loadb((const char *)b.data, b.len, 0, &err);
        buf_free(&b);
        if (!*out) {
                error_set("%s: not valid JSON: %s", name, err.text);
                return -EBADMSG;
        }
        return 0;
}

/* ---- init and open ---- */

static int config_apply(Repo *r, json_t *cfg)
{
        const char *id = NULL, *seed = NULL, *comp = "auto";
        json_int_t version = 0, mn = 0, avg = 0, mx = 0, pack = 0;
        if (json_unpack(cfg, "{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s?:s}", "version", &version, "id", &id,
                        "chunker_seed", &seed, "chunk_min", &mn, "chunk_avg", &avg, "chunk_max", &mx, "pack_size",
                        &pack, "compression", &comp) < 0 ||
            strlen(id) != ID_HEX_LEN || util_unhex(seed, r->chunker_seed, 32) < 0) {
                error_set("%s: config is malformed", r->location);
                return -EBADMSG;
        }
        if (version != 1) {
                error_set("%s: repository format version %d is not supported by this cairn (use a newer one)",
                          r->location, (int)version);
                return -ENOTSUP;
        }
        memcpy(r->id, id, ID_HEX_LEN + 1);
        r->chunk_min = (size_t)mn;
        r->chunk_avg = (size_t)avg;
        r->chunk_max = (size_t)mx;
        r->pack_size = (size_t)pack;
        r->compression = compress_parse_level(comp);
        if (r->compression < 0)
                r->compression = COMPRESS_AUTO;
        int rc = chunker_new(r->chunker_seed, r->chunk_min, r->chunk_avg, r->chunk_max, &r->chunker);
        if (rc < 0)
                error_set("%s: config has invalid chunker sizes", r->location);
        return rc;
}

static int init_common(Repo *r, const char *pw, size_t pwlen, const RepoInitOptions *opt, Repo **out);

/* A remote repository keeps its metadata in a local cache, one directory
 * per repository id. */
static void use_cache(Repo *r)
{
        const BackendOptions *o = backend_options();
        if (!r->be->parallel || o->no_cache || r->borrowed)
                return;
        char dir[4096];
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (o->cache_dir)
                snprintf(dir, sizeof(dir), "%s/%s", o->cache_dir, r->id);
        else if (xdg && *xdg)
                snprintf(dir, sizeof(dir), "%s/cairn/%s", xdg, r->id);
        else if (home && *home)
                snprintf(dir, sizeof(dir), "%s/.cache/cairn/%s", home, r->id);
        else
                return;
        Backend *wrapped;
        if (backend_cache_wrap(r->be, dir, &wrapped) == 0) {
                r->be = wrapped;
                r->cached = true;
        }
}
static int open_common(Repo *r, const char *pw, size_t pwlen, Repo **out);

int repo_init(const char *location, const char *pw, size_t pwlen, const RepoInitOptions *opt, Repo **out)
{
        Repo *r = repo_alloc(location);
        if (!r)
                return -ENOMEM;
        int rc = backend_open(location, &r->be);
        if (rc < 0) {
                repo_close(r);
                return rc;
        }
        return init_common(r, pw, pwlen, opt, out);
}

int repo_init_on(Backend *be, const char *pw, size_t pwlen, const RepoInitOptions *opt, Repo **out)
{
        Repo *r = repo_alloc(be->kind);
        if (!r)
                return -ENOMEM;
        r->be = be;
        r->borrowed = true;
        return init_common(r, pw, pwlen, opt, out);
}

int repo_open_on(Backend *be, const char *pw, size_t pwlen, Repo **out)
{
        Repo *r = repo_alloc(be->kind);
        if (!r)
                return -ENOMEM;
        r->be = be;
        r->borrowed = true;
        return open_common(r, pw, pwlen, out);
}

static int init_common(Repo *r, const char *pw, size_t pwlen, const RepoInitOptions *opt, Repo **out)
{
        int rc = r->be->create(r->be);
        if (rc < 0)
                goto fail;
        r->key = crypto_key_new_random();
        if (!r->key) {
                rc = -ENOMEM;
                goto fail;
        }
        uint8_t rid[ID_LEN], seed[32];
        char ridhex[ID_HEX_LEN + 1], seedhex[65];
        randombytes_buf(rid, sizeof(rid));
        randombytes_buf(seed, sizeof(seed));
        util_hex(rid, sizeof(rid), ridhex);
        util_hex(seed, sizeof(seed), seedhex);
        json_t *cfg = json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "version", 1, "id", ridhex,
                                "chunker_seed", seedhex, "chunk_min",
                                (json_int_t)(opt->chunk_min ? opt->chunk_min : CHUNKER_MIN_DEFAULT), "chunk_avg",
                                (json_int_t)(opt->chunk_avg ? opt->chunk_avg : CHUNKER_AVG_DEFAULT), "chunk_max",
                                (json_int_t)(opt->chunk_max ? opt->chunk_max : CHUNKER_MAX_DEFAULT), "pack_size",
                                (json_int_t)(opt->pack_size ? opt->pack_size : PACK_TARGET_DEFAULT), "compression",
                                compress_level_name(opt->compression));
        sodium_memzero(seedhex, sizeof(seedhex));
        if (!cfg) {
                rc = -ENOMEM;
                goto fail;
        }
        rc = config_apply(r, cfg);
        if (rc < 0) {
                json_decref(cfg);
                goto fail;
        }
        /* key first: a config without a key would be a repository nobody
         * can open; a key without a config is harmless and init can retry */
        rc = key_add(r->be, r->key, pw, pwlen, &opt->kdf, r->key_id);
        if (rc < 0) {
                json_decref(cfg);
                goto fail;
        }
        char *s = json_dumps(cfg, JSON_COMPACT);
        json_decref(cfg);
        Buf sealed = {0};
        rc = s ? crypto_seal(r->key, s, strlen(s), &sealed) : -ENOMEM;
        if (s) {
                sodium_memzero(s, strlen(s));
                free(s);
        }
        if (rc == 0)
                rc = backend_write(r->be, "config", sealed.data, sealed.len);
        buf_free(&sealed);
        if (rc < 0)
                goto fail;
        *out = r;
        return 0;
fail:
        repo_close(r);
        return rc;
}

int repo_open(const char *location, const char *pw, size_t pwlen, Repo **out)
{
        Repo *r = repo_alloc(location);
        if (!r)
                return -ENOMEM;
        int rc = backend_open(location, &r->be);
        if (rc < 0) {
                repo_close(r);
                return rc;
        }
        return open_common(r, pw, pwlen, out);
}

static int open_common(Repo *r, const char *pw, size_t pwlen, Repo **out)
{
        const char *location = r->location;
        int rc;
        /* read the config once, first: it tells whether a repository is
         * there (one request on S3, where every request counts) */
        Buf sealed = {0};
        json_t *cfg = NULL;
        rc = backend_read(r->be, "config", 0, 0, &sealed);
        if (rc == -ENOENT && !strstr(error_last(), "NoSuchBucket")) {
                error_clear();
                error_set("%s: no repository there (check the path, or create one with 'cairn init')", location);
                goto fail;
        }
        if (rc < 0) {
                /* a refused request, a dead server, a missing bucket: say so */
                if (!error_last()[0])
                        error_set("%s: %s", location, strerror(-rc));
                goto fail;
        }
        rc = key_open(r->be, pw, pwlen, &r->key, r->key_id);
        if (rc == -EACCES) {
                error_clear();
                error_set("%s: wrong password, or no key for it (check CAIRN_PASSWORD_FILE / --password-file)",
                          location);
                goto fail;
        }
        if (rc == -ENOENT) {
                error_clear();
                error_set("%s: the repository has no keys (it is damaged)", location);
                goto fail;
        }
        if (rc < 0)
                goto fail;
        Buf plain = {0};
        rc = crypto_open(r->key, sealed.data, sealed.len, &plain);
        if (rc == 0) {
                json_error_t err;
                cfg = json_loadb((const char *)plain.data, plain.len, 0, &err);
                sodium_memzero(plain.data, plain.len);
                if (!cfg)
                        rc = -EBADMSG;
        }
        buf_free(&plain);
        if (rc < 0) {
                error_set("%s/config: failed authentication or is malformed (the repository is damaged)", location);
                goto fail;
        }
        rc = config_apply(r, cfg);
        if (rc < 0)
                goto fail;
        use_cache(r);
        buf_free(&sealed);
        json_decref(cfg);
        *out = r;
        return 0;
fail:
        buf_free(&sealed);
        json_decref(cfg);
        repo_close(r);
        return rc;
}

/* ---- index ---- */

typedef struct IndexNames {
        char (*names)[ID_HEX_LEN + 8];
        uint64_t *sizes;
        size_t n;
} IndexNames;

static int collect_names(const char *name, uint64_t size, void *ud)
{
        IndexNames *x = ud;
        void *a = realloc(x->names, (x->n + 1) * sizeof(*x->names));
        if (!a)
                return -ENOMEM;
        x->names = a;
        void *b = realloc(x->sizes, (x->n + 1) * sizeof(*x->sizes));
        if (!b)
                return -ENOMEM;
        x->sizes = b;
        snprintf(x->names[x->n], sizeof(*x->names), "%s", name);
        x->sizes[x->n++] = size;
        return 0;
}

static int add_pack_cb(const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n, void *ud)
{
        Index *ix = ud;
        int64_t p = index_add_pack(ix, pack_id);
        if (p < 0)
                return (int)p;
        for (size_t i = 0; i < n; i++) {
                IndexEntry ie = {.pack = (uint32_t)p, .type = e[i].type, .offset = e[i].offset,
                                 .length = e[i].length, .raw_length = e[i].raw_length};
                int rc = index_add(ix, e[i].id, &ie);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int repo_index_add_pack(Repo *r, const uint8_t pack_id[ID_LEN], const PackEntry *e, size_t n)
{
        pthread_mutex_lock(&r->mu);
        int rc = add_pack_cb(pack_id, e, n, r->index);
        pthread_mutex_unlock(&r->mu);
        return rc;
}

/* Is this index file loaded already? Marks it when not. With mu held. */
static bool index_file_seen(Repo *r, const char *name)
{
        uint8_t id[ID_LEN];
        const char *hex = strrchr(name, '/');
        if (!hex || strlen(hex + 1) != ID_HEX_LEN || util_unhex(hex + 1, id, ID_LEN) < 0)
                return true; /* not an index file: skip it */
        IndexEntry mark = {0};
        return index_add(r->index_files, id, &mark) != 1;
}

int repo_load_index(Repo *r)
{
        IndexNames names = {0};
        int rc = backend_list(r->be, "index/", collect_names, &names);
        uint64_t upper = 0;
        size_t fresh = 0;
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; rc == 0 && i < names.n; i++) {
                if (index_file_seen(r, names.names[i])) {
                        names.names[i][0] = 0;
                        continue;
                }
                upper += names.sizes[i] / PACK_RECORD_LEN;
                fresh++;
        }
        if (rc == 0 && fresh)
                rc = index_reserve(r->index, (size_t)upper);
        pthread_mutex_unlock(&r->mu);
        for (size_t i = 0; rc == 0 && i < names.n; i++) {
                if (!names.names[i][0])
                        continue;
                Buf sealed = {0};
                rc = backend_read(r->be, names.names[i], 0, 0, &sealed);
                if (rc == 0) {
                        pthread_mutex_lock(&r->mu);
                        rc = index_file_decode(r->key, sealed.data, sealed.len, add_pack_cb, r->index);
                        pthread_mutex_unlock(&r->mu);
                        if (rc == -EBADMSG)
                                error_set("%s: index file failed authentication or is malformed (run 'cairn "
                                          "check')",
                                          names.names[i]);
                }
                buf_free(&sealed);
        }
        free(names.names);
        free(names.sizes);
        return rc;
}

int repo_index_write(Repo *r, const IndexPack *packs, size_t n, char id_out[ID_HEX_LEN + 1])
{
        Buf sealed = {0};
        int rc = index_file_encode(r->key, packs, n, &sealed);
        if (rc < 0)
                return rc;
        uint8_t id[ID_LEN];
        char hex[ID_HEX_LEN + 1], name[ID_HEX_LEN + 8];
        crypto_object_id(sealed.data, sealed.len, id);
        util_hex(id, ID_LEN, hex);
        snprintf(name, sizeof(name), "index/%s", hex);
        rc = backend_write(r->be, name, sealed.data, sealed.len);
        buf_free(&sealed);
        if (rc == 0 && id_out)
                memcpy(id_out, hex, sizeof(hex));
        return rc;
}

/* ---- blobs ---- */

/* Keep a written pack's buffer for a later pack, if it is page-aligned (the
 * local backend writes those directly; a grown one may not be) and none is
 * kept yet. With mu held; takes *b or leaves it to be freed. */
static void pack_buf_recycle(Repo *r, Buf *b)
{
        if (!r->spare_pack.data && b->data && ((uintptr_t)b->data & 4095) == 0) {
                r->spare_pack = *b;
                *b = (Buf){0};
        }
}

/* Write a finished pack and publish its blobs in the index. Called without
 * the mutex held. */
static int pack_commit(Repo *r, PackWriter *w)
{
        uint8_t id[ID_LEN];
        Buf bytes = {0};
        PackEntry *e = NULL;
        size_t n = 0;
        char name[ID_HEX_LEN + 9];
        int rc = pack_writer_finish(w, r->key, id, &bytes, &e, &n);
        pack_writer_free(w);
        if (rc == 0) {
                pack_name(id, name);
                rc = backend_write(r->be, name, bytes.data, bytes.len);
        }
        pthread_mutex_lock(&r->mu);
        if (rc < 0) {
                /* forget the blobs so a retry writes them again */
                for (size_t i = 0; i < n; i++)
                        index_remove(r->index, e[i].id);
                pthread_mutex_unlock(&r->mu);
                free(e);
                buf_free(&bytes);
                return rc;
        }
        int64_t p = index_add_pack(r->index, id);
        for (size_t i = 0; p >= 0 && i < n; i++) {
                IndexEntry ie = {.pack = (uint32_t)p, .type = e[i].type, .offset = e[i].offset,
                                 .length = e[i].length, .raw_length = e[i].raw_length};
                index_set(r->index, e[i].id, &ie);
        }
        if (r->nunindexed == r->capunindexed) {
                size_t cap = r->capunindexed ? r->capunindexed * 2 : 16;
                void *q = realloc(r->unindexed, cap * sizeof(*r->unindexed));
                if (q) {
                        r->unindexed = q;
                        r->capunindexed = cap;
                }
        }
        if (p < 0 || r->nunindexed == r->capunindexed) {
                pthread_mutex_unlock(&r->mu);
                free(e);
                buf_free(&bytes);
                return -ENOMEM;
        }
        IndexPack *ip = &r->unindexed[r->nunindexed++];
        memcpy(ip->id, id, ID_LEN);
        ip->entries = e;
        ip->n = n;
        r->stats.packs_written++;
        /* a long backup saves its progress: index what is written so far */
        IndexPack *flush = NULL;
        size_t nflush = r->nunindexed;
        if (nflush >= INDEX_FLUSH_PACKS) {
                flush = r->unindexed;
                r->unindexed = NULL;
                r->nunindexed = r->capunindexed = 0;
        }
        pack_buf_recycle(r, &bytes);
        pthread_mutex_unlock(&r->mu);
        buf_free(&bytes);
        if (!flush)
                return 0;
        rc = repo_index_write(r, flush, nflush, NULL);
        for (size_t i = 0; i < nflush; i++)
                free(flush[i].entries);
        free(flush);
        return rc;
}

static void *uploader(void *arg)
{
        Repo *r = arg;
        pthread_mutex_lock(&r->up_mu);
        for (;;) {
                while (!r->up_head && !r->up_stop)
                        pthread_cond_wait(&r->up_work, &r->up_mu);
                if (!r->up_head)
                        break;
                Upload *u = r->up_head;
                r->up_head = u->next;
                if (!r->up_head)
                        r->up_tail = NULL;
                bool failed = r->up_error != 0;
                pthread_mutex_unlock(&r->up_mu);
                int rc = failed ? 0 : pack_commit(r, u->w);
                if (failed)
                        pack_writer_free(u->w);
                free(u);
                pthread_mutex_lock(&r->up_mu);
                if (rc < 0 && !r->up_error) {
                        r->up_error = rc;
                        snprintf(r->up_errmsg, sizeof(r->up_errmsg), "%s", error_last());
                }
                r->up_pending--;
                pthread_cond_broadcast(&r->up_done);
        }
        pthread_mutex_unlock(&r->up_mu);
        return NULL;
}

static void uploaders_stop(Repo *r)
{
        pthread_mutex_lock(&r->up_mu);
        r->up_stop = true;
        pthread_cond_broadcast(&r->up_work);
        pthread_mutex_unlock(&r->up_mu);
        for (unsigned i = 0; i < r->up_nthreads; i++)
                pthread_join(r->up_threads[i], NULL);
        r->up_nthreads = 0;
}

/* Hand a full pack to the uploaders; blocks while as many packs as there
 * are uploaders (twice as many on a remote store) are waiting. Returns an
 * earlier upload's error, if any. */
static int pack_commit_async(Repo *r, PackWriter *w)
{
        Upload *u = calloc(1, sizeof(*u));
        if (!u) {
                pack_writer_free(w);
                return -ENOMEM;
        }
        u->w = w;
        pthread_mutex_lock(&r->up_mu);
        if (!r->up_nthreads) {
                /* a local disk: one writer (its O_DIRECT writes of 16 MiB
                 * keep up with the backup; a second one and a second pack
                 * waiting only held two more packs in memory: first backup
                 * of the benchmark dataset, 3 rounds alternated, peak RSS
                 * 117-124 MiB with two writers against 106-108 MiB with one,
                 * 5.11-5.39 s against 5.02-5.47 s) */
                unsigned want = r->be->parallel ? MIN(r->be->parallel, (unsigned)MAX_UPLOADERS) : 1;
                for (unsigned i = 0; i < want; i++)
                        if (pthread_create(&r->up_threads[r->up_nthreads], NULL, uploader, r) == 0)
                                r->up_nthreads++;
        }
        if (!r->up_nthreads) {
                pthread_mutex_unlock(&r->up_mu);
                free(u);
                return pack_commit(r, w);
        }
        /* a remote store keeps a second pack queued per uploader (its
         * connections stay busy); a local disk writes 16 MiB in a blink, and
         * queued packs only raised the peak RSS (first backup of the
         * benchmark dataset: 98-117 MiB with 4 pending, 100-107 with 2) */
        unsigned most = r->be->parallel ? 2 * r->up_nthreads : r->up_nthreads;
        while (!r->up_error && r->up_pending >= most)
                pthread_cond_wait(&r->up_done, &r->up_mu);
        int rc = r->up_error;
        if (rc) {
                error_set("%s", r->up_errmsg);
                pthread_mutex_unlock(&r->up_mu);
                pack_writer_free(w);
                free(u);
                return rc;
        }
        if (r->up_tail)
                r->up_tail->next = u;
        else
                r->up_head = u;
        r->up_tail = u;
        r->up_pending++;
        pthread_cond_signal(&r->up_work);
        pthread_mutex_unlock(&r->up_mu);
        return 0;
}

/* Wait for every queued pack; the first upload error, if any. */
static int uploads_wait(Repo *r)
{
        pthread_mutex_lock(&r->up_mu);
        while (r->up_pending)
                pthread_cond_wait(&r->up_done, &r->up_mu);
        int rc = r->up_error;
        if (rc)
                error_set("%s", r->up_errmsg);
        pthread_mutex_unlock(&r->up_mu);
        return rc;
}

int repo_blob_save_id(Repo *r, uint8_t type, const uint8_t id[ID_LEN], const void *p, size_t n, bool *added)
{
        return repo_blob_save_hint(r, type, id, p, n, NULL, added);
}

int repo_blob_save_hint(Repo *r, uint8_t type, const uint8_t id[ID_LEN], const void *p, size_t n,
                        CompressHint *hint, bool *added)
{
        IndexEntry pending = {.pack = INDEX_PACK_PENDING, .type = type};
        pthread_mutex_lock(&r->mu);
        int rc = index_add(r->index, id, &pending);
        pthread_mutex_unlock(&r->mu);
        if (rc <= 0) {
                if (added)
                        *added = false;
                return rc;
        }
        if (n > UINT32_MAX - 1024) {
                rc = -EFBIG;
                goto undo;
        }

        /* one buffer: nonce room, the stored form after it, sealed in place */
        Buf *sealed = util_scratch(SCRATCH_SEAL);
        if (!sealed) {
                rc = -ENOMEM;
                goto undo;
        }
        sealed->len = 0;
        rc = buf_reserve(sealed, 24);
        int zlevel = 0;
        if (rc == 0) {
                sealed->len = 24;
                rc = compress_blob_hint(r->compression, hint, p, n, sealed, &zlevel);
        }
        if (rc == 0)
                rc = buf_reserve(sealed, 16);
        if (rc == 0 && (rc = crypto_seal_inplace(r->key, sealed->data, sealed->len - 24)) < 0)
                error_set("sealing a blob: libcrypto failed");
        if (rc < 0)
                goto undo;
        sealed->len += 16;

        PackWriter *full = NULL;
        pthread_mutex_lock(&r->mu);
        if (!r->writers[type]) {
                if ((rc = pack_writer_new(type, &r->writers[type])) < 0) {
                        pthread_mutex_unlock(&r->mu);
                        goto undo;
                }
                if (r->spare_pack.data) {
                        pack_writer_adopt(r->writers[type], &r->spare_pack);
                        r->stats.pack_buffers_reused++;
                }
        }
        int64_t off = pack_writer_add(r->writers[type], id, sealed->data, sealed->len, (uint32_t)n);
        if (off < 0) {
                pthread_mutex_unlock(&r->mu);
                rc = (int)off;
                goto undo;
        }
        r->stats.blobs_new[type]++;
        r->stats.bytes_new_raw += n;
        r->stats.bytes_new_stored += sealed->len;
        if (zlevel == 1) /* only a hint picks zstd 1 */
                r->stats.blobs_zstd1++;
        if (pack_writer_size(r->writers[type]) >= r->pack_size) {
                full = r->writers[type];
                r->writers[type] = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        util_scratch_trim(SCRATCH_SEAL, (size_t)16 << 20);
        if (added)
                *added = true;
        return full ? pack_commit_async(r, full) : 0;
undo:
        pthread_mutex_lock(&r->mu);
        index_remove(r->index, id);
        pthread_mutex_unlock(&r->mu);
        return rc;
}

int repo_blob_save(Repo *r, uint8_t type, const void *p, size_t n, uint8_t id_out[ID_LEN], bool *added)
{
        crypto_blob_id(r->key, p, n, id_out);
        return repo_blob_save_id(r, type, id_out, p, n, added);
}

bool repo_blob_has(Repo *r, const uint8_t id[ID_LEN])
{
        pthread_mutex_lock(&r->mu);
        bool has = index_find(r->index, id, NULL);
        pthread_mutex_unlock(&r->mu);
        return has;
}

int repo_blob_locate(Repo *r, const uint8_t id[ID_LEN], char pack[ID_HEX_LEN + 9], IndexEntry *e)
{
        pthread_mutex_lock(&r->mu);
        bool has = index_find(r->index, id, e);
        const uint8_t *pid = has && e->pack != INDEX_PACK_PENDING ? index_pack_id(r->index, e->pack) : NULL;
        if (pid)
                pack_name(pid, pack);
        pthread_mutex_unlock(&r->mu);
        return pid ? 0 : -ENOENT;
}

int64_t repo_blob_size(Repo *r, const uint8_t id[ID_LEN])
{
        IndexEntry e;
        pthread_mutex_lock(&r->mu);
        bool has = index_find(r->index, id, &e);
        pthread_mutex_unlock(&r->mu);
        if (!has || e.pack == INDEX_PACK_PENDING)
                return -ENOENT;
        return e.raw_length;
}

int repo_blob_open_inplace(Repo *r, uint8_t *sealed, size_t n, uint32_t raw_len, Buf *out,
                           const uint8_t **plain)
{
        *plain = NULL;
        if (n < CRYPTO_OVERHEAD + 1)
                return -EBADMSG;
        int rc = crypto_open_to(r->key, sealed, n, sealed + 24);
        if (rc < 0)
                return rc;
        *plain = compress_stored(sealed + 24, n - CRYPTO_OVERHEAD, raw_len);
        if (*plain)
                return 0;
        return compress_unblob(sealed + 24, n - CRYPTO_OVERHEAD, raw_len, out);
}

int repo_blob_decode(Repo *r, const uint8_t *sealed, size_t n, uint32_t raw_len, Buf *out)
{
        if (n < CRYPTO_OVERHEAD + 1)
                return -EBADMSG;
        Buf *stored = util_scratch(SCRATCH_OPEN);
        if (!stored)
                return -ENOMEM;
        stored->len = 0;
        int rc = buf_reserve(stored, n - CRYPTO_OVERHEAD);
        if (rc < 0)
                return rc;
        rc = crypto_open_to(r->key, sealed, n, stored->data);
        if (rc < 0)
                return rc;
        stored->len = n - CRYPTO_OVERHEAD;
        rc = compress_unblob(stored->data, stored->len, raw_len, out);
        util_scratch_trim(SCRATCH_OPEN, (size_t)16 << 20);
        return rc;
}

/* The index entry and pack name of a stored blob, or -ENOENT with the
 * message a user gets. */
static int blob_find(Repo *r, const uint8_t id[ID_LEN], IndexEntry *e, char name[ID_HEX_LEN + 9])
{
        if (repo_blob_locate(r, id, name, e) == 0)
                return 0;
        char hex[ID_HEX_LEN + 1];
        util_hex(id, ID_LEN, hex);
        error_set("blob %s is not in the index (run 'cairn check')", hex);
        return -ENOENT;
}

static int blob_damaged(const char *name, const uint8_t id[ID_LEN], uint32_t offset)
{
        char hex[ID_HEX_LEN + 1];
        util_hex(id, ID_LEN, hex);
        return error_ret(-EBADMSG, "%s: blob %.16s at offset %u is damaged (failed authentication)", name, hex,
                         offset);
}

int64_t repo_blob_read(Repo *r, const uint8_t id[ID_LEN], Buf *span, Buf *out, const uint8_t **plain)
{
        IndexEntry e;
        char name[ID_HEX_LEN + 9];
        int rc = blob_find(r, id, &e, name);
        if (rc < 0)
                return rc;
        span->len = out->len = 0;
        if ((rc = backend_read(r->be, name, e.offset, e.length, span)) < 0)
                return rc;
        rc = repo_blob_open_inplace(r, span->data, span->len, e.raw_length, out, plain);
        if (rc == 0 && !*plain)
                *plain = out->data;
        if (rc == -EBADMSG)
                return blob_damaged(name, id, e.offset);
        return rc < 0 ? rc : (int64_t)e.raw_length;
}

int repo_blob_load(Repo *r, const uint8_t id[ID_LEN], Buf *out)
{
        IndexEntry e;
        char name[ID_HEX_LEN + 9];
        int rc = blob_find(r, id, &e, name);
        if (rc < 0)
                return rc;
        Buf sealed = {0};
        size_t skip = 0; /* where the blob starts in sealed */
        if (e.type == BLOB_TREE && r->cached) {
                /* remote: a tree pack is read whole once, and so kept in the
                 * metadata cache (the next tree is likely in the same pack);
                 * then its trees come from that copy by range */
                rc = backend_read_local(r->be, name, e.offset, e.length, &sealed);
                if (rc == -ENOENT) {
                        rc = backend_read(r->be, name, 0, 0, &sealed);
                        if (rc == 0 && (uint64_t)e.offset + e.length > sealed.len)
                                rc = -EBADMSG;
                        skip = e.offset;
                }
        } else {
                rc = backend_read(r->be, name, e.offset, e.length, &sealed);
        }
        if (rc < 0) {
                buf_free(&sealed);
                return rc;
        }
        size_t before = out->len;
        rc = repo_blob_decode(r, sealed.data + skip, e.length, e.raw_length, out);
        buf_free(&sealed);
        if (rc == 0) {
                /* the id is the keyed hash of the plaintext: check it, so a
                 * bug or a swapped blob can never return wrong bytes */
                uint8_t got[ID_LEN];
                crypto_blob_id(r->key, out->data + before, out->len - before, got);
                if (sodium_memcmp(got, id, ID_LEN) != 0)
                        rc = -EBADMSG;
        }
        if (rc == -EBADMSG) {
                out->len = before;
                return blob_damaged(name, id, e.offset);
        }
        return rc;
}

int repo_tree_load(Repo *r, const uint8_t id[ID_LEN], Tree **out)
{
        Buf b = {0};
        int rc = repo_blob_load(r, id, &b);
        if (rc < 0)
                return rc;
        rc = tree_decode(b.data, b.len, out);
        buf_free(&b);
        if (rc == -EBADMSG) {
                char hex[ID_HEX_LEN + 1];
                util_hex(id, ID_LEN, hex);
                error_set("tree %.16s is malformed", hex);
        }
        return rc;
}

int repo_tree_save(Repo *r, const Tree *t, uint8_t id_out[ID_LEN])
{
        Buf b = {0};
        int rc = tree_encode(t, &b);
        if (rc == 0)
                rc = repo_blob_save(r, BLOB_TREE, b.data, b.len, id_out, NULL);
        buf_free(&b);
        return rc;
}

int repo_flush(Repo *r)
{
        int rc = 0;
        for (int t = 0; t < 2; t++) {
                pthread_mutex_lock(&r->mu);
                PackWriter *w = r->writers[t];
                r->writers[t] = NULL;
                pthread_mutex_unlock(&r->mu);
                if (w && pack_writer_count(w) > 0) {
                        int k = pack_commit_async(r, w);
                        if (k < 0 && rc == 0)
                                rc = k;
                } else {
                        pack_writer_free(w);
                }
        }
        int k = uploads_wait(r);
        if (rc == 0)
                rc = k;
        if (rc < 0)
                return rc;
        pthread_mutex_lock(&r->mu);
        IndexPack *packs = r->unindexed;
        size_t n = r->nunindexed;
        r->unindexed = NULL;
        r->nunindexed = r->capunindexed = 0;
        pthread_mutex_unlock(&r->mu);
        if (n)
                rc = repo_index_write(r, packs, n, NULL);
        for (size_t i = 0; i < n; i++)
                free(packs[i].entries);
        free(packs);
        return rc;
}

void repo_stats(Repo *r, RepoStats *out)
{
        pthread_mutex_lock(&r->mu);
        *out = r->stats;
        pthread_mutex_unlock(&r->mu);
}
