//! The whole-PATH run: discover, prefilter, parse in parallel, analyze, and
//! pull in more files on demand (callees reached under a write hold whose
//! definitions live in files the prefilter skipped). One job per module:
//!
//! - [`scan`]: the lexical scanner (chunks, definitions, calls);
//! - [`name_index`]: where each name is defined;
//! - [`caches`]: what runs share (parses, scans, summaries);
//! - [`files`]: reading, scanning, parsing and placing files;
//! - [`selection`]: which chunks are parsed, and what a round pulls in;
//! - [`rounds`]: the pull-round loop (parse, analyze, run the rules, pull);
//! - [`shards`]: a round's analysis on every core.
//!
//! This module holds the options and puts the steps together.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::catalogue::Catalogue;
use crate::error::AnalyzerError;
use crate::finding::{Finding, Report, Stats};
use crate::progress::Stage;
use crate::source::{self, Prefilter, Skipped, SourceSet};
use crate::summary::Program;

mod caches;
mod files;
mod handlers;
use handlers::Handlers;
mod name_index;
mod rounds;
mod scan;
mod selection;
mod shards;
mod suppliers;
mod triggers;

pub use caches::{ParseCache, ScanCache};

use files::{FirstPass, LoadedFile, Scanning, Unloaded};
use name_index::NameIndex;
use rounds::{Rounds, Trace};

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
    /// Threads a round's analysis runs on (default: `MMSTALL_ANALYSIS_THREADS`,
    /// else the thread pool's size; at most 4). The findings are the same
    /// on any number.
    pub analysis_threads: Option<usize>,
    /// The tree's root (see [`source::tree_root`]): files under PATH are
    /// named relative to it, so `lint mm` and `lint .` name (and
    /// fingerprint) a finding alike. Default: relative to PATH.
    pub tree_root: Option<std::path::PathBuf>,
    /// Where the stages of the run are reported (nowhere by default).
    pub progress: crate::progress::Progress,
}

pub struct LintRun {
    pub report: Report,
    /// Sources of files with findings, for printers that show code.
    pub sources: HashMap<String, String>,
}

/// Each round pulls in definitions of callees reached under a write hold.
pub const MAX_PULL_ROUNDS: usize = 8;
/// Source size up to which every file is scanned lexically up front.
pub const WHOLE_SCAN_LIMIT: u64 = 64 << 20;

pub fn lint_path(
    root: &Path,
    cat: &Catalogue,
    options: &LintOptions,
) -> Result<LintRun, AnalyzerError> {
    check_root(root)?;
    let set = source::FsTree::within(root, options.tree_root.as_deref());
    Ok(lint_set(&set, cat, options))
}

