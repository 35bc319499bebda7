// Packing integer weight codes into the byte layouts of formats/dqt.md §8, and back.
// Codes are row-major rows × cols Int8: −1/0/1 for the ternary layouts, any Int8 for i8r.
// Row functions work in place on a row of a larger buffer (the tuner rewrites one row of a
// mapped tensor); matrix functions loop over rows.

public enum PackingError: Error, Equatable, CustomStringConvertible {
    /// A code outside −1…1 given to a ternary layout.
    case codeOutOfRange(row: Int, col: Int, value: Int8)
    /// A t2 byte with the invalid code 3 (formats/dqt.md §8); `byteOffset` is within the tensor payload.
    case invalidT2Code(row: Int, byteOffset: Int)
    /// A buffer whose size does not match the shape.
    case sizeMismatch(what: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .codeOutOfRange(row, col, value): "ternary code \(value) at row \(row), col \(col) is not −1, 0 or 1"
        case let .invalidT2Code(row, off): "t2 byte at payload offset \(off) (row \(row)) holds the invalid code 3"
        case let .sizeMismatch(what, expected, actual): "\(what): expected \(expected) bytes or elements, got \(actual)"
        }
    }
}

public enum Packing {
    // MARK: - t2: byte j of block b holds weights 128b + 32i + j (i = 0..3) in bits 2i+1..2i, as w+1

    /// Packs one row of `codes.count` ternary codes into `out` (t2 row bytes, fully written).
    public static func packT2Row(_ codes: UnsafeBufferPointer<Int8>, into out: UnsafeMutableRawBufferPointer,
                                 row: Int = 0) throws(PackingError) {
        let cols = codes.count
        let rb = WeightEncoding.t2.rowBytes(cols: cols)!
        guard out.count == rb else { throw .sizeMismatch(what: "t2 row", expected: rb, actual: out.count) }
        for b in 0..<(rb / 32) {
            for j in 0..<32 {
                var byte: UInt8 = 0
                for i in 0..<4 {
                    let c = 128 * b + 32 * i + j
                    var code: UInt8 = 1   // padding weights are 0
                    if c < cols {
                        let v = codes[c]
                        guard v >= -1 && v <= 1 else { throw .codeOutOfRange(row: row, col: c, value: v) }
                        code = UInt8(v + 1)
                    }
                    byte |= code << (2 * i)
                }
                out[32 * b + j] = byte
            }
        }
    }

    /// Unpacks one t2 row into `codes.count` ternary codes. Throws on the invalid code 3
    /// (also in padding positions, which must hold code 1; those are not checked).
    public static func unpackT2Row(_ bytes: UnsafeRawBufferPointer, into codes: UnsafeMutableBufferPointer<Int8>,
                                   row: Int = 0, rowOffset: Int = 0) throws(PackingError) {
        let cols = codes.count
        let rb = WeightEncoding.t2.rowBytes(cols: cols)!
        guard bytes.count == rb else { throw .sizeMismatch(what: "t2 row", expected: rb, actual: bytes.count) }
        for c in 0..<cols {
            let b = c / 128, i = (c % 128) / 32, j = c % 32
            let code = (bytes[32 * b + j] >> (2 * i)) & 3
            guard code != 3 else { throw .invalidT2Code(row: row, byteOffset: rowOffset + 32 * b + j) }
            codes[c] = Int8(code) - 1
        }
    }

    // MARK: - t1: base-3 fixed point, byte = ceil(q·256/243), q = Σ d_n·3^(4−n), d = w+1

    /// The t1 byte of five trits d₀…d₄ ∈ {0,1,2}: ceil(q·256/243) with q = d₀·81 + d₁·27 + d₂·9 + d₃·3 + d₄.
    @inlinable
    public static func t1Byte(_ d0: Int, _ d1: Int, _ d2: Int, _ d3: Int, _ d4: Int) -> UInt8 {
        let q = d0 * 81 + d1 * 27 + d2 * 9 + d3 * 3 + d4
        return UInt8((q * 256 + 242) / 243)
    }

