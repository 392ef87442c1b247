//! A test executor that answers like the real commands do (exit codes,
//! stdout JSON, stderr messages as `mmstall vm build/run`, `mmstall series`,
//! clap and git print them), and a small real kernel-like tree with series
//! in the formats `vm build --series` reads. The apply check is the real one.

#![allow(dead_code)]

use mmstall_nightly::exec::{apply_check_in_process, tree_dir, CmdOutput, Executor};
use serde_json::json;
use std::path::{Path, PathBuf};

pub const UNKNOWN_SERIES: &str = "error: unrecognized subcommand 'series'\n\n  tip: some similar subcommands exist: 'merge', 'baseline'\n\nUsage: mmstall <COMMAND>\n\nFor more information, try '--help'.\n";
#[allow(dead_code)]
pub const UNKNOWN_VALIDATE: &str = "error: unrecognized subcommand 'validate'\n\n  tip: a similar subcommand exists: 'list'\n\nUsage: mmstall vm <COMMAND>\n\nFor more information, try '--help'.\n";

#[derive(Default)]
pub struct Fake {
    pub cache: PathBuf,
    /// `mmstall series` exists.
    pub with_series: bool,
    /// The stall suite command exists.
    pub with_suite: bool,
    /// `mmstall series` (not `--help`) dies like a crashed analyzer: killed
    /// by SIGABRT after "stack overflow", no JSON.
    pub series_crashes: bool,
    /// This mmstall has `vm run --kselftest`.
    pub with_kselftest: bool,
    /// This mmstall has `confirm`.
    pub with_confirm: bool,
    pub calls: Vec<String>,
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn stem(p: &str) -> String {
    Path::new(p)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn finding(code: &str, file: &str, line: u64, fp: &str) -> serde_json::Value {
    json!({
        "rule": "write-hold-populate", "code": code, "severity": "warning", "file": file, "line": line, "column": 2,
        "function": "do_thing", "holder": "do_thing", "call_path": ["do_thing"], "operation": "__mm_populate",
        "lock_mode": "write", "acquired_at": "mm/util.c:10", "message": "`do_thing` holds the mmap lock for write across page population", "fingerprint": fp
    })
}

fn run_result(
    status: serde_json::Value,
    events: Vec<serde_json::Value>,
    boot: Option<f64>,
) -> String {
    serde_json::to_string_pretty(&json!({
        "outcome": status, "label": "exec", "kernel": "/cache/builds/k/bzImage", "accel": "tcg", "accel_reason": "probe",
        "stdout": "", "stderr": "", "events": events, "boot_secs": boot, "command_secs": 0.1, "total_secs": 30.0,
        "vng_exit": 0, "dir": "/x", "console_log": "/x/console.log", "dmesg": null, "vng_args": []
    }))
    .unwrap()
}

impl Executor for Fake {
    fn mmstall(&mut self, args: &[String]) -> CmdOutput {
        self.calls.push(format!("mmstall {}", args.join(" ")));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["series", "--help"] if self.with_series => {
                CmdOutput::ok("Apply a patch series in memory ...")
            }
            ["series", ..] if !self.with_series => CmdOutput::fail(2, UNKNOWN_SERIES),
            ["series", ..] if self.series_crashes => CmdOutput {
                exit: None,
                stdout: String::new(),
                stderr: "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n".into(),
                secs: 0.5,
            },
            ["series", ..] => {
                let series = args
                    .iter()
                    .find(|x| x.ends_with(".mbox"))
                    .map(|s| stem(s))
                    .unwrap_or_default();
                let (intro, status1, code) = match series.as_str() {
                    "regress" | "confirmhang" => (
                        vec![finding("MMS001", "mm/util.c", 12, "fp-new")],
                        "applied",
                        1,
                    ),
                    "noapply" => (vec![], "failed", 3),
                    _ => (vec![], "applied", 0),
                };
                let mut p = json!({"index": 1, "subject": format!("mm: {series}"), "status": status1, "changed_files": ["mm/util.c"], "introduced": intro, "fixed": []});
                if status1 == "failed" {
                    p["file"] = json!("mm/util.c");
                    p["error"] = json!("hunk #1 does not apply");
                }
                let out = json!({"version": 1, "exit_code": code, "series": series, "base_rev": "HEAD", "base_tree": "0".repeat(40), "paths": ["mm"], "keep_going": true,
                    "patches": [p], "net": {"introduced": intro, "fixed": [], "unchanged": [finding("MMS002", "mm/vma.c", 1164, "fp-old")]}});
                CmdOutput {
                    exit: Some(code),
                    stdout: serde_json::to_string_pretty(&out).unwrap(),
                    stderr: String::new(),
                    secs: 1.0,
                }
            }
            ["confirm", ..] if !self.with_confirm => CmdOutput::fail(2, UNKNOWN_CONFIRM),
            ["confirm", ..] => confirm_run(args),
            ["vm", "build", ..] => {
                let config = arg(args, "--config").unwrap_or("");
                match arg(args, "--series").map(stem) {
                    None if config.contains("broken") => CmdOutput::fail(2, "error: olddefconfig dropped 1 requested option(s):\n  CONFIG_NOPE=y: unknown symbol\n(config: /c/.config; pass --allow-dropped to build anyway)\n"),
                    None => CmdOutput { exit: Some(0), stdout: meta(&format!("base{}", config.len()), None), stderr: String::new(), secs: 600.0 },
                    Some(s) if s == "buildfail" => CmdOutput::fail(
                        1,
                        "vm build: debian:6.12 [virtme-base,stall-debug] series buildfail.mbox (1 patches)\nerror: make bzImage failed (exit exit status: 2); log: /cache/builds/live/build.log\n../mm/util.c: In function 'kstrdup':\n../mm/util.c:12:9: error: expected ';' before '}' token\n",
                    ),
                    // The selftests' kernel (the config with kselftest-mm) of this series does not compile.
                    Some(s) if s == "ksbuildfail" && config.contains("kselftest") => CmdOutput::fail(
                        1,
                        "error: make bzImage failed (exit exit status: 2); log: /cache/builds/live/build.log\n../mm/gup_test.c:3:1: error: unknown type name 'oops'\n",
                    ),
                    // `-ks`: built with the selftests' fragments.
                    Some(s) => CmdOutput { exit: Some(0), stdout: meta(&format!("p{s}{}", if config.contains("kselftest") { "-ks" } else { "" }), Some(&s)), stderr: String::new(), secs: 40.0 },
                }
            }
            ["vm", "run", ..] if arg(args, "--kselftest").is_some() => {
                if !self.with_kselftest {
                    return CmdOutput::fail(2, UNKNOWN_KSELFTEST);
                }
                kselftest_run(args)
            }
            ["vm", "run", ..]
                if arg(args, "--exec").is_some_and(|e| e.contains("suite --json")) =>
            {
                assert!(self.with_suite, "no suite without a guest program");
                let k = arg(args, "--kernel").unwrap_or("");
                let (r1, st1) = match k {
                    "pregress" => (9.5, "fail"),
                    // The test could not run on this kernel (e.g. its setup failed).
                    "psuiteerror" => (1.2, "error"),
                    _ => (1.2, "pass"),
                };
                // mmstall-guest's report, as the guest command's stdout inside `vm run --json`.
                let report = json!({"version": 1, "kernel_release": "6.12.57", "thresholds_source": "built-in", "thp": "never", "tests": [
                    {"name": "mlock-20g", "verdict": {"verdict": st1}, "duration_s": 41.5, "variants": [
                        {"variant": "fault", "verdict": {"verdict": st1}, "reps": [], "ratio": {"n": 3, "median": r1, "min": r1, "max": r1}, "summary": format!("fault: ratio median {r1}")},
                        {"variant": "gup", "verdict": {"verdict": "pass"}, "reps": [], "ratio": {"n": 3, "median": 1.0, "min": 1.0, "max": 1.0}, "summary": "gup: ratio median 1.0"}
                    ]},
                    {"name": "munmap-zap", "verdict": {"verdict": "pass"}, "duration_s": 12.25, "variants": [{"variant": "read", "verdict": {"verdict": "pass"}, "reps": [], "ratio": {"n": 3, "median": 1.05, "min": 1.0, "max": 1.1}, "summary": "read"}]},
                    {"name": "uffd-hold", "verdict": {"verdict": "skip", "reason": "no userfaultfd"}, "variants": []}
                ]});
                // The guest writes its report into the run directory (`--json {out}/stall.json`).
                let exec = arg(args, "--exec").unwrap();
                let file = exec
                    .split_whitespace()
                    .skip_while(|w| *w != "--json")
                    .nth(1)
                    .unwrap()
                    .trim_matches('\'');
                std::fs::create_dir_all(Path::new(file).parent().unwrap()).unwrap();
                std::fs::write(file, report.to_string()).unwrap();
                let rr = run_result(
                    json!({"status": "exited", "code": if st1 == "fail" { 1 } else { 0 }}),
                    vec![],
                    Some(20.0),
                );
                CmdOutput {
                    exit: Some(if st1 == "fail" { 1 } else { 0 }),
                    stdout: rr,
                    stderr: String::new(),
                    secs: 120.0,
                }
            }
            ["vm", "run", ..] => {
                let k = arg(args, "--kernel").unwrap_or("");
                match k {
                    "phang" => CmdOutput {
                        exit: Some(3),
                        stdout: run_result(json!({"status": "boot-timeout"}), vec![], None),
                        stderr: String::new(),
                        secs: 300.0,
                    },
                    "plockdep" => CmdOutput {
                        exit: Some(1),
                        stdout: run_result(
                            json!({"status": "exited", "code": 0}),
                            vec![
                                json!({"kind": "lockdep", "first_line": "WARNING: possible circular locking dependency detected", "line": 80, "functions": ["mmap_write_lock"], "fingerprint": "lockdep:mmap_write_lock,do_thing"}),
                            ],
                            Some(20.0),
                        ),
                        stderr: String::new(),
                        secs: 25.0,
                    },
                    _ => CmdOutput {
                        exit: Some(0),
                        stdout: run_result(
                            json!({"status": "exited", "code": 0}),
                            vec![],
                            Some(20.0),
                        ),
                        stderr: String::new(),
                        secs: 25.0,
                    },
                }
            }
            _ => CmdOutput::fail(2, format!("error: unexpected call {}", args.join(" "))),
        }
    }

    fn git(&mut self, args: &[String], _cwd: Option<&Path>) -> CmdOutput {
        self.calls.push(format!("git {}", args.join(" ")));
        if args.iter().any(|a| a == "rev-parse") {
            CmdOutput::ok("1234567890abcdef1234567890abcdef12345678\n")
        } else {
            CmdOutput::ok("")
        }
    }

    fn apply_check(&mut self, tree: &str, series: &Path) -> CmdOutput {
        self.calls
            .push(format!("apply-check {tree} {}", series.display()));
        apply_check_in_process(&tree_dir(&self.cache, tree), series)
    }

    fn cache_root(&self) -> PathBuf {
        self.cache.clone()
    }

    fn guest_program(&self) -> Option<PathBuf> {
        self.with_suite
            .then(|| PathBuf::from("/opt/mmstall/mmstall-guest"))
    }
}

pub const UNKNOWN_CONFIRM: &str = "error: unrecognized subcommand 'confirm'\n\nUsage: mmstall <COMMAND>\n\nFor more information, try '--help'.\n";

/// `mmstall confirm --kernel K --findings F --out DIR --json` as the real
/// one answers: confirm.json in DIR and on stdout, one outcome per finding
/// of F. The kernel decides what was measured: a patched `pregress` kernel
/// holds the lock long (confirmed, growing 4.5×), every baseline holds it
/// short; `phang`'s guest never boots (exit 3, no report).
fn confirm_run(args: &[String]) -> CmdOutput {
    let kernel = arg(args, "--kernel").unwrap_or("");
    let out = PathBuf::from(arg(args, "--out").expect("confirm without --out"));
    let sizes: Vec<u64> = arg(args, "--sizes")
        .unwrap_or("64,256")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let threshold: f64 = arg(args, "--threshold-ms").unwrap_or("50").parse().unwrap();
    if kernel == "pconfirmhang" {
        return CmdOutput::fail(
            3,
            format!(
                "mmstall confirm: {kernel} in {}\nerror: boot timed out after 300 s\n",
                out.display()
            ),
        );
    }
    let text =
        std::fs::read_to_string(arg(args, "--findings").expect("confirm without --findings"))
            .unwrap();
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let long = kernel.starts_with('p') && kernel != "pshort";
    let outcomes: Vec<serde_json::Value> = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let finding = json!({"code": f["code"], "rule": f["rule"], "file": f["file"], "line": f["line"], "function": f["function"],
                "holder": f["holder"], "call_path": f["call_path"], "operation": f["operation"], "lock_mode": f["lock_mode"], "fingerprint": f["fingerprint"]});
            if f["holder"] == "no_recipe_here" {
                return json!({"finding": finding, "outcome": "no-workload", "reason": "no recipe reaches `no_recipe_here`"});
            }
            let per_mib = if long { 92.0 / 64.0 } else { 0.05 };
            let figures: Vec<serde_json::Value> = sizes
                .iter()
                .map(|&mib| {
                    let ms = if long && mib > sizes[0] { 419.0 } else { per_mib * mib as f64 };
                    json!({"size_mib": mib, "max_ms": ms, "per_rep_ms": [ms, ms, ms], "recipe": "munmap-populated"})
                })
                .collect();
            let first = figures[0]["max_ms"].as_f64().unwrap();
            let last = figures.last().unwrap()["max_ms"].as_f64().unwrap();
            let growth = ((last / first) * 10.0).round() / 10.0;
            let evidence = json!({"sizes": figures, "growth": growth, "mode": "write", "end": "released",
                "acquire_stack": ["down_write_killable", "__vm_munmap", "__x64_sys_munmap", "do_syscall_64"], "release_stack": [], "site_in_stack": true});
            let outcome = if last >= threshold { "confirmed" } else { "short" };
            json!({"finding": finding, "outcome": outcome, "evidence": evidence})
        })
        .collect();
    let c = json!({"kernel_release": "6.12.57", "threshold_ms": threshold, "sizes_mib": sizes, "outcomes": outcomes, "discovered": [], "runs": []});
    std::fs::create_dir_all(&out).unwrap();
    let text = serde_json::to_string_pretty(&c).unwrap();
    std::fs::write(out.join("confirm.json"), &text).unwrap();
    CmdOutput {
        exit: Some(0),
        stdout: text,
        stderr: String::new(),
        secs: 180.0,
    }
}

