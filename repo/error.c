/* error.c — see error.h. One fixed buffer per thread, no allocation, so it
 * works on the paths that fail because memory ran out. */
#include "error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last[1024];

void error_set(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last, sizeof(last), fmt, ap);
        va_end(ap);
}

void error_prefix(const char *fmt, ...)
{
        char pre[512], old[sizeof(last)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof(pre), fmt, ap);
        va_end(ap);
        memcpy(old, last, sizeof(old));
        if (old[0])
                snprintf(last, sizeof(last), "%s: %s", pre, old);
        else
                snprintf(last, sizeof(last), "%s", pre);
}

void error_clear(void)
{
        last[0] = 0;
}

const char *error_last(void)
{
        return last;
}

int error_ret(int r, const char *fmt, ...)
{
        if (!last[0]) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(last, sizeof(last), fmt, ap);
                va_end(ap);
        }
        return r;
}
