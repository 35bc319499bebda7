#!/usr/bin/env bash
# Cross-compiles the C kernels with tools/kernels_path_test.c for aarch64 and runs the
# driver under qemu: NEON and NEON-dotprod results must equal the portable path's, bit for
# bit for the integer kernels. Exits non-zero on any mismatch or missing tool.
# Needs: apt-get install -y gcc-aarch64-linux-gnu qemu-user-static
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64-static}
for tool in "$CC" "$QEMU"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y gcc-aarch64-linux-gnu qemu-user-static)" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$CC" -O2 -static -Wall -Wextra -Werror -ISources/CDQTKernels/include \
    tools/kernels_path_test.c Sources/CDQTKernels/*.c -lm -o "$out/kernels_path_test"
builds=("$out/kernels_path_test")
# Also the compiler SwiftPM builds the C target with (clang): it vectorizes and folds the
# kernels differently from gcc. Objects from clang --target=aarch64-linux-gnu, linked by $CC.
CLANG=${CLANG:-$(command -v clang || true)}
if [ -n "$CLANG" ]; then
    mkdir -p "$out/clang"
    for f in tools/kernels_path_test.c Sources/CDQTKernels/*.c; do
        "$CLANG" --target=aarch64-linux-gnu -O3 -Wall -Wextra -Werror -ISources/CDQTKernels/include \
            -isystem /usr/aarch64-linux-gnu/include -c "$f" -o "$out/clang/$(basename "$f" .c).o"
    done
    "$CC" -static "$out"/clang/*.o -lm -o "$out/kernels_path_test_clang"
    builds+=("$out/kernels_path_test_clang")
else
    echo "(no clang on PATH: testing the gcc build only)"
fi
status=0
# cortex-a53: ARMv8.0, no dotprod (tests detection and the plain NEON path);
# max: every feature qemu emulates, dotprod included (tests both NEON paths).
for exe in "${builds[@]}"; do
    for cpu in cortex-a53 max; do
        echo "== $(basename "$exe") on qemu -cpu $cpu"
        "$QEMU" -cpu "$cpu" "$exe" | tee "$out/log" || status=1
        want=neon; [ "$cpu" = max ] && want=neon-dotprod
        grep -q "^$want .* 0 mismatches" "$out/log" || { echo "path $want was not tested on -cpu $cpu"; status=1; }
    done
done
if [ "$status" -ne 0 ]; then echo "aarch64 kernel test FAILED"; else echo "aarch64 kernel test passed"; fi
exit $status
