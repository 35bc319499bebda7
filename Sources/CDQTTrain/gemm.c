// The tuner's float GEMM: C[M, N] (+)= A[M, K]·B[K, N] with packed panels (the BLIS/GotoBLAS
// structure): B is packed in blocks of KC×NC into micro-panels of NR = 16 columns, A in blocks
// of MC×KC into micro-panels of MR = 6 rows, and a 6×16 register tile (12 ymm accumulators on
// AVX2+FMA) runs over one A and one B micro-panel. Operands are read where they are: float
// row-major, the transpose of a row-major matrix (dyᵀ for weight gradients: no transposed
// copy), or a packed weight tensor decoded straight into B's panels (t2, t1, i8, i8r, f16, bf16,
// f32 rows: dx = dy·W without a float copy of W).
//
// Order of operations: every C element is one fused multiply-add chain over k = 0, 1, …, K−1,
// starting from C's old value (accumulate) or from zero — on every path, whatever the blocking,
// the edges or the caller's split of M and N. So results are bit-identical across paths, tile
// sizes and thread counts (the portable path uses fmaf, which compilers map to NEON fmla).
#include "dqt_train.h"
#include "cpu.h"
#include <math.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 144
#define NC 1024

size_t dqtt_gemm_scratch_floats(void) { return (size_t)MC * KC + (size_t)KC * NC + NC + MR * NR; }

size_t dqtt_packed_b_floats(int64_t K, int64_t N) { return (size_t)K * (size_t)((N + NR - 1) / NR * NR); }

// MARK: - micro-kernels: c[MR×NR] (ldc) (+)= Σ_k a[k·MR + r]·b[k·NR + j]

static void kernel_portable(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++) {
        const float *bk = b + k * NR, *ak = a + k * MR;
        for (int r = 0; r < MR; r++) {
            const float ar = ak[r];
            for (int j = 0; j < NR; j++) acc[r][j] = fmaf(ar, bk[j], acc[r][j]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) c[r * ldc + j] = acc[r][j];
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static void kernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (load) {
        c00 = _mm256_loadu_ps(c); c01 = _mm256_loadu_ps(c + 8);
        c10 = _mm256_loadu_ps(c + ldc); c11 = _mm256_loadu_ps(c + ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 t = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01);
        t = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11);
        t = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21);
        t = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31);
        t = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(t, b0, c40); c41 = _mm256_fmadd_ps(t, b1, c41);
        t = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(t, b0, c50); c51 = _mm256_fmadd_ps(t, b1, c51);
        a += MR;
        b += NR;
    }
    _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01);
    _mm256_storeu_ps(c + ldc, c10); _mm256_storeu_ps(c + ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}
#endif

typedef void (*kernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load);

// MARK: - packing

_Static_assert(MR == 6, "pack_a unrolls MR rows");

// A block rows i0..<i0+mc, k0..<k0+kc into micro-panels pa[p][k][r] (rows past mc are zero).
static void pack_a(const dqtt_operand *A, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float *pa) {
    for (int64_t p = 0; p < mc; p += MR) {
        const int64_t m = mc - p < MR ? mc - p : MR;
        float *dst = pa + p * kc;
        const float *src = (const float *)A->p;
        if (A->kind == DQTT_F32_T) {
            // A[i][k] = src[k·ld + i]: MR consecutive floats per k.
            const float *s = src + (A->row0 + k0) * A->ld + A->col0 + i0 + p;
            if (m == MR) {
                for (int64_t k = 0; k < kc; k++) memcpy(dst + k * MR, s + k * A->ld, MR * sizeof(float));
            } else {
                for (int64_t k = 0; k < kc; k++) {
                    int r = 0;
                    for (; r < m; r++) dst[k * MR + r] = s[k * A->ld + r];
                    for (; r < MR; r++) dst[k * MR + r] = 0;
                }
            }
        } else {
            // k outside: the panel is written front to back while its MR rows are read as streams.
            const float *s = src + (A->row0 + i0 + p) * A->ld + A->col0 + k0;
            const int64_t ld = A->ld;
            if (m == MR) {
                const float *r0 = s, *r1 = s + ld, *r2 = s + 2 * ld, *r3 = s + 3 * ld, *r4 = s + 4 * ld, *r5 = s + 5 * ld;
                for (int64_t k = 0; k < kc; k++) {
                    float *d = dst + k * MR;
                    d[0] = r0[k]; d[1] = r1[k]; d[2] = r2[k]; d[3] = r3[k]; d[4] = r4[k]; d[5] = r5[k];
                }
            } else {
                for (int64_t k = 0; k < kc; k++) {
                    int64_t r = 0;
                    for (; r < m; r++) dst[k * MR + r] = s[r * ld + k];
                    for (; r < MR; r++) dst[k * MR + r] = 0;
                }
            }
        }
    }
}

// One row segment of B (row k of the logical B, columns j0..<j0+n) as floats into out.
static inline const float *b_row(const dqtt_operand *B, int64_t k, int64_t j0, int64_t n, float *tmp) {
    if (B->kind == DQTT_F32) return (const float *)B->p + (B->row0 + k) * B->ld + B->col0 + j0;
    const int64_t r = B->row0 + k, c0 = B->col0 + j0;
    dqtt_decode_rows(B->encoding, B->p, B->ld, B->wcols, r, r + 1, c0, c0 + n, B->scale, B->rowscale, tmp, n);
    return tmp;
}

