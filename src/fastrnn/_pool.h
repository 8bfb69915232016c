/* fastrnn's threads: a small pool of worker threads that sleep when idle,
 * a team run of one task on up to n threads, and a barrier for the team.
 *
 *   fr_team_run(nt, fn, ctx): fn(ctx, tid, nt') on the caller (tid 0) and
 *       nt' - 1 workers, nt' <= nt; returns when all are done.  nt' is 1 (fn
 *       runs on the caller alone) when nt <= 1, when another caller's team
 *       holds the pool, or when no worker thread can be started.
 *   fr_bar_wait(bar, nt): the team's nt threads wait for each other.
 *   fr_pool_threads() / fr_pool_set_threads(n): how many threads a team may
 *       have (the default: OMP_NUM_THREADS if set, else the CPUs this
 *       process may run on).
 *
 * Why not OpenMP: GNU OpenMP's threads spin for up to 300,000 pauses at a
 * barrier, at the end of a region and between regions before they sleep.  A
 * team that meets once per time step then holds both cores of a 2-core
 * machine, and when another process is busy on one of them every step waits
 * for a turn on it: a small training step ran 2-5x slower on two threads than
 * on one with one other busy process (38x with OpenMP's own barrier), and
 * most of the loss was in the runtime, where it could not be measured.  Here
 * every wait spins for a bounded time (fr_spin_ns, fr_idle_spin_ns) and then
 * sleeps on a futex, and every wait is timed (see fr_note_call: two calls in
 * a row whose threads waited more than half of their time send the calls
 * of the next while, 64 call durations doubling up to four seconds, to one
 * thread).  GNU OpenMP's pool also does not
 * survive fork() (the child's first team hangs); this pool is rebuilt in the
 * child.
 *
 * Without futexes (not Linux) waits spin with sched_yield. */
#ifndef FASTRNN_POOL_H
#define FASTRNN_POOL_H

/* The pool and the backoff are static state of the module that includes this
 * header: include it from one extension module only (_kernels), or there
 * are two pools. */

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define FR_FUTEX 1
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FR_PAUSE() _mm_pause()
#else
#define FR_PAUSE() ((void) 0)
#endif

#define FR_MAX_THREADS 64
/* a backoff lasts 64 call durations (at least 20 ms), twice as long as the
 * last one when the calls right after it waited too long again, up to four
 * seconds; a judged call that did not wait too long starts over */
#define FR_BACKOFF_CALLS 64
#define FR_BACKOFF_MIN_NS 20000000LL
#define FR_BACKOFF_NS 4000000000LL

static inline long long fr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- waiting: spin, then sleep until *word != old ----------------------- */

/* how long a waiting thread spins before it sleeps, in ns: long enough to
 * cover the usual gaps on an idle machine (a step's imbalance between
 * threads; the caller's serial work between two team runs of one call),
 * because waking a sleeping thread costs tens of microseconds on a virtual
 * machine; short enough that on a busy machine the one call it takes the
 * backoff to notice (below) does not hold a core for long */
static long long fr_spin_ns = 100000;
/* a worker between team runs spins longer: the next run of a training loop
 * comes a few milliseconds later, and on this kind of virtual machine a
 * worker that slept ~10 ms took up to ~9 ms to wake (measured: a 1.6 ms
 * forward call took 10.6 ms when called every 10 ms).  While the backoff
 * holds (a busy machine) there are no runs, and workers sleep. */
static long long fr_idle_spin_ns = 3000000;

static inline int fr_set_spin(int us)
{
    int old = (int) (__atomic_load_n(&fr_spin_ns, __ATOMIC_RELAXED) / 1000);
    __atomic_store_n(&fr_spin_ns, (long long) us * 1000, __ATOMIC_RELAXED);
    return old;
}

static inline void fr_wake(int *word)
{
#ifdef FR_FUTEX
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void) word;
#endif
}

/* wait until *word != old; *sleepers counts the threads that may be in
 * futex_wait, so that a waker calls fr_wake only when one may be */
