//! `mmstall nightly`, `mmstall report`, `mmstall merge`: the CI bot that tests
//! posted patch series overnight. See docs/nightly.md.
//!
//! - [`plan`]: the plan file (kernels, config sets, series) and its jobs.
//! - [`exec`]: how steps run (the `mmstall` subcommands and git as
//!   subprocesses; tests plug in their own [`exec::Executor`]).
//! - [`pipeline`]: the jobs, their verdicts, append-only results.
//! - [`reports`]: Markdown, JUnit XML, KCIDB-style JSON, SARIF.
//! - [`history`]: the trend plot and the findings-over-time table.
//! - [`emit`]: GitHub Actions matrix and Kubernetes Jobs.
//! - [`merge()`]: per-job result directories combined into one.

mod clock;
pub mod emit;
pub mod exec;
pub mod history;
mod merge;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod reports;

pub use clock::{civil_date, today, valid_night};
pub use merge::merge;
