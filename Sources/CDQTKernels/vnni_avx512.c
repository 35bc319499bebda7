// AVX-512 VNNI path (x86-64 with AVX512F/BW/VL + VNNI, e.g. Zen 4, Ice Lake and later): the
// integer kernels on 64-byte registers with vpdpbusd (u8 × s8, four products summed into each
// int32 lane, no int16 stage, no saturation). Quantization and the float helpers reuse AVX2.
//
// t2 (2-bit codes): a 64-byte load covers two 32-byte blocks (256 weights). Instead of shifting
// the 2-bit fields down, each field is masked in place: (x & 0x0C) = 4·c for slot 1, (x & 0x30)
// = 16·c, (x & 0xC0) = 64·c (≤ 128, still a u8). Each slot has its own int32 accumulator, whose
// lanes are then exact multiples of 4^i, so Σc·q = acc₀ + acc₁/4 + acc₂/16 + acc₃/64 (arithmetic
// shifts, exact). Per row and 256 weights: 1 load, 4 ands, 4 vpdpbusd (AVX2: 2 loads, 6 shifts,
// 8 ands, 8 maddubs, 8 adds, widening). The activations are rearranged once per call to match
// the block pairs: pair k, slot i is q[256k + 32i + j] then q[256k + 128 + 32i + j].
//
// t1 (base-3 bytes): trits are tested with unsigned byte compares into mask registers,
// d = [v ≥ 86] + [v ≥ 171] (see avx2_common.h), v ← 3v mod 256 for the next trit.
//
// i8 / i8r: u = c + 128 (xor 0x80) is a u8, Σu·q = Σc·q + 128·Σq; the correction is exact in
// wrapping int32 arithmetic (vpdpbusd wraps, and the true Σc·q fits in int32).
#include "avx2_common.h"
#if defined(__x86_64__)

#define DQT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define DQT_VNNI_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

// Activations rearranged for block pairs live on the stack; longer rows use the AVX2 kernels.
#define VNNI_MAX_COLS 16384

// MARK: - t2

// qs[256k + 64i + h·32 + j] = q[256k + 128h + 32i + j] for every pair k of 128-weight blocks
// (h = 0, 1); an odd last block gets a zero second half.
DQT_VNNI_INLINE void t2_pair_activations(const int8_t *q, int64_t nb, int8_t *qs) {
    for (int64_t b = 0; b < nb; b++) {
        const int64_t k = b / 2, h = b % 2;
        for (int i = 0; i < 4; i++)
            _mm256_storeu_si256((__m256i *)(qs + 256 * k + 64 * i + 32 * h), _mm256_loadu_si256((const __m256i *)(q + 128 * b + 32 * i)));
    }
    if (nb % 2)
        for (int i = 0; i < 4; i++) _mm256_storeu_si256((__m256i *)(qs + 256 * (nb / 2) + 64 * i + 32), _mm256_setzero_si256());
}

DQT_VNNI_INLINE int32_t t2_combine(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i s = _mm512_add_epi32(_mm512_add_epi32(a0, _mm512_srai_epi32(a1, 2)),
                                       _mm512_add_epi32(_mm512_srai_epi32(a2, 4), _mm512_srai_epi32(a3, 6)));
    return _mm512_reduce_add_epi32(s);
}

DQT_VNNI_INLINE void t2v_rows(const uint8_t *w, int64_t row_bytes, int64_t nb, const int8_t *qs,
                              int32_t qsum, float mult, int64_t r, int R, float *y) {
    const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0C);
    const __m512i m2 = _mm512_set1_epi8(0x30), m3 = _mm512_set1_epi8((char)0xC0);
    const uint8_t *row[4];
    __m512i a[4][4];
    for (int k = 0; k < R; k++) {
        row[k] = w + (r + k) * row_bytes;
        for (int i = 0; i < 4; i++) a[k][i] = _mm512_setzero_si512();
    }
    const uintptr_t pf = dqt_pf_base(row[0], R * row_bytes);
    const int64_t pairs = (nb + 1) / 2;
    for (int64_t p = 0; p < pairs; p++) {
        const int8_t *qp = qs + 256 * p;
        const __m512i q0 = _mm512_loadu_si512(qp), q1 = _mm512_loadu_si512(qp + 64);
        const __m512i q2 = _mm512_loadu_si512(qp + 128), q3 = _mm512_loadu_si512(qp + 192);
        dqt_prefetch(pf + (uintptr_t)(R * 64 * p), R * 64);
        // An odd last block is loaded alone (never past the row); its zero upper half adds 0.
        const __mmask64 lm = 2 * p + 1 < nb ? ~(__mmask64)0 : (__mmask64)0xFFFFFFFFu;
        for (int k = 0; k < R; k++) {
            const __m512i x = _mm512_maskz_loadu_epi8(lm, row[k] + 64 * p);
            a[k][0] = _mm512_dpbusd_epi32(a[k][0], _mm512_and_si512(x, m0), q0);
            a[k][1] = _mm512_dpbusd_epi32(a[k][1], _mm512_and_si512(x, m1), q1);
            a[k][2] = _mm512_dpbusd_epi32(a[k][2], _mm512_and_si512(x, m2), q2);
            a[k][3] = _mm512_dpbusd_epi32(a[k][3], _mm512_and_si512(x, m3), q3);
        }
    }
    for (int k = 0; k < R; k++) y[r + k] = (float)(t2_combine(a[k][0], a[k][1], a[k][2], a[k][3]) - qsum) * mult;
}

