//! Builds a function's control-flow graph from its tree-sitter syntax tree:
//! if/else, switch/case, while/do/for (and loop macros, already rewritten to
//! `while` by normalization), break/continue, goto and labels, return.
//! Statements and control flow here; expressions (calls, assignments,
//! constant values, branch conditions) in [`expr`].

use std::collections::HashMap;

use tree_sitter::Node as TsNode;

use crate::ir::*;

mod expr;

mod syntax;

pub use expr::symbol_name;
pub use syntax::Fields;

pub struct CfgBuilder<'a> {
    src: &'a [u8],
    /// `src` as text, checked once: a node's text is then a slice of it
    /// (tree-sitter's nodes start and end between characters).
    text: &'a str,
    line_offset: u32,
    nodes: Vec<Node>,
    cur: Option<NodeId>,
    exit: NodeId,
    /// (continue target, break target) of enclosing loops; switches push (None, break).
    jump_stack: Vec<(Option<NodeId>, NodeId)>,
    labels: HashMap<String, NodeId>,
    loop_depth: u32,
    pub calls: Vec<CallSite>,
    pub vars: Vec<String>,
    var_ids: HashMap<String, VarId>,
    /// tree-sitter node id of a call expression → its CallId (for conditions).
    call_of_node: HashMap<usize, CallId>,
    /// Flags whose tests are taken as clear here (the catalogue's `[assume_clear]`).
    assume_clear: &'a [&'a str],
    /// Assertions of a condition promised false (the catalogue's `[asserts]`).
    asserts: Option<&'a crate::catalogue::HashMap<String, String>>,
}

impl<'a> CfgBuilder<'a> {
    /// `line_offset`: lines before `src` in the file (when parsing one chunk).
    pub fn new(src: &'a [u8], line_offset: u32) -> Self {
        let mut b = CfgBuilder {
            src,
            text: std::str::from_utf8(src).unwrap_or(""),
            line_offset,
            nodes: Vec::new(),
            cur: None,
            exit: 0,
            jump_stack: Vec::new(),
            labels: HashMap::new(),
            loop_depth: 0,
            calls: Vec::new(),
            vars: Vec::new(),
            var_ids: HashMap::new(),
            call_of_node: HashMap::new(),
            assume_clear: &[],
            asserts: None,
        };
        let entry = b.new_node();
        b.exit = b.new_node();
        b.cur = Some(entry);
        b
    }

