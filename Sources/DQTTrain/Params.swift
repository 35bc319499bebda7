// The trainable tensors of a mapped model as the update sees them: geometry, grid, where the
// packed bytes are (in the writable mapping and in the file), and which rows the undo journal
// already holds in the current commit period. A 1-D tensor (a norm) is one row.
import CDQTTrain
import DQTFormat
import DQTModel

public enum ParamRole: String, Sendable {
    case embed, head, norm, linear
}

/// What `--freeze` can name.
public struct FreezeSet: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let norms = FreezeSet(rawValue: 1)
    /// The embedding table, and the output head (tied or not).
    public static let embed = FreezeSet(rawValue: 2)
    /// Only a separate output head.
    public static let head = FreezeSet(rawValue: 4)
    public static let linears = FreezeSet(rawValue: 8)

    /// Parses "norms,embed" (names: norms, embed, head, linears).
    public init(parsing text: String) throws {
        var s: FreezeSet = []
        for part in text.split(separator: ",") where !part.isEmpty {
            switch part.trimmingSpaces {
            case "norms", "norm": s.insert(.norms)
            case "embed", "embedding", "embeddings": s.insert(.embed)
            case "head", "output": s.insert(.head)
            case "linears", "linear": s.insert(.linears)
            default: throw TrainError.badArgument("--freeze: unknown group \"\(part)\" (expected norms, embed, head, linears)")
            }
        }
        self = s
    }
}

extension Substring {
    var trimmingSpaces: String { String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}

public final class Param: @unchecked Sendable {
    /// Index of the tensor record (also the stream index of its random numbers).
    public let index: Int
    public let name: String
    public let role: ParamRole
    public let encoding: TensorEncoding
    /// Update geometry: 2-D tensors as stored; a 1-D tensor is 1 row of `count` elements.
    public let rows: Int
    public let cols: Int
    /// Bytes of one update row in the payload (i8r: the codes only; its row scales never change).
    public let rowBytes: Int
    /// Value of code 1 for grid encodings (t2, t1, i8); 1 for float encodings and i8r.
    public let scale: Float
    /// Grid range for the codes (ternary −1…1, the record's i8 grid, −128…127 for i8r).
    public let qmin: Int8
    public let qmax: Int8
    /// Payload bytes (in the mapping).
    public let data: UnsafeMutableRawPointer
    /// i8r: one f32 scale per row.
    public let rowScales: UnsafePointer<Float>?
    /// Offset of the payload in the file and the section that holds it.
    public let fileOffset: Int
    public let section: Int
    /// Updated by this run (writable in the file and not frozen).
    public let trainable: Bool
    /// A 2-D tensor (a 1-D one is one row of `count` elements).
    public let isMatrix: Bool
    /// Offset (in f32 values) of this tensor's optimizer state in a moment buffer, or −1.
    public internal(set) var stateOffset = -1
    /// Per row, what the undo journal holds of it for the current commit period: `none`; the
    /// bytes its first change replaced (`changes`, a masked record); or all its period-start
    /// bytes (`all`, after a second change: nothing more to record).
    var journaled: [JournalCoverage]

    init(index: Int, record r: TensorRecord, role: ParamRole, data: UnsafeMutableRawPointer, fileOffset: Int, trainable: Bool) {
        self.index = index
        name = r.name
        isMatrix = r.ndim == 2
        self.role = role
        encoding = r.encoding
        if r.ndim == 1 {
            rows = 1
            cols = r.rows
        } else {
            rows = r.rows
            cols = r.cols
        }
        rowBytes = r.ndim == 1 ? Int(r.dataBytes) : Int(r.encoding.rowBytes(cols: UInt64(r.cols))!)
        scale = r.encoding.isGrid ? r.scale : 1
        switch r.encoding {
        case .t2, .t1, .i8: qmin = r.qmin; qmax = r.qmax
        case .i8r: qmin = -128; qmax = 127
        default: qmin = 0; qmax = 0
        }
        self.data = data
        rowScales = r.encoding == .i8r
            ? UnsafePointer((data + TensorEncoding.i8rScalesOffset(rows: r.rows, cols: r.cols)).assumingMemoryBound(to: Float.self)) : nil
        self.fileOffset = fileOffset
        section = Int(r.section)
        self.trainable = trainable
        journaled = [JournalCoverage](repeating: .none, count: r.ndim == 1 ? 1 : r.rows)
    }

    public var count: Int { rows * cols }
    /// Codes on a grid (t2, t1, i8, i8r) rather than float values.
    public var isCoded: Bool { encoding.isGrid || encoding == .i8r }
    /// The per-row grid step: the tensor scale, or the row's scale for i8r.
    @inline(__always) func step(row: Int) -> Float { rowScales?[row] ?? scale }
    /// Weight decay applies to 2-D tensors, not to norm gains (as tools/dqt_optim.py).
    public var decays: Bool { role != .norm }

    /// This tensor's values (code·scale, or float values) as the B operand of a GEMM, from column `col0` on.
    func operand(col0: Int = 0) -> dqtt_operand {
        dqtt_operand(kind: Int32(DQTT_CODED.rawValue), encoding: Int32(encoding.rawValue), p: UnsafeRawPointer(data),
                     ld: Int64(rowBytes), row0: 0, col0: Int64(col0), wcols: Int64(cols), scale: scale, rowscale: rowScales)
    }
}

/// Every tensor of the model with its role; `trainable` ones are updated.
struct ParamTable {
    var params: [Param]
    var byName: [String: Param]

    init(file: DQTFile, freeze: FreezeSet) throws {
        var out: [Param] = []
        var byName: [String: Param] = [:]
        for (i, r) in file.tensors.enumerated() {
            let role: ParamRole
            if r.name == "embed" { role = .embed } else if r.name == "output" { role = .head }
            else if r.name.hasSuffix("norm") { role = .norm } else { role = .linear }
            let section = file.sections[Int(r.section)]
            var frozen = false
            switch role {
            case .norm: frozen = freeze.contains(.norms)
            case .embed: frozen = freeze.contains(.embed)
            case .head: frozen = freeze.contains(.embed) || freeze.contains(.head)
            case .linear: frozen = freeze.contains(.linears)
            }
            let writable = section.writable && section.codec == .raw && file.mapping.writable
            let view = file.data(of: r)
            let p = Param(index: i, record: r, role: role, data: UnsafeMutableRawPointer(mutating: view.baseAddress!),
                          fileOffset: Int(section.offset), trainable: writable && !frozen)
            out.append(p)
            byName[r.name] = p
        }
        params = out
        self.byName = byName
    }

    subscript(_ name: String) -> Param { byName[name]! }
    var trainable: [Param] { params.filter { $0.trainable } }
}
