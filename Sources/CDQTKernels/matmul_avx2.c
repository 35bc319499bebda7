// AVX2 matmul for prompt batches: Y[t, r] = (Σ_i w[r,i]·q[t,i] − qsum[t])·mult[t].
// Ternary: two rows are decoded once per 2560-column chunk (and per group of 64 tokens) into
// code bytes (w+1), then every tile of four tokens reuses them: 8 accumulators (2 rows × 4 tokens) share each code and
// activation load. maddubs sums (|·| ≤ 512) stay in int16 for 64 steps of 32 columns.
// A missing second row / fewer than four tokens reuse the last one and drop the results.
#include "avx2_common.h"
#if defined(__x86_64__)

#define MM_ROWS 2
#define MM_TOKENS 4

// out[rr*4 + k] = Σ_{i<len} codes_rr[i]·q_k[i]; len a multiple of 32.
DQT_AVX2_INLINE void codes_tile(const uint8_t *const cw[MM_ROWS], const int8_t *const qp[MM_TOKENS],
                                int64_t len, int32_t out[MM_ROWS * MM_TOKENS]) {
    const uint8_t *cw0 = cw[0], *cw1 = cw[1];
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t steps = len / 32;
    __m256i acc[8];
    for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_si256();
    for (int64_t s0 = 0; s0 < steps; s0 += 64) {
        const int64_t s1 = s0 + 64 < steps ? s0 + 64 : steps;
        __m256i a[8];
        for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_si256();
        for (int64_t s = s0; s < s1; s++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(cw0 + 32 * s));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(cw1 + 32 * s));
            for (int t = 0; t < MM_TOKENS; t++) {
                const __m256i qv = _mm256_loadu_si256((const __m256i *)(qp[t] + 32 * s));
                a[t] = _mm256_add_epi16(a[t], _mm256_maddubs_epi16(w0, qv));
                a[4 + t] = _mm256_add_epi16(a[4 + t], _mm256_maddubs_epi16(w1, qv));
            }
        }
        for (int k = 0; k < 8; k++) acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(a[k], ones));
    }
    _mm_storeu_si128((__m128i *)out, dqt_hsum4_i32(acc[0], acc[1], acc[2], acc[3]));
    _mm_storeu_si128((__m128i *)(out + 4), dqt_hsum4_i32(acc[4], acc[5], acc[6], acc[7]));
}

#define MM_TARGET DQT_AVX2
#define MM_TILE codes_tile
#define MM_DRIVER matmul_ternary_avx2
#include "matmul_driver.h"
#define MM_ROWS 2
#define MM_TOKENS 4

DQT_AVX2 void dqt_matmul_t2_avx2(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                                 const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                                 float *y, int64_t y_stride) {
    matmul_ternary_avx2(0, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

DQT_AVX2 void dqt_matmul_t1_avx2(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                                 const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                                 float *y, int64_t y_stride) {
    matmul_ternary_avx2(1, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

// i8: codes may be −128, so operands are widened to i16 and multiplied with madd (exact).
DQT_AVX2 void dqt_matmul_i8_avx2(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride,
                                 const float *mult, int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride) {
    int32_t acc[MM_GROUP_TOKENS][MM_BLOCK_ROWS];
    for (int64_t t0 = 0; t0 < n; t0 += MM_GROUP_TOKENS) {
        const int64_t tn = n - t0 < MM_GROUP_TOKENS ? n - t0 : MM_GROUP_TOKENS;
        for (int64_t rb = r0; rb < r1; rb += MM_BLOCK_ROWS) {
            const int nr = r1 - rb < MM_BLOCK_ROWS ? (int)(r1 - rb) : MM_BLOCK_ROWS;
            for (int p = 0; p < nr; p += MM_ROWS) {
                const int R = nr - p < MM_ROWS ? nr - p : MM_ROWS;
                const int8_t *w0 = w + (rb + p) * cols, *w1 = R == 2 ? w0 + cols : w0;
                for (int64_t t = 0; t < tn; t += MM_TOKENS) {
                    const int T = tn - t < MM_TOKENS ? (int)(tn - t) : MM_TOKENS;
                    const int8_t *qp[MM_TOKENS];
                    for (int k = 0; k < MM_TOKENS; k++) qp[k] = q + (t0 + t + (k < T ? k : T - 1)) * q_stride;
                    __m256i a8[8];
                    for (int k = 0; k < 8; k++) a8[k] = _mm256_setzero_si256();
                    int64_t i = 0;
                    for (; i + 16 <= cols; i += 16) {
                        const __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w0 + i)));
                        const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w1 + i)));
                        for (int k = 0; k < MM_TOKENS; k++) {
                            const __m256i qv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qp[k] + i)));
                            a8[k] = _mm256_add_epi32(a8[k], _mm256_madd_epi16(a, qv));
                            a8[4 + k] = _mm256_add_epi32(a8[4 + k], _mm256_madd_epi16(b, qv));
                        }
                    }
                    int32_t out[8];
                    _mm_storeu_si128((__m128i *)out, dqt_hsum4_i32(a8[0], a8[1], a8[2], a8[3]));
                    _mm_storeu_si128((__m128i *)(out + 4), dqt_hsum4_i32(a8[4], a8[5], a8[6], a8[7]));
                    for (; i < cols; i++)   // weights are never read past the row
                        for (int k = 0; k < MM_TOKENS; k++) { out[k] += w0[i] * qp[k][i]; out[4 + k] += w1[i] * qp[k][i]; }
                    for (int k = 0; k < T; k++)
                        for (int rr = 0; rr < R; rr++) acc[t + k][p + rr] = out[rr * MM_TOKENS + k];
                }
            }
            for (int64_t t = 0; t < tn; t++) {
                float *yt = y + (t0 + t) * y_stride + rb;
                for (int i = 0; i < nr; i++) yt[i] = (float)acc[t][i] * mult[t0 + t];
            }
        }
    }
}
#endif
