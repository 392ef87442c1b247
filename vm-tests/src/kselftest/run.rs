//! Running selected mm selftests in the guest and judging them on the host.
//!
//! The guest script ([`guest_script`]) runs each test binary from the
//! selftests' cache directory (the host's filesystem is the guest's root)
//! in a fresh scratch directory under `/tmp`, under `timeout` (the per-test
//! timeout; `KILL` 10 s later), with its stdout and stderr into
//! `kselftest/<name>.log` of the run directory and `<exit status> <ms>` into
//! `kselftest/<name>.exit`. Nothing is judged in the guest.
//!
//! On the host ([`collect`]) each log is parsed with the project's KTAP
//! parser ([`crate::stall::ktap`]; the selftests print `TAP version 13`,
//! which it reads); the verdict of a test is its exit status, as the
//! kselftest runner decides it: 0 PASS, 4 (`KSFT_SKIP`) SKIP with the reason
//! the test printed (`1..0 # SKIP reason`, `ok N # SKIP reason`, or its last
//! output line), 2 (`KSFT_XFAIL`) XFAIL, 124/137 (timeout) FAIL with
//! `TIMEOUT after N s`, anything else FAIL. A test the guest never finished
//! (guest died, whole-run timeout) is ERROR `no result`, a binary the tree did
//! not compile is ERROR `not built: ...` — never a silent pass or skip.
//! The subtests the test printed are kept, so SKIP and XFAIL inside a
//! passing test stay visible with their reasons.

