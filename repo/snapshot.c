/* snapshot.c — see snapshot.h. */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static void free_strv(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void snapshot_free(Snapshot *s)
{
        if (!s)
                return;
        free(s->host);
        free(s->username);
        free(s->kind);
        free(s->source);
        free_strv(s->paths, s->npaths);
        free_strv(s->tags, s->ntags);
        json_decref(s->summary);
        free(s);
}

static json_t *strv_json(char **v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *snapshot_body(const Snapshot *s)
{
        char t[64], tree[ID_HEX_LEN + 1], parent[ID_HEX_LEN + 1];
        util_format_time(s->time_sec, s->time_nsec, true, t, sizeof(t));
        util_hex(s->tree, ID_LEN, tree);
        json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s}", "version", 1, "time", t, "host",
                              s->host ? s->host : "", "username", s->username ? s->username : "", "paths",
                              strv_json(s->paths, s->npaths), "tags", strv_json(s->tags, s->ntags), "tree", tree,
                              "kind", s->kind ? s->kind : "files", "source", s->source ? s->source : "");
        if (j && s->has_parent) {
                util_hex(s->parent, ID_LEN, parent);
                json_object_set_new(j, "parent", json_string(parent));
        }
        if (j && s->summary)
                json_object_set(j, "summary", s->summary);
        return j;
}

int snapshot_save(Repo *r, Snapshot *s)
{
        json_t *j = snapshot_body(s);
        if (!j)
                return -ENOMEM;
        int rc = repo_json_save(r, "snapshots", j, s->id);
        json_decref(j);
        return rc;
}

json_t *snapshot_to_json(const Snapshot *s)
{
        json_t *j = snapshot_body(s);
        if (j) {
                json_object_set_new(j, "id", json_string(s->id));
                json_object_set_new(j, "short_id", json_stringn(s->id, 8));
        }
        return j;
}

static int strv_parse(json_t *a, char ***out, size_t *n)
{
        *n = 0;
        *out = NULL;
        if (!a)
                return 0;
        if (!json_is_array(a))
                return -EBADMSG;
        *out = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!*out)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *v = json_array_get(a, i);
                if (!json_is_string(v))
                        return -EBADMSG;
                (*out)[(*n)++] = strdup(json_string_value(v));
        }
        return 0;
}

static int snapshot_parse(json_t *j, const char *id, Snapshot **out)
{
        Snapshot *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        snprintf(s->id, sizeof(s->id), "%s", id);
        const char *t = NULL, *host = "", *user = "", *tree = NULL, *parent = NULL, *kind = "files", *source = "";
        int rc = -EBADMSG;
        if (json_unpack(j, "{s:s, s?:s, s?:s, s:s, s?:s, s?:s, s?:s}", "time", &t, "host", &host, "username", &user,
                        "tree", &tree, "parent", &parent, "kind", &kind, "source", &source) < 0)
                goto fail;
        if (util_parse_time(t, &s->time_sec, &s->time_nsec) < 0 || strlen(tree) != ID_HEX_LEN ||
            util_unhex(tree, s->tree, ID_LEN) < 0)
                goto fail;
        if (parent && strlen(parent) == ID_HEX_LEN && util_unhex(parent, s->parent, ID_LEN) == 0)
                s->has_parent = true;
        s->host = strdup(host);
        s->username = strdup(user);
        s->kind = strdup(kind);
        s->source = strdup(source);
        if ((rc = strv_parse(json_object_get(j, "paths"), &s->paths, &s->npaths)) < 0 ||
            (rc = strv_parse(json_object_get(j, "tags"), &s->tags, &s->ntags)) < 0)
                goto fail;
        s->summary = json_incref(json_object_get(j, "summary"));
        *out = s;
        return 0;
fail:
        snapshot_free(s);
        return rc;
}

int snapshot_load(Repo *r, const char *id, Snapshot **out)
{
        char name[ID_HEX_LEN + 16];
        snprintf(name, sizeof(name), "snapshots/%s", id);
        json_t *j;
        int rc = repo_json_load(r, name, &j);
        if (rc < 0)
                return rc;
        rc = snapshot_parse(j, id, out);
        json_decref(j);
        if (rc == -EBADMSG)
                error_set("snapshot %s is malformed", id);
        return rc;
}

