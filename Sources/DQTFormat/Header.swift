// The 64-byte header and the section table (formats/dqt.md §2–§3).

public enum DQTConstants {
    public static let magic: [UInt8] = [0x89, 0x44, 0x51, 0x54, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let versionMajor: UInt16 = 1
    /// The newest minor version this reader implements. 1.1 added the CHAT section (kind 6);
    /// a writer stamps a file 1.1 only when it has one, so files without it stay readable by 1.0 readers.
    public static let versionMinor: UInt16 = 1
    public static let headerSize = 64
    public static let sectionEntrySize = 64
    public static let defaultAlignment: UInt32 = 64
    public static let maxSections: UInt32 = 65535
    /// Offset of `header_checksum` inside the header.
    public static let headerChecksumOffset = 40
    /// Offset of `commit` inside the header.
    public static let commitOffset = 32
}

public enum SectionKind: UInt32, Sendable, CaseIterable {
    case modelSpec = 1
    case tokenizer = 2
    case tensorIndex = 3
    case tensor = 4
    case metadata = 5
    /// Chat template and stop tokens (formats/dqt-chat.md); since 1.1.
    case chat = 6

    public var name: String {
        switch self {
        case .modelSpec: "MODEL_SPEC"
        case .tokenizer: "TOKENIZER"
        case .tensorIndex: "TENSOR_INDEX"
        case .tensor: "TENSOR"
        case .metadata: "METADATA"
        case .chat: "CHAT"
        }
    }
}

public enum SectionCodec: UInt32, Sendable {
    case raw = 0
    case lz4 = 1

    public var name: String { self == .raw ? "raw" : "lz4" }
}

public struct Header: Sendable, Equatable {
    public var alignment: UInt32
    public var fileLength: UInt64
    public var sectionCount: UInt32
    public var commit: UInt64
    public var headerChecksum: UInt64
    /// 0 or 1 (1.1 files have a CHAT section).
    public var versionMinor: UInt16 = 0

    /// Size of the header block: header + section table.
    public var headerBlockSize: UInt64 { UInt64(DQTConstants.headerSize) * (UInt64(sectionCount) + 1) }
}

public struct SectionEntry: Sendable, Equatable {
    public var kind: SectionKind
    public var codec: SectionCodec
    public var offset: UInt64
    public var storedSize: UInt64
    public var rawSize: UInt64
    public var checksum: UInt64
    /// For `.tensor`: index of the owning tensor record; otherwise `UInt32.max`.
    public var tensor: UInt32
    public var writable: Bool

    public init(kind: SectionKind, codec: SectionCodec, offset: UInt64, storedSize: UInt64, rawSize: UInt64,
                checksum: UInt64, tensor: UInt32 = .max, writable: Bool = false) {
        self.kind = kind
        self.codec = codec
        self.offset = offset
        self.storedSize = storedSize
        self.rawSize = rawSize
        self.checksum = checksum
        self.tensor = tensor
        self.writable = writable
    }
}

// MARK: - Parsing

extension Header {
    /// Parses and checks the fixed header (not the section table). `fileSize` is the real size.
    static func parse(_ bytes: UnsafeRawBufferPointer, fileSize: UInt64, path: String) throws -> Header {
        var c = ByteCursor(bytes, fileOffset: 0, path: path, context: "header")
        guard bytes.count >= DQTConstants.headerSize else {
            throw DQTFormatError(.truncated, path: path, field: "header", offset: 0,
                                 "file is \(bytes.count) bytes, shorter than the 64-byte header")
        }
        let magic = try c.readBytes(8, "magic")
        guard Array(magic) == DQTConstants.magic else {
            throw c.error(.badMagic, "magic", at: 0, "not a .dqt file (expected bytes 89 44 51 54 0D 0A 1A 0A)")
        }
        let major = try c.read(UInt16.self, "version_major")
        let minor = try c.read(UInt16.self, "version_minor")
        guard major == DQTConstants.versionMajor, minor <= DQTConstants.versionMinor else {
            throw c.error(.unsupportedVersion, "version", at: 8,
                          "file is version \(major).\(minor); this reader implements \(DQTConstants.versionMajor).\(DQTConstants.versionMinor)")
        }
        let alignment = try c.read(UInt32.self, "alignment")
        guard alignment >= 64, alignment <= 65536, alignment & (alignment - 1) == 0 else {
            throw c.error(.badHeader, "alignment", at: 12, "\(alignment) is not a power of two in 64…65536")
        }
        let fileLength = try c.read(UInt64.self, "file_length")
        guard fileLength == fileSize else {
            throw c.error(.badHeader, "file_length", at: 16,
                          "header says \(fileLength) bytes but the file has \(fileSize) (truncated or appended to)")
        }
        let count = try c.read(UInt32.self, "section_count")
        guard count >= 3, count <= DQTConstants.maxSections else {
            throw c.error(.badHeader, "section_count", at: 24, "\(count) is outside 3…\(DQTConstants.maxSections)")
        }
        let flags = try c.read(UInt32.self, "flags")
        guard flags == 0 else { throw c.error(.badHeader, "flags", at: 28, "must be 0 in version 1.0, is \(flags)") }
        let commit = try c.read(UInt64.self, "commit")
        let checksum = try c.read(UInt64.self, "header_checksum")
        try c.expectZero(16, "reserved", kind: .badHeader)
        let h = Header(alignment: alignment, fileLength: fileLength, sectionCount: count, commit: commit, headerChecksum: checksum, versionMinor: minor)
        guard h.headerBlockSize <= fileSize else {
            throw DQTFormatError(.truncated, path: path, field: "section_table", offset: 64,
                                 "\(count) sections need a \(h.headerBlockSize)-byte header block; the file has \(fileSize) bytes")
        }
        return h
    }

