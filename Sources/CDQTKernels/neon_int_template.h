// NEON integer kernels, compiled twice: int_neon.c (DQT_DP 0: vmull/vmlal + vpadal) and
// int_neondp.c (DQT_DP 1: SDOT, ARMv8.2 dotprod). SFX names the functions.
// Same algorithms as the AVX2 files: codes c = w+1 ∈ {0,1,2} times int8 activations,
// exact int32 sums, then (Σ − qsum)·mult. t1 trits are produced negated (see neon_common.h).
#include "neon_common.h"

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SFX)

// acc += Σ a·b for 16 int8 pairs with |a·b| small (ternary codes: |a| ≤ 2 → |a·b| ≤ 256).
static inline int32x4_t FN(dot_small)(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if DQT_DP
    return vdotq_s32(acc, a, b);
#else
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
#endif
}
// acc += Σ a·b for any int8 (−128·−128 = 16384: pair sums would overflow int16, so widen each).
static inline int32x4_t FN(dot_full)(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if DQT_DP
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// MARK: - t2 matvec: 4 rows share the eight 16-byte activation loads of a block

#if DQT_DP
#define T2_ACC(acc, c, qv) acc = vdotq_s32(acc, c, qv)
#else   // int16 chain within a block (16 products of ≤ 256 per lane), one vpadal per block
#define T2_ACC(acc, c, qv) p = vmlal_high_s8(vmlal_s8(p, vget_low_s8(c), vget_low_s8(qv)), c, qv)
#endif

static inline __attribute__((always_inline)) void FN(t2_rows)(const uint8_t *w, int64_t row_bytes, int64_t nb,
                                                             const int8_t *q, int32_t qsum, float mult,
                                                             int64_t r, int R, float *y) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    const uint8_t *row[4];
    int32x4_t acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * row_bytes; acc[k] = vdupq_n_s32(0); }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t qv[8];
        for (int i = 0; i < 8; i++) qv[i] = vld1q_s8(q + 128 * b + 16 * i);
        for (int k = 0; k < R; k++) {
            const uint8x16_t x0 = vld1q_u8(row[k] + 32 * b), x1 = vld1q_u8(row[k] + 32 * b + 16);
#if DQT_DP
            int32x4_t a = acc[k];
#define p a
#else
            int16x8_t p = vdupq_n_s16(0);
#endif
            T2_ACC(p, vreinterpretq_s8_u8(vandq_u8(x0, m3)), qv[0]);
            T2_ACC(p, vreinterpretq_s8_u8(vandq_u8(x1, m3)), qv[1]);
            T2_ACC(p, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(x0, 2), m3)), qv[2]);
            T2_ACC(p, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(x1, 2), m3)), qv[3]);
            T2_ACC(p, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(x0, 4), m3)), qv[4]);
            T2_ACC(p, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(x1, 4), m3)), qv[5]);
            T2_ACC(p, vreinterpretq_s8_u8(vshrq_n_u8(x0, 6)), qv[6]);
            T2_ACC(p, vreinterpretq_s8_u8(vshrq_n_u8(x1, 6)), qv[7]);
#if DQT_DP
#undef p
            acc[k] = a;
#else
            acc[k] = vpadalq_s16(acc[k], p);
#endif
        }
    }
    for (int k = 0; k < R; k++) y[r + k] = (float)(vaddvq_s32(acc[k]) - qsum) * mult;
}

void FN(dqt_matvec_t2)(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                       int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    const int64_t nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) FN(t2_rows)(w, row_bytes, nb, q, qsum, mult, r, 4, y);
    for (; r < r1; r++) FN(t2_rows)(w, row_bytes, nb, q, qsum, mult, r, 1, y);
}

// MARK: - t1 matvec: trits decoded with byte multiplies by 3 and two compares, 4 rows at once