typedef struct List {
        Repo *repo;
        Snapshot **v;
        size_t n, cap;
} List;

static int list_cb(const char *name, uint64_t size, void *ud)
{
        List *l = ud;
        const char *id = strrchr(name, '/');
        id = id ? id + 1 : name;
        if (strlen(id) != ID_HEX_LEN)
                return 0;
        Snapshot *s;
        int rc = snapshot_load(l->repo, id, &s);
        if (rc < 0)
                return rc;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                void *p = realloc(l->v, cap * sizeof(*l->v));
                if (!p) {
                        snapshot_free(s);
                        return -ENOMEM;
                }
                l->v = p;
                l->cap = cap;
        }
        l->v[l->n++] = s;
        return 0;
}

static int cmp_time(const void *a, const void *b)
{
        const Snapshot *x = *(Snapshot *const *)a, *y = *(Snapshot *const *)b;
        if (x->time_sec != y->time_sec)
                return x->time_sec < y->time_sec ? -1 : 1;
        if (x->time_nsec != y->time_nsec)
                return x->time_nsec < y->time_nsec ? -1 : 1;
        return strcmp(x->id, y->id);
}

int snapshot_list(Repo *r, Snapshot ***out, size_t *n)
{
        List l = {.repo = r};
        int rc = backend_list(repo_backend(r), "snapshots/", list_cb, &l);
        if (rc < 0) {
                snapshot_list_free(l.v, l.n);
                return rc;
        }
        if (l.n > 1)
                qsort(l.v, l.n, sizeof(*l.v), cmp_time);
        *out = l.v;
        *n = l.n;
        return 0;
}

void snapshot_list_free(Snapshot **s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                snapshot_free(s[i]);
        free(s);
}

bool snapshot_has_tag(const Snapshot *s, const char *tag)
{
        for (size_t i = 0; i < s->ntags; i++)
                if (strcmp(s->tags[i], tag) == 0)
                        return true;
        return false;
}

static bool has_path(const Snapshot *s, const char *p)
{
        for (size_t i = 0; i < s->npaths; i++)
                if (strcmp(s->paths[i], p) == 0)
                        return true;
        return false;
}

bool snapshot_matches(const Snapshot *s, const SnapshotFilter *f)
{
        if (!f)
                return true;
        if (f->host && strcmp(f->host, s->host) != 0)
                return false;
        if (f->kind && strcmp(f->kind, s->kind) != 0)
                return false;
        for (const char **t = f->tags; t && *t; t++)
                if (!snapshot_has_tag(s, *t))
                        return false;
        if (f->paths) {
                size_t n = 0;
                for (const char **p = f->paths; *p; p++, n++)
                        if (!has_path(s, *p))
                                return false;
                if (n != s->npaths)
                        return false;
        }
        return true;
}

int snapshot_find(Snapshot **list, size_t n, const char *spec, const SnapshotFilter *f)
{
        if (strcmp(spec, "latest") == 0) {
                for (size_t i = n; i-- > 0;)
                        if (snapshot_matches(list[i], f))
                                return (int)i;
                error_set("no snapshot matches 'latest'%s", f && (f->host || f->tags) ? " with these filters" : "");
                return -ENOENT;
        }
        size_t len = strlen(spec);
        int found = -1;
        for (size_t i = 0; i < n; i++) {
                if (strncmp(list[i]->id, spec, len) != 0)
                        continue;
                if (found >= 0) {
                        error_set("snapshot prefix '%s' matches more than one snapshot (%.8s, %.8s); give more "
                                  "characters",
                                  spec, list[found]->id, list[i]->id);
                        return -EEXIST;
                }
                found = (int)i;
        }
        if (found < 0 || len == 0) {
                error_set("no snapshot with id '%s' (list them with 'cairn snapshots')", spec);
                return -ENOENT;
        }
        return found;
}
