// Reads the malloc-family call counter of an LD_PRELOADed interposer
// (tools/alloc_counter.c exports `dqt_alloc_count`), so the allocation-free claim about
// the token loop is measured, not assumed. Without the interposer this is a no-op.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum AllocationProbe {
    typealias Counter = @convention(c) () -> UInt64

    /// The interposer's counter, looked up once (dlsym at load, not in the loop).
    static let counter: Counter? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "dqt_alloc_count") else { return nil }
        return unsafeBitCast(sym, to: Counter.self)
    }()

    /// Calls so far, or nil without the interposer.
    @inline(__always) static func count() -> Int? {
        guard let c = counter else { return nil }
        return Int(c())
    }
}