// Adds Σ (−d)·q of one 32-byte block of R rows to acc[k]: trit-major (trit n of every row
// before trit n+1), so the R serial chains v ← 3v are interleaved in program order (in-order
// cores such as the Cortex-A53 cannot find that parallelism themselves). qb + qstep·n: trit n's
// 32 activations.
static inline __attribute__((always_inline)) void FN(t1_block)(const uint8_t *const row[4], int R, int64_t off,
                                                              const int8_t *qb, int64_t qstep, int32x4_t acc[4]) {
    const uint8x16_t three = vdupq_n_u8(3);
    uint8x16_t v0[4], v1[4];
    for (int k = 0; k < R; k++) { v0[k] = vld1q_u8(row[k] + off); v1[k] = vld1q_u8(row[k] + off + 16); }
#if !DQT_DP
    int16x8_t p[4];   // 20 products of ≤ 256 per lane
    for (int k = 0; k < R; k++) p[k] = vdupq_n_s16(0);
#endif
    for (int n = 0; n < 5; n++) {
        const int8x16_t q0 = vld1q_s8(qb + qstep * n), q1 = vld1q_s8(qb + qstep * n + 16);
        for (int k = 0; k < R; k++) {
            if (n > 0) { v0[k] = vmulq_u8(v0[k], three); v1[k] = vmulq_u8(v1[k], three); }
            const int8x16_t c0 = dqt_t1_negtrit(v0[k]), c1 = dqt_t1_negtrit(v1[k]);
#if DQT_DP
            acc[k] = vdotq_s32(vdotq_s32(acc[k], c0, q0), c1, q1);
#else
            p[k] = vmlal_high_s8(vmlal_s8(p[k], vget_low_s8(c0), vget_low_s8(q0)), c0, q0);
            p[k] = vmlal_high_s8(vmlal_s8(p[k], vget_low_s8(c1), vget_low_s8(q1)), c1, q1);
#endif
        }
    }
#if !DQT_DP
    for (int k = 0; k < R; k++) acc[k] = vpadalq_s16(acc[k], p[k]);
#endif
}

// Rows per call: with sdot 4 (0.363 instructions per weight against 0.386 with 2, QEMU
// instruction count, 1536×1536, clang -O3); without, 2 (0.469 against 0.494: the smlal
// chains of 4 rows need more registers than the 32).
#if DQT_DP
#define T1_ROWS 4
#else
#define T1_ROWS 2
#endif
static inline __attribute__((always_inline)) void FN(t1_rows)(const uint8_t *w, int64_t row_bytes, int64_t cols,
                                                             const int8_t *q, int32_t qsum, float mult,
                                                             int64_t r, int R, float *y) {
    const int64_t nf = cols / DQT_T1_BLOCK;
    const int64_t m = (cols - DQT_T1_BLOCK * nf + 4) / 5;
    const uint8_t *row[4];
    int32x4_t acc[4];   // Σ (−d)·q
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * row_bytes; acc[k] = vdupq_n_s32(0); }
    for (int64_t b = 0; b < nf; b++) FN(t1_block)(row, R, 32 * b, q + DQT_T1_BLOCK * b, 32, acc);
    if (m > 0) {   // tail: byte j < m holds weights 160·nf + m·n + j; zero bytes decode to d = 0
        _Alignas(16) uint8_t tail[4][32] = {{0}};
        const uint8_t *trow[4];
        for (int k = 0; k < R; k++) { memcpy(tail[k], row[k] + 32 * nf, (size_t)m); trow[k] = tail[k]; }
        FN(t1_block)(trow, R, 0, q + DQT_T1_BLOCK * nf, m, acc);
    }
    for (int k = 0; k < R; k++) y[r + k] = (float)(-vaddvq_s32(acc[k]) - qsum) * mult;
}

void FN(dqt_matvec_t1)(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                       int32_t qsum, float mult, int64_t r0, int64_t r1, float *y) {
    int64_t r = r0;
    for (; r + T1_ROWS <= r1; r += T1_ROWS) FN(t1_rows)(w, row_bytes, cols, q, qsum, mult, r, T1_ROWS, y);
    for (; r < r1; r++) FN(t1_rows)(w, row_bytes, cols, q, qsum, mult, r, 1, y);
}

// MARK: - i8 / i8r matvec

static inline __attribute__((always_inline)) void FN(i8_rows)(const int8_t *w, int64_t cols, const int8_t *q,
                                                             int64_t r, int R, int32_t out[4]) {
    const int8_t *row[4];
    int32x4_t acc[4];
    for (int k = 0; k < R; k++) { row[k] = w + (r + k) * cols; acc[k] = vdupq_n_s32(0); }
    int64_t i = 0;
    for (; i + 16 <= cols; i += 16) {
        const int8x16_t qv = vld1q_s8(q + i);
        for (int k = 0; k < R; k++) acc[k] = FN(dot_full)(acc[k], vld1q_s8(row[k] + i), qv);
    }
    for (int k = 0; k < R; k++) {
        int32_t s = vaddvq_s32(acc[k]);
        for (int64_t j = i; j < cols; j++) s += row[k][j] * q[j];   // never read past the row
        out[k] = s;
    }
}

