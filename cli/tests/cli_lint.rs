//! The `mmstall lint` command line: formats, exit codes, errors.

use std::path::PathBuf;
use std::process::Command;

mod common;

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

/// Four holder paths reach one zap in the `sites` fixture: one item by
/// default, four with `--per-holder`; JSON keeps the four records.
#[test]
fn one_item_per_site_unless_per_holder() {
    let sites = seeds().join("../sites");
    let grouped = mmstall().arg("lint").arg(&sites).output().unwrap();
    assert_eq!(grouped.status.code(), Some(1));
    let text = String::from_utf8(grouped.stdout).unwrap();
    assert_eq!(text.matches("warning[MMS002]").count(), 1, "{text}");
    assert_eq!(text.matches("= holder: ").count(), 4, "{text}");
    assert!(
        text.contains("= note: reached from demo_remap(2)"),
        "{text}"
    );
    assert!(text.contains("1 site, 4 holder paths in 3 files"), "{text}");
    let per_holder = mmstall()
        .args(["lint", "--per-holder"])
        .arg(&sites)
        .output()
        .unwrap();
    let text = String::from_utf8(per_holder.stdout).unwrap();
    assert_eq!(text.matches("warning[MMS002]").count(), 4, "{text}");
    assert!(!text.contains("= holder: "), "{text}");
    assert!(text.contains("1 site, 4 holder paths in 3 files"), "{text}");
    let json = mmstall()
        .args(["lint", "--format", "json"])
        .arg(&sites)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4);
    assert!(findings
        .iter()
        .all(|f| f["site_id"] == findings[0]["site_id"]));
    assert!(findings.iter().all(|f| f["triggers"].is_array()));
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
/// A kernel-shaped tree: a top-level Makefile with the version lines and a
/// Kbuild, mm/ with a finding inside mm/mmap.c and one across two files.
fn kernel_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("Makefile", "VERSION = 6\nPATCHLEVEL = 12\n");
    write("Kbuild", "obj-y += mm/\n");
    write(
        "mm/mmap.c",
        "static int demo_mlock(struct mm_struct *mm, unsigned long len)\n{\n\tint ret;\n\n\tmmap_write_lock(mm);\n\tret = __mm_populate(0, len, 0);\n\tmmap_write_unlock(mm);\n\treturn ret;\n}\n\nstatic void demo_unmap(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tdemo_zap_helper(mm);\n\tmmap_write_unlock(mm);\n}\n",
    );
    write(
        "mm/memory.c",
        "void demo_zap_helper(struct mm_struct *mm)\n{\n\tunmap_vmas(NULL, NULL, 0, 1, 0);\n}\n",
    );
    write(
        "mm/slow.c",
        "static void demo_slow(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tmy_slow_zapper(mm);\n\tmmap_write_unlock(mm);\n}\n",
    );
    dir
}

fn json_findings(out: &std::process::Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    v["findings"].as_array().unwrap().clone()
}

