// JSON Lines records of a tuning run (dqt-tune --log FILE), one object per line, in the shape of
// tools/train_dqt.py's log.jsonl so tools/plot_log.py reads both:
//   {"event":"start", "step":…, "model":…, …}                      once per invocation
//   {"event":"train", "step":…, "tokens":…, "loss":…, "lr":…, "elapsed_s":…, "tok_per_s":…, "changed_frac":…}
//   {"event":"eval",  "step":…, "tokens":…, "eval_loss":…, "eval_ppl":…, "eval_tokens":…, "evaluator":"dqt-tune"}  (--eval)
//   {"event":"done",  "step":…, "tokens":…, "elapsed_s":…, "train_tok_per_s":…, "peak_rss_mib":…}
// `tokens` counts all tokens trained on since step 0 (step · batch · seqLen, so it continues across
// resumes); `elapsed_s` is seconds since this invocation started. Non-finite numbers are written
// as null (JSON has no NaN).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum JSONValue: Sendable, Equatable {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)

    var json: String {
        switch self {
        case .int(let v): String(v)
        case .double(let v): v.isFinite ? String(v) : "null"   // shortest round-trip form, e.g. 0.0003, 1e-05
        case .bool(let v): v ? "true" : "false"
        case .string(let s): JSONValue.quote(s)
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

public enum TuneLog {
    /// One JSON object (no newline) with the keys in the given order.
    public static func record(_ fields: [(String, JSONValue)]) -> String {
        "{" + fields.map { JSONValue.quote($0.0) + ": " + $0.1.json }.joined(separator: ", ") + "}"
    }

    /// The record of one optimizer step.
    public static func train(_ r: StepReport, batch: Int, seqLen: Int, elapsed: Double) -> String {
        record([("event", .string("train")), ("step", .int(r.step)), ("tokens", .int(r.step * batch * seqLen)),
                ("loss", .double(r.loss)), ("lr", .double(r.lr)), ("elapsed_s", .double(elapsed)),
                ("tok_per_s", .double(r.tokensPerSecond)),
                ("changed_frac", .double(Double(r.changed) / Double(max(r.updated, 1)))),
                ("seconds", .double(r.seconds)), ("model_bytes", .int(r.modelBytes)), ("journal_bytes", .int(r.journalBytes)),
                ("state_bytes", .int(r.stateBytes))])
    }

    /// A held-out evaluation by dqt-tune itself (`Tuner.evaluate`: disjoint windows of seqLen + 1 tokens).
    public static func eval(step: Int, tokens: Int, loss: Double, count: Int) -> String {
        record([("event", .string("eval")), ("step", .int(step)), ("tokens", .int(tokens)), ("eval_loss", .double(loss)),
                ("eval_ppl", .double(exp(loss))), ("eval_tokens", .int(count)), ("evaluator", .string("dqt-tune"))])
    }
}
