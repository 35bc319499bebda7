// A safetensors reader, validated like the reference implementation (huggingface/
// safetensors `src/tensor.rs`): u64 header length capped, JSON header parsed strictly,
// every dtype/shape/offset checked with overflow-safe arithmetic, and the data offsets
// must tile the data buffer exactly (no holes, no overlaps, nothing after the end).
// The file is mmapped; tensor bytes are views into the mapping.
import DQTFormat
import DQTKernels
import Foundation

public struct ImportError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var field: String
    public var offset: UInt64?
    public var message: String

    public init(path: String, field: String, offset: UInt64? = nil, _ message: String) {
        self.path = path
        self.field = field
        self.offset = offset
        self.message = message
    }

    public var description: String { locatedDescription(path: path, field: field, offset: offset, message: message) }
}

public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case u16 = "U16", u32 = "U32", u64 = "U64", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    public var size: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }
}

public struct SafetensorsTensor: Sendable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range inside the data buffer.
    public var begin: Int
    public var end: Int
    public var count: Int { shape.reduce(1, *) }
}

/// One `.safetensors` file, mapped.
public final class SafetensorsFile: @unchecked Sendable {
    /// Headers larger than this are refused (the reference caps at 100 MB).
    public static let maxHeaderBytes = 100_000_000
    public let path: String
    public let mapping: MappedFile
    public let tensors: [String: SafetensorsTensor]
    public let metadata: [String: String]
    /// File offset of the data buffer (8 + header length).
    public let dataOffset: Int

    public convenience init(path: String) throws {
        let mapping: MappedFile
        do { mapping = try MappedFile(path: path) } catch let e as DQTFormatError {
            throw ImportError(path: path, field: "file", e.message)
        }
        try self.init(mapping: mapping)
    }

    /// Parses a mapped (or in-memory, `MappedFile(copying:path:)`) safetensors file.
    public init(mapping: MappedFile) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        let bytes = mapping.bytes
        guard bytes.count >= 8 else {
            throw ImportError(path: path, field: "header_length", offset: 0, "file is \(bytes.count) bytes; a safetensors file starts with an 8-byte header length")
        }
        let n = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw ImportError(path: path, field: "header_length", offset: 0, "\(n) exceeds the \(SafetensorsFile.maxHeaderBytes)-byte limit")
        }
        guard n >= 2, 8 + Int(n) <= bytes.count else {
            throw ImportError(path: path, field: "header_length", offset: 0, "\(n) bytes of header do not fit in a \(bytes.count)-byte file")
        }
        dataOffset = 8 + Int(n)
        let headerData = Data(bytes[8..<dataOffset])
        guard headerData.first == UInt8(ascii: "{") else {
            throw ImportError(path: path, field: "header", offset: 8, "the JSON header must start with '{'")
        }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw ImportError(path: path, field: "header", offset: 8, "invalid JSON: \(error.localizedDescription)")
        }
        guard let dict = json as? [String: Any] else {
            throw ImportError(path: path, field: "header", offset: 8, "the JSON header must be an object")
        }
        let dataLength = bytes.count - dataOffset
        var tensors: [String: SafetensorsTensor] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in dict {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw ImportError(path: path, field: "__metadata__", offset: 8, "must be an object of strings")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw ImportError(path: path, field: "__metadata__.\(k)", offset: 8, "must be a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            tensors[key] = try SafetensorsFile.parseEntry(key, value, dataLength: dataLength, path: path)
        }
        // Offsets must tile [0, dataLength) exactly.
        let sorted = tensors.values.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for t in sorted {
            guard t.begin == expected else {
                throw ImportError(path: path, field: "\(t.name).data_offsets", offset: UInt64(dataOffset + t.begin),
                                  t.begin < expected ? "overlaps the previous tensor (begins at \(t.begin), previous ends at \(expected))"
                                                     : "leaves a hole: begins at \(t.begin), previous tensor ends at \(expected)")
            }
            expected = t.end
        }
        guard expected == dataLength else {
            throw ImportError(path: path, field: "data", offset: UInt64(dataOffset + expected),
                              "tensors cover \(expected) bytes of a \(dataLength)-byte data buffer (trailing bytes)")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    static func parseEntry(_ name: String, _ value: Any, dataLength: Int, path: String) throws -> SafetensorsTensor {
        guard let e = value as? [String: Any] else {
            throw ImportError(path: path, field: name, "tensor entry must be an object")
        }
        guard let dts = e["dtype"] as? String else { throw ImportError(path: path, field: "\(name).dtype", "missing or not a string") }
        guard let dtype = SafetensorsDType(rawValue: dts) else {
            throw ImportError(path: path, field: "\(name).dtype", "unknown dtype \"\(dts)\"")
        }
        guard let shapeAny = e["shape"] as? [Any] else { throw ImportError(path: path, field: "\(name).shape", "missing or not a list") }
        var shape: [Int] = []
        var count = 1
        for s in shapeAny {
            guard let d = jsonInteger(s), d >= 0 else {
                throw ImportError(path: path, field: "\(name).shape", "dimensions must be non-negative integers")
            }
            let (p, o) = count.multipliedReportingOverflow(by: Int(d))
            guard !o else { throw ImportError(path: path, field: "\(name).shape", "dimension product overflows") }
            count = p
            shape.append(Int(d))
        }
        guard let off = e["data_offsets"] as? [Any], off.count == 2,
              let b = jsonInteger(off[0]), let en = jsonInteger(off[1]),
              b >= 0, en >= b else {
            throw ImportError(path: path, field: "\(name).data_offsets", "must be [begin, end] with 0 ≤ begin ≤ end")
        }
        guard en <= dataLength else {
            throw ImportError(path: path, field: "\(name).data_offsets", "end \(en) is past the \(dataLength)-byte data buffer")
        }
        let (nbytes, o) = count.multipliedReportingOverflow(by: dtype.size)
        guard !o, Int(en - b) == nbytes else {
            throw ImportError(path: path, field: "\(name).data_offsets",
                              "\(en - b) bytes but \(dtype.rawValue) \(shape) needs \(o ? "more than 2^63" : String(nbytes))")
        }
        let extra = Set(e.keys).subtracting(["dtype", "shape", "data_offsets"])
        if let k = extra.first { throw ImportError(path: path, field: "\(name).\(k)", "unknown field") }
        return SafetensorsTensor(name: name, dtype: dtype, shape: shape, begin: Int(b), end: Int(en))
    }

    /// The raw little-endian bytes of a tensor (a view into the mapping).
    public func bytes(of t: SafetensorsTensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + t.begin)..<(dataOffset + t.end)])
    }
}

