// AVX2 t1 matvec. A 32-byte block holds 160 weights: byte j, trit n = weight 32n + j.
// Trits are decoded without division: v₀ = byte, v_{n+1} = 3·v_n mod 256 (two byte adds),
// d_n = (3·v_n) >> 8 = [v_n ≥ 86] + [v_n ≥ 171] (two signed compares, see avx2_common.h).
// Five maddubs per block (|Σ| ≤ 2560 in int16) are widened to int32 once per block.
#include "avx2_common.h"
#if defined(__x86_64__)

// Σ d·q over full block b of R rows at once, trit-major: trit n of every row before trit n+1,
// so the R serial decode chains (s ← 3s) are interleaved in program order and the scheduler
// always has independent work. Sums stay in int16 (5 maddubs per block: |Σ| ≤ 2560).
DQT_AVX2_INLINE void t1_block(const uint8_t *const row[4], int R, int64_t off, const int8_t *qb, int64_t qstep,
                              __m256i a16[4]) {
    __m256i s[4];
    for (int k = 0; k < R; k++) s[k] = dqt_t1_offset(_mm256_loadu_si256((const __m256i *)(row[k] + off)));
    for (int n = 0; n < 5; n++) {
        const __m256i qn = _mm256_loadu_si256((const __m256i *)(qb + qstep * n));
        for (int k = 0; k < R; k++) {
            if (n > 0) s[k] = dqt_times3_u8(s[k]);
            a16[k] = _mm256_add_epi16(a16[k], _mm256_maddubs_epi16(dqt_t1_trit(s[k]), qn));
        }
    }
}

DQT_AVX2_INLINE void t1_rows(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                             int32_t qsum, float mult, int64_t r, int R, float *y) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    const int64_t nf = cols / DQT_T1_BLOCK;
    const int64_t m = (cols - DQT_T1_BLOCK * nf + 4) / 5;
    const uint8_t *row[4];
    __m256i acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * row_bytes; acc[k] = _mm256_setzero_si256(); }
    const uintptr_t pf = dqt_pf_base(row[0], R * row_bytes);
    for (int64_t b = 0; b < nf; b++) {
        dqt_prefetch(pf + (uintptr_t)(R * 32 * b), R * 32);
        __m256i a16[4];
        for (int k = 0; k < R; k++) a16[k] = _mm256_setzero_si256();
        t1_block(row, R, 32 * b, q + DQT_T1_BLOCK * b, 32, a16);
        for (int k = 0; k < R; k++) acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(a16[k], ones16));
    }
    if (m > 0) {
        // Tail: byte j (< m) holds weights 160·nf + m·n + j. Bytes past m are zero in the
        // local copy and decode to d = 0, so they add nothing; the activation loads stay
        // inside the padded buffer (160·nf + 4m + 32 ≤ align(cols, 160)).
        _Alignas(32) uint8_t tail[4][32] = {{0}};
        const uint8_t *trow[4];
        for (int k = 0; k < R; k++) { memcpy(tail[k], row[k] + 32 * nf, (size_t)m); trow[k] = tail[k]; }
        __m256i a16[4];
        for (int k = 0; k < R; k++) a16[k] = _mm256_setzero_si256();
        t1_block(trow, R, 0, q + DQT_T1_BLOCK * nf, m, a16);
        for (int k = 0; k < R; k++) acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(a16[k], ones16));
    }
    if (R == 4) {
        const __m128i s = _mm_sub_epi32(dqt_hsum4_i32(acc[0], acc[1], acc[2], acc[3]), _mm_set1_epi32(qsum));
        _mm_storeu_ps(y + r, _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_set1_ps(mult)));
    } else {
        for (int k = 0; k < R; k++) y[r + k] = (float)(dqt_hsum_i32(acc[k]) - qsum) * mult;
    }
}

DQT_AVX2 void dqt_matvec_t1_avx2(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                                 int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) t1_rows(w, row_bytes, cols, q, qsum, mult, r, 4, y);
    for (; r < r1; r++) t1_rows(w, row_bytes, cols, q, qsum, mult, r, 1, y);
}

// Codes of weights [c0, c0+len) of a t1 row, for matmul (full blocks here, tail via portable).
DQT_AVX2 void dqt_decode_t1_codes_avx2(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                                       uint8_t *codes) {
    const int64_t nf = cols / DQT_T1_BLOCK;
    int64_t i = 0;
    for (; i < len; i += DQT_T1_BLOCK) {
        const int64_t b = (c0 + i) / DQT_T1_BLOCK;
        if (b >= nf) break;
        __m256i v = dqt_t1_offset(_mm256_loadu_si256((const __m256i *)(row + 32 * b)));
        for (int n = 0; n < 5; n++) {
            _mm256_storeu_si256((__m256i *)(codes + i + 32 * n), dqt_t1_trit(v));
            v = dqt_times3_u8(v);
        }
    }
    if (i < len) dqt_decode_t1_codes_portable(row, row_bytes, cols, c0 + i, len - i, codes + i);
}
#endif
