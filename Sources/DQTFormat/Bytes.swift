// Little-endian field access over raw bytes, bounds-checked, with the absolute file
// offset carried along for error messages. Used by every parser in this module.

/// Reads little-endian fields from a buffer; each read is bounds-checked and throws
/// `truncated` naming the field and the absolute file offset.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    /// Absolute file offset of `bytes[0]` (for error messages).
    let fileOffset: UInt64
    let path: String
    /// What is being parsed, e.g. `header` or `tensor_index`; prefixes field names.
    let context: String
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer, fileOffset: UInt64, path: String, context: String) {
        self.bytes = bytes
        self.fileOffset = fileOffset
        self.path = path
        self.context = context
    }

    var remaining: Int { bytes.count - position }
    var absolute: UInt64 { fileOffset + UInt64(position) }

    mutating func seek(_ p: Int) { position = p }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ field: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw DQTFormatError(.truncated, path: path, field: "\(context).\(field)", offset: absolute,
                                 "needs \(size) bytes, \(remaining) left")
        }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += size
        return v
    }

    mutating func readF32(_ field: String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, field))
    }

    mutating func readBytes(_ count: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else {
            throw DQTFormatError(.truncated, path: path, field: "\(context).\(field)", offset: absolute,
                                 "needs \(count) bytes, \(remaining) left")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        position += count
        return slice
    }

    /// Fails unless `count` bytes at the cursor are zero (reserved fields).
    mutating func expectZero(_ count: Int, _ field: String, kind: DQTFormatError.Kind) throws {
        let at = absolute
        let b = try readBytes(count, field)
        if let i = b.firstIndex(where: { $0 != 0 }) {
            throw DQTFormatError(kind, path: path, field: "\(context).\(field)", offset: at + UInt64(i),
                                 "reserved bytes must be zero")
        }
    }

    func error(_ kind: DQTFormatError.Kind, _ field: String, at: UInt64? = nil, _ message: String) -> DQTFormatError {
        DQTFormatError(kind, path: path, field: "\(context).\(field)", offset: at ?? absolute, message)
    }
}

/// Appends little-endian fields to a byte array (the writer side).
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func writeF32(_ v: Float) { write(v.bitPattern) }
    mutating func write(bytes b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
    mutating func pad(to multiple: Int) {
        let r = bytes.count % multiple
        if r != 0 { zeros(multiple - r) }
    }
}

/// Checked size arithmetic: nil on overflow (callers turn nil into a `tooLarge` error).
@inline(__always) func checkedMul(_ a: UInt64, _ b: UInt64) -> UInt64? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}
@inline(__always) func checkedAdd(_ a: UInt64, _ b: UInt64) -> UInt64? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}
/// Smallest multiple of `a` (a power of two) that is ≥ x, or nil on overflow.
@inline(__always) func alignUp(_ x: UInt64, _ a: UInt64) -> UInt64? {
    guard let s = checkedAdd(x, a - 1) else { return nil }
    return s & ~(a - 1)
}
