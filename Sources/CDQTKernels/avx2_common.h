// Shared by the AVX2 files: the target attribute (no global -mavx2, so the binary runs on
// any x86-64 and dispatch picks this path only when cpuid says so) and reduction helpers.
#ifndef DQT_AVX2_COMMON_H
#define DQT_AVX2_COMMON_H
#if defined(__x86_64__)
#include "internal.h"
#include <immintrin.h>

#define DQT_AVX2 __attribute__((target("avx2,fma,f16c")))
#define DQT_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

DQT_AVX2_INLINE int32_t dqt_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// Horizontal sums of four int32x8 vectors: lane k of the result = Σ lanes of v_k.
DQT_AVX2_INLINE __m128i dqt_hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
    __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

DQT_AVX2_INLINE float dqt_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// t1 trit of every byte: d = ((v·3) >> 8) = [v ≥ 86] + [v ≥ 171], v = (byte·3ⁿ) mod 256.
DQT_AVX2_INLINE __m256i dqt_t1_trit(__m256i v, __m256i c85, __m256i c170, __m256i one) {
    return _mm256_add_epi8(_mm256_min_epu8(_mm256_subs_epu8(v, c85), one),
                           _mm256_min_epu8(_mm256_subs_epu8(v, c170), one));
}
// v ← 3·v mod 256 per byte.
DQT_AVX2_INLINE __m256i dqt_times3_u8(__m256i v) {
    return _mm256_add_epi8(_mm256_add_epi8(v, v), v);
}

DQT_AVX2 void dqt_decode_t2_codes_avx2(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes);
DQT_AVX2 void dqt_decode_t1_codes_avx2(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                                       uint8_t *codes);

#endif
#endif
