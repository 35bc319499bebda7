// Where weight gradients go as the backward pass produces them, one tile of rows at a time:
// into the fused update (UpdateSink, the tuner) or into arrays (CaptureSink, tests and the
// gradient goldens). No sink ever holds a full model's gradient.

protocol GradientSink: AnyObject {
    /// Whether `p`'s gradient is needed (the update wants trainable tensors only).
    func wants(_ p: Param) -> Bool
    /// Most rows of `p` one chunk may have (the tiles of a chunk are delivered, then `finish`).
    func chunkRows(_ p: Param) -> Int
    /// Rows `rows` of `p`, gradient [rows.count, p.cols] row-major. Called on worker `worker`,
    /// concurrently for disjoint row ranges of one chunk starting at `chunk`.
    func tile(_ p: Param, rows: Range<Int>, grad: UnsafePointer<Float>, worker: Int, chunk: Int)
    /// Every tile of `rows` was delivered (called on the main thread).
    func finish(_ p: Param, rows: Range<Int>) throws
}

/// Copies every gradient into arrays (for tests: small models only).
public final class CaptureSink: GradientSink, @unchecked Sendable {
    public private(set) var grads: [String: [Float]] = [:]
    let params: [Param]

    init(params: [Param]) {
        self.params = params
        for p in params { grads[p.name] = [Float](repeating: 0, count: p.count) }
    }

    func wants(_ p: Param) -> Bool { true }
    func chunkRows(_ p: Param) -> Int { p.rows }

    func tile(_ p: Param, rows: Range<Int>, grad: UnsafePointer<Float>, worker: Int, chunk: Int) {
        // Disjoint rows of one array; the array's storage is not reallocated while tiles run.
        grads[p.name]!.withUnsafeMutableBufferPointer { dst in
            for i in 0..<(rows.count * p.cols) { dst[rows.lowerBound * p.cols + i] = grad[i] }
        }
    }

    func finish(_ p: Param, rows: Range<Int>) throws {}
}