static void fr_wait_change(int *word, int old, int *sleepers, long long spin_ns)
{
    long long t0 = 0;
    int i;
    for (;;) {
        for (i = 0; i < 64; i++) {
            if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != old)
                return;
            FR_PAUSE();
        }
        if (t0 == 0)
            t0 = fr_now_ns();
        else if (fr_now_ns() - t0 > spin_ns)
            break;
    }
#ifdef FR_FUTEX
    __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == old)
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
    __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
#else
    (void) sleepers;
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == old)
        sched_yield();
#endif
}

/* ---- the team's barrier ------------------------------------------------- */

/* count: threads arrived; gen: barriers completed; sleepers: see
 * fr_wait_change; wait_ns: all threads' time spent waiting */
typedef struct { int count; int gen; int sleepers; long long wait_ns; } fr_bar;

static inline void fr_bar_init(fr_bar *b)
{
    memset(b, 0, sizeof *b);
}

static void fr_bar_wait(fr_bar *b, int nt)
{
    int gen;
    long long t0;
    if (nt <= 1)
        return;
    gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == nt) {
        /* last to arrive: reset for the next barrier, then release */
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->gen, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0)
            fr_wake(&b->gen);
        return;
    }
    t0 = fr_now_ns();
    fr_wait_change(&b->gen, gen, &b->sleepers,
                   __atomic_load_n(&fr_spin_ns, __ATOMIC_RELAXED));
    __atomic_add_fetch(&b->wait_ns, fr_now_ns() - t0, __ATOMIC_RELAXED);
}

/* ---- the pool ----------------------------------------------------------- */

typedef void (*fr_task_fn)(void *ctx, int tid, int nt);

typedef struct {
    pthread_mutex_t lock;     /* held by the caller whose team runs */
    int nworkers;             /* workers started (tids 1..nworkers) */
    int limit;                /* threads a team may have; 0: not set yet */
    fr_task_fn fn;
    void *ctx;
    int job;                  /* futex word: run number << 6 | (size - 1) */
    int job_sleepers;
    int pending;              /* futex word: workers of this run not done */
    int pending_sleepers;
    int first_job[FR_MAX_THREADS];  /* the job counter when worker i started */
} fr_pool_t;

static fr_pool_t fr_pool = { PTHREAD_MUTEX_INITIALIZER };

static void *fr_worker(void *arg)
{
    const int tid = (int) (size_t) arg;
    /* the counter as it was before the run that started this thread: that
     * run may already have been published when the thread gets here */
    int seen = fr_pool.first_job[tid];
    for (;;) {
        int job, nt;
        fr_task_fn fn;
        void *ctx;
        fr_wait_change(&fr_pool.job, seen, &fr_pool.job_sleepers, fr_idle_spin_ns);
        /* one word holds the run's number and its size: a worker outside a
         * run never reads a later run's parameters under that run's number
         * (it could, with the size in a word of its own, and then run the
         * later run's share twice).  A worker inside a run gets fn and ctx
         * by this acquire, and they cannot change before it is done. */
        job = __atomic_load_n(&fr_pool.job, __ATOMIC_ACQUIRE);
        nt = (int) ((unsigned) job & 63u) + 1;
        fn = __atomic_load_n(&fr_pool.fn, __ATOMIC_RELAXED);
        ctx = __atomic_load_n(&fr_pool.ctx, __ATOMIC_RELAXED);
        seen = job;
        if (tid < nt) {
            fn(ctx, tid, nt);
            if (__atomic_sub_fetch(&fr_pool.pending, 1, __ATOMIC_SEQ_CST) == 0
                    && __atomic_load_n(&fr_pool.pending_sleepers, __ATOMIC_SEQ_CST) > 0)
                fr_wake(&fr_pool.pending);
        }
    }
    return NULL;
}

/* fork: the child has none of the workers; it starts its own when needed */
static void fr_pool_in_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    fr_pool.lock = fresh;
    fr_pool.nworkers = 0;
    fr_pool.job = 0;
    fr_pool.job_sleepers = 0;
    fr_pool.pending = 0;
    fr_pool.pending_sleepers = 0;
}

