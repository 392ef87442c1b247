//! The pull-round loop: parse what is selected, place it, analyze the
//! program and run the rules; while the analysis reached callees under a
//! write hold that have no definition, pull their definitions in (indexing
//! the files outside the prefilter on the first need) and go again.

use std::collections::HashSet;
use std::time::Instant;

use super::files::{self, LoadedFile, Scanning};
use super::name_index::NameIndex;
use super::selection;
use super::{LintOptions, MAX_PULL_ROUNDS};
use crate::catalogue::Catalogue;
use crate::finding::Finding;
use crate::ir::Function;
use crate::progress::Stage;
use crate::rules::Designated;
use crate::source::{Skipped, SourceSet};
use crate::summary::Program;
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

/// One round's analysis: the findings and cut notes, the callees reached
/// under a write hold without a definition, and figures for traces.
struct Analyzed {
    findings: (Vec<Finding>, Vec<Skipped>),
    missing: std::collections::BTreeSet<String>,
    function_count: usize,
    depth_cuts: usize,
    t_program: std::time::Duration,
}

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
        unloaded: &mut Vec<&str>,
        skipped: &mut Vec<Skipped>,
    ) -> (Vec<Finding>, Vec<Skipped>) {
        let mut round = 0;
        let mut rels: std::sync::Arc<Vec<String>> = Default::default();
        loop {
            round += 1;
            let t0 = Instant::now();
            let selected = files.iter().filter(|f| f.selected.contains(&true)).count();
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
            let analyzed =
                super::analyze_program(|| self.analyze(rels.clone(), functions, t0, t_parse));
            if self.trace.on {
                eprintln!(
                    "round {round}: parse {:?}, program {:?}, analysis {:?}, {} functions, {} unresolved under write, summaries {} reused {} computed, {} depth cuts",
                    t_parse,
                    analyzed.t_program,
                    t0.elapsed() - t_parse - analyzed.t_program,
                    analyzed.function_count,
                    analyzed.missing.len(),
                    self.summaries.reused() - reused,
                    self.summaries.computed() - computed,
                    analyzed.depth_cuts,
                );
            }
            let missing = analyzed.missing;
            if missing.is_empty() || round >= self.max_rounds() {
                return analyzed.findings;
            }
            if !unloaded.is_empty() {
                self.index_other_files(files, index, unloaded, skipped);
            }
            // Pull the wanted definitions of the missing callees, and lexically
            // the wanted callees of what is pulled, so few rounds are needed.
            if !selection::pull_missing(files, index, &missing, &self.reach_long) {
                return analyzed.findings;
            }
            selection::select_long_reaching_callees(files, index, &self.reach_long, self.cat);
        }
    }

    /// Builds the round's program and runs the rules over it (on the
    /// analysis thread).
    fn analyze(
        &self,
        rels: std::sync::Arc<Vec<String>>,
        functions: Vec<std::sync::Arc<Function>>,
        t0: Instant,
        t_parse: std::time::Duration,
    ) -> Analyzed {
        let program = Program::new(self.cat, rels, functions, self.summaries, self.macros);
        let t_program = t0.elapsed() - t_parse;
        let findings = crate::rules::run(
            &program,
            &Designated {
                rmap_callbacks: &self.rmap_callbacks,
            },
        );
        let cut = super::cut_notes(&program);
        let missing = program.unresolved_under_write.borrow().clone();
        if self.trace.on {
            let (groups, largest, members) = program.cycle_group_sizes();
            eprintln!("  cycle groups {groups} (largest {largest}, {members} functions), {} analyses inside cycles, entry depth {}", program.cycle_analyses.get(), program.max_entry_depth.get());
        }
        Analyzed {
            findings: (findings, cut),
            missing,
            function_count: program.functions.len(),
            depth_cuts: program.depth_cuts.get(),
            t_program,
        }
    }

    /// First lookup outside the files naming the lock: indexes the rest once.
    fn index_other_files(
        &self,
        files: &mut Vec<LoadedFile>,
        index: &mut NameIndex,
        unloaded: &mut Vec<&str>,
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
