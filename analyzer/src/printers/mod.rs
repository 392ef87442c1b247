//! Output formats, one file each behind one trait ([`Printer`]): rustc-like
//! text, JSON, SARIF 2.1.0, GitHub Actions annotations. A printer writes one
//! run's [`Output`] to any [`std::io::Write`]; each module also keeps its
//! `render` function (the string the printer writes).
//!
//! A new output format: a module here with a unit struct (or one holding its
//! options) implementing [`Printer`], and its case in the CLI's `--format`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::finding::Report;

pub mod github;
pub mod json;
pub mod sarif;
pub mod sites;
pub mod text;

/// What a printer prints: one run's report, and what some formats show
/// beyond it.
#[derive(Clone, Copy)]
pub struct Output<'a> {
    pub report: &'a Report,
    /// The texts of the files with findings (a lint run's `sources`): text
    /// shows the source line, SARIF the call's extent.
    pub sources: Option<&'a HashMap<String, String>>,
    /// The tree's root (absolute): SARIF's `SRCROOT`.
    pub root: Option<&'a Path>,
}

impl<'a> Output<'a> {
    pub fn new(report: &'a Report) -> Output<'a> {
        Output {
            report,
            sources: None,
            root: None,
        }
    }
}

/// An output format.
pub trait Printer {
    fn print(&self, output: &Output, w: &mut dyn Write) -> std::io::Result<()>;

    /// What [`Printer::print`] writes, as a string.
    fn to_string(&self, output: &Output) -> String {
        let mut bytes = Vec::new();
        self.print(output, &mut bytes)
            .expect("writing to memory does not fail");
        String::from_utf8(bytes).expect("printers write UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, Location, Stats};
    use crate::settings::Severity;

    fn report() -> Report {
        Report {
            version: 1,
            findings: vec![Finding {
                rule: "write-hold-zap",
                code: "MMS002",
                severity: Severity::Warning,
                file: "mm/demo.c".into(),
                line: 3,
                column: 9,
                function: "demo_unmap".into(),
                holder: "demo".into(),
                call_path: vec!["demo".into(), "demo_unmap".into()],
                operation: "unmap_region".into(),
                lock_mode: "write",
                acquired_at: Location {
                    file: "mm/demo.c".into(),
                    line: 8,
                },
                held_on_entry: false,
                context: vec!["unlock=0".into()],
                message: "`demo` holds the mmap lock for write (`mmap_write_lock`) across page zapping: `unmap_region`".into(),
                fingerprint: "0123456789abcdef".into(),
                call_text: "unmap_region(mm, vma)".into(),
                site_id: String::new(),
                triggers: vec!["munmap(2)".into()],
                context_callers: Vec::new(),
                measured: None,
            }],
            stats: Stats {
                files: 1,
                files_parsed: 1,
                functions: 2,
                ..Default::default()
            },
            skipped: Vec::new(),
        }
    }

    fn sources() -> HashMap<String, String> {
        HashMap::from([(
            "mm/demo.c".to_string(),
            "static void demo_unmap(struct mm_struct *mm)\n{\n\tfoo(); unmap_region(mm, vma);\n}\n"
                .to_string(),
        )])
    }

    #[test]
    fn each_printer_writes_what_its_render_function_returns() {
        let report = report();
        let sources = sources();
        let root = Path::new("/src/linux");
        let output = Output {
            report: &report,
            sources: Some(&sources),
            root: Some(root),
        };
        assert_eq!(
            text::Text {
                options: text::TextOptions::default()
            }
            .to_string(&output),
            text::render(&report, &sources)
        );
        assert_eq!(
            text::Text {
                options: text::TextOptions {
                    color: true,
                    per_holder: false
                }
            }
            .to_string(&output),
            text::render_styled(&report, &sources, true)
        );
        assert_eq!(json::Json.to_string(&output), json::render(&report));
        assert_eq!(
            sarif::Sarif.to_string(&output),
            sarif::render_run(
                &report.findings,
                &sarif::SarifRun {
                    root: Some(root),
                    sources: Some(&sources),
                }
            )
        );
        assert_eq!(
            github::Github { prefix: "linux" }.to_string(&output),
            github::render(&report.findings, "linux")
        );
    }

    #[test]
    fn text_block_in_both_layouts() {
        let report = report();
        let sources = sources();
        insta::assert_snapshot!(text::Text { options: text::TextOptions::default() }.to_string(&Output {
            sources: Some(&sources),
            ..Output::new(&report)
        }), @r"
        ── mm/demo.c (1 site, 1 holder path)
        mm/demo.c:3:9: warning[MMS002]: `demo` holds the mmap lock for write (`mmap_write_lock`) across page zapping: `unmap_region`
          |
        3 |     foo(); unmap_region(mm, vma);
          |            ^^^^^^^^^^^^
          = note: lock taken for write at mm/demo.c:8 in `demo`
          = note: call path: demo → demo_unmap
          = note: with constant arguments unlock=0
          = note: reached from munmap(2)
          = help: `mmstall explain write-hold-zap`
        1 site, 1 holder path in 1 files (1 parsed, 2 functions) in 0 ms
        ");
        let mut nested = String::new();
        text::write_finding_body(
            &mut nested,
            &report.findings[0],
            sources.get("mm/demo.c").map(String::as_str),
            &text::NESTED,
        );
        // As `diff` and `series` print it: indented under their heading.
        assert_eq!(
            nested,
            "    |\n\
             \x20 3 |     foo(); unmap_region(mm, vma);\n\
             \x20   |            ^^^^^^^^^^^^\n\
             \x20   = note: lock taken for write at mm/demo.c:8 in `demo`\n\
             \x20   = note: call path: demo → demo_unmap\n\
             \x20   = note: with constant arguments unlock=0\n\
             \x20   = note: reached from munmap(2)\n"
        );
    }
}
