//! File loading: reading and scanning files (through the scan cache), the
//! files outside the prefilter indexed for definition lookups, parsing the
//! selected chunks in parallel, and placing their functions in the run.

use rayon::prelude::*;

use super::caches::{CachedContent, OtherFiles, ParseCache, ParsedChunk, Placed, ScanCache};
use super::name_index::defs_map;
use super::scan::Scan;
use crate::catalogue::Catalogue;
use crate::ir::Function;
use crate::parse;
use crate::source::{Prefilter, Skipped, SourceSet};

/// A file known to the run: its scan, which chunks are selected, and the
/// parse of each selected chunk.
pub(super) struct LoadedFile {
    pub(super) rel: String,
    /// The file names the lock (or every file is parsed): its chunks that do
    /// are selected, and fault handlers and rmap callbacks it defines.
    pub(super) names_lock: bool,
    /// Read when needed (a selected chunk to parse, a finding to show).
    pub(super) text: Option<String>,
    /// The text with preprocessor groups resolved, made on first parse.
    pub(super) pp_text: Option<String>,
    pub(super) scan: std::sync::Arc<Scan>,
    /// This content's entry in the run's [`ScanCache`].
    pub(super) cached: Option<std::sync::Arc<CachedContent>>,
    pub(super) selected: Vec<bool>,
    /// Selected chunks the analysis can use ([`super::selection::mark_analyzed`]):
    /// only these are parsed (a chunk marked is a selected one).
    pub(super) analyzed: Vec<bool>,
    pub(super) parsed: Vec<Option<ParsedChunk>>,
    /// The parsed functions placed in the run: lines shifted, file index set.
    pub(super) placed: Vec<Option<Vec<std::sync::Arc<Function>>>>,
    /// Selected chunks whose wanted callees were selected, against an index
    /// of generation `expanded_with` (see `select_long_reaching_callees`).
    pub(super) expanded: Vec<bool>,
    pub(super) expanded_with: usize,
    /// Chunks were selected since the file was last parsed and placed (most
    /// files of a whole tree never are: rounds skip them without a look).
    pub(super) fresh: bool,
    /// Some of its functions are placed in the run.
    pub(super) has_placed: bool,
}

