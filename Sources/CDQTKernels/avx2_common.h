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

// Software prefetch for weight streams. Rows of a group are contiguous, so a kernel that
// works on R rows at once prefetches, at each step, the same span of the group that starts
// DQT_PF_AHEAD bytes (rounded up to whole groups) further on: one sequential prefetch stream.
// Measured (t2, 4 rows): interleaved reads of 4 rows defeat the hardware prefetcher
// (5.6-12.5 GB/s); this brings 1536x1536/1536x4096/4096x1536 to 17-20 GB/s.
#define DQT_PF_AHEAD 4096
// Addresses are computed as integers: they may lie past the end of the weights (prefetch
// never faults), which pointer arithmetic would not allow.
static inline uintptr_t dqt_pf_base(const void *group, int64_t group_bytes) {
    const int64_t ahead = group_bytes > 0 ? (DQT_PF_AHEAD + group_bytes - 1) / group_bytes * group_bytes : 0;
    return (uintptr_t)group + (uintptr_t)ahead;
}
DQT_AVX2_INLINE void dqt_prefetch(uintptr_t p, int64_t bytes) {
    for (int64_t l = 0; l < bytes; l += 64) _mm_prefetch((const char *)(p + (uintptr_t)l), _MM_HINT_T0);
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

// t1 trits without division. With v = (byte·3ⁿ) mod 256, d_n = (3v) >> 8 = [v ≥ 86] + [v ≥ 171].
// Bytes are kept in offset form s = v ^ 0x80 = v − 128 (mod 256), so that the two tests are signed
// compares (s > −43, s > 42) whose masks are −1: d = 0 − m₁ − m₂. The form survives the step
// v ← 3v because 3·128 ≡ 128 (mod 256): s ← 3s (two byte adds).
// Measured hot-cache t1 matvec (256×1536, CPU time): 28 Gw/s vs 22-28 with subs/min thresholds
// and 23-24 with 16-bit mullo/mulhi decoding (the multiplies compete with maddubs).
DQT_AVX2_INLINE __m256i dqt_t1_offset(__m256i bytes) { return _mm256_xor_si256(bytes, _mm256_set1_epi8((char)0x80)); }
DQT_AVX2_INLINE __m256i dqt_t1_trit(__m256i s) {
    const __m256i m1 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8(-43)), m2 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8(42));
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), m1), m2);
}
// s ← 3·s mod 256 per byte. The empty asm keeps the value opaque: without it clang folds the
// chain s, 3s, 9s, 27s, 81s into byte multiplies by 9, 27, 81, which it lowers to pairs of
// vpmaddubsw (+ and/shift/or), the very instruction the dot product needs; measured hot t1
// matvec 256×1536: 24 Gw/s with the folding, see t1_avx2.c for the figure without.
DQT_AVX2_INLINE __m256i dqt_times3_u8(__m256i v) {
    __m256i t = _mm256_add_epi8(_mm256_add_epi8(v, v), v);
    __asm__("" : "+x"(t));
    return t;
}

DQT_AVX2 void dqt_decode_t2_codes_avx2(const uint8_t *row, int64_t cols, int64_t c0, int64_t len, uint8_t *codes);
DQT_AVX2 void dqt_decode_t1_codes_avx2(const uint8_t *row, int64_t row_bytes, int64_t cols, int64_t c0, int64_t len,
                                       uint8_t *codes);

#endif
#endif
