//! What a validation builds and runs: the series it covers, their common
//! base tree, and per config (the default first) the baseline and each
//! series with an expectation on that config, with the tests to run there.

use super::model::{Options, ValidateError};
use crate::stall::manifest::{Expect, Manifest, Series};
use crate::tree::TreeSpec;
use std::path::PathBuf;

/// The label of a config other than the validation's default (`@label` is
/// appended to the kernel names built with it): the fragments it adds, or
/// the whole list. None for the default config.
pub fn config_label(default: &str, config: Option<&str>) -> Option<String> {
    let config = config?;
    let norm = |c: &str| {
        c.split(',')
            .map(|f| f.trim().to_string())
            .collect::<Vec<_>>()
    };
    let (d, c) = (norm(default), norm(config));
    if d == c {
        return None;
    }
    let added: Vec<String> = c.iter().filter(|f| !d.contains(f)).cloned().collect();
    Some(if added.is_empty() || c.len() != d.len() + added.len() {
        c.join("+")
    } else {
        added.join("+")
    })
}

/// A kernel's name in the table: the series (or `baseline`), `@config` when
/// built with another config than the default.
pub fn kernel_name(name: &str, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{name}@{l}"),
        None => name.to_string(),
    }
}

/// The manifest's series, or those `--series` names (each must exist).
pub(super) fn select_series(o: &Options) -> Result<Vec<Series>, ValidateError> {
    let manifest = Manifest::load(&o.manifest).map_err(|e| ValidateError::Input(e.to_string()))?;
    match &o.only {
        None => Ok(manifest.series.clone()),
        Some(names) => {
            for n in names {
                if !manifest.series.iter().any(|s| &s.name == n) {
                    return Err(ValidateError::Input(format!(
                        "--series {n}: not in {}",
                        o.manifest.display()
                    )));
                }
            }
            Ok(manifest
                .series
                .iter()
                .filter(|s| names.contains(&s.name))
                .cloned()
                .collect())
        }
    }
}

/// The one base tree of the series (`debian:6.12` when there are none).
pub(super) fn base_tree(
    o: &Options,
    series: &[Series],
) -> Result<(String, TreeSpec), ValidateError> {
    let bases: std::collections::BTreeSet<&str> = series.iter().map(|s| s.base.as_str()).collect();
    if bases.len() > 1 {
        return Err(ValidateError::Input(format!(
            "{}: the series have different bases ({:?}); validate one base at a time with --series",
            o.manifest.display(),
            bases
        )));
    }
    let base = bases
        .into_iter()
        .next()
        .unwrap_or("debian:6.12")
        .to_string();
    // Exit 3 as before the typed error (the CLI classified by message).
    let tree =
        TreeSpec::parse(&base).map_err(|e| ValidateError::Infra(format!("base {base}: {e}")))?;
    Ok((base, tree))
}

/// One kernel to build and run the suite on.
pub(super) struct Planned {
    /// `baseline` or the series, `@label` for another config.
    pub name: String,
    pub series: Option<PathBuf>,
    pub runs: u32,
    pub config: String,
    /// Kernels of another config run only the tests expected there.
    pub tests: Option<Vec<String>>,
}

/// Kernels to build and run: per config (the default first), the baseline
/// and each series with an expectation on that config.
pub(super) fn plan(o: &Options, series: &[Series]) -> Vec<Planned> {
    let mut configs: Vec<Option<String>> = vec![None];
    for e in series.iter().flat_map(|s| &s.expect) {
        let c = e
            .config
            .clone()
            .filter(|c| config_label(&o.config, Some(c)).is_some());
        if !configs.contains(&c) {
            configs.push(c);
        }
    }
    let mut plan: Vec<Planned> = Vec::new();
    for c in &configs {
        let label = config_label(&o.config, c.as_deref());
        let on_c = |e: &&Expect| config_label(&o.config, e.config.as_deref()) == label;
        let mut tests: Vec<String> = Vec::new();
        for e in series.iter().flat_map(|s| s.expect.iter().filter(on_c)) {
            if !tests.contains(&e.test) {
                tests.push(e.test.clone());
            }
        }
        let config = c.clone().unwrap_or_else(|| o.config.clone());
        let tests = label.is_some().then_some(tests);
        plan.push(Planned {
            name: kernel_name("baseline", label.as_deref()),
            series: None,
            runs: o.baseline_runs,
            config: config.clone(),
            tests: tests.clone(),
        });
        for s in series.iter().filter(|s| s.expect.iter().any(|e| on_c(&e))) {
            plan.push(Planned {
                name: kernel_name(&s.name, label.as_deref()),
                series: Some(s.path.clone()),
                runs: o.runs,
                config: config.clone(),
                tests: tests.clone(),
            });
        }
    }
    plan
}
