// swift-tools-version: 6.2
// libFuzzer targets for every parser of untrusted bytes (apple/swift-protobuf's FuzzTesting
// layout): a package of its own, so that a normal build of taskgate never links a binary whose
// main is libFuzzer's. Built and run by `Fuzz/run`, with every module instrumented.
import PackageDescription

let package = Package(
    name: "TaskGateFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "taskgate", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(
            name: "TaskGateFuzz",
            dependencies: [
                .product(name: "TaskGate", package: "taskgate"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        )
    ]
)
