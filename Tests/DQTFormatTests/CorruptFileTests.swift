import DQTTestSupport
import Foundation
import Testing
@testable import DQTFormat

/// The corrupt-input catalogue for the .dqt reader: each case mutates a valid file
/// image and names the error the reader must give. Where a mutation would be caught by
/// a checksum first, the test re-signs the file so the deeper check is exercised.
enum Corruption: String, CaseIterable, CustomStringConvertible {
    case badMagic, futureMinorVersion, futureMajorVersion, nonzeroHeaderFlags, nonzeroHeaderReserved
    case headerChecksumMismatch, fileLengthTooLarge, fileLength2pow63, sectionCountZero, sectionCountHuge
    case alignmentNotPowerOfTwo, alignmentChangedMisalignsData
    case sectionOverlaps, sectionLeavesHole, sectionOffsetPastEnd, storedSize2pow63, rawSizeDiffersForRaw
    case unknownSectionKind, unknownCodec, duplicateModelSpec, missingTokenizer, nonzeroPadding, trailingBytes
    case flippedBitInSpec, flippedBitInTensor, flippedBitInIndex
    case tensorSectionWithoutOwner, writableLZ4Section, unknownSectionFlag
    case specHeadsNotMultipleOfKV, specZeroVocab, specEosOutOfRange, specNaNEps, specUnknownActivation
    case shapeDoesNotFitSpec, dimensionProductOverflows, dataBytesLie, unknownEncoding, duplicateTensorName
    case tensorNameInvalidUTF8, tensorNameTooLong, nanScale, zeroScale, infScale, ternaryCodeThree
    case ternaryWithWrongGrid, tensorPointsAtWrongSection, normWithNaN
    case lz4RawLenLarger, lz4RawLenSmaller, lz4SectionRawSizeLies, lz4GarbageBlock

    var description: String { rawValue }
}

struct Image {
    var b: [UInt8]
    var sectionCount: Int { Int(readU32(b, 24)) }
    func entry(_ i: Int) -> Int { 64 + 64 * i }
    func kind(_ i: Int) -> UInt32 { readU32(b, entry(i)) }
    func offset(_ i: Int) -> Int { Int(readU64(b, entry(i) + 8)) }
    func stored(_ i: Int) -> Int { Int(readU64(b, entry(i) + 16)) }
    func first(kind: SectionKind) -> Int { (0..<sectionCount).first { self.kind($0) == kind.rawValue }! }
    /// Byte offset of tensor record `r` inside the (raw) index payload.
    func record(_ r: Int) -> Int { offset(first(kind: .tensorIndex)) + 16 + 128 * r }
    func recordIndex(named name: String) -> Int {
        (0..<1000).first { r in
            let at = record(r)
            let len = Int(b[at + 40]) | Int(b[at + 41]) << 8
            return String(decoding: b[(at + 42)..<(at + 42 + len)], as: UTF8.self) == name
        }!
    }
    mutating func resignAll() {
        for i in 0..<sectionCount { resignSection(&b, i) }
    }
}

