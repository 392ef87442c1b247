//! Helpers shared by the CLI's integration tests.

use std::path::Path;
use std::process::Command;

/// Whether the real consumers must be there (`scripts/test.sh` sets
/// MMSTALL_REQUIRE_TREE=1; `scripts/setup.sh` installs them).
pub fn required() -> bool {
    std::env::var("MMSTALL_REQUIRE_TREE").as_deref() == Ok("1")
}

/// Runs the SARIF 2.1.0 schema check the nightly's SARIF goes through
/// (`python3 ci/sarif-validate.py FILE`) on `sarif`. `None` when the validator
/// is not installed (a failure under MMSTALL_REQUIRE_TREE=1): the caller
/// prints a skip. Otherwise (exit code, output): 0 valid, 1 problems.
pub fn sarif_validate(test: &str, sarif: &[u8]) -> Option<(i32, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{test}.sarif"));
    std::fs::write(&file, sarif).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/sarif-validate.py");
    let o = Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let code = o.status.code().unwrap_or(-1);
    if code == 2 {
        assert!(
            !required(),
            "{test}: the SARIF 2.1.0 validator cannot run and MMSTALL_REQUIRE_TREE=1 (scripts/setup.sh installs it): {text}"
        );
        println!("SKIPPED {test}: {text}");
        return None;
    }
    Some((code, text))
}
