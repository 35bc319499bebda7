// Temporary files of the test suite: every directory a test makes lives under $TMPDIR and is
// removed when that test (each case of a parameterized test) ends — passed, failed or thrown.
//
//   @Suite(.temporaryFiles) struct MyTests {
//       @Test func writesAFile() throws { let dir = temporaryDirectory(); ... }
//   }
//
// `temporaryDirectory()` outside such a scope records an issue (a suite that forgot the trait
// fails instead of littering). Files shared by a whole suite (a model converted once in a
// `static let`) go in `sharedTemporaryDirectory()`, removed when the test process exits.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum TemporaryFiles {
    /// The directory of the running test case (task-local: set by `TemporaryFilesTrait`).
    @TaskLocal public static var root: String?

    /// $TMPDIR (or /tmp) without a trailing slash.
    public static var base: String {
        var b = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        while b.count > 1 && b.hasSuffix("/") { b.removeLast() }
        return b.isEmpty ? "/tmp" : b
    }

    /// mkdtemp under `parent`: a new, empty directory named `tag.XXXXXX`, mode 0755 like any
    /// directory a test makes (a test may run a tool as another user on a file inside).
    public static func make(_ tag: String, in parent: String) -> String {
        var template = Array((parent + "/" + tag + ".XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        precondition(made, "mkdtemp in \(parent) failed: errno \(errno)")
        let dir = String(cString: template)
        chmod(dir, 0o755)
        return dir
    }

    /// Removes a tree; a file or folder that is already gone is fine.
    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The process-wide directory for files shared across tests, made on first use.
    static let shared: String = {
        let dir = make("dqt-tests-shared", in: base)
        atexit { TemporaryFiles.remove(TemporaryFiles.shared) }
        return dir
    }()
}

/// `@Suite(.temporaryFiles)` or `@Test(.temporaryFiles)`: each test case runs with its own
/// temporary directory, removed when the case ends however it ends.
#if compiler(>=6.1)
public struct TemporaryFilesTrait: SuiteTrait, TestTrait, TestScoping {
    public init() {}
    public var isRecursive: Bool { true }

    /// One scope per test case (the suite itself gets none).
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { testCase == nil ? nil : self }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        let root = TemporaryFiles.make("dqt-test", in: TemporaryFiles.base)
        defer { TemporaryFiles.remove(root) }
        try await TemporaryFiles.$root.withValue(root) { try await function() }
    }
}
#else
/// Swift 6.0's swift-testing (Debian 13's swiftlang, which tools/cross-aarch64.sh builds the
/// board's test suite with) has no TestScoping: there the directories go in the shared
/// directory, removed when the test process exits.
public struct TemporaryFilesTrait: SuiteTrait, TestTrait {
    public init() {}
    public var isRecursive: Bool { true }
}
#endif

extension Trait where Self == TemporaryFilesTrait {
    /// Temporary directories made by the test are removed when it ends.
    public static var temporaryFiles: Self { Self() }
}

/// A fresh empty directory inside the running test case's temporary directory.
public func temporaryDirectory(_ tag: String = "dir", fileID: String = #fileID, filePath: String = #filePath,
                               line: Int = #line, column: Int = #column) -> String {
    guard let root = TemporaryFiles.root else {
        #if compiler(>=6.1)
        Issue.record("temporaryDirectory() outside a test carrying the .temporaryFiles trait",
                     sourceLocation: SourceLocation(fileID: fileID, filePath: filePath, line: line, column: column))
        #endif
        return sharedTemporaryDirectory(tag)
    }
    return TemporaryFiles.make(tag, in: root)
}

/// A fresh empty directory that lives until the test process exits (for suite-wide fixtures).
public func sharedTemporaryDirectory(_ tag: String = "dir") -> String {
    TemporaryFiles.make(tag, in: TemporaryFiles.shared)
}
