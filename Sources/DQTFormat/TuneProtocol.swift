// The protocol every opener of a `.dqt` follows so that in-place tuning is safe under ordinary
// use (formats/dqt-tune.md §2 and §7): the file locks, the undo journal's layout, and the
// rollback of a hot journal. `DQTTrain` writes journals; everyone who opens a model — the
// runtime, the library, a server, the tuner, `--recover` — locks and recovers here, the same
// way (SQLite's design: the reader that finds a hot journal rolls it back).
//
// Locks are Linux open-file-description locks (`F_OFD_SETLK`) on single bytes far past the end
// of the model file (the file's bytes are never locked, only these addresses): the kernel drops
// them when the descriptor is closed or the process dies, so a crash never leaves a stale lock,
// and unlike classic POSIX locks they are not lost when another descriptor of the same file is
// closed in the same process.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Lock bytes (formats/dqt-tune.md §7.1)

public enum LockBytes {
    /// 2^62: past the end of any model file.
    public static let base: Int64 = 1 << 62
    /// Taken shared by a reader for the moment it acquires `period`, exclusive by a writer while
    /// it waits for readers to drain: new readers queue behind a waiting writer.
    public static let pending = base
    /// Shared while a reader uses the file; exclusive from the creation of `M.journal` to its
    /// removal (a commit period), and during a rollback.
    public static let period = base + 1
    /// Exclusive for the whole run of a tuner (and of `dqt-tune --recover`).
    public static let tuner = base + 2
    /// A tuner also locks the single byte `pidBase + pid`, so others can name it.
    public static let pidBase = base + 16
    public static let pidRange: Int64 = 1 << 22
}

#if os(Linux)
private let F_OFD_GETLK_: Int32 = 36
private let F_OFD_SETLK_: Int32 = 37
#endif

/// How long to wait for a lock, and whom to tell that we are waiting.
public struct LockWait {
    /// Seconds; `.infinity` waits for as long as it takes.
    public var timeout: Double
    /// Called once, after about a quarter second of waiting, with a sentence saying who holds
    /// the lock (for a message on stderr).
    public var onWait: ((String) -> Void)?

    public init(timeout: Double = 600, onWait: ((String) -> Void)? = nil) {
        self.timeout = timeout
        self.onWait = onWait
    }

    public static var noWait: LockWait { LockWait(timeout: 0) }
}

/// One open description of a model file that holds this process's locks on it.
/// Closing it (deinit) releases every lock it holds.
public final class ModelLock {
    public enum Hold: Sendable { case none, shared, exclusive }

    public let path: String
    public let writable: Bool
    /// False on a filesystem without OFD locks (some network and FUSE filesystems): then every
    /// lock operation is a no-op and callers must apply their own policy (§7.4).
    public let supported: Bool
    public private(set) var hold: Hold = .none
    public private(set) var holdsTuner = false
    private let fd: Int32

