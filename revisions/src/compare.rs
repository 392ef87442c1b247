//! Matching the findings of two runs by fingerprint. Fingerprints leave out
//! line numbers, so code moving up or down is neither introduced nor fixed.

use std::collections::HashMap;

use mmstall_analyzer::Finding;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct FindingsDiff {
    /// In NEW only (located in NEW).
    pub introduced: Vec<Finding>,
    /// In OLD only (located in OLD).
    pub fixed: Vec<Finding>,
    /// In both (located in NEW).
    pub unchanged: Vec<Finding>,
    /// Of `unchanged`: the same hold (rule, holder, long call) reached by
    /// another call path in NEW (a helper renamed, split or inlined on the
    /// way): neither fixed nor introduced.
    pub path_changed: usize,
}

impl FindingsDiff {
    pub fn is_empty(&self) -> bool {
        self.introduced.is_empty() && self.fixed.is_empty()
    }
}

/// Findings of NEW against OLD. A fingerprint seen twice on one side (the
/// analyzer reports each once, but a caller may merge runs) is matched
/// occurrence by occurrence; what is left is then matched by hold (see
/// [`hold_key`]), so a path that only changed on the way is no fix.
pub fn compare(old: &[Finding], new: &[Finding]) -> FindingsDiff {
    let mut old_left: HashMap<&str, usize> = HashMap::new();
    for f in old {
        *old_left.entry(f.fingerprint.as_str()).or_default() += 1;
    }
    let mut diff = FindingsDiff::default();
    for f in new {
        match old_left.get_mut(f.fingerprint.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                diff.unchanged.push(f.clone());
            }
            _ => diff.introduced.push(f.clone()),
        }
    }
    let mut new_left: HashMap<&str, usize> = HashMap::new();
    for f in new {
        *new_left.entry(f.fingerprint.as_str()).or_default() += 1;
    }
    for f in old {
        match new_left.get_mut(f.fingerprint.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => diff.fixed.push(f.clone()),
        }
    }
    match_rerouted(&mut diff);
    for list in [&mut diff.introduced, &mut diff.fixed, &mut diff.unchanged] {
        sort(list);
    }
    diff
}

pub(crate) fn sort(list: &mut [Finding]) {
    list.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code, &a.holder, &a.fingerprint).cmp(&(
            &b.file,
            b.line,
            b.column,
            b.code,
            &b.holder,
            &b.fingerprint,
        ))
    });
}

/// What a finding is without its call path: the rule, the long call (file,
/// function, callee, its text), the holder and where its lock comes from,
/// and the constants it holds under. The fingerprint adds the call path, so
/// a refactoring between holder and site (2.6.28's indexed LRU arrays:
/// `shrink_list()` reached through a new loop) changes it.
fn hold_key(f: &Finding) -> String {
    [
        f.code,
        &f.file,
        &f.function,
        &f.operation,
        &f.call_text,
        &f.holder,
        &f.acquired_at.file,
        &f.context.join(","),
    ]
    .join("\u{1f}")
}

/// Moves each introduced finding whose hold an equally keyed fixed one had
/// into `unchanged` (one for one), counting them as `path_changed`.
fn match_rerouted(diff: &mut FindingsDiff) {
    if diff.introduced.is_empty() || diff.fixed.is_empty() {
        return;
    }
    let mut fixed_left: HashMap<_, usize> = HashMap::new();
    for f in &diff.fixed {
        *fixed_left.entry(hold_key(f)).or_default() += 1;
    }
    let mut matched: HashMap<_, usize> = HashMap::new();
    let mut still_introduced = Vec::new();
    let mut rerouted = Vec::new();
    for f in std::mem::take(&mut diff.introduced) {
        match fixed_left.get_mut(&hold_key(&f)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                *matched.entry(hold_key(&f)).or_default() += 1;
                rerouted.push(f);
            }
            _ => still_introduced.push(f),
        }
    }
    let mut still_fixed = Vec::new();
    for f in std::mem::take(&mut diff.fixed) {
        match matched.get_mut(&hold_key(&f)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => still_fixed.push(f),
        }
    }
    diff.path_changed = rerouted.len();
    diff.unchanged.extend(rerouted);
    diff.introduced = still_introduced;
    diff.fixed = still_fixed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmstall_analyzer::{Location, Severity};

    fn finding(holder: &str, path: &[&str], fingerprint: &str) -> Finding {
        Finding {
            rule: "hold-across-io-wait",
            code: "MMS004",
            severity: Severity::Warning,
            file: "mm/vmscan.c".into(),
            line: 308,
            column: 2,
            function: "pageout".into(),
            holder: holder.into(),
            call_path: path.iter().map(|s| s.to_string()).collect(),
            operation: "lock_page".into(),
            lock_mode: "read",
            acquired_at: Location {
                file: "mm/mempolicy.c".into(),
                line: 10,
            },
            held_on_entry: false,
            context: Vec::new(),
            message: String::new(),
            fingerprint: fingerprint.into(),
            call_text: "lock_page(page)".into(),
            site_id: String::new(),
            triggers: Vec::new(),
            context_callers: Vec::new(),
            measured: None,
        }
    }

    #[test]
    fn a_hold_reached_by_another_path_is_neither_fixed_nor_introduced() {
        let old = [finding(
            "do_mbind",
            &["do_mbind", "shrink_list", "pageout"],
            "a",
        )];
        let new = [finding(
            "do_mbind",
            &["do_mbind", "shrink_inactive_list", "pageout"],
            "b",
        )];
        let d = compare(&old, &new);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.unchanged.len(), 1);
        assert_eq!(d.path_changed, 1);
    }

    #[test]
    fn another_holder_is_a_new_finding() {
        let old = [finding("do_mbind", &["do_mbind", "pageout"], "a")];
        let new = [
            finding("do_mbind", &["do_mbind", "x", "pageout"], "b"),
            finding("sys_mlock", &["sys_mlock", "pageout"], "c"),
        ];
        let d = compare(&old, &new);
        assert_eq!(d.introduced.len(), 1);
        assert_eq!(d.introduced[0].holder, "sys_mlock");
        assert!(d.fixed.is_empty());
        assert_eq!(d.path_changed, 1);
    }
}