pub const UNKNOWN_KSELFTEST: &str = "error: unexpected argument '--kselftest' found\n\nUsage: mmstall vm run --kernel <KERNEL>\n\nFor more information, try '--help'.\n";

/// `vm run --kselftest mm:... --out DIR --json` as the harness answers:
/// per-test logs and `result.json` in DIR, the report on stdout, exit 1
/// when a test failed. What each test does on a kernel (build key):
/// `mlock2-tests` fails on a kernel of the `mlockbreak` series (its first
/// subtest); `mremap_test` fails on every kernel; `gup_longterm` skips with
/// a reason; every other test passes. On a kernel of the `kserror` series
/// the guest never boots: exit 3, every test without a result.
fn kselftest_run(args: &[String]) -> CmdOutput {
    let k = arg(args, "--kernel").unwrap_or("");
    let dir = PathBuf::from(arg(args, "--out").expect("--out"));
    let spec = arg(args, "--kselftest").unwrap();
    let names: Vec<&str> = match spec.split_once(':') {
        Some((_, list)) => list.split(',').collect(),
        None => vec!["mlock2-tests", "mremap_test", "madv_populate"],
    };
    let logs = dir.join("kselftest");
    std::fs::create_dir_all(&logs).unwrap();
    let booted = !k.contains("kserror");
    let mut tests = Vec::new();
    let mut failed = false;
    for n in names {
        let log = logs.join(format!("{n}.log"));
        let (verdict, exit, subtests, text) = match n {
            _ if !booted => (json!({"verdict": "error", "reason": "no result: the guest never ran the test"}), None, vec![], None),
            "mlock2-tests" if k.contains("mlockbreak") => (
                json!({"verdict": "fail"}),
                Some(1),
                vec![json!({"name": "test_mlock_lock: Locked", "verdict": {"verdict": "fail"}, "diagnostics": [], "subtests": []})],
                Some("TAP version 13\n1..2\nnot ok 1 test_mlock_lock: Locked\nok 2 test_mlock_onfault: VMA marked for lock on fault\n# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0\n"),
            ),
            "mremap_test" => (
                json!({"verdict": "fail"}),
                Some(1),
                vec![json!({"name": "mremap expand: 2MB", "verdict": {"verdict": "fail"}, "diagnostics": [], "subtests": []})],
                Some("TAP version 13\n1..1\nnot ok 1 mremap expand: 2MB\n# Totals: pass:0 fail:1\n"),
            ),
            "gup_longterm" => (json!({"verdict": "skip", "reason": "need more free huge pages"}), Some(4), vec![], Some("TAP version 13\n1..0 # SKIP need more free huge pages\n")),
            _ => (json!({"verdict": "pass"}), Some(0), vec![], Some("TAP version 13\n1..1\nok 1 it works\n")),
        };
        failed |= verdict["verdict"] == "fail";
        if let Some(t) = text {
            std::fs::write(&log, t).unwrap();
        }
        tests.push(json!({"name": n, "argv": [n], "verdict": verdict, "exit_status": exit, "secs": exit.map(|_| 1.5),
            "log": text.map(|_| log.clone()), "subtests": subtests, "warnings": []}));
    }
    let rep = json!({"suite": "mm", "selection": spec, "kernel_release": "6.12.57", "selftests": "/cache/kselftest/mm-1", "timeout_secs": 300,
        "tests": tests, "counts": {}, "subtest_counts": {}, "test_secs": 0.0});
    let outcome = if booted {
        json!({"status": "exited", "code": 0})
    } else {
        json!({"status": "boot-timeout"})
    };
    std::fs::write(
        dir.join("result.json"),
        run_result(outcome, vec![], booted.then_some(20.0)),
    )
    .unwrap();
    CmdOutput {
        exit: Some(if !booted {
            3
        } else if failed {
            1
        } else {
            0
        }),
        stdout: serde_json::to_string_pretty(&rep).unwrap(),
        stderr: if booted {
            String::new()
        } else {
            "kselftest: cached: /cache/kselftest/mm-1\nerror: boot timeout: the guest never ran the command\n".into()
        },
        secs: 60.0,
    }
}

