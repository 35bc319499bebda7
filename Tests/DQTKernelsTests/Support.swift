// Test helpers: a seeded generator and random weight/activation builders.
import DQTKernels

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Weight patterns: random, all −1 (or −128 for int8), all +1 (or 127), all 0.
enum Fill: CaseIterable, Sendable { case random, minimum, maximum, zero }

func ternaryCodes(_ n: Int, _ fill: Fill, _ rng: inout SplitMix64) -> [Int8] {
    switch fill {
    case .random: (0..<n).map { _ in Int8.random(in: -1...1, using: &rng) }
    case .minimum: [Int8](repeating: -1, count: n)
    case .maximum: [Int8](repeating: 1, count: n)
    case .zero: [Int8](repeating: 0, count: n)
    }
}

func int8Codes(_ n: Int, _ fill: Fill, _ rng: inout SplitMix64) -> [Int8] {
    switch fill {
    case .random: (0..<n).map { _ in Int8.random(in: .min ... .max, using: &rng) }
    case .minimum: [Int8](repeating: -128, count: n)
    case .maximum: [Int8](repeating: 127, count: n)
    case .zero: [Int8](repeating: 0, count: n)
    }
}

/// Activations q[0..<cols], zero padded to Kernels.paddedCols(cols).
func activations(_ cols: Int, _ fill: Fill, _ rng: inout SplitMix64) -> [Int8] {
    var q = int8Codes(cols, fill, &rng)
    q += [Int8](repeating: 0, count: Kernels.paddedCols(cols) - cols)
    return q
}

func qsum(_ q: [Int8]) -> Int32 { q.reduce(0) { $0 + Int32($1) } }

func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }

/// Edge column counts: around the 128/160 block sizes, the 2560 matmul chunk, model widths.
let edgeCols = [1, 2, 5, 31, 127, 128, 129, 159, 160, 161, 165, 255, 320, 1536, 2561]
