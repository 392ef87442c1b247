//! The pipeline end to end with the test executor (tests/common): verdicts
//! for each outcome class, every report well-formed, append-only results,
//! resume, merge, scale-out emitters.

mod common;

use common::*;
use mmstall_nightly::model::*;
use mmstall_nightly::pipeline::{self, Options};
use mmstall_nightly::plan::Plan;
use mmstall_nightly::reports::{self, Kcidb};
use std::collections::HashSet;
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

fn run(w: &World, fake: &mut Fake, o: &Options) -> Vec<JobResult> {
    let plan = Plan::load(&w.plan).unwrap();
    pipeline::run(&plan, o, fake, &mut |_| {}).unwrap()
}

fn by<'a>(rs: &'a [JobResult], series: &str) -> &'a JobResult {
    rs.iter()
        .find(|r| r.series == series)
        .unwrap_or_else(|| panic!("no result for {series}"))
}

/// JUnit parsed back: counts add up, every case has a name, errors are infrastructure.
pub fn check_junit(path: &Path) -> roxmltree::Document<'static> {
    let text: &'static str = Box::leak(std::fs::read_to_string(path).unwrap().into_boxed_str());
    let doc = roxmltree::Document::parse(text).expect("junit.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let mut total = (0, 0, 0, 0);
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let count = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|x| x.has_tag_name(tag)))
                .count()
        };
        let attr = |a: &str| suite.attribute(a).unwrap().parse::<usize>().unwrap();
        assert_eq!(attr("tests"), cases.len());
        assert_eq!(attr("failures"), count("failure"));
        assert_eq!(attr("errors"), count("error"));
        assert_eq!(attr("skipped"), count("skipped"));
        for c in &cases {
            assert!(!c.attribute("name").unwrap().is_empty());
            // No time when it was not measured (a stall test of an older guest).
            assert!(c.attribute("time").is_none_or(|t| t.parse::<f64>().is_ok()));
        }
        total.0 += attr("tests");
        total.1 += attr("failures");
        total.2 += attr("errors");
        total.3 += attr("skipped");
    }
    let attr = |a: &str| root.attribute(a).unwrap().parse::<usize>().unwrap();
    // The common schema has no `skipped` on <testsuites>.
    assert_eq!(root.attribute("skipped"), None);
    assert_eq!(
        (attr("tests"), attr("failures"), attr("errors"), total.3),
        total
    );
    doc
}

