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
