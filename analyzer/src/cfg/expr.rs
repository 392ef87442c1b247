//! Expressions in a function body: the calls they make (in evaluation
//! order), assignments and the constant values they carry, and branch
//! conditions as [`Expr`] trees.

use crate::cfg::Fields;
use tree_sitter::Node as TsNode;

use super::{is_statement_kind, CfgBuilder};
use crate::ir::*;
use crate::symbolic::is_symbolic_constant;

impl CfgBuilder<'_> {
    /// Emits the calls and assignments of an expression, in evaluation order.
    pub(super) fn expression(&mut self, n: TsNode) {
        match n.kind_name() {
            "call_expression" => {
                if let Some(args) = n.field("arguments") {
                    let mut c = args.walk();
                    for a in args.named_children(&mut c) {
                        self.expression(a);
                    }
                }
                let func = n.field("function");
                match func.filter(|f| f.kind_name() == "identifier") {
                    Some(f) => {
                        let callee = self.text(f).to_string();
                        self.emit_call(n, f, callee);
                    }
                    None => {
                        if let Some(f) = func {
                            self.expression(f);
                        }
                        self.indirect_call_stores(n);
                    }
                }
            }
            "assignment_expression" => {
                let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
                    return;
                };
                self.expression(right);
                self.expression_without_calls_in_lvalue(left);
                let op = n.field("operator").map(|o| self.text(o)).unwrap_or("=");
                if let Some(path) = normalize_path(self.text(left)) {
                    let value = match op {
                        "=" => self.assigned_value(right),
                        "|=" | "&=" => self.bits_assigned(op, right),
                        _ => Value::Unknown,
                    };
                    self.assign(&path, value);
                }
            }
            "update_expression" => {
                // `i++`, `--n`: the variable changes to a value we do not
                // follow. Without this event `for (i = 0; i < n; i++)` keeps
                // `i = 0` as a constant and the loop never exits.
                let mut c = n.walk();
                let operand = n.named_children(&mut c).next();
                if let Some(operand) = operand {
                    self.expression_without_calls_in_lvalue(operand);
                    if let Some(path) = normalize_path(self.text(operand)) {
                        self.assign(&path, Value::Unknown);
                    }
                }
            }
            "conditional_expression"
            | "binary_expression"
            | "unary_expression"
            | "parenthesized_expression"
            | "comma_expression"
            | "cast_expression"
            | "pointer_expression"
            | "field_expression"
            | "subscript_expression"
            | "argument_list"
            | "initializer_list"
            | "initializer_pair"
            | "compound_literal_expression"
            | "sizeof_expression"
            | "ERROR"
            | "expression_statement"
            | "statement_expression"
            | "compound_statement"
            | "gnu_asm_expression"
            | "init_declarator"
            | "alignof_expression"
            | "offsetof_expression"
            | "generic_expression" => {
                if n.kind_name() == "compound_statement" {
                    // GNU statement expression `({ ... })`: statements in sequence.
                    self.statement(n);
                    return;
                }
                let mut c = n.walk();
                for child in n.named_children(&mut c) {
                    if n.kind_name() == "ERROR" && is_statement_kind(child.kind_name()) {
                        self.statement(child);
                    } else {
                        self.expression(child);
                    }
                }
            }
            k if is_statement_kind(k) => self.statement(n),
            _ => {}
        }
    }

    pub(super) fn expression_without_calls_in_lvalue(&mut self, left: TsNode) {
        // `*foo(x) = y` or `a[f(i)] = y`: calls in an lvalue still execute.
        if left.kind_name() != "identifier" && left.kind_name() != "field_expression" {
            self.expression(left);
        }
    }

    /// A call through a function pointer (`ops->iomap_begin(.., &iter->iomap,
    /// ..)`) has no definition to follow: what it stores into the objects
    /// handed to it is unknown. Each argument's fields are assigned unknown
    /// as a whole (`iter.iomap.*`), so they no longer fall back to the zeroes
    /// of a designated initializer ([`crate::field_values`]), and callers
    /// learn it as a store of the function (`parse::field_stores`).
    fn indirect_call_stores(&mut self, call: TsNode) {
        let Some(list) = call.field("arguments") else {
            return;
        };
        let mut c = list.walk();
        let paths: Vec<String> = list
            .named_children(&mut c)
            .filter_map(|a| normalize_path(self.text(a)))
            .collect();
        for p in paths {
            self.assign(&crate::field_values::wildcard_of(&p), Value::Unknown);
        }
    }

    pub(super) fn emit_call(&mut self, call: TsNode, name_node: TsNode, callee: String) {
        let mut args = Vec::new();
        let mut arg_values = Vec::new();
        if let Some(list) = call.field("arguments") {
            let mut c = list.walk();
            for a in list.named_children(&mut c) {
                if a.kind_name() == "comment" {
                    continue;
                }
                args.push(collapse_ws(self.text(a)));
                arg_values.push(self.assigned_value(a));
            }
        }
        let id = self.calls.len() as CallId;
        let result_var = self.var(&format!("${id}"));
        let pos = name_node.start_position();
        self.calls.push(CallSite {
            callee,
            args,
            arg_values,
            line: self.line_offset + pos.row as u32 + 1,
            column: pos.column as u32 + 1,
            in_loop: self.loop_depth > 0,
            result_var,
            catalogued: Default::default(),
            on_fresh_object: false,
        });
        self.call_of_node.insert(call.id(), id);
        let cur = self.current();
        self.nodes[cur as usize].events.push(Event::Call(id));
    }

    pub(super) fn value_of(&self, n: TsNode) -> Value {
        match n.kind_name() {
            "number_literal" => parse_int(self.text(n))
                .map(Value::Const)
                .unwrap_or(Value::Unknown),
            "true" => Value::Const(1),
            "false" => Value::Const(0),
            "null" => Value::Const(0),
            "identifier" if self.text(n) == "NULL" => Value::Const(0),
            "identifier" if is_symbolic_constant(self.text(n)) => {
                Value::Const(symbol_value(self.text(n)))
            }
            "parenthesized_expression" => n
                .named_child(0)
                .map(|c| self.value_of(c))
                .unwrap_or(Value::Unknown),
            "call_expression" => match self.call_of_node.get(&n.id()) {
                Some(id) if self.is_transparent(n) => {
                    // likely(x): the value of x.
                    let _ = id;
                    n.field("arguments")
                        .and_then(|a| a.named_child(0))
                        .map(|c| self.value_of(c))
                        .unwrap_or(Value::Unknown)
                }
                Some(id) => Value::CallResult(*id),
                None => Value::Unknown,
            },
            "identifier" | "field_expression" | "pointer_expression" => {
                normalize_path(self.text(n))
                    .map(Value::Path)
                    .unwrap_or(Value::Unknown)
            }
            _ => Value::Unknown,
        }
    }

    /// The value an assignment, initializer or `return` gives: a plain
    /// [`CfgBuilder::value_of`], or a truth value or constant choice computed
    /// from variables, so a context's constants decide derived locals too
    /// (`int cow = mod != 0;` in a callee passed `mod = 0`).
    pub(super) fn assigned_value(&mut self, n: TsNode) -> Value {
        let plain = self.value_of(n);
        if plain != Value::Unknown {
            return plain;
        }
        let inner = if n.kind_name() == "parenthesized_expression" {
            match n.named_child(0) {
                Some(c) => c,
                None => return plain,
            }
        } else {
            n
        };
        if let Some(all) = self.constant_or(inner) {
            // `FGP_CREAT | FGP_FOR_MMAP`: exactly these flags.
            return Value::Const(all);
        }
        if let Some((path, ops)) = self.bit_steps(inner).filter(|(_, ops)| {
            // `x | C` alone is an [`Value::OrBits`] (below).
            !matches!(ops.as_slice(), [crate::symbolic::BitOp::Set(_)])
        }) {
            return Value::BitsOf(path, ops);
        }
        if inner.kind_name() == "binary_expression"
            && inner.field("operator").is_some_and(|o| self.text(o) == "|")
        {
            // `x | VM_LOCKED`: whatever x is, the bit is set.
            let side = |name| inner.field(name).map(|c| self.value_of(c));
            return match (side("left"), side("right")) {
                (Some(Value::Path(p)), Some(Value::Const(c)))
                | (Some(Value::Const(c)), Some(Value::Path(p))) => {
                    crate::lockstate::has_bits(c).map_or(Value::Unknown, |h| Value::OrBits(p, h))
                }
                (_, Some(Value::Const(c))) | (Some(Value::Const(c)), _) => {
                    crate::lockstate::has_bits(c).map_or(Value::Unknown, Value::Const)
                }
                _ => Value::Unknown,
            };
        }
        match inner.kind_name() {
            "binary_expression" | "unary_expression" => match self.cond_expr(inner) {
                Expr::Unknown => Value::Unknown,
                // `x & MASK` is decided only as 0, where its truth is its value.
                e @ (Expr::Cmp(..)
                | Expr::Not(_)
                | Expr::And(..)
                | Expr::Or(..)
                | Expr::BitAnd(..)) => Value::Cond(e),
                _ => Value::Unknown,
            },
            "conditional_expression" => {
                let field = |name| inner.field(name);
                let (Some(c), Some(a), Some(b)) = (
                    field("condition"),
                    field("consequence"),
                    field("alternative"),
                ) else {
                    return Value::Unknown;
                };
                match (self.value_of(a), self.value_of(b)) {
                    (Value::Const(x), Value::Const(y)) => match self.cond_expr(c) {
                        Expr::Unknown => Value::Unknown,
                        e => Value::Choice(e, x, y),
                    },
                    _ => Value::Unknown,
                }
            }
            _ => Value::Unknown,
        }
    }

    /// `x |= C` and `x &= ~C` of a constant `C` (a literal, a symbolic
    /// constant or an or of them): which bits change ([`Value::SetBits`],
    /// [`Value::ClearBits`]); `x &= y` of anything else keeps at most x's
    /// bits ([`Value::MaskBits`]); anything else is unknown.
    fn bits_assigned(&self, op: &str, right: TsNode) -> Value {
        let Some(inner) = unparenthesized(right) else {
            return Value::Unknown;
        };
        match op {
            "|=" => match self.constant_of(inner) {
                Some(c) => Value::SetBits(c),
                // `gfp |= helper(..)`: the helper's returned constants.
                None => match self.value_of(inner) {
                    Value::CallResult(c) => Value::SetCallBits(c),
                    _ => Value::Unknown,
                },
            },
            _ if self.is_inverted(inner) => self
                .inverted_constant(inner)
                .map_or(Value::Unknown, Value::ClearBits),
            "&=" => Value::MaskBits,
            _ => Value::Unknown,
        }
    }

    /// A constant: a literal, a symbolic constant, or an or of them.
    fn constant_of(&self, n: TsNode) -> Option<i64> {
        match self.value_of(n) {
            Value::Const(c) => Some(c),
            _ => self.constant_or(n),
        }
    }

    /// `~X`, parenthesized or not.
    fn is_inverted(&self, n: TsNode) -> bool {
        unparenthesized(n).is_some_and(|m| {
            m.kind_name() == "unary_expression"
                && m.field("operator").is_some_and(|o| self.text(o) == "~")
        })
    }

    /// `C` of `~C` for a constant `C` ([`Self::constant_of`]).
    fn inverted_constant(&self, n: TsNode) -> Option<i64> {
        let m = unparenthesized(n).filter(|_| self.is_inverted(n))?;
        self.constant_of(m.field("argument")?)
    }

    /// A word computed from one path by bit operations on constants, as
    /// the path and the steps in order (`(gfp & ~GFP_DMA32) | GFP_DMA`:
    /// clear, then set); `x & y` of a non-constant `y` keeps at most x's
    /// bits. `None` for anything else, and for a path alone.
    fn bit_steps(&self, n: TsNode) -> Option<(String, Vec<crate::symbolic::BitOp>)> {
        use crate::symbolic::BitOp;
        let constant = |n: TsNode| self.constant_of(n);
        let n = unparenthesized(n)?;
        if n.kind_name() != "binary_expression" {
            return None;
        }
        let op = self.text(n.field("operator")?);
        let (left, right) = (n.field("left")?, n.field("right")?);
        // The path side: a path, or another such computation.
        let base = |b: TsNode| -> Option<(String, Vec<BitOp>)> {
            match self.value_of(b) {
                Value::Path(p) => Some((p, Vec::new())),
                _ => self.bit_steps(b),
            }
        };
        let inverted = |m: TsNode| self.inverted_constant(m);
        let (mut steps, step) = match op {
            "|" => {
                let (b, c) = match constant(right) {
                    Some(c) => (left, c),
                    None => (right, constant(left)?),
                };
                (base(b)?, BitOp::Set(c))
            }
            "&" => match (inverted(right), inverted(left)) {
                (Some(c), _) => (base(left)?, BitOp::Clear(c)),
                (_, Some(c)) => (base(right)?, BitOp::Clear(c)),
                // `x & mask`: at most x's bits, whatever the mask.
                _ => match base(left) {
                    Some(b) if constant(right).is_none() => (b, BitOp::Mask),
                    _ => return None,
                },
            },
            _ => return None,
        };
        steps.1.push(step);
        Some(steps)
    }

    /// The value of an or of constants alone (`FGP_CREAT | FGP_FOR_MMAP`,
    /// parenthesized or nested): the or itself when every member is a
    /// literal, else a [`crate::symbolic::composite`] of the members.
    /// `None` when a member is not a constant.
    fn constant_or(&self, n: TsNode) -> Option<i64> {
        fn members(b: &CfgBuilder, n: TsNode, out: &mut Vec<(i64, bool)>) -> Option<()> {
            match n.kind_name() {
                "parenthesized_expression" => members(b, n.named_child(0)?, out),
                "binary_expression" if n.field("operator").is_some_and(|o| b.text(o) == "|") => {
                    members(b, n.field("left")?, out)?;
                    members(b, n.field("right")?, out)
                }
                "number_literal" => {
                    out.push((parse_int(b.text(n))?, false));
                    Some(())
                }
                "identifier" if is_symbolic_constant(b.text(n)) => {
                    out.push((symbol_value(b.text(n)), true));
                    Some(())
                }
                _ => None,
            }
        }
        if n.kind_name() != "binary_expression" && n.kind_name() != "parenthesized_expression" {
            return None;
        }
        let mut out = Vec::new();
        members(self, n, &mut out)?;
        if out.len() < 2 {
            return None;
        }
        if out.iter().all(|(_, symbol)| !symbol) {
            return Some(out.iter().fold(0, |acc, (v, _)| acc | v));
        }
        let values: Vec<i64> = out.iter().map(|(v, _)| *v).collect();
        Some(crate::symbolic::composite(&values))
    }

    /// A mask of flags the catalogue assumes clear (`[assume_clear]`): a
    /// name of one, or a parenthesized or of them alone.
    fn is_assumed_clear(&self, n: TsNode) -> bool {
        let flags = self.assume_clear;
        if flags.is_empty() {
            return false;
        }
        match n.kind_name() {
            "identifier" => flags.contains(&self.text(n)),
            "parenthesized_expression" => {
                n.named_child(0).is_some_and(|c| self.is_assumed_clear(c))
            }
            "binary_expression" => {
                n.field("operator").is_some_and(|o| self.text(o) == "|")
                    && [n.field("left"), n.field("right")]
                        .into_iter()
                        .all(|c| c.is_some_and(|c| self.is_assumed_clear(c)))
            }
            _ => false,
        }
    }

    /// Calls whose value is their (first) argument's, as far as truth goes:
    /// `likely(x)`, and `WARN_ON(x)`, which returns whether `x` held (5.x
    /// `pagecache_get_page()`'s `if (WARN_ON_ONCE(!(fgp_flags & (FGP_LOCK |
    /// FGP_FOR_MMAP)))) fgp_flags |= FGP_LOCK;` is dead for a caller's
    /// `FGP_CREAT | FGP_FOR_MMAP`).
    pub(super) fn is_transparent(&self, call: TsNode) -> bool {
        call.field("function").is_some_and(|f| {
            matches!(
                self.text(f),
                "likely" | "unlikely" | "READ_ONCE" | "data_race" | "WARN_ON" | "WARN_ON_ONCE"
            )
        })
    }

    /// Converts a condition into an expression over variables and call results.
    pub(super) fn cond_expr(&mut self, n: TsNode) -> Expr {
        match n.kind_name() {
            "parenthesized_expression" => n
                .named_child(0)
                .map(|c| self.cond_expr(c))
                .unwrap_or(Expr::Unknown),
            "number_literal" => parse_int(self.text(n))
                .map(Expr::Const)
                .unwrap_or(Expr::Unknown),
            "true" => Expr::Const(1),
            "false" | "null" => Expr::Const(0),
            "identifier" if self.text(n) == "NULL" => Expr::Const(0),
            "identifier" if is_symbolic_constant(self.text(n)) => {
                Expr::Const(symbol_value(self.text(n)))
            }
            "identifier" | "field_expression" => match normalize_path(self.text(n)) {
                Some(p) => Expr::Var(self.var(&p)),
                None => Expr::Unknown,
            },
            "unary_expression" => {
                let op = n.field("operator").map(|o| self.text(o)).unwrap_or("");
                let arg = n
                    .field("argument")
                    .map(|a| self.cond_expr(a))
                    .unwrap_or(Expr::Unknown);
                match op {
                    "!" => Expr::Not(Box::new(arg)),
                    "-" => match arg {
                        Expr::Const(v) => Expr::Const(-v),
                        _ => Expr::Unknown,
                    },
                    _ => Expr::Unknown,
                }
            }
            "binary_expression" => {
                let op = n.field("operator").map(|o| self.text(o)).unwrap_or("");
                let l = n
                    .field("left")
                    .map(|a| self.cond_expr(a))
                    .unwrap_or(Expr::Unknown);
                let r = n
                    .field("right")
                    .map(|a| self.cond_expr(a))
                    .unwrap_or(Expr::Unknown);
                let cmp = |op| Expr::Cmp(op, Box::new(l.clone()), Box::new(r.clone()));
                if op == "|" {
                    // `flags & (FGP_LOCK | FGP_NOWAIT)`: exactly these flags.
                    return self.constant_or(n).map_or(Expr::Unknown, Expr::Const);
                }
                match op {
                    "&&" => Expr::And(Box::new(l), Box::new(r)),
                    "||" => Expr::Or(Box::new(l), Box::new(r)),
                    "&" if [n.field("left"), n.field("right")]
                        .into_iter()
                        .flatten()
                        .any(|m| self.is_assumed_clear(m)) =>
                    {
                        Expr::Const(0)
                    }
                    "&" => Expr::BitAnd(Box::new(l), Box::new(r)),
                    "==" => cmp(CmpOp::Eq),
                    "!=" => cmp(CmpOp::Ne),
                    "<" => cmp(CmpOp::Lt),
                    "<=" => cmp(CmpOp::Le),
                    ">" => cmp(CmpOp::Gt),
                    ">=" => cmp(CmpOp::Ge),
                    _ => Expr::Unknown,
                }
            }
            "call_expression" => {
                if self.is_transparent(n) {
                    return n
                        .field("arguments")
                        .and_then(|a| a.named_child(0))
                        .map(|c| self.cond_expr(c))
                        .unwrap_or(Expr::Unknown);
                }
                match self.call_of_node.get(&n.id()) {
                    Some(id) => Expr::Var(self.calls[*id as usize].result_var),
                    None => Expr::Unknown,
                }
            }
            "assignment_expression" => {
                // `if ((err = f()))`: the value of the assignment.
                n.field("left")
                    .map(|l| self.cond_expr(l))
                    .unwrap_or(Expr::Unknown)
            }
            _ => Expr::Unknown,
        }
    }
}

