// Typed views of the model's tensors inside the mapping (or the LZ4 arena).
// Nothing here copies weights; every pointer lives as long as the DQTFile.
import DQTFormat
import DQTKernels

#if _endian(big)
#error("dqt reads little-endian tensor data in place; big-endian hosts are not supported")
#endif

/// A linear layer W (rows × cols): y = W·x.
public struct LinearWeight: @unchecked Sendable {
    public var encoding: TensorEncoding
    public var rows: Int
    public var cols: Int
    /// Bytes between rows (formats/dqt.md §8).
    public var rowBytes: Int
    /// Value of code 1 for grid encodings; 1 for float encodings.
    public var scale: Float
    public var data: UnsafeRawPointer
    /// Grid range (for the tuner): ternary −1…1, or the i8 grid.
    public var qmin: Int8
    public var qmax: Int8
    /// Whether the forward pass quantizes activations to int8 before this layer.
    public var quantizesInput: Bool { encoding.isGrid }
}

/// An embedding table or output head (rows = vocab, cols = hidden).
public struct TableWeight: @unchecked Sendable {
    public var encoding: TensorEncoding
    public var rows: Int
    public var cols: Int
    public var data: UnsafeRawPointer
    /// i8r: one f32 scale per row, after the codes.
    public var rowScales: UnsafePointer<Float>?

    /// Row `row` as `cols` floats (the embedding lookup of the runtime and the tuner alike).
    public func row(_ row: Int, into x: UnsafeMutablePointer<Float>) {
        let d = cols
        switch encoding {
        case .f32:
            let src = data.assumingMemoryBound(to: Float.self) + row * d
            for i in 0..<d { x[i] = src[i] }
        case .f16:
            let src = data.assumingMemoryBound(to: UInt16.self) + row * d
            for i in 0..<d { x[i] = FloatBits.halfToFloat(src[i]) }
        case .bf16:
            let src = data.assumingMemoryBound(to: UInt16.self) + row * d
            for i in 0..<d { x[i] = FloatBits.bf16ToFloat(src[i]) }
        case .i8r:
            let src = data.assumingMemoryBound(to: Int8.self) + row * d
            let s = rowScales![row]
            for i in 0..<d { x[i] = Float(src[i]) * s }
        default:
            preconditionFailure("embedding encoding \(encoding)")
        }
    }
}

public struct LayerWeights: @unchecked Sendable {
    public var attnNorm: UnsafePointer<Float>
    public var q: LinearWeight
    public var k: LinearWeight
    public var v: LinearWeight
    public var attnSubNorm: UnsafePointer<Float>?
    public var o: LinearWeight
    public var ffnNorm: UnsafePointer<Float>
    public var gate: LinearWeight
    public var up: LinearWeight
    public var ffnSubNorm: UnsafePointer<Float>?
    public var down: LinearWeight
}

public struct ModelWeights: @unchecked Sendable {
    public var embed: TableWeight
    public var head: TableWeight
    public var layers: [LayerWeights]
    public var finalNorm: UnsafePointer<Float>

    /// Views into `file`; the file has been validated against the spec's schema.
    public init(file: DQTFile) {
        func record(_ name: String) -> TensorRecord {
            guard let r = file.tensorRecord(named: name) else { preconditionFailure("validated file lacks \(name)") }
            return r
        }
        func floats(_ name: String) -> UnsafePointer<Float> {
            let d = file.data(of: record(name))
            return d.baseAddress!.assumingMemoryBound(to: Float.self)
        }
        func linear(_ name: String) -> LinearWeight {
            let r = record(name)
            return LinearWeight(encoding: r.encoding, rows: r.rows, cols: r.cols,
                                rowBytes: Int(r.encoding.rowBytes(cols: UInt64(r.cols))!),
                                scale: r.encoding.isGrid ? r.scale : 1, data: file.data(of: r).baseAddress!,
                                qmin: r.qmin, qmax: r.qmax)
        }
        func table(_ name: String) -> TableWeight {
            let r = record(name)
            let d = file.data(of: r).baseAddress!
            var scales: UnsafePointer<Float>? = nil
            if r.encoding == .i8r {
                scales = (d + TensorEncoding.i8rScalesOffset(rows: r.rows, cols: r.cols)).assumingMemoryBound(to: Float.self)
            }
            return TableWeight(encoding: r.encoding, rows: r.rows, cols: r.cols, data: d, rowScales: scales)
        }
        let spec = file.spec
        embed = table("embed")
        head = spec.tiedHead ? embed : table("output")
        finalNorm = floats("final_norm")
        layers = (0..<spec.layers).map { l in
            let p = "layers.\(l)."
            return LayerWeights(
                attnNorm: floats(p + "attn_norm"), q: linear(p + "q_proj"), k: linear(p + "k_proj"), v: linear(p + "v_proj"),
                attnSubNorm: spec.subNorms ? floats(p + "attn_sub_norm") : nil, o: linear(p + "o_proj"),
                ffnNorm: floats(p + "ffn_norm"), gate: linear(p + "gate_proj"), up: linear(p + "up_proj"),
                ffnSubNorm: spec.subNorms ? floats(p + "ffn_sub_norm") : nil, down: linear(p + "down_proj"))
        }
    }
}
