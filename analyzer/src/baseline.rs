//! Baselines: accepted findings, by fingerprint. `lint --baseline FILE`
//! reports only findings not in FILE; fingerprints ignore line numbers, so a
//! baseline survives unrelated edits that move code.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::AnalyzerError;
use crate::finding::Finding;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct BaselineEntry {
    pub fingerprint: String,
    pub rule: String,
    pub file: String,
    pub function: String,
    pub holder: String,
    pub operation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<BaselineEntry>,
}

impl Baseline {
    pub fn from_findings(findings: &[Finding]) -> Baseline {
        let mut entries: Vec<BaselineEntry> = findings
            .iter()
            .map(|f| BaselineEntry {
                fingerprint: f.fingerprint.clone(),
                rule: f.rule.to_string(),
                file: f.file.clone(),
                function: f.function.clone(),
                holder: f.holder.clone(),
                operation: f.operation.clone(),
            })
            .collect();
        entries.sort();
        entries.dedup();
        Baseline {
            version: 1,
            findings: entries,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a baseline serializes") + "\n"
    }

    /// Writes the baseline to `path` atomically: on any error (a full disk)
    /// an existing baseline is left intact and the error names the file.
    pub fn write(&self, path: &Path) -> Result<(), mmstall_fsio::FsError> {
        mmstall_fsio::write_atomic(path, self.to_json().as_bytes())
    }

    pub fn load(path: &Path) -> Result<Baseline, AnalyzerError> {
        let text = std::fs::read_to_string(path).map_err(|source| AnalyzerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Baseline::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Baseline, AnalyzerError> {
        let b: Baseline = serde_json::from_str(text).map_err(|e| AnalyzerError::Config {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: format!("not a mmstall baseline: {e}"),
        })?;
        if b.version != 1 {
            return Err(AnalyzerError::Config {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!(
                    "baseline version {} is not supported (expected 1)",
                    b.version
                ),
            });
        }
        Ok(b)
    }

    /// Splits findings into (new, suppressed by the baseline).
    pub fn filter(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
        let known: BTreeSet<&str> = self
            .findings
            .iter()
            .map(|e| e.fingerprint.as_str())
            .collect();
        findings
            .into_iter()
            .partition(|f| !known.contains(f.fingerprint.as_str()))
    }
}
