//! Constants that hold at a branch though not in the whole function: a
//! parameter the context gives a constant that the body reassigns later
//! (`__mmap_region(file = NULL)` tests `if (file)` long before
//! `file = vma->vm_file;`). [`Program::local_facts`] is flow-insensitive and
//! drops such a variable; here its value is followed in CFG order (constant
//! propagation for those variables only), so the branches before the
//! reassignment are decided by the context.

use std::collections::HashMap;

use super::{FnId, Program};
use crate::field_values::{has_wildcards, lookup, values_by_var};
use crate::ir::*;
use crate::lockstate::*;

/// A variable's value at a point: not yet reached, one constant, or unknown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flow {
    Unreached,
    Const(i64),
    Unknown,
}

impl Flow {
    fn join(self, other: Flow) -> Flow {
        match (self, other) {
            (Flow::Unreached, x) | (x, Flow::Unreached) => x,
            (Flow::Const(a), Flow::Const(b)) if a == b => Flow::Const(a),
            _ => Flow::Unknown,
        }
    }
}

/// Per branch node, the values its condition's flow variables have there.
pub type BranchValues = HashMap<NodeId, Vec<(VarId, Option<i64>)>>;

impl Program<'_> {
    /// The values, at each branch that tests them, of the variables the
    /// context gives a constant that `facts` (flow-insensitive) lost.
    /// Empty for almost every function.
    pub(super) fn branch_values(
        &self,
        fid: FnId,
        env: &ConstMap,
        facts: &ConstMap,
    ) -> BranchValues {
        let f = self.function(fid);
        let wildcards = has_wildcards(env);
        // Plain variables (no fields: callees may store into those) with an
        // entry constant that some assignment of the body unsettles, whose
        // address is never taken (a callee could write them).
        // So are locals assigned the result of a call the context decides
        // (a lookup of a free range: `vma = vma_find(..); if (vma)`, before
        // `vma` is reassigned): [`Program::local_facts`] names such results.
        let mut of_decided_calls: Vec<VarId> = Vec::new();
        if decides_a_call_result(f, facts) {
            for ev in f.cfg.nodes.iter().flat_map(|n| &n.events) {
                if let Event::Assign {
                    var,
                    value: Value::CallResult(c),
                } = ev
                {
                    let call = &f.calls[*c as usize];
                    if facts.contains_key(f.var_name(call.result_var)) {
                        of_decided_calls.push(*var);
                    }
                }
            }
        }
        let split: Vec<VarId> = (0..f.vars.len() as VarId)
            .filter(|&v| {
                let name = f.var_name(v);
                !name.contains('.')
                    && !name.starts_with('$')
                    && !facts.contains_key(name)
                    && (lookup(env, wildcards, name).is_some() || of_decided_calls.contains(&v))
                    && !f.address_passed(name)
            })
            .collect();
        if split.is_empty() {
            return BranchValues::new();
        }
        let tested: Vec<VarId> = split
            .into_iter()
            .filter(|v| {
                f.cfg
                    .nodes
                    .iter()
                    .any(|n| n.branch.as_ref().is_some_and(|c| mentions(c, *v)))
            })
            .collect();
        if tested.is_empty() {
            return BranchValues::new();
        }
        let by_var = values_by_var(&f.vars, facts);
        let consts = Consts {
            by_var: &by_var,
            macros: self.macros,
        };
        let n = f.cfg.nodes.len();
        let mut in_vals: Vec<Vec<Flow>> = vec![vec![Flow::Unreached; tested.len()]; n];
        in_vals[f.cfg.entry as usize] = tested
            .iter()
            .map(|v| match lookup(env, wildcards, f.var_name(*v)) {
                Some(c) => Flow::Const(c),
                None => Flow::Unknown,
            })
            .collect();
        let out_of = |node: usize, vals: &[Flow]| -> Vec<Flow> {
            let mut out = vals.to_vec();
            for ev in &f.cfg.nodes[node].events {
                if let Event::Assign { var, value } = ev {
                    if let Some(i) = tested.iter().position(|t| t == var) {
                        let known = match value {
                            Value::CallResult(c) => f
                                .calls
                                .get(*c as usize)
                                .and_then(|call| by_var[call.result_var as usize]),
                            _ => decided(value, &consts),
                        };
                        out[i] = match known {
                            Some(c) => Flow::Const(c),
                            None => Flow::Unknown,
                        };
                    }
                }
            }
            out
        };
        let mut work = vec![f.cfg.entry];
        while let Some(node) = work.pop() {
            let out = out_of(node as usize, &in_vals[node as usize]);
            for &s in &f.cfg.nodes[node as usize].succ {
                let old = &in_vals[s as usize];
                let joined: Vec<Flow> = old.iter().zip(&out).map(|(a, b)| a.join(*b)).collect();
                if &joined != old {
                    in_vals[s as usize] = joined;
                    work.push(s);
                }
            }
        }
        let mut result = BranchValues::new();
        for (node, nd) in f.cfg.nodes.iter().enumerate() {
            let Some(cond) = &nd.branch else { continue };
            let out = out_of(node, &in_vals[node]);
            let vals: Vec<(VarId, Option<i64>)> = tested
                .iter()
                .zip(&out)
                .filter(|(v, _)| mentions(cond, **v))
                .filter_map(|(v, flow)| match flow {
                    Flow::Const(c) => Some((*v, Some(*c))),
                    _ => None,
                })
                .collect();
            if !vals.is_empty() {
                result.insert(node as NodeId, vals);
            }
        }
        result
    }
}

impl Program<'_> {
    /// The branch edges (node, successor index) that the results of calls
    /// the context decides make dead (`vma = vma_find(..)` of a free range:
    /// `if (vma)`'s true edge), for the flow-sensitive field states
    /// ([`super::field_states`]). Empty for almost every function.
    pub(super) fn dead_edges(&self, fid: FnId, facts: &ConstMap) -> Vec<(NodeId, usize)> {
        let f = self.function(fid);
        if !decides_a_call_result(f, facts) {
            return Vec::new();
        }
        let values = self.branch_values(fid, &ConstMap::default(), facts);
        let by_var = values_by_var(&f.vars, facts);
        let mut dead = Vec::new();
        for (node, vals) in values {
            let Some(cond) = &f.cfg.nodes[node as usize].branch else {
                continue;
            };
            let mut here = by_var.clone();
            for (v, c) in vals {
                here[v as usize] = c;
            }
            let consts = Consts {
                by_var: &here,
                macros: self.macros,
            };
            if let Some(truth) = eval(cond, &consts, None).and_then(truth_of) {
                dead.push((node, usize::from(truth)));
            }
        }
        dead.sort_unstable();
        dead
    }
}

/// Whether `facts` give the result of one of `f`'s calls (a predicate's,
/// a free range's lookup: [`Program::local_facts`] names them `$N`).
fn decides_a_call_result(f: &Function, facts: &ConstMap) -> bool {
    f.calls
        .iter()
        .any(|c| facts.contains_key(f.var_name(c.result_var)))
}

fn mentions(e: &Expr, v: VarId) -> bool {
    match e {
        Expr::Var(x) => *x == v,
        Expr::Not(a) => mentions(a, v),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::BitAnd(a, b) | Expr::Cmp(_, a, b) => {
            mentions(a, v) || mentions(b, v)
        }
        Expr::Const(_) | Expr::Unknown => false,
    }
}
