//! `mmstall diff`, `mmstall series` and `mmstall snapshot`: exit codes,
//! formats and errors, on a repository built with git2 from the seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Repository, Signature, Time};

mod common;

fn mmstall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmstall"))
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../revisions/tests/fixtures")
}

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../analyzer/tests/fixtures/seeds")
}

fn tree_of(repo: &Repository, files: &BTreeMap<String, Vec<u8>>) -> Oid {
    let mut mm = repo.treebuilder(None).unwrap();
    for (name, content) in files {
        mm.insert(name, repo.blob(content).unwrap(), 0o100644)
            .unwrap();
    }
    let mm = mm.write().unwrap();
    let mut root = repo.treebuilder(None).unwrap();
    root.insert("mm", mm, 0o040000).unwrap();
    root.write().unwrap()
}

/// `base` holds the seeds under mm/; `regress` removes a downgrade; `fix`
/// moves population after the unlock.
fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path().join("r.git")).unwrap();
    let sig = Signature::new("T", "t@mmstall.invalid", &Time::new(1_767_225_600, 0)).unwrap();
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(seeds()).unwrap() {
        let p = e.unwrap().path();
        files.insert(
            p.file_name().unwrap().to_string_lossy().to_string(),
            std::fs::read(&p).unwrap(),
        );
    }
    let base_tree = tree_of(&repo, &files);
    let base = repo
        .commit(
            Some("refs/heads/base"),
            &sig,
            &sig,
            "base",
            &repo.find_tree(base_tree).unwrap(),
            &[],
        )
        .unwrap();
    for (branch, fixture) in [
        ("regress", "remove-downgrade.patch"),
        ("fix", "populate-after-unlock.patch"),
    ] {
        let series = mmstall_series::load_series(&fixtures().join(fixture)).unwrap();
        let t = mmstall_series::apply_to_tree(&repo, base_tree, &series.patches[0]).unwrap();
        let parent = repo.find_commit(base).unwrap();
        repo.commit(
            Some(&format!("refs/heads/{branch}")),
            &sig,
            &sig,
            fixture,
            &repo.find_tree(t).unwrap(),
            &[&parent],
        )
        .unwrap();
    }
    let path = dir.path().join("r.git");
    (dir, path)
}

fn run(args: &[&str], repo: &Path) -> (i32, String, String) {
    let out = mmstall()
        .args(
            args.iter()
                .map(|a| a.replace("REPO", &repo.display().to_string())),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn diff_exit_codes_and_formats() {
    let (_d, r) = repo();
    let (code, out, _) = run(&["diff", "--repo", "REPO", "base", "regress"], &r);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("introduced (1 site, 1 holder path):") && out.contains("warning[MMS002]"),
        "{out}"
    );
    let (code, out, _) = run(&["diff", "--repo", "REPO", "base", "fix", "mm"], &r);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("fixed (1 site, 1 holder path):"), "{out}");
    let (code, out, err) = run(
        &[
            "diff", "--repo", "REPO", "base", "regress", "--format", "json", "--stats",
        ],
        &r,
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["introduced"].as_array().unwrap().len(), 1);
    assert_eq!(v["changed_files"][0], "mm/munmap.c");
    assert!(err.contains("old: ") && err.contains("new: "), "{err}");
    let (_, out, _) = run(
        &[
            "diff", "--repo", "REPO", "base", "regress", "--format", "sarif",
        ],
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["runs"][0]["results"].as_array().unwrap().len(),
        1,
        "SARIF of the new findings only"
    );
    // Issue 16: it passes the SARIF 2.1.0 schema (as the nightly's SARIF does).
    if let Some((code, text)) = common::sarif_validate("diff_sarif", out.as_bytes()) {
        assert_eq!(code, 0, "{text}");
    }
}

#[test]
fn diff_input_errors_exit_2_naming_the_rev() {
    let (_d, r) = repo();
    let (code, _, err) = run(&["diff", "--repo", "REPO", "base", "nope~1"], &r);
    assert_eq!(code, 2);
    assert!(err.contains("revision `nope~1`"), "{err}");
    let (code, _, err) = run(&["diff", "--repo", "/no/such/repo", "a", "b"], &r);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/repo"), "{err}");
}