/// SARIF 2.1.0 structure.
pub fn check_sarif(path: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "mmstall");
    let rule_ids: HashSet<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in runs[0]["results"].as_array().unwrap() {
        assert!(
            rule_ids.contains(r["ruleId"].as_str().unwrap()),
            "result rule in driver.rules"
        );
        assert!(["error", "warning", "note", "none"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(!loc["artifactLocation"]["uri"].as_str().unwrap().is_empty());
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(r["partialFingerprints"]["mmstall/v1"].is_string());
    }
    v
}

/// KCIDB JSON through its types and back, identical; every reference resolves;
/// every number has a unit.
pub fn check_kcidb(path: &Path) -> Kcidb {
    let text = std::fs::read_to_string(path).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let k: Kcidb = serde_json::from_str(&text).expect("kcidb.json deserializes into its types");
    assert_eq!(serde_json::to_value(&k).unwrap(), raw, "round trip");
    let checkouts: HashSet<&str> = k.checkouts.iter().map(|c| c.id.as_str()).collect();
    let builds: HashSet<&str> = k.builds.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(checkouts.len(), k.checkouts.len(), "unique checkout ids");
    assert_eq!(builds.len(), k.builds.len(), "unique build ids");
    for b in &k.builds {
        assert!(
            checkouts.contains(b.checkout_id.as_str()),
            "{} → {}",
            b.id,
            b.checkout_id
        );
    }
    let mut tests = HashSet::new();
    for t in &k.tests {
        assert!(
            builds.contains(t.build_id.as_str()),
            "{} → {}",
            t.id,
            t.build_id
        );
        assert!(tests.insert(t.id.as_str()), "unique test id {}", t.id);
        assert!(["PASS", "FAIL", "ERROR", "SKIP", "MISS", "DONE"].contains(&t.status.as_str()));
        if let Some(n) = &t.number {
            assert!(!n.unit.is_empty() && n.value.is_finite());
        }
    }
    k
}

pub fn check_reports(dir: &Path) {
    check_junit(&dir.join(reports::JUNIT));
    check_sarif(&dir.join(reports::SARIF));
    check_kcidb(&dir.join(reports::KCIDB));
    let md = std::fs::read_to_string(dir.join(reports::SUMMARY)).unwrap();
    assert!(md.starts_with("# mmstall nightly"));
}

#[test]
fn baseline_and_regression_series_end_to_end() {
    let w = world(&["regress", "clean"], "");
    let out = w.dir.path().join("out");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    let rs = run(&w, &mut fake, &opts(&out, "2026-11-25"));
    assert_eq!(rs.len(), 3);
    assert_eq!(
        by(&rs, "baseline").verdict,
        Verdict::Pass {
            not_checked: vec![]
        }
    );
    assert_eq!(
        by(&rs, "regress").verdict,
        Verdict::Regression {
            static_: true,
            dynamic: true,
            functional: false,
            not_checked: vec![]
        }
    );
    assert_eq!(
        by(&rs, "clean").verdict,
        Verdict::Pass {
            not_checked: vec![]
        }
    );
    let reg = by(&rs, "regress");
    let c = reg
        .comparisons
        .iter()
        .find(|c| c.test == "mlock-20g")
        .unwrap();
    assert!(
        c.regression && c.baseline_ratio == Some(1.2) && c.patched_ratio == Some(9.5),
        "{c:?}"
    );
    assert_eq!(
        (c.baseline_status.as_str(), c.patched_status.as_str()),
        ("pass", "fail")
    );
    let tests = &by(&rs, "baseline").baseline.as_ref().unwrap().tests;
    assert_eq!(
        tests
            .iter()
            .map(|t| (t.name.as_str(), t.status.as_str()))
            .collect::<Vec<_>>(),
        [
            ("mlock-20g", "pass"),
            ("munmap-zap", "pass"),
            ("uffd-hold", "skip")
        ]
    );
    assert_eq!(reg.static_.as_ref().unwrap().introduced[0].patch, Some(1));
    assert_eq!(reg.subjects, vec!["mm: regress"]);
    // The baseline is built once for every job of its kernel and config.
    assert_eq!(
        fake.calls
            .iter()
            .filter(|c| c.starts_with("mmstall vm build") && !c.contains("--series"))
            .count(),
        1
    );

    check_reports(&out);
    let sarif = check_sarif(&out.join(reports::SARIF));
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        1,
        "only the new finding"
    );
    let doc = check_junit(&out.join(reports::JUNIT));
    let failures: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| n.attribute("type").unwrap().to_string())
        .collect();
    assert!(
        failures.contains(&"static-regression".to_string())
            && failures.contains(&"dynamic-regression".to_string()),
        "{failures:?}"
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("error"))
            .count(),
        0
    );
    let k = check_kcidb(&out.join(reports::KCIDB));
    let ratio = k
        .tests
        .iter()
        .find(|t| t.path == "mmstall.stall.mlock-20g" && t.status == "FAIL")
        .unwrap();
    assert_eq!(
        ratio.number.as_ref().map(|n| (n.value, n.unit.as_str())),
        Some((9.5, "ratio"))
    );
    let boot = k.tests.iter().find(|t| t.path == "mmstall.boot").unwrap();
    assert_eq!(boot.number.as_ref().unwrap().unit, "s");
    let md = std::fs::read_to_string(out.join(reports::SUMMARY)).unwrap();
    let reg_at = md.find("## Regressions").unwrap();
    assert!(
        md[reg_at..].contains("| regress | k612 | default | regression (static + dynamic)"),
        "{md}"
    );
    // Results are one JSON line per job.
    let (back, bad) = pipeline::read_results(&out.join(pipeline::RESULTS));
    assert!(bad.is_empty());
    assert_eq!(back, rs);
}

