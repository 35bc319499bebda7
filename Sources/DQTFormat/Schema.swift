// Which tensors a model spec requires, with shapes and allowed encodings
// (formats/dqt.md §7.1). Used by the reader to check a file and by the converter to
// build one.

public struct TensorSlot: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case embedding, head, norm, linear
    }
    public var name: String
    public var role: Role
    public var rows: Int
    public var cols: Int
    public var ndim: Int

    public var allowed: [TensorEncoding] {
        switch role {
        case .embedding, .head: [.f32, .f16, .bf16, .i8r]
        case .norm: [.f32]
        case .linear: [.t2, .t1, .i8, .f32, .f16, .bf16]
        }
    }
}

/// The per-layer linear names in forward order.
public let linearNames = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

extension ModelSpec {
    /// Every tensor this spec needs, in canonical file order.
    public var tensorSlots: [TensorSlot] {
        let d = hiddenSize, f = ffnSize, a = attnDim, kv = kvDim
        var slots = [TensorSlot(name: "embed", role: .embedding, rows: vocabSize, cols: d, ndim: 2)]
        for l in 0..<layers {
            let p = "layers.\(l)."
            slots.append(TensorSlot(name: p + "attn_norm", role: .norm, rows: d, cols: 1, ndim: 1))
            slots.append(TensorSlot(name: p + "q_proj", role: .linear, rows: a, cols: d, ndim: 2))
            slots.append(TensorSlot(name: p + "k_proj", role: .linear, rows: kv, cols: d, ndim: 2))
            slots.append(TensorSlot(name: p + "v_proj", role: .linear, rows: kv, cols: d, ndim: 2))
            if subNorms { slots.append(TensorSlot(name: p + "attn_sub_norm", role: .norm, rows: a, cols: 1, ndim: 1)) }
            slots.append(TensorSlot(name: p + "o_proj", role: .linear, rows: d, cols: a, ndim: 2))
            slots.append(TensorSlot(name: p + "ffn_norm", role: .norm, rows: d, cols: 1, ndim: 1))
            slots.append(TensorSlot(name: p + "gate_proj", role: .linear, rows: f, cols: d, ndim: 2))
            slots.append(TensorSlot(name: p + "up_proj", role: .linear, rows: f, cols: d, ndim: 2))
            if subNorms { slots.append(TensorSlot(name: p + "ffn_sub_norm", role: .norm, rows: f, cols: 1, ndim: 1)) }
            slots.append(TensorSlot(name: p + "down_proj", role: .linear, rows: d, cols: f, ndim: 2))
        }
        slots.append(TensorSlot(name: "final_norm", role: .norm, rows: d, cols: 1, ndim: 1))
        if !tiedHead { slots.append(TensorSlot(name: "output", role: .head, rows: vocabSize, cols: d, ndim: 2)) }
        return slots
    }

    /// Checks that `records` are exactly the tensors this spec needs, with the right
    /// shapes and allowed encodings. Returns the problem, or nil.
    public func check(records: [TensorRecord]) -> (name: String, problem: String)? {
        var byName: [String: TensorRecord] = [:]
        for r in records { byName[r.name] = r }
        let slots = tensorSlots
        for s in slots {
            guard let r = byName[s.name] else { return (s.name, "missing; the model spec needs it") }
            if r.ndim != s.ndim || r.rows != s.rows || r.cols != s.cols {
                let want = s.ndim == 1 ? "[\(s.rows)]" : "[\(s.rows), \(s.cols)]"
                return (s.name, "shape \(r.shapeDescription) does not fit the model spec, which needs \(want)")
            }
            if !s.allowed.contains(r.encoding) {
                return (s.name, "encoding \(r.encoding.name) is not allowed here (allowed: \(s.allowed.map(\.name).joined(separator: ", ")))")
            }
        }
        if records.count != slots.count {
            let known = Set(slots.map(\.name))
            if let extra = records.first(where: { !known.contains($0.name) }) {
                return (extra.name, "unexpected tensor for this model spec")
            }
        }
        return nil
    }
}