impl LoadedFile {
    pub(super) fn new(
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
            analyzed: vec![false; n],
            parsed: vec![None; n],
            placed: vec![None; n],
            expanded: vec![false; n],
            expanded_with: 0,
            fresh: false,
            has_placed: false,
        }
    }

    pub(super) fn select(&mut self, ci: usize) {
        self.selected[ci] = true;
        self.fresh = true;
    }

    /// Chunk `ci` is to be parsed and is not yet.
    pub(super) fn wants_parse(&self, ci: usize) -> bool {
        self.analyzed[ci] && self.parsed[ci].is_none()
    }

    /// Some chunk of the file is parsed (or to be).
    pub(super) fn has_analyzed(&self) -> bool {
        self.analyzed.contains(&true)
    }

    /// Places the functions of chunks parsed since the last call: lines of
    /// the file, index `file`, and the fault path's entry contract (handlers
    /// run with the lock held). A content placed alike by an earlier run (same
    /// index, same handlers among its functions) gets those functions back.
    pub(super) fn place(
        &mut self,
        file: u32,
        handlers: &super::handlers::Handlers,
        cat: &Catalogue,
    ) {
        if !self.fresh {
            return;
        }
        // A chunk that failed to parse is tried again next round, as before.
        self.fresh = (0..self.selected.len()).any(|ci| self.wants_parse(ci));
        let mut known = self.cached.as_ref().and_then(|e| e.placed.lock().ok());
        for (ci, (parsed, placed)) in self.parsed.iter_mut().zip(&mut self.placed).enumerate() {
            let (Some((functions, shift, _)), None) = (parsed, &placed) else {
                continue;
            };
            let as_handler: Vec<Option<Vec<(String, i64)>>> = functions
                .iter()
                .map(|f| {
                    (f.entry_hint.is_none() && handlers.contains(&f.name))
                        .then(|| handlers.entry_facts(cat, &f.name, &self.rel, f.params.first()))
                })
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
            // A parse no cache shares is moved into the run, not copied
            // (a deep copy of every function's graph; the chunk stays
            // parsed: its functions are then those placed).
            let owned = std::sync::Arc::get_mut(functions).map(std::mem::take);
            let parsed_functions = owned.unwrap_or_else(|| functions.to_vec());
            let functions: Vec<std::sync::Arc<Function>> = parsed_functions
                .into_iter()
                .zip(&as_handler)
                .map(|(mut f, handler)| {
                    f.shift_lines(*shift);
                    f.file = file;
                    if let Some(facts) = handler {
                        f.entry_facts = facts.clone();
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

    /// The functions placed in the run (their lines shifted).
    pub(super) fn functions(&self) -> impl Iterator<Item = &Function> {
        self.placed.iter().flatten().flatten().map(|f| &**f)
    }

    pub(super) fn lines(&self, ci: usize) -> usize {
        let next = self
            .scan
            .line_starts
            .get(ci + 1)
            .copied()
            .unwrap_or(u32::MAX);
        next.saturating_sub(self.scan.line_starts[ci]) as usize
    }

    /// The bytes of the chunks handed to the parser (each from its
    /// first definition, [`super::scan::prelude_len`]; a chunk that failed
    /// to parse counts whole).
    pub(super) fn bytes_parsed(&self) -> usize {
        self.scan
            .chunks
            .iter()
            .zip(&self.analyzed)
            .zip(&self.parsed)
            .filter(|((_, a), _)| **a)
            .map(|((c, _), p)| p.as_ref().map_or(c.end - c.start, |(_, _, bytes)| *bytes))
            .sum()
    }
}

/// Reads and scans files, through the scan cache when the set gives content ids.
pub(super) struct Scanning<'a> {
    pub(super) set: &'a dyn SourceSet,
    pub(super) cache: Option<&'a ScanCache>,
    pub(super) prefilter: &'a Prefilter,
    pub(super) fields: &'a [String],
    /// The catalogue's `[assume_clear]` flags (a scan fact names their tests).
    pub(super) assumed_clear: &'a [String],
}

impl Scanning<'_> {
    /// The cache entry of a file's content, made (the file read) if new;
    /// the text when it was read. `first_pass`: counted in the cache's figures.
    pub(super) fn entry(
        &self,
        rel: &str,
        first_pass: bool,
    ) -> Result<(Option<std::sync::Arc<CachedContent>>, Option<String>), Skipped> {
        let cache_id = self.cache.zip(self.set.content_id(rel));
        if let Some(entry) = cache_id.and_then(|(cache, id)| cache.get(&id, first_pass)) {
            return Ok((Some(entry), None));
        }
        let read = self.set.read(rel);
        // The prefilter's verdict is kept with a cache entry; without one the
        // caller asks for it if it needs it (the second pass does not: a
        // whole tree's files were each searched three times, a tenth of
        // the run).
        let entry = cache_id.map(|(cache, id)| {
            let names_lock = read
                .as_ref()
                .map(|sf| self.prefilter.matches(sf.text.as_bytes()))
                .map_err(|s| s.reason.clone());
            cache.insert(id, CachedContent::new(names_lock))
        });
        Ok((entry, Some(read?.text)))
    }

    /// A file of the first pass: scanned in full when it names the lock (its
    /// chunks that do are selected) or every file is (`scan_all`); `None`
    /// when it is left for definition lookups. With it, the file's integer
    /// `#define`s when the run reads them: every file of a tree scanned
    /// whole, else those naming the lock and the shared headers
    /// ([`reads_defines`]).
    pub(super) fn load(
        &self,
        rel: &str,
        parse_all: bool,
        scan_all: bool,
    ) -> Result<(FirstPass, Option<Defines>), Skipped> {
        let (entry, mut text) = self.entry(rel, true)?;
        let names_lock_text = match (&entry, &text) {
            (Some(e), _) => e.names_lock.clone().map_err(|reason| Skipped {
                file: rel.to_string(),
                reason,
            })?,
            (None, Some(t)) => self.prefilter.matches(t.as_bytes()),
            (None, None) => false,
        };
        let defines = if names_lock_text || scan_all || reads_defines(rel) {
            match entry.as_ref().and_then(|e| e.defines.get()) {
                Some(d) => Some(d.clone()),
                None => {
                    if text.is_none() {
                        text = Some(self.set.read(rel)?.text);
                    }
                    let d = std::sync::Arc::new(crate::macro_values::defines(
                        text.as_deref().unwrap_or(""),
                    ));
                    Some(match &entry {
                        Some(e) => e.defines.get_or_init(|| d).clone(),
                        None => d,
                    })
                }
            }
        } else {
            None
        };
        let names_lock = parse_all || names_lock_text;
        if !names_lock && !scan_all {
            // Its definitions are scanned now, while the text is in hand
            // (a whole tree's second reading of 58,000 files was a fifth of
            // the run); kept in the cache entry if there is one.
            let defs_only = |t: &str| std::sync::Arc::new(Scan::new(t, &[], &[], false, None));
            let scan = match (&entry, text) {
                (Some(e), Some(t)) => {
                    let _ = e.defs_only.get_or_init(|| defs_only(&t));
                    None
                }
                (_, t) => t.as_deref().map(defs_only),
            };
            return Ok((FirstPass::Left(scan), defines));
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
                    self.assumed_clear,
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
        Ok((FirstPass::Kept(Box::new(f)), defines))
    }

    /// A file outside the prefilter, indexed by the functions it defines.
    pub(super) fn load_definitions_only(&self, file: &Unloaded) -> Result<LoadedFile, Skipped> {
        let rel = file.rel;
        if let Some(scan) = &file.scan {
            return Ok(LoadedFile::new(
                rel.to_string(),
                false,
                None,
                scan.clone(),
                None,
            ));
        }
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
                let scan = std::sync::Arc::new(Scan::new(&text, &[], &[], false, None));
                match &entry {
                    Some(e) => e.defs_only.get_or_init(|| scan).clone(),
                    None => scan,
                }
            }
        };
        Ok(LoadedFile::new(rel.to_string(), false, None, scan, entry))
    }
}

/// What the first pass made of a file: kept (it names the lock, or every
/// file is scanned), or left for definition lookups ([`Unloaded`]).
pub(super) enum FirstPass {
    Kept(Box<LoadedFile>),
    /// Its definitions-only scan, when the file was read and no scan cache
    /// entry keeps it.
    Left(Option<std::sync::Arc<Scan>>),
}

/// A file the first pass left for definition lookups, with its
/// definitions-only scan if it made one.
pub(super) struct Unloaded<'p> {
    pub(super) rel: &'p str,
    pub(super) scan: Option<std::sync::Arc<Scan>>,
}

