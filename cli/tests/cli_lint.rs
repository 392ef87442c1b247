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
