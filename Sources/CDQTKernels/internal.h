// Private to CDQTKernels: per-path kernel declarations and small shared helpers.
#ifndef DQT_INTERNAL_H
#define DQT_INTERNAL_H

#include "dqt_kernels.h"
#include <string.h>

#define DQT_T2_BLOCK 128   // weights per t2 block (32 bytes)
#define DQT_T1_BLOCK 160   // weights per t1 full block (32 bytes)

// Matmul decodes weight rows into one code byte per weight (w+1 ∈ {0,1,2}) in column
// chunks of this many weights (a multiple of 640 = lcm(128, 160), so chunks start on
// block boundaries of both ternary layouts), then reuses the codes for every token.
#define DQT_MM_CHUNK 2560

static inline int64_t dqt_align(int64_t x, int64_t a) { return (x + a - 1) / a * a; }
// Columns a ternary row covers in whole blocks: the GEMMs stop there. dqt_padded_cols (the
// activation rows' length) is the larger of the two layouts' and reaches further for one of them
// (t2 at 1536 columns: 1600, 4% of zero products; at 192: 320 instead of 256).
static inline int64_t dqt_ternary_cols(int t1, int64_t cols) { return dqt_align(cols, t1 ? DQT_T1_BLOCK : DQT_T2_BLOCK); }

// IEEE binary16 bits -> binary32 (exact, including subnormals, inf, nan).
static inline float dqt_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        // subnormal: value = man · 2^-24; normalise.
        int e = -1;
        do { man <<= 1; e++; } while ((man & 0x400u) == 0);
        man &= 0x3ffu;
        bits = sign | ((uint32_t)(112 - e) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float dqt_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Matmul partial sums live in y (as int32 bit patterns) between column chunks,
// so no scratch beyond a fixed stack buffer is needed for any cols or n.
static inline int32_t dqt_load_i32(const float *p) { int32_t v; memcpy(&v, p, 4); return v; }
static inline void dqt_store_i32(float *p, int32_t v) { memcpy(p, &v, 4); }

// MARK: portable path (portable.c): the bit-exact baseline for every CPU.
float dqt_quantize_i8_portable(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum);
void dqt_matvec_t2_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                            int32_t qsum, float mult, int64_t r0, int64_t r1, float *y);
void dqt_matvec_t1_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                            int32_t qsum, float mult, int64_t r0, int64_t r1, float *y);
void dqt_matvec_i8_portable(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                            int64_t r0, int64_t r1, float *y);
void dqt_matvec_i8r_portable(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q,
                             float mult, int64_t r0, int64_t r1, float *y);
void dqt_matvec_f16_portable(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y);
void dqt_matvec_bf16_portable(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y);
void dqt_matvec_f32_portable(const float *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y);
void dqt_matmul_t2_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                            const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                            float *y, int64_t y_stride);
void dqt_matmul_t1_portable(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                            const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                            float *y, int64_t y_stride);
void dqt_matmul_i8_portable(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride,
                            const float *mult, int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride);

void dqt_attention_head_portable(const float *q, const float *keys, const float *values, int64_t kv_stride,
                                 int64_t n, int64_t head_dim, float scale, float *scores, float *out);
void dqt_gated_activation_portable(int relu2, float *gate, const float *up, int64_t n);
void dqt_attention_head_f16_portable(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                                     int64_t n, int64_t head_dim, float scale, float *scores, float *out);
void dqt_f32_to_f16_portable(const float *x, uint16_t *y, int64_t n);
float dqt_exp_sum_portable(float *x, int64_t n, float m);
#if defined(__x86_64__)
// AVX-512 VNNI kernels (vnni_avx512.c); the rest of that path is the AVX2 one.
void dqt_matvec_t1_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                        int32_t qsum, float mult, int64_t r0, int64_t r1, float *y);
void dqt_matmul_t2_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                        const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                        float *y, int64_t y_stride);
void dqt_matmul_t1_vnni(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                        const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                        float *y, int64_t y_stride);
void dqt_attention_head_avx2(const float *q, const float *keys, const float *values, int64_t kv_stride,
                             int64_t n, int64_t head_dim, float scale, float *scores, float *out);
