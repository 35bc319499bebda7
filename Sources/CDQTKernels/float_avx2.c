// AVX2+FMA+F16C float matvec for float-encoded heads and projections (f16, bf16, f32).
#include "avx2_common.h"
#if defined(__x86_64__)

DQT_AVX2_INLINE __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
DQT_AVX2_INLINE __m256 load8_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
DQT_AVX2_INLINE __m256 load8_f32(const float *p) { return _mm256_loadu_ps(p); }

// One row at a time, read front to back with four independent accumulators and no software
// prefetch: the hardware prefetcher follows one sequential stream best. Measured on the 32000 x
// 1536 f16 head (98 MB, from DRAM, 1 thread, this machine's EPYC): 22 GB/s, against 17 GB/s for
// four interleaved rows with a software prefetch one group ahead and 13 GB/s without it.
#define FLOAT_MATVEC(NAME, T, LOAD8, SCALAR)                                                     \
DQT_AVX2 void NAME(const T *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) { \
    for (int64_t r = r0; r < r1; r++) {                                                          \
        const T *row = w + r * cols;                                                             \
        __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;                                     \
        int64_t i = 0;                                                                           \
        for (; i + 32 <= cols; i += 32) {                                                        \
            a = _mm256_fmadd_ps(LOAD8(row + i), _mm256_loadu_ps(x + i), a);                      \
            b = _mm256_fmadd_ps(LOAD8(row + i + 8), _mm256_loadu_ps(x + i + 8), b);              \
            c = _mm256_fmadd_ps(LOAD8(row + i + 16), _mm256_loadu_ps(x + i + 16), c);            \
            d = _mm256_fmadd_ps(LOAD8(row + i + 24), _mm256_loadu_ps(x + i + 24), d);            \
        }                                                                                        \
        for (; i + 8 <= cols; i += 8) a = _mm256_fmadd_ps(LOAD8(row + i), _mm256_loadu_ps(x + i), a); \
        float s = dqt_hsum_ps(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));          \
        for (; i < cols; i++) s += SCALAR(row[i]) * x[i];                                        \
        y[r] = s;                                                                                \
    }                                                                                            \
}

FLOAT_MATVEC(dqt_matvec_f16_avx2, uint16_t, load8_f16, dqt_half_to_float)
FLOAT_MATVEC(dqt_matvec_bf16_avx2, uint16_t, load8_bf16, dqt_bf16_to_float)

// f32 rows: two accumulators over 16-column steps (an 8-column step into the first, the same
// reduction, the scalar tail). Two chains still keep a row's stream ahead of DRAM (0.5 FMA per
// cycle is ~48 GB/s of f32), and they let the multi-position kernel below hold 2 rows × 3
// positions in 12 registers: 10 loads per 12 FMAs instead of 16.
DQT_AVX2 void dqt_matvec_f32_avx2(const float *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const float *row = w + r * cols;
        __m256 a = _mm256_setzero_ps(), b = a;
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a);
            b = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 8), _mm256_loadu_ps(x + i + 8), b);
        }
        for (; i + 8 <= cols; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a);
        float s = dqt_hsum_ps(_mm256_add_ps(a, b));
        for (; i < cols; i++) s += row[i] * x[i];
        y[r] = s;
    }
}

