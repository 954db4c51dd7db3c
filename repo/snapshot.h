/* snapshot.h — snapshots/<id>: one backup, sealed JSON.
 *
 * {"version":1,"time":"<RFC 3339 ns>","host":"...","username":"...",
 *  "paths":[...],"tags":[...],"tree":"<hex>","parent":"<hex>",
 *  "kind":"files","source":"...","summary":{...}}
 * The id is the object id (hash of the sealed bytes). "source" describes
 * where the data came from and never holds credentials. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "repo.h"

typedef struct Snapshot {
        char id[ID_HEX_LEN + 1];
        int64_t time_sec;
        long time_nsec;
        char *host, *username, *kind, *source;
        char **paths;
        size_t npaths;
        char **tags;
        size_t ntags;
        uint8_t tree[ID_LEN];
        bool has_parent;
        uint8_t parent[ID_LEN];
        json_t *summary; /* owned, may be NULL */
} Snapshot;

void snapshot_free(Snapshot *s);
/* Serialise and store; fills s->id. */
int snapshot_save(Repo *r, Snapshot *s);
/* Load one by full hex id. */
int snapshot_load(Repo *r, const char *id, Snapshot **out);
/* Every snapshot, sorted oldest first. Caller frees with snapshot_list_free. */
int snapshot_list(Repo *r, Snapshot ***out, size_t *n);
void snapshot_list_free(Snapshot **s, size_t n);
/* The JSON shown by `cairn snapshots --json` (new reference). */
json_t *snapshot_to_json(const Snapshot *s);
bool snapshot_has_tag(const Snapshot *s, const char *tag);

typedef struct SnapshotFilter {
        const char *host;     /* NULL: any */
        const char **tags;    /* all must be present; NULL-terminated, may be NULL */
        const char **paths;   /* same set of paths; NULL-terminated, may be NULL */
        const char *kind;
} SnapshotFilter;
bool snapshot_matches(const Snapshot *s, const SnapshotFilter *f);
/* Resolve "latest" or an id prefix among list[0..n) (filter applies to
 * "latest"). Returns the index; -ENOENT none, -EEXIST ambiguous (with an
 * error message naming the prefix). */
int snapshot_find(Snapshot **list, size_t n, const char *spec, const SnapshotFilter *f);
