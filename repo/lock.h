/* lock.h — repository locks: locks/<id>, sealed JSON
 *   {"time":"...","exclusive":bool,"host":"...","pid":N,"username":"..."}
 * Shared locks (backup, restore, mount, check) coexist; an exclusive lock
 * (prune, forget --prune) excludes every other. A held lock is rewritten
 * every LOCK_REFRESH_SEC by a thread; a lock is stale when it was not
 * refreshed for LOCK_STALE_SEC, or when its host is this host and its pid
 * is gone. Stale locks never block, and `cairn unlock` removes them. */
#pragma once
#include <stdbool.h>

#include "repo.h"

#define LOCK_REFRESH_SEC 300
#define LOCK_STALE_SEC 1800

typedef struct RepoLock RepoLock;

/* -EBUSY (with a message naming the holder) when a conflicting lock is held. */
int lock_acquire(Repo *r, bool exclusive, RepoLock **out);
/* Take a lock without starting its refresh thread yet (for a process that
 * forks to the background between the two); lock_refresh_start() later. */
int lock_acquire_paused(Repo *r, bool exclusive, RepoLock **out);
int lock_refresh_start(RepoLock *l);
/* Stops the refresh thread and removes the lock. NULL is a no-op. */
void lock_release(RepoLock *l);
/* Remove stale locks (all locks when all is true); count in *removed. */
int lock_remove(Repo *r, bool all, unsigned *removed);
