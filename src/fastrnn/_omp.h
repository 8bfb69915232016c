/* Threads for the kernels: OpenMP where the build has it (setup.py adds
 * -fopenmp when the compiler takes it), one thread where it does not.
 *
 *   fr_omp_limit():   threads a parallel region may use (omp_get_max_threads:
 *                     OMP_NUM_THREADS, or a limit set by threadpoolctl); 1
 *                     without OpenMP or in a child process forked from this
 *                     one.
 *   fr_max_threads(): the same, or 1 while backing off (below).
 *   fr_thread_num(), fr_num_threads(): this thread's number and the team's
 *                     size inside a region (0 and 1 outside).
 *   fr_bar_wait():    the team's threads wait for each other (spinning
 *                     briefly, then asleep: see below).
 *   fr_openmp():      1 if the build has OpenMP.
 *
 * fork: GNU OpenMP keeps its worker threads in a pool; after fork() the child
 * has the pool's bookkeeping but not the threads, and its first region on
 * more than one thread hangs (checked with a C program).  The child therefore
 * runs on one thread (pthread_atfork sets fr_forked in the child).  Results
 * do not depend on the thread count (see _kernels.pyx): the child computes
 * the same numbers.
 *
 * Busy machines: a team meets once per time step.  When another process
 * holds the second core, the thread that arrives first waits for the other
 * to get a turn on it, at every step.  Two defences:
 *   - the barrier spins for at most fr_spin pauses and then sleeps on a
 *     futex, giving its core away (GNU OpenMP's own spins up to 300,000
 *     pauses: a small training step ran 38x slower on two threads than on
 *     one with another process busy, against 1.2x sleeping at once);
 *   - every thread times its waits at the barriers; a call whose threads
 *     waited, together, more than a quarter of its duration (fr_note_call)
 *     makes the calls of the next FR_BACKOFF_NS run on one thread, after
 *     which several threads are tried again.  (Two threads that wait W in
 *     total during a call of duration C did about 2C - W of work; what the
 *     waits do not count, the OpenMP runtime's own start and end of each
 *     region, is lost too: with one busy core, W/C was 0.4-0.5 in calls 2-5x
 *     slower than one thread.)  On an idle machine W/C is a few percent. */
#ifndef FASTRNN_OMP_H
#define FASTRNN_OMP_H

#include <time.h>

static inline long long fr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define FR_BACKOFF_NS 1000000000LL   /* one second on one thread */

/* until when (fr_now_ns) the kernels run on one thread; shared by the
 * callers' threads, read and written atomically */
static long long fr_backoff_until = 0;
/* whether the backoff is used at all (tests switch it off) */
static int fr_backoff_on = 1;

static inline int fr_backing_off(void)
{
    return __atomic_load_n(&fr_backoff_on, __ATOMIC_RELAXED)
        && fr_now_ns() < __atomic_load_n(&fr_backoff_until, __ATOMIC_RELAXED);
}

/* nanoseconds the teams of the calling thread's regions spent waiting at
 * barriers (fr_bar_done adds a region's): per calling thread, so that
 * concurrent callers keep their own count */
static __thread long long fr_wait_ns = 0;

static inline long long fr_take_wait_ns(void)
{
    long long w = fr_wait_ns;
    fr_wait_ns = 0;
    return w;
}

/* after a call on several threads that took call_ns, during which they
 * waited wait_ns in total: back off if that is more than a quarter of it */
static __thread long long fr_last_call_ns = 0, fr_last_wait_ns = 0;

