// Whole-buffer pread/pwrite with EINTR and short-transfer handling, and the syncs a durable
// update needs; every error names the path, the offset and the call that failed.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public func preadAll(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, _ offset: Int, path: String) throws {
    var done = 0
    while done < count {
        let n = pread(fd, buf + done, count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw DQTFormatError(.io, path: path, field: "file", offset: UInt64(offset), "read of \(count) bytes failed: \(errnoDescription())")
        }
        if n == 0 {
            throw DQTFormatError(.truncated, path: path, field: "file", offset: UInt64(offset), "unexpected end of file reading \(count) bytes")
        }
        done += n
    }
}

public func pwriteAll(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int, _ offset: Int, path: String) throws {
    var done = 0
    while done < count {
        let n = pwrite(fd, buf + done, count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw DQTFormatError(.io, path: path, field: "file", offset: UInt64(offset), "write of \(count) bytes failed: \(errnoDescription())")
        }
        done += n
    }
}

func readAll(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, at offset: Int, path: String) throws {
    try preadAll(fd, buf, count, offset, path: path)
}

func writeAll(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int, at offset: Int, path: String) throws {
    try pwriteAll(fd, buf, count, offset, path: path)
}

public func fdatasyncOrThrow(_ fd: Int32, path: String) throws {
    #if os(Linux)
    guard fdatasync(fd) == 0 else { throw DQTFormatError(.io, path: path, field: "file", "fdatasync failed: \(errnoDescription())") }
    #else
    try fsyncOrThrow(fd, path: path)
    #endif
}

public func fsyncOrThrow(_ fd: Int32, path: String) throws {
    guard fsync(fd) == 0 else { throw DQTFormatError(.io, path: path, field: "file", "fsync failed: \(errnoDescription())") }
}

/// fsync of the directory holding `path` (makes a create, rename or unlink durable).
public func syncDirectoryOrThrow(of path: String) throws {
    let (dir, _) = splitPath(path)
    let d = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard d >= 0 else { throw DQTFormatError(.io, path: dir.isEmpty ? "." : dir, field: "directory", "cannot open: \(errnoDescription())") }
    defer { close(d) }
    guard fsync(d) == 0 else { throw DQTFormatError(.io, path: dir.isEmpty ? "." : dir, field: "directory", "fsync failed: \(errnoDescription())") }
}
