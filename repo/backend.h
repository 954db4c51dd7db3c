/* backend.h — where repository objects live.
 *
 * A backend stores named, immutable objects: "config", "keys/<id>",
 * "data/<2 hex>/<id>", "index/<id>", "snapshots/<id>", "locks/<id>".
 * Each implementation embeds struct Backend as its first member (as
 * libgit2's git_odb_backend is embedded) and fills the function pointers.
 * Every call may run from several threads at once.
 *
 * Errors: -ENOENT for a missing object, -ENODATA from read when the
 * object ends before the range asked for, -EEXIST from write when the
 * object already exists and excl was asked, -EIO (or the errno) for the
 * rest, with the detail in error_set(). */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define BACKEND_VERSION 1

typedef int (*backend_list_cb)(const char *name, uint64_t size, void *userdata);
/* Called by read_stream as a read's bytes arrive: the first `got` bytes of
 * the range are in the Buf being read into, after what it held before the
 * read. A negative return ends the read with that error. */
typedef int (*backend_more_cb)(void *userdata, size_t got);

typedef struct Backend Backend;
struct Backend {
        unsigned version;
        const char *kind; /* "local", "mem", "s3" */
        unsigned parallel; /* requests worth running at once (0: 1) */
        /* Read len bytes at off (len == 0: to the end) and append them to out. */
        int (*read)(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out);
        /* Store the whole object atomically: after a crash it is there whole
         * or not at all. */
        int (*write)(Backend *be, const char *name, const void *data, size_t len);
        /* Call cb for each object whose name starts with prefix ("data/",
         * "snapshots/"), in no particular order; a non-zero return from cb
         * stops the walk and is returned. */
        int (*list)(Backend *be, const char *prefix, backend_list_cb cb, void *userdata);
        int (*remove)(Backend *be, const char *name);
        int (*stat)(Backend *be, const char *name, uint64_t *size);
        /* Prepare an empty repository location; -EEXIST if a config is there. */
        int (*create)(Backend *be);
        void (*close)(Backend *be);
        /* Optional: read len bytes at off from a local copy of the object
         * (backend-cache), -ENOENT when there is none. */
        int (*read_local)(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out);
        /* Optional: read as read does, calling more as the bytes arrive (a
         * remote backend: the caller works on the first bytes while the
         * rest is on its way). A request tried again delivers the range
         * again from its start, the same bytes: got can go back. */
        int (*read_stream)(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out,
                           backend_more_cb more, void *userdata);
};

/* Options of remote backends, set once by the command line before any
 * backend is opened. Secrets never go here (they come from the
 * environment or a credentials file). */
typedef struct BackendOptions {
        const char *s3_region;
        bool s3_virtual_host;
        unsigned s3_connections; /* 0: 16 */
        const char *s3_credentials_file;
        const char *cacert;
        bool insecure_tls;
        bool s3_create_bucket;
        unsigned s3_timeout; /* seconds a request may stall; 0: 60 */
        int s3_retries;      /* < 0: 8 */
        const char *cache_dir; /* metadata cache of remote repositories; NULL: ~/.cache/cairn */
        bool no_cache;
} BackendOptions;
void backend_set_options(const BackendOptions *o);
const BackendOptions *backend_options(void);

/* Open the backend a location names: "/path" (or "local:/path"), "mem:",
 * "s3:http(s)://...". Caller owns *out and frees it with backend_close(). */
int backend_open(const char *location, Backend **out);
void backend_close(Backend *be);

int backend_local_open(const char *path, Backend **out);
/* "s3:http(s)://host[:port]/bucket[/prefix]" (without the "s3:"). */
int backend_s3_open(const char *url, Backend **out);

/* Keep whole-object reads of index files, snapshots and tree packs of a
 * remote backend in dir (see backend-cache.c). Takes inner. */
int backend_cache_wrap(Backend *inner, const char *dir, Backend **out);

/* In-memory backend for tests: objects live in a list; calls are counted. */
int backend_mem_open(Backend **out);
typedef struct BackendMemStats {
        unsigned reads, writes, lists, removes, stats;
        uint64_t bytes_read, bytes_written;
} BackendMemStats;
void backend_mem_stats(Backend *be, BackendMemStats *out);
/* Flip one bit of a stored object, for tamper tests. */
int backend_mem_flip(Backend *be, const char *name, uint64_t off);

static inline int backend_read(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        return be->read(be, name, off, len, out);
}
/* A read, then more once with every byte (not when the read failed): a
 * read_stream for what does not arrive piece by piece. */
static inline int backend_read_then_more(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out,
                                         backend_more_cb more, void *ud)
{
        size_t before = out->len;
        int rc = be->read(be, name, off, len, out);
        return rc == 0 ? more(ud, out->len - before) : rc;
}
/* read_stream where the backend has one; else backend_read_then_more. */
static inline int backend_read_stream(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out,
                                      backend_more_cb more, void *ud)
{
        if (be->read_stream)
                return be->read_stream(be, name, off, len, out, more, ud);
        return backend_read_then_more(be, name, off, len, out, more, ud);
}
static inline int backend_read_local(Backend *be, const char *name, uint64_t off, uint64_t len, Buf *out)
{
        return be->read_local ? be->read_local(be, name, off, len, out) : -ENOENT;
}
static inline int backend_write(Backend *be, const char *name, const void *p, size_t n)
{
        return be->write(be, name, p, n);
}
static inline int backend_list(Backend *be, const char *prefix, backend_list_cb cb, void *ud)
{
        return be->list(be, prefix, cb, ud);
}
static inline int backend_remove(Backend *be, const char *name)
{
        return be->remove(be, name);
}
static inline int backend_stat(Backend *be, const char *name, uint64_t *size)
{
        return be->stat(be, name, size);
}
