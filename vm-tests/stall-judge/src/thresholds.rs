//! vm-tests/thresholds.toml: sizes, repetitions and verdict thresholds of the
//! stall tests. The built-in copy is compiled in; a file given on the command
//! line replaces it. Errors name the file and the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const BUILTIN: &str = include_str!("../../thresholds.toml");

/// Tests and the variants each one knows how to run.
pub const KNOWN: &[(&str, &[&str])] = &[
    (
        "munmap-zap-stall",
        &["munmap", "mremap-shrink", "brk-shrink"],
    ),
    ("mlock-populate-stall", &["mlock", "mmap-populate-locked"]),
    (
        "mlock-posix-atomicity",
        &[
            "mlock-hole",
            "mlock-past-end",
            "munlock-hole",
            "mlock-rlimit",
            "mlockall-rlimit",
            "mlockall-bad-flags",
        ],
    ),
    ("fault-io-stall", &["read-fault"]),
    ("mlock-reclaim", &["anon", "shmem"]),
];

/// Per-test parameters besides size and judging, and which tests take them.
pub const KNOWN_PARAMS: &[(&str, &str, u64)] = &[
    // (parameter, test, upper bound)
    ("delay_ms", "fault-io-stall", 10_000),
    ("memory_max_mib", "mlock-reclaim", 64 * 1024),
    ("pressure_mib", "mlock-reclaim", 64 * 1024),
    ("swap_mib", "mlock-reclaim", 64 * 1024),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judging {
    pub repeat: u32,
    pub min_valid: u32,
    pub max_ratio: f64,
    pub min_op_ms: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJudging {
    repeat: Option<u32>,
    min_valid: Option<u32>,
    max_ratio: Option<f64>,
    min_op_ms: Option<f64>,
}

// No deny_unknown_fields: unknown keys land in `params` (flatten) and are
// rejected there with the test's known parameters named.
#[derive(Debug, Clone, Deserialize)]
struct RawTest {
    size_mib: u64,
    variants: Vec<String>,
    repeat: Option<u32>,
    min_valid: Option<u32>,
    max_ratio: Option<f64>,
    min_op_ms: Option<f64>,
    /// Test-specific parameters (KNOWN_PARAMS), e.g. `delay_ms = 100`.
    #[serde(flatten)]
    params: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    defaults: RawJudging,
    #[serde(default)]
    tests: BTreeMap<String, RawTest>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestConfig {
    pub name: String,
    pub size_mib: u64,
    pub variants: Vec<String>,
    pub judging: Judging,
    /// Test-specific parameters (see KNOWN_PARAMS).
    pub params: BTreeMap<String, u64>,
}

impl TestConfig {
    /// A parameter's value, or `default` when the file does not set it.
    pub fn param(&self, name: &str, default: u64) -> u64 {
        self.params.get(name).copied().unwrap_or(default)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Where they came from (a path, or `built-in`).
    pub source: String,
    pub tests: Vec<TestConfig>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}: {msg}")]
pub struct ThresholdError {
    pub source_name: String,
    pub msg: String,
}

impl Thresholds {
    pub fn builtin() -> Thresholds {
        Thresholds::parse(BUILTIN, "built-in vm-tests/thresholds.toml")
            .expect("the built-in thresholds parse")
    }

    pub fn load(path: &Path) -> Result<Thresholds, ThresholdError> {
        let text = std::fs::read_to_string(path).map_err(|e| ThresholdError {
            source_name: path.display().to_string(),
            msg: format!("cannot read: {e}"),
        })?;
        Thresholds::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Thresholds, ThresholdError> {
        let err = |msg: String| ThresholdError {
            source_name: source_name.to_string(),
            msg,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        let d = &raw.defaults;
        let need =
            |v: Option<f64>, k: &str| v.ok_or_else(|| err(format!("[defaults] {k} is missing")));
        let defaults = Judging {
            repeat: d
                .repeat
                .ok_or_else(|| err("[defaults] repeat is missing".into()))?,
            min_valid: d
                .min_valid
                .ok_or_else(|| err("[defaults] min_valid is missing".into()))?,
            max_ratio: need(d.max_ratio, "max_ratio")?,
            min_op_ms: need(d.min_op_ms, "min_op_ms")?,
        };
        check(&defaults, "[defaults]").map_err(err)?;
        let mut tests = Vec::new();
        for (name, t) in raw.tests {
            let Some((_, known)) = KNOWN.iter().find(|(n, _)| *n == name) else {
                return Err(err(format!(
                    "[tests.{name}]: unknown test (known: {})",
                    KNOWN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                )));
            };
            if t.variants.is_empty() {
                return Err(err(format!("[tests.{name}] variants: empty")));
            }
            for v in &t.variants {
                if !known.contains(&v.as_str()) {
                    return Err(err(format!(
                        "[tests.{name}] variants: unknown variant `{v}` (known: {})",
                        known.join(", ")
                    )));
                }
            }
            if t.size_mib == 0 || t.size_mib > 64 * 1024 {
                return Err(err(format!(
                    "[tests.{name}] size_mib: {} is out of range 1..=65536",
                    t.size_mib
                )));
            }
            let judging = Judging {
                repeat: t.repeat.unwrap_or(defaults.repeat),
                min_valid: t.min_valid.unwrap_or(defaults.min_valid),
                max_ratio: t.max_ratio.unwrap_or(defaults.max_ratio),
                min_op_ms: t.min_op_ms.unwrap_or(defaults.min_op_ms),
            };
            check(&judging, &format!("[tests.{name}]")).map_err(err)?;
            let mut params = BTreeMap::new();
            for (key, value) in &t.params {
                let Some((_, _, max)) = KNOWN_PARAMS
                    .iter()
                    .find(|(k, test, _)| k == key && *test == name)
                else {
                    let known: Vec<&str> = KNOWN_PARAMS
                        .iter()
                        .filter(|(_, test, _)| *test == name)
                        .map(|(k, _, _)| *k)
                        .collect();
                    return Err(err(format!(
                        "[tests.{name}] {key}: unknown key (known besides size/judging: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )));
                };
                match value.as_integer() {
                    Some(v) if v >= 1 && v as u64 <= *max => {
                        params.insert(key.clone(), v as u64);
                    }
                    _ => {
                        return Err(err(format!(
                            "[tests.{name}] {key}: `{value}` must be an integer in 1..={max}"
                        )))
                    }
                }
            }
            tests.push(TestConfig {
                name,
                size_mib: t.size_mib,
                variants: t.variants,
                judging,
                params,
            });
        }
        // Keep the order of KNOWN (the suite's order), not the file's.
        tests.sort_by_key(|t| KNOWN.iter().position(|(n, _)| *n == t.name));
        Ok(Thresholds {
            source: source_name.to_string(),
            tests,
        })
    }

    pub fn test(&self, name: &str) -> Option<&TestConfig> {
        self.tests.iter().find(|t| t.name == name)
    }
}

fn check(j: &Judging, at: &str) -> Result<(), String> {
    if j.repeat == 0 || j.repeat > 100 {
        return Err(format!("{at} repeat: {} is out of range 1..=100", j.repeat));
    }
    if j.min_valid == 0 || j.min_valid > j.repeat {
        return Err(format!(
            "{at} min_valid: {} must be between 1 and repeat ({})",
            j.min_valid, j.repeat
        ));
    }
    if !(j.max_ratio > 0.0 && j.max_ratio < 1.0) {
        return Err(format!(
            "{at} max_ratio: {} must be strictly between 0 and 1",
            j.max_ratio
        ));
    }
    if !(j.min_op_ms.is_finite() && j.min_op_ms >= 0.0) {
        return Err(format!(
            "{at} min_op_ms: {} must be a non-negative number",
            j.min_op_ms
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_in_suite_order() {
        let t = Thresholds::builtin();
        let names: Vec<_> = t.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "munmap-zap-stall",
                "mlock-populate-stall",
                "mlock-posix-atomicity",
                "fault-io-stall",
                "mlock-reclaim"
            ]
        );
        assert!(t
            .test("fault-io-stall")
            .unwrap()
            .params
            .contains_key("delay_ms"));
        let m = t.test("munmap-zap-stall").unwrap();
        assert!(m.judging.max_ratio > 0.0 && m.judging.max_ratio < 1.0);
        assert!(m.judging.min_valid <= m.judging.repeat);
    }

    const BASE: &str = "[defaults]\nrepeat = 3\nmin_valid = 2\nmax_ratio = 0.5\nmin_op_ms = 20.0\n";

    #[test]
    fn per_test_overrides() {
        let t = Thresholds::parse(&format!("{BASE}[tests.mlock-populate-stall]\nsize_mib = 64\nvariants = [\"mlock\"]\nmax_ratio = 0.25\nrepeat = 5\n"), "t.toml").unwrap();
        let m = t.test("mlock-populate-stall").unwrap();
        assert_eq!(
            m.judging,
            Judging {
                repeat: 5,
                min_valid: 2,
                max_ratio: 0.25,
                min_op_ms: 20.0
            }
        );
        assert_eq!(m.size_mib, 64);
        assert!(t.test("munmap-zap-stall").is_none());
    }

    #[test]
    fn errors_name_file_and_key() {
        let cases = [
            ("[defaults]\nrepeat = 3\n", "[defaults] min_valid is missing"),
            (&format!("{BASE}[tests.nope]\nsize_mib = 1\nvariants = [\"x\"]\n"), "[tests.nope]: unknown test"),
            (&format!("{BASE}[tests.munmap-zap-stall]\nsize_mib = 1\nvariants = [\"mlock\"]\n"), "unknown variant `mlock`"),
            (&format!("{BASE}[tests.munmap-zap-stall]\nsize_mib = 0\nvariants = [\"munmap\"]\n"), "size_mib: 0 is out of range"),
            (&format!("{BASE}[tests.munmap-zap-stall]\nsize_mib = 8\nvariants = [\"munmap\"]\nmax_ratio = 1.5\n"), "[tests.munmap-zap-stall] max_ratio: 1.5"),
            ("[defaults]\nrepeat = 2\nmin_valid = 3\nmax_ratio = 0.5\nmin_op_ms = 1.0\n", "min_valid: 3 must be between 1 and repeat (2)"),
            ("[defaults]\nrepeat = 2\nmin_valid = 1\nmax_ratio = 0.5\nmin_op_ms = 1.0\nbogus = 1\n", "unknown field `bogus`"),
            ("not toml = = =", "t.toml"),
            (&format!("{BASE}[tests.munmap-zap-stall]\nsize_mib = 8\nvariants = [\"munmap\"]\ndelay_ms = 5\n"), "[tests.munmap-zap-stall] delay_ms: unknown key (known besides size/judging: none)"),
            (&format!("{BASE}[tests.fault-io-stall]\nsize_mib = 8\nvariants = [\"read-fault\"]\ndelay_ms = 0\n"), "[tests.fault-io-stall] delay_ms: `0` must be an integer in 1..=10000"),
            (&format!("{BASE}[tests.fault-io-stall]\nsize_mib = 8\nvariants = [\"read-fault\"]\ndelay_ms = \"x\"\n"), "delay_ms: `\"x\"` must be an integer"),
        ];
        for (text, want) in cases {
            let e = Thresholds::parse(text, "t.toml").unwrap_err().to_string();
            assert!(e.starts_with("t.toml: "), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
        let e = Thresholds::load(Path::new("/nonexistent/thresholds.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/thresholds.toml: cannot read"),
            "{e}"
        );
    }
}
