/* cmd-repo.c — repository-level commands: init, key, snapshots, ls, stats,
 * unlock, and the hidden lock used by tests. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "compress.h"
#include "error.h"
#include "pack.h"
#include "restorer.h"
#include "s3-sign.h"

int cmd_init(Cli *c, int argc, char **argv)
{
        static const char help[] =
                "usage: cairn init [--kdf min|interactive|moderate] [--compression off|fast|auto|max]\n"
                "                  [--pack-size MIB]\n\n"
                "Create a repository at -r/--repo (or CAIRN_REPOSITORY), protected by the password.\n"
                "  --kdf          cost of the password hash (default interactive: 64 MiB, argon2id)\n"
                "  --compression  default compression of new data (default auto)\n"
                "  --pack-size    target pack size in MiB (default 16)\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"kdf", required_argument, NULL, 'k'},
                                             {"compression", required_argument, NULL, 'c'},
                                             {"pack-size", required_argument, NULL, 'p'},
                                             {0}};
        RepoInitOptions o = {.compression = COMPRESS_AUTO};
        key_kdf_parse(NULL, &o.kdf);
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 'k':
                        if (key_kdf_parse(optarg, &o.kdf) < 0)
                                return cli_fail(c, -EINVAL);
                        break;
                case 'c':
                        if ((o.compression = compress_parse_level(optarg)) < 0)
                                return cli_usage(c, "unknown compression '%s'", optarg);
                        break;
                case 'p': {
                        long v = strtol(optarg, NULL, 10);
                        if (v < 1 || v > 1024)
                                return cli_usage(c, "--pack-size must be 1..1024 MiB");
                        o.pack_size = (size_t)v << 20;
                        break;
                }
                default:
                        return cli_usage(c, "unknown option");
                }
        }
        if (optind != argc)
                return cli_usage(c, "unexpected argument '%s'", argv[optind]);
        if (!c->repo)
                return cli_usage(c, "no repository given (use -r/--repo or set CAIRN_REPOSITORY)");
        int rc = cli_password(c, true);
        if (rc < 0)
                return cli_fail(c, rc);
        Repo *r;
        rc = repo_init(c->repo, c->password, c->pwlen, &o, &r);
        if (rc < 0)
                return cli_fail(c, rc);
        if (c->json)
                cli_print_json(json_pack("{s:s, s:s}", "id", repo_id(r), "location", c->repo));
        else
                printf("created repository %.10s at %s\n", repo_id(r), c->repo);
        repo_close(r);
        return EXIT_OK;
}

static int read_new_password(Cli *c, const char *file, char **pw, size_t *len)
{
        Cli tmp = {.command = c->command, .password_file = file};
        if (!file) {
                /* from the terminal only: never the same environment password */
                unsetenv("CAIRN_PASSWORD");
                unsetenv("CAIRN_PASSWORD_FILE");
        }
        int rc = cli_password(&tmp, true);
        if (rc < 0) {
                if (tmp.password)
                        sodium_free(tmp.password);
                return rc;
        }
        *pw = tmp.password;
        *len = tmp.pwlen;
        return 0;
}

