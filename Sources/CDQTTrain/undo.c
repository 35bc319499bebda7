// The undo journal's masked records (formats/dqt-tune.md §2.1): which bytes of a range a
// step changes, and their old values. A ternary step moves a few percent of the codes, so
// most bytes of a changed row keep their value and need no copy in the journal.
#include "dqt_train.h"
#include "cpu.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
// 32 bytes per compare: the movemask of the inequality is 4 mask bytes as they are stored (bit
// j ↔ byte j), and the set bits are walked with tzcnt to copy the kept bytes.
__attribute__((target("avx2,bmi"))) static size_t undo_mask_avx2(const uint8_t *old, const uint8_t *new_, size_t n,
                                                                 uint8_t *mask, uint8_t *kept, size_t limit, size_t *done) {
    size_t count = 0, i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)(old + i)), b = _mm256_loadu_si256((const __m256i *)(new_ + i));
        uint32_t bits = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, b));
        memcpy(mask + i / 8, &bits, 4);
        while (bits) {
            kept[count++] = old[i + _tzcnt_u32(bits)];
            bits &= bits - 1;
        }
        if (count > limit) break;
    }
    *done = i;
    return count;
}
#endif

size_t dqtt_undo_mask_path(int path, const uint8_t *old, const uint8_t *new_, size_t n, uint8_t *mask, uint8_t *kept,
                           size_t limit) {
    size_t count = 0, i = 0;
    int avx2 = 0;
#if defined(__x86_64__)
    avx2 = path != 0 && dqtt_cpu_avx2();
#endif
    if (path == 1 && !avx2) return SIZE_MAX;   // also on a CPU without x86 (the portable path is 0)
#if defined(__x86_64__)
    if (avx2) {
        count = undo_mask_avx2(old, new_, n, mask, kept, limit, &i);
        if (count > limit) return count;
    }
#endif
    // 8 bytes (one mask byte) at a time: most groups of a lightly changed row are equal.
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, old + i, 8);
        memcpy(&b, new_ + i, 8);
        uint8_t m = 0;
        if (a != b) {
            for (int j = 0; j < 8; j++) {
                if (old[i + j] != new_[i + j]) {
                    m |= (uint8_t)(1u << j);
                    kept[count++] = old[i + j];
                }
            }
        }
        mask[i / 8] = m;
        if (count > limit) return count;   // a plain record is smaller: stop here
    }
    if (i < n) {
        uint8_t m = 0;
        for (size_t j = 0; i + j < n; j++) {
            if (old[i + j] != new_[i + j]) {
                m |= (uint8_t)(1u << j);
                kept[count++] = old[i + j];
            }
        }
        mask[i / 8] = m;
    }
    return count;
}

size_t dqtt_undo_mask(const uint8_t *old, const uint8_t *new_, size_t n, uint8_t *mask, uint8_t *kept, size_t limit) {
    return dqtt_undo_mask_path(-1, old, new_, n, mask, kept, limit);
}
