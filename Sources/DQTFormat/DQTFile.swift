// The .dqt reader: maps the file, validates every structural rule of formats/dqt.md,
// verifies checksums (unless asked not to), decodes LZ4 sections once into one arena,
// and hands out views. Raw tensors are used in place from the mapping, never copied.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public struct LoadOptions: Sendable {
    /// Verify the header and section checksums and tensor code validity at load.
    public var verifyChecksums = true
    /// Map the file read-write (shared), for in-place tuning.
    public var writable = false

    public init(verifyChecksums: Bool = true, writable: Bool = false) {
        self.verifyChecksums = verifyChecksums
        self.writable = writable
    }
}

public final class DQTFile: @unchecked Sendable {
    public let path: String
    public let mapping: MappedFile
    public let header: Header
    public let sections: [SectionEntry]
    public let spec: ModelSpec
    public let tensors: [TensorRecord]
    public let metadata: String?
    /// Bytes of the arena that holds decoded LZ4 sections (0 if none).
    public let arenaBytes: Int
    private let arena: Arena
    /// Decoded view of each section (into the mapping for raw sections, the arena for LZ4).
    private let views: [UnsafeRawBufferPointer]
    private let tensorIndexByName: [String: Int]

    public convenience init(path: String, options: LoadOptions = LoadOptions()) throws {
        let mapping = try MappedFile(path: path, writable: options.writable)
        try self.init(mapping: mapping, options: options)
    }

    public init(mapping: MappedFile, options: LoadOptions = LoadOptions()) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        let file = mapping.bytes
        let size = UInt64(file.count)

        // MARK: header and section table
        let header = try Header.parse(file, fileSize: size, path: path)
        let blockSize = Int(header.headerBlockSize)
        let block = UnsafeRawBufferPointer(rebasing: file[0..<blockSize])
        if options.verifyChecksums {
            let sum = Header.checksum(ofBlock: block)
            guard sum == header.headerChecksum else {
                throw DQTFormatError(.checksumMismatch, path: path, field: "header.header_checksum", offset: 40,
                                     "header block checksum is \(hex(sum)), the header says \(hex(header.headerChecksum))")
            }
        }
        var c = ByteCursor(UnsafeRawBufferPointer(rebasing: file[64..<blockSize]), fileOffset: 64, path: path, context: "section_table")
        var entries: [SectionEntry] = []
        entries.reserveCapacity(Int(header.sectionCount))
        for i in 0..<Int(header.sectionCount) { entries.append(try SectionEntry.parse(&c, index: i)) }
        try DQTFile.checkTiling(entries, header: header, file: file, path: path)
        self.header = header
        self.sections = entries

        // MARK: checksums, then decode LZ4 sections into one arena
        if options.verifyChecksums {
            for (i, e) in entries.enumerated() {
                let payload = UnsafeRawBufferPointer(rebasing: file[Int(e.offset)..<Int(e.offset + e.storedSize)])
                let sum = xxh64(payload)
                guard sum == e.checksum else {
                    throw DQTFormatError(.checksumMismatch, path: path, field: "section[\(i)] (\(e.kind.name))", offset: e.offset,
                                         "payload checksum is \(hex(sum)), the section table says \(hex(e.checksum))")
                }
            }
        }
        var arenaSize: UInt64 = 0
        for e in entries where e.codec == .lz4 { arenaSize += (e.rawSize + 63) & ~63 }
        let limit = DQTFile.physicalMemory()
        guard arenaSize <= limit else {
            throw DQTFormatError(.tooLarge, path: path, field: "section_table", offset: 64,
                                 "LZ4 sections decode to \(arenaSize) bytes, more than this machine's \(limit) bytes of memory")
        }
        self.arenaBytes = Int(arenaSize)
        // Owned by an object, not by `self`: a throw before every stored property is set skips
        // deinit, and the arena must still be freed (it was not, once: 2,000 failed loads of a
        // file with a 64 KiB LZ4 section grew the heap by 139 MB).
        let arena = try Arena(bytes: Int(arenaSize), path: path)
        self.arena = arena
        let arenaPointer = arena.pointer
        var views: [UnsafeRawBufferPointer] = []
        views.reserveCapacity(entries.count)
        var arenaPos = 0
        for (i, e) in entries.enumerated() {
            let payload = UnsafeRawBufferPointer(rebasing: file[Int(e.offset)..<Int(e.offset + e.storedSize)])
            if e.codec == .raw {
                views.append(payload)
            } else {
                let dst = UnsafeMutableRawBufferPointer(start: arenaPointer! + arenaPos, count: Int(e.rawSize))
                try LZ4Codec.decode(payload, into: dst, path: path, field: "section[\(i)]", fileOffset: e.offset)
                views.append(UnsafeRawBufferPointer(dst))
                arenaPos += Int((e.rawSize + 63) & ~63)
            }
        }
        self.views = views

