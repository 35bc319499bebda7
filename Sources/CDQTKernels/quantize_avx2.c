// AVX2 absmax int8 quantization; same rounding (half to even) and clamping order as portable.c.
#include "avx2_common.h"
#if defined(__x86_64__)
#include <math.h>

DQT_AVX2 float dqt_quantize_i8_avx2(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmax = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)   // max_ps(a, m) returns m when a is NaN, like portable's a > m ? a : m
        vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absmask), vmax);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    for (; i < n; i++) { float a = fabsf(x[i]); amax = a > amax ? a : amax; }
    const float alpha = 127.0f / fmaxf(amax, 1e-5f);

    const __m256 va = _mm256_set1_ps(alpha), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i vsum = _mm256_setzero_si256();
    i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i c[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), va);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);   // max_ps(NaN, lo) = lo
            c[k] = _mm256_cvtps_epi32(v);                  // MXCSR default: round half to even
        }
        vsum = _mm256_add_epi32(vsum, _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3])));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(p, perm));
    }
    int32_t s = dqt_hsum_i32(vsum);
    for (; i < n; i++) {
        float v = fminf(fmaxf(x[i] * alpha, -128.0f), 127.0f);
        int32_t c = (int32_t)nearbyintf(v);
        q[i] = (int8_t)c;
        s += c;
    }
    if (n_padded > n) memset(q + n, 0, (size_t)(n_padded - n));
    *sum = s;
    return alpha;
}
#endif
