// The memory plan: a sizes table for every buffer generation will ever touch, computed
// at load, one allocation, typed slices handed out. After this, generating tokens
// allocates nothing (the allocation-counting test holds us to it).
import DQTKernels
import DQTFormat
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct RuntimeOptions: Sendable {
    /// Context length (tokens); 0 means min(model max_context, 2048).
    public var contextLength = 0
    /// Threads for matrix products, including the caller; 0 means all online CPUs.
    public var threads = 0
    /// Tokens per prompt batch (matrix–matrix kernels).
    public var batchSize = 32
    public var verifyChecksums = true
    /// Element type of the KV cache: f32 (exact, the default) or f16 (half the memory and the
    /// attention traffic; keys and values rounded to binary16, as llama.cpp's default cache).
    public var kvCache: KVCacheType = .f32
    /// Kernel path (`KernelISA(name:)`: "portable", "avx2", "avx512-vnni", "neon", "neon-dotprod");
    /// nil = the process default (the environment variable DQT_ISA, else the best this CPU runs).
    /// A path this CPU lacks is refused at load. Every integer path gives the same bits.
    public var isa: KernelISA?
    /// Keep the shared read lock for the model's lifetime (one-shot use, like dqt-run). A
    /// long-lived reader sets false and brackets requests with `beginRead()`/`endRead()`, so a
    /// tuner can commit between them (formats/dqt-tune.md §7).
    public var holdReadLease = true
    /// Seconds to wait for a tuner's commit in progress before giving up (at open and in `beginRead`).
    public var lockTimeout: Double = 600
    /// Told once per wait who holds the model (for a message on stderr).
    public var onLockWait: (@Sendable (String) -> Void)? = nil

    public init(contextLength: Int = 0, threads: Int = 0, batchSize: Int = 32, verifyChecksums: Bool = true,
                kvCache: KVCacheType = .f32, isa: KernelISA? = nil, holdReadLease: Bool = true, lockTimeout: Double = 600,
                onLockWait: (@Sendable (String) -> Void)? = nil) {
        self.isa = isa
        self.contextLength = contextLength
        self.threads = threads
        self.batchSize = batchSize
        self.verifyChecksums = verifyChecksums
        self.kvCache = kvCache
        self.holdReadLease = holdReadLease
        self.lockTimeout = lockTimeout
        self.onLockWait = onLockWait
    }
}

public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16
    /// Bytes per cached element.
    public var size: Int { self == .f32 ? 4 : 2 }
}

/// One named buffer of the plan: its element count and byte offset in the allocation.
public struct PlanEntry: Sendable {
    public var name: String
    public var bytes: Int
    public var offset: Int
}

/// All runtime buffers. Shapes use B = batch, C = context, d = hidden, f = ffn,
/// a = n_heads·head_dim, kv = n_kv_heads·head_dim, V = vocab, T = threads, P = padded width.
struct Buffers {
    var x: UnsafeMutablePointer<Float>        // [B, d] residual stream
    var xb: UnsafeMutablePointer<Float>       // [B, d] normed input of a block
    var q: UnsafeMutablePointer<Float>        // [B, a]
    var k: UnsafeMutablePointer<Float>        // [B, kv]
    var v: UnsafeMutablePointer<Float>        // [B, kv]
    var att: UnsafeMutablePointer<Float>      // [B, a] attention output
    var hb: UnsafeMutablePointer<Float>       // [B, f] gate, then the gated product
    var hb2: UnsafeMutablePointer<Float>      // [B, f] up
    var out: UnsafeMutablePointer<Float>      // [B, max(d, a)] linear output before the residual add
    var xq: UnsafeMutablePointer<Int8>        // [B, P] int8 activations, P = padded(max(d, f, a))
    var qsum: UnsafeMutablePointer<Int32>     // [B] Σ of each row of xq
    var alpha: UnsafeMutablePointer<Float>    // [B] quantization scale of each row
    var mult: UnsafeMutablePointer<Float>     // [B] per-token multiplier for a kernel call
    var scores: UnsafeMutablePointer<Float>   // [T, C] attention scores, one row per thread
    var logits: UnsafeMutablePointer<Float>   // [V]
    var keyCache: UnsafeMutableRawPointer     // [layers, kvHeads, C, head_dim] of f32 or f16 (kvCache)
    var valueCache: UnsafeMutableRawPointer   // [layers, kvHeads, C, head_dim]
    var ropeCos: UnsafeMutablePointer<Float>  // [C, head_dim/2]
    var ropeSin: UnsafeMutablePointer<Float>  // [C, head_dim/2]
    var probs: UnsafeMutablePointer<Float>    // [V] sampler
    var indices: UnsafeMutablePointer<Int32>  // [V] sampler
    var recent: UnsafeMutablePointer<Int32>   // [64] repetition-penalty window
    var tokens: UnsafeMutablePointer<Int32>   // [C] the sequence so far
    var paddedWidth: Int
    var kvCache: KVCacheType
}

