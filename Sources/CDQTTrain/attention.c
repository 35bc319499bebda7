// Causal attention backward for the tuner (see dqt_train.h), in blocks of BQ query rows so that
// every product is a small GEMM (4×16 register tiles on AVX2+FMA) instead of one 32-element dot
// or axpy per (query, key) pair — at head_dim 32 those spent their time in horizontal sums and
// in loading and storing dk/dv rows once per pair. Per block [i0, i1), keys 0..<i1:
//   S  = Q_blk·Kᵀ·scale → P = softmax rows (causal)     dP = dO_blk·Vᵀ
//   dS = P∘(dP − rowsum(P∘dP))·scale
//   dq_blk += dS·K,   dk[0..<i1) += dSᵀ·Q_blk,   dv[0..<i1) += Pᵀ·dO_blk
// Kᵀ and Vᵀ (head_dim × Tp) are transposed once per call so the score products stream them.
#include "dqt_train.h"
#include "dqt_kernels.h"
#include "cpu.h"
#include <math.h>
#include <string.h>

#define BQ 32   // query rows per block: S and dS are BQ × Tp floats each

static inline int64_t pad16(int64_t n) { return (n + 15) & ~(int64_t)15; }

size_t dqtt_attention_scratch_floats(int64_t T, int64_t hd) {
    const int64_t Tp = pad16(T);
    return (size_t)(2 * hd * Tp + 2 * BQ * Tp);
}

// C[m, n] (= or +=) A[m, k]·B[k, n] with A[r, p] = A[r·ars + p·aks], B row-major (ldb), C (ldc).
typedef void (*mm_fn)(int64_t m, int64_t n, int64_t k, const float *A, int64_t ars, int64_t aks,
                      const float *B, int64_t ldb, float *C, int64_t ldc, int acc);

// One query row of the block: p[0..<n) = softmax(p·scale) (the raw scores in), ds[0..<n) =
// p∘(dp − Σ p∘dp)·scale (dp in); exp_sum as dqt_exp_sum.
typedef void (*row_fn)(float *p, float *ds, int64_t n, float scale, float (*exp_sum)(float *, int64_t, float));

static void row_portable(float *p, float *ds, int64_t n, float scale, float (*exp_sum)(float *, int64_t, float)) {
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        p[j] *= scale;
        if (p[j] > m) m = p[j];
    }
    const float inv = 1.0f / exp_sum(p, n, m);
    float pd = 0;
    for (int64_t j = 0; j < n; j++) {
        p[j] *= inv;
        pd += p[j] * ds[j];
    }
    for (int64_t j = 0; j < n; j++) ds[j] = p[j] * (ds[j] - pd) * scale;
}

static void mm_portable(int64_t m, int64_t n, int64_t k, const float *A, int64_t ars, int64_t aks,
                        const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    for (int64_t r = 0; r < m; r++) {
        float *c = C + r * ldc;
        if (!acc) memset(c, 0, (size_t)n * sizeof(float));
        for (int64_t p = 0; p < k; p++) {
            const float a = A[r * ars + p * aks];
            const float *b = B + p * ldb;
            for (int64_t j = 0; j < n; j++) c[j] += a * b[j];
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX2_TILE static inline __attribute__((always_inline, target("avx2,fma")))

// One MR × 8·NV tile of C over the whole k (MR ≤ 4, NV ≤ 2: ≤ 8 accumulators).
AVX2_TILE void tile_avx2(int MR, int NV, int64_t k, const float *A, int64_t ars, int64_t aks,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    __m256 c[4][2];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) c[r][v] = acc ? _mm256_loadu_ps(C + r * ldc + 8 * v) : _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m256 b[2];
        for (int v = 0; v < NV; v++) b[v] = _mm256_loadu_ps(B + p * ldb + 8 * v);
        for (int r = 0; r < MR; r++) {
            const __m256 a = _mm256_broadcast_ss(A + r * ars + p * aks);
            for (int v = 0; v < NV; v++) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(C + r * ldc + 8 * v, c[r][v]);
}

AVX2_TILE void rows_avx2(int MR, int64_t n, int64_t k, const float *A, int64_t ars, int64_t aks,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) tile_avx2(MR, 2, k, A, ars, aks, B + j, ldb, C + j, ldc, acc);
    for (; j + 8 <= n; j += 8) tile_avx2(MR, 1, k, A, ars, aks, B + j, ldb, C + j, ldc, acc);
    for (; j < n; j++)
        for (int r = 0; r < MR; r++) {
            float s = acc ? C[r * ldc + j] : 0;
            for (int64_t p = 0; p < k; p++) s = fmaf(A[r * ars + p * aks], B[p * ldb + j], s);
            C[r * ldc + j] = s;
        }
}

AVX2 static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

AVX2 static void row_avx2(float *p, float *ds, int64_t n, float scale, float (*exp_sum)(float *, int64_t, float)) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(p + j), vs);
        _mm256_storeu_ps(p + j, x);
        vm = _mm256_max_ps(vm, x);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float m = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    for (; j < n; j++) {
        p[j] *= scale;
        if (p[j] > m) m = p[j];
    }
    const float inv = 1.0f / exp_sum(p, n, m);
    const __m256 vi = _mm256_set1_ps(inv);
    __m256 acc = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(p + j), vi);
        _mm256_storeu_ps(p + j, x);
        acc = _mm256_fmadd_ps(x, _mm256_loadu_ps(ds + j), acc);
    }
    float pd = hsum_avx2(acc);
    for (; j < n; j++) {
        p[j] *= inv;
        pd += p[j] * ds[j];
    }
    const __m256 vpd = _mm256_set1_ps(pd);
    for (j = 0; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_loadu_ps(p + j);
        _mm256_storeu_ps(ds + j, _mm256_mul_ps(_mm256_mul_ps(x, _mm256_sub_ps(_mm256_loadu_ps(ds + j), vpd)), vs));
    }
    for (; j < n; j++) ds[j] = p[j] * (ds[j] - pd) * scale;
}

