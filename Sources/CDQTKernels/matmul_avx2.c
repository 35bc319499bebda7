// AVX2 matmul for prompt batches: Y[t, r] = (Σ_i w[r,i]·q[t,i] − qsum[t])·mult[t].
// A GEMM in three levels (the shapes are the 700M model's: K = 1536 or 4096 columns):
//   - a block of 16 rows is decoded once per 2560-column chunk into code bytes (w+1 ∈ {0,1,2},
//     16 × 2560 = 40 KB, L2) and then serves every token of the batch;
//   - tokens go in tiles of 6: a tile's activations for the chunk (6 × 2560 = 15 KB) stay in L1
//     while all 8 row pairs of the block pass over them (the previous order, row pair outer and
//     token tile inner, re-read the activations from L2 for every row pair: 32 bytes per
//     maddubs pair from L2 held it at ~105 GMAC/s);
//   - the register tile is 2 rows × 6 tokens: 12 int16 accumulators (maddubs sums, |·| ≤ 512,
//     widened every 64 steps of 32 columns), 2 code registers, activations as memory operands.
// A missing second row / last tokens of a partial tile reuse the last one and are dropped; a
// last tile of ≤ 4 tokens runs as a 2×4 or 2×2 tile (dqt-run's default batch is 32 = 5·6 + 2).
#include "avx2_common.h"
#if defined(__x86_64__)

#define MM_ROWS 2
#define MM_TOKENS 6

// out[rr*TT + k] = Σ_{i<len} codes_rr[i]·q_k[i] for a 2-row × TT-token tile (TT = 2, 4 or 6,
// a constant at every call so each size is its own unrolled copy); len a multiple of 32.
// 2·TT int16 accumulators + 2 code registers + 1 product: the activations are maddubs memory
// operands (each loaded once per row), so the 16 ymm registers hold the whole 2×6 tile.
DQT_AVX2_INLINE void codes_tile(const uint8_t *const cw[MM_ROWS], const int8_t *const qp[MM_TOKENS],
                                int64_t len, const int TT, int32_t out[MM_ROWS * MM_TOKENS]) {
    const uint8_t *cw0 = cw[0], *cw1 = cw[1];
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t steps = len / 32;
    __m256i acc[MM_ROWS * MM_TOKENS];
    for (int k = 0; k < MM_ROWS * TT; k++) acc[k] = _mm256_setzero_si256();
    for (int64_t s0 = 0; s0 < steps; s0 += 64) {
        const int64_t s1 = s0 + 64 < steps ? s0 + 64 : steps;
        __m256i a[MM_ROWS * MM_TOKENS];
        for (int k = 0; k < MM_ROWS * TT; k++) a[k] = _mm256_setzero_si256();
        for (int64_t s = s0; s < s1; s++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(cw0 + 32 * s));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(cw1 + 32 * s));
            for (int t = 0; t < TT; t++) {
                const __m256i qv = _mm256_loadu_si256((const __m256i *)(qp[t] + 32 * s));
                a[t] = _mm256_add_epi16(a[t], _mm256_maddubs_epi16(w0, qv));
                a[TT + t] = _mm256_add_epi16(a[TT + t], _mm256_maddubs_epi16(w1, qv));
            }
        }
        for (int k = 0; k < MM_ROWS * TT; k++) acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(a[k], ones));
    }
    for (int k = 0; k < MM_ROWS * TT; k += 4)
        _mm_storeu_si128((__m128i *)(out + k), dqt_hsum4_i32(acc[k], acc[k + 1], acc[k + 2], acc[k + 3]));
}

// Narrow matrices (at most 512 columns after padding: the small models' projections, K = 192 or
// 512): with 6–16 steps of 32 columns per output, the 2 × 6 tile above spends as much on its
// horizontal reductions and its scatter into acc as on the products. Here the 16 decoded rows
// are interleaved by groups of 4 columns (il[g][row][4]: one vector = 8 rows × 4 columns) and
// each token's 4 activations of a group are broadcast, so maddubs leaves per row two int16
// pair sums in its lane: no reduction across lanes, and madd with ones at the end gives each
// row's int32 sum in lane order, stored into acc[token][row] as one vector per 8 rows. The
// tile is 16 rows × 6 tokens (12 int16 accumulators, 2 code registers, 1 broadcast); the
// int16 sums are widened every 64 groups (|pair sum| ≤ 2·2·127, 64 of them fit). The products
// and sums are the same integers as the wide kernel's, so every result is identical.
#define NW_MAX_COLS 512
#define NW_TOKENS 6

