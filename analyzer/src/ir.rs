//! The intermediate representation: per function, a control-flow graph whose
//! nodes hold the events the lock analysis cares about (calls, assignments)
//! and, for branches, the condition as a small expression tree.

use serde::Serialize;

pub type NodeId = u32;
pub type VarId = u32;
pub type CallId = u32;

/// A value as far as constant propagation can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Const(i64),
    /// A variable or field path, normalized: `vms->unlock`, `(&vms)->unlock`
    /// and `vms.unlock` are all `vms.unlock`; `&mm` is `mm`.
    Path(String),
    /// The result of a call in this function.
    CallResult(CallId),
    /// `x | C` of a path and a constant: the [`crate::symbolic::has_bits`]
    /// value of `C` (whatever x is, C's bits are set), which a context that
    /// knows x's bits as numbers makes an at-most value of both
    /// (`preferred_gfp = gfp | __GFP_NOWARN`).
    OrBits(String, i64),
    /// A truth value computed from variables (`cow = mod != 0`), decided
    /// when the constants of a context decide the expression.
    Cond(Expr),
    /// `cond ? a : b` of two constants (`ins_len = mod < 0 ? -1 : 0`).
    Choice(Expr, i64, i64),
    /// `x |= C` of a constant: x keeps every bit it had and gains C's
    /// (`current->flags |= PF_SWAPWRITE` keeps `PF_MEMALLOC`).
    SetBits(i64),
    /// `x &= ~C` of a constant: x loses C's bits and keeps the others.
    ClearBits(i64),
    /// `x &= y` of anything else (`gfp &= gfp_allowed_mask`): x keeps at
    /// most the bits it had.
    MaskBits,
    /// `x |= f(..)` of a call whose every `return` is a constant
    /// (`gfp |= dma_direct_optimal_gfp_mask(..)`): x gains at most their bits.
    SetCallBits(CallId),
    /// A word computed from a path by bit operations on constants, in
    /// order (`gfp & ~__GFP_ZERO`, `(gfp & ~GFP_DMA32) | GFP_DMA`): decided
    /// by [`crate::symbolic::bits_through`] when the path's bits are known.
    BitsOf(String, Vec<crate::symbolic::BitOp>),
    Unknown,
}

impl Value {
    /// The change of bits an assignment makes (`|= C`, `&= ~C`, `&= mask`).
    pub fn bit_op(&self) -> Option<crate::symbolic::BitOp> {
        use crate::symbolic::BitOp;
        match self {
            Value::SetBits(c) => Some(BitOp::Set(*c)),
            Value::ClearBits(c) => Some(BitOp::Clear(*c)),
            Value::MaskBits => Some(BitOp::Mask),
            _ => None,
        }
    }
}

/// A branch condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Const(i64),
    Var(VarId),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `flags & FGP_LOCK`: decided only when a side is 0 (symbolic
    /// constants stand for distinct but unknown bits).
    BitAnd(Box<Expr>, Box<Expr>),
    Unknown,
}

