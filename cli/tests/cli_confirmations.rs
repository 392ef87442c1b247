//! `lint --confirmations`: what `mmstall confirm` measured, attached to the
//! findings it measured (text note, JSON field, SARIF holder property), and
//! a bad file named.

use std::path::PathBuf;
use std::process::Command;

fn mmstall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmstall"))
}

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../analyzer/tests/fixtures/seeds")
}

/// A confirm.json (as `mmstall confirm` writes it) with one confirmed
/// outcome for `finding` and one for a finding of another tree.
fn confirm_json(finding: &serde_json::Value) -> serde_json::Value {
    let confirmed = serde_json::json!({
        "finding": {
            "code": finding["code"], "file": finding["file"], "line": finding["line"],
            "function": finding["function"], "holder": finding["holder"],
            "lock_mode": finding["lock_mode"], "fingerprint": finding["fingerprint"]
        },
        "outcome": "confirmed",
        "evidence": {
            "sizes": [
                { "size_mib": 64, "max_ms": 92.0, "recipe": "munmap" },
                { "size_mib": 256, "max_ms": 419.0, "recipe": "munmap" }
            ],
            "growth": 4.55, "mode": "write", "end": "released",
            "acquire_stack": [], "release_stack": [], "site_in_stack": true
        }
    });
    let elsewhere = serde_json::json!({
        "finding": {
            "code": "MMS002", "file": "mm/other.c", "line": 1, "function": "f",
            "holder": "g", "lock_mode": "write", "fingerprint": "0000000000000000"
        },
        "outcome": "no-workload",
        "reason": "no recipe reaches `g`"
    });
    serde_json::json!({
        "run": { "note": "what the run was; not read" },
        "confirmation": {
            "kernel_release": "6.12.118", "threshold_ms": 50.0, "sizes_mib": [64, 256],
            "outcomes": [confirmed, elsewhere], "discovered": [], "runs": []
        }
    })
}

#[test]
fn measured_holds_are_attached_to_their_findings() {
    let out = mmstall()
        .args(["lint", "--format", "json"])
        .arg(seeds())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = v["findings"][0].clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confirm.json");
    std::fs::write(&file, confirm_json(&first).to_string()).unwrap();

    // JSON: the measured finding carries it, the others do not.
    let out = mmstall()
        .args(["lint", "--format", "json", "--confirmations"])
        .arg(&file)
        .arg(seeds())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let measured: Vec<_> = findings
        .iter()
        .filter(|f| f.get("measured").is_some())
        .collect();
    assert_eq!(measured.len(), 1, "{findings:#?}");
    assert_eq!(measured[0]["fingerprint"], first["fingerprint"]);
    assert_eq!(measured[0]["measured"]["outcome"], "confirmed");
    assert_eq!(measured[0]["measured"]["sizes"][1][1], 419.0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 finding(s) measured on 6.12.118")
            && err.contains("1 match no finding of this run"),
        "{err}"
    );

    // Text: a note under the finding.
    let out = mmstall()
        .args(["lint", "--color", "never", "--confirmations"])
        .arg(&file)
        .arg(seeds())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "measured: confirmed: 92.0 ms at 64 MiB, 419.0 ms at 256 MiB (4.5x), workload munmap on 6.12.118"
        ),
        "{text}"
    );

    // SARIF: in the holder's properties.
    let out = mmstall()
        .args(["lint", "--format", "sarif", "--confirmations"])
        .arg(&file)
        .arg(seeds())
        .output()
        .unwrap();
    let sarif = String::from_utf8_lossy(&out.stdout);
    assert!(sarif.contains("\"measured\""), "{sarif}");
}

#[test]
fn a_file_that_is_not_a_confirmation_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confirm.json");
    std::fs::write(&file, "{\"findings\": []}").unwrap();
    let out = mmstall()
        .args(["lint", "--confirmations"])
        .arg(&file)
        .arg(seeds())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not the confirm.json of `mmstall confirm`"),
        "{err}"
    );
}
