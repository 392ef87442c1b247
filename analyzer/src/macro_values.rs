//! The numeric values of the tree's integer `#define`s, for bit-flag
//! reasoning.
//!
//! Why: the analysis stands for an ALL_CAPS constant by a value derived from
//! its name ([`crate::symbolic::symbol_hash`]), so `flags & FGP_STABLE` with
//! `flags = FGP_LOCK` cannot be decided by names alone: two names may share
//! bits, and a composite (`FGP_WRITEBEGIN` = `FGP_LOCK | FGP_WRITE |
//! FGP_CREAT | FGP_STABLE`) contains bits its name does not show. With the
//! values of both macros the test is a number (`0x2 & 0x80 == 0`), and the
//! branch it guards is dead or taken.
//!
//! What: [`defines`] reads the object-like `#define NAME value` lines of a
//! text (continuations joined, comments dropped) whose name is a symbolic
//! constant; [`MacroTable`] merges them over the files of a run and answers
//! [`MacroTable::value`]. A value is a constant expression: decimal, hex,
//! octal or binary literals with `u`/`l` suffixes, casts to a type
//! (`((__force fgf_t)0x00000004)`, `(unsigned long)`), the bit helpers
//! `BIT`, `BIT_ULL`, `_BITUL`, `_BITULL`, `GENMASK`, `GENMASK_ULL` and the
//! suffix helpers `UL`, `ULL`, `_UL`, `_ULL`, `_AC`, the operators `~ - +`
//! (unary), `* + - << >> & ^ |`, parentheses, and other such macros
//! (resolved on demand, at most [`MAX_DEPTH`] deep; a cycle is unknown).
//!
//! Limits: the table knows what the run reads. A run over a small tree
//! (mm/, a fixture) reads the defines of every file; over a whole kernel
//! tree, those of the headers of `include/` and `arch/*/include/` and of the
//! files naming the lock (see `run::files`: the millions of register
//! defines of driver headers are left out). A flag defined only in a
//! driver's own file stays unknown there, and the analysis falls back to
//! reasoning by name; `lint mm` alone sees no `include/` and knows no
//! `FGP_*` value. A name with
//! two definitions whose values differ (per architecture, `#ifdef`
//! branches) is unknown, unless every definition gives the same number; a
//! definition the evaluator cannot read (`sizeof`, a function-like helper
//! it does not know, an empty `#define`) makes the name unknown too. Casts
//! do not truncate: values are computed in 64 bits. `#undef` is ignored
//! (both definitions count, so they must agree).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::symbolic::{is_symbolic_constant, symbol_hash};

/// How deep a macro's value may refer to other macros.
pub const MAX_DEPTH: usize = 16;

/// One definition as read from a file: the symbol of its name and what its
/// value is, evaluated when it refers to no other macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Define {
    pub symbol: i64,
    pub value: DefValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefValue {
    /// A constant expression of literals alone, evaluated.
    Number(u64),
    /// A constant expression naming other macros (whitespace-collapsed).
    Expr(Box<str>),
    /// Defined, but not to a constant the evaluator reads.
    Opaque,
}

/// The object-like `#define`s of `text` whose name is a symbolic constant,
/// in file order. Cheap: only lines holding `define` are looked at.
pub fn defines(text: &str) -> Vec<Define> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let userspace = userspace_ranges(text);
    for at in memchr::memmem::find_iter(bytes, b"define") {
        if userspace.iter().any(|r| r.contains(&at)) {
            continue;
        }
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let head = bytes[line_start..at].trim_ascii();
        if head != b"#" {
            continue;
        }
        let rest = &text[at + "define".len()..];
        if !rest.starts_with([' ', '\t']) {
            continue;
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &rest[..name_len];
        // `#define FOO(x)`: function-like, not a value.
        if name.is_empty() || rest[name_len..].starts_with('(') || !is_symbolic_constant(name) {
            continue;
        }
        let value = logical_line_value(&rest[name_len..]);
        out.push(Define {
            symbol: symbol_hash(name),
            value: classify(&value),
        });
    }
    out
}

