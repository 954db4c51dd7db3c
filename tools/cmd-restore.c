/* cmd-restore.c — cairn restore and cairn dump. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
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

int cmd_restore(Cli *c, int argc, char **argv)
{
        static const char help[] =
                "usage: cairn restore SNAPSHOT[:PATH] --target DIR [--include GLOB]... [--exclude GLOB]...\n"
                "                     [--verify] [--host H] [--tag T]\n\n"
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
                        cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "snapshot_id", s->id,
                                                 "files", (json_int_t)st.files, "dirs", (json_int_t)st.dirs,
                                                 "others", (json_int_t)st.others, "bytes",
                                                 (json_int_t)st.bytes_total, "errors", (json_int_t)st.errors,
                                                 "duration_seconds", (double)(util_now_ns() - t0) / 1e9));
                } else if (rc == 0 && !c->quiet) {
                        char sz[32];
                        cli_size(st.bytes_total, sz, sizeof(sz));
                        printf("restored snapshot %.8s%s%s to %s: %llu files, %llu dirs, %s in %.2fs%s\n", s->id,
                               strcmp(path, "/") ? ":" : "", strcmp(path, "/") ? path : "", o.target,
                               (unsigned long long)st.files, (unsigned long long)st.dirs, sz,
                               (double)(util_now_ns() - t0) / 1e9, o.verify ? ", verified" : "");
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