#[test]
fn series_exit_codes() {
    let (_d, r) = repo();
    let mbox = fixtures().join("series.mbox");
    let (code, out, _) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            mbox.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 1, "{out}");
    let (code, out, _) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            "--format",
            "markdown",
            mbox.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 1);
    assert!(out.starts_with("### mmstall: :x:"), "{out}");
    let failing = fixtures().join("failing.mbox");
    let (code, out, _) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            failing.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 3, "a patch failed, nothing introduced: {out}");
    let (code, out, _) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            "--keep-going",
            "--format",
            "json",
            failing.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["patches"][1]["status"], "failed");
    assert_eq!(v["patches"][1]["file"], "mm/munmap.c");
    assert_eq!(v["patches"][1]["hunk"], 1);
    let malformed = fixtures().join("malformed.mbox");
    let (code, _, err) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            malformed.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 2);
    assert!(err.contains("malformed.mbox:29: hunk #1"), "{err}");
    let (code, _, err) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "v9.9",
            mbox.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 2);
    assert!(err.contains("revision `v9.9`"), "{err}");
}

#[test]
fn snapshot_write_check_accept() {
    let (d, r) = repo();
    let snap = d.path().join("findings.snap");
    // A tree on disk.
    let (code, _, err) = run(
        &[
            "snapshot",
            seeds().to_str().unwrap(),
            "-o",
            snap.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(
        text.starts_with("# mmstall findings snapshot, format 1")
            && text.contains(" findings\n\nMMS00"),
        "{text}"
    );
    let (code, out, _) = run(
        &[
            "snapshot",
            seeds().to_str().unwrap(),
            "--check",
            snap.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!((code, out.as_str()), (0, ""));
    // A revision: same format; paths are relative to the repository root.
    let (code, _, _) = run(
        &[
            "snapshot",
            "--repo",
            "REPO",
            "--rev",
            "base",
            "-o",
            snap.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 0);
    assert!(std::fs::read_to_string(&snap)
        .unwrap()
        .contains(" mm/munmap.c in "));
    let (code, out, err) = run(
        &[
            "snapshot",
            "--repo",
            "REPO",
            "--rev",
            "regress",
            "--check",
            snap.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("--- ")
            && out.contains("\n+++ current findings\n")
            && out.contains("+  call path: sys_munmap → do_munmap_downgrade"),
        "{out}"
    );
    assert!(err.contains("--accept"), "{err}");
    let (code, _, _) = run(
        &[
            "snapshot",
            "--repo",
            "REPO",
            "--rev",
            "regress",
            "--check",
            snap.to_str().unwrap(),
            "--accept",
        ],
        &r,
    );
    assert_eq!(code, 0);
    let (code, _, _) = run(
        &[
            "snapshot",
            "--repo",
            "REPO",
            "--rev",
            "regress",
            "--check",
            snap.to_str().unwrap(),
        ],
        &r,
    );
    assert_eq!(code, 0);
    // Usage errors.
    let (code, _, _) = run(&["snapshot", "--accept"], &r);
    assert_eq!(code, 2);
    let (code, _, err) = run(&["snapshot", "/no/such/tree"], &r);
    assert_eq!(code, 2, "{err}");
}

/// Text output: every finding line starts with `file:line:col:` (compilers'
/// form, for quickfix and CI matchers), the status after the rule code;
/// nothing starts with the old `+ `/`- `/`= ` marks.
#[test]
fn diff_and_series_text_lines_start_with_file_line_col() {
    let (_d, r) = repo();
    let (_, out, _) = run(&["diff", "--repo", "REPO", "base", "regress"], &r);
    assert!(
        out.lines().any(|l| l.starts_with("mm/munmap.c:")
            && l.contains(": warning[MMS002]: introduced: `sys_munmap` holds")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("mm/")
            && l.contains(": note[MMS00")
            && l.contains("]: unchanged: ")),
        "{out}"
    );
    let (_, out, _) = run(&["diff", "--repo", "REPO", "base", "fix"], &r);
    assert!(
        out.lines()
            .any(|l| l.starts_with("mm/mlock.c:") && l.contains(": note[MMS001]: fixed: ")),
        "{out}"
    );
    let mbox = fixtures().join("series.mbox");
    let (_, series, _) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            mbox.to_str().unwrap(),
        ],
        &r,
    );
    assert!(
        series.lines().any(|l| l.starts_with("mm/munmap.c:")
            && l.contains(": warning[MMS002]: introduced by patch 1: ")),
        "{series}"
    );
    assert!(
        series
            .lines()
            .any(|l| l.starts_with("mm/mlock.c:")
                && l.contains(": note[MMS001]: fixed by patch 2: ")),
        "{series}"
    );
    for text in [&out, &series] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("+ mm/")
                || l.trim_start().starts_with("- mm/")
                || l.starts_with("= ")),
            "{text}"
        );
    }
}

/// `series --format sarif`: the introduced findings, each naming its patch;
/// `-` reads the mbox from stdin.
#[test]
fn series_sarif_from_stdin_names_the_patch() {
    let (_d, r) = repo();
    let mbox = std::fs::File::open(fixtures().join("series.mbox")).unwrap();
    let out = mmstall()
        .args(["series", "--repo", r.to_str().unwrap(), "--base", "base"])
        .args(["--format", "sarif", "-"])
        .stdin(mbox)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    // Issue 16: it passes the SARIF 2.1.0 schema (as the nightly's SARIF does).
    if let Some((code, text)) = common::sarif_validate("series_sarif", &out.stdout) {
        assert_eq!(code, 0, "{text}");
    }
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "the one finding the series introduces");
    assert_eq!(results[0]["ruleId"], "MMS002");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "mm/munmap.c"
    );
    assert_eq!(results[0]["properties"]["patch"]["index"], 1);
    assert_eq!(
        results[0]["properties"]["patch"]["subject"],
        "mm/munmap: zap before downgrading"
    );
    // Text from stdin names it `<stdin>`; a malformed one names its line.
    let out = mmstall()
        .args([
            "series",
            "--repo",
            r.to_str().unwrap(),
            "--base",
            "base",
            "-",
        ])
        .stdin(std::fs::File::open(fixtures().join("series.mbox")).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("mmstall series <stdin> onto base"),
        "{text}"
    );
    let out = mmstall()
        .args([
            "series",
            "--repo",
            r.to_str().unwrap(),
            "--base",
            "base",
            "-",
        ])
        .stdin(std::fs::File::open(fixtures().join("malformed.mbox")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("<stdin>:29: hunk #1"), "{err}");
}