    /// Serializes the header block (header + entries) with the checksum computed.
    static func encodeBlock(alignment: UInt32, fileLength: UInt64, commit: UInt64, entries: [SectionEntry]) -> [UInt8] {
        var w = ByteWriter()
        w.write(bytes: DQTConstants.magic)
        w.write(DQTConstants.versionMajor)
        w.write(UInt16(entries.contains { $0.kind == .chat } ? 1 : 0))
        w.write(alignment)
        w.write(fileLength)
        w.write(UInt32(entries.count))
        w.write(UInt32(0))
        w.write(commit)
        w.write(UInt64(0))  // checksum placeholder
        w.zeros(16)
        for e in entries { e.encode(into: &w) }
        let sum = xxh64(w.bytes)
        withUnsafeBytes(of: sum.littleEndian) { src in
            for i in 0..<8 { w.bytes[DQTConstants.headerChecksumOffset + i] = src[i] }
        }
        return w.bytes
    }

    /// XXH64 of a header block with the checksum field taken as zero.
    public static func checksum(ofBlock block: UnsafeRawBufferPointer) -> UInt64 {
        var copy = Array(block)
        for i in 0..<8 { copy[DQTConstants.headerChecksumOffset + i] = 0 }
        return xxh64(copy)
    }
}

extension SectionEntry {
    static func parse(_ c: inout ByteCursor, index i: Int) throws -> SectionEntry {
        let start = c.absolute
        let f = "section[\(i)]"
        let kindRaw = try c.read(UInt32.self, "\(f).kind")
        guard let kind = SectionKind(rawValue: kindRaw) else {
            throw c.error(.badSectionTable, "\(f).kind", at: start, "unknown section kind \(kindRaw)")
        }
        let codecRaw = try c.read(UInt32.self, "\(f).codec")
        guard let codec = SectionCodec(rawValue: codecRaw) else {
            throw c.error(.badSectionTable, "\(f).codec", at: start + 4, "unknown codec \(codecRaw) (0 raw, 1 lz4)")
        }
        let offset = try c.read(UInt64.self, "\(f).offset")
        let stored = try c.read(UInt64.self, "\(f).stored_size")
        let raw = try c.read(UInt64.self, "\(f).raw_size")
        let checksum = try c.read(UInt64.self, "\(f).checksum")
        let tensor = try c.read(UInt32.self, "\(f).tensor")
        let flags = try c.read(UInt32.self, "\(f).flags")
        guard flags & ~1 == 0 else {
            throw c.error(.badSectionTable, "\(f).flags", at: start + 44, "unknown flag bits \(flags)")
        }
        try c.expectZero(16, "\(f).reserved", kind: .badSectionTable)
        return SectionEntry(kind: kind, codec: codec, offset: offset, storedSize: stored, rawSize: raw,
                            checksum: checksum, tensor: tensor, writable: flags & 1 != 0)
    }

    func encode(into w: inout ByteWriter) {
        w.write(kind.rawValue)
        w.write(codec.rawValue)
        w.write(offset)
        w.write(storedSize)
        w.write(rawSize)
        w.write(checksum)
        w.write(tensor)
        w.write(UInt32(writable ? 1 : 0))
        w.zeros(16)
    }
}

// MARK: - Rewriting a header block in place (tuning commits, formats/dqt-tune.md §2.2)

extension Header {
    /// Offset of a section's `checksum` field in the header block.
    public static func sectionChecksumOffset(_ section: Int) -> Int {
        DQTConstants.headerSize + DQTConstants.sectionEntrySize * section + 32
    }

    /// Stores new section checksums and the commit counter into a header block (header +
    /// section table, as mapped), then recomputes `header_checksum` over the result.
    public static func rewrite(block: UnsafeMutableRawBufferPointer, sectionChecksums: [(section: Int, checksum: UInt64)],
                               commit: UInt64) {
        let base = block.baseAddress!
        for (s, sum) in sectionChecksums {
            let at = sectionChecksumOffset(s)
            precondition(at + 8 <= block.count, "section \(s) is outside the header block")
            base.storeBytes(of: sum.littleEndian, toByteOffset: at, as: UInt64.self)
        }
        base.storeBytes(of: commit.littleEndian, toByteOffset: DQTConstants.commitOffset, as: UInt64.self)
        base.storeBytes(of: UInt64(0), toByteOffset: DQTConstants.headerChecksumOffset, as: UInt64.self)
        let sum = xxh64(UnsafeRawBufferPointer(block))
        base.storeBytes(of: sum.littleEndian, toByteOffset: DQTConstants.headerChecksumOffset, as: UInt64.self)
    }

    /// The commit counter as stored now in a (mapped) file's first bytes.
    public static func storedCommit(_ file: UnsafeRawBufferPointer) -> UInt64? {
        guard file.count >= DQTConstants.commitOffset + 8 else { return nil }
        return UInt64(littleEndian: file.loadUnaligned(fromByteOffset: DQTConstants.commitOffset, as: UInt64.self))
    }
}
