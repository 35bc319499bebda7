// The undo journal that makes in-place tuning crash-safe (formats/dqt-tune.md §2).
//
// A commit period starts by writing the old header block to `<model>.journal` and syncing it
// (file and directory). Before any range of the model is modified, its old bytes are appended
// and synced. The commit rewrites section checksums, the commit counter and the header
// checksum, syncs the model, and then removes the journal: that unlink is the commit point.
// At the next open, an existing journal is rolled back: every intact record's old bytes are
// written back, so the file returns to the previous commit exactly.
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct RecoveryReport: Sendable, CustomStringConvertible {
    public var journal: String
    /// Records written back (0 if the journal was torn before anything was modified).
    public var records: Int
    public var bytes: Int
    /// The commit the model is back at.
    public var commit: UInt64
    public var description: String {
        "rolled back an interrupted commit period from \(journal): \(records) record(s), \(bytes) bytes restored; the model is at commit \(commit)"
    }
}

final class UndoJournal {
    static let magic: [UInt8] = Array("DQTUNDO1".utf8)
    static let recordMagic: UInt32 = 0x4345_5255   // "UREC"
    static let headerSize = 64
    static let recordHeaderSize = 32

    static func path(for model: String) -> String { model + ".journal" }

    let path: String
    private var fd: Int32 = -1
    private var end = 0
    private(set) var bytesWritten = 0
    private(set) var records = 0
    var isOpen: Bool { fd >= 0 }

    init(modelPath: String) { path = UndoJournal.path(for: modelPath) }

    deinit { if fd >= 0 { close(fd) } }

    /// Starts a period: creates the journal holding the old header block and makes it durable
    /// (file and directory). Must precede every modification of the model.
    func begin(fileLength: UInt64, commit: UInt64, headerBlock: UnsafeRawBufferPointer) throws {
        precondition(fd < 0, "journal already open")
        guard !fileExists(path) else {
            throw TrainError.state("\(path) exists: a previous run was interrupted and not rolled back")
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainError.io("\(path): cannot create the journal: \(errnoDescription())") }
        var h = [UInt8](repeating: 0, count: UndoJournal.headerSize)
        h.withUnsafeMutableBytes { p in
            for i in 0..<8 { p[i] = UndoJournal.magic[i] }
            store(UInt32(1), p.baseAddress!, 8)
            store(fileLength, p.baseAddress!, 16)
            store(commit, p.baseAddress!, 24)
            store(xxh64(UnsafeRawBufferPointer(rebasing: p[0..<56])), p.baseAddress!, 56)
        }
        try h.withUnsafeBytes { try pwriteAll(fd, $0.baseAddress!, $0.count, 0, path: path) }
        end = UndoJournal.headerSize
        try record(offset: 0, bytes: headerBlock)
        try sync()
        try syncDirectoryOrThrow(of: path)
    }

    /// Appends the old bytes of one range of the model (durable after `sync`).
    func record(offset: Int, bytes: UnsafeRawBufferPointer) throws {
        precondition(fd >= 0, "journal not begun")
        var h = [UInt8](repeating: 0, count: UndoJournal.recordHeaderSize)
        h.withUnsafeMutableBytes { p in
            store(UndoJournal.recordMagic, p.baseAddress!, 0)
            store(UInt64(offset), p.baseAddress!, 8)
            store(UInt64(bytes.count), p.baseAddress!, 16)
            store(UndoJournal.checksum(offset: offset, bytes: bytes), p.baseAddress!, 24)
        }
        try h.withUnsafeBytes { try pwriteAll(fd, $0.baseAddress!, $0.count, end, path: path) }
        try pwriteAll(fd, bytes.baseAddress!, bytes.count, end + UndoJournal.recordHeaderSize, path: path)
        end += UndoJournal.recordHeaderSize + ((bytes.count + 7) & ~7)
        bytesWritten += bytes.count
        records += 1
    }

    func sync() throws { try fdatasyncOrThrow(fd, path: path) }

    /// Removes the journal and syncs the directory: the commit point.
    func finish() throws {
        precondition(fd >= 0, "journal not begun")
        close(fd)
        fd = -1
        guard unlink(path) == 0 else { throw TrainError.io("\(path): cannot remove the journal: \(errnoDescription())") }
        try syncDirectoryOrThrow(of: path)
        end = 0
        bytesWritten = 0
        records = 0
    }

