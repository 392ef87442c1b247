//! `mmstall merge`: per-job result directories (one runner each) combined
//! into one, with its reports.

use crate::{model, pipeline, reports};
use std::path::{Path, PathBuf};

/// Combines per-job result directories into `out`: results (the last
/// measurement of a night's job wins), logs, reports. Returns the results and
/// warnings (a missing directory, a directory without results, a bad line).
///
/// With nothing readable in any directory (e.g. a glob that matched
/// nothing) `out` is left exactly as it was and no results are returned. An
/// existing `out/results.jsonl` that is not itself merged is kept as a
/// generation (`results.jsonl.N`), and every file is replaced atomically.
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
) -> std::io::Result<(Vec<model::JobResult>, Vec<String>)> {
    let mut all: Vec<model::JobResult> = Vec::new();
    let mut warnings = Vec::new();
    let mut read: Vec<(&PathBuf, Vec<model::JobResult>)> = Vec::new();
    for d in dirs {
        if !d.is_dir() {
            warnings.push(format!("{}: no such directory", d.display()));
            continue;
        }
        let path = d.join(pipeline::RESULTS);
        if !path.is_file() {
            warnings.push(format!(
                "{}: no {} (the job did not start or its directory is not a result directory)",
                d.display(),
                pipeline::RESULTS
            ));
            continue;
        }
        let (rs, bad) = pipeline::read_results(&path);
        warnings.extend(bad);
        if rs.is_empty() {
            warnings.push(format!("{}: no readable results", path.display()));
        }
        read.push((d, rs));
    }
    if read.iter().all(|(_, rs)| rs.is_empty()) {
        return Ok((all, warnings));
    }
    std::fs::create_dir_all(out)?;
    let out_is_input = read
        .iter()
        .any(|(d, _)| d.canonicalize().ok() == out.canonicalize().ok());
    for (d, rs) in read {
        let same_dir = d.canonicalize().ok() == out.canonicalize().ok();
        for r in rs {
            if !same_dir {
                let logs = d.join("logs").join(&r.job);
                if logs.is_dir() {
                    copy_dir(&logs, &out.join("logs").join(&r.job))?;
                }
            }
            all.retain(|x| !(x.night == r.night && x.job == r.job));
            all.push(r);
        }
        let series = d.join("series");
        if series.is_dir() && !same_dir {
            copy_dir(&series, &out.join("series"))?;
        }
    }
    all.sort_by(|a, b| {
        (a.night.as_str(), !a.is_baseline(), a.job.as_str()).cmp(&(
            b.night.as_str(),
            !b.is_baseline(),
            b.job.as_str(),
        ))
    });
    let mut text = String::new();
    for r in &all {
        text.push_str(&serde_json::to_string(r).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    let results_path = out.join(pipeline::RESULTS);
    if !out_is_input && results_path.is_file() {
        let named = |e: std::io::Error, what: &str, p: &Path| {
            std::io::Error::new(e.kind(), format!("{}: {what}: {e}", p.display()))
        };
        let old =
            std::fs::read(&results_path).map_err(|e| named(e, "cannot read", &results_path))?;
        if old != text.as_bytes() {
            let gen = mmstall_fsio::next_generation(out, &[pipeline::RESULTS])?;
            let kept = out.join(format!("{}.{gen}", pipeline::RESULTS));
            // A second name, not a rename: if the new file cannot be
            // written below, results.jsonl is still the earlier one.
            std::fs::hard_link(&results_path, &kept)
                .or_else(|_| std::fs::copy(&results_path, &kept).map(|_| ()))
                .map_err(|e| named(e, "cannot keep a copy", &kept))?;
            warnings.push(format!(
                "{}: the earlier merged results are kept as {}",
                results_path.display(),
                kept.display()
            ));
        }
    }
    mmstall_fsio::write_atomic(&results_path, text.as_bytes())?;
    let title = all
        .first()
        .map(|r| r.plan.clone())
        .unwrap_or_else(|| "nightly".into());
    reports::write_all(out, &all, &title)?;
    Ok((all, warnings))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let ty = e.file_type()?;
        let dst = to.join(e.file_name());
        if ty.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}
