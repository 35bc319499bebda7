// NEON float matvec (f16, bf16, f32): four rows share each activation load.
#include "neon_common.h"
#if defined(__aarch64__)

static inline float32x4_t ld4_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline float32x4_t ld4_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
static inline float32x4_t ld4_f32(const float *p) { return vld1q_f32(p); }
#define F32_SCALAR(v) (v)

#define FLOAT_MATVEC(NAME, T, LOAD4, SCALAR)                                                     \
void NAME(const T *w, int64_t cols, const float *x, int64_t r0, int64_t r1, float *y) {           \
    int64_t r = r0;                                                                              \
    for (; r + 4 <= r1; r += 4) {                                                                \
        const T *w0 = w + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;           \
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0; \
        int64_t i = 0;                                                                           \
        for (; i + 8 <= cols; i += 8) {                                                          \
            const float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + 4);                  \
            a0 = vfmaq_f32(a0, LOAD4(w0 + i), x0); b0 = vfmaq_f32(b0, LOAD4(w0 + i + 4), x1);    \
            a1 = vfmaq_f32(a1, LOAD4(w1 + i), x0); b1 = vfmaq_f32(b1, LOAD4(w1 + i + 4), x1);    \
            a2 = vfmaq_f32(a2, LOAD4(w2 + i), x0); b2 = vfmaq_f32(b2, LOAD4(w2 + i + 4), x1);    \
            a3 = vfmaq_f32(a3, LOAD4(w3 + i), x0); b3 = vfmaq_f32(b3, LOAD4(w3 + i + 4), x1);    \
        }                                                                                        \
        float s0 = vaddvq_f32(vaddq_f32(a0, b0)), s1 = vaddvq_f32(vaddq_f32(a1, b1));            \
        float s2 = vaddvq_f32(vaddq_f32(a2, b2)), s3 = vaddvq_f32(vaddq_f32(a3, b3));            \
        for (; i < cols; i++) {                                                                  \
            s0 += SCALAR(w0[i]) * x[i]; s1 += SCALAR(w1[i]) * x[i];                              \
            s2 += SCALAR(w2[i]) * x[i]; s3 += SCALAR(w3[i]) * x[i];                              \
        }                                                                                        \
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;                                  \
    }                                                                                            \
    for (; r < r1; r++) {                                                                        \
        const T *row = w + r * cols;                                                             \
        float32x4_t a = vdupq_n_f32(0), b = a;                                                   \
        int64_t i = 0;                                                                           \
        for (; i + 8 <= cols; i += 8) {                                                          \
            a = vfmaq_f32(a, LOAD4(row + i), vld1q_f32(x + i));                                  \
            b = vfmaq_f32(b, LOAD4(row + i + 4), vld1q_f32(x + i + 4));                          \
        }                                                                                        \
        float s = vaddvq_f32(vaddq_f32(a, b));                                                   \
        for (; i < cols; i++) s += SCALAR(row[i]) * x[i];                                        \
        y[r] = s;                                                                                \
    }                                                                                            \
}

FLOAT_MATVEC(dqt_matvec_f16_neon, uint16_t, ld4_f16, dqt_half_to_float)
FLOAT_MATVEC(dqt_matvec_bf16_neon, uint16_t, ld4_bf16, dqt_bf16_to_float)
FLOAT_MATVEC(dqt_matvec_f32_neon, float, ld4_f32, F32_SCALAR)

// MARK: - code decoding for matmul (shared by the neon and neon-dotprod tables)

void dqt_decode_t2_codes_neon(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    const int64_t nb = (cols + DQT_T2_BLOCK - 1) / DQT_T2_BLOCK;
    int64_t i = 0;
    for (; i < len; i += DQT_T2_BLOCK) {
        const int64_t b = (c0 + i) / DQT_T2_BLOCK;
        if (b >= nb) break;
        const uint8x16_t x0 = vld1q_u8(row + 32 * b), x1 = vld1q_u8(row + 32 * b + 16);
        vst1q_u8(codes + i, vandq_u8(x0, m3));
        vst1q_u8(codes + i + 16, vandq_u8(x1, m3));
        vst1q_u8(codes + i + 32, vandq_u8(vshrq_n_u8(x0, 2), m3));
        vst1q_u8(codes + i + 48, vandq_u8(vshrq_n_u8(x1, 2), m3));
        vst1q_u8(codes + i + 64, vandq_u8(vshrq_n_u8(x0, 4), m3));
        vst1q_u8(codes + i + 80, vandq_u8(vshrq_n_u8(x1, 4), m3));
        vst1q_u8(codes + i + 96, vshrq_n_u8(x0, 6));
        vst1q_u8(codes + i + 112, vshrq_n_u8(x1, 6));
    }
    if (i < len) memset(codes + i, 0, (size_t)(len - i));
}

void dqt_decode_t1_codes_neon(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                              uint8_t *codes) {
    const uint8x16_t three = vdupq_n_u8(3);
    const int64_t nf = cols / DQT_T1_BLOCK;
    int64_t i = 0;
    for (; i < len; i += DQT_T1_BLOCK) {
        const int64_t b = (c0 + i) / DQT_T1_BLOCK;
        if (b >= nf) break;
        uint8x16_t v0 = vld1q_u8(row + 32 * b), v1 = vld1q_u8(row + 32 * b + 16);
        for (int n = 0; n < 5; n++) {
            vst1q_s8((int8_t *)codes + i + 32 * n, vnegq_s8(dqt_t1_negtrit(v0)));
            vst1q_s8((int8_t *)codes + i + 32 * n + 16, vnegq_s8(dqt_t1_negtrit(v1)));
            v0 = vmulq_u8(v0, three);
            v1 = vmulq_u8(v1, three);
        }
    }
    if (i < len) dqt_decode_t1_codes_portable(row, row_bytes, cols, c0 + i, len - i, codes + i);
}
#endif
