// A file mapped into memory (read-only, or shared read-write for in-place tuning).
// The owner unmaps and closes in deinit; views into it live as long as the owner.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `strerror(errno)` as a Swift string.
func errnoDescription(_ e: Int32 = errno) -> String {
    guard let s = strerror(e) else { return "errno \(e)" }
    return String(cString: s)
}

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let writable: Bool
    let fd: Int32
    /// The mapping; nil only for an empty file (which no valid .dqt is).
    public let base: UnsafeMutableRawPointer?

    public init(path: String, writable: Bool = false) throws {
        self.path = path
        self.writable = writable
        let fd = open(path, writable ? O_RDWR : O_RDONLY)
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

    deinit {
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
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        _ = madvise(base + start, count + (offset - start), willNeed ? MADV_WILLNEED : MADV_RANDOM)
    }

    /// Flushes written pages of a range to the file (MS_SYNC).
    public func sync(offset: Int, count: Int) throws {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        guard msync(base + start, count + (offset - start), MS_SYNC) == 0 else {
            throw DQTFormatError(.io, path: path, field: "file", "msync failed: \(errnoDescription())")
        }
    }
}
