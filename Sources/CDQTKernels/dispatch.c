// Path selection: detect the CPU once, route every dqt_* call through one table.
#include "internal.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

// MARK: - tables

static const dqt_kernel_table portable_table = {
    DQT_ISA_PORTABLE, dqt_quantize_i8_portable,
    dqt_matvec_t2_portable, dqt_matvec_t1_portable, dqt_matvec_i8_portable, dqt_matvec_i8r_portable,
    dqt_matvec_f16_portable, dqt_matvec_bf16_portable, dqt_matvec_f32_portable,
    dqt_matmul_t2_portable, dqt_matmul_t1_portable, dqt_matmul_i8_portable,
    dqt_attention_head_portable, dqt_gated_activation_portable,
    dqt_attention_head_f16_portable, dqt_f32_to_f16_portable, dqt_exp_sum_portable,
};

#if defined(__x86_64__)
static const dqt_kernel_table avx2_table = {
    DQT_ISA_AVX2, dqt_quantize_i8_avx2,
    dqt_matvec_t2_avx2, dqt_matvec_t1_avx2, dqt_matvec_i8_avx2, dqt_matvec_i8r_avx2,
    dqt_matvec_f16_avx2, dqt_matvec_bf16_avx2, dqt_matvec_f32_avx2,
    dqt_matmul_t2_avx2, dqt_matmul_t1_avx2, dqt_matmul_i8_avx2,
    dqt_attention_head_avx2, dqt_gated_activation_avx2,
    dqt_attention_head_f16_avx2, dqt_f32_to_f16_avx2, dqt_exp_sum_avx2,
};
#endif

#if defined(__x86_64__)
static const dqt_kernel_table avx512_vnni_table = {
    DQT_ISA_AVX512_VNNI, dqt_quantize_i8_avx2,
    dqt_matvec_t2_avx2, dqt_matvec_t1_vnni, dqt_matvec_i8_avx2, dqt_matvec_i8r_avx2,
    dqt_matvec_f16_avx2, dqt_matvec_bf16_avx2, dqt_matvec_f32_avx2,
    dqt_matmul_t2_vnni, dqt_matmul_t1_vnni, dqt_matmul_i8_avx2,
    dqt_attention_head_avx2, dqt_gated_activation_avx2,
    dqt_attention_head_f16_avx2, dqt_f32_to_f16_avx2, dqt_exp_sum_avx2,
};
#endif

#if defined(__aarch64__)
static const dqt_kernel_table neon_table = {
    DQT_ISA_NEON, dqt_quantize_i8_neon,
    dqt_matvec_t2_neon, dqt_matvec_t1_neon, dqt_matvec_i8_neon, dqt_matvec_i8r_neon,
    dqt_matvec_f16_neon, dqt_matvec_bf16_neon, dqt_matvec_f32_neon,
    dqt_matmul_t2_neon, dqt_matmul_t1_neon, dqt_matmul_i8_neon,
    dqt_attention_head_portable, dqt_gated_activation_portable,
    dqt_attention_head_f16_portable, dqt_f32_to_f16_portable, dqt_exp_sum_portable,
};
static const dqt_kernel_table neon_dotprod_table = {
    DQT_ISA_NEON_DOTPROD, dqt_quantize_i8_neon,
    dqt_matvec_t2_neondp, dqt_matvec_t1_neondp, dqt_matvec_i8_neondp, dqt_matvec_i8r_neondp,
    dqt_matvec_f16_neon, dqt_matvec_bf16_neon, dqt_matvec_f32_neon,
    dqt_matmul_t2_neondp, dqt_matmul_t1_neondp, dqt_matmul_i8_neondp,
    dqt_attention_head_portable, dqt_gated_activation_portable,
    dqt_attention_head_f16_portable, dqt_f32_to_f16_portable, dqt_exp_sum_portable,
};
#endif

// MARK: - detection

