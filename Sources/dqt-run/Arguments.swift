// Command-line flags of dqt-run, parsed by hand: swift-argument-parser links
// FoundationEssentials, and the runtime path stays Foundation-free. Flag names follow
// llama.cpp's where they mean the same thing.
import DQTModel
import DQTKernels

struct Arguments {
    var model = ""
    var prompt: String?
    var promptFile: String?
    var promptTokens: [Int32]?
    var maxTokens = 128
    var context = 0
    var threads = 0
    var batch = 32
    var sampler = SamplerSettings()
    var stats = false
    var verify = true
    var addBos = true
    var ignoreEOS = false
    var kvCache = KVCacheType.f32
    var isa: KernelISA?
    var perplexityFile: String?
    /// Print the prompt's token ids instead of generating.
    var tokenize = false
    var lockWait: Double = 600
    var help = false
    var chat = false
    var chatTemplate: String?
    var system: String?

    static let usage = """
    usage: dqt-run MODEL.dqt [PROMPT] [options]
           dqt-run MODEL.dqt --chat [--system TEXT] [options]      (interactive chat on stdin)

    Generate text with a ternary (or 8-bit) model, streaming tokens to stdout.

    options:
      -p, --prompt TEXT         prompt (or give it after the model path)
      -f, --file FILE           read the prompt from FILE
          --tokens IDS          prompt as comma-separated token ids (no tokenizer)
          --tokenize            print the prompt's token ids, comma-separated, as they would be fed
                                (BOS included unless --no-bos; the format --tokens reads), and exit
      -n, --n-predict N         tokens to generate (default 128)
      -c, --ctx-size N          context length (default: model max, at most 2048)
      -t, --threads N           threads (default: all online CPUs)
      -b, --batch-size N        prompt tokens per batch (default 32)
          --temp T              temperature; 0 = greedy (default 0.8)
          --top-k N             top-k sampling, 0 = off (default 40)
          --top-p P             top-p sampling, 1 = off (default 0.95)
          --repeat-penalty P    penalize repeated tokens, 1 = off (default 1.0)
          --repeat-last-n N     window for the repeat penalty (default 64)
      -s, --seed N              random seed (default 0)
          --no-bos              do not prepend the BOS token
          --ignore-eos          keep generating past end-of-sequence tokens (benchmarks)
          --kv-cache TYPE       KV cache elements: f32 (default, exact) or f16 (half the memory)
          --isa NAME            kernel path: portable, avx2, avx512-vnni, neon, neon-dotprod
                                (default: the environment variable DQT_ISA, else the best this CPU runs;
                                a path this CPU lacks is an error)
          --perplexity FILE     print the loss and perplexity of FILE's text instead of generating
          --tokenize            print the prompt's token ids (comma-separated, as --tokens takes them) and exit
          --chat, -cnv          chat: read user turns from stdin (a line each; end a line with \\ to continue it),
                                stream the answers; /reset forgets the conversation, EOF or /exit ends;
                                Ctrl-C stops an answer (at the prompt: exits). With -p, TEXT is the first turn.
          --system TEXT         system message of the chat
          --chat-template T     chat template: a built-in name (chatml, llama3, bitnet, llama2, mistral, gemma,
                                phi3) or a Jinja file; default: the one stored in the model
          --stats               print the kernel path, load time, prompt and generation speed, peak RSS to stderr
          --no-verify           skip checksum verification at load
          --wait SECONDS        while dqt-tune commits to the model, wait at most this long (default 600)
      -h, --help                this text
    """

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ argv: [String]) throws -> Arguments {
        var a = Arguments()
        var positionals: [String] = []
        var i = 0
        func value(_ flag: String) throws -> String {
            i += 1
            guard i < argv.count else { throw Problem(description: "\(flag) needs a value") }
            return argv[i]
        }
        func int(_ flag: String, _ range: ClosedRange<Int>) throws -> Int {
            let v = try value(flag)
            guard let n = Int(v), range.contains(n) else {
                throw Problem(description: "\(flag) takes an integer in \(range.lowerBound)…\(range.upperBound), got \"\(v)\"")
            }
            return n
        }
        func float(_ flag: String, _ range: ClosedRange<Float>) throws -> Float {
            let v = try value(flag)
            guard let x = Float(v), range.contains(x) else {
                throw Problem(description: "\(flag) takes a number in \(range.lowerBound)…\(range.upperBound), got \"\(v)\"")
            }
            return x
        }
        while i < argv.count {
            let arg = argv[i]
            switch arg {
            case "-h", "--help": a.help = true
            case "-m", "--model": a.model = try value(arg)
            case "-p", "--prompt": a.prompt = try value(arg)
            case "-f", "--file": a.promptFile = try value(arg)
            case "--tokens":
                let v = try value(arg)
                var ids: [Int32] = []
                for part in v.split(separator: ",") {
                    guard let id = Int32(part.trimmingSpaces), id >= 0 else {
                        throw Problem(description: "--tokens takes comma-separated non-negative ids, got \"\(part)\"")
                    }
                    ids.append(id)
                }
                a.promptTokens = ids
            case "-n", "--n-predict": a.maxTokens = try int(arg, 0...1_000_000)
            case "-c", "--ctx-size": a.context = try int(arg, 1...1 << 20)
            case "-t", "--threads": a.threads = try int(arg, 1...256)
            case "-b", "--batch-size": a.batch = try int(arg, 1...512)
            case "--temp": a.sampler.temperature = try float(arg, 0...100)
            case "--top-k": a.sampler.topK = try int(arg, 0...1 << 24)
            case "--top-p": a.sampler.topP = try float(arg, 0...1)
            case "--repeat-penalty": a.sampler.repeatPenalty = try float(arg, 0.01...100)
            case "--repeat-last-n": a.sampler.repeatLastN = try int(arg, 0...64)
            case "-s", "--seed":
                let v = try value(arg)
                guard let s = UInt64(v) else { throw Problem(description: "--seed takes a non-negative integer, got \"\(v)\"") }
                a.sampler.seed = s
            case "--no-bos": a.addBos = false
            case "--ignore-eos": a.ignoreEOS = true
            case "--kv-cache":
                let v = try value(arg)
                guard let t = KVCacheType(rawValue: v) else { throw Problem(description: "--kv-cache takes f32 or f16, got \"\(v)\"") }
                a.kvCache = t
            case "--isa":
                let v = try value(arg)
                do { a.isa = try Kernels.isa(named: v, source: "--isa") } catch { throw Problem(description: error.description) }
            case "--perplexity": a.perplexityFile = try value(arg)
            case "--chat", "-cnv", "--conversation": a.chat = true
            case "--tokenize": a.tokenize = true
            case "--chat-template": a.chatTemplate = try value(arg)
            case "--system", "-sys": a.system = try value(arg)
            case "--stats": a.stats = true
            case "--no-verify": a.verify = false
            case "--wait":
                let v = try value(arg)
                guard let s = Double(v), s >= 0, s <= 1e9 else { throw Problem(description: "--wait takes seconds (≥ 0), got \"\(v)\"") }
                a.lockWait = s
            default:
                if arg.hasPrefix("-") && arg.count > 1 { throw Problem(description: "unknown option \(arg) (see --help)") }
                positionals.append(arg)
            }
            i += 1
        }
        if a.help { return a }
        if a.model.isEmpty {
            guard !positionals.isEmpty else { throw Problem(description: "missing the model path (see --help)") }
            a.model = positionals.removeFirst()
        }
        if !positionals.isEmpty {
            guard a.prompt == nil, positionals.count == 1 else {
                throw Problem(description: "unexpected arguments: \(positionals.joined(separator: " ")) (quote the prompt)")
            }
            a.prompt = positionals[0]
        }
        let sources = [a.prompt != nil, a.promptFile != nil, a.promptTokens != nil, a.perplexityFile != nil].filter { $0 }.count
        if a.chat {
            guard a.promptTokens == nil, a.perplexityFile == nil, sources <= 1 else {
                throw Problem(description: "--chat takes at most one first turn (-p TEXT or -f FILE), not --tokens or --perplexity")
            }
            if a.tokenize && sources == 0 { throw Problem(description: "--tokenize --chat needs the user turn (-p TEXT or -f FILE)") }
            return a
        }
        if a.system != nil { throw Problem(description: "--system is for --chat") }
        guard sources == 1 else {
            throw Problem(description: sources == 0 ? "give a prompt (text, -f FILE, --tokens or --perplexity FILE)"
                                                    : "give only one of: prompt text, -f, --tokens, --perplexity")
        }
        if a.tokenize && (a.promptTokens != nil || a.perplexityFile != nil) {
            throw Problem(description: "--tokenize takes prompt text or -f FILE, not --tokens or --perplexity")
        }
        return a
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
