// The writer's LZ4 rule (formats/dqt.md §10): a section is stored LZ4-compressed only when that
// saves at least 3% of its bytes (measured with the fast encoder), otherwise raw; writable
// sections and `compress: false` are always raw.
import DQTTestSupport
import Foundation
import Testing
@testable import DQTFormat

/// 256 KiB of pseudo-random bytes (an LCG's high bytes: incompressible).
let noise: [UInt8] = {
    var z: UInt64 = 0x9E37_79B9_7F4A_7C15
    var out = [UInt8](repeating: 0, count: 1 << 18)
    for i in 0..<out.count {
        z = z &* 6364136223846793005 &+ 1442695040888963407
        out[i] = UInt8(truncatingIfNeeded: z >> 56)
    }
    return out
}()

/// n bytes: `random` pseudo-random bytes, then zeros.
func partlyCompressible(_ n: Int, random: Int) -> [UInt8] {
    Array(noise[0..<random]) + [UInt8](repeating: 0, count: n - random)
}

/// The saving of the fast LZ4 encoder on `p`: 1 − encoded / raw.
func lz4Saving(_ p: [UInt8]) -> Double {
    1 - Double(p.withUnsafeBytes { LZ4Codec.encode($0) }.count) / Double(p.count)
}

@Suite(.temporaryFiles) struct CodecPolicyTests {
    /// Two payloads on either side of the 3% line (a saving of 2.9–3.0% and of 3.0–3.1%, found by
    /// bisection on the number of trailing zeros), written as a model's TOKENIZER section: the
    /// first is stored raw, the second LZ4 with stored ≤ 97% of raw; with compress: false both raw.
    @Test func lz4OnlyWhenItSavesThreePercent() throws {
        let n = 200_000
        // saving(z) grows with the zeros z; find the largest z below 3%.
        var lo = 0, hi = n / 10
        #expect(lz4Saving(partlyCompressible(n, random: n - lo)) < 0.03 && lz4Saving(partlyCompressible(n, random: n - hi)) >= 0.03)
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if lz4Saving(partlyCompressible(n, random: n - mid)) < 0.03 { lo = mid } else { hi = mid }
        }
        let below = partlyCompressible(n, random: n - lo), above = partlyCompressible(n, random: n - hi)
        let sBelow = lz4Saving(below), sAbove = lz4Saving(above)
        #expect(sBelow < 0.03 && sBelow > 0.029, "saving below the line: \(sBelow)")
        #expect(sAbove >= 0.03 && sAbove < 0.031, "saving above the line: \(sAbove)")

        for (payload, saving) in [(below, sBelow), (above, sAbove)] {
            for compress in [true, false] {
                let path = tempDir() + "/m.dqt"
                _ = try ModelWriter.write(path: path, spec: tinySpec, tokenizer: payload, metadata: "x", compress: compress,
                                          produce: tinyPayload)
                let f = try DQTFile(path: path)
                let tok = f.sections[1]
                #expect(tok.kind == .tokenizer && tok.rawSize == UInt64(n))
                let lz4 = compress && saving >= 0.03
                #expect(tok.codec == (lz4 ? .lz4 : .raw), "saving \(saving), compress \(compress): stored \(tok.codec)")
                if tok.codec == .lz4 {
                    #expect(Double(tok.storedSize) <= 0.97 * Double(tok.rawSize), "stored \(tok.storedSize) of \(tok.rawSize)")
                } else {
                    #expect(tok.storedSize == tok.rawSize)
                }
                #expect(Array(f.tokenizerPayload) == payload, "the payload reads back")
                // Whatever else the file holds: every LZ4 section saves ≥ 3%, no writable one is LZ4.
                for e in f.sections where e.codec == .lz4 {
                    #expect(compress && !e.writable && Double(e.storedSize) <= 0.97 * Double(e.rawSize))
                }
            }
        }
    }

    /// Incompressible bytes stay raw; zeros compress (the two ends of the rule).
    @Test func randomBytesStayRawZerosCompress() throws {
        for (payload, want) in [(partlyCompressible(50_000, random: 50_000), SectionCodec.raw),
                                (partlyCompressible(50_000, random: 0), .lz4)] {
            let path = tempDir() + "/m.dqt"
            _ = try ModelWriter.write(path: path, spec: tinySpec, tokenizer: payload, metadata: "x", produce: tinyPayload)
            #expect(try DQTFile(path: path).sections[1].codec == want)
        }
    }
}