    static func checksum(offset: Int, bytes: UnsafeRawBufferPointer) -> UInt64 {
        xxh64(bytes, seed: UInt64(offset) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count))
    }

    // MARK: - recovery

    /// Rolls back an interrupted commit period of `modelPath`, if its journal exists.
    static func recover(modelPath: String) throws -> RecoveryReport? {
        let jpath = path(for: modelPath)
        let jfd = open(jpath, O_RDONLY | O_CLOEXEC)
        if jfd < 0 {
            if errno == ENOENT { return nil }
            throw TrainError.io("\(jpath): cannot open the journal: \(errnoDescription())")
        }
        defer { close(jfd) }
        var st = stat()
        guard fstat(jfd, &st) == 0 else { throw TrainError.io("\(jpath): cannot stat: \(errnoDescription())") }
        let jsize = Int(st.st_size)
        let mfd = open(modelPath, O_RDWR | O_CLOEXEC)
        guard mfd >= 0 else { throw TrainError.io("\(modelPath): cannot open to roll back \(jpath): \(errnoDescription())") }
        defer { close(mfd) }
        var mst = stat()
        guard fstat(mfd, &mst) == 0 else { throw TrainError.io("\(modelPath): cannot stat: \(errnoDescription())") }
        let modelSize = Int(mst.st_size)

        var restored = 0, bytes = 0
        var header = [UInt8](repeating: 0, count: headerSize)
        var valid = jsize >= headerSize
        if valid {
            try header.withUnsafeMutableBytes { try preadAll(jfd, $0.baseAddress!, headerSize, 0, path: jpath) }
            valid = header.withUnsafeBytes { p in
                Array(p[0..<8]) == magic && load(p.baseAddress!, 56, as: UInt64.self) == xxh64(UnsafeRawBufferPointer(rebasing: p[0..<56]))
            }
        }
        // A torn header: the journal was being created, nothing in the model was modified yet.
        if valid {
            let fileLength = header.withUnsafeBytes { load($0.baseAddress!, 16, as: UInt64.self) }
            guard fileLength == UInt64(modelSize) else {
                throw TrainError.corrupt("\(jpath) was written for a \(fileLength)-byte model but \(modelPath) has \(modelSize) bytes; not rolling back (remove the journal only if the model verifies)")
            }
            var pos = headerSize
            var rh = [UInt8](repeating: 0, count: recordHeaderSize)
            while pos + recordHeaderSize <= jsize {
                try rh.withUnsafeMutableBytes { try preadAll(jfd, $0.baseAddress!, recordHeaderSize, pos, path: jpath) }
                let (magicOK, offset, length, sum) = rh.withUnsafeBytes { p in
                    (load(p.baseAddress!, 0, as: UInt32.self) == recordMagic, Int(load(p.baseAddress!, 8, as: UInt64.self)),
                     Int(load(p.baseAddress!, 16, as: UInt64.self)), load(p.baseAddress!, 24, as: UInt64.self))
                }
                // A record past the end of the journal or of the model is the torn tail of an append.
                guard magicOK, length >= 0, length <= modelSize, offset >= 0, offset <= modelSize - length,
                      pos + recordHeaderSize + length <= jsize else { break }
                var data = [UInt8](repeating: 0, count: length)
                try data.withUnsafeMutableBytes { try preadAll(jfd, $0.baseAddress!, length, pos + recordHeaderSize, path: jpath) }
                let ok = data.withUnsafeBytes { checksum(offset: offset, bytes: $0) == sum }
                guard ok else { break }
                try data.withUnsafeBytes { try pwriteAll(mfd, $0.baseAddress!, length, offset, path: modelPath) }
                restored += 1
                bytes += length
                pos += recordHeaderSize + ((length + 7) & ~7)
            }
            try fsyncOrThrow(mfd, path: modelPath)
        }
        guard unlink(jpath) == 0 else { throw TrainError.io("\(jpath): cannot remove the journal: \(errnoDescription())") }
        try syncDirectoryOrThrow(of: jpath)
        var commitBytes = [UInt8](repeating: 0, count: 8)
        if modelSize >= 40 {
            try commitBytes.withUnsafeMutableBytes { try preadAll(mfd, $0.baseAddress!, 8, 32, path: modelPath) }
        }
        let commit = commitBytes.withUnsafeBytes { load($0.baseAddress!, 0, as: UInt64.self) }
        return RecoveryReport(journal: jpath, records: restored, bytes: bytes, commit: commit)
    }
}
