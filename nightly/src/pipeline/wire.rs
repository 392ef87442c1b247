//! Reading the JSON the CLI's subcommands print: `mmstall series --format
//! json` and the stall suite's report.

use super::context::step;
use crate::model::*;
use serde_json::Value;
use std::collections::HashMap;

/// `mmstall series --format json` (revisions branch): patches[], net.{introduced,fixed,unchanged}.
pub fn parse_series_json(text: &str) -> Result<StaticResult, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let findings = |p: Option<&Value>| -> Vec<Finding> {
        p.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| serde_json::from_value(f.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let patches_v = v
        .get("patches")
        .and_then(Value::as_array)
        .ok_or("no `patches` array")?;
    let mut patches = Vec::new();
    let mut by_fp: HashMap<String, usize> = HashMap::new();
    for p in patches_v {
        let index = p.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let intro = findings(p.get("introduced"));
        for f in &intro {
            by_fp.entry(f.fingerprint.clone()).or_insert(index);
        }
        patches.push(PatchSummary {
            index,
            subject: p
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            status: p
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            introduced: intro.len(),
            fixed: findings(p.get("fixed")).len(),
        });
    }
    let net = v.get("net").ok_or("no `net` object")?;
    let mut introduced = findings(net.get("introduced"));
    for f in &mut introduced {
        f.patch = by_fp.get(&f.fingerprint).copied();
    }
    Ok(StaticResult {
        step: step("static", StepStatus::Ok, 0.0, None),
        patches,
        introduced,
        fixed: findings(net.get("fixed")),
        unchanged: net
            .get("unchanged")
            .and_then(Value::as_array)
            .map(|a| a.len())
            .unwrap_or(0),
    })
}

/// The suite JSON (see docs/nightly.md): `{"tests": [{"name", "status"|"ok",
/// "ratio"|"stall_ratio", "unit", "detail"}]}` or a bare array of tests.
pub fn parse_suite_json(text: &str) -> Result<Vec<SuiteTest>, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    // `vm run --json`: the suite's JSON is the guest command's stdout.
    if v.get("outcome").is_some() && v.get("stdout").is_some() {
        let inner = v.get("stdout").and_then(Value::as_str).unwrap_or("");
        if inner.trim().is_empty() {
            let status = v
                .pointer("/outcome/status")
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Err(format!(
                "the suite printed nothing (vm run outcome: {status})"
            ));
        }
        v = serde_json::from_str(inner).map_err(|e| format!("the guest's output: {e}"))?;
    }
    let arr = v
        .as_array()
        .or_else(|| v.get("tests").and_then(Value::as_array))
        .or_else(|| v.get("results").and_then(Value::as_array))
        .ok_or("no `tests` array")?;
    let mut out = Vec::new();
    for (i, t) in arr.iter().enumerate() {
        let name = t
            .get("name")
            .or_else(|| t.get("test"))
            .or_else(|| t.get("id"))
            .and_then(Value::as_str)
            .ok_or(format!("test #{}: no `name`", i + 1))?;
        // mmstall-guest's report: `verdict` is {"verdict": "pass"|"fail"|"skip"|"xfail"|"error", "reason"};
        // the ratio of a test is its worst variant's median.
        // mmstall-guest writes {"verdict": "pass"} / {"verdict": "skip", "reason": ...}.
        let verdict_word = t.get("verdict").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.get("verdict").and_then(Value::as_str).map(str::to_string))
                .or_else(|| v.as_object().and_then(|o| o.keys().next().cloned()))
        });
        let variant_ratio = t
            .get("variants")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter_map(|x| x.pointer("/ratio/median").and_then(Value::as_f64))
                    .fold(f64::NAN, f64::max)
            })
            .filter(|r| r.is_finite());
        let variant_detail = t
            .get("variants")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter_map(|x| x.get("summary").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let status_text = t
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(verdict_word);
        let status = match (
            status_text.as_deref(),
            t.get("ok")
                .or_else(|| t.get("passed"))
                .and_then(Value::as_bool),
        ) {
            (Some(s), _) => match s.to_ascii_lowercase().as_str() {
                "pass" | "passed" | "ok" => "pass",
                "fail" | "failed" | "not ok" | "regression" => "fail",
                "skip" | "skipped" | "xfail" => "skip",
                _ => "error",
            },
            (None, Some(true)) => "pass",
            (None, Some(false)) => "fail",
            (None, None) => "error",
        };
        let ratio = t
            .get("ratio")
            .or_else(|| t.get("stall_ratio"))
            .and_then(Value::as_f64)
            .filter(|r| r.is_finite())
            .or(variant_ratio);
        out.push(SuiteTest {
            name: name.to_string(),
            status: status.to_string(),
            ratio,
            unit: t
                .get("unit")
                .and_then(Value::as_str)
                .unwrap_or("ratio")
                .to_string(),
            detail: t
                .get("detail")
                .or_else(|| t.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or(variant_detail),
            duration_s: t
                .get("duration_s")
                .and_then(Value::as_f64)
                .filter(|d| d.is_finite() && *d >= 0.0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_json_shapes() {
        let t = parse_suite_json(r#"{"tests":[{"name":"a","status":"PASS","ratio":1.5,"unit":"x"},{"test":"b","ok":false,"stall_ratio":7},{"id":"c"}]}"#).unwrap();
        assert_eq!(
            t.iter()
                .map(|t| (t.name.as_str(), t.status.as_str(), t.ratio))
                .collect::<Vec<_>>(),
            [
                ("a", "pass", Some(1.5)),
                ("b", "fail", Some(7.0)),
                ("c", "error", None)
            ]
        );
        assert_eq!(parse_suite_json("[]").unwrap(), vec![]);
        assert!(parse_suite_json(r#"{"tests":[{"status":"pass"}]}"#)
            .unwrap_err()
            .contains("no `name`"));
        assert!(parse_suite_json("not json").is_err());
        let wrapped =
            serde_json::json!({"outcome": {"status": "boot-timeout"}, "stdout": ""}).to_string();
        assert!(parse_suite_json(&wrapped)
            .unwrap_err()
            .contains("boot-timeout"));
    }
}
