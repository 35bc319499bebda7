// The streaming .dqt writer: sections are written one at a time into a temporary file
// next to the destination (so memory holds one section at a time), the header block is
// written last, then fsync + rename + fsync of the directory. A crash at any moment
// leaves the destination either untouched or complete, never half-written.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum CodecPolicy: Sendable {
    /// Always raw (writable tensors, or when the caller forbids compression).
    case raw
    /// LZ4 when it saves at least `minSaving` of the bytes (formats/dqt.md §5).
    case auto(minSaving: Double = 0.03)
}

/// What the writer did with one section (for progress output and `--inspect`).
public struct WrittenSection: Sendable {
    public var index: Int
    public var entry: SectionEntry
    /// stored / raw.
    public var ratio: Double { Double(entry.storedSize) / Double(entry.rawSize) }
}

public final class DQTWriter {
    public let path: String
    public let tempPath: String
    public let alignment: UInt32
    public let sectionCount: Int
    private var fd: Int32
    private var entries: [SectionEntry] = []
    private var offset: UInt64
    private var finished = false

    /// Temporary files of earlier writers of this destination whose process is gone (killed
    /// or crashed before the rename), removed by `init`.
    public private(set) var removedStaleTemporaries: [String] = []

    /// Creates the temporary file `.<name>.tmp-<pid>` in the destination's directory, after
    /// removing stale ones that dead processes left there.
    public init(path: String, sectionCount: Int, alignment: UInt32 = DQTConstants.defaultAlignment) throws {
        precondition(sectionCount >= 3 && sectionCount <= Int(DQTConstants.maxSections), "section count out of range")
        precondition(alignment >= 64 && alignment & (alignment - 1) == 0, "alignment must be a power of two ≥ 64")
        self.path = path
        self.alignment = alignment
        self.sectionCount = sectionCount
        let (dir, name) = splitPath(path)
        tempPath = (dir.isEmpty ? "" : dir + "/") + "." + name + ".tmp-\(getpid())"
        removedStaleTemporaries = removeStaleTemporaries(directory: dir, name: name)
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DQTFormatError(.io, path: path, field: "output", "cannot create temporary file \(tempPath): \(errnoDescription())")
        }
        offset = UInt64(DQTConstants.headerSize * (sectionCount + 1))
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else {
            let e = errnoDescription()
            abort()   // closes fd once and marks it closed: deinit runs after this throw and must not close it again
            throw DQTFormatError(.io, path: path, field: "output", "cannot seek in \(tempPath): \(e)")
        }
    }

    deinit {
        if !finished { abort() }
    }

    /// Removes the temporary file; the destination is untouched.
    public func abort() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
        finished = true
    }

    /// Index the next `addSection` call will get.
    public var nextSectionIndex: Int { entries.count }

    /// Appends one section. Returns where and how it was stored.
    @discardableResult
    public func addSection(kind: SectionKind, payload: UnsafeRawBufferPointer, policy: CodecPolicy,
                           tensor: UInt32 = .max, writable: Bool = false) throws -> WrittenSection {
        precondition(!finished, "writer already finished")
        precondition(entries.count < sectionCount, "more sections than declared")
        precondition(payload.count >= 1, "empty section")
        var codec = SectionCodec.raw
        var compressed: [UInt8] = []
        if case .auto(let minSaving) = policy, !writable {
            let fast = LZ4Codec.encode(payload)
            if Double(fast.count) <= Double(payload.count) * (1 - minSaving) {
                codec = .lz4
                // Worth compressing: spend HC effort on sections small enough to be quick.
                compressed = payload.count <= 64 << 20 ? LZ4Codec.encode(payload, high: true) : fast
                if compressed.count > fast.count { compressed = fast }
            }
        }
        let entry: SectionEntry
        if codec == .lz4 {
            entry = try compressed.withUnsafeBytes { try writePayload($0, kind: kind, codec: .lz4, rawSize: UInt64(payload.count), tensor: tensor, writable: false) }
        } else {
            entry = try writePayload(payload, kind: kind, codec: .raw, rawSize: UInt64(payload.count), tensor: tensor, writable: writable)
        }
        entries.append(entry)
        return WrittenSection(index: entries.count - 1, entry: entry)
    }

    @discardableResult
    public func addSection(kind: SectionKind, payload: [UInt8], policy: CodecPolicy, tensor: UInt32 = .max,
                           writable: Bool = false) throws -> WrittenSection {
        try payload.withUnsafeBytes { try addSection(kind: kind, payload: $0, policy: policy, tensor: tensor, writable: writable) }
    }

    private func writePayload(_ bytes: UnsafeRawBufferPointer, kind: SectionKind, codec: SectionCodec, rawSize: UInt64,
                              tensor: UInt32, writable: Bool) throws -> SectionEntry {
        let start = offset
        try writeAll(bytes)
        let stored = UInt64(bytes.count)
        let padded = (stored + UInt64(alignment) - 1) & ~(UInt64(alignment) - 1)
        if padded > stored {
            let zeros = [UInt8](repeating: 0, count: Int(padded - stored))
            try zeros.withUnsafeBytes { try writeAll($0) }
        }
        offset = start + padded
        return SectionEntry(kind: kind, codec: codec, offset: start, storedSize: stored, rawSize: rawSize,
                            checksum: xxh64(bytes), tensor: tensor, writable: writable)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, min(bytes.count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw DQTFormatError(.io, path: path, field: "output", "write to \(tempPath) failed: \(errnoDescription())")
            }
            done += n
        }
    }

    /// Writes the header block, syncs, and atomically replaces the destination. `verify`, if
    /// given, is called with the complete temporary file before the rename; if it throws, the
    /// temporary is removed and the destination is left as it was.
    public func finish(commit: UInt64 = 0, verify: ((String) throws -> Void)? = nil) throws {
        precondition(!finished, "writer already finished")
        guard entries.count == sectionCount else {
            abort()
            throw DQTFormatError(.io, path: path, field: "output", "declared \(sectionCount) sections, wrote \(entries.count)")
        }
        let block = Header.encodeBlock(alignment: alignment, fileLength: offset, commit: commit, entries: entries)
        let ok = block.withUnsafeBytes { b in pwrite(fd, b.baseAddress!, b.count, 0) == b.count }
        guard ok else {
            let e = errnoDescription()
            abort()
            throw DQTFormatError(.io, path: path, field: "output", "writing the header to \(tempPath) failed: \(e)")
        }
        guard fsync(fd) == 0 else {
            let e = errnoDescription()
            abort()
            throw DQTFormatError(.io, path: path, field: "output", "fsync of \(tempPath) failed: \(e)")
        }
        close(fd)
        fd = -1
        if let verify {
            do { try verify(tempPath) } catch {
                abort()
                throw error
            }
        }
        guard rename(tempPath, path) == 0 else {
            let e = errnoDescription()
            abort()
            throw DQTFormatError(.io, path: path, field: "output", "rename \(tempPath) -> \(path) failed: \(e)")
        }
        finished = true
        syncDirectory(of: path)
    }

    public var writtenEntries: [SectionEntry] { entries }
    public var bytesWritten: UInt64 { offset }
}

