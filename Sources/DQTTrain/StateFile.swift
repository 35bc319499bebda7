// The tuning state sidecar `<model>.tune` (formats/dqt-tune.md §3): two slots, each the state
// of one model commit (step, data position, random-stream position, optimizer settings), and
// two optimizer-moment buffers used alternately. A slot is written for commit c+1 before the
// commit point, in the slot (c+1) mod 2, so the slot of commit c is intact until commit c+1 is
// durable; the moments of a commit period are written to the buffer its starting commit does
// not use. Resuming picks the slot whose commit equals the model's.
//
// The state is f32 values, per tensor in file order: element-interleaved moments ([rows, cols,
// moments]) or, for a factored tensor, its row and column statistics. Streamed through a
// worker's tile buffer with pread/pwrite: never held in memory as a whole, and pages are dropped
// from the page cache after every 32 MiB written and at each commit.
import DQTFormat
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct TuneSlot: Sendable, Equatable {
    public var commit: UInt64 = 0
    /// Optimizer steps applied (the random streams of step t are keyed by t).
    public var step: UInt64 = 0
    /// Token offset of the next training window.
    public var dataPosition: UInt64 = 0
    public var dataTokens: UInt64 = 0
    public var dataHash: UInt64 = 0
    /// Which moment buffer (0/1) holds this commit's moments.
    public var momentsBuffer: UInt32 = 0
    public var optimizer: UInt32 = 0
    /// Moments per element of the tensors kept per element (informative).
    public var moments: UInt32 = 0
    public var rounding: UInt32 = 0
    public var seed: UInt64 = 0
    /// f32 values in one moment buffer (version 1 counted elements: values = elements · moments).
    public var stateElements: UInt64 = 0
    public var modelIdentity: UInt64 = 0
    /// Loss of the last step (informative).
    public var lastLoss: Double = 0

    static let size = 4096
    static let used = 128
    static let magic: [UInt8] = Array("DQTTUNE1".utf8)
    static let version: UInt32 = 2

    func encode() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: TuneSlot.size)
        b.withUnsafeMutableBytes { p in
            let a = p.baseAddress!
            for i in 0..<8 { p[i] = TuneSlot.magic[i] }
            store(TuneSlot.version, a, 8)
            store(commit, a, 16); store(step, a, 24); store(dataPosition, a, 32); store(dataTokens, a, 40)
            store(dataHash, a, 48); store(momentsBuffer, a, 56); store(optimizer, a, 60); store(moments, a, 64)
            store(rounding, a, 68); store(seed, a, 72); store(stateElements, a, 80); store(modelIdentity, a, 88)
            store(lastLoss.bitPattern, a, 96)
            store(xxh64(UnsafeRawBufferPointer(rebasing: p[0..<120])), a, 120)
        }
        return b
    }

    /// The slot in `p`, nil if it is not a valid slot. A version-1 slot is migrated: its buffers
    /// have the same layout, its `E` counted elements (values = E · K).
    static func decode(_ p: UnsafeRawBufferPointer) -> TuneSlot? {
        guard p.count >= used, Array(p[0..<8]) == magic,
              load(p.baseAddress!, 120, as: UInt64.self) == xxh64(UnsafeRawBufferPointer(rebasing: p[0..<120])) else { return nil }
        let version = load(p.baseAddress!, 8, as: UInt32.self)
        guard version == 1 || version == TuneSlot.version else { return nil }
        let a = p.baseAddress!
        var s = TuneSlot()
        s.commit = load(a, 16, as: UInt64.self); s.step = load(a, 24, as: UInt64.self)
        s.dataPosition = load(a, 32, as: UInt64.self); s.dataTokens = load(a, 40, as: UInt64.self)
        s.dataHash = load(a, 48, as: UInt64.self); s.momentsBuffer = load(a, 56, as: UInt32.self)
        s.optimizer = load(a, 60, as: UInt32.self); s.moments = load(a, 64, as: UInt32.self)
        s.rounding = load(a, 68, as: UInt32.self); s.seed = load(a, 72, as: UInt64.self)
        s.stateElements = load(a, 80, as: UInt64.self); s.modelIdentity = load(a, 88, as: UInt64.self)
        s.lastLoss = Double(bitPattern: load(a, 96, as: UInt64.self))
        if version == 1 { s.stateElements *= UInt64(s.moments) }
        return s
    }
}

final class StateFile {
    static func path(for model: String) -> String { model + ".tune" }
    static let slotsBytes = 2 * TuneSlot.size

    let path: String
    let fd: Int32
    /// The slot of the model's current commit.
    private(set) var committed: TuneSlot
    /// Bytes of one moment buffer.
    let bufferBytes: Int
    /// Whether the optimizer keeps any state (not plain SGD).
    var hasState: Bool { bufferBytes > 0 }
    /// Bytes written to the state file by this process (moments and slots). Atomic: the workers
    /// of the fused update write their tiles' state at the same time (ThreadSanitizer reported
    /// the plain counter).
    private let written = Atomic<Int>(0)
    var bytesWritten: Int { written.load(ordering: .relaxed) }
    /// True once this period has written moments to the working buffer (later steps read it).
    var workingValid = false
    /// State bytes written since the page cache was last flushed and dropped (main thread only).
    private var unreleased = 0
    /// Dirty state pages allowed to pile up before they are flushed and dropped.
    static let releaseBytes = 32 << 20
    var workingBuffer: Int { 1 - Int(committed.momentsBuffer) }