// acc[k][0..15] (+)= Σ_i codes_r[i]·q_k[i] for 16 rows (interleaved, `groups` groups of 4
// columns) × TT tokens (6, 4 or 2, a constant at every call).
DQT_AVX2_INLINE void narrow_tile(const uint8_t *il, int64_t groups, const int8_t *const qp[NW_TOKENS], const int TT,
                                 int32_t (*acc)[16]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i sum[2][NW_TOKENS];
    for (int t = 0; t < TT; t++) sum[0][t] = sum[1][t] = _mm256_setzero_si256();
    for (int64_t g0 = 0; g0 < groups; g0 += 64) {
        const int64_t g1 = g0 + 64 < groups ? g0 + 64 : groups;
        __m256i a[2][NW_TOKENS];
        for (int t = 0; t < TT; t++) a[0][t] = a[1][t] = _mm256_setzero_si256();
        for (int64_t g = g0; g < g1; g++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(il + 64 * g));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(il + 64 * g + 32));
            for (int t = 0; t < TT; t++) {
                int32_t x;
                memcpy(&x, qp[t] + 4 * g, 4);
                const __m256i qb = _mm256_set1_epi32(x);
                a[0][t] = _mm256_add_epi16(a[0][t], _mm256_maddubs_epi16(w0, qb));
                a[1][t] = _mm256_add_epi16(a[1][t], _mm256_maddubs_epi16(w1, qb));
            }
        }
        for (int t = 0; t < TT; t++) {
            sum[0][t] = _mm256_add_epi32(sum[0][t], _mm256_madd_epi16(a[0][t], ones));
            sum[1][t] = _mm256_add_epi32(sum[1][t], _mm256_madd_epi16(a[1][t], ones));
        }
    }
    for (int t = 0; t < TT; t++) {
        _mm256_storeu_si256((__m256i *)acc[t], sum[0][t]);
        _mm256_storeu_si256((__m256i *)(acc[t] + 8), sum[1][t]);
    }
}

DQT_AVX2_INLINE void matmul_narrow_avx2(int t1, const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                                        int64_t q_stride, const int32_t *qsum, const float *mult, int64_t n, int64_t r0,
                                        int64_t r1, float *y, int64_t y_stride, int64_t padded) {
    _Alignas(64) uint8_t codes[16][NW_MAX_COLS];
    _Alignas(64) uint8_t il[NW_MAX_COLS / 4][16][4];
    int32_t acc[NW_TOKENS][16];
    const int64_t groups = padded / 4;
    for (int64_t rb = r0; rb < r1; rb += 16) {
        const int nr = r1 - rb < 16 ? (int)(r1 - rb) : 16;
        for (int rr = 0; rr < nr; rr++) {
            const uint8_t *row = w + (rb + rr) * row_bytes;
            if (t1) dqt_decode_t1_codes_avx2(row, row_bytes, cols, 0, padded, codes[rr]);
            else dqt_decode_t2_codes_avx2(row, cols, 0, padded, codes[rr]);
        }
        for (int rr = nr; rr < 16; rr++) memset(codes[rr], 0, (size_t)padded);   // rows past the end: dropped
        for (int64_t g = 0; g < groups; g++)
            for (int rr = 0; rr < 16; rr++) memcpy(il[g][rr], codes[rr] + 4 * g, 4);
        for (int64_t t0 = 0; t0 < n; t0 += NW_TOKENS) {
            const int T = n - t0 < NW_TOKENS ? (int)(n - t0) : NW_TOKENS;
            const int8_t *qp[NW_TOKENS];
            for (int k = 0; k < NW_TOKENS; k++) qp[k] = q + (t0 + (k < T ? k : T - 1)) * q_stride;
            const int TT = T > 4 ? 6 : T > 2 ? 4 : 2;
            if (TT == 6) narrow_tile(&il[0][0][0], groups, qp, 6, acc);
            else if (TT == 4) narrow_tile(&il[0][0][0], groups, qp, 4, acc);
            else narrow_tile(&il[0][0][0], groups, qp, 2, acc);
            for (int k = 0; k < T; k++) {
                float *yt = y + (t0 + k) * y_stride + rb;
                for (int i = 0; i < nr; i++) yt[i] = (float)(acc[k][i] - qsum[t0 + k]) * mult[t0 + k];
            }
        }
    }
}

