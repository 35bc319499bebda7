// The fuzz targets. Each one feeds the input to a parser and, when the parser accepts it,
// uses what it returned, checking invariants the parser promises (a violation traps, so
// libFuzzer reports it). Rejections (thrown errors) are the expected outcome for most inputs.
import DQTFormat
import DQTImport
import DQTModel
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#endif

/// Fails the run (libFuzzer reports a crash with the message).
func invariant(_ ok: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !ok() {
        eprint("dqt-fuzz invariant violated: \(message())\n")
        abort()
    }
}

/// DQT_FUZZ_REPORT=1: say on stderr which inputs a parser accepted (to check the seeds).
nonisolated(unsafe) let reportAccepted = getenv("DQT_FUZZ_REPORT") != nil
func accepted(_ what: String) {
    if reportAccepted { eprint("accepted: \(what)\n") }
}

// MARK: - .dqt reader

/// The input as given (structural checks only, no checksums), then the same bytes with every
/// checksum recomputed and verification on: a mutation behind a checksum would otherwise
/// never get past it, and the checks after it (spec, index, tensor values) would go unfuzzed.
func fuzzDQT(_ input: UnsafeRawBufferPointer) {
    loadDQT(input, verify: false)
    guard input.count >= 64 else { return }
    var b = Array(input)
    resignDQT(&b)
    b.withUnsafeBytes { loadDQT($0, verify: true) }
}

func loadDQT(_ bytes: UnsafeRawBufferPointer, verify: Bool) {
    let mapping = MappedFile(copying: bytes, path: "fuzz.dqt")
    guard let f = try? DQTFile(mapping: mapping, options: LoadOptions(verifyChecksums: verify)) else { return }
    accepted("dqt (verify \(verify)), \(f.tensors.count) tensors")
    invariant(f.header.fileLength == UInt64(bytes.count), "file_length \(f.header.fileLength) ≠ size \(bytes.count)")
    var sum: UInt64 = 0
    for r in f.tensors {
        let d = f.data(of: r)
        invariant(UInt64(d.count) == r.dataBytes, "tensor \(r.name): view of \(d.count) bytes, data_bytes \(r.dataBytes)")
        invariant(r.encoding.payloadBytes(rows: UInt64(r.rows), cols: UInt64(r.cols)) == r.dataBytes, "tensor \(r.name): size")
        if d.count > 0 { sum &+= UInt64(d[0]) &+ UInt64(d[d.count - 1]) }  // touch both ends
        invariant(f.tensorRecord(named: r.name) != nil, "lookup \(r.name)")
    }
    invariant(f.spec.check(records: f.tensors) == nil, "spec check passed at load but fails now")
    for i in 0..<f.sections.count {
        let v = f.view(ofSection: i)
        invariant(UInt64(v.count) == f.sections[i].rawSize, "section \(i) view size")
    }
    if let tok = try? Tokenizer(payload: f.tokenizerPayload) {
        accepted("dqt tokenizer, \(tok.vocabSize) tokens")
        exercise(tok, extra: nil)
    }
    if verify { run(f) }
    blackHole(sum)
}

/// A verified file runs: a short prompt in batches, greedy and sampled generation, and every
/// kernel reads its tensors from the exact-size copy (a read past the end of the file is an
/// ASan report). Hostile-but-valid values (NaN embeddings, huge scales) must not trap.
func run(_ f: DQTFile) {
    let ctx = min(f.spec.maxContext, 12)
    guard let m = try? DQTModel(file: f, options: RuntimeOptions(contextLength: ctx, threads: 1, batchSize: 4)) else { return }
    accepted("dqt model, context \(ctx)")
    let V = Int32(m.spec.vocabSize)
    let prompt = (0..<min(ctx - 1, 5)).map { Int32($0 * 7) % V }
    guard !prompt.isEmpty else { return }
    var n = 0
    for settings in [SamplerSettings(temperature: 0), SamplerSettings(temperature: 0.9, topK: 3, topP: 0.8, repeatPenalty: 1.3, seed: 1)] {
        _ = try? m.generate(prompt: prompt, maxTokens: 4, sampler: settings) { t in
            invariant(t >= 0 && t < V, "sampled token \(t) of \(V)")
            n += 1
            return true
        }
    }
    if ctx >= 3 { _ = try? m.evaluate(stream: prompt + [0], window: 2) }
    blackHole(UInt64(n))
}

/// Recomputes every section checksum the table can locate, then the header checksum.
func resignDQT(_ b: inout [UInt8]) {
    let n = Int(le32(b, 24))
    guard n >= 1, n <= 65535, 64 * (n + 1) <= b.count else { return }
    for i in 0..<n {
        let e = 64 + 64 * i
        let off = le64(b, e + 8), stored = le64(b, e + 16)
        guard off <= UInt64(b.count), stored <= UInt64(b.count) - off else { continue }
        let sum = b.withUnsafeBytes { xxh64(UnsafeRawBufferPointer(rebasing: $0[Int(off)..<Int(off + stored)])) }
        put64(&b, e + 32, sum)
    }
    put64(&b, 40, 0)
    let sum = b.withUnsafeBytes { xxh64(UnsafeRawBufferPointer(rebasing: $0[0..<(64 * (n + 1))])) }
    put64(&b, 40, sum)
}