fn meta(key: &str, series: Option<&str>) -> String {
    serde_json::to_string_pretty(&json!({
        "key": key, "tree": "debian-6.12", "tree_origin": "/cache/src/linux-source-6.12", "tree_identity": "abc",
        "kernel_version": "6.12.57", "kernel_release": "6.12.57", "series": series.map(|s| json!({"path": format!("{s}.mbox"), "hash": "h", "subjects": [s]})),
        "fragments": ["virtme-base", "stall-debug"], "config_hash": "c", "baseline": null, "compiled": if series.is_some() { 3 } else { 1295 },
        "ccache": true, "jobs": 2, "dropped": [], "secs": {"sync": 1.0, "patch": 0.0, "copy_baseline": 0.0, "config": 5.0, "make": 500.0, "total": 510.0}, "finished_unix": 0
    }))
    .unwrap()
}

pub const UTIL_C: &str = "// SPDX-License-Identifier: GPL-2.0\n#include <linux/mm.h>\n\nchar *kstrdup(const char *s)\n{\n\tsize_t len;\n\tchar *buf;\n\n\tlen = strlen(s) + 1;\n\tbuf = kmalloc(len);\n\treturn buf;\n}\n";

/// A mail with one patch of mm/util.c replacing `old` by `new` (one line).
pub fn patch_mail(subject: &str, old: &str, new: &str) -> String {
    let lines: Vec<&str> = UTIL_C.lines().collect();
    let i = lines
        .iter()
        .position(|l| *l == old)
        .expect("line in UTIL_C");
    let from = i.saturating_sub(3);
    let to = (i + 4).min(lines.len());
    let mut hunk = String::new();
    for (j, l) in lines[from..to].iter().enumerate() {
        if from + j == i {
            hunk.push_str(&format!("-{l}\n+{new}\n"));
        } else {
            hunk.push_str(&format!(" {l}\n"));
        }
    }
    let n = to - from;
    format!(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@example.org>\nDate: Tue, 24 Nov 2026 10:00:00 +0000\nSubject: [PATCH] {subject}\n\nBody.\n\nSigned-off-by: Dev <dev@example.org>\n---\n mm/util.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\ndiff --git a/mm/util.c b/mm/util.c\nindex 1111111..2222222 100644\n--- a/mm/util.c\n+++ b/mm/util.c\n@@ -{},{n} +{},{n} @@\n{hunk}-- \n2.39.5\n\n",
        from + 1,
        from + 1
    )
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub plan: PathBuf,
}

