// The per-token decode path performs no heap allocation.
//
// How: the test compiles a tiny malloc interposer (counting malloc/calloc/realloc/memalign per
// thread) with the system C compiler, re-runs this test binary with LD_PRELOAD and only this
// test selected, and the child counts allocations around a loop of `StreamingDecoder.decode`
// calls over real corpus tokens for five tokenizers (byte-level, SentencePiece BPE, Unigram). The child prints the count; the
// parent requires it to be zero.

import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let interposerC = """
    #define _GNU_SOURCE
    #include <stddef.h>
    #include <errno.h>
    extern void *__libc_malloc(size_t);
    extern void *__libc_calloc(size_t, size_t);
    extern void *__libc_realloc(void *, size_t);
    extern void *__libc_memalign(size_t, size_t);
    static __thread long tcount __attribute__((tls_model("initial-exec")));
    void *malloc(size_t n) { tcount++; return __libc_malloc(n); }
    void *calloc(size_t a, size_t b) { tcount++; return __libc_calloc(a, b); }
    void *realloc(void *p, size_t n) { tcount++; return __libc_realloc(p, n); }
    void *memalign(size_t a, size_t n) { tcount++; return __libc_memalign(a, n); }
    void *aligned_alloc(size_t a, size_t n) { tcount++; return __libc_memalign(a, n); }
    int posix_memalign(void **p, size_t a, size_t n) {
        tcount++; void *r = __libc_memalign(a, n); if (!r) return ENOMEM; *p = r; return 0;
    }
    long dqt_thread_alloc_count(void) { return tcount; }
    """

@Suite(.temporaryFiles) struct DecodeAllocationTests {
    typealias CountFn = @convention(c) () -> Int

    static func preloadedCounter() -> CountFn? {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "dqt_thread_alloc_count") else { return nil }
        return unsafeBitCast(sym, to: CountFn.self)
    }

    @Test func perTokenDecodeDoesNotAllocate() throws {
        if let count = Self.preloadedCounter() {
            try measureInChild(count)
            return
        }
        let dir = temporaryDirectory("dqt-alloc")
        try interposerC.write(toFile: dir + "/counter.c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-shared", "-fPIC", "-O2", "-o", dir + "/counter.so", dir + "/counter.c"]
        try cc.run(); cc.waitUntilExit()
        try #require(cc.terminationStatus == 0, "could not compile the malloc interposer with cc")

        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["--testing-library", "swift-testing", "--filter", "DecodeAllocationTests"]
        var env = ProcessInfo.processInfo.environment
        env["LD_PRELOAD"] = dir + "/counter.so"
        child.environment = env
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        try child.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("DQT_ALLOC") }
        #expect(child.terminationStatus == 0, "child failed:\n\(output.suffix(3000))")
        #expect(lines.count == 5, "child output:\n\(output.suffix(3000))")
        for l in lines { #expect(l.contains("allocations=0 "), "\(l)") }
        print(lines.joined(separator: "\n"))
    }

    private func measureInChild(_ count: CountFn) throws {
        let docs = ["multilingual", "emoji_and_marks", "special_tokens", "whitespace", "random_scripts"]
        for name in ["gpt2-real", "llama3-style", "sentencepiece-bpe", "spm-nfkc-unigram", "hf-t5-precompiled"] {
            let t = try loadFixtureTokenizer(name)
            var ids: [Int32] = []
            for d in docs {
                let text = try String(contentsOfFile: fixturesDir + "/corpus/\(d).txt", encoding: .utf8)
                ids += t.tokenizer.encode(text)
            }
            ids += [-1, Int32(t.tokenizer.vocabSize), 1 << 30]   // out-of-range ids too
            var dec = StreamingDecoder(t.tokenizer, includeSpecial: false, atSequenceStart: true)
            let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
            defer { out.deallocate() }
            var written = 0
            // Counted from the very first decode call of the process. Plain while loops: a for-in
            // over a buffer goes through generic iterator code that an unoptimized build
            // instantiates lazily (3 allocations on first use, in the test, not in the decoder).
            let allocs = ids.withUnsafeBufferPointer { idBuf -> Int in
                let before = count()
                var k = 0
                while k < idBuf.count { written &+= dec.decode(idBuf[k], into: out); k += 1 }
                dec.includeSpecial = true
                k = 0
                while k < idBuf.count { written &+= dec.decode(idBuf[k], into: out); k += 1 }
                written &+= dec.finish(into: out)
                dec.reset(atSequenceStart: true)
                return count() - before
            }
            print("DQT_ALLOC \(name): tokens=\(2 * ids.count) allocations=\(allocs) bytes=\(written)")
            #expect(allocs == 0, "\(name): \(allocs) allocations in \(2 * ids.count) decode calls")
        }
    }
}
