//! One run over revisions of one repository: blobs, parses and analyses are
//! shared between the revisions it looks at.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use git2::{Oid, Repository};
use mmstall_analyzer::{Catalogue, LintOptions, ParseCache, Report};
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
    /// The same set of files was analyzed before: nothing was redone.
    pub reused: bool,
}

pub(crate) fn ser_oid<S: serde::Serializer>(oid: &Oid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&oid.to_string())
}

pub struct Workspace {
    repo: Repository,
    catalogue: Catalogue,
    filter: PathFilter,
    parse_cache: Arc<ParseCache>,
    blobs: BlobStore,
    analyses: HashMap<Vec<(String, Oid)>, Arc<Analysis>>,
}

impl Workspace {
    pub fn open(repo: &Path, catalogue: Catalogue, filter: PathFilter) -> Result<Workspace, RevisionsError> {
        Ok(Workspace::with_repo(git::open_repo(repo)?, catalogue, filter))
    }

    pub fn with_repo(repo: Repository, catalogue: Catalogue, filter: PathFilter) -> Workspace {
        Workspace {
            repo,
            catalogue,
            filter,
            parse_cache: Arc::new(ParseCache::default()),
            blobs: BlobStore::default(),
            analyses: HashMap::new(),
        }
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

    /// Reads the selected files of a tree (blobs already read are shared).
    pub fn load(&self, tree: Oid) -> Result<BlobTree, RevisionsError> {
        self.blobs.load_tree(&self.repo, tree, &self.filter)
    }

    /// Analyzes a tree. A tree whose selected files are those of a tree
    /// analyzed before (same paths, same blobs) gets that analysis back.
    pub fn analyze(&mut self, tree: Oid) -> Result<Arc<Analysis>, RevisionsError> {
        let t0 = Instant::now();
        let set = self.load(tree)?;
        let load_ms = t0.elapsed().as_millis() as u64;
        let key = set.key();
        if let Some(done) = self.analyses.get(&key) {
            let mut timing = done.timing.clone();
            timing.reused = true;
            timing.load_ms = load_ms;
            return Ok(Arc::new(Analysis {
                tree,
                report: done.report.clone(),
                sources: done.sources.clone(),
                files: done.files.clone(),
                timing,
            }));
        }
        let (hits, misses) = (self.parse_cache.hits(), self.parse_cache.misses());
        let t1 = Instant::now();
        let options = LintOptions { parse_all: false, parse_cache: Some(self.parse_cache.clone()) };
        let run = mmstall_analyzer::lint_set(&set, &self.catalogue, &options);
        let timing = Timing {
            load_ms,
            analyze_ms: t1.elapsed().as_millis() as u64,
            parse_hits: self.parse_cache.hits() - hits,
            parse_misses: self.parse_cache.misses() - misses,
            reused: false,
        };
        let analysis = Arc::new(Analysis {
            tree,
            report: run.report,
            sources: run.sources,
            files: key.iter().cloned().collect(),
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
}

pub fn diff_revisions(ws: &mut Workspace, old_rev: &str, new_rev: &str) -> Result<DiffReport, RevisionsError> {
    let old_tree = ws.resolve(old_rev)?;
    let new_tree = ws.resolve(new_rev)?;
    let old = ws.analyze(old_tree)?;
    let new = ws.analyze(new_tree)?;
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

pub(crate) fn changed_files(old: &BTreeMap<String, Oid>, new: &BTreeMap<String, Oid>) -> Vec<String> {
    let mut out: Vec<String> = old
        .iter()
        .filter(|(p, o)| new.get(*p) != Some(o))
        .map(|(p, _)| p.clone())
        .chain(new.keys().filter(|p| !old.contains_key(*p)).cloned())
        .collect();
    out.sort();
    out
}
