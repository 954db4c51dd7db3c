/* source.h — where a database restorer reads a backup's files from: a
 * directory (typically inside a cairn mount) or a directory of a snapshot
 * read through the engine. Either way a file comes as a descriptor to
 * read to its end, so a restorer has one code path and nothing is staged:
 * a snapshot file is fed into a socket pair by a thread that loads and
 * decrypts its blobs in order. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "repo.h"

typedef struct Source Source;
typedef struct SourceFile SourceFile;

/* Open path: a directory is the source; a file makes its directory the
 * source and *file_out (caller frees; NULL for a directory) its name. */
int source_open_path(const char *path, Source **out, char **file_out);
/* The same for an absolute path inside a snapshot tree. The repository
 * must stay open while the source is used. */
int source_open_snapshot(Repo *r, const uint8_t tree[ID_LEN], const char *path, Source **out, char **file_out);
void source_free(Source *s);
/* What the source is, for messages ("/mnt/snapshots/latest/redis"). */
const char *source_name(const Source *s);

/* Open the file rel (relative: "db0.resp", "10.0.0.1:7000/db0.resp");
 * *fd (owned by f) reads its bytes. -ENOENT when it is not there, with the
 * path in the error message. */
int source_file_open(Source *s, const char *rel, SourceFile **f, int *fd);
/* Close; for a snapshot file, the feeding thread's error (a damaged blob)
 * or 0. A file closed before its end is not an error. */
int source_file_close(SourceFile *f);
/* A small file whole (meta.json): *out is NUL-terminated, caller frees. */
int source_read_all(Source *s, const char *rel, char **out, size_t *len);