/// Removes `.<name>.tmp-<pid>` files in `directory` whose process no longer exists (a writer
/// killed before its rename). A live process's file, ours included, is left alone; so is one
/// whose PID has been reused (it is removed on a later run). A writer in another PID namespace
/// (a container sharing the directory) looks dead from here: its temporary would be removed and
/// its rename would then fail with an error, leaving the destination as it was. Returns the
/// removed paths.
func removeStaleTemporaries(directory: String, name: String) -> [String] {
    let prefix = "." + name + ".tmp-"
    guard let d = opendir(directory.isEmpty ? "." : directory) else { return [] }
    defer { closedir(d) }
    var removed: [String] = []
    while let entry = readdir(d) {
        // The name in place: readdir's entry is only as long as its name (d_reclen), so copying
        // the whole 256-byte d_name array reads past it (AddressSanitizer saw it in the fuzz seeds run).
        let name = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let file = String(cString: name.assumingMemoryBound(to: CChar.self))
        guard file.hasPrefix(prefix), let pid = Int32(file.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
        guard kill(pid, 0) != 0, errno == ESRCH else { continue }  // alive (or not ours to signal)
        let full = (directory.isEmpty ? "" : directory + "/") + file
        if unlink(full) == 0 { removed.append(full) }
    }
    return removed
}

/// Splits "a/b/c" into ("a/b", "c"); ("", "c") for a bare name.
func splitPath(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    let dir = String(path[..<slash])
    return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
}

/// fsync the directory holding `path`, so a rename survives power loss.
public func syncDirectory(of path: String) {
    let (dir, _) = splitPath(path)
    let d = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY)
    if d >= 0 {
        _ = fsync(d)
        close(d)
    }
}
