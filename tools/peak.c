// Issue-rate peak of the integer multiply-accumulate instruction the ternary kernels are built
// on, per thread and at T threads, in GMAC/s (10^9 int8 multiply-adds per second): the ceiling
// a prompt (matmul) kernel is measured against. Each thread runs independent accumulator chains
// of the kernel's inner pair (asm, 12 pairs per iteration), hot in registers, no memory traffic:
//   x86 AVX2       vpmaddubsw + vpaddw (u8 x s8 -> i16 pairs, summed in i16): 32 MACs per pair
//   aarch64 NEON   smlal + smlal2 (s8 x s8 -> i16 accumulate): 16 MACs per pair
//   aarch64 dotprod sdot (4-way s8 dot into s32): 16 MACs per instruction
//   cc -O2 -march=native -pthread -o peak tools/peak.c && ./peak 1 2
// Timed by the slowest thread's CPU time (other load on a shared machine does not count).
// tools/bench.py runs it next to the triad. The loops run a fixed count, so `valgrind`-style
// instruction counting also works (12 pairs = 24 instructions x ITER per thread).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#define ITER 20000000L
#define REPS 5

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { int kind; long iter; int64_t sink; double cpu; pthread_barrier_t *start; } job;

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// The loops below keep every accumulator live (summed into sink) so nothing is optimized away;
// the asm barrier on the operands keeps the compiler from hoisting the products out of the loop.
#if defined(__x86_64__) && defined(__AVX2__)
// Written in asm: from intrinsics the compiler computes the loop-invariant product once.
static int64_t loop_maddubs(long iter) {
    __m256i w = _mm256_set1_epi8(2), q = _mm256_set1_epi8(-3);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    for (long i = 0; i < iter; i++) {
        __m256i t0, t1, t2, t3, t4, t5;
        __asm__ volatile(
            "vpmaddubsw %[w], %[q], %[t0]\n\t" "vpaddw %[t0], %[a0], %[a0]\n\t"
            "vpmaddubsw %[w], %[q], %[t1]\n\t" "vpaddw %[t1], %[a1], %[a1]\n\t"
            "vpmaddubsw %[w], %[q], %[t2]\n\t" "vpaddw %[t2], %[a2], %[a2]\n\t"
            "vpmaddubsw %[w], %[q], %[t3]\n\t" "vpaddw %[t3], %[a3], %[a3]\n\t"
            "vpmaddubsw %[w], %[q], %[t4]\n\t" "vpaddw %[t4], %[a4], %[a4]\n\t"
            "vpmaddubsw %[w], %[q], %[t5]\n\t" "vpaddw %[t5], %[a5], %[a5]\n\t"
            "vpmaddubsw %[w], %[q], %[t0]\n\t" "vpaddw %[t0], %[a0], %[a0]\n\t"
            "vpmaddubsw %[w], %[q], %[t1]\n\t" "vpaddw %[t1], %[a1], %[a1]\n\t"
            "vpmaddubsw %[w], %[q], %[t2]\n\t" "vpaddw %[t2], %[a2], %[a2]\n\t"
            "vpmaddubsw %[w], %[q], %[t3]\n\t" "vpaddw %[t3], %[a3], %[a3]\n\t"
            "vpmaddubsw %[w], %[q], %[t4]\n\t" "vpaddw %[t4], %[a4], %[a4]\n\t"
            "vpmaddubsw %[w], %[q], %[t5]\n\t" "vpaddw %[t5], %[a5], %[a5]\n\t"
            : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3), [a4] "+x"(a4), [a5] "+x"(a5),
              [t0] "=&x"(t0), [t1] "=&x"(t1), [t2] "=&x"(t2), [t3] "=&x"(t3), [t4] "=&x"(t4), [t5] "=&x"(t5)
            : [w] "x"(w), [q] "x"(q));
    }
    __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_add_epi16(a0, a1), _mm256_add_epi16(a2, a3)),
                                 _mm256_add_epi16(a4, a5));
    return _mm256_extract_epi16(s, 0);
}
#define MACS_PER_STEP (12 * 32)   // 12 maddubs of 32 MACs per iteration
#define PEAK_NAME "vpmaddubsw+vpaddw (AVX2)"
#define LOOP loop_maddubs
#elif defined(__aarch64__)
static int64_t loop_smlal(long iter) {
    int8x16_t w = vdupq_n_s8(1), q = vdupq_n_s8(-3);
    int16x8_t a[12];
    for (int k = 0; k < 12; k++) a[k] = vdupq_n_s16(0);
    for (long i = 0; i < iter; i++) {
        __asm__ volatile("" : "+w"(w), "+w"(q));
        for (int k = 0; k < 12; k += 2) {
            __asm__ volatile("smlal %0.8h, %2.8b, %3.8b\n\tsmlal2 %1.8h, %2.16b, %3.16b"
                             : "+w"(a[k]), "+w"(a[k + 1]) : "w"(w), "w"(q));
        }
    }
    int16x8_t s = a[0];
    for (int k = 1; k < 12; k++) s = vaddq_s16(s, a[k]);
    return vgetq_lane_s16(s, 0);
}
#define MACS_PER_STEP (12 * 8)
#define PEAK_NAME "smlal/smlal2 (NEON)"
#define LOOP loop_smlal
#if defined(__ARM_FEATURE_DOTPROD)
static int64_t loop_sdot(long iter) {
    int8x16_t w = vdupq_n_s8(1), q = vdupq_n_s8(-3);
    int32x4_t a[12];
    for (int k = 0; k < 12; k++) a[k] = vdupq_n_s32(0);
    for (long i = 0; i < iter; i++) {
        __asm__ volatile("" : "+w"(w), "+w"(q));
        for (int k = 0; k < 12; k++) __asm__ volatile("sdot %0.4s, %1.16b, %2.16b" : "+w"(a[k]) : "w"(w), "w"(q));
    }
    int32x4_t s = a[0];
    for (int k = 1; k < 12; k++) s = vaddq_s32(s, a[k]);
    return vgetq_lane_s32(s, 0);
}
#endif
#endif