DQT_VNNI void dqt_matvec_t2_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                                 int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    if (cols > VNNI_MAX_COLS) { dqt_matvec_t2_avx2(w, row_bytes, cols, q, qsum, mult, r0, r1, y); return; }
    const int64_t nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    _Alignas(64) int8_t qs[VNNI_MAX_COLS + 256];
    t2_pair_activations(q, nb, qs);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) t2v_rows(w, row_bytes, nb, qs, qsum, mult, r, 4, y);
    for (; r < r1; r++) t2v_rows(w, row_bytes, nb, qs, qsum, mult, r, 1, y);
}

// MARK: - t1

// qs[320k + 64n + 32h + j] = q[320k + 160h + 32n + j] for pairs of full 160-weight blocks.
DQT_VNNI_INLINE void t1_pair_activations(const int8_t *q, int64_t nf, int8_t *qs) {
    for (int64_t b = 0; b < nf; b++) {
        const int64_t k = b / 2, h = b % 2;
        for (int n = 0; n < 5; n++)
            _mm256_storeu_si256((__m256i *)(qs + 320 * k + 64 * n + 32 * h), _mm256_loadu_si256((const __m256i *)(q + 160 * b + 32 * n)));
    }
    if (nf % 2)
        for (int n = 0; n < 5; n++) _mm256_storeu_si256((__m256i *)(qs + 320 * (nf / 2) + 64 * n + 32), _mm256_setzero_si256());
}

// Σ_n d_n·q_n over 64 bytes (two blocks): d_n = [v ≥ 86] + [v ≥ 171], v ← 3v.
DQT_VNNI_INLINE __m512i t1v_group(__m512i acc, __m512i v, const __m512i qn[5]) {
    const __m512i one = _mm512_set1_epi8(1), t1 = _mm512_set1_epi8(86), t2 = _mm512_set1_epi8((char)171);
    for (int n = 0; n < 5; n++) {
        const __mmask64 k1 = _mm512_cmpge_epu8_mask(v, t1), k2 = _mm512_cmpge_epu8_mask(v, t2);
        const __m512i d1 = _mm512_maskz_mov_epi8(k1, one);
        const __m512i d = _mm512_mask_add_epi8(d1, k2, d1, one);
        acc = _mm512_dpbusd_epi32(acc, d, qn[n]);
        v = _mm512_add_epi8(_mm512_add_epi8(v, v), v);
    }
    return acc;
}

DQT_VNNI_INLINE __m256i t1v_group256(__m256i acc, __m256i v, const __m256i qn[5]) {
    const __m256i one = _mm256_set1_epi8(1), t1 = _mm256_set1_epi8(86), t2 = _mm256_set1_epi8((char)171);
    for (int n = 0; n < 5; n++) {
        const __mmask32 k1 = _mm256_cmpge_epu8_mask(v, t1), k2 = _mm256_cmpge_epu8_mask(v, t2);
        const __m256i d1 = _mm256_maskz_mov_epi8(k1, one);
        const __m256i d = _mm256_mask_add_epi8(d1, k2, d1, one);
        acc = _mm256_dpbusd_epi32(acc, d, qn[n]);
        v = _mm256_add_epi8(_mm256_add_epi8(v, v), v);
    }
    return acc;
}

