/* cairn.c — the cairn command: global options, the subcommand table, and
 * the helpers in cli.h that every subcommand uses. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include "archiver.h"
#include "cli.h"
#include "error.h"

typedef struct Command {
        const char *name;
        int (*fn)(Cli *c, int argc, char **argv);
        const char *summary;
        bool hidden;
} Command;

static const Command commands[] = {
        {"init", cmd_init, "create a repository"},
        {"backup", cmd_backup, "back up files, stdin or a command's output"},
        {"snapshots", cmd_snapshots, "list snapshots"},
        {"ls", cmd_ls, "list the files of a snapshot"},
        {"restore", cmd_restore, "restore a snapshot (or part of it) into a directory"},
        {"dump", cmd_dump, "write one file of a snapshot to stdout"},
        {"stats", cmd_stats, "show repository statistics"},
        {"check", cmd_check, "verify the repository's structure (and with --read-data every byte)"},
        {"forget", cmd_forget, "remove snapshots by a retention policy"},
        {"prune", cmd_prune, "remove unreferenced data and repack partly used packs"},
        {"mount", cmd_mount, "show the snapshots as a read-only file system"},
        {"key", cmd_key, "manage passwords: add, list, remove, passwd"},
        {"unlock", cmd_unlock, "remove stale locks"},
        {"lock", cmd_lock, "hold a lock (for tests)", true},
        {"selftest-sha256", cmd_selftest_sha256, "time both SHA-256 implementations", true},
        {"selftest-aead", cmd_selftest_aead, "time both XChaCha20-Poly1305 implementations", true},
};

static void usage(FILE *f)
{
        fprintf(f, "usage: cairn [-r REPO] [--password-file FILE] [--json] [-q] COMMAND [ARGS...]\n\n"
                   "An encrypted, deduplicating backup repository.\n\ncommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (!commands[i].hidden)
                        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nglobal options (anywhere on the line):\n"
                   "  -r, --repo REPO        repository location (or CAIRN_REPOSITORY)\n"
                   "  --password-file FILE   read the password from FILE (or CAIRN_PASSWORD_FILE,\n"
                   "                         CAIRN_PASSWORD; otherwise asked on the terminal)\n"
                   "  --json                 machine-readable output\n"
                   "  -q, --quiet            no progress output\n"
                   "  --no-lock              do not lock the repository (read-only commands)\n"
                   "\nS3 repositories (s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]; credentials from\n"
                   "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, else from\n"
                   "AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials):\n"
                   "  --s3-region R          region (default AWS_REGION, AWS_DEFAULT_REGION, us-east-1)\n"
                   "  --s3-virtual-host      bucket in the host name instead of the path\n"
                   "  --s3-connections N     parallel requests (default 16)\n"
                   "  --s3-credentials-file F  AWS credentials file (profile AWS_PROFILE or default):\n"
                   "                         key, secret and session token all from there\n"
                   "  --cacert FILE          trust this CA for https\n"
                   "  --insecure-tls         do not verify the server's certificate (warns)\n"
                   "  --s3-create-bucket     init: create the bucket when it is missing\n"
                   "  --s3-timeout S         seconds a request may stall before a retry (default 60)\n"
                   "  --s3-retries N         retries of a failed request (default 8)\n"
                   "  --cache-dir DIR        where remote repositories keep a copy of their index,\n"
                   "                         snapshots and trees (default ~/.cache/cairn)\n"
                   "  --no-cache             no such copy\n"
                   "\n'cairn COMMAND --help' describes each command.\n");
}

int cli_fail(Cli *c, int rc)
{
        const char *msg = error_last();
        if (!msg[0])
                msg = strerror(rc < 0 ? -rc : rc);
        fprintf(stderr, "cairn: %s: %s\n", c->command, msg);
        return EXIT_ERROR;
}

int cli_usage(Cli *c, const char *fmt, ...)
{
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "cairn: %s: %s (see 'cairn %s --help')\n", c->command, buf, c->command);
        return EXIT_USAGE;
}

static int read_tty_password(const char *prompt, char *buf, size_t n)
{
        int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -ENOTTY;
        struct termios old, t;
        bool term = tcgetattr(fd, &old) == 0;
        if (term) {
                t = old;
                t.c_lflag &= (tcflag_t)~ECHO;
                tcsetattr(fd, TCSAFLUSH, &t);
        }
        if (write(fd, prompt, strlen(prompt)) < 0) {
                /* nothing to do: the read below still works */
        }
        size_t len = 0;
        char ch;
        while (len + 1 < n && read(fd, &ch, 1) == 1 && ch != '\n')
                buf[len++] = ch;
        buf[len] = 0;
        if (term)
                tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0) {
        }
        close(fd);
        return (int)len;
}