// MARK: - safetensors

func fuzzSafetensors(_ input: UnsafeRawBufferPointer) {
    let mapping = MappedFile(copying: input, path: "fuzz.safetensors")
    guard let f = try? SafetensorsFile(mapping: mapping) else { return }
    accepted("safetensors, \(f.tensors.count) tensors")
    // Accepted: the tensors tile the data buffer exactly, each with dtype × shape bytes.
    var covered = 0
    var sum: UInt64 = 0
    for t in f.tensors.values {
        let b = f.bytes(of: t)
        invariant(b.count == t.end - t.begin && b.count == t.count * t.dtype.size, "\(t.name): \(b.count) bytes")
        covered += b.count
        if b.count > 0 { sum &+= UInt64(b[0]) &+ UInt64(b[b.count - 1]) }
    }
    invariant(f.dataOffset + covered == input.count, "tensors cover \(covered) of \(input.count - f.dataOffset) data bytes")
    blackHole(sum)
}

// MARK: - GGUF

/// The container from an exact-size copy; when accepted, the tensors must lie inside the file,
/// aligned, in order and without overlap; then the whole conversion (spec, tokenizer, every
/// tensor decoded and packed, the .dqt written and verified) runs on a file copy. Any error is
/// fine, a trap or an ASan report is not.
func fuzzGGUF(_ input: UnsafeRawBufferPointer) {
    let mapping = MappedFile(copying: input, path: "fuzz.gguf")
    guard let f = try? GGUFFile(mapping: mapping) else { return }
    accepted("gguf v\(f.version), \(f.metadata.count) keys, \(f.tensors.count) tensors")
    var end = 0
    var sum: UInt64 = 0
    for t in f.tensors {
        invariant(t.offset >= end && t.offset % f.alignment == 0, "\(t.name): offset \(t.offset) after \(end)")
        let b = f.bytes(of: t)
        invariant(b.count == t.byteCount && f.dataOffset + t.offset + b.count <= input.count, "\(t.name): \(b.count) bytes")
        if b.count > 0 { sum &+= UInt64(b[0]) &+ UInt64(b[b.count - 1]) }
        end = t.offset + t.byteCount
    }
    blackHole(sum)
    let dir = fuzzScratch()
    let src = dir + "/fuzz.gguf", out = dir + "/fuzz.dqt"
    guard let fp = fopen(src, "wb") else { return }
    if input.count > 0 { fwrite(input.baseAddress!, 1, input.count, fp) }
    fclose(fp)
    defer { unlink(src); unlink(out) }
    if let r = try? Converter.convert(checkpoint: src, output: out, options: ConvertOptions(weights: .ternary, compress: false)) {
        accepted("gguf converted, \(r.spec.layers) layers")
        invariant((try? DQTFile(path: out)) != nil, "the converted file does not load")
    }
}

// MARK: - tokenizers

nonisolated(unsafe) var scratchDir: String? = nil

/// The scratch directory for the importers, which read files: $DQT_FUZZ_SCRATCH_DIR (tools/fuzz.sh
/// makes one in /dev/shm per run and removes it afterwards, however the fuzzer exits), else a
/// per-process /dev/shm/dqt-fuzz-PID. Each input's files are removed once read.
func fuzzScratch() -> String {
    if scratchDir == nil {
        if let d = getenv("DQT_FUZZ_SCRATCH_DIR") {
            scratchDir = String(cString: d)
        } else {
            let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
            let dir = "\(base)/dqt-fuzz-\(getpid())"
            mkdir(dir, 0o700)
            scratchDir = dir
        }
    }
    return scratchDir!
}

/// The importers read files: the input goes to a file in the scratch directory, removed as
/// soon as the importer has read it.
func fuzzTokenizerImport(_ input: UnsafeRawBufferPointer, fileName: String) {
    let path = fuzzScratch() + "/" + fileName
    guard let fp = fopen(path, "wb") else { return }
    if input.count > 0 { fwrite(input.baseAddress!, 1, input.count, fp) }
    fclose(fp)
    let data: TokenizerData
    do {
        defer { unlink(path) }
        data = fileName == "tokenizer.json" ? try importTokenizerJSON(path: path) : try importSentencePieceModel(path: path)
    } catch {
        return
    }
    // An imported tokenizer must serialize into a payload that the validating reader accepts.
    guard let payload = try? serializeTokenizer(data) else { return }
    let box = payload.withUnsafeBytes { AlignedCopy($0) }
    let tok: Tokenizer
    do { tok = try Tokenizer(payload: box.bytes) } catch {
        invariant(false, "the writer produced a payload the reader rejects: \(error)")
        return
    }
    accepted("\(fileName), \(tok.vocabSize) tokens")
    invariant(tok.vocabSize == data.tokens.count, "vocab size \(tok.vocabSize) ≠ \(data.tokens.count)")
    exercise(tok, extra: input)
}