fn file_fingerprints(findings: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["fingerprint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn paths_are_relative_to_the_tree_root_whatever_path_and_cwd() {
    let tree = kernel_tree();
    let root = tree.path();
    let lint_json = |cwd: &std::path::Path, path: &str| {
        let out = mmstall()
            .current_dir(cwd)
            .args(["lint", "--format", "json", path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{path} from {cwd:?}");
        file_fingerprints(&json_findings(&out))
    };
    let whole = lint_json(root, ".");
    let mm = lint_json(root, "mm");
    let mm_from_inside = lint_json(&root.join("mm"), ".");
    let file = lint_json(&root.join("mm"), "mmap.c");
    let file_from_elsewhere = lint_json(
        std::path::Path::new("/"),
        root.join("mm/mmap.c").to_str().unwrap(),
    );
    assert!(whole.iter().all(|(f, _)| f.starts_with("mm/")), "{whole:?}");
    assert!(whole.iter().any(|(f, _)| f == "mm/memory.c"), "{whole:?}");
    assert_eq!(mm, whole);
    assert_eq!(mm_from_inside, whole);
    assert_eq!(file, file_from_elsewhere);
    assert!(!file.is_empty() && file.iter().all(|x| whole.contains(x)));
    assert!(file.iter().all(|(f, _)| f == "mm/mmap.c"));

    // Text (and so quickfix) names files the same way.
    let out = mmstall()
        .current_dir(root.join("mm"))
        .args(["lint", "--color", "never", "."])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\nmm/mmap.c:6:8: warning[MMS001]"), "{text}");
    // GitHub annotations too, without a prefix.
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "--format", "github", "mm/mmap.c"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("file=mm/mmap.c,line=6,col=8"), "{text}");
}

#[test]
fn a_whole_tree_baseline_filters_a_subdirectory_run() {
    let tree = kernel_tree();
    let root = tree.path();
    let base = root.join("baseline.json");
    let out = mmstall()
        .current_dir(root)
        .args(["baseline", ".", "-o"])
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for path in ["mm", "mm/mmap.c"] {
        let out = mmstall()
            .current_dir(root)
            .args(["lint", path, "--baseline"])
            .arg(&base)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // And the other way round: a baseline of mm/mmap.c leaves mm/memory.c's.
    let out = mmstall()
        .current_dir(root)
        .args(["baseline", "mm/mmap.c", "-o"])
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "--format", "json", ".", "--baseline"])
        .arg(&base)
        .output()
        .unwrap();
    let left = file_fingerprints(&json_findings(&out));
    assert_eq!(
        left.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["mm/memory.c"]
    );
}

#[test]
fn mmstall_toml_is_found_upward_to_the_tree_root() {
    let tree = kernel_tree();
    let root = tree.path();
    let slow = |path: &str| {
        let out = mmstall()
            .current_dir(root)
            .args(["lint", "--format", "json", path])
            .output()
            .unwrap();
        json_findings(&out)
            .iter()
            .any(|f| f["holder"] == "demo_slow")
    };
    assert!(!slow("mm"));
    std::fs::write(
        root.join("mmstall.toml"),
        "[long_ops.zap]\nalways = [\"my_slow_zapper\"]\n",
    )
    .unwrap();
    assert!(slow("mm"), "the root's mmstall.toml applies to mm/");
    assert!(slow("mm/slow.c"));
    // The nearest wins: one in mm/ that turns the rule off.
    std::fs::write(
        root.join("mm/mmstall.toml"),
        "[rules.MMS002]\nenabled = false\n",
    )
    .unwrap();
    assert!(!slow("mm"));
    assert!(slow("."));
    // Not above the tree's root.
    std::fs::remove_file(root.join("mmstall.toml")).unwrap();
    std::fs::remove_file(root.join("mm/mmstall.toml")).unwrap();
    let sub = root.join("inner");
    std::fs::create_dir_all(sub.join("mm")).unwrap();
    std::fs::write(sub.join("Makefile"), "VERSION = 6\nPATCHLEVEL = 12\n").unwrap();
    std::fs::write(sub.join("Kbuild"), "").unwrap();
    std::fs::copy(root.join("mm/slow.c"), sub.join("mm/slow.c")).unwrap();
    std::fs::write(
        root.join("mmstall.toml"),
        "[long_ops.zap]\nalways = [\"my_slow_zapper\"]\n",
    )
    .unwrap();
    assert!(
        !slow("inner/mm"),
        "mmstall.toml above the tree root is not read"
    );
}

#[test]
fn output_file_quiet_colour_and_progress() {
    let tree = kernel_tree();
    let root = tree.path();
    let report = root.join("out/report.txt");
    std::fs::create_dir_all(report.parent().unwrap()).unwrap();
    std::fs::write(&report, "old").unwrap();
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "mm", "-o"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&report).unwrap();
    assert!(
        written.contains("mm/mmap.c:6:8: warning[MMS001]"),
        "{written}"
    );
    assert!(!written.contains('\x1b'), "auto: no colour into a file");
    // Only the report is left in the directory (the temporary file was renamed).
    assert_eq!(
        std::fs::read_dir(report.parent().unwrap()).unwrap().count(),
        1
    );

    // -q: the summary line only, nothing on stderr.
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "-q", "--progress", "mm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("2 sites, 2 holder paths in 3 files"),
        "{text}"
    );
    assert!(out.stderr.is_empty());

    // --color always colours even with NO_COLOR; auto (not a terminal) and
    // never do not.
    let colour = |args: &[&str], no_color: bool| {
        let mut cmd = mmstall();
        cmd.current_dir(root).arg("lint").args(args).arg("mm");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let always = colour(&["--color", "always"], true);
    assert!(
        always.contains("\x1b[1;33mwarning[MMS001]\x1b[0m"),
        "{always}"
    );
    assert!(!colour(&["--color", "never"], false).contains('\x1b'));
    assert!(!colour(&[], false).contains('\x1b'));

    // --progress: the stages on stderr, one line each off a terminal;
    // stdout holds the report alone.
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "--progress", "--format", "json", "."])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("scanning 3 files\n"), "{err}");
    assert!(err.contains("parsing 3 files\n"), "{err}");
    assert!(err.contains("analysis round 1/8\n"), "{err}");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout is the JSON alone");
    // Without --progress and off a terminal: silent.
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "."])
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sarif_has_srcroot_region_ends_versions_and_rule_help() {
    let tree = kernel_tree();
    let root = tree.path();
    let out = mmstall()
        .current_dir(root.join("mm"))
        .args(["lint", "--format", "sarif", "."])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The required properties of SARIF 2.1.0 at each level we write.
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif"));
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "mmstall");
    assert!(driver["version"].is_string() && driver["semanticVersion"].is_string());
    let canonical = std::fs::canonicalize(root).unwrap();
    assert_eq!(
        run["originalUriBaseIds"]["SRCROOT"]["uri"],
        format!("file://{}/", canonical.display())
    );
    let rules = driver["rules"].as_array().unwrap();
    for rule in rules {
        assert!(rule["id"].as_str().unwrap().starts_with("MMS"));
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].is_string() && rule["help"]["markdown"].is_string());
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r["message"]["text"].is_string());
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "SRCROOT");
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("mm/"), "{uri}");
        assert!(
            canonical.join(uri).is_file(),
            "{uri} resolves under SRCROOT"
        );
        let region = &loc["region"];
        for key in ["startLine", "startColumn", "endLine", "endColumn"] {
            assert!(region[key].as_u64().unwrap() >= 1, "{key}: {region}");
        }
    }
    let populate = results.iter().find(|r| r["ruleId"] == "MMS001").unwrap();
    // `__mm_populate(0, len, 0)` on line 6 from column 8.
    assert_eq!(
        populate["locations"][0]["physicalLocation"]["region"],
        serde_json::json!({"startLine": 6, "startColumn": 8, "endLine": 6, "endColumn": 32})
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let out = mmstall().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let bash = String::from_utf8(out.stdout).unwrap();
    assert!(bash.contains("complete -F _mmstall"), "{bash}");
    for sub in [
        "lint",
        "baseline",
        "diff",
        "series",
        "nightly",
        "completions",
        "man",
    ] {
        assert!(bash.contains(sub), "{sub} in the bash completion");
    }
    assert!(bash.contains("--annotation-prefix") && bash.contains("--color"));
    let out = mmstall().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(man.contains(".TH mmstall 1"), "{man}");
    assert!(man.contains(".SH SUBCOMMANDS"), "{man}");
    for sub in [
        "lint",
        "baseline",
        "diff",
        "series",
        "snapshot",
        "nightly",
        "doctor",
        "completions",
        "man",
    ] {
        assert!(
            man.contains(&format!("mmstall\\-{sub}(1)")),
            "{sub} in the man page: {man}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = mmstall()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lint = std::fs::read_to_string(dir.path().join("mmstall-lint.1")).unwrap();
    assert!(lint.contains(".TH mmstall-lint 1"), "{lint}");
    assert!(lint.contains("annotation\\-prefix"), "{lint}");
    assert!(dir.path().join("mmstall.1").is_file());
    let out = mmstall()
        .args(["completions", "nosuchshell"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 16: lint's SARIF passes the SARIF 2.1.0 schema (the validator the
/// nightly's SARIF goes through); a copy with an invalid level does not.
#[test]
fn lint_sarif_passes_the_sarif_schema() {
    let out = mmstall()
        .args(["lint", "--format", "sarif"])
        .arg(seeds())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let Some((code, text)) = common::sarif_validate("lint_sarif", &out.stdout) else {
        return;
    };
    assert_eq!(code, 0, "{text}");
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["runs"][0]["results"].as_array().unwrap().len() > 1);
    v["runs"][0]["results"][0]["level"] = "loud".into();
    let (code, text) = common::sarif_validate("lint_sarif_bad", v.to_string().as_bytes()).unwrap();
    assert_eq!(code, 1, "{text}");
}

/// Issue 14: a constant a finding holds under is printed as the source
/// names it (`flags=VM_LOCKED`), not as the value standing for it.
#[test]
fn context_names_symbolic_constants() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ctx.c"),
        "static int lock_it(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long flags)\n{\n\tmmap_write_lock(mm);\n\tif (flags == VM_LOCKED)\n\t\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}\n\nint sys_lock_it(struct mm_struct *mm, struct vm_area_struct *vma)\n{\n\treturn lock_it(mm, vma, VM_LOCKED);\n}\n\nint sys_other(struct mm_struct *mm, struct vm_area_struct *vma)\n{\n\treturn lock_it(mm, vma, 0);\n}\n",
    )
    .unwrap();
    let out = mmstall()
        // Every function parsed: the callers passing the constant do not
        // name the lock, so the prefilter would leave them out.
        .args(["lint", "--parse-all", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v}");
    assert_eq!(
        findings[0]["context"],
        serde_json::json!(["flags=VM_LOCKED"])
    );
}

#[test]
fn several_paths_are_one_analysis_of_one_tree() {
    let tree = kernel_tree();
    let root = tree.path();
    let lint_json = |paths: &[&str]| {
        let out = mmstall()
            .current_dir(root)
            .args(["lint", "--format", "json"])
            .args(paths)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{paths:?}");
        file_fingerprints(&json_findings(&out))
    };
    // mm/slow.c alone has no finding (its zapper is catalogued only by a
    // user's mmstall.toml): together they report what mm/mmap.c reports,
    // named alike.
    let together = lint_json(&["mm/slow.c", "mm/mmap.c"]);
    assert_eq!(together, lint_json(&["mm/mmap.c"]));
    assert!(
        together.iter().any(|(f, _)| f == "mm/mmap.c"),
        "{together:?}"
    );
    // A file listed twice (by its directory and by name) is analyzed once.
    assert_eq!(lint_json(&["mm", "mm/mmap.c"]), lint_json(&["mm"]));

    // A path outside the first path's tree is an input error naming it.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("x.c"), "void f(void) {}\n").unwrap();
    let out = mmstall()
        .current_dir(root)
        .args(["lint", "mm"])
        .arg(other.path().join("x.c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not inside the tree"), "{err}");
}

/// `-o` onto something that is not a regular file (`-o /dev/null`, a FIFO)
/// writes into it: renaming a temporary file over it would replace the
/// device (a root user's `lint -o /dev/null` had turned /dev/null into a
/// regular file, and every later reader of /dev/null read old output).
/// Shown with a FIFO, so a regression cannot break the machine's /dev/null.
#[test]
fn output_onto_a_fifo_writes_into_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = mmstall()
        .args(["lint", "--format", "json", "-o"])
        .arg(&fifo)
        .arg(seeds())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Checked before joining: a replaced FIFO would leave the reader
    // waiting for a writer that never comes.
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced: {kind:?}");
    let written = reader.join().unwrap();
    let json: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert!(!json["findings"].as_array().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
}
