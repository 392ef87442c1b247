//! The pull-round loop: parse what is selected, place it, analyze the
//! program and run the rules; while the analysis reached callees under a
//! write hold that have no definition, pull their definitions in (indexing
//! the files outside the prefilter on the first need) and go again.

use crate::catalogue::HashSet;
use std::time::Instant;

use super::files::{self, LoadedFile, Scanning, Unloaded};
use super::name_index::NameIndex;
use super::selection;
use super::shards::{self, Inputs, ShardedRun};
use super::{LintOptions, MAX_PULL_ROUNDS};
use crate::catalogue::Catalogue;
use crate::finding::Finding;
use crate::ir::Function;
use crate::progress::Stage;
use crate::source::{Skipped, SourceSet};
use crate::summary_store::SummaryStore;

/// Timings on stderr when `MMSTALL_TRACE` is set.
#[derive(Clone, Copy)]
pub(super) struct Trace {
    pub(super) on: bool,
}

impl Trace {
    pub(super) fn from_env() -> Trace {
        Trace {
            on: std::env::var_os("MMSTALL_TRACE").is_some(),
        }
    }

    pub(super) fn time(&self, what: &str, since: Instant) {
        if self.on {
            eprintln!("{what}: {:?}", since.elapsed());
        }
    }
}

/// What every round works with.
pub(super) struct Rounds<'a> {
    pub(super) set: &'a dyn SourceSet,
    pub(super) cat: &'a Catalogue,
    pub(super) options: &'a LintOptions,
    pub(super) scanning: &'a Scanning<'a>,
    pub(super) summaries: &'a SummaryStore,
    /// Functions given the fault handlers' entry contract.
    pub(super) handlers: super::handlers::Handlers,
    pub(super) rmap_callbacks: Vec<String>,
    /// Names whose chunks can reach a long operation, lexically.
    pub(super) reach_long: HashSet<String>,
    /// The values of the tree's `#define`s, the same for every round.
    pub(super) macros: &'a crate::macro_values::MacroTable,
    pub(super) trace: Trace,
}

/// Analysis threads per round: past a few, the threads mostly compute
/// the same shared callees before one of them has stored them.
const MAX_ANALYSIS_THREADS: usize = 4;

impl Rounds<'_> {
    fn max_rounds(&self) -> usize {
        self.options.pull_rounds.unwrap_or(MAX_PULL_ROUNDS).max(1)
    }

    /// Runs rounds until nothing is missing, nothing more can be pulled in,
    /// or the round limit; the last round's findings and cut notes.
    pub(super) fn run(
        &self,
        files: &mut Vec<LoadedFile>,
        index: &mut NameIndex,
        unloaded: &mut Vec<Unloaded>,
        skipped: &mut Vec<Skipped>,
    ) -> (Vec<Finding>, Vec<Skipped>) {
        let mut round = 0;
        let mut rels: std::sync::Arc<Vec<String>> = Default::default();
        loop {
            round += 1;
            let t0 = Instant::now();
            let marked = selection::mark_analyzed(
                files,
                index,
                &|name| {
                    self.handlers.contains(name) || self.rmap_callbacks.iter().any(|r| r == name)
                },
                self.cat,
                self.options.parse_all,
            );
            if self.trace.on {
                eprintln!(
                    "round {round}: of {} selected chunks, {} may hold the lock, {} with their callers, {} with their callees: parsed",
                    marked.selected, marked.roots, marked.with_callers, marked.analyzed
                );
            }
            let selected = files.iter().filter(|f| f.has_analyzed()).count();
            self.options
                .progress
                .report(Stage::Parsing { files: selected });
            files::parse_selected(
                files,
                self.set,
                self.cat,
                self.options.parse_cache.as_deref(),
                skipped,
            );
            let t_parse = t0.elapsed();
            if rels.len() != files.len() {
                rels = std::sync::Arc::new(files.iter().map(|p| p.rel.clone()).collect());
            }
            // Functions are placed in their file once per run (lines, file
            // index, entry contract) and shared by every round's program.
            for (i, f) in files.iter_mut().enumerate() {
                f.place(i as u32, &self.handlers, self.cat);
            }
            let functions: Vec<std::sync::Arc<Function>> = files
                .iter()
                .filter(|f| f.has_placed)
                .flat_map(|f| f.placed.iter().flatten().flatten().cloned())
                .collect();
            let (reused, computed) = (self.summaries.reused(), self.summaries.computed());
            self.options.progress.report(Stage::Analysis {
                round,
                rounds: self.max_rounds(),
            });
            let analyzed = self.analyze(rels.clone(), functions);
            if self.trace.on {
                for (groups, analyses, depth) in &analyzed.cycle_figures {
                    let (groups, largest, members) = groups;
                    eprintln!("  cycle groups {groups} (largest {largest}, {members} functions), {analyses} analyses inside cycles, entry depth {depth}");
                }
                eprintln!(
                    "round {round}: parse {:?}, analysis {:?} on {} threads, {} functions, {} unresolved under write, summaries {} reused {} computed, {} depth cuts",
                    t_parse,
                    t0.elapsed() - t_parse,
                    analyzed.threads,
                    analyzed.function_count,
                    analyzed.missing.len(),
                    self.summaries.reused() - reused,
                    self.summaries.computed() - computed,
                    analyzed.depth_cuts,
                );
            }
            let missing = analyzed.missing;
            if missing.is_empty() || round >= self.max_rounds() {
                return (analyzed.findings, analyzed.cut_notes);
            }
            if !unloaded.is_empty() {
                self.index_other_files(files, index, unloaded, skipped);
            }
            // Pull the wanted definitions of the missing callees, and lexically
            // the wanted callees of what is pulled, so few rounds are needed.
            if !selection::pull_missing(files, index, &missing, &self.reach_long) {
                return (analyzed.findings, analyzed.cut_notes);
            }
            selection::select_long_reaching_callees(files, index, &self.reach_long, self.cat);
        }
    }

    /// Builds the round's program and runs the rules over it, on as many
    /// threads as the run's pool has (at most [`MAX_ANALYSIS_THREADS`]).
    fn analyze(
        &self,
        rels: std::sync::Arc<Vec<String>>,
        functions: Vec<std::sync::Arc<Function>>,
    ) -> ShardedRun {
        let threads = self
            .options
            .analysis_threads
            .or_else(|| {
                std::env::var("MMSTALL_ANALYSIS_THREADS")
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
            })
            .unwrap_or_else(rayon::current_num_threads)
            .clamp(1, MAX_ANALYSIS_THREADS);
        shards::run(
            &Inputs {
                cat: self.cat,
                files: rels,
                functions,
                store: self.summaries,
                macros: self.macros,
                rmap_callbacks: &self.rmap_callbacks,
                trace: self.trace.on,
            },
            threads,
        )
    }

    /// First lookup outside the files naming the lock: indexes the rest once.
    fn index_other_files(
        &self,
        files: &mut Vec<LoadedFile>,
        index: &mut NameIndex,
        unloaded: &mut Vec<Unloaded>,
        skipped: &mut Vec<Skipped>,
    ) {
        let first_new = files.len();
        let t = Instant::now();
        let others = files::other_files(self.scanning, first_new, unloaded);
        unloaded.clear();
        files.extend(others.files.iter().map(|(rel, scan, cached)| {
            LoadedFile::new(rel.clone(), false, None, scan.clone(), cached.clone())
        }));
        skipped.extend(others.skipped.iter().cloned());
        index.attach(others.index.clone());
        self.trace.time("definitions of the other files", t);
        if self.trace.on {
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
}
