//! Guest-side suites for `mmstall vm run --suite NAME`: shell scripts run in
//! the guest, printing TAP. Built-in suites live in vm-tests/suites/ and are
//! embedded; `--suite PATH` runs a script file instead.

use std::path::Path;

pub const BUILTIN: &[(&str, &str)] = &[("smoke", include_str!("../suites/smoke.sh"))];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub script: String,
}

/// A built-in suite by name, or a script file by path.
pub fn resolve(name: &str) -> Result<Suite, String> {
    if let Some((n, s)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return Ok(Suite { name: n.to_string(), script: s.to_string() });
    }
    let p = Path::new(name);
    if p.is_file() {
        let script = std::fs::read_to_string(p).map_err(|e| format!("--suite {name}: {e}"))?;
        return Ok(Suite { name: name.to_string(), script });
    }
    Err(format!(
        "--suite {name}: no such suite (built-in: {}) and no such script file",
        BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    ))
}

/// Counts TAP results: (passed, failed).
pub fn tap_counts(stdout: &str) -> (usize, usize) {
    let mut pass = 0;
    let mut fail = 0;
    for l in stdout.lines() {
        if l.starts_with("not ok ") {
            fail += 1;
        } else if l.starts_with("ok ") {
            pass += 1;
        }
    }
    (pass, fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_builtin_and_files() {
        assert!(resolve("smoke").unwrap().script.contains("mmap_lock"));
        assert!(resolve("nope").unwrap_err().contains("built-in: smoke"));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sh");
        std::fs::write(&p, "echo ok 1 - x\n").unwrap();
        assert_eq!(resolve(p.to_str().unwrap()).unwrap().script, "echo ok 1 - x\n");
    }

    #[test]
    fn counts_tap() {
        assert_eq!(tap_counts("# c\nok 1 - a\nnot ok 2 - b\nok 3 - c\n1..3\n"), (2, 1));
        assert_eq!(tap_counts(""), (0, 0));
    }
}
