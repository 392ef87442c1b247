//! The user's catalogue extension (`mmstall.toml`): typed on its own first
//! (errors point into the user's text), merged over the built-in
//! catalogue, and its `[rules]` checked against the known rules. Above
//! both the catalogue and the rules: the catalogue itself knows no rule.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::catalogue::{
    config_error, AcquireCond, Catalogue, FaultPath, LockMode, LockOp, LongClass, LongOpList,
    MacroHints, RmapWalkers, TaskFlags, BUILTIN_CATALOGUE,
};
use crate::error::AnalyzerError;

impl Catalogue {
    /// The built-in catalogue extended by a user file.
    pub fn with_user_file(path: &Path) -> Result<Catalogue, AnalyzerError> {
        let text = std::fs::read_to_string(path).map_err(|source| AnalyzerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Catalogue::with_user_str(&text, path)
    }

    pub fn with_user_str(user: &str, origin: &Path) -> Result<Catalogue, AnalyzerError> {
        let mut base: toml::Value = toml::from_str(BUILTIN_CATALOGUE).expect("builtin parses");
        let overlay: toml::Value =
            toml::from_str(user).map_err(|e| config_error(origin, user, e))?;
        // Typed on its own first: a wrong type is then reported at the key's
        // value in the user's file (the merged text has other lines, and
        // flattened tables lose positions).
        toml::from_str::<UserOverlay>(user).map_err(|e| config_error(origin, user, e))?;
        merge_toml(&mut base, overlay);
        let text = toml::to_string(&base).expect("a parsed value serializes");
        let cat =
            Catalogue::from_toml_str(&text, origin).map_err(|e| locate_in_user_text(e, user))?;
        cat.validate_rules(user, origin)?;
        Ok(cat)
    }

    /// `[rules.X]` must name a rule, and a severity must be one we know.
    fn validate_rules(&self, user: &str, origin: &Path) -> Result<(), AnalyzerError> {
        for name in self.rules.keys() {
            // A severity is typed (`settings::Severity`): a wrong one fails
            // to parse before this.
            let problem = crate::rules::find(name).is_none().then(|| {
                (
                    name.as_str(),
                    format!("unknown rule `{name}` in [rules] (see `mmstall rules`)"),
                )
            });
            if let Some((key, message)) = problem {
                let (line, column) = find_key(user, key).unwrap_or((0, 0));
                return Err(AnalyzerError::Config {
                    path: origin.to_path_buf(),
                    line,
                    column,
                    message,
                });
            }
        }
        Ok(())
    }
}

/// Deep merge: tables key by key, arrays extended (without duplicates), scalars replaced.
pub fn merge_toml(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge_toml(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (toml::Value::Array(b), toml::Value::Array(o)) => {
            for v in o {
                if !b.contains(&v) {
                    b.push(v);
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// A user's `mmstall.toml` as it may be written: every key optional (it is
/// merged over the built-in catalogue), with the built-in's types, so type
/// errors point into the user's text. Unknown top-level tables are left to
/// the merged catalogue (other tools' sections).
#[derive(Deserialize)]
#[allow(dead_code)] // read for its errors only
struct UserOverlay {
    #[serde(default)]
    lock_api: BTreeMap<String, LockApiOverlay>,
    #[serde(default)]
    lock_names: Option<LockNamesOverlay>,
    #[serde(default)]
    assertions: BTreeMap<String, AssertionOverlay>,
    #[serde(default)]
    long_ops: BTreeMap<LongClass, LongOpList>,
    #[serde(default)]
    macros: MacroHints,
    #[serde(default)]
    fault_path: FaultPath,
    #[serde(default)]
    rmap: RmapWalkers,
    #[serde(default)]
    task_flags: TaskFlags,
    #[serde(default)]
    rules: BTreeMap<String, RuleOverlay>,
    #[serde(default)]
    not_followed: BTreeMap<String, String>,
    #[serde(default)]
    not_followed_from: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    call_facts: BTreeMap<String, BTreeMap<String, crate::catalogue::CallFacts>>,
    #[serde(default)]
    pure: BTreeMap<String, String>,
    #[serde(default)]
    asserts: BTreeMap<String, String>,
    #[serde(default)]
    stable: BTreeMap<String, String>,
    #[serde(default)]
    assume_clear: BTreeMap<String, crate::catalogue::AssumeClear>,
    #[serde(default)]
    zeroing_allocators: BTreeMap<String, String>,
    #[serde(default)]
    keeps_bits: BTreeMap<String, crate::catalogue::KeepsBits>,
    #[serde(default)]
    free_range: BTreeMap<String, crate::catalogue::FreeRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LockApiOverlay {
    op: Option<LockOp>,
    mode: Option<LockMode>,
    cond: Option<AcquireCond>,
    match_arg: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LockNamesOverlay {
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AssertionOverlay {
    mode: Option<LockMode>,
    match_arg: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RuleOverlay {
    enabled: Option<bool>,
    severity: Option<crate::settings::Severity>,
}

/// An error found in the merged catalogue, placed at the user's line: the
/// key named in the message is looked up in the user's text.
fn locate_in_user_text(e: AnalyzerError, user: &str) -> AnalyzerError {
    match e {
        AnalyzerError::Config { path, message, .. } => {
            let key = message.split('`').nth(1).unwrap_or("");
            let (line, column) = find_key(user, key).unwrap_or((0, 0));
            AnalyzerError::Config {
                path,
                line,
                column,
                message,
            }
        }
        other => other,
    }
}

fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    if key.is_empty() {
        return None;
    }
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let is_key = t.starts_with(key) && t[key.len()..].trim_start().starts_with('=');
        let in_header = t.starts_with('[') && t.contains(key);
        (is_key || in_header).then(|| (i + 1, l.len() - t.len() + 1))
    })
}
