import DQTTestSupport
import Foundation
import Testing
@testable import DQTFormat

/// More of the .dqt corrupt-input catalogue (CorruptFileTests has the first 52): LZ4 sizes
/// that lie before any decoding, index and schema damage that checksums do not catch (the
/// test re-signs), and value checks on i8 / i8r tensors. Tensor records of the tiny model, in
/// schema order: 0 embed, 1 attn_norm, 2 q, 3 k, 4 v, 5 attn_sub_norm, 6 o, 7 ffn_norm, 8 gate,
/// 9 up, 10 ffn_sub_norm, 11 down, 12 final_norm, 13 output.
enum MoreCorruption: String, CaseIterable, CustomStringConvertible {
    case lz4RawSizeBomb, lz4RawSize2pow63, lz4CompLenPastEnd, lz4CompLenZero, lz4CompLenAboveBound
    case storedSizeZero, alignment2pow17, sectionCountTwo, flippedBitInMetadata, flippedBitInLZ4Payload
    case tensorCountZero, tensorCountTooLarge, ndimThree, namePaddingNonzero, trainableFlagMismatch
    case outputPresentWhenTied, tensorRenamedAway, oneDimWithColsTwo, rowsZero
    case specHeadDimOdd, specTooManyLayers, specReservedNonzero, specUnknownFlag, specDimension2pow24Plus1, specInfTheta
    case metadataInvalidUTF8, twoMetadataSections, i8CodeOutsideGrid, i8rNaNRowScale, i8rNegativeRowScale
    case qminAboveQmax

    var description: String { rawValue }
}

