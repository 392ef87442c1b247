//! Findings and the report of one run.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::lockstate::ORIGIN_ENTRY;
use crate::rules::{self, Severity};
use crate::source::Skipped;
use crate::summary::{Hit, Program};

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

/// Builds the finding for a hit whose chain starts at the holder.
pub fn finding_from_hit(
    program: &Program,
    hit: &Hit,
    context: &crate::lockstate::ConstMap,
) -> Finding {
    let (holder_id, _) = hit.chain.first();
    let holder = program.function(holder_id);
    let (site_id, site_call) = hit.chain.last();
    let site = program.function(site_id);
    let call = &site.calls[site_call as usize];
    let rule = rules::for_class(hit.class);
    let call_path: Vec<String> = hit
        .chain
        .iter()
        .map(|(f, _)| program.function(f).name.clone())
        .collect();
    let acquired_at = if hit.acquired == ORIGIN_ENTRY {
        Location {
            file: program.files[holder.file as usize].clone(),
            line: holder.entry_hint.map(|h| h.line).unwrap_or(holder.line),
        }
    } else {
        Location {
            file: program.files[holder.file as usize].clone(),
            line: holder.calls[(hit.acquired - 1) as usize].line,
        }
    };
    let mode = match hit.held {
        crate::lockstate::Held::Write => "write",
        _ => "read",
    };
    let how = if hit.acquired == ORIGIN_ENTRY {
        format!("is entered with the mmap lock held for {mode} and keeps it")
    } else {
        format!(
            "holds the mmap lock for {mode} (`{}`)",
            holder.calls[(hit.acquired - 1) as usize].callee
        )
    };
    let what = match hit.class {
        crate::catalogue::LongClass::Populate => "page population",
        crate::catalogue::LongClass::Zap => "page zapping",
        crate::catalogue::LongClass::Walk => "a page-table walk",
        crate::catalogue::LongClass::IoWait => {
            "a wait for page I/O, without the fault retry protocol"
        }
    };
    let in_loop = if call.in_loop
        && program
            .cat
            .long_ops
            .get(&call.callee)
            .is_some_and(|o| o.in_loop)
    {
        " in a loop"
    } else {
        ""
    };
    let message = format!(
        "`{}` {how} across {what}: `{}`{in_loop}",
        holder.name, call.callee
    );
    let call_text = format!("{}({})", call.callee, call.args.join(", "));
    let occurrence = site.calls[..site_call as usize]
        .iter()
        .filter(|c| c.callee == call.callee && c.args == call.args)
        .count();
    let file = program.files[site.file as usize].clone();
    let mut context: Vec<String> = context
        .iter()
        .map(|(k, v)| match *v {
            crate::lockstate::OTHER_VALUE => format!("{k}=other"),
            v => format!("{k}={v}"),
        })
        .collect();
    context.sort();
    let fingerprint = fingerprint(&[
        rule.id,
        &file,
        &holder.name,
        &site.name,
        &call_text,
        &occurrence.to_string(),
        &call_path.join(">"),
    ]);
    Finding {
        rule: rule.id,
        code: rule.code,
        severity: rule.default_severity,
        file,
        line: call.line,
        column: call.column,
        function: site.name.clone(),
        holder: holder.name.clone(),
        call_path,
        operation: call.callee.clone(),
        lock_mode: mode,
        acquired_at,
        held_on_entry: hit.acquired == ORIGIN_ENTRY,
        context,
        message,
        fingerprint,
        call_text,
    }
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

/// The MMS005 finding for a trylock at `(fid, cid)` reached by `path` from an rmap walker.
pub fn rmap_trylock_finding(
    program: &Program,
    path: &[crate::summary::FnId],
    fid: crate::summary::FnId,
    cid: u32,
) -> Finding {
    let f = program.function(fid);
    let call = &f.calls[cid as usize];
    let rule = &rules::rmap_mmap_trylock::RULE;
    let file = program.files[f.file as usize].clone();
    let call_path: Vec<String> = path
        .iter()
        .map(|p| program.function(*p).name.clone())
        .collect();
    let call_text = format!("{}({})", call.callee, call.args.join(", "));
    let occurrence = f.calls[..cid as usize]
        .iter()
        .filter(|c| c.callee == call.callee && c.args == call.args)
        .count();
    let fingerprint = fingerprint(&[
        rule.id,
        &file,
        &f.name,
        &call_text,
        &occurrence.to_string(),
        &call_path.join(">"),
    ]);
    Finding {
        rule: rule.id,
        code: rule.code,
        severity: rule.default_severity,
        file: file.clone(),
        line: call.line,
        column: call.column,
        function: f.name.clone(),
        holder: f.name.clone(),
        message: format!(
            "`{}` tries the mmap lock (`{}`) in a reverse-map walk (from `{}`): a failed trylock silently skips the work",
            f.name, call.callee, call_path[0]
        ),
        call_path,
        operation: call.callee.clone(),
        lock_mode: "read",
        acquired_at: Location { file, line: call.line },
        held_on_entry: false,
        context: Vec::new(),
        fingerprint,
        call_text,
    }
}