static inline int fr_note_call(long long call_ns, long long wait_ns)
{
    fr_last_call_ns = call_ns;
    fr_last_wait_ns = wait_ns;
    if (4 * wait_ns > call_ns) {
        __atomic_store_n(&fr_backoff_until, fr_now_ns() + FR_BACKOFF_NS,
                         __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

static inline long long fr_last_call(int wait) { return wait ? fr_last_wait_ns : fr_last_call_ns; }

static inline int fr_set_backoff(int on)
{
    int old = fr_backoff_on;
    __atomic_store_n(&fr_backoff_on, on, __ATOMIC_RELAXED);
    __atomic_store_n(&fr_backoff_until, 0, __ATOMIC_RELAXED);
    return old;
}

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <limits.h>
#define FR_FUTEX 1
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FR_PAUSE() _mm_pause()
#else
#define FR_PAUSE() ((void) 0)
#endif
#include <sched.h>

static int fr_spin = 200;

static inline int fr_set_spin(int n)
{
    int old = fr_spin;
    fr_spin = n;
    return old;
}

#ifdef _OPENMP
#include <omp.h>
#include <pthread.h>

static int fr_forked = 0;
static int fr_atfork_done = 0;

static void fr_in_child(void) { fr_forked = 1; }

/* called once at module import, with the GIL held */
static inline void fr_omp_init(void)
{
    if (!fr_atfork_done) {
        pthread_atfork(NULL, NULL, fr_in_child);
        fr_atfork_done = 1;
    }
}

/* OpenMP's limit (1 in a forked child) */
static inline int fr_omp_limit(void)
{
    return fr_forked ? 1 : omp_get_max_threads();
}

static inline int fr_max_threads(void)
{
    return fr_backing_off() ? 1 : fr_omp_limit();
}

/* n, or 1 in a forked child */
static inline int fr_fork_safe(int n) { return fr_forked ? 1 : n; }

static inline int fr_thread_num(void) { return omp_get_thread_num(); }

/* the size of the enclosing region's team (it can be smaller than asked) */
static inline int fr_num_threads(void) { return omp_get_num_threads(); }

static inline int fr_openmp(void) { return 1; }

#else

static inline void fr_omp_init(void) {}
static inline int fr_omp_limit(void) { return 1; }
static inline int fr_max_threads(void) { return 1; }
static inline int fr_fork_safe(int n) { return n; }
static inline int fr_thread_num(void) { return 0; }
static inline int fr_num_threads(void) { return 1; }
static inline int fr_openmp(void) { return 0; }

#endif

/* count: threads arrived at the current barrier; gen: barriers completed;
 * sleepers: threads in (or about to enter) futex_wait; wait_ns: the time
 * all threads spent waiting. */
typedef struct { int count; int gen; int sleepers; long long wait_ns; } fr_bar;

static inline void fr_bar_init(fr_bar *b)
{
    b->count = 0;
    b->gen = 0;
    b->sleepers = 0;
    b->wait_ns = 0;
}

/* after the region: its waits into the calling thread's count */
static inline void fr_bar_done(fr_bar *b)
{
    fr_wait_ns += b->wait_ns;
}

/* each of the team's fr_num_threads() threads calls it; none returns before
 * all have arrived */
static void fr_bar_wait(fr_bar *b)
{
    const int total = fr_num_threads();
    int gen, i;
    long long t0;
    if (total <= 1)
        return;
    gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == total) {
        /* last to arrive: reset for the next barrier, then release */
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->gen, 1, __ATOMIC_SEQ_CST);
#ifdef FR_FUTEX
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0)
            syscall(SYS_futex, &b->gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
        return;
    }
    t0 = fr_now_ns();
    for (i = 0; i < fr_spin; i++) {
        if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen)
            goto done;
        FR_PAUSE();
    }
#ifdef FR_FUTEX
    __atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&b->gen, __ATOMIC_SEQ_CST) == gen)
        syscall(SYS_futex, &b->gen, FUTEX_WAIT_PRIVATE, gen, NULL, NULL, 0);
    __atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
#else
    while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen)
        sched_yield();
#endif
done:
    __atomic_add_fetch(&b->wait_ns, fr_now_ns() - t0, __ATOMIC_RELAXED);
}

#endif
