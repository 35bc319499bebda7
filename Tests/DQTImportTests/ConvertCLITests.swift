// dqt-convert as a user runs it (the built binary next to the tests): help text, argument
// errors (exit 64, ArgumentParser's EX_USAGE, with the usage line), conversion and inspection
// errors (exit 1, "dqt-convert: error:" naming the path, no output file), and that the options
// reach the file (pack, embed, compression, trainable flags).
import DQTFormat
import DQTTestSupport
import Foundation
import Testing

@Suite(.temporaryFiles) struct ConvertCLITests {
    func convert(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutput {
        try runBuiltTool("dqt-convert", args, sourceLocation: sourceLocation)
    }

    @Test func helpNamesEveryOptionAndItsValues() throws {
        let r = try convert(["--help"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.all)")
        for s in ["USAGE: dqt-convert <input> [<output>]", "Convert a Hugging Face checkpoint", "--inspect",
                  "--weights <weights>", "(values: auto, ternary, int8; default: auto)",
                  "--pack <pack>", "(values: speed, size; default:", "--embed <embed>", "(values: f16, int8, f32, bf16;",
                  "--no-compress", "--frozen", "--quiet", "dqt-convert --inspect model.dqt"] {
            #expect(oneLine(r.stdout).contains(s), "help lacks \(s.debugDescription)")
        }
    }

    /// Wrong arguments: exit 64 and a message that says what is wrong, before any work.
    @Test(arguments: [
        ([], "Missing expected argument '<input>'"),
        (["ckpt"], "missing the output .dqt path"),
        (["--inspect", "a.dqt", "b.dqt"], "--inspect takes one .dqt file"),
        (["ckpt", "out.dqt", "--pack", "fast"], "The value 'fast' is invalid for '--pack <pack>'"),
        (["ckpt", "out.dqt", "--embed", "q4"], "The value 'q4' is invalid for '--embed <embed>'"),
        (["ckpt", "out.dqt", "--weights", "int4"], "The value 'int4' is invalid for '--weights <weights>'"),
        (["ckpt", "out.dqt", "--bogus"], "Unknown option '--bogus'"),
        (["ckpt", "out.dqt", "extra"], "Unexpected argument 'extra'"),
    ])
    func argumentErrorsExit64(_ args: [String], _ message: String) throws {
        let dir = temporaryDirectory()
        let r = try convert(args.map { $0.hasSuffix(".dqt") ? dir + "/" + $0 : $0 })
        #expect(r.status == 64, "\(args): \(r.all)")
        #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        #expect(r.stderr.contains("Usage: dqt-convert") || r.stderr.contains("USAGE: dqt-convert"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "\(args) wrote \(dir)")
    }

    /// A checkpoint that cannot be converted: exit 1, one error line naming it, nothing written.
    @Test func conversionErrorsExit1AndWriteNothing() throws {
        let dir = temporaryDirectory()
        let missing = dir + "/no-such-checkpoint", out = dir + "/m.dqt"
        let r = try convert([missing, out])
        #expect(r.status == 1, "\(r.all)")
        #expect(r.stderr.hasPrefix("dqt-convert: error: ") && r.stderr.contains(missing), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)

        let notDQT = dir + "/config.json"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: notDQT))
        let i = try convert(["--inspect", notDQT])
        #expect(i.status == 1 && i.stderr.hasPrefix("dqt-convert: error: ") && i.stderr.contains(notDQT), "\(i.all)")
    }

    /// The defaults (t2, f16 embedding, LZ4 where it pays, trainable) and the opposite options
    /// (--pack size --embed int8 --no-compress --frozen) show in the written file; --quiet
    /// silences progress; --inspect describes the result.
    @Test func optionsReachTheFile() throws {
        let dir = temporaryDirectory()
        let plain = dir + "/plain.dqt", other = dir + "/other.dqt"
        let a = try convert([fixtureDir("dqt-ternary"), plain])
        #expect(a.status == 0 && a.stdout.isEmpty && !a.stderr.isEmpty, "progress goes to stderr: \(a.all)")
        let b = try convert([fixtureDir("dqt-ternary"), other, "--pack", "size", "--embed", "int8", "--no-compress", "--frozen", "--quiet"])
        #expect(b.status == 0 && b.all.isEmpty, "--quiet prints nothing without warnings: \(b.all)")

        let f = try DQTFile(path: plain), g = try DQTFile(path: other)
        func encoding(_ f: DQTFile, _ name: String) -> TensorEncoding? { f.tensorRecord(named: name)?.encoding }
        #expect(encoding(f, "layers.0.q_proj") == .t2 && encoding(g, "layers.0.q_proj") == .t1)
        #expect(encoding(f, "embed") == .f16 && encoding(g, "embed") == .i8r)
        #expect(f.sections.contains { $0.codec == .lz4 } && !g.sections.contains { $0.codec == .lz4 })
        #expect(f.tensors.contains { $0.trainable } && !g.tensors.contains { $0.trainable })

        let i = try convert(["--inspect", plain])
        #expect(i.status == 0 && i.stderr.isEmpty, "\(i.all)")
        #expect(i.stdout.contains("file: \(plain)") && i.stdout.contains("sections:") && i.stdout.contains("tensors:"), "\(i.stdout)")
    }
}
