//! The mm selftests in the nightly (issue 19), with the test executor of
//! `common` (it answers `vm build` and `vm run --kselftest` as the real
//! commands do: per-test logs, `result.json`, the report on stdout, exit
//! codes). A plan with `[kselftest]` runs them on the baseline and on each
//! patched kernel, on a second build with the `kselftest-mm` fragment.
//!
//! - a selftest that passes on the baseline and fails with the series is a
//!   functional regression (exit 1), beside static and dynamic ones;
//! - a selftest that fails on both kernels is "failing on baseline too",
//!   not a regression;
//! - selftests that could not run on the patched kernel (its run never
//!   booted, its kernel did not build, no `--kselftest` in this mmstall)
//!   leave the series "not checked", never a pass;
//! - the reports carry one case per selftest per kernel (insta snapshots).

mod common;

use common::*;
use mmstall_nightly::model::{JobResult, SelftestOutcome, Verdict};
use mmstall_nightly::pipeline::{self, Options};
use mmstall_nightly::plan::Plan;
use mmstall_nightly::reports;

const PLAN: &str = "[kselftest]\ntests = [\"mlock2-tests\", \"mremap_test\", \"gup_longterm\"]\n";

fn run_night(series: &[&str], extra: &str, with_kselftest: bool) -> (World, Vec<JobResult>, Fake) {
    let w = world(series, extra);
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        with_kselftest,
        ..Default::default()
    };
    let plan = Plan::load(&w.plan).unwrap();
    let o = Options {
        out: w.dir.path().join("out"),
        night: "2026-12-03".into(),
        only_jobs: vec![],
        history: None,
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

fn outcome(r: &JobResult, test: &str) -> SelftestOutcome {
    r.selftest_comparisons
        .iter()
        .find(|c| c.test == test)
        .unwrap_or_else(|| panic!("{test} not compared: {:?}", r.selftest_comparisons))
        .outcome
}

#[test]
fn a_selftest_broken_by_the_series_is_a_functional_regression() {
    let (w, rs, fake) = run_night(&["mlockbreak", "clean"], PLAN, true);
    let base = by(&rs, "baseline");
    assert_eq!(
        base.verdict,
        Verdict::Pass {
            not_checked: vec![]
        },
        "{:?}",
        base.verdict
    );
    let st = base.baseline.as_ref().unwrap().selftests.as_ref().unwrap();
    assert_eq!(st.fragments, ["virtme-base", "stall-debug", "kselftest-mm"]);
    assert!(
        st.build.is_some(),
        "a second kernel with the kselftest-mm fragment"
    );
    let statuses: Vec<(&str, &str)> = st
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("mlock2-tests", "pass"),
            ("mremap_test", "fail"),
            ("gup_longterm", "skip")
        ]
    );
    assert_eq!(st.tests[2].reason, "need more free huge pages");

    let reg = by(&rs, "mlockbreak");
    assert_eq!(
        reg.verdict,
        Verdict::Regression {
            static_: false,
            dynamic: false,
            functional: true,
            not_checked: vec![]
        },
    );
    assert_eq!(reg.verdict.word(), "regression (functional)");
    assert_eq!(outcome(reg, "mlock2-tests"), SelftestOutcome::Regression);
    assert_eq!(
        outcome(reg, "mremap_test"),
        SelftestOutcome::FailingOnBaseline
    );
    assert_eq!(outcome(reg, "gup_longterm"), SelftestOutcome::Unchanged);
    let t = &reg
        .patched
        .as_ref()
        .unwrap()
        .selftests
        .as_ref()
        .unwrap()
        .tests[0];
    assert_eq!(t.reason, "exit status 1; failed: test_mlock_lock: Locked");
    assert!(
        t.log_tail.contains("not ok 1 test_mlock_lock: Locked"),
        "{}",
        t.log_tail
    );
    let log = t.log.as_deref().unwrap();
    assert_eq!(
        log,
        "logs/mlockbreak--k612--default/patched-kselftest/kselftest/mlock2-tests.log"
    );
    assert!(w.dir.path().join("out").join(log).is_file());

    // Failing on both kernels is not a regression: the clean series passes.
    let clean = by(&rs, "clean");
    assert_eq!(
        clean.verdict,
        Verdict::Pass {
            not_checked: vec![]
        },
        "{:?}",
        clean.verdict
    );
    assert_eq!(
        outcome(clean, "mremap_test"),
        SelftestOutcome::FailingOnBaseline
    );

    // One baseline selftests' kernel, one per series (incremental, with the series).
    let ks_builds = fake
        .calls
        .iter()
        .filter(|c| c.starts_with("mmstall vm build") && c.contains("kselftest-mm"))
        .count();
    assert_eq!(ks_builds, 3, "{:#?}", fake.calls);
    // Stored with the other results, read back as they were written.
    let (back, bad) = pipeline::read_results(&w.dir.path().join("out").join(pipeline::RESULTS));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(by(&back, "mlockbreak"), reg);
}

