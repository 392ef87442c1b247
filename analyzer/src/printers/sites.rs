//! Findings grouped by long-call site: one [`Site`] per (rule, call), with
//! every holder path reaching it. The text, SARIF and GitHub printers show
//! one item per site (a maintainer fixes a call once, whoever reaches it);
//! JSON keeps one record per (holder, site), tied together by `site_id`.

use std::collections::{BTreeMap, BTreeSet};

use crate::finding::Finding;
use crate::rules;

/// One long-call site and the findings (holder paths) reaching it, in the
/// order they were given (a run's: by place, then holder).
pub struct Site<'a> {
    pub holders: Vec<&'a Finding>,
}

/// Triggers printed per holder before `+N more`.
pub const SHOWN_TRIGGERS: usize = 6;

impl<'a> Site<'a> {
    /// The finding whose place (file, line, column) the site shows.
    pub fn first(&self) -> &'a Finding {
        self.holders[0]
    }

    /// The site's head message: the finding's own when one holder reaches
    /// it, else the operation with the holders counted.
    pub fn message(&self) -> String {
        let f = self.first();
        if self.holders.len() == 1 {
            return f.message.clone();
        }
        let n = self.holders.len();
        let what = rules::find(f.rule)
            .map(|r| r.check.operation())
            .unwrap_or("");
        if what.is_empty() {
            return format!("{} (and {} more holder paths)", f.message, n - 1);
        }
        let modes: BTreeSet<&str> = self.holders.iter().map(|h| h.lock_mode).collect();
        let modes: Vec<&str> = ["write", "read"]
            .into_iter()
            .filter(|m| modes.contains(m))
            .collect();
        let in_loop = if f.message.ends_with(" in a loop") {
            " in a loop"
        } else {
            ""
        };
        format!(
            "{n} holder paths keep the mmap lock (held for {}) across {what}: `{}`{in_loop}",
            modes.join(" or "),
            f.operation
        )
    }
}

/// The findings grouped by site id (findings without one, built outside a
/// run, are each their own site), sites in the order of their first finding.
pub fn group(findings: &[Finding]) -> Vec<Site<'_>> {
    let mut order: Vec<Site> = Vec::new();
    let mut at: BTreeMap<(&str, u32, u32, &str), usize> = BTreeMap::new();
    for f in findings {
        // The place is part of the key: one site id is one call.
        let key = (f.site_id.as_str(), f.line, f.column, f.file.as_str());
        if f.site_id.is_empty() {
            order.push(Site { holders: vec![f] });
            continue;
        }
        match at.get(&key) {
            Some(&k) => order[k].holders.push(f),
            None => {
                at.insert(key, order.len());
                order.push(Site { holders: vec![f] });
            }
        }
    }
    // Holders in a stable order whatever order the run found them in.
    for site in &mut order {
        site.holders.sort_by(|a, b| {
            (&a.holder, &a.acquired_at.file, &a.call_path).cmp(&(
                &b.holder,
                &b.acquired_at.file,
                &b.call_path,
            ))
        });
    }
    order
}

/// Holder names defined in more than one file among `findings` (ten
/// `do_page_fault`s): printed with their file.
pub struct HolderNames {
    ambiguous: BTreeSet<String>,
}

impl HolderNames {
    pub fn new(findings: &[Finding]) -> HolderNames {
        let mut files: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for f in findings {
            files
                .entry(f.holder.as_str())
                .or_default()
                .insert(f.acquired_at.file.as_str());
        }
        HolderNames {
            ambiguous: files
                .into_iter()
                .filter(|(_, fs)| fs.len() > 1)
                .map(|(name, _)| name.to_string())
                .collect(),
        }
    }

    /// `` `do_page_fault` (arch/arm/mm/fault.c) `` for an ambiguous name,
    /// else `` `name` ``.
    pub fn label(&self, f: &Finding) -> String {
        if self.ambiguous.contains(&f.holder) {
            format!("`{}` ({})", f.holder, f.acquired_at.file)
        } else {
            format!("`{}`", f.holder)
        }
    }
}

/// `munmap(2), mremap(2), brk(2), +3 more`, or `None` when none is known.
pub fn triggers_text(f: &Finding) -> Option<String> {
    if f.triggers.is_empty() {
        return None;
    }
    let mut shown: Vec<&str> = f
        .triggers
        .iter()
        .take(SHOWN_TRIGGERS)
        .map(String::as_str)
        .collect();
    let more = f.triggers.len().saturating_sub(SHOWN_TRIGGERS);
    let more_text = format!("+{more} more");
    if more > 0 {
        shown.push(&more_text);
    }
    Some(shown.join(", "))
}

/// `3 sites, 5 holder paths`.
pub fn counts(findings: &[Finding]) -> String {
    let sites = group(findings).len();
    format!(
        "{sites} site{}, {} holder path{}",
        if sites == 1 { "" } else { "s" },
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    )
}
