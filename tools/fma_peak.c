// Peak float32 multiply-add rate of this machine at 1..N threads (the roofline of the GEMM
// phases in tools/bench_tune.sh, as tools/triad.c is for bandwidth): each thread runs 12
// independent 8-lane FMA chains (AVX2+FMA; on other CPUs the compiler's vectorization of the
// same loop) for a fixed count and reports GFLOP/s (2 flops per lane per FMA).
//
//   cc -O2 -pthread tools/fma_peak.c -o fma_peak && ./fma_peak 2
// prints: "fma peak: 1 thread(s) 95.1 GFLOP/s (cpu 95.3), 2 thread(s) 189.0 GFLOP/s"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 200000000L / 12

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct { float sink; double cpu; } job;

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static float chains(long iters) {
    __m256 a[12];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0] + o[7];
}
#define LANES 8
#else
static float chains(long iters) {
    float a[12][4];
    for (int i = 0; i < 12; i++) for (int l = 0; l < 4; l++) a[i][l] = (float)i;
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < 12; i++)
            for (int l = 0; l < 4; l++) a[i][l] = __builtin_fmaf(a[i][l], 0.999999f, 1e-7f);
    float s = 0;
    for (int i = 0; i < 12; i++) for (int l = 0; l < 4; l++) s += a[i][l];
    return s;
}
#define LANES 4
#endif

static void *run(void *p) {
    job *j = p;
    const double c0 = now(CLOCK_THREAD_CPUTIME_ID);
    j->sink = chains(ITERS);
    j->cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

int main(int argc, char **argv) {
    const int maxThreads = argc > 1 ? atoi(argv[1]) : 2;
    const double flops = 2.0 * LANES * 12 * (double)ITERS;
    printf("fma peak:");
    for (int t = 1; t <= maxThreads; t++) {
        pthread_t th[64];
        job jobs[64];
        double best = 0, bestCpu = 0;
        for (int round = 0; round < 3; round++) {   // best of 3 (the machine may be shared)
            const double w0 = now(CLOCK_MONOTONIC);
            for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, run, &jobs[i]);
            for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
            const double wall = now(CLOCK_MONOTONIC) - w0;
            double cpu = 0;
            for (int i = 0; i < t; i++) cpu += jobs[i].cpu;
            if (t * flops / wall > best) best = t * flops / wall;
            if (t * t * flops / cpu > bestCpu) bestCpu = t * t * flops / cpu;   // per-thread CPU-time rate × threads
        }
        printf("%s %d thread(s) %.1f GFLOP/s (cpu-time rate %.1f)", t > 1 ? "," : "", t, best / 1e9, bestCpu / 1e9);
    }
    printf("\n");
    return 0;
}
