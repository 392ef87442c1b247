//! The definition index: where each function name is defined, over every
//! scanned file of the run, in the order files were loaded.

use std::collections::HashMap;

use super::scan::{Name, Scan};

/// Where each name is defined: `(file, chunk)` in the order files were
/// loaded. Built over every file of a whole tree, so hashed with a fast
/// (non-cryptographic) hasher; never iterated, so its order cannot leak.
pub(super) struct NameIndex {
    /// The files of the first pass.
    pub(super) first: DefsMap,
    /// The files indexed later (definitions only), possibly from an earlier
    /// run over the same files (see [`OtherFiles`]); after `first` in order.
    pub(super) then: Option<std::sync::Arc<DefsMap>>,
    /// Counts the additions: what was derived from the index is stale when it changes.
    pub(super) generation: usize,
}

pub(super) type DefsMap = HashMap<Name, Defs, foldhash::fast::RandomState>;

/// The definitions of one name: most names have one, kept inline (a whole
/// tree has some 650 000 names: one allocation each would cost more than
/// the rest of the index).
pub(super) enum Defs {
    One([(usize, usize); 1]),
    Many(Vec<(usize, usize)>),
}

/// Indexes the definitions of `files`, the first being file `offset` of the run.
pub(super) fn defs_map(scans: &[&Scan], offset: usize) -> DefsMap {
    let count: usize = scans
        .iter()
        .map(|s| s.defs.iter().map(Vec::len).sum::<usize>())
        .sum();
    let mut map = DefsMap::default();
    map.reserve(count);
    for (k, scan) in scans.iter().enumerate() {
        let fi = offset + k;
        for (ci, defs) in scan.defs.iter().enumerate() {
            for name in defs {
                match map.entry(name.clone()) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Defs::One([(fi, ci)]));
                    }
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        let d = o.get_mut();
                        match d {
                            Defs::One([first]) => *d = Defs::Many(vec![*first, (fi, ci)]),
                            Defs::Many(v) => v.push((fi, ci)),
                        }
                    }
                }
            }
        }
    }
    map
}

pub(super) type DefsIter<'a> =
    std::iter::Chain<std::slice::Iter<'a, (usize, usize)>, std::slice::Iter<'a, (usize, usize)>>;

/// The definitions of one name in a [`NameIndex`], in the order files were loaded.
#[derive(Clone, Copy)]
pub(super) struct DefsRef<'a> {
    pub(super) first: &'a [(usize, usize)],
    pub(super) then: &'a [(usize, usize)],
}

impl<'a> DefsRef<'a> {
    pub(super) fn len(&self) -> usize {
        self.first.len() + self.then.len()
    }

    pub(super) fn iter(&self) -> DefsIter<'a> {
        self.first.iter().chain(self.then)
    }
}

impl<'a> IntoIterator for DefsRef<'a> {
    type Item = &'a (usize, usize);
    type IntoIter = DefsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl NameIndex {
    pub(super) fn new(scans: &[&Scan]) -> NameIndex {
        NameIndex {
            first: defs_map(scans, 0),
            then: None,
            generation: 1,
        }
    }

    /// Adds the index of the files loaded after the first pass (once).
    pub(super) fn attach(&mut self, then: std::sync::Arc<DefsMap>) {
        self.then = Some(then);
        self.generation += 1;
    }

    /// Where `name` is defined, in the order files were loaded.
    pub(super) fn get(&self, name: &str) -> DefsRef<'_> {
        fn slice(d: Option<&Defs>) -> &[(usize, usize)] {
            match d {
                Some(Defs::One(one)) => one,
                Some(Defs::Many(v)) => v,
                None => &[],
            }
        }
        DefsRef {
            first: slice(self.first.get(name)),
            then: slice(self.then.as_ref().and_then(|t| t.get(name))),
        }
    }

    /// Names in each part (a name may be in both).
    pub(super) fn len(&self) -> usize {
        self.first.len() + self.then.as_ref().map_or(0, |t| t.len())
    }
}
