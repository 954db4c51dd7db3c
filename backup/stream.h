/* stream.h — running a command whose output is backed up.
 *
 * The command's stdout is a pipe the caller reads to the end; its stderr
 * passes through. Its exit status decides whether the snapshot is written:
 * a non-zero status fails the backup. */
#pragma once
#include <sys/types.h>

/* Start argv[0] (looked up in PATH). *fd_out is the read end of its stdout. */
int stream_spawn(char *const *argv, pid_t *pid_out, int *fd_out);
/* Wait for it; 0 when it exited 0, else -EIO with a message naming it. */
int stream_wait(pid_t pid, const char *name);
