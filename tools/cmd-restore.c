/* cmd-restore.c — cairn restore and cairn dump. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <signal.h>

#include "cli.h"
#include "error.h"
#include <inttypes.h>

#include "redis-restore.h"
#include "restorer.h"

static void warn_cb(const char *path, const char *msg, void *ud)
{
        fprintf(stderr, "cairn: restore: %s: %s\n", path, msg);
}

static void progress_cb(void *ud, uint64_t *done, uint64_t *total, uint64_t *files)
{
        RestoreStats st;
        restorer_stats(ud, &st);
        *done = st.bytes_done;
        *total = st.bytes_total;
        *files = st.files;
}

static const char redis_help[] =
        "usage: cairn restore redis FROM --to redis://[USER[:PASSWORD]@]HOST:PORT [--flush] [--db N]\n"
        "                           [--match PATTERN] [--redis-password-file FILE]\n"
        "       cairn restore redis-rdb FROM --to DATADIR [--node HOST:PORT] [--force]\n\n"
        "redis: load a logical Redis backup into a server, or into a cluster (each key to the\n"
        "master owning its slot). FROM is the backup's redis directory: a path (e.g.\n"
        "MOUNT/snapshots/latest/redis, or one db<N>.resp in it) or SNAPSHOT:/redis, read\n"
        "through the repository; nothing is staged. Commands are pipelined and every reply\n"
        "checked; --flush empties each target database first; --db and --match restore a\n"
        "subset. Afterwards the key counts and digests must equal the backup's and every key\n"
        "must exist on the server, or the restore fails.\n\n"
        "redis-rdb: place the backup's dump.rdb (made with --mode rdb or both) as\n"
        "DATADIR/dump.rdb, size and digest checked, for a server started with --dir DATADIR\n"
        "--dbfilename dump.rdb --appendonly no (see README). --node picks a cluster master's\n"
        "RDB; an existing dump.rdb is replaced only with --force.\n";

/* FROM: a path, or SNAPSHOT:PATH read through the repository (which
 * the repository and its lock stay open for the source). */
static int open_from(Cli *c, const char *from, Repo **repo, RepoLock **lock, Source **src, char **file)
{
        if (access(from, F_OK) == 0 || !strchr(from, ':'))
                return source_open_path(from, src, file);
        char *snap, *path;
        if (cli_split_spec(from, &snap, &path) < 0)
                return -ENOMEM;
        Snapshot *s = NULL;
        SnapshotFilter sf = {0};
        int rc = cli_open_locked(c, true, false, repo, lock);
        if (rc == 0)
                rc = cli_find_snapshot(c, *repo, snap, &sf, &s);
        if (rc == 0)
                rc = source_open_snapshot(*repo, s->tree, path, src, file);
        snapshot_free(s);
        free(snap);
        free(path);
        return rc;
}

static void close_from(Repo *r, RepoLock *lock, Source *src, char *file)
{
        source_free(src);
        free(file);
        if (r) {
                lock_release(lock);
                repo_close(r);
        }
}

