// A file mapped into memory (read-only, or shared read-write for in-place tuning).
// The owner unmaps and closes in deinit; views into it live as long as the owner.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `strerror(errno)` as a Swift string (for error messages across the package).
public func errnoDescription(_ e: Int32 = errno) -> String {
    guard let s = strerror(e) else { return "errno \(e)" }
    return String(cString: s)
}

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let writable: Bool
    let fd: Int32
    /// The open file (−1 for an in-memory copy).
    public var fileDescriptor: Int32 { fd }
    /// The mapping; nil only for an empty file (which no valid .dqt is).
    public let base: UnsafeMutableRawPointer?
    /// True for an in-memory copy (`init(copying:path:)`): freed, not unmapped.
    private let inMemory: Bool

    public init(path: String, writable: Bool = false) throws {
        self.path = path
        self.writable = writable
        let fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            throw DQTFormatError(.io, path: path, field: "file", "cannot open: \(errnoDescription())")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errnoDescription()
            close(fd)
            throw DQTFormatError(.io, path: path, field: "file", "cannot stat: \(e)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw DQTFormatError(.io, path: path, field: "file", "is not a regular file")
        }
        self.fd = fd
        self.inMemory = false
        self.size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let prot = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        let p = mmap(nil, size, prot, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else {
            let e = errnoDescription()
            close(fd)
            throw DQTFormatError(.io, path: path, field: "file", "cannot map \(size) bytes: \(e)")
        }
        base = p
    }

    /// An in-memory "mapping": a copy of `bytes` in one exact-size, 64-byte-aligned
    /// allocation (read-only use). `path` names it in errors. For fuzzing and tests: a read
    /// past the end is a heap overflow that AddressSanitizer reports, where a real mapping
    /// would silently read the zeros that fill its last page.
    public init(copying bytes: UnsafeRawBufferPointer, path: String) {
        self.path = path
        self.writable = false
        self.fd = -1
        self.inMemory = true
        self.size = bytes.count
        if bytes.isEmpty {
            base = nil
        } else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            base = p
        }
    }

    deinit {
        if inMemory {
            base?.deallocate()
            return
        }
        if let base { munmap(base, size) }
        close(fd)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }
    public var mutableBytes: UnsafeMutableRawBufferPointer {
        precondition(writable, "mutableBytes on a read-only mapping")
        return UnsafeMutableRawBufferPointer(start: base, count: size)
    }

    /// Tells the kernel the access pattern of a range (best effort).
    public func advise(offset: Int, count: Int, willNeed: Bool) {
        guard let base, count > 0, !inMemory else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        _ = madvise(base + start, count + (offset - start), willNeed ? MADV_WILLNEED : MADV_RANDOM)
    }

    /// Flushes written pages of a range to the file (MS_SYNC).
    public func sync(offset: Int, count: Int) throws {
        guard let base, count > 0, !inMemory else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        guard msync(base + start, count + (offset - start), MS_SYNC) == 0 else {
            throw DQTFormatError(.io, path: path, field: "file", "msync failed: \(errnoDescription())")
        }
    }
}
