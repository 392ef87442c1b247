//! Fault injection into the nightly pipeline (issue 12): a crashing static
//! step, bad bytes and torn lines in the stored JSON lines, a merge of
//! nothing, repeated fresh runs into one directory. The executor is the test
//! one of `common` (answers like the real commands); files are real.
//!
//! Verdicts are checked through their JSON form, as stored in results.jsonl.

mod common;

use common::*;
use mmstall_nightly::model::JobResult;
use mmstall_nightly::pipeline::{self, Options};
use mmstall_nightly::plan::Plan;
use std::io::Write;
use std::path::Path;

fn opts(out: &Path, night: &str) -> Options {
    Options {
        out: out.to_path_buf(),
        night: night.into(),
        only_jobs: vec![],
        history: None,
        resume: false,
    }
}

fn fake(w: &World) -> Fake {
    Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    }
}

fn run(w: &World, fake: &mut Fake, o: &Options) -> Vec<JobResult> {
    let plan = Plan::load(&w.plan).unwrap();
    pipeline::run(&plan, o, fake, &mut |_| {}).unwrap()
}

fn verdict(rs: &[JobResult], series: &str) -> serde_json::Value {
    let r = rs
        .iter()
        .find(|r| r.series == series)
        .unwrap_or_else(|| panic!("no result for {series}"));
    serde_json::to_value(&r.verdict).unwrap()
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// Item 2: the analyzer dies on the series (no JSON, killed by a signal).
/// A clean series is then "not checked" (an infrastructure error), never a
/// pass; a series with a dynamic regression stays a regression and lists
/// the static gap.
#[test]
fn crashed_static_step_is_not_checked_never_a_pass() {
    let w = world(&["clean", "regress"], "");
    let out = w.dir.path().join("out");
    let mut f = fake(&w);
    f.series_crashes = true;
    let rs = run(&w, &mut f, &opts(&out, "2026-11-25"));
    let clean = verdict(&rs, "clean");
    assert_eq!(clean["verdict"], "infra-error", "{clean}");
    assert_eq!(clean["class"], "not-checked", "{clean}");
    assert!(
        clean["detail"]
            .as_str()
            .unwrap()
            .contains("static analysis failed"),
        "{clean}"
    );
    let regress = verdict(&rs, "regress");
    assert_eq!(regress["verdict"], "regression", "{regress}");
    assert_eq!(regress["dynamic_regression"], true, "{regress}");
    assert!(
        regress["not_checked"]
            .to_string()
            .contains("static analysis failed"),
        "{regress}"
    );
}

/// Item 2, the audit: a stall test that could not run on the patched
/// kernel (`error`) is not a pass: its comparison was never made.
#[test]
fn a_stall_test_that_errored_is_not_checked() {
    let w = world(&["suiteerror", "clean"], "");
    let out = w.dir.path().join("out");
    let mut f = fake(&w);
    let rs = run(&w, &mut f, &opts(&out, "2026-11-25"));
    let v = verdict(&rs, "suiteerror");
    assert_eq!(v["class"], "not-checked", "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("stall test `mlock-20g` could not run"),
        "{v}"
    );
    assert_eq!(verdict(&rs, "clean")["verdict"], "pass");
}

/// Item 2: a kernel that does not build hides nothing the static analysis
/// found: a series introducing findings is a regression (exit 1), the build
/// failure listed as not checked; a clean series stays an infrastructure
/// error.
#[test]
fn a_build_failure_does_not_hide_a_static_regression() {
    let w = world(&["regress", "clean"], "");
    let plan = std::fs::read_to_string(&w.plan).unwrap().replace(
        "fragments = [\"virtme-base\", \"stall-debug\"]",
        "fragments = [\"virtme-base\", \"broken\"]",
    );
    std::fs::write(&w.plan, plan).unwrap();
    let out = w.dir.path().join("out");
    let rs = run(&w, &mut fake(&w), &opts(&out, "2026-11-25"));
    let v = verdict(&rs, "regress");
    assert_eq!(v["verdict"], "regression", "{v}");
    assert_eq!(v["static_regression"], true, "{v}");
    assert!(
        v["not_checked"].to_string().contains("build failure"),
        "{v}"
    );
    let v = verdict(&rs, "clean");
    assert_eq!(
        (v["verdict"].as_str(), v["class"].as_str()),
        (Some("infra-error"), Some("build-failure")),
        "{v}"
    );
}

/// Item 3: one invalid UTF-8 byte in results.jsonl. Every other line is
/// still read (and the bad one named with its line number); `--resume`
/// does not run the measured jobs again.
#[test]
fn a_bad_byte_in_results_loses_only_its_line() {
    let w = world(&["regress", "clean"], "");
    let out = w.dir.path().join("out");
    let mut f = fake(&w);
    let rs = run(&w, &mut f, &opts(&out, "2026-11-25"));
    assert_eq!(rs.len(), 3);
    let path = out.join(pipeline::RESULTS);
    let text = std::fs::read(&path).unwrap();
    let first_nl = text.iter().position(|&b| b == b'\n').unwrap();
    let mut damaged = text[..=first_nl].to_vec();
    damaged.extend_from_slice(b"{\"night\": \"2026-11-25\", \"job\": \"\xff\"}\n");
    damaged.extend_from_slice(&text[first_nl + 1..]);
    std::fs::write(&path, damaged).unwrap();

    let (back, bad) = pipeline::read_results(&path);
    assert_eq!(back, rs);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].contains("results.jsonl:2:") && bad[0].contains("invalid UTF-8"),
        "{bad:?}"
    );

    let mut o = opts(&out, "2026-11-25");
    o.resume = true;
    let mut f2 = fake(&w);
    let mut messages = Vec::new();
    let plan = Plan::load(&w.plan).unwrap();
    let again = pipeline::run(&plan, &o, &mut f2, &mut |m| messages.push(m.to_string())).unwrap();
    assert_eq!(again.len(), 3);
    assert!(
        !f2.calls.iter().any(|c| c.starts_with("mmstall vm build")),
        "measured jobs ran again: {:?}",
        f2.calls
    );
    assert!(
        messages.iter().any(|m| m.contains("results.jsonl:2:")),
        "{messages:?}"
    );
}