int cmd_key(Cli *c, int argc, char **argv)
{
        static const char help[] =
                "usage: cairn key list\n"
                "       cairn key add [--new-password-file FILE] [--kdf COST]\n"
                "       cairn key remove ID\n"
                "       cairn key passwd [--new-password-file FILE] [--kdf COST]\n\n"
                "Manage the passwords that open the repository. Each password seals the same\n"
                "master key; removing the one in use is refused.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"new-password-file", required_argument, NULL, 'n'},
                                             {"kdf", required_argument, NULL, 'k'},
                                             {0}};
        const char *newfile = NULL;
        KdfParams kdf;
        key_kdf_parse(NULL, &kdf);
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (ch == 'n')
                        newfile = optarg;
                else if (ch == 'k') {
                        if (key_kdf_parse(optarg, &kdf) < 0)
                                return cli_fail(c, -EINVAL);
                } else
                        return cli_usage(c, "unknown option");
        }
        if (optind >= argc)
                return cli_usage(c, "which key command? list, add, remove or passwd");
        const char *sub = argv[optind];
        Repo *r;
        int rc = cli_open(c, false, &r);
        if (rc < 0)
                return cli_fail(c, rc);
        if (strcmp(sub, "list") == 0) {
                json_t *keys;
                rc = key_list(repo_backend(r), &keys);
                if (rc == 0 && c->json) {
                        cli_print_json(keys);
                } else if (rc == 0) {
                        size_t i;
                        json_t *k;
                        printf(" %-10s %-20s %-16s %s\n", "ID", "Created", "User", "Host");
                        json_array_foreach(keys, i, k)
                        {
                                const char *id = json_string_value(json_object_get(k, "id"));
                                printf("%s%-10.10s %-20s %-16s %s\n",
                                       strcmp(id, repo_key_id(r)) == 0 ? "*" : " ", id,
                                       json_string_value(json_object_get(k, "created")),
                                       json_string_value(json_object_get(k, "user")),
                                       json_string_value(json_object_get(k, "host")));
                        }
                        json_decref(keys);
                }
        } else if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0) {
                char *pw = NULL, id[ID_HEX_LEN + 1];
                size_t len = 0;
                rc = read_new_password(c, newfile, &pw, &len);
                if (rc == 0)
                        rc = key_add(repo_backend(r), repo_key(r), pw, len, &kdf, id);
                if (pw)
                        sodium_free(pw);
                if (rc == 0 && strcmp(sub, "passwd") == 0) {
                        char name[ID_HEX_LEN + 8];
                        snprintf(name, sizeof(name), "keys/%s", repo_key_id(r));
                        rc = backend_remove(repo_backend(r), name);
                }
                if (rc == 0)
                        printf("%s key %.10s\n", strcmp(sub, "add") == 0 ? "added" : "changed password; new",
                               id);
        } else if (strcmp(sub, "remove") == 0) {
                if (optind + 1 >= argc) {
                        repo_close(r);
                        return cli_usage(c, "key remove needs the key id");
                }
                const char *prefix = argv[optind + 1];
                json_t *keys, *k;
                size_t i;
                const char *match = NULL;
                int count = 0;
                rc = key_list(repo_backend(r), &keys);
                if (rc == 0) {
                        json_array_foreach(keys, i, k)
                        {
                                const char *id = json_string_value(json_object_get(k, "id"));
                                if (strncmp(id, prefix, strlen(prefix)) == 0) {
                                        match = id;
                                        count++;
                                }
                        }
                        if (count != 1) {
                                error_set("key '%s' %s", prefix,
                                          count ? "matches several keys; give more characters"
                                                : "not found (see 'cairn key list')");
                                rc = -ENOENT;
                        } else if (strcmp(match, repo_key_id(r)) == 0) {
                                error_set("key %.10s is the one in use; open with another password to remove "
                                          "it",
                                          match);
                                rc = -EBUSY;
                        } else {
                                char name[ID_HEX_LEN + 8];
                                snprintf(name, sizeof(name), "keys/%s", match);
                                rc = backend_remove(repo_backend(r), name);
                                if (rc == 0)
                                        printf("removed key %.10s\n", match);
                        }
                        json_decref(keys);
                }
        } else {
                error_set("unknown key command '%s' (use list, add, remove or passwd)", sub);
                rc = -EINVAL;
        }
        repo_close(r);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_snapshots(Cli *c, int argc, char **argv)
{
        static const char help[] = "usage: cairn snapshots [--host HOST] [--tag TAG]... [--json]\n\n"
                                   "List the snapshots, oldest first.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {
                {"host", required_argument, NULL, 'H'}, {"tag", required_argument, NULL, 't'}, {0}};
        SnapshotFilter f = {0};
        _cleanup_strv_ const char **tags = NULL;
        size_t ntags = 0;
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (ch == 'H')
                        f.host = optarg;
                else if (ch == 't')
                        cli_strv_add(&tags, &ntags, optarg, true);
                else
                        return cli_usage(c, "unknown option");
        }
        f.tags = tags;
        Repo *r;
        int rc = cli_open(c, false, &r);
        if (rc < 0)
                return cli_fail(c, rc);
        Snapshot **list;
        size_t n;
        rc = snapshot_list(r, &list, &n);
        if (rc < 0) {
                repo_close(r);
                return cli_fail(c, rc);
        }
        json_t *arr = json_array();
        if (!c->json)
                printf("%-8s  %-20s  %-12s  %-8s  %-14s  %s\n", "ID", "Time", "Host", "Kind", "Tags", "Paths");
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
                Snapshot *s = list[i];
                if (!snapshot_matches(s, &f))
                        continue;
                shown++;
                if (c->json) {
                        json_array_append_new(arr, snapshot_to_json(s));
                        continue;
                }
                char t[64], tagstr[256] = "";
                util_format_time(s->time_sec, 0, false, t, sizeof(t));
                for (size_t k = 0; k < s->ntags; k++)
                        snprintf(tagstr + strlen(tagstr), sizeof(tagstr) - strlen(tagstr), "%s%s", k ? "," : "",
                                 s->tags[k]);
                printf("%.8s  %-20s  %-12s  %-8s  %-14s  %s\n", s->id, t, s->host, s->kind, tagstr,
                       s->npaths ? s->paths[0] : "");
                for (size_t k = 1; k < s->npaths; k++)
                        printf("%74s%s\n", "", s->paths[k]);
        }
        if (c->json)
                cli_print_json(arr);
        else {
                json_decref(arr);
                printf("%zu snapshots\n", shown);
        }
        snapshot_list_free(list, n);
        repo_close(r);
        return EXIT_OK;
}

