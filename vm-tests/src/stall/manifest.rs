//! patches/manifest.toml: the regression series and what each must do to the
//! suite. Paths in it are relative to the manifest's directory.
//!
//! ```toml
//! [[series]]
//! name = "munmap-zap-under-write"
//! path = "munmap-zap-under-write"
//! base = "debian:6.12"
//! description = "..."
//! [[series.expect]]
//! test = "munmap-zap-stall"
//! baseline = "PASS"
//! patched = "FAIL"
//! # config = "virtme-base,stall-debug,no-per-vma-lock"   (optional: other fragments)
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub test: String,
    /// Verdict word (PASS, FAIL, XFAIL, SKIP) on the unpatched kernel.
    pub baseline: String,
    /// Verdict word on the kernel with this series.
    pub patched: String,
    /// Config fragments both kernels of this expectation are built with
    /// (`mmstall vm build --config`); None: the validation's `--config`.
    #[serde(default)]
    pub config: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub name: String,
    /// Series directory (or mbox/patch file), relative to the manifest.
    pub path: PathBuf,
    /// The tree it applies to (`mmstall vm build --tree`).
    pub base: String,
    pub description: String,
    /// The analyzer rule a diff over this patch should newly report, if any.
    #[serde(default)]
    pub analyzer_rule: Option<String>,
    #[serde(default)]
    pub expect: Vec<Expect>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub path: PathBuf,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {msg}", .path.display())]
pub struct ManifestError {
    pub path: PathBuf,
    pub msg: String,
}

const VERDICTS: &[&str] = &["PASS", "FAIL", "XFAIL", "SKIP"];

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            msg: format!("cannot read: {e}"),
        })?;
        Manifest::parse(&text, path)
    }

    /// Parses and checks: unique names, known verdict words, series paths that exist.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let err = |msg: String| ManifestError {
            path: path.to_path_buf(),
            msg,
        };
        let raw: Raw =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut names = std::collections::BTreeSet::new();
        let mut series = Vec::new();
        for (i, mut s) in raw.series.into_iter().enumerate() {
            let at = format!("series[{i}] ({})", s.name);
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(format!("{at}: name must be non-empty [A-Za-z0-9_-]")));
            }
            if !names.insert(s.name.clone()) {
                return Err(err(format!("{at}: duplicate name")));
            }
            if s.expect.is_empty() {
                return Err(err(format!(
                    "{at}: no [[series.expect]]: which test must it flip?"
                )));
            }
            for e in &s.expect {
                if let Some(c) = &e.config {
                    if c.split(',').any(|f| f.trim().is_empty()) {
                        return Err(err(format!(
                            "{at}: expect `{}` config = \"{c}\": an empty fragment name",
                            e.test
                        )));
                    }
                }
                for (k, v) in [("baseline", &e.baseline), ("patched", &e.patched)] {
                    if !VERDICTS.contains(&v.as_str()) {
                        return Err(err(format!(
                            "{at}: expect `{}` {k} = \"{v}\": expected one of {}",
                            e.test,
                            VERDICTS.join(", ")
                        )));
                    }
                }
            }
            let full = dir.join(&s.path);
            if !full.exists() {
                return Err(err(format!("{at}: path {} does not exist", full.display())));
            }
            s.path = full;
            series.push(s);
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            series,
        })
    }

    /// The verdict each test must have on the baseline (from all series'
    /// expectations on the default config).
    pub fn baseline_expectations(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::new();
        for s in &self.series {
            for e in s.expect.iter().filter(|e| e.config.is_none()) {
                if !v.iter().any(|(t, _)| *t == e.test) {
                    v.push((e.test.clone(), e.baseline.clone()));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_manifest_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/manifest.toml");
        let m = Manifest::load(&p).unwrap();
        assert!(m.series.len() >= 2);
        for s in &m.series {
            assert!(s.path.exists(), "{}", s.path.display());
            let series =
                crate::patches::load(&s.path).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert!(!series.subjects.is_empty());
        }
        let b = m.baseline_expectations();
        assert!(b.contains(&("munmap-zap-stall".into(), "PASS".into())));
        assert!(b.contains(&("mlock-populate-stall".into(), "PASS".into())));
    }

    #[test]
    fn errors_name_the_file_and_series() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("s")).unwrap();
        let p = d.path().join("manifest.toml");
        let one = |extra: &str| {
            format!("[[series]]\nname = \"a\"\npath = \"s\"\nbase = \"debian:6.12\"\ndescription = \"d\"\n{extra}")
        };
        let ok = one("[[series.expect]]\ntest = \"t\"\nbaseline = \"PASS\"\npatched = \"FAIL\"\n");
        assert_eq!(
            Manifest::parse(&ok, &p).unwrap().series[0].path,
            d.path().join("s")
        );
        let cases = [
            (one(""), "series[0] (a): no [[series.expect]]"),
            (
                one("[[series.expect]]\ntest = \"t\"\nbaseline = \"ok\"\npatched = \"FAIL\"\n"),
                "baseline = \"ok\"",
            ),
            (
                ok.replace("path = \"s\"", "path = \"missing\""),
                "missing does not exist",
            ),
            (format!("{ok}{ok}"), "series[1] (a): duplicate name"),
            (ok.replace("base =", "bass ="), "unknown field `bass`"),
            (
                format!("{ok}config = \"virtme-base,,lockdep\"\n"),
                "an empty fragment name",
            ),
        ];
        for (text, want) in cases {
            let e = Manifest::parse(&text, &p).unwrap_err().to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
    }
}