/// The byte ranges of a file built only outside the kernel: the `#else` of
/// `#ifdef __KERNEL__`, the body of `#ifndef __KERNEL__` (and `#if
/// !defined(__KERNEL__)`). Shims there (`include/linux/raid/pq.h`'s
/// `# define GFP_KERNEL 0`) are not the kernel's values.
fn userspace_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    if !text.contains("__KERNEL__") {
        return Vec::new();
    }
    // Per open conditional: Some(true) the kernel branch is the first one,
    // Some(false) the first is userspace, None another condition; and
    // where the current userspace branch started.
    let mut stack: Vec<(Option<bool>, Option<usize>)> = Vec::new();
    let mut out = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let t = line.trim_start();
        let Some(d) = t.strip_prefix('#') else {
            continue;
        };
        let d = d.trim_start();
        let word = d
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        let rest = d[word.len()..].trim();
        match word {
            "ifdef" | "ifndef" | "if" => {
                let kernel_first = match (word, rest) {
                    ("ifdef", "__KERNEL__") => Some(true),
                    ("if", "defined(__KERNEL__)" | "defined __KERNEL__") => Some(true),
                    ("ifndef", "__KERNEL__") => Some(false),
                    ("if", "!defined(__KERNEL__)" | "!defined __KERNEL__") => Some(false),
                    _ => None,
                };
                let user_from = (kernel_first == Some(false)).then_some(pos);
                stack.push((kernel_first, user_from));
            }
            "else" => {
                if let Some((Some(kernel_first), user_from)) = stack.last_mut() {
                    match user_from.take() {
                        Some(from) => out.push(from..start),
                        None if *kernel_first => *user_from = Some(pos),
                        None => {}
                    }
                }
            }
            "endif" => {
                if let Some((_, Some(from))) = stack.pop() {
                    out.push(from..start);
                }
            }
            _ => {}
        }
    }
    out
}

