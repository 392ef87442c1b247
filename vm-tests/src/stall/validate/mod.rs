//! `mmstall vm validate`: proof that each stall test has teeth.
//!
//! Builds the baseline kernel and one kernel per regression series of
//! patches/manifest.toml (incrementally, through [`crate::build`]), boots each
//! with virtme-ng, runs the guest suite (`mmstall-guest suite`) `runs` times,
//! and checks every expectation of the manifest: the verdict of a test on
//! the baseline and on its regression kernel, in every run. Prints the
//! validation table (test × kernel, with the measured ratios) and writes
//! `validation.json`.
//!
//! Stages, one file each: [`plan`] (series, base tree, the kernels to build
//! and the tests each runs) → [`run`] (build, boot, the guest suite, its
//! KTAP and JSON read back) → [`report`] (expectations checked, spreads,
//! tables, the printed text). [`validate`] strings them together; a failure
//! that stops it is a [`ValidateError`], which carries the CLI's exit code.

mod model;
mod plan;
mod report;
mod run;

pub use model::{Check, KernelResult, Options, SuiteRun, ValidateError, Validation, VariantSpread};
pub use plan::{config_label, kernel_name};
pub use report::{checks, render, spread_table, spreads, table, word};
pub use run::{guest_script, suite_run_from};

use crate::cache::Cache;
use crate::stall::analyzer_diff::{self, AnalyzerCheck, AnalyzerStatus};

/// Runs the whole validation. Errors: the manifest, the guest binary, a
/// build (named by series). Test failures are in the result (`ok`).
pub fn validate(o: &Options, cache: &Cache) -> Result<Validation, ValidateError> {
    let series = plan::select_series(o)?;
    if !o.guest.is_file() {
        return Err(ValidateError::Input(format!(
            "guest program {} not found: build it with `cargo build --release -p mmstall-guest` (or pass --guest)",
            o.guest.display()
        )));
    }
    let (base, tree) = plan::base_tree(o, &series)?;
    std::fs::create_dir_all(&o.out)
        .map_err(|e| ValidateError::Infra(format!("creating {}: {e}", o.out.display())))?;
    let mut kernels = Vec::new();
    for planned in plan::plan(o, &series) {
        kernels.push(run::build_and_run(o, cache, &tree, &base, planned)?);
    }
    let checks = checks(&series, &kernels, &o.config);
    let spreads = spreads(&kernels);
    let analyzer = match &o.lint {
        Some(lint) => analyzer_checks(o, cache, &tree, &base, &series, lint)?,
        None => Vec::new(),
    };
    let ok = checks.iter().all(|c| c.ok)
        && !analyzer.iter().any(|a| a.status == AnalyzerStatus::Missing);
    let v = Validation {
        version: 1,
        manifest: o.manifest.clone(),
        kernels,
        checks,
        spreads,
        analyzer,
        ok,
    };
    let path = o.out.join("validation.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&v).expect("serializes") + "\n",
    )
    .map_err(|e| ValidateError::Infra(format!("writing {}: {e}", path.display())))?;
    Ok(v)
}

/// The static analyzer over each series that names an `analyzer_rule`.
fn analyzer_checks(
    o: &Options,
    cache: &Cache,
    tree: &crate::tree::TreeSpec,
    base: &str,
    series: &[crate::stall::manifest::Series],
    lint: &std::path::Path,
) -> Result<Vec<AnalyzerCheck>, ValidateError> {
    let origin = crate::tree::resolve(tree, cache)
        .map_err(|e| ValidateError::Infra(format!("base {base}: {e}")))?
        .origin;
    let mut analyzer = Vec::new();
    for s in series {
        if let Some(rule) = &s.analyzer_rule {
            eprintln!(
                "vm validate: analyzer diff over series {} (expects a new {rule})",
                s.name
            );
            let c = analyzer_diff::check(
                &s.name,
                rule,
                &s.path,
                &origin,
                lint,
                &o.out.join(format!("analyzer-{}", s.name)),
            );
            analyzer.push(c);
        }
    }
    Ok(analyzer)
}

#[cfg(test)]
mod tests;