typedef struct LsCtx {
        Repo *repo;
        bool json, longfmt;
        json_t *arr;
        uint64_t count;
} LsCtx;

static void ls_print(LsCtx *l, const char *path, const Node *n)
{
        l->count++;
        if (l->json) {
                json_t *j = json_pack("{s:s, s:i, s:I, s:i, s:i}", "type", node_type_name(n->type), "mode", n->mode,
                                      "size", (json_int_t)n->size, "uid", n->uid, "gid", n->gid);
                cli_json_set_bytes(j, "path", path);
                cli_json_set_bytes(j, "name", n->name);
                json_array_append_new(l->arr, j);
                return;
        }
        if (l->longfmt) {
                char t[64];
                util_format_time(n->mtime.sec, 0, false, t, sizeof(t));
                printf("%-8s %04o %5u %5u %12llu %s %s%s%s\n", node_type_name(n->type), n->mode, n->uid, n->gid,
                       (unsigned long long)n->size, t, path, n->type == NODE_SYMLINK ? " -> " : "",
                       n->type == NODE_SYMLINK ? n->linktarget : "");
        } else {
                puts(path);
        }
}

static int ls_walk(LsCtx *l, const uint8_t tree[ID_LEN], const char *prefix)
{
        Tree *t;
        int rc = repo_tree_load(l->repo, tree, &t);
        if (rc < 0)
                return rc;
        for (size_t i = 0; rc == 0 && i < t->n; i++) {
                Node *n = &t->nodes[i];
                size_t len = strlen(prefix) + strlen(n->name) + 2;
                char *p = malloc(len);
                if (!p) {
                        rc = -ENOMEM;
                        break;
                }
                snprintf(p, len, "%s/%s", strcmp(prefix, "/") == 0 ? "" : prefix, n->name);
                ls_print(l, p, n);
                if (n->type == NODE_DIR && n->has_subtree)
                        rc = ls_walk(l, n->subtree, p);
                free(p);
        }
        tree_free(t);
        return rc;
}

int cmd_ls(Cli *c, int argc, char **argv)
{
        static const char help[] = "usage: cairn ls SNAPSHOT[:PATH] [-l] [--host H] [--tag T] [--json]\n\n"
                                   "List every entry of a snapshot (below PATH) recursively.\n"
                                   "SNAPSHOT is an id prefix or 'latest'.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"long", no_argument, NULL, 'l'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"tag", required_argument, NULL, 't'},
                                             {0}};
        LsCtx l = {.json = c->json};
        SnapshotFilter f = {0};
        _cleanup_strv_ const char **tags = NULL;
        size_t ntags = 0;
        int ch;
        while ((ch = getopt_long(argc, argv, "l", opts, NULL)) != -1) {
                if (ch == 'l')
                        l.longfmt = true;
                else if (ch == 'H')
                        f.host = optarg;
                else if (ch == 't')
                        cli_strv_add(&tags, &ntags, optarg, true);
                else
                        return cli_usage(c, "unknown option");
        }
        f.tags = tags;
        if (optind + 1 != argc)
                return cli_usage(c, "give one SNAPSHOT[:PATH]");
        char *snap, *path;
        if (cli_split_spec(argv[optind], &snap, &path) < 0)
                return cli_fail(c, -ENOMEM);
        Repo *r;
        Snapshot *s = NULL;
        Node root = {0};
        int rc = cli_open(c, true, &r);
        if (rc == 0) {
                l.repo = r;
                rc = cli_find_snapshot(c, r, snap, &f, &s);
                if (rc == 0)
                        rc = restorer_lookup(r, s->tree, path, &root);
                if (rc == 0) {
                        l.arr = json_array();
                        if (strcmp(path, "/") != 0)
                                ls_print(&l, path, &root);
                        if (root.type == NODE_DIR && root.has_subtree)
                                rc = ls_walk(&l, root.subtree, path);
                        if (rc == 0 && l.json)
                                cli_print_json(l.arr);
                        else
                                json_decref(l.arr);
                }
                node_clear(&root);
                snapshot_free(s);
                repo_close(r);
        }
        free(snap);
        free(path);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}