static int fr_pool_default(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    int n = 0;
    if (env && *env) {
        n = atoi(env);           /* "4" or the first of "4,2" */
        if (n >= 1)
            return n < FR_MAX_THREADS ? n : FR_MAX_THREADS;
    }
#if defined(__linux__) && defined(CPU_COUNT)
    {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0)
            n = CPU_COUNT(&set);
    }
#endif
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c >= 1 ? (int) c : 1;
    }
    return n < FR_MAX_THREADS ? n : FR_MAX_THREADS;
}

/* called once at module import, with the GIL held */
static void fr_pool_init(void)
{
    static int done = 0;
    if (!done) {
        pthread_atfork(NULL, NULL, fr_pool_in_child);
        done = 1;
    }
}

static inline int fr_pool_threads(void)
{
    int n = __atomic_load_n(&fr_pool.limit, __ATOMIC_RELAXED);
    if (n == 0) {
        n = fr_pool_default();
        __atomic_store_n(&fr_pool.limit, n, __ATOMIC_RELAXED);
    }
    return n;
}

static inline int fr_pool_set_threads(int n)
{
    int old = fr_pool_threads();
    if (n < 1)
        n = fr_pool_default();
    __atomic_store_n(&fr_pool.limit, n < FR_MAX_THREADS ? n : FR_MAX_THREADS,
                     __ATOMIC_RELAXED);
    return old;
}

/* returns the team's size; *join_ns: the caller's wait for the workers */
static int fr_team_run(int nt, fr_task_fn fn, void *ctx, long long *join_ns)
{
    long long t0;
    int pending;
    *join_ns = 0;
    if (nt > FR_MAX_THREADS)
        nt = FR_MAX_THREADS;
    if (nt <= 1 || pthread_mutex_trylock(&fr_pool.lock) != 0) {
        fn(ctx, 0, 1);
        return 1;
    }
    while (fr_pool.nworkers < nt - 1) {
        pthread_t th;
        pthread_attr_t attr;
        int ok;
        fr_pool.first_job[fr_pool.nworkers + 1] = fr_pool.job;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&th, &attr, fr_worker,
                            (void *) (size_t) (fr_pool.nworkers + 1)) == 0;
        pthread_attr_destroy(&attr);
        if (!ok)
            break;
        fr_pool.nworkers++;
    }
    if (nt > fr_pool.nworkers + 1)
        nt = fr_pool.nworkers + 1;
    if (nt <= 1) {
        pthread_mutex_unlock(&fr_pool.lock);
        fn(ctx, 0, 1);
        return 1;
    }
    __atomic_store_n(&fr_pool.fn, fn, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_pool.ctx, ctx, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_pool.pending, nt - 1, __ATOMIC_SEQ_CST);
    /* the run's number in the high bits, its size - 1 in the low 6
     * (FR_MAX_THREADS = 64) */
    __atomic_store_n(&fr_pool.job,
                     (int) (((((unsigned) fr_pool.job >> 6) + 1u) << 6) | (unsigned) (nt - 1)),
                     __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&fr_pool.job_sleepers, __ATOMIC_SEQ_CST) > 0)
        fr_wake(&fr_pool.job);
    fn(ctx, 0, nt);
    t0 = fr_now_ns();
    while ((pending = __atomic_load_n(&fr_pool.pending, __ATOMIC_ACQUIRE)) != 0)
        fr_wait_change(&fr_pool.pending, pending, &fr_pool.pending_sleepers,
                       __atomic_load_n(&fr_spin_ns, __ATOMIC_RELAXED));
    *join_ns = fr_now_ns() - t0;
    pthread_mutex_unlock(&fr_pool.lock);
    return nt;
}

/* waits of the calling thread's team runs since fr_take_wait_ns: per calling
 * thread, so that concurrent callers keep their own count */
static __thread long long fr_wait_ns = 0;

static inline long long fr_take_wait_ns(void)
{
    long long w = fr_wait_ns;
    fr_wait_ns = 0;
    return w;
}

