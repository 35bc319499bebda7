import Testing
@testable import DQTFormat

@Suite struct XXH64Tests {
    // Vectors from the Python `xxhash` package (xxhash.xxh64(b).intdigest()).
    @Test func knownVectors() {
        #expect(xxh64([UInt8]()) == 0xEF46DB3751D8E999)
        #expect(xxh64(Array("abc".utf8)) == 0x44BC2CF5AD770999)
        let expected: [(Int, UInt64)] = [
            (1, 0xa96c7f0ce858bbb7), (3, 0xbed43740ee6332bb), (4, 0xfa212ae44b3bb23d), (7, 0x2744460dd675d2c0),
            (8, 0x994b676b71ce94dd), (31, 0x6711d55e306b5d8f), (32, 0x7f7b8e3bc5d6e25), (33, 0x9f85eeb4e1cbe9f),
            (63, 0xb7c9968c066cb6a5), (64, 0x50d4159a0411632e), (100, 0x9ddada11d3dc2d8f), (1000, 0xbf0bdbcc82eb373),
        ]
        for (n, h) in expected {
            let b = (0..<n).map { UInt8(($0 * 131 + 7) % 256) }
            #expect(xxh64(b) == h, "length \(n)")
        }
    }
}

@Suite struct LZ4CodecTests {
    func roundTrip(_ src: [UInt8], high: Bool = false) throws -> [UInt8] {
        let enc = src.withUnsafeBytes { LZ4Codec.encode($0, high: high) }
        var out = [UInt8](repeating: 0xAA, count: src.count)
        try enc.withUnsafeBytes { e in
            try out.withUnsafeMutableBytes { try LZ4Codec.decode(e, into: $0, path: "t", field: "s", fileOffset: 0) }
        }
        return out
    }

    @Test(arguments: [1, 100, 4 << 20, (4 << 20) + 1, (8 << 20) + 17])
    func roundTripsAcrossChunkBoundaries(n: Int) throws {
        var rng = SplitMix(seed: UInt64(n))
        let src = (0..<n).map { i in i % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : UInt8(i % 11) }
        #expect(try roundTrip(src) == src)
    }

    @Test func highModeRoundTrips() throws {
        let src = (0..<100_000).map { UInt8(($0 / 7) % 251) }
        #expect(try roundTrip(src, high: true) == src)
    }

    func decodeError(_ enc: [UInt8], rawSize: Int) -> DQTFormatError? {
        var out = [UInt8](repeating: 0, count: rawSize)
        do {
            try enc.withUnsafeBytes { e in
                try out.withUnsafeMutableBytes { try LZ4Codec.decode(e, into: $0, path: "t", field: "s", fileOffset: 1000) }
            }
            return nil
        } catch let e as DQTFormatError { return e } catch { return nil }
    }

    @Test func statedSizesThatLieAreRejected() {
        let src = (0..<5000).map { UInt8($0 % 13) }
        let enc = src.withUnsafeBytes { LZ4Codec.encode($0) }
        // raw_len larger and smaller than the block really holds.
        var larger = enc; writeU32(&larger, 0, 5001)
        #expect(decodeError(larger, rawSize: 5001)?.kind == .badCodec)
        var smaller = enc; writeU32(&smaller, 0, 4999)
        #expect(decodeError(smaller, rawSize: 4999)?.kind == .badCodec)
        // raw_len that disagrees with the section's raw size.
        #expect(decodeError(enc, rawSize: 6000)?.kind == .badCodec)
        // comp_len past the payload, and beyond the LZ4 bound.
        var longer = enc; writeU32(&longer, 4, UInt32(enc.count))
        #expect(decodeError(longer, rawSize: 5000) != nil)
        var huge = enc; writeU32(&huge, 4, 0xFFFF_FFF0)
        #expect(decodeError(huge, rawSize: 5000)?.kind == .badCodec)
        // trailing bytes after the last chunk.
        #expect(decodeError(enc + [0, 0], rawSize: 5000)?.kind == .badCodec)
        // truncated block.
        #expect(decodeError(Array(enc.dropLast(3)), rawSize: 5000) != nil)
        // garbage inside the block.
        var garbage = enc
        for i in 8..<min(enc.count, 40) { garbage[i] = 0xFF }
        #expect(decodeError(garbage, rawSize: 5000)?.kind == .badCodec)
        #expect(decodeError(enc, rawSize: 5000) == nil)
    }
}

/// Small deterministic generator for tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
