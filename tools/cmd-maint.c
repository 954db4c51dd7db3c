/* cmd-maint.c — check, forget, prune. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "error.h"
#include "prune.h"
#include "retention.h"

static void check_report(bool error, const char *msg, void *ud)
{
        fprintf(error ? stderr : stdout, "%s%s\n", error ? "error: " : "note: ", msg);
}

static void check_progress(void *ud, uint64_t *done, uint64_t *total, uint64_t *files)
{
        CheckStats *st = ud;
        *done = __atomic_load_n(&st->bytes_read, __ATOMIC_RELAXED);
        *total = __atomic_load_n(&st->bytes_to_read, __ATOMIC_RELAXED);
        *files = __atomic_load_n(&st->packs_read, __ATOMIC_RELAXED);
}

int cmd_check(Cli *c, int argc, char **argv)
{
        static const char help[] =
                "usage: cairn check [--read-data]\n\n"
                "Verify the repository: index files, that every indexed pack exists with the\n"
                "right size, every snapshot and every tree and blob it references. With\n"
                "--read-data, read every pack and check every byte (pack hash, header, and\n"
                "each blob's authentication and id). Exit 1 when a problem is found.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        bool read_data = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--read-data") == 0)
                        read_data = true;
                else
                        return cli_usage(c, "unexpected argument '%s'", argv[i]);
        }
        Repo *r;
        RepoLock *lock;
        int rc = cli_open_locked(c, false, false, &r, &lock);
        if (rc < 0)
                return cli_fail(c, rc);
        CheckOptions o = {.read_data = read_data, .report = check_report};
        CheckStats st = {0};
        Progress *pg = read_data ? progress_start(c, "check", check_progress, &st) : NULL;
        rc = check_run(r, &o, &st);
        progress_stop(pg);
        lock_release(lock);
        repo_close(r);
        if (rc < 0)
                return cli_fail(c, rc);
        if (c->json)
                cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I}", "errors", (json_int_t)st.errors, "packs",
                                         (json_int_t)st.packs, "packs_read", (json_int_t)st.packs_read,
                                         "snapshots", (json_int_t)st.snapshots, "trees", (json_int_t)st.trees));
        if (st.errors) {
                fprintf(stderr, "cairn: check: %llu error%s found (see above)\n", (unsigned long long)st.errors,
                        st.errors == 1 ? "" : "s");
                return EXIT_ERROR;
        }
        if (!c->json)
                printf("checked %llu snapshots, %llu trees, %llu packs%s: no errors were found\n",
                       (unsigned long long)st.snapshots, (unsigned long long)st.trees,
                       (unsigned long long)st.packs, read_data ? " (all data read)" : "");
        return EXIT_OK;
}

static int do_prune(Cli *c, Repo *r, bool dry_run)
{
        PruneOptions o = {.dry_run = dry_run};
        PruneStats st;
        int rc = prune_run(r, &o, &st);
        if (rc < 0)
                return rc;
        if (c->json) {
                cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry_run,
                                         "packs_total", (json_int_t)st.packs_total, "packs_kept",
                                         (json_int_t)st.packs_kept, "packs_repacked", (json_int_t)st.packs_repacked,
                                         "packs_deleted", (json_int_t)st.packs_deleted, "packs_unindexed",
                                         (json_int_t)st.packs_unindexed, "blobs_used", (json_int_t)st.blobs_used,
                                         "blobs_unused", (json_int_t)st.blobs_unused, "bytes_freed",
                                         (json_int_t)st.bytes_freed));
        } else if (!c->quiet) {
                char f[32];
                cli_size(st.bytes_freed, f, sizeof(f));
                printf("%s: %llu packs: %llu kept, %llu repacked, %llu deleted, %llu unreferenced; "
                       "%llu blobs used, %llu unused; %s %s\n",
                       dry_run ? "would prune" : "pruned", (unsigned long long)st.packs_total,
                       (unsigned long long)st.packs_kept, (unsigned long long)st.packs_repacked,
                       (unsigned long long)st.packs_deleted, (unsigned long long)st.packs_unindexed,
                       (unsigned long long)st.blobs_used, (unsigned long long)st.blobs_unused, f,
                       dry_run ? "would be freed" : "freed");
        }
        return 0;
}

int cmd_prune(Cli *c, int argc, char **argv)
{
        static const char help[] =
                "usage: cairn prune [--dry-run]\n\n"
                "Delete packs no snapshot uses, repack partly used ones, and remove packs left by\n"
                "interrupted backups. Takes the exclusive lock.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        bool dry = argc == 2 && strcmp(argv[1], "--dry-run") == 0;
        if (argc > (dry ? 2 : 1))
                return cli_usage(c, "unexpected argument '%s'", argv[1]);
        Repo *r;
        RepoLock *lock;
        int rc = cli_open_locked(c, true, true, &r, &lock);
        if (rc < 0)
                return cli_fail(c, rc);
        rc = do_prune(c, r, dry);
        lock_release(lock);
        repo_close(r);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}

static const char *const *group_key(const Snapshot *s, char *buf, size_t n)
{
        /* snapshots are grouped by host and paths, as restic does */
        size_t o = (size_t)snprintf(buf, n, "%s", s->host);
        for (size_t i = 0; i < s->npaths && o < n; i++)
                o += (size_t)snprintf(buf + o, n - o, "\n%s", s->paths[i]);
        return NULL;
}