/// A checkpoint's tensors: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let files: [SafetensorsFile]
    /// Tensor name → index into `files`.
    public let location: [String: Int]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let single = directory + "/model.safetensors"
        let index = directory + "/model.safetensors.index.json"
        if fm.fileExists(atPath: index) {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: index)) } catch {
                throw ImportError(path: index, field: "file", "cannot read: \(error.localizedDescription)")
            }
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = obj["weight_map"] as? [String: Any] else {
                throw ImportError(path: index, field: "weight_map", "missing, or the file is not a JSON object")
            }
            var shardNames: [String] = []
            var wanted: [String: String] = [:]
            for (tensor, v) in map {
                guard let shard = v as? String, !shard.contains("/"), !shard.isEmpty else {
                    throw ImportError(path: index, field: "weight_map.\(tensor)", "must name a shard file in the same directory")
                }
                wanted[tensor] = shard
                if !shardNames.contains(shard) { shardNames.append(shard) }
            }
            shardNames.sort()
            var files: [SafetensorsFile] = []
            var location: [String: Int] = [:]
            for (i, shard) in shardNames.enumerated() {
                let f = try SafetensorsFile(path: directory + "/" + shard)
                files.append(f)
                for name in f.tensors.keys {
                    if location[name] != nil {
                        throw ImportError(path: f.path, field: name, "tensor also appears in \(files[location[name]!].path)")
                    }
                    location[name] = i
                }
            }
            for (tensor, shard) in wanted {
                guard let i = location[tensor], files[i].path.hasSuffix("/" + shard) else {
                    throw ImportError(path: index, field: "weight_map.\(tensor)", "tensor is not in \(shard)")
                }
            }
            if let total = (obj["metadata"] as? [String: Any])?["total_size"] as? NSNumber {
                let sum = files.reduce(0) { acc, f in acc + f.tensors.values.reduce(0) { $0 + $1.end - $1.begin } }
                if total.int64Value != Int64(sum) {
                    throw ImportError(path: index, field: "metadata.total_size", "\(total) but the shards hold \(sum) bytes of tensors")
                }
            }
            self.files = files
            self.location = location
        } else if fm.fileExists(atPath: single) {
            let f = try SafetensorsFile(path: single)
            files = [f]
            location = Dictionary(uniqueKeysWithValues: f.tensors.keys.map { ($0, 0) })
        } else {
            throw ImportError(path: directory, field: "weights", "no model.safetensors or model.safetensors.index.json in the checkpoint directory")
        }
    }

    public var names: [String] { location.keys.sorted() }

    public func tensor(_ name: String) -> (SafetensorsFile, SafetensorsTensor)? {
        guard let i = location[name] else { return nil }
        return (files[i], files[i].tensors[name]!)
    }

    /// A tensor as f32 values (F32/F16/BF16/F64 accepted), with its shape.
    public func floats(_ name: String) throws -> (values: [Float], shape: [Int]) {
        guard let (f, t) = tensor(name) else {
            throw ImportError(path: directory, field: name, "tensor not found in the checkpoint")
        }
        let raw = f.bytes(of: t)
        var out = [Float](repeating: 0, count: t.count)
        switch t.dtype {
        case .f32:
            out.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
        case .f16:
            for i in 0..<t.count { out[i] = FloatBits.halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<t.count { out[i] = FloatBits.bf16ToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .f64:
            for i in 0..<t.count { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        default:
            throw ImportError(path: f.path, field: "\(name).dtype", "is \(t.dtype.rawValue); a floating-point tensor was expected")
        }
        return (out, t.shape)
    }
}

/// A JSON number that is an exact integer (not a fraction, not a boolean), or nil.
func jsonInteger(_ v: Any) -> Int64? {
    // JSON booleans arrive as NSNumber too; `is Bool` is true for 0 and 1 as well, so
    // tell them apart by the boxing class (__NSCFBoolean / __NSCFBoolean-like).
    guard let n = v as? NSNumber, !String(describing: type(of: n)).contains("Boolean") else { return nil }
    let i = n.int64Value
    let d = n.doubleValue
    guard d.rounded() == d, abs(d - Double(i)) <= max(1, abs(d) * 1e-15) else { return nil }
    return i
}
