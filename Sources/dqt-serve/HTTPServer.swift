// The HTTP side (SwiftNIO, HTTP/1.1): routing, authentication, bounded bodies, OpenAI-shaped
// errors, and the bridge from a slot's thread to the connection (stream chunks are written
// from the slot thread through the channel, which hops to its event loop).
import DQTChat
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct ServerConfig: Sendable {
    var host: String
    var port: Int
    var apiKey: String?
    var maxBodyBytes: Int
    var modelID: String
}

final class HTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let config: ServerConfig
    let engine: Engine
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var tooLarge = false
    /// The job in progress on this connection (cancelled when the connection closes).
    var job: Job?

    init(config: ServerConfig, engine: Engine) {
        self.config = config
        self.engine = engine
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.removeAll(keepingCapacity: false)
            tooLarge = false
            if let len = h.headers.first(name: "content-length").flatMap({ Int($0) }), len > config.maxBodyBytes {
                tooLarge = true
            }
        case .body(let buf):
            guard !tooLarge else { return }
            if body.count + buf.readableBytes > config.maxBodyBytes { tooLarge = true; body = []; return }
            body.append(contentsOf: buf.readableBytesView)
        case .end:
            guard let h = head else { return }
            head = nil
            if tooLarge {
                respond(context: context, APIError(status: 413, message: "the request body is larger than \(config.maxBodyBytes) bytes"), close: true)
                return
            }
            route(context: context, head: h)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        job?.cancel()
        job = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        job?.cancel()
        context.close(promise: nil)
    }

    // MARK: - routing

    func route(context: ChannelHandlerContext, head h: HTTPRequestHead) {
        let path = String(h.uri.split(separator: "?", maxSplits: 1).first ?? "")
        if path == "/health" {
            guard h.method == .GET else { return respond(context: context, APIError(status: 405, message: "use GET")) }
            let s = engine.status
            return respond(context: context, status: .ok, json: "{\"status\":\"ok\",\"slots_idle\":\(s.idle),\"slots\":\(engine.slots.count),\"queued\":\(s.queued),\"served\":\(s.served)}")
        }
        if let key = config.apiKey {
            let auth = h.headers.first(name: "authorization") ?? ""
            guard auth == "Bearer " + key else {
                return respond(context: context, APIError(status: 401, message: "invalid or missing API key (Authorization: Bearer KEY)",
                                                          code: "invalid_api_key"))
            }
        }
        switch path {
        case "/v1/models":
            guard h.method == .GET else { return respond(context: context, APIError(status: 405, message: "use GET")) }
            let v = ChatValue.dict([("object", .string("list")), ("data", .list([.dict([
                ("id", .string(config.modelID)), ("object", .string("model")), ("created", .int(Int(time(nil)))), ("owned_by", .string("dqt")),
            ])]))])
            respond(context: context, status: .ok, json: (try? v.jsonText()) ?? "{}")
        case "/v1/chat/completions", "/v1/completions":
            guard h.method == .POST else { return respond(context: context, APIError(status: 405, message: "use POST")) }
            let kind: GenerationRequest.Kind = path == "/v1/chat/completions" ? .chat : .completion
            let request: GenerationRequest
            do { request = try GenerationRequest.parse(body, kind: kind) } catch let e as APIError {
                return respond(context: context, e)
            } catch {
                return respond(context: context, .bad("\(error)"))
            }
            body = []
            if kind == .chat, engine.slots[0].model.chatTemplate == nil {
                return respond(context: context, .bad("this model has no chat template; start dqt-serve with --chat-template NAME|FILE or use /v1/completions"))
            }
            let sink = ConnectionSink(channel: context.channel, writer: ResponseWriter(
                id: (kind == .chat ? "chatcmpl-" : "cmpl-") + randomID(), created: Int(time(nil)),
                model: request.model.isEmpty ? config.modelID : request.model, kind: kind), includeUsage: request.includeUsage,
                keepAlive: h.isKeepAlive)
            let job = Job(request: request, sink: sink)
            guard engine.submit(job) else {
                return respond(context: context, APIError(status: 503, message: "all \(engine.slots.count) slot(s) are busy and the queue is full; retry later",
                                                          type: "server_error", code: "overloaded"))
            }
            self.job = job
        default:
            respond(context: context, APIError(status: 404, message: "no route for \(h.method) \(path)"))
        }
    }

    func respond(context: ChannelHandlerContext, _ e: APIError, close: Bool = false) {
        respond(context: context, status: HTTPResponseStatus(statusCode: e.status), json: e.json, close: close)
    }

    func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, json: String, close: Bool = false) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(json.utf8.count))
        if close { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: json)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if close { channel.close(promise: nil) } }
    }
}

/// Writes a job's output to its connection from the slot thread.
final class ConnectionSink: JobSink, @unchecked Sendable {
    let channel: Channel
    let writer: ResponseWriter
    let includeUsage: Bool
    let keepAlive: Bool

    init(channel: Channel, writer: ResponseWriter, includeUsage: Bool, keepAlive: Bool) {
        self.channel = channel
        self.writer = writer
        self.includeUsage = includeUsage
        self.keepAlive = keepAlive
    }

    func write(_ part: HTTPServerResponsePart) {
        channel.writeAndFlush(part, promise: nil)
    }

    func send(_ s: String) {
        write(.body(.byteBuffer(channel.allocator.buffer(string: s))))
    }

    func beginStream() {
        streaming = true
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
    }

    func streamText(_ text: String, first: Bool) {
        send(writer.chunk(text: text, finish: nil, first: first))
    }

    func finish(text: String, finish: String, promptTokens: Int, completionTokens: Int) {
        if streaming {
            send(writer.chunk(text: nil, finish: finish))
            if includeUsage { send(writer.chunk(text: nil, finish: nil, usage: writer.usage(prompt: promptTokens, completion: completionTokens))) }
            send("data: [DONE]\n\n")
            write(.end(nil))
            return
        }
        let json = writer.full(text: text, finish: finish, prompt: promptTokens, completion: completionTokens)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(json.utf8.count))
        write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        send(json)
        write(.end(nil))
    }

    private var streaming = false

    func fail(_ e: APIError) {
        if streaming {
            // Headers are out: report in the stream, then end it.
            send("data: " + e.json + "\n\n")
            send("data: [DONE]\n\n")
            write(.end(nil))
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(e.json.utf8.count))
        write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: e.status), headers: headers)))
        send(e.json)
        write(.end(nil))
    }
}

func randomID() -> String {
    var r = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
    return String((0..<24).map { _ in digits[Int(r.next() % UInt64(digits.count))] })
}

func runServer(config: ServerConfig, engine: Engine, log: @escaping (String) -> Void) throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(ChannelOptions.backlog, value: 256)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                channel.pipeline.addHandler(HTTPHandler(config: config, engine: engine))
            }
        }
        .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
    let channel = try bootstrap.bind(host: config.host, port: config.port).wait()
    log("listening on http://\(config.host):\(channel.localAddress?.port ?? config.port) (\(engine.slots.count) slot(s))")
    try channel.closeFuture.wait()
}
