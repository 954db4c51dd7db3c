/*
 * test_integration.c — runs each integration script under Criterion.
 *
 * The scripts (tests/integration/<name>.sh, helpers in lib.sh) drive the
 * real `cairn` binary against a repository in a fresh temporary directory
 * and compare restored trees byte for byte with treecmp.py. This file only
 * starts them: one Test per script, passing when the script exits 0. The
 * binaries come from the build tree unless CAIRN_BIN / GENTREE_BIN are set.
 * They need root (device nodes, chown) and a few GiB of space under
 * CAIRN_TEST_TMP (default /tmp).
 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include <criterion/criterion.h>

#ifndef SOURCE_ROOT
#error "SOURCE_ROOT must be defined by the build"
#endif
#ifndef BUILD_ROOT
#error "BUILD_ROOT must be defined by the build"
#endif

/* The scripts, one a line: X(name) runs tests/integration/name.sh. */
#define INTEGRATION_SCRIPTS(X) \
        X(files_roundtrip)     \
        X(files_dedup)         \
        X(files_corrupt)       \
        X(files_kill)          \
        X(files_errors)        \
        X(files_forget)        \
        X(files_options)       \
        X(mount_tree)          \
        X(mount_live)          \
        X(mount_corrupt)       \
        X(mount_unmount)       \
        X(mount_memory)        \
        X(mount_push)          \
        X(mount_listing)       \
        X(s3_cycle)            \
        X(s3_interop)          \
        X(s3_faults)           \
        X(s3_errors)           \
        X(s3_tls)              \
        X(redis_roundtrip)     \
        X(redis_rdb)           \
        X(redis_cluster)

static void run_script(const char *name)
{
        char cmd[4096];

        setenv("CAIRN_BIN", BUILD_ROOT "/tools/cairn", 0);
        setenv("GENTREE_BIN", BUILD_ROOT "/tools/cairn-gentree", 0);
        int n = snprintf(cmd, sizeof(cmd), "bash '%s/tests/integration/%s.sh'", SOURCE_ROOT, name);
        cr_assert(n > 0 && (size_t)n < sizeof(cmd), "command line for %s.sh too long", name);

        fflush(NULL);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int status = system(cmd);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* where the suite's time goes */
        printf("time: %s.sh %.1f s\n", name, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
        fflush(stdout);
        cr_assert(status != -1, "could not start %s.sh", name);
        if (WIFSIGNALED(status))
                cr_assert_fail("integration script %s.sh killed by signal %d", name, WTERMSIG(status));
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "integration script %s.sh failed (exit status %d)", name, WEXITSTATUS(status));
}

#define DEFINE_SCRIPT_TEST(name) \
        Test(files, name, .timeout = 900) { run_script(#name); }

INTEGRATION_SCRIPTS(DEFINE_SCRIPT_TEST)