typedef struct StatsCtx {
        uint64_t packs, pack_bytes;
} StatsCtx;

static int count_pack(const char *name, uint64_t size, void *ud)
{
        StatsCtx *s = ud;
        s->packs++;
        s->pack_bytes += size;
        return 0;
}

typedef struct BlobTotals {
        uint64_t blobs[2], raw[2], stored[2];
} BlobTotals;

static int count_blob(const uint8_t id[ID_LEN], const IndexEntry *e, void *ud)
{
        BlobTotals *b = ud;
        int t = e->type == BLOB_TREE;
        b->blobs[t]++;
        b->raw[t] += e->raw_length;
        b->stored[t] += e->length;
        return 0;
}

int cmd_stats(Cli *c, int argc, char **argv)
{
        static const char help[] = "usage: cairn stats [--json]\n\n"
                                   "Show the number of snapshots, blobs and packs, the stored size and the\n"
                                   "deduplicated, uncompressed size of the data, and the compression ratio.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        if (argc > 1)
                return cli_usage(c, "unexpected argument '%s'", argv[1]);
        Repo *r;
        int rc = cli_open(c, true, &r);
        if (rc < 0)
                return cli_fail(c, rc);
        StatsCtx s = {0};
        BlobTotals b = {0};
        Snapshot **list = NULL;
        size_t n = 0;
        rc = backend_list(repo_backend(r), "data/", count_pack, &s);
        if (rc == 0)
                rc = snapshot_list(r, &list, &n);
        if (rc == 0)
                index_foreach(repo_index(r), count_blob, &b);
        if (rc == 0) {
                double ratio = b.stored[0] ? (double)b.raw[0] / (double)b.stored[0] : 1.0;
                if (c->json) {
                        cli_print_json(json_pack(
                                "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I}", "snapshots", (json_int_t)n,
                                "packs", (json_int_t)s.packs, "pack_bytes", (json_int_t)s.pack_bytes, "data_blobs",
                                (json_int_t)b.blobs[0], "tree_blobs", (json_int_t)b.blobs[1], "raw_data_bytes",
                                (json_int_t)b.raw[0], "stored_data_bytes", (json_int_t)b.stored[0],
                                "raw_tree_bytes", (json_int_t)b.raw[1], "compression_ratio", ratio,
                                "index_memory_bytes", (json_int_t)index_memory(repo_index(r))));
                } else {
                        char a[32], d[32], e[32];
                        cli_size(s.pack_bytes, a, sizeof(a));
                        cli_size(b.raw[0], d, sizeof(d));
                        cli_size(b.stored[0], e, sizeof(e));
                        printf("snapshots:          %zu\n"
                               "packs:              %llu (%s)\n"
                               "data blobs:         %llu, %s raw, %s stored\n"
                               "tree blobs:         %llu\n"
                               "compression ratio:  %.2fx\n",
                               n, (unsigned long long)s.packs, a, (unsigned long long)b.blobs[0], d, e,
                               (unsigned long long)b.blobs[1], ratio);
                }
        }
        snapshot_list_free(list, n);
        repo_close(r);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_unlock(Cli *c, int argc, char **argv)
{
        static const char help[] = "usage: cairn unlock [--remove-all]\n\n"
                                   "Remove stale locks (their process is gone, or they were not refreshed for\n"
                                   "30 minutes); with --remove-all, every lock.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        bool all = argc > 1 && strcmp(argv[1], "--remove-all") == 0;
        if (argc > (all ? 2 : 1))
                return cli_usage(c, "unexpected argument '%s'", argv[all ? 2 : 1]);
        Repo *r;
        int rc = cli_open(c, false, &r);
        if (rc < 0)
                return cli_fail(c, rc);
        unsigned removed = 0;
        rc = lock_remove(r, all, &removed);
        repo_close(r);
        if (rc < 0)
                return cli_fail(c, rc);
        if (!c->quiet)
                printf("removed %u lock%s\n", removed, removed == 1 ? "" : "s");
        return EXIT_OK;
}

int cmd_lock(Cli *c, int argc, char **argv)
{
        bool excl = false;
        long hold = 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--exclusive") == 0)
                        excl = true;
                else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
                        hold = strtol(argv[++i], NULL, 10);
                else
                        return cli_usage(c, "usage: cairn lock [--exclusive] --hold SECONDS");
        }
        Repo *r;
        RepoLock *l;
        int rc = cli_open_locked(c, false, excl, &r, &l);
        if (rc < 0)
                return cli_fail(c, rc);
        printf("locked\n");
        fflush(stdout);
        struct timespec ts = {hold, 0};
        nanosleep(&ts, NULL);
        lock_release(l);
        repo_close(r);
        return EXIT_OK;
}

