import DQTFormat
import DQTImport
import DQTKernels
import DQTModel
import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing

/// dqt-run as a user runs it: the built binary (it sits next to the test bundle in the build
/// products directory) on a converted fixture. Checks streamed stdout against the library's own
/// generation, the --stats lines, zero allocations in the token loop under an LD_PRELOADed
/// malloc counter (tools/alloc_counter.c, compiled here with cc), the peak-RSS bound, and that
/// the binary links no Foundation library.
@Suite(.serialized, .temporaryFiles) struct CLITests {
    static let dqtRun = buildProducts + "/dqt-run"
    /// Converted once for the suite; removed when the test process exits.
    static let model: String = try! convertFixture("dqt-ternary", options: ConvertOptions(pack: .speed, embed: .f16),
                                                   in: sharedTemporaryDirectory("dqt-cli"))

    static func run(_ args: [String], env: [String: String] = [:], executable: String = dqtRun) throws -> ProcessOutput {
        try runProcess(executable, args, env: env)
    }

    /// Compiles a C file into a shared object for LD_PRELOAD.
    static func preload(_ source: String, name: String) throws -> String {
        let so = tempPath(name + ".so")
        let r = try run(["-shared", "-fPIC", "-O2", "-o", so, source, "-ldl"], executable: "/usr/bin/cc")
        #expect(r.status == 0, "cc \(source): \(r.stderr)")
        return so
    }

