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

/// The buffers of the plan, in allocation order; `name` is how reports call them.
enum PlanSlot: Int, CaseIterable {
    case x, xb, q, k, v, att, hb, hb2, out, xq, qsum, alpha, mult, scores, logits
    case keyCache, valueCache, ropeCos, ropeSin, probs, indices, recent, tokens

    var name: String {
        switch self {
        case .keyCache: "key_cache"
        case .valueCache: "value_cache"
        case .ropeCos: "rope_cos"
        case .ropeSin: "rope_sin"
        default: String(describing: self)
        }
    }
}

final class MemoryPlan {
    /// One entry per `PlanSlot`, indexed by its raw value.
    let entries: [PlanEntry]
    let totalBytes: Int
    let base: UnsafeMutableRawPointer
    let buffers: Buffers

    static let recentWindow = 64

    init(spec: ModelSpec, context: Int, batch: Int, threads: Int, kvCache: KVCacheType = .f32, otherBytes: Int = 0) throws {
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, V = spec.vocabSize
        let C = context, B = batch, L = spec.layers, T = threads
        let P = Kernels.paddedCols(max(d, f, a))
        /// The byte size of a slot as a product of declared dimensions (shapes: see `Buffers`).
        func factors(_ s: PlanSlot) -> [Int] {
            switch s {
            case .x, .xb: [B, d, 4]
            case .q, .att: [B, a, 4]
            case .k, .v: [B, kv, 4]
            case .hb, .hb2: [B, f, 4]
            case .out: [B, max(d, a), 4]
            case .xq: [B, P]
            case .qsum, .alpha, .mult: [B, 4]
            case .scores: [T, C, 4]
            case .logits, .probs, .indices: [V, 4]
            case .keyCache, .valueCache: [L, C, kv, kvCache.size]
            case .ropeCos, .ropeSin: [C, spec.headDim / 2, 4]
            case .recent: [MemoryPlan.recentWindow, 4]
            case .tokens: [C, 4]
            }
        }
        // Every size is computed with overflow checks, so a file that declares absurd sizes is
        // refused with a message, never a trap.
        var entries: [PlanEntry] = []
        var offset = 0
        for slot in PlanSlot.allCases {
            var bytes = 1
            for x in factors(slot) {
                let (p, o) = bytes.multipliedReportingOverflow(by: x)
                guard !o, x >= 0 else {
                    throw RuntimeError.outOfMemory("the \(slot.name) buffer (\(factors(slot).map(String.init).joined(separator: " × ")) bytes) overflows; the model declares impossible sizes")
                }
                bytes = p
            }
            entries.append(PlanEntry(name: slot.name, bytes: bytes, offset: offset))
            let (padded, o1) = bytes.addingReportingOverflow(63)
            let (next, o2) = offset.addingReportingOverflow(padded & ~63)
            guard !o1, !o2 else { throw RuntimeError.outOfMemory("the runtime plan overflows at \(slot.name); the model declares impossible sizes") }
            offset = next
        }
        totalBytes = offset
        // Refuse before mapping: the whole plan may be touched (a full context), and with
        // overcommit a mapping larger than the machine would succeed and the OOM killer come later.
        let physical = DQTFile.physicalMemory()
        let (needed, o) = offset.addingReportingOverflow(max(otherBytes, 0))
        guard !o, UInt64(needed) <= physical else {
            let kvBytes = entries[PlanSlot.keyCache.rawValue].bytes + entries[PlanSlot.valueCache.rawValue].bytes
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
        func raw(_ s: PlanSlot) -> UnsafeMutableRawPointer { p + entries[s.rawValue].offset }
        func slot<T>(_ s: PlanSlot, _: T.Type) -> UnsafeMutablePointer<T> {
            raw(s).bindMemory(to: T.self, capacity: max(entries[s.rawValue].bytes / MemoryLayout<T>.stride, 1))
        }
        buffers = Buffers(
            x: slot(.x, Float.self), xb: slot(.xb, Float.self), q: slot(.q, Float.self), k: slot(.k, Float.self),
            v: slot(.v, Float.self), att: slot(.att, Float.self), hb: slot(.hb, Float.self), hb2: slot(.hb2, Float.self),
            out: slot(.out, Float.self), xq: slot(.xq, Int8.self), qsum: slot(.qsum, Int32.self), alpha: slot(.alpha, Float.self),
            mult: slot(.mult, Float.self), scores: slot(.scores, Float.self), logits: slot(.logits, Float.self),
            keyCache: raw(.keyCache), valueCache: raw(.valueCache), ropeCos: slot(.ropeCos, Float.self),
            ropeSin: slot(.ropeSin, Float.self), probs: slot(.probs, Float.self), indices: slot(.indices, Int32.self),
            recent: slot(.recent, Int32.self), tokens: slot(.tokens, Int32.self), paddedWidth: P, kvCache: kvCache)
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

    /// The KV cache's entries of the plan.
    var kvCacheEntries: [PlanEntry] { [entries[PlanSlot.keyCache.rawValue], entries[PlanSlot.valueCache.rawValue]] }

    /// Bytes of the KV cache part of the plan.
    var kvCacheBytes: Int { kvCacheEntries.reduce(0) { $0 + $1.bytes } }

    /// Bytes of the KV cache that are resident (pages written so far), by mincore(2): the plan
    /// is mapped lazily, so a cache reserved for a long context costs only what was used.
    /// Allocates a page vector; for reports after generation, not for the token loop.
    var kvCacheResidentBytes: Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var total = 0
        for e in kvCacheEntries where e.bytes > 0 {
            let start = (Int(bitPattern: base) + e.offset) / page * page
            let end = (Int(bitPattern: base) + e.offset + e.bytes + page - 1) / page * page
            var vec = [UInt8](repeating: 0, count: (end - start) / page)
            guard mincore(UnsafeMutableRawPointer(bitPattern: start), end - start, &vec) == 0 else { return e.bytes }
            total += vec.reduce(0) { $0 + Int($1 & 1) } * page
        }
        return total
    }
}
