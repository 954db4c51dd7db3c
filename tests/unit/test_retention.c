/* test_retention.c — unit tests for repo/retention.c, table-driven as
 * restic's forget tests are.
 *
 * One fixed list of 30 snapshot times (UTC) with the boundaries that
 * matter: two in the same hour, several on one day, 23:59:59 next to
 * 00:00:00, New Year's Eve next to New Year, and ISO weeks that straddle
 * years (2020-W53 runs into January 2021; 2025-W01 starts on 30 December
 * 2024). Each expected set was worked out by hand from retention.h: take
 * the snapshots newest first; for each rule, a snapshot whose bucket
 * differs from the previous kept one's is the newest of a new bucket and is
 * kept while the rule's count lasts. The buckets, newest first:
 *
 *   idx  time (UTC)            hour  day    ISO week  month    year
 *   29   2025-01-07 06:45:00   *     *      2025-W02  *        *
 *   28   2025-01-07 06:30:00   =29   =29    =         =        =
 *   27   2025-01-07 00:00:01   *     =29    =         =        =
 *   26   2025-01-07 00:00:00   =27   =29    =         =        =
 *   25   2025-01-06 23:59:59   *     *      =         =        =
 *   24   2025-01-06 11:45:00   *     =25    =         =        =
 *   23   2025-01-06 11:00:00   =24   =25    =         =        =
 *   22   2025-01-06 10:15:00   *     =25    =         =        =
 *   21   2025-01-06 09:30:00   *     =25    =         =        =
 *   20   2025-01-06 09:00:00   =21   =25    =         =        =
 *   19   2025-01-05 09:00:00   *     *      2025-W01  =        =
 *   18   2025-01-01 01:00:00   *     *      =19       =        =
 *   17   2024-12-31 23:00:00   *     *      =19       2024-12  2024
 *   16   2024-12-30 12:00:00   *     *      =19       =17      =17
 *   15   2024-12-29 12:00:00   *     *      2024-W52  =17      =17
 *   14   2024-12-09 07:00:00   *     *      2024-W50  =17      =17
 *   13   2024-12-08 20:00:00   *     *      2024-W49  =17      =17
 *   12   2024-12-02 08:00:00   *     *      =13       =17      =17
 *   11   2024-12-01 00:00:00   *     *      2024-W48  =17      =17
 *   10   2024-11-30 23:59:59   *     *      =11       2024-11  =17
 *    9   2024-11-01 10:00:00   *     *      2024-W44  =10      =17
 *    8   2024-10-31 10:00:00   *     *      =9        2024-10  =17
 *    7   2024-01-01 12:00:00   *     *      2024-W01  2024-01  =17
 *    6   2023-12-31 12:00:00   *     *      2023-W52  2023-12  2023
 *    5   2022-05-15 09:00:00   *     *      2022-W19  2022-05  2022
 *    4   2021-01-04 01:00:00   *     *      2021-W01  2021-01  2021
 *    3   2021-01-03 22:00:00   *     *      2020-W53  =4       =4
 *    2   2021-01-01 00:30:00   *     *      =3        =4       =4
 *    1   2020-12-31 23:30:00   *     *      =3        2020-12  2020
 *    0   2019-06-01 12:00:00   *     *      2019-W22  2019-06  2019
 *
 * ("*": a new bucket; "=k": the same bucket as snapshot k; "=": the same
 * bucket as the row above.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "retention.h"
#include "util.h"

#define N 30

static const char *const times[N] = {
        "2019-06-01T12:00:00Z", "2020-12-31T23:30:00Z", "2021-01-01T00:30:00Z", "2021-01-03T22:00:00Z",
        "2021-01-04T01:00:00Z", "2022-05-15T09:00:00Z", "2023-12-31T12:00:00Z", "2024-01-01T12:00:00Z",
        "2024-10-31T10:00:00Z", "2024-11-01T10:00:00Z", "2024-11-30T23:59:59Z", "2024-12-01T00:00:00Z",
        "2024-12-02T08:00:00Z", "2024-12-08T20:00:00Z", "2024-12-09T07:00:00Z", "2024-12-29T12:00:00Z",
        "2024-12-30T12:00:00Z", "2024-12-31T23:00:00Z", "2025-01-01T01:00:00Z", "2025-01-05T09:00:00Z",
        "2025-01-06T09:00:00Z", "2025-01-06T09:30:00Z", "2025-01-06T10:15:00Z", "2025-01-06T11:00:00Z",
        "2025-01-06T11:45:00Z", "2025-01-06T23:59:59Z", "2025-01-07T00:00:00Z", "2025-01-07T00:00:01Z",
        "2025-01-07T06:30:00Z", "2025-01-07T06:45:00Z",
};

static const char *const tags_keep[] = {"keep", NULL};
static const char *const tags_keep_x[] = {"keep", "x", NULL};
static const char *const tags_other[] = {"other", NULL};
static const char *const tags_x[] = {"x", NULL};

static const char *const *tags_of(size_t i)
{
        switch (i) {
        case 0:
                return tags_keep;
        case 5:
                return tags_other;
        case 12:
                return tags_keep_x;
        case 22:
                return tags_x;
        default:
                return NULL;
        }
}

static const char *const want_keep[] = {"keep", NULL};
static const char *const want_keep_or_x[] = {"x", "keep", NULL};
static const char *const want_none[] = {NULL};

typedef struct Case {
        const char *name;
        RetentionPolicy policy;
        int kept[N + 1]; /* indices, ascending, ended by -1 */
} Case;

