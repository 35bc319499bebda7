// Tensor encodings of formats/dqt.md §8 and their byte sizes (checked arithmetic).

/// How a tensor's elements are stored (the `encoding` byte of a tensor record).
public enum WeightEncoding: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case bf16 = 2
    /// Signed codes, one byte each; value `code · scale`.
    case i8 = 3
    /// Ternary, 2-bit codes in 128-weight blocks of 32 bytes.
    case t2 = 4
    /// Ternary, base-3, 5 trits per byte: 160-weight blocks of 32 bytes plus a tail.
    case t1 = 5
    /// int8 codes then one f32 scale per row (embeddings and heads).
    case i8r = 6

    public var description: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .i8: "i8"
        case .t2: "t2"
        case .t1: "t1"
        case .i8r: "i8r"
        }
    }

    public var isTernary: Bool { self == .t2 || self == .t1 }
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Bytes of one row of `cols` weights (the row stride), or nil if `cols` < 0 or the size overflows Int.
    /// f32 4K · f16/bf16 2K · i8/i8r K · t2 32·ceil(K/128) · t1 32·floor(K/160) + ceil((K mod 160)/5).
    public func rowBytes(cols: Int) -> Int? {
        guard cols >= 0 else { return nil }
        switch self {
        case .f32: return checkedMul(cols, 4)
        case .f16, .bf16: return checkedMul(cols, 2)
        case .i8, .i8r: return cols
        case .t2: return checkedMul(cols / 128 + (cols % 128 == 0 ? 0 : 1), 32)
        case .t1:
            let tail = cols % 160
            return checkedMul(cols / 160, 32).flatMap { checkedAdd($0, (tail + 4) / 5) }
        }
    }

    /// Bytes of a rows × cols tensor payload, or nil on negative sizes or overflow.
    /// i8r: align(rows·K, 4) + 4·rows; every other encoding rows · rowBytes.
    public func payloadBytes(rows: Int, cols: Int) -> Int? {
        guard rows >= 0, let rb = rowBytes(cols: cols) else { return nil }
        if self == .i8r {
            guard let codes = checkedMul(rows, cols), let aligned = checkedAdd(codes, 3).map({ $0 & ~3 }),
                  let scales = checkedMul(rows, 4) else { return nil }
            return checkedAdd(aligned, scales)
        }
        return checkedMul(rows, rb)
    }
}

@inline(__always) func checkedMul(_ a: Int, _ b: Int) -> Int? {
    let (v, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : v
}

@inline(__always) func checkedAdd(_ a: Int, _ b: Int) -> Int? {
    let (v, o) = a.addingReportingOverflow(b)
    return o ? nil : v
}
