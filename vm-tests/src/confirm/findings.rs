//! The static findings `mmstall confirm` measures: read from the JSON of
//! `mmstall lint --format json` (only the fields confirmation needs).

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticFinding {
    pub code: String,
    #[serde(default)]
    pub rule: String,
    pub file: String,
    pub line: u64,
    /// The function of the long operation (the site).
    pub function: String,
    /// The function holding the lock (outermost of `call_path`).
    pub holder: String,
    #[serde(default)]
    pub call_path: Vec<String>,
    #[serde(default)]
    pub operation: String,
    /// `write` or `read`.
    pub lock_mode: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl StaticFinding {
    /// `MMS002 mm/vma.c:1164 vms_complete_munmap_vmas (held by __vm_munmap)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {}:{} {} (held by {})",
            self.code, self.file, self.line, self.function, self.holder
        )
    }
}

#[derive(Deserialize)]
struct LintJson {
    findings: Vec<StaticFinding>,
}

/// The findings of a lint JSON document; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Vec<StaticFinding>, String> {
    serde_json::from_str::<LintJson>(text)
        .map(|j| j.findings)
        .map_err(|e| {
            format!(
                "{source}:{}:{}: not the JSON of `mmstall lint --format json`: {e}",
                e.line(),
                e.column()
            )
        })
}

pub fn load(path: &Path) -> Result<Vec<StaticFinding>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lint_json_and_names_bad_input() {
        let text = r#"{"version":1,"findings":[{"rule":"r","code":"MMS002","severity":"warning",
            "file":"mm/vma.c","line":1164,"column":3,"function":"vms_complete_munmap_vmas",
            "holder":"__vm_munmap","call_path":["__vm_munmap","vms_complete_munmap_vmas"],
            "operation":"vms_clear_ptes","lock_mode":"write","fingerprint":"ab"}],"stats":{}}"#;
        let f = parse(text, "lint.json").unwrap();
        assert_eq!(
            f[0].describe(),
            "MMS002 mm/vma.c:1164 vms_complete_munmap_vmas (held by __vm_munmap)"
        );
        let e = parse("{\"findings\": [{\"code\": 1}]}", "x.json").unwrap_err();
        assert!(e.starts_with("x.json:1:"), "{e}");
    }
}
