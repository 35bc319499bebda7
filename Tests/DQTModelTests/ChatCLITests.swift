import DQTChat
import DQTFormat
import DQTImport
import DQTModel
import DQTTestSupport
import Foundation
import Testing

/// dqt-run --chat as a user runs it, on the bundled sample with the sample chat template stored
/// in a copy (dqt-convert --set-chat-template's path): piped turns, KV cache reuse across turns,
/// /reset, EOF, the context-full policy, Ctrl-C stopping an answer but not the session, zero
/// allocations in the token loop of every turn, and --tokenize --chat against the library.
@Suite(.serialized, .temporaryFiles) struct ChatCLITests {
    static let model: String = {
        let path = sharedTemporaryDirectory("dqt-chat-cli") + "/chat-sample.dqt"   // for the suite; removed at exit
        let file = try! DQTFile(path: repoRoot + "/formats/samples/shakespeare.dqt")
        let source = try! String(contentsOfFile: repoRoot + "/formats/samples/chat-template.jinja", encoding: .utf8)
        let chat = try! ChatImport.chatData(template: source, origin: "file:chat-template.jinja", bosToken: "<|endoftext|>",
                                            eosToken: "<|endoftext|>", stopTokenIDs: [0], tokenizerPayload: Array(file.tokenizerPayload),
                                            vocabSize: file.spec.vocabSize)
        _ = try! ModelWriter.rewrite(file, to: path, chat: chat.encode())
        return path
    }()

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    /// Runs dqt-run with `input` on stdin; `interruptAfter`: seconds after which SIGINT is sent,
    /// then `laterInput` is written and stdin closed.
    static func run(_ args: [String], input: String, env: [String: String] = [:],
                    interruptAfter: Double? = nil, laterInput: String = "") throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.dqtRun)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let inp = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inp
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data(), outData = Data()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        inp.fileHandleForWriting.write(Data(input.utf8))
        if let t = interruptAfter {
            Thread.sleep(forTimeInterval: t)
            kill(p.processIdentifier, SIGINT)
            Thread.sleep(forTimeInterval: 0.5)
            inp.fileHandleForWriting.write(Data(laterInput.utf8))
        }
        try inp.fileHandleForWriting.close()
        group.wait()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    func turns(_ stderr: String) -> [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("turn: ") } }

    func reused(_ line: String) -> Int {
        Int(line.components(separatedBy: " new tokens (").last!.split(separator: " ").first!)!
    }

    @Test func pipedTurnsReuseTheCacheAndAllocateNothingPerToken() throws {
        let so = try CLITests.preload(repoRoot + "/tools/alloc_counter.c", name: "alloc_counter")
        let r = try Self.run([Self.model, "--chat", "-n", "12", "--temp", "0", "--stats", "--system", "You are Romeo."],
                             input: "Who art thou?\nSpeak again,\\\nbright angel.\n/reset\nWhat news?\n", env: ["LD_PRELOAD": so])
        #expect(r.status == 0, "\(r.stderr)")
        let t = turns(r.stderr)
        #expect(t.count == 3, "\(r.stderr)")
        guard t.count == 3 else { return }
        #expect(reused(t[0]) == 0 && reused(t[1]) > 0 && reused(t[2]) == 0, "\(t)")
        for line in t { #expect(line.hasSuffix("allocations in token loop: 0"), "\(line)") }
        #expect(r.stdout.split(separator: "\n", omittingEmptySubsequences: false).count >= 3, "\(r.stdout)")
        // The answers are what the library generates for the same conversation (greedy).
        let model = try DQTModel(path: Self.model, options: RuntimeOptions(threads: 1))
        let ids = try model.chatTokens([ChatMessage(role: "system", content: "You are Romeo."), ChatMessage(role: "user", content: "Who art thou?")])
        var answer: [Int32] = []
        try model.generate(prompt: ids, maxTokens: 12, sampler: SamplerSettings(temperature: 0), stopTokens: model.chatStopTokens) {
            answer.append($0); return true
        }
        let text = model.tokenizer.decode(answer, atSequenceStart: false)
        #expect(r.stdout.hasPrefix(text), "\(r.stdout) vs \(text)")
    }

    @Test func tokenizeChatMatchesTheLibrary() throws {
        let r = try Self.run([Self.model, "--tokenize", "--chat", "-p", "Good morrow.", "--system", "Be brief."], input: "")
        #expect(r.status == 0, "\(r.stderr)")
        let model = try DQTModel(path: Self.model, options: RuntimeOptions(threads: 1))
        let ids = try model.chatTokens([ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Good morrow.")])
        #expect(r.stdout == ids.map(String.init).joined(separator: ",") + "\n")
        #expect(ids.first == 0)   // the template writes bos_token (<|endoftext|>, id 0) itself
    }

    @Test func contextFullDropsTheOldestExchange() throws {
        let line = "Now is the winter of our discontent made glorious summer by this sun of York.\n"
        let r = try Self.run([Self.model, "--chat", "-c", "96", "-n", "16", "--temp", "0", "--stats"], input: String(repeating: line, count: 5))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(turns(r.stderr).count == 5, "\(r.stderr)")
        #expect(r.stderr.contains("(context full: the oldest exchange was dropped)"), "\(r.stderr)")
        // A turn that cannot fit at all is refused, and the session goes on.
        let big = String(repeating: "word ", count: 200) + "\nHello.\n"
        let r2 = try Self.run([Self.model, "--chat", "-c", "64", "-n", "8", "--temp", "0", "--stats"], input: big)
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(r2.stderr.contains("the context holds 64"), "\(r2.stderr)")
        #expect(turns(r2.stderr).count == 1, "\(r2.stderr)")
    }

    @Test func interruptStopsTheAnswerNotTheSession() throws {
        // A long greedy answer from the untuned sample (it does not emit <|endoftext|> early),
        // interrupted after a moment; then one more turn.
        let r = try Self.run([Self.model, "--chat", "-n", "100000", "-c", "256", "--temp", "0", "--stats", "-t", "1"],
                             input: "Tell me a long tale.\n", interruptAfter: 1.0, laterInput: "And then?\n")
        #expect(r.status == 0, "\(r.stderr)")
        let t = turns(r.stderr)
        #expect(t.count == 2, "\(r.stderr)")
        #expect(r.stdout.contains("[stopped]") || r.stdout.contains("[context full]"), "\(r.stdout)")
    }
}

/// The CHAT section in the container: set and removed in place (ModelWriter.rewrite, as
/// `dqt-convert --set-chat-template` does), version stamping, and the reader's checks.
@Suite(.temporaryFiles) struct ChatSectionTests {
    func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test func setThenRemoveGivesTheOriginalFileBack() throws {
        let original = repoRoot + "/formats/samples/shakespeare.dqt"
        let path = tempPath("rewrite.dqt")
        try FileManager.default.copyItem(atPath: original, toPath: path)
        let chat = ChatData(name: "builtin:test", template: "{% for m in messages %}{{ m.content }}{% endfor %}", bosToken: "", eosToken: "",
                            stopTokenIDs: [0])
        _ = try ModelWriter.rewrite(try DQTFile(path: path), to: path, chat: chat.encode())
        let withChat = try DQTFile(path: path)
        #expect(withChat.header.versionMinor == 1)
        #expect(withChat.sections.last?.kind == .chat)
        let model = try DQTModel(path: path, options: RuntimeOptions(threads: 1))
        #expect(model.chat == chat)
        #expect(try model.chatText([ChatMessage(role: "user", content: "hi")]) == "hi")
        _ = try ModelWriter.rewrite(withChat, to: path, chat: nil)
        let back = try DQTFile(path: path)
        #expect(back.header.versionMinor == 0 && back.chatPayload == nil)
        #expect(try bytes(path) == bytes(original), "removing the template must give the original bytes back")
    }

    @Test func aChatSectionInAVersion10FileIsRejected() throws {
        let path = tempPath("minor.dqt")
        try FileManager.default.copyItem(atPath: repoRoot + "/formats/samples/shakespeare-chat.dqt", toPath: path)
        var b = try bytes(path)
        #expect(b[10] == 1)
        b[10] = 0
        // Re-sign the header block so that only the version rule can fail.
        let count = Int(b[24]) | Int(b[25]) << 8
        for i in 40..<48 { b[i] = 0 }
        let sum = b.withUnsafeBytes { Header.checksum(ofBlock: UnsafeRawBufferPointer(rebasing: $0[0..<(64 * (count + 1))])) }
        for i in 0..<8 { b[40 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
        try Data(b).write(to: URL(fileURLWithPath: path))
        #expect(throws: DQTFormatError.self) { _ = try DQTFile(path: path) }
        do { _ = try DQTFile(path: path) } catch { #expect("\(error)".contains("needs version 1.1"), "\(error)") }
    }

    @Test func theChatSampleLoadsWithItsTemplate() throws {
        let model = try DQTModel(path: repoRoot + "/formats/samples/shakespeare-chat.dqt", options: RuntimeOptions(threads: 1))
        #expect(model.chatStopTokens == [0])
        let text = try model.chatText([ChatMessage(role: "system", content: "You are Kent."), ChatMessage(role: "user", content: "Hail!")])
        #expect(text == "<|endoftext|>SYSTEM: You are Kent.\nUSER: Hail!\nASSISTANT:")
    }
}
