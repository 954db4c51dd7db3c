/* retention.h — which snapshots a forget policy keeps.
 *
 * Semantics as in restic's forget: snapshots are taken newest first; each
 * --keep-<unit> N keeps the newest snapshot of each of the N most recent
 * <unit> buckets (hour, day, ISO week, month, year; UTC) that have any
 * snapshot; --keep-last N keeps the N newest; --keep-tag keeps every
 * snapshot carrying one of the tags. A negative count means unlimited.
 * A snapshot is kept when any rule keeps it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { KEEP_LAST, KEEP_HOURLY, KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY, KEEP_YEARLY, KEEP_NRULES };

typedef struct RetentionPolicy {
        int keep[KEEP_NRULES]; /* 0: rule unused */
        const char *const *tags; /* NULL-terminated or NULL */
} RetentionPolicy;

typedef struct RetentionItem {
        int64_t time; /* seconds since the epoch */
        long nsec;    /* and nanoseconds: "last" is by the exact time */
        const char *const *tags; /* NULL-terminated or NULL */
        bool keep;
        char reasons[96]; /* "last, daily" */
} RetentionItem;

bool retention_is_empty(const RetentionPolicy *p);
/* Decide keep for each item (any order). Returns the number kept. */
size_t retention_apply(const RetentionPolicy *p, RetentionItem *items, size_t n);