#[test]
fn the_job_config_with_the_fragment_runs_them_on_its_own_kernel() {
    let (w, rs, fake) = run_night(&["mlockbreak"], PLAN, true);
    drop((w, rs));
    let n = fake
        .calls
        .iter()
        .filter(|c| c.starts_with("mmstall vm build"))
        .count();
    assert_eq!(n, 4, "job kernel + selftests' kernel, baseline and patched");
    let w = world(&["mlockbreak"], PLAN);
    let plan = std::fs::read_to_string(&w.plan).unwrap().replace(
        "fragments = [\"virtme-base\", \"stall-debug\"]",
        "fragments = [\"virtme-base\", \"stall-debug\", \"kselftest-mm\"]",
    );
    std::fs::write(&w.plan, plan).unwrap();
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        with_kselftest: true,
        ..Default::default()
    };
    let o = Options {
        out: w.dir.path().join("out"),
        night: "2026-12-03".into(),
        only_jobs: vec![],
        history: None,
        resume: false,
    };
    let rs = pipeline::run(&Plan::load(&w.plan).unwrap(), &o, &mut fake, &mut |_| {}).unwrap();
    let n = fake
        .calls
        .iter()
        .filter(|c| c.starts_with("mmstall vm build"))
        .count();
    assert_eq!(n, 2, "no second build: {:#?}", fake.calls);
    assert!(by(&rs, "mlockbreak").verdict.is_regression());
    assert!(by(&rs, "mlockbreak")
        .patched
        .as_ref()
        .unwrap()
        .selftests
        .as_ref()
        .unwrap()
        .build
        .is_none());
}

fn not_checked_detail(r: &JobResult) -> &str {
    match &r.verdict {
        Verdict::InfraError { class, detail } => {
            assert_eq!(class.label(), "not checked", "{detail}");
            detail
        }
        v => panic!("{} is {v:?}, not `not checked`", r.series),
    }
}

#[test]
fn selftests_that_could_not_run_on_the_patched_kernel_are_not_checked() {
    let (_w, rs, _) = run_night(&["kserror", "ksbuildfail", "clean"], PLAN, true);
    let d = not_checked_detail(by(&rs, "kserror"));
    assert!(
        d.contains("mm selftests: vm run exited 3: error: boot timeout"),
        "{d}"
    );
    let d = not_checked_detail(by(&rs, "ksbuildfail"));
    assert!(
        d.contains("mm selftests: their kernel did not build: error: make bzImage failed"),
        "{d}"
    );
    assert_eq!(
        by(&rs, "clean").verdict,
        Verdict::Pass {
            not_checked: vec![]
        }
    );
    // A functional regression stays one when another part could not be checked.
    let (_w, rs, _) = run_night(
        &["mlockbreak"],
        &PLAN.replace("gup_longterm", "gup_longterm\", \"madv_populate"),
        true,
    );
    assert!(by(&rs, "mlockbreak").verdict.is_regression());
}

#[test]
fn a_mmstall_without_kselftest_is_not_checked_never_a_pass() {
    let (_w, rs, _) = run_night(&["clean"], PLAN, false);
    let d = not_checked_detail(by(&rs, "clean"));
    assert!(d.contains("mm selftests unavailable"), "{d}");
    let d = not_checked_detail(by(&rs, "baseline"));
    assert!(d.contains("mm selftests unavailable"), "{d}");
}

