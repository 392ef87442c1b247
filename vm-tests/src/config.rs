//! Kernel config fragments: parsing, merging in order, applying onto a base
//! `.config` (from `make tinyconfig`), and checking after `olddefconfig` that
//! every requested option survived.
//!
//! A fragment is a list of `CONFIG_FOO=value` and `# CONFIG_FOO is not set`
//! lines; other `#` lines are comments. Fragments given with `--config a,b,c`
//! merge in order: a later fragment overrides an earlier one, and the override
//! is recorded so it can be reported.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The fragments shipped with mmstall (kernel-configs/), embedded in the binary.
pub const BUILTIN_FRAGMENTS: &[(&str, &str)] = &[
    (
        "virtme-base",
        include_str!("../../kernel-configs/virtme-base.config"),
    ),
    (
        "stall-debug",
        include_str!("../../kernel-configs/stall-debug.config"),
    ),
    (
        "lockdep",
        include_str!("../../kernel-configs/lockdep.config"),
    ),
    (
        "no-per-vma-lock",
        include_str!("../../kernel-configs/no-per-vma-lock.config"),
    ),
    (
        "kselftest-mm",
        include_str!("../../kernel-configs/kselftest-mm.config"),
    ),
    (
        "confirm",
        include_str!("../../kernel-configs/confirm.config"),
    ),
];

/// The fragment every build starts from (on top of `make tinyconfig`).
pub const BASE_FRAGMENT: &str = "virtme-base";
/// `--config` when none is given.
pub const DEFAULT_FRAGMENTS: &str = "virtme-base,stall-debug";

/// One option value as written in a fragment or a `.config`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Yes,
    Module,
    No,
    /// Anything else, verbatim: numbers, hex, quoted strings.
    Raw(String),
}

impl Value {
    fn parse(raw: &str) -> Value {
        match raw {
            "y" => Value::Yes,
            "m" => Value::Module,
            "n" => Value::No,
            other => Value::Raw(other.to_string()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Yes => f.write_str("y"),
            Value::Module => f.write_str("m"),
            Value::No => f.write_str("n"),
            Value::Raw(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{fragment}:{line}: not a config line: `{text}` (expected CONFIG_FOO=value or `# CONFIG_FOO is not set`)")]
    Syntax {
        fragment: String,
        line: usize,
        text: String,
    },
    #[error("{fragment}:{line}: {name} has an empty value")]
    EmptyValue {
        fragment: String,
        line: usize,
        name: String,
    },
    #[error("{fragment}:{line}: {name} has an unterminated string value")]
    UnterminatedString {
        fragment: String,
        line: usize,
        name: String,
    },
    #[error("{fragment}:{line}: {name} is already set on line {first_line} of the same fragment")]
    Duplicate {
        fragment: String,
        line: usize,
        first_line: usize,
        name: String,
    },
    #[error("unknown config fragment `{name}`: not a built-in ({builtins}) and no such file")]
    UnknownFragment { name: String, builtins: String },
    #[error("cannot read config fragment {path}: {error}")]
    Read { path: PathBuf, error: String },
    #[error("empty --config list")]
    EmptyList,
}

/// One `CONFIG_` assignment in a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub value: Value,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Built-in name or the path it was read from.
    pub name: String,
    pub entries: Vec<Entry>,
}

fn valid_symbol(name: &str) -> bool {
    name.len() > "CONFIG_".len()
        && name.starts_with("CONFIG_")
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Parses one line of a fragment or `.config`: `Ok(None)` for blank lines and comments.
fn parse_line(
    fragment: &str,
    lineno: usize,
    raw: &str,
) -> Result<Option<(String, Value)>, ConfigError> {
    let line = raw.trim();
    if line.is_empty() {
        return Ok(None);
    }
    if let Some(rest) = line.strip_prefix('#') {
        let rest = rest.trim();
        if let Some(name) = rest.strip_suffix(" is not set") {
            let name = name.trim();
            if valid_symbol(name) {
                return Ok(Some((name.to_string(), Value::No)));
            }
        }
        return Ok(None); // a comment
    }
    let syntax = || ConfigError::Syntax {
        fragment: fragment.to_string(),
        line: lineno,
        text: line.to_string(),
    };
    let (name, value) = line.split_once('=').ok_or_else(syntax)?;
    let name = name.trim();
    if !valid_symbol(name) {
        return Err(syntax());
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::EmptyValue {
            fragment: fragment.to_string(),
            line: lineno,
            name: name.to_string(),
        });
    }
    if value.starts_with('"') && (value.len() < 2 || !value.ends_with('"')) {
        return Err(ConfigError::UnterminatedString {
            fragment: fragment.to_string(),
            line: lineno,
            name: name.to_string(),
        });
    }
    Ok(Some((name.to_string(), Value::parse(value))))
}

impl Fragment {
    pub fn parse(name: &str, text: &str) -> Result<Fragment, ConfigError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            if let Some((sym, value)) = parse_line(name, lineno, raw)? {
                if let Some(&first_line) = seen.get(&sym) {
                    return Err(ConfigError::Duplicate {
                        fragment: name.to_string(),
                        line: lineno,
                        first_line,
                        name: sym,
                    });
                }
                seen.insert(sym.clone(), lineno);
                entries.push(Entry {
                    name: sym,
                    value,
                    line: lineno,
                });
            }
        }
        Ok(Fragment {
            name: name.to_string(),
            entries,
        })
    }

    pub fn builtin(name: &str) -> Option<Fragment> {
        let name = name.strip_suffix(".config").unwrap_or(name);
        BUILTIN_FRAGMENTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| {
                Fragment::parse(n, text).expect("built-in fragments parse (checked by tests)")
            })
    }
}

