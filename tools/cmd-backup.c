/* cmd-backup.c — cairn backup: paths, stdin, or a command's output. */
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <pthread.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "archiver.h"
#include <signal.h>

#include "cli.h"
#include "compress.h"
#include "error.h"
#include "redis.h"
#include "stream.h"

static const char help[] =
        "usage: cairn backup [options] PATH...\n"
        "       cairn backup [options] --stdin [--stdin-filename NAME]\n"
        "       cairn backup [options] --stdin-from-command [--stdin-filename NAME] -- CMD [ARGS...]\n"
        "       cairn backup redis redis://HOST:PORT[/DB] [options]   (see cairn backup redis --help)\n\n"
        "Back up files and directories (stored under their absolute paths), standard\n"
        "input, or the output of a command, into a new snapshot.\n\n"
        "  --tag TAG              add a tag (repeatable, or comma-separated)\n"
        "  --host HOST            record this host name (default: this machine's)\n"
        "  --exclude GLOB         leave out entries matching GLOB (repeatable); a pattern\n"
        "                         with a '/' matches the whole path, else the name\n"
        "  --one-file-system      do not cross into other file systems\n"
        "  --parent ID            compare against this snapshot (default: the latest one\n"
        "                         with the same host and paths)\n"
        "  --force                read every file, ignoring the parent\n"
        "  --compression LEVEL    off, fast, auto or max (default: the repository's)\n"
        "  --stdin-filename NAME  file name for stdin or command output (default: stdin)\n\n"
        "Exit status: 0 success; 1 error, no snapshot written; 3 snapshot written but\n"
        "some files could not be read (each is reported).\n";

static void warn_cb(const char *path, const char *msg, void *ud)
{
        fprintf(stderr, "cairn: backup: %s: %s\n", path, msg);
}

/* For the ETA on a terminal: a thread sums the sizes under the paths while
 * the backup runs (nftw has no user pointer, hence the file-level state;
 * one scan per process). Files a parent snapshot vouches for are counted
 * in both the total and the progress. */
static struct {
        pthread_t thread;
        const char *const *paths;
        uint64_t bytes;
        bool done, started;
} scan;

static int scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_F && S_ISREG(st->st_mode))
                __atomic_add_fetch(&scan.bytes, (uint64_t)st->st_size, __ATOMIC_RELAXED);
        return 0;
}

static void *scan_run(void *arg)
{
        for (const char *const *p = scan.paths; *p; p++)
                nftw(*p, scan_one, 32, FTW_PHYS);
        __atomic_store_n(&scan.done, true, __ATOMIC_RELEASE);
        return NULL;
}

static void progress_cb(void *ud, uint64_t *done, uint64_t *total, uint64_t *files)
{
        ArchiverStats st;
        archiver_stats(ud, &st);
        *done = st.bytes_read + (st.total_bytes > st.bytes_read ? st.total_bytes - st.bytes_read : 0);
        *total = __atomic_load_n(&scan.done, __ATOMIC_ACQUIRE) ? __atomic_load_n(&scan.bytes, __ATOMIC_RELAXED)
                                                               : 0;
        *files = st.total_files;
}

/* The fields every kind of snapshot fills the same way. */
static void snapshot_fill(Snapshot *snap, const struct timespec *start, const char *host, const char *kind,
                          char *source, char **paths, size_t npaths, const char **tags, size_t ntags,
                          const uint8_t tree[ID_LEN])
{
        struct passwd *pw = getpwuid(getuid());
        snap->time_sec = start->tv_sec;
        snap->time_nsec = start->tv_nsec;
        snap->host = (char *)host;
        snap->username = pw ? pw->pw_name : (char *)"";
        snap->kind = (char *)kind;
        snap->source = source;
        snap->paths = paths;
        snap->npaths = npaths;
        snap->tags = (char **)tags;
        snap->ntags = ntags;
        memcpy(snap->tree, tree, ID_LEN);
}