#if defined(__x86_64__)
static int x86_has_avx2_fma_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return 0;
    unsigned xlo, xhi;   // the OS must save ymm state: XCR0 bits 1 (SSE) and 2 (AVX)
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 6) != 6) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;   // AVX2
}

static int x86_has_avx512_vnni(void) {
    if (!x86_has_avx2_fma_f16c()) return 0;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    const int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (!(f && bw && vl && vnni)) return 0;
    unsigned xlo, xhi;   // the OS must save opmask and zmm state: XCR0 bits 5, 6, 7 (and 1, 2)
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    return (xlo & 0xe6) == 0xe6;
}
#endif

static int isa_supported(dqt_isa isa) {
    switch (isa) {
    case DQT_ISA_PORTABLE: return 1;
#if defined(__x86_64__)
    case DQT_ISA_AVX2: return x86_has_avx2_fma_f16c();
    case DQT_ISA_AVX512_VNNI: return x86_has_avx512_vnni();
#endif
#if defined(__aarch64__)
    case DQT_ISA_NEON: return 1;   // Advanced SIMD is mandatory on aarch64
    case DQT_ISA_NEON_DOTPROD:
#if defined(__linux__)
        return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
        return 1;                  // every Apple aarch64 core has dotprod
#else
        return 0;
#endif
#endif
    default: return 0;
    }
}

dqt_isa dqt_detect_isa(void) {
    static const dqt_isa order[] = {DQT_ISA_NEON_DOTPROD, DQT_ISA_NEON, DQT_ISA_AVX512_VNNI, DQT_ISA_AVX2};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (isa_supported(order[i])) return order[i];
    return DQT_ISA_PORTABLE;
}

const dqt_kernel_table *dqt_kernels_for_isa(dqt_isa isa) {
    if (!isa_supported(isa)) return NULL;
    switch (isa) {
    case DQT_ISA_PORTABLE: return &portable_table;
#if defined(__x86_64__)
    case DQT_ISA_AVX2: return &avx2_table;
    case DQT_ISA_AVX512_VNNI: return &avx512_vnni_table;
#endif
#if defined(__aarch64__)
    case DQT_ISA_NEON: return &neon_table;
    case DQT_ISA_NEON_DOTPROD: return &neon_dotprod_table;
#endif
    default: return NULL;
    }
}

const char *dqt_isa_name(dqt_isa isa) {
    switch (isa) {
    case DQT_ISA_PORTABLE: return "portable";
    case DQT_ISA_AVX2: return "avx2";
    case DQT_ISA_NEON: return "neon";
    case DQT_ISA_NEON_DOTPROD: return "neon-dotprod";
    case DQT_ISA_AVX512_VNNI: return "avx512-vnni";
    default: return "?";
    }
}

// MARK: - process default (detected on first use; racing first uses store the same pointer)

int dqt_isa_from_name(const char *name, dqt_isa *isa) {
    for (int i = 0; name != NULL && i < DQT_ISA_COUNT; i++)
        if (strcmp(name, dqt_isa_name((dqt_isa)i)) == 0) { *isa = (dqt_isa)i; return 0; }
    return -1;
}

static const dqt_kernel_table *default_table;   // accessed only with __atomic builtins

static inline const dqt_kernel_table *K(void) {
    const dqt_kernel_table *t = __atomic_load_n(&default_table, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t == NULL, 0)) {
        t = dqt_kernels_for_isa(dqt_default_isa());
        __atomic_store_n(&default_table, t, __ATOMIC_RELEASE);
    }
    return t;
}

dqt_isa dqt_default_isa(void) {
    dqt_isa want;
    if (dqt_isa_from_name(getenv("DQT_ISA"), &want) == 0 && dqt_kernels_for_isa(want) != NULL) return want;
    return dqt_detect_isa();
}

int64_t dqt_padded_cols(int64_t cols) {
    const int64_t a = dqt_align(cols, DQT_T2_BLOCK), b = dqt_align(cols, DQT_T1_BLOCK);
    return a > b ? a : b;
}

// MARK: - public entry points

