// Shared by the NEON files (aarch64 only).
#ifndef DQT_NEON_COMMON_H
#define DQT_NEON_COMMON_H
#if defined(__aarch64__)
#include "internal.h"
#include <arm_neon.h>

void dqt_decode_t2_codes_neon(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes);
void dqt_decode_t1_codes_neon(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                              uint8_t *codes);

// t1: minus the trits of 16 bytes, −d = −([v ≥ 86] + [v ≥ 171]) ∈ {0, −1, −2} as int8
// (compare masks are −1), v = (byte·3ⁿ) mod 256. Callers negate the dot product.
static inline int8x16_t dqt_t1_negtrit(uint8x16_t v) {
    return vreinterpretq_s8_u8(vaddq_u8(vcgeq_u8(v, vdupq_n_u8(86)), vcgeq_u8(v, vdupq_n_u8(171))));
}

#endif
#endif
