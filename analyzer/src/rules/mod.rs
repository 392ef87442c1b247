//! The rules. One file each, with its documentation; ids and codes are stable.

use crate::catalogue::LongClass;

pub mod hold_across_io_wait;
pub mod rmap_mmap_trylock;
pub mod write_hold_populate;
pub mod write_hold_walk;
pub mod write_hold_zap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A rule's identity and documentation.
#[derive(Debug)]
pub struct Rule {
    /// Stable kebab-case id (`write-hold-populate`).
    pub id: &'static str,
    /// Stable code (`MMS001`).
    pub code: &'static str,
    pub summary: &'static str,
    pub default_severity: Severity,
    /// The class of long operation this rule reports, for the lock-hold rules.
    pub long_class: Option<LongClass>,
    /// What, why, example, known limits (Markdown).
    pub doc: &'static str,
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
        .find(|r| r.long_class == Some(class))
        .expect("every long class has a rule")
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