int cli_password(Cli *c, bool confirm)
{
        if (c->password)
                return 0;
        c->password = sodium_malloc(4096);
        if (!c->password)
                return -ENOMEM;
        const char *file = c->password_file ? c->password_file : getenv("CAIRN_PASSWORD_FILE");
        const char *env = getenv("CAIRN_PASSWORD");
        if (file && *file) {
                char *s;
                size_t len;
                int rc = util_read_file(file, &s, &len);
                if (rc < 0) {
                        error_set("password file %s: %s", file, strerror(-rc));
                        return rc;
                }
                if (len && s[len - 1] == '\n')
                        len--;
                if (len && s[len - 1] == '\r')
                        len--;
                if (len >= 4096) {
                        sodium_memzero(s, len);
                        free(s);
                        error_set("password file %s: longer than 4095 bytes", file);
                        return -EINVAL;
                }
                memcpy(c->password, s, len);
                sodium_memzero(s, len);
                free(s);
                c->pwlen = len;
        } else if (env) {
                c->pwlen = strlen(env);
                if (c->pwlen >= 4096)
                        return -EINVAL;
                memcpy(c->password, env, c->pwlen);
        } else {
                int n = read_tty_password("enter password for repository: ", c->password, 4096);
                if (n < 0) {
                        error_set("no password given: set CAIRN_PASSWORD_FILE or use --password-file");
                        return -EINVAL;
                }
                c->pwlen = (size_t)n;
                if (confirm) {
                        char *again = sodium_malloc(4096);
                        if (!again)
                                return -ENOMEM;
                        int m = read_tty_password("enter password again: ", again, 4096);
                        bool same = m == n && sodium_memcmp(again, c->password, (size_t)n) == 0;
                        sodium_free(again);
                        if (!same) {
                                error_set("the passwords do not match");
                                return -EINVAL;
                        }
                }
        }
        if (c->pwlen == 0) {
                error_set("empty password: give a non-empty password");
                return -EINVAL;
        }
        return 0;
}

int cli_open(Cli *c, bool load_index, Repo **out)
{
        if (!c->repo || !*c->repo) {
                error_set("no repository given (use -r/--repo or set CAIRN_REPOSITORY)");
                return -EINVAL;
        }
        int rc = cli_password(c, false);
        if (rc < 0)
                return rc;
        rc = repo_open(c->repo, c->password, c->pwlen, out);
        if (rc < 0)
                return rc;
        if (load_index && (rc = repo_load_index(*out)) < 0) {
                repo_close(*out);
                *out = NULL;
        }
        return rc;
}

int cli_open_locked(Cli *c, bool load_index, bool exclusive, Repo **repo, RepoLock **lock)
{
        *lock = NULL;
        int rc = cli_open(c, false, repo);
        if (rc < 0)
                return rc;
        if (!c->no_lock || exclusive)
                rc = lock_acquire(*repo, exclusive, lock);
        if (rc == 0 && load_index)
                rc = repo_load_index(*repo);
        if (rc < 0) {
                lock_release(*lock);
                *lock = NULL;
                repo_close(*repo);
                *repo = NULL;
        }
        return rc;
}

