//! `--format sarif`: SARIF 2.1.0, one run, rule metadata from the rule docs,
//! `partialFingerprints` from the line-insensitive fingerprint.

use serde_json::{json, Value};

use crate::finding::Finding;
use crate::rules;

pub fn render(findings: &[Finding]) -> String {
    let rules_meta: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.summary },
                "help": { "text": r.doc, "markdown": r.doc },
                "defaultConfiguration": { "level": r.default_severity.as_str() },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let rule_index = rules::ALL.iter().position(|r| r.code == f.code).unwrap_or(0);
            json!({
                "ruleId": f.code,
                "ruleIndex": rule_index,
                "level": f.severity.as_str(),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.file, "uriBaseId": "SRCROOT" },
                        "region": { "startLine": f.line, "startColumn": f.column }
                    },
                    "logicalLocations": [{ "name": f.function, "kind": "function" }]
                }],
                "relatedLocations": [{
                    "id": 1,
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.acquired_at.file, "uriBaseId": "SRCROOT" },
                        "region": { "startLine": f.acquired_at.line }
                    },
                    "message": { "text": format!("lock taken for write in `{}`", f.holder) }
                }],
                "partialFingerprints": { "mmstall/v1": f.fingerprint },
                "properties": { "holder": f.holder, "callPath": f.call_path, "operation": f.operation }
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mmstall",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules_meta
            }},
            "results": results
        }]
    });
    serde_json::to_string_pretty(&doc).expect("serializes") + "\n"
}
