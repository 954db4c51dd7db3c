/* cmd-mount.c — cairn mount: the repository as a read-only file system. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "error.h"
#include "fs.h"

static const char help[] =
        "usage: cairn mount [REPO] MOUNTPOINT [--daemon] [--cache-size MIB] [--allow-other]\n\n"
        "Show every snapshot as a read-only tree at MOUNTPOINT (an empty directory):\n"
        "  snapshots/<time>/...   snapshots/latest -> <time>\n"
        "  ids/<short id>/...     hosts/<host>/<time>/...   tags/<tag>/<time>/...\n"
        "  kinds/<kind>/<time>/...  (each view has its own 'latest')\n"
        "New snapshots appear within a few seconds. Runs in the foreground until\n"
        "unmounted ('fusermount3 -u MOUNTPOINT', Ctrl-C or SIGTERM).\n\n"
        "  --daemon           detach once mounted\n"
        "  --cache-size MIB   decrypted blobs kept in memory (default 256)\n"
        "  --allow-other      let other users read the mount (needs user_allow_other\n"
        "                     in /etc/fuse.conf when not root)\n";

typedef struct Ready {
        const char *repo, *mountpoint;
} Ready;

static void ready(void *ud)
{
        Ready *r = ud;
        printf("mounted %s at %s\n", r->repo, r->mountpoint);
        fflush(stdout);
}

static int check_mountpoint(const char *mp)
{
        struct stat st;
        if (stat(mp, &st) < 0) {
                error_set("%s: %s (create an empty directory to mount on)", mp, strerror(errno));
                return -errno;
        }
        if (!S_ISDIR(st.st_mode)) {
                error_set("%s: not a directory (mount on an empty directory)", mp);
                return -ENOTDIR;
        }
        DIR *d = opendir(mp);
        if (!d) {
                error_set("%s: %s", mp, strerror(errno));
                return -errno;
        }
        struct dirent *de;
        int rc = 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                        error_set("%s: not empty (mount on an empty directory)", mp);
                        rc = -ENOTEMPTY;
                        break;
                }
        closedir(d);
        return rc;
}

int cmd_mount(Cli *c, int argc, char **argv)
{
        if (cli_help(argc, argv, help))
                return EXIT_OK;
        static const struct option opts[] = {{"daemon", no_argument, NULL, 'd'},
                                             {"cache-size", required_argument, NULL, 'c'},
                                             {"allow-other", no_argument, NULL, 'a'},
                                             {0}};
        FsOptions o = {.cache_bytes = (size_t)256 << 20};
        int ch;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 'd':
                        o.daemon = true;
                        break;
                case 'c': {
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (*end || v < 8 || v > (1L << 20))
                                return cli_usage(c, "--cache-size takes MiB, at least 8");
                        o.cache_bytes = (size_t)v << 20;
                        break;
                }
                case 'a':
                        o.allow_other = true;
                        break;
                default:
                        return cli_usage(c, "unknown option");
                }
        }
        int nargs = argc - optind;
        if (nargs == 2) {
                c->repo = argv[optind];
                o.mountpoint = argv[optind + 1];
        } else if (nargs == 1) {
                o.mountpoint = argv[optind];
        } else {
                return cli_usage(c, "give [REPO] MOUNTPOINT");
        }
        int rc = check_mountpoint(o.mountpoint);
        if (rc < 0)
                return cli_fail(c, rc);
        Repo *r;
        rc = cli_open(c, true, &r);
        if (rc < 0)
                return cli_fail(c, rc);
        /* the password is not needed any more: do not keep it in a daemon */
        sodium_free(c->password);
        c->password = NULL;
        Ready rd = {c->repo, o.mountpoint};
        o.ready = ready;
        o.ud = &rd;
        rc = fs_mount(r, &o);
        repo_close(r);
        return rc < 0 ? cli_fail(c, rc) : EXIT_OK;
}