use super::build::SelftestBuild;
use super::catalog::{Entry, Selection};
use crate::stall::ktap::{self, TestResult, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Per-test timeout when none is given: generous for TCG (the slowest
/// default-subset test, uffd-unit-tests, took about 2 min here).
pub const DEFAULT_TEST_TIMEOUT_SECS: u64 = 300;

/// Directory of the per-test logs inside the run directory.
pub const LOG_DIR: &str = "kselftest";

/// The shell script the guest runs (its working directory is the run
/// directory, shared read-write with the host).
pub fn guest_script(sel: &Selection, build: &SelftestBuild, timeout_secs: u64) -> String {
    let mut s = String::new();
    s.push_str("# mmstall kselftest runner (generated)\n");
    s.push_str(&format!("OUT=\"$PWD\"/{LOG_DIR}\nmkdir -p \"$OUT\"\n"));
    s.push_str(&format!(
        "BIN={}\n",
        crate::process::sh_quote(&build.bin.display().to_string())
    ));
    // gup_test and split_huge_page_test need debugfs.
    s.push_str("mountpoint -q /sys/kernel/debug 2>/dev/null || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null\n");
    s.push_str("ulimit -c 0\n");
    // mremap_test maps 2 GiB regions (touching 4 MiB): a 1 GiB guest's
    // heuristic overcommit refuses them.
    s.push_str("echo 1 > /proc/sys/vm/overcommit_memory\n");
    // A fixed address-space layout: mremap_test's "40MB Preamble" case maps
    // its preamble with MAP_FIXED_NOREPLACE just below where its source
    // landed, and with a randomized layout that range is sometimes taken
    // ("Failed to map dest preamble region: File exists", seen once in five
    // CI runs): a verdict must not depend on where mmap happened to put
    // things.
    s.push_str("echo 0 > /proc/sys/kernel/randomize_va_space\n");
    s.push_str("uname -r > \"$OUT/uname\"\n");
    for e in &sel.entries {
        if build.not_built(e.binary).is_some() {
            continue;
        }
        let name = e.name;
        let mut argv = format!("\"$BIN\"/{}", crate::process::sh_quote(e.binary));
        for a in e.args {
            argv.push(' ');
            argv.push_str(&crate::process::sh_quote(a));
        }
        s.push_str(&format!(
            "echo \"kselftest: {name}\"\n\
             W=$(mktemp -d /tmp/kst.XXXXXX)\n\
             t0=$(date +%s%N)\n\
             (cd \"$W\" && exec timeout -k 10 {timeout_secs} {argv}) >\"$OUT/{name}.log\" 2>&1 </dev/null\n\
             rc=$?\n\
             t1=$(date +%s%N)\n\
             echo \"$rc $(( (t1 - t0) / 1000000 ))\" >\"$OUT/{name}.exit\"\n\
             rm -rf \"$W\"\n"
        ));
    }
    s.push_str("sync\nexit 0\n");
    s
}

/// Seconds the whole guest command may take: every test at its timeout,
/// plus a margin for the setup.
pub fn command_timeout_secs(sel: &Selection, timeout_secs: u64) -> u64 {
    sel.entries.len() as u64 * (timeout_secs + 10) + 60
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestRun {
    pub name: String,
    pub argv: Vec<String>,
    pub verdict: Verdict,
    pub exit_status: Option<i32>,
    pub secs: Option<f64>,
    /// The per-test log (absent when the test never ran).
    pub log: Option<PathBuf>,
    /// What the test printed as KTAP/TAP (empty when it prints none).
    pub subtests: Vec<TestResult>,
    /// Parser warnings (a truncated TAP stream, a missing plan).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub xfail: usize,
    pub error: usize,
}

impl Counts {
    fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Skip(_) => self.skip += 1,
            Verdict::Xfail(_) => self.xfail += 1,
            Verdict::Error(_) => self.error += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub suite: String,
    pub selection: String,
    pub kernel_release: Option<String>,
    pub selftests: PathBuf,
    pub timeout_secs: u64,
    pub tests: Vec<TestRun>,
    /// Over the tests (one per invocation).
    pub counts: Counts,
    /// Over the subtests the tests printed.
    pub subtest_counts: Counts,
    /// Sum of the tests' own durations.
    pub test_secs: f64,
}

impl Report {
    /// No test failed or went without a result.
    pub fn ok(&self) -> bool {
        self.counts.fail == 0 && self.counts.error == 0
    }

    /// The reasons of SKIP (and XFAIL) verdicts, tests and subtests, with how
    /// often each occurs: `(test, reason) -> count`.
    pub fn skip_reasons(&self) -> BTreeMap<(String, String), usize> {
        let mut m = BTreeMap::new();
        for t in &self.tests {
            if let Verdict::Skip(r) = &t.verdict {
                *m.entry((t.name.clone(), r.clone())).or_insert(0) += 1;
            }
            let mut stack: Vec<&TestResult> = t.subtests.iter().collect();
            while let Some(s) = stack.pop() {
                match &s.verdict {
                    Verdict::Skip(r) if !matches!(t.verdict, Verdict::Skip(_)) => {
                        let why = if r.is_empty() {
                            reason_of(s)
                        } else {
                            r.clone()
                        };
                        *m.entry((t.name.clone(), why)).or_insert(0) += 1;
                    }
                    _ => {}
                }
                stack.extend(s.subtests.iter());
            }
        }
        m
    }

    /// The run as one KTAP document (a test per invocation, its own TAP
    /// output as subtests).
    pub fn ktap(&self) -> String {
        let rs: Vec<TestResult> = self
            .tests
            .iter()
            .map(|t| {
                let mut r = TestResult::new(&t.name, t.verdict.clone());
                r.subtests = t.subtests.clone();
                if let (Some(st), Some(secs)) = (t.exit_status, t.secs) {
                    r.diagnostics.push(format!("exit status {st}, {secs:.1} s"));
                }
                r
            })
            .collect();
        ktap::write(&rs)
    }

    /// A table for the terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        for t in &self.tests {
            let secs = t
                .secs
                .map(|x| format!("{x:6.1} s"))
                .unwrap_or_else(|| "     - ".into());
            let sub = {
                let mut c = Counts::default();
                count_all(&t.subtests, &mut c);
                if t.subtests.is_empty() {
                    String::new()
                } else {
                    format!(
                        " [subtests: {} pass, {} fail, {} skip, {} xfail]",
                        c.pass, c.fail, c.skip, c.xfail
                    )
                }
            };
            let why = match &t.verdict {
                Verdict::Skip(r) | Verdict::Xfail(r) | Verdict::Error(r) => format!(": {r}"),
                Verdict::Fail => {
                    let mut w = t
                        .exit_status
                        .map(|e| format!(": exit status {e}"))
                        .unwrap_or_default();
                    if let Some(to) = t
                        .warnings
                        .iter()
                        .find(|w| w.starts_with("TIMEOUT") || w.starts_with("killed by"))
                    {
                        w = format!(": {to}");
                    }
                    let failed: Vec<&str> = t
                        .subtests
                        .iter()
                        .filter(|s| s.verdict == Verdict::Fail)
                        .map(|s| s.name.as_str())
                        .take(3)
                        .collect();
                    if !failed.is_empty() {
                        w.push_str(&format!(" (failed: {})", failed.join("; ")));
                    }
                    w
                }
                Verdict::Pass => String::new(),
            };
            s.push_str(&format!(
                "  {:<5} {:<26} {secs}{why}{sub}\n",
                t.verdict.word(),
                t.name
            ));
        }
        let c = &self.counts;
        s.push_str(&format!(
            "kselftest {}: {} tests: {} passed, {} failed, {} skipped, {} xfail, {} without result; {:.0} s of tests\n",
            self.selection,
            self.tests.len(),
            c.pass,
            c.fail,
            c.skip,
            c.xfail,
            c.error,
            self.test_secs
        ));
        s
    }
}

fn count_all(rs: &[TestResult], c: &mut Counts) {
    for r in rs {
        c.add(&r.verdict);
        count_all(&r.subtests, c);
    }
}

/// `1..0 # SKIP reason` (a test that skipped before its plan) or the first
/// `ok N # SKIP reason` / `# SKIP ...` line; else the last non-empty line.
pub fn skip_reason(log: &str) -> String {
    for l in log.lines() {
        let l = l.trim();
        if let Some(r) = l.strip_prefix("1..0") {
            if let Some((_, why)) = r.split_once("SKIP") {
                return why.trim().to_string();
            }
        }
    }
    for l in log.lines() {
        let l = l.trim();
        if l.starts_with("ok ") {
            if let Some((_, why)) = l.split_once("# SKIP") {
                if !why.trim().is_empty() {
                    return why.trim().to_string();
                }
            }
        }
    }
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("# Totals") && !l.starts_with("# Planned"))
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .unwrap_or_else(|| "exit status 4 (KSFT_SKIP), no output".into())
}

