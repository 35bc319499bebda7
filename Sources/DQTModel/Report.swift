// Figures for reports (dqt-run --stats, dqt-tune), without Foundation: fixed-point numbers,
// MiB, right-aligned columns, and the process's peak resident memory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A decimal string with `digits` fraction digits, rounded half away from zero (e.g.
/// fixed(3.14159, 2) = "3.14"). Any Double is fine: inf and nan print as such, magnitudes
/// beyond 2^53 in exponent form.
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (abs(x) * p).rounded()
    guard r < 9.0e15 else { return String(x) }   // Int(r / p) would trap; String gives e.g. 1.2e+19
    let whole = Int(r / p), frac = Int(r.truncatingRemainder(dividingBy: p))
    var fs = String(frac)
    while fs.count < digits { fs = "0" + fs }
    return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fs : "")
}

/// Bytes as MiB with one decimal, e.g. "12.5 MiB".
public func mib(_ bytes: Int) -> String { fixed(Double(bytes) / 1048576, 1) + " MiB" }

/// `s` right-aligned in `width` characters.
public func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

/// Peak resident memory of this process image in bytes: VmHWM from /proc/self/status, which
/// exec resets. Not getrusage's ru_maxrss: Linux keeps the largest RSS of the images before an
/// exec (signal_struct.maxrss), so a tool started from a large process (a test runner, a Python
/// harness) would report at least that process's RSS at fork. ru_maxrss only where /proc is
/// missing.
public func peakRSSBytes() -> Int {
    if let f = fopen("/proc/self/status", "r") {
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            let s = String(cString: line!)
            if s.hasPrefix("VmHWM:") { return (Int(String(s.dropFirst(6).filter(\.isNumber))) ?? 0) * 1024 }
        }
    }
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024
}