// Several positions against the same rows (the tuner's head forward: n hidden states × V rows):
// y[t·ldy + r] = Σ w[r,i]·x[t·ldx + i], each (row, position) summed exactly as FLOAT_MATVEC sums
// it, so every result equals the matvec's bit for bit. FLOAT_MATVEC's four accumulators are four
// independent sums (accumulator k: the 8 columns at 8k of every 32-column step; the 8-column
// steps after the last full step go into accumulator 0), combined as (a + b) + (c + d), reduced
// horizontally, the scalar tail added last. So a tile runs them one after another: pass k sums
// accumulator k for 3 rows × 4 positions in 12 registers (each converted row vector serves 4
// FMAs, each activation load 3) and parks the 12 sums; the next pass starts from zero. (All four
// accumulators in registers allowed only 1 row × 3 positions: 4 loads per 3 FMAs.) Edge tiles
// repeat the last row or position (computed, not stored). Positions go in tiles of 4 outside
// the rows: a tile's activations (4 × cols floats) stay in L1 while the caller's row block (keep
// it within L2) streams past. Measured on the 32000 × 1536 f16 table, 256 positions, 1 thread,
// this machine's EPYC (harness of the two kernels alternated, best of 5): 21.9–22.4 → 27.6–28.2
// GMAC/s. (Column blocks of 256 inside the passes gained 3% more.) f32 rows take the passes up
// to 768 columns only: at 1536 a tile's data (4 positions + 3 rows, 42 KB) spills L1 and the
// 2 × 3 register tile below is faster (f32, V = 4096, same harness: 192 columns 12.8/20.1 →
// 15.5/23.7 GMAC/s, 384: 21.2/21.7 → 26.7/31.3, 768: 27.6/27.0 → 30.5/30.5, 1536: 27.8/19.1 →
// 21.5/15.1).
#define MV_R 3
#define MV_T 4
#define FLOAT_MATVECS(NAME, T, LOAD8, SCALAR, STEP, NACC)                                          \
DQT_AVX2_INLINE void NAME##_tile(const T *const rp[MV_R], int64_t cols, const float *const xp[MV_T], \
                                 float out[MV_R][MV_T]) {                                          \
    __m256 part[4][MV_R][MV_T];                                                                    \
    const int64_t full = cols / (STEP) * (STEP);                                                   \
    for (int k = 0; k < (NACC); k++) {                                                             \
        __m256 acc[MV_R][MV_T];                                                                    \
        for (int r = 0; r < MV_R; r++) for (int t = 0; t < MV_T; t++) acc[r][t] = _mm256_setzero_ps(); \
        int64_t i = 8 * k;                                                                         \
        for (; i < full; i += (STEP)) {                                                            \
            __m256 w[MV_R];                                                                        \
            for (int r = 0; r < MV_R; r++) w[r] = LOAD8(rp[r] + i);                                \
            for (int t = 0; t < MV_T; t++) {                                                       \
                const __m256 x = _mm256_loadu_ps(xp[t] + i);                                       \
                for (int r = 0; r < MV_R; r++) acc[r][t] = _mm256_fmadd_ps(w[r], x, acc[r][t]);    \
            }                                                                                      \
        }                                                                                          \
        if (k == 0)                                                                                \
            for (i = full; i + 8 <= cols; i += 8)                                                  \
                for (int r = 0; r < MV_R; r++) {                                                   \
                    const __m256 w = LOAD8(rp[r] + i);                                             \
                    for (int t = 0; t < MV_T; t++) acc[r][t] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xp[t] + i), acc[r][t]); \
                }                                                                                  \
        for (int r = 0; r < MV_R; r++) for (int t = 0; t < MV_T; t++) part[k][r][t] = acc[r][t];  \
    }                                                                                              \
    const int64_t tail = full + (cols - full) / 8 * 8;                                             \
    for (int r = 0; r < MV_R; r++)                                                                 \
        for (int t = 0; t < MV_T; t++) {                                                           \
            float s = dqt_hsum_ps((NACC) == 4 ? _mm256_add_ps(_mm256_add_ps(part[0][r][t], part[1][r][t]), \
                                                              _mm256_add_ps(part[2][r][t], part[3][r][t])) \
                                              : _mm256_add_ps(part[0][r][t], part[1][r][t]));      \
            for (int64_t j = tail; j < cols; j++) s += SCALAR(rp[r][j]) * xp[t][j];                \
            out[r][t] = s;                                                                         \
        }                                                                                          \
}                                                                                                  \
DQT_AVX2 void NAME(const T *w, int64_t cols, const float *x, int64_t ldx, int64_t n,               \
                   int64_t r0, int64_t r1, float *y, int64_t ldy) {                                \
    for (int64_t t0 = 0; t0 < n; t0 += MV_T) {                                                     \
        const int TT = n - t0 < MV_T ? (int)(n - t0) : MV_T;                                       \
        const float *xp[MV_T];                                                                     \
        for (int t = 0; t < MV_T; t++) xp[t] = x + (t0 + (t < TT ? t : TT - 1)) * ldx;            \
        for (int64_t r = r0; r < r1; r += MV_R) {                                                  \
            const int RR = r1 - r < MV_R ? (int)(r1 - r) : MV_R;                                   \
            const T *rp[MV_R];                                                                     \
            for (int q = 0; q < MV_R; q++) rp[q] = w + (r + (q < RR ? q : RR - 1)) * cols;         \
            float out[MV_R][MV_T];                                                                 \
            NAME##_tile(rp, cols, xp, out);                                                        \
            for (int q = 0; q < RR; q++)                                                           \
                for (int t = 0; t < TT; t++) y[(t0 + t) * ldy + r + q] = out[q][t];                \
        }                                                                                          \
    }                                                                                              \
}

