// AVX-512 VNNI path (x86-64 with AVX512F/BW/VL + VNNI, e.g. Zen 4, Ice Lake and later): the
// compute-bound integer kernels on 64-byte registers with vpdpbusd (u8 × s8, four products
// summed into each int32 lane, no int16 stage, no saturation): the t1 matvec and the ternary
// matmul. The rest of the path is the AVX2 one: the streaming kernels (t2, i8, i8r, f16
// matvec) are memory-bound, and 512-bit versions of them measured 5-15% less bandwidth than
// the AVX2 ones on Zen 4 (dqt-bench-kernels --cpu-time, best of 6 runs each: t2 matvec
// 12.0-13.5 GB/s with vpdpbusd on masked 2-bit fields vs 13.6-16.0 GB/s; i8 12.1-12.7 vs 12.9-13.3).
//
// t1 (base-3 bytes): trits are tested with unsigned byte compares into mask registers,
// d = [v ≥ 86] + [v ≥ 171] (see avx2_common.h), v ← 3v mod 256 for the next trit. A 64-byte
// load covers two 32-byte blocks (320 weights); the activations are rearranged once per call
// to match: pair k, trit n is q[320k + 32n + j] then q[320k + 160 + 32n + j].
#include "avx2_common.h"
#if defined(__x86_64__)

#define DQT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define DQT_VNNI_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

// Activations rearranged for block pairs live on the stack; longer rows use the AVX2 kernels.
#define VNNI_MAX_COLS 16384

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
    const int64_t pairs = nf / 2;
    for (int64_t p = 0; p <= pairs; p++) {
        if (p == pairs && nf % 2 == 0) break;
        __m512i qn[5];
        for (int n = 0; n < 5; n++) qn[n] = _mm512_loadu_si512(qs + 320 * p + 64 * n);
        dqt_prefetch(pf + (uintptr_t)(R * 64 * p), R * 64);
        for (int k = 0; k < R; k++) {
            // An odd last block is loaded alone (never past the row); its zero upper half adds 0.
            const __m512i x = p < pairs ? _mm512_loadu_si512(row[k] + 64 * p)
                                        : _mm512_maskz_loadu_epi8((__mmask64)0xFFFFFFFFu, row[k] + 64 * p);
            acc[k] = t1v_group(acc[k], x, qn);
        }
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
