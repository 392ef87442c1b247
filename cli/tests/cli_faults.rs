//! Fault injection through the real binary (issue 12): a relative plan, a
//! damaged cache repository, a static step that cannot run, bad bytes in
//! the history, `merge` of nothing and twice into one history, a full disk
//! under `snapshot --accept` and `baseline -o`, an empty plan.
//!
//! A full disk is simulated with the file-size limit (`ulimit -f`, SIGXFSZ
//! ignored): every write past the limit fails with EFBIG, as ENOSPC would.
//!
//! `MMSTALL_FAULT_BIN=/path/to/mmstall` runs these tests against another
//! build (how they were checked to fail on the unfixed binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> PathBuf {
    std::env::var_os("MMSTALL_FAULT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mmstall")))
}

fn mmstall(cache: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env("MMSTALL_CACHE", cache);
    c
}

/// `mmstall ARGS` with writes limited to `blocks` × 512 bytes per file.
fn mmstall_small_disk(cache: &Path, blocks: u32, args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(bin())
        .args(args)
        .env("MMSTALL_CACHE", cache)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const CLEAN: &str = "int do_thing(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tmmap_write_unlock(mm);\n\treturn __mm_populate(0, 1, 0);\n}\n";

fn mail(subject: &str, body: &str) -> String {
    format!("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: T <t@t>\nSubject: [PATCH] {subject}\n\n---\ndiff --git a/mm/thing.c b/mm/thing.c\n--- a/mm/thing.c\n+++ b/mm/thing.c\n{body}-- \n2.39.5\n\n")
}

/// A static-only plan (`plan.toml`, every path relative) on a small tree
/// `linux/`: series `bad` takes `__mm_populate` under the write lock, `ok`
/// adds a comment.
fn static_world(dir: &Path) {
    let tree = dir.join("linux");
    std::fs::create_dir_all(tree.join("mm")).unwrap();
    std::fs::write(tree.join("mm/thing.c"), CLEAN).unwrap();
    std::fs::write(
        dir.join("bad.mbox"),
        mail("mm: populate under the write lock", "@@ -1,6 +1,7 @@\n int do_thing(struct mm_struct *mm)\n {\n \tmmap_write_lock(mm);\n-\tmmap_write_unlock(mm);\n-\treturn __mm_populate(0, 1, 0);\n+\t__mm_populate(0, 1, 0);\n+\tmmap_write_unlock(mm);\n+\treturn 0;\n }\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("ok.mbox"),
        mail(
            "mm: comment",
            "@@ -1,3 +1,4 @@\n+/* harmless */\n int do_thing(struct mm_struct *mm)\n {\n \tmmap_write_lock(mm);\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        "name = \"static\"\n[[kernel]]\nname = \"small\"\ntree = \"linux\"\n[build]\nenabled = false\n[[series]]\nname = \"bad\"\nmbox = \"bad.mbox\"\n[[series]]\nname = \"ok\"\nmbox = \"ok.mbox\"\n",
    )
    .unwrap();
}

/// `mmstall nightly --plan DIR/plan.toml` run from `dir` (outputs relative to it).
fn nightly_in(dir: &Path, night: &str, out: &str, history: &str) -> Output {
    nightly_with_plan(dir, &dir.join("plan.toml"), night, out, history)
}

fn nightly_with_plan(dir: &Path, plan: &Path, night: &str, out: &str, history: &str) -> Output {
    mmstall(&dir.join("cache"))
        .current_dir(dir)
        .args(["nightly", "--plan"])
        .arg(plan)
        .args(["--night", night])
        .args(["--out", out, "--history", history])
        .output()
        .unwrap()
}

fn results(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn get<'a>(rs: &'a [serde_json::Value], series: &str) -> &'a serde_json::Value {
    rs.iter()
        .find(|r| r["series"] == series)
        .unwrap_or_else(|| panic!("no {series} in {rs:?}"))
}

/// Item 1: a relative `--plan` with a relative tree. The static step runs
/// (git gets one absolute tree) and finds the regression.
#[test]
fn relative_plan_with_a_relative_tree() {
    let d = tempfile::tempdir().unwrap();
    static_world(d.path());
    let o = nightly_with_plan(
        d.path(),
        Path::new("plan.toml"),
        "2026-11-25",
        "out",
        "none",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let rs = results(&d.path().join("out/results.jsonl"));
    assert_eq!(
        get(&rs, "bad")["verdict"],
        "regression",
        "{}",
        get(&rs, "bad")
    );
    assert_eq!(get(&rs, "ok")["static"]["step"]["status"], "ok");
    assert!(
        !d.path().join("linux/.git").exists(),
        "the tree is not written"
    );
}

/// Item 2: the cache repository the tree is imported into is damaged (every
/// object overwritten). The next night detects it, rebuilds it with a note,
/// and still finds the regression; nights after that are fine too.
#[test]
fn damaged_cache_repository_is_rebuilt() {
    let d = tempfile::tempdir().unwrap();
    static_world(d.path());
    let o = nightly_in(d.path(), "2026-11-24", "out1", "none");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let objects = d.path().join("cache/nightly/git/small.git/objects");
    let mut damaged = 0;
    for sub in std::fs::read_dir(&objects).unwrap() {
        let sub = sub.unwrap().path();
        if sub.file_name().unwrap().len() != 2 {
            continue;
        }
        for obj in std::fs::read_dir(&sub).unwrap() {
            let obj = obj.unwrap().path();
            let mut perm = std::fs::metadata(&obj).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&obj, perm).unwrap();
            std::fs::write(&obj, b"not a zlib stream").unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 3, "{damaged} objects");
    for (night, out) in [("2026-11-25", "out2"), ("2026-11-26", "out3")] {
        let o = nightly_in(d.path(), night, out, "none");
        assert_eq!(o.status.code(), Some(1), "{night}: {}", text(&o));
        let rs = results(&d.path().join(out).join("results.jsonl"));
        assert_eq!(
            get(&rs, "bad")["verdict"],
            "regression",
            "{}",
            get(&rs, "bad")
        );
        assert_eq!(get(&rs, "ok")["verdict"], "pass", "{}", get(&rs, "ok"));
        let rebuilt = String::from_utf8_lossy(&o.stderr).contains("is damaged");
        assert_eq!(rebuilt, night == "2026-11-25", "{}", text(&o));
    }
}

/// Item 2: the static step cannot run (the tree's .gitignore hides every
/// file from the import). No series passes: "not checked", exit 3.
#[test]
fn static_step_that_cannot_run_is_not_checked() {
    let d = tempfile::tempdir().unwrap();
    static_world(d.path());
    std::fs::write(d.path().join("linux/.gitignore"), "*\n").unwrap();
    let o = nightly_in(d.path(), "2026-11-25", "out", "none");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    for r in results(&d.path().join("out/results.jsonl")) {
        if r["series"] == "baseline" {
            continue;
        }
        assert_eq!(r["verdict"], "infra-error", "{r}");
        assert_eq!(r["class"], "not-checked", "{r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .contains("static analysis failed"),
            "{r}"
        );
    }
}

/// Items 3 and 6: `report` reads past an invalid byte in the history (named,
/// with its line); `merge --history` twice appends nothing the second time;
/// `merge` of a pattern that matched nothing is bad input (exit 2) and
/// leaves the merged directory as it was.
#[test]
fn history_bad_bytes_and_repeated_merges() {
    let d = tempfile::tempdir().unwrap();
    static_world(d.path());
    let o = nightly_in(d.path(), "2026-11-25", "jobs/a", "none");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let cache = d.path().join("cache");
    let history = d.path().join("history.jsonl");
    let merged = d.path().join("merged");
    for _ in 0..2 {
        let o = mmstall(&cache)
            .arg("merge")
            .arg(d.path().join("jobs/a"))
            .arg("--out")
            .arg(&merged)
            .arg("--history")
            .arg(&history)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
    let lines = std::fs::read_to_string(&history).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");

    let before: Vec<Vec<u8>> = ["results.jsonl", "summary.md", "junit.xml"]
        .iter()
        .map(|f| std::fs::read(merged.join(f)).unwrap())
        .collect();
    let o = mmstall(&cache)
        .arg("merge")
        .arg(d.path().join("jobs/nothing-*"))
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let after: Vec<Vec<u8>> = ["results.jsonl", "summary.md", "junit.xml"]
        .iter()
        .map(|f| std::fs::read(merged.join(f)).unwrap())
        .collect();
    assert!(
        before == after,
        "merge of nothing changed {}",
        merged.display()
    );

    // One invalid UTF-8 byte on line 2 of the history.
    let mut bytes = std::fs::read(&history).unwrap();
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    bytes.splice(nl + 1..nl + 1, b"{\"night\":\"\xff\"}\n".iter().copied());
    std::fs::write(&history, bytes).unwrap();
    let report = d.path().join("report");
    let o = mmstall(&cache)
        .arg("report")
        .arg("--history")
        .arg(&history)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("history.jsonl:2: skipped: invalid UTF-8") && err.contains("3 job results"),
        "{}",
        text(&o)
    );
    let md = std::fs::read_to_string(report.join("trends.md")).unwrap();
    assert!(
        md.contains("| 2026-11-25 | bad |") && md.contains("| 2026-11-25 | ok |"),
        "{md}"
    );

    // A full disk under `report`: the earlier trends survive whole.
    let svg = std::fs::read(report.join("trends.svg")).unwrap();
    assert!(svg.len() > 512, "{} bytes", svg.len());
    let o = mmstall_small_disk(
        &cache,
        1,
        &[
            "report",
            "--history",
            history.to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("trends.svg"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(report.join("trends.svg")).unwrap(), svg);

    // A history with nothing readable leaves the earlier report as it was.
    let garbage = d.path().join("garbage.jsonl");
    std::fs::write(&garbage, b"\xff\xfe\n{\"night\":\n").unwrap();
    let o = mmstall(&cache)
        .arg("report")
        .arg("--history")
        .arg(&garbage)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(report.join("trends.md")).unwrap(),
        md
    );
}

/// A tree with `n` findings (each function populates under the write lock).
fn tree_with_findings(dir: &Path, n: usize) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("mm")).unwrap();
    let mut c = String::new();
    for i in 0..n {
        c.push_str(&format!("int populate_{i}(struct mm_struct *mm)\n{{\n\tmmap_write_lock(mm);\n\t__mm_populate(0, {i}, 0);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}}\n\n"));
    }
    std::fs::write(tree.join("mm/many.c"), c).unwrap();
    tree
}

/// Item 6: `snapshot --check F --accept` on a full disk. The stored
/// snapshot is intact and the error names it.
#[test]
fn snapshot_accept_on_a_full_disk_keeps_the_stored_file() {
    let d = tempfile::tempdir().unwrap();
    let tree = tree_with_findings(d.path(), 40);
    let snap = d.path().join("findings.snap");
    let old = "# an older snapshot\n".repeat(10);
    std::fs::write(&snap, &old).unwrap();
    let o = mmstall_small_disk(
        &d.path().join("cache"),
        4,
        &[
            "snapshot",
            tree.to_str().unwrap(),
            "--check",
            snap.to_str().unwrap(),
            "--accept",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("findings.snap"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), old);
    // With room, --accept rewrites it.
    let o = mmstall(&d.path().join("cache"))
        .arg("snapshot")
        .arg(&tree)
        .arg("--check")
        .arg(&snap)
        .arg("--accept")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(&snap)
        .unwrap()
        .contains("# 40 findings"));
}

/// Item 6: `baseline -o F` on a full disk keeps the old baseline.
#[test]
fn baseline_on_a_full_disk_keeps_the_old_file() {
    let d = tempfile::tempdir().unwrap();
    let tree = tree_with_findings(d.path(), 40);
    let file = d.path().join("baseline.json");
    let old = "{\"version\": 1, \"findings\": []}\n";
    std::fs::write(&file, old).unwrap();
    let o = mmstall_small_disk(
        &d.path().join("cache"),
        4,
        &[
            "baseline",
            tree.to_str().unwrap(),
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("baseline.json"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), old);
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
}

/// Item 2 (the audit): a git kernel's checkout in the cache is damaged (its
/// HEAD and object alternates overwritten). The next night clones it again,
/// with a note, and still finds the regression; the user's repository is
/// not written.
#[test]
fn damaged_cache_checkout_is_cloned_again() {
    let d = tempfile::tempdir().unwrap();
    static_world(d.path());
    let repo = d.path().join("repo");
    std::fs::create_dir_all(repo.join("mm")).unwrap();
    std::fs::write(repo.join("mm/thing.c"), CLEAN).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    let plan = std::fs::read_to_string(d.path().join("plan.toml"))
        .unwrap()
        .replace(
            "name = \"small\"\ntree = \"linux\"",
            "name = \"gitk\"\nrepo = \"repo\"\nref = \"main\"",
        );
    std::fs::write(d.path().join("plan.toml"), plan).unwrap();
    let repo_head = std::fs::read(repo.join(".git/HEAD")).unwrap();
    let o = nightly_in(d.path(), "2026-11-24", "out1", "none");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let checkout = d.path().join("cache/nightly/checkouts/gitk/.git");
    std::fs::write(checkout.join("HEAD"), "garbage\n").unwrap();
    std::fs::write(checkout.join("objects/info/alternates"), "/nonexistent\n").unwrap();
    let o = nightly_in(d.path(), "2026-11-25", "out2", "none");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is damaged"),
        "{}",
        text(&o)
    );
    let rs = results(&d.path().join("out2/results.jsonl"));
    assert_eq!(
        get(&rs, "bad")["verdict"],
        "regression",
        "{}",
        get(&rs, "bad")
    );
    assert_eq!(std::fs::read(repo.join(".git/HEAD")).unwrap(), repo_head);
}