/// The rest of a `#define` line with its continuations, comments removed,
/// whitespace collapsed.
fn logical_line_value(rest: &str) -> String {
    let mut joined = String::new();
    for line in rest.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match line.strip_suffix('\\') {
            // A value this long is no flag: read no further.
            Some(continued) if joined.len() < 4096 => {
                joined.push_str(continued);
                joined.push(' ');
            }
            _ => {
                joined.push_str(line.strip_suffix('\\').unwrap_or(line));
                break;
            }
        }
    }
    let mut value = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
            value.push(' ');
        } else if rest.starts_with("//") {
            break;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            value.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn classify(value: &str) -> DefValue {
    if value.is_empty() {
        return DefValue::Opaque;
    }
    let mut refers = false;
    match evaluate(value, &mut |_| {
        refers = true;
        None
    }) {
        Some(n) => DefValue::Number(n),
        None if refers && evaluate_shape_ok(value) => DefValue::Expr(value.into()),
        None => DefValue::Opaque,
    }
}

/// Whether `value` parses as a constant expression when every macro it
/// names has a value (so it is worth keeping as text).
fn evaluate_shape_ok(value: &str) -> bool {
    evaluate(value, &mut |_| Some(0)).is_some() || evaluate(value, &mut |_| Some(1)).is_some()
}

/// Evaluates a constant expression; `lookup` gives the value of a macro it
/// names (by symbol), `None` when unknown (then the whole is unknown).
pub fn evaluate(text: &str, lookup: &mut dyn FnMut(i64) -> Option<u64>) -> Option<u64> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
        lookup,
    };
    let v = p.expr(0)?;
    (p.at == tokens.len()).then_some(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Num(u64),
    Ident(&'a str),
    Op(&'static str),
}

fn tokenize(text: &str) -> Option<Vec<Tok<'_>>> {
    // Comparisons, `!`, `?:` and division are not flag arithmetic: a
    // value using them is not read.
    const OPS: [&str; 12] = ["<<", ">>", "|", "&", "^", "~", "+", "-", "*", "(", ")", ","];
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let len = b[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            out.push(Tok::Num(parse_literal(&text[i..i + len])?));
            i += len;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let len = b[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            out.push(Tok::Ident(&text[i..i + len]));
            i += len;
        } else {
            let op = OPS.iter().find(|op| text[i..].starts_with(**op))?;
            out.push(Tok::Op(op));
            i += op.len();
        }
    }
    Some(out)
}

/// An integer literal: decimal, `0x` hex, `0b` binary or `0` octal, with
/// any `u`/`l` suffix.
pub fn parse_literal(s: &str) -> Option<u64> {
    let t = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(bin) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        u64::from_str_radix(bin, 2).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

struct Parser<'t, 'l> {
    tokens: &'t [Tok<'t>],
    at: usize,
    lookup: &'l mut dyn FnMut(i64) -> Option<u64>,
}

/// Binary operators by C precedence (higher binds tighter).
fn binary(op: &str) -> Option<u8> {
    Some(match op {
        "|" => 1,
        "^" => 2,
        "&" => 3,
        "<<" | ">>" => 4,
        "+" | "-" => 5,
        "*" => 6,
        _ => return None,
    })
}

impl<'t> Parser<'t, '_> {
    fn peek(&self) -> Option<Tok<'t>> {
        self.tokens.get(self.at).copied()
    }

    fn eat(&mut self, op: &str) -> Option<()> {
        match self.peek() {
            Some(Tok::Op(o)) if o == op => {
                self.at += 1;
                Some(())
            }
            _ => None,
        }
    }

    /// Precedence climbing over the binary operators.
    fn expr(&mut self, min: u8) -> Option<u64> {
        let mut left = self.unary()?;
        while let Some(Tok::Op(op)) = self.peek() {
            let Some(prec) = binary(op).filter(|p| *p > min) else {
                break;
            };
            self.at += 1;
            let right = self.expr(prec)?;
            left = match op {
                "|" => left | right,
                "^" => left ^ right,
                "&" => left & right,
                "<<" => left.checked_shl(u32::try_from(right).ok().filter(|s| *s < 64)?)?,
                ">>" => left.checked_shr(u32::try_from(right).ok().filter(|s| *s < 64)?)?,
                "+" => left.wrapping_add(right),
                "-" => left.wrapping_sub(right),
                _ => left.wrapping_mul(right),
            };
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<u64> {
        match self.peek()? {
            Tok::Op("~") => {
                self.at += 1;
                Some(!self.unary()?)
            }
            Tok::Op("-") => {
                self.at += 1;
                Some(self.unary()?.wrapping_neg())
            }
            Tok::Op("+") => {
                self.at += 1;
                self.unary()
            }
            Tok::Op("(") => {
                self.at += 1;
                if self.cast_type() {
                    return self.unary();
                }
                let v = self.expr(0)?;
                self.eat(")")?;
                Some(v)
            }
            Tok::Num(n) => {
                self.at += 1;
                Some(n)
            }
            Tok::Ident(name) => {
                self.at += 1;
                if self.eat("(").is_some() {
                    return self.helper(name);
                }
                if !is_symbolic_constant(name) {
                    return None;
                }
                (self.lookup)(symbol_hash(name))
            }
            Tok::Op(_) => None,
        }
    }

    /// After `(`: a type name and `)` (a cast), consumed; false (nothing
    /// consumed) otherwise. A type is one or more identifiers none of which
    /// is a symbolic constant (`__force fgf_t`, `unsigned long`).
    fn cast_type(&mut self) -> bool {
        let mut i = self.at;
        while let Some(Tok::Ident(word)) = self.tokens.get(i) {
            if is_symbolic_constant(word) {
                return false;
            }
            i += 1;
        }
        if i > self.at && self.tokens.get(i) == Some(&Tok::Op(")")) {
            self.at = i + 1;
            true
        } else {
            false
        }
    }

    /// The known function-like helpers of the kernel's bit headers, after
    /// their `(`.
    fn helper(&mut self, name: &str) -> Option<u64> {
        let first = self.expr(0)?;
        let second = if self.eat(",").is_some() {
            match self.peek()? {
                // `_AC(1, UL)`: the second argument is a suffix.
                Tok::Ident(_) if name == "_AC" => {
                    self.at += 1;
                    None
                }
                _ => Some(self.expr(0)?),
            }
        } else {
            None
        };
        self.eat(")")?;
        let bit = |n: u64| 1u64.checked_shl(u32::try_from(n).ok().filter(|s| *s < 64)?);
        match (name, second) {
            ("BIT" | "BIT_ULL" | "_BITUL" | "_BITULL", None) => bit(first),
            ("UL" | "ULL" | "_UL" | "_ULL" | "U" | "_AC", None) => Some(first),
            ("GENMASK" | "GENMASK_ULL", Some(low)) if first < 64 && low <= first => {
                Some((u64::MAX >> (63 - first)) & (u64::MAX << low))
            }
            _ => None,
        }
    }
}

/// The `#define`s of a run's files, by symbol, with their values worked
/// out on demand (and remembered). The files' definitions are shared, not
/// copied: the index holds where each name's definitions are.
#[derive(Default)]
pub struct MacroTable {
    files: Vec<std::sync::Arc<Vec<Define>>>,
    by_symbol: HashMap<i64, Defs, foldhash::fast::RandomState>,
    memo: Mutex<HashMap<i64, Option<u64>, foldhash::fast::RandomState>>,
}

/// Where a definition is: (file, index in its [`defines`]).
type At = (u32, u32);

/// The distinct definitions of one name.
enum Defs {
    One(At),
    Several(Vec<At>),
}

impl std::fmt::Debug for MacroTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MacroTable({} names)", self.by_symbol.len())
    }
}