// B rows k0..<k0+kc, columns j0..<j0+nc into micro-panels pb[p][k][j] with panel stride
// `pstride` floats (columns past nc are zero). tmp: nc floats.
static void pack_b(const dqtt_operand *B, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *pb, int64_t pstride,
                   float *tmp) {
    const int64_t full = nc / NR * NR;
    for (int64_t k = 0; k < kc; k++) {
        const float *row = b_row(B, k0 + k, j0, nc, tmp);
        float *dst = pb + k * NR;
        int64_t j = 0;
        for (; j < full; j += NR) memcpy(dst + (j / NR) * pstride, row + j, NR * sizeof(float));
        if (j < nc) {
            float *d = dst + (j / NR) * pstride;
            int64_t c = 0;
            for (; c < nc - j; c++) d[c] = row[j + c];
            for (; c < NR; c++) d[c] = 0;
        }
    }
}

void dqtt_pack_b(int64_t K, int64_t N, const dqtt_operand *B, int64_t p0, int64_t p1, float *packed, float *tmp) {
    // Panel p holds columns 16p..<16p+16 for every k: packed[p·K·16 + k·16 + j]. Decoded in
    // chunks of NC columns (tmp holds one decoded row segment).
    const int64_t panels = (N + NR - 1) / NR;
    if (p1 > panels) p1 = panels;
    for (int64_t p = p0; p < p1; p += NC / NR) {
        const int64_t j0 = p * NR, j1 = (p + NC / NR < p1 ? p + NC / NR : p1) * NR;
        const int64_t nc = (j1 < N ? j1 : N) - j0;
        pack_b(B, 0, K, j0, nc, packed + p * K * NR, K * NR, tmp);
    }
}

// MARK: - driver

// C tile of m×n (≤ MR×NR) through a zero-padded temporary so edge tiles use the same kernel.
static void edge_tile(kernel_fn kern, int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load,
                      int64_t m, int64_t n, float *t) {
    for (int64_t r = 0; r < MR; r++)
        for (int64_t j = 0; j < NR; j++) t[r * NR + j] = (load && r < m && j < n) ? c[r * ldc + j] : 0.0f;
    kern(kc, a, b, t, NR, load);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) c[r * ldc + j] = t[r * NR + j];
}

// C[mc×nc] (+)= packed A block · packed B block (B panels `pstride` apart).
static void macro(kernel_fn kern, int64_t mc, int64_t nc, int64_t kc, const float *pa, const float *pb, int64_t pstride,
                  float *c, int64_t ldc, int load, float *t) {
    for (int64_t j = 0; j < nc; j += NR) {
        const float *b = pb + (j / NR) * pstride;
        const int64_t n = nc - j < NR ? nc - j : NR;
        for (int64_t i = 0; i < mc; i += MR) {
            const int64_t m = mc - i < MR ? mc - i : MR;
            float *ct = c + i * ldc + j;
            if (m == MR && n == NR) kern(kc, pa + i * kc, b, ct, ldc, load);
            else edge_tile(kern, kc, pa + i * kc, b, ct, ldc, load, m, n, t);
        }
    }
}

static kernel_fn pick(int path) {
#if defined(__x86_64__)
    if (path != 0 && dqtt_cpu_avx2()) return kernel_avx2;
#endif
    if (path == 1) return NULL;
    return kernel_portable;
}

static void gemm(kernel_fn kern, int64_t M, int64_t N, int64_t K, const dqtt_operand *A, const dqtt_operand *B,
                 const float *packed, float *C, int64_t ldc, int accumulate, float *scratch) {
    float *pa = scratch, *pb = pa + MC * KC, *tmp = pb + KC * NC, *t = tmp + NC;
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        const int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = K - k0 < KC ? K - k0 : KC;
            const float *b;
            int64_t pstride;
            if (packed) {   // whole B packed by dqtt_pack_b: panel stride K·16
                b = packed + (j0 / NR) * K * NR + k0 * NR;
                pstride = K * NR;
            } else {
                pack_b(B, k0, kc, j0, nc, pb, kc * NR, tmp);
                b = pb;
                pstride = kc * NR;
            }
            const int load = accumulate || k0 > 0;
            for (int64_t i0 = 0; i0 < M; i0 += MC) {
                const int64_t mc = M - i0 < MC ? M - i0 : MC;
                pack_a(A, i0, mc, k0, kc, pa);
                macro(kern, mc, nc, kc, pa, b, pstride, C + i0 * ldc + j0, ldc, load, t);
            }
        }
    }
}

int dqtt_gemm_path(int path, int64_t M, int64_t N, int64_t K, const dqtt_operand *A, const dqtt_operand *B,
                   const float *packed_b, float *C, int64_t ldc, int accumulate, float *scratch) {
    const kernel_fn kern = pick(path);
    if (!kern) return -1;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return 0;
    }
    gemm(kern, M, N, K, A, B, packed_b, C, ldc, accumulate, scratch);
    return 0;
}

void dqtt_gemm(int64_t M, int64_t N, int64_t K, const dqtt_operand *A, const dqtt_operand *B, const float *packed_b,
               float *C, int64_t ldc, int accumulate, float *scratch) {
    (void)dqtt_gemm_path(2, M, N, K, A, B, packed_b, C, ldc, accumulate, scratch);
}

const char *dqtt_path(void) {
#if defined(__x86_64__)
    if (dqtt_cpu_avx2()) return "avx2";
#endif
    return "portable";
}
