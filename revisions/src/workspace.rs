//! One run over revisions of one repository: blobs, parses and analyses are
//! shared between the revisions it looks at.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use git2::{Oid, Repository};
use mmstall_analyzer::source::Skipped;
use mmstall_analyzer::{Catalogue, LintOptions, ParseCache, Report, ScanCache};
use serde::Serialize;

use crate::compare::{compare, FindingsDiff};
use crate::error::RevisionsError;
use crate::git::{self, BlobStore, BlobTree, PathFilter};

/// The findings of one tree.
#[derive(Debug, Serialize)]
pub struct Analysis {
    #[serde(serialize_with = "ser_oid")]
    pub tree: Oid,
    pub report: Report,
    /// Sources of the files findings point into, for printers that show code.
    #[serde(skip)]
    pub sources: HashMap<String, String>,
    /// Files analyzed and their blob ids.
    #[serde(skip)]
    pub files: BTreeMap<String, Oid>,
    /// Selected files (directories) whose blob (tree) is not in the object
    /// database (also in `report.skipped`): a repository problem the user is
    /// warned about.
    #[serde(skip)]
    pub missing: Vec<Skipped>,
    pub timing: Timing,
}

/// Where the time of one analysis went, and how much the caches saved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    /// Listing the tree and reading the blobs not read before.
    pub load_ms: u64,
    /// The analyzer's run.
    pub analyze_ms: u64,
    /// Chunks whose parse came from the shared cache / were parsed.
    pub parse_hits: usize,
    pub parse_misses: usize,
    /// Files whose content an earlier tree had: not read or scanned again
    /// (their parsed chunks are reused too) / files read and scanned.
    pub files_from_cache: usize,
    pub files_scanned: usize,
    /// Function summaries taken from earlier analyses (their functions reach
    /// nothing that changed) / computed.
    pub summaries_reused: usize,
    pub summaries_computed: usize,
    /// The same set of files was analyzed before: nothing was redone.
    pub reused: bool,
    /// CPU time of the whole process (all threads) during load and analysis,
    /// when known (Linux): unlike wall time, not inflated by a busy machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`).
fn process_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let (utime, stime): (u64, u64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // Clock ticks are 100 per second on every Linux configuration in use.
    Some((utime + stime) * 10)
}

pub(crate) fn ser_oid<S: serde::Serializer>(oid: &Oid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&oid.to_string())
}

pub struct Workspace {
    repo: Repository,
    catalogue: Catalogue,
    filter: PathFilter,
    parse_cache: Arc<ParseCache>,
    scan_cache: Arc<ScanCache>,
    blobs: BlobStore,
    analyses: HashMap<Vec<(String, Oid)>, Arc<Analysis>>,
}

impl Workspace {
    pub fn open(
        repo: &Path,
        catalogue: Catalogue,
        filter: PathFilter,
    ) -> Result<Workspace, RevisionsError> {
        // libgit2 re-hashes (SHA-1 with collision detection) every object it
        // reads; git itself does not. On a whole kernel tree that is a large
        // part of the time spent reading blobs. Process-wide.
        git2::opts::strict_hash_verification(false);
        Workspace::with_repo(git::open_repo(repo)?, catalogue, filter)
    }

