// The undo journal's masked records (formats/dqt-tune.md §2.1): which bytes of a range a
// step changes, and their old values. A ternary step moves a few percent of the codes, so
// most bytes of a changed row keep their value and need no copy in the journal.
#include "dqt_train.h"
#include <string.h>

size_t dqtt_undo_mask(const uint8_t *old, const uint8_t *new_, size_t n, uint8_t *mask, uint8_t *kept) {
    size_t count = 0, i = 0;
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