#define MM_BLOCK 16        // rows decoded together per chunk
#define MM_MAX_GROUP 132   // tokens per pass over a row block (22 tiles of 6; acc is [132][16] int32)

DQT_AVX2_INLINE void matmul_ternary_avx2(int t1, const uint8_t *w, int64_t row_bytes, int64_t cols,
                                         const int8_t *q, int64_t q_stride, const int32_t *qsum,
                                         const float *mult, int64_t n, int64_t r0, int64_t r1,
                                         float *y, int64_t y_stride) {
    _Alignas(64) uint8_t codes[MM_BLOCK][DQT_MM_CHUNK];
    int32_t acc[MM_MAX_GROUP][MM_BLOCK];
    // t2: up to the row's last 32 columns (the decode cuts a block there; the columns after
    // the row's end hold zero activations, so they add nothing — 192 columns run 192, not 256).
    const int64_t padded = t1 ? dqt_ternary_cols(1, cols) : dqt_align(cols, 32);
    if (padded <= NW_MAX_COLS) {
        matmul_narrow_avx2(t1, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride, padded);
        return;
    }
    for (int64_t t0 = 0; t0 < n; t0 += MM_MAX_GROUP) {
        const int64_t tn = n - t0 < MM_MAX_GROUP ? n - t0 : MM_MAX_GROUP;
        for (int64_t rb = r0; rb < r1; rb += MM_BLOCK) {
            const int nr = r1 - rb < MM_BLOCK ? (int)(r1 - rb) : MM_BLOCK;
            memset(acc, 0, (size_t)tn * sizeof acc[0]);   // only the rows in use (32 of 132 for -b 32)
            for (int64_t c0 = 0; c0 < padded; c0 += DQT_MM_CHUNK) {
                const int64_t len = padded - c0 < DQT_MM_CHUNK ? padded - c0 : DQT_MM_CHUNK;
                for (int rr = 0; rr < nr; rr++) {   // decoded once per chunk and token group
                    const uint8_t *row = w + (rb + rr) * row_bytes;
                    if (t1) dqt_decode_t1_codes_avx2(row, row_bytes, cols, c0, len, codes[rr]);
                    else dqt_decode_t2_codes_avx2(row, cols, c0, len, codes[rr]);
                }
                for (int64_t t = 0; t < tn; t += MM_TOKENS) {
                    const int T = tn - t < MM_TOKENS ? (int)(tn - t) : MM_TOKENS;
                    const int8_t *qp[MM_TOKENS];
                    for (int k = 0; k < MM_TOKENS; k++) qp[k] = q + (t0 + t + (k < T ? k : T - 1)) * q_stride + c0;
                    for (int p = 0; p < nr; p += MM_ROWS) {
                        const int R = nr - p < MM_ROWS ? nr - p : MM_ROWS;
                        const uint8_t *cw[MM_ROWS];
                        for (int rr = 0; rr < MM_ROWS; rr++) cw[rr] = codes[p + (rr < R ? rr : R - 1)];
                        int32_t out[MM_ROWS * MM_TOKENS];
                        // A short last tile (e.g. 2 of a 32-token batch) runs as a 2- or 4-token tile.
                        const int TT = T > 4 ? 6 : T > 2 ? 4 : 2;
                        if (TT == 6) codes_tile(cw, qp, len, 6, out);
                        else if (TT == 4) codes_tile(cw, qp, len, 4, out);
                        else codes_tile(cw, qp, len, 2, out);
                        for (int k = 0; k < T; k++)
                            for (int rr = 0; rr < R; rr++) acc[t + k][p + rr] += out[rr * TT + k];
                    }
                }
            }
            for (int64_t t = 0; t < tn; t++) {
                float *yt = y + (t0 + t) * y_stride + rb;
                for (int i = 0; i < nr; i++) yt[i] = (float)(acc[t][i] - qsum[t0 + t]) * mult[t0 + t];
            }
        }
    }
}

#undef MM_ROWS
#undef MM_TOKENS
#define MM_ROWS 2
#define MM_TOKENS 4
#define MM_BLOCK_ROWS 16
#define MM_GROUP_TOKENS 64

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
