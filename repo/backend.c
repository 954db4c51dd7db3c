/* backend.c — choosing a backend from a repository location. */
#include "backend.h"

#include <errno.h>
#include <string.h>

#include "error.h"

static BackendOptions options = {.s3_retries = -1};

void backend_set_options(const BackendOptions *o)
{
        options = *o;
}

const BackendOptions *backend_options(void)
{
        return &options;
}

int backend_open(const char *location, Backend **out)
{
        if (!location || !*location) {
                error_set("no repository given (use -r/--repo or set CAIRN_REPOSITORY)");
                return -EINVAL;
        }
        if (strcmp(location, "mem:") == 0)
                return backend_mem_open(out);
        if (strncmp(location, "s3:", 3) == 0)
                return backend_s3_open(location + 3, out);
        if (strncmp(location, "local:", 6) == 0)
                location += 6;
        return backend_local_open(location, out);
}

void backend_close(Backend *be)
{
        if (be)
                be->close(be);
}