void FN(dqt_matvec_i8)(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                       int64_t r0, int64_t r1, float *y) {
    int32_t s[4];
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        FN(i8_rows)(w, cols, q, r, 4, s);
        for (int k = 0; k < 4; k++) y[r + k] = (float)s[k] * mult;
    }
    for (; r < r1; r++) { FN(i8_rows)(w, cols, q, r, 1, s); y[r] = (float)s[0] * mult; }
}

void FN(dqt_matvec_i8r)(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q,
                        float mult, int64_t r0, int64_t r1, float *y) {
    int32_t s[4];
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        FN(i8_rows)(w, cols, q, r, 4, s);
        for (int k = 0; k < 4; k++) y[r + k] = (float)s[k] * (rowscale[r + k] * mult);
    }
    for (; r < r1; r++) { FN(i8_rows)(w, cols, q, r, 1, s); y[r] = (float)s[0] * (rowscale[r] * mult); }
}

// MARK: - matmul: 16 decoded rows per 2560-column chunk, 4-row × 4-token register tiles

// out[rr*4 + k] = Σ_{i<len} codes_rr[i]·q_k[i] for a 4-row × 4-token tile; len a multiple of 32.
// 16 accumulators + 4 code registers + 1 activation register: per 16 columns 8 loads and 32
// smlal/smlal2 (or 16 sdot) serve 256 multiply-adds. Without dotprod the int16 sums (2
// products of ≤ 256 per lane and step) are widened into `wide` (memory) every 64 steps, so
// the loop itself needs only 21 of the 32 vector registers.
static void FN(codes_tile)(const uint8_t *const cw[4], const int8_t *const qp[4], int64_t len, int32_t out[16]) {
    const int64_t steps = len / 16;
#if DQT_DP
    int32x4_t acc[16];
    for (int k = 0; k < 16; k++) acc[k] = vdupq_n_s32(0);
    for (int64_t s = 0; s < steps; s++) {
        int8x16_t wv[4];
        for (int r = 0; r < 4; r++) wv[r] = vreinterpretq_s8_u8(vld1q_u8(cw[r] + 16 * s));
        for (int t = 0; t < 4; t++) {
            const int8x16_t qv = vld1q_s8(qp[t] + 16 * s);
            for (int r = 0; r < 4; r++) acc[4 * r + t] = vdotq_s32(acc[4 * r + t], wv[r], qv);
        }
    }
    for (int k = 0; k < 16; k++) out[k] = vaddvq_s32(acc[k]);
#else
    int32_t wide[16][4];
    memset(wide, 0, sizeof wide);
    for (int64_t s0 = 0; s0 < steps; s0 += 64) {
        const int64_t s1 = s0 + 64 < steps ? s0 + 64 : steps;
        int16x8_t a[16];
        for (int k = 0; k < 16; k++) a[k] = vdupq_n_s16(0);
        for (int64_t s = s0; s < s1; s++) {
            int8x16_t wv[4];
            for (int r = 0; r < 4; r++) wv[r] = vreinterpretq_s8_u8(vld1q_u8(cw[r] + 16 * s));
            for (int t = 0; t < 4; t++) {
                const int8x16_t qv = vld1q_s8(qp[t] + 16 * s);
                for (int r = 0; r < 4; r++)
                    a[4 * r + t] = vmlal_high_s8(vmlal_s8(a[4 * r + t], vget_low_s8(wv[r]), vget_low_s8(qv)), wv[r], qv);
            }
        }
        for (int k = 0; k < 16; k++) vst1q_s32(wide[k], vpadalq_s16(vld1q_s32(wide[k]), a[k]));
    }
    for (int k = 0; k < 16; k++) out[k] = vaddvq_s32(vld1q_s32(wide[k]));
#endif
}

