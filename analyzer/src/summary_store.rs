//! Function summaries kept between programs: the rounds of one run (each
//! adds definitions) and the revisions of one tree (`mmstall diff`,
//! `mmstall series`).
//!
//! A summary is the `FnResult` (the `summary` module) of one function in one context. It is a
//! pure function of what the function can reach: its own text and those of
//! its transitive callees, and how each call resolves (see
//! `Program` (the `summary` module): a call cycle is cut the same way
//! whatever analysis order led to it). So a summary is stored under the
//! function's *closure key*, a hash over that reach, and a program whose
//! function has the same closure key takes the summary instead of
//! recomputing it: summaries are recomputed only as far as a change reaches.
//!
//! Functions are named by [`StableKey`] (file and text, not lines) inside a
//! stored summary, since function ids differ between programs. What the
//! analysis noted on the way (callees reached under the lock, unresolved
//! callees) is stored with the summary and replayed on reuse, with the
//! summaries it asked for, so a program that reuses gets exactly what one that
//! recomputes gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::catalogue::LongClass;
use crate::ir::CallId;
use crate::lockstate::{Effect, Held, Origin};

/// A function across programs: its file and its text (see `Function::content_key`).
pub type StableKey = u128;
/// A function's reach: its own stable key and every definition and call
/// resolution it can reach.
pub type ClosureKey = u128;
/// A context as a memo key: its constants, sorted.
pub type EnvKey = Vec<(String, i64)>;
/// A summary: a function's reach, and the context it was analyzed in.
pub type SummaryKey = (ClosureKey, EnvKey);

/// A hit whose chain names functions by stable key.
#[derive(Debug, Clone)]
pub struct StoredHit {
    pub class: LongClass,
    pub held: Held,
    pub site_held: Held,
    pub chain: crate::chain::Chain<(StableKey, CallId)>,
    pub acquired: Origin,
}

/// Something the analysis of one summary noted besides its result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Noted {
    /// A callee promised a hold on entry reached with the lock held, for write or not.
    CalledUnderLock { callee: StableKey, write: bool },
    /// A callee reached under a write hold that has no definition in the program.
    UnresolvedUnderWrite(String),
}

#[derive(Debug)]
pub struct StoredSummary {
    pub effect: Effect,
    pub entry_hits: Vec<StoredHit>,
    pub local_hits: Vec<StoredHit>,
    pub entry_cut: crate::limits::Cuts,
    pub local_cut: crate::limits::Cuts,
    /// What the analysis noted (including that of the calls inside its cycle).
    pub noted: Vec<Noted>,
    /// The summaries it asked for, whose notes belong to a program using it.
    pub children: Vec<SummaryKey>,
}

/// Summaries by closure key and context. A store serves one catalogue (like
/// the parse and scan caches it lives beside).
#[derive(Default)]
pub struct SummaryStore {
    entries: Mutex<HashMap<SummaryKey, Arc<StoredSummary>, foldhash::fast::RandomState>>,
    reused: std::sync::atomic::AtomicUsize,
    computed: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for SummaryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SummaryStore({} reused, {} computed)",
            self.reused(),
            self.computed()
        )
    }
}

impl SummaryStore {
    pub fn get(&self, key: &SummaryKey) -> Option<Arc<StoredSummary>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    pub fn insert(&self, key: SummaryKey, summary: StoredSummary) {
        self.computed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut m) = self.entries.lock() {
            m.entry(key).or_insert_with(|| Arc::new(summary));
        }
    }

    pub(crate) fn count_reuse(&self) {
        self.reused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Summaries a program took from the store instead of computing them.
    pub fn reused(&self) -> usize {
        self.reused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Summaries computed (and stored).
    pub fn computed(&self) -> usize {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A 128-bit hash, the same in every run (keys never leave the process, but
/// a fixed seed keeps their order, and so any accidental dependence on it,
/// reproducible).
pub fn hash128<T: std::hash::Hash + ?Sized>(value: &T) -> u128 {
    use std::hash::BuildHasher;
    let a = foldhash::quality::FixedState::with_seed(0x6d6d_7374_616c_6c31).hash_one(value);
    let b = foldhash::quality::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(value);
    ((a as u128) << 64) | b as u128
}