/// Verdict of one finished test from its exit status and output (a
/// timeout, 124 or 137 from `timeout`, is a failure; [`collect`] notes it).
pub fn judge(status: i32, log: &str) -> Verdict {
    match status {
        0 => Verdict::Pass,
        4 => Verdict::Skip(skip_reason(log)),
        2 => Verdict::Xfail("exit status 2 (KSFT_XFAIL)".into()),
        _ => Verdict::Fail,
    }
}

/// Reads the per-test results the guest left in `run_dir`.
pub fn collect(
    sel: &Selection,
    build: &SelftestBuild,
    run_dir: &Path,
    timeout_secs: u64,
) -> Report {
    let logs = run_dir.join(LOG_DIR);
    let mut tests = Vec::new();
    let mut counts = Counts::default();
    let mut subtest_counts = Counts::default();
    let mut test_secs = 0.0;
    for e in &sel.entries {
        let t = collect_one(e, build, &logs, timeout_secs);
        counts.add(&t.verdict);
        count_all(&t.subtests, &mut subtest_counts);
        test_secs += t.secs.unwrap_or(0.0);
        tests.push(t);
    }
    let kernel_release = fs::read_to_string(logs.join("uname"))
        .ok()
        .map(|s| s.trim().to_string());
    Report {
        suite: sel.suite.into(),
        selection: sel.spec.clone(),
        kernel_release,
        selftests: build.dir.clone(),
        timeout_secs,
        tests,
        counts,
        subtest_counts,
        test_secs,
    }
}

