// swift-tools-version:6.0
// Using dqt as a library from another Swift package. CI builds and runs this
// (tools/test.sh) against the bundled sample model.
import PackageDescription

let package = Package(
    name: "library-example",
    dependencies: [.package(name: "dqt", path: "../..")],
    targets: [
        .executableTarget(name: "Haiku", dependencies: [.product(name: "DQTModel", package: "dqt")]),
    ]
)
