//! mmstall analyzer: finds mmap_lock write holds across long operations in
//! Linux kernel trees. Stages, one module each:
//! source discovery → normalization → parse (tree-sitter-c) → CFG → lock
//! states (dataflow) → interprocedural summaries → rules → printers.
//!
//! The face of the crate (what the CLI, `revisions` and `nightly` use) is
//! re-exported here: a run ([`lint_path`], [`lint_set`], [`LintOptions`]),
//! its inputs ([`Catalogue`], [`SourceSet`]), its results ([`Report`],
//! [`Finding`]), the rules and the printers. The stage modules stay public
//! for the tests and examples that exercise one stage; the analysis's
//! internals (IR, lock states, call graph, summaries) are private.

// The stages a caller (or a stage's own tests) may use on their own.
pub mod baseline;
pub mod catalogue;
mod catalogue_facts;
pub mod normalize;
pub mod parse;
pub mod printers;
pub mod progress;
pub mod rules;
pub mod source;

// Plumbing and the analysis's internals.
mod callgraph;
mod cfg;
mod chain;
mod error;
mod field_reads;
mod field_values;
mod finding;
mod fresh;
mod ir;
mod limits;
mod lockstate;
mod macro_values;
mod run;
mod settings;
mod summary;
mod summary_store;
mod symbolic;
mod user_catalogue;

pub use baseline::Baseline;
pub use catalogue::Catalogue;
pub use error::AnalyzerError;
pub use finding::{Finding, Location, Measured, Report, Stats};
pub use printers::{Output, Printer};
pub use progress::{Progress, Stage};
pub use rules::Rule;
pub use run::{lint_path, lint_paths, lint_set, LintOptions, LintRun, ParseCache, ScanCache};
pub use settings::{RuleConfig, Severity};
pub use source::{ContentId, FsTree, MemoryTree, Skipped, SourceFile, SourceSet};
