// Value checks on tensor payloads that checksums cannot catch: a file written by a
// buggy or hostile tool can carry valid checksums over invalid codes. Run at load when
// verification is on (one pass over memory the checksum pass just touched).

enum TensorValidation {
    static func check(_ r: TensorRecord, data: UnsafeRawBufferPointer, path: String, offset: UInt64, index: Int) throws {
        let f = "tensor \"\(r.name)\""
        switch r.encoding {
        case .t2:
            // A bit pair of 11 (code 3) is invalid: (b & b>>1) & 0x55 finds it.
            var bad = -1
            var i = 0
            let n = data.count
            let words = n / 8
            while i < words {
                let w = data.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                if (w & (w >> 1)) & 0x5555_5555_5555_5555 != 0 { bad = i * 8; break }
                i += 1
            }
            if bad < 0 {
                for j in (words * 8)..<n where (data[j] & (data[j] >> 1)) & 0x55 != 0 { bad = j; break }
            }
            if bad >= 0 {
                for j in bad..<min(n, bad + 8) where (data[j] & (data[j] >> 1)) & 0x55 != 0 {
                    throw DQTFormatError(.badTensor, path: path, field: f, offset: offset + UInt64(j),
                                         "t2 byte \(data[j]) holds the invalid code 3")
                }
            }
        case .i8:
            if r.qmin == -128 && r.qmax == 127 { return }
            for j in 0..<data.count {
                let v = Int8(bitPattern: data[j])
                if v < r.qmin || v > r.qmax {
                    throw DQTFormatError(.badTensor, path: path, field: f, offset: offset + UInt64(j),
                                         "code \(v) is outside the grid [\(r.qmin), \(r.qmax)]")
                }
            }
        case .i8r:
            let start = TensorEncoding.i8rScalesOffset(rows: r.rows, cols: r.cols)
            for row in 0..<r.rows {
                let s = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: start + 4 * row, as: UInt32.self)))
                guard s.isFinite, s >= 0 else {
                    throw DQTFormatError(.badTensor, path: path, field: "\(f).rowscale[\(row)]", offset: offset + UInt64(start + 4 * row),
                                         "\(s) must be finite and ≥ 0")
                }
            }
        case .f32:
            // Norm weights and 1-D tensors are small: reject NaN/Inf there. Large float
            // matrices are left to the checksum (scanning them would double load time).
            guard r.ndim == 1 else { return }
            for j in 0..<r.rows {
                let v = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self)))
                guard v.isFinite else {
                    throw DQTFormatError(.badTensor, path: path, field: "\(f)[\(j)]", offset: offset + UInt64(4 * j), "\(v) is not finite")
                }
            }
        case .f16, .bf16, .t1:
            return  // every t1 byte decodes to valid trits (spec §8)
        }
    }
}
