//! `--format github`: GitHub Actions workflow commands, one annotation per
//! long-call site (a pull request shows one per line, whoever reaches it),
//! listing each holder path with its call path, constant arguments and
//! triggers.

use super::sites::{self, HolderNames};
use crate::finding::Finding;

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `prefix` is prepended to each file (the PATH relative to the repository root).
pub fn render(findings: &[Finding], prefix: &str) -> String {
    let names = HolderNames::new(findings);
    let mut out = String::new();
    for site in sites::group(findings) {
        let f = site.first();
        let level = match f.severity {
            crate::settings::Severity::Error => "error",
            crate::settings::Severity::Warning => "warning",
            crate::settings::Severity::Note => "notice",
        };
        let file = if prefix.is_empty() {
            f.file.clone()
        } else {
            format!("{}/{}", prefix.trim_end_matches('/'), f.file)
        };
        let mut message = site.message();
        for h in &site.holders {
            if site.holders.len() > 1 {
                message.push_str(&format!("\nholder {}: {}", names.label(h), h.lock_origin()));
            }
            if h.call_path.len() > 1 {
                message.push_str(&format!("\ncall path: {}", h.call_path.join(" → ")));
            }
            if !h.context.is_empty() {
                message.push_str(&format!(
                    "\nwith constant arguments {}",
                    h.context.join(", ")
                ));
                if !h.context_callers.is_empty() {
                    message.push_str(&format!(" (passed by {})", h.context_callers.join(", ")));
                }
            }
            if let Some(triggers) = sites::triggers_text(h) {
                message.push_str(&format!("\nreached from {triggers}"));
            }
        }
        out.push_str(&format!(
            "::{level} file={},line={},col={},title={}::{}\n",
            escape_property(&file),
            f.line,
            f.column,
            escape_property(&format!("{} {}", f.code, f.rule)),
            escape_data(&message)
        ));
    }
    out
}

/// The GitHub Actions printer (`--format github`).
pub struct Github<'a> {
    /// Prepended to each file (see [`render`]).
    pub prefix: &'a str,
}

impl super::Printer for Github<'_> {
    fn print(&self, output: &super::Output, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(render(&output.report.findings, self.prefix).as_bytes())
    }
}
