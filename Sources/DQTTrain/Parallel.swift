// Running Swift closures on DQTModel's thread pool (which takes a C function and a context
// pointer). Every split of work here is static, so results never depend on thread timing.
import DQTModel

private let closureThunk: ParallelBody = { ctx, share, shares in
    ctx!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(share, shares)
}

final class Parallel: @unchecked Sendable {
    let pool: ThreadPool
    var count: Int { pool.count }

    init(threads: Int) throws {
        pool = try ThreadPool(threads: threads)
    }

    /// Runs body(share, shares) for every share, share 0 on the calling thread.
    func run(_ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { b in
            var f: (Int, Int) -> Void = b
            withUnsafeMutablePointer(to: &f) { pool.run(closureThunk, UnsafeMutableRawPointer($0)) }
        }
    }
}

/// The [begin, end) part of n items for share i of count, in whole multiples of `grain`.
@inline(__always) func split(_ n: Int, _ i: Int, _ count: Int, grain: Int = 1) -> Range<Int> {
    let blocks = (n + grain - 1) / grain
    let b0 = blocks * i / count, b1 = blocks * (i + 1) / count
    return min(n, b0 * grain)..<min(n, b1 * grain)
}
