/* source.h — where a database restorer reads a backup's files from: a
 * directory (typically inside a cairn mount) or a directory of a snapshot
 * read through the engine. Either way a file is read to its end with
 * source_file_read, so a restorer has one code path and nothing is staged:
 * a snapshot file's blobs are loaded and decrypted in order by a thread,
 * up to four blobs ahead of the reader, which copies straight out of them (no
 * socket pair between them: two kernel copies of every byte saved). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* Open the file rel (relative: "db0.resp", "10.0.0.1:7000/db0.resp").
 * -ENOENT when it is not there, with the path in the error message. */
int source_file_open(Source *s, const char *rel, SourceFile **f);
/* Up to n bytes: their count, 0 at the end, or a negative errno with the
 * error set, for the caller to prefix with the file's name (a damaged blob
 * of a snapshot file names its pack and offset). */
ssize_t source_file_read(SourceFile *f, void *p, size_t n);
/* Close; a snapshot file's error that no read returned yet, or 0. A file
 * closed before its end is not an error. */
int source_file_close(SourceFile *f);
/* A small file whole (meta.json): *out is NUL-terminated, caller frees. */
int source_read_all(Source *s, const char *rel, char **out, size_t *len);
