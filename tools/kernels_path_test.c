// Compares every SIMD path this CPU supports (AVX2 on x86-64; NEON and NEON-dotprod on
// aarch64) against the portable path on random and edge shapes. Integer kernels must match
// bit for bit; float kernels within n·2⁻²⁴·Σ|w·x| (+1e-30). Exits 1 on any mismatch.
// The portable path itself is tested against the Swift reference (Tests/DQTKernelsTests).
// Build: cc -O2 -ISources/CDQTKernels/include tools/kernels_path_test.c Sources/CDQTKernels/*.c -lm
#include "dqt_kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static int failures = 0, checks = 0;

#define FAIL(...) do { if (failures++ < 20) { printf("MISMATCH "); printf(__VA_ARGS__); printf("\n"); } } while (0)

static int64_t t2_row_bytes(int64_t k) { return 32 * ((k + 127) / 128); }
static int64_t t1_row_bytes(int64_t k) { return 32 * (k / 160) + ((k % 160) + 4) / 5; }

// Weights with w ∈ {−1,0,1}; mode 0 random, 1 all −1, 2 all +1, 3 all 0.
static int8_t tern(int mode) { return mode == 0 ? (int8_t)(rnd() % 3) - 1 : mode == 1 ? -1 : mode == 2 ? 1 : 0; }

static void pack_t2(const int8_t *wt, int64_t rows, int64_t k, uint8_t *out) {
    const int64_t rb = t2_row_bytes(k);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < rb / 32; b++)
            for (int j = 0; j < 32; j++) {
                uint8_t byte = 0;
                for (int i = 0; i < 4; i++) {
                    int64_t c = 128 * b + 32 * i + j;
                    byte |= (uint8_t)((c < k ? wt[r * k + c] + 1 : 1) << (2 * i));
                }
                out[r * rb + 32 * b + j] = byte;
            }
}

static uint8_t t1_byte(const int d[5]) {
    int qv = d[0] * 81 + d[1] * 27 + d[2] * 9 + d[3] * 3 + d[4];
    return (uint8_t)((qv * 256 + 242) / 243);
}

static void pack_t1(const int8_t *wt, int64_t rows, int64_t k, uint8_t *out) {
    const int64_t rb = t1_row_bytes(k), nf = k / 160, m = ((k % 160) + 4) / 5;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < nf; b++)
            for (int j = 0; j < 32; j++) {
                int d[5];
                for (int n = 0; n < 5; n++) d[n] = wt[r * k + 160 * b + 32 * n + j] + 1;
                out[r * rb + 32 * b + j] = t1_byte(d);
            }
        for (int64_t j = 0; j < m; j++) {
            int d[5];
            for (int n = 0; n < 5; n++) { int64_t c = 160 * nf + m * n + j; d[n] = c < k ? wt[r * k + c] + 1 : 1; }
            out[r * rb + 32 * nf + j] = t1_byte(d);
        }
    }
}

static void fill_q(int8_t *q, int64_t k, int64_t padded, int mode) {
    for (int64_t i = 0; i < padded; i++)
        q[i] = i >= k ? 0 : mode == 0 ? (int8_t)(rnd() & 0xff) : mode == 1 ? -128 : mode == 2 ? 127 : 0;
}

static int32_t sum_q(const int8_t *q, int64_t k) { int32_t s = 0; for (int64_t i = 0; i < k; i++) s += q[i]; return s; }

static void cmp_exact(const char *what, const char *isa, int64_t rows, int64_t k, const float *a, const float *b, int64_t count) {
    checks++;
    if (memcmp(a, b, (size_t)count * 4) != 0) {
        for (int64_t i = 0; i < count; i++)
            if (memcmp(a + i, b + i, 4) != 0) { FAIL("%s %s rows=%lld cols=%lld at %lld: %.9g vs %.9g", what, isa,
                (long long)rows, (long long)k, (long long)i, a[i], b[i]); return; }
    }
}