DQT_VNNI_INLINE void t1v_rows(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, const int8_t *qs,
                              int32_t qsum, float mult, int64_t r, int R, float *y) {
    const int64_t nf = cols / DQT_T1_BLOCK;
    const int64_t m = (cols - DQT_T1_BLOCK * nf + 4) / 5;
    const uint8_t *row[4];
    __m512i acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * row_bytes; acc[k] = _mm512_setzero_si512(); }
    const uintptr_t pf = dqt_pf_base(row[0], R * row_bytes);
    const int64_t pairs = (nf + 1) / 2;
    for (int64_t p = 0; p < pairs; p++) {
        __m512i qn[5];
        for (int n = 0; n < 5; n++) qn[n] = _mm512_loadu_si512(qs + 320 * p + 64 * n);
        dqt_prefetch(pf + (uintptr_t)(R * 64 * p), R * 64);
        const __mmask64 lm = 2 * p + 1 < nf ? ~(__mmask64)0 : (__mmask64)0xFFFFFFFFu;
        for (int k = 0; k < R; k++) acc[k] = t1v_group(acc[k], _mm512_maskz_loadu_epi8(lm, row[k] + 64 * p), qn);
    }
    __m256i tail[4];
    for (int k = 0; k < R; k++) tail[k] = _mm256_setzero_si256();
    if (m > 0) {
        // Tail: byte j (< m) holds weights 160·nf + m·n + j; bytes past m load as zero (d = 0).
        __m256i qn[5];
        const int8_t *qt = q + DQT_T1_BLOCK * nf;
        for (int n = 0; n < 5; n++) qn[n] = _mm256_loadu_si256((const __m256i *)(qt + m * n));
        const __mmask32 tm = (__mmask32)((1ull << m) - 1);
        for (int k = 0; k < R; k++) tail[k] = t1v_group256(tail[k], _mm256_maskz_loadu_epi8(tm, row[k] + 32 * nf), qn);
    }
    for (int k = 0; k < R; k++) {
        const int32_t s = _mm512_reduce_add_epi32(acc[k]) + dqt_hsum_i32(tail[k]);
        y[r + k] = (float)(s - qsum) * mult;
    }
}

DQT_VNNI void dqt_matvec_t1_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                                 int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    if (cols > VNNI_MAX_COLS) { dqt_matvec_t1_avx2(w, row_bytes, cols, q, qsum, mult, r0, r1, y); return; }
    const int64_t nf = cols / DQT_T1_BLOCK;
    _Alignas(64) int8_t qs[VNNI_MAX_COLS + 320];
    t1_pair_activations(q, nf, qs);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) t1v_rows(w, row_bytes, cols, q, qs, qsum, mult, r, 4, y);
    for (; r < r1; r++) t1v_rows(w, row_bytes, cols, q, qs, qsum, mult, r, 1, y);
}

// MARK: - i8, i8r

// Σ_i q[i] over cols (q is zero past cols up to the padded length).
DQT_VNNI_INLINE int32_t sum_q(const int8_t *q, int64_t cols) {
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 64 <= cols; i += 64) s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512(q + i));
    int32_t t = _mm512_reduce_add_epi32(s);
    for (; i < cols; i++) t += q[i];
    return t;
}

// out[k] = Σ_i w[r+k, i]·q[i] for R rows (exact, wrapping int32).
DQT_VNNI_INLINE void i8v_rows(const int8_t *w, int64_t cols, const int8_t *q, int32_t qsum, int64_t r, int R, int32_t out[4]) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int8_t *row[4];
    __m512i acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * cols; acc[k] = _mm512_setzero_si512(); }
    const uintptr_t pf = dqt_pf_base(row[0], R * cols);
    int64_t i = 0;
    for (; i + 64 <= cols; i += 64) {
        dqt_prefetch(pf + (uintptr_t)(R * i), R * 64);
        const __m512i qv = _mm512_loadu_si512(q + i);
        for (int k = 0; k < R; k++)
            acc[k] = _mm512_dpbusd_epi32(acc[k], _mm512_xor_si512(_mm512_loadu_si512(row[k] + i), flip), qv);
    }
    if (i < cols) {   // masked load: never past the row; masked-off bytes give u = 128 against q = 0
        const __mmask64 lm = (__mmask64)((1ull << (cols - i)) - 1);
        const __m512i qv = _mm512_maskz_loadu_epi8(lm, q + i);
        for (int k = 0; k < R; k++)
            acc[k] = _mm512_dpbusd_epi32(acc[k], _mm512_xor_si512(_mm512_maskz_loadu_epi8(lm, row[k] + i), flip), qv);
    }
    for (int k = 0; k < R; k++)
        out[k] = (int32_t)((uint32_t)_mm512_reduce_add_epi32(acc[k]) - 128u * (uint32_t)qsum);
}

DQT_VNNI void dqt_matvec_i8_vnni(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                                 int64_t r0, int64_t r1, float *y) {
    const int32_t qsum = sum_q(q, cols);
    int32_t s[4];
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        i8v_rows(w, cols, q, qsum, r, 4, s);
        for (int k = 0; k < 4; k++) y[r + k] = (float)s[k] * mult;
    }
    for (; r < r1; r++) { i8v_rows(w, cols, q, qsum, r, 1, s); y[r] = (float)s[0] * mult; }
}

