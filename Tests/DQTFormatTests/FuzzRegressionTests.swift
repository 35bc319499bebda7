// The fuzz regressions of the .dqt reader and the LZ4 section codec (tools/fuzz/regressions/dqt
// and lz4, expectations in expected.tsv): each input gives exactly its expected error (kind,
// field, offset) or loads, through the same entry points the fuzz targets use.
import DQTFormat
import DQTTestSupport
import Foundation
import Testing

@Suite struct FormatFuzzRegressionTests {
    /// Every fuzz target (a folder of tools/fuzz/corpus) has a non-empty regression folder whose
    /// files expected.tsv lists (each is replayed by the FuzzRegressionTests next to its parser).
    @Test func everyFuzzTargetHasRegressions() throws {
        let targets = try FileManager.default.contentsOfDirectory(atPath: repoRoot + "/tools/fuzz/corpus").sorted()
        #expect(targets.count >= 6, "\(targets)")
        for t in targets { _ = fuzzRegressions(t) }
    }

    /// A .dqt file as the dqt target loads it: without checksums (no trap is all that is asked),
    /// then verified, which must give the expected outcome.
    @Test func dqtRegressions() {
        replayRegressions("dqt", { r in
            let m = regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) }
            _ = try? DQTFile(mapping: m, options: LoadOptions(verifyChecksums: false))
            _ = try DQTFile(mapping: m, options: LoadOptions(verifyChecksums: true))
        }, outcome: formatOutcome)
    }

    /// The lz4 target's input: byte 0 the mode (even: decode), bytes 1–3 an 18-bit raw size, then
    /// a section payload that must decode to exactly that size.
    @Test func lz4Regressions() {
        replayRegressions("lz4", { r in
            let b = regressionBytes(r)
            try #require(b.count >= 4 && b[0] & 1 == 0, "\(r): not a decode-mode input")
            let rawSize = Int(b[1]) | Int(b[2]) << 8 | Int(b[3] & 0x03) << 16
            let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rawSize, 1), alignment: 64)
            defer { dst.deallocate() }
            try Array(b[4...]).withUnsafeBytes {
                try LZ4Codec.decode($0, into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<rawSize]), path: r.file,
                                    field: "section", fileOffset: 0)
            }
        }, outcome: formatOutcome)
    }
}

/// A DQTFormatError's outcome (kind, field, offset); the error must name the input.
func formatOutcome(_ r: FuzzRegression, _ error: any Error) -> FuzzRegression.Outcome? {
    guard let e = error as? DQTFormatError else { return nil }
    #expect(e.path == r.file, "\(r): the error names \(e.path)")
    return .error(kind: e.kind.rawValue, field: e.field, offset: e.offset)
}
