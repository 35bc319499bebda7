import DQTFormat
import DQTImport
import DQTModel
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

/// A few KB of English that is not the fixtures' training corpus (so there is something to learn).
let notesText = String(repeating: """
Notes from the workshop. The soldering iron needs a new tip before Friday, and the spare boards are in the \
blue box under the bench. Remember to label every cable with its length and the date it was made. The \
weather station on the roof reported rain at six in the morning and again at noon; the rain gauge overflowed \
twice, so the bucket should be emptied every evening. Maria wants the greenhouse sensors moved closer to the \
tomatoes, and the irrigation valve on the east side still leaks a little when the pressure is high. Order more \
screws: M3 by eight, M3 by twelve, and a box of washers. The old laptop can run the logger if the battery is \
replaced. Next week we test the solar panel on the shed and compare it with the one on the garage.

""", count: 3)

func writeText(_ text: String, in dir: String, name: String = "notes.txt") -> String {
    let p = dir + "/" + name
    try! text.write(toFile: p, atomically: true, encoding: .utf8)
    return p
}

func fileHash(_ path: String) -> UInt64 {
    let d = try! Data(contentsOf: URL(fileURLWithPath: path))
    return d.withUnsafeBytes { xxh64($0) }
}

func copyFile(_ from: String, _ to: String) {
    try? FileManager.default.removeItem(atPath: to)
    try! FileManager.default.copyItem(atPath: from, toPath: to)
}

func options(_ kind: OptimizerKind = .adamw, lr: Double = 5e-4, seq: Int = 32, batch: Int = 2, commitEvery: Int = 1,
             threads: Int = 2, freeze: FreezeSet = []) -> TrainOptions {
    var o = TrainOptions()
    o.optimizer = kind
    o.lr = lr
    o.seqLen = seq
    o.batch = batch
    o.commitEvery = commitEvery
    o.threads = threads
    o.freeze = freeze
    o.seed = 99
    return o
}