    /// Trit n (0…4) of a t1 byte: (((byte·3ⁿ) mod 256)·3) >> 8.
    @inlinable
    public static func t1Trit(_ byte: UInt8, _ n: Int) -> Int {
        var p = 1
        for _ in 0..<n { p *= 3 }
        return ((Int(byte) * p) % 256 * 3) >> 8
    }

    /// Packs one row of ternary codes into t1 bytes: full blocks (byte j of block b holds
    /// weights 160b + 32n + j), then the tail (byte j holds 160·nf + m·n + j; past cols, w = 0).
    public static func packT1Row(_ codes: UnsafeBufferPointer<Int8>, into out: UnsafeMutableRawBufferPointer,
                                 row: Int = 0) throws(PackingError) {
        let cols = codes.count
        let rb = WeightEncoding.t1.rowBytes(cols: cols)!
        guard out.count == rb else { throw .sizeMismatch(what: "t1 row", expected: rb, actual: out.count) }
        let nf = cols / 160, m = (cols % 160 + 4) / 5
        func d(_ c: Int) throws(PackingError) -> Int {
            guard c < cols else { return 1 }
            let v = codes[c]
            guard v >= -1 && v <= 1 else { throw .codeOutOfRange(row: row, col: c, value: v) }
            return Int(v) + 1
        }
        for b in 0..<nf {
            for j in 0..<32 {
                let base = 160 * b + j
                out[32 * b + j] = t1Byte(try d(base), try d(base + 32), try d(base + 64), try d(base + 96), try d(base + 128))
            }
        }
        for j in 0..<m {
            let base = 160 * nf + j
            out[32 * nf + j] = t1Byte(try d(base), try d(base + m), try d(base + 2 * m), try d(base + 3 * m), try d(base + 4 * m))
        }
    }

    /// Unpacks one t1 row (every byte decodes to valid trits, so this cannot fail on content).
    public static func unpackT1Row(_ bytes: UnsafeRawBufferPointer, into codes: UnsafeMutableBufferPointer<Int8>) throws(PackingError) {
        let cols = codes.count
        let rb = WeightEncoding.t1.rowBytes(cols: cols)!
        guard bytes.count == rb else { throw .sizeMismatch(what: "t1 row", expected: rb, actual: bytes.count) }
        let nf = cols / 160, m = (cols % 160 + 4) / 5
        for b in 0..<nf {
            for j in 0..<32 {
                for n in 0..<5 { codes[160 * b + 32 * n + j] = Int8(t1Trit(bytes[32 * b + j], n) - 1) }
            }
        }
        for j in 0..<m {
            for n in 0..<5 where 160 * nf + m * n + j < cols {
                codes[160 * nf + m * n + j] = Int8(t1Trit(bytes[32 * nf + j], n) - 1)
            }
        }
    }

    // MARK: - matrices

