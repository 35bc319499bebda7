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
        .target(name: "DQTImport", dependencies: ["DQTFormat", "DQTKernels", "DQTTokenizer", "DQTModel"]),
        // Training kernels (float GEMM for the backward pass, weight decode/pack) in C with an AVX2+FMA path.
        .target(name: "CDQTTrain", dependencies: ["CDQTKernels"], cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "DQTTrain", dependencies: ["DQTModel", "DQTFormat", "DQTKernels", "DQTTokenizer", "CDQTTrain"]),
        .executableTarget(
            name: "dqt-convert",
            dependencies: ["DQTImport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // dqt-run parses its own flags: swift-argument-parser links FoundationEssentials.
        .executableTarget(name: "dqt-run", dependencies: ["DQTModel"]),
        // Kernel microbenchmark (release builds only; not a test): swift run -c release dqt-bench-kernels
        .executableTarget(name: "dqt-bench-kernels", dependencies: ["DQTKernels"]),
        .executableTarget(
            name: "dqt-tune",
            dependencies: ["DQTTrain", "DQTImport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "DQTFormatTests", dependencies: ["DQTFormat"]),
        .testTarget(name: "DQTKernelsTests", dependencies: ["DQTKernels", "CDQTKernels"]),
        .testTarget(name: "DQTTokenizerTests", dependencies: ["DQTTokenizer", "DQTImport"], exclude: ["Fixtures"]),
        .testTarget(name: "DQTImportTests", dependencies: ["DQTImport", "DQTFormat"]),
        .testTarget(name: "DQTModelTests", dependencies: ["DQTModel", "DQTImport"]),
        .testTarget(name: "DQTTrainTests", dependencies: ["DQTTrain", "DQTImport"], exclude: ["Goldens"]),
    ]
)
