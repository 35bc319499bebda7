// TENSOR_INDEX section (formats/dqt.md §7) and tensor encodings' sizes (§8).

public enum TensorEncoding: UInt8, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, bf16 = 2, i8 = 3, t2 = 4, t1 = 5, i8r = 6

    public var name: String {
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

    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }
    public var isTernary: Bool { self == .t2 || self == .t1 }
    /// Encodings whose values are integer codes times one per-tensor scale.
    public var isGrid: Bool { self == .i8 || self == .t2 || self == .t1 }

    /// Bytes per row of `cols` weights, or nil on overflow.
    public func rowBytes(cols: UInt64) -> UInt64? {
        switch self {
        case .f32: return checkedMul(cols, 4)
        case .f16, .bf16: return checkedMul(cols, 2)
        case .i8, .i8r: return cols
        case .t2: return (cols / 128 + (cols % 128 == 0 ? 0 : 1)) * 32
        case .t1:
            let tail = cols % 160
            return (cols / 160) * 32 + (tail + 4) / 5
        }
    }

    /// Byte offset of the row scales in an i8r payload (§8): the rows·cols codes, zero-padded to
    /// a multiple of 4. For in-memory use on sizes `payloadBytes` has already checked.
    @inlinable public static func i8rScalesOffset(rows: Int, cols: Int) -> Int { (rows * cols + 3) & ~3 }

    /// Payload size of a rows×cols tensor, or nil on overflow.
    public func payloadBytes(rows: UInt64, cols: UInt64) -> UInt64? {
        guard let rb = rowBytes(cols: cols), let body = checkedMul(rows, rb) else { return nil }
        if self == .i8r {
            guard let padded = alignUp(body, 4), let scales = checkedMul(rows, 4) else { return nil }
            return checkedAdd(padded, scales)
        }
        return body
    }
}

public struct TensorRecord: Sendable, Equatable {
    public static let size = 128
    public static let maxNameBytes = 86

    public var name: String
    /// Index of the kind-4 section with the data.
    public var section: UInt32
    public var encoding: TensorEncoding
    public var ndim: Int
    public var qmin: Int8
    public var qmax: Int8
    public var rows: Int
    public var cols: Int
    /// Value of code 1 for grid encodings; 1.0 otherwise.
    public var scale: Float
    public var trainable: Bool
    public var dataBytes: UInt64

    public init(name: String, section: UInt32, encoding: TensorEncoding, ndim: Int, qmin: Int8, qmax: Int8,
                rows: Int, cols: Int, scale: Float, trainable: Bool, dataBytes: UInt64) {
        self.name = name
        self.section = section
        self.encoding = encoding
        self.ndim = ndim
        self.qmin = qmin
        self.qmax = qmax
        self.rows = rows
        self.cols = cols
        self.scale = scale
        self.trainable = trainable
        self.dataBytes = dataBytes
    }

    public var count: Int { rows * cols }
    public var shapeDescription: String { ndim == 1 ? "[\(rows)]" : "[\(rows), \(cols)]" }
}

public struct TensorIndex: Sendable {
    public var records: [TensorRecord]

