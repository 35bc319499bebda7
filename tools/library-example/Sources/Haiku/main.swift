// Generates a few lines from a .dqt model with the DQTModel library.
//   swift run --package-path tools/library-example Haiku formats/samples/shakespeare.dqt
import DQTModel
import DQTTokenizer
import Foundation

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "formats/samples/shakespeare.dqt"
do {
    let model = try DQTModel(path: path, options: RuntimeOptions(contextLength: 256, threads: 2))
    let prompt = model.encode("To be, or not to be")
    var decoder = StreamingDecoder(model.tokenizer)
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: decoder.requiredCapacity)
    defer { buffer.deallocate() }
    var text: [UInt8] = []
    let n = try model.generate(prompt: prompt, maxTokens: 48, sampler: SamplerSettings(temperature: 0.8, seed: 7)) { token in
        let k = decoder.decode(token, into: buffer)
        text += buffer[0..<k]
        return true
    }
    print("To be, or not to be" + String(decoding: text, as: UTF8.self))
    print("(\(n) tokens; model: \(model.spec.layers) layers, vocab \(model.spec.vocabSize))")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
