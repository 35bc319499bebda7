// NEON absmax int8 quantization; same rounding (half to even) and clamp order as portable.c.
#include "neon_common.h"
#if defined(__aarch64__)
#include <math.h>

float dqt_quantize_i8_neon(const float *x, int64_t n, int8_t *q, int64_t n_padded, int32_t *sum) {
    float32x4_t vmax = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vmax = vmaxnmq_f32(vabsq_f32(vld1q_f32(x + i)), vmax);   // NaN ignored
    float amax = vmaxnmvq_f32(vmax);
    for (; i < n; i++) { float a = fabsf(x[i]); amax = a > amax ? a : amax; }
    const float alpha = 127.0f / fmaxf(amax, 1e-5f);

    const float32x4_t lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
    int32x4_t vsum = vdupq_n_s32(0);
    i = 0;
    for (; i + 16 <= n; i += 16) {
        int32x4_t c[4];
        for (int k = 0; k < 4; k++) {
            float32x4_t v = vmulq_n_f32(vld1q_f32(x + i + 4 * k), alpha);
            v = vminnmq_f32(vmaxnmq_f32(v, lo), hi);   // maxnm(NaN, lo) = lo
            c[k] = vcvtnq_s32_f32(v);                  // round to nearest, ties to even
        }
        vsum = vaddq_s32(vsum, vaddq_s32(vaddq_s32(c[0], c[1]), vaddq_s32(c[2], c[3])));
        const int16x8_t a = vcombine_s16(vmovn_s32(c[0]), vmovn_s32(c[1]));
        const int16x8_t b = vcombine_s16(vmovn_s32(c[2]), vmovn_s32(c[3]));
        vst1q_s8(q + i, vcombine_s8(vmovn_s16(a), vmovn_s16(b)));
    }
    int32_t s = vaddvq_s32(vsum);
    for (; i < n; i++) {
        float v = fminf(fmaxf(x[i] * alpha, -128.0f), 127.0f);
        int32_t c = (int32_t)nearbyintf(v);
        q[i] = (int8_t)c;
        s += c;
    }
    if (n_padded > n) memset(q + n, 0, (size_t)(n_padded - n));
    *sum = s;
    return alpha;
}
#endif
