// Runs one kernel of one path REPS times on the 700M model's shapes, for counting executed
// instructions per weight (or per multiply-accumulate) with an instruction counter: callgrind
// on x86-64, QEMU's instruction-counting plugin (libinsn.so) for aarch64 under emulation.
// Two runs with different REPS, subtracted, give the kernel alone (setup and exit cancel):
//   instructions per weight = (count(REPS=b) − count(REPS=a)) / ((b − a) · rows · cols [· tokens])
//
//   cc -O2 -ISources/CDQTKernels/include tools/kernel_icount.c Sources/CDQTKernels/*.c -lm -o icount
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null ./icount avx2 matvec_t1 1536 1536 3
//   qemu-aarch64 -cpu cortex-a53 -plugin ./libinsn.so -d plugin ./icount-a64 neon matvec_t1 1536 1536 3
// (tools/BENCHMARKS.md has the measured table and the exact commands.)
#include "dqt_kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long state = 0x9E3779B97F4A7C15ULL;
static unsigned long long rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: kernel_icount PATH KERNEL ROWS COLS REPS\n"
                        "  PATH: portable|avx2|avx512-vnni|neon|neon-dotprod\n"
                        "  KERNEL: matvec_t2|matvec_t1|matvec_i8|matvec_f16|matmul_t2|matmul_t1 (matmul: 128 tokens)\n");
        return 2;
    }
    dqt_isa isa;
    if (dqt_isa_from_name(argv[1], &isa) != 0 || dqt_kernels_for_isa(isa) == NULL) {
        fprintf(stderr, "kernel_icount: path %s unknown or not supported by this CPU\n", argv[1]);
        return 2;
    }
    const dqt_kernel_table *K = dqt_kernels_for_isa(isa);
    const char *kernel = argv[2];
    const int64_t rows = atoll(argv[3]), cols = atoll(argv[4]), reps = atoll(argv[5]);
    const int64_t tokens = strncmp(kernel, "matmul", 6) == 0 ? 128 : 1;
    const int64_t padded = dqt_padded_cols(cols);
    const int64_t rb2 = 32 * ((cols + 127) / 128), rb1 = 32 * (cols / 160) + (cols % 160 + 4) / 5;
    uint8_t *w = malloc((size_t)(rows * 2 * cols + 64));
    int8_t *q = malloc((size_t)(padded * tokens));
    float *x = malloc((size_t)cols * 4), *y = malloc((size_t)(rows * tokens) * 4);
    int32_t *qs = malloc((size_t)tokens * 4);
    float *mult = malloc((size_t)tokens * 4);
    if (!w || !q || !x || !y || !qs || !mult) return 1;
    // Valid random weights, 8 bytes per random number (the fill runs under the counter too).
    const int t1 = strstr(kernel, "_t1") != NULL, t2 = strstr(kernel, "_t2") != NULL;
    const int64_t nbytes = rows * (t1 ? rb1 : t2 ? rb2 : strstr(kernel, "f16") ? 2 * cols : cols);
    for (int64_t i = 0; i < nbytes; i += 8) {
        unsigned long long r = rnd();
        for (int64_t j = i; j < i + 8 && j < nbytes; j++, r >>= 8) {
            const unsigned b = (unsigned)(r & 0xff);
            if (t1) w[j] = (uint8_t)(((b % 243) * 256 + 242) / 243);                 // one of the 243 codes
            else if (t2) w[j] = (uint8_t)(b & ~((b & 0xaa) >> 1 & (b & 0x55)) & ~((b & 0x55) << 1 & (b & 0xaa)));
            else w[j] = (uint8_t)(b & 0x3b);   // i8 codes; as f16 halves, small finite values
        }
    }
    for (int64_t i = 0; i < cols; i++) x[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f;
    for (int64_t t = 0; t < tokens; t++) { K->quantize_i8(x, cols, q + t * padded, padded, &qs[t]); mult[t] = 1e-3f; }
    double sink = 0;
    for (int64_t r = 0; r < reps; r++) {
        if (!strcmp(kernel, "matvec_t2")) K->matvec_t2(w, rb2, cols, q, qs[0], 1e-3f, 0, rows, y);
        else if (!strcmp(kernel, "matvec_t1")) K->matvec_t1(w, rb1, cols, q, qs[0], 1e-3f, 0, rows, y);
        else if (!strcmp(kernel, "matvec_i8")) K->matvec_i8((const int8_t *)w, cols, q, 1e-3f, 0, rows, y);
        else if (!strcmp(kernel, "matvec_f16")) K->matvec_f16((const uint16_t *)w, cols, x, 0, rows, y);
        else if (!strcmp(kernel, "matmul_t2")) K->matmul_t2(w, rb2, cols, q, padded, qs, mult, tokens, 0, rows, y, rows);
        else if (!strcmp(kernel, "matmul_t1")) K->matmul_t1(w, rb1, cols, q, padded, qs, mult, tokens, 0, rows, y, rows);
        else { fprintf(stderr, "kernel_icount: unknown kernel %s\n", kernel); return 2; }
        sink += y[0];
    }
    printf("%s %s %lldx%lld x%lld tokens, %lld reps: y[0] sum %g\n", argv[1], kernel, (long long)rows, (long long)cols,
           (long long)tokens, (long long)reps, sink);
    return 0;
}
