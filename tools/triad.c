// STREAM-like memory bandwidth: triad a[i] = b[i] + s·c[i] over three arrays far larger than
// the last-level cache, split statically over T threads (pthreads, each thread first-touches
// its own part). Prints the best of R repetitions in GB/s (10^9 bytes/s), counting 24 bytes
// per element as STREAM does (the write-allocate read of a[] is not counted). Also prints a
// read-only bandwidth (Σ of one array, 8 bytes per element), the access pattern of a
// matrix-vector product, for reference.
//   cc -O3 -march=native -ffast-math -pthread -o triad tools/triad.c && ./triad 1 2
// (-ffast-math lets the read loop vectorize its sum; the triad is the same either way.)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N (24L * 1024 * 1024)   // elements per array: 192 MiB each, 576 MiB in all
#define REPS 7

static double *a, *b, *c;
static volatile double sink;

typedef struct { int mode; long lo, hi; double sum; pthread_barrier_t *start; } part;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *work(void *arg) {
    part *p = arg;
    pthread_barrier_wait(p->start);
    if (p->mode == 0) {
        for (long i = p->lo; i < p->hi; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    } else if (p->mode == 1) {
        const double s = 3.0;
        for (long i = p->lo; i < p->hi; i++) a[i] = b[i] + s * c[i];
    } else {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (long i = p->lo; i + 4 <= p->hi; i += 4) { s0 += b[i]; s1 += b[i + 1]; s2 += b[i + 2]; s3 += b[i + 3]; }
        p->sum = s0 + s1 + s2 + s3;
    }
    return NULL;
}

// Runs `mode` on T threads; returns seconds from the common start to the last finish.
static double run(int mode, int T) {
    pthread_t tid[64];
    part parts[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)T + 1);
    for (int t = 0; t < T; t++) {
        parts[t] = (part){mode, N * t / T, N * (t + 1) / T, 0, &start};
        pthread_create(&tid[t], NULL, work, &parts[t]);
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    for (int t = 0; t < T; t++) pthread_join(tid[t], NULL);
    double dt = now() - t0;
    for (int t = 0; t < T; t++) sink += parts[t].sum;
    pthread_barrier_destroy(&start);
    return dt;
}

int main(int argc, char **argv) {
    a = aligned_alloc(64, N * sizeof(double));
    b = aligned_alloc(64, N * sizeof(double));
    c = aligned_alloc(64, N * sizeof(double));
    if (!a || !b || !c) { fprintf(stderr, "triad: out of memory\n"); return 1; }
    for (int k = 1; k < argc || k == 1; k++) {
        int T = argc > 1 ? atoi(argv[k]) : 1;
        if (T < 1 || T > 64) { fprintf(stderr, "triad: thread count 1...64\n"); return 2; }
        run(0, T);
        double best = 1e9, bestRead = 1e9;
        for (int r = 0; r < REPS; r++) {
            double t = run(1, T);
            if (t < best) best = t;
            t = run(2, T);
            if (t < bestRead) bestRead = t;
        }
        printf("threads %d triad %.2f GB/s read %.2f GB/s\n", T, 24.0 * N / best / 1e9, 8.0 * N / bestRead / 1e9);
        if (argc <= 1) break;
    }
    return 0;
}
