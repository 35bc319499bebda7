// Number formatting without Foundation (DQTTrain runs on boards with the runtime's imports).

/// `x` with `digits` decimals (round half away from zero), e.g. fixed(3.14159, 2) = "3.14".
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let neg = x < 0
    let v = (abs(x) * p).rounded()
    guard v < 9e15 else { return "\(x)" }
    let i = Int(v)
    var s = String(i / Int(p))
    if digits > 0 {
        let frac = String(i % Int(p))
        s += "." + String(repeating: "0", count: digits - frac.count) + frac
    }
    return neg && v != 0 ? "-" + s : s
}

/// Right-aligned in `width` characters.
public func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

public func mib(_ bytes: Int) -> String { fixed(Double(bytes) / 1048576, 1) + " MiB" }