@Suite(.temporaryFiles) struct TunerTests {
    /// Tuning the ternary fixture on a few KB of new text lowers the loss on that text, and
    /// the runtime loads and runs the tuned file at once.
    @Test func tuningLowersTheLossAndDqtRunLoadsTheResult() throws {
        let dir = tempDir()
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir)
        let tuner = try Tuner(modelPath: model, options: options(seq: 64, batch: 2), data: .textFile(text))
        let tokens = tuner.data!.tokens
        let before = try tuner.evaluate(tokens: tokens).loss
        var losses: [Double] = []
        for _ in 0..<12 { losses.append(try tuner.runStep().loss) }
        try tuner.finish()
        let after = try tuner.evaluate(tokens: tokens).loss
        print("e2e: loss on the notes \(before) -> \(after); step losses \(losses.map { fixed($0, 3) })")
        #expect(after < before - 0.5, "loss did not go down: \(before) -> \(after)")
        #expect(tuner.commitCounter == 12)
        // The runtime: checksums verify, it generates.
        let rt = try DQTModel(path: model, options: RuntimeOptions(contextLength: 64, threads: 1))
        #expect(rt.file.header.commit == 12)
        var out: [Int32] = []
        try rt.generate(prompt: rt.encode("Notes from the"), maxTokens: 8, sampler: .greedy) { out.append($0); return true }
        #expect(!out.isEmpty)
        #expect(!fileExists(model + ".journal"))
    }

    /// t1 (base-3) and i8 + i8r-head models are updated in place too and stay valid.
    @Test(arguments: [("dqt-ternary", ConvertOptions(pack: .size)), ("dqt-int8", ConvertOptions(embed: .int8)),
                      ("hf-bitnet", ConvertOptions(pack: .size, embed: .f32)), ("llama-f32", ConvertOptions(weights: .int8))])
    func everyEncodingIsTrainedInPlace(_ fixture: String, _ convert: ConvertOptions) throws {
        let dir = tempDir()
        let model = try convertFixture(fixture, options: convert, to: dir + "/m.dqt")
        let original = try DQTFile(path: model)
        let beforeSums = original.sections.map { $0.checksum }
        let text = writeText(notesText, in: dir)
        for kind in OptimizerKind.allCases {
            let tuner = try Tuner(modelPath: model, options: options(kind, lr: kind == .adamw || kind == .adafactor ? 1e-3 : kind == .sgd ? 0.5 : 0.05),
                                  data: .textFile(text), resetState: true)
            for _ in 0..<2 { _ = try tuner.runStep() }
            try tuner.finish()
        }
        let f = try DQTFile(path: model)   // verifies checksums and codes (no t2 code 3)
        #expect(f.header.commit == UInt64(2 * OptimizerKind.allCases.count))
        let changed = zip(beforeSums, f.sections.map { $0.checksum }).enumerated().filter { $0.element.0 != $0.element.1 }
            .map { f.sections[$0.offset].kind }
        #expect(changed.filter { $0 == .tensor }.count >= f.tensors.count / 2, "\(fixture): few tensors changed")
        #expect(!changed.contains(.tokenizer) && !changed.contains(.modelSpec) && !changed.contains(.tensorIndex))
        _ = try DQTModel(path: model, options: RuntimeOptions(contextLength: 32, threads: 1))
    }

    /// Float linears (f32, f16, bf16) and a bf16 embedding are trained in their own precision.
    @Test func floatTensorsAreTrainedInTheirOwnPrecision() throws {
        let dir = tempDir()
        let model = try floatLinearsModel(in: dir)
        let before = try DQTFile(path: model).sections.map { $0.checksum }
        let text = writeText(notesText, in: dir)
        for kind in OptimizerKind.allCases {
            for rounding in Rounding.allCases {
                var o = options(kind, lr: kind == .adamw || kind == .adafactor ? 1e-3 : kind == .sgd ? 0.5 : 0.05)
                o.rounding = rounding
                let tuner = try Tuner(modelPath: model, options: o, data: .textFile(text), resetState: true)
                let r = try tuner.runStep()
                #expect(r.changed > 0, "\(kind) \(rounding): nothing changed")
                try tuner.finish()
            }
        }
        let f = try DQTFile(path: model)
        #expect(f.header.commit == UInt64(OptimizerKind.allCases.count * Rounding.allCases.count))
        for r in f.tensors where r.encoding != .f32 || r.name.hasSuffix("proj") {
            #expect(f.sections[Int(r.section)].checksum != before[Int(r.section)], "\(r.name) (\(r.encoding)) did not change")
        }
        _ = try DQTModel(path: model, options: RuntimeOptions(contextLength: 32, threads: 1))
    }

    /// --freeze norms,embed leaves those sections byte for byte.
    @Test func frozenTensorsAreNotTouched() throws {
        let dir = tempDir()
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let before = try DQTFile(path: model)
        let frozen = Set(before.tensors.filter { $0.name.hasSuffix("norm") || $0.name == "embed" || $0.name == "output" }.map { Int($0.section) })
        let sums = before.sections.map { $0.checksum }
        let tuner = try Tuner(modelPath: model, options: options(lr: 2e-3, freeze: [.norms, .embed]), data: .textFile(writeText(notesText, in: dir)))
        #expect(!tuner.trainableTensors.contains { $0.hasSuffix("norm") || $0 == "embed" || $0 == "output" })
        for _ in 0..<3 { _ = try tuner.runStep() }
        try tuner.finish()
        let after = try DQTFile(path: model)
        for s in frozen { #expect(after.sections[s].checksum == sums[s]) }
        #expect(after.sections.indices.filter { !frozen.contains($0) && after.sections[$0].checksum != sums[$0] }.count > 5)
    }

    /// Stopping after any commit and resuming gives the same file as one uninterrupted run;
    /// steps after the last commit are lost and redone identically (commit every 2 steps).
    @Test(arguments: OptimizerKind.allCases)
    func resumeReproducesAnUninterruptedRun(_ kind: OptimizerKind) throws {
        let dir = tempDir()
        let base = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/base.dqt")
        let text = writeText(notesText, in: dir)
        let o = options(kind, lr: kind == .sgd ? 0.5 : kind == .momentum ? 0.05 : 1e-3, commitEvery: 2)
        // Uninterrupted: 6 steps.
        let a = dir + "/a.dqt"
        copyFile(base, a)
        do {
            let t = try Tuner(modelPath: a, options: o, data: .textFile(text))
            while t.step < 6 { _ = try t.runStep() }
            try t.finish()
        }
        // Interrupted: 3 steps (commit at 2, step 3 in flight), dropped without finishing.
        let b = dir + "/b.dqt"
        copyFile(base, b)
        do {
            let t = try Tuner(modelPath: b, options: o, data: .textFile(text))
            while t.step < 3 { _ = try t.runStep() }
            #expect(fileExists(b + ".journal"), "step 3 modified the file behind a journal")
        }
        do {
            let t = try Tuner(modelPath: b, options: o, data: .textFile(text))
            #expect(t.recovery != nil && t.recovery!.records > 1)
            #expect(t.step == 2 && t.commitCounter == 1)
            while t.step < 6 { _ = try t.runStep() }
            try t.finish()
        }
        #expect(fileHash(a) == fileHash(b), "\(kind): resumed run differs from the uninterrupted one")
        // The thread count does not change the result either.
        let c = dir + "/c.dqt"
        copyFile(base, c)
        var o1 = o
        o1.threads = 1
        let t = try Tuner(modelPath: c, options: o1, data: .textFile(text))
        while t.step < 6 { _ = try t.runStep() }
        try t.finish()
        #expect(fileHash(a) == fileHash(c), "\(kind): 1 thread differs from 2 threads")
        // Nor does keeping the layers' internals instead of recomputing them.
        let d = dir + "/d.dqt"
        copyFile(base, d)
        var ok = o
        ok.keepActivations = true
        let tk = try Tuner(modelPath: d, options: ok, data: .textFile(text))
        while tk.step < 6 { _ = try tk.runStep() }
        try tk.finish()
        #expect(fileHash(a) == fileHash(d), "\(kind): --keep-activations differs from recomputation")
    }

    @Test func aStateOfAnotherRunIsRefused() throws {
        let dir = tempDir()
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir)
        do {
            let t = try Tuner(modelPath: model, options: options(), data: .textFile(text))
            _ = try t.runStep()
        }
        #expect(throws: TrainError.self) { _ = try Tuner(modelPath: model, options: options(.sgd), data: .textFile(text)) }
        let other = writeText("Completely different text for the tuner, long enough for a window or two of tokens. " +
                              String(repeating: "More words here. ", count: 40), in: dir, name: "other.txt")
        #expect(throws: TrainError.self) { _ = try Tuner(modelPath: model, options: options(), data: .textFile(other)) }
        let t = try Tuner(modelPath: model, options: options(.sgd), data: .textFile(other), resetState: true)
        #expect(t.step == 0)
    }

    @Test func badArgumentsAreClearErrors() throws {
        let dir = tempDir()
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText("short", in: dir)
        #expect(throws: TrainError.self) { _ = try Tuner(modelPath: model, options: options(seq: 64), data: .textFile(text)) }
        #expect(throws: TrainError.self) { _ = try Tuner(modelPath: model, options: options(seq: 4096), data: .none) }
        #expect(throws: TrainError.self) { _ = try FreezeSet(parsing: "norms,bogus") }
        let frozen = try convertFixture("dqt-ternary", options: ConvertOptions(trainable: false), to: dir + "/frozen.dqt")
        do {
            _ = try Tuner(modelPath: frozen, options: options(), data: .textFile(writeText(notesText, in: dir)))
            Issue.record("a model without writable tensors was accepted")
        } catch let e as TrainError {
            #expect("\(e)".contains("writable"))
        }
    }
}