/* One implementation of a job over n bytes at p: what it writes to out,
 * and its length (what the two must agree on; 0 when it failed). */
typedef size_t (*BulkFn)(const uint8_t *p, size_t n, uint8_t *out);

/* Time a (libcrypto) and b (libsodium) over MIB MiB (default 256), in
 * 8 MiB pieces of warm memory (a blob, a pack: what the repository hands
 * them; a cold 256 MiB buffer timed page faults), and check they give the
 * same bytes; the benchmark prints both. extra: what an output may take
 * beyond its input (a digest's hex, a tag). */
static int selftest_pair(Cli *c, int argc, char **argv, const char *name, BulkFn a, BulkFn b, size_t extra)
{
        size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
        if (mib == 0 || mib > 4096)
                return cli_usage(c, "give a size in MiB, 1..4096");
        size_t piece = MIN(mib, 8u) << 20, rounds = (mib << 20) / piece;
        uint8_t *p = malloc(piece), *out[2] = {calloc(1, piece + extra), calloc(1, piece + extra)};
        if (!p || !out[0] || !out[1]) {
                free(p);
                free(out[0]);
                free(out[1]);
                return cli_fail(c, -ENOMEM);
        }
        randombytes_buf(p, piece);
        uint64_t ns[2];
        size_t len[2];
        BulkFn fn[2] = {a, b};
        for (int k = 0; k < 2; k++) {
                len[k] = fn[k](p, piece, out[k]); /* warm up */
                uint64_t t0 = util_now_ns();
                for (size_t i = 0; i < rounds; i++)
                        fn[k](p, piece, out[k]);
                ns[k] = util_now_ns() - t0;
        }
        bool same = len[0] && len[0] == len[1] && memcmp(out[0], out[1], len[0]) == 0; /* 0: it failed */
        free(p);
        free(out[0]);
        free(out[1]);
        if (!same) {
                fprintf(stderr, "cairn: selftest-%s: the two implementations disagree\n", name);
                return EXIT_ERROR;
        }
        double n = (double)(piece * rounds);
        double ra = n / ((double)ns[0] / 1e9) / 1e6, rb = n / ((double)ns[1] / 1e9) / 1e6;
        if (c->json)
                cli_print_json(json_pack("{s:f, s:f}", "libcrypto_mb_s", ra, "libsodium_mb_s", rb));
        else
                printf("%s over %zu MiB: libcrypto %.0f MB/s, libsodium %.0f MB/s\n", name, mib, ra, rb);
        return EXIT_OK;
}

static size_t sha_libcrypto(const uint8_t *p, size_t n, uint8_t *out)
{
        s3_sha256_hex(p, n, (char *)out);
        return 64;
}

static size_t sha_sodium(const uint8_t *p, size_t n, uint8_t *out)
{
        s3_sha256_hex_sodium(p, n, (char *)out);
        return 64;
}

/* cairn selftest-sha256 [MIB]: the two SHA-256 implementations the S3
 * backend could hash uploads with (the faster one is used). */
int cmd_selftest_sha256(Cli *c, int argc, char **argv)
{
        return selftest_pair(c, argc, argv, "sha256", sha_libcrypto, sha_sodium, 65);
}

static const uint8_t selftest_key[32] = {1}, selftest_nonce[24] = {2};

static size_t aead_libcrypto(const uint8_t *p, size_t n, uint8_t *out)
{
        return crypto_aead_seal(CRYPTO_AEAD_LIBCRYPTO, selftest_key, selftest_nonce, p, n, out) == 0 ? n + 16 : 0;
}

static size_t aead_sodium(const uint8_t *p, size_t n, uint8_t *out)
{
        return crypto_aead_seal(CRYPTO_AEAD_SODIUM, selftest_key, selftest_nonce, p, n, out) == 0 ? n + 16 : 0;
}

/* cairn selftest-aead [MIB]: XChaCha20-Poly1305 sealing by libcrypto (what
 * the repository uses from 4 KiB on) and by libsodium, same bytes. */
int cmd_selftest_aead(Cli *c, int argc, char **argv)
{
        return selftest_pair(c, argc, argv, "aead", aead_libcrypto, aead_sodium, 16);
}