static int restore_redis(Cli *c, int argc, char **argv, bool rdb)
{
        /* a server that closes the connection is an error to report, not a signal */
        signal(SIGPIPE, SIG_IGN);
        if (cli_help(argc, argv, redis_help))
                return EXIT_OK;
        static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                             {"flush", no_argument, NULL, 'f'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"match", required_argument, NULL, 'm'},
                                             {"node", required_argument, NULL, 'n'},
                                             {"force", no_argument, NULL, 'F'},
                                             {"redis-password-file", required_argument, NULL, 'P'},
                                             {0}};
        const char *to = NULL, *pwfile = NULL, *node = NULL;
        bool force = false;
        RedisRestoreOptions o = {.db = -1};
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 't':
                        to = optarg;
                        break;
                case 'f':
                        o.flush = true;
                        break;
                case 'd':
                        if (redis_db_parse(optarg, &o.db) < 0)
                                return cli_usage(c, "bad --db '%s' (a database number)", optarg);
                        break;
                case 'm':
                        o.match = optarg;
                        break;
                case 'n':
                        node = optarg;
                        break;
                case 'F':
                        force = true;
                        break;
                case 'P':
                        pwfile = optarg;
                        break;
                default:
                        return cli_usage(c, "unknown option");
                }
        }
        if (optind + 1 != argc)
                return cli_usage(c, "give one FROM (the backup's redis directory, or SNAPSHOT:/redis)");
        if (!to)
                return cli_usage(c, rdb ? "--to DATADIR is required" : "--to redis://HOST:PORT is required");
        if (!rdb && (node || force))
                return cli_usage(c, "--node and --force are options of 'cairn restore redis-rdb'");
        if (rdb && (o.flush || o.db >= 0 || o.match || pwfile))
                return cli_usage(c, "redis-rdb places a file: --flush, --db, --match and passwords do not apply");
        const char *from = argv[optind];
        Repo *r = NULL;
        RepoLock *lock = NULL;
        Source *src = NULL;
        char *file = NULL;
        int rc = open_from(c, from, &r, &lock, &src, &file);
        if (rc < 0) {
                close_from(r, lock, src, file);
                return cli_fail(c, rc);
        }
        if (rdb) {
                char name[512];
                snprintf(name, sizeof(name), "%s%s%s", node ? node : "", node ? "/" : "", file ? file : "dump.rdb");
                uint64_t size = 0;
                rc = redis_restore_rdb(src, name, to, force, &size);
                if (rc == 0 && !c->quiet)
                        printf("%s/dump.rdb: %" PRIu64 " bytes, verified; start redis-server --dir %s --dbfilename "
                               "dump.rdb --appendonly no\n", to, size, to);
                close_from(r, lock, src, file);
                return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
        }
        /* one db<N>.resp names its database; an RDB is not loaded into a live server */
        if (file && sscanf(file, "db%d.resp", &o.db) != 1) {
                close_from(r, lock, src, file);
                if (strstr(from, ".rdb"))
                        return cli_fail(c, error_ret(-ENOTSUP, "%s: converting an RDB file into commands is not supported: "
                                                               "use 'cairn restore redis-rdb FROM --to DATADIR' and start "
                                                               "redis-server on it, or restore the logical backup "
                                                               "(db<N>.resp, --mode logical or both)", from));
                return cli_fail(c, error_ret(-EINVAL, "%s: not a Redis backup file (give the redis directory or a "
                                                      "db<N>.resp in it)", from));
        }
        RedisUrl url;
        rc = redis_url_parse(to, &url);
        redis_url_scrub((char *)to);
        if (rc == 0)
                rc = redis_url_password(&url, pwfile);
        RedisRestoreStats st;
        o.url = &url;
        uint64_t t0 = util_now_ns();
        if (rc == 0 && (rc = redis_restore(src, &o, &st)) < 0) {
                char *pub = redis_url_public(&url);
                error_prefix("redis %s", pub ? pub : "");
                free(pub);
        }
        double secs = (double)(util_now_ns() - t0) / 1e9;
        redis_url_clear(&url);
        close_from(r, lock, src, file);
        if (rc < 0)
                return cli_fail(c, rc);
        if (c->json) {
                cli_print_json(json_pack("{s:I, s:I, s:I, s:i, s:I, s:I, s:f}", "keys", (json_int_t)st.keys, "bytes",
                                         (json_int_t)st.bytes, "expired", (json_int_t)st.expired, "masters", st.masters,
                                         "strings_as_set", (json_int_t)st.strings_as_set,
                                         "strings_batched", (json_int_t)st.strings_batched, "duration_seconds", secs));
        } else if (!c->quiet) {
                printf("restored %" PRIu64 " keys (%" PRIu64 " bytes) from %s in %.1f s", st.keys, st.bytes, from, secs);
                if (st.masters)
                        printf(" into a cluster of %u masters", st.masters);
                printf("; verified");
                if (st.expired)
                        printf("; %" PRIu64 " keys expired since the backup", st.expired);
                printf("\n");
        }
        return EXIT_OK;
}