static const char redis_help[] =
        "usage: cairn backup redis redis://[USER[:PASSWORD]@]HOST:PORT[/DB] [--mode logical|rdb|both]\n"
        "                          [--db N] [--match PATTERN] [--redis-password-file FILE] [--tag T] [--host H]\n\n"
        "Back up a Redis server, or every master of a Redis Cluster, into a snapshot of kind\n"
        "redis. logical (the default): for each database with keys (or the one --db or the\n"
        "URL names), SCAN + DUMP + PTTL, stored as redis/db<N>.resp (SELECT, then RESTORE ...\n"
        "REPLACE [ABSTTL] per key: input for 'cairn restore redis' or redis-cli --pipe). rdb:\n"
        "a point-in-time redis/dump.rdb through the replication protocol, as redis-cli --rdb.\n"
        "A cluster gets one directory per master, redis/HOST:PORT/. redis/meta.json records key\n"
        "counts and digests per database (checked by the restore), RDB sizes and digests and\n"
        "the cluster's slot map. The password comes from --redis-password-file, REDISCLI_AUTH\n"
        "or the URL (scrubbed from the process arguments); it is never stored or printed.\n";

static int backup_redis(Cli *c, int argc, char **argv)
{
        /* a server that closes the connection is an error to report, not a signal */
        signal(SIGPIPE, SIG_IGN);
        if (cli_help(argc, argv, redis_help))
                return EXIT_OK;
        static const struct option opts[] = {{"tag", required_argument, NULL, 't'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"match", required_argument, NULL, 'm'},
                                             {"mode", required_argument, NULL, 'M'},
                                             {"redis-password-file", required_argument, NULL, 'P'},
                                             {0}};
        _cleanup_strv_ const char **tags = NULL;
        size_t ntags = 0;
        const char *host = NULL, *pwfile = NULL;
        RedisBackupOptions ro = {.db = -1, .mode = REDIS_MODE_LOGICAL};
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 't':
                        cli_strv_add(&tags, &ntags, optarg, true);
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 'd':
                        if (redis_db_parse(optarg, &ro.db) < 0)
                                return cli_usage(c, "bad --db '%s' (a database number)", optarg);
                        break;
                case 'm':
                        ro.match = optarg;
                        break;
                case 'M':
                        if (strcmp(optarg, "logical") == 0)
                                ro.mode = REDIS_MODE_LOGICAL;
                        else if (strcmp(optarg, "rdb") == 0)
                                ro.mode = REDIS_MODE_RDB;
                        else if (strcmp(optarg, "both") == 0)
                                ro.mode = REDIS_MODE_BOTH;
                        else
                                return cli_usage(c, "bad --mode '%s' (logical, rdb or both)", optarg);
                        break;
                case 'P':
                        pwfile = optarg;
                        break;
                default:
                        return cli_usage(c, "unknown option");
                }
        }
        if (optind + 1 != argc)
                return cli_usage(c, "give one redis:// URL");
        if (ro.match && ro.mode != REDIS_MODE_LOGICAL)
                return cli_usage(c, "--match selects keys of a logical dump: not with --mode %s", ro.mode == REDIS_MODE_RDB ? "rdb" : "both");
        RedisUrl url;
        int rc = redis_url_parse(argv[optind], &url);
        redis_url_scrub(argv[optind]); /* what ps shows from now on */
        if (rc == 0)
                rc = redis_url_password(&url, pwfile);
        if (rc < 0) {
                redis_url_clear(&url);
                return cli_fail(c, rc);
        }
        ro.url = &url;
        char *pub = redis_url_public(&url);
        char hostbuf[256] = "";
        if (!host) {
                gethostname(hostbuf, sizeof(hostbuf) - 1);
                host = hostbuf;
        }
        Repo *r;
        RepoLock *lock;
        rc = cli_open_locked(c, true, false, &r, &lock);
        if (rc < 0) {
                free(pub);
                redis_url_clear(&url);
                return cli_fail(c, rc);
        }
        uint64_t t0 = util_now_ns();
        struct timespec start;
        clock_gettime(CLOCK_REALTIME, &start);
        Archiver *a = NULL;
        ArchiverOptions ao = {.warn = warn_cb};
        uint8_t tree[ID_LEN];
        json_t *meta = NULL;
        rc = archiver_new(r, &ao, &a);
        if (rc == 0)
                rc = redis_backup_run(a, &ro, &meta);
        if (rc < 0)
                error_prefix("redis %s", pub);
        if (rc == 0)
                rc = archiver_vfinish(a, tree);
        Snapshot snap = {0};
        RepoStats rst;
        repo_stats(r, &rst);
        if (rc == 0) {
                char *paths[2] = {pub, NULL};
                snapshot_fill(&snap, &start, host, "redis", pub, paths, 1, tags, ntags, tree);
                /* RDB bytes: of the server, or summed over a cluster's masters */
                json_int_t rdb = json_integer_value(json_object_get(json_object_get(meta, "rdb"), "size"));
                const char *k;
                json_t *v, *nodes = json_object_get(meta, "nodes");
                json_object_foreach(nodes, k, v) rdb += json_integer_value(json_object_get(json_object_get(v, "rdb"), "size"));
                json_t *dbs = json_object_get(meta, "dbs");
                snap.summary = json_pack("{s:o, s:O, s:I, s:I, s:I, s:I, s:I, s:f}", "redis",
                                         dbs ? json_incref(dbs) : json_object(), "redis_mode", json_object_get(meta, "mode"),
                                         "redis_masters", (json_int_t)json_object_size(nodes), "redis_rdb_bytes", rdb,
                                         "data_blobs", (json_int_t)rst.blobs_new[0], "tree_blobs",
                                         (json_int_t)rst.blobs_new[1], "data_added",
                                         (json_int_t)rst.bytes_new_stored, "duration_seconds",
                                         (double)(util_now_ns() - t0) / 1e9);
                rc = snapshot_save(r, &snap);
        }
        if (rc == 0) {
                if (c->json) {
                        json_t *j = json_deep_copy(snap.summary);
                        json_object_set_new(j, "snapshot_id", json_string(snap.id));
                        cli_print_json(j);
                } else {
                        if (!c->quiet) {
                                const char *k;
                                json_t *v;
                                json_object_foreach(json_object_get(meta, "dbs"), k, v)
                                        printf("db%s: %lld keys\n", k,
                                               (long long)json_integer_value(json_object_get(v, "keys")));
                                json_int_t rdb = json_integer_value(json_object_get(snap.summary, "redis_rdb_bytes"));
                                if (rdb)
                                        printf("dump.rdb: %lld bytes\n", (long long)rdb);
                        }
                        printf("snapshot %s saved\n", snap.id);
                }
        }
        json_decref(snap.summary);
        json_decref(meta);
        archiver_free(a);
        lock_release(lock);
        repo_close(r);
        free(pub);
        redis_url_clear(&url);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}