// ntok_fixed = 0: 1…9 tokens at random; else that many (more than one GEMM token group).
static void test_shape(const dqt_kernel_table *P, const dqt_kernel_table *S, int64_t rows, int64_t k, int wmode, int qmode,
                       int64_t ntok_fixed) {
    const int64_t padded = dqt_padded_cols(k);
    const char *isa = dqt_isa_name(S->isa);
    int8_t *wt = malloc((size_t)(rows * k));
    for (int64_t i = 0; i < rows * k; i++) wt[i] = tern(wmode);
    // Exactly sized weight buffers: an over-read past the last row would show under ASan.
    uint8_t *w2 = malloc((size_t)(rows * t2_row_bytes(k))), *w1 = malloc((size_t)(rows * t1_row_bytes(k)));
    pack_t2(wt, rows, k, w2);
    pack_t1(wt, rows, k, w1);
    int8_t *wi = malloc((size_t)(rows * k));
    for (int64_t i = 0; i < rows * k; i++)
        wi[i] = wmode == 0 ? (int8_t)(rnd() & 0xff) : wmode == 1 ? -128 : wmode == 2 ? 127 : 0;
    float *rs = malloc((size_t)rows * 4);
    for (int64_t r = 0; r < rows; r++) rs[r] = (float)(rnd() % 1000 + 1) * 1e-3f;

    const int64_t ntok = ntok_fixed ? ntok_fixed : 1 + (int64_t)(rnd() % 9);
    int8_t *q = malloc((size_t)(padded * ntok));
    int32_t qs[160]; float mult[160];
    for (int64_t t = 0; t < ntok; t++) {
        fill_q(q + t * padded, k, padded, t == 0 ? qmode : 0);
        qs[t] = sum_q(q + t * padded, k);
        mult[t] = 0.001f * (float)(1 + rnd() % 977);
    }
    float *ya = malloc((size_t)(rows * ntok) * 4), *yb = malloc((size_t)(rows * ntok) * 4);
    const int64_t r0 = rows > 2 ? rnd() % 2 : 0, r1 = rows - (rows > 3 ? rnd() % 2 : 0);
    const float sentinel = -12345.0f;
#define RESET() do { for (int64_t i = 0; i < rows * ntok; i++) ya[i] = yb[i] = sentinel; } while (0)

    RESET();
    P->matvec_t2(w2, t2_row_bytes(k), k, q, qs[0], mult[0], r0, r1, ya);
    S->matvec_t2(w2, t2_row_bytes(k), k, q, qs[0], mult[0], r0, r1, yb);
    cmp_exact("matvec_t2", isa, rows, k, ya, yb, rows);
    // Ternary check independent of both paths: t2 and t1 of the same weights agree.
    float yc[64];
    if (rows <= 64) {
        for (int64_t i = 0; i < rows; i++) yc[i] = sentinel;
        S->matvec_t1(w1, t1_row_bytes(k), k, q, qs[0], mult[0], r0, r1, yc);
        cmp_exact("matvec_t1 vs t2", isa, rows, k, yb, yc, rows);
    }
    RESET();
    P->matvec_t1(w1, t1_row_bytes(k), k, q, qs[0], mult[0], r0, r1, ya);
    S->matvec_t1(w1, t1_row_bytes(k), k, q, qs[0], mult[0], r0, r1, yb);
    cmp_exact("matvec_t1", isa, rows, k, ya, yb, rows);
    RESET();
    P->matvec_i8(wi, k, q, mult[0], r0, r1, ya);
    S->matvec_i8(wi, k, q, mult[0], r0, r1, yb);
    cmp_exact("matvec_i8", isa, rows, k, ya, yb, rows);
    RESET();
    P->matvec_i8r(wi, rs, k, q, mult[0], r0, r1, ya);
    S->matvec_i8r(wi, rs, k, q, mult[0], r0, r1, yb);
    cmp_exact("matvec_i8r", isa, rows, k, ya, yb, rows);

    // matmul: y[t*rows + r]; bit-identical to the portable matmul and to per-token matvec.
    RESET();
    P->matmul_t2(w2, t2_row_bytes(k), k, q, padded, qs, mult, ntok, r0, r1, ya, rows);
    S->matmul_t2(w2, t2_row_bytes(k), k, q, padded, qs, mult, ntok, r0, r1, yb, rows);
    cmp_exact("matmul_t2", isa, rows, k, ya, yb, rows * ntok);
    for (int64_t t = 0; t < ntok; t++) {
        float *yt = ya + t * rows;
        for (int64_t i = 0; i < rows; i++) yt[i] = sentinel;
        S->matvec_t2(w2, t2_row_bytes(k), k, q + t * padded, qs[t], mult[t], r0, r1, yt);
    }
    cmp_exact("matmul_t2 vs matvec", isa, rows, k, ya, yb, rows * ntok);
    RESET();
    P->matmul_t1(w1, t1_row_bytes(k), k, q, padded, qs, mult, ntok, r0, r1, ya, rows);
    S->matmul_t1(w1, t1_row_bytes(k), k, q, padded, qs, mult, ntok, r0, r1, yb, rows);
    cmp_exact("matmul_t1", isa, rows, k, ya, yb, rows * ntok);
    RESET();
    P->matmul_i8(wi, k, q, padded, mult, ntok, r0, r1, ya, rows);
    S->matmul_i8(wi, k, q, padded, mult, ntok, r0, r1, yb, rows);
    cmp_exact("matmul_i8", isa, rows, k, ya, yb, rows * ntok);

    // Float kernels: tolerance n·2⁻²⁴·Σ|w·x| covers any summation order.
    float *x = malloc((size_t)k * 4), *wf = malloc((size_t)(rows * k) * 4);
    uint16_t *wh = malloc((size_t)(rows * k) * 2), *wb = malloc((size_t)(rows * k) * 2);
    for (int64_t i = 0; i < k; i++) x[i] = ((float)(rnd() % 20001) - 10000.0f) * 1e-4f;
    for (int64_t i = 0; i < rows * k; i++) {
        // f16 bits with exponents 1..29 (finite, includes some large values); bf16 from an f32.
        wh[i] = (uint16_t)((rnd() & 0x8000) | ((1 + rnd() % 29) << 10) | (rnd() & 0x3ff));
        wf[i] = ((float)(rnd() % 20001) - 10000.0f) * 1e-3f;
        uint32_t bits; memcpy(&bits, &wf[i], 4); wb[i] = (uint16_t)(bits >> 16);
    }
    for (int kind = 0; kind < 3; kind++) {
        RESET();
        if (kind == 0) { P->matvec_f16(wh, k, x, r0, r1, ya); S->matvec_f16(wh, k, x, r0, r1, yb); }
        if (kind == 1) { P->matvec_bf16(wb, k, x, r0, r1, ya); S->matvec_bf16(wb, k, x, r0, r1, yb); }
        if (kind == 2) { P->matvec_f32(wf, k, x, r0, r1, ya); S->matvec_f32(wf, k, x, r0, r1, yb); }
        checks++;
        for (int64_t r = 0; r < rows; r++) {
            if (r < r0 || r >= r1) {
                if (ya[r] != sentinel || yb[r] != sentinel) FAIL("float kind %d wrote outside rows", kind);
                continue;
            }
            double mag = 0;
            for (int64_t i = 0; i < k; i++) {
                double wv;
                if (kind == 0) { _Float16 h; memcpy(&h, &wh[r * k + i], 2); wv = (double)h; }
                else if (kind == 1) { uint32_t bits = (uint32_t)wb[r * k + i] << 16; float f; memcpy(&f, &bits, 4); wv = f; }
                else wv = wf[r * k + i];
                mag += fabs(wv * x[i]);
            }
            const double tol = (double)k * 5.96e-8 * mag + 1e-30;
            if (fabs((double)ya[r] - (double)yb[r]) > tol)
                FAIL("matvec float kind %d %s rows=%lld cols=%lld row %lld: %.9g vs %.9g (tol %.3g)", kind, isa,
                     (long long)rows, (long long)k, (long long)r, ya[r], yb[r], tol);
        }
    }
    free(x); free(wf); free(wh); free(wb);
    free(wt); free(w2); free(w1); free(wi); free(rs); free(q); free(ya); free(yb);
}