/// The value standing for a symbolic constant ([`crate::symbolic::symbol_hash`]).
/// The name is remembered ([`symbol_name`]) so that a finding's context can
/// say `flags=VM_LOCKED` where the source says so.
fn symbol_value(name: &str) -> i64 {
    let value = crate::symbolic::symbol_hash(name);
    let known = SYMBOLS
        .read()
        .map(|m| m.contains_key(&value))
        .unwrap_or(true);
    if !known {
        if let Ok(mut m) = SYMBOLS.write() {
            m.entry(value).or_insert_with(|| name.to_string());
        }
    }
    value
}

/// The symbolic constants seen by this process, by the value standing for
/// them. The value is a function of the name alone, so what this table
/// holds never changes a result, only how a value is printed.
static SYMBOLS: std::sync::LazyLock<std::sync::RwLock<std::collections::HashMap<i64, String>>> =
    std::sync::LazyLock::new(Default::default);

/// The name of the symbolic constant `value` stands for, if one was seen.
pub fn symbol_name(value: i64) -> Option<String> {
    SYMBOLS.read().ok()?.get(&value).cloned()
}

pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// `n` without the parentheses around it (`None`: an empty pair).
fn unparenthesized(n: TsNode) -> Option<TsNode> {
    let mut n = n;
    while n.kind_name() == "parenthesized_expression" {
        n = n.named_child(0)?;
    }
    Some(n)
}