func fuzzTokenizerPayload(_ input: UnsafeRawBufferPointer) {
    let box = AlignedCopy(input)
    guard let tok = try? Tokenizer(payload: box.bytes) else { return }
    accepted("payload, \(tok.vocabSize) tokens")
    exercise(tok, extra: nil)
}

let sampleTexts = [
    "Hello world", "  leading and  double  spaces ", "<s>Hi</s><|endoftext|> <|eot_id|>", "naïve café 東京 🙂\n\r\n\t",
    "I'm 1234567 ab ab a b", "\u{2581}x\u{2581}", "",
]

/// Encodes sample texts (and a prefix of the input, as text), decodes the ids in one go and
/// streaming, and decodes arbitrary ids, including out-of-range ones.
func exercise(_ tok: Tokenizer, extra: UnsafeRawBufferPointer?) {
    var all: [Int32] = []
    for t in sampleTexts {
        for (special, parse) in [(true, true), (false, false)] {
            let ids = tok.encode(t, addSpecialTokens: special, parseSpecial: parse)
            for id in ids { invariant(id >= 0 && Int(id) < tok.vocabSize, "encode gave id \(id) of \(tok.vocabSize)") }
            all += ids
        }
    }
    if let extra {
        let ids = tok.encode(bytes: Array(extra.prefix(256)))
        for id in ids { invariant(id >= 0 && Int(id) < tok.vocabSize, "encode gave id \(id)") }
        all += ids
    }
    all += [-1, Int32(tok.vocabSize), Int32.max, 0, Int32(tok.vocabSize - 1)]
    _ = tok.decode(all, includeSpecial: true)
    var dec = StreamingDecoder(tok, includeSpecial: false, atSequenceStart: true)
    let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
    defer { out.deallocate() }
    for id in all {
        let n = dec.decode(id, into: out)
        invariant(n >= 0 && n <= out.count, "streaming decode wrote \(n) of \(out.count)")
    }
    let n = dec.finish(into: out)
    invariant(n >= 0 && n <= out.count, "finish wrote \(n)")
}

// MARK: - LZ4 section codec

/// Byte 0 picks the mode; bytes 1–3 a raw size (< 256 KiB). Mode even: decode the rest as a
/// section payload of that raw size. Mode odd: the rest is data; encode it (fast or HC),
/// decode it, and require the same bytes back.
func fuzzLZ4(_ input: UnsafeRawBufferPointer) {
    guard input.count >= 4 else { return }
    let mode = input[0]
    let rawSize = Int(input[1]) | Int(input[2]) << 8 | Int(input[3] & 0x03) << 16
    let rest = UnsafeRawBufferPointer(rebasing: input[4...])
    if mode & 1 == 0 {
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rawSize, 1), alignment: 64)
        defer { dst.deallocate() }
        let exact = UnsafeMutableRawBufferPointer(rebasing: dst[0..<rawSize])
        let src = AlignedCopy(rest)
        if (try? LZ4Codec.decode(src.bytes, into: exact, path: "fuzz.lz4", field: "section", fileOffset: 0)) != nil {
            accepted("lz4 section of \(rawSize) bytes")
        }
    } else {
        guard rest.count > 0 else { return }
        let encoded = LZ4Codec.encode(rest, high: mode & 2 != 0)
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: rest.count, alignment: 64)
        defer { dst.deallocate() }
        do {
            try encoded.withUnsafeBytes { try LZ4Codec.decode($0, into: dst, path: "fuzz.lz4", field: "section", fileOffset: 0) }
        } catch {
            invariant(false, "round trip of \(rest.count) bytes failed: \(error)")
        }
        invariant(memcmp(dst.baseAddress!, rest.baseAddress!, rest.count) == 0, "round trip changed the bytes")
        accepted("lz4 round trip of \(rest.count) bytes")
    }
}

// MARK: - helpers

/// An exact-size heap copy (AddressSanitizer sees a read one byte past the end).
final class AlignedCopy {
    let base: UnsafeMutableRawPointer?
    let count: Int
    init(_ src: UnsafeRawBufferPointer) {
        count = src.count
        if src.count > 0 {
            base = UnsafeMutableRawPointer.allocate(byteCount: src.count, alignment: 64)
            base!.copyMemory(from: src.baseAddress!, byteCount: src.count)
        } else {
            base = nil
        }
    }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    deinit { base?.deallocate() }
}

func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}
func le64(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(le32(b, at)) | UInt64(le32(b, at + 4)) << 32 }
func put64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
    for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
}

@inline(never) func blackHole(_ v: UInt64) {
    if v == 0x5EED_5EED_5EED_5EED { eprint("") }
}

/// Writes to stderr (fd 2) without touching the C `stderr` global.
func eprint(_ s: String) {
    var s = s
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