/// Resolves `--config a,b,c`: each item is a built-in fragment name or a path to a
/// fragment file. The base fragment is put first when the list does not name it.
pub fn resolve_fragments(list: &str) -> Result<Vec<Fragment>, ConfigError> {
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ConfigError::EmptyList);
    }
    let mut out = Vec::new();
    for name in &names {
        if let Some(f) = Fragment::builtin(name) {
            out.push(f);
            continue;
        }
        let path = Path::new(name);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: path.to_path_buf(),
                error: e.to_string(),
            })?;
            out.push(Fragment::parse(name, &text)?);
            continue;
        }
        return Err(ConfigError::UnknownFragment {
            name: name.to_string(),
            builtins: BUILTIN_FRAGMENTS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if !out.iter().any(|f| f.name == BASE_FRAGMENT) {
        out.insert(
            0,
            Fragment::builtin(BASE_FRAGMENT).expect("base fragment is built in"),
        );
    }
    Ok(out)
}

/// A requested option after merging: its final value, which fragment set it,
/// and the earlier values it replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requested {
    pub name: String,
    pub value: Value,
    pub fragment: String,
    pub overrides: Vec<(String, Value)>,
}

/// Fragments merged in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Merged {
    pub fragments: Vec<String>,
    /// In order of first appearance.
    pub options: Vec<Requested>,
}

pub fn merge(fragments: &[Fragment]) -> Merged {
    let mut options: Vec<Requested> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for frag in fragments {
        for e in &frag.entries {
            match index.get(&e.name) {
                Some(&i) => {
                    let r = &mut options[i];
                    let old = std::mem::replace(&mut r.value, e.value.clone());
                    let old_frag = std::mem::replace(&mut r.fragment, frag.name.clone());
                    r.overrides.push((old_frag, old));
                }
                None => {
                    index.insert(e.name.clone(), options.len());
                    options.push(Requested {
                        name: e.name.clone(),
                        value: e.value.clone(),
                        fragment: frag.name.clone(),
                        overrides: Vec::new(),
                    });
                }
            }
        }
    }
    Merged {
        fragments: fragments.iter().map(|f| f.name.clone()).collect(),
        options,
    }
}

impl Merged {
    /// Content hash of what is requested (base config, arch and the final option
    /// values); independent of how the fragments were split or ordered when the
    /// result is the same.
    pub fn hash(&self, base: &str, arch: &str) -> String {
        let mut sorted: Vec<(&str, String)> = self
            .options
            .iter()
            .map(|o| (o.name.as_str(), o.value.to_string()))
            .collect();
        sorted.sort();
        let mut h = Sha256::new();
        h.update(b"mmstall-config-v1\0");
        h.update(base.as_bytes());
        h.update(b"\0");
        h.update(arch.as_bytes());
        h.update(b"\0");
        for (n, v) in sorted {
            h.update(n.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// The merged options as a fragment text (saved next to each build).
    pub fn to_fragment_text(&self) -> String {
        let mut s = String::new();
        for o in &self.options {
            s.push_str(&format_line(&o.name, &o.value));
            s.push('\n');
        }
        s
    }
}

fn format_line(name: &str, value: &Value) -> String {
    match value {
        Value::No => format!("# {name} is not set"),
        v => format!("{name}={v}"),
    }
}

/// Parses a `.config` (as written by kconfig) into name → value. Lines that are
/// not config lines are ignored.
pub fn parse_dotconfig(text: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        if let Ok(Some((n, v))) = parse_line(".config", i + 1, raw) {
            out.insert(n, v);
        }
    }
    out
}

/// Writes the merged options over a base `.config`: existing lines for a
/// requested option are replaced in place, the others are appended.
pub fn apply(base_dotconfig: &str, merged: &Merged) -> String {
    let wanted: BTreeMap<&str, &Value> = merged
        .options
        .iter()
        .map(|o| (o.name.as_str(), &o.value))
        .collect();
    let mut written: BTreeMap<&str, bool> = BTreeMap::new();
    let mut out = String::with_capacity(base_dotconfig.len() + 4096);
    for (i, raw) in base_dotconfig.lines().enumerate() {
        if let Ok(Some((name, _))) = parse_line(".config", i + 1, raw) {
            if let Some((k, v)) = wanted.get_key_value(name.as_str()) {
                out.push_str(&format_line(k, v));
                out.push('\n');
                written.insert(k, true);
                continue;
            }
        }
        out.push_str(raw);
        out.push('\n');
    }
    out.push_str("# --- mmstall merged fragments ---\n");
    for o in &merged.options {
        if !written.contains_key(o.name.as_str()) {
            out.push_str(&format_line(&o.name, &o.value));
            out.push('\n');
        }
    }
    out
}

/// A requested option that `olddefconfig` did not keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dropped {
    pub name: String,
    pub wanted: Value,
    /// `None` when the option is absent from the final `.config` (unknown
    /// symbol, or its dependencies are off).
    pub got: Option<Value>,
    pub fragment: String,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.got {
            Some(g) => write!(
                f,
                "{}={} (from {}) became {}",
                self.name, self.wanted, self.fragment, g
            ),
            None => write!(
                f,
                "{}={} (from {}) is absent: unknown symbol or unmet dependencies",
                self.name, self.wanted, self.fragment
            ),
        }
    }
}

