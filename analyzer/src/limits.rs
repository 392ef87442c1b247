//! Bounds of the interprocedural analysis, and what a result cut by one
//! is missing (the output names the holders whose results were cut).

/// Which bounds cut a result (bit set of `CUT_*`).
pub type Cuts = u8;
/// A call chain of more than [`MAX_ENTRY_DEPTH`] entries.
pub const CUT_CHAIN_DEPTH: Cuts = 1;
/// A call more than [`MAX_DEPTH`] calls into a call cycle.
pub const CUT_CYCLE_DEPTH: Cuts = 2;
/// More than [`MAX_HITS_PER_FUNCTION`] long call sites behind one function.
pub const CUT_HITS: Cuts = 4;

/// What the bounds in `cuts` mean, for the output.
pub fn describe_cuts(cuts: Cuts) -> String {
    let mut what = Vec::new();
    if cuts & CUT_CHAIN_DEPTH != 0 {
        what.push(format!("call chain deeper than {MAX_ENTRY_DEPTH} calls"));
    }
    if cuts & CUT_CYCLE_DEPTH != 0 {
        what.push(format!("more than {MAX_DEPTH} calls into a call cycle"));
    }
    if cuts & CUT_HITS != 0 {
        what.push(format!(
            "more than {MAX_HITS_PER_FUNCTION} long operations reached through one function"
        ));
    }
    what.join("; ")
}

/// Limits that keep the analysis bounded on whole trees.
/// Calls followed inside one cycle group from its entry.
pub const MAX_DEPTH: u32 = 40;
/// Cycle groups entered one inside another: a guard for the stack (the
/// run module runs the analysis on a thread with [`ANALYSIS_STACK`] bytes), far
/// above what a kernel call graph needs; a cut here is counted in
/// `Program::depth_cuts`, and the summaries it reaches into are not stored
/// (a cut result depends on the path that asked for it).
pub const MAX_ENTRY_DEPTH: usize = 3000;
/// The stack of the thread the analysis runs on.
pub const ANALYSIS_STACK: usize = 256 << 20;
pub const MAX_CONTEXTS: usize = 8;
/// Levels of callers a function's contexts are worked out through (its
/// callers', their callers' and theirs facts; above, the context is
/// unknown). The run parses the callers of lock holders this far up.
pub const CONTEXT_LEVELS: u32 = 3;
/// Values a root is split on by `Program::case_split`.
pub const MAX_CASE_SPLIT: usize = 40;
/// Contexts one call gives its callee when arguments (or fields of struct
/// arguments) hold one of two constants (`x ? MIGRATE_ASYNC :
/// MIGRATE_SYNC_LIGHT`): the callee is analyzed once per combination; more
/// than this and those values are taken as unknown.
pub const MAX_CHOICE_SPLIT: usize = 4;
pub const MAX_HITS_PER_FUNCTION: usize = 64;
