//! Stages of a long run, reported as they start so a front end can show
//! progress (a whole-tree lint runs 10-40 s). The analyzer never prints them.

use std::sync::Arc;

/// What a run is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and prefiltering the listed files.
    Scanning { files: usize },
    /// Parsing the functions selected so far, in `files` files.
    Parsing { files: usize },
    /// Analysis round `round` of at most `rounds` (each round may pull in
    /// the definitions of more callees).
    Analysis { round: usize, rounds: usize },
}

/// Where stages go: nowhere by default.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(Stage) + Send + Sync>>);

impl Progress {
    pub fn new(report: impl Fn(Stage) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(report)))
    }

    pub fn report(&self, stage: Stage) {
        if let Some(report) = &self.0 {
            report(stage);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(on)"
        } else {
            "Progress(off)"
        })
    }
}
