//! The JSON file `mmstall-guest confirm` writes: for each recipe run (a
//! workload at one size), whether it ran and the mmap_lock holds traced
//! while it did. Read by the host's `mmstall_vm::confirm`.

use crate::holds::Hold;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmReport {
    pub version: u32,
    pub kernel_release: String,
    /// What the run did to transparent huge pages (and what they were).
    pub thp: String,
    /// Read holds shorter than this are reported only as the longest of
    /// each pair of stacks (every write hold is).
    pub read_threshold_ms: f64,
    pub runs: Vec<RecipeRun>,
}

/// One workload at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeRun {
    pub recipe: String,
    pub size_mib: u64,
    /// Which repetition of the recipe at this size (1-based; 0 in reports
    /// written before repetitions).
    #[serde(default)]
    pub rep: u32,
    #[serde(flatten)]
    pub status: RunStatus,
    /// Wall-clock seconds of the workload (its process, traced).
    pub secs: f64,
    /// Every write hold and the long read holds of the workload's processes.
    pub holds: Vec<Hold>,
    /// Events the trace buffer dropped during this run (0 when complete).
    pub lost_events: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RunStatus {
    /// The workload ran to the end.
    Ran,
    /// The kernel lacks what the workload needs (a system call, KSM, ...):
    /// the reason names it.
    Unavailable { reason: String },
    /// The workload failed (the reason says where); its holds are still kept.
    Failed { reason: String },
}
