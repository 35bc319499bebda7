// `dqt-tune --dry-run`: what a run would hold in memory and on disk, computed from the sizes
// table without allocating it.
import DQTFormat
import DQTModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct MemoryPlanReport: Sendable, CustomStringConvertible {
    public var modelPath: String
    public var mappingBytes: Int
    public var trainableBytes: Int
    public var arenaBytes: Int
    public var planBytes: Int
    public var planGroups: [(String, Int)]
    public var stateFileBytes: Int
    public var journalMaxBytes: Int
    public var dataBytes: Int
    public var workers: Int
    public var trainableTensors: Int
    public var trainableElements: Int
    public var optimizer: OptimizerKind

    /// Resident memory if every page of the model is touched (it is, every step).
    public var estimatedPeakBytes: Int { mappingBytes + arenaBytes + planBytes + dataBytes }

    public var description: String {
        func cell(_ b: Int) -> String { pad(mib(b), 13) }   // MiB, right-aligned in a column
        var s = "dqt-tune memory plan for \(modelPath)\n"
        s += "  model mapping (shared, file-backed)           \(cell(mappingBytes))   (\(trainableTensors) trainable tensors, \(cell(trainableBytes).trimmingLeadingSpaces) updated in place)\n"
        if arenaBytes > 0 { s += "  LZ4 sections decoded at load                   \(cell(arenaBytes))\n" }
        s += "  training plan (one allocation)                 \(cell(planBytes))\n"
        for (name, bytes) in planGroups { s += "    \(name.padding(44))\(cell(bytes))\n" }
        s += "  training data tokens                           \(cell(dataBytes))\n"
        s += "  estimated peak resident                        \(cell(estimatedPeakBytes))\n"
        s += "  no gradient buffer for the model and no float copy of the weights: gradients exist one tile of rows per worker (\(workers) workers)\n"
        if optimizer == .adafactor {
            s += "  optimizer state (adafactor: a row and a column statistic per matrix, AdamW moments for 1-D tensors) in \(StateFile.path(for: modelPath)): \(cell(stateFileBytes).trimmingLeadingSpaces) on disk (two buffers)\n"
        } else if optimizer.moments > 0 {
            s += "  optimizer state (\(optimizer.rawValue), f32 moments) in \(StateFile.path(for: modelPath)): \(cell(stateFileBytes).trimmingLeadingSpaces) on disk (two buffers), streamed per tile, not held in memory\n"
        } else {
            s += "  optimizer state: none (\(optimizer.rawValue)); \(StateFile.path(for: modelPath)) holds the step and data position (8 KiB)\n"
        }
        s += "  undo journal per commit: at most \(cell(journalMaxBytes).trimmingLeadingSpaces) on disk (the old values of the bytes that change, a bit per byte of their rows; typically 1/8 + the changed fraction of the changed rows)\n"
        return s
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    var trimmingLeadingSpaces: String { String(drop { $0 == " " }) }
}

extension Tuner {
    /// The memory plan of a run, without allocating it or touching the model.
    public static func memoryPlan(modelPath: String, options: TrainOptions, dataTokens: Int) throws -> MemoryPlanReport {
        let file = try DQTFile(path: modelPath, options: LoadOptions(verifyChecksums: false))
        try validate(options, spec: file.spec)
        let table = try ParamTable(file: file, freeze: options.freeze)
        // A read-only mapping marks nothing trainable: decide from the section flags here.
        let trainable = table.params.filter { p in
            let e = file.sections[p.section]
            guard e.writable && e.codec == .raw else { return false }
            switch p.role {
            case .norm: return !options.freeze.contains(.norms)
            case .embed: return !options.freeze.contains(.embed)
            case .head: return !options.freeze.contains(.embed) && !options.freeze.contains(.head)
            case .linear: return !options.freeze.contains(.linears)
            }
        }
        let threads = options.threads == 0 ? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) : options.threads
        let sizes = TrainPlan.sizes(spec: file.spec, seqLen: options.seqLen, batch: options.batch, workers: threads,
                                    moments: options.optimizer.moments, factored: options.optimizer == .adafactor,
                                    stagingBytes: options.stagingBytes,
                                    maxRowBytes: table.params.map { $0.rowBytes }.max() ?? 0, keep: options.keepActivations)
        var groups: [String: Int] = [:]
        var order: [String] = []
        func add(_ g: String, _ b: Int) {
            if groups[g] == nil { order.append(g) }
            groups[g, default: 0] += (b + 63) & ~63
        }
        let layerBuffers: Set<String> = ["xn", "xh1", "q", "k", "v", "att_n", "xho", "xmid", "xn2", "xh2", "gate_pre", "up",
                                         "f_pre", "f_n", "xh3", "out", "xq", "alpha", "qsum", "mult"]
        let gradBuffers: Set<String> = ["dx", "dxn", "df_n", "dgate", "dup", "datt", "dq", "dk", "dv", "norm_grad", "norm_inv", "packed_b", "factored_gamma", "factored_shape", "factored_col_sum", "factored_col_tiles"]
        for (name, bytes) in sizes {
            if name == "saved_layer_inputs" { add("saved layer inputs (recomputation)", bytes) }
            else if layerBuffers.contains(name) { add("one layer's internals", bytes) }
            else if gradBuffers.contains(name) { add("one layer's activation gradients", bytes) }
            else if name == "att_pre" { if !options.keepActivations { add("every layer's attention output", bytes) } }
            else if name == "kept_layer_internals" { if options.keepActivations { add("kept layer internals (--keep-activations)", bytes) } }
            else if name == "logits" { add("logits / dL/dlogits", bytes) }
            else if name == "staging" { add("staging (new rows until the journal sync; 2 halves)", bytes) }
            else if name.hasPrefix("w") && name.contains(".") { add("per-worker tiles (gradient, state, decode)", bytes) }
            else { add("head, RoPE tables, small buffers", bytes) }
        }
        let elements = trainable.reduce(0) { $0 + $1.count }
        let stateBuffer = (trainable.reduce(0) { $0 + options.optimizer.stateFloats($1) } * 4 + 4095) & ~4095
        return MemoryPlanReport(
            modelPath: modelPath, mappingBytes: file.mapping.size,
            trainableBytes: trainable.reduce(0) { $0 + $1.rowBytes * $1.rows }, arenaBytes: file.arenaBytes,
            planBytes: sizes.reduce(0) { $0 + (($1.1 + 63) & ~63) }, planGroups: order.map { ($0, groups[$0]!) },
            stateFileBytes: StateFile.slotsBytes + 2 * stateBuffer,
            // Header, the header block's record, and per row at most one record of its bytes (a
            // masked one is never larger), padded to 8 — twice when a period spans several steps
            // (a row's second change in a period is journaled whole).
            journalMaxBytes: UndoJournalFile.headerSize + UndoJournalFile.recordHeaderSize + Int(file.header.headerBlockSize)
                + (options.commitEvery > 1 ? 2 : 1) * trainable.reduce(0) { $0 + ($1.rowBytes + UndoJournalFile.recordHeaderSize + 7) * $1.rows },
            dataBytes: 4 * dataTokens, workers: threads, trainableTensors: trainable.count, trainableElements: elements,
            optimizer: options.optimizer)
    }
}