AVX2 static void mm_avx2(int64_t m, int64_t n, int64_t k, const float *A, int64_t ars, int64_t aks,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    int64_t r = 0;
    for (; r + 4 <= m; r += 4) rows_avx2(4, n, k, A + r * ars, ars, aks, B, ldb, C + r * ldc, ldc, acc);
    switch (m - r) {
    case 3: rows_avx2(3, n, k, A + r * ars, ars, aks, B, ldb, C + r * ldc, ldc, acc); break;
    case 2: rows_avx2(2, n, k, A + r * ars, ars, aks, B, ldb, C + r * ldc, ldc, acc); break;
    case 1: rows_avx2(1, n, k, A + r * ars, ars, aks, B, ldb, C + r * ldc, ldc, acc); break;
    default: break;
    }
}
#endif

// dst[d·Tp + j] = src[j·ld + d] for j < T (d < hd), and 0 for T ≤ j < Tp.
static void transpose(const float *src, int64_t ld, int64_t T, int64_t hd, int64_t Tp, float *dst) {
    for (int64_t d = 0; d < hd; d++) {
        float *row = dst + d * Tp;
        for (int64_t j = 0; j < T; j++) row[j] = src[j * ld + d];
        for (int64_t j = T; j < Tp; j++) row[j] = 0;
    }
}

static void backward(mm_fn mm, row_fn row, float (*exp_sum)(float *, int64_t, float), int64_t T, int64_t hd, float scale,
                     const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                     float *dq, float *dk, float *dv, float *scratch) {
    const int64_t Tp = pad16(T);
    float *kt = scratch, *vt = kt + hd * Tp, *S = vt + hd * Tp, *D = S + BQ * Tp;
    transpose(k, ldkv, T, hd, Tp, kt);
    transpose(v, ldkv, T, hd, Tp, vt);
    for (int64_t i0 = 0; i0 < T; i0 += BQ) {
        const int64_t i1 = i0 + BQ < T ? i0 + BQ : T, bq = i1 - i0;
        // Scores and dP, in groups of 4 rows: a group needs the keys up to its last row.
        for (int64_t r0 = 0; r0 < bq; r0 += 4) {
            const int64_t rn = bq - r0 < 4 ? bq - r0 : 4, cols = pad16(i0 + r0 + rn);
            mm(rn, cols, hd, q + (i0 + r0) * ldq, ldq, 1, kt, Tp, S + r0 * Tp, Tp, 0);
            mm(rn, cols, hd, dout + (i0 + r0) * ldq, ldq, 1, vt, Tp, D + r0 * Tp, Tp, 0);
        }
        for (int64_t r = 0; r < bq; r++) {
            const int64_t n = i0 + r + 1;   // keys 0..<n
            float *p = S + r * Tp, *ds = D + r * Tp;
            row(p, ds, n, scale, exp_sum);
            // Later keys of the block take no part: zeros, read by the dk/dv products.
            for (int64_t j = n; j < i1; j++) p[j] = ds[j] = 0;
        }
        for (int64_t r0 = 0; r0 < bq; r0 += 4) {
            const int64_t rn = bq - r0 < 4 ? bq - r0 : 4;
            mm(rn, hd, i0 + r0 + rn, D + r0 * Tp, Tp, 1, k, ldkv, dq + (i0 + r0) * ldq, ldq, 1);
        }
        mm(i1, hd, bq, D, 1, Tp, q + i0 * ldq, ldq, dk, ldkv, 1);
        mm(i1, hd, bq, S, 1, Tp, dout + i0 * ldq, ldq, dv, ldkv, 1);
    }
}

int dqtt_attention_backward_path(int path, int64_t T, int64_t hd, float scale,
                                 const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                                 float *dq, float *dk, float *dv, float *scratch) {
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2()) {
        backward(mm_avx2, row_avx2, dqtt_avx2_kernels()->exp_sum, T, hd, scale, q, k, v, dout, ldq, ldkv, dq, dk, dv, scratch);
        return 0;
    }
#endif
    if (path == 1) return -1;
    backward(mm_portable, row_portable, dqt_kernels_for_isa(DQT_ISA_PORTABLE)->exp_sum, T, hd, scale, q, k, v, dout, ldq, ldkv, dq, dk, dv,
             scratch);
    return 0;
}

void dqtt_attention_backward(int64_t T, int64_t hd, float scale,
                             const float *q, const float *k, const float *v, const float *dout, int64_t ldq, int64_t ldkv,
                             float *dq, float *dk, float *dv, float *scratch) {
    (void)dqtt_attention_backward_path(2, T, hd, scale, q, k, v, dout, ldq, ldkv, dq, dk, dv, scratch);
}