    /// Opens `path` (read-only, or read-write: exclusive locks need a writable descriptor).
    public init(path: String, writable: Bool) throws {
        self.path = path
        self.writable = writable
        let fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            throw DQTFormatError(.io, path: path, field: "file", "cannot open\(writable ? " for writing" : ""): \(errnoDescription())")
        }
        self.fd = fd
        #if os(Linux)
        var fl = ModelLock.request(Int16(F_WRLCK), LockBytes.tuner, 1)
        supported = fcntl(fd, F_OFD_GETLK_, &fl) == 0
        #else
        supported = false
        #endif
    }

    deinit {
        // Unlock explicitly before closing: the locks belong to the open file description, and a
        // child forked by another thread of this process (posix_spawn) shares it until its exec
        // closes the O_CLOEXEC descriptor — under load long enough for a new tuner in this
        // process to find "its own" tuner lock still held. An unlock through this descriptor
        // removes the locks from the description whatever else refers to it.
        #if os(Linux)
        if supported {
            var fl = ModelLock.request(Int16(F_UNLCK), LockBytes.base, 0)   // len 0: to the end
            _ = fcntl(fd, F_OFD_SETLK_, &fl)
        }
        #endif
        close(fd)
    }

    /// The locked descriptor (tests hand it to a child process).
    var descriptor: Int32 { fd }

    /// fstat of the locked description (to tell whether the path still names this file).
    public func fileStatus(_ st: inout stat) -> Bool { fstat(fd, &st) == 0 }

    // MARK: primitives

    #if os(Linux)
    private static func request(_ type: Int16, _ start: Int64, _ len: Int64) -> flock {
        var fl = flock()
        fl.l_type = type
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = off_t(start)
        fl.l_len = off_t(len)
        fl.l_pid = 0
        return fl
    }
    #endif

    /// Sets or clears one lock without waiting; false if another description holds a
    /// conflicting one.
    private func trySet(_ type: Int32, _ start: Int64, _ len: Int64 = 1) throws -> Bool {
        #if os(Linux)
        guard supported else { return true }
        var fl = ModelLock.request(Int16(type), start, len)
        while true {
            if fcntl(fd, F_OFD_SETLK_, &fl) == 0 { return true }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EACCES { return false }
            throw DQTFormatError(.io, path: path, field: "lock", offset: UInt64(start), "fcntl(F_OFD_SETLK) failed: \(errnoDescription())")
        }
        #else
        return true
        #endif
    }

    /// True if another description holds a lock on [start, start+len) that conflicts with `type`;
    /// with the first such lock's start.
    private func conflict(_ type: Int32, _ start: Int64, _ len: Int64 = 1) -> Int64? {
        #if os(Linux)
        guard supported else { return nil }
        var fl = ModelLock.request(Int16(type), start, len)
        guard fcntl(fd, F_OFD_GETLK_, &fl) == 0, Int32(fl.l_type) != F_UNLCK else { return nil }
        return Int64(fl.l_start)
        #else
        return nil
        #endif
    }

    private func wait(_ type: Int32, _ start: Int64, _ w: LockWait, _ why: () -> String) throws {
        let t0 = monotonicNow()
        var told = false, pause = 0.002
        while true {
            if try trySet(type, start) { return }
            let waited = monotonicNow() - t0
            if waited >= w.timeout {
                throw DQTFormatError(.busy, path: path, field: "lock", "gave up after \(formatSeconds(waited)) s: \(why())")
            }
            if !told, waited >= 0.25 {
                told = true
                w.onWait?(why())
            }
            sleepSeconds(min(pause, max(0, w.timeout - waited)))
            pause = min(pause * 2, 0.05)
        }
    }

    // MARK: the protocol's locks

    /// PID of the live tuner of this file, if one runs (as seen in the tuner's PID namespace).
    public var tunerPID: Int32? {
        guard let s = conflict(F_WRLCK, LockBytes.pidBase, LockBytes.pidRange) else { return nil }
        return Int32(s - LockBytes.pidBase)
    }

    /// True if another process tunes this file right now.
    public var tunerIsAlive: Bool { conflict(F_WRLCK, LockBytes.tuner) != nil }

    private var tunerName: String { tunerPID.map { "dqt-tune (pid \($0))" } ?? "dqt-tune" }

    /// Reader: waits while a commit period is open (or a writer waits for its turn), then holds
    /// the period lock shared until `unlock()`. While it is held the file is a whole commit and
    /// nobody modifies it.
    public func lockShared(_ w: LockWait = LockWait()) throws {
        precondition(hold == .none, "lock already held")
        try wait(F_RDLCK, LockBytes.pending, w) { "\(tunerName) is about to commit to \(path)" }
        defer { _ = try? trySet(F_UNLCK, LockBytes.pending) }
        try wait(F_RDLCK, LockBytes.period, w) { "\(tunerName) is committing to \(path) (a tuning step's updates)" }
        hold = .shared
    }

    /// Writer (tuner, rollback): waits for readers to finish (new readers queue behind it), then
    /// holds the period lock exclusively until `unlock()`.
    public func lockExclusive(_ w: LockWait = LockWait()) throws {
        precondition(hold == .none, "lock already held")
        guard writable else {
            throw DQTFormatError(.io, path: path, field: "lock", "an exclusive lock needs the file open for writing")
        }
        try wait(F_WRLCK, LockBytes.pending, w) { "another writer (\(tunerName) or a rollback) holds \(path)" }
        defer { _ = try? trySet(F_UNLCK, LockBytes.pending) }
        try wait(F_WRLCK, LockBytes.period, w) { "readers of \(path) (dqt-run, a server request) are still using it" }
        hold = .exclusive
    }

    public func unlock() {
        guard hold != .none else { return }
        _ = try? trySet(F_UNLCK, LockBytes.period)
        hold = .none
    }

    /// Claims the file for one tuner (no waiting): fails naming the live tuner's PID.
    public func lockTuner() throws {
        precondition(writable, "the tuner lock needs a writable descriptor")
        guard !holdsTuner else { return }
        guard try trySet(F_WRLCK, LockBytes.tuner) else {
            throw DQTFormatError(.busy, path: path, field: "lock",
                                 "\(tunerName) is tuning this model; wait for it to finish (or stop it) before tuning or recovering")
        }
        let pid = Int64(getpid())
        if pid < LockBytes.pidRange { _ = try trySet(F_WRLCK, LockBytes.pidBase + pid) }
        holdsTuner = true
    }

    // MARK: opening

    /// A reader's way in: takes the shared lock (waiting while a commit is in progress) and, if a
    /// hot journal is found — one whose tuner is gone, since a live tuner holds the period lock
    /// for as long as its journal exists — rolls it back first (which needs write access to the
    /// model; without it the error says what to run). Keep the returned lock while the mapping is
    /// in use; `unlock()` it between requests to let a tuner commit.
    public static func forReading(path: String, wait w: LockWait = LockWait()) throws -> (ModelLock, RecoveryReport?) {
        let lock = try ModelLock(path: path, writable: false)
        var report: RecoveryReport? = nil
        for _ in 0..<8 {
            try lock.lockShared(w)
            guard UndoJournalFile.exists(for: path) else { return (lock, report) }
            lock.unlock()
            guard lock.supported else {
                throw DQTFormatError(.journal, path: path, field: "journal",
                                     "\(UndoJournalFile.path(for: path)) exists and this filesystem has no file locks, so a running dqt-tune cannot be told from an interrupted one; if no dqt-tune runs, roll it back with `dqt-tune \(path) --recover`")
            }
            let writer: ModelLock
            do { writer = try ModelLock(path: path, writable: true) } catch {
                throw DQTFormatError(.journal, path: path, field: "journal",
                                     "an interrupted tuning run left \(UndoJournalFile.path(for: path)) and the model is not writable by this process (\(errnoDescription())); run `dqt-tune \(path) --recover` as a user who can write it")
            }
            try writer.lockExclusive(w)
            defer { writer.unlock() }
            if UndoJournalFile.exists(for: path) {
                report = try UndoJournalFile.rollBack(modelPath: path)
            }
        }
        throw DQTFormatError(.busy, path: path, field: "journal", "the journal keeps reappearing; is a dqt-tune without file locks running?")
    }

    /// A tuner's way in (also `dqt-tune --recover`): claims the tuner lock (failing if another
    /// tuner is alive), then rolls back a hot journal under the exclusive lock. The returned lock
    /// is held (tuner) for as long as the object lives; the period lock is free.
    public static func forTuning(path: String, wait w: LockWait = LockWait(timeout: .infinity),
                                 allowUnlocked: Bool = false) throws -> (ModelLock, RecoveryReport?) {
        let lock = try ModelLock(path: path, writable: true)
        guard lock.supported || allowUnlocked else {
            throw DQTFormatError(.unsupported, path: path, field: "lock",
                                 "this filesystem does not support file locks (F_OFD_SETLK): readers and a second tuner could not be kept out while the model is modified; move the model to a local filesystem, or pass --no-locks if nothing else opens it")
        }
        try lock.lockTuner()
        try lock.lockExclusive(w)
        defer { lock.unlock() }
        let report = UndoJournalFile.exists(for: path) ? try UndoJournalFile.rollBack(modelPath: path) : nil
        return (lock, report)
    }
}

