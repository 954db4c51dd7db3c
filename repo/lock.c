/* lock.c — see lock.h. */
#include "lock.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"

struct RepoLock {
        Repo *repo;
        bool exclusive;
        char name[ID_HEX_LEN + 8];
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool stop, started;
};

typedef struct LockInfo {
        char name[ID_HEX_LEN + 8];
        bool exclusive, stale;
        char host[256];
        long pid;
        char time[64];
} LockInfo;

typedef struct LockList {
        Repo *repo;
        const char *mine; /* our own lock: not read back */
        LockInfo *v;
        size_t n;
} LockList;

static void my_host(char *h, size_t n)
{
        h[0] = 0;
        gethostname(h, n - 1);
        h[n - 1] = 0;
}

static int lock_list_cb(const char *name, uint64_t size, void *ud)
{
        LockList *l = ud;
        if (l->mine && strcmp(name, l->mine) == 0)
                return 0;
        json_t *j;
        if (repo_json_load(l->repo, name, &j) < 0) {
                error_clear();
                return 0; /* vanished meanwhile, or foreign: ignore */
        }
        void *p = realloc(l->v, (l->n + 1) * sizeof(*l->v));
        if (!p) {
                json_decref(j);
                return -ENOMEM;
        }
        l->v = p;
        LockInfo *li = &l->v[l->n++];
        memset(li, 0, sizeof(*li));
        snprintf(li->name, sizeof(li->name), "%s", name);
        const char *t = "", *host = "";
        json_int_t pid = 0;
        int excl = 0;
        json_unpack(j, "{s?:s, s?:b, s?:s, s?:I}", "time", &t, "exclusive", &excl, "host", &host, "pid", &pid);
        li->exclusive = excl;
        li->pid = (long)pid;
        snprintf(li->host, sizeof(li->host), "%s", host);
        snprintf(li->time, sizeof(li->time), "%s", t);
        int64_t sec = 0;
        char me[256];
        my_host(me, sizeof(me));
        if (util_parse_time(t, &sec, NULL) < 0 || time(NULL) - sec > LOCK_STALE_SEC)
                li->stale = true;
        else if (strcmp(me, host) == 0 && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
                li->stale = true;
        json_decref(j);
        return 0;
}

static int write_lock(RepoLock *l, char *name_out)
{
        char t[64], host[256];
        util_format_time(time(NULL), 0, false, t, sizeof(t));
        my_host(host, sizeof(host));
        struct passwd *pw = getpwuid(getuid());
        json_t *j = json_pack("{s:s, s:b, s:s, s:I, s:s}", "time", t, "exclusive", l->exclusive, "host", host, "pid",
                              (json_int_t)getpid(), "username", pw ? pw->pw_name : "");
        if (!j)
                return -ENOMEM;
        char id[ID_HEX_LEN + 1];
        int rc = repo_json_save(l->repo, "locks", j, id);
        json_decref(j);
        if (rc == 0)
                snprintf(name_out, ID_HEX_LEN + 8, "locks/%s", id);
        return rc;
}

static void *refresh_thread(void *arg)
{
        RepoLock *l = arg;
        pthread_mutex_lock(&l->mu);
        while (!l->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += LOCK_REFRESH_SEC;
                pthread_cond_timedwait(&l->cond, &l->mu, &ts);
                if (l->stop)
                        break;
                char fresh[ID_HEX_LEN + 8];
                if (write_lock(l, fresh) == 0) {
                        backend_remove(repo_backend(l->repo), l->name);
                        memcpy(l->name, fresh, sizeof(fresh));
                }
        }
        pthread_mutex_unlock(&l->mu);
        return NULL;
}

/* Is there a live lock other than ours that conflicts with ours? */
static int conflict(Repo *r, bool exclusive, const char *mine)
{
        LockList l = {.repo = r, .mine = mine};
        int rc = backend_list(repo_backend(r), "locks/", lock_list_cb, &l);
        for (size_t i = 0; rc == 0 && i < l.n; i++) {
                LockInfo *li = &l.v[i];
                if (li->stale)
                        continue;
                if (exclusive || li->exclusive) {
                        error_set("repository is locked %s by pid %ld on %s since %s (wait for it, or run 'cairn "
                                  "unlock' if that process is gone)",
                                  li->exclusive ? "exclusively" : "", li->pid, li->host, li->time);
                        rc = -EBUSY;
                }
        }
        free(l.v);
        return rc;
}

static int acquire(Repo *r, bool exclusive, bool start, RepoLock **out);

int lock_acquire(Repo *r, bool exclusive, RepoLock **out)
{
        return acquire(r, exclusive, true, out);
}

int lock_acquire_paused(Repo *r, bool exclusive, RepoLock **out)
{
        return acquire(r, exclusive, false, out);
}

int lock_refresh_start(RepoLock *l)
{
        if (l->started)
                return 0;
        if (pthread_create(&l->thread, NULL, refresh_thread, l) != 0)
                return -EAGAIN;
        l->started = true;
        return 0;
}

/* The lock is written first and the others looked at after: one listing
 * (a request on S3) serves both the check and the race of two processes
 * locking at once, where each then sees the other's lock. */
static int acquire(Repo *r, bool exclusive, bool start, RepoLock **out)
{
        RepoLock *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->repo = r;
        l->exclusive = exclusive;
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cond, NULL);
        int rc = write_lock(l, l->name);
        if (rc == 0) {
                rc = conflict(r, exclusive, l->name);
                if (rc < 0)
                        backend_remove(repo_backend(r), l->name);
        }
        if (rc == 0 && start && pthread_create(&l->thread, NULL, refresh_thread, l) == 0)
                l->started = true;
        if (rc < 0) {
                pthread_mutex_destroy(&l->mu);
                pthread_cond_destroy(&l->cond);
                free(l);
                return rc;
        }
        *out = l;
        return 0;
}

void lock_release(RepoLock *l)
{
        if (!l)
                return;
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cond);
        pthread_mutex_unlock(&l->mu);
        if (l->started)
                pthread_join(l->thread, NULL);
        backend_remove(repo_backend(l->repo), l->name);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cond);
        free(l);
}

int lock_remove(Repo *r, bool all, unsigned *removed)
{
        LockList l = {.repo = r};
        int rc = backend_list(repo_backend(r), "locks/", lock_list_cb, &l);
        unsigned n = 0;
        for (size_t i = 0; rc == 0 && i < l.n; i++)
                if (all || l.v[i].stale) {
                        if (backend_remove(repo_backend(r), l.v[i].name) == 0)
                                n++;
                }
        free(l.v);
        if (removed)
                *removed = n;
        return rc;
}
