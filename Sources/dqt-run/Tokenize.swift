// dqt-run MODEL --tokenize -p TEXT | -f FILE: the prompt's token ids, comma-separated on one
// line, exactly as generation would feed them (the tokenizer's template and the model's BOS,
// unless --no-bos) — the format --tokens reads. Like llama.cpp's llama-tokenize: it checks a
// conversion without running the model, so only the file's spec and tokenizer are loaded.
import DQTFormat
import DQTModel
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func runTokenize(_ args: Arguments, text: String) -> Never {
    let ids: [Int32]
    do {
        // A reader like any other (formats/dqt-tune.md §7): wait for a committing tuner, roll
        // back a hot journal, then read.
        let (lock, _) = try ModelLock.forReading(path: args.model, wait: LockWait(timeout: args.lockWait, onWait: {
            writeOut(2, "dqt-run: waiting: \($0)\n")
        }))
        defer { lock.unlock() }
        let file = try DQTFile(path: args.model, options: LoadOptions(verifyChecksums: args.verify))
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(payload: file.tokenizerPayload) } catch let e as TokenizerError {
            throw RuntimeError.tokenizerPayload(path: args.model, e)
        }
        ids = DQTModel.encode(text, tokenizer: tokenizer, spec: file.spec, addSpecial: args.addBos)
        withExtendedLifetime(file) {}
    } catch {
        fail("\(error)")
    }
    writeOut(1, ids.map { String($0) }.joined(separator: ",") + "\n")
    exit(0)
}