/// The tiny model with q_proj stored as 3-bit i8 codes and the embedding as i8r.
func imageWithIntEncodings() throws -> Image {
    let path = tempDir() + "/m.dqt"
    _ = try ModelWriter.write(path: path, spec: tinySpec, tokenizer: Array(repeating: 7, count: 5000), metadata: "source=test",
                              compress: false) { i, slot in
        if slot.name == "layers.0.q_proj" {
            let codes = (0..<(slot.rows * slot.cols)).map { UInt8(bitPattern: Int8($0 % 8 - 4)) }
            return TensorPayload(encoding: .i8, qmin: -4, qmax: 3, scale: 0.1, bytes: codes)
        }
        if slot.name == "embed" {
            var b = (0..<(slot.rows * slot.cols)).map { UInt8(truncatingIfNeeded: $0 * 37) }
            while b.count % 4 != 0 { b.append(0) }
            for r in 0..<slot.rows { withUnsafeBytes(of: (Float(r + 1) / 64).bitPattern.littleEndian) { b += $0 } }
            return TensorPayload(encoding: .i8r, bytes: b)
        }
        return tinyPayload(i, slot)
    }
    return Image(b: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
}

@Suite(.temporaryFiles) struct MoreCorruptFileTests {
    func apply(_ c: MoreCorruption, _ m: inout Image) throws -> DQTFormatError.Kind {
        let spec = m.offset(0)
        switch c {
        case .lz4RawSizeBomb:
            // 257 × stored: more than any LZ4 payload can decode to; refused before the arena.
            let s = m.first(kind: .tokenizer)
            writeU64(&m.b, m.entry(s) + 24, UInt64(m.stored(s)) * 257); resignHeader(&m.b); return .badCodec
        case .lz4RawSize2pow63:
            let s = m.first(kind: .tokenizer)
            writeU64(&m.b, m.entry(s) + 24, 1 << 63); resignHeader(&m.b); return .tooLarge
        case .lz4CompLenPastEnd:
            let s = m.first(kind: .tokenizer)
            writeU32(&m.b, m.offset(s) + 4, UInt32(m.stored(s))); m.resignAll(); return .truncated
        case .lz4CompLenZero:
            let s = m.first(kind: .tokenizer)
            writeU32(&m.b, m.offset(s) + 4, 0); m.resignAll(); return .badCodec
        case .lz4CompLenAboveBound:
            let s = m.first(kind: .tokenizer)
            writeU32(&m.b, m.offset(s) + 4, 0x7FFF_FFF0); m.resignAll(); return .badCodec
        case .storedSizeZero:
            writeU64(&m.b, m.entry(0) + 16, 0); resignHeader(&m.b); return .badSectionTable
        case .alignment2pow17:
            writeU32(&m.b, 12, 1 << 17); resignHeader(&m.b); return .badHeader
        case .sectionCountTwo:
            writeU32(&m.b, 24, 2); resignHeader(&m.b); return .badHeader
        case .flippedBitInMetadata:
            m.b[m.offset(m.first(kind: .metadata)) + 2] ^= 0x04; return .checksumMismatch
        case .flippedBitInLZ4Payload:
            let s = m.first(kind: .tokenizer)
            m.b[m.offset(s) + m.stored(s) - 3] ^= 0x20; return .checksumMismatch
        case .tensorCountZero:
            writeU32(&m.b, m.offset(m.first(kind: .tensorIndex)), 0); m.resignAll(); return .badTensorIndex
        case .tensorCountTooLarge:
            writeU32(&m.b, m.offset(m.first(kind: .tensorIndex)), .max); m.resignAll(); return .badTensorIndex
        case .ndimThree:
            m.b[m.record(2) + 5] = 3; m.resignAll(); return .badTensorIndex
        case .namePaddingNonzero:
            m.b[m.record(2) + 127] = 0x41; m.resignAll(); return .badTensorIndex
        case .trainableFlagMismatch:
            let r = m.record(m.recordIndex(named: "layers.0.k_proj"))
            writeU32(&m.b, r + 28, 1); m.resignAll(); return .badTensorIndex  // its section is not writable
        case .outputPresentWhenTied:
            writeU32(&m.b, spec + 52, 3); m.resignAll(); return .badTensor
        case .tensorRenamedAway:
            let r = m.record(m.recordIndex(named: "layers.0.ffn_norm"))
            m.b[r + 42 + 13] = UInt8(ascii: "x"); m.resignAll(); return .badTensor  // "layers.0.ffn_xorm"
        case .oneDimWithColsTwo:
            let r = m.record(m.recordIndex(named: "final_norm"))
            writeU64(&m.b, r + 8, 4); writeU64(&m.b, r + 16, 2); m.resignAll(); return .badTensorIndex
        case .rowsZero:
            let r = m.record(m.recordIndex(named: "layers.0.q_proj"))
            writeU64(&m.b, r + 8, 0); m.resignAll(); return .badTensorIndex
        case .specHeadDimOdd:
            writeU32(&m.b, spec + 28, 3); m.resignAll(); return .badSpec
        case .specTooManyLayers:
            writeU32(&m.b, spec + 16, 5000); m.resignAll(); return .badSpec
        case .specReservedNonzero:
            m.b[spec + 100] = 1; m.resignAll(); return .badSpec
        case .specUnknownFlag:
            writeU32(&m.b, spec + 52, 6); m.resignAll(); return .badSpec
        case .specDimension2pow24Plus1:
            writeU32(&m.b, spec + 36, (1 << 24) + 1); m.resignAll(); return .badSpec
        case .specInfTheta:
            writeU32(&m.b, spec + 44, Float.infinity.bitPattern); m.resignAll(); return .badSpec
        case .metadataInvalidUTF8:
            m.b[m.offset(m.first(kind: .metadata))] = 0xFF; m.resignAll(); return .badSectionTable
        case .twoMetadataSections:
            writeU32(&m.b, m.entry(1), SectionKind.metadata.rawValue); resignHeader(&m.b); return .badSectionTable
        case .i8CodeOutsideGrid:
            let r = m.recordIndex(named: "layers.0.q_proj")
            let s = Int(readU32(m.b, m.record(r)))
            m.b[m.offset(s) + 9] = 5; m.resignAll(); return .badTensor  // grid is [-4, 3]
        case .i8rNaNRowScale, .i8rNegativeRowScale:
            let r = m.recordIndex(named: "embed")
            let s = Int(readU32(m.b, m.record(r)))
            let scales = m.offset(s) + TensorEncoding.i8rScalesOffset(rows: tinySpec.vocabSize, cols: tinySpec.hiddenSize)
            writeU32(&m.b, scales + 4 * 7, (c == .i8rNaNRowScale ? Float.nan : -1).bitPattern); m.resignAll(); return .badTensor
        case .qminAboveQmax:
            let r = m.record(m.recordIndex(named: "layers.0.q_proj"))
            m.b[r + 6] = 3; m.b[r + 7] = UInt8(bitPattern: -4); m.resignAll(); return .badTensorIndex
        }
    }

    @Test(arguments: MoreCorruption.allCases)
    func corruptFileGivesItsError(_ c: MoreCorruption) throws {
        let lz4 = c.rawValue.hasPrefix("lz4") || c == .flippedBitInLZ4Payload
        let ints = [MoreCorruption.i8CodeOutsideGrid, .i8rNaNRowScale, .i8rNegativeRowScale, .qminAboveQmax].contains(c)
        var m = ints ? try imageWithIntEncodings() : try image(compress: lz4)
        if lz4 { #expect(m.b[m.entry(m.first(kind: .tokenizer)) + 4] == 1, "tokenizer section must be LZ4 here") }
        #expect(openError(m.b) == nil, "the unmodified image must load")
        let expected = try apply(c, &m)
        let err = openError(m.b)
        #expect(err?.kind == expected, "\(c): got \(err.map { "\($0.kind): \($0)" } ?? "no error")")
        #expect(err?.description.contains("m.dqt") == true)
    }

    /// The 256× expansion bound admits the most compressible data there is: 9 MiB of zeros
    /// (three chunks, each close to LZ4's 255× limit) loads.
    @Test func maximallyCompressedSectionIsAccepted() throws {
        let path = tempDir() + "/m.dqt"
        try writeTinyModel(at: path, compress: true, tokenizer: [UInt8](repeating: 0, count: 9 << 20))
        let f = try DQTFile(path: path)
        let e = f.sections[1]
        #expect(e.codec == .lz4 && e.rawSize == 9 << 20)
        #expect(e.rawSize > 250 * e.storedSize, "ratio \(Double(e.rawSize) / Double(e.storedSize))")
        #expect(f.tokenizerPayload.allSatisfy { $0 == 0 })
    }

    /// Every single-byte change anywhere in a small compressed file, with checksums recomputed
    /// so that the change reaches the parsers behind them, loads or fails cleanly.
    @Test func resignedByteChangesNeverCrash() throws {
        let m = try image(compress: true)
        var rejected = 0, loaded = 0
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        for k in 0..<1500 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            var x = m
            let at = k < 512 ? k : Int((rng >> 33) % UInt64(m.b.count))
            x.b[at] ^= UInt8(truncatingIfNeeded: (rng >> 20) | 1)
            resignWherePossible(&x.b)
            if openError(x.b) == nil { loaded += 1 } else { rejected += 1 }
        }
        #expect(rejected > 700, "only \(rejected) of 1500 re-signed mutations rejected (\(loaded) loaded)")
    }
}

/// Recomputes the checksums of every section the (possibly damaged) table can locate, then
/// the header's; entries that point outside the file are left as they are.
func resignWherePossible(_ b: inout [UInt8]) {
    let n = Int(readU32(b, 24))
    guard n >= 1, n <= 65535, 64 * (n + 1) <= b.count else { return }
    for i in 0..<n {
        let e = 64 + 64 * i
        let off = readU64(b, e + 8), stored = readU64(b, e + 16)
        guard off <= UInt64(b.count), stored <= UInt64(b.count) - off else { continue }
        writeU64(&b, e + 32, xxh64(Array(b[Int(off)..<Int(off + stored)])))
    }
    resignHeader(&b)
}
