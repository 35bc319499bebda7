// Gradients of one step without updating anything (read-only mapping): for the gradient
// golden tests and for checking a model. Holds every gradient in arrays, so it is meant for
// small models only.
import DQTFormat

public final class GradientProbe {
    public let file: DQTFile
    let net: Network

    public init(path: String, seqLen: Int, batch: Int, threads: Int = 1) throws {
        file = try DQTFile(path: path)
        let table = try ParamTable(file: file, freeze: [])
        net = try Network(file: file, table: table, seqLen: seqLen, batch: batch, threads: threads, moments: 0,
                          stagingBytes: 1 << 16)
    }

    /// `windows`: batch rows of seqLen + 1 tokens. Returns the mean loss and dL/d(value) of
    /// every tensor by name (for grid tensors: with respect to code·scale).
    public func gradients(windows: [Int32]) throws -> (loss: Double, grads: [String: [Float]]) {
        let (inputs, targets) = try split(windows)
        let sink = CaptureSink(params: net.table.params)
        let loss = try inputs.withUnsafeBufferPointer { i in
            try targets.withUnsafeBufferPointer { t in try net.computeStep(inputs: i.baseAddress!, targets: t.baseAddress!, sink: sink) }
        }
        return (loss, sink.grads)
    }

    /// Logits [N, V] of the training forward pass for the inputs of `windows`.
    public func logits(windows: [Int32]) throws -> [Float] {
        let (inputs, _) = try split(windows)
        inputs.withUnsafeBufferPointer { net.forward(tokens: $0.baseAddress!) }
        net.headForward()
        return Array(UnsafeBufferPointer(start: net.b.logits, count: net.N * net.spec.vocabSize))
    }

    func split(_ windows: [Int32]) throws -> ([Int32], [Int32]) {
        let T = net.seqLen
        guard windows.count == net.batch * (T + 1) else {
            throw TrainError.badArgument("expected \(net.batch) windows of \(T + 1) tokens, got \(windows.count) tokens")
        }
        let (inputs, targets) = Tuner.split(windows, seqLen: T, batch: net.batch)
        for t in inputs + targets where t < 0 || Int(t) >= net.spec.vocabSize {
            throw TrainError.badArgument("token \(t) is outside the vocabulary")
        }
        return (inputs, targets)
    }
}