#define KEEP(...) {__VA_ARGS__, -1}

static const Case cases[] = {
        {"empty policy", {.keep = {0}}, KEEP(-1)},
        {"empty tag list", {.tags = want_none}, KEEP(-1)},
        {"keep-last 3", {.keep = {[KEEP_LAST] = 3}}, KEEP(27, 28, 29)},
        {"keep-last 1", {.keep = {[KEEP_LAST] = 1}}, KEEP(29)},
        {"keep-hourly 5", {.keep = {[KEEP_HOURLY] = 5}}, KEEP(22, 24, 25, 27, 29)},
        {"keep-daily 4", {.keep = {[KEEP_DAILY] = 4}}, KEEP(18, 19, 25, 29)},
        {"keep-weekly 2", {.keep = {[KEEP_WEEKLY] = 2}}, KEEP(19, 29)},
        /* 16 and 17 are in 2025-W01 although in 2024: the third week is 2024-W52 */
        {"keep-weekly 5", {.keep = {[KEEP_WEEKLY] = 5}}, KEEP(13, 14, 15, 19, 29)},
        {"keep-monthly 3", {.keep = {[KEEP_MONTHLY] = 3}}, KEEP(10, 17, 29)},
        {"keep-yearly 2", {.keep = {[KEEP_YEARLY] = 2}}, KEEP(17, 29)},
        {"keep-daily 4 weekly 2 monthly 3",
         {.keep = {[KEEP_DAILY] = 4, [KEEP_WEEKLY] = 2, [KEEP_MONTHLY] = 3}},
         KEEP(10, 17, 18, 19, 25, 29)},
        {"keep-tag keep", {.tags = want_keep}, KEEP(0, 12)},
        {"keep-tag x,keep", {.tags = want_keep_or_x}, KEEP(0, 12, 22)},
        {"keep-tag keep + keep-last 1", {.keep = {[KEEP_LAST] = 1}, .tags = want_keep}, KEEP(0, 12, 29)},
        {"keep-daily -1 (unlimited)", {.keep = {[KEEP_DAILY] = -1}},
         KEEP(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 25, 29)},
        {"keep-weekly -1 (unlimited)", {.keep = {[KEEP_WEEKLY] = -1}},
         KEEP(0, 3, 4, 5, 6, 7, 9, 11, 13, 14, 15, 19, 29)},
        {"keep-monthly -1 (unlimited)", {.keep = {[KEEP_MONTHLY] = -1}}, KEEP(0, 1, 4, 5, 6, 7, 8, 10, 17, 29)},
        {"keep-monthly 100 (more than there are)", {.keep = {[KEEP_MONTHLY] = 100}},
         KEEP(0, 1, 4, 5, 6, 7, 8, 10, 17, 29)},
        {"keep-yearly -1 (unlimited)", {.keep = {[KEEP_YEARLY] = -1}}, KEEP(0, 1, 4, 5, 6, 17, 29)},
        {"keep-last -1 (unlimited)", {.keep = {[KEEP_LAST] = -1}},
         KEEP(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
              27, 28, 29)},
};

static void make_items(RetentionItem items[N])
{
        memset(items, 0, N * sizeof(RetentionItem));
        for (size_t i = 0; i < N; i++) {
                long nsec;
                cr_assert_eq(util_parse_time(times[i], &items[i].time, &nsec), 0, "%s", times[i]);
                items[i].tags = tags_of(i);
        }
}

static void format_set(const bool keep[N], char *out, size_t n)
{
        size_t l = 0;
        out[0] = 0;
        for (size_t i = 0; i < N; i++)
                if (keep[i])
                        l += (size_t)snprintf(out + l, n - l, "%s%zu", l ? " " : "", i);
}

static void check_case(const Case *c, RetentionItem items[N])
{
        bool want[N] = {false};
        size_t nwant = 0;
        for (const int *k = c->kept; *k >= 0; k++) {
                want[*k] = true;
                nwant++;
        }
        size_t kept = retention_apply(&c->policy, items, N);
        bool got[N];
        for (size_t i = 0; i < N; i++)
                got[i] = items[i].keep;
        char sw[256], sg[256];
        format_set(want, sw, sizeof(sw));
        format_set(got, sg, sizeof(sg));
        cr_expect_str_eq(sg, sw, "%s: kept {%s}, expected {%s}", c->name, sg, sw);
        cr_expect_eq(kept, nwant, "%s: returned %zu", c->name, kept);
        for (size_t i = 0; i < N; i++)
                cr_expect_eq(items[i].reasons[0] != 0, items[i].keep, "%s: snapshot %zu reasons '%s'", c->name, i,
                             items[i].reasons);
}

