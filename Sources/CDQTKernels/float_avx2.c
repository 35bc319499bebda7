// AVX2+FMA+F16C float matvec for float-encoded heads and projections (f16, bf16, f32).
// Four rows share each activation load; eight lanes of partial sums per row, then a tail.
#include "avx2_common.h"
#if defined(__x86_64__)

DQT_AVX2_INLINE __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
DQT_AVX2_INLINE __m256 load8_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
DQT_AVX2_INLINE __m256 load8_f32(const float *p) { return _mm256_loadu_ps(p); }

#define FLOAT_MATVEC(NAME, T, LOAD8, SCALAR)                                                     \
DQT_AVX2 void NAME(const T *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) { \
    int64_t r = r0;                                                                              \
    for (; r + 4 <= r1; r += 4) {                                                                \
        const T *row0 = w + r * cols, *row1 = row0 + cols, *row2 = row1 + cols, *row3 = row2 + cols; \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                              \
        const uintptr_t pf = dqt_pf_base(row0, 4 * cols * (int64_t)sizeof(T));                \
        int64_t i = 0;                                                                           \
        for (; i + 8 <= cols; i += 8) {                                                          \
            dqt_prefetch(pf + (uintptr_t)(4 * i * (int64_t)sizeof(T)), 4 * 8 * (int64_t)sizeof(T)); \
            const __m256 xv = _mm256_loadu_ps(x + i);                                            \
            a0 = _mm256_fmadd_ps(LOAD8(row0 + i), xv, a0);                                       \
            a1 = _mm256_fmadd_ps(LOAD8(row1 + i), xv, a1);                                       \
            a2 = _mm256_fmadd_ps(LOAD8(row2 + i), xv, a2);                                       \
            a3 = _mm256_fmadd_ps(LOAD8(row3 + i), xv, a3);                                       \
        }                                                                                        \
        float s0 = dqt_hsum_ps(a0), s1 = dqt_hsum_ps(a1), s2 = dqt_hsum_ps(a2), s3 = dqt_hsum_ps(a3); \
        for (; i < cols; i++) {                                                                  \
            s0 += SCALAR(row0[i]) * x[i]; s1 += SCALAR(row1[i]) * x[i];                          \
            s2 += SCALAR(row2[i]) * x[i]; s3 += SCALAR(row3[i]) * x[i];                          \
        }                                                                                        \
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;                                  \
    }                                                                                            \
    for (; r < r1; r++) {                                                                        \
        const T *row = w + r * cols;                                                             \
        __m256 a = _mm256_setzero_ps(), b = a;                                                   \
        int64_t i = 0;                                                                           \
        for (; i + 16 <= cols; i += 16) {                                                        \
            a = _mm256_fmadd_ps(LOAD8(row + i), _mm256_loadu_ps(x + i), a);                      \
            b = _mm256_fmadd_ps(LOAD8(row + i + 8), _mm256_loadu_ps(x + i + 8), b);              \
        }                                                                                        \
        float s = dqt_hsum_ps(_mm256_add_ps(a, b));                                              \
        for (; i < cols; i++) s += SCALAR(row[i]) * x[i];                                        \
        y[r] = s;                                                                                \
    }                                                                                            \
}

#define F32_SCALAR(v) (v)
FLOAT_MATVEC(dqt_matvec_f16_avx2, uint16_t, load8_f16, dqt_half_to_float)
FLOAT_MATVEC(dqt_matvec_bf16_avx2, uint16_t, load8_bf16, dqt_bf16_to_float)
FLOAT_MATVEC(dqt_matvec_f32_avx2, float, load8_f32, F32_SCALAR)
#endif
