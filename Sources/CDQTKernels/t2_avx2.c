// AVX2 t2 matvec: y[r] = ((Σ c·q) − Σq)·mult with c = w+1 ∈ {0,1,2} the 2-bit codes.
// One 32-byte block x = 128 weights; plane i = (x >> 2i) & 3 holds 32 consecutive codes for
// the 32 activations at 32i. One 16-bit shift serves all four planes: x & 3 and (x>>4) & 3 are
// planes 0 and 2; x & 0x0C and (x>>4) & 0x0C are planes 1 and 3 times 4. maddubs (u8 × s8 →
// pairwise i16 sums) of the plain planes go to one int16 sum (|·| ≤ 1024 per block), of the ×4
// planes to another (|·| ≤ 4096 per block, a multiple of 4, shifted right by 2 exactly when
// widened): 14 instructions per block instead of 16 with three shifts. Sums are widened to
// int32 every 8 blocks (|×4 sum| ≤ 8·4096 = 32768: −32768 exactly, +32512 at most), and R rows
// share the activation loads. The next row groups are prefetched linearly (dqt_prefetch).
#include "avx2_common.h"
#if defined(__x86_64__)

#define T2_WIDEN_BLOCKS 8

DQT_AVX2_INLINE void t2_rows(const uint8_t *w, int64_t row_bytes, int64_t nb, const int8_t *q,
                             int32_t qsum, float mult, int64_t r, int R, float *y) {
    const __m256i m3 = _mm256_set1_epi8(3), m12 = _mm256_set1_epi8(12), ones = _mm256_set1_epi16(1);
    const uint8_t *row[4];
    __m256i acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * row_bytes; acc[k] = _mm256_setzero_si256(); }
    const uintptr_t pf = dqt_pf_base(row[0], R * row_bytes);
    for (int64_t b0 = 0; b0 < nb; b0 += T2_WIDEN_BLOCKS) {
        const int64_t b1 = b0 + T2_WIDEN_BLOCKS < nb ? b0 + T2_WIDEN_BLOCKS : nb;
        __m256i lo[4], hi[4];   // Σ over planes 0, 2 and 4·Σ over planes 1, 3
        for (int k = 0; k < R; k++) lo[k] = hi[k] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            const int8_t *qb = q + 128 * b;
            const __m256i q0 = _mm256_loadu_si256((const __m256i *)qb);
            const __m256i q1 = _mm256_loadu_si256((const __m256i *)(qb + 32));
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(qb + 64));
            const __m256i q3 = _mm256_loadu_si256((const __m256i *)(qb + 96));
            dqt_prefetch(pf + (uintptr_t)(R * 32 * b), R * 32);
            for (int k = 0; k < R; k++) {
                const __m256i x = _mm256_loadu_si256((const __m256i *)(row[k] + 32 * b));
                const __m256i x4 = _mm256_srli_epi16(x, 4);
                const __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(x, m3), q0);
                const __m256i p2 = _mm256_maddubs_epi16(_mm256_and_si256(x4, m3), q2);
                const __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(x, m12), q1);
                const __m256i p3 = _mm256_maddubs_epi16(_mm256_and_si256(x4, m12), q3);
                lo[k] = _mm256_add_epi16(lo[k], _mm256_add_epi16(p0, p2));
                hi[k] = _mm256_add_epi16(hi[k], _mm256_add_epi16(p1, p3));
            }
        }
        for (int k = 0; k < R; k++)
            acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_add_epi16(lo[k], _mm256_srai_epi16(hi[k], 2)), ones));
    }
    if (R == 4) {
        const __m128i s = _mm_sub_epi32(dqt_hsum4_i32(acc[0], acc[1], acc[2], acc[3]), _mm_set1_epi32(qsum));
        _mm_storeu_ps(y + r, _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_set1_ps(mult)));
    } else {
        for (int k = 0; k < R; k++) y[r + k] = (float)(dqt_hsum_i32(acc[k]) - qsum) * mult;
    }
}

DQT_AVX2 void dqt_matvec_t2_avx2(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                                 int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    const int64_t nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) t2_rows(w, row_bytes, nb, q, qsum, mult, r, 4, y);
    for (; r < r1; r++) t2_rows(w, row_bytes, nb, q, qsum, mult, r, 1, y);
}

// Codes (one byte per weight) of weights [c0, c0+len) of a t2 row, for matmul; c0 is a multiple
// of 128 (chunks start on block boundaries), len a multiple of 32; codes past the row's last
// block are 0.
DQT_AVX2 void dqt_decode_t2_codes_avx2(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const int64_t b0 = c0 / DQT_T2_BLOCK, nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    const int64_t whole = len / DQT_T2_BLOCK, n = nb - b0 < whole ? nb - b0 : whole;
    const uint8_t *x0 = row + 32 * b0;
    for (int64_t k = 0; k < n; k++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(x0 + 32 * k)), x4 = _mm256_srli_epi16(x, 4);
        uint8_t *c = codes + DQT_T2_BLOCK * k;
        _mm256_storeu_si256((__m256i *)c, _mm256_and_si256(x, m3));
        _mm256_storeu_si256((__m256i *)(c + 32), _mm256_and_si256(_mm256_srli_epi16(x, 2), m3));
        _mm256_storeu_si256((__m256i *)(c + 64), _mm256_and_si256(x4, m3));
        _mm256_storeu_si256((__m256i *)(c + 96), _mm256_and_si256(_mm256_srli_epi16(x4, 2), m3));
    }
    int64_t i = DQT_T2_BLOCK * (n > 0 ? n : 0);
    if (i < len && b0 + n < nb) {   // a block cut by len (len not a multiple of 128)
        const __m256i x = _mm256_loadu_si256((const __m256i *)(x0 + 32 * n));
        for (int p = 0; p < 4 && i < len; p++, i += 32)
            _mm256_storeu_si256((__m256i *)(codes + i), _mm256_and_si256(_mm256_srli_epi16(x, 2 * p), m3));
    }
    if (i < len) memset(codes + i, 0, (size_t)(len - i));
}
#endif