    /// Takes tests of these flags (`x & FLAG`, `x & (FLAG | FLAG2)`) as 0.
    pub fn assuming_clear(mut self, flags: &'a [&'a str]) -> Self {
        self.assume_clear = flags;
        self
    }

    /// Ends the paths on which an assertion's condition holds
    /// (`VM_BUG_ON(!migrate)`: past it, `migrate` is not NULL).
    pub fn asserting(mut self, asserts: &'a crate::catalogue::HashMap<String, String>) -> Self {
        self.asserts = Some(asserts);
        self
    }

    /// Builds the graph of a function body (a compound statement).
    pub fn build(mut self, body: TsNode) -> (Cfg, Vec<CallSite>, Vec<String>) {
        self.statement(body);
        if let Some(cur) = self.cur.take() {
            self.edge(cur, self.exit);
        }
        let cfg = Cfg {
            nodes: self.nodes,
            entry: 0,
            exit: 1,
        };
        (cfg, self.calls, self.vars)
    }

    fn text(&self, n: TsNode) -> &'a str {
        self.text
            .get(n.start_byte()..n.end_byte())
            .unwrap_or_else(|| {
                std::str::from_utf8(self.src.get(n.start_byte()..n.end_byte()).unwrap_or(&[]))
                    .unwrap_or("")
            })
    }

    fn new_node(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as NodeId
    }

    fn edge(&mut self, from: NodeId, to: NodeId) {
        self.nodes[from as usize].succ.push(to);
    }

    /// The node events are appended to; code after a jump gets a fresh,
    /// unreachable node.
    fn current(&mut self) -> NodeId {
        match self.cur {
            Some(c) => c,
            None => {
                let n = self.new_node();
                self.cur = Some(n);
                n
            }
        }
    }

    /// Ends the current node and continues in a new one that follows it.
    fn fresh_after_current(&mut self) -> NodeId {
        let n = self.new_node();
        if let Some(c) = self.cur {
            self.edge(c, n);
        }
        self.cur = Some(n);
        n
    }

    pub fn var(&mut self, name: &str) -> VarId {
        if let Some(id) = self.var_ids.get(name) {
            return *id;
        }
        let id = self.vars.len() as VarId;
        self.vars.push(name.to_string());
        self.var_ids.insert(name.to_string(), id);
        id
    }

    /// Emits `name = value` into the current node.
    pub(super) fn assign(&mut self, name: &str, value: Value) {
        let var = self.var(name);
        let cur = self.current();
        self.nodes[cur as usize]
            .events
            .push(Event::Assign { var, value });
    }

    fn label_node(&mut self, name: &str) -> NodeId {
        if let Some(n) = self.labels.get(name) {
            return *n;
        }
        let n = self.new_node();
        self.labels.insert(name.to_string(), n);
        n
    }

    fn statement(&mut self, n: TsNode) {
        match n.kind_name() {
            "compound_statement" => {
                let mut c = n.walk();
                for child in n.named_children(&mut c) {
                    self.statement(child);
                }
            }
            "if_statement" => self.if_statement(n),
            "while_statement" => self.while_statement(n),
            "do_statement" => self.do_statement(n),
            "for_statement" => self.for_statement(n),
            "switch_statement" => self.switch_statement(n),
            "case_statement" => {
                // Reached only for a case outside a switch body we built (error recovery).
                let mut c = n.walk();
                for child in n.named_children(&mut c) {
                    if Some(child) != n.field("value") {
                        self.statement(child);
                    }
                }
            }
            "break_statement" => {
                if let (Some(cur), Some(&(_, brk))) = (self.cur, self.jump_stack.last()) {
                    self.edge(cur, brk);
                }
                self.cur = None;
            }
            "continue_statement" => {
                let target = self.jump_stack.iter().rev().find_map(|(c, _)| *c);
                if let (Some(cur), Some(t)) = (self.cur, target) {
                    self.edge(cur, t);
                }
                self.cur = None;
            }
            "return_statement" => {
                let mut c = n.walk();
                let values: Vec<_> = n.named_children(&mut c).collect();
                for child in &values {
                    self.expression(*child);
                }
                // The returned value goes to the return slot, so callers can
                // tell error paths from success paths.
                let value = values
                    .first()
                    .map(|v| self.assigned_value(*v))
                    .unwrap_or(Value::Unknown);
                self.assign(RETURN_VAR, value);
                let cur = self.current();
                self.edge(cur, self.exit);
                self.cur = None;
            }
            "goto_statement" => {
                if let Some(label) = n.field("label") {
                    let name = self.text(label).to_string();
                    let target = self.label_node(&name);
                    let cur = self.current();
                    self.edge(cur, target);
                }
                self.cur = None;
            }
            "labeled_statement" => {
                if let Some(label) = n.field("label") {
                    let name = self.text(label).to_string();
                    let target = self.label_node(&name);
                    if let Some(cur) = self.cur {
                        self.edge(cur, target);
                    }
                    self.cur = Some(target);
                }
                let mut c = n.walk();
                for child in n.named_children(&mut c) {
                    if child.kind_name() != "statement_identifier" {
                        self.statement(child);
                    }
                }
            }
            "declaration" => self.declaration(n),
            "expression_statement" | "attributed_statement" => {
                let mut c = n.walk();
                for child in n.named_children(&mut c) {
                    match self.asserted_condition(child) {
                        Some(cond) => self.assertion(cond),
                        None => self.expression(child),
                    }
                }
            }
            "comment" | "type_definition" | "struct_specifier" | "enum_specifier"
            | "union_specifier" => {}
            _ => self.expression(n),
        }
    }

    /// The condition of a call of an `[asserts]` macro (its first argument).
    fn asserted_condition(&self, n: TsNode<'a>) -> Option<TsNode<'a>> {
        let asserts = self.asserts?;
        if n.kind_name() != "call_expression" {
            return None;
        }
        let name = n.field("function")?;
        if name.kind_name() != "identifier" || !asserts.contains_key(self.text(name)) {
            return None;
        }
        n.field("arguments")?.named_child(0)
    }

    /// `BUG_ON(cond)`: the condition is evaluated (its calls made), and the
    /// path goes on only where it is false; where it is true the node has
    /// no successor.
    fn assertion(&mut self, cond: TsNode) {
        let dead = self.new_node();
        let go_on = self.new_node();
        self.branch_to(cond, dead, go_on);
        self.cur = Some(go_on);
    }

    fn declaration(&mut self, n: TsNode) {
        let mut c = n.walk();
        for child in n.children_by_field_name("declarator", &mut c) {
            if child.kind_name() == "init_declarator" {
                if let Some(value) = child.field("value") {
                    self.expression(value);
                    if let Some(name) = child
                        .child_by_field_name("declarator")
                        .and_then(|d| declarator_name(d, self.src))
                    {
                        // A list initializes the fields, not a value of
                        // the whole (which an assignment later replaces).
                        if value.kind_name() == "initializer_list" {
                            self.designated_fields(&name, value, false);
                            continue;
                        }
                        let v = self.assigned_value(value);
                        self.assign(&name, v);
                    }
                }
            }
        }
    }

    /// The fields a designated initializer gives (`struct scan_control sc =
    /// { .order = order, .may_swap = 1 };`): each named field its value, and
    /// every field it leaves out zero (C11 6.7.9), as the wildcard
    /// `sc.*` ([`crate::field_values::WILDCARD`]) that a field without a value of
    /// its own falls back to. Nested lists recurse (`.state = { .x = 1 }`).
    /// A positional list (`{ a, b }`) names no field: only `{ 0 }` and `{ }`
    /// are read, as all zero.
    fn designated_fields(&mut self, base: &str, list: TsNode, nested: bool) {
        let mut c = list.walk();
        let items: Vec<TsNode> = list
            .named_children(&mut c)
            .filter(|i| i.kind_name() != "comment")
            .collect();
        let all_zero =
            |b: &Self, i: &TsNode| i.kind_name() == "number_literal" && b.text(*i).trim() == "0";
        let designated = items
            .iter()
            .all(|i| i.kind_name() == "initializer_pair" || all_zero(self, i));
        if !designated && !nested {
            return;
        }
        // A nested positional list leaves its fields unknown, not zero.
        let zeroes = if designated {
            Value::Const(0)
        } else {
            Value::Unknown
        };
        self.assign(&crate::field_values::wildcard_of(base), zeroes);
        if !designated {
            return;
        }
        for pair in items.iter().filter(|i| i.kind_name() == "initializer_pair") {
            let mut c = pair.walk();
            let designators: Vec<TsNode> =
                pair.children_by_field_name("designator", &mut c).collect();
            // `.a.b = x` or `[i] = x`: only a plain `.field` is followed.
            let [d] = designators.as_slice() else {
                continue;
            };
            if d.kind_name() != "field_designator" {
                continue;
            }
            let Some(field) = d.named_child(0).map(|f| self.text(f).to_string()) else {
                continue;
            };
            let Some(value) = pair.field("value") else {
                continue;
            };
            let path = format!("{base}.{field}");
            if value.kind_name() == "initializer_list" {
                self.designated_fields(&path, value, true);
                continue;
            }
            let v = self.assigned_value(value);
            self.assign(&path, v);
        }
    }

    /// Emits a condition's events into the current node and makes it a branch.
    fn branch_on(&mut self, cond: Option<TsNode>) -> NodeId {
        let head = self.fresh_after_current();
        let expr = match cond {
            Some(c) => {
                self.expression(c);
                self.cond_expr(c)
            }
            None => Expr::Const(1),
        };
        // Events of the condition may have moved `cur` (statement expressions).
        let end = self.current();
        self.nodes[end as usize].branch = Some(expr);
        let _ = head;
        end
    }

    /// Branches on `cond` to `on_true`/`on_false`, conjunct by conjunct
    /// when a later operand of its `&&`/`||` chain makes a call: C
    /// evaluates `a && f()` left to right and calls `f` only when `a`
    /// holds (`(gfp & __GFP_ACCOUNT) && page && __memcg_kmem_charge_page(..)`).
    fn branch_to(&mut self, cond: TsNode, on_true: NodeId, on_false: NodeId) {
        let mut inner = cond;
        while inner.kind_name() == "parenthesized_expression" {
            match inner.named_child(0) {
                Some(c) => inner = c,
                None => break,
            }
        }
        let op = (inner.kind_name() == "binary_expression")
            .then(|| inner.field("operator").map(|o| self.text(o)))
            .flatten();
        let sides = (inner.field("left"), inner.field("right"));
        if let (Some(op @ ("&&" | "||")), (Some(left), Some(right))) = (op, sides) {
            if has_call(right) {
                let mid = self.new_node();
                match op {
                    "&&" => self.branch_to(left, mid, on_false),
                    _ => self.branch_to(left, on_true, mid),
                }
                self.cur = Some(mid);
                self.branch_to(right, on_true, on_false);
                return;
            }
        }
        let branch = self.branch_on(Some(cond));
        self.edge(branch, on_true);
        self.edge(branch, on_false);
    }

    fn if_statement(&mut self, n: TsNode) {
        let join = self.new_node();
        let then_start = self.new_node();
        let else_start = self.new_node();
        match n.field("condition") {
            Some(c) => self.branch_to(c, then_start, else_start),
            None => {
                let branch = self.branch_on(None);
                self.edge(branch, then_start);
                self.edge(branch, else_start);
            }
        }
        self.cur = Some(then_start);
        if let Some(c) = n.field("consequence") {
            self.statement(c);
        }
        if let Some(cur) = self.cur {
            self.edge(cur, join);
        }
        self.cur = Some(else_start);
        if let Some(alt) = n.field("alternative") {
            // else_clause wraps the statement.
            let mut c = alt.walk();
            let stmts: Vec<_> = if alt.kind_name() == "else_clause" {
                alt.named_children(&mut c).collect()
            } else {
                vec![alt]
            };
            for s in stmts {
                self.statement(s);
            }
        }
        if let Some(cur) = self.cur {
            self.edge(cur, join);
        }
        self.cur = Some(join);
    }

    fn loop_body(&mut self, body: Option<TsNode>, cont: NodeId, brk: NodeId) {
        self.jump_stack.push((Some(cont), brk));
        self.loop_depth += 1;
        if let Some(b) = body {
            self.statement(b);
        }
        self.loop_depth -= 1;
        self.jump_stack.pop();
    }

    fn while_statement(&mut self, n: TsNode) {
        let cond_start = self.fresh_after_current();
        self.loop_depth += 1;
        let branch = self.branch_on(n.field("condition"));
        self.loop_depth -= 1;
        let body = self.new_node();
        let exit = self.new_node();
        self.edge(branch, body);
        self.edge(branch, exit);
        self.cur = Some(body);
        self.loop_body(n.field("body"), cond_start, exit);
        if let Some(cur) = self.cur {
            self.edge(cur, cond_start);
        }
        self.cur = Some(exit);
        self.opaque_unassigned_loop_condition(branch, cond_start as usize);
    }

    /// A loop on a variable its body never assigns is a loop macro's
    /// (`for_each_evictable_lru(l) {` is normalized to `while (l) {`; the
    /// macro's own increment is gone) or changes it behind the analysis
    /// (through a pointer): its condition says nothing. Taken as it reads,
    /// a second `for_each_evictable_lru(l)` after a first would be dead
    /// (`l` is 0 on the first loop's exit edge).
    /// Only a plain variable counts: a call's result (`while
    /// (!mmap_read_trylock(mm))`) is the call's to decide.
    fn opaque_unassigned_loop_condition(&mut self, branch: NodeId, loop_nodes: usize) {
        let var = match &self.nodes[branch as usize].branch {
            Some(Expr::Var(v)) => *v,
            Some(Expr::Not(inner)) => match inner.as_ref() {
                Expr::Var(v) => *v,
                _ => return,
            },
            _ => return,
        };
        if self
            .vars
            .get(var as usize)
            .is_none_or(|name| name.starts_with('$'))
        {
            return;
        }
        let assigned = self.nodes[loop_nodes..].iter().any(|node| {
            node.events
                .iter()
                .any(|e| matches!(e, Event::Assign { var: v, .. } if *v == var))
        });
        if !assigned {
            self.nodes[branch as usize].branch = Some(Expr::Unknown);
        }
    }

    fn do_statement(&mut self, n: TsNode) {
        let body = self.fresh_after_current();
        let cond_start = self.new_node();
        let exit = self.new_node();
        self.loop_body(n.field("body"), cond_start, exit);
        if let Some(cur) = self.cur {
            self.edge(cur, cond_start);
        }
        self.cur = Some(cond_start);
        self.loop_depth += 1;
        let branch = self.branch_on(n.field("condition"));
        self.loop_depth -= 1;
        self.edge(branch, body);
        self.edge(branch, exit);
        self.cur = Some(exit);
    }

    fn for_statement(&mut self, n: TsNode) {
        if let Some(init) = n.field("initializer") {
            if init.kind_name() == "declaration" {
                self.declaration(init);
            } else {
                self.expression(init);
            }
        }
        let cond_start = self.fresh_after_current();
        self.loop_depth += 1;
        let branch = self.branch_on(n.field("condition"));
        self.loop_depth -= 1;
        let body = self.new_node();
        let update = self.new_node();
        let exit = self.new_node();
        self.edge(branch, body);
        self.edge(branch, exit);
        self.cur = Some(body);
        self.loop_body(n.field("body"), update, exit);
        if let Some(cur) = self.cur {
            self.edge(cur, update);
        }
        self.cur = Some(update);
        self.loop_depth += 1;
        if let Some(u) = n.field("update") {
            self.expression(u);
        }
        self.loop_depth -= 1;
        let cur = self.current();
        self.edge(cur, cond_start);
        let _ = cond_start;
        self.cur = Some(exit);
    }

    fn switch_statement(&mut self, n: TsNode) {
        let cond = n.field("condition");
        if let Some(c) = cond {
            self.expression(c);
        }
        let switched = cond.map(|c| self.cond_expr(c)).unwrap_or(Expr::Unknown);
        let head = self.current();
        let exit = self.new_node();
        self.jump_stack.push((None, exit));
        self.cur = None;
        let mut has_default = false;
        let mut case_values: Vec<Option<Expr>> = Vec::new();
        if let Some(body) = n.field("body") {
            let mut c = body.walk();
            for child in body.named_children(&mut c) {
                if child.kind_name() == "case_statement" {
                    let case_node = self.new_node();
                    self.edge(head, case_node);
                    if let Some(prev) = self.cur {
                        self.edge(prev, case_node); // fallthrough
                    }
                    self.cur = Some(case_node);
                    let value = child.field("value");
                    match value {
                        Some(v) => case_values.push(Some(self.cond_expr(v))),
                        None => {
                            has_default = true;
                            case_values.push(None);
                        }
                    }
                    let mut cc = child.walk();
                    for s in child.named_children(&mut cc) {
                        if Some(s) != value {
                            self.statement(s);
                        }
                    }
                } else {
                    self.statement(child);
                }
            }
        }
        if !has_default {
            self.edge(head, exit);
            case_values.push(None);
        }
        // Only a head whose successors are exactly its cases can be routed.
        if self.nodes[head as usize].succ.len() == case_values.len()
            && self.nodes[head as usize].branch.is_none()
        {
            self.nodes[head as usize].switch = Some((switched, case_values));
        }
        if let Some(cur) = self.cur {
            self.edge(cur, exit);
        }
        self.jump_stack.pop();
        self.cur = Some(exit);
    }
}