static void test_quantize(const dqt_kernel_table *P, const dqt_kernel_table *S, int64_t n, int mode) {
    const int64_t padded = dqt_padded_cols(n);
    float *x = malloc((size_t)(n ? n : 1) * 4);
    for (int64_t i = 0; i < n; i++) {
        if (mode == 0) x[i] = ((float)(rnd() % 2000001) - 1000000.0f) * 1e-5f;
        else if (mode == 1) x[i] = 0.0f;
        else x[i] = (float)((int)(rnd() % 255) - 127) + 0.5f;   // exact halves: alpha = 127/127.5 makes ties rare
    }
    if (mode == 2 && n > 0) { x[0] = 127.0f; }          // alpha = 1: every x+0.5 is a tie
    if (mode == 2) for (int64_t i = 1; i < n; i++) x[i] = (float)((int)(rnd() % 254) - 127) + 0.5f;
    int8_t *qa = malloc((size_t)padded), *qb = malloc((size_t)padded);
    memset(qa, 0x55, (size_t)padded); memset(qb, 0x55, (size_t)padded);
    int32_t sa = 0, sb = 0;
    float aa = P->quantize_i8(x, n, qa, padded, &sa), ab = S->quantize_i8(x, n, qb, padded, &sb);
    checks++;
    if (aa != ab || sa != sb || memcmp(qa, qb, (size_t)padded) != 0)
        FAIL("quantize %s n=%lld mode=%d: alpha %.9g/%.9g sum %d/%d", dqt_isa_name(S->isa), (long long)n, mode, aa, ab, sa, sb);
    if (mode == 2 && n > 1) {   // half to even: 0.5 → 0, 1.5 → 2, −0.5 → 0, −2.5 → −2
        for (int64_t i = 1; i < n; i++) {
            float v = x[i];
            int expect = (int)nearbyintf(v);
            if (qa[i] != expect || ((int)floorf(v) % 2 == 0 ? expect != (int)floorf(v) : expect != (int)floorf(v) + 1)) {
                FAIL("quantize tie rounding x=%g q=%d", v, qa[i]); break;
            }
        }
    }
    free(x); free(qa); free(qb);
}

