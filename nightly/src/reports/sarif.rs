//! `new-findings.sarif`: the findings the series introduce, SARIF 2.1.0.

use crate::model::*;

// ---- SARIF 2.1.0: the findings the series introduce ----

pub fn sarif(results: &[JobResult]) -> serde_json::Value {
    use serde_json::json;
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut res = Vec::new();
    for r in results {
        let Some(s) = &r.static_ else { continue };
        for f in &s.introduced {
            let id = if f.code.is_empty() {
                f.rule.clone()
            } else {
                f.code.clone()
            };
            if !rules.iter().any(|(i, _)| *i == id) {
                rules.push((id.clone(), f.rule.clone()));
            }
            let level = match f.severity.as_str() {
                "error" => "error",
                "note" => "note",
                _ => "warning",
            };
            let mut properties = json!({"series": r.series, "kernel": r.kernel, "config": r.config, "night": r.night, "function": f.function});
            // The hold `[confirm]` measured on both kernels, when it did.
            if let Some(h) = r
                .confirm
                .iter()
                .flat_map(|c| &c.findings)
                .find(|h| h.fingerprint == f.fingerprint)
            {
                properties["confirm"] = json!({
                    "outcome": h.patched.outcome.word(),
                    "summary": format!("series: {}; baseline: {}", h.patched.describe(), h.baseline.describe()),
                    "patched": h.patched,
                    "baseline": h.baseline,
                });
            }
            res.push(json!({
                "ruleId": id,
                "level": level,
                "message": {"text": format!("{} [series {} on {}{}]", f.message, r.series, r.kernel, f.patch.map(|p| format!(", patch {p}")).unwrap_or_default())},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file},
                    "region": {"startLine": f.line.max(1), "startColumn": f.column.max(1)}
                }}],
                "partialFingerprints": {"mmstall/v1": f.fingerprint},
                "properties": properties
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mmstall",
                "rules": rules.iter().map(|(id, name)| json!({"id": id, "name": name, "shortDescription": {"text": format!("mmstall rule {name}")}})).collect::<Vec<_>>()
            }},
            "results": res
        }]
    })
}