impl Expr {
    /// Whether the expression reads `var`.
    pub fn reads(&self, var: VarId) -> bool {
        match self {
            Expr::Var(v) => *v == var,
            Expr::Not(a) => a.reads(var),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::BitAnd(a, b) => {
                a.reads(var) || b.reads(var)
            }
            Expr::Const(_) | Expr::Unknown => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
pub struct CallSite {
    pub callee: String,
    /// Argument texts, whitespace-collapsed.
    pub args: Vec<String>,
    pub arg_values: Vec<Value>,
    /// 1-based line and column of the callee name.
    pub line: u32,
    pub column: u32,
    /// Inside the body or condition of a loop.
    pub in_loop: bool,
    /// The guard variable that carries this call's result when it is a
    /// conditional lock acquisition (`$<call>` or the assigned variable).
    pub result_var: VarId,
    /// What the catalogue says of the callee, worked out once at parse time
    /// (every round of a run builds a program over the same calls).
    pub catalogued: Catalogued,
    /// The first argument holds, on every path, an object this function has
    /// just allocated (the `fresh` pass decides): waiting on it cannot block.
    pub on_fresh_object: bool,
}

/// A call's callee in the catalogue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Catalogued {
    /// A long operation (any class, in a loop or not).
    pub long_op: bool,
    /// ... only when its definition is not in view (`unless_defined`).
    pub long_op_unless_defined: bool,
    /// Named like a lock API entry.
    pub lock_name: bool,
    /// A lock API call on the mmap lock (the name, and the argument when the
    /// entry requires it).
    pub lock_call: bool,
    pub assertion: bool,
    /// Side-effect free (`[pure]`): no definition needed to know it does
    /// not reach a long operation.
    pub pure: bool,
    /// A `[stable]` call (same result for the same argument).
    pub stable: bool,
    /// Its result has a key a context can give (`@name` in `[call_facts]`
    /// keys), without being `[stable]`: no branch on it implies anything
    /// in the callees.
    pub fact_keyed: bool,
}

impl Catalogued {
    pub fn of(cat: &crate::catalogue::Catalogue, call: &CallSite) -> Catalogued {
        Catalogued {
            long_op: cat.long_ops.contains_key(&call.callee),
            long_op_unless_defined: cat
                .long_ops
                .get(&call.callee)
                .is_some_and(|op| op.unless_defined),
            lock_name: cat.lock_api.contains_key(&call.callee),
            lock_call: cat.mmap_lock_call(&call.callee, &call.args).is_some(),
            assertion: cat.assertions.contains_key(&call.callee),
            pure: cat.pure.contains_key(&call.callee) || cat.stable.contains_key(&call.callee),
            stable: cat.stable.contains_key(&call.callee),
            fact_keyed: cat.call_fact_calls.contains(&call.callee),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Call(CallId),
    Assign { var: VarId, value: Value },
}

#[derive(Debug, Clone, Default)]
pub struct Node {
    pub events: Vec<Event>,
    /// A branch: `succ[0]` is taken when the condition is true, `succ[1]` when false.
    pub branch: Option<Expr>,
    pub succ: Vec<NodeId>,
    /// A switch head: the switched value and, per successor, its case value
    /// (`None` for `default:` or the no-default exit edge).
    pub switch: Option<(Expr, Vec<Option<Expr>>)>,
}

#[derive(Debug, Clone, Default)]
pub struct Cfg {
    pub nodes: Vec<Node>,
    pub entry: NodeId,
    pub exit: NodeId,
}

/// Where a stored field gets its value from (`vms->unlock = unlock;`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreSource {
    Param(usize),
    Const(i64),
    /// `p->flags |= C`, `&= ~C`, `&= mask`: the bits change as the step
    /// says ([`crate::symbolic::bits_after`]), the others are kept, here
    /// and seen from any caller.
    Bits(crate::symbolic::BitOp),
    /// Anything else (a local, a call's result, an expression): the field
    /// is no longer known after the store (`sc->mode = mode;`).
    Unknown,
}

/// A store into a field of a pointer parameter (`p->field = ...`), or of
/// what it points into (`field` = `a.b`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldStore {
    pub param: usize,
    pub field: String,
    pub source: StoreSource,
}

/// A lock state promised on entry by an assertion or annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntryHint {
    pub mode: crate::catalogue::LockMode,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub file: u32,
    pub line: u32,
    pub params: Vec<String>,
    pub is_static: bool,
    pub has_parse_error: bool,
    pub cfg: Cfg,
    pub calls: Vec<CallSite>,
    pub vars: Vec<String>,
    /// Per variable: a lock flag, a plain local assigned a constant right
    /// after a lock call in the same block (`mmap_write_lock(mm);
    /// write_locked = true;`) whose address the body never takes; its
    /// constants are followed per path ([`crate::lockstate::Elem::flag`]).
    pub lock_flags: Vec<bool>,
    pub entry_hint: Option<EntryHint>,
    /// Facts on entry of a handler the catalogue gives them
    /// (`[fault_path.entry_facts]`), keyed like a context's constants.
    pub entry_facts: Vec<(String, i64)>,
    pub field_stores: Vec<FieldStore>,
    /// Lines where the retry protocol covers what follows: a call of a
    /// lock-dropping helper (`maybe_unlock_mmap_for_io`...) or a test of
    /// `FAULT_FLAG_ALLOW_RETRY` in a condition.
    pub retry_marker_lines: Vec<u32>,
    /// A hash of the definition's (normalized) text and what annotations
    /// promise it: equal for a function moved by lines but not changed, so
    /// its summary can be reused (see `summary_store`).
    pub content_key: u64,
    /// Why the body was not analyzed (nesting too deep for the recursive
    /// stages); the function is then a no-op with no calls, and the run
    /// reports it as skipped.
    pub skipped: Option<String>,
}

impl Function {
    /// Whether a retry-protocol marker comes before `call` in the body: the
    /// wait that call leads to is then taken to happen after the lock was
    /// dropped (textual order approximates "on the path before").
    pub fn retry_protocol_before(&self, call: CallId) -> bool {
        let Some(site) = self.calls.get(call as usize) else {
            return false;
        };
        self.retry_marker_lines.iter().any(|&l| l < site.line)
    }
}

/// The variable a `return` statement assigns.
pub const RETURN_VAR: &str = "$ret";

impl Function {
    /// Moves every line by `offset` (a chunk parsed alone, placed in its file).
    pub fn shift_lines(&mut self, offset: u32) {
        self.line += offset;
        for c in &mut self.calls {
            c.line += offset;
        }
        if let Some(h) = &mut self.entry_hint {
            h.line += offset;
        }
        // Compared with call lines (MMS004's retry order): moved alike.
        for l in &mut self.retry_marker_lines {
            *l += offset;
        }
    }

