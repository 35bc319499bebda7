// The writing side of the undo journal that makes in-place tuning crash-safe
// (formats/dqt-tune.md §2; the layout and the rollback live in DQTFormat/TuneProtocol.swift,
// shared with every reader).
//
// A commit period starts by writing the old header block to `<model>.journal` and syncing it
// (file and directory). Before any range of the model is modified, its old bytes are appended
// and synced. The commit rewrites section checksums, the commit counter and the header
// checksum, syncs the model, and then removes the journal: that unlink is the commit point.
// The tuner holds the exclusive period lock from before `begin` until after `finish`.
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class UndoJournal {
    let path: String
    private var fd: Int32 = -1
    private var end = 0
    private(set) var bytesWritten = 0
    private(set) var records = 0
    var isOpen: Bool { fd >= 0 }

    init(modelPath: String) { path = UndoJournalFile.path(for: modelPath) }

    deinit { if fd >= 0 { close(fd) } }

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
        end += UndoJournalFile.recordHeaderSize + ((bytes.count + 7) & ~7)
        bytesWritten += bytes.count
        records += 1
    }

    func sync() throws { try fdatasyncOrThrow(fd, path: path) }

    /// Removes the journal and syncs the directory: the commit point.
    func finish() throws {
        precondition(fd >= 0, "journal not begun")
        close(fd)
        fd = -1
        guard unlink(path) == 0 else { throw TrainError.io("cannot remove the journal: \(errnoDescription())", path: path) }
        try syncDirectoryOrThrow(of: path)
        end = 0
        bytesWritten = 0
        records = 0
    }
}