        // MARK: spec, tensor index, metadata
        func only(_ kind: SectionKind) -> Int { entries.firstIndex { $0.kind == kind }! }
        let specSection = only(.modelSpec)
        let spec = try ModelSpec.parse(views[specSection], fileOffset: entries[specSection].offset, path: path)
        let indexSection = only(.tensorIndex)
        let index = try TensorIndex.parse(views[indexSection], fileOffset: entries[indexSection].offset, path: path)
        self.spec = spec
        self.tensors = index.records
        if let m = entries.firstIndex(where: { $0.kind == .metadata }) {
            guard let text = String(validating: views[m], as: UTF8.self) else {
                throw DQTFormatError(.badSectionTable, path: path, field: "section[\(m)] (METADATA)", offset: entries[m].offset,
                                     "metadata is not valid UTF-8")
            }
            metadata = text
        } else {
            metadata = nil
        }
        var byName: [String: Int] = [:]
        for (i, r) in index.records.enumerated() { byName[r.name] = i }
        self.tensorIndexByName = byName

        try DQTFile.checkTensorSections(index.records, entries: entries, path: path)
        if let (name, problem) = spec.check(records: index.records) {
            let i = byName[name]
            throw DQTFormatError(.badTensor, path: path, field: "tensor \"\(name)\"",
                                 offset: i.map { entries[indexSection].offset + 16 + UInt64($0 * TensorRecord.size) }, problem)
        }
        if options.verifyChecksums {
            for (i, r) in index.records.enumerated() {
                try TensorValidation.check(r, data: views[Int(r.section)], path: path,
                                           offset: entries[Int(r.section)].offset, index: i)
            }
        }
    }

    // MARK: - Access

    public func tensorRecord(named name: String) -> TensorRecord? {
        tensorIndexByName[name].map { tensors[$0] }
    }

    /// Decoded bytes of a tensor (in place in the mapping when stored raw).
    public func data(of record: TensorRecord) -> UnsafeRawBufferPointer { views[Int(record.section)] }

    /// Writable bytes of a trainable tensor (the mapping must be writable).
    public func mutableData(of record: TensorRecord) -> UnsafeMutableRawBufferPointer {
        let e = sections[Int(record.section)]
        precondition(mapping.writable && e.writable && e.codec == .raw, "tensor \(record.name) is not writable in place")
        return UnsafeMutableRawBufferPointer(mutating: views[Int(record.section)])
    }

    public func view(ofSection i: Int) -> UnsafeRawBufferPointer { views[i] }

    public var tokenizerPayload: UnsafeRawBufferPointer {
        views[sections.firstIndex { $0.kind == .tokenizer }!]
    }

    /// The CHAT section's decoded payload (formats/dqt-chat.md), or nil when the file has none.
    public var chatPayload: UnsafeRawBufferPointer? {
        sections.firstIndex { $0.kind == .chat }.map { views[$0] }
    }

    /// Header and section table only (tiling checked, nothing decoded, no checksums):
    /// enough to describe a file whose payloads are damaged.
    public static func structure(of mapping: MappedFile) throws -> (Header, [SectionEntry]) {
        let file = mapping.bytes
        let header = try Header.parse(file, fileSize: UInt64(file.count), path: mapping.path)
        let blockSize = Int(header.headerBlockSize)
        var c = ByteCursor(UnsafeRawBufferPointer(rebasing: file[64..<blockSize]), fileOffset: 64, path: mapping.path, context: "section_table")
        var entries: [SectionEntry] = []
        for i in 0..<Int(header.sectionCount) { entries.append(try SectionEntry.parse(&c, index: i)) }
        try checkTiling(entries, header: header, file: file, path: mapping.path)
        return (header, entries)
    }

    // MARK: - Structural checks

    static func checkTiling(_ entries: [SectionEntry], header: Header, file: UnsafeRawBufferPointer, path: String) throws {
        let a = UInt64(header.alignment)
        var expected = header.headerBlockSize
        var counts: [SectionKind: Int] = [:]
        for (i, e) in entries.enumerated() {
            let f = "section[\(i)]"
            let at = UInt64(64 + 64 * i)
            guard e.offset == expected else {
                let why = e.offset < expected ? "overlaps the previous region" : "leaves a hole after the previous region"
                throw DQTFormatError(.badSectionTable, path: path, field: "\(f).offset", offset: at + 8,
                                     "\(e.offset) \(why); expected \(expected)")
            }
            guard e.storedSize >= 1 else {
                throw DQTFormatError(.badSectionTable, path: path, field: "\(f).stored_size", offset: at + 16, "must be ≥ 1")
            }
            guard let end = checkedAdd(e.offset, e.storedSize), end <= header.fileLength else {
                throw DQTFormatError(.badSectionTable, path: path, field: "\(f).stored_size", offset: at + 16,
                                     "section \(i) of \(e.storedSize) bytes at \(e.offset) runs past the end of the file (\(header.fileLength))")
            }
            switch e.codec {
            case .raw:
                guard e.rawSize == e.storedSize else {
                    throw DQTFormatError(.badSectionTable, path: path, field: "\(f).raw_size", offset: at + 24,
                                         "\(e.rawSize) must equal stored_size \(e.storedSize) for a raw section")
                }
            case .lz4:
                guard e.rawSize >= 1, e.rawSize < 1 << 48 else {
                    throw DQTFormatError(.tooLarge, path: path, field: "\(f).raw_size", offset: at + 24, "\(e.rawSize) is outside 1…2^48")
                }
                // An LZ4 block expands at most 255-fold (one match-length byte adds ≤ 255 bytes),
                // so a larger claim is a lie; refusing it here keeps a few stored bytes from
                // reserving gigabytes of arena before the first chunk fails to decode.
                guard let most = checkedMul(e.storedSize, LZ4Codec.maxExpansion), e.rawSize <= most else {
                    throw DQTFormatError(.badCodec, path: path, field: "\(f).raw_size", offset: at + 24,
                                         "\(e.rawSize) bytes cannot come from \(e.storedSize) bytes of LZ4 (at most \(LZ4Codec.maxExpansion)× expansion)")
                }
                guard !e.writable else {
                    throw DQTFormatError(.badSectionTable, path: path, field: "\(f).flags", offset: at + 44,
                                         "an LZ4 section cannot be writable in place")
                }
            }
            if (e.kind == .tensor) != (e.tensor != .max) {
                throw DQTFormatError(.badSectionTable, path: path, field: "\(f).tensor", offset: at + 40,
                                     e.kind == .tensor ? "a TENSOR section must name its tensor record" : "must be 0xFFFFFFFF for a \(e.kind.name) section")
            }
            guard let next = alignUp(end, a) else {
                throw DQTFormatError(.tooLarge, path: path, field: "\(f).stored_size", offset: at + 16, "overflows")
            }
            guard next <= header.fileLength else {
                throw DQTFormatError(.truncated, path: path, field: "\(f).padding", offset: end,
                                     "the file ends inside the padding after section \(i)")
            }
            if let nz = file[Int(end)..<Int(next)].firstIndex(where: { $0 != 0 }) {
                throw DQTFormatError(.badSectionTable, path: path, field: "\(f).padding", offset: UInt64(nz),
                                     "padding after a section must be zero")
            }
            counts[e.kind, default: 0] += 1
            expected = next
        }
        guard expected == header.fileLength else {
            throw DQTFormatError(.badSectionTable, path: path, field: "section_table", offset: expected,
                                 "sections end at \(expected) but the file is \(header.fileLength) bytes (trailing bytes belong to no section)")
        }
        for kind in [SectionKind.modelSpec, .tokenizer, .tensorIndex] where counts[kind, default: 0] != 1 {
            throw DQTFormatError(.badSectionTable, path: path, field: "section_table", offset: 64,
                                 "needs exactly one \(kind.name) section, found \(counts[kind, default: 0])")
        }
        if counts[.metadata, default: 0] > 1 {
            throw DQTFormatError(.badSectionTable, path: path, field: "section_table", offset: 64, "more than one METADATA section")
        }
        if counts[.chat, default: 0] > 1 {
            throw DQTFormatError(.badSectionTable, path: path, field: "section_table", offset: 64, "more than one CHAT section")
        }
        if counts[.chat, default: 0] > 0, header.versionMinor < 1 {
            throw DQTFormatError(.badSectionTable, path: path, field: "header.version_minor", offset: 10,
                                 "a CHAT section needs version 1.1; the header says 1.\(header.versionMinor)")
        }
    }

    static func checkTensorSections(_ records: [TensorRecord], entries: [SectionEntry], path: String) throws {
        let tensorSections = entries.filter { $0.kind == .tensor }.count
        guard tensorSections == records.count else {
            throw DQTFormatError(.badTensorIndex, path: path, field: "tensor_index.tensor_count", offset: nil,
                                 "\(records.count) tensor records but \(tensorSections) TENSOR sections")
        }
        for (i, r) in records.enumerated() {
            let s = Int(r.section)
            let f = "tensor \"\(r.name)\".section"
            guard s < entries.count, entries[s].kind == .tensor else {
                throw DQTFormatError(.badTensorIndex, path: path, field: f, offset: nil, "\(s) is not a TENSOR section")
            }
            guard entries[s].tensor == UInt32(i) else {
                throw DQTFormatError(.badTensorIndex, path: path, field: f, offset: entries[s].offset,
                                     "section \(s) belongs to tensor record \(entries[s].tensor), not \(i)")
            }
            guard entries[s].rawSize == r.dataBytes else {
                throw DQTFormatError(.badTensorIndex, path: path, field: "tensor \"\(r.name)\".data_bytes", offset: entries[s].offset,
                                     "\(r.dataBytes) but its section holds \(entries[s].rawSize) bytes")
            }
            guard r.trainable == entries[s].writable else {
                throw DQTFormatError(.badTensorIndex, path: path, field: "tensor \"\(r.name)\".flags", offset: nil,
                                     "trainable flag \(r.trainable) disagrees with section \(s)'s writable flag")
            }
        }
    }

    /// Bytes of physical memory (sysconf), or UInt64.max when unknown.
    public static func physicalMemory() -> UInt64 {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? UInt64(pages) * UInt64(size) : UInt64.max
    }
}

/// One 64-byte-aligned allocation for the decoded LZ4 sections, freed with its owner.
final class Arena {
    let pointer: UnsafeMutableRawPointer?
    let bytes: Int
    /// Bytes of arenas alive in this process (tests check that failed loads free theirs).
    static let live = Atomic<Int>(0)

    init(bytes: Int, path: String) throws {
        var p: UnsafeMutableRawPointer? = nil
        if bytes > 0 {
            guard posix_memalign(&p, 64, bytes) == 0, p != nil else {
                throw DQTFormatError(.io, path: path, field: "arena", "cannot allocate \(bytes) bytes for LZ4 sections")
            }
        }
        pointer = p
        self.bytes = bytes
        Arena.live.add(bytes, ordering: .relaxed)
    }

    deinit {
        free(pointer)
        Arena.live.subtract(bytes, ordering: .relaxed)
    }
}

func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
