//! Findings grouped by long-call site, and the triggers of each holder:
//! a fixture (`fixtures/sites`) where four holders reach one zap — one from
//! a `SYSCALL_DEFINE3` through two levels, one from a second system call
//! and the exit path, and two static `demo_trap`s of the same name in two
//! arch directories, one behind an ioctl handler, one behind a work item.

use std::path::{Path, PathBuf};

use mmstall_analyzer::printers::{self, sites};
use mmstall_analyzer::{lint_path, Catalogue, LintOptions, LintRun};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn lint(name: &str) -> LintRun {
    let mut run = lint_path(
        &fixture(name),
        &Catalogue::builtin(),
        &LintOptions::default(),
    )
    .expect("lint runs");
    run.report.stats.elapsed_ms = 0; // keep snapshots deterministic
    run
}

/// (holder, holder's file) → triggers.
fn triggers(run: &LintRun) -> Vec<(String, String, Vec<String>)> {
    let mut t: Vec<_> = run
        .report
        .findings
        .iter()
        .map(|f| {
            (
                f.holder.clone(),
                f.acquired_at.file.clone(),
                f.triggers.clone(),
            )
        })
        .collect();
    t.sort();
    t
}

#[test]
fn four_holder_paths_share_one_site() {
    let run = lint("sites");
    let findings = &run.report.findings;
    assert_eq!(findings.len(), 4, "{findings:#?}");
    assert!(findings.iter().all(|f| f.site_id == findings[0].site_id));
    assert!(!findings[0].site_id.is_empty());
    let grouped = sites::group(findings);
    assert_eq!(grouped.len(), 1);
    assert_eq!(grouped[0].holders.len(), 4);
    assert_eq!(sites::counts(findings), "1 site, 4 holder paths");
    // The two `demo_trap`s are two findings with two fingerprints.
    let mut fingerprints: Vec<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    fingerprints.sort();
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 4);
}

#[test]
fn triggers_name_syscalls_handlers_work_items_and_exit() {
    let run = lint("sites");
    let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    assert_eq!(
        triggers(&run),
        [
            (
                "demo_remap_locked".into(),
                "zap.c".into(),
                s(&["demo_remap(2)"])
            ),
            (
                "demo_teardown".into(),
                "zap.c".into(),
                s(&["demo_release(2)", "exit"])
            ),
            (
                "demo_trap".into(),
                "arch/alpha_demo/fault.c".into(),
                s(&["ioctl"])
            ),
            (
                "demo_trap".into(),
                "arch/arm_demo/fault.c".into(),
                s(&["workqueue"])
            ),
        ]
    );
}

#[test]
fn a_site_id_survives_code_moving_and_differs_per_call() {
    let run = lint("sites");
    let id = run.report.findings[0].site_id.clone();
    // The same fixture with the site moved down by blank lines: same id.
    let dir = tempfile::tempdir().unwrap();
    for rel in ["zap.c", "arch/alpha_demo/fault.c", "arch/arm_demo/fault.c"] {
        let text = std::fs::read_to_string(fixture("sites").join(rel)).unwrap();
        let moved = text.replacen("/* The one site", "\n\n\n/* The one site", 1);
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, moved).unwrap();
    }
    let moved = lint_path(dir.path(), &Catalogue::builtin(), &LintOptions::default()).unwrap();
    assert_eq!(moved.report.findings.len(), 4);
    assert!(moved.report.findings.iter().all(|f| f.site_id == id));
    assert_eq!(
        moved.report.findings[0].line,
        run.report.findings[0].line + 3
    );
    // Another fixture's sites have other ids.
    let seeds = lint("seeds");
    assert!(seeds.report.findings.iter().all(|f| f.site_id != id));
}

#[test]
fn snapshot_sites_text_grouped_and_per_holder() {
    let run = lint("sites");
    insta::assert_snapshot!(
        "sites_text",
        printers::text::render(&run.report, &run.sources)
    );
    let per_holder = printers::text::render_with(
        &run.report,
        &run.sources,
        printers::text::TextOptions {
            color: false,
            per_holder: true,
        },
    );
    // One item per holder path, each with the source line.
    assert_eq!(per_holder.matches("warning[MMS002]").count(), 4);
    assert_eq!(per_holder.matches("14 |     unmap_region").count(), 4);
    assert!(
        per_holder.starts_with("── zap.c (4 findings)\n"),
        "{per_holder}"
    );
    assert!(
        per_holder.ends_with("1 site, 4 holder paths in 3 files (3 parsed, 5 functions) in 0 ms\n")
    );
}

#[test]
fn snapshot_sites_json() {
    let run = lint("sites");
    let json = printers::json::render(&run.report);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    // One record per holder path, tied together by the site id.
    assert_eq!(v["findings"].as_array().unwrap().len(), 4);
    insta::assert_snapshot!("sites_json", json);
}

#[test]
fn snapshot_sites_sarif_and_github() {
    let run = lint("sites");
    let sarif = printers::sarif::render_run(
        &run.report.findings,
        &printers::sarif::SarifRun {
            root: None,
            sources: Some(&run.sources),
        },
    );
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "one result per site");
    let related = results[0]["relatedLocations"].as_array().unwrap();
    assert_eq!(related.len(), 4, "one related location per holder");
    let message = results[0]["message"]["text"].as_str().unwrap();
    for id in 1..=4 {
        assert!(message.contains(&format!("]({id})")), "{message}");
    }
    assert_eq!(
        results[0]["partialFingerprints"]["mmstall/site/v1"],
        run.report.findings[0].site_id.as_str()
    );
    insta::assert_snapshot!("sites_sarif", sarif);
    let github = printers::github::render(&run.report.findings, "");
    assert_eq!(
        github.lines().count(),
        1,
        "one annotation per site: {github}"
    );
    assert!(
        github.contains("holder `demo_trap` (arch/arm_demo/fault.c)"),
        "{github}"
    );
    assert!(
        github.contains("reached from demo_release(2), exit"),
        "{github}"
    );
}

/// A holder that zaps under the write lock only with `unlock=false`: the
/// output names the caller passing it, with the text it passes, and not the
/// system call passing `true`.
#[test]
fn the_caller_supplying_the_constants_is_named() {
    let run = lint("supplied_constants");
    let findings = &run.report.findings;
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].holder, "__demo_munmap");
    assert_eq!(findings[0].context, ["unlock=0"]);
    assert_eq!(
        findings[0].context_callers,
        ["demo_vm_munmap → __demo_munmap(unlock=false)"]
    );
    let text = printers::text::render(&run.report, &run.sources);
    assert!(
        text.contains("= note: constants passed by demo_vm_munmap → __demo_munmap(unlock=false)"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&printers::json::render(&run.report)).unwrap();
    assert_eq!(
        json["findings"][0]["context_callers"][0],
        "demo_vm_munmap → __demo_munmap(unlock=false)"
    );
}