int cmd_forget(Cli *c, int argc, char **argv)
{
        static const char help[] =
                "usage: cairn forget [ID...] [--keep-last N] [--keep-hourly N] [--keep-daily N]\n"
                "                    [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]\n"
                "                    [--keep-tag TAG]... [--host H] [--tag T] [--prune] [--dry-run]\n\n"
                "Remove snapshots: the ones named, or those a policy does not keep. Snapshots are\n"
                "grouped by host and paths and the policy applies in each group; buckets are in\n"
                "UTC; N = -1 keeps every bucket. --prune then removes the data no longer used.\n";
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"keep-last", required_argument, NULL, 0},
                                             {"keep-hourly", required_argument, NULL, 1},
                                             {"keep-daily", required_argument, NULL, 2},
                                             {"keep-weekly", required_argument, NULL, 3},
                                             {"keep-monthly", required_argument, NULL, 4},
                                             {"keep-yearly", required_argument, NULL, 5},
                                             {"keep-tag", required_argument, NULL, 't'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"tag", required_argument, NULL, 'T'},
                                             {"prune", no_argument, NULL, 'p'},
                                             {"dry-run", no_argument, NULL, 'n'},
                                             {0}};
        RetentionPolicy pol = {0};
        _cleanup_strv_ const char **keep_tags = NULL;
        _cleanup_strv_ const char **tags = NULL;
        size_t nkeep_tags = 0, ntags = 0;
        SnapshotFilter f = {0};
        bool prune = false, dry = false;
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (ch >= 0 && ch < KEEP_NRULES) {
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (*end || v < -1 || v > 1000000)
                                return cli_usage(c, "%s needs a count (-1 for unlimited)", opts[ch].name);
                        pol.keep[ch] = (int)v;
                } else if (ch == 't') {
                        cli_strv_add(&keep_tags, &nkeep_tags, optarg, true);
                } else if (ch == 'H') {
                        f.host = optarg;
                } else if (ch == 'T') {
                        cli_strv_add(&tags, &ntags, optarg, true);
                } else if (ch == 'p') {
                        prune = true;
                } else if (ch == 'n') {
                        dry = true;
                } else {
                        return cli_usage(c, "unknown option");
                }
        }
        pol.tags = keep_tags;
        f.tags = tags;
        int nids = argc - optind;
        if (nids == 0 && retention_is_empty(&pol))
                return cli_usage(c, "no policy and no snapshot ids given: nothing would be removed");
        if (nids && !retention_is_empty(&pol))
                return cli_usage(c, "give snapshot ids or a policy, not both");

        Repo *r;
        RepoLock *lock;
        int rc = cli_open_locked(c, prune, prune && !dry, &r, &lock);
        if (rc < 0)
                return cli_fail(c, rc);
        Snapshot **list = NULL;
        size_t n = 0;
        rc = snapshot_list(r, &list, &n);
        bool *remove = calloc(n + 1, sizeof(bool));
        json_t *out = json_array();
        if (rc == 0 && !remove)
                rc = -ENOMEM;
        for (int i = 0; rc == 0 && i < nids; i++) {
                int k = snapshot_find(list, n, argv[optind + i], NULL);
                if (k < 0)
                        rc = k;
                else
                        remove[k] = true;
        }
        if (rc == 0 && !nids) {
                /* one group at a time */
                bool *done = calloc(n + 1, sizeof(bool));
                RetentionItem *items = calloc(n + 1, sizeof(RetentionItem));
                size_t *which = calloc(n + 1, sizeof(size_t));
                if (!done || !items || !which)
                        rc = -ENOMEM;
                for (size_t g = 0; rc == 0 && g < n; g++) {
                        if (done[g] || !snapshot_matches(list[g], &f))
                                continue;
                        char key[4096], other[4096];
                        group_key(list[g], key, sizeof(key));
                        size_t m = 0;
                        for (size_t i = g; i < n; i++) {
                                if (done[i] || !snapshot_matches(list[i], &f))
                                        continue;
                                group_key(list[i], other, sizeof(other));
                                if (strcmp(key, other) != 0)
                                        continue;
                                done[i] = true;
                                which[m] = i;
                                items[m] = (RetentionItem){.time = list[i]->time_sec,
                                                           .nsec = list[i]->time_nsec,
                                                           .tags = (const char *const *)list[i]->tags};
                                m++;
                        }
                        retention_apply(&pol, items, m);
                        for (size_t i = 0; i < m; i++) {
                                Snapshot *s = list[which[i]];
                                remove[which[i]] = !items[i].keep;
                                if (c->json) {
                                        json_t *j = snapshot_to_json(s);
                                        json_object_set_new(j, "keep", json_boolean(items[i].keep));
                                        json_object_set_new(j, "reasons", json_string(items[i].reasons));
                                        json_array_append_new(out, j);
                                } else if (!c->quiet) {
                                        char t[64];
                                        util_format_time(s->time_sec, 0, false, t, sizeof(t));
                                        printf("%s %.8s  %s  %s  %s\n", items[i].keep ? "keep  " : "remove",
                                               s->id, t, s->host, items[i].reasons);
                                }
                        }
                }
                free(done);
                free(items);
                free(which);
        }
        size_t removed = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                if (!remove[i])
                        continue;
                removed++;
                if (nids && !c->quiet && !c->json)
                        printf("remove %.8s\n", list[i]->id);
                if (dry)
                        continue;
                char name[ID_HEX_LEN + 16];
                snprintf(name, sizeof(name), "snapshots/%s", list[i]->id);
                rc = backend_remove(repo_backend(r), name);
        }
        if (rc == 0 && c->json && !prune)
                cli_print_json(out);
        else
                json_decref(out);
        if (rc == 0 && !c->quiet && !c->json)
                printf("%s %zu snapshot%s\n", dry ? "would remove" : "removed", removed, removed == 1 ? "" : "s");
        if (rc == 0 && prune)
                rc = do_prune(c, r, dry);
        free(remove);
        snapshot_list_free(list, n);
        lock_release(lock);
        repo_close(r);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}