/// Item 4: `--resume` after a torn last line. The job that runs again is
/// appended as a line of its own, readable afterwards, and the history
/// (torn as well) keeps every record.
#[test]
fn resume_after_a_torn_line_appends_a_readable_record() {
    let w = world(&["regress", "clean"], "");
    let out = w.dir.path().join("out");
    let history = w.dir.path().join("history.jsonl");
    let plan = Plan::load(&w.plan).unwrap();
    let mut o = opts(&out, "2026-11-25");
    o.history = Some(history.clone());
    o.only_jobs = plan.jobs().into_iter().take(2).map(|j| j.id).collect();
    let mut f = fake(&w);
    pipeline::run(&plan, &o, &mut f, &mut |_| {}).unwrap();
    // Killed in the middle of writing both files.
    append_bytes(
        &out.join(pipeline::RESULTS),
        b"{\"night\":\"2026-11-25\",\"job\":\"cle",
    );
    append_bytes(&history, b"{\"night\":\"2026-11-25\",\"jo");

    o.only_jobs.clear();
    o.resume = true;
    let mut f2 = fake(&w);
    let rs = pipeline::run(&plan, &o, &mut f2, &mut |_| {}).unwrap();
    assert_eq!(rs.len(), 3);
    let (back, bad) = pipeline::read_results(&out.join(pipeline::RESULTS));
    assert_eq!(back, rs, "the resumed job is readable: {bad:?}");
    assert_eq!(bad.len(), 1, "only the fragment is skipped: {bad:?}");
    let (hist, bad) = pipeline::read_results(&history);
    assert_eq!(hist.len(), 3, "{bad:?}");
    assert_eq!(bad.len(), 1, "{bad:?}");
}

/// Item 5: a merge with nothing readable (a pattern that matched nothing, a
/// directory without results) leaves an existing result directory as it was.
#[test]
fn merge_of_nothing_leaves_the_output_untouched() {
    let w = world(&["regress"], "");
    let job = w.dir.path().join("job");
    let mut f = fake(&w);
    run(&w, &mut f, &opts(&job, "2026-11-25"));
    let merged = w.dir.path().join("merged");
    let (rs, _) = mmstall_nightly::merge(std::slice::from_ref(&job), &merged).unwrap();
    assert_eq!(rs.len(), 2);
    let snapshot = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&merged);
    let empty_job = w.dir.path().join("empty-job");
    std::fs::create_dir_all(&empty_job).unwrap();
    let (rs, warnings) =
        mmstall_nightly::merge(&[w.dir.path().join("results/*"), empty_job], &merged).unwrap();
    assert!(rs.is_empty());
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(snapshot(&merged), before);
}

/// Item 6: three fresh runs into one directory keep both earlier
/// generations of results (and steps), numbered, newest highest.
#[test]
fn fresh_runs_keep_every_earlier_generation() {
    let w = world(&["clean"], "");
    let out = w.dir.path().join("out");
    for night in ["2026-11-23", "2026-11-24", "2026-11-25"] {
        let mut f = fake(&w);
        run(&w, &mut f, &opts(&out, night));
    }
    let nights = |name: &str| -> Vec<String> {
        let (rs, bad) = pipeline::read_results(&out.join(name));
        assert!(bad.is_empty(), "{bad:?}");
        let mut n: Vec<String> = rs.into_iter().map(|r| r.night).collect();
        n.dedup();
        n
    };
    assert_eq!(nights(pipeline::RESULTS), ["2026-11-25"]);
    assert_eq!(nights("results.jsonl.1"), ["2026-11-23"]);
    assert_eq!(nights("results.jsonl.2"), ["2026-11-24"]);
    assert!(out.join("steps.jsonl.1").is_file() && out.join("steps.jsonl.2").is_file());
}

/// Item 6: merging other jobs into an existing merged directory keeps its
/// earlier results as a generation; merging the same jobs again keeps none.
#[test]
fn merge_keeps_the_earlier_merged_results() {
    let w = world(&["clean"], "");
    let (a, b) = (w.dir.path().join("a"), w.dir.path().join("b"));
    run(&w, &mut fake(&w), &opts(&a, "2026-11-24"));
    run(&w, &mut fake(&w), &opts(&b, "2026-11-25"));
    let merged = w.dir.path().join("merged");
    for d in [&a, &a, &b] {
        mmstall_nightly::merge(std::slice::from_ref(d), &merged).unwrap();
    }
    let nights = |name: &str| -> Vec<String> {
        let (rs, _) = pipeline::read_results(&merged.join(name));
        let mut n: Vec<String> = rs.into_iter().map(|r| r.night).collect();
        n.dedup();
        n
    };
    assert_eq!(nights(pipeline::RESULTS), ["2026-11-25"]);
    assert_eq!(nights("results.jsonl.1"), ["2026-11-24"]);
    assert!(!merged.join("results.jsonl.2").exists());
}
