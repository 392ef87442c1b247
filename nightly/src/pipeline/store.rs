//! The append-only results: `results.jsonl` of a result directory and the
//! history store, one JSON line per job result.

use crate::model::*;
use std::collections::HashMap;
use std::path::Path;

pub const RESULTS: &str = "results.jsonl";

pub const STEPS: &str = "steps.jsonl";

/// Appends one JSON line and syncs it: what is measured stays measured. A
/// torn last line (an interrupted write) is terminated first, so the record
/// is never glued to the fragment ([`mmstall_fsio::append_jsonl`]).
pub fn append_jsonl<T: serde::Serialize>(
    path: &Path,
    value: &T,
) -> std::io::Result<mmstall_fsio::Appended> {
    Ok(mmstall_fsio::append_jsonl(path, value)?)
}

/// Reads a JSON-lines file of job results line by line: a torn, foreign or
/// undecodable line (invalid UTF-8 too) is reported with its file and line
/// and skipped, the other lines are kept. A missing file is no results; an
/// unreadable one is a warning.
pub fn read_results(path: &Path) -> (Vec<JobResult>, Vec<String>) {
    match mmstall_fsio::read_jsonl::<JobResult>(path) {
        Ok(lines) => {
            let bad = lines.skipped.iter().map(|b| b.to_string()).collect();
            (lines.into_records(), bad)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::NotFound => (vec![], vec![]),
        Err(e) => (vec![], vec![e.to_string()]),
    }
}

/// Keeps the last result of each (night, job): a re-run replaces the earlier
/// measurement, in the order the results were read.
pub fn last_per_job(results: Vec<JobResult>) -> Vec<JobResult> {
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut out: Vec<Option<JobResult>> = Vec::with_capacity(results.len());
    for r in results {
        if let Some(i) = index.insert((r.night.clone(), r.job.clone()), out.len()) {
            out[i] = None;
        }
        out.push(Some(r));
    }
    out.into_iter().flatten().collect()
}

/// Appends to the history store the results it does not already hold: a
/// result whose (night, job) is in the history with the same content is not
/// appended again (`merge --history` twice adds nothing); a different result
/// for the same (night, job) is a re-run and is appended (readers keep the
/// last). Returns (appended, already there, warnings about the history).
pub fn append_history(
    path: &Path,
    results: &[JobResult],
) -> std::io::Result<(usize, usize, Vec<String>)> {
    let (known, mut warnings) = read_results(path);
    let known: HashMap<(String, String), JobResult> = last_per_job(known)
        .into_iter()
        .map(|k| ((k.night.clone(), k.job.clone()), k))
        .collect();
    let (mut appended, mut already) = (0, 0);
    for r in results {
        let same = known
            .get(&(r.night.clone(), r.job.clone()))
            .is_some_and(|k| serde_json::to_value(k).ok() == serde_json::to_value(r).ok());
        if same {
            already += 1;
            continue;
        }
        if append_jsonl(path, r)? == mmstall_fsio::Appended::AfterTornLine {
            warnings.push(format!(
                "{}: its last line was torn (an interrupted write); it was terminated before appending",
                path.display()
            ));
        }
        appended += 1;
    }
    Ok((appended, already, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(night: &str, job: &str, secs: f64) -> JobResult {
        JobResult {
            night: night.into(),
            plan: "p".into(),
            job: job.into(),
            series: job.into(),
            kernel: "k".into(),
            kernel_source: "t".into(),
            commit: None,
            config: "c".into(),
            fragments: vec![],
            subjects: vec![],
            checkout: StepRecord {
                name: "checkout".into(),
                status: StepStatus::Ok,
                duration_s: 0.0,
                log: None,
            },
            static_: None,
            baseline: None,
            patched: None,
            comparisons: vec![],
            selftest_comparisons: vec![],
            confirm: None,
            verdict: Verdict::Pass {
                not_checked: vec![],
            },
            duration_s: secs,
            started: None,
            host: None,
        }
    }

    /// A re-run replaces the earlier result of its night and job; the
    /// history takes a result once, and a different one (a re-run) again.
    #[test]
    fn history_keeps_one_result_per_night_and_job() {
        let rs = vec![
            result("n1", "a", 1.0),
            result("n1", "b", 1.0),
            result("n1", "a", 2.0),
            result("n2", "a", 1.0),
        ];
        let last = last_per_job(rs.clone());
        let got: Vec<(&str, &str, f64)> = last
            .iter()
            .map(|r| (r.night.as_str(), r.job.as_str(), r.duration_s))
            .collect();
        assert_eq!(got, [("n1", "b", 1.0), ("n1", "a", 2.0), ("n2", "a", 1.0)]);
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("h.jsonl");
        assert_eq!(append_history(&h, &last).unwrap().0, 3);
        assert_eq!(append_history(&h, &last).unwrap().0, 0);
        let rerun = [result("n2", "a", 5.0)];
        assert_eq!(append_history(&h, &rerun).unwrap().0, 1);
        assert_eq!(read_results(&h).0.len(), 4);
    }
}
