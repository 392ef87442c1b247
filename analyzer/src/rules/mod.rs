//! The rules. One file each, holding what a user reads ([`Rule`]: id,
//! code, documentation), what the rule watches and how what it sees becomes
//! a finding ([`Check`]); ids and codes are stable.
//!
//! Two kinds of rule: the lock-hold rules (MMS001-MMS004) watch a class of
//! long operation ([`Watch::Long`]); the interprocedural analysis
//! ([`crate::summary`]) reports every long operation of a catalogued class
//! reached under a hold as a [`Hit`], and the rule of that class says
//! whether a hit is a finding and how its message names the operation
//! ([`hold`] builds the finding). An event rule (MMS005) looks for its
//! event itself over the analyzed program ([`Check::check_program`]).
//!
//! A new rule: a file here with its `RULE` (docs) and a unit struct
//! implementing [`Check`], listed in [`ALL`]; a new long class also needs
//! its list in the catalogue (`[long_ops.<class>]`).

use std::collections::HashSet;

use crate::catalogue::{Catalogue, LongClass};
use crate::finding::Finding;
use crate::lockstate::{ConstMap, Held, ORIGIN_ENTRY};
use crate::summary::{Hit, Program};

pub mod hold;
pub mod hold_across_io_wait;
pub mod rmap_mmap_trylock;
pub mod write_hold_populate;
pub mod write_hold_walk;
pub mod write_hold_zap;

pub use crate::settings::Severity;

/// A rule's identity and documentation, and its logic.
#[derive(Debug)]
pub struct Rule {
    /// Stable kebab-case id (`write-hold-populate`).
    pub id: &'static str,
    /// Stable code (`MMS001`).
    pub code: &'static str,
    pub summary: &'static str,
    pub default_severity: Severity,
    /// What, why, example, known limits (Markdown).
    pub doc: &'static str,
    /// What the rule watches and how it reports it.
    pub check: &'static dyn Check,
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Long operations of a catalogue class reached under an mmap lock hold.
    Long(LongClass),
    /// A trylock of the mmap lock reached from a reverse-map walk.
    RmapTrylock,
}

/// What the run found lexically besides the program, for the rules that
/// look at it.
pub struct Designated<'a> {
    /// Functions passed as rmap_walk callbacks (`.rmap_one = f`), and the
    /// catalogue's walkers.
    pub rmap_callbacks: &'a [String],
}

/// A rule's logic.
pub trait Check: Sync + std::fmt::Debug {
    fn watches(&self) -> Watch;

    /// For a lock-hold rule: the long operation as the message names it
    /// ("page zapping").
    fn operation(&self) -> &'static str {
        ""
    }

    /// For a lock-hold rule: whether a hit of its class is a finding.
    fn reports(&self, _program: &Program, _hit: &Hit) -> bool {
        true
    }

    /// For an event rule: its findings over the whole program (run after
    /// the hits' findings).
    fn check_program(&self, _program: &Program, _designated: &Designated) -> Vec<Finding> {
        Vec::new()
    }
}

impl Rule {
    /// The long class a lock-hold rule reports.
    pub fn long_class(&self) -> Option<LongClass> {
        match self.check.watches() {
            Watch::Long(class) => Some(class),
            Watch::RmapTrylock => None,
        }
    }

    /// The finding for a hit of this rule's class, unless the rule does not
    /// report it.
    fn finding(&'static self, program: &Program, hit: &Hit, context: &ConstMap) -> Option<Finding> {
        self.check
            .reports(program, hit)
            .then(|| hold::finding(self, program, hit, context))
    }
}

pub const ALL: &[&Rule] = &[
    &write_hold_populate::RULE,
    &write_hold_zap::RULE,
    &write_hold_walk::RULE,
    &hold_across_io_wait::RULE,
    &rmap_mmap_trylock::RULE,
];

/// Finds a rule by id or code (case-insensitive).
pub fn find(name: &str) -> Option<&'static Rule> {
    ALL.iter()
        .copied()
        .find(|r| r.id.eq_ignore_ascii_case(name) || r.code.eq_ignore_ascii_case(name))
}

pub fn for_class(class: LongClass) -> &'static Rule {
    ALL.iter()
        .copied()
        .find(|r| r.long_class() == Some(class))
        .expect("every long class has a rule")
}

/// Runs the rules over every root (function that takes the lock or is
/// promised a hold on entry), then applies the rule configuration. The
/// findings are sorted by place; one fingerprint is reported once.
pub fn run(program: &Program, designated: &Designated) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |f: Option<Finding>, findings: &mut Vec<Finding>| {
        // Same-named holders in different files (arch `do_page_fault`s)
        // share a fingerprint: both are kept, told apart afterwards
        // (`finding::disambiguate_fingerprints`).
        if let Some(f) =
            f.filter(|f| seen.insert((f.fingerprint.clone(), f.acquired_at.file.clone())))
        {
            findings.push(f);
        }
    };
    let roots = program.roots();
    let mut hinted = Vec::new();
    for &root in &roots {
        for env in program.contexts(root, 0).iter() {
            let result = program.analyze(root, env);
            for hit in result.local_hits.iter() {
                push(
                    for_class(hit.class).finding(program, hit, env),
                    &mut findings,
                );
            }
            if program.function(root).entry_hint.is_some() {
                hinted.push((root, result.clone(), env.clone()));
            }
        }
    }
    // A function promised a hold on entry is its own holder only when no
    // analyzed caller holds the lock for it (those findings name the caller).
    let under_write = program.called_under_write.borrow();
    let under_lock = program.called_under_lock.borrow();
    for (root, result, env) in hinted {
        // Only the promised mode: a function asserting a read hold is not
        // reported for what it would do if entered holding the lock for write.
        let promised = match program.function(root).entry_hint.map(|h| h.mode) {
            Some(crate::catalogue::LockMode::Write) => Held::Write,
            _ => Held::Read,
        };
        for hit in result.entry_hits.iter().filter(|h| h.held == promised) {
            debug_assert_eq!(hit.acquired, ORIGIN_ENTRY);
            let covered = match hit.held {
                Held::Write => under_write.contains(&root),
                _ => under_lock.contains(&root),
            };
            if !covered {
                push(
                    for_class(hit.class).finding(program, hit, &env),
                    &mut findings,
                );
            }
        }
    }
    for rule in ALL {
        for f in rule.check.check_program(program, designated) {
            push(Some(f), &mut findings);
        }
    }
    apply_settings(program.cat, &mut findings);
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code, &a.holder)
            .cmp(&(&b.file, b.line, b.column, b.code, &b.holder))
    });
    findings
}

/// `[rules.<id or code>]`: `enabled = false` drops a rule's findings,
/// `severity` changes their level.
fn apply_settings(cat: &Catalogue, findings: &mut Vec<Finding>) {
    for (name, cfg) in &cat.rules {
        let Some(rule) = find(name) else {
            continue;
        };
        if cfg.enabled == Some(false) {
            findings.retain(|f| f.code != rule.code);
        }
        if let Some(sev) = cfg.severity {
            for f in findings.iter_mut().filter(|f| f.code == rule.code) {
                f.severity = sev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_codes_are_unique_and_documented() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.id, b.id);
                assert_ne!(a.code, b.code);
            }
            for section in [
                "## What it finds",
                "## Why it matters",
                "## Example",
                "## Known limits",
            ] {
                assert!(a.doc.contains(section), "{} lacks {section}", a.id);
            }
        }
        assert_eq!(find("mms002").map(|r| r.id), Some("write-hold-zap"));
        assert_eq!(find("write-hold-walk").map(|r| r.code), Some("MMS003"));
    }
}
