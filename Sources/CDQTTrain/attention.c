// Causal attention backward for the tuner (see dqt_train.h). Dot products and axpys of one
// head vector (head_dim floats) are the inner loops: AVX2+FMA with a portable fallback.
#include "dqt_train.h"
#include "cpu.h"
#include <math.h>

// The backward of one head, written once: DOT(x, y, n) and AXPY(a, x, y, n) (y += a·x) are the
// path's head-vector kernels. P and dP are scratch rows of T floats.
#define ATTENTION_BACKWARD(NAME, ATTR, DOT, AXPY)                                                       \
ATTR static void NAME(int64_t T, int64_t hd, float scale, const float *q, const float *k, const float *v, \
                      const float *dout, int64_t ldq, int64_t ldkv, float *dq, float *dk, float *dv,      \
                      float *P, float *dP) {                                                             \
    for (int64_t t = 0; t < T; t++) {                                                                    \
        const float *qt = q + t * ldq, *dot_ = dout + t * ldq;                                           \
        float m = -INFINITY;                                                                             \
        for (int64_t j = 0; j <= t; j++) {                                                               \
            P[j] = DOT(qt, k + j * ldkv, hd) * scale;                                                    \
            if (P[j] > m) m = P[j];                                                                      \
        }                                                                                                \
        float sum = 0;                                                                                   \
        for (int64_t j = 0; j <= t; j++) { P[j] = expf(P[j] - m); sum += P[j]; }                         \
        const float inv = 1.0f / sum;                                                                    \
        float pd = 0;                                                                                    \
        for (int64_t j = 0; j <= t; j++) {                                                               \
            P[j] *= inv;                                                                                 \
            dP[j] = DOT(dot_, v + j * ldkv, hd);                                                         \
            pd += P[j] * dP[j];                                                                          \
        }                                                                                                \
        float *dqt = dq + t * ldq;                                                                       \
        for (int64_t j = 0; j <= t; j++) {                                                               \
            const float ds = P[j] * (dP[j] - pd) * scale;                                                \
            AXPY(ds, k + j * ldkv, dqt, hd);                                                             \
            AXPY(ds, qt, dk + j * ldkv, hd);                                                             \
            AXPY(P[j], dot_, dv + j * ldkv, hd);                                                         \
        }                                                                                                \
    }                                                                                                    \
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float dot_avx2(const float *x, const float *y, int64_t n) {
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a);
        b = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), b);
    }
    for (; i + 8 <= n; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a);
    a = _mm256_add_ps(a, b);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++) r = fmaf(x[i], y[i], r);
    return r;
}

AVX2 static inline void axpy_avx2(float a, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

ATTENTION_BACKWARD(backward_avx2, AVX2, dot_avx2, axpy_avx2)

#endif

static inline float dot_portable(const float *x, const float *y, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

static inline void axpy_portable(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

ATTENTION_BACKWARD(backward_portable, , dot_portable, axpy_portable)

int dqtt_attention_backward_path(int path, int64_t T, int64_t hd, float scale,
                                 const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                                 float *dq, float *dk, float *dv, float *P, float *dP) {
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2()) {
        backward_avx2(T, hd, scale, q, k, v, dout, ldq, ldkv, dq, dk, dv, P, dP);
        return 0;
    }
#endif
    if (path == 1) return -1;
    backward_portable(T, hd, scale, q, k, v, dout, ldq, ldkv, dq, dk, dv, P, dP);
    return 0;
}

void dqtt_attention_backward(int64_t T, int64_t hd, float scale,
                             const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                             float *dq, float *dk, float *dv, float *P, float *dP) {
    (void)dqtt_attention_backward_path(2, T, hd, scale, q, k, v, dout, ldq, ldkv, dq, dk, dv, P, dP);
}