float dqt_quantize_i8(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum) {
    return K()->quantize_i8(x, n, q, n_padded, sum);
}
void dqt_matvec_t2(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int32_t qsum,
                   float mult, int64_t r0, int64_t r1, float *y) {
    K()->matvec_t2(w, row_bytes, cols, q, qsum, mult, r0, r1, y);
}
void dqt_matvec_t1(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int32_t qsum,
                   float mult, int64_t r0, int64_t r1, float *y) {
    K()->matvec_t1(w, row_bytes, cols, q, qsum, mult, r0, r1, y);
}
void dqt_matvec_i8(const int8_t *w, int64_t cols, const int8_t *q, float mult, int64_t r0, int64_t r1, float *y) {
    K()->matvec_i8(w, cols, q, mult, r0, r1, y);
}
void dqt_matvec_i8r(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q, float mult,
                    int64_t r0, int64_t r1, float *y) {
    K()->matvec_i8r(w, rowscale, cols, q, mult, r0, r1, y);
}
void dqt_matvec_f16(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    K()->matvec_f16(w, cols, x, r0, r1, y);
}
// n positions against the same rows: the AVX2 multi-position tile where the table's matvec is the
// AVX2 one (same sums, see float_avx2.c), else n calls of the table's matvec.
#if defined(__x86_64__)
#define MATVECS_AVX2(ENC) \
    if (k->matvec_##ENC == dqt_matvec_##ENC##_avx2) { dqt_matvecs_##ENC##_avx2(w, cols, x, ldx, n, r0, r1, y, ldy); return; }
#else
#define MATVECS_AVX2(ENC)
#endif
#define MATVECS(ENC, T)                                                                           \
void dqt_matvecs_##ENC(const T *w, int64_t cols, const float *x, int64_t ldx, int64_t n,          \
                       int64_t r0, int64_t r1, float *y, int64_t ldy) {                           \
    const dqt_kernel_table *k = K();                                                              \
    MATVECS_AVX2(ENC)                                                                             \
    for (int64_t t = 0; t < n; t++) k->matvec_##ENC(w, cols, x + t * ldx, r0, r1, y + t * ldy);   \
}
MATVECS(f16, uint16_t)
MATVECS(bf16, uint16_t)
MATVECS(f32, float)
void dqt_matvec_bf16(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    K()->matvec_bf16(w, cols, x, r0, r1, y);
}
void dqt_matvec_f32(const float *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {
    K()->matvec_f32(w, cols, x, r0, r1, y);
}
void dqt_matmul_t2(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                   const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                   float *y, int64_t y_stride) {
    K()->matmul_t2(w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}
void dqt_matmul_t1(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                   const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                   float *y, int64_t y_stride) {
    K()->matmul_t1(w, row_bytes, cols, q, q_stride, qsum, mult, n, r0, r1, y, y_stride);
}
void dqt_matmul_i8(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride, const float *mult,
                   int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride) {
    K()->matmul_i8(w, cols, q, q_stride, mult, n, r0, r1, y, y_stride);
}
void dqt_attention_head(const float *q, const float *keys, const float *values, int64_t kv_stride,
                        int64_t n, int64_t head_dim, float scale, float *scores, float *out) {
    K()->attention_head(q, keys, values, kv_stride, n, head_dim, scale, scores, out);
}
float dqt_exp_sum(float *x, int64_t n, float m) { return K()->exp_sum(x, n, m); }
void dqt_gated_activation(int relu2, float *gate, const float *up, int64_t n) {
    K()->gated_activation(relu2, gate, up, n);
}
void dqt_attention_head_f16(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                            int64_t n, int64_t head_dim, float scale, float *scores, float *out) {
    K()->attention_head_f16(q, keys, values, kv_stride, n, head_dim, scale, scores, out);
}
void dqt_f32_to_f16(const float *x, uint16_t *y, int64_t n) { K()->f32_to_f16(x, y, n); }
float dqt_half_to_f32(uint16_t h) { return dqt_half_to_float(h); }
