//! Running other programs, written once for the whole harness: finding a
//! program on PATH, single-quoting for /bin/sh, draining a child's stdout and
//! stderr line by line (a full pipe must never block the child), waiting with
//! a deadline, and killing a process with everything it started.
//!
//! Nothing here waits without a bound unless the caller asks for it: [`output`]
//! waits for the child to exit (a finite command such as `make` or `git`),
//! [`output_with_deadline`] kills it when its time is up.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first `name` on PATH that is a file.
pub fn which(name: &str) -> Option<PathBuf> {
    let p = std::env::var_os("PATH")?;
    std::env::split_paths(&p)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// Whether `name` is on PATH.
pub fn have(name: &str) -> bool {
    which(name).is_some()
}

/// Single-quotes a string for /bin/sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Starts `cmd` with stdin from /dev/null and stdout and stderr piped
/// (to be drained by [`pump`]).
pub fn spawn_piped(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// One message of a [`pump`]: a line (without its newline, lossily decoded)
/// from stdout or stderr, or the end of one of the two pipes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Out(String),
    Err(String),
    OutClosed,
    ErrClosed,
}

/// Takes the child's piped stdout and stderr and drains each on its own
/// thread into one channel, line by line. The channel disconnects when both
/// pipes are closed (after their `*Closed` messages) or when the receiver is
/// dropped (the threads then stop at their next line).
///
/// Panics if stdout or stderr was not piped.
pub fn pump(child: &mut Child) -> mpsc::Receiver<Line> {
    let out = child.stdout.take().expect("stdout piped");
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel::<Line>();
    let tx2 = tx.clone();
    std::thread::spawn(move || drain_lines(out, &tx, Line::Out, Line::OutClosed));
    std::thread::spawn(move || drain_lines(err, &tx2, Line::Err, Line::ErrClosed));
    rx
}

fn drain_lines(pipe: impl Read, tx: &mpsc::Sender<Line>, wrap: fn(String) -> Line, closed: Line) {
    for l in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
        if tx
            .send(wrap(String::from_utf8_lossy(&l).into_owned()))
            .is_err()
        {
            return;
        }
    }
    let _ = tx.send(closed);
}

/// What a finished (or killed) child printed.
#[derive(Debug)]
pub struct Captured {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
}

/// Runs `cmd` with stdin from /dev/null, reading stdout and stderr
/// concurrently, and waits for it to exit.
pub fn output(cmd: &mut Command) -> std::io::Result<Captured> {
    run_captured(cmd, None)
}

/// [`output`], but the child is killed once `timeout` has passed (what it
/// printed until then is kept).
pub fn output_with_deadline(cmd: &mut Command, timeout: Duration) -> std::io::Result<Captured> {
    run_captured(cmd, Some(timeout))
}

fn run_captured(cmd: &mut Command, timeout: Option<Duration>) -> std::io::Result<Captured> {
    let start = Instant::now();
    let mut child = spawn_piped(cmd)?;
    let read_all = |mut p: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = p.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let t_out = read_all(Box::new(child.stdout.take().expect("piped")));
    let t_err = read_all(Box::new(child.stderr.take().expect("piped")));
    let mut timed_out = false;
    let status = match timeout {
        None => Some(child.wait()?),
        Some(limit) => loop {
            match child.try_wait()? {
                Some(st) => break Some(st),
                None if start.elapsed() >= limit => {
                    timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        },
    };
    Ok(Captured {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        timed_out,
    })
}

/// Parent pid of every process, from /proc/<pid>/stat.
fn ppids() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) {
            if let Some(pp) = parse_ppid(&stat) {
                out.push((pid, pp));
            }
        }
    }
    out
}

/// The ppid field of /proc/<pid>/stat (after the parenthesized command name,
/// which may itself contain spaces and parentheses).
fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `root` and all its descendants, children first.
fn descendants(root: u32, table: &[(u32, u32)]) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(
            table
                .iter()
                .filter(|(pid, pp)| *pp == p && !out.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    out.reverse();
    out
}

/// Kills `root` and everything it started (SIGKILL, children first). The
/// harness keeps such children (vng, and QEMU under it) in its own process
/// group so that Ctrl-C on the terminal reaches them too; this is how they
/// are stopped on a timeout.
pub fn kill_tree(root: u32) {
    let pids: Vec<String> = descendants(root, &ppids())
        .iter()
        .map(|p| p.to_string())
        .collect();
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(&pids)
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_tree() {
        assert_eq!(parse_ppid("123 (qemu-system-x86) S 77 123 1 0"), Some(77));
        assert_eq!(parse_ppid("5 (a) b) c) R 9 5"), Some(9));
        assert_eq!(parse_ppid("garbage"), None);
        let table = [(10, 1), (11, 10), (12, 11), (13, 10), (20, 1)];
        assert_eq!(descendants(10, &table), vec![12, 13, 11, 10]);
        assert_eq!(descendants(20, &table), vec![20]);
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn which_finds_sh_and_not_nonsense() {
        assert!(which("sh").is_some());
        assert!(have("sh"));
        assert!(which("mmstall-no-such-program-xyz").is_none());
    }

    #[test]
    fn output_drains_both_pipes() {
        let c = output(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(c.stdout, "out\n");
        assert_eq!(c.stderr, "err\n");
        assert_eq!(c.status.and_then(|s| s.code()), Some(3));
        assert!(!c.timed_out);
    }

    #[test]
    fn deadline_kills_and_keeps_what_was_printed() {
        let t = Instant::now();
        let c = output_with_deadline(
            Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(c.timed_out);
        assert!(c.status.is_none());
        assert_eq!(c.stdout, "started\n");
        assert!(t.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn pump_delivers_lines_and_closes() {
        let mut child = Command::new("sh")
            .args(["-c", "echo a; echo b >&2; echo c"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let got: Vec<Line> = pump(&mut child).into_iter().collect();
        let _ = child.wait();
        let outs: Vec<&Line> = got
            .iter()
            .filter(|l| matches!(l, Line::Out(_) | Line::OutClosed))
            .collect();
        assert_eq!(
            outs,
            [
                &Line::Out("a".into()),
                &Line::Out("c".into()),
                &Line::OutClosed
            ]
        );
        assert!(got.contains(&Line::Err("b".into())));
        assert!(got.contains(&Line::ErrClosed));
    }
}
