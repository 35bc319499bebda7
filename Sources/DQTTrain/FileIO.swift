// Small file helpers of the tuner (the durable pread/pwrite/sync ones are DQTFormat's).
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// The whole file as bytes.
func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw TrainError.io("cannot open: \(errnoDescription())", path: path) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw TrainError.io("cannot stat: \(errnoDescription())", path: path) }
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
