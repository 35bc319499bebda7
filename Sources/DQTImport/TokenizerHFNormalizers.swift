// Hugging Face normalizers (tokenizer.json "normalizer") -> NORMALIZER steps
// (formats/dqt-tokenizer.md §2.7). Each normalizer compiles into steps that reproduce it exactly
// with the Unicode data of UnicodeTables.swift (UCD 15.0.0); what cannot be exact is refused,
// naming the JSON field and value.
//
//   NFD  -> MAP(full canonical decomposition, Hangul), REORDER(ccc)
//   NFKD -> MAP(full compatibility decomposition, Hangul), REORDER(ccc)
//   NFC / NFKC -> the same, then COMPOSE(primary composites, ccc)
//   Lowercase -> MAP(char::to_lowercase per scalar)      StripAccents -> MAP(marks -> "")
//   Strip -> STRIP     Prepend -> PREPEND     Precompiled -> PRECOMPILED(charsmap, grapheme classes)
//   Replace: String pattern -> MAP(pattern -> content); Regex: a literal (no metacharacters) the
//     same, or one scalar followed by + or {n,} -> REPLACE_RUN
//   BertNormalizer (clean_text false) -> MAP(handle_chinese_chars), [NFD, MAP(marks -> "")], MAP(lowercase)

import DQTTokenizer
import Foundation

/// The normalizers of a (nested) Sequence in order, with their JSON field paths.
func flattenNormalizers(_ j: TokJSON, _ field: String, file: String) throws -> [(json: TokJSON, field: String)] {
    if j["type"]?.string == "Sequence" {
        guard let list = j["normalizers"]?.array else {
            throw TokenizerImportError(file: file, field: "\(field).normalizers", "missing")
        }
        var out: [(json: TokJSON, field: String)] = []
        for (i, x) in list.enumerated() { out += try flattenNormalizers(x, "\(field).normalizers[\(i)]", file: file) }
        return out
    }
    return [(j, field)]
}

/// The parsed Unicode tables (parsed once, on first use).
enum UCD {
    static let nfd = parseMapping(UnicodeTables.nfd)
    static let nfkd = parseMapping(UnicodeTables.nfkd)
    static let ccc = parseRanges(UnicodeTables.ccc)
    static let lowercase = parseMapping(UnicodeTables.lowercase)
    static let marks = parseRanges(UnicodeTables.marks)
    static let graphemeClasses = parseRanges(UnicodeTables.graphemeClasses)
    static let compositions: [TokenizerData.ComposePair] = UnicodeTables.compositions.split(separator: ";").map { e in
        let parts = e.split(separator: ":")
        let ab = parts[0].split(separator: " ")
        return .init(UInt32(ab[0], radix: 16)!, UInt32(ab[1], radix: 16)!, UInt32(parts[1], radix: 16)!)
    }

    static func parseMapping(_ s: String) -> [(UInt32, [UInt32])] {
        s.split(separator: ";").map { e in
            let parts = e.split(separator: ":", omittingEmptySubsequences: false)
            return (UInt32(parts[0], radix: 16)!, parts[1].split(separator: " ").map { UInt32($0, radix: 16)! })
        }
    }

    static func parseRanges(_ s: String) -> [TokenizerData.ScalarRange] {
        s.split(separator: ";").map { e in
            let p = e.split(separator: ":")
            return .init(UInt32(p[0], radix: 16)!, UInt32(p[1], radix: 16)!, UInt32(p[2])!)
        }
    }

    static func utf8(_ scalars: [UInt32]) -> [UInt8] {
        var s = ""
        for v in scalars { s.unicodeScalars.append(Unicode.Scalar(v)!) }
        return Array(s.utf8)
    }

    static func map(_ m: [(UInt32, [UInt32])]) -> [[UInt8]: [UInt8]] {
        var out: [[UInt8]: [UInt8]] = [:]
        for (k, v) in m { out[utf8([k])] = utf8(v) }
        return out
    }

    static func removing(_ ranges: [TokenizerData.ScalarRange]) -> [[UInt8]: [UInt8]] {
        var out: [[UInt8]: [UInt8]] = [:]
        for r in ranges { for v in r.first...r.last where Unicode.Scalar(v) != nil { out[utf8([v])] = [] } }
        return out
    }

    static func decompose(compat: Bool) -> [TokenizerData.NormalizerStep] {
        [.map(map(compat ? nfkd : nfd), hangul: true), .reorder(combiningClasses: ccc)]
    }
}

