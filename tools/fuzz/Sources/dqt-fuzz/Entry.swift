// libFuzzer entry points. The target is chosen once, by the environment:
//     DQT_FUZZ_TARGET=dqt ./dqt-fuzz corpus/dqt -runs=1000000
// DQT_FUZZ_MAKE_SEEDS=DIR writes the seed corpus (DIR/TARGET/…) and exits.
#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget: String, CaseIterable {
    case dqt
    case safetensors
    case gguf
    case tokenizerJSON = "tokenizer-json"
    case tokenizerModel = "tokenizer-model"
    case tokenizerPayload = "tokenizer-payload"
    case lz4
}

nonisolated(unsafe) var selected = FuzzTarget.dqt

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>?,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    if let dir = getenv("DQT_FUZZ_MAKE_SEEDS") {
        do {
            try makeSeeds(into: String(cString: dir))
        } catch {
            eprint("dqt-fuzz: cannot write seeds: \(error)\n")
            exit(1)
        }
        exit(0)
    }
    guard let t = getenv("DQT_FUZZ_TARGET"), let target = FuzzTarget(rawValue: String(cString: t)) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        eprint("dqt-fuzz: set DQT_FUZZ_TARGET to one of: \(names)\n")
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    switch selected {
    case .dqt: fuzzDQT(input)
    case .safetensors: fuzzSafetensors(input)
    case .gguf: fuzzGGUF(input)
    case .tokenizerJSON: fuzzTokenizerImport(input, fileName: "tokenizer.json")
    case .tokenizerModel: fuzzTokenizerImport(input, fileName: "tokenizer.model")
    case .tokenizerPayload: fuzzTokenizerPayload(input)
    case .lz4: fuzzLZ4(input)
    }
    return 0
}
