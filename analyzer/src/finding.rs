//! Findings and the report of one run (what printers print). The rules
//! build findings (`rules::hold` for the lock-hold rules); this module
//! holds their shape and the fingerprint.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::settings::Severity;
use crate::source::Skipped;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub code: &'static str,
    pub severity: Severity,
    /// Relative to the tree's root ([`crate::LintOptions::tree_root`]; the
    /// repository's root for revisions), else to the analyzed PATH. Part of
    /// the fingerprint: `lint .` and `lint mm` fingerprint a finding alike.
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The function containing the long call.
    pub function: String,
    /// The function that took the lock (or the function itself when the hold
    /// comes from its entry state).
    pub holder: String,
    /// holder → ... → function.
    pub call_path: Vec<String>,
    /// The long callee.
    pub operation: String,
    /// The mode held at the long call: "write", or "read" for MMS004/MMS005.
    pub lock_mode: &'static str,
    pub acquired_at: Location,
    /// The hold comes from the holder's entry state (a fault handler is
    /// entered with the lock held): `acquired_at` is then the holder's
    /// definition, not a lock call.
    #[serde(skip)]
    pub held_on_entry: bool,
    /// Constants the holder was analyzed with (`unlock=0`), when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    pub message: String,
    /// Line-insensitive: survives code moving up or down.
    pub fingerprint: String,
    /// The long call's text, whitespace-collapsed (for fingerprints and printers).
    #[serde(skip)]
    pub call_text: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub files: usize,
    pub files_parsed: usize,
    pub functions: usize,
    pub functions_with_parse_errors: usize,
    pub bytes_parsed: usize,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub version: u32,
    pub findings: Vec<Finding>,
    pub stats: Stats,
    /// Files that could not be analyzed, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Finding {
    /// Where the hold comes from, for the printers' note: the lock call, or
    /// the entry of a function entered with the lock held.
    pub fn lock_origin(&self) -> String {
        if self.held_on_entry {
            format!(
                "lock held for {} on entry to `{}` at {}:{}",
                self.lock_mode, self.holder, self.acquired_at.file, self.acquired_at.line
            )
        } else {
            format!(
                "lock taken for {} at {}:{} in `{}`",
                self.lock_mode, self.acquired_at.file, self.acquired_at.line, self.holder
            )
        }
    }
}

pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}