#[test]
fn plan_errors_name_the_setting() {
    let w = world(
        &[],
        "[kselftest]\ntests = [\"mlock2-tests\", \"no-such-test\"]\n",
    );
    let e = Plan::load(&w.plan).unwrap_err();
    let text = std::fs::read_to_string(&w.plan).unwrap();
    let line = 1 + text.lines().position(|l| l.starts_with("tests =")).unwrap();
    assert_eq!((e.key.as_str(), e.line), ("kselftest.tests", line), "{e}");
    assert!(e.to_string().contains("unknown test `no-such-test`"), "{e}");
    let w = world(&[], "[kselftest]\ntimeout_secs = 0\n");
    assert_eq!(
        Plan::load(&w.plan).unwrap_err().key,
        "kselftest.timeout_secs"
    );
    let w = world(&[], "[kselftest]\nenabled = false\n");
    assert!(Plan::load(&w.plan).unwrap().kselftest.is_none());
    let w = world(&[], "[kselftest]\n");
    let k = Plan::load(&w.plan).unwrap().kselftest.unwrap();
    assert_eq!(
        (k.tests.spec().as_str(), k.fragments.as_slice()),
        ("mm", &["kselftest-mm".to_string()][..])
    );
    let w = world(&[], "[kselftest]\ntests = \"all\"\n");
    assert_eq!(
        Plan::load(&w.plan).unwrap().kselftest.unwrap().tests.spec(),
        "mm:all"
    );
}

/// The reports of a night with a functional regression, with what varies
/// from run to run (start time, host, elapsed seconds, the temporary
/// tree's path) fixed.
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
fn reports_carry_the_selftests() {
    let (_w, rs, _) = run_night(&["mlockbreak", "kserror"], PLAN, true);
    let rs = stable(rs);
    let junit = reports::junit(&rs, "test plan");
    insta::assert_snapshot!("junit", junit);
    let kcidb = reports::kcidb(&rs, "file:///results/2026-12-03/");
    insta::assert_json_snapshot!("kcidb", kcidb);
    let md = reports::markdown(&rs, "test plan");
    insta::assert_snapshot!("summary", md);
    // Through the real consumers' eyes: every selftest of each kernel once.
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let cases: Vec<String> = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("testcase") && n.attribute("name").unwrap().starts_with("mm selftest/")
        })
        .map(|n| {
            format!(
                "{}: {}",
                n.attribute("classname").unwrap(),
                n.attribute("name").unwrap()
            )
        })
        .collect();
    assert_eq!(cases.len(), 9, "{cases:#?}");
    let paths: Vec<&str> = kcidb
        .tests
        .iter()
        .map(|t| t.path.as_str())
        .filter(|p| p.starts_with("mm.selftests."))
        .collect();
    assert_eq!(paths.len(), 9, "{paths:?}");
}

/// A baseline measured by a run whose plan had no `[kselftest]` (kept by
/// `--resume`) has no selftests to compare with: the series is not checked,
/// never a pass.
#[test]
fn a_resumed_baseline_without_selftests_leaves_the_series_not_checked() {
    let w = world(&["clean"], "");
    let out = w.dir.path().join("out");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        with_kselftest: true,
        ..Default::default()
    };
    let mut o = Options {
        out: out.clone(),
        night: "2026-12-03".into(),
        only_jobs: vec!["baseline--k612--default".into()],
        history: None,
        resume: false,
    };
    let plan = Plan::load(&w.plan).unwrap();
    pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
    let text = std::fs::read_to_string(&w.plan).unwrap() + PLAN;
    std::fs::write(&w.plan, text).unwrap();
    o.only_jobs.clear();
    o.resume = true;
    let plan = Plan::load(&w.plan).unwrap();
    let rs = pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
    let d = not_checked_detail(by(&rs, "clean"));
    assert!(
        d.contains("mm selftests: they did not run on both kernels"),
        "{d}"
    );
}
