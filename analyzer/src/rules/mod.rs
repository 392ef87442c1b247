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
use crate::summary::{FnId, Hit, Program};

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

/// What one root gives the run, in the order its contexts were analyzed:
/// the findings of the holds it takes itself, and those of the hold its
/// entry contract promises (kept apart: they are dropped when an analyzed
/// caller holds the lock for it, known only once every root is analyzed).
#[derive(Debug, Default)]
pub struct RootFindings {
    pub root: FnId,
    pub local: Vec<Finding>,
    pub promised: Vec<(Held, Finding)>,
    /// Bounds of the analysis that cut the root's results (local, and
    /// entry for a promised hold).
    pub cuts: crate::limits::Cuts,
}

/// The contexts of every root, asked in the order of `roots`: a context
/// set is memoized by function whatever depth asked for it first, so the
/// order is part of the answer, and every analysis thread asks in this one.
pub fn root_contexts<'a>(
    program: &'a Program,
    roots: &'a [FnId],
) -> impl Iterator<Item = std::rc::Rc<Vec<ConstMap>>> + 'a {
    roots.iter().map(|&root| program.contexts(root, 0))
}

/// Analyzes `root` in each of its contexts (`envs`, from [`root_contexts`])
/// and turns its hits into findings.
pub fn root_findings(program: &Program, root: FnId, envs: &[ConstMap]) -> RootFindings {
    let mut out = RootFindings {
        root,
        ..Default::default()
    };
    let hint = program.function(root).entry_hint;
    // Only the promised mode: a function asserting a read hold is not
    // reported for what it would do if entered holding the lock for write.
    let promised = match hint.map(|h| h.mode) {
        Some(crate::catalogue::LockMode::Write) => Held::Write,
        _ => Held::Read,
    };
    for env in envs {
        let result = program.analyze(root, env);
        out.cuts |= result.local_cut;
        out.local.extend(
            result
                .local_hits
                .iter()
                .filter_map(|hit| for_class(hit.class).finding(program, hit, env)),
        );
        if hint.is_some() {
            out.cuts |= result.entry_cut;
            for hit in result.entry_hits.iter().filter(|h| h.held == promised) {
                debug_assert_eq!(hit.acquired, ORIGIN_ENTRY);
                if let Some(f) = for_class(hit.class).finding(program, hit, env) {
                    out.promised.push((hit.held, f));
                }
            }
        }
    }
    out
}

/// The event rules' findings over the whole program.
pub fn event_findings(program: &Program, designated: &Designated) -> Vec<Finding> {
    ALL.iter()
        .flat_map(|rule| rule.check.check_program(program, designated))
        .collect()
}

/// The run's findings from every root's (in the order of
/// [`Program::roots`]) and the event rules': the roots' own holds first,
/// then the promised holds no analyzed caller covers (`covered(root,
/// mode)`: a caller holds the lock for it), then the events; one
/// fingerprint per holder file, the configuration applied, sorted by place.
pub fn assemble(
    cat: &Catalogue,
    per_root: Vec<RootFindings>,
    covered: &dyn Fn(FnId, Held) -> bool,
    events: Vec<Finding>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    // Same-named holders in different files (arch `do_page_fault`s) share a
    // fingerprint: both are kept, told apart afterwards
    // (`finding::disambiguate_fingerprints`).
    let mut push = |f: Finding| {
        if seen.insert((f.fingerprint.clone(), f.acquired_at.file.clone())) {
            findings.push(f);
        }
    };
    let mut promised = Vec::new();
    for r in per_root {
        r.local.into_iter().for_each(&mut push);
        promised.extend(r.promised.into_iter().map(|(held, f)| (r.root, held, f)));
    }
    // A function promised a hold on entry is its own holder only when no
    // analyzed caller holds the lock for it (those findings name the caller).
    for (root, held, f) in promised {
        if !covered(root, held) {
            push(f);
        }
    }
    events.into_iter().for_each(&mut push);
    apply_settings(cat, &mut findings);
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
