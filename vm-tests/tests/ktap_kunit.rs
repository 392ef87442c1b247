//! The guest's KTAP read by the kernel's own parser: `tools/testing/kunit/kunit.py
//! parse` from Debian's 6.12 tree (run from there, never copied) must count an
//! expected failure (`ok N name # XFAIL reason`, kselftest's form) as expected
//! and exit 0 on a passing suite, and exit 1 on the older `not ok ... # XFAIL`
//! form and on a real failure (the check has teeth).
//!
//! The fixture `tests/data/ktap/guest-suite-6.12.ktap` is a whole suite in the
//! guest's stdout format (header, the guest's `# mmstall-guest on ...` line,
//! then one `write_one` block per test as it finishes); `the_fixture_is_what_the_writer_writes`
//! keeps it equal to what `ktap::write_one` writes today.
//!
//! Skipped with a printed reason when the tree is missing, unless
//! MMSTALL_REQUIRE_TREE=1 (scripts/test.sh sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

use mmstall_vm::stall::ktap::{self, Verdict};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ktap/guest-suite-6.12.ktap")
}

fn fixture() -> String {
    std::fs::read_to_string(fixture_path()).expect("fixture readable")
}

fn kunit_py() -> Option<PathBuf> {
    let cache = mmstall_vm::cache::root_or_default();
    let script = cache.join("src/linux-source-6.12/tools/testing/kunit/kunit.py");
    if script.is_file() {
        return Some(script);
    }
    if std::env::var("MMSTALL_REQUIRE_TREE").as_deref() == Ok("1") {
        panic!(
            "{} is missing and MMSTALL_REQUIRE_TREE=1; run scripts/setup.sh",
            script.display()
        );
    }
    eprintln!(
        "skipped: {} is missing (run scripts/setup.sh; MMSTALL_REQUIRE_TREE=1 makes this a failure)",
        script.display()
    );
    None
}

/// Runs `kunit.py parse FILE`: (exit code, stdout). Python writes no bytecode
/// (`-B`, PYTHONDONTWRITEBYTECODE): the kernel tree is read-only input.
fn kunit_parse(script: &Path, text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guest.ktap");
    std::fs::write(&file, text).unwrap();
    let out = Command::new("python3")
        .arg("-B")
        .arg(script)
        .arg("parse")
        .arg(&file)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        format!("{stdout}\n{stderr}"),
    )
}

/// The last line kunit.py prints: `Testing complete. Ran N tests: passed: P, failed: F`.
fn summary_line(out: &str) -> String {
    out.lines()
        .rev()
        .find_map(|l| {
            l.split_once("Testing complete. ")
                .map(|(_, s)| s.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no summary line in kunit.py output:\n{out}"))
}

#[test]
fn the_fixture_is_what_the_writer_writes() {
    let text = fixture();
    let p = ktap::parse(&text).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.planned, Some(5));
    let posix = &p.results[2];
    assert_eq!(posix.name, "mlock-posix-atomicity");
    assert!(matches!(&posix.verdict, Verdict::Xfail(w) if w.starts_with("Linux changes part")));
    assert!(matches!(posix.subtests[0].verdict, Verdict::Xfail(_)));
    assert_eq!(posix.subtests[3].verdict, Verdict::Pass);
    // The guest prints its own diagnostic after the plan; the parser hands it
    // to the first test. Written back the guest's way, the text is the same.
    let mut results = p.results.clone();
    let guest_line = results[0].diagnostics.remove(0);
    assert!(
        guest_line.starts_with("mmstall-guest on 6.12"),
        "{guest_line}"
    );
    let mut written = ktap::header(results.len());
    written.push_str(&format!("# {guest_line}\n"));
    for (i, r) in results.iter().enumerate() {
        written.push_str(&ktap::write_one(i + 1, r));
    }
    assert_eq!(written, text, "the fixture no longer matches the writer");
}

#[test]
fn kunit_py_counts_xfail_as_expected_and_exits_0() {
    let Some(script) = kunit_py() else { return };
    let (code, out) = kunit_parse(&script, &fixture());
    assert_eq!(code, 0, "kunit.py parse rejects the guest's KTAP:\n{out}");
    assert_eq!(summary_line(&out), "Ran 14 tests: passed: 14", "{out}");
}

#[test]
fn kunit_py_has_teeth() {
    let Some(script) = kunit_py() else { return };
    let text = fixture();
    // The older form of an expected failure: kunit.py counts it as failed
    // (the three variants; it counts leaf tests only).
    let older: String = text
        .lines()
        .map(|l| {
            let body = l.trim_start();
            if body.starts_with("ok ") && body.contains(" # XFAIL ") {
                format!("{}not {body}\n", &l[..l.len() - body.len()])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(older, text);
    let (code, out) = kunit_parse(&script, &older);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        summary_line(&out),
        "Ran 14 tests: passed: 11, failed: 3",
        "{out}"
    );
    // A real failure of one variant.
    let failed = text.replacen("  ok 1 read-fault", "  not ok 1 read-fault", 1);
    let (code, out) = kunit_parse(&script, &failed);
    assert_eq!(code, 1, "{out}");
    assert!(summary_line(&out).contains("failed: 1"), "{out}");
}