int cmd_backup(Cli *c, int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "redis") == 0)
                return backup_redis(c, argc - 1, argv + 1);
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"tag", required_argument, NULL, 't'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"exclude", required_argument, NULL, 'e'},
                                             {"one-file-system", no_argument, NULL, 'x'},
                                             {"parent", required_argument, NULL, 'p'},
                                             {"force", no_argument, NULL, 'f'},
                                             {"compression", required_argument, NULL, 'c'},
                                             {"stdin", no_argument, NULL, 's'},
                                             {"stdin-filename", required_argument, NULL, 'n'},
                                             {"stdin-from-command", no_argument, NULL, 'C'},
                                             {0}};
        _cleanup_strv_ const char **tags = NULL;
        _cleanup_strv_ const char **excludes = NULL;
        size_t ntags = 0, nexcludes = 0;
        const char *host = NULL, *parent_spec = NULL, *stdin_name = "stdin";
        bool one_fs = false, force = false, from_stdin = false, from_cmd = false;
        int compression = -1, ch;
        while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                switch (ch) {
                case 't':
                        cli_strv_add(&tags, &ntags, optarg, true);
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 'e':
                        cli_strv_add(&excludes, &nexcludes, optarg, false);
                        break;
                case 'x':
                        one_fs = true;
                        break;
                case 'p':
                        parent_spec = optarg;
                        break;
                case 'f':
                        force = true;
                        break;
                case 'c':
                        if ((compression = compress_parse_level(optarg)) < 0)
                                return cli_usage(c, "unknown compression '%s'", optarg);
                        break;
                case 's':
                        from_stdin = true;
                        break;
                case 'n':
                        stdin_name = optarg;
                        break;
                case 'C':
                        from_cmd = true;
                        break;
                default:
                        return cli_usage(c, "unknown option");
                }
        }
        char **rest = argv + optind;
        int nrest = argc - optind;
        if (nrest > 0 && strcmp(rest[0], "--") == 0) {
                rest++;
                nrest--;
        }
        if (from_cmd && nrest < 1)
                return cli_usage(c, "--stdin-from-command needs a command after --");
        if (from_stdin && nrest > 0)
                return cli_usage(c, "--stdin takes no paths");
        if (!from_stdin && !from_cmd && nrest < 1)
                return cli_usage(c, "nothing to back up: give one or more paths");
        if ((from_stdin || from_cmd) && (strchr(stdin_name, '/') || !*stdin_name || !strcmp(stdin_name, ".") ||
                                         !strcmp(stdin_name, "..")))
                return cli_usage(c, "--stdin-filename must be a plain file name");

        char hostbuf[256] = "";
        if (!host) {
                gethostname(hostbuf, sizeof(hostbuf) - 1);
                host = hostbuf;
        }
        /* absolute paths, for the snapshot and for finding the parent */
        _cleanup_strv_ const char **abs = calloc((size_t)nrest + 1, sizeof(char *));
        if (!abs)
                return cli_fail(c, -ENOMEM);
        for (int i = 0; !from_cmd && i < nrest; i++)
                if (!(abs[i] = archiver_abspath(rest[i])))
                        return cli_fail(c, -ENOMEM);

        Repo *r;
        RepoLock *lock;
        int rc = cli_open_locked(c, true, false, &r, &lock);
        if (rc < 0)
                return cli_fail(c, rc);
        if (compression >= 0)
                repo_set_compression(r, compression);

        Snapshot *parent = NULL;
        const char *kind = from_stdin || from_cmd ? "stdin" : "files";
        if (!force && !from_stdin && !from_cmd) {
                SnapshotFilter f = {.host = host, .paths = abs, .kind = "files"};
                rc = cli_find_snapshot(c, r, parent_spec ? parent_spec : "latest", parent_spec ? NULL : &f, &parent);
                if (rc == -ENOENT && !parent_spec) {
                        error_clear();
                        rc = 0;
                }
        }
        uint64_t t0 = util_now_ns();
        struct timespec start;
        clock_gettime(CLOCK_REALTIME, &start);
        Archiver *a = NULL;
        ArchiverOptions ao = {.excludes = excludes, .one_file_system = one_fs,
                              .parent_tree = parent ? parent->tree : NULL, .warn = warn_cb};
        uint8_t tree[ID_LEN];
        pid_t pid = 0;
        if (rc == 0)
                rc = archiver_new(r, &ao, &a);
        Progress *pg = NULL;
        if (rc == 0) {
                pg = progress_start(c, "backup", progress_cb, a);
                if (pg && !from_stdin && !from_cmd) {
                        scan.paths = abs;
                        scan.started = pthread_create(&scan.thread, NULL, scan_run, NULL) == 0;
                }
                if (from_stdin) {
                        rc = archiver_run_stream(a, STDIN_FILENO, stdin_name, tree);
                } else if (from_cmd) {
                        int fd;
                        rc = stream_spawn(rest, &pid, &fd);
                        if (rc == 0) {
                                rc = archiver_run_stream(a, fd, stdin_name, tree);
                                close(fd);
                                int w = stream_wait(pid, rest[0]);
                                if (rc == 0)
                                        rc = w;
                        }
                } else {
                        rc = archiver_run(a, abs, (size_t)nrest, tree);
                }
                progress_stop(pg);
                if (scan.started)
                        pthread_join(scan.thread, NULL);
        }
        ArchiverStats st = {0};
        RepoStats rst;
        if (a)
                archiver_stats(a, &st);
        repo_stats(r, &rst);
        Snapshot snap = {0};
        if (rc == 0) {
                char source[512];
                if (from_cmd)
                        snprintf(source, sizeof(source), "command %s", rest[0]);
                else
                        snprintf(source, sizeof(source), "%s", from_stdin ? "stdin" : "files");
                char *stdin_path[2] = {(char *)stdin_name, NULL};
                /* paths of a stream snapshot: the file name, as restic does */
                snapshot_fill(&snap, &start, host, kind, source, from_stdin || from_cmd ? stdin_path : (char **)abs,
                              from_stdin || from_cmd ? 1 : (size_t)nrest, tags, ntags, tree);
                if (parent) {
                        snap.has_parent = true;
                        util_unhex(parent->id, snap.parent, ID_LEN);
                }
                double dur = (double)(util_now_ns() - t0) / 1e9;
                snap.summary = json_pack(
                        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "files_new",
                        (json_int_t)st.files_new, "files_changed", (json_int_t)st.files_changed, "files_unmodified",
                        (json_int_t)st.files_unmodified, "dirs_new", (json_int_t)st.dirs_new, "dirs_changed",
                        (json_int_t)st.dirs_changed, "dirs_unmodified", (json_int_t)st.dirs_unmodified,
                        "data_blobs", (json_int_t)rst.blobs_new[0], "tree_blobs", (json_int_t)rst.blobs_new[1],
                        "data_added", (json_int_t)rst.bytes_new_stored, "total_files", (json_int_t)st.total_files,
                        "total_bytes", (json_int_t)st.total_bytes, "errors", (json_int_t)st.errors,
                        "duration_seconds", dur);
                rc = snapshot_save(r, &snap);
        }
        if (rc == 0) {
                if (c->json) {
                        json_t *j = json_deep_copy(snap.summary);
                        json_object_set_new(j, "snapshot_id", json_string(snap.id));
                        json_object_set_new(j, "trees_reused", json_integer((json_int_t)st.trees_reused));
                        if (parent)
                                json_object_set_new(j, "parent", json_string(parent->id));
                        cli_print_json(j);
                } else if (!c->quiet) {
                        char added[32], total[32];
                        cli_size(rst.bytes_new_stored, added, sizeof(added));
                        cli_size(st.total_bytes, total, sizeof(total));
                        printf("files: %llu new, %llu changed, %llu unmodified\n"
                               "dirs:  %llu new, %llu changed, %llu unmodified\n"
                               "added to the repository: %s (%llu data blobs, %llu tree blobs)\n"
                               "processed %llu files, %s in %.2fs\n",
                               (unsigned long long)st.files_new, (unsigned long long)st.files_changed,
                               (unsigned long long)st.files_unmodified, (unsigned long long)st.dirs_new,
                               (unsigned long long)st.dirs_changed, (unsigned long long)st.dirs_unmodified, added,
                               (unsigned long long)rst.blobs_new[0], (unsigned long long)rst.blobs_new[1],
                               (unsigned long long)st.total_files, total, (double)(util_now_ns() - t0) / 1e9);
                }
                if (!c->json)
                        printf("snapshot %s saved\n", snap.id);
        }
        json_decref(snap.summary);
        archiver_free(a);
        snapshot_free(parent);
        lock_release(lock);
        repo_close(r);
        if (rc < 0)
                return cli_fail(c, rc);
        if (st.errors) {
                fprintf(stderr, "cairn: backup: %llu entr%s could not be read and %s left out of the snapshot\n",
                        (unsigned long long)st.errors, st.errors == 1 ? "y" : "ies",
                        st.errors == 1 ? "was" : "were");
                return EXIT_PARTIAL;
        }
        return EXIT_OK;
}
