//! Who supplies a finding's constants: for a holder analyzed with constant
//! arguments (`__vm_munmap` with `unlock=0`), its direct callers that pass
//! them, named with the source text they pass
//! (`vm_munmap → __vm_munmap(unlock=false)`, `sys_mlock → do_mlock(flags=VM_LOCKED)`).
//! Read lexically from the callers' text, as the triggers are (same index,
//! same scope limits): a caller passing a variable, or another value, is
//! not named.

use std::collections::BTreeMap;

use super::triggers::Walker;
use crate::finding::Finding;

/// Callers named per holder before the list stops.
const MAX_CALLERS: usize = 8;

/// Sets every finding's `context_callers` (one look per holder, file and context).
pub(super) fn attach(findings: &mut [Finding], walker: &mut Walker) {
    let mut known: BTreeMap<(String, String, Vec<String>), Vec<String>> = BTreeMap::new();
    for f in findings.iter_mut() {
        if f.context.is_empty() {
            continue;
        }
        let key = (
            f.holder.clone(),
            f.acquired_at.file.clone(),
            f.context.clone(),
        );
        let found = known
            .entry(key)
            .or_insert_with(|| suppliers(walker, &f.holder, &f.acquired_at.file, &f.context));
        f.context_callers = found.clone();
    }
}

fn suppliers(walker: &mut Walker, holder: &str, file: &str, context: &[String]) -> Vec<String> {
    let wanted: Vec<(&str, &str)> = context
        .iter()
        .filter_map(|c| c.split_once('='))
        .filter(|(_, v)| *v != "other")
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let Some(start) = walker.definition(holder, file) else {
        return Vec::new();
    };
    let Some(params) = walker
        .chunk_text(start)
        .and_then(|text| parameters(text, holder))
    else {
        return Vec::new();
    };
    let Some(positions) = wanted
        .iter()
        .map(|(k, v)| params.iter().position(|p| p == k).map(|i| (*k, i, *v)))
        .collect::<Option<Vec<_>>>()
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for caller in walker.callers_of(start, holder) {
        // A system call by its name (`mlock(2)`), not its macro's.
        let name = match walker.syscall(caller) {
            Some(call) => call,
            None => match walker.functions(caller).first() {
                Some(n) => n.to_string(),
                None => continue,
            },
        };
        let Some(text) = walker.chunk_text(caller) else {
            continue;
        };
        for args in calls_of(text, holder) {
            let passed: Option<Vec<String>> = positions
                .iter()
                .map(|&(k, i, v)| {
                    let arg = args.get(i)?.trim();
                    same_constant(arg, v).then(|| format!("{k}={arg}"))
                })
                .collect();
            if let Some(passed) = passed {
                let named = format!("{name} → {holder}({})", passed.join(", "));
                if !out.contains(&named) {
                    out.push(named);
                }
            }
        }
        if out.len() >= MAX_CALLERS {
            break;
        }
    }
    out.sort();
    out
}

/// The parameter names of `name`'s definition in `text`: the last
/// identifier of each top-level comma-separated part of its parameter list.
fn parameters(text: &str, name: &str) -> Option<Vec<String>> {
    let at = find_call(text, name, 0)?;
    let args = arguments(&text[at + name.len()..])?;
    Some(
        args.iter()
            .map(|p| {
                let p = p.trim_end_matches(|c: char| {
                    c == ']' || c == '[' || c.is_ascii_digit() || c.is_whitespace()
                });
                let ident: String = p
                    .chars()
                    .rev()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                ident.chars().rev().collect()
            })
            .collect(),
    )
}

/// The argument lists of every call of `name` in `text`.
fn calls_of(text: &str, name: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find_call(text, name, from) {
        if let Some(args) = arguments(&text[at + name.len()..]) {
            out.push(args);
        }
        from = at + name.len();
    }
    out
}

/// The next `name(` (a whole identifier, spaces allowed before the `(`) at or after `from`.
fn find_call(text: &str, name: &str, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    memchr::memmem::find_iter(&b[from..], name.as_bytes())
        .map(|k| from + k)
        .find(|&at| {
            let before_ok = at == 0 || !ident(b[at - 1]);
            let rest = text[at + name.len()..].trim_start_matches([' ', '\t']);
            before_ok && rest.starts_with('(')
        })
}

/// The top-level comma-separated parts of the parenthesized list `text`
/// starts with (after blanks), or `None` if it does not close.
fn arguments(text: &str) -> Option<Vec<String>> {
    let text = text.trim_start_matches([' ', '\t']);
    let mut depth = 0usize;
    let mut parts = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > 1 {
                    current.push(c);
                }
            }
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    parts.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
                    return Some(parts);
                }
                current.push(c);
            }
            ',' if depth == 1 => {
                parts.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
                current.clear();
            }
            _ => current.push(c),
        }
    }
    None
}

/// Whether the source text `arg` is the constant the analysis printed as
/// `value` (a number, or a symbol's name): `false`/`NULL` are 0, `true` 1.
fn same_constant(arg: &str, value: &str) -> bool {
    if arg == value {
        return true;
    }
    let number = |s: &str| -> Option<i128> {
        match s {
            "false" | "NULL" => return Some(0),
            "true" => return Some(1),
            _ => {}
        }
        let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => i128::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    };
    matches!((number(arg), number(value)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_arguments_are_read_from_the_text() {
        let def = "int __vm_munmap(unsigned long start, size_t len,\n\t\tbool unlock)\n{\n}\n";
        assert_eq!(
            parameters(def, "__vm_munmap").unwrap(),
            ["start", "len", "unlock"]
        );
        let caller = "int vm_munmap(unsigned long start, size_t len)\n{\n\treturn __vm_munmap(start, len, false);\n}\n";
        assert_eq!(
            calls_of(caller, "__vm_munmap"),
            [vec!["start".to_string(), "len".into(), "false".into()]]
        );
        assert_eq!(
            calls_of("x = f(g(a, b), c[1]);", "f"),
            [vec!["g(a, b)".to_string(), "c[1]".into()]]
        );
        assert!(calls_of("x = my_f(a);", "f").is_empty());
    }

    #[test]
    fn constants_compare_by_value_or_name() {
        assert!(same_constant("false", "0"));
        assert!(same_constant("0UL", "0"));
        assert!(same_constant("0x2000", "8192"));
        assert!(same_constant("VM_LOCKED", "VM_LOCKED"));
        assert!(!same_constant("true", "0"));
        assert!(!same_constant("flags", "VM_LOCKED"));
    }
}
