// What several test targets need besides temporary files: where the repository and its
// fixtures are, and running a program (a built command-line tool, cc, ldd) to its end.
import Foundation
import Testing

/// The repository root (this file is Tests/DQTTestSupport/Tools.swift).
public let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A checkpoint directory of Tests/Fixtures.
public func fixtureDir(_ name: String) -> String { repoRoot + "/Tests/Fixtures/" + name }

/// The build products directory: /proc/self/exe is the test runner inside it.
public let buildProducts: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().path
}()

/// A command-line tool built next to the tests (`swift build --build-tests` builds every
/// product), or nil when it is missing.
public func builtTool(_ name: String) -> String? {
    let p = buildProducts + "/" + name
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
}

/// Runs the tool `name` built next to the tests with `args` to its end; a missing tool fails
/// the running test (it throws after recording the issue).
public func runBuiltTool(_ name: String, _ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutput {
    let exe = try #require(builtTool(name), "\(name) is not built next to the tests (swift build --build-tests)",
                           sourceLocation: sourceLocation)
    return try runProcess(exe, args)
}

/// What a finished process left: its exit status and everything it wrote.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// stdout then stderr, for failure messages.
    public var all: String { stdout + stderr }
}

/// Runs `executable` with `args` (environment: ours with `env` on top) to its end.
public func runProcess(_ executable: String, _ args: [String], env: [String: String] = [:]) throws -> ProcessOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes to the end before waiting, so a full pipe cannot block the child.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessOutput(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// `text` with every run of white space (line breaks and the indentation of wrapped help text
/// included) turned into one space.
public func oneLine(_ text: String) -> String {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
}
