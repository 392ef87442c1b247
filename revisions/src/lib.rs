//! Findings across revisions of a kernel tree, read straight from a git
//! object database (no checkout: the work tree, index, HEAD and refs are
//! never touched).
//!
//! - [`diff_revisions`]: findings introduced, fixed and unchanged between two
//!   revisions, matched by their line-insensitive fingerprint.
//! - [`analyze_series`]: a patch series applied patch by patch onto in-memory
//!   trees, with the findings each patch introduced and fixed.
//! - [`snapshot`]: a stable, sorted, line-insensitive text form of findings
//!   for code review, and a unified diff against a stored one.
//!
//! One [`Workspace`] holds what is shared between the revisions of one run:
//! blobs read once by object id, the analyzer's parse cache (a chunk whose
//! text did not change is not parsed again) and finished analyses keyed by
//! the exact set of files analyzed (a patch that touches no analyzed file
//! costs nothing).

mod compare;
mod error;
mod git;
pub mod render;
mod series;
pub mod snapshot;
mod workspace;

pub use compare::{compare, FindingsDiff};
pub use error::RevisionsError;
pub use git::{split_revisions, BlobStore, BlobTree, PathFilter};
pub use series::{analyze_series, PatchReport, PatchResult, SeriesReport};
pub use workspace::{diff_revisions, Analysis, DiffReport, Timing, Workspace};