int cmd_restore(Cli *c, int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "redis") == 0)
                return restore_redis(c, argc - 1, argv + 1, false);
        if (argc > 1 && strcmp(argv[1], "redis-rdb") == 0)
                return restore_redis(c, argc - 1, argv + 1, true);
        static const char help[] =
                "usage: cairn restore SNAPSHOT[:PATH] --target DIR [--include GLOB]... [--exclude GLOB]...\n"
                "                     [--verify] [--host H] [--tag T]\n"
                "       cairn restore redis FROM --to redis://HOST:PORT [options]   (see cairn restore redis --help)\n"
                "       cairn restore redis-rdb FROM --to DATADIR [options]\n\n"
                "Restore a snapshot into DIR. With :PATH (absolute, as in the snapshot) the contents\n"
                "of that directory go straight into DIR; a file goes into DIR under its name.\n"
                "Ownership, modes, times, xattrs, hardlinks, symlinks, devices, fifos and holes\n"
                "are restored. --verify reads every restored file back and checks it.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                             {"include", required_argument, NULL, 'i'},
                                             {"exclude", required_argument, NULL, 'e'},
                                             {"verify", no_argument, NULL, 'v'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"tag", required_argument, NULL, 'T'},
                                             {0}};
        _cleanup_strv_ const char **inc = NULL;
        _cleanup_strv_ const char **exc = NULL;
        _cleanup_strv_ const char **tags = NULL;
        size_t ninc = 0, nexc = 0, ntags = 0;
        RestoreOptions o = {.warn = warn_cb};
        SnapshotFilter f = {0};
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 't':
                        o.target = optarg;
                        break;
                case 'i':
                        cli_strv_add(&inc, &ninc, optarg, false);
                        break;
                case 'e':
                        cli_strv_add(&exc, &nexc, optarg, false);
                        break;
                case 'v':
                        o.verify = true;
                        break;
                case 'H':
                        f.host = optarg;
                        break;
                case 'T':
                        cli_strv_add(&tags, &ntags, optarg, true);
                        break;
                default:
                        return cli_usage(c, "unknown option");
                }
        }
        f.tags = tags;
        o.includes = inc;
        o.excludes = exc;
        if (optind + 1 != argc)
                return cli_usage(c, "give one SNAPSHOT[:PATH]");
        if (!o.target || !*o.target)
                return cli_usage(c, "--target DIR is required");
        char *snap, *path;
        if (cli_split_spec(argv[optind], &snap, &path) < 0)
                return cli_fail(c, -ENOMEM);
        Repo *r = NULL;
        RepoLock *lock = NULL;
        Snapshot *s = NULL;
        Node root = {0};
        Restorer *rs = NULL;
        int rc = cli_open_locked(c, true, false, &r, &lock);
        if (rc < 0)
                goto done;
        rc = cli_find_snapshot(c, r, snap, &f, &s);
        if (rc == 0)
                rc = restorer_lookup(r, s->tree, path, &root);
        if (rc == 0)
                rc = restorer_new(r, &o, &rs);
        if (rc == 0) {
                uint64_t t0 = util_now_ns();
                Progress *pg = progress_start(c, "restore", progress_cb, rs);
                rc = restorer_run(rs, &root, path);
                progress_stop(pg);
                RestoreStats st;
                restorer_stats(rs, &st);
                if (rc == 0 && c->json) {
                        cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
                                                 "snapshot_id", s->id, "files", (json_int_t)st.files, "dirs", (json_int_t)st.dirs,
                                                 "others", (json_int_t)st.others, "bytes",
                                                 (json_int_t)st.bytes_total, "errors", (json_int_t)st.errors,
                                                 "files_incomplete", (json_int_t)st.files_incomplete,
                                                 "dirs_incomplete", (json_int_t)st.dirs_incomplete,
                                                 "packs_read_ahead", (json_int_t)st.packs_read_ahead,
                                                 "packs_read_again", (json_int_t)st.packs_read_again,
                                                 "duration_seconds", (double)(util_now_ns() - t0) / 1e9));
                } else if (rc == 0 && !c->quiet) {
                        char sz[32];
                        cli_size(st.bytes_total, sz, sizeof(sz));
                        printf("restored snapshot %.8s%s%s to %s: %llu files, %llu dirs, %s in %.2fs%s\n", s->id,
                               strcmp(path, "/") ? ":" : "", strcmp(path, "/") ? path : "", o.target,
                               (unsigned long long)st.files, (unsigned long long)st.dirs, sz,
                               (double)(util_now_ns() - t0) / 1e9, o.verify ? ", verified" : "");
                }
                if (st.files_incomplete || st.dirs_incomplete) {
                        char files[64] = "", dirs[64] = "";
                        if (st.files_incomplete)
                                snprintf(files, sizeof(files), "%llu file%s", (unsigned long long)st.files_incomplete,
                                         st.files_incomplete == 1 ? "" : "s");
                        if (st.dirs_incomplete)
                                snprintf(dirs, sizeof(dirs), "%llu director%s", (unsigned long long)st.dirs_incomplete,
                                         st.dirs_incomplete == 1 ? "y" : "ies");
                        fprintf(stderr,
                                "cairn: restore: %s%s%s incomplete: the repository lacks some of their data "
                                "(named above; everything else is restored)\n",
                                files, files[0] && dirs[0] ? " and " : "", dirs);
                }
                if (rc == 0 && st.errors)
                        rc = 1;
        }
