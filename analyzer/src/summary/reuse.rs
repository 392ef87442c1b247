//! Summaries to and from the [`SummaryStore`](crate::summary_store::SummaryStore):
//! a stored summary (with those it asked for) is taken as if computed, its
//! notes applied to this program; a computed one is stored with its notes
//! and the summaries it asked for.

use std::rc::Rc;

use super::{EntryFrame, FnId, FnResult, Hit, Program};
use crate::summary_store::{Noted, StoredHit, StoredSummary, SummaryKey};

impl Program<'_> {
    /// A stored summary of `fid` (with those it asked for), if the store has
    /// it: its notes are applied to this program as if it had been computed.
    pub(super) fn reuse(&self, fid: FnId, key: &SummaryKey) -> Option<Rc<FnResult>> {
        let stored = self.store.get(key)?;
        for child in &stored.children {
            let &cf = self.graph.by_closure.get(&child.0)?;
            if !self.memo.borrow().contains_key(&(cf, child.1.clone())) {
                self.reuse(cf, child)?;
            }
        }
        let result = Rc::new(self.restore(&stored)?);
        for note in &stored.noted {
            self.apply_note(note);
        }
        self.memo
            .borrow_mut()
            .insert((fid, key.1.clone()), result.clone());
        self.store.count_reuse();
        Some(result)
    }

    pub(super) fn to_stored(&self, result: &FnResult, frame: EntryFrame) -> StoredSummary {
        let mut done = self.stored_chains.borrow_mut();
        let mut hit = |h: &Hit| StoredHit {
            class: h.class,
            held: h.held,
            site_held: h.site_held,
            chain: h
                .chain
                .map_shared(&mut *done, |(f, c)| {
                    Some((self.graph.stable[f as usize], c))
                })
                .expect("every function has a stable key"),
            acquired: h.acquired,
        };
        let EntryFrame {
            mut noted,
            mut children,
            ..
        } = frame;
        noted.sort();
        noted.dedup();
        children.sort();
        children.dedup();
        StoredSummary {
            effect: result.effect.clone(),
            entry_hits: result.entry_hits.iter().map(&mut hit).collect(),
            local_hits: result.local_hits.iter().map(&mut hit).collect(),
            entry_cut: result.entry_cut,
            local_cut: result.local_cut,
            noted,
            children,
        }
    }

    pub(super) fn restore(&self, stored: &StoredSummary) -> Option<FnResult> {
        let mut done = self.restored_chains.borrow_mut();
        let mut hits = |hs: &[StoredHit]| -> Option<Vec<Hit>> {
            hs.iter()
                .map(|h| {
                    let chain = h.chain.map_shared(&mut *done, |(k, c)| {
                        self.graph.by_stable.get(&k).map(|&f| (f, c))
                    })?;
                    Some(Hit {
                        class: h.class,
                        held: h.held,
                        site_held: h.site_held,
                        chain,
                        acquired: h.acquired,
                    })
                })
                .collect()
        };
        Some(FnResult {
            effect: stored.effect.clone(),
            entry_hits: hits(&stored.entry_hits)?,
            local_hits: hits(&stored.local_hits)?,
            entry_cut: stored.entry_cut,
            local_cut: stored.local_cut,
        })
    }

    /// Records what the analysis noted, for this program and the summary
    /// being computed.
    pub(super) fn note(&self, note: Noted) {
        self.apply_note(&note);
        if let Some(top) = self.entries.borrow_mut().last_mut() {
            top.noted.push(note);
        }
    }

    pub(super) fn apply_note(&self, note: &Noted) {
        match note {
            Noted::CalledUnderLock { callee, write } => {
                let Some(&g) = self.graph.by_stable.get(callee) else {
                    return;
                };
                self.called_under_lock.borrow_mut().insert(g);
                if *write {
                    self.called_under_write.borrow_mut().insert(g);
                }
            }
            Noted::UnresolvedUnderWrite(name) => {
                let mut unresolved = self.unresolved_under_write.borrow_mut();
                if !unresolved.contains(name) {
                    unresolved.insert(name.clone());
                }
            }
        }
    }
}
