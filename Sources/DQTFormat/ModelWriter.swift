// Writes a whole model file in the canonical section order:
//   0 MODEL_SPEC, 1 TOKENIZER, 2 … T+1 one TENSOR each (schema order), T+2 TENSOR_INDEX,
//   T+3 METADATA, and T+4 CHAT when the model has a chat template (formats/dqt-chat.md).
// Tensors are produced one at a time by a callback, so a converter holds one tensor in
// memory at a time. The index goes last because scales are known only after quantizing.

/// One tensor's encoded payload, produced just in time for writing.
public struct TensorPayload {
    public var encoding: TensorEncoding
    public var qmin: Int8
    public var qmax: Int8
    public var scale: Float
    public var trainable: Bool
    public var bytes: [UInt8]

    public init(encoding: TensorEncoding, qmin: Int8 = 0, qmax: Int8 = 0, scale: Float = 1, trainable: Bool = false, bytes: [UInt8]) {
        self.encoding = encoding
        self.qmin = qmin
        self.qmax = qmax
        self.scale = scale
        self.trainable = trainable
        self.bytes = bytes
    }
}

public struct ModelWriteReport: Sendable {
    public var sections: [WrittenSection]
    public var fileBytes: UInt64
    /// Temporary files of killed earlier runs that were removed (see `DQTWriter`).
    public var removedStaleTemporaries: [String] = []
}

public enum ModelWriter {
    /// Writes `path` atomically. `produce(i, slot)` returns tensor i of `spec.tensorSlots`;
    /// `progress(i, slot, written)` is called after each tensor is on disk. With `verify`, the
    /// finished temporary file is loaded with every check and checksum before it replaces
    /// `path`: a file the reader would reject is never installed (the old file stays).
    public static func write(path: String, spec: ModelSpec, tokenizer: [UInt8], metadata: String,
                             chat: [UInt8]? = nil, compress: Bool = true, verify: Bool = true,
                             produce: (Int, TensorSlot) throws -> TensorPayload,
                             progress: (Int, TensorSlot, WrittenSection) -> Void = { _, _, _ in }) throws -> ModelWriteReport {
        let slots = spec.tensorSlots
        let writer = try DQTWriter(path: path, sectionCount: slots.count + 4 + (chat == nil ? 0 : 1))
        let policy: CodecPolicy = compress ? .auto() : .raw
        var report: [WrittenSection] = []
        report.append(try writer.addSection(kind: .modelSpec, payload: spec.encode(), policy: .raw))
        report.append(try writer.addSection(kind: .tokenizer, payload: tokenizer, policy: policy))
        var records: [TensorRecord] = []
        for (i, slot) in slots.enumerated() {
            let t = try produce(i, slot)
            guard let expected = t.encoding.payloadBytes(rows: UInt64(slot.rows), cols: UInt64(slot.cols)),
                  expected == UInt64(t.bytes.count) else {
                writer.abort()
                throw DQTFormatError(.badTensor, path: path, field: "tensor \"\(slot.name)\"",
                                     "produced \(t.bytes.count) bytes for \(t.encoding.name) \(slot.rows)×\(slot.cols)")
            }
            let section = writer.nextSectionIndex
            let w = try writer.addSection(kind: .tensor, payload: t.bytes, policy: t.trainable ? .raw : policy,
                                          tensor: UInt32(i), writable: t.trainable)
            report.append(w)
            records.append(TensorRecord(name: slot.name, section: UInt32(section), encoding: t.encoding, ndim: slot.ndim,
                                        qmin: t.qmin, qmax: t.qmax, rows: slot.rows, cols: slot.cols, scale: t.scale,
                                        trainable: t.trainable, dataBytes: UInt64(t.bytes.count)))
            progress(i, slot, w)
        }
        report.append(try writer.addSection(kind: .tensorIndex, payload: TensorIndex(records: records).encode(), policy: policy))
        report.append(try writer.addSection(kind: .metadata, payload: Array((metadata.isEmpty ? "format=dqt" : metadata).utf8), policy: policy))
        if let chat { report.append(try writer.addSection(kind: .chat, payload: chat, policy: policy)) }
        try writer.finish(verify: verify ? { temp in
            do { _ = try DQTFile(path: temp) } catch var e as DQTFormatError {
                e.message = "the file just written fails its own checks, so \(path) was not replaced: " + e.message
                throw e
            }
        } : nil)
        return ModelWriteReport(sections: report, fileBytes: writer.bytesWritten,
                                removedStaleTemporaries: writer.removedStaleTemporaries)
    }
}

extension ModelWriter {
    /// Writes `file`'s sections to `path` with `chat` as its CHAT section (replacing any it had;
    /// nil removes it), keeping every other section's bytes, order, flags and the commit counter.
    /// Atomic like `write` (temporary file, verify, fsync, rename), so `path` may be `file.path`.
    /// Used by `dqt-convert --set-chat-template` to give an existing model a template.
    public static func rewrite(_ file: DQTFile, to path: String, chat: [UInt8]?, compress: Bool = true) throws -> ModelWriteReport {
        let kept = file.sections.enumerated().filter { $0.element.kind != .chat }
        // CHAT is last in canonical files, so dropping it leaves every tensor's section index valid.
        if let i = file.sections.firstIndex(where: { $0.kind == .chat }), i != file.sections.count - 1 {
            throw DQTFormatError(.badSectionTable, path: file.path, field: "section[\(i)] (CHAT)", offset: file.sections[i].offset,
                                 "the CHAT section is not the last section; re-convert the model instead")
        }
        let writer = try DQTWriter(path: path, sectionCount: kept.count + (chat == nil ? 0 : 1), alignment: file.header.alignment)
        var report: [WrittenSection] = []
        for (i, e) in kept {
            let policy: CodecPolicy = (e.writable || !compress || e.codec == .raw) ? .raw : .auto()
            report.append(try writer.addSection(kind: e.kind, payload: file.view(ofSection: i), policy: policy,
                                                tensor: e.tensor, writable: e.writable))
        }
        if let chat { report.append(try writer.addSection(kind: .chat, payload: chat, policy: compress ? .auto() : .raw)) }
        try writer.finish(commit: file.header.commit, verify: { temp in _ = try DQTFile(path: temp) })
        return ModelWriteReport(sections: report, fileBytes: writer.bytesWritten, removedStaleTemporaries: writer.removedStaleTemporaries)
    }
}
