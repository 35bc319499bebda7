import Testing
@testable import DQTKernels
#if canImport(Foundation)
import Foundation
#endif

@Suite struct PackingTests {
    static let shapes: [(rows: Int, cols: Int)] =
        [1, 127, 128, 129, 159, 160, 161, 1536].flatMap { c in [(1, c), (3, c)] } + [(2, 1), (1, 5), (4, 2561)]

    @Test(arguments: [WeightEncoding.t2, .t1])
    func ternaryRoundTrip(encoding: WeightEncoding) throws {
        var rng = SplitMix64(seed: 1)
        for (rows, cols) in Self.shapes {
            for fill in Fill.allCases {
                let codes = ternaryCodes(rows * cols, fill, &rng)
                let packed = try Packing.packTernary(codes, rows: rows, cols: cols, as: encoding)
                #expect(packed.count == encoding.payloadBytes(rows: rows, cols: cols))
                let back = try Packing.unpackTernary(packed, rows: rows, cols: cols, as: encoding)
                #expect(back == codes, "\(encoding) \(rows)×\(cols) \(fill)")
                // The reference decoder (spec position formulas, col → byte) agrees with the packer.
                let rb = encoding.rowBytes(cols: cols)!
                for r in 0..<rows {
                    let row = packed[(r * rb)..<((r + 1) * rb)]
                    for c in 0..<cols {
                        let w = encoding == .t2 ? Reference.t2Weight(row, col: c) : Reference.t1Weight(row, cols: cols, col: c)
                        if w != Int(codes[r * cols + c]) {
                            Issue.record("\(encoding) \(rows)×\(cols): reference decodes \(w) at (\(r), \(c)), packed \(codes[r * cols + c])")
                            return
                        }
                    }
                }
            }
        }
    }

    /// t2 bytes by hand: block 0 byte j bits 2i.. = w[32i + j] + 1; padding weights are code 1.
    @Test func t2KnownBytes() throws {
        var codes = [Int8](repeating: 0, count: 129)
        codes[0] = 1; codes[32] = -1; codes[64] = 1; codes[96] = 1; codes[128] = -1
        let p = try Packing.packTernary(codes, rows: 1, cols: 129, as: .t2)
        #expect(p.count == 64)
        #expect(p[0] == 0b10_10_00_10)   // w[96]+1=2, w[64]+1=2, w[32]+1=0, w[0]+1=2
        #expect(p[1] == 0b01_01_01_01)
        #expect(p[32] == 0b01_01_01_00)  // w[128] = −1 → 0; the rest is padding (code 1)
        #expect(p[33] == 0b01_01_01_01)
    }

