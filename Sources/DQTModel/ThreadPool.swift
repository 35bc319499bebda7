// A persistent thread pool started at load. A job is a C function pointer plus a
// context pointer, so dispatching allocates nothing. Workers spin briefly on a
// generation counter (dispatches within a token are microseconds apart), then sleep on a
// condition variable (between prompts). The caller runs share 0 itself.
import CDQTKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A share of a parallel job: (context, share index, share count).
public typealias ParallelBody = @convention(c) (UnsafeMutableRawPointer?, Int, Int) -> Void

public final class ThreadPool: @unchecked Sendable {
    /// Shares per job, including the calling thread.
    public let count: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    // Written by the caller before the generation bump (release), read after (acquire).
    private var body: ParallelBody? = nil
    private var context: UnsafeMutableRawPointer? = nil
    private var threads: [pthread_t] = []
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var sleepers = 0  // guarded by mutex

    /// Spin iterations before a worker sleeps (~tens of microseconds).
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
                throw RuntimeError.badArgument("cannot start worker thread \(i): error \(rc)")
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
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    /// Runs `body(context, i, count)` for i in 0..<count, share 0 on the calling thread,
    /// and returns when all shares are done. Not reentrant.
    public func run(_ body: ParallelBody, _ context: UnsafeMutableRawPointer?) {
        if count == 1 {
            body(context, 0, 1)
            return
        }
        self.body = body
        self.context = context
        pending.store(count - 1, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(cond) }
        pthread_mutex_unlock(mutex)
        body(context, 0, count)
        while pending.load(ordering: .acquiring) != 0 { spinPause() }
    }

    private func workerLoop(_ index: Int) {
        // Generation 0 is "no job yet": a worker that starts late must still run job 1,
        // so it must not read the current value here.
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < ThreadPool.spinLimit {
                    spinPause()
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers += 1
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(cond, mutex) }
                    sleepers -= 1
                    pthread_mutex_unlock(mutex)
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            body!(context, index, count)
            pending.subtract(1, ordering: .releasing)
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
    dqt_cpu_relax()
}

/// The [begin, end) part of `n` items for share `i` of `count`, in multiples of `grain`.
@inline(__always) func shareRange(_ n: Int, _ i: Int, _ count: Int, grain: Int = 1) -> Range<Int> {
    let blocks = (n + grain - 1) / grain
    let b0 = blocks * i / count, b1 = blocks * (i + 1) / count
    return min(n, b0 * grain)..<min(n, b1 * grain)
}
