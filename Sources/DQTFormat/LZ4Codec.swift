// The LZ4 section codec (formats/dqt.md §5): chunks of ≤ 4 MiB raw, each one LZ4 block
// with an 8-byte prefix (raw_len, comp_len). Decoding is bounds-checked (liblz4's
// LZ4_decompress_safe never writes outside dst, even on malicious input) and must
// produce exactly the declared sizes.
import CLZ4

public enum LZ4Codec {
    public static let chunkSize = 4 << 20
    /// An upper bound on raw/stored for a valid section: an LZ4 sequence of k bytes decodes
    /// to at most about 255·k bytes (each match-length byte adds at most 255).
    public static let maxExpansion: UInt64 = 256

    /// Compresses `src` into the chunked section payload. `high` selects LZ4-HC (level 9):
    /// slower to write, smaller, decoded at the same speed; the writer uses it only for
    /// sections that the fast mode has shown to compress.
    public static func encode(_ src: UnsafeRawBufferPointer, high: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: Int(LZ4_compressBound(Int32(min(chunkSize, max(src.count, 1))))))
        var pos = 0
        while pos < src.count {
            let n = min(chunkSize, src.count - pos)
            let written = scratch.withUnsafeMutableBytes { dst -> Int32 in
                let s = src.baseAddress!.advanced(by: pos).assumingMemoryBound(to: CChar.self)
                let d = dst.baseAddress!.assumingMemoryBound(to: CChar.self)
                return high ? LZ4_compress_HC(s, d, Int32(n), Int32(dst.count), 9)
                            : LZ4_compress_default(s, d, Int32(n), Int32(dst.count))
            }
            precondition(written > 0, "LZ4 compression failed on a \(n)-byte chunk with a bound-sized buffer")
            var w = ByteWriter()
            w.write(UInt32(n))
            w.write(UInt32(written))
            out.append(contentsOf: w.bytes)
            out.append(contentsOf: scratch[0..<Int(written)])
            pos += n
        }
        return out
    }

    /// Decodes a chunked payload into `dst`, which must be exactly `rawSize` bytes.
    /// `fileOffset`/`field` locate errors.
    public static func decode(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                              path: String, field: String, fileOffset: UInt64) throws {
        var c = ByteCursor(src, fileOffset: fileOffset, path: path, context: field)
        var produced = 0
        var chunk = 0
        while produced < dst.count {
            let at = c.absolute
            let rawLen = Int(try c.read(UInt32.self, "chunk[\(chunk)].raw_len"))
            let expected = min(chunkSize, dst.count - produced)
            guard rawLen == expected else {
                throw c.error(.badCodec, "chunk[\(chunk)].raw_len", at: at,
                              "says \(rawLen) bytes; chunk \(chunk) of a \(dst.count)-byte section must decode to \(expected)")
            }
            let compLen = Int(try c.read(UInt32.self, "chunk[\(chunk)].comp_len"))
            guard compLen >= 1, compLen <= Int(LZ4_compressBound(Int32(rawLen))) else {
                throw c.error(.badCodec, "chunk[\(chunk)].comp_len", at: at + 4,
                              "\(compLen) is outside 1…LZ4_compressBound(\(rawLen))")
            }
            let block = try c.readBytes(compLen, "chunk[\(chunk)].block")
            let got = LZ4_decompress_safe(block.baseAddress!.assumingMemoryBound(to: CChar.self),
                                          dst.baseAddress!.advanced(by: produced).assumingMemoryBound(to: CChar.self),
                                          Int32(compLen), Int32(rawLen))
            guard got == Int32(rawLen) else {
                throw c.error(.badCodec, "chunk[\(chunk)].block", at: at + 8,
                              got < 0 ? "malformed LZ4 block (decoder error \(got))"
                                      : "LZ4 block decodes to \(got) bytes, the chunk declares \(rawLen)")
            }
            produced += rawLen
            chunk += 1
        }
        guard c.remaining == 0 else {
            throw c.error(.badCodec, "trailing", "\(c.remaining) bytes after the last chunk (stored_size too large)")
        }
    }
}