/// A file's integer `#define`s ([`crate::macro_values::defines`]).
pub(super) type Defines = std::sync::Arc<Vec<crate::macro_values::Define>>;

/// Whether the run reads the `#define`s of a file it does not otherwise
/// keep: the shared headers (`include/`, `arch/*/include/`), where the
/// flags the analysis tests are defined (and redefined per architecture).
/// Driver-local headers are left out: a whole tree has millions of
/// register defines no bit test of the lock's callers names.
pub(super) fn reads_defines(rel: &str) -> bool {
    let mut parts = rel.split('/');
    match parts.next() {
        Some("include") => true,
        Some("arch") => parts.nth(1) == Some("include"),
        _ => false,
    }
}

/// The files outside the prefilter (`paths`), loaded after the first
/// `first_new` files of the run; from the scan cache when an earlier run had
/// the same files (same paths and contents) at the same position.
pub(super) fn other_files(
    scanning: &Scanning,
    first_new: usize,
    unloaded: &[Unloaded],
) -> std::sync::Arc<OtherFiles> {
    let key = scanning.cache.and_then(|_| {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update((first_new as u64).to_le_bytes());
        for u in unloaded {
            h.update(u.rel.as_bytes());
            h.update([0]);
            h.update(scanning.set.content_id(u.rel)?);
        }
        Some(<[u8; 32]>::from(h.finalize()))
    });
    if let Some(found) = scanning.cache.zip(key).and_then(|(c, k)| c.other_files(&k)) {
        return found;
    }
    let results: Vec<Result<LoadedFile, Skipped>> = unloaded
        .par_iter()
        .map(|u| scanning.load_definitions_only(u))
        .collect();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(f) => files.push(f),
            Err(s) => skipped.push(s),
        }
    }
    let index = std::sync::Arc::new(defs_map(&scans(&files), first_new));
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
/// Chunks, not files, are shared out: one large file (mm/memory.c) would
/// otherwise leave a core idle at the end.
pub(super) fn parse_selected(
    files: &mut [LoadedFile],
    set: &dyn SourceSet,
    cat: &Catalogue,
    cache: Option<&ParseCache>,
    skipped: &mut Vec<Skipped>,
) {
    let wanted = |f: &LoadedFile| (0..f.selected.len()).any(|ci| f.wants_parse(ci));
    // Per file: the parses the scan cache holds, the text, its
    // preprocessor-resolved form.
    let mut errors: Vec<(usize, Skipped)> = files
        .par_iter_mut()
        .enumerate()
        .filter(|(_, f)| f.fresh && wanted(f))
        .filter_map(|(i, f)| {
            if let Some(entry) = &f.cached {
                if let Ok(known) = entry.parsed.lock() {
                    for ci in 0..f.scan.chunks.len() {
                        if f.wants_parse(ci) {
                            f.parsed[ci] = known.get(&ci).cloned();
                        }
                    }
                }
            }
            if !wanted(f) {
                return None;
            }
            if f.text.is_none() {
                match set.read(&f.rel) {
                    Ok(sf) => f.text = Some(sf.text),
                    Err(e) => return Some((i, e)),
                }
            }
            let text = f.text.as_deref().unwrap_or("");
            f.pp_text
                .get_or_insert_with(|| crate::normalize::blank_preprocessor_text(text));
            None
        })
        .collect();
    let failed: std::collections::HashSet<usize> = errors.iter().map(|(i, _)| *i).collect();
    let jobs: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .filter(|(i, f)| f.fresh && f.pp_text.is_some() && !failed.contains(i))
        .flat_map(|(i, f)| {
            (0..f.scan.chunks.len())
                .filter(move |&ci| f.wants_parse(ci))
                .map(move |ci| (i, ci))
        })
        .collect();
    let shared: &[LoadedFile] = files;
    let results: Vec<Result<ParsedChunk, String>> = jobs
        .par_iter()
        .map_init(parse::new_parser, |parser, &(i, ci)| {
            let parser = parser.as_mut().map_err(|e| e.to_string())?;
            let f = &shared[i];
            let pp = f.pp_text.as_deref().unwrap_or("");
            let c = f.scan.chunks[ci];
            let chunk = &pp[c.start..c.end];
            let (prelude, prelude_lines) = super::scan::prelude_len(chunk);
            let chunk = &chunk[prelude..];
            let line_offset = f.scan.line_starts[ci] + prelude_lines;
            match cache {
                Some(cache) => cache
                    .parse(parser, chunk, cat)
                    .map(|fs| (fs, line_offset, chunk.len())),
                None => parse::parse_chunk(parser, chunk, line_offset, cat)
                    .map(|ir| (std::sync::Arc::new(ir.functions), 0, chunk.len())),
            }
            .map_err(|e| format!("failed to parse: {e}"))
        })
        .collect();
    // In chunk order per file: a file's first failure ends its parse (the
    // chunks before it are kept), as when a file was parsed in one go.
    let mut made: Vec<(usize, Vec<(usize, ParsedChunk)>)> = Vec::new();
    let mut stopped: std::collections::HashSet<usize> = std::collections::HashSet::new();
    for (&(i, ci), result) in jobs.iter().zip(results) {
        if stopped.contains(&i) {
            continue;
        }
        match result {
            Ok(p) => {
                files[i].parsed[ci] = Some(p.clone());
                match made.last_mut() {
                    Some((j, chunks)) if *j == i => chunks.push((ci, p)),
                    _ => made.push((i, vec![(ci, p)])),
                }
            }
            Err(reason) => {
                stopped.insert(i);
                errors.push((
                    i,
                    Skipped {
                        file: files[i].rel.clone(),
                        reason,
                    },
                ));
            }
        }
    }
    for (i, chunks) in made {
        if let Some(Ok(mut known)) = files[i].cached.as_ref().map(|e| e.parsed.lock()) {
            known.extend(chunks);
        }
    }
    errors.sort_by_key(|(i, _)| *i);
    skipped.extend(errors.into_iter().map(|(_, e)| e));
}

/// The scans of `files`, for indexing.
pub(super) fn scans(files: &[LoadedFile]) -> Vec<&Scan> {
    files.iter().map(|f| &*f.scan).collect()
}
