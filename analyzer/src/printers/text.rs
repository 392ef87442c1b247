//! Text output like rustc's: `file:line:col: warning[CODE]: message`, the
//! source line with a caret under the call, then notes. Findings are grouped
//! by file (they are sorted by file, line, column).

use std::collections::HashMap;
use std::fmt::Write;

use crate::finding::{Finding, Report};
use crate::settings::Severity;

/// ANSI styles like rustc's: the level and its carets in the level's colour,
/// the message bold, gutters bold blue. Without colour every style is empty,
/// so the text is the same once the escapes are stripped.
struct Palette {
    color: bool,
}

impl Palette {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn level(&self, severity: Severity, text: &str) -> String {
        let style = match severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Note => "1;32",
        };
        self.paint(style, text)
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn gutter(&self, text: &str) -> String {
        self.paint("1;34", text)
    }
}

/// How a finding's block is laid out: at the margin with a help line
/// (`lint`), or indented under a heading (`diff`, `series`).
pub struct Layout {
    /// Before the source lines' gutters.
    pub indent: &'static str,
    /// Before each `= note:` line.
    pub note_indent: &'static str,
    /// Ends with `= help: mmstall explain <rule>`.
    pub help: bool,
}

/// `lint`'s layout.
pub const LINT: Layout = Layout {
    indent: "",
    note_indent: "  ",
    help: true,
};

/// The layout of a finding listed under a heading (`diff`, `series`).
pub const NESTED: Layout = Layout {
    indent: "  ",
    note_indent: "    ",
    help: false,
};

/// The lines under a finding's `file:line:col: ...` line, uncoloured: the
/// source line (from `source`, the text of the finding's file, when known)
/// with a caret under the call, then the notes.
pub fn write_finding_body(out: &mut String, f: &Finding, source: Option<&str>, layout: &Layout) {
    finding_body(out, f, source, layout, &Palette { color: false });
}

fn finding_body(out: &mut String, f: &Finding, source: Option<&str>, layout: &Layout, p: &Palette) {
    let indent = layout.indent;
    if let Some(line) = source.and_then(|s| s.lines().nth((f.line as usize).saturating_sub(1))) {
        let gutter = f.line.to_string().len();
        let shown = line.replace('\t', "    ");
        // Column counts bytes; tabs before the call widen to 4 columns.
        let prefix = line
            .get(..(f.column as usize).saturating_sub(1).min(line.len()))
            .unwrap_or("");
        let pad = prefix
            .chars()
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum::<usize>();
        let blank = p.gutter(&format!("{:>gutter$} |", ""));
        let _ = writeln!(out, "{indent}{blank}");
        let _ = writeln!(
            out,
            "{indent}{} {}",
            p.gutter(&format!("{} |", f.line)),
            shown
        );
        let _ = writeln!(
            out,
            "{indent}{blank} {}{}",
            " ".repeat(pad),
            p.level(f.severity, &"^".repeat(f.operation.len().max(1)))
        );
    }
    let notes = layout.note_indent;
    let note = p.bold("note");
    let _ = writeln!(out, "{notes}= {note}: {}", f.lock_origin());
    if f.call_path.len() > 1 {
        let _ = writeln!(
            out,
            "{notes}= {note}: call path: {}",
            f.call_path.join(" → ")
        );
    }
    if !f.context.is_empty() {
        let _ = writeln!(
            out,
            "{notes}= {note}: with constant arguments {}",
            f.context.join(", ")
        );
    }
    if layout.help {
        let _ = writeln!(
            out,
            "{notes}= {}: `mmstall explain {}`",
            p.bold("help"),
            f.rule
        );
    }
}

pub fn render(report: &Report, sources: &HashMap<String, String>) -> String {
    render_styled(report, sources, false)
}

/// [`render`], coloured with ANSI escapes when `color` (a terminal).
pub fn render_styled(report: &Report, sources: &HashMap<String, String>, color: bool) -> String {
    let p = Palette { color };
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
                "{}",
                p.bold(&format!(
                    "── {} ({} finding{})",
                    f.file,
                    n,
                    if n == 1 { "" } else { "s" }
                ))
            );
            current_file = Some(f.file.as_str());
        }
        let _ = writeln!(
            out,
            "{}: {}: {}",
            p.bold(&format!("{}:{}:{}", f.file, f.line, f.column)),
            p.level(f.severity, &format!("{}[{}]", f.severity.as_str(), f.code)),
            p.bold(&f.message)
        );
        finding_body(
            &mut out,
            f,
            sources.get(&f.file).map(String::as_str),
            &LINT,
            &p,
        );
    }
    for s in &report.skipped {
        let _ = writeln!(out, "skipped: {}: {}", s.file, s.reason);
    }
    out.push_str(&p.bold(&summary(report)));
    out.push('\n');
    out
}

/// The closing line: `3 findings in 5 files (4 parsed, 31 functions) in 12 ms`
/// (all that `lint -q` prints in text).
pub fn summary(report: &Report) -> String {
    let st = &report.stats;
    format!(
        "{} finding{} in {} files ({} parsed, {} functions) in {} ms",
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" },
        st.files,
        st.files_parsed,
        st.functions,
        st.elapsed_ms
    )
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

/// The text printer (`--format text`).
pub struct Text {
    /// ANSI colours (a terminal).
    pub color: bool,
}

impl super::Printer for Text {
    fn print(&self, output: &super::Output, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let no_sources = HashMap::new();
        let sources = output.sources.unwrap_or(&no_sources);
        w.write_all(render_styled(output.report, sources, self.color).as_bytes())
    }
}
