/* retention.c — see retention.h. */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const rule_names[KEEP_NRULES] = {"last", "hourly", "daily", "weekly", "monthly", "yearly"};

bool retention_is_empty(const RetentionPolicy *p)
{
        for (int i = 0; i < KEEP_NRULES; i++)
                if (p->keep[i])
                        return false;
        return !p->tags || !p->tags[0];
}

static int64_t bucket(int rule, int64_t t, size_t index)
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        switch (rule) {
        case KEEP_LAST:
                return (int64_t)index; /* every snapshot is its own bucket */
        case KEEP_HOURLY:
                return ((int64_t)(tm.tm_year + 1900) * 1000 + tm.tm_yday) * 100 + tm.tm_hour;
        case KEEP_DAILY:
                return (int64_t)(tm.tm_year + 1900) * 1000 + tm.tm_yday;
        case KEEP_WEEKLY: {
                char buf[16];
                strftime(buf, sizeof(buf), "%G%V", &tm); /* ISO year and week */
                return strtoll(buf, NULL, 10);
        }
        case KEEP_MONTHLY:
                return (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon;
        default:
                return tm.tm_year + 1900;
        }
}

static bool has_any_tag(const char *const *have, const char *const *want)
{
        for (const char *const *w = want; w && *w; w++)
                for (const char *const *h = have; h && *h; h++)
                        if (strcmp(*w, *h) == 0)
                                return true;
        return false;
}


static int cmp_newest(const void *a, const void *b)
{
        const RetentionItem *x = *(RetentionItem *const *)a, *y = *(RetentionItem *const *)b;
        if (x->time != y->time)
                return x->time > y->time ? -1 : 1;
        if (x->nsec != y->nsec)
                return x->nsec > y->nsec ? -1 : 1;
        return x < y ? -1 : (x > y); /* stable by position */
}

static void add_reason(RetentionItem *it, const char *why)
{
        size_t l = strlen(it->reasons);
        snprintf(it->reasons + l, sizeof(it->reasons) - l, "%s%s", l ? ", " : "", why);
}

size_t retention_apply(const RetentionPolicy *p, RetentionItem *items, size_t n)
{
        RetentionItem **order = malloc((n ? n : 1) * sizeof(*order));
        if (!order)
                return 0;
        for (size_t i = 0; i < n; i++) {
                order[i] = &items[i];
                items[i].keep = false;
                items[i].reasons[0] = 0;
        }
        qsort(order, n, sizeof(*order), cmp_newest);

        int left[KEEP_NRULES];
        int64_t last[KEEP_NRULES];
        bool seen[KEEP_NRULES] = {false};
        memcpy(left, p->keep, sizeof(left));
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                RetentionItem *it = order[i];
                if (p->tags && has_any_tag(it->tags, p->tags)) {
                        it->keep = true;
                        add_reason(it, "tag");
                }
                for (int rule = 0; rule < KEEP_NRULES; rule++) {
                        if (left[rule] == 0)
                                continue;
                        int64_t b = bucket(rule, it->time, i);
                        if (seen[rule] && b == last[rule])
                                continue;
                        seen[rule] = true;
                        last[rule] = b;
                        it->keep = true;
                        add_reason(it, rule_names[rule]);
                        if (left[rule] > 0)
                                left[rule]--;
                }
                kept += it->keep;
        }
        free(order);
        return kept;
}