/// Compares the final `.config` with what was requested. A request for `n` is
/// met when the option is `n` or absent.
pub fn check_survivors(final_dotconfig: &str, merged: &Merged) -> Vec<Dropped> {
    let fin = parse_dotconfig(final_dotconfig);
    let mut out = Vec::new();
    for o in &merged.options {
        let got = fin.get(&o.name);
        let ok = match (&o.value, got) {
            (Value::No, None) | (Value::No, Some(Value::No)) => true,
            (w, Some(g)) => w == g,
            (_, None) => false,
        };
        if !ok {
            out.push(Dropped {
                name: o.name.clone(),
                wanted: o.value.clone(),
                got: got.cloned(),
                fragment: o.fragment.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(name: &str, text: &str) -> Fragment {
        Fragment::parse(name, text).unwrap()
    }

    #[test]
    fn builtin_fragments_parse_and_are_not_empty() {
        for (name, _) in BUILTIN_FRAGMENTS {
            let f = Fragment::builtin(name).unwrap();
            assert!(!f.entries.is_empty(), "{name} is empty");
        }
        assert!(Fragment::builtin("stall-debug.config").is_some());
        assert!(Fragment::builtin("nope").is_none());
    }

    #[test]
    fn parses_values_and_not_set_comments() {
        let f = frag("t", "# a comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\nCONFIG_D=30\nCONFIG_E=m\n#CONFIG_F is not set\n");
        let got: Vec<(&str, &Value, usize)> = f
            .entries
            .iter()
            .map(|e| (e.name.as_str(), &e.value, e.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("CONFIG_A", &Value::Yes, 2),
                ("CONFIG_B", &Value::No, 4),
                ("CONFIG_C", &Value::Raw("\"x y\"".into()), 5),
                ("CONFIG_D", &Value::Raw("30".into()), 6),
                ("CONFIG_E", &Value::Module, 7),
                ("CONFIG_F", &Value::No, 8),
            ]
        );
    }

    #[test]
    fn bad_lines_are_errors_with_line_numbers() {
        assert_eq!(
            Fragment::parse("f", "CONFIG_A=y\nFOO=y\n").unwrap_err(),
            ConfigError::Syntax {
                fragment: "f".into(),
                line: 2,
                text: "FOO=y".into()
            }
        );
        assert!(matches!(
            Fragment::parse("f", "CONFIG_A y"),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            Fragment::parse("f", "CONFIG_a=y"),
            Err(ConfigError::Syntax { .. })
        ));
        assert!(matches!(
            Fragment::parse("f", "CONFIG_A="),
            Err(ConfigError::EmptyValue { .. })
        ));
        assert!(matches!(
            Fragment::parse("f", "CONFIG_A=\"x"),
            Err(ConfigError::UnterminatedString { .. })
        ));
        assert_eq!(
            Fragment::parse("f", "CONFIG_A=y\n# CONFIG_A is not set\n").unwrap_err(),
            ConfigError::Duplicate {
                fragment: "f".into(),
                line: 2,
                first_line: 1,
                name: "CONFIG_A".into()
            }
        );
    }

    #[test]
    fn later_fragments_override_earlier_ones_and_overrides_are_recorded() {
        let a = frag("a", "CONFIG_SMP=y\nCONFIG_X=y\n");
        let b = frag("b", "# CONFIG_SMP is not set\nCONFIG_Y=5\n");
        let c = frag("c", "CONFIG_Y=7\n");
        let m = merge(&[a, b, c]);
        assert_eq!(m.fragments, vec!["a", "b", "c"]);
        let names: Vec<_> = m
            .options
            .iter()
            .map(|o| (o.name.as_str(), o.value.to_string(), o.fragment.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("CONFIG_SMP", "n".to_string(), "b"),
                ("CONFIG_X", "y".to_string(), "a"),
                ("CONFIG_Y", "7".to_string(), "c"),
            ]
        );
        assert_eq!(m.options[0].overrides, vec![("a".to_string(), Value::Yes)]);
        assert_eq!(
            m.options[2].overrides,
            vec![("b".to_string(), Value::Raw("5".into()))]
        );
    }

    #[test]
    fn apply_replaces_in_place_and_appends_new_options() {
        let base = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n# comment\n";
        let m = merge(&[frag(
            "f",
            "CONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=\"s\"\n",
        )]);
        let out = apply(base, &m);
        assert_eq!(
            out,
            "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n# comment\n# --- mmstall merged fragments ---\nCONFIG_D=\"s\"\n"
        );
        // Everything requested is now in the file.
        assert!(check_survivors(&out, &m).is_empty());
    }

    #[test]
    fn dropped_options_are_named() {
        let m = merge(&[
            frag("base", "CONFIG_A=y\nCONFIG_B=y\n"),
            frag(
                "dbg",
                "CONFIG_C=30\n# CONFIG_D is not set\n# CONFIG_E is not set\nCONFIG_F=m\n",
            ),
        ]);
        // Final config: B dropped (absent), C changed, D absent (fine), E turned on, F built in.
        let fin = "CONFIG_A=y\nCONFIG_C=120\nCONFIG_E=y\nCONFIG_F=y\n";
        let d = check_survivors(fin, &m);
        let got: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "CONFIG_B=y (from base) is absent: unknown symbol or unmet dependencies",
                "CONFIG_C=30 (from dbg) became 120",
                "CONFIG_E=n (from dbg) became y",
                "CONFIG_F=m (from dbg) became y",
            ]
        );
    }

    #[test]
    fn config_hash_depends_on_final_values_only() {
        let one = merge(&[frag("a", "CONFIG_A=y\nCONFIG_B=y\n")]);
        let split = merge(&[frag("x", "CONFIG_B=y\n"), frag("y", "CONFIG_A=y\n")]);
        let overridden = merge(&[
            frag("x", "CONFIG_A=n\nCONFIG_B=y\n"),
            frag("y", "CONFIG_A=y\n"),
        ]);
        let different = merge(&[frag("a", "CONFIG_A=y\n# CONFIG_B is not set\n")]);
        let h = one.hash("tinyconfig", "x86_64");
        assert_eq!(h.len(), 64);
        assert_eq!(h, split.hash("tinyconfig", "x86_64"));
        assert_eq!(h, overridden.hash("tinyconfig", "x86_64"));
        assert_ne!(h, different.hash("tinyconfig", "x86_64"));
        assert_ne!(h, one.hash("defconfig", "x86_64"));
        assert_ne!(h, one.hash("tinyconfig", "arm64"));
    }

    #[test]
    fn resolve_puts_the_base_first_and_rejects_unknown_names() {
        let f = resolve_fragments("stall-debug, lockdep").unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["virtme-base", "stall-debug", "lockdep"]);
        let f = resolve_fragments("lockdep,virtme-base").unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["lockdep", "virtme-base"]);
        assert!(matches!(
            resolve_fragments("nosuch"),
            Err(ConfigError::UnknownFragment { .. })
        ));
        assert_eq!(resolve_fragments(" , "), Err(ConfigError::EmptyList));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.config");
        std::fs::write(&p, "CONFIG_KASAN=y\n").unwrap();
        let f = resolve_fragments(&format!("stall-debug,{}", p.display())).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].entries[0].name, "CONFIG_KASAN");
        std::fs::write(&p, "KASAN=y\n").unwrap();
        assert!(matches!(
            resolve_fragments(&p.display().to_string()),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn no_per_vma_lock_overrides_smp_from_the_base() {
        let m = merge(&resolve_fragments("virtme-base,stall-debug,no-per-vma-lock").unwrap());
        let smp = m.options.iter().find(|o| o.name == "CONFIG_SMP").unwrap();
        assert_eq!(smp.value, Value::No);
        assert_eq!(smp.fragment, "no-per-vma-lock");
        assert_eq!(smp.overrides, vec![("virtme-base".to_string(), Value::Yes)]);
    }
}