FLOAT_MATVECS(dqt_matvecs_f16_avx2, uint16_t, load8_f16, dqt_half_to_float, 32, 4)
FLOAT_MATVECS(dqt_matvecs_bf16_avx2, uint16_t, load8_bf16, dqt_bf16_to_float, 32, 4)
// f32 rows (dqt_matvec_f32_avx2's two accumulators over 16-column steps) in passes, for tables
// of at most MV_F32_PASSES_COLS columns (dqt_matvecs_f32_avx2 below).
#define DQT_F32_VALUE(v) (v)
#ifndef MV_F32_PASSES_COLS
#define MV_F32_PASSES_COLS 768
#endif
FLOAT_MATVECS(dqt_matvecs_f32_passes_avx2, float, load8_f32, DQT_F32_VALUE, 16, 2)

// dqt_matvec_f32_avx2 for several positions: a tile of RR ≤ 2 rows × TT ≤ 3 positions, each
// logit summed exactly as the matvec sums it (so every result equals it bit for bit); narrow
// tables go to the passes above.
DQT_AVX2_INLINE void matvecs_f32_tile(const float *const rp[2], const int RR, int64_t cols, const float *const xp[3],
                                      const int TT, float out[2][3]) {
    __m256 a[2][3], b[2][3];
    for (int r = 0; r < RR; r++) for (int t = 0; t < TT; t++) a[r][t] = b[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= cols; i += 16) {
        __m256 w0[2], w1[2];
        for (int r = 0; r < RR; r++) { w0[r] = _mm256_loadu_ps(rp[r] + i); w1[r] = _mm256_loadu_ps(rp[r] + i + 8); }
        for (int t = 0; t < TT; t++) {
            const __m256 x0 = _mm256_loadu_ps(xp[t] + i), x1 = _mm256_loadu_ps(xp[t] + i + 8);
            for (int r = 0; r < RR; r++) {
                a[r][t] = _mm256_fmadd_ps(w0[r], x0, a[r][t]);
                b[r][t] = _mm256_fmadd_ps(w1[r], x1, b[r][t]);
            }
        }
    }
    for (; i + 8 <= cols; i += 8)
        for (int t = 0; t < TT; t++) {
            const __m256 x0 = _mm256_loadu_ps(xp[t] + i);
            for (int r = 0; r < RR; r++) a[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(rp[r] + i), x0, a[r][t]);
        }
    for (int r = 0; r < RR; r++)
        for (int t = 0; t < TT; t++) {
            float s = dqt_hsum_ps(_mm256_add_ps(a[r][t], b[r][t]));
            for (int64_t j = i; j < cols; j++) s += rp[r][j] * xp[t][j];
            out[r][t] = s;
        }
}

DQT_AVX2 void dqt_matvecs_f32_avx2(const float *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                                   int64_t r0, int64_t r1, float *y, int64_t ldy) {
    if (cols <= MV_F32_PASSES_COLS) { dqt_matvecs_f32_passes_avx2(w, cols, x, ldx, n, r0, r1, y, ldy); return; }
    for (int64_t t0 = 0; t0 < n; t0 += 3) {
        const int TT = n - t0 < 3 ? (int)(n - t0) : 3;
        const float *xp[3];
        for (int t = 0; t < 3; t++) xp[t] = x + (t0 + (t < TT ? t : TT - 1)) * ldx;
        for (int64_t r = r0; r < r1; r += 2) {
            const int RR = r1 - r < 2 ? 1 : 2;
            const float *rp[2] = {w + r * cols, w + (r + RR - 1) * cols};
            float out[2][3];
            if (RR == 2) {
                if (TT == 3) matvecs_f32_tile(rp, 2, cols, xp, 3, out);
                else if (TT == 2) matvecs_f32_tile(rp, 2, cols, xp, 2, out);
                else matvecs_f32_tile(rp, 2, cols, xp, 1, out);
            } else {
                if (TT == 3) matvecs_f32_tile(rp, 1, cols, xp, 3, out);
                else if (TT == 2) matvecs_f32_tile(rp, 1, cols, xp, 2, out);
                else matvecs_f32_tile(rp, 1, cols, xp, 1, out);
            }
            for (int q = 0; q < RR; q++)
                for (int t = 0; t < TT; t++) y[(t0 + t) * ldy + r + q] = out[q][t];
        }
    }
}
#endif
