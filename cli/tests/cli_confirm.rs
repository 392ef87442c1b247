//! `mmstall confirm`'s bad input, through the real binary: each is exit 2
//! with the file (and line) named, before any boot.

use std::path::Path;
use std::process::{Command, Output};

fn confirm(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmstall"))
        .env("MMSTALL_CACHE", cache)
        .arg("confirm")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A build directory with a (fake) kernel image: enough to get past
/// `--kernel`, never booted because the input errors come first.
fn fake_build(dir: &Path) -> String {
    let b = dir.join("build");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("bzImage"), b"not a kernel").unwrap();
    b.display().to_string()
}

#[test]
fn an_unknown_kernel_is_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let o = confirm(
        t.path(),
        &[
            "--kernel",
            "0123abcd",
            "--out",
            &t.path().join("o").display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--kernel 0123abcd: not a build directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn findings_that_are_not_lint_json_are_named_with_their_line() {
    let t = tempfile::tempdir().unwrap();
    let k = fake_build(t.path());
    let f = t.path().join("lint.json");
    std::fs::write(&f, "{\"findings\": [\n  {\"code\": 3}\n]}\n").unwrap();
    let out = t.path().join("o").display().to_string();
    let o = confirm(
        t.path(),
        &[
            "--kernel",
            &k,
            "--findings",
            &f.display().to_string(),
            "--out",
            &out,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("lint.json:2:"), "{e}");
    assert!(
        e.contains("not the JSON of `mmstall lint --format json`"),
        "{e}"
    );
}

#[test]
fn a_bad_catalogue_is_named_with_its_line() {
    let t = tempfile::tempdir().unwrap();
    let k = fake_build(t.path());
    let c = t.path().join("confirm.toml");
    std::fs::write(&c, "[[holder]]\nname = \"x\"\nrecipe = [\"munmap\"]\n").unwrap();
    let out = t.path().join("o").display().to_string();
    let o = confirm(
        t.path(),
        &[
            "--kernel",
            &k,
            "--catalogue",
            &c.display().to_string(),
            "--out",
            &out,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("confirm.toml:3:"), "{}", stderr(&o));
}

#[test]
fn a_kernel_image_without_its_build_needs_findings() {
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("bzImage");
    std::fs::write(&img, b"x").unwrap();
    let out = t.path().join("o").display().to_string();
    let o = confirm(
        t.path(),
        &["--kernel", &img.display().to_string(), "--out", &out],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --findings"), "{}", stderr(&o));
}

/// A guest report written for this test: munmap at two sizes, one write
/// hold each, ended in `vms_complete_munmap_vmas`.
fn guest_report(small_ns: u64, large_ns: u64) -> String {
    let run = |size: u64, ns: u64| {
        format!(
            r#"{{"recipe":"munmap","size_mib":{size},"rep":1,"status":"ran","secs":1.0,"lost_events":0,
            "holds":[{{"comm":"w","pid":9,"mm":"m","mode":"write","start_ns":0,"hold_ns":{ns},"wait_ns":0,
            "end":"released","acquire_stack":["mmap_write_lock_killable","__vm_munmap","__x64_sys_munmap"],
            "release_stack":["mmap_write_unlock","vms_complete_munmap_vmas","__vm_munmap"]}}]}}"#
        )
    };
    format!(
        r#"{{"version":1,"kernel_release":"6.12.118","thp":"never","read_threshold_ms":10.0,"runs":[{},{}]}}"#,
        run(64, small_ns),
        run(256, large_ns)
    )
}

const FINDINGS: &str = r#"{"findings":[{"code":"MMS002","file":"mm/vma.c","line":1166,
  "function":"vms_complete_munmap_vmas","holder":"__vm_munmap","lock_mode":"write",
  "call_path":["__vm_munmap","vms_complete_munmap_vmas"],"operation":"vms_clear_ptes"}]}"#;

#[test]
fn a_saved_guest_report_is_matched_without_a_boot() {
    let t = tempfile::tempdir().unwrap();
    let k = fake_build(t.path());
    let f = t.path().join("lint.json");
    std::fs::write(&f, FINDINGS).unwrap();
    let g = t.path().join("confirm-guest.json");
    std::fs::write(&g, guest_report(40_000_000, 170_000_000)).unwrap();
    let out = t.path().join("o");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "--kernel".to_string(),
            k.clone(),
            "--findings".into(),
            f.display().to_string(),
            "--guest-report".into(),
            g.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&[]);
    let o = confirm(t.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.starts_with("MMS002 mm/vma.c:1166"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("40.0 ms") && row.contains("170.0 ms") && row.contains("4.25x"),
        "{row}"
    );
    assert!(row.ends_with("confirmed"), "{row}");
    assert!(out.join("confirm.json").is_file());
    // A higher threshold, the same measurement: short; JSON on stdout.
    let a = args(&["--threshold-ms", "200", "--json"]);
    let o = confirm(t.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcomes"][0]["outcome"], "short");
    assert_eq!(v["outcomes"][0]["evidence"]["growth"], 4.25);
    // A report that is not one is named with its line.
    std::fs::write(&g, "{\n\"runs\": 3}").unwrap();
    let a = args(&[]);
    let o = confirm(t.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("confirm-guest.json:2:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_selftest_is_bad_input_before_any_build_or_boot() {
    let t = tempfile::tempdir().unwrap();
    let kernel = fake_build(t.path());
    let o = confirm(
        t.path(),
        &[
            "--kernel",
            &kernel,
            "--recipes",
            "none",
            "--kselftest",
            "mm:no-such-test",
            "--out",
            &t.path().join("o").display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-test"), "{}", stderr(&o));
}
