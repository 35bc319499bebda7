// The fuzz regression corpus (tools/fuzz/regressions/TARGET/, expectations in expected.tsv,
// written by tools/fuzz/make_regressions.py): each input with the outcome its parser must give.
import Foundation
import Testing

/// One committed input of a fuzz target and what the parser must make of it.
public struct FuzzRegression: CustomStringConvertible, Sendable {
    public enum Outcome: Equatable, Sendable {
        case accepted
        /// kind: the DQTFormatError kind (nil for error types without one); offset: nil when
        /// the error names none.
        case error(kind: String?, field: String, offset: UInt64?)
    }
    public var target: String
    public var file: String
    public var path: String
    public var outcome: Outcome
    public var description: String { target + "/" + file }
}

public let fuzzRegressionsDir = repoRoot + "/tools/fuzz/regressions"

/// The regressions of `target`. Records an issue when the folder is empty or missing, or when a
/// file and the expectations do not name each other (so a new crasher without an expectation,
/// or an expectation whose file went missing, fails the suite).
public func fuzzRegressions(_ target: String, sourceLocation: SourceLocation = #_sourceLocation) -> [FuzzRegression] {
    let dir = fuzzRegressionsDir + "/" + target
    let files = Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
    var out: [FuzzRegression] = []
    let table = (try? String(contentsOfFile: fuzzRegressionsDir + "/expected.tsv", encoding: .utf8)) ?? ""
    for line in table.split(separator: "\n") where !line.hasPrefix("#") {
        let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard c.count >= 3, c[0] == target else { continue }
        let outcome: FuzzRegression.Outcome
        switch c[2] {
        case "accepted":
            outcome = .accepted
        case "error" where c.count == 6:
            outcome = .error(kind: c[3] == "-" ? nil : c[3], field: c[4], offset: c[5] == "-" ? nil : UInt64(c[5]))
        default:
            Issue.record("expected.tsv: cannot read \(line)", sourceLocation: sourceLocation)
            continue
        }
        if !files.contains(c[1]) { Issue.record("expected.tsv names \(target)/\(c[1]), which is missing", sourceLocation: sourceLocation) }
        out.append(FuzzRegression(target: target, file: c[1], path: dir + "/" + c[1], outcome: outcome))
    }
    for f in files.sorted() where !out.contains(where: { $0.file == f }) {
        Issue.record("\(target)/\(f) has no line in expected.tsv", sourceLocation: sourceLocation)
    }
    #expect(!out.isEmpty, "no regressions for the fuzz target \(target) in \(dir)", sourceLocation: sourceLocation)
    return out.sorted { $0.file < $1.file }
}

/// The bytes of a regression input.
public func regressionBytes(_ r: FuzzRegression) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: r.path) ?? Data())
}

/// Replays the regressions of `target`: `run` feeds one input to its parser (returning means
/// accepted); `outcome` turns the parser's error on that input into an outcome (nil: an error of
/// an unexpected type, itself a failure). Each outcome must equal the expected one.
public func replayRegressions(_ target: String, sourceLocation: SourceLocation = #_sourceLocation,
                              _ run: (FuzzRegression) throws -> Void,
                              outcome: (FuzzRegression, any Error) -> FuzzRegression.Outcome?) {
    for r in fuzzRegressions(target, sourceLocation: sourceLocation) {
        let got: FuzzRegression.Outcome?
        var said = "accepted"
        do {
            try run(r)
            got = .accepted
        } catch {
            got = outcome(r, error)
            said = "\(error)"
        }
        #expect(got == r.outcome, "\(r): \(said)", sourceLocation: sourceLocation)
    }
}
