//! `mmstall nightly`, `report`, `merge` through the real binary and the real
//! executor: plan errors, a git-range series from a real repository, a series
//! that does not apply (no kernel build needed), the emitters, merge and
//! report. Kernel builds and boots: nightly/tests/kernel.rs (gated).

use std::path::Path;
use std::process::{Command, Output};

fn mmstall(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mmstall"));
    c.env("MMSTALL_CACHE", cache);
    c
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A repository whose last commit changes mm/util.c, and a plain tree whose
/// mm/util.c differs (so the series does not apply there).
fn setup(dir: &Path) {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("mm")).unwrap();
    std::fs::write(repo.join("mm/util.c"), "int a;\nint b;\nint c;\nint d;\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    std::fs::write(repo.join("mm/util.c"), "int a;\nint bb;\nint c;\nint d;\n").unwrap();
    git(&repo, &["commit", "-qam", "mm: rename b"]);
    let other = dir.join("other-tree/mm");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("util.c"), "int a;\nint x;\nint c;\nint d;\n").unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        "name = \"cli\"\n\n[[kernel]]\nname = \"gitk\"\nrepo = \"repo\"\nref = \"main~1\"\n\n[[kernel]]\nname = \"plain\"\ntree = \"other-tree\"\n\n[[series]]\nname = \"rename\"\ngit = { repo = \"repo\", range = \"main~1..main\" }\n",
    )
    .unwrap();
}

