//! `[confirm]` in the nightly (issue 18): the findings a series introduces
//! are measured with `mmstall confirm` on its patched kernel and on the
//! baseline, with the test executor of `common` (it answers `confirm` as
//! the real one does: confirm.json in the run directory and on stdout, one
//! outcome per finding of `--findings`, exit 3 when the guest never boots).
//!
//! - a confirmed introduced finding is reported with its figures on both
//!   kernels, in results.jsonl, the history and every report;
//! - a confirm run that fails (or a mmstall without `confirm`) leaves the
//!   finding "not measured" with the reason, and the verdict is the one the
//!   static step gave: measurement is evidence beside it, never the verdict;
//! - off by default, and a series that introduces nothing is not measured.

mod common;

use common::*;
use mmstall_nightly::history;
use mmstall_nightly::model::{HoldOutcome, JobResult, SizeHold, StepStatus, Verdict};
use mmstall_nightly::pipeline::{self, Options};
use mmstall_nightly::plan::Plan;
use mmstall_nightly::reports;

const PLAN: &str = "[confirm]\nenabled = true\n";

fn run_night(series: &[&str], extra: &str, with_confirm: bool) -> (World, Vec<JobResult>, Fake) {
    let w = world(series, extra);
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        with_confirm,
        ..Default::default()
    };
    let plan = Plan::load(&w.plan).unwrap();
    let o = Options {
        out: w.dir.path().join("out"),
        night: "2026-12-03".into(),
        only_jobs: vec![],
        history: Some(w.dir.path().join("history.jsonl")),
        resume: false,
    };
    let rs = pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
    (w, rs, fake)
}

fn by<'a>(rs: &'a [JobResult], series: &str) -> &'a JobResult {
    rs.iter()
        .find(|r| r.series == series)
        .unwrap_or_else(|| panic!("no result for {series}"))
}

fn confirm_calls(fake: &Fake) -> Vec<&String> {
    fake.calls
        .iter()
        .filter(|c| c.starts_with("mmstall confirm"))
        .collect()
}

#[test]
fn a_configured_recipe_list_is_passed_as_is() {
    let plan = "[confirm]\nenabled = true\nrecipes = [\"munmap\", \"brk-shrink\"]\n";
    let (_w, _rs, fake) = run_night(&["regress"], plan, true);
    let calls = confirm_calls(&fake);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.contains("--recipes munmap,brk-shrink")),
        "{calls:?}"
    );
}

#[test]
fn a_confirmed_introduced_finding_is_reported_with_its_figures() {
    let (w, rs, fake) = run_night(&["regress"], PLAN, true);
    let r = by(&rs, "regress");
    let c = r.confirm.as_ref().expect("the regression was measured");
    assert_eq!(c.patched_step.status, StepStatus::Ok);
    assert_eq!(c.baseline_step.status, StepStatus::Ok);
    assert_eq!(c.findings.len(), 1);
    let h = &c.findings[0];
    assert_eq!(
        (h.fingerprint.as_str(), h.code.as_str()),
        ("fp-new", "MMS001")
    );
    assert_eq!(h.patched.outcome, HoldOutcome::Confirmed);
    assert_eq!(
        h.patched.sizes,
        [
            SizeHold {
                size_mib: 64,
                max_ms: 92.0
            },
            SizeHold {
                size_mib: 256,
                max_ms: 419.0
            }
        ]
    );
    assert_eq!(h.patched.growth, Some(4.6));
    assert_eq!(h.patched.recipe, "munmap-populated");
    assert_eq!(h.patched.mode, "write");
    assert_eq!(h.baseline.outcome, HoldOutcome::Short);
    assert_eq!(
        h.patched.describe(),
        "confirmed: write hold 92 ms at 64 MiB → 419 ms at 256 MiB (4.6×)"
    );
    assert_eq!(
        h.baseline.describe(),
        "short: write hold 3.2 ms at 64 MiB → 13 ms at 256 MiB (4.0×)"
    );
    // Both kernels, with the plan's sizes and the findings as lint JSON
    // (holder and lock mode: what confirm matches holds against).
    let calls = confirm_calls(&fake);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].contains("--kernel pregress") && calls[0].contains("--sizes 64,256"));
    assert!(calls[1].contains("--kernel base"), "{}", calls[1]);
    // No `recipes` in the plan: those confirm.toml names for the findings;
    // it names none for `do_thing`, so none run (the outcome says why).
    assert!(calls[0].contains("--recipes none"), "{}", calls[0]);
    let findings = w
        .dir
        .path()
        .join("out/logs")
        .join(&r.job)
        .join("confirm-findings.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(findings).unwrap()).unwrap();
    assert_eq!(doc["findings"][0]["holder"], "do_thing");
    assert_eq!(doc["findings"][0]["lock_mode"], "write");
    // Evidence beside the verdict: the static regression stays one.
    assert!(matches!(
        r.verdict,
        Verdict::Regression { static_: true, .. }
    ));
    // results.jsonl and the history keep the figures.
    let (stored, bad) = pipeline::read_results(&w.dir.path().join("out").join(pipeline::RESULTS));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(by(&stored, "regress").confirm, r.confirm);
    let (hist, bad) = pipeline::read_results(&w.dir.path().join("history.jsonl"));
    assert!(bad.is_empty() && !hist.is_empty(), "{bad:?}");
    let table = history::findings_table(&hist);
    assert!(
        table.contains(
            "| MMS001 mm/util.c:12 | `fp-new` | regress | k612 | confirmed 419.0 ms (4.6×) |"
        ),
        "{table}"
    );
}

