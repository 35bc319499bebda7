// `#expect(throws: E.self) { ... }` returns the caught error only from swift-testing 6.1 on;
// Swift 6.0's (Debian 13's swiftlang, which tools/cross-aarch64.sh builds the board's test suite
// with) returns nothing. `expectThrows` is the same check returning the error on both.
import Testing

/// Runs `body`; records an issue when it returns or throws something other than an `E`.
/// Returns the `E` it threw, or nil.
public func expectThrows<E: Error>(_ errorType: E.Type, sourceLocation: SourceLocation = #_sourceLocation,
                                   _ body: () throws -> Void) -> E? {
    do {
        try body()
        Issue.record("expected an error of type \(E.self), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as E {
        return e
    } catch {
        Issue.record("expected an error of type \(E.self), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
