//! Facts the catalogue states about what a function is handed: on entry to
//! the handlers of a field (`[fault_path.entry_facts.FIELD]`) and at the
//! calls from one caller to one callee (`[call_facts.CALLER.CALLEE]`).
//! Keys are paths rooted at a parameter, written `$N` (the N-th, from 0),
//! with `@f` for what the call `f` returns on it (`[stable]` calls, and
//! for `[call_facts]` any call its keys name).

use std::collections::BTreeMap;

use serde::Deserialize;

pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A C identifier: a letter or `_`, then letters, digits and `_`.
pub fn is_identifier(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.chars().all(is_ident_char)
}

/// The path of a fact key after its parameter: fields, and `@f` for what
/// the call `f` returns (`vma.vm_file.@file_inode.@IS_DAX`).
fn is_fact_path(rest: &str) -> bool {
    rest.split('.')
        .all(|seg| is_identifier(seg.strip_prefix('@').unwrap_or(seg)))
}

/// Facts on entry to the functions a designated initializer puts in one
/// field, for definitions under the path prefixes given (all when none).
/// Keys are paths rooted at the handler's first parameter, written `$0`
/// (`$0.vma.vm_file.@file_inode.@IS_DAX`: what the `[stable]` call
/// `IS_DAX(file_inode(vmf->vma->vm_file))` returns).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFacts {
    pub why: String,
    #[serde(default)]
    pub under: Vec<String>,
    pub facts: BTreeMap<FactKey, i64>,
}

/// A key of `[fault_path.entry_facts]`: a path rooted at the handler's
/// first parameter (`$0.vma.vm_file.@file_inode.@IS_DAX`; `@f` the result
/// of a `[stable]` call).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct FactKey(pub String);

impl TryFrom<String> for FactKey {
    type Error = String;
    fn try_from(s: String) -> Result<FactKey, String> {
        let ok = s.strip_prefix("$0.").is_some_and(is_fact_path);
        match ok {
            true => Ok(FactKey(s)),
            false => Err(format!(
                "\"{s}\" is not a path from the first parameter such as \"$0.vma.vm_file.@file_inode.@IS_DAX\""
            )),
        }
    }
}

impl EntryFacts {
    /// The facts for a handler whose first parameter is `param`, defined in
    /// `file` (none outside the prefixes).
    pub fn for_handler(&self, file: &str, param: &str) -> Vec<(String, i64)> {
        // `file` is relative to the run's root, which may be above the
        // kernel tree (a repository holding it): a prefix matches at the
        // start or after a `/`.
        let under = |u: &String| {
            file.starts_with(u.as_str())
                || file
                    .match_indices(u.as_str())
                    .any(|(i, _)| file[..i].ends_with('/'))
        };
        if !self.under.is_empty() && !self.under.iter().any(under) {
            return Vec::new();
        }
        self.facts
            .iter()
            .filter_map(|(k, v)| Some((format!("{param}{}", k.0.strip_prefix("$0")?), *v)))
            .collect()
    }
}

/// What a caller guarantees about the arguments it hands one callee
/// (`[call_facts.CALLER.CALLEE]`): `hugetlb_add_to_page_cache()` adds a
/// hugetlb folio, so `__filemap_add_folio()`'s `folio_test_hugetlb(folio)`
/// is true there (`"$1.@folio_test_hugetlb" = 1`); `do_swap_page()` hands
/// `do_wp_page()` a private VMA (`"$0.vma.vm_flags" = { clear = ["VM_SHARED",
/// "VM_MAYSHARE"] }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallFacts {
    pub why: String,
    pub facts: BTreeMap<ArgFactKey, FactValue>,
}