int cli_find_snapshot(Cli *c, Repo *r, const char *spec, const SnapshotFilter *f, Snapshot **out)
{
        Snapshot **list;
        size_t n;
        int rc = snapshot_list(r, &list, &n);
        if (rc < 0)
                return rc;
        rc = snapshot_find(list, n, spec, f);
        if (rc >= 0) {
                *out = list[rc];
                list[rc] = NULL;
                rc = 0;
        }
        snapshot_list_free(list, n);
        return rc;
}

void cli_print_json(json_t *j)
{
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
        if (s) {
                puts(s);
                free(s);
        }
        json_decref(j);
}

void cli_json_set_bytes(json_t *obj, const char *key, const char *value)
{
        char hexkey[64];
        snprintf(hexkey, sizeof(hexkey), "%s_hex", key);
        tree_json_set_bytes(obj, key, hexkey, value, strlen(value));
}

void cli_size(uint64_t n, char *out, size_t len)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(out, len, "%llu B", (unsigned long long)n);
        else
                snprintf(out, len, "%.2f %s", v, units[u]);
}

int cli_strv_add(const char ***v, size_t *n, const char *value, bool split_commas)
{
        char *copy = strdup(value), *save = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *p = split_commas ? strtok_r(copy, ",", &save) : copy; p;
             p = split_commas ? strtok_r(NULL, ",", &save) : NULL) {
                const char **q = realloc(*v, (*n + 2) * sizeof(char *));
                if (!q)
                        return -ENOMEM;
                *v = q;
                (*v)[(*n)++] = strdup(p);
                (*v)[*n] = NULL;
        }
        free(copy);
        return 0;
}

bool cli_help(int argc, char **argv, const char *text)
{
        for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        fputs(text, stdout);
                        return true;
                }
        return false;
}

int cli_split_spec(const char *spec, char **snap, char **path)
{
        const char *colon = strchr(spec, ':');
        *snap = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
        *path = strdup(colon && colon[1] ? colon + 1 : "/");
        return *snap && *path ? 0 : -ENOMEM;
}

void cli_strv_freep(const char ***v)
{
        if (!*v)
                return;
        for (const char **p = *v; *p; p++)
                free((char *)*p);
        free(*v);
        *v = NULL;
}

/* Global options that take a value, and where each goes. */
typedef struct ValueOption {
        const char *name;
        const char **str;
        unsigned *num;
        int *inum;
} ValueOption;

static BackendOptions backend_opts = {.s3_retries = -1};

