// C += A·B for the backward pass (dx = dy·W and the weight gradient dW = dyᵀ·x̂).
// Portable path: plain loops the compiler vectorizes (NEON on aarch64). AVX2 path: 4×16
// register tiles (8 accumulators), B blocked 256×256 so a block stays in L2.
// Every output element is accumulated over k in ascending order with one multiply-add per
// step on both the vector lanes and the scalar tails of a path, so a result does not depend
// on M, N or where a caller splits the columns.
#include "dqt_train.h"
#include "cpu.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define DQTT_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

static void gemm_portable(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc) {
    for (int64_t m = 0; m < M; m++) {
        float *c = C + m * ldc;
        const float *a = A + m * lda;
        for (int64_t k = 0; k < K; k++) {
            const float av = a[k];
            const float *b = B + k * ldb;
            for (int64_t n = 0; n < N; n++) c[n] = c[n] + av * b[n];
        }
    }
}

#if defined(__x86_64__)
#define NB 256
#define KB 256

DQTT_AVX2 static void gemm_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                const float *B, int64_t ldb, float *C, int64_t ldc) {
    for (int64_t n0 = 0; n0 < N; n0 += NB) {
        const int64_t n1 = n0 + NB < N ? n0 + NB : N;
        for (int64_t k0 = 0; k0 < K; k0 += KB) {
            const int64_t k1 = k0 + KB < K ? k0 + KB : K;
            int64_t m = 0;
            for (; m + 4 <= M; m += 4) {
                const float *a0 = A + m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
                float *c0 = C + m * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
                int64_t n = n0;
                for (; n + 16 <= n1; n += 16) {
                    __m256 x00 = _mm256_loadu_ps(c0 + n), x01 = _mm256_loadu_ps(c0 + n + 8);
                    __m256 x10 = _mm256_loadu_ps(c1 + n), x11 = _mm256_loadu_ps(c1 + n + 8);
                    __m256 x20 = _mm256_loadu_ps(c2 + n), x21 = _mm256_loadu_ps(c2 + n + 8);
                    __m256 x30 = _mm256_loadu_ps(c3 + n), x31 = _mm256_loadu_ps(c3 + n + 8);
                    for (int64_t k = k0; k < k1; k++) {
                        const float *b = B + k * ldb + n;
                        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
                        __m256 t = _mm256_broadcast_ss(a0 + k);
                        x00 = _mm256_fmadd_ps(t, b0, x00); x01 = _mm256_fmadd_ps(t, b1, x01);
                        t = _mm256_broadcast_ss(a1 + k);
                        x10 = _mm256_fmadd_ps(t, b0, x10); x11 = _mm256_fmadd_ps(t, b1, x11);
                        t = _mm256_broadcast_ss(a2 + k);
                        x20 = _mm256_fmadd_ps(t, b0, x20); x21 = _mm256_fmadd_ps(t, b1, x21);
                        t = _mm256_broadcast_ss(a3 + k);
                        x30 = _mm256_fmadd_ps(t, b0, x30); x31 = _mm256_fmadd_ps(t, b1, x31);
                    }
                    _mm256_storeu_ps(c0 + n, x00); _mm256_storeu_ps(c0 + n + 8, x01);
                    _mm256_storeu_ps(c1 + n, x10); _mm256_storeu_ps(c1 + n + 8, x11);
                    _mm256_storeu_ps(c2 + n, x20); _mm256_storeu_ps(c2 + n + 8, x21);
                    _mm256_storeu_ps(c3 + n, x30); _mm256_storeu_ps(c3 + n + 8, x31);
                }
                for (; n + 8 <= n1; n += 8) {
                    __m256 x0 = _mm256_loadu_ps(c0 + n), x1 = _mm256_loadu_ps(c1 + n);
                    __m256 x2 = _mm256_loadu_ps(c2 + n), x3 = _mm256_loadu_ps(c3 + n);
                    for (int64_t k = k0; k < k1; k++) {
                        const __m256 b0 = _mm256_loadu_ps(B + k * ldb + n);
                        x0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k), b0, x0);
                        x1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + k), b0, x1);
                        x2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + k), b0, x2);
                        x3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + k), b0, x3);
                    }
                    _mm256_storeu_ps(c0 + n, x0); _mm256_storeu_ps(c1 + n, x1);
                    _mm256_storeu_ps(c2 + n, x2); _mm256_storeu_ps(c3 + n, x3);
                }
                for (; n < n1; n++) {
                    float s0 = c0[n], s1 = c1[n], s2 = c2[n], s3 = c3[n];
                    for (int64_t k = k0; k < k1; k++) {
                        const float b = B[k * ldb + n];
                        s0 = fmaf(a0[k], b, s0); s1 = fmaf(a1[k], b, s1);
                        s2 = fmaf(a2[k], b, s2); s3 = fmaf(a3[k], b, s3);
                    }
                    c0[n] = s0; c1[n] = s1; c2[n] = s2; c3[n] = s3;
                }
            }
            for (; m < M; m++) {
                const float *a = A + m * lda;
                float *c = C + m * ldc;
                int64_t n = n0;
                for (; n + 16 <= n1; n += 16) {
                    __m256 x0 = _mm256_loadu_ps(c + n), x1 = _mm256_loadu_ps(c + n + 8);
                    for (int64_t k = k0; k < k1; k++) {
                        const __m256 t = _mm256_broadcast_ss(a + k);
                        x0 = _mm256_fmadd_ps(t, _mm256_loadu_ps(B + k * ldb + n), x0);
                        x1 = _mm256_fmadd_ps(t, _mm256_loadu_ps(B + k * ldb + n + 8), x1);
                    }
                    _mm256_storeu_ps(c + n, x0); _mm256_storeu_ps(c + n + 8, x1);
                }
                for (; n + 8 <= n1; n += 8) {
                    __m256 x0 = _mm256_loadu_ps(c + n);
                    for (int64_t k = k0; k < k1; k++)
                        x0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k), _mm256_loadu_ps(B + k * ldb + n), x0);
                    _mm256_storeu_ps(c + n, x0);
                }
                for (; n < n1; n++) {
                    float s = c[n];
                    for (int64_t k = k0; k < k1; k++) s = fmaf(a[k], B[k * ldb + n], s);
                    c[n] = s;
                }
            }
        }
    }
}

#endif

int dqtt_gemm_acc_path(int path, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2()) {
        gemm_avx2(M, N, K, A, lda, B, ldb, C, ldc);
        return 0;
    }
#endif
    if (path == 1) return -1;
    gemm_portable(M, N, K, A, lda, B, ldb, C, ldc);
    return 0;
}

void dqtt_gemm_acc(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float *C, int64_t ldc) {
    (void)dqtt_gemm_acc_path(2, M, N, K, A, lda, B, ldb, C, ldc);
}

const char *dqtt_path(void) {
#if defined(__x86_64__)
    if (dqtt_cpu_avx2()) return "avx2";
#endif
    return "portable";
}
