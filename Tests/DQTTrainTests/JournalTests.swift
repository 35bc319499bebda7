import CDQTTrain
import DQTFormat
import DQTImport
import DQTModel
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

@Suite(.temporaryFiles) struct JournalTests {
    func model() throws -> (dir: String, path: String, original: Data) {
        let dir = tempDir()
        let p = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        return (dir, p, try Data(contentsOf: URL(fileURLWithPath: p)))
    }

    func overwrite(_ path: String, at offset: Int, _ bytes: [UInt8]) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.seek(toOffset: UInt64(offset))
        try h.write(contentsOf: Data(bytes))
        try h.close()
    }

    func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// Synced records are rolled back; a torn last record (its range never modified) is ignored.
    @Test func rollbackRestoresSyncedRangesAndIgnoresATornTail() throws {
        let (_, path, original) = try model()
        let f = try DQTFile(path: path)
        let header = original.prefix(Int(f.header.headerBlockSize))
        let sec = f.sections.first { $0.kind == .tensor && $0.storedSize >= 1024 }!
        let a = Int(sec.offset), bOff = Int(sec.offset) + 512
        let j = UndoJournal(modelPath: path)
        try header.withUnsafeBytes { try j.begin(fileLength: f.header.fileLength, commit: 0, headerBlock: $0) }
        try original[a..<(a + 256)].withUnsafeBytes { try j.record(offset: a, bytes: $0) }
        try j.sync()
        // Modify the journaled range and the header (as a commit would), then crash while
        // appending the record of range B (never modified).
        try overwrite(path, at: a, [UInt8](repeating: 0xAB, count: 256))
        try overwrite(path, at: 32, [7, 0, 0, 0, 0, 0, 0, 0])
        try original[bOff..<(bOff + 300)].withUnsafeBytes { try j.record(offset: bOff, bytes: $0) }
        let jpath = path + ".journal"
        let size = try FileManager.default.attributesOfItem(atPath: jpath)[.size] as! Int
        try FileHandle(forWritingTo: URL(fileURLWithPath: jpath)).truncate(atOffset: UInt64(size - 100))
        #expect(try contents(path) != original)
        let r = try UndoJournalFile.rollBack(modelPath: path)
        #expect(r?.records == 2, "header block and range A")
        #expect(r?.commit == 0)
        #expect(try contents(path) == original)
        #expect(!fileExists(jpath))
        _ = try DQTFile(path: path)
    }

    /// A record whose checksum fails (bit rot, or a torn write inside it) ends the rollback there.
    @Test func aCorruptRecordEndsTheRollback() throws {
        let (_, path, original) = try model()
        let f = try DQTFile(path: path)
        let j = UndoJournal(modelPath: path)
        try original.prefix(Int(f.header.headerBlockSize)).withUnsafeBytes { try j.begin(fileLength: f.header.fileLength, commit: 0, headerBlock: $0) }
        let off = Int(f.sections.last!.offset)
        try original[off..<(off + 64)].withUnsafeBytes { try j.record(offset: off, bytes: $0) }
        try j.sync()
        // Flip one data byte of the second record.
        let jpath = path + ".journal"
        let recordStart = UndoJournalFile.headerSize + UndoJournalFile.recordHeaderSize + ((Int(f.header.headerBlockSize) + 7) & ~7)
        var jb = try contents(jpath)
        jb[recordStart + UndoJournalFile.recordHeaderSize + 5] ^= 1
        try jb.write(to: URL(fileURLWithPath: jpath))
        try overwrite(path, at: 32, [9, 0, 0, 0, 0, 0, 0, 0])
        let r = try UndoJournalFile.rollBack(modelPath: path)
        #expect(r?.records == 1)
        #expect(try contents(path) == original, "the header block was restored; range 2 was never modified")
    }

    /// A journal torn while being created (nothing modified yet) is simply removed.
    @Test func aTornJournalHeaderChangesNothing() throws {
        let (_, path, original) = try model()
        try Data([0x44, 0x51, 0x54, 0x55, 0x4E]).write(to: URL(fileURLWithPath: path + ".journal"))
        let r = try UndoJournalFile.rollBack(modelPath: path)
        #expect(r?.records == 0)
        #expect(try contents(path) == original)
        #expect(!fileExists(path + ".journal"))
        #expect(try UndoJournalFile.rollBack(modelPath: path) == nil)
    }

    /// A journal of another file is refused, and the model is not touched.
    @Test func aJournalForAnotherFileIsRefused() throws {
        let (_, path, original) = try model()
        let j = UndoJournal(modelPath: path)
        try original.prefix(64).withUnsafeBytes { try j.begin(fileLength: UInt64(original.count + 64), commit: 0, headerBlock: $0) }
        #expect(throws: DQTFormatError.self) { _ = try UndoJournalFile.rollBack(modelPath: path) }
        #expect(try contents(path) == original)
        #expect(fileExists(path + ".journal"))
    }

    /// Opening a model whose last period was interrupted rolls it back before anything else.
    @Test func theTunerRollsBackAtOpen() throws {
        let (dir, path, original) = try model()
        let text = writeText(notesText, in: dir)
        do {
            let t = try Tuner(modelPath: path, options: options(commitEvery: 100), data: .textFile(text))
            _ = try t.runStep()
            _ = try t.runStep()
        }
        #expect(try contents(path) != original)
        let t = try Tuner(modelPath: path, options: options(commitEvery: 100), data: .textFile(text))
        #expect(t.recovery != nil)
        #expect(t.step == 0)
        #expect(try contents(path) == original)
    }

    /// The runtime finds the hot journal of a tuner that is gone and rolls it back itself
    /// (formats/dqt-tune.md §7.3): after a crash, the next dqt-run needs no manual step.
    @Test func theRuntimeRollsBackAHotJournalAtOpen() throws {
        let (dir, path, original) = try model()
        let text = writeText(notesText, in: dir)
        do {
            let t = try Tuner(modelPath: path, options: options(commitEvery: 100), data: .textFile(text))
            _ = try t.runStep()
        }   // the tuner is gone (its locks with it), its period never committed
        #expect(fileExists(path + ".journal"))
        #expect(try contents(path) != original)
        let m = try DQTModel(path: path, options: RuntimeOptions(contextLength: 16, threads: 1))
        #expect(m.recovery != nil && m.recovery!.records > 1)
        #expect(m.commit == 0)
        #expect(!fileExists(path + ".journal"))
        #expect(try contents(path) == original)
    }

    /// A model that is read-only to the opener is not touched: the error says what to run.
    /// (As root, the reader runs as `nobody` through setpriv; otherwise the file is made 0444.)
    @Test func aReadOnlyReaderNamesTheRecoverCommand() throws {
        guard let run = builtTool("dqt-run") else {
            Issue.record("dqt-run is not built next to the tests (swift build first)")
            return
        }
        let (dir, path, original) = try model()
        let text = writeText(notesText, in: dir)
        do {
            let t = try Tuner(modelPath: path, options: options(commitEvery: 100), data: .textFile(text))
            _ = try t.runStep()
        }
        let tuned = try contents(path)
        chmod(dir, 0o755)
        chmod(path, 0o444)
        let r = getuid() == 0
            ? try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", run, path, "x", "-n", "1"])
            : try runProcess(run, [path, "x", "-n", "1"])
        #expect(r.status == 1 && r.all.contains("--recover") && r.all.contains("not writable"), "\(r.all)")
        #expect(try contents(path) == tuned)
        #expect(fileExists(path + ".journal"))
        chmod(path, 0o644)
        _ = try DQTModel(path: path, options: RuntimeOptions(contextLength: 16, threads: 1))
        #expect(try contents(path) == original)
    }

    // MARK: masked records (journal version 2)

    /// The plain Swift form of a masked record's data (formats/dqt-tune.md §2.1).
    func maskReference(_ old: [UInt8], _ new: [UInt8]) -> [UInt8] {
        var mask = [UInt8](repeating: 0, count: (old.count + 7) / 8), kept: [UInt8] = []
        for j in 0..<old.count where old[j] != new[j] {
            mask[j / 8] |= UInt8(1) << UInt8(j % 8)
            kept.append(old[j])
        }
        return mask + kept
    }

    @Test func theUndoMaskMatchesTheReference() {
        var rng = SystemRandomNumberGenerator()
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099] {
            for density in [0.0, 0.03, 0.3, 1.0] {
                let old = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let new = old.map { Double.random(in: 0..<1, using: &rng) < density ? $0 &+ UInt8.random(in: 1...255, using: &rng) : $0 }
                let ref = maskReference(old, new)
                for path: Int32 in [0, 1, -1] {
                    var mask = [UInt8](repeating: 0xEE, count: (n + 7) / 8), kept = [UInt8](repeating: 0, count: n)
                    let count = dqtt_undo_mask_path(path, old, new, n, &mask, &kept, n)
                    if path == 1 && count == Int(bitPattern: UInt.max) { continue }   // no AVX2 here (SIZE_MAX)
                    #expect(mask + kept.prefix(count) == ref, "path \(path), n \(n), density \(density)")
                    // Asked to give up past `limit` kept bytes: it says so (a count above the limit).
                    let changed = ref.count - mask.count
                    if changed > 0 { #expect(dqtt_undo_mask_path(path, old, new, n, &mask, &kept, changed - 1) > changed - 1) }
                }
            }
        }
    }

    /// A range changed in two steps of one period: its first change is journaled as a masked
    /// record, its second as the whole range as it was then. Rolling back writes the earlier
    /// record last, so the period's bytes come back (written in journal order, the step-1
    /// values would win).
    @Test func maskedAndRepeatedRecordsRollBackToThePeriodStart() throws {
        let (_, path, original) = try model()
        let f = try DQTFile(path: path)
        let sec = f.sections.first { $0.kind == .tensor && $0.storedSize >= 1024 }!
        let a = Int(sec.offset), n = 1000
        let period = [UInt8](original[a..<(a + n)])
        var step1 = period, step2 = period
        for j in stride(from: 3, to: n, by: 17) { step1[j] &+= 1 }
        for j in stride(from: 5, to: n, by: 11) { step2[j] &+= 2 }
        let j = UndoJournal(modelPath: path)
        try original.prefix(Int(f.header.headerBlockSize)).withUnsafeBytes { try j.begin(fileLength: f.header.fileLength, commit: 0, headerBlock: $0) }
        let before = j.bytesWritten
        try j.recordChanges(offset: a, old: period, new: step1, count: n)
        try j.sync()
        #expect(j.bytesWritten - before < UndoJournalFile.recordHeaderSize + n / 8 + 64, "one masked record: mask and the 59 changed bytes")
        try overwrite(path, at: a, step1)
        try step1.withUnsafeBytes { try j.record(offset: a, bytes: $0) }
        try j.sync()
        try overwrite(path, at: a, step2)
        try overwrite(path, at: 32, [5, 0, 0, 0, 0, 0, 0, 0])
        let r = try UndoJournalFile.rollBack(modelPath: path)
        #expect(r?.records == 3)
        #expect(try contents(path) == original)
    }

    /// A masked record that does not verify (a flipped mask bit) ends the rollback there; one that
    /// claims more kept bytes than the journal holds is a torn tail.
    @Test func aCorruptOrTornMaskedRecordEndsTheRollback() throws {
        for damage in ["flip", "truncate"] {
            let (_, path, original) = try model()
            let f = try DQTFile(path: path)
            let off = Int(f.sections.last!.offset), n = 200
            let old = [UInt8](original[off..<(off + n)])
            var new = old
            for k in [0, 9, 10, 150, 199] { new[k] &+= 1 }
            let j = UndoJournal(modelPath: path)
            try original.prefix(Int(f.header.headerBlockSize)).withUnsafeBytes { try j.begin(fileLength: f.header.fileLength, commit: 0, headerBlock: $0) }
            try j.recordChanges(offset: off, old: old, new: new, count: n)
            try j.sync()
            let jpath = path + ".journal"
            var jb = try contents(jpath)
            let recordStart = UndoJournalFile.headerSize + UndoJournalFile.recordHeaderSize + ((Int(f.header.headerBlockSize) + 7) & ~7)
            #expect(jb[recordStart + 4] == 1, "a masked record")
            if damage == "flip" {
                jb[recordStart + UndoJournalFile.recordHeaderSize + 2] ^= 0x10
            } else {
                jb = jb.prefix(recordStart + UndoJournalFile.recordHeaderSize + n / 8 + 2)
            }
            try jb.write(to: URL(fileURLWithPath: jpath))
            try overwrite(path, at: 32, [9, 0, 0, 0, 0, 0, 0, 0])
            let r = try UndoJournalFile.rollBack(modelPath: path)
            #expect(r?.records == 1, "\(damage)")
            #expect(try contents(path) == original, "\(damage): the header block came back; the range was never modified")
        }
    }

    /// A journal of a version this build does not know is left alone, with the field named.
    @Test func anUnknownJournalVersionIsRefused() throws {
        let (_, path, original) = try model()
        var h = UndoJournalFile.header(fileLength: UInt64(original.count), commit: 0)
        h[8] = 3
        h.withUnsafeMutableBytes { p in
            let sum = xxh64(UnsafeRawBufferPointer(rebasing: p[0..<56]))
            for k in 0..<8 { p[56 + k] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(k))) }
        }
        try Data(h).write(to: URL(fileURLWithPath: path + ".journal"))
        do {
            _ = try UndoJournalFile.rollBack(modelPath: path)
            Issue.record("a version-3 journal was rolled back")
        } catch {
            #expect(error is DQTFormatError && "\(error)".contains("journal.version"), "\(error)")
        }
        #expect(try contents(path) == original)
        #expect(fileExists(path + ".journal"))
    }
}
