// Where weight gradients go as the backward pass produces them, one tile of rows at a time:
// into the fused update (UpdateSink, the tuner) or into arrays (CaptureSink, tests and the
// gradient goldens). No sink ever holds a full model's gradient.

protocol GradientSink: AnyObject {
    /// Whether `p`'s gradient is needed (the update wants trainable tensors only).
    func wants(_ p: Param) -> Bool
    /// Most rows of `p` one chunk may have (the tiles of a chunk are delivered, then `finish`).
    func chunkRows(_ p: Param) -> Int
    /// Before the first tile of `p` (on the main thread).
    func begin(_ p: Param) throws
    /// Rows `rows` of `p`, gradient [rows.count, p.cols] row-major. Called on worker `worker`,
    /// concurrently for disjoint row ranges of one chunk starting at `chunk`.
    func tile(_ p: Param, rows: Range<Int>, grad: UnsafePointer<Float>, worker: Int, chunk: Int)
    /// Every tile of `rows` was delivered (called on the main thread).
    func finish(_ p: Param, rows: Range<Int>) throws
    /// Before the first tile of a chunk `rows` of `p` (on the main thread).
    func prepareChunk(_ p: Param, rows: Range<Int>) throws
    /// After the step's last chunk: nothing may stay pending (on the main thread).
    func flush() throws
}

extension GradientSink {
    func prepareChunk(_ p: Param, rows: Range<Int>) throws {}
    func flush() throws {}
}

/// Copies every gradient into arrays (for tests: small models only).
public final class CaptureSink: GradientSink, @unchecked Sendable {
    /// One buffer per parameter, allocated up front: workers write disjoint rows of it at once,
    /// which a Swift dictionary of arrays would not allow (every write is an exclusive access
    /// to the dictionary; ThreadSanitizer reports it).
    private let buffers: [String: UnsafeMutableBufferPointer<Float>]
    let params: [Param]

    public var grads: [String: [Float]] { buffers.mapValues { Array($0) } }

    init(params: [Param]) {
        self.params = params
        var b: [String: UnsafeMutableBufferPointer<Float>] = [:]
        for p in params {
            let buf = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.count)
            buf.initialize(repeating: 0)
            b[p.name] = buf
        }
        buffers = b
    }

    deinit { for b in buffers.values { b.deallocate() } }

    func wants(_ p: Param) -> Bool { true }
    func chunkRows(_ p: Param) -> Int { p.rows }
    func begin(_ p: Param) throws {}

    func tile(_ p: Param, rows: Range<Int>, grad: UnsafePointer<Float>, worker: Int, chunk: Int) {
        let dst = buffers[p.name]!
        for i in 0..<(rows.count * p.cols) { dst[rows.lowerBound * p.cols + i] = grad[i] }
    }

    func finish(_ p: Param, rows: Range<Int>) throws {}
}
