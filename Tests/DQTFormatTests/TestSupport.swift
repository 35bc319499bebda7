import DQTTestSupport
import Foundation
@testable import DQTFormat

/// A fresh temporary directory per call, removed when the test ends (suites carry .temporaryFiles).
func tempDir() -> String { temporaryDirectory("dqt-format") }

/// A tiny but complete model spec: 1 layer, GQA 2:1, sub-norms, untied head.
let tinySpec = ModelSpec(family: .dqtBitnet, vocabSize: 20, hiddenSize: 8, layers: 1, heads: 2, kvHeads: 1,
                         headDim: 4, ffnSize: 12, maxContext: 32, normEps: 1e-5, ropeTheta: 10000,
                         activation: .siluGated, tiedHead: false, subNorms: true, bosID: 1, eosID: 2)

/// Deterministic payload for each slot: norms f32 (ones plus a ramp), linears t2 with a
/// pattern of −1/0/+1, embeddings/head f16, the first linear trainable.
func tinyPayload(_ i: Int, _ slot: TensorSlot) -> TensorPayload {
    switch slot.role {
    case .norm:
        var b: [UInt8] = []
        for j in 0..<slot.rows { withUnsafeBytes(of: (1 + Float(j) / 16).bitPattern.littleEndian) { b += $0 } }
        return TensorPayload(encoding: .f32, bytes: b)
    case .linear:
        let n = Int(TensorEncoding.t2.payloadBytes(rows: UInt64(slot.rows), cols: UInt64(slot.cols))!)
        // Codes 0,1,2 in rotation per bit pair (never 3): bytes 0b10_01_00_01 style.
        let b = (0..<n).map { k -> UInt8 in
            let c = [UInt8(0b01_10_00_01), 0b00_01_10_01, 0b10_00_01_01][(k + i) % 3]
            return c
        }
        return TensorPayload(encoding: .t2, qmin: -1, qmax: 1, scale: 0.5 + Float(i) / 100, trainable: i == 2, bytes: b)
    case .embedding, .head:
        let n = slot.rows * slot.cols
        var b: [UInt8] = []
        for j in 0..<n { withUnsafeBytes(of: UInt16(0x3C00 + (j % 7)).littleEndian) { b += $0 } }  // ≈1.0
        return TensorPayload(encoding: .f16, bytes: b)
    }
}

/// Writes the tiny model and returns its path.
@discardableResult
func writeTinyModel(at path: String, spec: ModelSpec = tinySpec, compress: Bool = true,
                    tokenizer: [UInt8] = Array(repeating: 7, count: 5000)) throws -> ModelWriteReport {
    try ModelWriter.write(path: path, spec: spec, tokenizer: tokenizer, metadata: "source=test", compress: compress,
                          produce: tinyPayload)
}

/// Recomputes the header checksum of a file image (after a test changed the header block).
func resignHeader(_ bytes: inout [UInt8]) {
    let count = Int(UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt32.self) }))
    let blockSize = min(bytes.count, 64 * (count + 1))
    for i in 40..<48 { bytes[i] = 0 }
    let sum = xxh64(Array(bytes[0..<blockSize]))
    withUnsafeBytes(of: sum.littleEndian) { for i in 0..<8 { bytes[40 + i] = $0[i] } }
}

/// Recomputes section `i`'s checksum from its stored payload, then the header's.
func resignSection(_ bytes: inout [UInt8], _ i: Int) {
    let e = 64 + 64 * i
    let off = Int(readU64(bytes, e + 8)), stored = Int(readU64(bytes, e + 16))
    writeU64(&bytes, e + 32, xxh64(Array(bytes[off..<(off + stored)])))
    resignHeader(&bytes)
}

func readU64(_ b: [UInt8], _ at: Int) -> UInt64 {
    b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}
func readU32(_ b: [UInt8], _ at: Int) -> UInt32 {
    b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
}
func writeU64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
    withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[at + i] = $0[i] } }
}
func writeU32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { b[at + i] = $0[i] } }
}

/// Writes `bytes` to a new file and tries to open it; returns the error, or nil if it loaded.
func openError(_ bytes: [UInt8], verify: Bool = true) -> DQTFormatError? {
    let path = tempDir() + "/m.dqt"
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    do {
        _ = try DQTFile(path: path, options: LoadOptions(verifyChecksums: verify))
        return nil
    } catch let e as DQTFormatError {
        return e
    } catch {
        return DQTFormatError(.io, path: path, field: "?", "unexpected error type \(error)")
    }
}
