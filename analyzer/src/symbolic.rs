//! Symbolic values beside plain constants: ALL_CAPS constants by name
//! ([`symbol_hash`]), "some value with these bits set" (`vma->vm_flags |
//! VM_LOCKED`), "exactly these flags or'ed" (`FGP_CREAT | FGP_FOR_MMAP`,
//! [`composite`]) and "any value but these" (a parameter split by case,
//! `behavior=other`). All are tagged `i64`s so they travel through contexts
//! like constants; [`crate::lockstate::eval`] decides only what they allow.
//!
//! `a & b` ([`bit_and`]) is decided on the numbers when the tree's
//! `#define`s give every flag involved a value ([`crate::macro_values`]):
//! `FGP_LOCK & FGP_STABLE` is 0, `(x | FGP_WRITEBEGIN) & FGP_STABLE` is not.
//! Without numbers it falls back to names, which only know that a value
//! or'ed with a flag has that flag's bits (`(x | F) & F` is non-zero): a
//! name says nothing of the bits of another name.

use std::collections::HashMap;

/// ALL_CAPS identifiers (enum constants, `#define`d values such as
/// `MIGRATE_ASYNC`) are taken as distinct symbolic constants, so
/// `if (mode == MIGRATE_ASYNC)` is decided when a caller passes one.
pub fn is_symbolic_constant(name: &str) -> bool {
    name.len() > 1
        && name.bytes().any(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !matches!(name, "NULL" | "EINTR")
}

/// The value standing for a symbolic constant: stable, non-zero, far from
/// small integers (bit 40 set, below 2^47), a function of the name alone.
pub fn symbol_hash(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    (1 << 40) | (h & 0x7fff_ffff_ffff) as i64
}

/// Whether `v` is in the range of [`symbol_hash`] values (a literal that
/// large is taken as one too: its bits are then unknown, never wrong).
fn is_symbol(v: i64) -> bool {
    (1 << 40..1 << 47).contains(&v) && v & (1 << 40) != 0
}

/// The named flags a value is exactly the or of (a symbol alone, or a
/// [`composite`] of symbols), `None` for any other value: a caller's
/// `MAP_SHARED` names no `MAP_FIXED` even where the flags' numbers differ
/// by architecture (and are unknown to the run).
pub fn named_flags(v: i64) -> Option<Vec<i64>> {
    if is_symbol(v) {
        return Some(vec![v]);
    }
    members_of(v).filter(|m| m.iter().all(|x| is_symbol(*x)))
}

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

/// A set of constants as one tagged value: `tag` and a hash (from `seed`)
/// of the sorted set, the set remembered in `table` under the value (a
/// function of the set, so the table changes no result).
fn tagged_set(tag: i64, seed: u64, members: &[i64], table: &SetTable) -> i64 {
    let mut set = members.to_vec();
    set.sort_unstable();
    set.dedup();
    let mut h: u64 = seed;
    for v in &set {
        for b in v.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    let value = tag | (h as i64 & HAS_BITS_MASK);
    if let Ok(mut m) = table.write() {
        m.entry(value).or_insert(set);
    }
    value
}

/// The set a tagged value remembers, when it has the tag (`tagged`).
fn set_of(v: i64, tagged: bool, table: &SetTable) -> Option<Vec<i64>> {
    if !tagged {
        return None;
    }
    table.read().ok().and_then(|m| m.get(&v).cloned())
}

/// The sets of the tagged values made in this process, by value.
type SetTable = std::sync::LazyLock<std::sync::RwLock<HashMap<i64, Vec<i64>>>>;

pub fn other_value(excluded: &[i64]) -> i64 {
    tagged_set(OTHER_TAG, 0xcbf2_9ce4_8422_2325, excluded, &OTHER_SETS)
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
static OTHER_SETS: SetTable = std::sync::LazyLock::new(Default::default);

/// "Exactly these constants or'ed" (`FGP_CREAT | FGP_FOR_MMAP` as an
/// argument): a tagged value remembering its members (symbols or literals),
/// printed as `FGP_CREAT|FGP_FOR_MMAP`. Its bits are known when every
/// member's are; compared with anything it is unknown.
const COMPOSITE_TAG: i64 = 0x4350 << 48;

pub fn composite(members: &[i64]) -> i64 {
    tagged_set(COMPOSITE_TAG, 0x6c62_272e_07bb_0142, members, &COMPOSITES)
}

pub fn is_composite(v: i64) -> bool {
    v & !HAS_BITS_MASK == COMPOSITE_TAG
}

/// The members of a [`composite`] value (`None` for any other value).
pub fn members_of(v: i64) -> Option<Vec<i64>> {
    set_of(v, is_composite(v), &COMPOSITES)
}

/// The member sets of the composite values made in this process, by value
/// (a function of the set, like [`OTHER_SETS`]).
static COMPOSITES: SetTable = std::sync::LazyLock::new(Default::default);

/// "One of these constants" (`cc.mode` initialized to `prio ==
/// COMPACT_PRIO_ASYNC ? MIGRATE_ASYNC : MIGRATE_SYNC_LIGHT`): a tagged value
/// remembering its alternatives. It lives only in a function's facts, where
/// it is unknown; a callee's context gets one of the alternatives at a time
/// (the callee is analyzed once per alternative).
const ONE_OF_TAG: i64 = 0x4f4e << 48;

pub fn one_of(alternatives: &[i64]) -> i64 {
    tagged_set(
        ONE_OF_TAG,
        0x8422_2325_cbf2_9ce4,
        alternatives,
        &ONE_OF_SETS,
    )
}

pub fn is_one_of(v: i64) -> bool {
    v & !HAS_BITS_MASK == ONE_OF_TAG
}

/// The alternatives of a [`one_of`] value (`None` for any other value).
pub fn alternatives_of(v: i64) -> Option<Vec<i64>> {
    set_of(v, is_one_of(v), &ONE_OF_SETS)
}

/// The alternative sets of the [`one_of`] values made in this process, by
/// value (a function of the set, like [`OTHER_SETS`]).
static ONE_OF_SETS: SetTable = std::sync::LazyLock::new(Default::default);

/// "Some value with these flags clear" (a catalogue fact: the VMA of a
/// swap entry is neither `VM_SHARED` nor `VM_MAYSHARE`): a tagged value
/// remembering the flags (symbols or literals). Its other bits are unknown,
/// so only `v & c` of a `c` within the flags is decided (zero), and
/// `(v & c) == c` of a `c` with one of them (false): on the flags' numbers,
/// or by name where the run reads no number for them (`lint mm`).
const LACKS_TAG: i64 = 0x4c4b << 48;

pub fn lacks_bits(flags: &[i64]) -> i64 {
    tagged_set(LACKS_TAG, 0x2325_cbf2_9ce4_8422, flags, &LACKED)
}

pub fn is_lacks_bits(v: i64) -> bool {
    v & !HAS_BITS_MASK == LACKS_TAG
}

/// The flags a [`lacks_bits`] value has clear (`None` for any other value).
pub fn lacked_flags(v: i64) -> Option<Vec<i64>> {
    set_of(v, is_lacks_bits(v), &LACKED)
}

/// The flag sets of the [`lacks_bits`] values made in this process, by
/// value (a function of the set, like [`OTHER_SETS`]).
static LACKED: SetTable = std::sync::LazyLock::new(Default::default);

/// "Some value with no bits but these" (`gfp &= gfp_allowed_mask` of a
/// known `gfp`, or `gfp` assigned either of two masks): a tagged value
/// remembering the or of the bits it may have. Only `v & c` (zero when no
/// bit of `c` is among them) is decided; its truth and comparisons are
/// unknown.
const AT_MOST_TAG: i64 = 0x414d << 48;

/// The value with at most the bits of `n` (0 itself when `n` is 0);
/// `None` when `n` does not fit the tag.
pub fn at_most(n: u64) -> Option<i64> {
    match n {
        0 => Some(0),
        n if n <= HAS_BITS_MASK as u64 => Some(AT_MOST_TAG | n as i64),
        _ => None,
    }
}

pub fn is_at_most(v: i64) -> bool {
    v & !HAS_BITS_MASK == AT_MOST_TAG
}

/// Two values a variable may hold, as one: the or of their bits as an
/// [`at_most`] value when both are known as numbers and non-negative
/// (`gfp = GFP_USER; .. gfp |= GFP_HIGHUSER;` read flow-insensitively).
pub fn join_bits(a: i64, b: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> Option<i64> {
    // Flags only (a name, an or of names, an at-most value): two plain
    // numbers (`ret = 0`, `ret = 1`) stay unknown, as do `x | F` values.
    let flag_like = |v: i64| is_symbol(v) || is_composite(v) || is_at_most(v);
    if !flag_like(a) || !flag_like(b) {
        return None;
    }
    let bound = |v: i64| match bits_known(v, macro_value)? {
        Bits::Exact(n) | Bits::AtMost(n) if n < 1 << 40 => Some(n),
        _ => None,
    };
    at_most(bound(a)? | bound(b)?)
}

/// A value's bits as an at-most value ([`at_most`]), when they are known
/// as numbers.
pub fn at_most_of(v: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> Option<i64> {
    match bits_known(v, macro_value)? {
        Bits::Exact(n) | Bits::AtMost(n) if n < 1 << 40 => at_most(n),
        _ => None,
    }
}

/// `x | C` (the analysis' `Value::OrBits`, `h` the [`has_bits`] value of
/// `C`): the or of both as an at-most value when x's bits are known as
/// numbers, else "C's bits set".
pub fn or_bits(x: Option<i64>, h: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> Option<i64> {
    let c = bits_of(h)?;
    x.filter(|x| bits_of(*x).is_none())
        .and_then(|x| join_bits(x, c, macro_value))
        .or(Some(h))
}

/// An assignment that changes bits of a word: `x |= C`, `x &= ~C`,
/// `x &= mask` (the analysis' `Value::SetBits`, `ClearBits`, `MaskBits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BitOp {
    Set(i64),
    Clear(i64),
    Mask,
}

/// What `x |= C`, `x &= ~C` or `x &= mask` leaves in `x`, given what `x` held
/// on entry (`entry`): a word known by its flags' numbers (the context's
/// `gfp`) keeps at most its bits through `&= mask` and has `C`'s bits added
/// or removed; a word known to have some bits (`x | VM_LOCKED`, a task
/// flag) keeps them when `C` adds bits or removes only others. A plain
/// local with nothing on entry gets the bits `|=` gives it (joined, by the
/// caller, with its assignments'). `None`: unknown.
pub fn bits_after(
    entry: Option<i64>,
    plain_local: bool,
    v: BitOp,
    macro_value: &dyn Fn(i64) -> Option<u64>,
) -> Option<i64> {
    let c_bits = |c: &i64| match bits_known(*c, macro_value)? {
        Bits::Exact(m) => Some(m),
        _ => None,
    };
    let Some(entry) = entry else {
        return match v {
            BitOp::Set(c) if plain_local => at_most_of(c, macro_value),
            _ => None,
        };
    };
    // Flags known clear stay clear unless `|=` sets one of them.
    if is_lacks_bits(entry) {
        let Bits::AtMost(allowed) = bits_known(entry, macro_value)? else {
            return None;
        };
        return match v {
            BitOp::Set(c) => (c_bits(&c)? & !allowed == 0).then_some(entry),
            BitOp::Clear(_) | BitOp::Mask => Some(entry),
        };
    }
    let Some(known) = bits_of(entry) else {
        let (Bits::Exact(n) | Bits::AtMost(n)) = bits_known(entry, macro_value)? else {
            return None;
        };
        return match v {
            BitOp::Mask => at_most(n),
            BitOp::Set(c) => at_most(n | c_bits(&c)?),
            BitOp::Clear(c) => at_most(n & !c_bits(&c)?),
        };
    };
    match v {
        BitOp::Set(_) => Some(entry),
        BitOp::Clear(c) => {
            let cleared = c_bits(&c)?;
            let (Bits::Exact(had) | Bits::AtLeast(had)) = bits_known(known, macro_value)? else {
                return None;
            };
            (cleared & had == 0).then_some(entry)
        }
        _ => None,
    }
}

/// A word computed from `entry` by bit operations in order
/// (`(gfp & ~GFP_DMA32) | GFP_DMA`, the analysis' `Value::BitsOf`): at most
/// the bits each step leaves when `entry`'s bits are known as numbers; else,
/// when the last step sets a constant's bits, "those bits set".
pub fn bits_through(
    entry: Option<i64>,
    ops: &[BitOp],
    macro_value: &dyn Fn(i64) -> Option<u64>,
) -> Option<i64> {
    let known = entry.and_then(|entry| {
        ops.iter()
            .try_fold(entry, |v, op| bits_after(Some(v), false, *op, macro_value))
    });
    known.or(match ops.last() {
        Some(BitOp::Set(c)) => has_bits(*c),
        _ => None,
    })
}

/// What is known of a value's bits as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bits {
    /// All of them.
    Exact(u64),
    /// These are set; the others are unknown (`x | VM_LOCKED`).
    AtLeast(u64),
    /// No bit but these may be set ([`at_most`]).
    AtMost(u64),
}

/// The bits of `v` as numbers: a literal is itself, a symbol has the value
/// `macro_value` gives it, a composite the or of its members', a
/// [`has_bits`] value at least its constant's, a [`lacks_bits`] value at
/// most the bits its flags leave. `None` when a symbol involved has no
/// value (or `v` is an `other` value).
pub fn bits_known(v: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> Option<Bits> {
    let exact = |c: i64| -> Option<u64> {
        if is_symbol(c) {
            macro_value(c)
        } else if c < 1 << 40 {
            Some(c as u64)
        } else {
            None
        }
    };
    if let Some(c) = bits_of(v) {
        return exact(c).map(Bits::AtLeast);
    }
    if is_at_most(v) {
        return Some(Bits::AtMost((v & HAS_BITS_MASK) as u64));
    }
    if is_composite(v) {
        let members = members_of(v)?;
        return members
            .iter()
            .try_fold(0u64, |acc, m| Some(acc | exact(*m)?))
            .map(Bits::Exact);
    }
    if is_lacks_bits(v) {
        let clear = lacked_flags(v)?
            .iter()
            .try_fold(0u64, |acc, m| Some(acc | exact(*m)?))?;
        return Some(Bits::AtMost(!clear));
    }
    if is_other(v) || is_one_of(v) {
        return None;
    }
    exact(v).map(Bits::Exact)
}

/// `x & y` for two constants (symbolic or not): `Some(true)` non-zero,
/// `Some(false)` zero, `None` unknown. On numbers when both sides have them
/// ([`bits_known`]), else by name: a value known to have a flag's bits
/// (`x | F`, a composite with member `F`) and'ed with `F` is non-zero.
pub fn bit_and(x: i64, y: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> Option<bool> {
    use Bits::*;
    // Flags known clear, tested by name (`lint mm` reads no `VM_*` values).
    if lacks_all(x, y) || lacks_all(y, x) {
        return Some(false);
    }
    match (bits_known(x, macro_value), bits_known(y, macro_value)) {
        (Some(Exact(a)), Some(Exact(b))) => return Some(a & b != 0),
        (Some(Exact(0)), _) | (_, Some(Exact(0))) => return Some(false),
        // At most a's bits, and'ed with exactly b's (or at most them).
        (Some(AtMost(a)), Some(Exact(b) | AtMost(b))) | (Some(Exact(b)), Some(AtMost(a))) => {
            return (a & b == 0).then_some(false);
        }
        (Some(AtMost(_)), _) | (_, Some(AtMost(_))) => return None,
        (Some(a), Some(b)) => {
            let (Exact(a) | AtLeast(a) | AtMost(a), Exact(b) | AtLeast(b) | AtMost(b)) = (a, b);
            return (a & b != 0).then_some(true);
        }
        _ => {}
    }
    let has = |v: i64, flag: i64| {
        bits_of(v) == Some(flag) || members_of(v).is_some_and(|m| m.contains(&flag))
    };
    (has(x, y) || has(y, x)).then_some(true)
}

/// `x & y` as a value when [`bit_and`] leaves it open but one side has at
/// most some bits and the other exactly some: at most the bits both may
/// have (`(vm_flags & (VM_WRITE | VM_SHARED))` of flags without
/// `VM_SHARED`: at most `VM_WRITE`), so a comparison with a value having
/// another bit is decided ([`differs_in_bits`]).
pub fn and_at_most(x: i64, y: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> Option<i64> {
    use Bits::*;
    // Asked of every bit test left open: only these two kinds bound bits.
    if !bounds_bits(x) && !bounds_bits(y) {
        return None;
    }
    match (bits_known(x, macro_value), bits_known(y, macro_value)) {
        (Some(AtMost(m)), Some(Exact(n))) | (Some(Exact(n)), Some(AtMost(m))) => at_most(m & n),
        // By name: what `x` lacks of `y`'s flags it lacks in `x & y`.
        _ => lacked_of(x, y)
            .or_else(|| lacked_of(y, x))
            .map(|common| lacks_bits(&common)),
    }
}

/// A value known by an upper bound on its bits ([`at_most`], [`lacks_bits`]).
fn bounds_bits(v: i64) -> bool {
    is_at_most(v) || is_lacks_bits(v)
}

/// The flags of `y` (a named flag or an or of them) that `x` has clear,
/// if any.
fn lacked_of(x: i64, y: i64) -> Option<Vec<i64>> {
    let lacked = lacked_flags(x)?;
    let common: Vec<i64> = named_flags(y)?
        .into_iter()
        .filter(|f| lacked.contains(f))
        .collect();
    (!common.is_empty()).then_some(common)
}

/// Whether `x` has every flag of `y` clear, by name.
fn lacks_all(x: i64, y: i64) -> bool {
    let (Some(lacked), Some(flags)) = (lacked_flags(x), named_flags(y)) else {
        return false;
    };
    flags.iter().all(|f| lacked.contains(f))
}

/// Whether `x` and `y` cannot be equal by their bits: one has at most some
/// bits, the other exactly some with a bit outside them.
pub fn differs_in_bits(x: i64, y: i64, macro_value: &dyn Fn(i64) -> Option<u64>) -> bool {
    use Bits::*;
    // Asked of every comparison of two constants: only these two kinds can
    // differ by their bits alone.
    if !bounds_bits(x) && !bounds_bits(y) {
        return false;
    }
    match (bits_known(x, macro_value), bits_known(y, macro_value)) {
        (Some(AtMost(m)), Some(Exact(n))) | (Some(Exact(n)), Some(AtMost(m))) => n & !m != 0,
        // By name: one has a flag clear that the other has set.
        _ => lacked_of(x, y).is_some() || lacked_of(y, x).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FGP_LOCK = 0x2, FGP_CREAT = 0x4, FGP_STABLE = 0x80; FGP_UNKNOWN has
    /// no value.
    fn value_of(s: i64) -> Option<u64> {
        [("FGP_LOCK", 0x2), ("FGP_CREAT", 0x4), ("FGP_STABLE", 0x80)]
            .into_iter()
            .find(|(n, _)| symbol_hash(n) == s)
            .map(|(_, v)| v)
    }

    #[test]
    fn named_flags_are_the_symbols_a_value_is_the_or_of() {
        let [shared, fixed] = ["MAP_SHARED", "MAP_FIXED"].map(symbol_hash);
        assert_eq!(named_flags(shared), Some(vec![shared]));
        let mut both = named_flags(composite(&[shared, fixed])).expect("named");
        both.sort_unstable();
        let mut want = vec![shared, fixed];
        want.sort_unstable();
        assert_eq!(both, want);
        // A literal member, "these bits set" and at-most values name no flags.
        assert_eq!(named_flags(composite(&[shared, 0x10])), None);
        assert_eq!(named_flags(has_bits(shared).expect("in range")), None);
        assert_eq!(named_flags(0x10), None);
    }

    #[test]
    fn bit_steps_keep_at_most_the_known_bits() {
        let none = |_| None;
        // (x & ~0x2) | 0x8 of x = 0x3: at most 0x9; of an unknown x: 0x8 set.
        let v = bits_through(Some(0x3), &[BitOp::Clear(0x2), BitOp::Set(0x8)], &none);
        assert_eq!(
            v.and_then(|v| bits_known(v, &none)),
            Some(Bits::AtMost(0x9))
        );
        let u = bits_through(None, &[BitOp::Clear(0x2), BitOp::Set(0x8)], &none);
        assert_eq!(u, has_bits(0x8));
        assert_eq!(
            bits_through(None, &[BitOp::Set(0x8), BitOp::Clear(0x2)], &none),
            None
        );
    }

    #[test]
    fn bit_tests_use_the_numbers_when_every_flag_has_one() {
        let [lock, creat, stable, unknown] =
            ["FGP_LOCK", "FGP_CREAT", "FGP_STABLE", "FGP_UNKNOWN"].map(symbol_hash);
        assert_eq!(bit_and(lock, stable, &value_of), Some(false));
        assert_eq!(bit_and(lock, lock, &value_of), Some(true));
        let write_begin = composite(&[lock, creat, stable]);
        assert_eq!(bit_and(write_begin, stable, &value_of), Some(true));
        assert_eq!(
            bit_and(composite(&[lock, creat]), stable, &value_of),
            Some(false)
        );
        // A literal mask is a number too.
        assert_eq!(bit_and(write_begin, 0x80, &value_of), Some(true));
        assert_eq!(bit_and(write_begin, 0x100, &value_of), Some(false));
        // `x | FGP_LOCK`: other bits unknown, so only a shared bit decides.
        let or_lock = has_bits(lock).expect("in range");
        assert_eq!(bit_and(or_lock, lock, &value_of), Some(true));
        assert_eq!(bit_and(or_lock, stable, &value_of), None);
        assert_eq!(
            bit_and(or_lock, composite(&[lock, stable]), &value_of),
            Some(true)
        );
        // A flag without a value: names only.
        assert_eq!(bit_and(lock, unknown, &value_of), None);
        assert_eq!(
            bit_and(composite(&[unknown, creat]), unknown, &value_of),
            Some(true)
        );
        let or_unknown = has_bits(unknown).expect("in range");
        assert_eq!(bit_and(or_unknown, unknown, &value_of), Some(true));
        assert_eq!(bit_and(or_unknown, lock, &value_of), None);
        // Without any value, a composite's members decide by name only.
        let none = |_| None;
        assert_eq!(bit_and(write_begin, stable, &none), Some(true));
        assert_eq!(bit_and(write_begin, unknown, &none), None);
        assert_eq!(bit_and(lock, stable, &none), None);
    }

    #[test]
    fn at_most_values_decide_only_absent_bits() {
        let [lock, creat, stable] = ["FGP_LOCK", "FGP_CREAT", "FGP_STABLE"].map(symbol_hash);
        // Either FGP_LOCK or FGP_CREAT: no FGP_STABLE bit, maybe FGP_LOCK.
        let v = join_bits(lock, composite(&[creat]), &value_of).expect("numbers");
        assert!(is_at_most(v));
        assert_eq!(bit_and(v, stable, &value_of), Some(false));
        assert_eq!(bit_and(v, lock, &value_of), None);
        assert_eq!(at_most(0), Some(0));
        // Plain numbers and `x | F` values do not join.
        assert_eq!(join_bits(0, 1, &value_of), None);
        assert_eq!(join_bits(has_bits(lock).unwrap(), creat, &value_of), None);
        // `&= mask` keeps at most the bits; `&= ~C` removes C's; `|= C` adds.
        let exact = composite(&[lock, creat]);
        let masked = bits_after(Some(exact), false, BitOp::Mask, &value_of).unwrap();
        assert_eq!(bits_known(masked, &value_of), Some(Bits::AtMost(0x6)));
        let cleared = bits_after(Some(masked), false, BitOp::Clear(lock), &value_of).unwrap();
        assert_eq!(bit_and(cleared, lock, &value_of), Some(false));
        let set = bits_after(Some(cleared), false, BitOp::Set(stable), &value_of).unwrap();
        assert_eq!(bits_known(set, &value_of), Some(Bits::AtMost(0x84)));
        // A plain local gains what `|=` gives it; a parameter unknown on
        // entry stays unknown.
        assert!(bits_after(None, true, BitOp::Set(lock), &value_of).is_some());
        assert_eq!(bits_after(None, false, BitOp::Set(lock), &value_of), None);
    }

    #[test]
    fn lacking_flags_decide_only_tests_of_those_flags() {
        let [lock, creat, stable, unknown] =
            ["FGP_LOCK", "FGP_CREAT", "FGP_STABLE", "FGP_UNKNOWN"].map(symbol_hash);
        let v = lacks_bits(&[stable, lock]);
        assert_eq!(v, lacks_bits(&[lock, stable]));
        assert!(is_lacks_bits(v) && !is_at_most(v) && !is_composite(v));
        assert_eq!(bit_and(v, stable, &value_of), Some(false));
        assert_eq!(
            bit_and(v, composite(&[lock, stable]), &value_of),
            Some(false)
        );
        // Another flag, or one with the lacked: unknown.
        assert_eq!(bit_and(v, creat, &value_of), None);
        assert_eq!(bit_and(v, composite(&[creat, stable]), &value_of), None);
        // `(v & (CREAT|STABLE)) == (CREAT|STABLE)`: false; `== CREAT`: open.
        let both = composite(&[creat, stable]);
        let and = and_at_most(v, both, &value_of).expect("numbers");
        assert!(differs_in_bits(and, both, &value_of));
        assert!(!differs_in_bits(and, creat, &value_of));
        // A flag without a number decides by name only.
        let w = lacks_bits(&[unknown]);
        assert_eq!(bits_known(w, &value_of), None);
        assert_eq!(bit_and(w, unknown, &value_of), Some(false));
        assert_eq!(bit_and(w, lock, &value_of), None);
        let none = |_| None;
        assert_eq!(bit_and(v, composite(&[lock, stable]), &none), Some(false));
        assert_eq!(bit_and(v, composite(&[lock, creat]), &none), None);
        let and = and_at_most(v, composite(&[creat, stable]), &none).expect("by name");
        assert!(differs_in_bits(and, composite(&[creat, stable]), &none));
        assert!(!differs_in_bits(and, creat, &none));
        // Bit steps keep the flags clear unless one is set.
        assert_eq!(
            bits_after(Some(v), false, BitOp::Set(creat), &value_of),
            Some(v)
        );
        assert_eq!(
            bits_after(Some(v), false, BitOp::Clear(creat), &value_of),
            Some(v)
        );
        assert_eq!(bits_after(Some(v), false, BitOp::Mask, &value_of), Some(v));
        assert_eq!(
            bits_after(Some(v), false, BitOp::Set(stable), &value_of),
            None
        );
        assert_eq!(
            bits_after(Some(w), false, BitOp::Set(creat), &value_of),
            None
        );
        assert_eq!(lacked_flags(lock), None);
    }

    #[test]
    fn one_of_remembers_its_alternatives_and_has_no_bits() {
        let [a, b] = ["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT"].map(symbol_hash);
        let v = one_of(&[b, a, b]);
        assert_eq!(v, one_of(&[a, b]));
        assert!(is_one_of(v) && !is_composite(v) && !is_other(v));
        assert_eq!(alternatives_of(v), Some(vec![a.min(b), a.max(b)]));
        assert_eq!(alternatives_of(a), None);
        assert_ne!(one_of(&[0, 1]), one_of(&[0, 2]));
        assert_eq!(bits_known(one_of(&[1, 2]), &|_| Some(1)), None);
    }

    #[test]
    fn composites_remember_their_members_in_any_order() {
        let [a, b] = ["FGP_A", "FGP_B"].map(symbol_hash);
        assert_eq!(composite(&[a, b]), composite(&[b, a, b]));
        assert_eq!(
            members_of(composite(&[b, a])),
            Some(vec![a.min(b), a.max(b)])
        );
        assert!(is_composite(composite(&[a, 4])));
        assert!(!is_composite(a) && members_of(a).is_none());
        assert_eq!(
            bits_known(composite(&[a, 4]), &|_| Some(1)),
            Some(Bits::Exact(5))
        );
        assert_eq!(bits_known(composite(&[a, 4]), &|_| None), None);
        assert_eq!(bits_known(other_value(&[1]), &|_| Some(1)), None);
    }
}
