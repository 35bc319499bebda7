// A human-readable account of a .dqt file: model spec, tokenizer summary, and per
// section/tensor encoding, shape, bytes, bits per weight, codec and ratio, checksum.
import DQTChat
import DQTFormat
import DQTTokenizer
import Foundation

public enum Inspector {
    /// Describes `path`: the section table with each checksum's status first (it needs
    /// only the header), then the model spec and tensors if the file loads. A damaged file
    /// is described as far as it can be, and the load error is printed.
    public static func report(path: String) throws -> String {
        let mapping = try MappedFile(path: path)
        let (header, sections) = try DQTFile.structure(of: mapping)
        var out = ""
        func line(_ x: String = "") { out += x + "\n" }
        line("file: \(path)")
        line(String(format: "format: dqt %d.%d, %d sections, alignment %d, %.2f MiB, commit %llu",
                    DQTConstants.versionMajor, DQTConstants.versionMinor, sections.count, header.alignment,
                    Double(header.fileLength) / 1048576, header.commit))
        let file: DQTFile?
        var loadError: String? = nil
        do { file = try DQTFile(mapping: mapping, options: LoadOptions(verifyChecksums: false)) } catch {
            file = nil
            loadError = "\(error)"
        }
        if let f = file {
            let s = f.spec
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
        }
        line()
        line("sections:")
        line("     #  name                            codec  stored        raw           ratio   checksum")
        var bad = 0
        for (i, e) in sections.enumerated() {
            let payload = UnsafeRawBufferPointer(rebasing: mapping.bytes[Int(e.offset)..<Int(e.offset + e.storedSize)])
            let ok = xxh64(payload) == e.checksum
            if !ok { bad += 1 }
            var kind = e.kind.name
            if e.kind == .tensor, let f = file, Int(e.tensor) < f.tensors.count { kind = f.tensors[Int(e.tensor)].name }
            line(String(format: "  %4d  %@ %@ %12llu  %12llu  %6.3f  %@%@", i, pad(kind, 31), pad(e.codec.name, 6), e.storedSize, e.rawSize,
                        Double(e.storedSize) / Double(e.rawSize), ok ? "ok" : "MISMATCH", e.writable ? "  writable" : ""))
        }
        if let f = file {
            line()
            line("tensors:")
            line("  name                            encoding  shape            bytes        bits/weight  scale [grid]")
            var linearBits = 0.0, linearCount = 0.0, allBytes = 0.0
            for r in f.tensors {
                let bpw = Double(r.dataBytes) * 8 / Double(r.rows * r.cols)
                allBytes += Double(r.dataBytes)
                if r.name.hasSuffix("_proj") { linearBits += Double(r.dataBytes) * 8; linearCount += Double(r.rows * r.cols) }
                let grid = r.encoding.isGrid ? String(format: "%.6g [%d..%d]", r.scale, r.qmin, r.qmax) : "-"
                line(String(format: "  %@ %@ %@ %12llu  %8.4f     %@", pad(r.name, 31), pad(r.encoding.name, 9), pad(r.shapeDescription, 16),
                            r.dataBytes, bpw, grid))
            }
            line()
            line(String(format: "linear layers: %.0f weights, %.4f bits/weight; all tensors: %.2f MiB decoded", linearCount,
                        linearBits / max(linearCount, 1), allBytes / 1048576))
            if let tok = try? importTokenizerSummary(f) { line("tokenizer: \(tok)") }
            if let payload = f.chatPayload {
                do {
                    let c = try ChatData.parse(payload, vocabSize: f.spec.vocabSize)
                    line("chat template: \(c.name), \(c.template.utf8.count) bytes, bos \"\(c.bosToken)\", eos \"\(c.eosToken)\", stop tokens \(c.stopTokenIDs.map(String.init).joined(separator: ","))")
                } catch {
                    line("chat template: INVALID: \(error)")
                }
            } else {
                line("chat template: none")
            }
        }
        line(bad == 0 ? "checksums: all \(sections.count) sections ok" : "checksums: \(bad) section(s) MISMATCH")
        if let loadError { line("load error: \(loadError)") }
        return out
    }

    /// One line about the stored tokenizer (kind, vocabulary, merges).
    static func importTokenizerSummary(_ f: DQTFile) throws -> String {
        let t = try Tokenizer(payload: f.tokenizerPayload)
        return "\(t.model == .byteLevelBPE ? "byte-level BPE" : t.model == .unigram ? "Unigram" : "SentencePiece-style BPE"), pre-tokenizer \(t.preTokenizer), \(t.vocabSize) tokens, bos \(t.bosID.map(String.init) ?? "-"), eos \(t.eosID.map(String.init) ?? "-")"
    }

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
}
