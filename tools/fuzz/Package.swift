// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for dqt's parsers, built against the root package's modules:
//     tools/fuzz.sh TARGET [runs]       (see tools/fuzz.sh; needs --sanitize=fuzzer,address)
// One binary; the target is chosen by DQT_FUZZ_TARGET. Not part of the root build.
let package = Package(
    name: "dqt-fuzz",
    dependencies: [.package(name: "dqt", path: "../..")],
    targets: [
        // No main.swift: SwiftPM compiles it as a library; libFuzzer supplies main().
        .executableTarget(
            name: "dqt-fuzz",
            dependencies: [
                .product(name: "DQTFormat", package: "dqt"),
                .product(name: "DQTTokenizer", package: "dqt"),
                .product(name: "DQTImport", package: "dqt"),
                .product(name: "DQTModel", package: "dqt"),
            ]
        ),
    ]
)
