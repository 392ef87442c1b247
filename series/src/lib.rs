//! Patch series: parsing mboxes (`git format-patch --stdout`, `b4 am`), single
//! patches and directories of `*.patch` files, and applying them patch by patch
//! onto plain directories or in-memory git trees.
//!
//! - [`load_series`] / [`parse_series`] read a [`Series`].
//! - [`apply_to_dir`] / [`apply_to_tree`] apply one [`Patch`];
//!   [`apply_series_to_dir`] / [`apply_series_to_tree`] apply a whole series
//!   with per-patch outcomes and an optional keep-going mode.
//! - [`Series::hash`] is a stable content hash for cache keys.

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
    apply_series_to_dir, apply_series_to_tree, apply_to_dir, apply_to_tree, ApplyOptions, PatchOutcome,
    PatchStatus, SeriesApplication,
};
pub use error::{ApplyError, ApplyFailure, SeriesError};
pub use load::{load_series, parse_series};
pub use model::{
    ChangeKind, CoverLetter, FileContent, FilePatch, Hunk, HunkLine, IgnoredMessage, LineKind, Patch, Series,
    SourceLocation, SubjectTags,
};
