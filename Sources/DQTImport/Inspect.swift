// A human-readable account of a .dqt file: model spec, tokenizer summary, and per
// section/tensor encoding, shape, bytes, bits per weight, codec and ratio, checksum.
import DQTFormat
import Foundation

public enum Inspector {
    /// Loads `path` without verifying first (so a damaged file can still be described),
    /// then checks every checksum and reports each one.
    public static func report(path: String) throws -> String {
        let f = try DQTFile(path: path, options: LoadOptions(verifyChecksums: false))
        let s = f.spec
        var out = ""
        func line(_ x: String = "") { out += x + "\n" }
        line("file: \(path)")
        line(String(format: "format: dqt %d.%d, %d sections, alignment %d, %.2f MiB, commit %llu",
                    DQTConstants.versionMajor, DQTConstants.versionMinor, f.sections.count, f.header.alignment,
                    Double(f.header.fileLength) / 1048576, f.header.commit))
        line()
        line("model: \(s.family.name)")
        line("  vocab \(s.vocabSize), hidden \(s.hiddenSize), layers \(s.layers), heads \(s.heads) (kv \(s.kvHeads)), head_dim \(s.headDim), ffn \(s.ffnSize)")
        line("  \(s.activation.name) FFN, \(s.subNorms ? "BitNet sub-norms" : "no sub-norms"), \(s.tiedHead ? "tied" : "separate") head, max context \(s.maxContext)")
        line("  rms_norm_eps \(s.normEps), rope_theta \(s.ropeTheta)")
        func tok(_ id: UInt32) -> String { id == ModelSpec.noToken ? "-" : String(id) }
        line("  bos \(tok(s.bosID)), eos \(tok(s.eosID)), eot \(tok(s.eotID)), pad \(tok(s.padID))")
        if let m = f.metadata {
            line()
            line("metadata:")
            for l in m.split(separator: "\n") { line("  " + l) }
        }
        line()
        line("sections:")
        line("   #  kind          codec  stored        raw           ratio   checksum")
        var bad = 0
        for (i, e) in f.sections.enumerated() {
            let payload = UnsafeRawBufferPointer(rebasing: f.mapping.bytes[Int(e.offset)..<Int(e.offset + e.storedSize)])
            let ok = xxh64(payload) == e.checksum
            if !ok { bad += 1 }
            var kind = e.kind.name
            if e.kind == .tensor, Int(e.tensor) < f.tensors.count { kind = f.tensors[Int(e.tensor)].name }
            line(String(format: "%4d  %@ %@ %12llu  %12llu  %6.3f  %@%@", i, pad(kind, 13), pad(e.codec.name, 6), e.storedSize, e.rawSize,
                        Double(e.storedSize) / Double(e.rawSize), ok ? "ok" : "MISMATCH", e.writable ? "  writable" : ""))
        }
        line()
        line("tensors:")
        line("  name                          encoding  shape            bytes        bits/weight  scale")
        var weightsBits = 0.0, weightsCount = 0.0
        for r in f.tensors {
            let bpw = Double(r.dataBytes) * 8 / Double(r.rows * r.cols)
            if r.ndim == 2 { weightsBits += Double(r.dataBytes) * 8; weightsCount += Double(r.rows * r.cols) }
            let grid = r.encoding.isGrid ? String(format: "%.6g [%d..%d]", r.scale, r.qmin, r.qmax) : "-"
            line(String(format: "  %@ %@ %@ %12llu  %8.4f     %@", pad(r.name, 30), pad(r.encoding.name, 9), pad(r.shapeDescription, 16),
                        r.dataBytes, bpw, grid))
        }
        line()
        line(String(format: "matrices: %.0f weights, %.4f bits/weight on average", weightsCount, weightsBits / max(weightsCount, 1)))
        line(bad == 0 ? "checksums: all \(f.sections.count) sections ok" : "checksums: \(bad) section(s) MISMATCH")
        return out
    }

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
}