    /// Packs a rows × cols matrix of ternary codes into a t2 or t1 payload.
    public static func packTernary(_ codes: [Int8], rows: Int, cols: Int, as encoding: WeightEncoding) throws(PackingError) -> [UInt8] {
        precondition(encoding.isTernary, "packTernary needs t2 or t1")
        guard codes.count == rows * cols else { throw .sizeMismatch(what: "codes", expected: rows * cols, actual: codes.count) }
        let rb = encoding.rowBytes(cols: cols)!
        var out = [UInt8](repeating: 0, count: rows * rb)
        var failure: PackingError?
        codes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                for r in 0..<rows {
                    let row = UnsafeBufferPointer(rebasing: src[(r * cols)..<((r + 1) * cols)])
                    let o = UnsafeMutableRawBufferPointer(rebasing: dst[(r * rb)..<((r + 1) * rb)])
                    do throws(PackingError) {
                        if encoding == .t2 { try packT2Row(row, into: o, row: r) } else { try packT1Row(row, into: o, row: r) }
                    } catch { failure = error; return }
                }
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Unpacks a t2 or t1 payload into rows × cols ternary codes.
    public static func unpackTernary(_ bytes: [UInt8], rows: Int, cols: Int, as encoding: WeightEncoding) throws(PackingError) -> [Int8] {
        precondition(encoding.isTernary, "unpackTernary needs t2 or t1")
        let rb = encoding.rowBytes(cols: cols)!
        guard bytes.count == rows * rb else { throw .sizeMismatch(what: "\(encoding) payload", expected: rows * rb, actual: bytes.count) }
        var codes = [Int8](repeating: 0, count: rows * cols)
        var failure: PackingError?
        bytes.withUnsafeBytes { src in
            codes.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    let i = UnsafeRawBufferPointer(rebasing: src[(r * rb)..<((r + 1) * rb)])
                    let o = UnsafeMutableBufferPointer(rebasing: dst[(r * cols)..<((r + 1) * cols)])
                    do throws(PackingError) {
                        if encoding == .t2 { try unpackT2Row(i, into: o, row: r, rowOffset: r * rb) } else { try unpackT1Row(i, into: o) }
                    } catch { failure = error; return }
                }
            }
        }
        if let failure { throw failure }
        return codes
    }

    // MARK: - i8r: rows·K codes, zero padding to a multiple of 4, then one little-endian f32 per row

    public static func packI8R(_ codes: [Int8], rowScales: [Float], rows: Int, cols: Int) throws(PackingError) -> [UInt8] {
        guard codes.count == rows * cols else { throw .sizeMismatch(what: "codes", expected: rows * cols, actual: codes.count) }
        guard rowScales.count == rows else { throw .sizeMismatch(what: "row scales", expected: rows, actual: rowScales.count) }
        let total = WeightEncoding.i8r.payloadBytes(rows: rows, cols: cols)!
        var out = [UInt8](repeating: 0, count: total)
        for i in 0..<codes.count { out[i] = UInt8(bitPattern: codes[i]) }
        let scalesAt = WeightEncoding.i8rScalesOffset(rows: rows, cols: cols)
        for r in 0..<rows {
            let bits = rowScales[r].bitPattern
            for k in 0..<4 { out[scalesAt + 4 * r + k] = UInt8(truncatingIfNeeded: bits >> (8 * k)) }
        }
        return out
    }

    public static func unpackI8R(_ bytes: [UInt8], rows: Int, cols: Int) throws(PackingError) -> (codes: [Int8], rowScales: [Float]) {
        let total = WeightEncoding.i8r.payloadBytes(rows: rows, cols: cols)!
        guard bytes.count == total else { throw .sizeMismatch(what: "i8r payload", expected: total, actual: bytes.count) }
        let codes = bytes[0..<(rows * cols)].map { Int8(bitPattern: $0) }
        let scalesAt = WeightEncoding.i8rScalesOffset(rows: rows, cols: cols)
        var scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var bits: UInt32 = 0
            for k in 0..<4 { bits |= UInt32(bytes[scalesAt + 4 * r + k]) << (8 * k) }
            scales[r] = Float(bitPattern: bits)
        }
        return (codes, scales)
    }

    // MARK: - 16-bit floats

    /// f32 values → f16 bits (round to nearest even).
    public static func packF16(_ values: [Float]) -> [UInt16] { values.map(FloatBits.floatToHalf) }
    public static func unpackF16(_ bits: [UInt16]) -> [Float] { bits.map(FloatBits.halfToFloat) }
    /// f32 values → bf16 bits (round to nearest even).
    public static func packBF16(_ values: [Float]) -> [UInt16] { values.map(FloatBits.floatToBF16) }
    public static func unpackBF16(_ bits: [UInt16]) -> [Float] { bits.map(FloatBits.bf16ToFloat) }
}