// MARK: - The undo journal's layout and its rollback (formats/dqt-tune.md §2)

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

public enum UndoJournalFile {
    public static let magic: [UInt8] = Array("DQTUNDO1".utf8)
    /// Written: 2 (masked records). Rolled back: 1 and 2.
    public static let version: UInt32 = 2
    public static let recordMagic: UInt32 = 0x4345_5255   // "UREC"
    public static let headerSize = 64
    public static let recordHeaderSize = 32

    /// What a record's data holds (§2.1): the old bytes of its whole range, or a bit mask of the
    /// range followed by the old values of the masked bytes only.
    public enum RecordKind: UInt32, Sendable {
        case plain = 0
        case masked = 1
    }

    public static func path(for model: String) -> String { model + ".journal" }
    public static func exists(for model: String) -> Bool { access(path(for: model), F_OK) == 0 }

    /// Seed-mixed XXH64 of a record's data: binds it to its place in the model (offset and
    /// length of the range) and to its kind; a plain record's seed is version 1's.
    public static func checksum(offset: Int, length: Int, kind: RecordKind, data: UnsafeRawBufferPointer) -> UInt64 {
        xxh64(data, seed: UInt64(offset) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(length) ^ (UInt64(kind.rawValue) << 56))
    }

    /// Bytes of a masked record's mask for a range of `length` bytes.
    public static func maskBytes(length: Int) -> Int { (length + 7) / 8 }

