//! Patch series: parsing mboxes (`git format-patch --stdout`, `b4 am`), single
//! patches and directories of `*.patch` files, and applying them patch by patch
//! onto plain directories or in-memory git trees.
//!
//! - [`load_series`] / [`parse_series`] read a [`Series`].
//! - [`apply_to_dir`] / [`apply_to_tree`] apply one [`Patch`];
//!   [`apply_series_to_dir`] / [`apply_series_to_tree`] apply a whole series
//!   with per-patch outcomes and an optional keep-going mode;
//!   [`apply_to_dir_reporting_offsets`] / [`apply_to_tree_reporting_offsets`]
//!   also say which hunks needed an offset.
//! - [`Series::hash`] is a stable content hash for cache keys.
//!
//! See `README.md` beside this crate for the accepted formats, the
//! application rules (those of `git apply` without fuzz) and what is not
//! handled.

// ApplyError carries the patch, file and hunk text a reader needs; it is
// built once per failed patch, so its size costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod apply;
mod diff;
mod error;
mod hash;
mod lines;
mod load;
mod mbox;
mod mime;
mod model;

pub use apply::{
    apply_series_to_dir, apply_series_to_tree, apply_to_dir, apply_to_dir_reporting_offsets,
    apply_to_tree, apply_to_tree_reporting_offsets, ApplyOptions, HunkOffset, PatchOutcome,
    PatchStatus, SeriesApplication,
};
pub use error::{ApplyError, ApplyFailure, SeriesError};
pub use load::{load_series, parse_series};
pub use model::{
    ChangeKind, CoverLetter, FileContent, FilePatch, Hunk, HunkLine, IgnoredMessage, LineKind,
    Patch, Series, SourceLocation, SubjectTags,
};
