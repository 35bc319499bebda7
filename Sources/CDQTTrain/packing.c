// Packed rows (formats/dqt.md §8) to codes or floats and back, for the fused update: the
// tuner decodes a tile of a tensor, computes its new codes, and packs them row by row.
#include "dqt_train.h"
#include "cpu.h"
#include "dqt_kernels.h"
#include <string.h>

static inline float bf16_to_float(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2")))

// Whole 128-column blocks: byte j of a block holds columns 32i + j (i < 4) in bits 2i..2i+1
// as code + 1. A 16-bit shift keeps each byte's bits in its byte (the mask drops the rest).
AVX2 static void unpack_t2_blocks_avx2(const uint8_t *row, int64_t blocks, int8_t *out) {
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < blocks; b++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * b));
        _mm256_storeu_si256((__m256i *)(out + 128 * b), _mm256_sub_epi8(_mm256_and_si256(v, three), one));
        _mm256_storeu_si256((__m256i *)(out + 128 * b + 32), _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 2), three), one));
        _mm256_storeu_si256((__m256i *)(out + 128 * b + 64), _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), three), one));
        _mm256_storeu_si256((__m256i *)(out + 128 * b + 96), _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 6), three), one));
    }
}

// Codes (each −1, 0 or 1) + 1 are ≤ 2, so shifting a 16-bit lane by ≤ 6 moves no bit across bytes.
AVX2 static void pack_t2_blocks_avx2(const int8_t *codes, int64_t blocks, uint8_t *out) {
    const __m256i one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < blocks; b++) {
        const int8_t *c = codes + 128 * b;
        const __m256i d0 = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)c), one);
        const __m256i d1 = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(c + 32)), one);
        const __m256i d2 = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(c + 64)), one);
        const __m256i d3 = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(c + 96)), one);
        const __m256i v = _mm256_or_si256(_mm256_or_si256(d0, _mm256_slli_epi16(d1, 2)),
                                          _mm256_or_si256(_mm256_slli_epi16(d2, 4), _mm256_slli_epi16(d3, 6)));
        _mm256_storeu_si256((__m256i *)(out + 32 * b), v);
    }
}
#endif

void dqtt_unpack_t2(const uint8_t *row, int64_t c0, int64_t c1, int8_t *out) {
    int64_t c = c0;
#if defined(__x86_64__)
    if ((c0 & 127) == 0 && c1 - c0 >= 128 && dqtt_cpu_avx2()) {
        const int64_t blocks = (c1 - c0) >> 7;
        unpack_t2_blocks_avx2(row + 32 * (c0 >> 7), blocks, out);
        c = c0 + 128 * blocks;
    }
#endif
    for (; c < c1; c++) {
        const int64_t b = c >> 7, i = (c >> 5) & 3, j = c & 31;
        out[c - c0] = (int8_t)(((row[32 * b + j] >> (2 * i)) & 3) - 1);
    }
}

static inline int t1_trit(uint8_t byte, int n) {
    static const int pow3[5] = {1, 3, 9, 27, 81};
    return (int)((((uint32_t)byte * (uint32_t)pow3[n]) & 255u) * 3u >> 8);
}

void dqtt_unpack_t1(const uint8_t *row, int64_t cols, int8_t *out) {
    const int64_t nf = cols / 160, m = (cols % 160 + 4) / 5;
    for (int64_t b = 0; b < nf; b++)
        for (int64_t j = 0; j < 32; j++)
            for (int n = 0; n < 5; n++) out[160 * b + 32 * n + j] = (int8_t)(t1_trit(row[32 * b + j], n) - 1);
    for (int64_t j = 0; j < m; j++)
        for (int n = 0; n < 5; n++) {
            const int64_t c = 160 * nf + m * n + j;
            if (c < cols) out[c] = (int8_t)(t1_trit(row[32 * nf + j], n) - 1);
        }
}

/// Code of weight c of a t1 row of `cols` weights.
static inline int t1_code(const uint8_t *row, int64_t cols, int64_t c) {
    const int64_t nf = cols / 160;
    if (c < 160 * nf) {
        const int64_t b = c / 160, r = c % 160;
        return t1_trit(row[32 * b + (r & 31)], (int)(r >> 5)) - 1;
    }
    const int64_t m = (cols % 160 + 4) / 5, t = c - 160 * nf;
    return t1_trit(row[32 * nf + t % m], (int)(t / m)) - 1;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))

// Eight int32 codes as floats times s.
#define CODES8(v32, s) _mm256_mul_ps(_mm256_cvtepi32_ps(v32), s)

AVX2 static void decode_f16_avx2(const uint16_t *src, int64_t n, float *dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = dqt_half_to_f32(src[i]);
}

AVX2 static void decode_bf16_avx2(const uint16_t *src, int64_t n, float *dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i))), 16)));
    for (; i < n; i++) dst[i] = bf16_to_float(src[i]);
}

AVX2 static void decode_i8_avx2(const int8_t *q, int64_t n, float scale, float *dst) {
    const __m256 s = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, CODES8(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i))), s));
    for (; i < n; i++) dst[i] = (float)q[i] * scale;
}

