import Testing
@testable import DQTKernels

@Suite struct WeightEncodingTests {
    @Test func rawValuesFollowTheSpec() {
        #expect(WeightEncoding.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6])
        #expect(WeightEncoding(rawValue: 7) == nil)
    }

    @Test func rowBytes() {
        #expect(WeightEncoding.f32.rowBytes(cols: 3) == 12)
        #expect(WeightEncoding.f16.rowBytes(cols: 3) == 6)
        #expect(WeightEncoding.bf16.rowBytes(cols: 3) == 6)
        #expect(WeightEncoding.i8.rowBytes(cols: 3) == 3)
        #expect(WeightEncoding.i8r.rowBytes(cols: 3) == 3)
        #expect(WeightEncoding.t2.rowBytes(cols: 1) == 32)
        #expect(WeightEncoding.t2.rowBytes(cols: 128) == 32)
        #expect(WeightEncoding.t2.rowBytes(cols: 129) == 64)
        #expect(WeightEncoding.t2.rowBytes(cols: 1536) == 384)
        #expect(WeightEncoding.t1.rowBytes(cols: 1) == 1)
        #expect(WeightEncoding.t1.rowBytes(cols: 159) == 32)
        #expect(WeightEncoding.t1.rowBytes(cols: 160) == 32)
        #expect(WeightEncoding.t1.rowBytes(cols: 161) == 33)
        #expect(WeightEncoding.t1.rowBytes(cols: 1536) == 9 * 32 + 20)   // 1.6042 bits per weight
        #expect(WeightEncoding.t1.rowBytes(cols: 4096) == 25 * 32 + 20)
        #expect(WeightEncoding.t2.rowBytes(cols: 0) == 0)
        #expect(WeightEncoding.t1.rowBytes(cols: 0) == 0)
        #expect(WeightEncoding.t2.rowBytes(cols: -1) == nil)
    }

    @Test func payloadBytes() {
        #expect(WeightEncoding.t2.payloadBytes(rows: 3, cols: 129) == 3 * 64)
        #expect(WeightEncoding.i8r.payloadBytes(rows: 3, cols: 5) == 16 + 12)   // align(15, 4) + 4·3
        #expect(WeightEncoding.i8r.payloadBytes(rows: 4, cols: 4) == 16 + 16)
        #expect(WeightEncoding.f32.payloadBytes(rows: 2, cols: 2) == 16)
    }

    @Test func overflowIsNil() {
        #expect(WeightEncoding.f32.rowBytes(cols: Int.max / 2) == nil)
        #expect(WeightEncoding.f16.payloadBytes(rows: Int.max / 4, cols: 4) == nil)
        #expect(WeightEncoding.i8r.payloadBytes(rows: Int.max / 2, cols: 2) == nil)
        #expect(WeightEncoding.i8r.payloadBytes(rows: 2, cols: Int.max / 2) == nil)
        #expect(WeightEncoding.i8r.payloadBytes(rows: 1 << 30, cols: (1 << 33) - 1) == nil)   // codes fit, + scales do not
        #expect(WeightEncoding.t1.payloadBytes(rows: Int.max, cols: 160) == nil)
        #expect(WeightEncoding.t2.payloadBytes(rows: -1, cols: 1) == nil)
    }
}
