//! `mmstall nightly` with `[confirm]` (issue 18) on Debian's 6.12 with real
//! builds and boots: the series job of `patches/munmap-zap-under-write`
//! (vms_complete_munmap_vmas() zaps under the write lock) measures the
//! findings the series introduces with `mmstall confirm` on the patched and
//! on the baseline kernel. Its new MMS002 (`sys_brk` zapping under the write
//! lock, mm/vma.c) is confirmed on the series with a hold that grows at
//! least 3× from 64 to 256 MiB, and stays short on the baseline; the verdict
//! is the static regression it was without `[confirm]` (exit 1); the
//! reports carry the hold.
//!
//! The suite is off (nightly_kernel.rs covers it); the recipes are limited
//! to what the series' findings need (munmap, brk-shrink).
//!
//! Gated: runs only with MMSTALL_KERNEL_TESTS=1. With the builds cached it
//! boots twice: 39 s here (TCG, 2 vCPUs); cold, it first builds the
//! baseline (~20 min).
//!
//!     cargo build --release --workspace --bins
//!     MMSTALL_KERNEL_TESTS=1 cargo test --release -p mmstall --test nightly_confirm -- --nocapture

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const JOB: &str = "munmap-zap-under-write--debian-6.12--stall-debug";

#[test]
fn nightly_confirms_the_munmap_series_finding_on_its_kernel() {
    if std::env::var("MMSTALL_KERNEL_TESTS").as_deref() != Ok("1") {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED nightly_confirms_the_munmap_series_finding_on_its_kernel: set MMSTALL_KERNEL_TESTS=1 (builds and boots Debian's 6.12)");
        return;
    }
    let series = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/munmap-zap-under-write");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let plan = format!(
        "name = \"confirm nightly test\"\n\
         [[kernel]]\nname = \"debian-6.12\"\ntree = \"debian:6.12\"\n\
         [[config]]\nname = \"stall-debug\"\nfragments = [\"virtme-base\", \"stall-debug\"]\n\
         [static]\npaths = [\"mm\"]\n\
         [boot]\ntimeout_secs = 300\n\
         [suite]\nenabled = false\n\
         [confirm]\nenabled = true\nrecipes = [\"munmap\", \"brk-shrink\"]\n\
         [[series]]\nname = \"munmap-zap-under-write\"\ndir = \"{}\"\n",
        series.display()
    );
    std::fs::write(p.join("plan.toml"), plan).unwrap();
    let out = p.join("out");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_mmstall"))
        .args(["nightly", "--plan"])
        .arg(p.join("plan.toml"))
        .args([
            "--night",
            "2026-12-03",
            "--history",
            "none",
            "--job",
            JOB,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("nightly with [confirm]: {:.0} s", t.elapsed().as_secs_f64());
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let r: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(o.status.code(), Some(1), "a static regression: {r:#}");
    assert_eq!(r["verdict"], "regression", "{r:#}");
    assert_eq!(r["static_regression"], true, "{r:#}");

    let c = &r["confirm"];
    assert_eq!(c["patched_step"]["status"], "ok", "{c:#}");
    assert_eq!(c["baseline_step"]["status"], "ok", "{c:#}");
    let findings = c["findings"].as_array().unwrap();
    // Every new finding has a measurement on both kernels.
    assert_eq!(
        findings.len(),
        r["static"]["introduced"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| ["MMS001", "MMS002", "MMS003"].contains(&f["code"].as_str().unwrap()))
            .count(),
        "{c:#}"
    );
    for f in findings {
        for which in ["patched", "baseline"] {
            assert_ne!(f[which]["outcome"], "not-measured", "{f:#}");
        }
    }
    let zap = findings
        .iter()
        .find(|f| f["code"] == "MMS002" && f["file"] == "mm/vma.c")
        .unwrap_or_else(|| panic!("no MMS002 in mm/vma.c measured: {c:#}"));
    assert_eq!(zap["patched"]["outcome"], "confirmed", "{zap:#}");
    assert_eq!(zap["patched"]["mode"], "write", "{zap:#}");
    let growth = zap["patched"]["growth"].as_f64().unwrap();
    assert!(growth >= 3.0, "the hold grows with the size: {zap:#}");
    assert_eq!(zap["baseline"]["outcome"], "short", "{zap:#}");
    let ms = |which: &str| {
        zap[which]["sizes"].as_array().unwrap().last().unwrap()["max_ms"]
            .as_f64()
            .unwrap()
    };
    assert!(ms("patched") > 10.0 * ms("baseline"), "{zap:#}");

    // Reports.
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("measured: series: confirmed: write hold"),
        "{md}"
    );
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kcidb.json")).unwrap()).unwrap();
    let failed = k["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["path"] == "mmstall.confirm" && t["status"] == "FAIL")
        .count();
    assert!(failed >= 1, "{k:#}");
}