    /// Opens the sidecar and picks the slot of `template.commit`, or creates a fresh one.
    /// `template` carries the run's model identity, optimizer and sizes.
    init(modelPath: String, template: TuneSlot, reset: Bool) throws {
        let path = StateFile.path(for: modelPath)
        self.path = path
        bufferBytes = (Int(template.stateElements) * 4 + 4095) & ~4095
        let exists = fileExists(path)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainError.io("cannot open the tuning state: \(errnoDescription())", path: path) }
        self.fd = fd
        committed = template
        if exists && !reset, let c = try StateFile.pick(fd: fd, path: path, template: template) {
            committed = c
            return
        }
        // Fresh state: zero moments (a sparse file), and the slot of the model's current commit.
        let total = StateFile.slotsBytes + 2 * bufferBytes
        guard ftruncate(fd, 0) == 0, ftruncate(fd, off_t(total)) == 0 else {
            throw TrainError.io("cannot size the tuning state to \(total) bytes: \(errnoDescription())", path: path)
        }
        committed.momentsBuffer = 0
        try writeSlot(committed)
        try syncDirectoryOrThrow(of: path)
    }

    /// The slot of `template.commit`, nil if the file holds no valid slot; throws if it holds
    /// the state of another model, optimizer or commit.
    private static func pick(fd: Int32, path: String, template: TuneSlot) throws -> TuneSlot? {
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) >= slotsBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: slotsBytes)
        try bytes.withUnsafeMutableBytes { try preadAll(fd, $0.baseAddress!, slotsBytes, 0, path: path) }
        let slots = bytes.withUnsafeBytes { p in
            [TuneSlot.decode(UnsafeRawBufferPointer(rebasing: p[0..<TuneSlot.size])),
             TuneSlot.decode(UnsafeRawBufferPointer(rebasing: p[TuneSlot.size..<(2 * TuneSlot.size)]))].compactMap { $0 }
        }
        guard let c = slots.first(where: { $0.commit == template.commit }) else {
            if let any = slots.max(by: { $0.commit < $1.commit }) {
                throw TrainError.state("holds the state of commit \(any.commit), but the model is at commit \(template.commit) (use --reset-state to start a fresh state)", path: path)
            }
            return nil
        }
        guard c.modelIdentity == template.modelIdentity else {
            throw TrainError.state("belongs to a different model (use --reset-state to start a fresh state)", path: path)
        }
        guard c.optimizer == template.optimizer, c.stateElements == template.stateElements else {
            throw TrainError.state("was written with another optimizer or set of trainable tensors (use the same --optimizer and --freeze, or --reset-state)", path: path)
        }
        return c
    }

    deinit { close(fd) }

    private func writeSlot(_ s: TuneSlot) throws {
        let bytes = s.encode()
        try bytes.withUnsafeBytes { try pwriteAll(fd, $0.baseAddress!, $0.count, Int(s.commit % 2) * TuneSlot.size, path: path) }
        written.add(bytes.count, ordering: .relaxed)
        try fdatasyncOrThrow(fd, path: path)
    }

    private func bufferOffset(_ buffer: Int, value: Int) -> Int {
        StateFile.slotsBytes + buffer * bufferBytes + value * 4
    }

    /// `count` state values from value `offset` on (the committed buffer in a period's first
    /// step, the working buffer after).
    func read(offset: Int, count: Int, into p: UnsafeMutablePointer<Float>) throws {
        let buffer = workingValid ? workingBuffer : Int(committed.momentsBuffer)
        try preadAll(fd, p, count * 4, bufferOffset(buffer, value: offset), path: path)
    }

    func write(offset: Int, count: Int, from p: UnsafePointer<Float>) throws {
        try pwriteAll(fd, p, count * 4, bufferOffset(workingBuffer, value: offset), path: path)
        written.add(count * 4, ordering: .relaxed)
    }

    /// After a chunk's `count` state values are done: once 32 MiB of state have been written
    /// since the last time, flush the file and drop its pages from the page cache, so the state
    /// never piles up in memory (per chunk, a small model's step paid one fdatasync per tensor).
    func release(count: Int) {
        guard hasState, count > 0 else { return }
        unreleased += count * 4
        if unreleased >= StateFile.releaseBytes {
            _ = fdatasync(fd)
            dropPages()
        }
    }

    /// Drops the (flushed) file's pages from the page cache.
    private func dropPages() {
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        unreleased = 0
    }

    /// Makes the working moments durable and writes the slot of the next commit (before the
    /// commit point). `next.momentsBuffer` is set here.
    func prepareCommit(_ next: TuneSlot) throws -> TuneSlot {
        var s = next
        s.momentsBuffer = workingValid ? UInt32(workingBuffer) : committed.momentsBuffer
        try fdatasyncOrThrow(fd, path: path)
        dropPages()
        try writeSlot(s)
        return s
    }

    /// After the commit point.
    func didCommit(_ s: TuneSlot) {
        committed = s
        workingValid = false
    }
}