/// `diff A..B` means `diff A B` (a PATH may follow); `A...B` is explained.
#[test]
fn diff_accepts_a_range() {
    let (_d, r) = repo();
    let (code, pair, _) = run(&["diff", "--repo", "REPO", "base", "regress", "mm"], &r);
    let (code2, range, err) = run(&["diff", "--repo", "REPO", "base..regress", "mm"], &r);
    assert_eq!((code, code2), (1, 1), "{err}");
    assert_eq!(pair, range);
    let (code, _, err) = run(&["diff", "--repo", "REPO", "base...regress"], &r);
    assert_eq!(code, 2);
    assert!(err.contains("git merge-base base regress"), "{err}");
    let (code, _, err) = run(&["diff", "--repo", "REPO", "base"], &r);
    assert_eq!(code, 2);
    assert!(err.contains("NEW is missing"), "{err}");
}

/// libgit2's and the OS's error texts are printed once (not once per level
/// of the error chain), without libgit2's `class=`/`code=` suffix.
#[test]
fn error_causes_are_printed_once() {
    let (_d, r) = repo();
    let (code, _, err) = run(&["diff", "--repo", "/no/such/repo", "a", "b"], &r);
    assert_eq!(code, 2);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(!err.contains("class="), "{err}");
    let (code, _, err) = run(&["diff", "--repo", "REPO", "base", "nope~1"], &r);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("class="), "{err}");
    let (code, _, err) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            "/no/such.mbox",
        ],
        &r,
    );
    assert_eq!(code, 2);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// A blob missing from the repository (a partial clone) is a warning on
