// swift-tools-version:6.0
import PackageDescription

// Module map: see ../shared/ARCHITECTURE.md and README.md.
// Runtime side (DQTFormat, DQTKernels, DQTTokenizer, DQTModel, dqt-run) imports no Foundation.
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
        .executable(name: "dqt-serve", targets: ["dqt-serve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // dqt-serve only (HTTP/1.1 server); no other target links it.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
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
        .target(name: "DQTImport", dependencies: ["DQTFormat", "DQTKernels", "DQTTokenizer", "DQTModel", "DQTChat"]),
        // Training kernels (float GEMM for the backward pass, weight decode/pack) in C with an AVX2+FMA path.
        .target(name: "CDQTTrain", dependencies: ["CDQTKernels"], cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "DQTTrain", dependencies: ["DQTModel", "DQTFormat", "DQTKernels", "DQTTokenizer", "CDQTTrain"]),
        .executableTarget(
            name: "dqt-convert",
            dependencies: ["DQTImport", "DQTChat", "DQTTokenizer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // dqt-run parses its own flags: swift-argument-parser links FoundationEssentials.
        .executableTarget(name: "dqt-run", dependencies: ["DQTModel", "DQTKernels", "DQTChat", "DQTTokenizer"]),
        // Kernel microbenchmark (release builds only; not a test): swift run -c release dqt-bench-kernels
        .executableTarget(name: "dqt-bench-kernels", dependencies: ["DQTKernels"]),
        .executableTarget(
            name: "dqt-tune",
            dependencies: ["DQTTrain", "DQTImport", "DQTKernels", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // OpenAI-compatible HTTP server: SwiftNIO is confined to this target (runtime side stays Foundation- and NIO-free).
        .executableTarget(
            name: "dqt-serve",
            dependencies: ["DQTModel", "DQTChat", "DQTFormat", "DQTTokenizer",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "DQTFormatTests", dependencies: ["DQTFormat"]),
        .testTarget(name: "DQTKernelsTests", dependencies: ["DQTKernels", "CDQTKernels"]),
        .testTarget(name: "DQTTokenizerTests", dependencies: ["DQTTokenizer", "DQTImport"], exclude: ["Fixtures"]),
        .testTarget(name: "DQTChatTests", dependencies: ["DQTChat", "DQTImport", "DQTTokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "DQTImportTests", dependencies: ["DQTImport", "DQTFormat", "DQTKernels", "DQTModel", "DQTTokenizer", "DQTChat"]),
        .testTarget(name: "DQTModelTests", dependencies: ["DQTModel", "DQTKernels", "DQTImport", "DQTChat", "DQTFormat"]),
        .testTarget(name: "DQTTrainTests", dependencies: ["DQTTrain", "DQTImport"], exclude: ["Goldens"]),
    ]
)
