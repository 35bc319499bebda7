// dqt-tune as a user runs it (the built binary next to the tests): help text, argument errors
// (exit 64, ArgumentParser's EX_USAGE, before the model is opened), run-time errors (exit 1,
// "dqt-tune: error:"), and a short run, a resumed run, --dry-run, --recover and --log.
import DQTFormat
import DQTImport
import DQTTestSupport
import Foundation
import Testing

@Suite(.temporaryFiles) struct TuneCLITests {
    func tune(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutput {
        try runBuiltTool("dqt-tune", args, sourceLocation: sourceLocation)
    }

    @Test func helpNamesTheOptions() throws {
        let r = try tune(["--help"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.all)")
        for s in ["USAGE: dqt-tune [<options>] <model>", "Fine-tune a .dqt model in place", "--data <data>", "--steps <steps>",
                  "--lr <lr>", "--float-lr", "--schedule <schedule>", "--warmup", "--schedule-steps", "--min-lr-ratio", "--log <log>",
                  "--optimizer <optimizer>", "--momentum", "--weight-decay", "--seq-len", "--batch", "--seed", "--commit-every",
                  "--freeze <freeze>", "--rounding <rounding>", "--threads", "--eval <eval>", "--dry-run", "--reset-state",
                  "--recover", "--quiet", "dqt-tune model.dqt --data notes.txt --steps 50"] {
            #expect(oneLine(r.stdout).contains(s), "help lacks \(s.debugDescription)")
        }
    }

    /// Wrong arguments: exit 64 with the reason and the usage line; the model is not touched
    /// (it does not even exist here).
    @Test(arguments: [
        ([], "Missing expected argument '<model>'"),
        (["m.dqt"], "--data is required"),
        (["m.dqt", "--data", "t.txt", "--steps=-1"], "--steps must be ≥ 0"),
        (["m.dqt", "--data", "t.txt", "--warmup=-2"], "--warmup must be ≥ 0"),
        (["m.dqt", "--data", "t.txt", "--min-lr-ratio", "1.5"], "--min-lr-ratio must be in 0…1"),
        (["m.dqt", "--data", "t.txt", "--schedule-steps", "0"], "--schedule-steps must be ≥ 1"),
        (["m.dqt", "--data", "t.txt", "--freeze", "norms,bogus"], "unknown group \"bogus\""),
        (["m.dqt", "--data", "t.txt", "--optimizer", "lion"], "The value 'lion' is invalid for '--optimizer <optimizer>'"),
        (["m.dqt", "--data", "t.txt", "--rounding", "up"], "The value 'up' is invalid for '--rounding <rounding>'"),
        (["m.dqt", "--data", "t.txt", "--lr", "fast"], "The value 'fast' is invalid for '--lr <lr>'"),
        (["m.dqt", "--data", "t.txt", "--bogus"], "Unknown option '--bogus'"),
    ])
    func argumentErrorsExit64(_ args: [String], _ message: String) throws {
        let dir = temporaryDirectory()
        let r = try tune(args.map { $0.hasSuffix(".dqt") || $0.hasSuffix(".txt") ? dir + "/" + $0 : $0 })
        #expect(r.status == 64, "\(args): \(r.all)")
        #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        #expect(r.stderr.contains("Usage: dqt-tune") || r.stderr.contains("USAGE: dqt-tune"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "\(args) wrote into \(dir)")
    }

    /// Errors found while running: exit 1 and "dqt-tune: error: …" naming what is wrong.
    @Test func runtimeErrorsExit1() throws {
        let dir = temporaryDirectory()
        let text = writeText(notesText, in: dir)
        let missing = try tune([dir + "/none.dqt", "--data", text])
        #expect(missing.status == 1 && missing.stderr.hasPrefix("dqt-tune: error: ") && missing.stderr.contains(dir + "/none.dqt"),
                "\(missing.all)")
        let frozen = try convertFixture("dqt-ternary", options: ConvertOptions(trainable: false), to: dir + "/frozen.dqt")
        let f = try tune([frozen, "--data", text, "--steps", "1"])
        #expect(f.status == 1 && f.stderr.hasPrefix("dqt-tune: error: "), "\(f.all)")
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let noData = try tune([model, "--data", dir + "/none.txt", "--steps", "1"])
        #expect(noData.status == 1 && noData.stderr.contains(dir + "/none.txt"), "\(noData.all)")
        #expect(try DQTFile(path: model).header.commit == 0, "a failed run must not commit")
    }

    /// Two steps, then a rerun to step 3 resumes; --log gets one JSON object per line; --dry-run
    /// prints the plan and changes nothing; --recover on a clean model says so and exits 0.
    @Test func aShortRunResumesAndLogs() throws {
        let dir = temporaryDirectory()
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir), log = dir + "/log.jsonl"
        let common = ["--data", text, "--seq-len", "16", "--batch", "1", "--threads", "1", "--log", log]

        let dry = try tune([model, "--data", text, "--seq-len", "16", "--dry-run"])
        #expect(dry.status == 0 && !dry.stdout.isEmpty, "\(dry.all)")
        #expect(try DQTFile(path: model).header.commit == 0 && !FileManager.default.fileExists(atPath: model + ".tune"))

        let a = try tune([model] + common + ["--steps", "2"])
        #expect(a.status == 0, "\(a.all)")
        #expect(a.stdout.contains("step 1/2") && a.stdout.contains("step 2/2") && a.stdout.contains("trained to step 2"), "\(a.stdout)")
        #expect(try DQTFile(path: model).header.commit == 2)
        let b = try tune([model] + common + ["--steps", "3", "--quiet"])
        #expect(b.status == 0 && b.stdout.contains("trained to step 3") && !b.stdout.contains("step 1/3"), "\(b.stdout)")
        #expect(try DQTFile(path: model).header.commit == 3)

        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.allSatisfy { $0 != nil }, "every log line is a JSON object")
        let events = objects.compactMap { $0?["event"] as? String }, steps = objects.compactMap { $0?["step"] as? Int }
        #expect(events.filter { $0 == "start" }.count == 2 && events.filter { $0 == "done" }.count == 2, "\(events)")
        #expect(steps.max() == 3, "\(steps)")

        let r = try tune([model, "--recover"])
        #expect(r.status == 0 && r.stdout.contains("no interrupted run to roll back") && r.stdout.contains("commit 3"), "\(r.all)")
    }
}