#[test]
fn plan_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "name = \"x\"\n[[kernel]]\nname = \"k\"\ntree = \"debian:6.12\"\nbranch = \"main\"\n",
    )
    .unwrap();
    let o = mmstall(dir.path())
        .args(["nightly", "--plan"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}:5:1: kernel[0].branch: unknown field `branch`",
            plan.display()
        )),
        "{err}"
    );
    // An empty plan (a truncated file) is refused, not run as the default
    // Debian build job.
    std::fs::write(&plan, "# nothing yet\n").unwrap();
    let o = mmstall(dir.path())
        .args(["nightly", "--emit", "github-matrix", "--plan"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "{}:1:1: (file): the plan is empty",
            plan.display()
        )),
        "{}",
        text(&o)
    );
    let o = mmstall(dir.path())
        .args(["nightly", "--plan"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn series_that_does_not_apply_is_an_infrastructure_error_with_full_reports() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    // Only the series job on the plain tree: the apply check fails before any build.
    let o = mmstall(&cache)
        .args(["nightly", "--plan"])
        .arg(dir.path().join("plan.toml"))
        .args([
            "--job",
            "rename--plain--default",
            "--night",
            "2026-11-25",
            "--out",
        ])
        .arg(&out)
        .arg("--history")
        .arg(dir.path().join("history.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let line = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let r: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(r["verdict"], "infra-error");
    assert_eq!(r["class"], "patch-does-not-apply");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .contains("patch 1/1 does not apply"),
        "{r}"
    );
    // The git range became an mbox (real `git format-patch`).
    assert!(std::fs::read_to_string(out.join("series/rename.mbox"))
        .unwrap()
        .contains("Subject: [PATCH] mm: rename b"));
    // The static report (`mmstall series` on the tree committed into a cache-side repository) names the failing patch.
    assert_eq!(r["static"]["step"]["status"], "ok", "{r}");
    assert_eq!(r["static"]["patches"][0]["status"], "failed", "{r}");
    assert!(cache.join("nightly/git/plain.git").is_dir());
    assert!(
        !dir.path().join("other-tree/.git").exists(),
        "the tree is not written"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("## Infrastructure errors") && md.contains("patch does not apply"),
        "{md}"
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.starts_with("<?xml")
            && junit.contains("<error type=\"infrastructure:patch does not apply\""),
        "{junit}"
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("new-findings.sarif")).unwrap())
            .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let kcidb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kcidb.json")).unwrap()).unwrap();
    assert_eq!(kcidb["version"]["major"], 4);
    assert!(out
        .join("logs/rename--plain--default/apply-check.log")
        .is_file());
    assert!(
        std::fs::read_to_string(dir.path().join("history.jsonl"))
            .unwrap()
            .lines()
            .count()
            == 1
    );
}

#[test]
fn git_kernel_checkout_applies_the_range_and_a_failed_baseline_is_infrastructure() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let o = mmstall(&cache)
        .args(["nightly", "--plan"])
        .arg(dir.path().join("plan.toml"))
        .args([
            "--job",
            "baseline--gitk--default",
            "--job",
            "rename--gitk--default",
            "--night",
            "2026-11-25",
            "--history",
            "none",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // The checkout is a shared clone in the cache at main~1; the repository's work tree is untouched.
    assert_eq!(
        std::fs::read_to_string(cache.join("nightly/checkouts/gitk/mm/util.c")).unwrap(),
        "int a;\nint b;\nint c;\nint d;\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("repo/mm/util.c")).unwrap(),
        "int a;\nint bb;\nint c;\nint d;\n"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for r in &lines {
        // The checkout is no kernel: `vm build` refuses it, and that is never a regression.
        assert_eq!(r["verdict"], "infra-error", "{r}");
        assert!(
            r["detail"].as_str().unwrap().starts_with("baseline kernel"),
            "{r}"
        );
        assert_eq!(r["commit"].as_str().unwrap().len(), 40);
    }
    assert_eq!(
        lines[0]["class"], lines[1]["class"],
        "a shared baseline fails the same way for every job"
    );
    // The series applied (apply check passed, subjects recorded) before the baseline failed.
    assert_eq!(lines[1]["subjects"][0], "mm: rename b");
}

#[test]
fn emit_merge_and_report() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let cache = dir.path().join("cache");
    let plan = dir.path().join("plan.toml");
    let o = mmstall(&cache)
        .args(["nightly", "--plan"])
        .arg(&plan)
        .args(["--emit", "github-matrix"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let jobs: Vec<String> = m["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        jobs,
        [
            "baseline--gitk--default",
            "baseline--plain--default",
            "rename--gitk--default",
            "rename--plain--default"
        ]
    );
    let o = mmstall(&cache)
        .args(["nightly", "--plan"])
        .arg(&plan)
        .args(["--emit", "k8s", "--night", "2026-11-25"])
        .output()
        .unwrap();
    let k: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(k["items"].as_array().unwrap().len(), 4);

    // Two per-job directories, merged.
    let hist = dir.path().join("history.jsonl");
    for j in ["rename--plain--default", "baseline--gitk--default"] {
        let o = mmstall(&cache)
            .args(["nightly", "--plan"])
            .arg(&plan)
            .args([
                "--job",
                j,
                "--night",
                "2026-11-25",
                "--history",
                "none",
                "--out",
            ])
            .arg(dir.path().join("jobs").join(j))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    }
    let merged = dir.path().join("merged");
    let o = mmstall(&cache)
        .arg("merge")
        .arg(dir.path().join("jobs/rename--plain--default"))
        .arg(dir.path().join("jobs/baseline--gitk--default"))
        .arg("--out")
        .arg(&merged)
        .arg("--history")
        .arg(&hist)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(merged.join("results.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    assert!(merged
        .join("logs/rename--plain--default/apply-check.log")
        .is_file());
    let md = std::fs::read_to_string(merged.join("summary.md")).unwrap();
    assert!(
        md.contains("rename--plain--default") && md.contains("baseline--gitk--default"),
        "{md}"
    );

    let rep = dir.path().join("report");
    let o = mmstall(&cache)
        .args(["report", "--history"])
        .arg(&hist)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(rep.join("trends.svg"))
        .unwrap()
        .starts_with("<svg"));
    assert!(std::fs::read_to_string(rep.join("trends.md"))
        .unwrap()
        .contains(
        "| 2026-11-25 | rename | plain | default | infrastructure error: patch does not apply |"
    ));
    let o = mmstall(&cache)
        .args(["report", "--history"])
        .arg(dir.path().join("nope.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A static-only night on a small tree: a series that takes `__mm_populate`
/// under the write lock is a static regression (real `mmstall series`), with
/// the finding in SARIF; a harmless series passes (partial: no builds).
#[test]
fn static_regression_through_mmstall_series() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("linux");
    std::fs::create_dir_all(tree.join("mm")).unwrap();
    let clean = "int do_thing(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tmmap_write_unlock(mm);\n\treturn __mm_populate(0, 1, 0);\n}\n";
    std::fs::write(tree.join("mm/thing.c"), clean).unwrap();
    let mail = |subject: &str, body: &str| {
        format!("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: T <t@t>\nSubject: [PATCH] {subject}\n\n---\ndiff --git a/mm/thing.c b/mm/thing.c\n--- a/mm/thing.c\n+++ b/mm/thing.c\n{body}-- \n2.39.5\n\n")
    };
    std::fs::write(
        dir.path().join("bad.mbox"),
        mail("mm: populate under the write lock", "@@ -1,6 +1,7 @@\n int do_thing(struct mm_struct *mm)\n {\n \tmmap_write_lock(mm);\n-\tmmap_write_unlock(mm);\n-\treturn __mm_populate(0, 1, 0);\n+\t__mm_populate(0, 1, 0);\n+\tmmap_write_unlock(mm);\n+\treturn 0;\n }\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("ok.mbox"), mail("mm: comment", "@@ -1,3 +1,4 @@\n+/* harmless */\n int do_thing(struct mm_struct *mm)\n {\n \tmmap_write_lock(mm);\n")).unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        "name = \"static\"\n[[kernel]]\nname = \"small\"\ntree = \"linux\"\n[build]\nenabled = false\n[[series]]\nname = \"bad\"\nmbox = \"bad.mbox\"\n[[series]]\nname = \"ok\"\nmbox = \"ok.mbox\"\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("out");
    let o = mmstall(&cache)
        .args(["nightly", "--plan"])
        .arg(dir.path().join("plan.toml"))
        .args(["--night", "2026-11-25", "--history", "none", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let rs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let get = |s: &str| rs.iter().find(|r| r["series"] == s).unwrap();
    assert_eq!(get("bad")["verdict"], "regression", "{}", get("bad"));
    assert_eq!(get("bad")["static_regression"], true);
    assert_eq!(get("bad")["dynamic_regression"], false);
    assert_eq!(
        get("bad")["static"]["introduced"][0]["code"],
        "MMS001",
        "{}",
        get("bad")
    );
    assert_eq!(get("bad")["static"]["introduced"][0]["patch"], 1);
    assert_eq!(get("ok")["verdict"], "pass", "{}", get("ok"));
    assert!(get("ok")["not_checked"].to_string().contains("static only"));
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("new-findings.sarif")).unwrap())
            .unwrap();
    let res = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(res.len(), 1, "{sarif}");
    assert_eq!(res[0]["ruleId"], "MMS001");
    assert_eq!(
        res[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "mm/thing.c"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("## Regressions") && md.contains("new `MMS001` mm/thing.c:"),
        "{md}"
    );
}
