//! Text output like rustc's: `file:line:col: warning[CODE]: message`, the
//! source line with a caret under the call, then notes. One item per
//! long-call site (every holder path reaching it listed under it, each with
//! its notes), or per holder path with `--per-holder`; items are grouped by
//! file (findings come sorted by file, line, column).

use std::collections::HashMap;
use std::fmt::Write;

use super::sites::{self, HolderNames, Site};
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
    let p = Palette { color: false };
    source_excerpt(out, f, source, layout, &p);
    holder_notes(out, f, layout.note_indent, &p);
    help_line(out, f, layout, &p);
}

/// The lines under a site's `file:line:col: ...` line, uncoloured: the
/// source line once, then per holder its notes ([`write_finding_body`]
/// when one holder reaches the site). `names` tells same-named holders apart.
pub fn write_site_body(
    out: &mut String,
    site: &Site,
    names: &HolderNames,
    source: Option<&str>,
    layout: &Layout,
) {
    site_body(out, site, names, source, layout, &Palette { color: false });
}

fn site_body(
    out: &mut String,
    site: &Site,
    names: &HolderNames,
    source: Option<&str>,
    layout: &Layout,
    p: &Palette,
) {
    let f = site.first();
    source_excerpt(out, f, source, layout, p);
    if site.holders.len() == 1 {
        holder_notes(out, f, layout.note_indent, p);
    } else {
        let nested = format!("{}  ", layout.note_indent);
        for h in &site.holders {
            let _ = writeln!(
                out,
                "{}= {}: {}",
                layout.note_indent,
                p.bold("holder"),
                names.label(h)
            );
            holder_notes(out, h, &nested, p);
        }
    }
    help_line(out, f, layout, p);
}

/// The source line with a caret under the call, when the source shows it.
fn source_excerpt(
    out: &mut String,
    f: &Finding,
    source: Option<&str>,
    layout: &Layout,
    p: &Palette,
) {
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
}

/// One holder's notes: where the hold comes from, the call path, the
/// constant arguments, the triggers.
fn holder_notes(out: &mut String, f: &Finding, notes: &str, p: &Palette) {
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
    if !f.context_callers.is_empty() {
        let _ = writeln!(
            out,
            "{notes}= {note}: constants passed by {}",
            f.context_callers.join(", ")
        );
    }
    if let Some(triggers) = sites::triggers_text(f) {
        let _ = writeln!(out, "{notes}= {note}: reached from {triggers}");
    }
    if let Some(m) = &f.measured {
        let _ = writeln!(out, "{notes}= {note}: measured: {}", m.summary());
    }
}

fn help_line(out: &mut String, f: &Finding, layout: &Layout, p: &Palette) {
    if layout.help {
        let _ = writeln!(
            out,
            "{}= {}: `mmstall explain {}`",
            layout.note_indent,
            p.bold("help"),
            f.rule
        );
    }
}

/// The `file:line:col: level[CODE]: message` line.
fn head_line(out: &mut String, f: &Finding, message: &str, p: &Palette) {
    let _ = writeln!(
        out,
        "{}: {}: {}",
        p.bold(&format!("{}:{}:{}", f.file, f.line, f.column)),
        p.level(f.severity, &format!("{}[{}]", f.severity.as_str(), f.code)),
        p.bold(message)
    );
}

/// What the text shows: one item per long-call site (the default), or one
/// per holder path (`--per-holder`).
#[derive(Clone, Copy, Default)]
pub struct TextOptions {
    /// ANSI colours (a terminal).
    pub color: bool,
    /// One item per (holder, site), as before sites were grouped.
    pub per_holder: bool,
}

pub fn render(report: &Report, sources: &HashMap<String, String>) -> String {
    render_with(report, sources, TextOptions::default())
}

/// [`render`], coloured with ANSI escapes when `color` (a terminal).
pub fn render_styled(report: &Report, sources: &HashMap<String, String>, color: bool) -> String {
    render_with(
        report,
        sources,
        TextOptions {
            color,
            per_holder: false,
        },
    )
}

/// The text of a report: items grouped under a heading per file.
pub fn render_with(
    report: &Report,
    sources: &HashMap<String, String>,
    options: TextOptions,
) -> String {
    let p = Palette {
        color: options.color,
    };
    let names = HolderNames::new(&report.findings);
    let items: Vec<Site> = if options.per_holder {
        report
            .findings
            .iter()
            .map(|f| Site { holders: vec![f] })
            .collect()
    } else {
        sites::group(&report.findings)
    };
    let mut out = String::new();
    let mut current_file: Option<&str> = None;
    for site in &items {
        let f = site.first();
        if current_file != Some(f.file.as_str()) {
            if current_file.is_some() {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "{}",
                p.bold(&file_heading(&f.file, &items, options.per_holder))
            );
            current_file = Some(f.file.as_str());
        }
        head_line(&mut out, f, &site.message(), &p);
        site_body(
            &mut out,
            site,
            &names,
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

/// `── mm/vmscan.c (2 sites, 6 holder paths)`, or with `per_holder`
/// `── mm/vmscan.c (6 findings)`.
fn file_heading(file: &str, items: &[Site], per_holder: bool) -> String {
    let in_file: Vec<&Site> = items.iter().filter(|s| s.first().file == file).collect();
    let paths: usize = in_file.iter().map(|s| s.holders.len()).sum();
    if per_holder {
        return format!(
            "── {file} ({paths} finding{})",
            if paths == 1 { "" } else { "s" }
        );
    }
    format!(
        "── {file} ({} site{}, {paths} holder path{})",
        in_file.len(),
        if in_file.len() == 1 { "" } else { "s" },
        if paths == 1 { "" } else { "s" }
    )
}

/// The closing line: `2 sites, 3 holder paths in 5 files (4 parsed, 31
/// functions) in 12 ms` (all that `lint -q` prints in text).
pub fn summary(report: &Report) -> String {
    let st = &report.stats;
    format!(
        "{} in {} files ({} parsed, {} functions) in {} ms",
        sites::counts(&report.findings),
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
        "files: {}\nfiles parsed: {}\nbytes parsed: {}\nfunctions: {}\nfunctions with parse errors: {} ({:.2}%)\nfindings: {}\nsites: {}\nelapsed: {} ms\n",
        st.files, st.files_parsed, st.bytes_parsed, st.functions, st.functions_with_parse_errors, pct, report.findings.len(), sites::group(&report.findings).len(), st.elapsed_ms
    )
}

/// The text printer (`--format text`).
pub struct Text {
    pub options: TextOptions,
}

impl super::Printer for Text {
    fn print(&self, output: &super::Output, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let no_sources = HashMap::new();
        let sources = output.sources.unwrap_or(&no_sources);
        w.write_all(render_with(output.report, sources, self.options).as_bytes())
    }
}
