//! What runs share: chunk parses by text ([`ParseCache`]) and per-file
//! results by content id ([`ScanCache`]: scans, parses, placed functions,
//! the index of the files outside the prefilter, function summaries). A
//! hit never changes a result: everything kept is a function of the
//! content and the catalogue.

use std::collections::HashMap;

use super::name_index::DefsMap;
use super::scan::Scan;
use crate::catalogue::Catalogue;
use crate::error::AnalyzerError;
use crate::ir::Function;
use crate::parse;
use crate::source::{ContentId, Skipped};

/// Chunk parses keyed by the chunk's (preprocessed) text; lines are stored
/// relative to the chunk and shifted on use.
#[derive(Default)]
pub struct ParseCache {
    entries: std::sync::Mutex<HashMap<[u8; 32], std::sync::Arc<Vec<Function>>>>,
    hits: std::sync::atomic::AtomicUsize,
    misses: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for ParseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ParseCache({} hits, {} misses)",
            self.hits(),
            self.misses()
        )
    }
}

impl ParseCache {
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn misses(&self) -> usize {
        self.misses.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A chunk's functions, with lines relative to the chunk.
    pub(super) fn parse(
        &self,
        parser: &mut tree_sitter::Parser,
        chunk: &str,
        cat: &Catalogue,
    ) -> Result<std::sync::Arc<Vec<Function>>, AnalyzerError> {
        use sha2::Digest;
        use std::sync::atomic::Ordering;
        let key: [u8; 32] = sha2::Sha256::digest(chunk.as_bytes()).into();
        let cached = self.entries.lock().ok().and_then(|m| m.get(&key).cloned());
        Ok(match cached {
            Some(f) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                f
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let f = std::sync::Arc::new(parse::parse_chunk(parser, chunk, 0, cat)?.functions);
                if let Ok(mut m) = self.entries.lock() {
                    m.insert(key, f.clone());
                }
                f
            }
        })
    }
}

/// A chunk's functions, and the lines to shift them by when placed in the file.
/// A chunk's parse: its functions, the lines they are shifted by, and the
/// bytes the parser was handed (the chunk from its first definition).
pub(super) type ParsedChunk = (std::sync::Arc<Vec<Function>>, u32, usize);

/// What the run derived from one content: the prefilter's verdict (or why
/// the content is skipped), its scans, and the parse of its chunks.
pub(super) struct CachedContent {
    /// Whether the text names the lock; `Err`: why the content is unusable.
    pub(super) names_lock: Result<bool, String>,
    pub(super) full: std::sync::OnceLock<std::sync::Arc<Scan>>,
    pub(super) defs_only: std::sync::OnceLock<std::sync::Arc<Scan>>,
    /// Its integer `#define`s, once read (see [`crate::macro_values`]).
    pub(super) defines: std::sync::OnceLock<std::sync::Arc<Vec<crate::macro_values::Define>>>,
    /// Per chunk (as split by the scans), once parsed.
    pub(super) parsed: std::sync::Mutex<HashMap<usize, ParsedChunk>>,
    /// Per chunk, its functions as last placed in a run (see `LoadedFile::place`).
    pub(super) placed: std::sync::Mutex<HashMap<usize, Placed>>,
}

/// A chunk's functions placed in a run: at file index `file`, and for each,
/// whether it was given the fault handlers' entry contract.
pub(super) struct Placed {
    pub(super) file: u32,
    /// Per function: given the handlers' contract, with these entry facts.
    pub(super) as_handler: Vec<Option<Vec<(String, i64)>>>,
    pub(super) functions: Vec<std::sync::Arc<Function>>,
}

impl CachedContent {
    pub(super) fn new(names_lock: Result<bool, String>) -> CachedContent {
        CachedContent {
            names_lock,
            full: Default::default(),
            defs_only: Default::default(),
            defines: Default::default(),
            parsed: Default::default(),
            placed: Default::default(),
        }
    }
}

/// Per-file results keyed by content id ([`SourceSet::content_id`]), shared
/// between runs over revisions of one tree: a file whose content did not
/// change is neither read, scanned nor parsed again. Everything kept is a
/// function of the content and the catalogue, so a cache serves one
/// catalogue (as the [`ParseCache`] does); a hit never changes a result.
#[derive(Default)]
pub struct ScanCache {
    entries: std::sync::RwLock<HashMap<ContentId, std::sync::Arc<CachedContent>>>,
    hits: std::sync::atomic::AtomicUsize,
    misses: std::sync::atomic::AtomicUsize,
    /// The files outside the prefilter of the last whole-tree run, indexed.
    other_files: std::sync::Mutex<Option<std::sync::Arc<OtherFiles>>>,
    /// Function summaries of earlier runs (and rounds), by what they reach.
    pub summaries: crate::summary_store::SummaryStore,
}

impl std::fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ScanCache({} hits, {} misses)",
            self.hits(),
            self.misses()
        )
    }
}

impl ScanCache {
    /// Files of a run's first pass whose content was known.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Files of a run's first pass read and scanned.
    pub fn misses(&self) -> usize {
        self.misses.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn get(&self, id: &ContentId, count: bool) -> Option<std::sync::Arc<CachedContent>> {
        let found = self.entries.read().ok().and_then(|m| m.get(id).cloned());
        if count {
            let counter = if found.is_some() {
                &self.hits
            } else {
                &self.misses
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        found
    }

    pub(super) fn other_files(&self, key: &[u8; 32]) -> Option<std::sync::Arc<OtherFiles>> {
        let kept = self.other_files.lock().ok()?;
        kept.as_ref()
            .filter(|o| o.key.as_ref() == Some(key))
            .cloned()
    }

    pub(super) fn keep_other_files(&self, others: std::sync::Arc<OtherFiles>) {
        if let Ok(mut kept) = self.other_files.lock() {
            *kept = Some(others);
        }
    }

    /// Keeps the first entry made for a content (two files may share it).
    pub(super) fn insert(
        &self,
        id: ContentId,
        entry: CachedContent,
    ) -> std::sync::Arc<CachedContent> {
        match self.entries.write() {
            Ok(mut m) => m
                .entry(id)
                .or_insert_with(|| std::sync::Arc::new(entry))
                .clone(),
            Err(_) => std::sync::Arc::new(entry),
        }
    }
}

/// Files outside the prefilter, indexed by the functions they define (their
/// text is not kept: it is re-read if one of their chunks is selected).
pub(super) struct OtherFiles {
    /// Identifies the files (paths, contents) and their position in the run.
    pub(super) key: Option<[u8; 32]>,
    pub(super) files: Vec<(
        String,
        std::sync::Arc<Scan>,
        Option<std::sync::Arc<CachedContent>>,
    )>,
    pub(super) skipped: Vec<Skipped>,
    pub(super) index: std::sync::Arc<DefsMap>,
}