void dqt_gated_activation_avx2(int relu2, float *gate, const float *up, int64_t n);
void dqt_attention_head_f16_avx2(const float *q, const uint16_t *keys, const uint16_t *values, int64_t kv_stride,
                                 int64_t n, int64_t head_dim, float scale, float *scores, float *out);
void dqt_f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n);
float dqt_exp_sum_avx2(float *x, int64_t n, float m);
void dqt_matvecs_f16_avx2(const uint16_t *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                          int64_t r0, int64_t r1, float *y, int64_t ldy);
void dqt_matvecs_bf16_avx2(const uint16_t *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                          int64_t r0, int64_t r1, float *y, int64_t ldy);
void dqt_matvecs_f32_avx2(const float *w, int64_t cols, const float *x, int64_t ldx, int64_t n,
                          int64_t r0, int64_t r1, float *y, int64_t ldy);
#endif

// Shared by all paths: decode weights [c0, c0+len) of one ternary row into codes
// (w+1, one byte each); len is a multiple of 32 within the padded row; positions ≥ cols get 0.
void dqt_decode_t2_codes_portable(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes);
void dqt_decode_t1_codes_portable(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                                  uint8_t *codes);

#define DQT_DECLARE_PATH(sfx) \
float dqt_quantize_i8_##sfx(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum); \
void dqt_matvec_t2_##sfx(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, \
                         int32_t qsum, float mult, int64_t r0, int64_t r1, float *y); \
void dqt_matvec_t1_##sfx(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, \
                         int32_t qsum, float mult, int64_t r0, int64_t r1, float *y); \
void dqt_matvec_i8_##sfx(const int8_t *w, int64_t cols, const int8_t *q, float mult, \
                         int64_t r0, int64_t r1, float *y); \
void dqt_matvec_i8r_##sfx(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q, \
                          float mult, int64_t r0, int64_t r1, float *y); \
void dqt_matvec_f16_##sfx(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y); \
void dqt_matvec_bf16_##sfx(const uint16_t *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y); \
void dqt_matvec_f32_##sfx(const float *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y); \
void dqt_matmul_t2_##sfx(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride, \
                         const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1, \
                         float *y, int64_t y_stride); \
void dqt_matmul_t1_##sfx(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride, \
                         const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1, \
                         float *y, int64_t y_stride); \
void dqt_matmul_i8_##sfx(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride, \
                         const float *mult, int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride);

#if defined(__x86_64__)
DQT_DECLARE_PATH(avx2)
#endif
#if defined(__aarch64__)
DQT_DECLARE_PATH(neon)
// dotprod variants of the integer kernels (quantize and float kernels are shared with neon).
void dqt_matvec_t2_neondp(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                          int32_t qsum, float mult, int64_t r0, int64_t r1, float *y);
void dqt_matvec_t1_neondp(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q,
                          int32_t qsum, float mult, int64_t r0, int64_t r1, float *y);
void dqt_matvec_i8_neondp(const int8_t *w, int64_t cols, const int8_t *q, float mult,
                          int64_t r0, int64_t r1, float *y);
void dqt_matvec_i8r_neondp(const int8_t *w, const float *rowscale, int64_t cols, const int8_t *q,
                           float mult, int64_t r0, int64_t r1, float *y);
void dqt_matmul_t2_neondp(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                          const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                          float *y, int64_t y_stride);
void dqt_matmul_t1_neondp(const uint8_t *w, int64_t row_bytes, int64_t cols, const int8_t *q, int64_t q_stride,
                          const int32_t *qsum, const float *mult, int64_t n, int64_t r0, int64_t r1,
                          float *y, int64_t y_stride);
void dqt_matmul_i8_neondp(const int8_t *w, int64_t cols, const int8_t *q, int64_t q_stride,
                          const float *mult, int64_t n, int64_t r0, int64_t r1, float *y, int64_t y_stride);
#endif

#endif