/* fr_team_run with a fresh barrier in ctx's bar, the run's waits (at the
 * barrier and for the workers at the end) added to fr_wait_ns */
static inline int fr_team(int nt, fr_task_fn fn, void *ctx, fr_bar *bar)
{
    long long join;
    int got;
    fr_bar_init(bar);
    got = fr_team_run(nt, fn, ctx, &join);
    fr_wait_ns += join + bar->wait_ns;
    return got;
}

/* ---- the busy-machine backoff ------------------------------------------- */

/* until when (fr_now_ns) automatic calls run on one thread */
static long long fr_backoff_until = 0;
static int fr_backoff_on = 1;

static inline int fr_backing_off(void)
{
    return __atomic_load_n(&fr_backoff_on, __ATOMIC_RELAXED)
        && fr_now_ns() < __atomic_load_n(&fr_backoff_until, __ATOMIC_RELAXED);
}

/* the threads an automatic call may use now */
static inline int fr_max_threads(void)
{
    return fr_backing_off() ? 1 : fr_pool_threads();
}

static __thread long long fr_last_call_ns = 0, fr_last_wait_ns = 0;
/* when the last automatic call on several threads ended, and how many
 * judged calls in a row waited too long (shared by the callers' threads;
 * a race between two callers only blurs the count) */
static long long fr_prev_end_ns = 0;
static int fr_strikes = 0;
static long long fr_backoff_len = 0;   /* the last backoff's; 0: start over */

/* A call is judged only when the workers were still warm: it began within
 * fr_idle_spin_ns of the previous threaded call's end (a training loop's
 * calls come every few milliseconds).  The first call after a pause (or after
 * a backoff) wakes workers that slept, which on a virtual machine took up to
 * ~9 ms: judged, it would always look busy.  Two judged calls in a row that
 * waited too long start the backoff.  Too long: nt threads that wait W in
 * total during a call of duration C did about nt C - W of work, which one
 * thread does in about that time, so threads lose once W > (nt - 1) C; the
 * backoff starts at half that.  Measured with two threads (V=65, B=32, T=64,
 * H=128 and 256): W/C 0.03-0.14 on an idle machine, 0.9-1.35 with another
 * busy process. */
static inline int fr_note_call(long long call_ns, long long wait_ns, long long start_ns,
                               int nt)
{
    long long prev = __atomic_load_n(&fr_prev_end_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_prev_end_ns, start_ns + call_ns, __ATOMIC_RELAXED);
    fr_last_call_ns = call_ns;
    fr_last_wait_ns = wait_ns;
    if (start_ns - prev > fr_idle_spin_ns) {
        __atomic_store_n(&fr_strikes, 0, __ATOMIC_RELAXED);
        return 0;                           /* cold workers: not judged */
    }
    if (2 * wait_ns <= (long long) (nt - 1) * call_ns) {
        __atomic_store_n(&fr_strikes, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&fr_backoff_len, 0, __ATOMIC_RELAXED);
        return 0;
    }
    if (__atomic_add_fetch(&fr_strikes, 1, __ATOMIC_RELAXED) < 2)
        return 0;
    __atomic_store_n(&fr_strikes, 0, __ATOMIC_RELAXED);
    long long len = __atomic_load_n(&fr_backoff_len, __ATOMIC_RELAXED);
    len = len ? 2 * len : FR_BACKOFF_CALLS * call_ns;
    len = len < FR_BACKOFF_MIN_NS ? FR_BACKOFF_MIN_NS : len > FR_BACKOFF_NS ? FR_BACKOFF_NS : len;
    __atomic_store_n(&fr_backoff_len, len, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_backoff_until, fr_now_ns() + len, __ATOMIC_RELAXED);
    return 1;
}

static inline long long fr_last_call(int wait)
{
    return wait ? fr_last_wait_ns : fr_last_call_ns;
}

static inline int fr_set_backoff(int on)
{
    int old = fr_backoff_on;
    __atomic_store_n(&fr_backoff_on, on, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_backoff_until, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_strikes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_backoff_len, 0, __ATOMIC_RELAXED);
    return old;
}

#endif
