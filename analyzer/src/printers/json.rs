//! `--format json`: `{"version":1,"findings":[...],"stats":{...},"skipped":[...]}`.

use crate::finding::Report;

pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report serializes") + "\n"
}

/// The JSON printer (`--format json`).
pub struct Json;

impl super::Printer for Json {
    fn print(&self, output: &super::Output, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(render(output.report).as_bytes())
    }
}