Test(retention, policy_table)
{
        RetentionItem items[N];
        make_items(items);
        for (size_t c = 0; c < ELEMENTSOF(cases); c++)
                check_case(&cases[c], items);
}

Test(retention, order_of_items_does_not_matter)
{
        /* the same table with the items reversed and then interleaved */
        RetentionItem items[N], shuffled[N];
        size_t perm[N];
        for (size_t i = 0; i < N; i++)
                perm[i] = (i * 7 + 3) % N; /* 7 is coprime with 30: a permutation */
        make_items(items);
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                for (size_t i = 0; i < N; i++)
                        shuffled[i] = items[perm[i]];
                size_t kept = retention_apply(&cases[c].policy, shuffled, N);
                size_t nwant = 0;
                bool want[N] = {false};
                for (const int *k = cases[c].kept; *k >= 0; k++) {
                        want[*k] = true;
                        nwant++;
                }
                cr_expect_eq(kept, nwant, "%s", cases[c].name);
                for (size_t i = 0; i < N; i++)
                        cr_expect_eq(shuffled[i].keep, want[perm[i]], "%s: snapshot %zu", cases[c].name, perm[i]);
        }
}

Test(retention, reasons_name_every_rule)
{
        RetentionItem items[N];
        make_items(items);
        RetentionPolicy all = {.keep = {1, 1, 1, 1, 1, 1}, .tags = want_keep};
        cr_assert_eq(retention_apply(&all, items, N), 3);
        cr_assert_str_eq(items[29].reasons, "last, hourly, daily, weekly, monthly, yearly");
        cr_assert_str_eq(items[0].reasons, "tag");
        cr_assert_str_eq(items[12].reasons, "tag");
        cr_assert_str_eq(items[28].reasons, "");

        RetentionPolicy combo = {.keep = {[KEEP_DAILY] = 4, [KEEP_WEEKLY] = 2, [KEEP_MONTHLY] = 3}};
        cr_assert_eq(retention_apply(&combo, items, N), 6);
        cr_assert_str_eq(items[29].reasons, "daily, weekly, monthly");
        cr_assert_str_eq(items[25].reasons, "daily");
        cr_assert_str_eq(items[19].reasons, "daily, weekly");
        cr_assert_str_eq(items[18].reasons, "daily");
        cr_assert_str_eq(items[17].reasons, "monthly");
        cr_assert_str_eq(items[10].reasons, "monthly");
        cr_assert_str_eq(items[0].reasons, "", "reasons are reset on each call");
}

Test(retention, last_is_by_the_exact_time)
{
        /* two backups in one second: keep-last 1 keeps the later one, in
         * either order (the older was kept: its time was cut to seconds
         * and the tie went to the first listed) */
        for (int flip = 0; flip < 2; flip++) {
                RetentionItem items[3] = {{.time = 1700000000, .nsec = 100},
                                          {.time = 1700000000, .nsec = 900000000},
                                          {.time = 1699999999, .nsec = 999999999}};
                if (flip) {
                        RetentionItem t = items[0];
                        items[0] = items[1];
                        items[1] = t;
                }
                RetentionPolicy last = {.keep = {[KEEP_LAST] = 1}};
                cr_assert_eq(retention_apply(&last, items, 3), 1);
                size_t newer = flip ? 0 : 1;
                cr_assert(items[newer].keep, "the later of two snapshots in one second is kept (order %d)", flip);
                cr_assert(!items[1 - newer].keep && !items[2].keep);
                RetentionPolicy two = {.keep = {[KEEP_LAST] = 2}};
                cr_assert_eq(retention_apply(&two, items, 3), 2);
                cr_assert(items[0].keep && items[1].keep && !items[2].keep);
        }
}

Test(retention, is_empty)
{
        RetentionPolicy p = {.keep = {0}};
        cr_assert(retention_is_empty(&p));
        p.tags = want_none;
        cr_assert(retention_is_empty(&p), "an empty tag list is no rule");
        p.tags = want_keep;
        cr_assert_not(retention_is_empty(&p));
        for (int r = 0; r < KEEP_NRULES; r++) {
                RetentionPolicy q = {.keep = {0}};
                q.keep[r] = 1;
                cr_assert_not(retention_is_empty(&q), "rule %d", r);
                q.keep[r] = -1;
                cr_assert_not(retention_is_empty(&q), "rule %d unlimited", r);
        }
}

Test(retention, no_items)
{
        RetentionPolicy p = {.keep = {[KEEP_LAST] = 3}};
        cr_assert_eq(retention_apply(&p, NULL, 0), 0);
}
