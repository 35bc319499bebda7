// The writing side of the undo journal that makes in-place tuning crash-safe
// (formats/dqt-tune.md §2; the layout and the rollback live in DQTFormat/TuneProtocol.swift,
// shared with every reader).
//
// A commit period starts by writing the old header block to `<model>.journal` and syncing it
// (file and directory). Before any range of the model is modified, its old bytes are appended
// and synced — as a masked record (a bit per byte, and the old values of the bytes that change
// only) where that is smaller, which it is for a ternary step: a few percent of the codes move.
// The commit rewrites section checksums, the commit counter and the header checksum, syncs the
// model, and then removes the journal: that unlink is the commit point.
// The tuner holds the exclusive period lock from before `begin` until after `finish`.
import CDQTTrain
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the journal holds of one row of a tensor in the current period (`Param.journaled`).
enum JournalCoverage: UInt8 {
    case none, changes, all
}

final class UndoJournal {
    let path: String
    private var fd: Int32 = -1
    private var end = 0
    /// Bytes in the journal file (headers, records, padding): what the period writes to it.
    var bytesWritten: Int { end }
    private(set) var records = 0
    var isOpen: Bool { fd >= 0 }
    /// A masked record in the making: 32-byte header, mask, kept bytes (for spans of at most
    /// `maskedSpan` bytes of the model).
    private let encoded: UnsafeMutableRawPointer
    static let maskedSpan = 256 << 10
    /// Runs `startSync`'s fdatasync on its own thread; nil where no thread could be started
    /// (then `startSync` syncs in place).
    private let syncer: OpaquePointer?
    /// A `startSync` not yet waited for.
    private(set) var syncing = false

    init(modelPath: String) {
        path = UndoJournalFile.path(for: modelPath)
        encoded = .allocate(byteCount: UndoJournalFile.recordHeaderSize + UndoJournalFile.maskBytes(length: Self.maskedSpan) + Self.maskedSpan,
                            alignment: 64)
        syncer = dqtt_syncer_create()
    }

    deinit {
        dqtt_syncer_destroy(syncer)   // lets a running fdatasync finish before the descriptor closes
        if fd >= 0 { close(fd) }
        encoded.deallocate()
    }

    /// Starts a period: creates the journal holding the old header block and makes it durable
    /// (file and directory). Must precede every modification of the model.
    func begin(fileLength: UInt64, commit: UInt64, headerBlock: UnsafeRawBufferPointer) throws {
        precondition(fd < 0, "journal already open")
        guard !fileExists(path) else {
            throw TrainError.state("exists: a previous run was interrupted and not rolled back", path: path)
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainError.io("cannot create the journal: \(errnoDescription())", path: path) }
        let h = UndoJournalFile.header(fileLength: fileLength, commit: commit)
        try h.withUnsafeBytes { try pwriteAll(fd, $0.baseAddress!, $0.count, 0, path: path) }
        end = UndoJournalFile.headerSize
        try record(offset: 0, bytes: headerBlock)
        try sync()
        try syncDirectoryOrThrow(of: path)
    }

    /// Appends the old bytes of one range of the model (durable after `sync`).
    func record(offset: Int, bytes: UnsafeRawBufferPointer) throws {
        precondition(fd >= 0, "journal not begun")
        let h = UndoJournalFile.recordHeader(offset: offset, bytes: bytes)
        try h.withUnsafeBytes { try pwriteAll(fd, $0.baseAddress!, $0.count, end, path: path) }
        try pwriteAll(fd, bytes.baseAddress!, bytes.count, end + UndoJournalFile.recordHeaderSize, path: path)
        appended(dataCount: bytes.count)
    }

    /// A record with `dataCount` bytes of data was written at `end`: the next goes after its padding.
    private func appended(dataCount: Int) {
        end += UndoJournalFile.recordHeaderSize + ((dataCount + 7) & ~7)
        records += 1
    }

    /// Appends the old bytes of `[offset, offset + count)`, which `new` is about to replace:
    /// per span of at most `maskedSpan` bytes, a masked record if it is smaller than the plain
    /// one (durable after `sync`). Bytes equal in `old` and `new` need no undo.
    func recordChanges(offset: Int, old: UnsafeRawPointer, new: UnsafeRawPointer, count: Int) throws {
        precondition(fd >= 0, "journal not begun")
        var at = 0
        while at < count {
            let n = min(Self.maskedSpan, count - at)
            let m = UndoJournalFile.maskBytes(length: n)
            let data = encoded + UndoJournalFile.recordHeaderSize
            // Masked only if smaller than plain: m + kept < n.
            let kept = dqtt_undo_mask(old.assumingMemoryBound(to: UInt8.self) + at, new.assumingMemoryBound(to: UInt8.self) + at, n,
                                      data.assumingMemoryBound(to: UInt8.self), (data + m).assumingMemoryBound(to: UInt8.self), n - m - 1)
            if kept > 0 {
                if m + kept < n {
                    let d = UnsafeRawBufferPointer(start: data, count: m + kept)
                    let h = UndoJournalFile.recordHeader(offset: offset + at, length: n, kind: .masked, data: d)
                    h.withUnsafeBytes { encoded.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    try pwriteAll(fd, encoded, UndoJournalFile.recordHeaderSize + d.count, end, path: path)
                    appended(dataCount: d.count)
                } else {
                    try record(offset: offset + at, bytes: UnsafeRawBufferPointer(start: old + at, count: n))
                }
            }
            at += n
        }
    }

    func sync() throws { try fdatasyncOrThrow(fd, path: path) }

    /// Starts making the records appended so far durable and returns at once; `waitSync` says
    /// when they are (records appended meanwhile may or may not be included).
    func startSync() throws {
        precondition(fd >= 0 && !syncing, "journal not begun, or a sync is running")
        guard let syncer else { return try sync() }
        dqtt_syncer_start(syncer, fd)
        syncing = true
    }

    /// Waits for `startSync`'s records to be durable (no-op without one).
    func waitSync() throws {
        guard syncing, let syncer else { return }
        syncing = false
        let e = dqtt_syncer_wait(syncer)
        guard e == 0 else { throw TrainError.io("fdatasync of the journal failed: \(errnoDescription(e))", path: path) }
    }

    /// Removes the journal and syncs the directory: the commit point.
    func finish() throws {
        precondition(fd >= 0, "journal not begun")
        try waitSync()
        close(fd)
        fd = -1
        guard unlink(path) == 0 else { throw TrainError.io("cannot remove the journal: \(errnoDescription())", path: path) }
        try syncDirectoryOrThrow(of: path)
        end = 0
        records = 0
    }
}