/// Lints several paths of one tree as one analysis (`lint mm kernel/fork.c
/// arch/x86/mm`): a holder in one path and the long call it reaches in
/// another are one finding. Files are named relative to `tree_root`, which
/// every path must lie under; a file listed by two paths is analyzed once.
pub fn lint_paths(
    roots: &[PathBuf],
    tree_root: &Path,
    cat: &Catalogue,
    options: &LintOptions,
) -> Result<LintRun, AnalyzerError> {
    for root in roots {
        check_root(root)?;
        let inside = std::fs::canonicalize(root)
            .ok()
            .zip(std::fs::canonicalize(tree_root).ok())
            .is_some_and(|(r, t)| r.starts_with(t));
        if !inside {
            return Err(AnalyzerError::OutsideTree {
                path: root.clone(),
                tree: tree_root.to_path_buf(),
            });
        }
    }
    let set = source::FsTree::union(roots, tree_root);
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

/// Lints a set of sources (a directory, or a git tree in memory): the first
/// pass (read, prefilter, scan), the initial selection, the pull rounds,
/// then the report.
pub fn lint_set(set: &dyn SourceSet, cat: &Catalogue, options: &LintOptions) -> LintRun {
    match shards::lint_pool() {
        Some(pool) => pool.install(|| lint_set_here(set, cat, options)),
        None => lint_set_here(set, cat, options),
    }
}

/// [`lint_set`] on the current thread pool.
fn lint_set_here(set: &dyn SourceSet, cat: &Catalogue, options: &LintOptions) -> LintRun {
    let started = Instant::now();
    let listing = set.list();
    let paths: Vec<&str> = listing.iter().map(|(p, _)| p.as_str()).collect();
    let prefilter = Prefilter::new(&cat.lock_tokens());
    // Small trees (mm/) are scanned whole up front, so the lexical call index
    // sees every helper; a whole kernel tree scans only files naming the lock
    // and looks further definitions up on demand.
    let total_bytes: u64 = listing.iter().map(|(_, n)| n).sum();
    options
        .progress
        .report(Stage::Scanning { files: paths.len() });
    let scan_all = total_bytes <= options.whole_scan_limit.unwrap_or(WHOLE_SCAN_LIMIT);
    let designated_fields: Vec<String> = cat
        .fault_path
        .handler_fields
        .iter()
        .chain(&cat.rmap.callback_fields)
        .cloned()
        .chain(
            triggers::ENTRY_FIELDS
                .iter()
                .map(|(field, _)| field.to_string()),
        )
        .collect();
    let assumed_clear: Vec<String> = cat.assume_clear.keys().cloned().collect();
    let scanning = Scanning {
        set,
        cache: options.scan_cache.as_deref(),
        prefilter: &prefilter,
        fields: &designated_fields,
        assumed_clear: &assumed_clear,
    };
    let mut skipped = set.unlisted();
    let (mut files, mut unloaded, defines) =
        first_pass(&scanning, &paths, options.parse_all, scan_all, &mut skipped);
    let t_macros = Instant::now();
    let macros = crate::macro_values::MacroTable::new(defines);
    let t_macros = t_macros.elapsed();
    // Summaries are shared by the rounds of this run, and with other runs
    // through the scan cache.
    let run_summaries = crate::summary_store::SummaryStore::default();
    let summaries = options
        .scan_cache
        .as_deref()
        .map_or(&run_summaries, |c| &c.summaries);
    let trace = Trace::from_env();
    trace.time("read and scan", started);
    if trace.on {
        eprintln!("macro table: {} names in {t_macros:?}", macros.len());
    }
    let t = Instant::now();
    let mut index = NameIndex::new(&files::scans(&files));
    let (handlers, rmap_callbacks) = designated_functions(&files, cat);
    // Fault handlers and rmap callbacks are analyzed whatever they mention.
    for name in handlers.names().chain(&rmap_callbacks) {
        for &(fi, ci) in index.get(name) {
            if files[fi].names_lock {
                files[fi].select(ci);
            }
        }
    }
    let reach_long = selection::lexical_reach_long(&files, cat);
    selection::select_long_reaching_callees(&mut files, &index, &reach_long, cat);
    trace.time("index and selection", t);

    let rounds = Rounds {
        set,
        cat,
        options,
        scanning: &scanning,
        summaries,
        handlers,
        rmap_callbacks,
        reach_long,
        macros: &macros,
        trace,
    };
    let (mut findings, cut) = rounds.run(&mut files, &mut index, &mut unloaded, &mut skipped);
    skipped.extend(cut);
    let t = Instant::now();
    crate::finding::disambiguate_fingerprints(&mut findings);
    crate::finding::assign_site_ids(&mut findings);
    if !findings.is_empty() {
        let mut walker = triggers::Walker::new(&files, set, &cat.fault_path.handler_fields);
        triggers::attach(&mut findings, &mut walker, &cat.fault_path);
        suppliers::attach(&mut findings, &mut walker);
    }
    trace.time("site ids and triggers", t);
    let report = report(&files, findings, skipped, paths.len(), started);
    let sources = shown_sources(&mut files, &report.findings, set);
    // Freeing a whole tree's files and index takes a while: not on the
    // caller's time (a pool thread does it).
    rayon::spawn(move || drop((files, index)));
    LintRun { report, sources }
}

/// Reads and prefilters every file in parallel. Files naming the lock (all
/// of a small tree) are kept and scanned; the others are only listed, for
/// on-demand definition lookups; unreadable ones are added to `skipped`.
/// The `#define`s of the files naming the lock and of the shared headers
/// come back too (for [`crate::macro_values::MacroTable`]).
fn first_pass<'p>(
    scanning: &Scanning,
    paths: &[&'p str],
    parse_all: bool,
    scan_all: bool,
    skipped: &mut Vec<Skipped>,
) -> (Vec<LoadedFile>, Vec<Unloaded<'p>>, Vec<files::Defines>) {
    let read: Vec<_> = paths
        .par_iter()
        .map(|p| scanning.load(p, parse_all, scan_all))
        .collect();
    let mut files: Vec<LoadedFile> = Vec::new();
    let mut unloaded: Vec<Unloaded> = Vec::new();
    let mut defines = Vec::new();
    for (r, p) in read.into_iter().zip(paths) {
        match r {
            Ok((f, d)) => {
                match f {
                    FirstPass::Kept(f) => files.push(*f),
                    FirstPass::Left(scan) => unloaded.push(Unloaded { rel: p, scan }),
                }
                defines.extend(d);
            }
            Err(s) => skipped.push(s),
        }
    }
    (files, unloaded, defines)
}

/// The fault handlers (`.fault = f`, the catalogue's entry contracts) and
/// the rmap callbacks (`.rmap_one = f`, the catalogue's walkers) the
/// scanned files name; per handler, the fields it is put in.
fn designated_functions(files: &[LoadedFile], cat: &Catalogue) -> (Handlers, Vec<String>) {
    let mut handlers = Handlers::default();
    for f in files {
        for (field, name) in &f.scan.designated {
            if cat.fault_path.handler_fields.contains(field) {
                handlers.add(name, Some(field));
            }
        }
    }
    for name in cat.fault_path.entry_contracts.keys() {
        handlers.add(name, None);
    }
    let rmap_callbacks: Vec<String> = files
        .iter()
        .flat_map(|f| &f.scan.designated)
        .filter(|(field, _)| cat.rmap.callback_fields.contains(field))
        .map(|(_, name)| name.clone())
        .chain(cat.rmap.walkers.iter().cloned())
        .collect();
    (handlers, rmap_callbacks)
}

/// The report: findings, figures, and what was skipped (sorted by file).
fn report(
    files: &[LoadedFile],
    findings: Vec<Finding>,
    mut skipped: Vec<Skipped>,
    file_count: usize,
    started: Instant,
) -> Report {
    let parsed: Vec<&LoadedFile> = files.iter().filter(|f| f.has_analyzed()).collect();
    let stats = Stats {
        files: file_count,
        files_parsed: parsed.len(),
        functions: parsed.iter().map(|p| p.functions().count()).sum(),
        functions_with_parse_errors: parsed
            .iter()
            .flat_map(|p| p.functions())
            .filter(|f| f.has_parse_error)
            .count(),
        bytes_parsed: parsed.iter().map(|p| p.bytes_parsed()).sum(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    // Functions whose body was not analyzed (nesting too deep) are named:
    // the rest of their file and run keeps its findings.
    for p in &parsed {
        for f in p.functions() {
            if let Some(reason) = &f.skipped {
                skipped.push(Skipped {
                    file: p.rel.clone(),
                    reason: format!("function `{}` (line {}) skipped: {reason}", f.name, f.line),
                });
            }
        }
    }
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    Report {
        version: 1,
        findings,
        stats,
        skipped,
    }
}

/// The texts of the files findings point into, for printers that show
/// code: those a run without caches holds (naming the lock, or a chunk
/// parsed from them), re-read when a cache kept only their scan.
fn shown_sources(
    files: &mut [LoadedFile],
    findings: &[Finding],
    set: &dyn SourceSet,
) -> HashMap<String, String> {
    let shown: HashSet<&str> = findings
        .iter()
        .flat_map(|f| [f.file.as_str(), f.acquired_at.file.as_str()])
        .collect();
    files
        .iter_mut()
        .filter(|p| {
            shown.contains(p.rel.as_str()) && (p.names_lock || p.selected.iter().any(|s| *s))
        })
        .filter_map(|p| match p.text.take() {
            Some(t) => Some((p.rel.clone(), t)),
            None => set.read(&p.rel).ok().map(|sf| (p.rel.clone(), sf.text)),
        })
        .collect()
}

/// The note for a holder (root) whose results a bound of the analysis
/// cut: findings behind the bound are missing, and the output says so.
fn cut_note(
    program: &Program,
    root: crate::summary::FnId,
    cuts: crate::limits::Cuts,
) -> Option<Skipped> {
    if cuts == 0 {
        return None;
    }
    let f = program.function(root);
    Some(Skipped {
        file: program
            .files
            .get(f.file as usize)
            .cloned()
            .unwrap_or_default(),
        reason: format!(
            "holder `{}` (line {}): results cut: {}; findings past the bound are not reported",
            f.name,
            f.line,
            crate::limits::describe_cuts(cuts)
        ),
    })
}
