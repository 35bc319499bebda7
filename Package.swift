// swift-tools-version:6.0
import PackageDescription

// Module graph (each target lists what it imports; README.md "Repository" says what each does):
//   CLZ4 (liblz4) <- DQTFormat <- DQTKernels (+ CDQTKernels) <- DQTModel (+ DQTTokenizer, DQTChat) <- dqt-run, dqt-serve
//   DQTImport (DQTFormat, DQTKernels, DQTTokenizer, DQTChat; Foundation) <- dqt-convert
//   DQTTrain (DQTModel, CDQTTrain, CDQTKernels) <- dqt-tune
// Runtime side (DQTFormat, DQTKernels, DQTTokenizer, DQTChat, DQTModel, dqt-run) imports no Foundation.
let package = Package(
    name: "dqt",
    platforms: [.macOS(.v13)],
    products: [
        // DQTModel is the library apps use; the others serve tools (the fuzz package in
        // tools/fuzz depends on this one by path).
        .library(name: "DQTModel", targets: ["DQTModel", "DQTTokenizer", "DQTFormat", "DQTKernels", "DQTChat"]),
        .library(name: "DQTFormat", targets: ["DQTFormat"]),
        .library(name: "DQTTokenizer", targets: ["DQTTokenizer"]),
        .library(name: "DQTChat", targets: ["DQTChat"]),
        .library(name: "DQTImport", targets: ["DQTImport"]),
        .executable(name: "dqt-convert", targets: ["dqt-convert"]),
        .executable(name: "dqt-run", targets: ["dqt-run"]),
        .executable(name: "dqt-tune", targets: ["dqt-tune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .target(
            name: "CDQTKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        .target(name: "DQTFormat", dependencies: ["CLZ4"]),
        .target(name: "DQTKernels", dependencies: ["CDQTKernels", "DQTFormat"]),
        .target(name: "DQTTokenizer"),
        // Chat templates: the CHAT section payload and a bounded interpreter of the Jinja subset
        // chat templates use (runtime side: no Foundation).
        .target(name: "DQTChat"),
        .target(name: "DQTModel", dependencies: ["DQTFormat", "DQTKernels", "DQTTokenizer", "DQTChat"]),
        .target(name: "DQTImport", dependencies: ["DQTFormat", "DQTKernels", "DQTTokenizer", "DQTChat"]),
        // Training kernels (float GEMM for the backward pass, weight decode/pack) in C with an AVX2+FMA path.
        .target(name: "CDQTTrain", dependencies: ["CDQTKernels"], cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "DQTTrain", dependencies: ["DQTModel", "DQTFormat", "DQTKernels", "DQTTokenizer", "CDQTTrain", "CDQTKernels"]),
        .executableTarget(
            name: "dqt-convert",
            dependencies: ["DQTImport", "DQTFormat", "DQTChat", "DQTTokenizer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // dqt-run parses its own flags: swift-argument-parser links FoundationEssentials.
        .executableTarget(name: "dqt-run", dependencies: ["DQTModel", "DQTFormat", "DQTKernels", "DQTChat", "DQTTokenizer"]),
        // Kernel microbenchmark (release builds only; not a test): swift run -c release dqt-bench-kernels
        .executableTarget(name: "dqt-bench-kernels", dependencies: ["DQTKernels"]),
        // Tokenizer encode/load benchmark (release builds only): swift run -c release dqt-bench-tokenizer
        .executableTarget(name: "dqt-bench-tokenizer", dependencies: ["DQTTokenizer", "DQTImport"]),
        .executableTarget(
            name: "dqt-tune",
            dependencies: ["DQTTrain", "DQTModel", "DQTFormat", "DQTKernels", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Shared by the test targets: per-test temporary directories, repository paths, running tools.
        .target(name: "DQTTestSupport", path: "Tests/DQTTestSupport"),
        .testTarget(name: "DQTFormatTests", dependencies: ["DQTFormat", "DQTTestSupport"]),
        .testTarget(name: "DQTKernelsTests", dependencies: ["DQTKernels", "CDQTKernels"]),
        .testTarget(name: "DQTTokenizerTests", dependencies: ["DQTTokenizer", "DQTImport", "DQTTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "DQTChatTests", dependencies: ["DQTChat", "DQTImport", "DQTTokenizer", "DQTTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "DQTImportTests", dependencies: ["DQTImport", "DQTFormat", "DQTKernels", "DQTModel", "DQTTokenizer", "DQTChat", "DQTTestSupport"]),
        .testTarget(name: "DQTModelTests", dependencies: ["DQTModel", "DQTKernels", "DQTImport", "DQTChat", "DQTFormat", "DQTTestSupport"]),
        .testTarget(name: "DQTTrainTests", dependencies: ["DQTTrain", "DQTImport", "DQTTestSupport"], exclude: ["Goldens"]),
    ]
)

// dqt-serve (HTTP/1.1 server) and its SwiftNIO dependency need a 6.1+ compiler: the swift-nio
// releases on hand declare tools version 6.1, which Swift 6.0 (Debian 13's swiftlang, used by
// tools/cross-aarch64.sh for the board binaries) cannot even resolve. No other target links NIO.
#if compiler(>=6.1)
package.dependencies.append(.package(url: "https://github.com/apple/swift-nio", from: "2.80.0"))
package.products.append(.executable(name: "dqt-serve", targets: ["dqt-serve"]))
// OpenAI-compatible HTTP server: SwiftNIO is confined to this target (runtime side stays Foundation- and NIO-free).
package.targets.append(.executableTarget(
    name: "dqt-serve",
    dependencies: ["DQTModel", "DQTChat", "DQTFormat", "DQTTokenizer",
                   .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                   .product(name: "NIOHTTP1", package: "swift-nio"),
                   .product(name: "ArgumentParser", package: "swift-argument-parser")]
))
#endif
