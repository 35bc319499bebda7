// A persistent thread pool started at load. A job is a C function pointer plus a context
// pointer, so dispatching allocates nothing. A job is split into chunks that the threads
// (the caller included) take one at a time from a shared counter: a thread that is late or
// descheduled (the cores are shared with other processes) simply takes fewer chunks, and the
// caller only ever waits for chunks already started, never for a thread that has not woken.
// Workers spin briefly between jobs (dispatches within a token are microseconds apart), then
// sleep on a condition variable (between prompts).
import DQTKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A piece of a parallel job: (context, index, count) for `run(_:_:)`, (context, chunk,
/// thread index) for `run(chunks:_:_:)`.
public typealias ParallelBody = @convention(c) (UnsafeMutableRawPointer?, Int, Int) -> Void

public final class ThreadPool: @unchecked Sendable {
    /// Threads that run jobs, including the calling thread.
    public let count: Int
    /// Job number (high 32 bits) and next chunk to take (low 32 bits), in one word so that a
    /// thread can only take a chunk of the job it read the body and context of.
    private let state = Atomic<UInt64>(0)
    /// Chunks finished in the current job.
    private let done = Atomic<Int>(0)
    /// Chunks in the current job. Atomic because a worker still inside the previous job may read
    /// it while the caller writes the next job's count (see `dispatch`).
    private let chunks = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    // Written by the caller before the job is published (release), read after (acquire).
    private var body: ParallelBody? = nil
    private var context: UnsafeMutableRawPointer? = nil
    private var passThreadIndex = false
    private var job: UInt32 = 0
    private var threads: [pthread_t] = []
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    /// Spin iterations (pause instructions) before an idle worker sleeps (~100 µs).
    static let spinLimit = 20_000

    public init(threads n: Int) throws {
        count = max(1, n)
        mutex = .allocate(capacity: 1)
        cond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        for i in 1..<count {
            let arg = UnsafeMutablePointer<WorkerArg>.allocate(capacity: 1)
            arg.initialize(to: WorkerArg(pool: Unmanaged.passUnretained(self).toOpaque(), index: i))
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { raw in
                let a = raw!.assumingMemoryBound(to: WorkerArg.self)
                let pool = Unmanaged<ThreadPool>.fromOpaque(a.pointee.pool).takeUnretainedValue()
                let index = a.pointee.index
                a.deallocate()
                pool.workerLoop(index)
                return nil
            }, arg)
            guard rc == 0 else {
                arg.deallocate()
                shutdown()
                throw RuntimeError.system("cannot start worker thread \(i): \(String(cString: strerror(rc)))")
            }
            threads.append(tid)
        }
    }

    deinit {
        shutdown()
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    private func shutdown() {
        guard !threads.isEmpty else { return }
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    /// Runs `body(context, i, count)` once for each i in 0..<count, on whichever threads are
    /// free, and returns when all are done. Not reentrant.
    public func run(_ body: ParallelBody, _ context: UnsafeMutableRawPointer?) {
        dispatch(body, context, chunks: count, passThreadIndex: false)
    }

    /// Runs `body(context, chunk, thread)` once for each chunk in 0..<chunks; `thread`
    /// (< count) identifies the running thread, for per-thread scratch. Not reentrant.
    public func run(chunks: Int, _ body: ParallelBody, _ context: UnsafeMutableRawPointer?) {
        dispatch(body, context, chunks: chunks, passThreadIndex: true)
    }

    private func dispatch(_ body: ParallelBody, _ context: UnsafeMutableRawPointer?, chunks n: Int, passThreadIndex: Bool) {
        guard n > 0 else { return }
        if count == 1 || n == 1 {
            for c in 0..<n { body(context, c, passThreadIndex ? 0 : n) }
            return
        }
        precondition(n < 1 << 31, "too many chunks")
        self.body = body
        self.context = context
        // Release: a worker that reads this count also sees the previous job's `closed` state
        // below, so a chunk index it read under the old, smaller count cannot be taken.
        self.chunks.store(n, ordering: .releasing)
        self.passThreadIndex = passThreadIndex
        done.store(0, ordering: .relaxed)
        job &+= 1
        state.store(UInt64(job) << 32, ordering: .sequentiallyConsistent)   // publishes the fields above
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(cond)
            pthread_mutex_unlock(mutex)
        }
        work(job, thread: 0)
        while done.load(ordering: .acquiring) != n { spinPause() }
        // Close the job: without this, a worker that read (job, n) just before the last chunk
        // was taken, and then the next job's larger count, could take "chunk n" of a finished
        // job and add to the next job's `done` (the caller then waits forever; seen as a hang
        // under load).
        state.store(UInt64(job) << 32 | 0xFFFF_FFFF, ordering: .sequentiallyConsistent)
    }

    /// Takes and runs chunks of job `j` until none are left (or the job is no longer current).
    @inline(__always) private func work(_ j: UInt32, thread: Int) {
        while true {
            let v = state.load(ordering: .acquiring)
            guard UInt32(truncatingIfNeeded: v >> 32) == j else { return }
            let c = Int(v & 0xFFFF_FFFF)
            let n = chunks.load(ordering: .acquiring)
            guard c < n else { return }
            // The job cannot finish while this chunk is taken and not done, so the fields
            // read below belong to job j.
            guard state.compareExchange(expected: v, desired: v + 1, ordering: .acquiring).exchanged else { continue }
            body!(context, c, passThreadIndex ? thread : n)
            done.add(1, ordering: .releasing)
        }
    }

    private func workerLoop(_ index: Int) {
        // Job 0 is "no job yet": a worker that starts late must still see job 1.
        var seen: UInt32 = 0
        @inline(__always) func current() -> UInt32 { UInt32(truncatingIfNeeded: state.load(ordering: .acquiring) >> 32) }
        while true {
            var spins = 0
            while current() == seen && !stopping.load(ordering: .relaxed) {
                spins += 1
                if spins < ThreadPool.spinLimit {
                    spinPause()
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while UInt32(truncatingIfNeeded: state.load(ordering: .sequentiallyConsistent) >> 32) == seen
                            && !stopping.load(ordering: .sequentiallyConsistent) {
                        pthread_cond_wait(cond, mutex)
                    }
                    sleepers.subtract(1, ordering: .relaxed)
                    pthread_mutex_unlock(mutex)
                }
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = current()
            work(seen, thread: index)
        }
    }
}

private struct WorkerArg {
    var pool: UnsafeMutableRawPointer
    var index: Int
}

@inline(__always) func spinPause() {
    // `pause` (x86) / `yield` (arm), not sched_yield: on a busy machine sched_yield hands the
    // core to another process for a whole time slice while the job waits for this thread.
    Kernels.cpuRelax()
}

/// The [begin, end) part of `n` items for share `i` of `count`, in multiples of `grain`.
@inline(__always) func shareRange(_ n: Int, _ i: Int, _ count: Int, grain: Int = 1) -> Range<Int> {
    let blocks = (n + grain - 1) / grain
    let b0 = blocks * i / count, b1 = blocks * (i + 1) / count
    return min(n, b0 * grain)..<min(n, b1 * grain)
}