// The GEMM order of matmul_avx2.c: a block of 16 rows is decoded once per 2560-column chunk
// (40 KB of codes) for up to 128 tokens; tiles of 4 tokens keep their activations for the chunk
// (10 KB) in L1 while the 4 row quads of the block pass over them.
static void FN(matmul_ternary)(int t1, const uint8_t *w, int64_t row_bytes, int64_t cols,
                               const int8_t *q, int64_t q_stride, const int32_t *qsum, const float *mult,
                               int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride) {
    _Alignas(16) uint8_t codes[16][DQT_MM_CHUNK];
    int32_t acc[128][16];
    const int64_t padded = dqt_ternary_cols(t1, cols);
    for (int64_t t0 = 0; t0 < n; t0 += 128) {
        const int64_t tn = n - t0 < 128 ? n - t0 : 128;
        for (int64_t rb = r0; rb < r1; rb += 16) {
            const int nr = r1 - rb < 16 ? (int)(r1 - rb) : 16;
            memset(acc, 0, (size_t)tn * sizeof acc[0]);
            for (int64_t c0 = 0; c0 < padded; c0 += DQT_MM_CHUNK) {
                const int64_t len = padded - c0 < DQT_MM_CHUNK ? padded - c0 : DQT_MM_CHUNK;
                for (int rr = 0; rr < nr; rr++) {
                    const uint8_t *row = w + (rb + rr) * row_bytes;
                    if (t1) dqt_decode_t1_codes_neon(row, row_bytes, cols, c0, len, codes[rr]);
                    else dqt_decode_t2_codes_neon(row, cols, c0, len, codes[rr]);
                }
                for (int64_t t = 0; t < tn; t += 4) {
                    const int T = tn - t < 4 ? (int)(tn - t) : 4;
                    const int8_t *qp[4];
                    for (int k = 0; k < 4; k++) qp[k] = q + (t0 + t + (k < T ? k : T - 1)) * q_stride + c0;
                    for (int p = 0; p < nr; p += 4) {
                        const int R = nr - p < 4 ? nr - p : 4;
                        const uint8_t *cw[4];
                        for (int rr = 0; rr < 4; rr++) cw[rr] = codes[p + (rr < R ? rr : R - 1)];
                        int32_t out[16];
                        FN(codes_tile)(cw, qp, len, out);
                        for (int k = 0; k < T; k++)
                            for (int rr = 0; rr < R; rr++) acc[t + k][p + rr] += out[rr * 4 + k];
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

void FN(dqt_matmul_t2)(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                       const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                       float *y, int64_t y_stride) {
    FN(matmul_ternary)(0, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

void FN(dqt_matmul_t1)(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                       const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                       float *y, int64_t y_stride) {
    FN(matmul_ternary)(1, w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}

void FN(dqt_matmul_i8)(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride,
                       const float *mult, int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride) {
    int32_t acc[64][16];
    for (int64_t t0 = 0; t0 < n; t0 += 64) {
        const int64_t tn = n - t0 < 64 ? n - t0 : 64;
        for (int64_t rb = r0; rb < r1; rb += 16) {
            const int nr = r1 - rb < 16 ? (int)(r1 - rb) : 16;
            for (int p = 0; p < nr; p += 2) {
                const int R = nr - p < 2 ? nr - p : 2;
                const int8_t *w0 = w + (rb + p) * cols, *w1 = R == 2 ? w0 + cols : w0;
                for (int64_t t = 0; t < tn; t += 4) {
                    const int T = tn - t < 4 ? (int)(tn - t) : 4;
                    const int8_t *qp[4];
                    for (int k = 0; k < 4; k++) qp[k] = q + (t0 + t + (k < T ? k : T - 1)) * q_stride;
                    int32x4_t a8[8];
                    for (int k = 0; k < 8; k++) a8[k] = vdupq_n_s32(0);
                    int64_t i = 0;
                    for (; i + 16 <= cols; i += 16) {
                        const int8x16_t a = vld1q_s8(w0 + i), b = vld1q_s8(w1 + i);
                        for (int k = 0; k < 4; k++) {
                            const int8x16_t qv = vld1q_s8(qp[k] + i);
                            a8[k] = FN(dot_full)(a8[k], a, qv);
                            a8[4 + k] = FN(dot_full)(a8[4 + k], b, qv);
                        }
                    }
                    int32_t out[8];
                    for (int k = 0; k < 8; k++) out[k] = vaddvq_s32(a8[k]);
                    for (; i < cols; i++)
                        for (int k = 0; k < 4; k++) { out[k] += w0[i] * qp[k][i]; out[4 + k] += w1[i] * qp[k][i]; }
                    for (int k = 0; k < T; k++)
                        for (int rr = 0; rr < R; rr++) acc[t + k][p + rr] = out[rr * 4 + k];
                }
            }
            for (int64_t t = 0; t < tn; t++) {
                float *yt = y + (t0 + t) * y_stride + rb;
                for (int i = 0; i < nr; i++) yt[i] = (float)acc[t][i] * mult[t0 + t];
            }
        }
    }
}
