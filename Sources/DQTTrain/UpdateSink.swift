// The fused update as a gradient sink: each tile of gradient rows becomes new packed rows in
// the staging buffer (reading and writing the tile's optimizer moments in the state sidecar).
// The staging buffer has two halves. Finished chunks wait in one, one after another, until it
// is full or the step ends; then the rows that changed are journaled (the old values of the
// bytes they change) and the journal's fdatasync starts on a helper thread, while the next
// chunks are computed into the other half. Before that half is journaled in turn, the sync is
// waited for and the first half's rows are copied into the mapping in place — so every byte of
// the model still changes only after its old value is durable in the journal, and the sync's
// wait overlaps compute. Nothing reads a tensor between its update and the end of the step (a
// layer's weights are done with when its update comes; the head/embedding comes last), so the
// deferral changes no value. Rows go in with pwrite on the model's descriptor, not through
// the mapping (the same page cache, so the mapping sees them at once): a store into a page the
// last commit's msync left clean costs a write-protect fault per 4 KiB page, the kernel's copy
// does not. In a step that commits, they are also handed to the kernel's writeback at once, so
// the commit's msync finds most pages already on disk.
import CDQTTrain
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class UpdateSink: GradientSink, @unchecked Sendable {
    let net: Network
    let state: StateFile
    let journal: UndoJournal
    /// Starts the journal's commit period (set by the tuner).
    var beginJournalHook: () throws -> Void
    var constants: StepConstants
    /// Sections modified since the last commit.
    var dirtySections = Set<Int>()
    /// 4 KiB pages of the model written in place since the last count (what msync writes back
    /// at the commit; a page dirtied in two steps of one period is counted twice).
    var modelPagesDirtied = 0
    /// Per worker: elements changed, elements updated, first I/O error. Fixed buffers, not
    /// arrays: workers write their own slot at the same time, and a write to one element of a
    /// Swift array is an exclusive access to the whole array (ThreadSanitizer reports it).
    let changed: UnsafeMutableBufferPointer<Int>
    let updated: UnsafeMutableBufferPointer<Int>
    let errors: UnsafeMutableBufferPointer<Error?>
    /// The model file's descriptor and path: new rows are written through it (−1: through the
    /// mapping, for a model not backed by a file).
    let modelFD: Int32
    let modelPath: String
    /// Set while this step ends in a commit: its rows are handed to writeback as they go in (in
    /// a longer period a row's page may change again).
    var writebackEarly = false
    /// Finished chunks waiting in the filling half of the staging buffer (their new rows from
    /// byte `at` of the buffer on).
    private var pending: [Chunk] = []
    /// Journaled chunks of the other half, with their changed rows, waiting for the journal's
    /// sync (if their rows needed records: `journal.syncing`).
    private var journaled: [(chunk: Chunk, changedRows: [Int])] = []
    /// Bytes of one staging half; where the filling half starts; bytes of it taken by `pending`;
    /// where the chunk being produced starts (offsets in the buffer).
    private let half: Int
    private var halfBase = 0, stagingUsed = 0, chunkBase = 0
    typealias Chunk = (p: Param, rows: Range<Int>, at: Int)

    init(net: Network, state: StateFile, journal: UndoJournal, constants: StepConstants, modelFD: Int32, modelPath: String,
         beginJournal: @escaping () throws -> Void) {
        beginJournalHook = beginJournal
        self.modelFD = modelFD
        self.modelPath = modelPath
        self.net = net
        self.state = state
        self.journal = journal
        self.constants = constants
        changed = .allocate(capacity: net.par.count)
        changed.initialize(repeating: 0)
        updated = .allocate(capacity: net.par.count)
        updated.initialize(repeating: 0)
        errors = .allocate(capacity: net.par.count)
        errors.initialize(repeating: nil)
        half = net.plan.stagingBytes / 2 & ~63
    }

    deinit {
        changed.deallocate()
        updated.deallocate()
        _ = errors.deinitialize()
        errors.deallocate()
    }

    /// A factored tensor's chunk is done: its tiles' column sums join the tensor's (in tile
    /// order); after the last chunk, γ ← β₂γ + (1−β₂)(Σ_i g_ij²/rows + ε₁) is written.
    func finishColumns(_ p: Param, rows: Range<Int>) throws {
        let b = net.b, C = p.cols, R = net.plan.tileRows(rows: p.rows)
        let tiles = (rows.count + R - 1) / R
        for t in 0..<tiles {
            let src = b.colTiles + t * C
            for j in 0..<C { b.colSum[j] += src[j] }
        }
        guard rows.upperBound == p.rows else { return }
        let f = constants.factored, inv = 1 / Float(p.rows)
        for j in 0..<C { b.colSum[j] = f.b2 * b.gamma[j] + f.omb2 * (b.colSum[j] * inv + f.eps1) }
        try state.write(offset: p.stateOffset + p.rows, count: C, from: b.colSum)
    }

    func resetCounters() {
        for i in 0..<changed.count { changed[i] = 0; updated[i] = 0 }
        modelPagesDirtied = 0
    }

    func wants(_ p: Param) -> Bool { p.trainable }

    func chunkRows(_ p: Param) -> Int {
        let rows = max(1, half / max(p.rowBytes, 1))
        // A factored tensor keeps the column sums of each tile of a chunk (summed in tile order).
        return constants.kind.factors(p) ? min(rows, TrainPlan.maxChunkTiles * net.plan.tileRows(rows: p.rows)) : rows
    }

    /// The state values (offset, count) of rows `rows` of `p`: per-element moments, or a factored
    /// tensor's row statistics.
    func stateRange(_ p: Param, _ rows: Range<Int>) -> (Int, Int) {
        constants.kind.factors(p) ? (p.stateOffset + rows.lowerBound, rows.count)
                                  : (p.stateOffset + rows.lowerBound * p.cols * constants.kind.moments, rows.count * p.cols * constants.kind.moments)
    }

    /// A factored tensor: its column statistics γ of the last step and the column shape γ/mean(γ)
    /// (all ones before the first step), and zero column sums.
    func begin(_ p: Param) throws {
        guard constants.kind.factors(p) else { return }
        let b = net.b, C = p.cols
        try state.read(offset: p.stateOffset + p.rows, count: C, into: b.gamma)
        var sum: Float = 0
        for j in 0..<C { sum += b.gamma[j] }
        let mean = sum / Float(C)
        for j in 0..<C { b.shape[j] = mean > 0 ? b.gamma[j] / mean : 1; b.colSum[j] = 0 }
    }

    func tile(_ p: Param, rows: Range<Int>, grad: UnsafePointer<Float>, worker: Int, chunk: Int) {
        let ws = net.b.workers[worker]
        let n = rows.count
        let (offset, count) = stateRange(p, rows)
        var st: UnsafeMutablePointer<Float>? = nil
        do {
            if count > 0 {
                st = ws.state
                try state.read(offset: offset, count: count, into: ws.state)
            }
            let out = net.b.staging + chunkBase + (rows.lowerBound - chunk) * p.rowBytes
            var scratch = UpdateScratch(oldCodes: ws.oldCodes, newCodes: ws.newCodes)
            if constants.kind.factors(p) {
                scratch.u = ws.u
                scratch.shape = UnsafePointer(net.b.shape)
                scratch.columns = net.b.colTiles + (rows.lowerBound - chunk) / net.plan.tileRows(rows: p.rows) * p.cols
            }
            changed[worker] += Update.rows(p, rows.lowerBound, n, grad: grad, state: st, out: out, scratch: scratch, constants)
            updated[worker] += n * p.cols
            if count > 0 { try state.write(offset: offset, count: count, from: ws.state) }
        } catch {
            if errors[worker] == nil { errors[worker] = error }
        }
    }

    func prepareChunk(_ p: Param, rows: Range<Int>) throws {
        if stagingUsed + rows.count * p.rowBytes > half { try journalPending() }
        chunkBase = halfBase + stagingUsed
    }

    func finish(_ p: Param, rows: Range<Int>) throws {
        if let e = errors.compactMap({ $0 }).first {
            for i in 0..<errors.count { errors[i] = nil }
            throw e
        }
        pending.append((p, rows, chunkBase))
        stagingUsed = (chunkBase - halfBase + rows.count * p.rowBytes + 63) & ~63
        if constants.kind.factors(p) { try finishColumns(p, rows: rows) }
        // The state file flushes and drops its pages once enough of them are dirty.
        state.release(count: stateRange(p, rows).1)
    }

    /// Every chunk of the step into the mapping (the step's end).
    func flush() throws {
        try journalPending()
        try applyJournaled()
    }

    /// The pending chunks' changed rows, as far as the journal does not hold them yet, are
    /// recorded and a sync of the journal is started; the chunks journaled before are copied
    /// in (after their sync) and the other staging half is filled next. A row's first change in
    /// a period is journaled as the bytes it changes (a masked record); a second change (with
    /// `--commit-every` > 1) journals the whole row as it is then — its bytes not yet changed are
    /// the period's, and the rollback writes the earlier record last (formats/dqt-tune.md §2.3).
    private func journalPending() throws {
        guard !pending.isEmpty else { return }
        let staging = net.b.staging
        // Rows whose bytes change, and runs of rows of one kind of record still to journal.
        var changed: [[Int]] = []
        var toJournal: [(p: Param, range: Range<Int>, new: UnsafeRawPointer, whole: Bool)] = []
        for (p, rows, at) in pending {
            let rb = p.rowBytes
            var changedRows: [Int] = []
            var run: (range: Range<Int>, whole: Bool)? = nil
            func close() {
                if let l = run { toJournal.append((p, l.range, UnsafeRawPointer(staging + at + (l.range.lowerBound - rows.lowerBound) * rb), l.whole)) }
                run = nil
            }
            for r in rows {
                let old = p.data + r * rb, new = staging + at + (r - rows.lowerBound) * rb
                guard memcmp(old, new, rb) != 0 else { continue }
                changedRows.append(r)
                let coverage = p.journaled[r]
                guard coverage != .all else { close(); continue }
                let whole = coverage == .changes
                if let l = run, l.range.upperBound == r, l.whole == whole { run = (l.range.lowerBound..<(r + 1), whole) } else {
                    close()
                    run = (r..<(r + 1), whole)
                }
            }
            close()
            changed.append(changedRows)
        }
        if !toJournal.isEmpty {
            try beginJournalHook()
            for (p, range, new, whole) in toJournal {
                let offset = p.fileOffset + range.lowerBound * p.rowBytes, old = p.data + range.lowerBound * p.rowBytes
                if whole {
                    try journal.record(offset: offset, bytes: UnsafeRawBufferPointer(start: old, count: range.count * p.rowBytes))
                } else {
                    try journal.recordChanges(offset: offset, old: old, new: new, count: range.count * p.rowBytes)
                }
                for r in range { p.journaled[r] = whole ? .all : .changes }
            }
        }
        // The other half's rows go in (their sync has had this half's compute to finish); then
        // this half's records start syncing, and the other half fills next.
        try applyJournaled()
        if !toJournal.isEmpty { try journal.startSync() }
        journaled = zip(pending, changed).map { ($0, $1) }
        pending.removeAll(keepingCapacity: true)
        halfBase = halfBase == 0 ? half : 0
        stagingUsed = 0
        chunkBase = halfBase
    }

    /// Waits for the journal's sync of the journaled chunks, then copies their changed rows
    /// into the mapping (and hands them to writeback when the step commits).
    private func applyJournaled() throws {
        guard !journaled.isEmpty else { return }
        try journal.waitSync()   // returns at once if no records were started
        let staging = net.b.staging
        for ((p, rows, at), changedRows) in journaled {
            let rb = p.rowBytes
            var lastPage = -1   // rows ascend within a chunk; a page shared by two chunks counts twice
            var i = 0
            while i < changedRows.count {   // runs of consecutive changed rows
                var j = i + 1
                while j < changedRows.count, changedRows[j] == changedRows[j - 1] + 1 { j += 1 }
                let r0 = changedRows[i], n = j - i
                let src = staging + at + (r0 - rows.lowerBound) * rb
                if modelFD >= 0 {
                    try pwriteAll(modelFD, src, n * rb, p.fileOffset + r0 * rb, path: modelPath)
                } else {
                    (p.data + r0 * rb).copyMemory(from: src, byteCount: n * rb)
                }
                for r in r0..<(r0 + n) {
                    let first = max((p.fileOffset + r * rb) >> 12, lastPage + 1), last = (p.fileOffset + (r + 1) * rb - 1) >> 12
                    if last >= first { modelPagesDirtied += last - first + 1 }
                    lastPage = max(lastPage, last)
                }
                i = j
            }
            if let r0 = changedRows.first, let r1 = changedRows.last {
                dirtySections.insert(p.section)
                if writebackEarly, modelFD >= 0 {   // a hint: the commit's msync makes them durable
                    _ = dqtt_start_writeback(modelFD, Int64(p.fileOffset + r0 * rb), Int64((r1 + 1 - r0) * rb))
                }
            }
        }
        journaled.removeAll(keepingCapacity: true)
    }
}
