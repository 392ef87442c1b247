//! Running make for a build: the command line (out of tree, fixed
//! timestamps and host names, through ccache when installed), its output
//! pumped into the log with a progress line, and the first compiler errors
//! of a failed build.

use super::model::{io_err, BuildError, Ctx, ProgressMode, Reporter, ARCH};
use crate::process;
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

impl Ctx<'_> {
    pub(super) fn make(&self, scratch: &Path, obj: &Path) -> Command {
        let mut c = Command::new("make");
        c.current_dir(scratch)
            .arg(format!("O={}", obj.display()))
            .arg(format!("ARCH={ARCH}"))
            .env("KBUILD_BUILD_TIMESTAMP", "2024-01-01 00:00:00 UTC")
            .env("KBUILD_BUILD_USER", "mmstall")
            .env("KBUILD_BUILD_HOST", "mmstall")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("ARCH")
            .env_remove("CROSS_COMPILE");
        if process::have("ccache") {
            c.arg("CC=ccache gcc")
                .env("CCACHE_DIR", self.cache.ccache())
                // Relative paths under the cache root: the hashes do not depend
                // on which builds/<key>/obj directory compiles.
                .env("CCACHE_BASEDIR", &self.cache.root)
                .env("CCACHE_NOHASHDIR", "1");
        }
        c
    }

    /// Runs a make step with its output appended to `log`; returns how many
    /// files it compiled. On failure, the first compiler errors are in the error.
    pub(super) fn run_logged(
        &self,
        cmd: &mut Command,
        target: &str,
        log: &Path,
        progress: ProgressMode,
        rep: &mut dyn Reporter,
    ) -> Result<usize, BuildError> {
        let mut logf = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io_err(format!("opening {}", log.display())))?;
        let mut child = process::spawn_piped(cmd).map_err(io_err("running make"))?;
        let lines = process::pump(&mut child);
        let tty = match progress {
            ProgressMode::Tty => true,
            ProgressMode::Quiet => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        let mut bar = Progress::new(tty, target);
        let mut compiled = 0;
        let text = lines.into_iter().filter_map(|l| match l {
            process::Line::Out(l) | process::Line::Err(l) => Some(l),
            process::Line::OutClosed | process::Line::ErrClosed => None,
        });
        for line in text {
            let _ = writeln!(logf, "{line}");
            if let Some(what) = step_of(&line) {
                if what.starts_with("CC ") {
                    compiled += 1;
                }
                bar.update(&what, compiled);
            }
        }
        bar.finish();
        let status = child.wait().map_err(io_err("waiting for make"))?;
        if !status.success() {
            let text = fs::read_to_string(log).unwrap_or_default();
            let mut first = first_errors(&text, 20);
            if first.is_empty() {
                first.push("(no compiler error found in the log; see the end of the log)".into());
            }
            let _ = rep;
            return Err(BuildError::Make {
                target: target.to_string(),
                status: status
                    .code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                log: log.to_path_buf(),
                first_errors: first,
            });
        }
        Ok(compiled)
    }
}

/// `  CC      mm/memory.o` → `CC mm/memory.o`.
fn step_of(line: &str) -> Option<String> {
    let t = line.strip_prefix("  ")?;
    let (verb, rest) = t.split_once(' ')?;
    if verb.is_empty()
        || !verb
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return None;
    }
    let what = rest.trim();
    (!what.is_empty()).then(|| format!("{verb} {what}"))
}

/// The first compiler/linker errors of a build log, each with the lines gcc
/// prints under it, at most `max` lines.
pub fn first_errors(log: &str, max: usize) -> Vec<String> {
    let is_err = |l: &str| {
        l.contains(": error:")
            || l.contains(": fatal error:")
            || l.contains("undefined reference to")
            || l.contains("Error: ")
            || l.contains(": undefined symbol")
    };
    let lines: Vec<&str> = log.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() && out.len() < max {
        if is_err(lines[i]) {
            out.push(lines[i].to_string());
            // gcc's source excerpt and caret lines follow, indented or `  |`.
            let mut j = i + 1;
            while j < lines.len() && j <= i + 3 && out.len() < max {
                let l = lines[j];
                if is_err(l) || l.starts_with("make") || l.starts_with("  CC") {
                    break;
                }
                if l.starts_with(' ') || l.contains(" | ") {
                    out.push(l.to_string());
                }
                j += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    if out.is_empty() {
        out = lines
            .iter()
            .filter(|l| l.contains("***"))
            .take(max)
            .map(|l| l.to_string())
            .collect();
    }
    out
}

struct Progress {
    tty: bool,
    start: Instant,
    last: Instant,
    target: String,
    drawn: bool,
}

impl Progress {
    fn new(tty: bool, target: &str) -> Progress {
        let now = Instant::now();
        Progress {
            tty,
            start: now,
            last: now - Duration::from_secs(1),
            target: target.to_string(),
            drawn: false,
        }
    }
    fn update(&mut self, what: &str, compiled: usize) {
        if !self.tty || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let e = self.start.elapsed().as_secs();
        let mut line = format!(
            "[{:>2}:{:02}] make {}: {} ({} compiled)",
            e / 60,
            e % 60,
            self.target,
            what,
            compiled
        );
        line.truncate(110);
        eprint!("\r\x1b[K{line}");
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }
    fn finish(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_steps_are_recognized() {
        assert_eq!(
            step_of("  CC      mm/memory.o"),
            Some("CC mm/memory.o".into())
        );
        assert_eq!(step_of("  LD      vmlinux.o"), Some("LD vmlinux.o".into()));
        assert_eq!(
            step_of("  HOSTCC  scripts/basic/fixdep"),
            Some("HOSTCC scripts/basic/fixdep".into())
        );
        assert_eq!(step_of("mm/memory.c:12:1: error: x"), None);
        assert_eq!(step_of("make[1]: Entering directory"), None);
        assert_eq!(step_of("  "), None);
    }

    #[test]
    fn first_errors_of_a_failed_build() {
        let log = "\
  CC      mm/mmap.o
  CC      mm/memory.o
mm/memory.c: In function 'do_fault':
mm/memory.c:5123:9: error: 'vmf_bogus' undeclared (first use in this function)
 5123 |         vmf_bogus = 1;
      |         ^~~~~~~~~
mm/memory.c:5123:9: note: each undeclared identifier is reported only once
mm/memory.c:5200:2: error: expected ';' before '}' token
 5200 |  return 0
      |          ^
make[4]: *** [scripts/Makefile.build:229: mm/memory.o] Error 1
make[3]: *** [scripts/Makefile.build:478: mm] Error 2
";
        let e = first_errors(log, 20);
        assert_eq!(
            e,
            vec![
                "mm/memory.c:5123:9: error: 'vmf_bogus' undeclared (first use in this function)",
                " 5123 |         vmf_bogus = 1;",
                "      |         ^~~~~~~~~",
                "mm/memory.c:5200:2: error: expected ';' before '}' token",
                " 5200 |  return 0",
                "      |          ^",
            ]
        );
        assert_eq!(first_errors(log, 2).len(), 2);
        let link = "  LD      vmlinux\nld: mm/memory.o: in function `f':\nmemory.c:(.text+0x1): undefined reference to `g'\nmake[2]: *** [vmlinux] Error 1\n";
        assert_eq!(
            first_errors(link, 20),
            vec!["memory.c:(.text+0x1): undefined reference to `g'"]
        );
        let other = "something\nmake[1]: *** [Makefile:1] Error 2\n";
        assert_eq!(
            first_errors(other, 20),
            vec!["make[1]: *** [Makefile:1] Error 2"]
        );
    }
}
