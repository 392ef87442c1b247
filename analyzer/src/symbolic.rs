//! Symbolic values beside plain constants: "some value with these bits set"
//! (`vma->vm_flags | VM_LOCKED`) and "any value but these" (a parameter
//! split by case, `behavior=other`). Both are tagged `i64`s so they travel
//! through contexts like constants; [`crate::lockstate::eval`] decides only
//! what they allow (`(x | F) & F` is non-zero; `other == excluded` is false).

use std::collections::HashMap;

/// "Some value with the bits of `c` set" (`vma->vm_flags | VM_LOCKED`): a
/// tagged value, so it can travel as a constant (into a callee's context)
/// while comparisons treat it as unknown. Only `v & c` (non-zero) and its
/// truth (non-zero) are decided. `c` must be positive and below 2^48, which
/// every symbolic constant is ([`crate::cfg`]).
const HAS_BITS_TAG: i64 = 0x4842 << 48;
const HAS_BITS_MASK: i64 = (1 << 48) - 1;

pub fn has_bits(c: i64) -> Option<i64> {
    (c > 0 && c <= HAS_BITS_MASK).then_some(HAS_BITS_TAG | c)
}

/// The bits a [`has_bits`] value is known to have.
pub fn bits_of(v: i64) -> Option<i64> {
    (v & !HAS_BITS_MASK == HAS_BITS_TAG).then_some(v & HAS_BITS_MASK)
}

/// The value of a parameter split on by case that stands for every value
/// none of its comparisons names (`behavior` in the context that is not
/// `MADV_DONTNEED`, ...): a tagged value remembering the values it excludes,
/// printed as `other`. It compares unequal to an excluded value and unknown
/// to any other, so it can follow the parameter into callees (`madvise_vma()`'s
/// `switch (behavior)` skips the excluded cases).
const OTHER_TAG: i64 = 0x4f54 << 48;

pub fn other_value(excluded: &[i64]) -> i64 {
    let mut set = excluded.to_vec();
    set.sort_unstable();
    set.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in &set {
        for b in v.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    let value = OTHER_TAG | (h as i64 & HAS_BITS_MASK);
    if let Ok(mut m) = OTHER_SETS.write() {
        m.entry(value).or_insert(set);
    }
    value
}

pub fn is_other(v: i64) -> bool {
    v & !HAS_BITS_MASK == OTHER_TAG
}

/// The values an [`other_value`] excludes (empty if unknown here).
pub(crate) fn excluded_by(v: i64) -> Vec<i64> {
    OTHER_SETS
        .read()
        .ok()
        .and_then(|m| m.get(&v).cloned())
        .unwrap_or_default()
}

/// The excluded sets of the "other" values made in this process, by value.
/// The value is a function of the set, so the table changes no result.
static OTHER_SETS: std::sync::LazyLock<std::sync::RwLock<HashMap<i64, Vec<i64>>>> =
    std::sync::LazyLock::new(Default::default);
