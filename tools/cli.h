/* cli.h — what every subcommand of the cairn binary shares: global options,
 * opening the repository with the password from the environment, and the
 * one-line error format "cairn: <command>: <what went wrong>". */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "lock.h"
#include "repo.h"
#include "snapshot.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

typedef struct Cli {
        const char *command;
        const char *repo;
        const char *password_file;
        bool json, quiet, no_lock;
        char *password; /* sodium_malloc'd */
        size_t pwlen;
} Cli;

/* Print "cairn: <cmd>: <error_last() or strerror>" and return EXIT_ERROR. */
int cli_fail(Cli *c, int rc);
__attribute__((format(printf, 2, 3))) int cli_usage(Cli *c, const char *fmt, ...);
/* Read the password (file, environment, or terminal prompt). */
int cli_password(Cli *c, bool confirm);
/* Open the repository; with load_index, load the index too. */
int cli_open(Cli *c, bool load_index, Repo **out);
/* Open, then take a lock (unless --no-lock). */
int cli_open_locked(Cli *c, bool load_index, bool exclusive, Repo **repo, RepoLock **lock);
/* Resolve SNAP (id prefix or latest) among all snapshots, with filters. */
int cli_find_snapshot(Cli *c, Repo *r, const char *spec, const SnapshotFilter *f, Snapshot **out);
void cli_print_json(json_t *j); /* steals the reference */
/* Set key to the string, or key + "_hex" to its hex when not UTF-8. */
void cli_json_set_bytes(json_t *obj, const char *key, const char *value);
/* Human sizes: "1.5 GiB". */
void cli_size(uint64_t n, char *out, size_t len);
/* --help or -h before any "--": print text to stdout and return true. */
bool cli_help(int argc, char **argv, const char *text);
/* "SNAP[:PATH]" -> snapshot spec and path ("/" when absent); free both. */
int cli_split_spec(const char *spec, char **snap, char **path);
/* Split "a,b" values of repeated options into a NULL-terminated vector. */
int cli_strv_add(const char ***v, size_t *n, const char *value, bool split_commas);
/* Free such a vector and its strings; for _cleanup_(cli_strv_freep). */
void cli_strv_freep(const char ***v);
#define _cleanup_strv_ _cleanup_(cli_strv_freep)

/* progress.c: one line on a terminal, updated twice a second; nothing
 * when stderr is not a terminal or with --quiet. */
typedef void (*progress_fn)(void *ud, uint64_t *done, uint64_t *total, uint64_t *files);
typedef struct Progress Progress;
Progress *progress_start(Cli *c, const char *what, progress_fn fn, void *ud);
void progress_stop(Progress *p);

int cmd_init(Cli *c, int argc, char **argv);
int cmd_key(Cli *c, int argc, char **argv);
int cmd_snapshots(Cli *c, int argc, char **argv);
int cmd_ls(Cli *c, int argc, char **argv);
int cmd_stats(Cli *c, int argc, char **argv);
int cmd_unlock(Cli *c, int argc, char **argv);
int cmd_lock(Cli *c, int argc, char **argv);
int cmd_backup(Cli *c, int argc, char **argv);
int cmd_restore(Cli *c, int argc, char **argv);
int cmd_dump(Cli *c, int argc, char **argv);
int cmd_check(Cli *c, int argc, char **argv);
int cmd_forget(Cli *c, int argc, char **argv);
int cmd_prune(Cli *c, int argc, char **argv);
int cmd_mount(Cli *c, int argc, char **argv);
int cmd_selftest_sha256(Cli *c, int argc, char **argv);
int cmd_selftest_aead(Cli *c, int argc, char **argv);
