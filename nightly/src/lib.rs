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

pub mod emit;
pub mod exec;
pub mod history;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod reports;

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

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_date(secs / 86_400)
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
pub fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

/// A night given on the command line: `YYYY-MM-DD`.
pub fn valid_night(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_date(0), "1970-01-01");
        assert_eq!(super::civil_date(20_417), "2025-11-25");
        assert_eq!(super::civil_date(11_016), "2000-02-29");
        assert!(super::valid_night("2026-11-25"));
        assert!(!super::valid_night("2026-1-25"));
    }
}
