// A GGUF container reader (ggml `docs/gguf.md`, versions 2 and 3, little-endian), checked
// like the safetensors reader: it cannot trap or over-allocate on hostile bytes.
//
// Layout: "GGUF" u32 version, u64 tensor_count, u64 kv_count, kv_count × (string key, u32
// type, value), tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml type,
// u64 offset), padding to `general.alignment` (default 32), then the tensor data. A string is
// u64 length + UTF-8 bytes (no NUL); an array is u32 element type + u64 count + elements.
// Every count is checked against the bytes that remain before anything is allocated; keys and
// tensor names must be unique; offsets are relative to the data start, aligned, and — as
// ggml's own reader insists (gguf.cpp) — tensor i starts where tensor i−1 ends, padded to the
// alignment: no holes, no overlaps, nothing after the last tensor but its padding.
// The file is mapped; tensor bytes are views into the mapping (one tensor is decoded at a time).
import DQTFormat
import Foundation

/// A metadata value. Integer types are widened to `int` (unsigned 64-bit values above
/// Int64.max are refused), floats to `float`; `type` keeps the stored type for messages.
public enum GGUFValue: Sendable, Equatable {
    case int(Int64, GGUFValueType)
    case float(Double, GGUFValueType)
    case bool(Bool)
    /// Raw bytes (GGUF strings are meant to be UTF-8; consumers decide how strict to be).
    case string([UInt8])
    case array(GGUFValueType, [GGUFValue])