fn collect_one(e: &Entry, build: &SelftestBuild, logs: &Path, timeout_secs: u64) -> TestRun {
    let mut argv = vec![e.binary.to_string()];
    argv.extend(e.args.iter().map(|a| a.to_string()));
    let mut t = TestRun {
        name: e.name.into(),
        argv,
        verdict: Verdict::Error("no result".into()),
        exit_status: None,
        secs: None,
        log: None,
        subtests: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(why) = build.not_built(e.binary) {
        t.verdict = Verdict::Error(format!("not built: {why}"));
        return t;
    }
    let log_path = logs.join(format!("{}.log", e.name));
    let log = fs::read(&log_path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    if log.is_some() {
        t.log = Some(log_path);
    }
    let exit = fs::read_to_string(logs.join(format!("{}.exit", e.name))).ok();
    let parsed_exit = exit.as_deref().and_then(parse_exit);
    let log = log.unwrap_or_default();
    // Some tests print a plan and results without the `TAP version` header
    // (6.12's mremap_test calls ksft_set_plan() without ksft_print_header()).
    let headerless = log.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("1..") || l.starts_with("ok ") || l.starts_with("not ok ")
    });
    let parsed = ktap::parse(&log).or_else(|e| match e {
        ktap::KtapError::NoHeader if headerless => ktap::parse(&format!("KTAP version 1\n{log}")),
        e => Err(e),
    });
    if let Ok(p) = parsed {
        t.subtests = p.results;
        t.warnings = p.warnings;
    } else {
        t.subtests = plain_results(&log);
    }
    match parsed_exit {
        None => {
            t.verdict = Verdict::Error(if exit.is_some() {
                "unreadable exit file".into()
            } else if t.log.is_some() {
                "no result: the run ended while the test ran (guest died or whole-run timeout)"
                    .into()
            } else {
                "no result: the guest never ran the test".into()
            });
        }
        Some((status, ms)) => {
            t.exit_status = Some(status);
            t.secs = Some(ms as f64 / 1000.0);
            t.verdict = judge(status, &log);
            // Exit 0 with every subtest skipped (kselftest.h's ksft_finished
            // counts skips as passes) ran nothing: SKIP, with the reasons.
            if status == 0
                && !t.subtests.is_empty()
                && t.subtests
                    .iter()
                    .all(|s| matches!(s.verdict, Verdict::Skip(_)))
            {
                // Each distinct reason once, with the diagnostics of its first
                // occurrence (they often say what is missing).
                let mut seen: Vec<String> = Vec::new();
                let mut why: Vec<String> = Vec::new();
                for st in &t.subtests {
                    let bare = match &st.verdict {
                        Verdict::Skip(r) if !r.is_empty() => r.clone(),
                        _ => st.name.clone(),
                    };
                    if !seen.contains(&bare) {
                        seen.push(bare);
                        why.push(reason_of(st));
                    }
                }
                t.verdict = Verdict::Skip(format!("every subtest skipped: {}", why.join("; ")));
            }
            // `timeout` exits 124, or 137 when it had to send KILL; a 137
            // well before the timeout is a SIGKILL from elsewhere (the OOM
            // killer).
            let timed_out =
                status == 124 || (status == 137 && ms as f64 / 1000.0 >= timeout_secs as f64);
            if timed_out {
                t.warnings.push(format!("TIMEOUT after {timeout_secs} s"));
                t.verdict = Verdict::Fail;
            } else if status > 128 && status < 160 {
                t.warnings.push(format!(
                    "killed by signal {} ({})",
                    status - 128,
                    signal_name(status - 128)
                ));
            }
        }
    }
    t
}

/// Results of tests that print no TAP but one line per case, as
/// uffd-unit-tests does: `Testing NAME... done`, `... skipped [reason: R]`,
/// `... failed [reason: R]`.
pub fn plain_results(log: &str) -> Vec<TestResult> {
    let mut out = Vec::new();
    for l in log.lines() {
        let Some(rest) = l.trim().strip_prefix("Testing ") else {
            continue;
        };
        let Some((name, outcome)) = rest.split_once("... ") else {
            continue;
        };
        let reason = |o: &str| {
            o.split_once("[reason: ")
                .map(|(_, r)| r.trim_end().trim_end_matches(']').trim().to_string())
                .unwrap_or_default()
        };
        let outcome = outcome.trim();
        let v = if outcome == "done" {
            Verdict::Pass
        } else if outcome.starts_with("skipped") {
            Verdict::Skip(reason(outcome))
        } else if outcome.starts_with("failed") || outcome.starts_with("ERROR") {
            let mut r = TestResult::new(name.trim(), Verdict::Fail);
            let why = reason(outcome);
            r.diagnostics.push(if why.is_empty() {
                outcome.to_string()
            } else {
                why
            });
            out.push(r);
            continue;
        } else {
            continue;
        };
        out.push(TestResult::new(name.trim(), v));
    }
    out
}

