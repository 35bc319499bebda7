import DQTTestSupport
import Foundation
import Testing
@testable import DQTFormat

@Suite(.temporaryFiles) struct RoundTripTests {
    @Test(arguments: [true, false])
    func writesAndReadsBack(compress: Bool) throws {
        let path = tempDir() + "/tiny.dqt"
        let report = try writeTinyModel(at: path, compress: compress)
        let f = try DQTFile(path: path)
        #expect(f.spec == tinySpec)
        #expect(f.header.commit == 0)
        #expect(f.header.fileLength == report.fileBytes)
        let slots = tinySpec.tensorSlots
        #expect(f.tensors.count == slots.count)
        for (i, slot) in slots.enumerated() {
            let r = try #require(f.tensorRecord(named: slot.name))
            let expected = tinyPayload(i, slot)
            #expect(r.encoding == expected.encoding)
            #expect(r.scale == expected.scale)
            #expect(r.trainable == expected.trainable)
            #expect(Array(f.data(of: r)) == expected.bytes, "\(slot.name)")
            // Raw tensors are used in place: their view points into the mapping, 64-byte aligned.
            let e = f.sections[Int(r.section)]
            if e.codec == .raw {
                #expect(f.data(of: r).baseAddress == UnsafeRawPointer(f.mapping.base! + Int(e.offset)))
                #expect(e.offset % 64 == 0)
            }
        }
        #expect(Array(f.tokenizerPayload) == Array(repeating: 7, count: 5000))
        #expect(f.metadata == "source=test")
        // The repetitive tokenizer payload compresses; ternary patterns are stored per policy.
        let tok = f.sections[1]
        #expect(tok.codec == (compress ? .lz4 : .raw))
        // Writable sections are never compressed.
        for e in f.sections where e.writable { #expect(e.codec == .raw) }
    }

    @Test func everyByteBelongsToExactlyOneRegion() throws {
        let path = tempDir() + "/tiny.dqt"
        try writeTinyModel(at: path)
        let f = try DQTFile(path: path)
        var pos = f.header.headerBlockSize
        for e in f.sections {
            #expect(e.offset == pos)
            pos = (e.offset + e.storedSize + 63) & ~63
        }
        #expect(pos == UInt64(f.mapping.size))
    }

    @Test func noTemporaryFileIsLeftBehind() throws {
        let dir = tempDir()
        try writeTinyModel(at: dir + "/tiny.dqt")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(names == ["tiny.dqt"])
    }

    @Test func aFailedWriteLeavesTheOldFileUntouched() throws {
        let dir = tempDir()
        let path = dir + "/m.dqt"
        try writeTinyModel(at: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: DQTFormatError.self) {
            try ModelWriter.write(path: path, spec: tinySpec, tokenizer: [1, 2, 3], metadata: "x",
                                  produce: { i, slot in
                                      var p = tinyPayload(i, slot)
                                      if i == 5 { p.bytes.removeLast() }  // a producer bug mid-way
                                      return p
                                  })
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.dqt"])
    }
}