fn is_statement_kind(k: &str) -> bool {
    matches!(
        k,
        "compound_statement"
            | "if_statement"
            | "while_statement"
            | "do_statement"
            | "for_statement"
            | "switch_statement"
            | "break_statement"
            | "continue_statement"
            | "return_statement"
            | "goto_statement"
            | "labeled_statement"
            | "declaration"
            | "expression_statement"
            | "case_statement"
    )
}

/// Whether an expression makes a call (a statement expression counts).
fn has_call(n: TsNode) -> bool {
    if n.kind_name() == "call_expression" || n.kind_name() == "compound_statement" {
        return true;
    }
    let mut c = n.walk();
    let children: Vec<TsNode> = n.named_children(&mut c).collect();
    children.into_iter().any(has_call)
}

/// The identifier a declarator declares (`*foo`, `foo[3]`, `(*foo)(void)`).
pub fn declarator_name(n: TsNode, src: &[u8]) -> Option<String> {
    match n.kind_name() {
        "identifier" | "field_identifier" => n.utf8_text(src).ok().map(str::to_string),
        // `(*visit)` of a function-pointer declarator: no `declarator` field.
        "parenthesized_declarator" => n.named_child(0).and_then(|d| declarator_name(d, src)),
        _ => n.field("declarator").and_then(|d| declarator_name(d, src)),
    }
}
