@testable import DQTFormat
import DQTImport
import DQTModel
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

/// Tuning in place under ordinary use (formats/dqt-tune.md §7): readers loop while a tuner runs,
/// `--recover` and a second tuner are tried against it, the tuner is SIGKILLed and restarted; at
/// the end the model is byte for byte the file of an undisturbed run.
@Suite(.serialized, .temporaryFiles) struct ConcurrencyTests {
    /// Runs `exe args` to completion in a child; stdout+stderr captured.
    final class Child: @unchecked Sendable {
        let process = Process()
        let pipe = Pipe()
        init(_ exe: String, _ args: [String], quiet: Bool = false) throws {
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = args
            process.standardOutput = quiet ? FileHandle.nullDevice : pipe
            process.standardError = quiet ? FileHandle.nullDevice : pipe
            try process.run()
        }
    }

    /// Readers in a loop on another thread: every one must exit 0 (it produced output, possibly
    /// after waiting for a commit or after rolling back a hot journal).
    final class ReaderLoop: @unchecked Sendable {
        let lock = NSLock()
        var runs = 0, waited = 0, recovered = 0
        var failures: [String] = []
        var stop = false
        let done = DispatchSemaphore(value: 0)

        func start(run: String, model: String) {
            Thread.detachNewThread { [self] in
                while !lock.withLock({ stop }) {
                    do {
                        let r = try runProcess(run, [model, "The", "-n", "2", "-t", "1", "--temp", "0", "--wait", "60"])
                        lock.withLock {
                            runs += 1
                            if r.all.contains("dqt-run: waiting:") { waited += 1 }
                            if r.all.contains("rolled back") { recovered += 1 }
                            // stdout is the prompt echo and the continuation; dqt-run's notes are on stderr.
                            let text = r.all.split(separator: "\n", omittingEmptySubsequences: false)
                                .filter { !$0.hasPrefix("dqt-run: ") }.joined(separator: "\n")
                            if r.status != 0 || !text.hasPrefix("The") || text.count <= 3 { failures.append("status \(r.status): \(r.all)") }
                        }
                    } catch {
                        lock.withLock { failures.append("\(error)") }
                    }
                }
                done.signal()
            }
        }

        func finish() {
            lock.withLock { stop = true }
            done.wait()
        }
    }