    public var int: Int64? { if case .int(let v, _) = self { return v }; return nil }
    public var double: Double? {
        switch self {
        case .float(let v, _): return v
        case .int(let v, _): return Double(v)
        default: return nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var bytes: [UInt8]? { if case .string(let s) = self { return s }; return nil }
    public var string: String? { bytes.flatMap { String(validating: $0, as: UTF8.self) } }
    public var array: [GGUFValue]? { if case .array(_, let a) = self { return a }; return nil }

    public var typeName: String {
        switch self {
        case .int(_, let t), .float(_, let t): return t.name
        case .bool: return "bool"
        case .string: return "string"
        case .array(let t, _): return "array of \(t.name)"
        }
    }
}

public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    public var name: String {
        switch self {
        case .uint8: "uint8"; case .int8: "int8"; case .uint16: "uint16"; case .int16: "int16"
        case .uint32: "uint32"; case .int32: "int32"; case .float32: "float32"; case .bool: "bool"
        case .string: "string"; case .array: "array"; case .uint64: "uint64"; case .int64: "int64"
        case .float64: "float64"
        }
    }

    /// Smallest encoded size of one value (a string is at least its u64 length).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

public struct GGUFTensorInfo: Sendable {
    public var name: String
    /// ggml order: dims[0] is the fastest-varying (a linear's input features), dims[1] its rows.
    public var dims: [Int]
    public var type: GGMLType
    /// Byte offset relative to the data start.
    public var offset: Int
    public var byteCount: Int
    /// File offset of this tensor's info record (for messages).
    public var infoOffset: Int
    public var elementCount: Int { dims.reduce(1, *) }
    /// The shape as a row-major [rows, cols] / [n] list (ggml dims reversed), for messages.
    public var shape: [Int] { dims.reversed() }
}

/// One GGUF file, mapped and validated.
public final class GGUFFile: @unchecked Sendable {
    // Limits far above real files (Llama 3: 128256 tokens, ~280K merges, a 10 KB template) that
    // keep a hostile header from reserving gigabytes before it fails.
    public static let maxKeyValues = 1 << 16
    public static let maxTensors = 1 << 16
    public static let maxArrayCount = 1 << 24
    public static let maxStringBytes = 1 << 24
    /// ggml's GGML_MAX_NAME: a tensor name is shorter than 64 bytes.
    public static let maxNameBytes = 63
    public static let maxDims = 4

    public let path: String
    public let mapping: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Keys in file order.
    public let keys: [String]
    public let tensors: [GGUFTensorInfo]
    public let tensorIndex: [String: Int]
    public let alignment: Int
    /// File offset of the tensor data (tensor offsets are relative to it).
    public let dataOffset: Int

    public static let magic: [UInt8] = Array("GGUF".utf8)

    public convenience init(path: String) throws {
        let mapping: MappedFile
        do { mapping = try MappedFile(path: path) } catch let e as DQTFormatError {
            throw ImportError(path: path, field: "file", e.message)
        }
        try self.init(mapping: mapping)
    }

    /// Parses a mapped (or in-memory, `MappedFile(copying:path:)`) GGUF file.
    public init(mapping: MappedFile) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        var r = GGUFCursor(bytes: mapping.bytes, path: path)
        guard mapping.size >= 4, Array(mapping.bytes[0..<4]) == GGUFFile.magic else {
            throw ImportError(path: path, field: "magic", offset: 0, "not a GGUF file (the first 4 bytes are not \"GGUF\")")
        }
        r.position = 4
        let version = try r.u32("version")
        guard version == 2 || version == 3 else {
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw ImportError(path: path, field: "version", offset: 4, "a big-endian GGUF file; only little-endian files are supported")
            }
            throw ImportError(path: path, field: "version", offset: 4,
                              "\(version) is not supported (GGUF versions 2 and 3; version 1 used 32-bit counts)")
        }
        self.version = version
        let tensorCount = try r.count("tensor_count", limit: GGUFFile.maxTensors, minimumElementSize: 8 + 4 + 8 + 4 + 8)
        let kvCount = try r.count("kv_count", limit: GGUFFile.maxKeyValues, minimumElementSize: 8 + 4 + 1)

        // MARK: metadata
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<kvCount {
            let at = r.position
            let keyBytes = try r.string("kv[\(i)].key", limit: 65535)
            guard let key = String(validating: keyBytes, as: UTF8.self), !key.isEmpty else {
                throw ImportError(path: path, field: "kv[\(i)].key", offset: UInt64(at), "empty or not valid UTF-8")
            }
            let typeAt = r.position
            let rawType = try r.u32("\(key).type")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw ImportError(path: path, field: "\(key).type", offset: UInt64(typeAt), "unknown value type \(rawType)")
            }
            let value = try r.value(type, field: key)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw ImportError(path: path, field: key, offset: UInt64(at), "the key appears twice")
            }
            keys.append(key)
        }
        self.metadata = metadata
        self.keys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .int(let v, .uint32) = a, v > 0, v & (v - 1) == 0, v <= 1 << 16 else {
                throw ImportError(path: path, field: "general.alignment",
                                  "\(a) must be a uint32 power of two (at most 65536)")
            }
            alignment = Int(v)
        }
        self.alignment = alignment

        // MARK: tensor infos
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        for i in 0..<tensorCount {
            let at = r.position
            let nameBytes = try r.string("tensor[\(i)].name", limit: GGUFFile.maxNameBytes)
            guard let name = String(validating: nameBytes, as: UTF8.self), !name.isEmpty else {
                throw ImportError(path: path, field: "tensor[\(i)].name", offset: UInt64(at), "empty or not valid UTF-8")
            }
            let nDimsAt = r.position
            let nDims = try r.u32("\(name).n_dims")
            guard nDims >= 1, nDims <= UInt32(GGUFFile.maxDims) else {
                throw ImportError(path: path, field: "\(name).n_dims", offset: UInt64(nDimsAt), "\(nDims) (expected 1…\(GGUFFile.maxDims))")
            }
            var dims: [Int] = []
            var count = 1
            for d in 0..<Int(nDims) {
                let dimAt = r.position
                let ne = try r.u64("\(name).ne[\(d)]")
                // 2^40 per dimension and 2^48 elements in all: far beyond any model, and every
                // byte size below stays far from overflow.
                guard ne >= 1, ne <= 1 << 40 else {
                    throw ImportError(path: path, field: "\(name).ne[\(d)]", offset: UInt64(dimAt), "\(ne) (expected 1…2^40)")
                }
                let (p, o) = count.multipliedReportingOverflow(by: Int(ne))
                guard !o, p <= 1 << 48 else {
                    throw ImportError(path: path, field: "\(name).ne", offset: UInt64(dimAt), "more than 2^48 elements")
                }
                count = p
                dims.append(Int(ne))
            }
            let typeAt = r.position
            let rawType = try r.u32("\(name).type")
            guard let type = GGMLType(rawValue: rawType) else {
                throw ImportError(path: path, field: "\(name).type", offset: UInt64(typeAt),
                                  "unknown ggml type \(rawType)\(GGMLType.unknownNote(rawType))")
            }
            guard let bytes = type.byteCount(dims: dims) else {
                throw ImportError(path: path, field: "\(name).type", offset: UInt64(typeAt),
                                  "\(type.name) stores blocks of \(type.blockSize) values along ne[0], which is \(dims[0])")
            }
            let offAt = r.position
            let off = try r.u64("\(name).offset")
            guard off <= UInt64(mapping.size) else {
                throw ImportError(path: path, field: "\(name).offset", offset: UInt64(offAt), "\(off) is past the end of the \(mapping.size)-byte file")
            }
            guard Int(off) % alignment == 0 else {
                throw ImportError(path: path, field: "\(name).offset", offset: UInt64(offAt), "\(off) is not a multiple of the alignment \(alignment)")
            }
            guard index.updateValue(infos.count, forKey: name) == nil else {
                throw ImportError(path: path, field: name, offset: UInt64(at), "a second tensor with this name")
            }
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(off), byteCount: bytes, infoOffset: at))
        }

        // MARK: data
        let (padded, o) = r.position.addingReportingOverflow((alignment - r.position % alignment) % alignment)
        guard !o, padded <= mapping.size || tensorCount == 0 else {
            throw ImportError(path: path, field: "data", offset: UInt64(r.position), "the file ends before its tensor data starts")
        }
        dataOffset = padded
        let dataLength = max(0, mapping.size - padded)
        var expected = 0
        for (i, t) in infos.enumerated() {
            guard t.offset == expected else {
                let what = i == 0 ? "the data start" : "where \(infos[i - 1].name) ends (padded to \(alignment))"
                throw ImportError(path: path, field: "\(t.name).offset", offset: UInt64(t.infoOffset),
                                  t.offset < expected
                                      ? "\(t.offset) overlaps the previous tensor: it must start at \(expected), \(what)"
                                      : "\(t.offset) leaves a hole of \(t.offset - expected) bytes: the tensor must start at \(expected), \(what)")
            }
            guard t.byteCount <= dataLength - t.offset else {
                throw ImportError(path: path, field: t.name, offset: UInt64(padded + t.offset),
                                  "\(t.byteCount) bytes of \(t.type.name) \(t.shape) run past the end of the file (\(dataLength - t.offset) bytes left)")
            }
            expected = t.offset + t.byteCount
            expected += (alignment - expected % alignment) % alignment
        }
        let used = infos.last.map { $0.offset + $0.byteCount } ?? 0
        guard dataLength - used < alignment || dataLength == 0 else {
            throw ImportError(path: path, field: "data", offset: UInt64(padded + used),
                              "\(dataLength - used) bytes after the last tensor (at most its padding, \(alignment - 1), may follow)")
        }
        tensors = infos
        tensorIndex = index
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The raw bytes of a tensor (a view into the mapping).
    public func bytes(of t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + t.offset)..<(dataOffset + t.offset + t.byteCount)])
    }

    /// True when the file at `path` starts with the GGUF magic.
    public static func hasMagic(path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)).map { Array($0) == magic } ?? false
    }

    // MARK: typed metadata access (errors name the key)

    public func uint(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.int, i >= 0, i <= Int64(Int32.max) else {
            throw ImportError(path: path, field: key, "must be a non-negative integer below 2^31, got \(describe(v))")
        }
        return Int(i)
    }

    public func float(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.double, d.isFinite else {
            throw ImportError(path: path, field: key, "must be a finite number, got \(describe(v))")
        }
        return d
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw ImportError(path: path, field: key, "must be a bool, got \(describe(v))") }
        return b
    }

    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.string else { throw ImportError(path: path, field: key, "must be a UTF-8 string, got \(describe(v))") }
        return s
    }

    /// A short description of a value for messages (arrays by type and count).
    public func describe(_ v: GGUFValue) -> String {
        switch v {
        case .int(let i, let t): return "\(t.name) \(i)"
        case .float(let d, let t): return "\(t.name) \(d)"
        case .bool(let b): return "bool \(b)"
        case .string(let s): return "string \"\(String(decoding: s.prefix(40), as: UTF8.self))\(s.count > 40 ? "…" : "")\""
        case .array(let t, let a): return "array of \(a.count) \(t.name)"
        }
    }
}