#[test]
fn suite_and_series_unavailable_are_recorded_never_passed() {
    let w = world(&["clean"], "");
    let out = w.dir.path().join("out");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        ..Default::default()
    };
    let rs = run(&w, &mut fake, &opts(&out, "2026-11-25"));
    // Checks the plan asks for did not run: not checked (an infrastructure
    // error, exit 3), never a pass, not even a partial one.
    let Verdict::InfraError {
        class: InfraClass::NotChecked,
        detail,
    } = &by(&rs, "clean").verdict
    else {
        panic!("{:?}", by(&rs, "clean").verdict)
    };
    assert!(detail.contains("static analysis unavailable"), "{detail:?}");
    assert!(
        detail.contains("stall suite unavailable: no mmstall-guest"),
        "{detail:?}"
    );
    assert_eq!(
        by(&rs, "clean").verdict.word(),
        "infrastructure error: not checked"
    );
    // The baseline job could not run its stall suite either.
    assert!(
        matches!(&by(&rs, "baseline").verdict, Verdict::InfraError { class: InfraClass::NotChecked, detail } if detail.contains("stall suite unavailable")),
        "{:?}",
        by(&rs, "baseline").verdict
    );
    // No `git` import of the tree when `series` does not exist.
    assert!(
        !fake.calls.iter().any(|c| c.starts_with("git ")),
        "{:?}",
        fake.calls
    );
    check_reports(&out);
    let doc = check_junit(&out.join(reports::JUNIT));
    let skipped: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .map(|n| n.attribute("message").unwrap().to_string())
        .collect();
    assert!(
        skipped
            .iter()
            .any(|m| m.contains("stall suite unavailable")),
        "{skipped:?}"
    );
    let k = check_kcidb(&out.join(reports::KCIDB));
    assert!(k
        .tests
        .iter()
        .any(|t| t.path == "mmstall.stall" && t.status == "MISS"));
    assert!(k
        .tests
        .iter()
        .any(|t| t.path == "mmstall.static.new_findings" && t.status == "MISS"));
    let md = std::fs::read_to_string(out.join(reports::SUMMARY)).unwrap();
    assert!(md.contains("stall suite unavailable"), "{md}");
}

#[test]
fn failure_classes_are_infrastructure_errors_and_the_run_goes_on() {
    let w = world(&["noapply", "buildfail", "hang", "lockdep", "clean"], "");
    let out = w.dir.path().join("out");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    let rs = run(&w, &mut fake, &opts(&out, "2026-11-25"));
    assert_eq!(rs.len(), 6, "every job ran");
    let class = |s: &str| match &by(&rs, s).verdict {
        Verdict::InfraError { class, detail } => (*class, detail.clone()),
        v => panic!("{s}: {v:?}"),
    };
    let (c, d) = class("noapply");
    assert_eq!(c, InfraClass::PatchDoesNotApply);
    assert!(
        d.contains("patch 1/1 does not apply") && d.contains("mm/util.c"),
        "{d}"
    );
    // A series that does not apply costs nothing: no build was asked for it.
    assert!(!fake
        .calls
        .iter()
        .any(|c| c.contains("noapply.mbox") && c.contains("vm build")));
    // The static report still says which patch failed.
    assert_eq!(
        by(&rs, "noapply").static_.as_ref().unwrap().patches[0].status,
        "failed"
    );
    let (c, d) = class("buildfail");
    assert_eq!(c, InfraClass::BuildFailure);
    assert!(d.contains("expected ';'"), "{d}");
    let (c, d) = class("hang");
    assert_eq!(c, InfraClass::BootFailure);
    assert!(
        d.contains("boot timeout") && d.contains("the baseline booted"),
        "{d}"
    );
    // A kernel event while booting the patched kernel is a dynamic regression.
    assert!(matches!(
        by(&rs, "lockdep").verdict,
        Verdict::Regression {
            static_: false,
            dynamic: true,
            ..
        }
    ));
    assert_eq!(
        by(&rs, "clean").verdict,
        Verdict::Pass {
            not_checked: vec![]
        }
    );

    check_reports(&out);
    let doc = check_junit(&out.join(reports::JUNIT));
    let errors: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .map(|n| n.attribute("type").unwrap().to_string())
        .collect();
    for want in [
        "infrastructure:patch does not apply",
        "infrastructure:build failure",
        "infrastructure:boot failure",
    ] {
        assert!(errors.iter().any(|e| e == want), "{want} in {errors:?}");
    }
    let md = std::fs::read_to_string(out.join(reports::SUMMARY)).unwrap();
    let infra = md.find("## Infrastructure errors").unwrap();
    let passes = md.find("## Passes").unwrap();
    assert!(
        md[infra..passes].contains("noapply--k612--default")
            && md[infra..passes].contains("boot failure")
    );
    assert!(
        !md[..infra].contains("noapply"),
        "a broken series is never listed as a regression"
    );
    let k = check_kcidb(&out.join(reports::KCIDB));
    let noapply = k
        .checkouts
        .iter()
        .find(|c| c.id.contains("noapply"))
        .unwrap();
    assert_eq!(noapply.valid, Some(false));
    let bf = k
        .builds
        .iter()
        .find(|b| b.id.contains("buildfail") && b.architecture == "x86_64")
        .unwrap();
    assert_eq!(bf.valid, Some(false));
    // Logs for each step.
    assert!(out
        .join("logs/buildfail--k612--default/patched-build.log")
        .is_file());
    assert!(
        std::fs::read_to_string(out.join("logs/noapply--k612--default/apply-check.log"))
            .unwrap()
            .contains("does not apply")
    );
}

