#!/usr/bin/env bash
# Builds dqt for aarch64 Linux boards on an x86-64 Debian/Ubuntu machine, and runs and tests
# the result under qemu user-mode emulation.
#
#   tools/cross-aarch64.sh build [--static]       release dqt-run, dqt-convert, dqt-tune
#   tools/cross-aarch64.sh path NAME [--static]   prints the path of that aarch64 binary
#   tools/cross-aarch64.sh run [--cpu CPU] [--static] ARGS...
#                                                 runs the aarch64 dqt-run under qemu with the sysroot
#   tools/cross-aarch64.sh test [--cpu CPU] [--all | SWIFT-TESTING ARGS...]
#                                                 builds the test suite for aarch64 and runs it under qemu:
#                                                 kernel, golden, tokenizer, CLI, tuner suites (--all: all)
#   tools/cross-aarch64.sh check [--static]       x86-64 vs aarch64 (both NEON paths) on the same files
#   tools/cross-aarch64.sh exec [--cpu CPU] CMD...  runs CMD inside the aarch64 root (repo mounted, qemu)
#   tools/cross-aarch64.sh prepare | status | clean
#
# --static: Swift runtime and liblz4 (+ its libxxhash) linked in; the board needs glibc >= 2.38,
#           libstdc++6 and libgcc-s1 (present on every Debian-based system).
# --cpu: a qemu CPU model: `max` (default; has dotprod -> the neon-dotprod kernels) or
#        `cortex-a53` (ARMv8.0, no dotprod -> the plain neon kernels: Pi 3, Zero 2 W).
#
# How: Debian trixie ships Swift 6.0.3 (`swiftlang`) for amd64 and arm64. On first use this script
# debootstraps two trixie roots into $DQT_AARCH64_CACHE (default ~/.cache/dqt-aarch64):
#   amd64/  swiftlang 6.0.3 for x86-64: the cross compiler (run in a chroot: it needs trixie's glibc)
#   arm64/  swiftlang 6.0.3 + liblz4-dev for arm64: the sysroot (aarch64 Swift modules, runtime,
#           static runtime, glibc, liblz4), and the root the tests run in under qemu
# and writes a Swift SDK (a JSON bundle) that points the amd64 toolchain at the arm64 sysroot.
# Builds run in the amd64 chroot, with this checkout bind-mounted at its own path, into
# .build-aarch64/ (dynamic) or .build-aarch64-static/ of the checkout. Every mount lives in a
# private mount namespace (unshare), so nothing stays mounted when the script ends or is killed.
# Needs root (debootstrap, chroot, mount), apt (debootstrap, qemu-user-static) and binfmt_misc
# (mounted and registered here if missing). Downloads only from the Debian archive
# ($DQT_DEBIAN_MIRROR, default http://deb.debian.org/debian).
# Cache: ~6.8 GB (amd64 root ~3.6 GB, arm64 root ~3.2 GB); the first `build` takes ~1 h on a
# loaded 2-core machine (the arm64 root's package scripts run under emulation). Re-runs reuse it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DQT_AARCH64_CACHE:-$HOME/.cache/dqt-aarch64}
MIRROR=${DQT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
SWIFT_VERSION=6.0.3           # what trixie's swiftlang is; both roots must have the same
TRIPLE=aarch64-unknown-linux-gnu
AMD64=$CACHE/amd64
ARM64=$CACHE/arm64
SDK_DIR=/opt/dqt-sdk          # inside the amd64 root
SYSROOT=/sysroot              # where the arm64 root is mounted inside the amd64 root
# Where Debian's swiftlang / libswiftlang put the Swift runtime; the dynamic binaries' RUNPATH.
SWIFT_RUNTIME=/usr/libexec/swift/lib/swift/linux

die() { echo "cross-aarch64: $*" >&2; exit 1; }
note() { echo "cross-aarch64: $*" >&2; }

# MARK: - host tools

host_tools() {
    [[ $(uname -m) == x86_64 ]] || die "this script cross-builds from x86_64 (this is $(uname -m))"
    [[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot, mount)"
    local need=()
    command -v debootstrap > /dev/null || need+=(debootstrap)
    command -v qemu-aarch64-static > /dev/null || need+=(qemu-user-static)
    command -v update-binfmts > /dev/null || need+=(binfmt-support)
    if (( ${#need[@]} )); then
        note "installing ${need[*]} (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
    fi
}

# aarch64 ELF files run through qemu (the F flag opens the interpreter now, so it works in chroots).
binfmt() {
    local d=/proc/sys/fs/binfmt_misc
    [[ -e $d/register ]] || mount -t binfmt_misc binfmt_misc "$d" || die "cannot mount binfmt_misc at $d"
    if [[ ! -e $d/qemu-aarch64 ]]; then
        update-binfmts --enable qemu-aarch64 2> /dev/null || true
    fi
    grep -q '^enabled' "$d/qemu-aarch64" 2> /dev/null || die "qemu-aarch64 is not registered in binfmt_misc"
    grep -q '^flags:.*F' "$d/qemu-aarch64" || die "the qemu-aarch64 binfmt entry lacks the F flag (chroots need it)"
}

# MARK: - the two roots

# Mounts an interrupted debootstrap (run before this script used a mount namespace) may have left.
unmount_partial() {
    local m
    for m in proc sys dev/pts dev; do
        mountpoint -q "$1/$m" 2> /dev/null && umount -l "$1/$m"
    done
    return 0
}

# debootstrap ARCH DIR PACKAGES: into DIR.partial, renamed when complete (a killed run restarts).
bootstrap() {
    local arch=$1 dir=$2 include=$3
    [[ -e $dir/.dqt-ready ]] && return 0
    unmount_partial "$dir.partial"
    rm -rf "$dir.partial" "$dir"
    mkdir -p "$CACHE"
    note "debootstrap $SUITE $arch into $dir (first use only)"
    local t0=$SECONDS
    # In a private mount namespace: the /proc debootstrap mounts in the target goes with it.
    unshare --mount --propagation private \
        nice debootstrap --arch="$arch" --variant=minbase --include="$include" "$SUITE" "$dir.partial" "$MIRROR" \
        > "$CACHE/debootstrap-$arch.log" 2>&1 || die "debootstrap $arch failed; see $CACHE/debootstrap-$arch.log"
    unmount_partial "$dir.partial"
    local v
    v=$(chroot "$dir.partial" dpkg-query -W -f '${Version}' swiftlang)
    [[ $v == "$SWIFT_VERSION"* ]] || die "$arch swiftlang is $v, expected $SWIFT_VERSION"
    mv "$dir.partial" "$dir"
    echo "$v" > "$dir/.dqt-ready"
    note "$arch root ready in $((SECONDS - t0)) s"
}

roots() {
    # amd64: the compiler. git resolves the package's dependencies; libc6-dev/libstdc++ give the
    # compiler its host headers (without them swiftc warns "libc not found").
    bootstrap amd64 "$AMD64" swiftlang,git,ca-certificates,libc6-dev,libstdc++-14-dev &
    local amd64=$!
    # arm64: the sysroot. gcc (a swiftlang dependency) is the `cc` the CLI tests compile
    # their LD_PRELOAD counters with; libxxhash-dev comes with liblz4-dev (trixie's liblz4 uses it).
    bootstrap arm64 "$ARM64" swiftlang,liblz4-dev,libc6-dev,libstdc++-14-dev &
    local arm64=$!
    local ok=1
    wait $amd64 || ok=0
    wait $arm64 || ok=0
    (( ok )) || die "preparing the roots failed"
    write_sdk
}

# The Swift SDK bundle (swift-sdk.json schema 4.0) and the static-lz4 pkg-config directory.
write_sdk() {
    local b=$AMD64$SDK_DIR/dqt-aarch64.artifactbundle
    mkdir -p "$b/sdk"
    cat > "$b/info.json" << EOF
{
  "schemaVersion": "1.0",
  "artifacts": {
    "dqt-aarch64": {
      "type": "swiftSDK",
      "version": "$SWIFT_VERSION",
      "variants": [{ "path": "sdk", "supportedTriples": ["x86_64-unknown-linux-gnu", "x86_64-pc-linux-gnu"] }]
    }
  }
}
EOF
    cat > "$b/sdk/swift-sdk.json" << EOF
{
  "schemaVersion": "4.0",
  "targetTriples": {
    "$TRIPLE": {
      "sdkRootPath": "$SYSROOT",
      "swiftResourcesPath": "$SYSROOT/usr/libexec/swift/lib/swift",
      "swiftStaticResourcesPath": "$SYSROOT/usr/libexec/swift/lib/swift_static",
      "toolsetPaths": ["toolset.json"]
    }
  }
}
EOF
    # lld links for aarch64 (the host's ld cannot); the RUNPATH is where the runtime lives on a
    # Debian/Ubuntu board (libswiftlang) and in the arm64 root, not the sysroot's build-time path.
    cat > "$b/sdk/toolset.json" << EOF
{
  "schemaVersion": "1.0",
  "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld", "-no-toolchain-stdlib-rpath", "-Xlinker", "-rpath=$SWIFT_RUNTIME"] }
}
EOF
    # --static: a liblz4.pc whose -L directory holds only the static archives, so -llz4 -lxxhash
    # cannot pick the shared objects.
    local s=$ARM64/opt/dqt-static
    mkdir -p "$s/lib" "$s/pkgconfig"
    cp -f "$ARM64/usr/lib/aarch64-linux-gnu/liblz4.a" "$ARM64/usr/lib/aarch64-linux-gnu/libxxhash.a" "$s/lib/"
    sed -e 's|^libdir=.*|libdir=/opt/dqt-static/lib|' \
        "$ARM64/usr/lib/aarch64-linux-gnu/pkgconfig/liblz4.pc" > "$s/pkgconfig/liblz4.pc"
}

# MARK: - running inside the roots

# git's url.<base>.insteadOf rules of this machine (a local mirror of package repositories, say)
# also hold in the amd64 root; local bases are bind-mounted read-only.
git_rules() {
    git config --get-regexp '^url\..*\.insteadof$' 2> /dev/null | while read -r key value; do
        local base=${key#url.}
        base=${base%.insteadof}
        printf '[url "%s"]\n\tinsteadOf = %s\n' "$base" "$value"
    done
}
git_local_bases() {
    git config --get-regexp '^url\..*\.insteadof$' 2> /dev/null | while read -r key _; do
        local base=${key#url.}
        base=${base%.insteadof}
        [[ $base == /* && -d $base ]] && echo "${base%/}"
    done | sort -u
}

# in_root ROOT ENV... -- CMD...: runs CMD (a shell string) in ROOT with /proc, /dev, the checkout
# (at its own path) and, in the amd64 root, the arm64 root at $SYSROOT; all in a private mount
# namespace.
in_root() {
    local root=$1; shift
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local binds=("$ROOT")
    if [[ $root == "$AMD64" ]]; then
        git_rules > "$AMD64/etc/gitconfig"
        mapfile -t -O 1 binds < <(git_local_bases)
        binds[0]=$ROOT
    fi
    unshare --mount --propagation private bash -euo pipefail -c '
        root=$1; amd64=$2; arm64=$3; sysroot=$4; shift 4
        binds=()
        while [[ $1 != -- ]]; do binds+=("$1"); shift; done
        shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        for d in "${binds[@]}"; do
            mkdir -p "$root$d"
            mount --bind "$d" "$root$d"
            [[ $d == "${binds[0]}" ]] || mount -o remount,bind,ro "$root$d"
        done
        if [[ $root == "$amd64" ]]; then
            mkdir -p "$root$sysroot"
            mount --bind "$arm64" "$root$sysroot"
        fi
        exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"
    ' _ "$root" "$AMD64" "$ARM64" "$SYSROOT" "${binds[@]}" -- "${envs[@]}" bash -c "$*"
}

prepare() {
    host_tools
    binfmt
    roots
}

# MARK: - building

scratch() { if [[ ${STATIC:-0} == 1 ]]; then echo "$ROOT/.build-aarch64-static"; else echo "$ROOT/.build-aarch64"; fi; }

# swift_build ARGS...: swift build for aarch64 in the amd64 root.
swift_build() {
    local pc=$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig flags=()
    if [[ ${STATIC:-0} == 1 ]]; then
        pc=$SYSROOT/opt/dqt-static/pkgconfig
        flags=(--static-swift-stdlib)
    fi
    in_root "$AMD64" PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$SYSROOT" -- \
        "cd '$ROOT' && nice swift build --swift-sdks-path $SDK_DIR --swift-sdk dqt-aarch64 --scratch-path '$(scratch)' ${flags[*]} $*"
}

build() {
    prepare
    local t0=$SECONDS p
    for p in dqt-run dqt-convert dqt-tune; do swift_build -c release --product "$p"; done
    local dir
    dir=$(scratch)/$TRIPLE/release
    note "built in $((SECONDS - t0)) s:"
    for b in dqt-run dqt-convert dqt-tune; do
        [[ -x $dir/$b ]] || die "missing $dir/$b"
        awk -v f="$dir/$b" -v s="$(stat -c %s "$dir/$b")" 'BEGIN { printf "  %-60s %6.1f MiB\n", f, s / 1048576 }' >&2
    done
}

# MARK: - running under emulation

qemu_cpu() { echo "${CPU:-max}"; }

run() {
    local bin
    bin=$(scratch)/$TRIPLE/release/dqt-run
    [[ -x $bin ]] || die "$bin is missing: run '$0 build${STATIC:+ --static}' first"
    [[ -d $ARM64/usr ]] || die "no arm64 root at $ARM64: run '$0 build' first"
    exec qemu-aarch64-static -cpu "$(qemu_cpu)" -L "$ARM64" "$bin" "$@"
}

# The suites `test` runs by default: every kernel on every path this CPU has against the Swift
# reference, the goldens (logits and greedy tokens vs PyTorch/transformers, gradients vs
# autograd, one optimizer step), the tokenizer goldens, dqt-run's CLI tests, the tuner's journal
# and kill tests, XXH64/LZ4. The whole suite (--all) needs hours of emulated CPU time on a shared
# 2-core machine, mostly in the corrupt-input catalogues and fuzz regressions, which test
# CPU-independent parsing.
EMULATION_SUITES='WeightEncodingTests|KernelTests|PackingTests|GoldenTests|ConsistencyTests|KVCacheTests|SamplerTests|StochasticRoundingTests|KillTests|JournalTests|GoldenEncodeTests|StreamingDecoderTests|CLITests|XXH64Tests|LZ4'

# The test suite (debug, as `swift test`) built for aarch64 and run in the arm64 root under qemu.
# DQT_EMULATED=1 tells the suite that wall-clock bounds mean nothing here.
test_suite() {
    prepare
    STATIC=0 swift_build --build-tests
    local bin args=("$@")
    bin=$(scratch)/$TRIPLE/debug/dqtPackageTests.xctest
    [[ -x $bin ]] || die "missing $bin"
    if [[ ${args[0]:-} == --all ]]; then
        args=("${args[@]:1}")
    elif (( ${#args[@]} == 0 )); then
        args=(--filter "$EMULATION_SUITES")
    fi
    note "running ${args[*]:-the whole suite} under qemu -cpu $(qemu_cpu)"
    # Each argument quoted for the root's shell (a filter such as 'A|B' holds a pipe).
    local quoted=""
    (( ${#args[@]} == 0 )) || quoted=$(printf '%q ' "${args[@]}")
    in_root "$ARM64" QEMU_CPU="$(qemu_cpu)" DQT_EMULATED=1 -- \
        "cd '$ROOT' && nice '$bin' --testing-library swift-testing $quoted"
}

exec_in_arm64() {
    prepare
    in_root "$ARM64" QEMU_CPU="$(qemu_cpu)" DQT_EMULATED=1 -- "cd '$ROOT' && $*"
}

# x86-64 vs aarch64 on the same files. (1) dqt-convert gives the same bytes on both (the spec's
# promise: the layout does not depend on the CPU). (2) Models converted on x86: the aarch64
# dqt-run's greedy continuations equal the x86 build's, token for token, at 1 and 2 threads, on
# the neon (-cpu cortex-a53) and neon-dotprod (-cpu max) paths; --perplexity losses are printed
# side by side (float sums in another order: equal to ~1e-5, not bit for bit).
# The logits-vs-golden check on aarch64 is the suite's GoldenTests (`test`).
check() {
    prepare
    local a64 x86 work
    a64=$(scratch)/$TRIPLE/release
    [[ -x $a64/dqt-run && -x $a64/dqt-convert ]] || die "build first: $0 build${STATIC:+ --static}"
    note "building the x86-64 reference (swift build -c release)"
    (cd "$ROOT" && swift build -c release --product dqt-convert > /dev/null && swift build -c release --product dqt-run > /dev/null)
    x86=$ROOT/.build/release
    work=$(mktemp -d /tmp/dqt-cross-check.XXXXXX)
    # Expanded now: $work is local and gone when the EXIT trap runs.
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    head -c 3000 "$ROOT/tools/README.md" > "$work/text.txt"
    local fails=0 cases=(
        "dqt-ternary --pack speed" "dqt-ternary --pack size --embed int8" "dqt-int8"
        "hf-bitnet --pack speed" "hf-bitnet --pack size" "llama-f32 --weights ternary" "llama-f32 --weights int8")
    local c name i=0 models=()
    for c in "${cases[@]}"; do
        read -r name opts <<< "$c"
        i=$((i + 1))
        # shellcheck disable=SC2086
        "$x86/dqt-convert" "$ROOT/Tests/Fixtures/$name" "$work/x86-$i.dqt" $opts --quiet
        # shellcheck disable=SC2086
        qemu-aarch64-static -L "$ARM64" "$a64/dqt-convert" "$ROOT/Tests/Fixtures/$name" "$work/a64-$i.dqt" $opts --quiet
        if cmp -s "$work/x86-$i.dqt" "$work/a64-$i.dqt"; then
            echo "convert $c: same bytes on x86-64 and aarch64 ($(stat -c %s "$work/x86-$i.dqt") bytes)"
        else
            echo "FAIL convert $c: the aarch64 file differs"; fails=$((fails + 1))
        fi
        models+=("$work/x86-$i.dqt|$c")
    done
    cp "$ROOT/formats/samples/shakespeare.dqt" "$work/shakespeare.dqt"
    models+=("$work/shakespeare.dqt|sample shakespeare.dqt")
    local m path label t cpu want got prompt
    for m in "${models[@]}"; do
        path=${m%%|*} label=${m#*|}
        prompt=(--tokens 1,2,3,4,5,6,7,8)
        [[ $label == sample* ]] && prompt=("ROMEO.")
        for t in 1 2; do
            want=$("$x86/dqt-run" "$path" "${prompt[@]}" -n 32 --temp 0 --ignore-eos -t "$t")
            for cpu in cortex-a53 max; do
                got=$(qemu-aarch64-static -cpu "$cpu" -L "$ARM64" "$a64/dqt-run" "$path" "${prompt[@]}" -n 32 --temp 0 --ignore-eos -t "$t")
                if [[ $got == "$want" ]]; then
                    echo "greedy $label, -t $t, qemu -cpu $cpu: same 32 tokens as x86-64"
                else
                    echo "FAIL greedy $label, -t $t, qemu -cpu $cpu: differs from x86-64"; fails=$((fails + 1))
                fi
            done
        done
        echo "perplexity $label: x86-64 $("$x86/dqt-run" "$path" --perplexity "$work/text.txt" -c 64 | sed 's/.*loss //')"
        for cpu in cortex-a53 max; do
            echo "perplexity $label: aarch64 -cpu $cpu $(qemu-aarch64-static -cpu "$cpu" -L "$ARM64" "$a64/dqt-run" "$path" --perplexity "$work/text.txt" -c 64 | sed 's/.*loss //')"
        done
    done
    if (( fails )); then echo "$fails checks FAILED"; return 1; fi
    echo "x86-64 / aarch64 check passed"
}

status() {
    for d in "$AMD64" "$ARM64"; do
        if [[ -e $d/.dqt-ready ]]; then
            echo "$d: swiftlang $(cat "$d/.dqt-ready"), $(du -sxh "$d" 2> /dev/null | cut -f1)"
        else
            echo "$d: not prepared"
        fi
    done
}

clean() {
    for d in "$AMD64" "$ARM64" "$AMD64.partial" "$ARM64.partial"; do
        unmount_partial "$d"
    done
    rm -rf "$CACHE"
    rm -rf "$ROOT/.build-aarch64" "$ROOT/.build-aarch64-static"
}

# MARK: - command line

verb=${1:-}
[[ -n $verb ]] && shift
STATIC=0
CPU=max
# Leading options of this script; the first other argument starts the command's own.
while (( $# )); do
    case $1 in
        --static) STATIC=1; shift ;;
        --cpu) [[ $# -ge 2 ]] || die "--cpu needs a qemu CPU name"; CPU=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done

case $verb in
    prepare) prepare ;;
    build) build ;;
    path)
        [[ $# -ge 1 ]] || die "usage: $0 path NAME [--static]"
        name=$1; shift
        [[ ${1:-} == --static ]] && STATIC=1
        echo "$(scratch)/$TRIPLE/release/$name"
        ;;
    run) run "$@" ;;
    test) test_suite "$@" ;;
    check) check ;;
    exec) exec_in_arm64 "$@" ;;
    status) status ;;
    clean) clean ;;
    *) sed -n "2,19p" "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