/// A bounds-checked little-endian reader over the mapping.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    func fail(_ field: String, at: Int? = nil, _ m: String) -> ImportError {
        ImportError(path: path, field: field, offset: UInt64(at ?? position), m)
    }

    mutating func need(_ n: Int, _ field: String) throws {
        guard n <= bytes.count - position else {
            throw fail(field, "truncated: needs \(n) bytes, \(bytes.count - position) left in the \(bytes.count)-byte file")
        }
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        try need(MemoryLayout<T>.size, field)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    mutating func u32(_ field: String) throws -> UInt32 { try load(UInt32.self, field) }
    mutating func u64(_ field: String) throws -> UInt64 { try load(UInt64.self, field) }

    /// A u64 count, at most `limit`, whose elements (each at least `minimumElementSize` bytes)
    /// fit in what is left of the file.
    mutating func count(_ field: String, limit: Int, minimumElementSize: Int) throws -> Int {
        let at = position
        let n = try u64(field)
        guard n <= UInt64(limit) else { throw fail(field, at: at, "\(n) exceeds the limit of \(limit)") }
        guard Int(n) <= (bytes.count - position) / max(minimumElementSize, 1) else {
            throw fail(field, at: at, "\(n) entries of at least \(minimumElementSize) bytes cannot fit in the \(bytes.count - position) bytes left")
        }
        return Int(n)
    }

    mutating func string(_ field: String, limit: Int = GGUFFile.maxStringBytes) throws -> [UInt8] {
        let at = position
        let n = try u64("\(field) length")
        guard n <= UInt64(limit) else { throw fail(field, at: at, "string length \(n) exceeds the limit of \(limit)") }
        try need(Int(n), field)
        let s = Array(bytes[position..<(position + Int(n))])
        position += Int(n)
        return s
    }

    mutating func value(_ type: GGUFValueType, field: String, inArray: Bool = false) throws -> GGUFValue {
        switch type {
        case .uint8: return .int(Int64(try load(UInt8.self, field)), type)
        case .int8: return .int(Int64(try load(Int8.self, field)), type)
        case .uint16: return .int(Int64(try load(UInt16.self, field)), type)
        case .int16: return .int(Int64(try load(Int16.self, field)), type)
        case .uint32: return .int(Int64(try load(UInt32.self, field)), type)
        case .int32: return .int(Int64(try load(Int32.self, field)), type)
        case .int64: return .int(try load(Int64.self, field), type)
        case .uint64:
            let at = position
            let v = try load(UInt64.self, field)
            guard v <= UInt64(Int64.max) else { throw fail(field, at: at, "uint64 \(v) is above 2^63 − 1") }
            return .int(Int64(v), type)
        case .float32: return .float(Double(Float(bitPattern: try load(UInt32.self, field))), type)
        case .float64: return .float(Double(bitPattern: try load(UInt64.self, field)), type)
        case .bool:
            let at = position
            let b = try load(UInt8.self, field)
            guard b <= 1 else { throw fail(field, at: at, "bool byte \(b) (expected 0 or 1)") }
            return .bool(b == 1)
        case .string:
            return .string(try string(field))
        case .array:
            let at = position
            guard !inArray else { throw fail(field, at: at, "arrays of arrays are not supported") }
            let rawType = try u32("\(field) element type")
            guard let et = GGUFValueType(rawValue: rawType) else {
                throw fail(field, at: at, "unknown array element type \(rawType)")
            }
            guard et != .array else { throw fail(field, at: at, "arrays of arrays are not supported") }
            let n = try count("\(field) count", limit: GGUFFile.maxArrayCount, minimumElementSize: et.minimumSize)
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try value(et, field: "\(field)[\(i)]", inArray: true)) }
            return .array(et, out)
        }
    }
}
