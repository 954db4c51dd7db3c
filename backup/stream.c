/* stream.c — see stream.h. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

extern char **environ;

int stream_spawn(char *const *argv, pid_t *pid_out, int *fd_out)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        int rc = posix_spawnp(pid_out, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (rc != 0) {
                close(p[0]);
                error_set("%s: cannot run: %s", argv[0], strerror(rc));
                return -rc;
        }
        *fd_out = p[0];
        return 0;
}

int stream_wait(pid_t pid, const char *name)
{
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                error_set("%s exited with status %d; no snapshot was written", name, WEXITSTATUS(status));
        else
                error_set("%s was killed by signal %d; no snapshot was written", name, WTERMSIG(status));
        return -EIO;
}
