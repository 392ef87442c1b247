//! Patch series: parsing mboxes (`git format-patch --stdout`, `b4 am`), single
//! patches and directories of `*.patch` files, and applying them patch by patch
//! onto plain directories or in-memory git trees.
//!
//! Contract used by the other crates (the implementation is being written):
//! - `load_series(path) -> Result<Series, SeriesError>`
//! - `apply_to_dir(&Patch, dir) -> Result<(), ApplyError>`
//! - `apply_to_tree(&git2::Repository, base_tree: git2::Oid, &Patch) -> Result<git2::Oid, ApplyError>`
//! - `Series::hash() -> String` (stable content hash, for cache keys)
