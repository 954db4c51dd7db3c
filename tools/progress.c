/* progress.c — the progress line on a terminal (see cli.h). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

struct Progress {
        const char *what;
        progress_fn fn;
        void *ud;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool stop;
        uint64_t t0;
};

static void line(Progress *p, bool last)
{
        uint64_t done = 0, total = 0, files = 0;
        p->fn(p->ud, &done, &total, &files);
        double secs = (double)(util_now_ns() - p->t0) / 1e9;
        double rate = secs > 0 ? (double)done / secs : 0;
        char d[32], t[32], r[32], eta[32] = "";
        cli_size(done, d, sizeof(d));
        cli_size(total, t, sizeof(t));
        cli_size((uint64_t)rate, r, sizeof(r));
        if (total && rate > 0 && done < total) {
                unsigned left = (unsigned)((double)(total - done) / rate);
                snprintf(eta, sizeof(eta), "  ETA %u:%02u", left / 60, left % 60);
        }
        fprintf(stderr, "\r\033[K[%u:%02u] %s: %s%s%s, %llu files, %s/s%s%s", (unsigned)secs / 60,
                (unsigned)secs % 60, p->what, d, total ? " / " : "", total ? t : "", (unsigned long long)files, r,
                eta, last ? "\n" : "");
        fflush(stderr);
}

static void *run(void *arg)
{
        Progress *p = arg;
        pthread_mutex_lock(&p->mu);
        while (!p->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 500000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&p->cond, &p->mu, &ts);
                if (!p->stop)
                        line(p, false);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

Progress *progress_start(Cli *c, const char *what, progress_fn fn, void *ud)
{
        if (c->quiet || c->json || !isatty(STDERR_FILENO))
                return NULL;
        Progress *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->what = what;
        p->fn = fn;
        p->ud = ud;
        p->t0 = util_now_ns();
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cond, NULL);
        if (pthread_create(&p->thread, NULL, run, p) != 0) {
                free(p);
                return NULL;
        }
        return p;
}

void progress_stop(Progress *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        line(p, true);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cond);
        free(p);
}
