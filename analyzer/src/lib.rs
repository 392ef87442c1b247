//! mmstall analyzer: finds mmap_lock write holds across long operations in
//! Linux kernel trees. Stages, one module each:
//! source discovery → normalization → parse (tree-sitter-c) → CFG → lock
//! states (dataflow) → interprocedural summaries → rules → printers.

pub mod baseline;
pub mod callgraph;
pub mod catalogue;
pub mod cfg;
pub mod chain;
pub mod error;
pub mod finding;
pub mod fresh;
pub mod ir;
pub mod limits;
pub mod lockstate;
pub mod normalize;
pub mod parse;
pub mod printers;
pub mod progress;
pub mod rules;
pub mod run;
pub mod settings;
pub mod source;
pub mod summary;
pub mod summary_store;

pub use catalogue::Catalogue;
pub use finding::{Finding, Report, Stats};
pub use run::{lint_path, lint_set, LintOptions, LintRun, ParseCache, ScanCache};
pub use source::{FsTree, MemoryTree, SourceSet};
