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
    /// The direct callers of the holder that pass those constants, as
    /// `vm_munmap → __vm_munmap(unlock=false)` with the caller's source text
    /// (set by the run after the rules; empty when none was found).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context_callers: Vec<String>,
    pub message: String,
    /// Line-insensitive: survives code moving up or down.
    pub fingerprint: String,
    /// The long-call site, line-insensitive like `fingerprint` but without
    /// the holder and call path: every holder reaching one call shares it
    /// (set by [`assign_site_ids`] once a run's findings are known).
    pub site_id: String,
    /// The entry points the holder is reached from (`munmap(2)`, `fault`,
    /// `ioctl`, `kthread`, `exit`), nearest first (set by the run after the
    /// rules; empty when none was found within the search's bounds).
    pub triggers: Vec<String>,
    /// What a booted kernel measured for this hold (`mmstall confirm`),
    /// attached by `lint --confirmations` / `diff --confirmations`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
    /// The long call's text, whitespace-collapsed (for fingerprints and printers).
    #[serde(skip)]
    pub call_text: String,
}

/// A measured hold: the outcome `mmstall confirm` gave the finding and, when
/// its workload ran, the longest hold at each size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// `confirmed`, `short`, `not reached` or `no workload`.
    pub outcome: String,
    /// The kernel it was measured on (`uname -r`).
    pub kernel: String,
    /// (size in MiB, longest hold in ms: the median over repetitions).
    pub sizes: Vec<(u64, f64)>,
    /// Largest size's hold over the smallest's.
    pub growth: Option<f64>,
    /// The workload (recipe) of the longest hold, or why there was none.
    pub detail: String,
}

impl Measured {
    /// `confirmed: 92 ms at 64 MiB, 419 ms at 256 MiB (4.5x), munmap on 6.12.118`.
    pub fn summary(&self) -> String {
        let sizes: Vec<String> = self
            .sizes
            .iter()
            .map(|(mib, ms)| format!("{ms:.1} ms at {mib} MiB"))
            .collect();
        let growth = self
            .growth
            .map(|g| format!(" ({g:.1}x)"))
            .unwrap_or_default();
        let mut s = self.outcome.clone();
        if !sizes.is_empty() {
            s.push_str(&format!(": {}{growth}", sizes.join(", ")));
        }
        if !self.detail.is_empty() {
            s.push_str(&format!(", {}", self.detail));
        }
        if !self.kernel.is_empty() {
            s.push_str(&format!(" on {}", self.kernel));
        }
        s
    }
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

/// Findings of same-named holders in different files (ten arch
/// `do_page_fault`s reaching one call by one path) share a fingerprint,
/// which names the holder but not its file: those, and only those, get one
/// that also hashes the holder's file, so every other fingerprint (and the
/// baselines and snapshots made of them) stays as it was.
pub fn disambiguate_fingerprints(findings: &mut [Finding]) {
    use std::collections::{BTreeMap, BTreeSet};
    let mut files: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in findings.iter() {
        files
            .entry(f.fingerprint.as_str())
            .or_default()
            .insert(f.acquired_at.file.as_str());
    }
    let shared: BTreeSet<String> = files
        .into_iter()
        .filter(|(_, holder_files)| holder_files.len() > 1)
        .map(|(fp, _)| fp.to_string())
        .collect();
    for f in findings
        .iter_mut()
        .filter(|f| shared.contains(&f.fingerprint))
    {
        f.fingerprint = fingerprint(&[&f.fingerprint, "holder file", &f.acquired_at.file]);
    }
}

/// Gives each finding its site id: rule, file, function, the call's text
/// and which of the reported calls with that text in that function it is
/// (counted in line order, so the id survives code moving as the
/// fingerprint does, and two equal calls in one function stay two sites).
pub fn assign_site_ids(findings: &mut [Finding]) {
    use std::collections::BTreeMap;
    // (rule, file, function, call text) → the places of such calls.
    type CallKey<'a> = (&'a str, &'a str, &'a str, &'a str);
    let mut lines: BTreeMap<CallKey, Vec<(u32, u32)>> = BTreeMap::new();
    for f in findings.iter() {
        lines
            .entry((f.rule, &f.file, &f.function, &f.call_text))
            .or_default()
            .push((f.line, f.column));
    }
    let ids: Vec<String> = findings
        .iter()
        .map(|f| {
            let mut places = lines[&(
                f.rule,
                f.file.as_str(),
                f.function.as_str(),
                f.call_text.as_str(),
            )]
                .clone();
            places.sort_unstable();
            places.dedup();
            let occurrence = places
                .iter()
                .position(|&p| p == (f.line, f.column))
                .unwrap_or(0);
            fingerprint(&[
                "site",
                f.rule,
                &f.file,
                &f.function,
                &f.call_text,
                &occurrence.to_string(),
            ])
        })
        .collect();
    for (f, id) in findings.iter_mut().zip(ids) {
        f.site_id = id;
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