    /// Whether a call is handed the address of `name` (`f(&page)`): the
    /// callee may write it.
    pub fn address_passed(&self, name: &str) -> bool {
        self.calls.iter().any(|c| {
            c.args
                .iter()
                .any(|a| a.strip_prefix('&').is_some_and(|r| r.trim() == name))
        })
    }

    pub fn var_id(&self, name: &str) -> Option<VarId> {
        self.vars.iter().position(|v| v == name).map(|i| i as VarId)
    }

    pub fn var_name(&self, id: VarId) -> &str {
        &self.vars[id as usize]
    }
}

/// What one source file yields.
#[derive(Debug, Clone, Default)]
pub struct FileIr {
    pub functions: Vec<Function>,
    /// Lines of the file, for printers (only kept for files with findings).
    pub line_count: usize,
}

/// Normalizes an expression text into a path: `(&vms)->unlock` → `vms.unlock`.
pub fn normalize_path(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let t = text.trim();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // `f(x)` is a call, not a path.
            '(' if out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') => return None,
            '&' | '*' | '(' | ')' | ' ' | '\t' | '\n' => {}
            '-' if chars.peek() == Some(&'>') => {
                chars.next();
                out.push('.');
            }
            '.' => out.push('.'),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    if out.is_empty()
        || out.starts_with('.')
        || out.ends_with('.')
        || out.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn paths_normalize() {
        assert_eq!(
            normalize_path("(&vms)->unlock").as_deref(),
            Some("vms.unlock")
        );
        assert_eq!(normalize_path("vms.unlock").as_deref(), Some("vms.unlock"));
        assert_eq!(
            normalize_path("&mm->mmap_lock").as_deref(),
            Some("mm.mmap_lock")
        );
        assert_eq!(normalize_path("a + b"), None);
        assert_eq!(normalize_path("f(x)"), None);
    }
}