#[test]
fn baseline_failure_is_infrastructure_for_every_series() {
    let w = world(&["clean"], "");
    let plan = std::fs::read_to_string(&w.plan).unwrap().replace(
        "fragments = [\"virtme-base\", \"stall-debug\"]",
        "fragments = [\"virtme-base\", \"broken\"]",
    );
    std::fs::write(&w.plan, plan).unwrap();
    let out = w.dir.path().join("out");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    let rs = run(&w, &mut fake, &opts(&out, "2026-11-25"));
    for r in &rs {
        assert!(
            matches!(&r.verdict, Verdict::InfraError { class: InfraClass::BuildFailure, detail } if detail.contains("baseline kernel") && detail.contains("dropped")),
            "{:?}",
            r.verdict
        );
    }
    check_reports(&out);
}

#[test]
fn interrupted_run_resumes_without_losing_or_redoing_measurements() {
    let w = world(&["regress", "clean"], "");
    let out = w.dir.path().join("out");
    let history = w.dir.path().join("history.jsonl");
    let plan = Plan::load(&w.plan).unwrap();
    // "Interrupted" after the first two jobs.
    let mut o = opts(&out, "2026-11-25");
    o.history = Some(history.clone());
    o.only_jobs = plan.jobs().into_iter().take(2).map(|j| j.id).collect();
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
    // A torn last line, as a kill in the middle of a write leaves it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(out.join(pipeline::RESULTS))
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"night\":\"2026-11-25\",\"job\":\"cle").unwrap();
    drop(f);
    let (partial, bad) = pipeline::read_results(&out.join(pipeline::RESULTS));
    assert_eq!((partial.len(), bad.len()), (2, 1));
    check_reports(&out);

    o.only_jobs.clear();
    o.resume = true;
    let mut fake2 = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    let rs = pipeline::run(&plan, &o, &mut fake2, &mut |_| {}).unwrap();
    assert_eq!(rs.len(), 3);
    assert_eq!(&rs[..2], &partial[..]);
    // Only the third job ran, and it reused the measured baseline.
    assert!(!fake2.calls.iter().any(|c| c.contains("regress.mbox")));
    assert!(
        !fake2
            .calls
            .iter()
            .any(|c| c.starts_with("mmstall vm build") && !c.contains("--series")),
        "{:?}",
        fake2.calls
    );
    let (hist, _) = pipeline::read_results(&history);
    assert_eq!(hist.len(), 3);
    check_reports(&out);
}

#[test]
fn merge_of_per_job_directories_equals_one_run() {
    let w = world(&["regress", "noapply"], "");
    let plan = Plan::load(&w.plan).unwrap();
    let mut dirs = Vec::new();
    for j in plan.jobs() {
        let d = w.dir.path().join("results").join(&j.id);
        let mut o = opts(&d, "2026-11-25");
        o.only_jobs = vec![j.id.clone()];
        let mut fake = Fake {
            cache: w.dir.path().join("cache"),
            with_series: true,
            with_suite: true,
            ..Default::default()
        };
        pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
        dirs.push(d);
    }
    dirs.push(w.dir.path().join("results/not-a-result-dir"));
    let merged = w.dir.path().join("merged");
    let (rs, warnings) = mmstall_nightly::merge(&dirs, &merged).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(rs.len(), 3);
    assert!(rs[0].is_baseline());
    check_reports(&merged);
    assert!(merged
        .join("logs/noapply--k612--default/apply-check.log")
        .is_file());

    let single = w.dir.path().join("single");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    let one = pipeline::run(&plan, &opts(&single, "2026-11-25"), &mut fake, &mut |_| {}).unwrap();
    let verdicts = |rs: &[JobResult]| {
        rs.iter()
            .map(|r| (r.job.clone(), r.verdict.clone()))
            .collect::<Vec<_>>()
    };
    let mut a = verdicts(&rs);
    let mut b = verdicts(&one);
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(a, b);
}

