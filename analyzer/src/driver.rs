//! The whole-PATH run: discover, prefilter, parse in parallel, analyze, and
//! pull in more files on demand (callees reached under a write hold whose
//! definitions live in files the prefilter skipped).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use crate::catalogue::Catalogue;

use crate::error::AnalyzerError;
use crate::finding::{Report, Stats};
use crate::ir::Function;

use crate::parse;
use crate::progress::Stage;
use crate::source::{self, Chunk, ContentId, Prefilter, Skipped, SourceSet};
use crate::summary::Program;

#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// Parse every file, not only those the prefilter selects (for `--stats`).
    pub parse_all: bool,
    /// Parse results shared between runs (revisions of one tree): a chunk
    /// whose text did not change is not parsed again, wherever it moved.
    pub parse_cache: Option<std::sync::Arc<ParseCache>>,
    /// Per-file results shared between runs, for sets that give content ids.
    pub scan_cache: Option<std::sync::Arc<ScanCache>>,
    /// Source size up to which every file is scanned up front (default
    /// [`WHOLE_SCAN_LIMIT`]); above it only files naming the lock are, and
    /// definitions are looked up on demand. Tests lower it to run the
    /// whole-tree path on small fixtures.
    pub whole_scan_limit: Option<u64>,
    /// Rounds of pulling in missing callee definitions on a whole tree
    /// (default [`MAX_PULL_ROUNDS`]). On 6.12 the findings no longer change
    /// from 12 rounds on (checked up to 40); 8 keeps a warm `diff` fast.
    pub pull_rounds: Option<usize>,
    /// The tree's root (see [`source::tree_root`]): files under PATH are
    /// named relative to it, so `lint mm` and `lint .` name (and
    /// fingerprint) a finding alike. Default: relative to PATH.
    pub tree_root: Option<std::path::PathBuf>,
    /// Where the stages of the run are reported (nowhere by default).
    pub progress: crate::progress::Progress,
}

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
    fn parse(
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

/// What a file's text yields lexically: its chunks, what each defines and
/// calls, and the prefilter's verdict per chunk. A function of the content
/// (and the catalogue), so shared between runs through a [`ScanCache`].
struct Scan {
    chunks: Vec<Chunk>,
    /// Per chunk, the names it defines (shared with the run's name index).
    defs: Vec<Vec<Name>>,
    calls: Vec<Vec<String>>,
    /// The chunk assigns through a pointer (`p->field = ...`).
    stores_fields: Vec<bool>,
    has_loop: Vec<bool>,
    line_starts: Vec<u32>,
    /// Scanned for definitions only: what its chunks call is unknown.
    calls_unknown: bool,
    /// `(field, function)` of designated initializers (`.fault = f`, `.rmap_one = f`).
    designated: Vec<(String, String)>,
    /// The chunk names the lock (all false unless the file does).
    chunk_names_lock: Vec<bool>,
}

impl Scan {
    /// Scans a file's chunks. `scan_calls` = false indexes definitions only
    /// (the cheap mode for files outside the prefilter in a whole tree).
    fn new(text: &str, fields: &[String], scan_calls: bool, prefilter: Option<&Prefilter>) -> Scan {
        let designated = source::designated_functions(text, fields);
        let chunks = source::split_chunks(text);
        let per_chunk = |f: &dyn Fn(&str) -> bool| -> Vec<bool> {
            chunks
                .iter()
                .map(|c| scan_calls && f(&text[c.start..c.end]))
                .collect()
        };
        let defs = chunks
            .iter()
            .map(|c| {
                defined_names(&text[c.start..c.end])
                    .into_iter()
                    .map(Name::from)
                    .collect()
            })
            .collect();
        let calls = chunks
            .iter()
            .map(|c| {
                if scan_calls {
                    source::called_names(&text[c.start..c.end])
                } else {
                    Vec::new()
                }
            })
            .collect();
        let stores_fields = per_chunk(&source::stores_through_pointer);
        let has_loop = per_chunk(&|t: &str| {
            ["for (", "while (", "for_each", "foreach", "do {"]
                .iter()
                .any(|k| t.contains(k))
        });
        let chunk_names_lock = match prefilter {
            Some(p) => chunks
                .iter()
                .map(|c| p.matches(&text.as_bytes()[c.start..c.end]))
                .collect(),
            None => vec![false; chunks.len()],
        };
        let mut line = 0u32;
        let mut pos = 0usize;
        let line_starts = chunks
            .iter()
            .map(|c| {
                line += memchr::memchr_iter(b'\n', &text.as_bytes()[pos..c.start]).count() as u32;
                pos = c.start;
                line
            })
            .collect();
        Scan {
            chunks,
            defs,
            calls,
            stores_fields,
            has_loop,
            line_starts,
            calls_unknown: !scan_calls,
            designated,
            chunk_names_lock,
        }
    }
}

/// A function name as the lexical index knows it (shared, cheap to clone).
type Name = std::sync::Arc<str>;

/// Where each name is defined: `(file, chunk)` in the order files were
/// loaded. Built over every file of a whole tree, so hashed with a fast
/// (non-cryptographic) hasher; never iterated, so its order cannot leak.
struct NameIndex {
    /// The files of the first pass.
    first: DefsMap,
    /// The files indexed later (definitions only), possibly from an earlier
    /// run over the same files (see [`OtherFiles`]); after `first` in order.
    then: Option<std::sync::Arc<DefsMap>>,
    /// Counts the additions: what was derived from the index is stale when it changes.
    generation: usize,
}

type DefsMap = HashMap<Name, Defs, foldhash::fast::RandomState>;

/// The definitions of one name: most names have one, kept inline (a whole
/// tree has some 650 000 names: one allocation each would cost more than
/// the rest of the index).
enum Defs {
    One([(usize, usize); 1]),
    Many(Vec<(usize, usize)>),
}

/// Indexes the definitions of `files`, the first being file `offset` of the run.
fn defs_map(files: &[LoadedFile], offset: usize) -> DefsMap {
    let count: usize = files
        .iter()
        .map(|f| f.scan.defs.iter().map(Vec::len).sum::<usize>())
        .sum();
    let mut map = DefsMap::default();
    map.reserve(count);
    for (k, f) in files.iter().enumerate() {
        let fi = offset + k;
        for (ci, defs) in f.scan.defs.iter().enumerate() {
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

type DefsIter<'a> =
    std::iter::Chain<std::slice::Iter<'a, (usize, usize)>, std::slice::Iter<'a, (usize, usize)>>;

/// The definitions of one name in a [`NameIndex`], in the order files were loaded.
#[derive(Clone, Copy)]
struct DefsRef<'a> {
    first: &'a [(usize, usize)],
    then: &'a [(usize, usize)],
}

impl<'a> DefsRef<'a> {
    fn len(&self) -> usize {
        self.first.len() + self.then.len()
    }

    fn iter(&self) -> DefsIter<'a> {
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
    fn new(files: &[LoadedFile]) -> NameIndex {
        NameIndex {
            first: defs_map(files, 0),
            then: None,
            generation: 1,
        }
    }

    /// Adds the index of the files loaded after the first pass (once).
    fn attach(&mut self, then: std::sync::Arc<DefsMap>) {
        self.then = Some(then);
        self.generation += 1;
    }

    /// Where `name` is defined, in the order files were loaded.
    fn get(&self, name: &str) -> DefsRef<'_> {
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
    fn len(&self) -> usize {
        self.first.len() + self.then.as_ref().map_or(0, |t| t.len())
    }
}

/// A chunk's functions, and the lines to shift them by when placed in the file.
type ParsedChunk = (std::sync::Arc<Vec<Function>>, u32);

/// What the run derived from one content: the prefilter's verdict (or why
/// the content is skipped), its scans, and the parse of its chunks.
struct CachedContent {
    /// Whether the text names the lock; `Err`: why the content is unusable.
    names_lock: Result<bool, String>,
    full: std::sync::OnceLock<std::sync::Arc<Scan>>,
    defs_only: std::sync::OnceLock<std::sync::Arc<Scan>>,
    /// Per chunk (as split by the scans), once parsed.
    parsed: std::sync::Mutex<HashMap<usize, ParsedChunk>>,
    /// Per chunk, its functions as last placed in a run (see `LoadedFile::place`).
    placed: std::sync::Mutex<HashMap<usize, Placed>>,
}

/// A chunk's functions placed in a run: at file index `file`, and for each,
/// whether it was given the fault handlers' entry contract.
struct Placed {
    file: u32,
    as_handler: Vec<bool>,
    functions: Vec<std::sync::Arc<Function>>,
}

impl CachedContent {
    fn new(names_lock: Result<bool, String>) -> CachedContent {
        CachedContent {
            names_lock,
            full: Default::default(),
            defs_only: Default::default(),
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

    fn get(&self, id: &ContentId, count: bool) -> Option<std::sync::Arc<CachedContent>> {
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

    fn other_files(&self, key: &[u8; 32]) -> Option<std::sync::Arc<OtherFiles>> {
        let kept = self.other_files.lock().ok()?;
        kept.as_ref()
            .filter(|o| o.key.as_ref() == Some(key))
            .cloned()
    }

    fn keep_other_files(&self, others: std::sync::Arc<OtherFiles>) {
        if let Ok(mut kept) = self.other_files.lock() {
            *kept = Some(others);
        }
    }

    /// Keeps the first entry made for a content (two files may share it).
    fn insert(&self, id: ContentId, entry: CachedContent) -> std::sync::Arc<CachedContent> {
        match self.entries.write() {
            Ok(mut m) => m
                .entry(id)
                .or_insert_with(|| std::sync::Arc::new(entry))
                .clone(),
            Err(_) => std::sync::Arc::new(entry),
        }
    }
}

/// A file known to the run: its scan, which chunks are selected, and the
/// parse of each selected chunk.
struct LoadedFile {
    rel: String,
    /// The file names the lock (or every file is parsed): its chunks that do
    /// are selected, and fault handlers and rmap callbacks it defines.
    names_lock: bool,
    /// Read when needed (a selected chunk to parse, a finding to show).
    text: Option<String>,
    /// The text with preprocessor groups resolved, made on first parse.
    pp_text: Option<String>,
    scan: std::sync::Arc<Scan>,
    /// This content's entry in the run's [`ScanCache`].
    cached: Option<std::sync::Arc<CachedContent>>,
    selected: Vec<bool>,
    parsed: Vec<Option<ParsedChunk>>,
    /// The parsed functions placed in the run: lines shifted, file index set.
    placed: Vec<Option<Vec<std::sync::Arc<Function>>>>,
    /// Selected chunks whose wanted callees were selected, against an index
    /// of generation `expanded_with` (see `select_long_reaching_callees`).
    expanded: Vec<bool>,
    expanded_with: usize,
    /// Chunks were selected since the file was last parsed and placed (most
    /// files of a whole tree never are: rounds skip them without a look).
    fresh: bool,
    /// Some of its functions are placed in the run.
    has_placed: bool,
}

impl LoadedFile {
    fn new(
        rel: String,
        names_lock: bool,
        text: Option<String>,
        scan: std::sync::Arc<Scan>,
        cached: Option<std::sync::Arc<CachedContent>>,
    ) -> LoadedFile {
        let n = scan.chunks.len();
        LoadedFile {
            rel,
            names_lock,
            text,
            pp_text: None,
            scan,
            cached,
            selected: vec![false; n],
            parsed: vec![None; n],
            placed: vec![None; n],
            expanded: vec![false; n],
            expanded_with: 0,
            fresh: false,
            has_placed: false,
        }
    }

    fn select(&mut self, ci: usize) {
        self.selected[ci] = true;
        self.fresh = true;
    }

    /// Places the functions of chunks parsed since the last call: lines of
    /// the file, index `file`, and the fault path's entry contract (handlers
    /// run with the lock held). A content placed alike by an earlier run (same
    /// index, same handlers among its functions) gets those functions back.
    fn place(&mut self, file: u32, handlers: &HashSet<String>, cat: &Catalogue) {
        if !self.fresh {
            return;
        }
        // A chunk that failed to parse is tried again next round, as before.
        self.fresh = self
            .selected
            .iter()
            .zip(&self.parsed)
            .any(|(s, p)| *s && p.is_none());
        let mut known = self.cached.as_ref().and_then(|e| e.placed.lock().ok());
        for (ci, (parsed, placed)) in self.parsed.iter().zip(&mut self.placed).enumerate() {
            let (Some((functions, shift)), None) = (parsed, &placed) else {
                continue;
            };
            let as_handler: Vec<bool> = functions
                .iter()
                .map(|f| f.entry_hint.is_none() && handlers.contains(&f.name))
                .collect();
            if let Some(p) = known
                .as_ref()
                .and_then(|k| k.get(&ci))
                .filter(|p| p.file == file && p.as_handler == as_handler)
            {
                *placed = Some(p.functions.clone());
                self.has_placed = true;
                continue;
            }
            let functions: Vec<std::sync::Arc<Function>> = functions
                .iter()
                .zip(&as_handler)
                .map(|(f, &handler)| {
                    let mut f = f.clone();
                    f.shift_lines(*shift);
                    f.file = file;
                    if handler {
                        let mode = cat
                            .fault_path
                            .entry_contracts
                            .get(&f.name)
                            .copied()
                            .unwrap_or(crate::catalogue::LockMode::Read);
                        f.entry_hint = Some(crate::ir::EntryHint { mode, line: f.line });
                    }
                    std::sync::Arc::new(f)
                })
                .collect();
            if let Some(k) = known.as_mut() {
                k.insert(
                    ci,
                    Placed {
                        file,
                        as_handler,
                        functions: functions.clone(),
                    },
                );
            }
            *placed = Some(functions);
            self.has_placed = true;
        }
    }

    /// The parsed functions and the lines each must be shifted by.
    fn functions(&self) -> impl Iterator<Item = (&Function, u32)> {
        self.parsed
            .iter()
            .flatten()
            .flat_map(|(fs, shift)| fs.iter().map(move |f| (f, *shift)))
    }

    fn lines(&self, ci: usize) -> usize {
        let next = self
            .scan
            .line_starts
            .get(ci + 1)
            .copied()
            .unwrap_or(u32::MAX);
        next.saturating_sub(self.scan.line_starts[ci]) as usize
    }

    fn bytes_selected(&self) -> usize {
        self.scan
            .chunks
            .iter()
            .zip(&self.selected)
            .filter(|(_, s)| **s)
            .map(|(c, _)| c.end - c.start)
            .sum()
    }
}

/// Reads and scans files, through the scan cache when the set gives content ids.
struct Scanning<'a> {
    set: &'a dyn SourceSet,
    cache: Option<&'a ScanCache>,
    prefilter: &'a Prefilter,
    fields: &'a [String],
}

impl Scanning<'_> {
    /// The cache entry of a file's content, made (the file read) if new;
    /// the text when it was read. `first_pass`: counted in the cache's figures.
    fn entry(
        &self,
        rel: &str,
        first_pass: bool,
    ) -> Result<(Option<std::sync::Arc<CachedContent>>, Option<String>), Skipped> {
        let cache_id = self.cache.zip(self.set.content_id(rel));
        if let Some(entry) = cache_id.and_then(|(cache, id)| cache.get(&id, first_pass)) {
            return Ok((Some(entry), None));
        }
        let read = self.set.read(rel);
        let names_lock = read
            .as_ref()
            .map(|sf| self.prefilter.matches(sf.text.as_bytes()))
            .map_err(|s| s.reason.clone());
        let entry = cache_id.map(|(cache, id)| cache.insert(id, CachedContent::new(names_lock)));
        Ok((entry, Some(read?.text)))
    }

    /// A file of the first pass: scanned in full when it names the lock (its
    /// chunks that do are selected) or every file is (`scan_all`); `None`
    /// when it is left for definition lookups.
    fn load(
        &self,
        rel: &str,
        parse_all: bool,
        scan_all: bool,
    ) -> Result<Option<LoadedFile>, Skipped> {
        let (entry, mut text) = self.entry(rel, true)?;
        let names_lock_text = match (&entry, &text) {
            (Some(e), _) => e.names_lock.clone().map_err(|reason| Skipped {
                file: rel.to_string(),
                reason,
            })?,
            (None, Some(t)) => self.prefilter.matches(t.as_bytes()),
            (None, None) => false,
        };
        let names_lock = parse_all || names_lock_text;
        if !names_lock && !scan_all {
            return Ok(None);
        }
        let scan = match entry.as_ref().and_then(|e| e.full.get()) {
            Some(scan) => scan.clone(),
            None => {
                if text.is_none() {
                    text = Some(self.set.read(rel)?.text);
                }
                let t = text.as_deref().unwrap_or("");
                let scan = std::sync::Arc::new(Scan::new(
                    t,
                    self.fields,
                    true,
                    names_lock_text.then_some(self.prefilter),
                ));
                match &entry {
                    Some(e) => e.full.get_or_init(|| scan).clone(),
                    None => scan,
                }
            }
        };
        // The text of a file naming the lock is kept for parsing and printers
        // (re-read on demand when the scan came from the cache).
        let text = if names_lock { text } else { None };
        let mut f = LoadedFile::new(rel.to_string(), names_lock, text, scan, entry);
        if names_lock {
            f.selected = f
                .scan
                .chunk_names_lock
                .iter()
                .map(|&m| parse_all || m)
                .collect();
            f.fresh = true;
        }
        Ok(Some(f))
    }

    /// A file outside the prefilter, indexed by the functions it defines.
    fn load_definitions_only(&self, rel: &str) -> Result<LoadedFile, Skipped> {
        let (entry, text) = self.entry(rel, false)?;
        if let Some(Err(reason)) = entry.as_ref().map(|e| &e.names_lock) {
            return Err(Skipped {
                file: rel.to_string(),
                reason: reason.clone(),
            });
        }
        let scan = match entry.as_ref().and_then(|e| e.defs_only.get()) {
            Some(scan) => scan.clone(),
            None => {
                let text = match text {
                    Some(t) => t,
                    None => self.set.read(rel)?.text,
                };
                let scan = std::sync::Arc::new(Scan::new(&text, &[], false, None));
                match &entry {
                    Some(e) => e.defs_only.get_or_init(|| scan).clone(),
                    None => scan,
                }
            }
        };
        Ok(LoadedFile::new(rel.to_string(), false, None, scan, entry))
    }
}

pub struct LintRun {
    pub report: Report,
    /// Sources of files with findings, for printers that show code.
    pub sources: HashMap<String, String>,
}

/// Each round pulls in definitions of callees reached under a write hold.
pub const MAX_PULL_ROUNDS: usize = 8;
/// Callees reached under a write hold are pulled in when their chunk can
/// reach a long operation (lexically) or is a short helper that stores into
/// struct fields (init helpers that carry constants, like `init_vma_munmap`).
const SHORT_CHUNK_LINES: usize = 40;
/// Source size up to which every file is scanned lexically up front.
pub const WHOLE_SCAN_LIMIT: u64 = 64 << 20;
/// A name defined in more places than this (static helpers of many drivers)
/// is only followed to a definition in the caller's own file.
const MAX_HOMONYMS: usize = 3;

pub fn lint_path(
    root: &Path,
    cat: &Catalogue,
    options: &LintOptions,
) -> Result<LintRun, AnalyzerError> {
    check_root(root)?;
    let set = source::FsTree::within(root, options.tree_root.as_deref());
    Ok(lint_set(&set, cat, options))
}

/// PATH must be a directory that can be listed or a regular file that can
/// be opened: anything else is an input error naming it, not "0 files"
/// (a FIFO or a device is never opened: a read could block or never end).
fn check_root(root: &Path) -> Result<(), AnalyzerError> {
    let io = |source: std::io::Error| AnalyzerError::Io {
        path: root.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AnalyzerError::MissingPath {
                path: root.to_path_buf(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    if meta.is_dir() {
        std::fs::read_dir(root).map_err(io)?;
    } else if meta.is_file() {
        std::fs::File::open(root).map_err(io)?;
    } else {
        return Err(AnalyzerError::NotAFileOrDirectory {
            path: root.to_path_buf(),
            kind: source::special_file_kind(&meta.file_type()).unwrap_or("not a regular file"),
        });
    }
    Ok(())
}

/// Lints a set of sources (a directory, or a git tree in memory).
pub fn lint_set(set: &dyn SourceSet, cat: &Catalogue, options: &LintOptions) -> LintRun {
    let started = Instant::now();
    let listing = set.list();
    let paths: Vec<&str> = listing.iter().map(|(p, _)| p.as_str()).collect();
    let prefilter = Prefilter::new(&cat.lock_tokens());
    // Read and prefilter in parallel. Files naming the lock are kept and
    // scanned; the others are only listed, for on-demand lookups.
    // Small trees (mm/) are scanned whole up front, so the lexical call index
    // sees every helper; a whole kernel tree scans only files naming the lock
    // and looks further definitions up on demand.
    let total_bytes: u64 = listing.iter().map(|(_, n)| n).sum();
    let progress = &options.progress;
    progress.report(Stage::Scanning { files: paths.len() });
    let scan_all = total_bytes <= options.whole_scan_limit.unwrap_or(WHOLE_SCAN_LIMIT);
    let designated_fields: Vec<String> = cat
        .fault_path
        .handler_fields
        .iter()
        .chain(&cat.rmap.callback_fields)
        .cloned()
        .collect();
    let scanning = Scanning {
        set,
        cache: options.scan_cache.as_deref(),
        prefilter: &prefilter,
        fields: &designated_fields,
    };
    let read: Vec<Result<Option<LoadedFile>, Skipped>> = paths
        .par_iter()
        .map(|p| scanning.load(p, options.parse_all, scan_all))
        .collect();
    let mut skipped = set.unlisted();
    let mut files: Vec<LoadedFile> = Vec::new();
    let mut unloaded: Vec<&str> = Vec::new();
    for (r, p) in read.into_iter().zip(&paths) {
        match r {
            Ok(Some(f)) => files.push(f),
            Ok(None) => unloaded.push(p),
            Err(s) => skipped.push(s),
        }
    }
    // Summaries are shared by the rounds of this run, and with other runs
    // through the scan cache.
    let run_summaries = crate::summary_store::SummaryStore::default();
    let summaries = options
        .scan_cache
        .as_deref()
        .map_or(&run_summaries, |c| &c.summaries);
    let tracing = std::env::var_os("MMSTALL_TRACE").is_some();
    let trace = |what: &str, since: Instant| {
        if tracing {
            eprintln!("{what}: {:?}", since.elapsed());
        }
    };
    trace("read and scan", started);
    let t = Instant::now();
    let mut index = NameIndex::new(&files);
    // Fault handlers and rmap callbacks are analyzed whatever they mention.
    let handlers: HashSet<String> = files
        .iter()
        .flat_map(|f| &f.scan.designated)
        .filter(|(field, _)| cat.fault_path.handler_fields.contains(field))
        .map(|(_, name)| name.clone())
        .chain(cat.fault_path.entry_contracts.keys().cloned())
        .collect();
    let rmap_callbacks: Vec<String> = files
        .iter()
        .flat_map(|f| &f.scan.designated)
        .filter(|(field, _)| cat.rmap.callback_fields.contains(field))
        .map(|(_, name)| name.clone())
        .chain(cat.rmap.walkers.iter().cloned())
        .collect();
    for name in handlers.iter().chain(&rmap_callbacks) {
        for &(fi, ci) in index.get(name) {
            if files[fi].names_lock {
                files[fi].select(ci);
            }
        }
    }
    let reach_long = lexical_reach_long(&files, cat);
    select_long_reaching_callees(&mut files, &index, &reach_long, cat);
    trace("index and selection", t);

    let mut round = 0;
    let mut rels: std::sync::Arc<Vec<String>> = Default::default();
    let findings = loop {
        round += 1;
        let t0 = Instant::now();
        let selected = files.iter().filter(|f| f.selected.contains(&true)).count();
        progress.report(Stage::Parsing { files: selected });
        parse_selected(
            &mut files,
            set,
            cat,
            options.parse_cache.as_deref(),
            &mut skipped,
        );
        let t_parse = t0.elapsed();
        if rels.len() != files.len() {
            rels = std::sync::Arc::new(files.iter().map(|p| p.rel.clone()).collect());
        }
        // Functions are placed in their file once per run (lines, file
        // index, entry contract) and shared by every round's program.
        for (i, f) in files.iter_mut().enumerate() {
            f.place(i as u32, &handlers, cat);
        }
        let functions: Vec<std::sync::Arc<Function>> = files
            .iter()
            .filter(|f| f.has_placed)
            .flat_map(|f| f.placed.iter().flatten().flatten().cloned())
            .collect();
        let (reused, computed) = (summaries.reused(), summaries.computed());
        progress.report(Stage::Analysis {
            round,
            rounds: options.pull_rounds.unwrap_or(MAX_PULL_ROUNDS).max(1),
        });
        let analyzed = analyze_program(|| {
            let mut program = Program::new(cat, rels.clone(), functions, summaries);
            program.rmap_callbacks = rmap_callbacks.clone();
            let t_program = t0.elapsed() - t_parse;
            let findings = crate::rules::run(&program);
            let cut = cut_notes(&program);
            let missing = program.unresolved_under_write.borrow().clone();
            if tracing {
                let (groups, largest, members) = program.cycle_group_sizes();
                eprintln!("  cycle groups {groups} (largest {largest}, {members} functions), {} analyses inside cycles, entry depth {}", program.cycle_analyses.get(), program.max_entry_depth.get());
            }
            (
                (findings, cut),
                missing,
                program.functions.len(),
                program.depth_cuts.get(),
                t_program,
            )
        });
        let (findings, missing, function_count, depth_cuts, t_program) = analyzed;
        if tracing {
            eprintln!(
                "round {round}: parse {:?}, program {:?}, analysis {:?}, {} functions, {} unresolved under write, summaries {} reused {} computed, {} depth cuts",
                t_parse,
                t_program,
                t0.elapsed() - t_parse - t_program,
                function_count,
                missing.len(),
                summaries.reused() - reused,
                summaries.computed() - computed,
                depth_cuts,
            );
        }
        if missing.is_empty() || round >= options.pull_rounds.unwrap_or(MAX_PULL_ROUNDS).max(1) {
            break findings;
        }
        if !unloaded.is_empty() {
            // First lookup outside the files naming the lock: index the rest once.
            let first_new = files.len();
            let t = Instant::now();
            let others = other_files(&scanning, first_new, &unloaded);
            unloaded.clear();
            files.extend(others.files.iter().map(|(rel, scan, cached)| {
                LoadedFile::new(rel.clone(), false, None, scan.clone(), cached.clone())
            }));
            skipped.extend(others.skipped.iter().cloned());
            index.attach(others.index.clone());
            trace("definitions of the other files", t);
            if tracing {
                let n: usize = files
                    .iter()
                    .map(|f| f.scan.defs.iter().map(Vec::len).sum::<usize>())
                    .sum();
                eprintln!(
                    "index: {} names, {} definitions, {} chunks",
                    index.len(),
                    n,
                    files.iter().map(|f| f.scan.chunks.len()).sum::<usize>()
                );
            }
        }
        // Pull the wanted definitions of the missing callees, and lexically
        // the wanted callees of what is pulled, so few rounds are needed.
        let wanted = |f: &LoadedFile, ci: usize| {
            f.scan.calls_unknown
                || f.scan.defs[ci].iter().any(|d| reach_long.contains(&**d))
                || (f.scan.stores_fields[ci] && f.lines(ci) <= SHORT_CHUNK_LINES)
        };
        let mut pulled = false;
        let mut queue: Vec<(usize, usize)> = Vec::new();
        for name in &missing {
            let defs = index.get(name);
            if defs.len() > MAX_HOMONYMS {
                continue; // a common static name: no telling which one is meant
            }
            queue.extend(defs.iter().copied());
        }
        while let Some((fi, ci)) = queue.pop() {
            if files[fi].selected[ci] || !wanted(&files[fi], ci) {
                continue;
            }
            files[fi].select(ci);
            pulled = true;
            for callee in &files[fi].scan.calls[ci] {
                let defs = index.get(callee);
                if defs.len() <= MAX_HOMONYMS {
                    queue.extend(defs.iter().copied().filter(|&(f, c)| !files[f].selected[c]));
                } else {
                    queue.extend(
                        defs.iter()
                            .copied()
                            .filter(|&(f, c)| f == fi && !files[f].selected[c]),
                    );
                }
            }
        }
        if !pulled {
            break findings;
        }
        select_long_reaching_callees(&mut files, &index, &reach_long, cat);
    };

    let (findings, cut) = findings;
    skipped.extend(cut);
    let parsed: Vec<&LoadedFile> = files
        .iter()
        .filter(|f| f.selected.iter().any(|s| *s))
        .collect();
    let stats = Stats {
        files: paths.len(),
        files_parsed: parsed.len(),
        functions: parsed.iter().map(|p| p.functions().count()).sum(),
        functions_with_parse_errors: parsed
            .iter()
            .flat_map(|p| p.functions())
            .filter(|(f, _)| f.has_parse_error)
            .count(),
        bytes_parsed: parsed.iter().map(|p| p.bytes_selected()).sum(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    // Functions whose body was not analyzed (nesting too deep) are named:
    // the rest of their file and run keeps its findings.
    for p in &parsed {
        for (f, shift) in p.functions() {
            if let Some(reason) = &f.skipped {
                skipped.push(Skipped {
                    file: p.rel.clone(),
                    reason: format!(
                        "function `{}` (line {}) skipped: {reason}",
                        f.name,
                        f.line + shift
                    ),
                });
            }
        }
    }
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let shown: HashSet<&str> = findings
        .iter()
        .flat_map(|f| [f.file.as_str(), f.acquired_at.file.as_str()])
        .collect();
    // The files whose text a run without caches holds: those naming the
    // lock and those a chunk was parsed from.
    let sources = files
        .iter_mut()
        .filter(|p| {
            shown.contains(p.rel.as_str()) && (p.names_lock || p.selected.iter().any(|s| *s))
        })
        .filter_map(|p| match p.text.take() {
            Some(t) => Some((p.rel.clone(), t)),
            None => set.read(&p.rel).ok().map(|sf| (p.rel.clone(), sf.text)),
        })
        .collect();
    // Freeing a whole tree's files and index takes a while: not on the
    // caller's time (a pool thread does it).
    rayon::spawn(move || drop((files, index)));
    LintRun {
        report: Report {
            version: 1,
            findings,
            stats,
            skipped,
        },
        sources,
    }
}

/// Runs `analysis` on a thread with a deep stack (summaries recurse along
/// call chains), or here if no thread can be made.
fn analyze_program<T: Send>(analysis: impl FnOnce() -> T + Send) -> T {
    let analysis = std::sync::Mutex::new(Some(analysis));
    let take = || analysis.lock().ok().and_then(|mut a| a.take());
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("mmstall-analysis".into())
            .stack_size(crate::summary::ANALYSIS_STACK);
        let spawned = thread.spawn_scoped(scope, || take().map(|run| run()));
        let done = spawned.ok().and_then(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        match done {
            Some(result) => result,
            None => take()
                .map(|run| run())
                .expect("the analysis runs on one thread or the other"),
        }
    })
}

/// Names defined by chunks that can reach a long operation, following
/// lexical calls between the known chunks.
fn lexical_reach_long(files: &[LoadedFile], cat: &Catalogue) -> HashSet<String> {
    let mut reach: HashSet<String> = HashSet::new();
    loop {
        let before = reach.len();
        for f in files {
            for ((defs, calls), &has_loop) in
                f.scan.defs.iter().zip(&f.scan.calls).zip(&f.scan.has_loop)
            {
                // Most chunks call nothing known (definitions-only scans).
                if calls.is_empty() || defs.iter().all(|d| reach.contains(&**d)) {
                    continue;
                }
                let long_call = |c: &String| {
                    cat.long_ops.get(c).is_some_and(|op| !op.in_loop) || reach.contains(c)
                };
                let loop_call = |c: &String| cat.long_ops.get(c).is_some_and(|op| op.in_loop);
                if calls.iter().any(long_call) || (has_loop && calls.iter().any(loop_call)) {
                    reach.extend(defs.iter().map(|d| d.to_string()));
                }
            }
        }
        if reach.len() == before {
            return reach;
        }
    }
}

/// From the selected chunks, selects (transitively) the chunks defining the
/// callees that can reach a long operation.
fn select_long_reaching_callees(
    files: &mut [LoadedFile],
    index: &NameIndex,
    reach: &HashSet<String>,
    cat: &Catalogue,
) {
    // Start from every selected chunk: write holders, and read holders or
    // hinted functions whose callees run under a caller's write hold. A
    // chunk expanded by an earlier call against the same index has its
    // targets selected already: only the others are expanded (the result,
    // a closure, does not depend on the order).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for (fi, f) in files.iter_mut().enumerate() {
        if f.expanded_with != index.generation {
            f.expanded.iter_mut().for_each(|e| *e = false);
            f.expanded_with = index.generation;
        }
        for (ci, s) in f.selected.iter().enumerate() {
            if *s && !f.expanded[ci] {
                stack.push((fi, ci));
            }
        }
    }
    while let Some((fi, ci)) = stack.pop() {
        files[fi].expanded[ci] = true;
        // Callees that can reach a long operation, and short helpers that
        // store into struct fields (constants for the callees after them).
        let callees: Vec<&String> = files[fi].scan.calls[ci]
            .iter()
            .filter(|c| !cat.long_ops.contains_key(*c))
            .collect();
        let mut targets = Vec::new();
        for c in callees {
            let defs = index.get(c);
            let wanted = |&(f, k): &(usize, usize)| {
                reach.contains(c)
                    || (files[f].scan.stores_fields[k] && files[f].lines(k) <= SHORT_CHUNK_LINES)
                    // A short leaf helper of the same file switching on a
                    // value: a predicate the caller may branch on
                    // (`madvise_need_mmap_write()`).
                    || (f == fi
                        && files[f].lines(k) <= SHORT_CHUNK_LINES
                        && files[f].scan.calls[k]
                            .iter()
                            .all(|n| files[f].scan.defs[k].iter().any(|d| **d == **n))
                        && files[f].text.as_deref().is_some_and(|t| {
                            let chunk = &files[f].scan.chunks[k];
                            t.get(chunk.start..chunk.end)
                                .is_some_and(|body| body.contains("switch"))
                        }))
            };
            if defs.len() > MAX_HOMONYMS {
                targets.extend(
                    defs.iter()
                        .copied()
                        .filter(|(f, _)| *f == fi)
                        .filter(wanted),
                );
            } else {
                targets.extend(defs.iter().copied().filter(wanted));
            }
        }
        // Every selected chunk is expanded or on the stack: selected means visited.
        for t in targets {
            if !files[t.0].selected[t.1] {
                files[t.0].select(t.1);
                stack.push(t);
            }
        }
    }
}

/// Files outside the prefilter, indexed by the functions they define (their
/// text is not kept: it is re-read if one of their chunks is selected).
struct OtherFiles {
    /// Identifies the files (paths, contents) and their position in the run.
    key: Option<[u8; 32]>,
    files: Vec<(
        String,
        std::sync::Arc<Scan>,
        Option<std::sync::Arc<CachedContent>>,
    )>,
    skipped: Vec<Skipped>,
    index: std::sync::Arc<DefsMap>,
}

/// The files outside the prefilter (`paths`), loaded after the first
/// `first_new` files of the run; from the scan cache when an earlier run had
/// the same files (same paths and contents) at the same position.
fn other_files(
    scanning: &Scanning,
    first_new: usize,
    paths: &[&str],
) -> std::sync::Arc<OtherFiles> {
    let key = scanning.cache.and_then(|_| {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update((first_new as u64).to_le_bytes());
        for p in paths {
            h.update(p.as_bytes());
            h.update([0]);
            h.update(scanning.set.content_id(p)?);
        }
        Some(<[u8; 32]>::from(h.finalize()))
    });
    if let Some(found) = scanning.cache.zip(key).and_then(|(c, k)| c.other_files(&k)) {
        return found;
    }
    let results: Vec<Result<LoadedFile, Skipped>> = paths
        .par_iter()
        .map(|p| scanning.load_definitions_only(p))
        .collect();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(f) => files.push(f),
            Err(s) => skipped.push(s),
        }
    }
    let index = std::sync::Arc::new(defs_map(&files, first_new));
    let others = std::sync::Arc::new(OtherFiles {
        key,
        files: files
            .into_iter()
            .map(|f| (f.rel, f.scan, f.cached))
            .collect(),
        skipped,
        index,
    });
    if let Some(cache) = scanning.cache.filter(|_| key.is_some()) {
        cache.keep_other_files(others.clone());
    }
    others
}

/// Parses every selected chunk not parsed yet, in parallel (a chunk the scan
/// cache holds the parse of is taken from there, without reading the file).
fn parse_selected(
    files: &mut [LoadedFile],
    set: &dyn SourceSet,
    cat: &Catalogue,
    cache: Option<&ParseCache>,
    skipped: &mut Vec<Skipped>,
) {
    let errors: Vec<Skipped> = files
        .par_iter_mut()
        .filter(|f| {
            f.fresh
                && f.selected
                    .iter()
                    .zip(&f.parsed)
                    .any(|(s, p)| *s && p.is_none())
        })
        .map_init(parse::new_parser, |parser, f| {
            if let Some(entry) = &f.cached {
                if let Ok(known) = entry.parsed.lock() {
                    for ci in 0..f.scan.chunks.len() {
                        if f.selected[ci] && f.parsed[ci].is_none() {
                            f.parsed[ci] = known.get(&ci).cloned();
                        }
                    }
                }
            }
            if f.selected
                .iter()
                .zip(&f.parsed)
                .all(|(s, p)| !*s || p.is_some())
            {
                return Ok(());
            }
            let parser = parser.as_mut().map_err(|e| Skipped {
                file: f.rel.clone(),
                reason: e.to_string(),
            })?;
            if f.text.is_none() {
                f.text = Some(set.read(&f.rel)?.text);
            }
            let text = f.text.as_deref().unwrap_or("");
            let pp = f
                .pp_text
                .get_or_insert_with(|| crate::normalize::blank_preprocessor_text(text));
            let mut made = Vec::new();
            for ci in 0..f.scan.chunks.len() {
                if !f.selected[ci] || f.parsed[ci].is_some() {
                    continue;
                }
                let c = f.scan.chunks[ci];
                let line_offset = f.scan.line_starts[ci];
                let parsed = match cache {
                    Some(cache) => cache
                        .parse(parser, &pp[c.start..c.end], cat)
                        .map(|fs| (fs, line_offset)),
                    None => parse::parse_chunk(parser, &pp[c.start..c.end], line_offset, cat)
                        .map(|ir| (std::sync::Arc::new(ir.functions), 0)),
                };
                match parsed {
                    Ok(p) => {
                        made.push((ci, p.clone()));
                        f.parsed[ci] = Some(p);
                    }
                    Err(e) => {
                        return Err(Skipped {
                            file: f.rel.clone(),
                            reason: format!("failed to parse: {e}"),
                        })
                    }
                }
            }
            if let Some(Ok(mut known)) = f.cached.as_ref().map(|e| e.parsed.lock()) {
                known.extend(made);
            }
            Ok(())
        })
        .filter_map(Result::err)
        .collect();
    skipped.extend(errors);
}

/// A note per holder (root) whose results a bound of the analysis cut:
/// findings behind the bound are missing, and the output says so.
pub fn cut_notes(program: &Program) -> Vec<Skipped> {
    let mut notes = Vec::new();
    for root in program.roots() {
        let mut cuts = 0;
        let hinted = program.function(root).entry_hint.is_some();
        for env in program.contexts(root, 0).iter() {
            let result = program.analyze(root, env);
            cuts |= result.local_cut;
            if hinted {
                cuts |= result.entry_cut;
            }
        }
        if cuts != 0 {
            let f = program.function(root);
            notes.push(Skipped {
                file: program
                    .files
                    .get(f.file as usize)
                    .cloned()
                    .unwrap_or_default(),
                reason: format!(
                    "holder `{}` (line {}): results cut: {}; findings past the bound are not reported",
                    f.name,
                    f.line,
                    crate::summary::describe_cuts(cuts)
                ),
            });
        }
    }
    notes
}

/// Names of functions a file defines, read lexically: a line starting at
/// column 0 with an identifier, whose first `(` follows a name, and that is
/// not a prototype. Cheap enough for every file of a whole tree.
pub fn defined_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(first) = line.bytes().next() else {
            continue;
        };
        if !(first.is_ascii_alphabetic() || first == b'_') || line.trim_end().ends_with(';') {
            continue;
        }
        let Some(paren) = line.find('(') else {
            continue;
        };
        let head = line[..paren].trim_end();
        let name: String = head
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !name.is_empty() && !name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            names.insert(name);
        }
    }
    names
}