int main(void) {
    const dqt_kernel_table *P = dqt_kernels_for_isa(DQT_ISA_PORTABLE);
    printf("detected isa: %s\n", dqt_isa_name(dqt_detect_isa()));
    const int64_t cols[] = {1, 2, 5, 31, 32, 33, 127, 128, 129, 159, 160, 161, 165, 255, 256, 319, 320, 321,
                            640, 1535, 1536, 1537, 2559, 2560, 2561, 4096, 5121, 6912};
    const int64_t rows[] = {1, 2, 3, 4, 5, 7, 9, 33};
    int tested = 0;
    for (int isa = 1; isa < DQT_ISA_COUNT; isa++) {
        const dqt_kernel_table *S = dqt_kernels_for_isa((dqt_isa)isa);
        if (!S) continue;
        tested++;
        const int before = failures, checks0 = checks;
        for (size_t ci = 0; ci < sizeof cols / sizeof cols[0]; ci++) {
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
                test_shape(P, S, rows[ri], cols[ci], 0, 0, 0);
            for (int mode = 1; mode < 4; mode++) {          // all −1 / +1 / 0 weights
                test_shape(P, S, 5, cols[ci], mode, 1, 0);      // with all −128 activations
                test_shape(P, S, 5, cols[ci], mode, 2, 0);      // all 127
                test_shape(P, S, 3, cols[ci], mode, 3, 0);      // zero vector
            }
            for (int mode = 0; mode < 3; mode++) test_quantize(P, S, cols[ci], mode);
        }
        // Two GEMM row blocks (16 + 5) and two token groups (128 + 5) with partial tiles.
        for (int64_t k = 161; k <= 2561; k += 1200) test_shape(P, S, 21, k, 0, 0, 133);
        test_quantize(P, S, 0, 0);
        printf("%-13s %5d checks, %d mismatches\n", dqt_isa_name((dqt_isa)isa), checks - checks0, failures - before);
    }
    if (tested == 0) printf("no SIMD path on this CPU: nothing to compare\n");
    printf("%s\n", failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