final class MemoryPlan {
    let entries: [PlanEntry]
    let totalBytes: Int
    let base: UnsafeMutableRawPointer
    let buffers: Buffers

    static let recentWindow = 64

    init(spec: ModelSpec, context: Int, batch: Int, threads: Int, kvCache: KVCacheType = .f32, otherBytes: Int = 0) throws {
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, V = spec.vocabSize
        let C = context, B = batch, L = spec.layers, T = threads
        let P = Kernels.paddedCols(max(d, f, a))
        // Every size is a product of declared dimensions: computed with overflow checks, so a
        // file that declares absurd sizes is refused with a message, never a trap.
        func size(_ name: String, _ factors: Int...) throws -> (String, Int) {
            var n = 1
            for x in factors {
                let (p, o) = n.multipliedReportingOverflow(by: x)
                guard !o, x >= 0 else {
                    throw RuntimeError.outOfMemory("the \(name) buffer (\(factors.map(String.init).joined(separator: " × ")) bytes) overflows; the model declares impossible sizes")
                }
                n = p
            }
            return (name, n)
        }
        let sizes: [(String, Int)] = [
            try size("x", B, d, 4), try size("xb", B, d, 4), try size("q", B, a, 4), try size("k", B, kv, 4),
            try size("v", B, kv, 4), try size("att", B, a, 4), try size("hb", B, f, 4), try size("hb2", B, f, 4),
            try size("out", B, max(d, a), 4), try size("xq", B, P), try size("qsum", B, 4), try size("alpha", B, 4),
            try size("mult", B, 4), try size("scores", T, C, 4), try size("logits", V, 4),
            try size("key_cache", L, C, kv, kvCache.size), try size("value_cache", L, C, kv, kvCache.size),
            try size("rope_cos", C, spec.headDim / 2, 4), try size("rope_sin", C, spec.headDim / 2, 4),
            try size("probs", V, 4), try size("indices", V, 4), try size("recent", MemoryPlan.recentWindow, 4),
            try size("tokens", C, 4),
        ]
        var entries: [PlanEntry] = []
        var offset = 0
        for (name, bytes) in sizes {
            entries.append(PlanEntry(name: name, bytes: bytes, offset: offset))
            let (padded, o1) = bytes.addingReportingOverflow(63)
            let (next, o2) = offset.addingReportingOverflow(padded & ~63)
            guard !o1, !o2 else { throw RuntimeError.outOfMemory("the runtime plan overflows at \(name); the model declares impossible sizes") }
            offset = next
        }
        totalBytes = offset
        // Refuse before mapping: the whole plan may be touched (a full context), and with
        // overcommit a mapping larger than the machine would succeed and the OOM killer come later.
        let physical = DQTFile.physicalMemory()
        let (needed, o) = offset.addingReportingOverflow(max(otherBytes, 0))
        guard !o, UInt64(needed) <= physical else {
            let kvBytes = sizes[15].1 + sizes[16].1
            throw RuntimeError.outOfMemory(
                "the model needs \(MemoryPlan.describe(offset)) of runtime buffers (KV cache \(MemoryPlan.describe(kvBytes)) for context \(C) × \(L) layers × \(kv) KV width)"
                + (otherBytes > 0 ? " plus \(MemoryPlan.describe(otherBytes)) of decoded LZ4 sections" : "")
                + ", more than this machine's \(MemoryPlan.describe(Int(clamping: physical))) of memory; try a smaller -c")
        }
        // One anonymous mapping: its pages are zero and become resident only when first
        // written, so a 2048-token KV cache costs RSS only for the positions used (the
        // first write of each new 4 KiB page is a minor fault, not an allocation).
        let mapped = mmap(nil, max(offset, 64), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p = mapped, p != MAP_FAILED else {
            throw RuntimeError.outOfMemory("cannot map the \(offset)-byte runtime plan (context \(C); try a smaller -c)")
        }
        base = p
        self.entries = entries
        func slot<T>(_ i: Int, _: T.Type) -> UnsafeMutablePointer<T> {
            (p + entries[i].offset).bindMemory(to: T.self, capacity: max(entries[i].bytes / MemoryLayout<T>.stride, 1))
        }
        buffers = Buffers(
            x: slot(0, Float.self), xb: slot(1, Float.self), q: slot(2, Float.self), k: slot(3, Float.self),
            v: slot(4, Float.self), att: slot(5, Float.self), hb: slot(6, Float.self), hb2: slot(7, Float.self),
            out: slot(8, Float.self), xq: slot(9, Int8.self), qsum: slot(10, Int32.self), alpha: slot(11, Float.self),
            mult: slot(12, Float.self), scores: slot(13, Float.self), logits: slot(14, Float.self),
            keyCache: p + entries[15].offset, valueCache: p + entries[16].offset, ropeCos: slot(17, Float.self),
            ropeSin: slot(18, Float.self), probs: slot(19, Float.self), indices: slot(20, Int32.self),
            recent: slot(21, Int32.self), tokens: slot(22, Int32.self), paddedWidth: P, kvCache: kvCache)
    }

    deinit { munmap(base, max(totalBytes, 64)) }

    /// "1.5 GiB"-style size for messages.
    static func describe(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        if u == 0 { return "\(bytes) bytes" }
        let r = (v * 10).rounded() / 10
        return "\(r) \(units[u])"
    }

    /// Bytes of the KV cache part of the plan.
    var kvCacheBytes: Int { entries.filter { $0.name.hasSuffix("_cache") }.reduce(0) { $0 + $1.bytes } }

    /// Bytes of the KV cache that are resident (pages written so far), by mincore(2): the plan
    /// is mapped lazily, so a cache reserved for a long context costs only what was used.
    /// Allocates a page vector; for reports after generation, not for the token loop.
    var kvCacheResidentBytes: Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var total = 0
        for e in entries where e.name.hasSuffix("_cache") && e.bytes > 0 {
            let start = (Int(bitPattern: base) + e.offset) / page * page
            let end = (Int(bitPattern: base) + e.offset + e.bytes + page - 1) / page * page
            var vec = [UInt8](repeating: 0, count: (end - start) / page)
            guard mincore(UnsafeMutableRawPointer(bitPattern: start), end - start, &vec) == 0 else { return e.bytes }
            total += vec.reduce(0) { $0 + Int($1 & 1) } * page
        }
        return total
    }
}

public enum RuntimeError: Error, CustomStringConvertible {
    case outOfMemory(String)
    case badArgument(String)
    case contextFull(String)
    case tokenizer(String)
    /// The TOKENIZER section of `path` breaks formats/dqt-tokenizer.md: the reader's typed error
    /// (field, byte offset) is kept.
    case tokenizerPayload(path: String, TokenizerError)

    public var description: String {
        switch self {
        case .outOfMemory(let s), .badArgument(let s), .contextFull(let s), .tokenizer(let s): s
        case .tokenizerPayload(let path, let e): "\(path): TOKENIZER section: \(e)"
        }
    }
}
