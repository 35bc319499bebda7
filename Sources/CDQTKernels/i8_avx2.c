// AVX2 int8 × int8 matvec (i8 and the i8r head). Codes may be −128, so maddubs (u8 × s8 with
// i16 saturation) is not exact here; both operands are widened to i16 and multiplied by
// madd_epi16 (exact i32 pair sums). Four rows share each activation load (i8 linears; the i8r head streams single rows).
#include "avx2_common.h"
#if defined(__x86_64__)

DQT_AVX2_INLINE void i8_rows(const int8_t *w, int64_t cols, const int8_t *q, int64_t r, int R, int prefetch,
                             int32_t out[4]) {
    const int8_t *row[4];
    __m256i acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * cols; acc[k] = _mm256_setzero_si256(); }
    const uintptr_t pf = dqt_pf_base(row[0], R * cols);
    int64_t i = 0;
    for (; i + 32 <= cols; i += 32) {
        if (prefetch) dqt_prefetch(pf + (uintptr_t)(R * i), R * 32);
        const __m256i qa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + i)));
        const __m256i qb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + i + 16)));
        for (int k = 0; k < R; k++) {
            const __m256i wa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row[k] + i)));
            const __m256i wb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row[k] + i + 16)));
            acc[k] = _mm256_add_epi32(acc[k], _mm256_add_epi32(_mm256_madd_epi16(wa, qa), _mm256_madd_epi16(wb, qb)));
        }
    }
    for (int k = 0; k < R; k++) {
        int32_t s = dqt_hsum_i32(acc[k]);
        for (int64_t j = i; j < cols; j++) s += row[k][j] * q[j];   // weights are never read past the row
        out[k] = s;
    }
}

DQT_AVX2 void dqt_matvec_i8_avx2(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                                 int64_t r0, int64_t r1, float *y) {
    int32_t s[4];
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        i8_rows(w, cols, q, r, 4, 1, s);
        for (int k = 0; k < 4; k++) y[r + k] = (float)s[k] * mult;
    }
    for (; r < r1; r++) { i8_rows(w, cols, q, r, 1, 1, s); y[r] = (float)s[0] * mult; }
}

// The head (vocab x hidden, the largest tensor) streams one row at a time with no software
// prefetch: one sequential stream is what the hardware prefetcher follows best. dqt-run on the
// 700M bench model with an int8 head, 1 thread: 76 tok/s against 70 with four interleaved rows
// and prefetch (this machine, 3 alternating runs each).
DQT_AVX2 void dqt_matvec_i8r_avx2(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q,
                                  float mult, int64_t r0, int64_t r1, float *y) {
    int32_t s[4];
    for (int64_t r = r0; r < r1; r++) { i8_rows(w, cols, q, r, 1, 0, s); y[r] = (float)s[0] * (rowscale[r] * mult); }
}
#endif
