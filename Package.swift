// swift-tools-version:6.0
import PackageDescription

// Module graph (each target lists what it imports; README.md "Repository" says what each does):
//   CLZ4 (liblz4) <- DQTFormat <- DQTKernels (+ CDQTKernels) <- DQTModel (+ DQTTokenizer) <- dqt-run
//   DQTImport (DQTFormat, DQTKernels, DQTTokenizer; Foundation) <- dqt-convert
//   DQTTrain (DQTModel, CDQTTrain, CDQTKernels) <- dqt-tune
// Runtime side (DQTFormat, DQTKernels, DQTTokenizer, DQTModel, dqt-run) imports no Foundation.
let package = Package(
    name: "dqt",
    platforms: [.macOS(.v13)],
    products: [
        // DQTModel is the library apps use; the others serve tools (the fuzz package in
        // tools/fuzz depends on this one by path).
        .library(name: "DQTModel", targets: ["DQTModel", "DQTTokenizer", "DQTFormat"]),
        .library(name: "DQTFormat", targets: ["DQTFormat"]),
        .library(name: "DQTTokenizer", targets: ["DQTTokenizer"]),
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
        .target(name: "DQTModel", dependencies: ["DQTFormat", "DQTKernels", "DQTTokenizer"]),
        .target(name: "DQTImport", dependencies: ["DQTFormat", "DQTKernels", "DQTTokenizer"]),
        // Training kernels (float GEMM for the backward pass, weight decode/pack) in C with an AVX2+FMA path.
        .target(name: "CDQTTrain", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "DQTTrain", dependencies: ["DQTModel", "DQTFormat", "DQTKernels", "DQTTokenizer", "CDQTTrain", "CDQTKernels"]),
        .executableTarget(
            name: "dqt-convert",
            dependencies: ["DQTImport", "DQTFormat", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // dqt-run parses its own flags: swift-argument-parser links FoundationEssentials.
        .executableTarget(name: "dqt-run", dependencies: ["DQTModel", "DQTTokenizer"]),
        // Kernel microbenchmark (release builds only; not a test): swift run -c release dqt-bench-kernels
        .executableTarget(name: "dqt-bench-kernels", dependencies: ["DQTKernels"]),
        // Tokenizer encode/load benchmark (release builds only): swift run -c release dqt-bench-tokenizer
        .executableTarget(name: "dqt-bench-tokenizer", dependencies: ["DQTTokenizer", "DQTImport"]),
        .executableTarget(
            name: "dqt-tune",
            dependencies: ["DQTTrain", "DQTModel", "DQTFormat", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Shared by the test targets: per-test temporary directories, repository paths, running tools.
        .target(name: "DQTTestSupport", path: "Tests/DQTTestSupport"),
        .testTarget(name: "DQTFormatTests", dependencies: ["DQTFormat", "DQTTestSupport"]),
        .testTarget(name: "DQTKernelsTests", dependencies: ["DQTKernels", "CDQTKernels"]),
        .testTarget(name: "DQTTokenizerTests", dependencies: ["DQTTokenizer", "DQTImport", "DQTTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "DQTImportTests", dependencies: ["DQTImport", "DQTFormat", "DQTKernels", "DQTModel", "DQTTokenizer", "DQTTestSupport"]),
        .testTarget(name: "DQTModelTests", dependencies: ["DQTModel", "DQTImport", "DQTTestSupport"]),
        .testTarget(name: "DQTTrainTests", dependencies: ["DQTTrain", "DQTImport", "DQTTestSupport"], exclude: ["Goldens"]),
    ]
)