// t2 weights c0..<c1 of one row; whole 32-weight groups (c aligned to 32) eight at a time.
AVX2 static void decode_t2_avx2(const uint8_t *row, int64_t c0, int64_t c1, float scale, float *dst) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i three = _mm256_set1_epi32(3), one = _mm256_set1_epi32(1);
    int64_t c = c0;
    for (; c < c1 && (c & 31); c++) dst[c - c0] = (float)((int)((row[32 * (c >> 7) + (c & 31)] >> (2 * ((c >> 5) & 3))) & 3) - 1) * scale;
    for (; c + 32 <= c1; c += 32) {
        const uint8_t *g = row + 32 * (c >> 7);
        const __m128i sh = _mm_cvtsi32_si128((int)(2 * ((c >> 5) & 3)));
        for (int h = 0; h < 4; h++) {
            const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 8 * h)));
            const __m256i code = _mm256_sub_epi32(_mm256_and_si256(_mm256_srl_epi32(b, sh), three), one);
            _mm256_storeu_ps(dst + (c - c0) + 8 * h, CODES8(code, s));
        }
    }
    for (; c < c1; c++) dst[c - c0] = (float)((int)((row[32 * (c >> 7) + (c & 31)] >> (2 * ((c >> 5) & 3))) & 3) - 1) * scale;
}
#endif

// t1 weights c0..<c1 of one row: whole 160-weight blocks decode 32 bytes × 5 trits (trit n
// of byte j is weight 160b + 32n + j); the rest weight by weight.
static void decode_t1(const uint8_t *row, int64_t cols, int64_t c0, int64_t c1, float scale, float *dst) {
    const int64_t nf = cols / 160;
    int64_t c = c0;
    while (c < c1) {
        const int64_t b = c / 160;
        if (b < nf && c % 160 == 0 && c + 160 <= c1) {
            const uint8_t *g = row + 32 * b;
            float *o = dst + (c - c0);
            for (int n = 0; n < 5; n++)
                for (int j = 0; j < 32; j++) o[32 * n + j] = (float)(t1_trit(g[j], n) - 1) * scale;
            c += 160;
        } else {
            dst[c - c0] = (float)t1_code(row, cols, c) * scale;
            c++;
        }
    }
}

void dqtt_decode_rows(int encoding, const void *w, int64_t row_bytes, int64_t cols,
                      int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                      float scale, const float *rowscale, float *out, int64_t ldo) {
    const uint8_t *base = (const uint8_t *)w;
    const int64_t n = c1 - c0;
#if defined(__x86_64__)
    const int avx2 = dqtt_cpu_avx2();
#endif
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = base + r * row_bytes;
        float *o = out + (r - r0) * ldo;
        switch (encoding) {
        case 0: memcpy(o, (const float *)row + c0, (size_t)n * 4); break;
        case 1: {
            const uint16_t *h = (const uint16_t *)row + c0;
#if defined(__x86_64__)
            if (avx2) { decode_f16_avx2(h, n, o); break; }
#endif
            for (int64_t i = 0; i < n; i++) o[i] = dqt_half_to_f32(h[i]);
            break;
        }
        case 2: {
            const uint16_t *h = (const uint16_t *)row + c0;
#if defined(__x86_64__)
            if (avx2) { decode_bf16_avx2(h, n, o); break; }
#endif
            for (int64_t i = 0; i < n; i++) o[i] = bf16_to_float(h[i]);
            break;
        }
        case 3:
        case 6: {
            const int8_t *q = (const int8_t *)row + c0;
            const float s = encoding == 6 ? rowscale[r] : scale;
#if defined(__x86_64__)
            if (avx2) { decode_i8_avx2(q, n, s, o); break; }
#endif
            for (int64_t i = 0; i < n; i++) o[i] = (float)q[i] * s;
            break;
        }
        case 4:
#if defined(__x86_64__)
            if (avx2) { decode_t2_avx2(row, c0, c1, scale, o); break; }
#endif
            for (int64_t c = c0; c < c1; c++) {
                const int64_t b = c >> 7, i = (c >> 5) & 3, j = c & 31;
                o[c - c0] = (float)((int)((row[32 * b + j] >> (2 * i)) & 3) - 1) * scale;
            }
            break;
        case 5: decode_t1(row, cols, c0, c1, scale, o); break;
        default: break;
        }
    }
}

void dqtt_pack_t2(const int8_t *codes, int64_t cols, uint8_t *out) {
    const int64_t blocks = (cols + 127) / 128;
    int64_t b = 0;
#if defined(__x86_64__)
    if (dqtt_cpu_avx2()) {
        pack_t2_blocks_avx2(codes, cols / 128, out);
        b = cols / 128;
    }
#endif
    for (; b < blocks; b++)
        for (int64_t j = 0; j < 32; j++) {
            uint8_t byte = 0;
            for (int i = 0; i < 4; i++) {
                const int64_t c = 128 * b + 32 * i + j;
                const int code = c < cols ? codes[c] + 1 : 1;
                byte |= (uint8_t)(code << (2 * i));
            }
            out[32 * b + j] = byte;
        }
}

static inline uint8_t t1_byte(int d0, int d1, int d2, int d3, int d4) {
    const int q = d0 * 81 + d1 * 27 + d2 * 9 + d3 * 3 + d4;
    return (uint8_t)((q * 256 + 242) / 243);
}

void dqtt_pack_t1(const int8_t *codes, int64_t cols, uint8_t *out) {
    const int64_t nf = cols / 160, m = (cols % 160 + 4) / 5;
#define D(c) ((c) < cols ? codes[(c)] + 1 : 1)
    for (int64_t b = 0; b < nf; b++)
        for (int64_t j = 0; j < 32; j++) {
            const int64_t c = 160 * b + j;
            out[32 * b + j] = t1_byte(D(c), D(c + 32), D(c + 64), D(c + 96), D(c + 128));
        }
    for (int64_t j = 0; j < m; j++) {
        const int64_t c = 160 * nf + j;
        out[32 * nf + j] = t1_byte(D(c), D(c + m), D(c + 2 * m), D(c + 3 * m), D(c + 4 * m));
    }
#undef D
}
