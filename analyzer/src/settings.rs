//! Typed user settings: a rule's `[rules.<id or code>]` table and the
//! severity levels. A leaf module: the catalogue reads these types from the
//! TOML, the rules apply them, findings and printers carry the severity.

use serde::{Deserialize, Serialize};

/// A finding's level; spelled in lowercase in settings and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Per-rule settings from `[rules.<id or code>]`: `enabled = false` drops a
/// rule's findings, `severity` changes their level.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}
