import DQTFormat
import DQTImport
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

@Suite(.serialized, .temporaryFiles) struct KillTests {
    /// kill -9 of dqt-tune at random moments (tools/kill_test_tune.sh does the same at any
    /// count): after each kill the model, rolled back, verifies and is byte for byte the file an
    /// uninterrupted run had at that commit; resumed runs end on the reference's final file.
    @Test func killingTheTunerNeverLeavesAMix() throws {
        guard let tune = builtTool("dqt-tune") else {
            Issue.record("dqt-tune is not built next to the tests (swift build first)")
            return
        }
        let dir = tempDir()
        let base = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/base.dqt")
        let text = writeText(notesText, in: dir)
        let steps = 6
        let args = ["--data", text, "--seq-len", "16", "--batch", "2", "--optimizer", "adamw", "--lr", "1e-3", "--seed", "5",
                    "--threads", "2", "--staging-kib", "16", "--quiet"]
        func fresh(_ p: String) {
            for s in ["", ".tune", ".journal"] { try? FileManager.default.removeItem(atPath: p + s) }
            copyFile(base, p)
        }
        // Reference: the file at every commit.
        let ref = dir + "/ref.dqt"
        fresh(ref)
        var refs = [fileHash(ref)]
        for s in 1...steps {
            let r = try runProcess(tune, [ref] + args + ["--steps", "\(s)"])
            #expect(r.status == 0, "\(r.all)")
            refs.append(fileHash(ref))
        }
        let v = dir + "/v.dqt"
        fresh(v)
        let t0 = Date()
        let whole = try runProcess(tune, [v] + args + ["--steps", "\(steps)"])
        let runSeconds = Date().timeIntervalSince(t0)
        #expect(whole.status == 0 && fileHash(v) == refs[steps], "one uninterrupted run differs from the step-by-step reference")
        fresh(v)
        var kills = 0, completed = 0, rollbacks = 0, attempts = 0
        var rng = SystemRandomNumberGenerator()
        var commit = 0   // where the victim is (after the last check)
        // At least 30 kills, and on until 6 of them landed inside a commit period, at most 150.
        while kills < 30 || (rollbacks <= 5 && kills < 150) {
            attempts += 1
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tune)
            p.arguments = [v] + args + ["--steps", "\(steps)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // A resumed run only has the remaining steps.
            let left = runSeconds * (0.15 + 0.85 * Double(steps - commit) / Double(steps))
            if attempts % 2 == 0 {
                // Uniform over the run that is left.
                Thread.sleep(forTimeInterval: Double.random(in: 0...left, using: &rng))
            } else {
                // Aimed at a commit period: once the journal exists, at once (every other aimed
                // kill) or 0–20 ms later. Uniform kills alone rarely land in one where the process
                // start dominates a run (under qemu: 2 of 150 landed in one), and a period can be
                // shorter than 20 ms (under qemu, 150 kills aimed 0–20 ms late found 2–5 periods).
                let deadline = Date().addingTimeInterval(left)
                while p.isRunning && !fileExists(v + ".journal") && Date() < deadline { usleep(500) }
                if attempts % 4 == 3 { Thread.sleep(forTimeInterval: Double.random(in: 0...0.02, using: &rng)) }
            }
            let killed = p.isRunning && kill(p.processIdentifier, SIGKILL) == 0
            p.waitUntilExit()
            if killed {
                kills += 1
                if kills % 3 == 0 { continue }   // the next run rolls back itself (kills land in rollbacks too)
            } else {
                #expect(p.terminationStatus == 0)
            }
            if fileExists(v + ".journal") { rollbacks += 1 }
            if kills % 2 == 1, let run = builtTool("dqt-run") {
                // A plain reader after the crash: rolls the hot journal back itself and runs.
                let r = try runProcess(run, [v, "x", "-n", "1", "-t", "1"])
                #expect(r.status == 0 && !fileExists(v + ".journal"), "dqt-run after kill \(kills): \(r.all)")
            }
            let r = try runProcess(tune, [v, "--recover"])
            #expect(r.status == 0, "after kill \(kills): \(r.all)")
            let f = try DQTFile(path: v)
            let c = Int(f.header.commit)
            commit = c
            #expect(c <= steps && fileHash(v) == refs[c], "after kill \(kills): the file at commit \(c) is not the reference's")
            if !killed {
                #expect(c == steps)
                completed += 1
                fresh(v)
                commit = 0
            }
        }
        print("kill test: \(kills) kills, \(rollbacks) rollbacks of an interrupted period, \(completed) completed runs")
        #expect(rollbacks > 5, "few kills landed inside a commit period: the test is not exercising the journal")
    }
}