DQT_VNNI void dqt_matvec_i8r_vnni(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q,
                                  float mult, int64_t r0, int64_t r1, float *y) {
    const int32_t qsum = sum_q(q, cols);
    int32_t s[4];
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        i8v_rows(w, cols, q, qsum, r, 4, s);
        for (int k = 0; k < 4; k++) y[r + k] = (float)s[k] * (rowscale[r + k] * mult);
    }
    for (; r < r1; r++) { i8v_rows(w, cols, q, qsum, r, 1, s); y[r] = (float)s[0] * (rowscale[r] * mult); }
}

// MARK: - f16 head

DQT_VNNI void dqt_matvec_f16_vnni(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint16_t *row0 = w + r * cols, *row1 = row0 + cols, *row2 = row1 + cols, *row3 = row2 + cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const uintptr_t pf = dqt_pf_base(row0, 4 * cols * 2);
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16) {
            dqt_prefetch(pf + (uintptr_t)(4 * i * 2), 4 * 32);
            const __m512 xv = _mm512_loadu_ps(x + i);
            a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row0 + i))), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row1 + i))), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row2 + i))), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row3 + i))), xv, a3);
        }
        float s0 = _mm512_reduce_add_ps(a0), s1 = _mm512_reduce_add_ps(a1);
        float s2 = _mm512_reduce_add_ps(a2), s3 = _mm512_reduce_add_ps(a3);
        for (; i < cols; i++) {
            s0 += dqt_half_to_float(row0[i]) * x[i]; s1 += dqt_half_to_float(row1[i]) * x[i];
            s2 += dqt_half_to_float(row2[i]) * x[i]; s3 += dqt_half_to_float(row3[i]) * x[i];
        }
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;
    }
    if (r < r1) dqt_matvec_f16_avx2(w, cols, x, r, r1, y);
}

// MARK: - matmul (prompt batches): the AVX2 driver with a 4-row × 4-token vpdpbusd tile

#define MM_ROWS 4
#define MM_TOKENS 4

// out[rr*4 + k] = Σ_{i<len} cw[rr][i]·qp[k][i]; len a multiple of 32 (a last half step is
// masked). 16 accumulators; each 64-byte code load feeds 4 vpdpbusd, each activation load 4.
DQT_VNNI_INLINE void codes_tile_vnni(const uint8_t *const cw[MM_ROWS], const int8_t *const qp[MM_TOKENS],
                                     int64_t len, int32_t out[MM_ROWS * MM_TOKENS]) {
    __m512i a[MM_ROWS][MM_TOKENS];
    for (int r = 0; r < MM_ROWS; r++)
        for (int t = 0; t < MM_TOKENS; t++) a[r][t] = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m512i w[MM_ROWS];
        for (int r = 0; r < MM_ROWS; r++) w[r] = _mm512_loadu_si512(cw[r] + i);
        for (int t = 0; t < MM_TOKENS; t++) {
            const __m512i qv = _mm512_loadu_si512(qp[t] + i);
            for (int r = 0; r < MM_ROWS; r++) a[r][t] = _mm512_dpbusd_epi32(a[r][t], w[r], qv);
        }
    }
    if (i < len) {   // 32 columns left: masked loads stay inside the code and activation rows
        const __mmask64 lm = (__mmask64)0xFFFFFFFFu;
        __m512i w[MM_ROWS];
        for (int r = 0; r < MM_ROWS; r++) w[r] = _mm512_maskz_loadu_epi8(lm, cw[r] + i);
        for (int t = 0; t < MM_TOKENS; t++) {
            const __m512i qv = _mm512_maskz_loadu_epi8(lm, qp[t] + i);
            for (int r = 0; r < MM_ROWS; r++) a[r][t] = _mm512_dpbusd_epi32(a[r][t], w[r], qv);
        }
    }
    // Four sums at a time: fold each 512-bit accumulator to 256 bits, then one hadd tree.
    for (int r = 0; r < MM_ROWS; r++) {
        __m256i h[MM_TOKENS];
        for (int t = 0; t < MM_TOKENS; t++)
            h[t] = _mm256_add_epi32(_mm512_castsi512_si256(a[r][t]), _mm512_extracti64x4_epi64(a[r][t], 1));
        _mm_storeu_si128((__m128i *)(out + r * MM_TOKENS), dqt_hsum4_i32(h[0], h[1], h[2], h[3]));
    }
}

#define MM_TARGET DQT_VNNI
#define MM_TILE codes_tile_vnni
#define MM_DRIVER matmul_ternary_vnni
#include "matmul_driver.h"

DQT_VNNI void dqt_matmul_t2_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                                 const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                                 float *y, int64_t y_stride) {
    matmul_ternary_vnni(0, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

DQT_VNNI void dqt_matmul_t1_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                                 const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                                 float *y, int64_t y_stride) {
    matmul_ternary_vnni(1, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}
#endif