static void *work(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->start);
    const double c0 = thread_cpu();
#if defined(LOOP)
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
    j->sink = j->kind ? loop_sdot(j->iter) : LOOP(j->iter);
#else
    j->sink = LOOP(j->iter);
#endif
#endif
    j->cpu = thread_cpu() - c0;
    return NULL;
}

static double run(int kind, int T, long iter) {
    pthread_t tid[64];
    job jobs[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)T + 1);
    for (int t = 0; t < T; t++) {
        jobs[t] = (job){kind, iter, 0, 0, &start};
        pthread_create(&tid[t], NULL, work, &jobs[t]);
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    for (int t = 0; t < T; t++) pthread_join(tid[t], NULL);
    double dt = now() - t0, cpu = 0;
    pthread_barrier_destroy(&start);
    for (int t = 0; t < T; t++) cpu = jobs[t].cpu > cpu ? jobs[t].cpu : cpu;
    // Thread CPU time of the slowest thread: time spent descheduled by other load on a shared
    // machine is not counted (the wall clock is the bound when the machine is idle).
    return cpu > 0 && cpu < dt ? cpu : dt;
}

int main(int argc, char **argv) {
#if !defined(LOOP)
    (void)argc; (void)argv;
    fprintf(stderr, "peak: build with -march=native on an AVX2 x86-64 or on aarch64\n");
    return 2;
#else
    long iter = ITER;
    const char *it = getenv("PEAK_ITER");   // fewer iterations under an emulator or valgrind
    if (it) iter = atol(it);
    int kinds = 1;
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
    kinds = 2;
#endif
    for (int kind = 0; kind < kinds; kind++) {
        for (int k = 1; k < argc || k == 1; k++) {
            int T = argc > 1 ? atoi(argv[k]) : 1;
            if (T < 1 || T > 64) { fprintf(stderr, "peak: thread count 1...64\n"); return 2; }
            double best = 1e9;
            for (int r = 0; r < REPS; r++) {
                double t = run(kind, T, iter);
                if (t < best) best = t;
            }
            const double macs = (kind ? 12.0 * 16 : (double)MACS_PER_STEP) * iter * T;
            printf("threads %d peak %.1f GMAC/s %s\n", T, macs / best / 1e9, kind ? "sdot (NEON dotprod)" : PEAK_NAME);
            if (argc <= 1) break;
        }
    }
    return 0;
#endif
}