/// The value a fact gives: a number, or a flag word with these flags
/// clear and its other bits unknown ([`crate::symbolic::lacks_bits`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FactValue {
    Number(i64),
    Clear(ClearFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearFlags {
    pub clear: Vec<FlagName>,
}

/// A flag's name: an ALL_CAPS constant (`PF_MEMALLOC`, `VM_SHARED`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FlagName(pub String);

impl TryFrom<String> for FlagName {
    type Error = String;
    fn try_from(s: String) -> Result<FlagName, String> {
        if crate::symbolic::is_symbolic_constant(&s) {
            Ok(FlagName(s))
        } else {
            Err(format!(
                "\"{s}\" is not a flag name (an ALL_CAPS constant such as \"PF_MEMALLOC\")"
            ))
        }
    }
}

impl FactValue {
    /// The value as a context constant.
    pub fn value(&self) -> i64 {
        match self {
            FactValue::Number(n) => *n,
            FactValue::Clear(c) => {
                let flags: Vec<i64> = c
                    .clear
                    .iter()
                    .map(|f| crate::symbolic::symbol_hash(&f.0))
                    .collect();
                crate::symbolic::lacks_bits(&flags)
            }
        }
    }
}

/// A key of `[call_facts]`: a path rooted at the callee's N-th parameter
/// (`$1.@folio_test_hugetlb`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ArgFactKey {
    pub param: usize,
    pub rest: String,
}

impl TryFrom<String> for ArgFactKey {
    type Error = String;
    fn try_from(s: String) -> Result<ArgFactKey, String> {
        let parsed = s.strip_prefix('$').and_then(|r| {
            let (n, rest) = r.split_once('.')?;
            let param = n.parse::<usize>().ok()?;
            is_fact_path(rest).then(|| ArgFactKey {
                param,
                rest: rest.to_string(),
            })
        });
        parsed.ok_or_else(|| {
            format!("\"{s}\" is not a path from a parameter such as \"$1.@folio_test_hugetlb\"")
        })
    }
}

impl CallFacts {
    /// The facts in the names of the callee's parameters `params` (a key of
    /// a parameter the callee does not have, or has no name for, is left out).
    pub fn for_callee(&self, params: &[String]) -> Vec<(String, i64)> {
        self.facts
            .iter()
            .filter_map(|(k, v)| {
                let p = params.get(k.param).filter(|p| !p.is_empty())?;
                Some((format!("{p}.{}", k.rest), v.value()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_fact_keys_name_a_parameter_and_a_path() {
        let key = ArgFactKey::try_from("$1.@folio_test_hugetlb".to_string()).expect("valid");
        assert_eq!((key.param, key.rest.as_str()), (1, "@folio_test_hugetlb"));
        for bad in ["$x.a", "1.a", "$1", "$1.a-b", "$1."] {
            assert!(ArgFactKey::try_from(bad.to_string()).is_err(), "{bad}");
        }
        let facts = CallFacts {
            why: String::new(),
            facts: [(key, FactValue::Number(1))].into_iter().collect(),
        };
        let params = ["mapping".to_string(), "folio".to_string()];
        assert_eq!(
            facts.for_callee(&params),
            [("folio.@folio_test_hugetlb".to_string(), 1)]
        );
        // A callee without that parameter gets nothing.
        assert!(facts.for_callee(&params[..1]).is_empty());
    }

    #[test]
    fn a_fact_value_is_a_number_or_flags_clear() {
        let facts: CallFacts = toml::from_str(
            "why = \"w\"\nfacts = { \"$0.vma.vm_flags\" = { clear = [\"VM_SHARED\", \"VM_MAYSHARE\"] }, \"$0.x\" = 3 }",
        )
        .expect("valid");
        let got = facts.for_callee(&["vmf".to_string()]);
        let shared = crate::symbolic::symbol_hash("VM_SHARED");
        let mayshare = crate::symbolic::symbol_hash("VM_MAYSHARE");
        assert!(got.contains(&(
            "vmf.vma.vm_flags".to_string(),
            crate::symbolic::lacks_bits(&[shared, mayshare])
        )));
        assert!(got.contains(&("vmf.x".to_string(), 3)));
        for bad in [
            "why = \"w\"\nfacts = { \"$0.f\" = { clear = [\"VM SHARED\"] } }",
            "why = \"w\"\nfacts = { \"$0.f\" = { set = [\"VM_SHARED\"] } }",
            "why = \"w\"\nfacts = { \"$0.f\" = \"VM_SHARED\" }",
        ] {
            assert!(toml::from_str::<CallFacts>(bad).is_err(), "{bad}");
        }
    }
}