done:
        restorer_free(rs);
        node_clear(&root);
        snapshot_free(s);
        if (r) {
                lock_release(lock);
                repo_close(r);
        }
        free(snap);
        free(path);
        if (rc == 1)
                return EXIT_PARTIAL;
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_dump(Cli *c, int argc, char **argv)
{
        static const char help[] = "usage: cairn dump SNAPSHOT:PATH [--host H] [--tag T]\n\n"
                                   "Write one file of a snapshot to standard output.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {
                {"host", required_argument, NULL, 'H'}, {"tag", required_argument, NULL, 'T'}, {0}};
        SnapshotFilter f = {0};
        _cleanup_strv_ const char **tags = NULL;
        size_t ntags = 0;
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (ch == 'H')
                        f.host = optarg;
                else if (ch == 'T')
                        cli_strv_add(&tags, &ntags, optarg, true);
                else
                        return cli_usage(c, "unknown option");
        }
        f.tags = tags;
        if (optind + 1 != argc || !strchr(argv[optind], ':'))
                return cli_usage(c, "give one SNAPSHOT:PATH");
        char *snap, *path;
        if (cli_split_spec(argv[optind], &snap, &path) < 0)
                return cli_fail(c, -ENOMEM);
        Repo *r;
        Snapshot *s = NULL;
        Node n = {0};
        int rc = cli_open(c, true, &r);
        if (rc == 0) {
                rc = cli_find_snapshot(c, r, snap, &f, &s);
                if (rc == 0)
                        rc = restorer_lookup(r, s->tree, path, &n);
                if (rc == 0 && n.type != NODE_FILE) {
                        error_set("%s is a %s, not a file (use 'cairn restore' for directories)", path,
                                  node_type_name(n.type));
                        rc = -EISDIR;
                }
                Buf b = {0};
                for (size_t i = 0; rc == 0 && i < n.ncontent; i++) {
                        b.len = 0;
                        rc = repo_blob_load(r, n.content[i], &b);
                        if (rc == 0 && (rc = util_write_full(STDOUT_FILENO, b.data, b.len)) < 0)
                                error_set("writing to stdout: %s", strerror(-rc));
                }
                buf_free(&b);
                node_clear(&n);
                snapshot_free(s);
                repo_close(r);
        }
        free(snap);
        free(path);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}
