// The model as the tuner runs it: the runtime's weight views (DQTModel.ModelWeights), the
// parameter table for updates, the memory plan and the thread pool. The forward pass is in
// TrainForward.swift, the backward pass in TrainBackward.swift and Head.swift.
import DQTFormat
import DQTKernels
import DQTModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The x̂ that b.packedB was packed from.
struct PackedInput {
    var x: UnsafePointer<Float>
    var ld: Int
    var cols: Int
}

final class Network: @unchecked Sendable {
    let spec: ModelSpec
    let weights: ModelWeights
    let table: ParamTable
    let plan: TrainPlan
    let par: Parallel
    let seqLen: Int
    let batch: Int
    var N: Int { seqLen * batch }
    var b: TrainBuffers { plan.b }
    /// Layer parameters in the order of `linearNames`, and the norms.
    struct LayerParams {
        var attnNorm: Param, q: Param, k: Param, v: Param, attnSub: Param?, o: Param
        var ffnNorm: Param, gate: Param, up: Param, ffnSub: Param?, down: Param
    }
    let layers: [LayerParams]
    let embed: Param
    let head: Param
    let finalNorm: Param
    /// Time per phase of the steps run so far (PhaseClock.take() per step).
    let clock = PhaseClock()
    /// What b.packedB holds now (weight-gradient GEMMs of linears sharing an input pack it once).
    var packedFor: PackedInput?

    init(file: DQTFile, table: ParamTable, seqLen: Int, batch: Int, threads: Int, moments: Int, factored: Bool = false,
         stagingBytes: Int, keepActivations: Bool = false) throws {
        spec = file.spec
        weights = ModelWeights(file: file)
        self.table = table
        self.seqLen = seqLen
        self.batch = batch
        par = try Parallel(threads: threads)
        let maxRowBytes = table.params.map { $0.rowBytes }.max() ?? 0
        plan = try TrainPlan(spec: spec, seqLen: seqLen, batch: batch, workers: par.count, moments: moments, factored: factored,
                             stagingBytes: stagingBytes, maxRowBytes: maxRowBytes, keep: keepActivations)
        let spec = file.spec
        layers = (0..<spec.layers).map { l in
            let p = "layers.\(l)."
            return LayerParams(attnNorm: table[p + "attn_norm"], q: table[p + "q_proj"], k: table[p + "k_proj"], v: table[p + "v_proj"],
                               attnSub: spec.subNorms ? table[p + "attn_sub_norm"] : nil, o: table[p + "o_proj"],
                               ffnNorm: table[p + "ffn_norm"], gate: table[p + "gate_proj"], up: table[p + "up_proj"],
                               ffnSub: spec.subNorms ? table[p + "ffn_sub_norm"] : nil, down: table[p + "down_proj"])
        }
        embed = table["embed"]
        head = spec.tiedHead ? embed : table["output"]
        finalNorm = table["final_norm"]
        fillRopeTables()
    }

    /// cos/sin of pos·θ^(−2i/head_dim): the runtime's tables (DQTKernels), for the sequence length.
    private func fillRopeTables() {
        FloatKernels.ropeTables(theta: spec.ropeTheta, headDim: spec.headDim, positions: seqLen, cos: b.ropeCos, sin: b.ropeSin)
    }
}
