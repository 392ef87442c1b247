//! Field constants under a designated initializer's zeroes.
//!
//! `struct scan_control sc = { .order = order, .may_swap = 1 };` makes every
//! field it does not name zero (C11 6.7.9). The fields are not known by
//! name (struct definitions are not parsed), so the initializer assigns the
//! wildcard `sc.*` = 0 and a field without a value of its own falls back to
//! the nearest wildcard above it. A field the function (or a callee, through
//! a pointer) writes with no constant is then marked [`UNKNOWN_FIELD`]: its
//! absence would read as the wildcard's zero.

use crate::lockstate::ConstMap;

/// The field name of "every field not named" (`sc.*`).
pub const WILDCARD: &str = "*";

/// A field a wildcard covers whose value is not known: an assignment or a
/// callee's store made it so. No constant of the program is `i64::MIN`
/// (symbolic values are hashes folded to positive numbers).
pub const UNKNOWN_FIELD: i64 = i64::MIN;

/// The wildcard key of `path` (`sc` -> `sc.*`).
pub fn wildcard_of(path: &str) -> String {
    let mut key = String::with_capacity(path.len() + 1 + WILDCARD.len());
    write_wildcard(&mut key, path);
    key
}

/// [`wildcard_of`] into `key`, which is cleared first (a buffer reused
/// by a caller that asks for many).
fn write_wildcard(key: &mut String, path: &str) {
    key.clear();
    key.push_str(path);
    key.push('.');
    key.push_str(WILDCARD);
}

/// Whether a context has any wildcard (most have none: the fast path).
pub fn has_wildcards(env: &ConstMap) -> bool {
    env.keys().any(|k| k.ends_with(".*"))
}

/// The constant a variable or field path holds in `env`: its own value, or
/// the value of the nearest wildcard above it, unless the field or a field
/// above it is marked unknown.
pub fn const_of(env: &ConstMap, key: &str) -> Option<i64> {
    if let Some(v) = env.get(key) {
        return (*v != UNKNOWN_FIELD).then_some(*v);
    }
    // A call's result on a field (`f.inode.@IS_DAX`) is no field: zeroes
    // do not reach it.
    if key.contains(".@") {
        return None;
    }
    // One buffer for the wildcard keys of every level (`a.b.*`, `a.*`): this
    // is asked for every argument of every call analyzed.
    let mut wildcard = String::new();
    let mut end = key.len();
    while let Some(dot) = key[..end].rfind('.') {
        let prefix = &key[..dot];
        if env.get(prefix) == Some(&UNKNOWN_FIELD) {
            return None;
        }
        write_wildcard(&mut wildcard, prefix);
        if let Some(v) = env.get(wildcard.as_str()) {
            return (*v != UNKNOWN_FIELD).then_some(*v);
        }
        end = dot;
    }
    None
}

/// [`const_of`] with the fast path of a context without wildcards.
pub fn lookup(env: &ConstMap, wildcards: bool, key: &str) -> Option<i64> {
    if wildcards {
        const_of(env, key)
    } else {
        env.get(key).copied()
    }
}

/// The constant of each variable of a function (by [`VarId`](crate::ir::VarId)) in `env`.
/// One of two constants ([`crate::symbolic::one_of`], in a function's facts)
/// is no constant of the variable: its callees get each value.
pub fn values_by_var(vars: &[String], env: &ConstMap) -> Vec<Option<i64>> {
    let wildcards = has_wildcards(env);
    vars.iter()
        .map(|v| lookup(env, wildcards, v).filter(|c| !crate::symbolic::is_one_of(*c)))
        .collect()
}

/// Whether a wildcard above `key` gives it a value ([`const_of`] would fall
/// back to it): a field made unknown there must be marked, not dropped.
pub fn covered(env: &ConstMap, key: &str) -> bool {
    let mut end = key.len();
    while let Some(dot) = key[..end].rfind('.') {
        if env.contains_key(&wildcard_of(&key[..dot])) {
            return true;
        }
        end = dot;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, i64)]) -> ConstMap {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_field_falls_back_to_the_nearest_wildcard() {
        let e = env(&[("sc.*", 0), ("sc.order", 3), ("sc.state.*", 7)]);
        assert_eq!(const_of(&e, "sc.order"), Some(3));
        assert_eq!(const_of(&e, "sc.target_mem_cgroup"), Some(0));
        assert_eq!(const_of(&e, "sc.state.x"), Some(7));
        assert_eq!(const_of(&e, "sc"), None);
        assert_eq!(const_of(&e, "other.x"), None);
    }

    #[test]
    fn a_field_marked_unknown_hides_the_wildcard() {
        let e = env(&[
            ("sc.*", 0),
            ("sc.target", UNKNOWN_FIELD),
            ("sc.state", UNKNOWN_FIELD),
        ]);
        assert_eq!(const_of(&e, "sc.target"), None);
        assert_eq!(const_of(&e, "sc.state.x"), None);
        assert_eq!(const_of(&e, "sc.priority"), Some(0));
        assert!(covered(&e, "sc.target"));
        assert!(!covered(&e, "sc"));
        let e = env(&[("sc.*", UNKNOWN_FIELD)]);
        assert_eq!(const_of(&e, "sc.target"), None);
    }
}
