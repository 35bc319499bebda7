// Whole-buffer pread/pwrite with EINTR and short-transfer handling, errors with the path.
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func preadAll(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, _ offset: Int, path: String) throws {
    var done = 0
    while done < count {
        let n = pread(fd, buf + done, count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw TrainError.io("\(path): read of \(count) bytes at \(offset) failed: \(errnoDescription())")
        }
        if n == 0 { throw TrainError.io("\(path): unexpected end of file reading \(count) bytes at \(offset)") }
        done += n
    }
}

func pwriteAll(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int, _ offset: Int, path: String) throws {
    var done = 0
    while done < count {
        let n = pwrite(fd, buf + done, count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw TrainError.io("\(path): write of \(count) bytes at \(offset) failed: \(errnoDescription())")
        }
        done += n
    }
}

func fdatasyncOrThrow(_ fd: Int32, path: String) throws {
    guard fdatasync(fd) == 0 else { throw TrainError.io("\(path): fdatasync failed: \(errnoDescription())") }
}

func fsyncOrThrow(_ fd: Int32, path: String) throws {
    guard fsync(fd) == 0 else { throw TrainError.io("\(path): fsync failed: \(errnoDescription())") }
}

/// fsync of the directory holding `path` (makes a create, rename or unlink durable).
func syncDirectoryOrThrow(of path: String) throws {
    let dir: String
    if let slash = path.lastIndex(of: "/") {
        dir = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
        dir = "."
    }
    let d = open(dir, O_RDONLY | O_DIRECTORY)
    guard d >= 0 else { throw TrainError.io("\(dir): cannot open directory: \(errnoDescription())") }
    defer { close(d) }
    guard fsync(d) == 0 else { throw TrainError.io("\(dir): fsync of the directory failed: \(errnoDescription())") }
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// The whole file as bytes.
func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw TrainError.io("\(path): cannot open: \(errnoDescription())") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw TrainError.io("\(path): cannot stat: \(errnoDescription())") }
    let size = Int(st.st_size)
    var out = [UInt8](repeating: 0, count: size)
    if size > 0 { try out.withUnsafeMutableBytes { try preadAll(fd, $0.baseAddress!, size, 0, path: path) } }
    return out
}

@inline(__always) func load<T: FixedWidthInteger>(_ p: UnsafeRawPointer, _ offset: Int, as: T.Type) -> T {
    T(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: T.self))
}

@inline(__always) func store<T: FixedWidthInteger>(_ v: T, _ p: UnsafeMutableRawPointer, _ offset: Int) {
    p.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
}