/// A tree with mm/util.c, series files and a plan naming them.
pub fn world(series: &[&str], extra_plan: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("linux");
    std::fs::create_dir_all(tree.join("mm")).unwrap();
    std::fs::write(tree.join("mm/util.c"), UTIL_C).unwrap();
    let sdir = dir.path().join("patches");
    std::fs::create_dir_all(&sdir).unwrap();
    let mut plan = format!("name = \"test plan\"\n\n[[kernel]]\nname = \"k612\"\ntree = \"{}\"\n\n[[config]]\nname = \"default\"\nfragments = [\"virtme-base\", \"stall-debug\"]\n\n", tree.display());
    for s in series {
        let mail = match *s {
            "noapply" => patch_mail(
                "mm: against another tree",
                "\tlen = strlen(s) + 1;",
                "\tlen = strnlen(s, 64) + 1;",
            )
            .replace("-\tlen = strlen(s) + 1;", "-\tlen = strlen(s) + 2;"),
            "buildfail" => patch_mail("mm: oops", "\treturn buf;", "\treturn buf"),
            _ => patch_mail(
                &format!("mm: {s}"),
                "\tbuf = kmalloc(len);",
                &format!("\tbuf = kmalloc(len); /* {s} */"),
            ),
        };
        std::fs::write(sdir.join(format!("{s}.mbox")), mail).unwrap();
        plan.push_str(&format!(
            "[[series]]\nname = \"{s}\"\nmbox = \"patches/{s}.mbox\"\n\n"
        ));
    }
    plan.push_str(extra_plan);
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, plan).unwrap();
    World {
        tree,
        plan: plan_path,
        dir,
    }
}
