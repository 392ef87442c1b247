//! Call chains shared between the results that contain them.
//!
//! A hit reached through a callee is the callee's hit with one more call
//! site in front. Copying the callee's chain at every level made memory grow
//! with the square of a call chain's depth (times the hits per function: a
//! 2,000-deep chain of zapping functions took 2.7 GB); a caller's chain is
//! instead one link in front of its callee's, shared.

use std::sync::Arc;

/// A non-empty list of steps (call sites), first to last, whose tails are shared.
#[derive(Debug)]
pub struct Chain<T: Copy>(Arc<Link<T>>);

impl<T: Copy> Clone for Chain<T> {
    fn clone(&self) -> Self {
        Chain(self.0.clone())
    }
}

#[derive(Debug)]
struct Link<T: Copy> {
    step: T,
    len: u32,
    last: T,
    next: Option<Chain<T>>,
}

impl<T: Copy> Drop for Link<T> {
    /// Unlinks iteratively: a long chain would otherwise be dropped by
    /// recursion as deep as the chain.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(Chain(link)) = next {
            match Arc::try_unwrap(link) {
                Ok(mut link) => next = link.next.take(),
                Err(_) => break,
            }
        }
    }
}

impl<T: Copy> Chain<T> {
    pub fn single(step: T) -> Chain<T> {
        Chain(Arc::new(Link {
            step,
            len: 1,
            last: step,
            next: None,
        }))
    }

    /// `step` followed by `tail` (shared, not copied).
    pub fn prepend(step: T, tail: &Chain<T>) -> Chain<T> {
        Chain(Arc::new(Link {
            step,
            len: tail.0.len.saturating_add(1),
            last: tail.0.last,
            next: Some(tail.clone()),
        }))
    }

    /// Builds a chain from steps in order (`None` if there are none).
    pub fn from_steps(steps: impl DoubleEndedIterator<Item = T>) -> Option<Chain<T>> {
        let mut out: Option<Chain<T>> = None;
        for step in steps.rev() {
            out = Some(match &out {
                Some(tail) => Chain::prepend(step, tail),
                None => Chain::single(step),
            });
        }
        out
    }

    pub fn len(&self) -> usize {
        self.0.len as usize
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn first(&self) -> T {
        self.0.step
    }

    pub fn last(&self) -> T {
        self.0.last
    }

    /// The rest of the chain after the first step.
    pub fn tail(&self) -> Option<&Chain<T>> {
        self.0.next.as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let mut cur = Some(self);
        std::iter::from_fn(move || {
            let c = cur?;
            cur = c.0.next.as_ref();
            Some(c.0.step)
        })
    }

    /// Identifies this link (for caches of converted chains; valid while
    /// the chain is kept alive).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// Converts every step with `f`, reusing through `done` (keyed by
    /// [`Chain::id`]) the tails converted before, so converting the chains of
    /// a whole call chain costs one step each. `None` if a step does not convert.
    pub fn map_shared<U: Copy, S: std::hash::BuildHasher>(
        &self,
        done: &mut std::collections::HashMap<usize, (Chain<T>, Chain<U>), S>,
        mut f: impl FnMut(T) -> Option<U>,
    ) -> Option<Chain<U>> {
        let mut pending: Vec<&Chain<T>> = Vec::new();
        let mut cur = Some(self);
        let mut tail: Option<Chain<U>> = None;
        while let Some(c) = cur {
            if let Some((_, converted)) = done.get(&c.id()) {
                tail = Some(converted.clone());
                break;
            }
            pending.push(c);
            cur = c.tail();
        }
        for c in pending.into_iter().rev() {
            let step = f(c.first())?;
            let converted = match &tail {
                Some(t) => Chain::prepend(step, t),
                None => Chain::single(step),
            };
            done.insert(c.id(), (c.clone(), converted.clone()));
            tail = Some(converted);
        }
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_chains_keep_order_length_and_ends() {
        let leaf = Chain::single(3);
        let mid = Chain::prepend(2, &leaf);
        let top = Chain::prepend(1, &mid);
        assert_eq!(top.iter().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((top.len(), top.first(), top.last()), (3, 1, 3));
        assert_eq!(
            Chain::from_steps([5, 6, 7].into_iter())
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [5, 6, 7]
        );
        let mut done = std::collections::HashMap::new();
        let a = mid.map_shared(&mut done, |s| Some(s * 10)).unwrap();
        let b = top.map_shared(&mut done, |s| Some(s * 10)).unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(b.tail().unwrap().id(), a.id(), "the tail is shared");
        let mut fresh = std::collections::HashMap::new();
        assert!(top
            .map_shared(&mut fresh, |s| (s != 2).then_some(s))
            .is_none());
    }

    #[test]
    fn a_very_long_chain_drops_without_deep_recursion() {
        let mut c = Chain::single(0u32);
        for k in 1..1_000_000 {
            c = Chain::prepend(k, &c);
        }
        assert_eq!(c.len(), 1_000_000);
        drop(c);
    }
}
