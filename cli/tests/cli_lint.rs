//! The `mmstall lint` command line: formats, exit codes, errors.

use std::path::PathBuf;
use std::process::Command;

fn mmstall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmstall"))
}

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../analyzer/tests/fixtures/seeds")
}

#[test]
fn findings_exit_1_with_rustc_like_text() {
    let out = mmstall().arg("lint").arg(seeds()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "mlock.c:31:11: warning[MMS001]: `old_do_mlock` holds the mmap lock for write"
        ),
        "{text}"
    );
    assert!(
        text.contains("= note: call path: vm_munmap → do_munmap_downgrade"),
        "{text}"
    );
}

#[test]
fn clean_tree_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clean.c"),
        "int f(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tmmap_write_unlock(mm);\n\treturn __mm_populate(0, 1, 0);\n}\n",
    )
    .unwrap();
    let out = mmstall().arg("lint").arg(dir.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn json_and_sarif_are_well_formed() {
    let out = mmstall()
        .args(["lint", "--format", "json"])
        .arg(seeds())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    for key in [
        "files",
        "functions",
        "functions_with_parse_errors",
        "elapsed_ms",
    ] {
        assert!(v["stats"][key].is_number(), "stats.{key}");
    }
    let f = &v["findings"][0];
    for key in [
        "rule",
        "code",
        "severity",
        "file",
        "line",
        "column",
        "function",
        "holder",
        "call_path",
        "operation",
        "lock_mode",
        "acquired_at",
        "message",
        "fingerprint",
    ] {
        assert!(!f[key].is_null(), "finding.{key}");
    }
    let out = mmstall()
        .args(["lint", "--format", "sarif"])
        .arg(seeds())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(
        v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn stats_are_printed() {
    let out = mmstall()
        .args(["lint", "--stats"])
        .arg(seeds())
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    for line in [
        "files: 5",
        "functions: ",
        "functions with parse errors: 0",
        "elapsed: ",
    ] {
        assert!(err.contains(line), "{line} in {err}");
    }
}

#[test]
fn missing_path_and_bad_config_exit_2() {
    let out = mmstall().args(["lint", "/no/such/tree"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/tree"));

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mmstall.toml");
    std::fs::write(&cfg, "[long_ops.zap]\nalways = [\"x\"\n").unwrap();
    let out = mmstall()
        .arg("lint")
        .arg(seeds())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mmstall.toml:") && err.contains("invalid configuration"),
        "{err}"
    );
}

#[test]
fn user_catalogue_extends_long_operations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.c"),
        "void f(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tmy_slow_zapper(mm);\n\tmmap_write_unlock(mm);\n}\n",
    )
    .unwrap();
    let out = mmstall().arg("lint").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(
        dir.path().join("mmstall.toml"),
        "[long_ops.zap]\nalways = [\"my_slow_zapper\"]\n",
    )
    .unwrap();
    let out = mmstall().arg("lint").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning[MMS002]"));
}

#[test]
fn baseline_explain_rules_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("baseline.json");
    let out = mmstall()
        .arg("baseline")
        .arg(seeds())
        .arg("-o")
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = mmstall()
        .arg("lint")
        .arg(seeds())
        .arg("--baseline")
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "every finding is in the baseline"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("suppressed by the baseline"));
    std::fs::write(&base, "not json").unwrap();
    let out = mmstall()
        .arg("lint")
        .arg(seeds())
        .arg("--baseline")
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("baseline.json:1:"));

    let out = mmstall().args(["explain", "MMS004"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# hold-across-io-wait (MMS004)"));
    let out = mmstall().args(["explain", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mmstall().arg("rules").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    let out = mmstall().arg("catalogue").output().unwrap();
    let merged: toml::Value = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert!(merged["long_ops"]["zap"]["always"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v.as_str() == Some("unmap_vmas")));
}

/// Issue 12, item 7: 4,000 nested `if`s (stack overflow, exit 134 before)
/// become a note on stderr; the other function's finding is printed, in
/// `lint` and in `baseline`.
#[test]
fn deep_nesting_is_a_note_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("int deep(struct mm_struct *mm, int x)\n{\n");
    text.push_str(&"\tif (x) {\n".repeat(4000));
    // Naming the lock gets the function parsed (the prefilter).
    text.push_str("\tmmap_write_lock(mm);\n\tmmap_write_unlock(mm);\n");
    text.push_str(&"\t}\n".repeat(4000));
    text.push_str("return 0;\n}\n\nint kept(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}\n");
    std::fs::write(dir.path().join("deep.c"), &text).unwrap();
    let out = mmstall().arg("lint").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("`kept` holds the mmap lock for write"),
        "{stdout}"
    );
    assert!(
        stderr.contains("skipped: deep.c: function `deep` (line 1) skipped: nesting too deep"),
        "{stderr}"
    );
    assert!(!stdout.contains("skipped:"), "{stdout}");
    let out = mmstall()
        .args(["lint", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["skipped"][0]["file"], "deep.c");
    let baseline = dir.path().join("baseline.json");
    let out = mmstall()
        .arg("baseline")
        .arg(dir.path())
        .arg("-o")
        .arg(&baseline)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("nesting too deep"), "{stderr}");
    assert!(stderr.contains("wrote 1 finding(s)"), "{stderr}");
}

/// Issue 12, item 9: PATH that cannot be listed or read, or that is not a
/// regular file or directory, is an input error naming it (exit 2), not
/// "0 files". The tests run as root, for whom permission bits do not stop a
/// read: a path through a regular file (ENOTDIR) is unreadable for anyone.
#[test]
fn unusable_path_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.c");
    std::fs::write(&file, "int x;\n").unwrap();
    let through_file = file.join("sub");
    let fifo = dir.path().join("pipe.c");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, says) in [
        (through_file.as_path(), "Not a directory"),
        (fifo.as_path(), "is a FIFO"),
        (std::path::Path::new("/dev/zero"), "is a character device"),
    ] {
        let out = mmstall().arg("lint").arg(path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains(&*path.to_string_lossy()), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

/// Issue 12, item 9: inside a tree, a FIFO named `.c` is reported, never
/// opened (the run would hang on it); a name with a backslash and one with a
/// non-UTF-8 byte keep their findings, the latter printed with `\xNN`, and
/// the JSON stays valid.
#[test]
fn special_files_and_odd_names_in_a_tree() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let holder = |name: &str| {
        format!("int {name}(struct mm_struct *mm)\n{{\n\tmmap_write_lock(mm);\n\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}}\n")
    };
    std::fs::write(dir.path().join("back\\slash.c"), holder("in_backslash")).unwrap();
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.c");
    std::fs::write(dir.path().join(latin1), holder("in_latin1")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe.c"))
        .status()
        .unwrap();
    assert!(made.success());
    let out = mmstall()
        .args(["lint", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut files: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["file"].as_str().unwrap(),
                f["holder"].as_str().unwrap()
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["back\\slash.c in_backslash", "caf\\xe9.c in_latin1"]
    );
    assert_eq!(v["skipped"][0]["file"], "pipe.c");
    assert!(
        v["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a regular file (a FIFO)"),
        "{}",
        v["skipped"]
    );
}