/* Take the global options out of argv (anywhere before "--"). */
static int take_globals(Cli *c, int *argc, char **argv)
{
        const ValueOption values[] = {
                {"--repo", &c->repo},
                {"-r", &c->repo},
                {"--password-file", &c->password_file},
                {"--s3-region", &backend_opts.s3_region},
                {"--s3-connections", NULL, &backend_opts.s3_connections},
                {"--s3-credentials-file", &backend_opts.s3_credentials_file},
                {"--cacert", &backend_opts.cacert},
                {"--s3-timeout", NULL, &backend_opts.s3_timeout},
                {"--s3-retries", NULL, NULL, &backend_opts.s3_retries},
                {"--cache-dir", &backend_opts.cache_dir},
        };
        int out = 0;
        bool dashdash = false;
        for (int i = 0; i < *argc; i++) {
                const char *a = argv[i];
                const char *val = NULL;
                if (dashdash) {
                        argv[out++] = argv[i];
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        dashdash = true;
                        argv[out++] = argv[i];
                        continue;
                }
                const ValueOption *vo = NULL;
                for (size_t k = 0; k < ELEMENTSOF(values) && !vo; k++) {
                        size_t l = strlen(values[k].name);
                        if (strcmp(a, values[k].name) == 0) {
                                if (i + 1 >= *argc) {
                                        fprintf(stderr, "cairn: %s needs a value\n", a);
                                        return -EINVAL;
                                }
                                vo = &values[k];
                                val = argv[++i];
                        } else if (strncmp(a, values[k].name, l) == 0 && a[l] == '=') {
                                vo = &values[k];
                                val = a + l + 1;
                        }
                }
                if (vo) {
                        if (vo->str) {
                                *vo->str = val;
                        } else {
                                char *end;
                                long v = strtol(val, &end, 10);
                                if (*end || v < 0 || v > 100000) {
                                        fprintf(stderr, "cairn: %s takes a number, not '%s'\n", vo->name, val);
                                        return -EINVAL;
                                }
                                if (vo->num)
                                        *vo->num = (unsigned)v;
                                else
                                        *vo->inum = (int)v;
                        }
                } else if (strcmp(a, "--s3-virtual-host") == 0) {
                        backend_opts.s3_virtual_host = true;
                } else if (strcmp(a, "--insecure-tls") == 0) {
                        backend_opts.insecure_tls = true;
                } else if (strcmp(a, "--no-cache") == 0) {
                        backend_opts.no_cache = true;
                } else if (strcmp(a, "--s3-create-bucket") == 0) {
                        backend_opts.s3_create_bucket = true;
                } else if (strcmp(a, "--json") == 0) {
                        c->json = true;
                } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
                        c->quiet = true;
                } else if (strcmp(a, "--no-lock") == 0) {
                        c->no_lock = true;
                } else {
                        argv[out++] = argv[i];
                }
        }
        argv[out] = NULL;
        *argc = out;
        return 0;
}

int main(int argc, char **argv)
{
        if (sodium_init() < 0) {
                fprintf(stderr, "cairn: cannot initialise libsodium\n");
                return EXIT_ERROR;
        }
        /* Packs and chunks are megabytes each and come and go on several
         * threads. A fixed mmap threshold gives every such buffer back to
         * the system when freed; glibc's default raises the threshold after
         * the first large free and then keeps them in fragmented arenas,
         * which showed as 40+ MiB more peak RSS in a 1 GiB backup. */
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
        Cli c = {.repo = getenv("CAIRN_REPOSITORY"), .command = "cairn"};
        argc--;
        argv++;
        if (take_globals(&c, &argc, argv) < 0)
                return EXIT_USAGE;
        /* a mount with --daemon changes to "/": keep paths it reads later absolute */
        _cleanup_free_ char *cacert = NULL;
        _cleanup_free_ char *cachedir = NULL;
        if (backend_opts.cacert && !(cacert = realpath(backend_opts.cacert, NULL))) {
                fprintf(stderr, "cairn: --cacert %s: %s\n", backend_opts.cacert, strerror(errno));
                return EXIT_ERROR;
        }
        if (cacert)
                backend_opts.cacert = cacert;
        if (backend_opts.cache_dir && backend_opts.cache_dir[0] != '/' &&
            (cachedir = archiver_abspath(backend_opts.cache_dir)))
                backend_opts.cache_dir = cachedir;
        backend_set_options(&backend_opts);
        if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
            strcmp(argv[0], "help") == 0) {
                usage(argc < 1 ? stderr : stdout);
                return argc < 1 ? EXIT_USAGE : EXIT_OK;
        }
        if (strcmp(argv[0], "--version") == 0 || strcmp(argv[0], "version") == 0) {
                printf("cairn 0.1.0 (repository format 1)\n");
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(argv[0], commands[i].name) == 0) {
                        c.command = commands[i].name;
                        int rc = commands[i].fn(&c, argc, argv);
                        if (c.password)
                                sodium_free(c.password);
                        return rc;
                }
        fprintf(stderr, "cairn: unknown command '%s' (see 'cairn --help')\n", argv[0]);
        return EXIT_USAGE;
}
