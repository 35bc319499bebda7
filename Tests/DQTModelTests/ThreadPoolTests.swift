import Foundation
import Synchronization
import Testing
@testable import DQTModel

/// Per-job bookkeeping the chunk bodies write to: how often each chunk index ran.
private final class ChunkLedger: @unchecked Sendable {
    let runs: UnsafeMutablePointer<Atomic<Int>>
    let capacity: Int
    init(capacity: Int) {
        self.capacity = capacity
        runs = .allocate(capacity: capacity)
        for i in 0..<capacity { (runs + i).initialize(to: Atomic<Int>(0)) }
    }
    deinit { runs.deallocate() }
}

private let recordChunk: ParallelBody = { ctx, chunk, _ in
    let ledger = Unmanaged<ChunkLedger>.fromOpaque(ctx!).takeUnretainedValue()
    // An index past the job's count is itself the bug this suite looks for; count it where the
    // checker sees it rather than writing out of bounds.
    let i = min(chunk, ledger.capacity - 1)
    ledger.runs[i].add(1, ordering: .relaxed)
}

@Suite struct ThreadPoolTests {
    /// Many short jobs whose chunk counts go up and down, on more threads than cores, so workers
    /// are preempted in the middle of taking a chunk: every chunk of every job must run exactly
    /// once and every dispatch must return. (A worker that read the previous job's position and
    /// the next job's larger count once took a chunk of a finished job and made the caller wait
    /// forever.)
    @Test func everyChunkRunsExactlyOnceAndEveryJobReturns() throws {
        let counts = [1, 2, 3, 5, 8, 13, 4, 7, 2, 16, 3]
        let capacity = 17 + 1          // one slot past the largest count catches stray indices
        let jobs = 1_000_000
        let progress = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let finished = Atomic<Bool>(false)
        let pool = try ThreadPool(threads: 6)
        let ledger = ChunkLedger(capacity: capacity)
        let thread = Thread {
            let ctx = Unmanaged.passUnretained(ledger).toOpaque()
            for j in 0..<jobs {
                let n = counts[j % counts.count]
                pool.run(chunks: n, recordChunk, ctx)
                for i in 0..<capacity {
                    let expected = i < n ? 1 : 0
                    if ledger.runs[i].exchange(0, ordering: .relaxed) != expected { failures.add(1, ordering: .relaxed) }
                }
                progress.store(j + 1, ordering: .relaxed)
            }
            finished.store(true, ordering: .releasing)
        }
        thread.start()
        // A hang shows as no progress for 20 s (the whole run takes about 3 s).
        var last = -1, stalled = 0.0
        while !finished.load(ordering: .acquiring) {
            Thread.sleep(forTimeInterval: 0.05)
            let p = progress.load(ordering: .relaxed)
            if p == last { stalled += 0.05 } else { last = p; stalled = 0 }
            if stalled > 20 {
                Issue.record("dispatch stopped returning after job \(p) of \(jobs)")
                return          // the stuck thread is left behind; the process exits after the run
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0, "chunks that ran zero or two times, or out of range")
        #expect(progress.load(ordering: .relaxed) == jobs)
    }

    /// The plain `run` form hands each of `count` calls its index and the count.
    /// The striped chunk order of the linear and head jobs maps the takes 0..<n onto the chunks
    /// 0..<n one to one, and with alternating takers each thread walks consecutive chunks.
    @Test func stripedChunksAreAPermutationWithConsecutiveStripes() {
        for threads in 1...6 {
            for n in 1...200 {
                let mapped = (0..<n).map { stripedChunk($0, chunks: n, threads: threads) }
                #expect(mapped.sorted() == Array(0..<n), "n \(n) threads \(threads)")
                for s in 0..<threads {
                    let mine = stride(from: s, to: n, by: threads).map { mapped[$0] }
                    #expect(zip(mine, mine.dropFirst()).allSatisfy { $1 == $0 + 1 }, "n \(n) threads \(threads) stripe \(s)")
                }
            }
        }
    }

    @Test func runPassesIndexAndCount() throws {
        let pool = try ThreadPool(threads: 3)
        let ledger = ChunkLedger(capacity: 4)
        let body: ParallelBody = { ctx, i, n in
            let l = Unmanaged<ChunkLedger>.fromOpaque(ctx!).takeUnretainedValue()
            if n == 3 { l.runs[i].add(1, ordering: .relaxed) }
        }
        for _ in 0..<1000 {
            pool.run(body, Unmanaged.passUnretained(ledger).toOpaque())
            #expect((0..<3).map { ledger.runs[$0].exchange(0, ordering: .relaxed) } == [1, 1, 1])
        }
    }
}