#[test]
fn emitters_one_job_per_series_kernel_config() {
    let w = world(&["regress", "clean"], "[[config]]\nname = \"lockdep\"\nfragments = [\"virtme-base\", \"stall-debug\", \"lockdep\"]\n");
    let plan = Plan::load(&w.plan).unwrap();
    let m = mmstall_nightly::emit::github_matrix(&plan);
    let inc = m["include"].as_array().unwrap();
    // (baseline + 2 series) × 1 kernel × 2 configs
    assert_eq!(inc.len(), 6);
    let ids: HashSet<&str> = inc.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 6);
    assert!(ids.contains("regress--k612--lockdep"));
    let k = mmstall_nightly::emit::k8s(
        &plan,
        &mmstall_nightly::emit::K8sOptions {
            image: "registry.local/mmstall:1".into(),
            plan_path: "ci/nightly.toml".into(),
            workdir: "/src/mmstall".into(),
            night: "2026-11-25".into(),
            namespace: Some("ci".into()),
            results_claim: "r".into(),
            cache_claim: "c".into(),
        },
    );
    assert_eq!(k["kind"], "List");
    let items = k["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    let mut names = HashSet::new();
    for (it, j) in items.iter().zip(inc) {
        assert_eq!(it["apiVersion"], "batch/v1");
        assert_eq!(it["kind"], "Job");
        let name = it["metadata"]["name"].as_str().unwrap();
        assert!(
            name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.ends_with('-'),
            "{name}"
        );
        assert!(names.insert(name.to_string()));
        let cmd: Vec<&str> = it["spec"]["template"]["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            &cmd[..4],
            &["mmstall", "nightly", "--plan", "ci/nightly.toml"]
        );
        assert!(cmd
            .windows(2)
            .any(|p| p[0] == "--job" && p[1] == j["job"].as_str().unwrap()));
        assert_eq!(it["spec"]["template"]["spec"]["restartPolicy"], "Never");
    }
}

/// A report written by mmstall-guest in a booted 6.12 (`suite --tests munmap-zap-stall --repeat 1`).
#[test]
fn real_guest_report_parses() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/guest-report-6.12.json"),
    )
    .unwrap();
    let tests = pipeline::parse_suite_json(&text).unwrap();
    assert_eq!(tests.len(), 1);
    assert_eq!(
        (tests[0].name.as_str(), tests[0].status.as_str()),
        ("munmap-zap-stall", "pass")
    );
    let r = tests[0].ratio.unwrap();
    assert!(r > 0.0 && r < 0.5, "{r}");
    assert!(tests[0].detail.contains("mremap-shrink: ratio median"));
}

/// Killed after the baseline was measured but before its first series job
/// ended: `--resume` reuses the measured baseline (steps.jsonl) instead of
/// building and booting it again.
#[test]
fn resume_reuses_a_baseline_measured_by_an_unfinished_job() {
    let w = world(&["clean"], "");
    let out = w.dir.path().join("out");
    let plan = Plan::load(&w.plan).unwrap();
    let mut o = opts(&out, "2026-11-25");
    o.only_jobs = vec!["clean--k612--default".into()];
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
    // Lose the job's result line, as a kill before the job ended would.
    std::fs::write(out.join(pipeline::RESULTS), "").unwrap();
    o.only_jobs.clear();
    o.resume = true;
    let mut fake2 = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        ..Default::default()
    };
    let rs = pipeline::run(&plan, &o, &mut fake2, &mut |_| {}).unwrap();
    assert_eq!(rs.len(), 2);
    assert!(
        !fake2
            .calls
            .iter()
            .any(|c| c.starts_with("mmstall vm build") && !c.contains("--series")),
        "{:?}",
        fake2.calls
    );
    assert_eq!(
        by(&rs, "baseline").baseline.as_ref().unwrap().tests.len(),
        3
    );
    check_reports(&out);
}