    public init(records: [TensorRecord]) { self.records = records }

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.write(UInt32(records.count))
        w.zeros(12)
        for r in records {
            w.write(r.section)
            w.write(r.encoding.rawValue)
            w.write(UInt8(r.ndim))
            w.write(r.qmin)
            w.write(r.qmax)
            w.write(UInt64(r.rows))
            w.write(UInt64(r.cols))
            w.writeF32(r.scale)
            w.write(UInt32(r.trainable ? 1 : 0))
            w.write(r.dataBytes)
            let name = Array(r.name.utf8)
            w.write(UInt16(name.count))
            w.write(bytes: name)
            w.zeros(TensorRecord.maxNameBytes - name.count)
        }
        return w.bytes
    }

    /// Parses records; checks each field alone. Cross-checks against the section table
    /// happen in `DQTFile`. `fileOffset` is the payload's offset (or the section's, if LZ4).
    public static func parse(_ bytes: UnsafeRawBufferPointer, fileOffset: UInt64, path: String) throws -> TensorIndex {
        var c = ByteCursor(bytes, fileOffset: fileOffset, path: path, context: "tensor_index")
        let count = try c.read(UInt32.self, "tensor_count")
        try c.expectZero(12, "reserved", kind: .badTensorIndex)
        guard count >= 1 else { throw c.error(.badTensorIndex, "tensor_count", at: fileOffset, "must be ≥ 1") }
        guard UInt64(count) * UInt64(TensorRecord.size) == UInt64(c.remaining) else {
            throw c.error(.badTensorIndex, "tensor_count", at: fileOffset,
                          "\(count) records need \(UInt64(count) * 128) bytes after the prologue; the payload has \(c.remaining)")
        }
        var records: [TensorRecord] = []
        records.reserveCapacity(Int(count))
        var seen = Set<String>()
        for i in 0..<Int(count) {
            let start = c.absolute
            let f = "record[\(i)]"
            let section = try c.read(UInt32.self, "\(f).section")
            let encRaw = try c.read(UInt8.self, "\(f).encoding")
            guard let enc = TensorEncoding(rawValue: encRaw) else {
                throw c.error(.badTensorIndex, "\(f).encoding", at: start + 4, "unknown encoding \(encRaw)")
            }
            let ndim = try c.read(UInt8.self, "\(f).ndim")
            guard ndim == 1 || ndim == 2 else { throw c.error(.badTensorIndex, "\(f).ndim", at: start + 5, "\(ndim) (expected 1 or 2)") }
            let qmin = try c.read(Int8.self, "\(f).qmin")
            let qmax = try c.read(Int8.self, "\(f).qmax")
            let rows = try c.read(UInt64.self, "\(f).rows")
            let cols = try c.read(UInt64.self, "\(f).cols")
            let scale = try c.readF32("\(f).scale")
            let flags = try c.read(UInt32.self, "\(f).flags")
            let dataBytes = try c.read(UInt64.self, "\(f).data_bytes")
            let nameLen = try c.read(UInt16.self, "\(f).name_len")
            guard nameLen >= 1, Int(nameLen) <= TensorRecord.maxNameBytes else {
                throw c.error(.badTensorIndex, "\(f).name_len", at: start + 40, "\(nameLen) is outside 1…86")
            }
            let nameBytes = try c.readBytes(TensorRecord.maxNameBytes, "\(f).name")
            guard let name = String(validating: nameBytes[0..<Int(nameLen)], as: UTF8.self) else {
                throw c.error(.badTensorIndex, "\(f).name", at: start + 42, "is not valid UTF-8")
            }
            if nameBytes[Int(nameLen)...].contains(where: { $0 != 0 }) {
                throw c.error(.badTensorIndex, "\(f).name", at: start + 42, "padding after the name must be zero")
            }
            guard seen.insert(name).inserted else {
                throw c.error(.badTensorIndex, "\(f).name", at: start + 42, "duplicate tensor name \"\(name)\"")
            }
            let tf = "tensor \"\(name)\""
            guard flags & ~1 == 0 else { throw c.error(.badTensorIndex, "\(tf).flags", at: start + 28, "unknown flag bits \(flags)") }
            guard rows >= 1, cols >= 1, ndim == 2 || cols == 1 else {
                throw c.error(.badTensorIndex, "\(tf).shape", at: start + 8, "rows \(rows) × cols \(cols) is not a valid \(ndim)-D shape")
            }
            guard let expected = enc.payloadBytes(rows: rows, cols: cols), rows <= UInt64(Int.max) / cols,
                  expected < 1 << 62 else {
                throw c.error(.tooLarge, "\(tf).shape", at: start + 8, "rows \(rows) × cols \(cols) overflows")
            }
            guard dataBytes == expected else {
                throw c.error(.badTensorIndex, "\(tf).data_bytes", at: start + 32,
                              "\(dataBytes) but \(enc.name) \(rows)×\(cols) needs \(expected)")
            }
            if enc.isGrid {
                guard scale.isFinite, scale > 0 else {
                    throw c.error(.badTensor, "\(tf).scale", at: start + 24, "\(scale) must be finite and > 0")
                }
                guard qmin < qmax, !enc.isTernary || (qmin == -1 && qmax == 1) else {
                    throw c.error(.badTensorIndex, "\(tf).qmin/qmax", at: start + 6, "[\(qmin), \(qmax)] is not a valid grid for \(enc.name)")
                }
            }
            records.append(TensorRecord(name: name, section: section, encoding: enc, ndim: Int(ndim), qmin: qmin, qmax: qmax,
                                        rows: Int(rows), cols: Int(cols), scale: scale, trainable: flags & 1 != 0,
                                        dataBytes: dataBytes))
        }
        return TensorIndex(records: records)
    }
}