    /// t1 spec conformance: the byte for q is ceil(q·256/243), and the decode formula
    /// d_n = (((byte·3ⁿ) mod 256)·3) >> 8 recovers all five trits for every one of the 243 values.
    @Test func t1ByteFormula() {
        var seen = Set<UInt8>()
        for q in 0..<243 {
            let d = [q / 81, q / 27 % 3, q / 9 % 3, q / 3 % 3, q % 3]
            let byte = Packing.t1Byte(d[0], d[1], d[2], d[3], d[4])
            let ceil = (q * 256 + 242) / 243
            #expect(Int(byte) == ceil)
            #expect(Double(byte) >= Double(q) * 256 / 243 && Double(byte) < Double(q) * 256 / 243 + 1)
            for n in 0..<5 { #expect(Packing.t1Trit(byte, n) == d[n], "q=\(q) n=\(n)") }
            seen.insert(byte)
        }
        #expect(seen.count == 243)
        // Every byte decodes to trits in 0…2 (no invalid byte exists).
        for b in 0...255 { for n in 0..<5 { #expect((0...2).contains(Packing.t1Trit(UInt8(b), n))) } }
    }

    /// t1 tail layout by hand: cols = 7 → no full block, m = 2 bytes; byte j holds weights 2n + j.
    @Test func t1TailLayout() throws {
        let codes: [Int8] = [1, -1, 0, 1, -1, -1, 1]   // d = 2,0,1,2,0,0,2 ; positions 7..9 pad (d = 1)
        let p = try Packing.packTernary(codes, rows: 1, cols: 7, as: .t1)
        #expect(p.count == 2)
        // byte 0: weights 0,2,4,6,8 → d = 2,1,0,2,1 ; byte 1: weights 1,3,5,7,9 → d = 0,2,0,1,1
        #expect(p[0] == Packing.t1Byte(2, 1, 0, 2, 1))
        #expect(p[1] == Packing.t1Byte(0, 2, 0, 1, 1))
    }

    @Test func packingRejectsBadInput() throws {
        #expect(throws: PackingError.codeOutOfRange(row: 1, col: 0, value: 2)) {
            try Packing.packTernary([0, 0, 2, 0], rows: 2, cols: 2, as: .t2)
        }
        #expect(throws: PackingError.codeOutOfRange(row: 0, col: 1, value: -2)) {
            try Packing.packTernary([0, -2], rows: 1, cols: 2, as: .t1)
        }
        var bytes = [UInt8](repeating: 0b01_01_01_01, count: 64)
        bytes[32 + 5] = 0b01_11_01_01   // code 3 at row 1, col 64 + 5
        #expect(throws: PackingError.invalidT2Code(row: 1, byteOffset: 37)) {
            try Packing.unpackTernary(bytes, rows: 2, cols: 128, as: .t2)
        }
        #expect(throws: PackingError.sizeMismatch(what: "t1 payload", expected: 33, actual: 32)) {
            try Packing.unpackTernary([UInt8](repeating: 0, count: 32), rows: 1, cols: 161, as: .t1)
        }
    }

    @Test func i8rRoundTrip() throws {
        var rng = SplitMix64(seed: 2)
        for (rows, cols) in [(1, 1), (3, 5), (2, 4), (7, 129)] {
            let codes = int8Codes(rows * cols, .random, &rng)
            let scales = (0..<rows).map { _ in Float.random(in: -2...2, using: &rng) }
            let p = try Packing.packI8R(codes, rowScales: scales, rows: rows, cols: cols)
            #expect(p.count == WeightEncoding.i8r.payloadBytes(rows: rows, cols: cols))
            let (c2, s2) = try Packing.unpackI8R(p, rows: rows, cols: cols)
            #expect(c2 == codes)
            #expect(bits(s2) == bits(scales))
            let at = (rows * cols + 3) & ~3
            #expect(p[(rows * cols)..<at].allSatisfy { $0 == 0 })   // zero padding before the scales
            #expect(p[at] == UInt8(scales[0].bitPattern & 0xff))   // little-endian f32
        }
    }

    // MARK: - 16-bit floats

    @Test func halfToFloatKnownValues() {
        #expect(FloatBits.halfToFloat(0x3c00) == 1)
        #expect(FloatBits.halfToFloat(0xc000) == -2)
        #expect(FloatBits.halfToFloat(0x7bff) == 65504)
        #expect(FloatBits.halfToFloat(0x0001) == 0x1p-24)          // smallest subnormal
        #expect(FloatBits.halfToFloat(0x03ff) == 1023 * 0x1p-24)   // largest subnormal
        #expect(FloatBits.halfToFloat(0x0400) == 0x1p-14)
        #expect(FloatBits.halfToFloat(0x8000).bitPattern == (-Float(0)).bitPattern)
        #expect(FloatBits.halfToFloat(0x7c00) == .infinity)
        #expect(FloatBits.halfToFloat(0xfc00) == -.infinity)
        #expect(FloatBits.halfToFloat(0x7e00).isNaN)
    }

    @Test func floatToHalfRounding() {
        #expect(FloatBits.floatToHalf(1) == 0x3c00)
        #expect(FloatBits.floatToHalf(65504) == 0x7bff)
        #expect(FloatBits.floatToHalf(65520) == 0x7c00)            // halfway to 2^16 rounds to even → inf
        #expect(FloatBits.floatToHalf(65519.99) == 0x7bff)
        #expect(FloatBits.floatToHalf(1e9) == 0x7c00)
        #expect(FloatBits.floatToHalf(-.infinity) == 0xfc00)
        #expect(FloatBits.floatToHalf(.nan) & 0x7c00 == 0x7c00 && FloatBits.floatToHalf(.nan) & 0x3ff != 0)
        #expect(FloatBits.floatToHalf(1 + 0x1p-11) == 0x3c00)      // tie → even (down)
        #expect(FloatBits.floatToHalf(1 + 3 * 0x1p-11) == 0x3c02)  // tie → even (up)
        #expect(FloatBits.floatToHalf(0x1p-24) == 0x0001)
        #expect(FloatBits.floatToHalf(0x1p-25) == 0x0000)          // tie → even (0)
        #expect(FloatBits.floatToHalf(0x1.8p-25) == 0x0001)
        #expect(FloatBits.floatToHalf(3 * 0x1p-25) == 0x0002)      // 1.5 ulp tie → 2
        #expect(FloatBits.floatToHalf(0x1.ffcp-15) == 0x0400)      // 1023.5 units: tie → even, out of subnormals
        #expect(FloatBits.floatToHalf(-0.0) == 0x8000)
        #expect(FloatBits.floatToHalf(1e-30) == 0)
    }

    /// Every finite half survives half → float → half; bf16 likewise for a sweep of bit patterns.
    @Test func halfRoundTripIsExact() {
        for h in 0...UInt16.max {
            let f = FloatBits.halfToFloat(h)
            if f.isNaN { continue }
            if FloatBits.floatToHalf(f) != h { Issue.record("half \(h) round trip gave \(FloatBits.floatToHalf(f))"); return }
        }
        for h in stride(from: 0, through: Int(UInt16.max), by: 7) {
            let f = FloatBits.bf16ToFloat(UInt16(h))
            if !f.isNaN { #expect(FloatBits.floatToBF16(f) == UInt16(h)) }
        }
        #expect(FloatBits.floatToBF16(Float(bitPattern: 0x3f80_8000)) == 0x3f80)   // tie → even
        #expect(FloatBits.floatToBF16(Float(bitPattern: 0x3f81_8000)) == 0x3f82)
        #expect(FloatBits.floatToBF16(Float(bitPattern: 0x3f80_8001)) == 0x3f81)
    }

    #if !(os(macOS) && arch(x86_64))
    /// Against the platform's Float16 where it exists: random floats across the whole range.
    @Test func agreesWithFloat16() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            if f.isNaN { continue }
            let expect = Float16(f).bitPattern
            if FloatBits.floatToHalf(f) != expect { Issue.record("floatToHalf(\(f)) = \(FloatBits.floatToHalf(f)), Float16 says \(expect)"); return }
        }
        for h in 0...UInt16.max {
            let a = FloatBits.halfToFloat(h), b = Float(Float16(bitPattern: h))
            if a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) { Issue.record("halfToFloat(\(h))"); return }
        }
    }
    #endif
}
