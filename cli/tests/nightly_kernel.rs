//! `mmstall nightly` on Debian's 6.12 with real builds and boots.
//!
//! CI tier (scripts/test.sh): the baseline, the munmap-zap-under-write
//! regression series of patches/ (static + dynamic regression, both steps
//! required to run) and a series that does not apply. Full tier
//! (scripts/validate.sh, MMSTALL_FULL_VALIDATION=1) adds a harmless series
//! (pass, incremental build), a series with a syntax error (build failure) and
//! a series whose kernel hangs in an initcall (boot failure). Every verdict
//! and every report is checked.
//!
//! Gated: runs only with MMSTALL_KERNEL_TESTS=1 (as vm-tests/tests/kernel.rs;
//! a cold baseline build takes ~15 min on 2 cores, each series then builds a
//! few files and links: ~2 min, the hang costs its boot timeout).
//!
//!     MMSTALL_KERNEL_TESTS=1 cargo test --release -p mmstall --test nightly_kernel -- --nocapture

use std::path::{Path, PathBuf};
use std::process::Command;

fn cache() -> PathBuf {
    mmstall_vm::cache::root_from_env().expect("MMSTALL_CACHE or HOME")
}

/// A patch appending `added` after the last lines of `rel` (context: its last
/// three lines), in `git format-patch` form.
fn append_patch(tree: &Path, rel: &str, subject: &str, added: &str) -> String {
    let text = std::fs::read_to_string(tree.join(rel)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let ctx = &lines[n - 3..];
    let add: Vec<&str> = added.lines().collect();
    let mut hunk = format!("@@ -{},3 +{},{} @@\n", n - 2, n - 2, 3 + add.len());
    for l in ctx {
        hunk.push_str(&format!(" {l}\n"));
    }
    for l in &add {
        hunk.push_str(&format!("+{l}\n"));
    }
    format!(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Nightly Test <t@example.org>\nDate: Tue, 24 Nov 2026 10:00:00 +0000\nSubject: [PATCH] {subject}\n\nTest.\n---\n {rel} | {} +\n\ndiff --git a/{rel} b/{rel}\n--- a/{rel}\n+++ b/{rel}\n{hunk}-- \n2.39.5\n\n",
        add.len()
    )
}

#[test]
fn nightly_on_debian_6_12_with_builds_and_boots() {
    if std::env::var("MMSTALL_KERNEL_TESTS").as_deref() != Ok("1") {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED nightly_on_debian_6_12_with_builds_and_boots: set MMSTALL_KERNEL_TESTS=1 (builds and boots Debian's 6.12)");
        return;
    }
    let tree = cache().join("src/linux-source-6.12");
    assert!(
        tree.join("mm/util.c").is_file(),
        "{}: run scripts/setup.sh",
        tree.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let write = |name: &str, text: String| std::fs::write(p.join(name), text).unwrap();
    write(
        "benign.mbox",
        append_patch(
            &tree,
            "mm/util.c",
            "mm: a comment",
            "/* mmstall nightly test: harmless */",
        ),
    );
    write(
        "syntax.mbox",
        append_patch(
            &tree,
            "mm/util.c",
            "mm: a syntax error",
            "int mmstall_nightly_broken(void) { return 0 }",
        ),
    );
    write(
        "hang.mbox",
        append_patch(&tree, "mm/util.c", "mm: hang at boot", "static int __init mmstall_nightly_hang(void)\n{\n\tfor (;;)\n\t\tcpu_relax();\n\treturn 0;\n}\nlate_initcall(mmstall_nightly_hang);"),
    );
    write(
        "noapply.mbox",
        append_patch(&tree, "mm/util.c", "mm: against another tree", "/* x */").replace(
            " EXPORT_SYMBOL(flush_dcache_folio);",
            " EXPORT_SYMBOL(not_in_this_tree);",
        ),
    );
    // The CI tier (scripts/test.sh) runs one nightly job on real kernels: the
    // baseline, the munmap regression series of patches/ and a series that
    // does not apply (no build). The full validation (scripts/validate.sh,
    // MMSTALL_FULL_VALIDATION=1) adds a harmless series, a build failure and
    // a boot hang (each an incremental build; the hang costs its boot timeout).
    let full = std::env::var("MMSTALL_FULL_VALIDATION").as_deref() == Ok("1");
    let regress = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../patches/munmap-zap-under-write")
        .display()
        .to_string();
    let mut plan = "name = \"kernel test\"\n[[kernel]]\nname = \"debian-6.12\"\ntree = \"debian:6.12\"\n[[config]]\nname = \"default\"\nfragments = [\"virtme-base\", \"stall-debug\"]\n[boot]\ntimeout_secs = 150\ncommand_timeout_secs = 60\n\
         [suite]\nargs = [\"vm\", \"run\", \"--kernel\", \"{kernel}\", \"--exec\", \"{guest} suite --json {out}/stall.json --tests munmap-zap-stall --repeat 1\", \"--memory\", \"2G\", \"--cpus\", \"2\", \"--timeout\", \"600\", \"--out\", \"{out}\", \"--json\"]\n\
         [[series]]\nname = \"munmap-zap-under-write\"\ndir = \"{regress}\"\n\
         [[series]]\nname = \"noapply\"\nmbox = \"noapply.mbox\"\n"
        .replace("{regress}", &regress);
    if full {
        plan.push_str("[[series]]\nname = \"benign\"\nmbox = \"benign.mbox\"\n[[series]]\nname = \"syntax\"\nmbox = \"syntax.mbox\"\n[[series]]\nname = \"hang\"\nmbox = \"hang.mbox\"\n");
    }
    write("plan.toml", plan);
    let out = p.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_mmstall"))
        .args(["nightly", "--plan"])
        .arg(p.join("plan.toml"))
        .args(["--night", "2026-11-25", "--history", "none", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a regression (and infrastructure errors)"
    );
    let rs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let get = |s: &str| {
        rs.iter()
            .find(|r| r["series"] == s)
            .unwrap_or_else(|| panic!("{s}"))
    };
    assert_eq!(get("baseline")["verdict"], "pass", "{}", get("baseline"));
    if full {
        assert_eq!(get("benign")["verdict"], "pass", "{}", get("benign"));
        assert_eq!(
            get("benign")["static"]["step"]["status"],
            "ok",
            "{}",
            get("benign")
        );
        assert_eq!(
            get("benign")["static"]["introduced"]
                .as_array()
                .unwrap()
                .len(),
            0,
            "{}",
            get("benign")
        );
    }
    // The regression series of patches/ (zaps under the write lock): static
    // (mmstall series) and dynamic (munmap-zap-stall flips). Both steps must
    // have run: the test command builds mmstall-guest next to mmstall.
    let reg = get("munmap-zap-under-write");
    eprintln!(
        "munmap-zap-under-write: {} static={} dynamic={} not checked: {}",
        reg["verdict"], reg["static_regression"], reg["dynamic_regression"], reg["not_checked"]
    );
    assert_eq!(reg["verdict"], "regression", "{reg}");
    assert_eq!(reg["static"]["step"]["status"], "ok", "{reg}");
    assert_eq!(reg["patched"]["suite"]["status"], "ok", "{reg}");
    {
        assert_eq!(reg["static_regression"], true, "{reg}");
        assert!(
            reg["static"]["introduced"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "MMS002"),
            "{reg}"
        );
    }
    {
        assert_eq!(reg["dynamic_regression"], true, "{reg}");
        assert!(
            reg["comparisons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["test"] == "munmap-zap-stall" && c["regression"] == true),
            "{reg}"
        );
    }
    let failures: &[(&str, &str)] = if full {
        &[
            ("syntax", "build-failure"),
            ("hang", "boot-failure"),
            ("noapply", "patch-does-not-apply"),
        ]
    } else {
        &[("noapply", "patch-does-not-apply")]
    };
    for &(s, class) in failures {
        assert_eq!(get(s)["verdict"], "infra-error", "{s}: {}", get(s));
        assert_eq!(get(s)["class"], class, "{s}: {}", get(s));
    }
    assert!(
        !full
            || get("syntax")["detail"]
                .as_str()
                .unwrap()
                .contains("mmstall_nightly_broken")
            || get("syntax")["detail"].as_str().unwrap().contains("error"),
        "{}",
        get("syntax")
    );
    // Incremental: the patched build compiled a handful of files.
    let compiled = reg["patched"]["compiled"].as_u64().unwrap();
    assert!(
        compiled < 50,
        "{compiled} files compiled for a one-file patch"
    );
    // Reports.
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let infra: &[&str] = if full {
        &[
            "infrastructure:build failure",
            "infrastructure:boot failure",
            "infrastructure:patch does not apply",
        ]
    } else {
        &["infrastructure:patch does not apply"]
    };
    for t in infra {
        assert!(junit.contains(&format!("<error type=\"{t}\"")), "{t}");
    }
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kcidb.json")).unwrap()).unwrap();
    assert!(k["tests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["path"] == "mmstall.boot"
            && t["status"] == "PASS"
            && t["number"]["unit"] == "s"));
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("new-findings.sarif")).unwrap())
            .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("## Infrastructure errors"), "{md}");
    assert!(
        !full
            || out
                .join("logs/hang--debian-6.12--default/patched-boot/console.log")
                .is_file()
            || out
                .join("logs/hang--debian-6.12--default/patched-boot.log")
                .is_file()
    );
}
