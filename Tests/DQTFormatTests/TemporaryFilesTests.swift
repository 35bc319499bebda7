// The test suite's own cleanup (Tests/DQTTestSupport): what a test makes is gone when it ends,
// also when it throws, and making a directory outside a scoped test is reported.
import DQTTestSupport
import Foundation
import Testing

// Swift 6.0's swift-testing has no TestScoping: its TemporaryFilesTrait provides no scope and
// records no issue (see Tests/DQTTestSupport/TemporaryFiles.swift), so there is nothing to test.
#if compiler(>=6.1)
@Suite struct TemporaryFilesTests {
    struct Thrown: Error {}

    @Test func aScopeRemovesItsFilesAlsoWhenTheTestThrows() async throws {
        nonisolated(unsafe) var made: [String] = []
        for fails in [false, true] {
            let scoped: @Sendable () async throws -> Void = {
                try await TemporaryFilesTrait().provideScope(for: Test.current!, testCase: nil) {
                    let dir = temporaryDirectory("scope-check")
                    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/file"))
                    try FileManager.default.createDirectory(atPath: dir + "/sub/deeper", withIntermediateDirectories: true)
                    made.append(dir)
                    #expect(dir.hasPrefix(TemporaryFiles.base + "/"), "\(dir) is not under TMPDIR")
                    if fails { throw Thrown() }
                }
            }
            if fails { await #expect(throws: Thrown.self) { try await scoped() } } else { try await scoped() }
        }
        #expect(made.count == 2)
        for dir in made {
            #expect(!FileManager.default.fileExists(atPath: dir), "\(dir) outlived its test")
            #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: dir).deletingLastPathComponent().path),
                    "the test's root directory outlived it")
        }
    }

    @Test func aDirectoryOutsideAScopeIsAnIssue() {
        withKnownIssue {
            let dir = temporaryDirectory("unscoped")
            TemporaryFiles.remove(dir)
        }
    }
}
#endif
