//! Unit tests of the validation's plan, checks and report.
use super::report::verdict_in;
use super::*;
use crate::boot::Outcome;
use crate::stall::judge;
use crate::stall::judge::{Rep, VariantResult};
use crate::stall::manifest::{Expect, Series};
use crate::stall::{GuestReport, TestReport};
use std::path::Path;

fn rep(n: u32, op: f64, worst: f64) -> Rep {
    Rep {
        rep: n,
        op_ms: op,
        cmdline_reads: 3,
        cmdline_worst_ms: worst,
        status_reads: 3,
        status_worst_ms: 0.2,
        faults: 3,
        fault_worst_ms: 1.0,
        error: None,
        ..Default::default()
    }
}

fn run(verdict: &str, reps: Vec<Rep>) -> SuiteRun {
    let j = crate::stall::thresholds::Judging {
        repeat: 2,
        min_valid: 2,
        max_ratio: 0.5,
        min_op_ms: 20.0,
    };
    let v: VariantResult = judge::judge_variant("munmap", reps, &j);
    let t = TestReport {
        name: "munmap-zap-stall".into(),
        verdict: judge::judge_test(std::slice::from_ref(&v)),
        variants: vec![v],
        duration_s: None,
    };
    let report = GuestReport {
        version: 1,
        kernel_release: "6.12.117".into(),
        thresholds_source: "built-in".into(),
        thp: "never".into(),
        tests: vec![t],
    };
    let stdout = format!(
        "KTAP version 1\n1..1\n{} 1 munmap-zap-stall\n",
        if verdict == "PASS" { "ok" } else { "not ok" }
    );
    suite_run_from(
        Path::new("/r"),
        Outcome::Exited { code: 0 },
        Some(1.0),
        Some(2.0),
        &stdout,
        Some(&serde_json::to_string(&report).unwrap()),
        vec![],
    )
}

fn kernels() -> Vec<KernelResult> {
    let k = |name: &str, runs| KernelResult {
        kernel: name.into(),
        build_dir: "/b".into(),
        build_secs: 0.0,
        build_cached: true,
        files_compiled: 0,
        runs,
    };
    // Numbers recorded in-house on 6.12.117 under TCG (`vm run` with --repeat 2: baseline
    // munmap and mremap-shrink reps, munmap reps on the regression kernel).
    vec![
        k(
            "baseline",
            vec![
                run("PASS", vec![rep(1, 292.0, 71.53), rep(2, 286.0, 16.67)]),
                run("PASS", vec![rep(1, 197.1, 8.07), rep(2, 184.4, 8.18)]),
            ],
        ),
        k(
            "munmap-zap-under-write",
            vec![run(
                "FAIL",
                vec![rep(1, 406.8, 383.56), rep(2, 308.5, 303.14)],
            )],
        ),
    ]
}

fn series() -> Vec<Series> {
    vec![Series {
        name: "munmap-zap-under-write".into(),
        path: "/p".into(),
        base: "debian:6.12".into(),
        description: String::new(),
        analyzer_rule: None,
        expect: vec![Expect {
            test: "munmap-zap-stall".into(),
            baseline: "PASS".into(),
            patched: "FAIL".into(),
            config: None,
        }],
    }]
}

const D: &str = "virtme-base,stall-debug";

#[test]
fn configs_other_than_the_default_get_a_label() {
    assert_eq!(config_label(D, None), None);
    assert_eq!(config_label(D, Some("virtme-base, stall-debug")), None);
    assert_eq!(
        config_label(D, Some("virtme-base,stall-debug,no-per-vma-lock")).as_deref(),
        Some("no-per-vma-lock")
    );
    assert_eq!(
        config_label(D, Some("virtme-base,lockdep")).as_deref(),
        Some("virtme-base+lockdep")
    );
    assert_eq!(
        kernel_name("baseline", Some("no-per-vma-lock")),
        "baseline@no-per-vma-lock"
    );
}

#[test]
fn an_expectation_on_another_config_is_checked_on_that_configs_kernels() {
    let mut ks = kernels();
    let mut s = series();
    s[0].expect[0].config = Some(format!("{D},no-per-vma-lock"));
    // Only default-config kernels ran: the check finds no kernel.
    let c = checks(&s, &ks, D);
    assert_eq!(c[0].kernel, "baseline@no-per-vma-lock");
    assert!(c.iter().all(|c| !c.ok && c.got.is_empty()), "{c:?}");
    for k in &mut ks {
        k.kernel = kernel_name(&k.kernel, Some("no-per-vma-lock"));
    }
    assert!(checks(&s, &ks, D).iter().all(|c| c.ok));
}

#[test]
fn checks_every_run_against_the_manifest() {
    let ks = kernels();
    let c = checks(&series(), &ks, D);
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.ok), "{c:?}");
    assert_eq!(c[0].got, ["PASS", "PASS"]);
    // A regression kernel that did not flip, and one that crashed.
    let mut ks2 = ks.clone();
    ks2[1].runs[0] = run("PASS", vec![rep(1, 300.0, 3.0), rep(2, 300.0, 3.0)]);
    assert!(!checks(&series(), &ks2, D)[1].ok);
    ks2[1].runs[0].verdicts.clear();
    ks2[1].runs[0].outcome = Outcome::GuestDied {
        reason: "panic".into(),
    };
    assert_eq!(checks(&series(), &ks2, D)[1].got, ["CRASH"]);
    // A kernel that never ran is not a pass.
    assert!(!checks(&series(), &ks[..1], D)[1].ok);
}

#[test]
fn table_and_spreads() {
    let ks = kernels();
    let t = table(&ks);
    assert!(
        t.starts_with("| test / variant | baseline | munmap-zap-under-write |\n|---|---|---|\n"),
        "{t}"
    );
    assert!(
        t.contains("| `munmap-zap-stall` | **PASS** ×2 | **FAIL** |"),
        "{t}"
    );
    assert!(
        t.contains("| &nbsp;&nbsp;munmap | 0.152 / 0.043 | 0.963 |"),
        "{t}"
    );
    let sp = spreads(&ks);
    assert_eq!(sp.len(), 2);
    let b = sp[0].ratio.as_ref().unwrap();
    assert_eq!(b.n, 4);
    assert!((b.max - 71.53 / 292.0).abs() < 1e-9);
    assert!(spread_table(&sp).contains("| baseline | munmap-zap-stall | munmap | 4 | 0.041 |"));
}

#[test]
fn broken_guest_output_is_a_problem_not_a_panic() {
    let r = suite_run_from(
        Path::new("/r"),
        Outcome::CommandTimeout,
        None,
        None,
        "garbage",
        Some("{"),
        vec![],
    );
    assert!(r.verdicts.is_empty());
    assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
    assert_eq!(verdict_in(&r, "x"), "TIMEOUT");
}

#[test]
fn guest_script_quotes_paths() {
    let s = guest_script(
        Path::new("/t/mmstall-guest"),
        Path::new("/runs/a b/stall.json"),
        Some(Path::new("/x/th.toml")),
        Some(2),
        Some(&["fault-io-stall".to_string(), "mlock-reclaim".to_string()]),
    );
    assert_eq!(s, "'/t/mmstall-guest' suite --json '/runs/a b/stall.json' --thresholds '/x/th.toml' --repeat 2 --tests 'fault-io-stall,mlock-reclaim'\n");
}
