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
}

impl FindingsDiff {
    pub fn is_empty(&self) -> bool {
        self.introduced.is_empty() && self.fixed.is_empty()
    }
}

/// Findings of NEW against OLD. A fingerprint seen twice on one side (the
/// analyzer reports each once, but a caller may merge runs) is matched
/// occurrence by occurrence.
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