    /// Objects the run writes (blobs and trees of patched revisions) go to an
    /// in-memory backend of this handle, and objects the repository has are
    /// never written again (`mmstall_series` looks first: libgit2 would
    /// touch their files): the repository on disk, and any repository it
    /// borrows objects from (alternates), get nothing, not even an mtime.
    pub fn with_repo(
        repo: Repository,
        catalogue: Catalogue,
        filter: PathFilter,
    ) -> Result<Workspace, RevisionsError> {
        // Highest priority: libgit2 writes to the first writable backend.
        // Without it objects would go to disk: an error, not a fallback.
        repo.odb()
            .and_then(|odb| odb.add_new_mempack_backend(1000).map(|_| ()))
            .map_err(|error| RevisionsError::InMemoryBackend { error })?;
        Ok(Workspace {
            repo,
            catalogue,
            filter,
            parse_cache: Arc::new(ParseCache::default()),
            scan_cache: Arc::new(ScanCache::default()),
            blobs: BlobStore::default(),
            analyses: HashMap::new(),
        })
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    pub fn filter(&self) -> &PathFilter {
        &self.filter
    }

    /// The tree a revision names; the error names the revision.
    pub fn resolve(&self, rev: &str) -> Result<Oid, RevisionsError> {
        git::resolve_tree(&self.repo, rev)
    }

    /// An error when path prefixes were given and select no file in any of
    /// the analyzed revisions.
    pub fn check_selected(&self, analyses: &[(&str, &Analysis)]) -> Result<(), RevisionsError> {
        if self.filter.prefixes().is_empty() || analyses.iter().any(|(_, a)| !a.files.is_empty()) {
            return Ok(());
        }
        Err(RevisionsError::NothingSelected {
            paths: self.filter.prefixes().to_vec(),
            revs: analyses.iter().map(|(r, _)| r.to_string()).collect(),
        })
    }

    /// Reads the selected files of a tree (blobs already read are shared).
    pub fn load(&self, tree: Oid) -> Result<BlobTree, RevisionsError> {
        self.blobs.load_tree(&self.repo, tree, &self.filter)
    }

    /// Analyzes a tree. A tree whose selected files are those of a tree
    /// analyzed before (same paths, same blobs) gets that analysis back.
    pub fn analyze(&mut self, tree: Oid) -> Result<Arc<Analysis>, RevisionsError> {
        let t0 = Instant::now();
        let cpu0 = process_cpu_ms();
        let set = self.load(tree)?;
        let load_ms = t0.elapsed().as_millis() as u64;
        let key = set.key();
        if let Some(done) = self.analyses.get(&key) {
            let mut timing = done.timing.clone();
            timing.reused = true;
            timing.load_ms = load_ms;
            timing.analyze_ms = 0;
            timing.cpu_ms = None;
            return Ok(Arc::new(Analysis {
                tree,
                report: done.report.clone(),
                sources: done.sources.clone(),
                files: done.files.clone(),
                missing: done.missing.clone(),
                timing,
            }));
        }
        let (hits, misses) = (self.parse_cache.hits(), self.parse_cache.misses());
        let (scan_hits, scan_misses) = (self.scan_cache.hits(), self.scan_cache.misses());
        let summaries = &self.scan_cache.summaries;
        let (reused, computed) = (summaries.reused(), summaries.computed());
        let t1 = Instant::now();
        let options = LintOptions {
            parse_all: false,
            parse_cache: Some(self.parse_cache.clone()),
            scan_cache: Some(self.scan_cache.clone()),
            whole_scan_limit: None,
            pull_rounds: None,
            ..LintOptions::default()
        };
        let mut run = mmstall_analyzer::lint_set(&set, &self.catalogue, &options);
        let missing = set.missing_skips();
        if !missing.is_empty() {
            run.report.skipped.extend(missing.iter().cloned());
            run.report.skipped.sort_by(|a, b| a.file.cmp(&b.file));
        }
        let timing = Timing {
            load_ms,
            analyze_ms: t1.elapsed().as_millis() as u64,
            parse_hits: self.parse_cache.hits() - hits,
            parse_misses: self.parse_cache.misses() - misses,
            files_from_cache: self.scan_cache.hits() - scan_hits,
            files_scanned: self.scan_cache.misses() - scan_misses,
            summaries_reused: summaries.reused() - reused,
            summaries_computed: summaries.computed() - computed,
            reused: false,
            cpu_ms: cpu0.zip(process_cpu_ms()).map(|(a, b)| b.saturating_sub(a)),
        };
        let analysis = Arc::new(Analysis {
            tree,
            report: run.report,
            sources: run.sources,
            files: key.iter().cloned().collect(),
            missing,
            timing,
        });
        self.analyses.insert(key, analysis.clone());
        Ok(analysis)
    }
}

/// `mmstall diff`: OLD and NEW analyzed, findings matched by fingerprint.
#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub old_rev: String,
    pub new_rev: String,
    /// Path prefixes the run was restricted to (empty: the whole tree).
    pub paths: Vec<String>,
    /// Selected files whose content differs (added, removed or modified).
    pub changed_files: Vec<String>,
    #[serde(flatten)]
    pub diff: FindingsDiff,
    #[serde(skip)]
    pub old: Arc<Analysis>,
    #[serde(skip)]
    pub new: Arc<Analysis>,
}

impl DiffReport {
    pub fn introduced_anything(&self) -> bool {
        !self.diff.introduced.is_empty()
    }

    /// Files (and directories) left out of either side because their blob
    /// (tree) is missing.
    pub fn missing_blobs(&self) -> Vec<Skipped> {
        union_of_skipped([&self.old.missing, &self.new.missing])
    }
}

/// The skipped files of several analyses, each once, sorted by file.
pub(crate) fn union_of_skipped<'a>(
    lists: impl IntoIterator<Item = &'a Vec<Skipped>>,
) -> Vec<Skipped> {
    let mut all: Vec<Skipped> = lists.into_iter().flatten().cloned().collect();
    all.sort_by(|a, b| (&a.file, &a.reason).cmp(&(&b.file, &b.reason)));
    all.dedup();
    all
}

pub fn diff_revisions(
    ws: &mut Workspace,
    old_rev: &str,
    new_rev: &str,
) -> Result<DiffReport, RevisionsError> {
    let old_tree = ws.resolve(old_rev)?;
    let new_tree = ws.resolve(new_rev)?;
    let old = ws.analyze(old_tree)?;
    let new = ws.analyze(new_tree)?;
    ws.check_selected(&[(old_rev, &old), (new_rev, &new)])?;
    let diff = compare(&old.report.findings, &new.report.findings);
    Ok(DiffReport {
        old_rev: old_rev.to_string(),
        new_rev: new_rev.to_string(),
        paths: ws.filter().prefixes().to_vec(),
        changed_files: changed_files(&old.files, &new.files),
        diff,
        old,
        new,
    })
}

pub(crate) fn changed_files(
    old: &BTreeMap<String, Oid>,
    new: &BTreeMap<String, Oid>,
) -> Vec<String> {
    let mut out: Vec<String> = old
        .iter()
        .filter(|(p, o)| new.get(*p) != Some(o))
        .map(|(p, _)| p.clone())
        .chain(new.keys().filter(|p| !old.contains_key(*p)).cloned())
        .collect();
    out.sort();
    out
}