/// stderr whatever the format, and the other files' findings still come.
#[test]
fn a_missing_blob_is_a_warning_and_the_run_goes_on() {
    let (_d, r) = repo();
    let repo = Repository::open(&r).unwrap();
    let base = repo
        .revparse_single("base")
        .unwrap()
        .peel_to_tree()
        .unwrap();
    let oid = base.get_path(Path::new("mm/mlock.c")).unwrap().id();
    let hex = oid.to_string();
    std::fs::remove_file(r.join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
    let (code, out, err) = run(
        &[
            "diff", "--repo", "REPO", "base", "regress", "--format", "json",
        ],
        &r,
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["introduced"][0]["file"], "mm/munmap.c");
    assert!(
        err.contains(&format!(
            "warning: skipped: mm/mlock.c: blob {oid} missing (partial clone?)"
        )),
        "{err}"
    );
}

#[test]
fn diff_attaches_confirmations_to_introduced_findings() {
    let (_d, r) = repo();
    let (_, out, _) = run(
        &[
            "diff", "--repo", "REPO", "base", "regress", "--format", "json",
        ],
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let confirm = confirmed(&v["introduced"][0]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confirm.json");
    std::fs::write(&file, confirm.to_string()).unwrap();
    let file = file.display().to_string();
    let (code, out, err) = run(
        &[
            "diff",
            "--repo",
            "REPO",
            "base",
            "regress",
            "--confirmations",
            &file,
        ],
        &r,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("measured: confirmed: 92.0 ms at 64 MiB, 419.0 ms at 256 MiB (4.5x)"),
        "{out}"
    );
    assert!(err.contains("1 finding(s) of regress measured"), "{err}");
}

/// A confirm.json (as `mmstall confirm` writes it) confirming finding `f`.
fn confirmed(f: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "confirmation": {
        "kernel_release": "6.12.118-regress", "threshold_ms": 50.0, "sizes_mib": [64, 256],
        "outcomes": [{
            "finding": { "code": f["code"], "file": f["file"], "line": f["line"],
                "function": f["function"], "holder": f["holder"],
                "lock_mode": f["lock_mode"], "fingerprint": f["fingerprint"] },
            "outcome": "confirmed",
            "evidence": { "sizes": [
                    { "size_mib": 64, "max_ms": 92.0, "recipe": "munmap" },
                    { "size_mib": 256, "max_ms": 419.0, "recipe": "munmap" } ],
                "growth": 4.55, "mode": "write", "end": "released",
                "acquire_stack": [], "release_stack": [], "site_in_stack": true }
        }],
        "discovered": [], "runs": []
    }})
}

#[test]
fn series_attaches_confirmations_to_the_findings_a_patch_introduces() {
    let (_d, r) = repo();
    let mbox = fixtures().join("series.mbox");
    let mbox = mbox.to_str().unwrap();
    let (_, out, _) = run(
        &[
            "series", "--repo", "REPO", "--base", "base", "--format", "json", mbox,
        ],
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = v["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["introduced"].as_array().and_then(|i| i.first().cloned()))
        .expect("the series introduces a finding");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confirm.json");
    std::fs::write(&file, confirmed(&first).to_string()).unwrap();
    let file = file.display().to_string();
    let (code, out, err) = run(
        &[
            "series",
            "--repo",
            "REPO",
            "--base",
            "base",
            "--format",
            "json",
            "--confirmations",
            &file,
            mbox,
        ],
        &r,
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let measured = v["patches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["introduced"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["measured"]["outcome"] == "confirmed")
        .count();
    assert_eq!(measured, 1, "{out}");
    assert!(
        err.contains("measured on 6.12.118-regress attached"),
        "{err}"
    );
}
