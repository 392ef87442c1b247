//! Reading `vm run --kselftest ... --json` (mmstall_vm's kselftest
//! `Report`, also written as `kselftest.json` into the run directory) into
//! the nightly's [`Selftest`]s: each test's verdict, its reason, its log
//! relative to the result directory and, for a failure or an error, the end
//! of its log (the reports are rendered from the results alone).

use crate::model::Selftest;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Lines of a failing test's log kept in the results.
const TAIL_LINES: usize = 40;
/// At most this many bytes of them (a test printing one huge line).
const TAIL_BYTES: usize = 4000;

#[derive(Debug, Deserialize)]
struct ReportJson {
    tests: Vec<TestJson>,
}

#[derive(Debug, Deserialize)]
struct TestJson {
    name: String,
    verdict: VerdictJson,
    #[serde(default)]
    exit_status: Option<i32>,
    #[serde(default)]
    secs: Option<f64>,
    #[serde(default)]
    log: Option<PathBuf>,
    #[serde(default)]
    subtests: Vec<SubtestJson>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// stall-judge's KTAP verdict: `{"verdict": "pass"}`, `{"verdict": "skip",
/// "reason": "..."}`.
#[derive(Debug, Deserialize)]
struct VerdictJson {
    verdict: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SubtestJson {
    #[serde(default)]
    name: String,
    verdict: VerdictJson,
    #[serde(default)]
    subtests: Vec<SubtestJson>,
}

/// The selftests of a report; `out` is the result directory (logs are
/// named relative to it). Err: not a kselftest report.
pub(super) fn parse_selftest_report(text: &str, out: &Path) -> Result<Vec<Selftest>, String> {
    let rep: ReportJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(rep.tests.into_iter().map(|t| selftest(t, out)).collect())
}

fn selftest(t: TestJson, out: &Path) -> Selftest {
    let status = t.verdict.verdict.to_ascii_lowercase();
    let reason = match status.as_str() {
        "fail" => failure_reason(&t),
        _ => t.verdict.reason.clone().unwrap_or_default(),
    };
    let log_tail = if status == "fail" || status == "error" {
        t.log.as_deref().map(tail).unwrap_or_default()
    } else {
        String::new()
    };
    Selftest {
        name: t.name,
        status,
        reason,
        secs: t.secs,
        log: t
            .log
            .as_deref()
            .map(|p| p.strip_prefix(out).unwrap_or(p).display().to_string()),
        log_tail,
    }
}

/// `exit status 1; failed: test_mlock_lock: Locked` (a timeout or a signal
/// as the harness noted it).
fn failure_reason(t: &TestJson) -> String {
    let mut why = match t
        .warnings
        .iter()
        .find(|w| w.starts_with("TIMEOUT") || w.starts_with("killed by"))
    {
        Some(w) => w.clone(),
        None => t
            .exit_status
            .map(|e| format!("exit status {e}"))
            .unwrap_or_else(|| "failed".into()),
    };
    let mut failed = Vec::new();
    failed_subtests(&t.subtests, &mut failed);
    if !failed.is_empty() {
        let more = failed.len().saturating_sub(5);
        failed.truncate(5);
        why.push_str(&format!("; failed: {}", failed.join("; ")));
        if more > 0 {
            why.push_str(&format!(" (and {more} more)"));
        }
    }
    why
}

fn failed_subtests(subs: &[SubtestJson], out: &mut Vec<String>) {
    for s in subs {
        if s.verdict.verdict.eq_ignore_ascii_case("fail") {
            out.push(s.name.clone());
        }
        failed_subtests(&s.subtests, out);
    }
}

/// The last lines of a log (empty when it cannot be read).
fn tail(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let mut s = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if s.len() > TAIL_BYTES {
        let mut cut = s.len() - TAIL_BYTES;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s = format!("…{}", &s[cut..]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `vm run --kselftest mm:mlock2-tests --json` printed for the
    /// mlock regression kernel (trimmed).
    #[test]
    fn a_failing_report_keeps_reason_log_and_tail() {
        let d = tempfile::tempdir().unwrap();
        let log = d
            .path()
            .join("logs/j/patched-kselftest/kselftest/mlock2-tests.log");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(&log, "TAP version 13\n1..2\nnot ok 1 test_mlock_lock: Locked\nok 2 x\n# Totals: pass:1 fail:1\n").unwrap();
        let text = serde_json::json!({"suite": "mm", "selection": "mm:mlock2-tests", "tests": [
            {"name": "mlock2-tests", "argv": ["mlock2-tests"], "verdict": {"verdict": "fail"}, "exit_status": 1, "secs": 1.796,
             "log": log, "subtests": [{"name": "test_mlock_lock: Locked", "verdict": {"verdict": "fail"}, "diagnostics": [], "subtests": []},
                                      {"name": "x", "verdict": {"verdict": "pass"}, "diagnostics": [], "subtests": []}], "warnings": []},
            {"name": "gup_longterm", "argv": [], "verdict": {"verdict": "skip", "reason": "no huge pages"}, "exit_status": 4, "secs": 0.2, "log": null, "subtests": [], "warnings": []},
            {"name": "khugepaged", "argv": [], "verdict": {"verdict": "error", "reason": "not built: KSFT_SKIP undeclared"}, "exit_status": null, "secs": null, "log": null, "subtests": [], "warnings": []}
        ]}).to_string();
        let t = parse_selftest_report(&text, d.path()).unwrap();
        assert_eq!(t[0].status, "fail");
        assert_eq!(
            t[0].reason,
            "exit status 1; failed: test_mlock_lock: Locked"
        );
        assert_eq!(
            t[0].log.as_deref(),
            Some("logs/j/patched-kselftest/kselftest/mlock2-tests.log")
        );
        assert!(
            t[0].log_tail.contains("not ok 1 test_mlock_lock"),
            "{}",
            t[0].log_tail
        );
        assert_eq!(
            (t[1].status.as_str(), t[1].reason.as_str()),
            ("skip", "no huge pages")
        );
        assert!(t[1].log_tail.is_empty());
        assert_eq!(t[2].status, "error");
        assert!(parse_selftest_report("{\"tests\": 5}", d.path()).is_err());
    }
}
