//! Text output like rustc's: `file:line:col: warning[CODE]: message`, the
//! source line with a caret under the call, then notes. Findings are grouped
//! by file (they are sorted by file, line, column).

use std::collections::HashMap;
use std::fmt::Write;

use crate::finding::Report;

pub fn render(report: &Report, sources: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut current_file: Option<&str> = None;
    for f in &report.findings {
        if current_file != Some(f.file.as_str()) {
            if current_file.is_some() {
                out.push('\n');
            }
            let n = report.findings.iter().filter(|g| g.file == f.file).count();
            let _ = writeln!(
                out,
                "── {} ({} finding{})",
                f.file,
                n,
                if n == 1 { "" } else { "s" }
            );
            current_file = Some(f.file.as_str());
        }
        let _ = writeln!(
            out,
            "{}:{}:{}: {}[{}]: {}",
            f.file,
            f.line,
            f.column,
            f.severity.as_str(),
            f.code,
            f.message
        );
        if let Some(line) = sources
            .get(&f.file)
            .and_then(|s| s.lines().nth(f.line as usize - 1))
        {
            let gutter = f.line.to_string().len();
            let shown = line.replace('\t', "    ");
            // Column counts bytes; tabs before the call widen to 4 columns.
            let prefix = &line[..(f.column as usize - 1).min(line.len())];
            let pad = prefix
                .chars()
                .map(|c| if c == '\t' { 4 } else { 1 })
                .sum::<usize>();
            let _ = writeln!(out, "{:>gutter$} |", "");
            let _ = writeln!(out, "{} | {}", f.line, shown);
            let _ = writeln!(
                out,
                "{:>gutter$} | {}{}",
                "",
                " ".repeat(pad),
                "^".repeat(f.operation.len())
            );
        }
        let _ = writeln!(
            out,
            "  = note: lock taken for write at {}:{} in `{}`",
            f.acquired_at.file, f.acquired_at.line, f.holder
        );
        if f.call_path.len() > 1 {
            let _ = writeln!(out, "  = note: call path: {}", f.call_path.join(" → "));
        }
        if !f.context.is_empty() {
            let _ = writeln!(
                out,
                "  = note: with constant arguments {}",
                f.context.join(", ")
            );
        }
        let _ = writeln!(out, "  = help: `mmstall explain {}`", f.rule);
    }
    for s in &report.skipped {
        let _ = writeln!(out, "skipped: {}: {}", s.file, s.reason);
    }
    let st = &report.stats;
    let _ = writeln!(
        out,
        "{} finding{} in {} files ({} parsed, {} functions) in {} ms",
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" },
        st.files,
        st.files_parsed,
        st.functions,
        st.elapsed_ms
    );
    out
}

/// `--stats`: the parse-quality and speed figures.
pub fn render_stats(report: &Report) -> String {
    let st = &report.stats;
    let pct = if st.functions == 0 {
        0.0
    } else {
        100.0 * st.functions_with_parse_errors as f64 / st.functions as f64
    };
    format!(
        "files: {}\nfiles parsed: {}\nbytes parsed: {}\nfunctions: {}\nfunctions with parse errors: {} ({:.2}%)\nfindings: {}\nelapsed: {} ms\n",
        st.files, st.files_parsed, st.bytes_parsed, st.functions, st.functions_with_parse_errors, pct, report.findings.len(), st.elapsed_ms
    )
}