/// A skipped result's reason with the diagnostics printed before it (the
/// selftests often say what is missing there: `check if CONFIG_GUP_TEST is
/// enabled`), at most two lines of them.
fn reason_of(r: &TestResult) -> String {
    let why = match &r.verdict {
        Verdict::Skip(w) | Verdict::Xfail(w) | Verdict::Error(w) if !w.is_empty() => w.clone(),
        _ => r.name.clone(),
    };
    let diags: Vec<&str> = r
        .diagnostics
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty() && !d.starts_with("Totals") && !d.starts_with("Planned"))
        .take(2)
        .collect();
    if diags.is_empty() {
        why
    } else {
        format!("{why} ({})", diags.join("; "))
    }
}

fn signal_name(n: i32) -> &'static str {
    match n {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        9 => "SIGKILL, the OOM killer?",
        11 => "SIGSEGV",
        _ => "signal",
    }
}

/// `<status> <milliseconds>`.
fn parse_exit(s: &str) -> Option<(i32, u64)> {
    let mut it = s.split_whitespace();
    let st = it.next()?.parse().ok()?;
    let ms = it.next()?.parse().ok()?;
    Some((st, ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kselftest::build::{NotBuilt, SelftestMeta, BUILDER};
    use crate::kselftest::catalog::select;

    fn fake_build(dir: &Path, built: &[&str], not: &[&str]) -> SelftestBuild {
        SelftestBuild {
            dir: dir.to_path_buf(),
            bin: dir.join("bin"),
            cached: true,
            meta: SelftestMeta {
                builder: BUILDER.into(),
                tree: "debian:6.12".into(),
                tree_identity: "x".into(),
                kernel_version: "6.12.118".into(),
                built: built.iter().map(|s| s.to_string()).collect(),
                not_built: not
                    .iter()
                    .map(|s| NotBuilt {
                        binary: s.to_string(),
                        error: format!("{s}.c:1:1: error: boom"),
                    })
                    .collect(),
                secs_sync: 0.0,
                secs_headers: 0.0,
                secs_make: 0.0,
                secs_total: 0.0,
            },
        }
    }

    #[test]
    fn skip_reasons_come_from_the_output() {
        assert_eq!(
            skip_reason("TAP version 13\n1..0 # SKIP hugetlb not available\n"),
            "hugetlb not available"
        );
        assert_eq!(
            skip_reason("TAP version 13\n1..3\nok 1 # SKIP no KSM\n"),
            "no KSM"
        );
        assert_eq!(skip_reason("no pkeys here\n\n"), "no pkeys here");
        assert_eq!(skip_reason(""), "exit status 4 (KSFT_SKIP), no output");
        assert_eq!(judge(0, ""), Verdict::Pass);
        assert_eq!(judge(1, ""), Verdict::Fail);
        assert!(matches!(judge(2, ""), Verdict::Xfail(_)));
    }

    #[test]
    fn plain_text_cases_are_subtests() {
        let log = "Testing register-ioctls on anon... done\nTesting wp-fork on hugetlb... skipped [reason: memory allocation failed]\nTesting move on shmem... failed [reason: wrong content]\nTesting events on anon... ERROR: UFFDIO_COPY error: -2\nUserfaults unit tests: pass=1, skip=1, fail=1 (total=3)\nTesting half";
        let r = plain_results(log);
        assert_eq!(r.len(), 4);
        assert_eq!(r[3].verdict, Verdict::Fail);
        assert_eq!(r[3].diagnostics, ["ERROR: UFFDIO_COPY error: -2"]);
        assert_eq!(r[0].verdict, Verdict::Pass);
        assert_eq!(r[0].name, "register-ioctls on anon");
        assert_eq!(
            r[1].verdict,
            Verdict::Skip("memory allocation failed".into())
        );
        assert_eq!(r[2].verdict, Verdict::Fail);
        assert_eq!(r[2].diagnostics, ["wrong content"]);
        assert!(plain_results("").is_empty());
    }

    #[test]
    fn the_script_runs_each_built_test_with_its_timeout() {
        let d = tempfile::tempdir().unwrap();
        let b = fake_build(d.path(), &["mlock2-tests", "ksm_tests"], &["khugepaged"]);
        let sel = select("mm:mlock2-tests,ksm_tests-merge,khugepaged").unwrap();
        let s = guest_script(&sel, &b, 77);
        assert!(s.contains("echo 0 > /proc/sys/kernel/randomize_va_space"));
        assert!(s.contains("(cd \"$W\" && exec timeout -k 10 77 \"$BIN\"/'mlock2-tests') >\"$OUT/mlock2-tests.log\""));
        assert!(s.contains("\"$BIN\"/'ksm_tests' '-M' '-p' '10') >\"$OUT/ksm_tests-merge.log\""));
        assert!(!s.contains("khugepaged"), "not built: not run");
        assert_eq!(command_timeout_secs(&sel, 77), 3 * 87 + 60);
    }

    #[test]
    fn results_are_collected_and_judged() {
        let d = tempfile::tempdir().unwrap();
        let b = fake_build(
            d.path(),
            &[
                "mlock2-tests",
                "mremap_test",
                "ksm_tests",
                "gup_test",
                "madv_populate",
            ],
            &["khugepaged"],
        );
        let sel = select(
            "mm:mlock2-tests,mremap_test,ksm_tests-merge,ksm_tests-unmerge,gup_test-dump,madv_populate,khugepaged",
        )
        .unwrap();
        let logs = d.path().join("run").join(LOG_DIR);
        fs::create_dir_all(&logs).unwrap();
        let w = |n: &str, log: &str, exit: &str| {
            fs::write(logs.join(format!("{n}.log")), log).unwrap();
            if !exit.is_empty() {
                fs::write(logs.join(format!("{n}.exit")), exit).unwrap();
            }
        };
        w(
            "mlock2-tests",
            "TAP version 13\n1..3\nok 1 a\nok 2 # SKIP no THP\nok 3 c # XFAIL known\n# Totals: pass:1 fail:0 xfail:1 xpass:0 skip:1 error:0\n",
            "0 1234\n",
        );
        w(
            "mremap_test",
            "TAP version 13\n1..2\nok 1 move\nnot ok 2 mremap expand\n",
            "1 2000\n",
        );
        w(
            "ksm_tests-merge",
            "TAP version 13\n1..0 # SKIP KSM not enabled\n",
            "4 10\n",
        );
        w("ksm_tests-unmerge", "started\n", "124 300000\n");
        w("gup_test-get-fast", "", "137 19000\n");
        w("gup_test-dump", "half a line", ""); // the guest died here
        w(
            "madv_populate",
            "TAP version 13\n1..2\n# check if CONFIG_X is enabled\nok 1 # SKIP no X\nok 2 # SKIP no X\n",
            "0 5\n",
        );
        fs::write(logs.join("uname"), "6.12.118\n").unwrap();
        let r = collect(&sel, &b, &d.path().join("run"), 300);
        let v: Vec<(&str, &str)> = r
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.verdict.word()))
            .collect();
        assert_eq!(
            v,
            [
                ("mlock2-tests", "PASS"),
                ("mremap_test", "FAIL"),
                ("madv_populate", "SKIP"),
                ("ksm_tests-merge", "SKIP"),
                ("ksm_tests-unmerge", "FAIL"),
                ("gup_test-dump", "ERROR"),
                ("khugepaged", "ERROR"),
            ]
        );
        assert_eq!(r.kernel_release.as_deref(), Some("6.12.118"));
        assert_eq!(
            r.counts,
            Counts {
                pass: 1,
                fail: 2,
                skip: 2,
                xfail: 0,
                error: 2
            }
        );
        assert_eq!(r.subtest_counts.skip, 3);
        assert_eq!(
            r.tests[2].verdict,
            Verdict::Skip("every subtest skipped: no X (check if CONFIG_X is enabled)".into())
        );
        assert_eq!(r.subtest_counts.xfail, 1);
        assert_eq!(r.subtest_counts.fail, 1);
        assert!(!r.ok());
        let ml = &r.tests[0];
        assert_eq!(ml.secs, Some(1.234));
        assert_eq!(ml.subtests[1].verdict, Verdict::Skip("no THP".into()));
        assert_eq!(ml.subtests[2].verdict, Verdict::Xfail("known".into()));
        assert!(r.tests[4]
            .warnings
            .iter()
            .any(|w| w.contains("TIMEOUT after 300 s")));
        assert!(matches!(&r.tests[5].verdict, Verdict::Error(w) if w.contains("guest died")));
        // Not selected: its files are ignored. Selected and SIGKILLed early: no timeout.
        let sel2 = select("mm:gup_test-get-fast").unwrap();
        let b2 = fake_build(d.path(), &["gup_test"], &[]);
        let r2 = collect(&sel2, &b2, &d.path().join("run"), 300);
        assert_eq!(r2.tests[0].verdict, Verdict::Fail);
        assert_eq!(
            r2.tests[0].warnings,
            ["killed by signal 9 (SIGKILL, the OOM killer?)"]
        );
        assert!(
            matches!(&r.tests[6].verdict, Verdict::Error(w) if w.contains("not built: khugepaged.c"))
        );
        let reasons = r.skip_reasons();
        assert_eq!(
            reasons[&("ksm_tests-merge".into(), "KSM not enabled".into())],
            1
        );
        assert_eq!(reasons[&("mlock2-tests".into(), "no THP".into())], 1);
        // The combined KTAP parses back to the same verdicts.
        let p = ktap::parse(&r.ktap()).unwrap();
        let back: Vec<&str> = p.results.iter().map(|t| t.verdict.word()).collect();
        assert_eq!(
            back,
            ["PASS", "FAIL", "SKIP", "SKIP", "FAIL", "ERROR", "ERROR"]
        );
        assert!(r
            .table()
            .contains("1 passed, 2 failed, 2 skipped, 0 xfail, 2 without result"));
    }

    #[test]
    fn tap_without_its_header_is_read() {
        let d = tempfile::tempdir().unwrap();
        let b = fake_build(d.path(), &["mremap_test"], &[]);
        let sel = select("mm:mremap_test").unwrap();
        let logs = d.path().join(LOG_DIR);
        fs::create_dir_all(&logs).unwrap();
        fs::write(
            logs.join("mremap_test.log"),
            "# Test configs:\n\tthreshold_mb=4\n\n1..2\nok 1 a\nnot ok 2 b\n",
        )
        .unwrap();
        fs::write(logs.join("mremap_test.exit"), "1 7\n").unwrap();
        let r = collect(&sel, &b, d.path(), 1);
        let t = &r.tests[0];
        assert_eq!(t.verdict, Verdict::Fail);
        assert_eq!(t.subtests.len(), 2);
        assert_eq!(t.subtests[1].verdict, Verdict::Fail);
        assert_eq!(t.secs, Some(0.007));
    }

    #[test]
    fn junk_in_the_run_directory_is_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let b = fake_build(d.path(), &["mlock2-tests"], &[]);
        let sel = select("mm:mlock2-tests").unwrap();
        let logs = d.path().join(LOG_DIR);
        fs::create_dir_all(&logs).unwrap();
        fs::write(
            logs.join("mlock2-tests.log"),
            [0xff, 0xfe, b'\n', b'o', b'k'],
        )
        .unwrap();
        fs::write(logs.join("mlock2-tests.exit"), "zero\n").unwrap();
        let r = collect(&sel, &b, d.path(), 1);
        assert!(matches!(&r.tests[0].verdict, Verdict::Error(w) if w.contains("unreadable")));
    }
}
