//! `--format json`: `{"version":1,"findings":[...],"stats":{...},"skipped":[...]}`.

use crate::finding::Report;

pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report serializes") + "\n"
}