func image(compress: Bool) throws -> Image {
    let path = tempDir() + "/m.dqt"
    try writeTinyModel(at: path, compress: compress)
    return Image(b: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
}

@Suite(.temporaryFiles) struct CorruptFileTests {
    /// Applies a corruption; returns the expected error kind.
    func apply(_ c: Corruption, _ m: inout Image) throws -> DQTFormatError.Kind {
        switch c {
        case .badMagic:
            m.b[1] = UInt8(ascii: "X"); return .badMagic
        case .futureMinorVersion:
            m.b[10] = 2; m.resignAll(); return .unsupportedVersion
        case .futureMajorVersion:
            m.b[8] = 2; return .unsupportedVersion
        case .nonzeroHeaderFlags:
            m.b[28] = 1; return .badHeader
        case .nonzeroHeaderReserved:
            m.b[60] = 1; return .badHeader
        case .headerChecksumMismatch:
            m.b[m.entry(0) + 32] ^= 1; return .checksumMismatch  // section 0's checksum field changed, header not re-signed
        case .fileLengthTooLarge:
            writeU64(&m.b, 16, UInt64(m.b.count + 64)); return .badHeader
        case .fileLength2pow63:
            writeU64(&m.b, 16, 1 << 63); return .badHeader
        case .sectionCountZero:
            writeU32(&m.b, 24, 0); return .badHeader
        case .sectionCountHuge:
            writeU32(&m.b, 24, 65535); return .truncated
        case .alignmentNotPowerOfTwo:
            writeU32(&m.b, 12, 96); return .badHeader
        case .alignmentChangedMisalignsData:
            writeU32(&m.b, 12, 128); m.resignAll(); return .badSectionTable
        case .sectionOverlaps:
            let e = m.entry(3); writeU64(&m.b, e + 8, readU64(m.b, e + 8) - 64); m.resignAll(); return .badSectionTable
        case .sectionLeavesHole:
            let e = m.entry(3); writeU64(&m.b, e + 8, readU64(m.b, e + 8) + 64); m.resignAll(); return .badSectionTable
        case .sectionOffsetPastEnd:
            let last = m.sectionCount - 1
            writeU64(&m.b, m.entry(last) + 8, UInt64(m.b.count + 4096)); resignHeader(&m.b); return .badSectionTable
        case .storedSize2pow63:
            writeU64(&m.b, m.entry(2) + 16, 1 << 63); resignHeader(&m.b); return .badSectionTable
        case .rawSizeDiffersForRaw:
            let e = m.entry(2); writeU64(&m.b, e + 24, readU64(m.b, e + 24) + 1); resignHeader(&m.b); return .badSectionTable
        case .unknownSectionKind:
            writeU32(&m.b, m.entry(2), 99); resignHeader(&m.b); return .badSectionTable
        case .unknownCodec:
            writeU32(&m.b, m.entry(2) + 4, 7); resignHeader(&m.b); return .badSectionTable
        case .duplicateModelSpec:
            writeU32(&m.b, m.entry(m.first(kind: .metadata)), SectionKind.modelSpec.rawValue); resignHeader(&m.b)
            return .badSectionTable
        case .missingTokenizer:
            writeU32(&m.b, m.entry(1), SectionKind.metadata.rawValue); resignHeader(&m.b)
            m.b[m.offset(1)] = UInt8(ascii: "a")
            m.resignAll(); return .badSectionTable
        case .nonzeroPadding:
            let i = 0  // the spec is 128 bytes: pad to 64 is empty, so use a tensor section with a short payload
            _ = i
            let s = (0..<m.sectionCount).first { m.stored($0) % 64 != 0 }!
            m.b[m.offset(s) + m.stored(s)] = 1; return .badSectionTable
        case .trailingBytes:
            m.b += [UInt8](repeating: 0, count: 64); writeU64(&m.b, 16, UInt64(m.b.count)); resignHeader(&m.b)
            return .badSectionTable
        case .flippedBitInSpec:
            m.b[m.offset(0) + 9] ^= 0x10; return .checksumMismatch
        case .flippedBitInTensor:
            m.b[m.offset(5) + 3] ^= 0x01; return .checksumMismatch
        case .flippedBitInIndex:
            m.b[m.record(0) + 30] ^= 0x80; return .checksumMismatch
        case .tensorSectionWithoutOwner:
            writeU32(&m.b, m.entry(3) + 40, .max); resignHeader(&m.b); return .badSectionTable
        case .writableLZ4Section:
            writeU32(&m.b, m.entry(2) + 4, 1); writeU32(&m.b, m.entry(2) + 44, 1); resignHeader(&m.b)
            return .badSectionTable
        case .unknownSectionFlag:
            writeU32(&m.b, m.entry(2) + 44, 4); resignHeader(&m.b); return .badSectionTable
        case .specHeadsNotMultipleOfKV:
            writeU32(&m.b, m.offset(0) + 24, 3); m.resignAll(); return .badSpec
        case .specZeroVocab:
            writeU32(&m.b, m.offset(0) + 8, 0); m.resignAll(); return .badSpec
        case .specEosOutOfRange:
            writeU32(&m.b, m.offset(0) + 60, 20); m.resignAll(); return .badSpec
        case .specNaNEps:
            writeU32(&m.b, m.offset(0) + 40, Float.nan.bitPattern); m.resignAll(); return .badSpec
        case .specUnknownActivation:
            writeU32(&m.b, m.offset(0) + 48, 9); m.resignAll(); return .badSpec
        case .shapeDoesNotFitSpec:
            writeU32(&m.b, m.offset(0) + 32, 13); m.resignAll(); return .badTensor  // ffn 12 → 13
        case .dimensionProductOverflows:
            let r = m.record(3); writeU64(&m.b, r + 8, 1 << 40); writeU64(&m.b, r + 16, 1 << 40); m.resignAll()
            return .tooLarge
        case .dataBytesLie:
            let r = m.record(3); writeU64(&m.b, r + 32, readU64(m.b, r + 32) + 1); m.resignAll(); return .badTensorIndex
        case .unknownEncoding:
            m.b[m.record(3) + 4] = 7; m.resignAll(); return .badTensorIndex
        case .duplicateTensorName:
            let a = m.record(1), b = m.record(2)
            for k in 40..<128 { m.b[b + k] = m.b[a + k] }
            m.resignAll(); return .badTensorIndex
        case .tensorNameInvalidUTF8:
            m.b[m.record(1) + 42] = 0xC3; m.b[m.record(1) + 43] = 0x28; m.resignAll(); return .badTensorIndex
        case .tensorNameTooLong:
            m.b[m.record(1) + 40] = 200; m.resignAll(); return .badTensorIndex
        case .nanScale:
            writeU32(&m.b, m.record(m.recordIndex(named: "layers.0.q_proj")) + 24, Float.nan.bitPattern); m.resignAll()
            return .badTensor
        case .zeroScale:
            writeU32(&m.b, m.record(m.recordIndex(named: "layers.0.q_proj")) + 24, 0); m.resignAll(); return .badTensor
        case .infScale:
            writeU32(&m.b, m.record(m.recordIndex(named: "layers.0.k_proj")) + 24, Float.infinity.bitPattern); m.resignAll()
            return .badTensor
        case .ternaryCodeThree:
            let r = m.recordIndex(named: "layers.0.v_proj")
            let s = Int(readU32(m.b, m.record(r)))
            m.b[m.offset(s) + 5] = 0b11_00_01_01; m.resignAll(); return .badTensor
        case .ternaryWithWrongGrid:
            let r = m.record(m.recordIndex(named: "layers.0.q_proj")); m.b[r + 7] = 3; m.resignAll(); return .badTensorIndex
        case .tensorPointsAtWrongSection:
            let r = m.record(1); writeU32(&m.b, r, readU32(m.b, r) + 1); m.resignAll(); return .badTensorIndex
        case .normWithNaN:
            let r = m.recordIndex(named: "final_norm")
            let s = Int(readU32(m.b, m.record(r)))
            writeU32(&m.b, m.offset(s) + 4, Float.nan.bitPattern); m.resignAll(); return .badTensor
        case .lz4RawLenLarger, .lz4RawLenSmaller:
            // The tokenizer section is LZ4 in the compressed image: make its first chunk lie.
            let s = m.first(kind: .tokenizer)
            let raw = readU32(m.b, m.offset(s))
            writeU32(&m.b, m.offset(s), c == .lz4RawLenLarger ? raw + 1 : raw - 1)
            m.resignAll(); return .badCodec
        case .lz4SectionRawSizeLies:
            let s = m.first(kind: .tokenizer)
            writeU64(&m.b, m.entry(s) + 24, readU64(m.b, m.entry(s) + 24) + 100); m.resignAll(); return .badCodec
        case .lz4GarbageBlock:
            let s = m.first(kind: .tokenizer)
            for k in 8..<min(m.stored(s), 24) { m.b[m.offset(s) + k] = 0xF0 }
            m.resignAll(); return .badCodec
        }
    }

    @Test(arguments: Corruption.allCases)
    func corruptFileGivesItsError(_ c: Corruption) throws {
        let lz4Case = [Corruption.lz4RawLenLarger, .lz4RawLenSmaller, .lz4SectionRawSizeLies, .lz4GarbageBlock].contains(c)
        var m = try image(compress: lz4Case)
        if lz4Case { #expect(m.b[m.entry(m.first(kind: .tokenizer)) + 4] == 1, "tokenizer section must be LZ4 here") }
        #expect(openError(m.b) == nil, "the unmodified image must load")
        let expected = try apply(c, &m)
        let err = openError(m.b)
        #expect(err?.kind == expected, "\(c): got \(err.map { "\($0.kind): \($0)" } ?? "no error")")
        #expect(err?.description.contains("m.dqt") == true)
    }

    /// Truncation at every section boundary and in the middle of every section.
    @Test func truncationAnywhereIsAnError() throws {
        let m = try image(compress: true)
        var cuts = [0, 7, 63, 64, 100]
        for i in 0..<m.sectionCount { cuts += [m.offset(i), m.offset(i) + m.stored(i) / 2, m.offset(i) + m.stored(i)] }
        for cut in Set(cuts) where cut < m.b.count {
            let err = openError(Array(m.b[0..<cut]))
            #expect(err != nil, "cut at \(cut)")
            // With file_length patched to the cut (a careful forger), it is still an error.
            if cut >= 64 {
                var forged = Array(m.b[0..<cut])
                writeU64(&forged, 16, UInt64(cut))
                resignHeader(&forged)
                #expect(openError(forged) != nil, "forged cut at \(cut)")
            }
        }
    }

    /// Every single-bit flip in the header block is caught (checksum or field check).
    @Test func everyHeaderBitFlipIsCaught() throws {
        let m = try image(compress: false)
        let block = 64 * (m.sectionCount + 1)
        for byte in 0..<block {
            for bit in [0, 3, 7] {
                var b = m.b
                b[byte] ^= UInt8(1 << bit)
                #expect(openError(b) != nil, "flip at byte \(byte) bit \(bit)")
            }
        }
    }

    /// Skipping verification still rejects structural damage, and still loads a good file.
    @Test func structuralChecksRunWithoutChecksums() throws {
        var m = try image(compress: false)
        #expect(openError(m.b, verify: false) == nil)
        let e = m.entry(3)
        writeU64(&m.b, e + 8, readU64(m.b, e + 8) + 64)
        #expect(openError(m.b, verify: false)?.kind == .badSectionTable)
    }
}
