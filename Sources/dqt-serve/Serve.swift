// dqt-serve MODEL.dqt — an OpenAI-compatible HTTP server for a .dqt model.
//   POST /v1/chat/completions, POST /v1/completions (stream: server-sent events ending in
//   `data: [DONE]`), GET /v1/models, GET /health. Loopback by default.
import ArgumentParser
import DQTChat
import DQTModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dqt-serve",
        abstract: "Serve a .dqt model over an OpenAI-compatible HTTP API.",
        discussion: """
        Examples:
          dqt-serve model.dqt                                  (http://127.0.0.1:8080)
          dqt-serve model.dqt --slots 2 --threads 1 --api-key secret
          curl http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \\
               -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":32}'
        Each slot is one model instance over the shared mapping with its own KV cache; requests beyond
        the slots wait in a queue of --queue entries, and get 503 when it is full. A slot keeps its KV
        cache between requests and re-feeds only what differs from the previous prompt.
        """)

    @Argument(help: "The .dqt model file.")
    var model: String

    @Option(help: "Address to bind (loopback by default; 0.0.0.0 exposes the server to the network).")
    var host = "127.0.0.1"

    @Option(help: "TCP port (0 = any free port, printed at start).")
    var port = 8080

    @Option(help: "Concurrent generations, each with its own KV cache.")
    var slots = 1

    @Option(name: [.customShort("t"), .long], help: "Threads per slot (default: online CPUs / slots, at least 1).")
    var threads: Int?

    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Context length of each slot (default: model max, at most 2048).")
    var context = 0

    @Option(help: "Requests that may wait for a slot before the server answers 503.")
    var queue = 8

    @Option(help: "Largest accepted request body in bytes (413 above).")
    var maxBodyBytes = 1 << 20

    @Option(help: "Require 'Authorization: Bearer KEY' on /v1/*.")
    var apiKey: String?

    @Option(help: "Chat template: a built-in name or a Jinja file (default: the one in the model).")
    var chatTemplate: String?

    @Option(help: "Model id reported by /v1/models (default: the file name).")
    var alias: String?

    @Option(help: "KV cache elements: f32 (exact) or f16 (half the memory).")
    var kvCache = "f32"

    @Flag(help: "Skip checksum verification at load.")
    var noVerify = false

    @Flag(help: "No log lines on stderr.")
    var quiet = false

    func validate() throws {
        guard (1...64).contains(slots) else { throw ValidationError("--slots takes 1…64") }
        guard (0...65535).contains(port) else { throw ValidationError("--port takes 0…65535") }
        guard (0...100_000).contains(queue) else { throw ValidationError("--queue takes 0…100000") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let threads { guard (1...256).contains(threads) else { throw ValidationError("--threads takes 1…256") } }
        guard KVCacheType(rawValue: kvCache) != nil else { throw ValidationError("--kv-cache takes f32 or f16") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let perSlot = threads ?? max(1, online / slots)
        let options = RuntimeOptions(contextLength: context, threads: perSlot, verifyChecksums: !noVerify,
                                     kvCache: KVCacheType(rawValue: kvCache)!)
        let engine: Engine
        do {
            engine = try Engine(path: model, slots: slots, options: options, chatTemplate: chatTemplate, maxQueue: queue, quiet: quiet)
        } catch {
            writeErr("dqt-serve: error: \(error)\n")
            throw ExitCode(1)
        }
        let base = model.split(separator: "/").last.map(String.init) ?? model
        let id = alias ?? (base.hasSuffix(".dqt") ? String(base.dropLast(4)) : base)
        let m = engine.slots[0].model
        engine.log("\(model): \(m.spec.layers) layers, vocab \(m.spec.vocabSize), context \(m.contextLength) per slot, \(perSlot) thread(s) per slot, chat template \(m.chat?.name ?? "none")")
        engine.start()
        let config = ServerConfig(host: host, port: port, apiKey: apiKey, maxBodyBytes: maxBodyBytes, modelID: id)
        do {
            try runServer(config: config, engine: engine) { engine.log($0) }
        } catch {
            writeErr("dqt-serve: error: cannot listen on \(host):\(port): \(error)\n")
            throw ExitCode(1)
        }
    }
}

func writeErr(_ s: String) {
    var s = s
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
