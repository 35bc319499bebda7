// The corrupt-input catalogue for the safetensors reader (huggingface/safetensors rules:
// header length capped, strict JSON object, known dtypes, integer dims with checked
// products, offsets that tile the data buffer exactly) and for sharded checkpoints.
import DQTFormat
@testable import DQTImport
import DQTTestSupport
import Foundation
import Testing

/// A valid two-tensor file to corrupt: "a" F32 [2, 3] at [0, 24), "b" U8 [2, 4] at [24, 32).
let goodData = [UInt8](repeating: 0, count: 32)
func header(a: String = #""dtype":"F32","shape":[2,3],"data_offsets":[0,24]"#,
            b: String = #""dtype":"U8","shape":[2,4],"data_offsets":[24,32]"#) -> String {
    "{\"a\":{\(a)},\"b\":{\(b)}}"
}

struct STCase: CustomTestStringConvertible, Sendable {
    let name: String
    /// Expected `ImportError.field` and a fragment of its message.
    let field: String
    let message: String
    let bytes: @Sendable () -> [UInt8]
    var testDescription: String { name }
}

let safetensorsCases: [STCase] = [
    .init(name: "empty file", field: "header_length", message: "8-byte header length") { [] },
    .init(name: "7-byte file", field: "header_length", message: "8-byte") { [1, 0, 0, 0, 0, 0, 0] },
    .init(name: "header length 2^63", field: "header_length", message: "exceeds") {
        safetensorsBytes(header: header(), data: goodData, headerLength: 1 << 63)
    },
    .init(name: "header length 2^64-1", field: "header_length", message: "exceeds") {
        safetensorsBytes(header: header(), data: goodData, headerLength: .max)
    },
    .init(name: "header longer than the file", field: "header_length", message: "do not fit") {
        safetensorsBytes(header: header(), data: goodData, headerLength: UInt64(header().utf8.count + 33))
    },
    .init(name: "header length 0", field: "header_length", message: "do not fit") {
        safetensorsBytes(header: "", data: goodData)
    },
    .init(name: "header not JSON", field: "header", message: "invalid JSON") {
        safetensorsBytes(header: "{\"a\": {\"dtype\": ", data: goodData)
    },
    .init(name: "header not UTF-8", field: "header", message: "invalid JSON") {
        var b = safetensorsBytes(header: header(), data: goodData)
        b[12] = 0xFF
        return b
    },
    .init(name: "header is a JSON array", field: "header", message: "must start with '{'") {
        safetensorsBytes(header: "[1, 2]", data: goodData)
    },
    .init(name: "header with leading space", field: "header", message: "must start with '{'") {
        safetensorsBytes(header: " " + header(), data: goodData)
    },
    .init(name: "header nested 100000 deep", field: "header", message: "invalid JSON") {
        safetensorsBytes(header: "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}", data: [])
    },
    .init(name: "tensor entry not an object", field: "a", message: "must be an object") {
        safetensorsBytes(header: #"{"a": [1, 2]}"#, data: [])
    },
    .init(name: "unknown dtype", field: "a.dtype", message: "unknown dtype \"F128\"") {
        safetensorsBytes(header: header(a: #""dtype":"F128","shape":[2,3],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "dtype not a string", field: "a.dtype", message: "not a string") {
        safetensorsBytes(header: header(a: #""dtype":4,"shape":[2,3],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "negative dimension", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[-2,-3],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "fractional dimension", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[2.5,2.4],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "boolean dimension", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[true,6],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "string dimension", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":["6"],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "dimension 1e30", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[1e30],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "dimension 2^64", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "dimension 2^63", field: "a.shape", message: "non-negative integers") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "dimension product overflows", field: "a.shape", message: "overflows") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "byte count overflows", field: "a.data_offsets", message: "more than 2^63") {
        safetensorsBytes(header: header(a: #""dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "shape missing", field: "a.shape", message: "missing") {
        safetensorsBytes(header: header(a: #""dtype":"F32","data_offsets":[0,24]"#), data: goodData)
    },
    .init(name: "offsets past the end", field: "b.data_offsets", message: "past the") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,4],"data_offsets":[24,40]"#), data: goodData)
    },
    .init(name: "offsets 2^63", field: "b.data_offsets", message: "past the") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,4],"data_offsets":[24,9223372036854775807]"#), data: goodData)
    },
    .init(name: "offsets reversed", field: "b.data_offsets", message: "0 ≤ begin ≤ end") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,4],"data_offsets":[32,24]"#), data: goodData)
    },
    .init(name: "offsets negative", field: "b.data_offsets", message: "0 ≤ begin ≤ end") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,4],"data_offsets":[-8,0]"#), data: goodData)
    },
    .init(name: "offsets not a pair", field: "b.data_offsets", message: "[begin, end]") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,4],"data_offsets":[24,28,32]"#), data: goodData)
    },
    .init(name: "offsets not matching dtype × shape", field: "a.data_offsets", message: "needs 24") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[2,3],"data_offsets":[0,20]"#,
                                        b: #""dtype":"U8","shape":[3,4],"data_offsets":[20,32]"#), data: goodData)
    },
    .init(name: "overlapping tensors", field: "b.data_offsets", message: "overlaps") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,4],"data_offsets":[16,24]"#), data: [UInt8](goodData[0..<24]))
    },
    .init(name: "hole between tensors", field: "b.data_offsets", message: "hole") {
        safetensorsBytes(header: header(b: #""dtype":"U8","shape":[2,2],"data_offsets":[28,32]"#), data: goodData)
    },
    .init(name: "hole at the start", field: "a.data_offsets", message: "hole") {
        safetensorsBytes(header: header(a: #""dtype":"F32","shape":[2,3],"data_offsets":[8,32]"#,
                                        b: #""dtype":"U8","shape":[2,4],"data_offsets":[32,40]"#), data: goodData + [UInt8](repeating: 0, count: 8))
    },
    .init(name: "trailing bytes after the last tensor", field: "data", message: "trailing bytes") {
        safetensorsBytes(header: header(), data: goodData + [0, 0, 0, 0])
    },
    .init(name: "duplicate name with different offsets", field: "", message: "") {
        safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"a":{"dtype":"U8","shape":[16],"data_offsets":[16,32]}}"#, data: goodData)
    },
    .init(name: "metadata not an object", field: "__metadata__", message: "object of strings") {
        safetensorsBytes(header: #"{"__metadata__":[1],"a":{"dtype":"U8","shape":[32],"data_offsets":[0,32]}}"#, data: goodData)
    },
    .init(name: "metadata value not a string", field: "__metadata__.format", message: "must be a string") {
        safetensorsBytes(header: #"{"__metadata__":{"format":1},"a":{"dtype":"U8","shape":[32],"data_offsets":[0,32]}}"#, data: goodData)
    },
    .init(name: "unknown field in an entry", field: "a.extra", message: "unknown field") {
        safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[32],"data_offsets":[0,32],"extra":1}}"#, data: goodData)
    },
]

@Suite(.temporaryFiles) struct CorruptSafetensorsTests {
    @Test func theBaseFileIsValid() throws {
        #expect(safetensorsError(safetensorsBytes(header: header(), data: goodData)) == nil)
        // Empty tensors and scalars are valid, as in the reference.
        let ok = safetensorsBytes(header: #"{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]}}"#,
                                  data: [0, 0, 128, 63])
        #expect(safetensorsError(ok) == nil)
    }

    @Test(arguments: safetensorsCases)
    func corruptSafetensorsGivesItsError(_ c: STCase) throws {
        let e = safetensorsError(c.bytes())
        #expect(e != nil, "\(c.name): accepted")
        guard let e else { return }
        if !c.field.isEmpty { #expect(e.field == c.field, "\(c.name): \(e)") }
        #expect(c.message.isEmpty || e.message.contains(c.message), "\(c.name): \(e)")
        #expect(e.path.hasSuffix("model.safetensors"), "\(c.name): \(e)")
    }

    /// Every truncation of a valid file is an error (never a crash or a read past the end).
    @Test func everyTruncationIsAnError() throws {
        let good = safetensorsBytes(header: header(), data: goodData)
        for n in 0..<good.count {
            #expect(safetensorsError(Array(good[0..<n])) != nil, "truncated to \(n) bytes was accepted")
        }
    }
}

// MARK: - Sharded checkpoints

/// Two shards of a small checkpoint plus an index; `edit` changes the index JSON text.
func shardedCheckpoint(indexJSON: String? = nil, shard2: [STTensor]? = nil) -> String {
    let dir = freshDir("dqt-shards")
    let a = STTensor(name: "x.weight", dtype: "F32", shape: [2], data: f32Bytes([1, 2]))
    let b = STTensor(name: "y.weight", dtype: "F32", shape: [3], data: f32Bytes([3, 4, 5]))
    writeFile(dir + "/model-00001-of-00002.safetensors", encodeTensors([a]))
    writeFile(dir + "/model-00002-of-00002.safetensors", encodeTensors(shard2 ?? [b]))
    let index = indexJSON ?? #"""
    {"metadata": {"total_size": 20}, "weight_map": {"x.weight": "model-00001-of-00002.safetensors", "y.weight": "model-00002-of-00002.safetensors"}}
    """#
    writeFile(dir + "/model.safetensors.index.json", Array(index.utf8))
    return dir
}

func checkpointError(_ dir: String) -> ImportError? {
    do {
        _ = try SafetensorsCheckpoint(directory: dir)
        return nil
    } catch let e as ImportError {
        return e
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

@Suite(.temporaryFiles) struct CorruptShardTests {
    @Test func theBaseShardsAreValid() throws {
        let ck = try SafetensorsCheckpoint(directory: shardedCheckpoint())
        #expect(ck.names == ["x.weight", "y.weight"])
        #expect(try ck.floats("y.weight").values == [3, 4, 5])
    }

    @Test func indexNamingAMissingShard() throws {
        let e = checkpointError(shardedCheckpoint(indexJSON: #"{"weight_map": {"x.weight": "model-00001-of-00002.safetensors", "y.weight": "model-00003-of-00003.safetensors"}}"#))
        #expect(e?.path.hasSuffix("model-00003-of-00003.safetensors") == true, "\(String(describing: e))")
        #expect(e?.message.contains("cannot open") == true, "\(String(describing: e))")
    }

    @Test func tensorNotInItsShard() throws {
        let e = checkpointError(shardedCheckpoint(indexJSON: #"{"weight_map": {"x.weight": "model-00002-of-00002.safetensors", "y.weight": "model-00002-of-00002.safetensors"}}"#))
        #expect(e?.field == "weight_map.x.weight" && e?.message.contains("not in") == true, "\(String(describing: e))")
        let e2 = checkpointError(shardedCheckpoint(indexJSON: #"{"weight_map": {"x.weight": "model-00001-of-00002.safetensors", "y.weight": "model-00002-of-00002.safetensors", "z.weight": "model-00002-of-00002.safetensors"}}"#))
        #expect(e2?.field == "weight_map.z.weight", "\(String(describing: e2))")
    }

    @Test func duplicateTensorAcrossShards() throws {
        let dup = [STTensor(name: "x.weight", dtype: "F32", shape: [2], data: f32Bytes([9, 9])),
                   STTensor(name: "y.weight", dtype: "F32", shape: [3], data: f32Bytes([3, 4, 5]))]
        let e = checkpointError(shardedCheckpoint(shard2: dup))
        #expect(e?.field == "x.weight" && e?.message.contains("also appears") == true, "\(String(describing: e))")
    }

    @Test func totalSizeLies() throws {
        let e = checkpointError(shardedCheckpoint(indexJSON: #"{"metadata": {"total_size": 21}, "weight_map": {"x.weight": "model-00001-of-00002.safetensors", "y.weight": "model-00002-of-00002.safetensors"}}"#))
        #expect(e?.field == "metadata.total_size", "\(String(describing: e))")
    }

    @Test func shardNameLeavesTheDirectory() throws {
        let e = checkpointError(shardedCheckpoint(indexJSON: #"{"weight_map": {"x.weight": "../model-00001-of-00002.safetensors"}}"#))
        #expect(e?.field == "weight_map.x.weight" && e?.message.contains("same directory") == true, "\(String(describing: e))")
        let e2 = checkpointError(shardedCheckpoint(indexJSON: #"{"weight_map": {"x.weight": ".."}}"#))
        #expect(e2 != nil, "\"..\" as a shard name was accepted")
    }

    @Test func indexWithoutWeightMap() throws {
        let e = checkpointError(shardedCheckpoint(indexJSON: #"{"metadata": {}}"#))
        #expect(e?.field == "weight_map", "\(String(describing: e))")
        let e2 = checkpointError(shardedCheckpoint(indexJSON: "not json"))
        #expect(e2?.field == "weight_map", "\(String(describing: e2))")
        let e3 = checkpointError(shardedCheckpoint(indexJSON: #"{"weight_map": {"x.weight": 7}}"#))
        #expect(e3?.field == "weight_map.x.weight", "\(String(describing: e3))")
    }

    @Test func noWeightsAtAll() throws {
        let e = checkpointError(freshDir())
        #expect(e?.field == "weights", "\(String(describing: e))")
    }
}