impl MacroTable {
    /// The table of every definition in `files` (each file's [`defines`]).
    pub fn new(files: impl IntoIterator<Item = std::sync::Arc<Vec<Define>>>) -> MacroTable {
        use std::collections::hash_map::Entry;
        let files: Vec<std::sync::Arc<Vec<Define>>> = files.into_iter().collect();
        let total = files.iter().map(|f| f.len()).sum();
        let mut by_symbol: HashMap<i64, Defs, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(total, Default::default());
        let value = |(f, i): At| &files[f as usize][i as usize].value;
        for (fi, defs) in files.iter().enumerate() {
            for (di, d) in defs.iter().enumerate() {
                let at = (fi as u32, di as u32);
                match by_symbol.entry(d.symbol) {
                    Entry::Vacant(v) => {
                        v.insert(Defs::One(at));
                    }
                    Entry::Occupied(mut o) => match o.get_mut() {
                        Defs::One(first) if *value(*first) == d.value => {}
                        Defs::One(first) => {
                            let first = *first;
                            o.insert(Defs::Several(vec![first, at]));
                        }
                        Defs::Several(all) => {
                            if !all.iter().any(|a| *value(*a) == d.value) {
                                all.push(at);
                            }
                        }
                    },
                }
            }
        }
        MacroTable {
            files,
            by_symbol,
            memo: Default::default(),
        }
    }

    /// The empty table (no name has a value).
    pub fn empty() -> &'static MacroTable {
        static EMPTY: std::sync::LazyLock<MacroTable> = std::sync::LazyLock::new(Default::default);
        &EMPTY
    }

    /// How many names the run's files define (with a value or not).
    pub fn len(&self) -> usize {
        self.by_symbol.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_symbol.is_empty()
    }

    /// The value of the macro `symbol` stands for: known when every
    /// definition of it evaluates, to the same number.
    pub fn value(&self, symbol: i64) -> Option<u64> {
        if !self.by_symbol.contains_key(&symbol) {
            return None;
        }
        if let Some(known) = self.memo.lock().ok().and_then(|m| m.get(&symbol).copied()) {
            return known;
        }
        let value = self.resolve(symbol, &mut Vec::new());
        if let Ok(mut m) = self.memo.lock() {
            m.insert(symbol, value);
        }
        value
    }

    fn resolve(&self, symbol: i64, stack: &mut Vec<i64>) -> Option<u64> {
        if stack.len() >= MAX_DEPTH || stack.contains(&symbol) {
            return None;
        }
        let defs = self.by_symbol.get(&symbol)?;
        stack.push(symbol);
        let mut one = |&(f, i): &At| match &self.files[f as usize][i as usize].value {
            DefValue::Number(n) => Some(*n),
            DefValue::Expr(text) => evaluate(text, &mut |s| self.resolve(s, stack)),
            DefValue::Opaque => None,
        };
        let value = match defs {
            Defs::One(d) => one(d),
            Defs::Several(ds) => {
                let mut values = ds.iter().map(&mut one);
                let first = values.next().flatten();
                first.filter(|f| values.all(|v| v == Some(*f)))
            }
        };
        stack.pop();
        value
    }
}

#[cfg(test)]
#[path = "macro_values_tests.rs"]
mod tests;