    @Test func tuningWhileReadersRunAndTheTunerIsKilled() throws {
        guard let tune = builtTool("dqt-tune"), let run = builtTool("dqt-run") else {
            Issue.record("dqt-tune and dqt-run are not built next to the tests (swift build first)")
            return
        }
        let dir = tempDir()
        let base = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/base.dqt")
        let text = writeText(notesText, in: dir)
        let steps = 10
        let args = ["--data", text, "--seq-len", "16", "--batch", "2", "--optimizer", "adamw", "--lr", "1e-3", "--seed", "7",
                    "--threads", "1", "--quiet", "--steps", "\(steps)"]
        // Undisturbed reference.
        let ref = dir + "/ref.dqt"
        copyFile(base, ref)
        let t0 = Date()
        let r0 = try runProcess(tune, [ref] + args)
        let runSeconds = Date().timeIntervalSince(t0)
        #expect(r0.status == 0, "\(r0.all)")
        let want = fileHash(ref)

        let v = dir + "/v.dqt"
        copyFile(base, v)
        let readers = ReaderLoop()
        readers.start(run: run, model: v)
        var kills = 0, refusedRecover = 0, refusedTuner = 0, recoverAgainstLive = 0
        var rng = SystemRandomNumberGenerator()
        var finished = false
        for round in 0..<8 where !finished {
            let victim = try Child(tune, [v] + args, quiet: true)
            // While it runs: --recover and a second tuner must be refused, and change nothing.
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.2, using: &rng) * runSeconds)
            if victim.process.isRunning {
                let rec = try runProcess(tune, [v, "--recover"])
                let stillRunning = victim.process.isRunning
                if rec.status == 0 {
                    if stillRunning { recoverAgainstLive += 1 }
                } else {
                    #expect(rec.all.contains("is tuning this model") && rec.all.contains("pid \(victim.process.processIdentifier)"),
                            "\(rec.all)")
                    refusedRecover += 1
                }
                let second = try runProcess(tune, [v] + args)
                if second.status != 0 {
                    #expect(second.all.contains("is tuning this model"), "\(second.all)")
                    refusedTuner += 1
                } else if victim.process.isRunning {
                    Issue.record("a second tuner ran while the first was alive: \(second.all)")
                }
            }
            if round < 4 {
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.5, using: &rng) * runSeconds)
                if victim.process.isRunning, kill(victim.process.processIdentifier, SIGKILL) == 0 { kills += 1 }
            }
            victim.process.waitUntilExit()
            if victim.process.terminationReason == .exit {
                #expect(victim.process.terminationStatus == 0, "the tuner failed")
                let f = try DQTFile(path: v, options: LoadOptions(verifyChecksums: false))
                finished = f.header.commit == UInt64(steps)
            }
        }
        readers.finish()
        #expect(finished, "the tuner never completed its \(steps) steps")
        #expect(fileHash(v) == want, "the tuned file differs from an undisturbed run's")
        #expect(recoverAgainstLive == 0, "--recover succeeded against a live tuner")
        #expect(readers.failures.isEmpty, "readers failed: \(readers.failures.prefix(3))")
        #expect(readers.runs >= 5, "too few readers ran (\(readers.runs)): the test is not exercising concurrency")
        #expect(refusedRecover >= 1 && refusedTuner >= 1, "no attempt met a live tuner")
        print("concurrency: \(kills) kills, \(readers.runs) reader runs (\(readers.waited) waited for a commit, \(readers.recovered) rolled back a hot journal), \(refusedRecover) --recover and \(refusedTuner) second tuners refused")
    }

    /// A reader that waits longer than its bound says who holds the model, and fails cleanly.
    /// A tuner's locks go when its ModelLock goes, even while a child process forked by another
    /// thread still shares the locked file description (posix_spawn before the child's exec
    /// closes the O_CLOEXEC descriptor; seen as a flaky "dqt-tune (pid <this process>) is tuning
    /// this model" in TunerTests under load). Here the child keeps it for good: dup2 into fd 3.
    @Test func locksGoWithTheLockEvenIfAChildSharesTheDescription() throws {
        let path = temporaryDirectory() + "/m.dqt"
        #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        var child: pid_t = 0
        do {
            let (lock, _) = try ModelLock.forTuning(path: path)
            withExtendedLifetime(lock) {
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                posix_spawn_file_actions_adddup2(&actions, lock.descriptor, 3)
                let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("60"), nil]
                defer { argv.forEach { free($0) } }
                #expect(posix_spawn(&child, "/bin/sleep", &actions, nil, argv, environ) == 0)
            }
        }
        defer { if child > 0 { kill(child, SIGKILL); var st: Int32 = 0; waitpid(child, &st, 0) } }
        // The first lock is gone (its last reference went at the end of the `do`); the child
        // still has the description open.
        #expect(throws: Never.self) { _ = try ModelLock.forTuning(path: path, wait: LockWait(timeout: 0)) }
    }

    @Test func aBoundedWaitGivesUpNamingTheTuner() throws {
        let dir = tempDir()
        let path = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let (tunerLock, _) = try ModelLock.forTuning(path: path)
        try tunerLock.lockExclusive()   // as during a commit period
        var told: String? = nil
        do {
            _ = try DQTModel(path: path, options: RuntimeOptions(contextLength: 16, threads: 1, lockTimeout: 0.5, onLockWait: nil))
            Issue.record("a reader loaded the model during a commit period")
        } catch let e as DQTFormatError {
            told = e.description
            #expect(e.kind == .busy && e.message.contains("pid \(getpid())"), "\(e)")
        }
        #expect(told != nil)
        tunerLock.unlock()
        let m = try DQTModel(path: path, options: RuntimeOptions(contextLength: 16, threads: 1, lockTimeout: 0.5))
        #expect(m.holdsReadLease)
        // While the reader holds its lease, the tuner cannot start a period…
        #expect(throws: DQTFormatError.self) { try tunerLock.lockExclusive(LockWait(timeout: 0.2)) }
        // …and a second tuner or a recovery cannot start at all.
        #expect(throws: DQTFormatError.self) { _ = try ModelLock.forTuning(path: path, wait: LockWait(timeout: 0.2)) }
    }

    /// A long-lived reader sees the tuner's commits between requests (reloadIfChanged).
    @Test func aLongLivedReaderPicksUpCommits() throws {
        let dir = tempDir()
        let path = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir)
        let m = try DQTModel(path: path, options: RuntimeOptions(contextLength: 16, threads: 1, holdReadLease: false))
        #expect(!m.holdsReadLease && m.commit == 0)
        let prompt: [Int32] = [1, 5, 9, 13]
        try m.beginRead()
        try m.feed(prompt)
        let before = Array(m.lastLogits)
        m.endRead()
        do {
            let t = try Tuner(modelPath: path, options: options(commitEvery: 1), data: .textFile(text))
            _ = try t.runStep()
            _ = try t.runStep()
        }
        #expect(try m.beginRead() == .updated(commit: 2))
        m.reset()
        try m.feed(prompt)
        let after = Array(m.lastLogits)
        m.endRead()
        #expect(before != after, "the reader still computes with the old weights")
        // A fresh reader agrees with the long-lived one.
        let fresh = try DQTModel(path: path, options: RuntimeOptions(contextLength: 16, threads: 1))
        try fresh.feed(prompt)
        #expect(Array(fresh.lastLogits) == after)
        #expect(try m.reloadIfChanged() == .unchanged)
        // Re-converted and renamed over: the path names another file now.
        _ = try convertFixture("dqt-ternary", options: ConvertOptions(), to: path)
        #expect(try m.reloadIfChanged() == .replaced)
    }
}