/// Steps for one normalizer (not a Sequence).
func compileNormalizer(_ j: TokJSON, _ field: String, file: String) throws -> [TokenizerData.NormalizerStep] {
    func err(_ f: String, _ m: String) -> TokenizerImportError { TokenizerImportError(file: file, field: f, m) }
    let t = j["type"]?.string ?? "?"
    switch t {
    case "NFD": return UCD.decompose(compat: false)
    case "NFKD": return UCD.decompose(compat: true)
    case "NFC": return UCD.decompose(compat: false) + [.compose(pairs: UCD.compositions, combiningClasses: UCD.ccc)]
    case "NFKC": return UCD.decompose(compat: true) + [.compose(pairs: UCD.compositions, combiningClasses: UCD.ccc)]
    case "Lowercase": return [.map(UCD.map(UCD.lowercase), hangul: false)]
    case "StripAccents": return [.map(UCD.removing(UCD.marks), hangul: false)]
    case "Strip":
        return [.strip(left: j["strip_left"]?.bool ?? true, right: j["strip_right"]?.bool ?? true)]
    case "Prepend":
        guard let s = j["prepend"]?.string, !s.isEmpty else { throw err("\(field).prepend", "missing or empty") }
        return [.prepend(Array(s.utf8))]
    case "Precompiled":
        guard let b64 = j["precompiled_charsmap"]?.string, let blob = Data(base64Encoded: b64) else {
            throw err("\(field).precompiled_charsmap", "missing or not base64")
        }
        if blob.isEmpty { return [] }
        if let problem = [UInt8](blob).withUnsafeBytes({ CharsMap.check($0.baseAddress!, at: 0, size: $0.count) }) {
            throw err("\(field).precompiled_charsmap", problem)
        }
        return [.precompiled([UInt8](blob), graphemeClasses: UCD.graphemeClasses)]
    case "Replace":
        guard let content = j["content"]?.string else { throw err("\(field).content", "missing") }
        if let s = j["pattern"]?["String"]?.string {
            guard !s.isEmpty, s.utf8.count <= 255 else { throw err("\(field).pattern.String", "'\(s)': empty or longer than 255 bytes") }
            return [.map([Array(s.utf8): Array(content.utf8)], hangul: false)]
        }
        guard let re = j["pattern"]?["Regex"]?.string else { throw err("\(field).pattern", "neither String nor Regex") }
        return [try compileReplaceRegex(re, content, field: "\(field).pattern.Regex", file: file)]
    case "BertNormalizer":
        return try compileBert(j, field, file: file)
    case "Sequence":
        var out: [TokenizerData.NormalizerStep] = []
        for x in try flattenNormalizers(j, field, file: file) { out += try compileNormalizer(x.json, x.field, file: file) }
        return out
    default:
        throw err("\(field).type", "normalizer '\(t)' is not supported")
    }
}

/// The regex subset of Replace: a literal, or one (possibly escaped) scalar followed by `+` or `{n,}`.
func compileReplaceRegex(_ re: String, _ content: String, field: String, file: String) throws -> TokenizerData.NormalizerStep {
    let meta: Set<Character> = ["\\", ".", "^", "$", "|", "?", "*", "+", "(", ")", "[", "]", "{", "}"]
    if !re.isEmpty, !re.contains(where: { meta.contains($0) }), re.utf8.count <= 255 {
        return .map([Array(re.utf8): Array(content.utf8)], hangul: false)
    }
    var chars = Array(re.unicodeScalars)
    var scalar: Unicode.Scalar
    if chars.first == "\\", chars.count >= 2, !(chars[1].properties.isAlphabetic || chars[1].properties.numericType != nil) {
        scalar = chars[1]; chars.removeFirst(2)          // \. \+ \  etc.: the character itself
    } else if let c = chars.first, c != "\\", !meta.contains(Character(c)) {
        scalar = c; chars.removeFirst()
    } else {
        throw TokenizerImportError(file: file, field: field, "regex '\(re)' is not supported (a literal, or one character followed by + or {n,})")
    }
    let rest = String(String.UnicodeScalarView(chars))
    var minCount = 0
    if rest == "+" { minCount = 1 } else if rest.hasPrefix("{"), rest.hasSuffix(",}"), let n = Int(rest.dropFirst().dropLast(2)), n >= 1 {
        minCount = n
    }
    guard minCount >= 1 else {
        throw TokenizerImportError(file: file, field: field, "regex '\(re)' is not supported (a literal, or one character followed by + or {n,})")
    }
    return .replaceRun(scalar: Array(String(Character(scalar)).utf8), minCount: minCount, content: Array(content.utf8))
}

/// tokenizers' BertNormalizer (clean_text false): handle_chinese_chars (" c " around CJK ideographs),
/// strip_accents (default: = lowercase) as NFD + removal of marks, lowercase.
func compileBert(_ j: TokJSON, _ field: String, file: String) throws -> [TokenizerData.NormalizerStep] {
    let clean = j["clean_text"]?.bool ?? true
    let chinese = j["handle_chinese_chars"]?.bool ?? true
    let lowercase = j["lowercase"]?.bool ?? true
    let stripAccents = j["strip_accents"]?.bool ?? lowercase
    var steps: [TokenizerData.NormalizerStep] = []
    if clean {
        // is_control includes general category Cn (unassigned): exact only with a table of every
        // unassigned code point of tokenizers' Unicode version, which we do not carry.
        throw TokenizerImportError(file: file, field: "\(field).clean_text",
                                   "true is not supported (BertNormalizer is supported with clean_text false)")
    }
    if chinese {
        var m: [[UInt8]: [UInt8]] = [:]
        let ranges: [ClosedRange<UInt32>] = [0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
                                             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F]
        for r in ranges { for v in r { let c = Array(String(Character(Unicode.Scalar(v)!)).utf8); m[c] = [0x20] + c + [0x20] } }
        steps.append(.map(m, hangul: false))
    }
    if stripAccents {
        steps += UCD.decompose(compat: false)
        steps.append(.map(UCD.removing(UCD.marks), hangul: false))
    }
    if lowercase { steps.append(.map(UCD.map(UCD.lowercase), hangul: false)) }
    return steps
}