    /// The 64-byte journal header.
    public static func header(fileLength: UInt64, commit: UInt64) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: headerSize)
        h.withUnsafeMutableBytes { p in
            for i in 0..<8 { p[i] = magic[i] }
            storeLE(version, p.baseAddress!, 8)
            storeLE(fileLength, p.baseAddress!, 16)
            storeLE(commit, p.baseAddress!, 24)
            storeLE(xxh64(UnsafeRawBufferPointer(rebasing: p[0..<56])), p.baseAddress!, 56)
        }
        return h
    }

    /// The 32-byte header of a record for the range `[offset, offset + length)` of the model
    /// whose data (`data.count` bytes follow it) is of `kind`.
    public static func recordHeader(offset: Int, length: Int, kind: RecordKind, data: UnsafeRawBufferPointer) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: recordHeaderSize)
        h.withUnsafeMutableBytes { p in
            storeLE(recordMagic, p.baseAddress!, 0)
            storeLE(kind.rawValue, p.baseAddress!, 4)
            storeLE(UInt64(offset), p.baseAddress!, 8)
            storeLE(UInt64(length), p.baseAddress!, 16)
            storeLE(checksum(offset: offset, length: length, kind: kind, data: data), p.baseAddress!, 24)
        }
        return h
    }

    /// A plain record: the old bytes of `[offset, offset + bytes.count)`.
    public static func recordHeader(offset: Int, bytes: UnsafeRawBufferPointer) -> [UInt8] {
        recordHeader(offset: offset, length: bytes.count, kind: .plain, data: bytes)
    }

    /// One intact record found by the forward scan of a rollback.
    private struct Found {
        var pos: Int, kind: RecordKind, offset: Int, length: Int, dataLength: Int
    }

    /// Rolls back the journal of `modelPath`, if it exists (§2.3). The caller must hold the
    /// exclusive period lock (`ModelLock.lockExclusive`): a live tuner's journal is never a
    /// journal to roll back.
    public static func rollBack(modelPath: String) throws -> RecoveryReport? {
        let jpath = path(for: modelPath)
        let jfd = open(jpath, O_RDONLY | O_CLOEXEC)
        if jfd < 0 {
            if errno == ENOENT { return nil }
            throw DQTFormatError(.io, path: jpath, field: "journal", "cannot open: \(errnoDescription())")
        }
        defer { close(jfd) }
        var st = stat()
        guard fstat(jfd, &st) == 0 else { throw DQTFormatError(.io, path: jpath, field: "journal", "cannot stat: \(errnoDescription())") }
        let jsize = Int(st.st_size)
        let mfd = open(modelPath, O_RDWR | O_CLOEXEC)
        guard mfd >= 0 else {
            throw DQTFormatError(.io, path: modelPath, field: "file", "cannot open to roll back \(jpath): \(errnoDescription())")
        }
        defer { close(mfd) }
        var mst = stat()
        guard fstat(mfd, &mst) == 0 else { throw DQTFormatError(.io, path: modelPath, field: "file", "cannot stat: \(errnoDescription())") }
        let modelSize = Int(mst.st_size)

        var restored = 0, bytes = 0
        var header = [UInt8](repeating: 0, count: headerSize)
        var valid = jsize >= headerSize
        if valid {
            try header.withUnsafeMutableBytes { try readAll(jfd, $0.baseAddress!, headerSize, at: 0, path: jpath) }
            valid = header.withUnsafeBytes { p in
                Array(p[0..<8]) == magic && loadLE(p.baseAddress!, 56, as: UInt64.self) == xxh64(UnsafeRawBufferPointer(rebasing: p[0..<56]))
            }
        }
        // A torn header: the journal was being created, nothing in the model was modified yet.
        if valid {
            let (fileLength, fileVersion) = header.withUnsafeBytes { (loadLE($0.baseAddress!, 16, as: UInt64.self), loadLE($0.baseAddress!, 8, as: UInt32.self)) }
            guard fileVersion == 1 || fileVersion == 2 else {
                throw DQTFormatError(.journal, path: jpath, field: "journal.version", offset: 8,
                                     "version \(fileVersion), this build rolls back versions 1 and 2; not rolling back (use the dqt-tune that wrote it)")
            }
            guard fileLength == UInt64(modelSize) else {
                throw DQTFormatError(.journal, path: jpath, field: "journal.file_length", offset: 16,
                                     "written for a \(fileLength)-byte model but \(modelPath) has \(modelSize) bytes; not rolling back (remove the journal only if the model verifies)")
            }
            // Forward: the intact prefix of the records (the first one that is not intact is
            // the torn tail of an append, whose range was never modified).
            var found: [Found] = []
            var pos = headerSize
            var rh = [UInt8](repeating: 0, count: recordHeaderSize)
            var data: [UInt8] = []
            while pos + recordHeaderSize <= jsize {
                try rh.withUnsafeMutableBytes { try readAll(jfd, $0.baseAddress!, recordHeaderSize, at: pos, path: jpath) }
                let (magicOK, rawKind, offset, length, sum) = rh.withUnsafeBytes { p in
                    (loadLE(p.baseAddress!, 0, as: UInt32.self) == recordMagic, loadLE(p.baseAddress!, 4, as: UInt32.self),
                     Int(truncatingIfNeeded: loadLE(p.baseAddress!, 8, as: UInt64.self)),
                     Int(truncatingIfNeeded: loadLE(p.baseAddress!, 16, as: UInt64.self)), loadLE(p.baseAddress!, 24, as: UInt64.self))
                }
                let room = jsize - pos - recordHeaderSize
                // Version 1 has plain records only (its kind field is reserved, 0).
                guard magicOK, let kind = RecordKind(rawValue: rawKind), fileVersion >= 2 || kind == .plain,
                      length >= 0, length <= modelSize, offset >= 0, offset <= modelSize - length else { break }
                var dataLength = length
                data = []
                if kind == .masked {
                    // The mask first: it says how many kept bytes follow.
                    let m = maskBytes(length: length)
                    guard m <= room else { break }
                    data = [UInt8](repeating: 0, count: m)
                    try data.withUnsafeMutableBytes { try readAll(jfd, $0.baseAddress!, m, at: pos + recordHeaderSize, path: jpath) }
                    // The bits past the range's end are 0 (a set one would misplace every kept byte).
                    guard length % 8 == 0 || data[m - 1] >> UInt8(length % 8) == 0 else { break }
                    dataLength = m + data.reduce(0) { $0 + $1.nonzeroBitCount }
                }
                guard dataLength <= room else { break }
                let have = data.count
                if dataLength > have {
                    data += [UInt8](repeating: 0, count: dataLength - have)
                    try data.withUnsafeMutableBytes {
                        try readAll(jfd, $0.baseAddress! + have, dataLength - have, at: pos + recordHeaderSize + have, path: jpath)
                    }
                }
                guard data.withUnsafeBytes({ checksum(offset: offset, length: length, kind: kind, data: $0) == sum }) else { break }
                found.append(Found(pos: pos, kind: kind, offset: offset, length: length, dataLength: dataLength))
                pos += recordHeaderSize + ((dataLength + 7) & ~7)
            }
            // Backward: a range journaled twice in a period (a row changed in two steps) has its
            // period-start bytes in the earlier record, so the earliest record is written last.
            var range: [UInt8] = []
            for r in found.reversed() {
                guard r.length > 0 else { restored += 1; continue }   // an empty range: nothing to write
                data = [UInt8](repeating: 0, count: r.dataLength)
                try data.withUnsafeMutableBytes { try readAll(jfd, $0.baseAddress!, r.dataLength, at: r.pos + recordHeaderSize, path: jpath) }
                switch r.kind {
                case .plain:
                    try data.withUnsafeBytes { try writeAll(mfd, $0.baseAddress!, r.length, at: r.offset, path: modelPath) }
                    bytes += r.length
                case .masked:
                    range = [UInt8](repeating: 0, count: r.length)
                    try range.withUnsafeMutableBytes { try readAll(mfd, $0.baseAddress!, r.length, at: r.offset, path: modelPath) }
                    var k = maskBytes(length: r.length)
                    for j in 0..<r.length where data[j >> 3] & (UInt8(1) << UInt8(j & 7)) != 0 {
                        range[j] = data[k]
                        k += 1
                    }
                    try range.withUnsafeBytes { try writeAll(mfd, $0.baseAddress!, r.length, at: r.offset, path: modelPath) }
                    bytes += k - maskBytes(length: r.length)
                }
                restored += 1
            }
            try fsyncOrThrow(mfd, path: modelPath)
        }
        guard unlink(jpath) == 0 else {
            throw DQTFormatError(.io, path: jpath, field: "journal", "cannot remove the journal: \(errnoDescription())")
        }
        try syncDirectoryOrThrow(of: jpath)
        var commitBytes = [UInt8](repeating: 0, count: 8)
        if modelSize >= DQTConstants.commitOffset + 8 {
            try commitBytes.withUnsafeMutableBytes { try readAll(mfd, $0.baseAddress!, 8, at: DQTConstants.commitOffset, path: modelPath) }
        }
        let commit = commitBytes.withUnsafeBytes { loadLE($0.baseAddress!, 0, as: UInt64.self) }
        return RecoveryReport(journal: jpath, records: restored, bytes: bytes, commit: commit)
    }
}

// MARK: - Small helpers

@inline(__always) func loadLE<T: FixedWidthInteger>(_ p: UnsafeRawPointer, _ offset: Int, as: T.Type) -> T {
    T(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: T.self))
}

@inline(__always) func storeLE<T: FixedWidthInteger>(_ v: T, _ p: UnsafeMutableRawPointer, _ offset: Int) {
    p.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func sleepSeconds(_ s: Double) {
    guard s > 0 else { return }
    var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - s.rounded(.down)) * 1e9))
    var left = timespec()
    while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
}

func formatSeconds(_ s: Double) -> String {
    let tenths = Int((s * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