#[test]
fn a_failed_confirm_run_is_not_measured_and_the_verdict_unchanged() {
    let (_w, rs, _) = run_night(&["confirmhang"], PLAN, true);
    let r = by(&rs, "confirmhang");
    let c = r.confirm.as_ref().unwrap();
    let StepStatus::Failed { detail } = &c.patched_step.status else {
        panic!("{:?}", c.patched_step)
    };
    assert!(
        detail.contains("exited 3") && detail.contains("boot timed out"),
        "{detail}"
    );
    let h = &c.findings[0];
    assert_eq!(h.patched.outcome, HoldOutcome::NotMeasured);
    assert!(
        h.patched.reason.contains("boot timed out"),
        "{}",
        h.patched.reason
    );
    assert_eq!(h.baseline.outcome, HoldOutcome::Short);
    // The same series without [confirm]: the same verdict.
    let (_w, without, _) = run_night(&["confirmhang"], "", true);
    assert_eq!(r.verdict, by(&without, "confirmhang").verdict);
    assert!(r.verdict.is_regression());
}

#[test]
fn a_mmstall_without_confirm_leaves_findings_not_measured() {
    let (_w, rs, _) = run_night(&["regress"], PLAN, false);
    let c = by(&rs, "regress").confirm.as_ref().unwrap();
    assert!(matches!(
        c.patched_step.status,
        StepStatus::Unavailable { .. }
    ));
    for m in [&c.findings[0].patched, &c.findings[0].baseline] {
        assert_eq!(m.outcome, HoldOutcome::NotMeasured);
        assert_eq!(m.reason, "this mmstall has no `confirm` subcommand");
    }
}

#[test]
fn off_by_default_and_nothing_to_measure_without_new_findings() {
    let (_w, rs, fake) = run_night(&["regress"], "", true);
    assert!(by(&rs, "regress").confirm.is_none());
    assert!(confirm_calls(&fake).is_empty());
    let (_w, rs, fake) = run_night(&["clean"], PLAN, true);
    assert!(by(&rs, "clean").confirm.is_none());
    assert!(confirm_calls(&fake).is_empty());
}

#[test]
fn a_static_only_night_says_why_nothing_was_measured() {
    let (_w, rs, fake) = run_night(
        &["regress"],
        "[build]\nenabled = false\n\n[confirm]\nenabled = true\n",
        true,
    );
    let c = by(&rs, "regress").confirm.as_ref().unwrap();
    assert!(confirm_calls(&fake).is_empty());
    assert_eq!(
        c.findings[0].patched.describe(),
        "not measured: kernel builds are disabled in the plan"
    );
}

#[test]
fn plan_errors_name_the_setting() {
    let w = world(&[], "[confirm]\nenabled = true\nsizes = [64]\n");
    let e = Plan::load(&w.plan).unwrap_err().to_string();
    assert!(
        e.contains("confirm.sizes") && e.contains("two sizes"),
        "{e}"
    );
    let w = world(&[], "[confirm]\nenabled = true\nsize = [64, 256]\n");
    let e = Plan::load(&w.plan).unwrap_err().to_string();
    assert!(e.contains("size"), "{e}");
}

/// What varies from run to run fixed (start time, host, seconds, the tree).
fn stable(mut rs: Vec<JobResult>) -> Vec<JobResult> {
    for r in &mut rs {
        r.started = Some("2026-12-03T01:17:00".into());
        r.host = Some("ci-runner".into());
        r.kernel_source = "/src/linux".into();
        r.duration_s = 700.0;
        r.checkout.duration_s = 0.0;
    }
    rs
}

#[test]
fn reports_carry_the_measured_holds() {
    let (_w, rs, _) = run_night(&["regress", "confirmhang"], PLAN, true);
    let rs = stable(rs);
    let md = reports::markdown(&rs, "test plan");
    insta::assert_snapshot!("summary", md);
    let junit = reports::junit(&rs, "test plan");
    insta::assert_snapshot!("junit", junit);
    let sarif = reports::sarif(&rs);
    let props = &sarif["runs"][0]["results"][0]["properties"]["confirm"];
    assert_eq!(props["outcome"], "confirmed", "{sarif:#}");
    assert_eq!(props["patched"]["sizes"][1]["max_ms"], 419.0, "{sarif:#}");
    let kcidb = reports::kcidb(&rs, "file:///results/2026-12-03/");
    let confirm_tests: Vec<_> = kcidb
        .tests
        .iter()
        .filter(|t| t.path == "mmstall.confirm")
        .collect();
    insta::assert_json_snapshot!("kcidb_confirm_tests", confirm_tests);
    let statuses: Vec<&str> = confirm_tests.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, ["FAIL", "ERROR"]);
    // Each test hangs off a build of the report.
    for t in &confirm_tests {
        assert!(
            kcidb.builds.iter().any(|b| b.id == t.build_id),
            "{}",
            t.build_id
        );
    }
}