    /// An interposer that counts write(2) calls on stdout and reports them at exit.
    static let writeCounterSource = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdio.h>
        #include <unistd.h>
        static long writes;
        static ssize_t (*real_write)(int, const void *, size_t);
        ssize_t write(int fd, const void *b, size_t n) {
            if (!real_write) real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
            if (fd == 1) writes++;
            return real_write(fd, b, n);
        }
        __attribute__((destructor)) static void report(void) {
            char s[64];
            int k = snprintf(s, sizeof s, "stdout writes: %ld\\n", writes);
            if (!real_write) real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
            real_write(2, s, (size_t)k);
        }
        """

    func requireBinary() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.dqtRun),
                     "\(Self.dqtRun) is missing: build it (swift build --build-tests builds every product)")
    }

    /// Lines of stderr that start with `prefix`.
    func lines(_ text: String, _ prefix: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    @Test func streamsThePromptThenEachToken() throws {
        try requireBinary()
        let n = 12
        // The library's generation, decoded token by token exactly as the CLI streams it.
        let lib = try DQTModel(path: Self.model, options: RuntimeOptions(threads: 1))
        let prompt = lib.encode("The")
        var tokens: [Int32] = []
        try lib.generate(prompt: prompt, maxTokens: n, sampler: .greedy, stopAtEnd: false) { tokens.append($0); return true }
        var decoder = StreamingDecoder(lib.tokenizer, atSequenceStart: false)
        let buf = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: decoder.requiredCapacity)
        defer { buf.deallocate() }
        var expected = Data("The".utf8)
        var writes = 2   // the prompt echo and the final newline
        for t in tokens {
            let k = decoder.decode(t, into: buf)
            if k > 0 { writes += 1; expected.append(buf.baseAddress!, count: k) }
        }
        let tail = decoder.finish(into: buf)
        if tail > 0 { writes += 1; expected.append(buf.baseAddress!, count: tail) }
        expected.append(contentsOf: [0x0A])

        let src = tempPath("write_counter.c")
        try Self.writeCounterSource.write(toFile: src, atomically: true, encoding: .utf8)
        let so = try Self.preload(src, name: "write_counter")
        for threads in ["1", "2"] {
            let r = try Self.run([Self.model, "The", "-n", String(n), "--temp", "0", "--ignore-eos", "-t", threads],
                                 env: ["LD_PRELOAD": so])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == String(decoding: expected, as: UTF8.self), "threads \(threads)")
            // One write per token that completes characters: streamed, not buffered to the end.
            #expect(lines(r.stderr, "stdout writes: ") == ["stdout writes: \(writes)"], "threads \(threads): \(r.stderr)")
        }
    }

    @Test func statsLines() throws {
        try requireBinary()
        let r = try Self.run([Self.model, "The", "-n", "5", "--temp", "0", "--ignore-eos", "-t", "2", "--stats"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(lines(r.stderr, "load: ").count == 1)
        #expect(lines(r.stderr, "load: ").first?.contains("2 threads") == true)
        #expect(lines(r.stderr, "prompt: ").first?.contains(" tokens in ") == true)
        #expect(lines(r.stderr, "generation: 5 tokens in ").count == 1, "\(r.stderr)")
        #expect(lines(r.stderr, "peak RSS: ").count == 1)
        #expect(lines(r.stderr, "memory: model pages touched ").count == 1, "\(r.stderr)")
        // Without the interposer there is no allocation count to report.
        #expect(lines(r.stderr, "allocations in token loop").isEmpty)
        #expect(lines(r.stderr, "isa: \(Kernels.isa) (detected \(Kernels.detectedISA))").count == 1, "\(r.stderr)")
    }

    /// --isa and DQT_ISA pick the kernel path; --stats names it; a path this CPU lacks or an
    /// unknown name is refused with the list of paths it runs; every path prints the same tokens.
    @Test func kernelPathOverride() throws {
        try requireBinary()
        let args = [Self.model, "--tokens", "1,2,3", "-n", "4", "--temp", "0", "--ignore-eos", "-t", "1", "--stats"]
        var outputs: Set<String> = []
        for isa in Kernels.supportedISAs {
            for (extra, env) in [(["--isa", isa.description], [String: String]()), ([], ["DQT_ISA": isa.description])] {
                let r = try Self.run(args + extra, env: env)
                #expect(r.status == 0, "\(r.stderr)")
                #expect(lines(r.stderr, "isa: \(isa) (detected \(Kernels.detectedISA))").count == 1, "\(isa): \(r.stderr)")
                outputs.insert(r.stdout)
            }
        }
        #expect(outputs.count == 1, "kernel paths generate different tokens: \(outputs)")
        let supported = Kernels.supportedISAs.map(\.description).joined(separator: ", ")
        let missing = KernelISA.allCases.first { !$0.isSupported }
        if let missing {
            let r = try Self.run(args + ["--isa", missing.description])
            #expect(r.status == 2)
            #expect(r.stderr == "dqt-run: error: --isa: this CPU cannot run the \(missing) kernels (it runs: \(supported))\n")
            let e = try Self.run(args, env: ["DQT_ISA": missing.description])
            #expect(e.status == 1)
            #expect(e.stderr == "dqt-run: error: DQT_ISA: this CPU cannot run the \(missing) kernels (it runs: \(supported))\n")
        }
        let u = try Self.run(args + ["--isa", "avx3"])
        #expect(u.status == 2)
        #expect(u.stderr.hasPrefix("dqt-run: error: --isa: unknown kernel path \"avx3\""), "\(u.stderr)")
        let v = try Self.run(args, env: ["DQT_ISA": "avx3"])
        #expect(v.status == 1)
        #expect(v.stderr.hasPrefix("dqt-run: error: DQT_ISA: unknown kernel path \"avx3\""), "\(v.stderr)")
    }

    /// True under qemu user-mode emulation (set by tools/cross-aarch64.sh test).
    static let emulated = ProcessInfo.processInfo.environment["DQT_EMULATED"] != nil

    /// True when this test binary (and so the dqt-run built with it) carries ASan or TSan.
    static let underSanitizer: Bool = {
        let me = dlopen(nil, RTLD_NOW)
        return dlsym(me, "__asan_init") != nil || dlsym(me, "__tsan_init") != nil
    }()

    @Test(arguments: [8, 64])
    func tokenLoopAllocatesNothing(tokens: Int) throws {
        try requireBinary()
        let so = try Self.preload(repoRoot + "/tools/alloc_counter.c", name: "alloc_counter")
        for threads in ["1", "2"] {
            let r = try Self.run([Self.model, "--tokens", "1,2,3", "-n", String(tokens), "--temp", "0", "--ignore-eos",
                                  "-t", threads, "--stats"], env: ["LD_PRELOAD": so])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(lines(r.stderr, "generation: \(tokens) tokens in ").count == 1, "\(r.stderr)")
            #expect(lines(r.stderr, "allocations in token loop: ") == ["allocations in token loop: 0"], "threads \(threads): \(r.stderr)")
            // Peak RSS ≤ model pages touched + LZ4 arena + KV cache pages written + 16 MiB. Not under
            // a sanitizer: its shadow memory and allocator are part of the RSS (ASan: 25-28 MiB). Not
            // under qemu user-mode emulation (tools/cross-aarch64.sh sets DQT_EMULATED): the RSS is
            // qemu's process, its translation cache included (aarch64 under qemu: other 28-31 MiB).
            let mem = try #require(lines(r.stderr, "memory: ").first)
            let other = try #require(mem.components(separatedBy: "other ").last?.split(separator: " ").first.flatMap { Double($0) })
            if Self.underSanitizer || Self.emulated {
                print("RSS bound not checked under a sanitizer or emulation: \(mem)")
            } else {
                #expect(other <= 16, "\(mem)")
            }
        }
    }

    @Test func linksNoFoundation() throws {
        try requireBinary()
        let r = try Self.run([Self.dqtRun], executable: "/usr/bin/ldd")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("libc.so"), "ldd output: \(r.stdout)")
        #expect(!r.stdout.contains("Foundation"), "dqt-run links Foundation:\n\(r.stdout)")
    }
}

extension CLITests {
    /// A copy of the model with the final norm's gain multiplied by `factor` (checksums and the
    /// header rewritten as a tuning commit would): logits grow by that factor, so the model is
    /// very sure and mostly wrong.
    static func sharpened(_ factor: Float) throws -> String {
        let path = tempPath("sharp-\(Int(factor)).dqt")
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: model, toPath: path)
        let f = try DQTFile(path: path, options: LoadOptions(writable: true))
        let r = try #require(f.tensorRecord(named: "final_norm"))
        let s = Int(r.section), e = f.sections[s]
        let bytes = f.mapping.mutableBytes
        let gain = UnsafeMutableRawPointer(bytes.baseAddress! + Int(e.offset)).assumingMemoryBound(to: Float.self)
        for i in 0..<Int(e.storedSize) / 4 { gain[i] *= factor }
        let sum = xxh64(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[Int(e.offset)..<Int(e.offset + e.storedSize)]))
        Header.rewrite(block: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<Int(f.header.headerBlockSize)]),
                       sectionChecksums: [(s, sum)], commit: f.header.commit)
        try f.mapping.sync(offset: 0, count: f.mapping.size)
        return path
    }

    /// --perplexity prints any loss: a perplexity beyond Int.max (loss > 43.7 nats) and beyond
    /// Double's range (inf) once crashed the number formatter.
    @Test(arguments: [Float(60), 2000])
    func perplexityOfAConfidentlyWrongModel(factor: Float) throws {
        try requireBinary()
        let m = try Self.sharpened(factor)
        let text = tempPath("ppl.txt")
        try String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 20).write(toFile: text, atomically: true, encoding: .utf8)
        let r = try Self.run([m, "--perplexity", text, "-c", "32", "--stats"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first { $0.contains("perplexity") })
        let loss = try #require(Double(line.components(separatedBy: "loss ").last!.split(separator: " ").first!))
        #expect(loss > 43.7, "the model is not wrong enough to test the formatter: \(line)")
        let ppl = line.components(separatedBy: "perplexity ").last!
        #expect(ppl == "inf" || Double(ppl).map { $0 > 9.2e18 } == true, "\(line)")
    }

    /// --tokenize prints the ids generation would be fed (the library's encode, BOS included
    /// unless --no-bos) in the format --tokens reads, from -p and from -f alike; and feeding them
    /// back with --tokens generates the same text as the prompt.
    @Test func tokenizePrintsTheFedIds() throws {
        try requireBinary()
        let lib = try DQTModel(path: Self.model, options: RuntimeOptions(threads: 1))
        let text = "The ﬁrst  line\tand ＣＡＳＥ\n"
        let want = lib.encode(text).map(String.init).joined(separator: ",")
        let wantNoBos = lib.encode(text, addSpecial: false).map(String.init).joined(separator: ",")
        let r = try Self.run([Self.model, "--tokenize", "-p", text])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == want + "\n")
        let file = tempPath("tokenize-prompt.txt")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let f = try Self.run([Self.model, "--tokenize", "-f", file, "--no-bos"])
        #expect(f.status == 0 && f.stdout == wantNoBos + "\n", "\(f.stderr)")
        let a = try Self.run([Self.model, "-p", text, "-n", "4", "--temp", "0", "--ignore-eos", "-t", "1"])
        let b = try Self.run([Self.model, "--tokens", want, "-n", "4", "--temp", "0", "--ignore-eos", "-t", "1"])
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout.hasPrefix(text) && String(a.stdout.dropFirst(text.count)) == b.stdout, "\(a.stdout) vs \(b.stdout)")
        let bad = try Self.run([Self.model, "--tokenize", "--tokens", "1,2"])
        #expect(bad.status == 2 && bad.stderr.contains("--tokenize"))
    }
}
