// Tensor encodings are defined once, by the format (DQTFormat.TensorEncoding,
// formats/dqt.md §8); kernels and packers use the same type under this name, with
// Int-typed size helpers for in-memory work.
import DQTFormat

public typealias WeightEncoding = TensorEncoding

extension TensorEncoding: CustomStringConvertible {
    public var description: String { name }

    /// Bytes of one row of `cols` weights (the row stride), or nil if `cols` < 0 or the size overflows Int.
    public func rowBytes(cols: Int) -> Int? {
        guard cols >= 0, let r = rowBytes(cols: UInt64(cols)), r <= UInt64(Int.max) else { return nil }
        return Int(r)
    }

    /// Bytes of a rows × cols tensor payload, or nil on negative sizes or overflow.
    public func payloadBytes(rows: Int, cols: Int) -> Int? {
        guard rows >= 0, cols >= 0, let p = payloadBytes(rows: UInt64(rows), cols: UInt64(cols)), p <= UInt64(Int.max) else {
            return nil
        }
        return Int(p)
    }
}
