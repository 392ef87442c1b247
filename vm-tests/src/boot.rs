//! Booting a kernel with virtme-ng and running one command (or a suite) in it.
//!
//! The guest runs a small wrapper script from the run directory (shared
//! read-write with the guest over 9p): it prints a "booted" marker on stdout,
//! runs the command with its stdout/stderr/exit status going to files in the
//! run directory, then saves `dmesg`. On the host, vng's stderr (with
//! `--verbose`: the serial console) goes to `console.log`. A boot timeout runs
//! until the marker appears, a command timeout after it; when either expires,
//! vng and its descendants (QEMU) are killed and the result says so with
//! the log it has. Nothing here waits without a deadline.

use crate::kvm::Accel;
use crate::logscan::{self, Event, EventKind};
use crate::process::{self, kill_tree, sh_quote, which, Line};
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub kernel: PathBuf,
    /// Shell script text run in the guest with /bin/sh.
    pub script: String,
    /// What to call it in messages (`--exec '...'` or `suite smoke`).
    pub label: String,
    pub memory: String,
    pub cpus: u32,
    pub boot_timeout: Duration,
    pub cmd_timeout: Duration,
    pub accel: Accel,
    pub accel_reason: String,
    /// Use virtio-fs for the root filesystem instead of 9p.
    pub virtiofs: bool,
    pub append: Vec<String>,
    /// Run directory (created; shared with the guest read-write).
    pub dir: PathBuf,
    /// Echo the guest console to stderr as it comes.
    pub echo_console: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The command ran to completion in the guest.
    Exited { code: i32 },
    /// The guest did not get to the command within the boot timeout.
    BootTimeout,
    /// The command did not finish within the command timeout.
    CommandTimeout,
    /// The guest went away before the command finished (panic, init failure).
    GuestDied { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub outcome: Outcome,
    pub label: String,
    pub kernel: PathBuf,
    pub accel: Accel,
    pub accel_reason: String,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<Event>,
    /// Seconds from starting vng to the guest running the command.
    pub boot_secs: Option<f64>,
    pub command_secs: Option<f64>,
    pub total_secs: f64,
    pub vng_exit: Option<i32>,
    pub dir: PathBuf,
    pub console_log: PathBuf,
    pub dmesg: Option<PathBuf>,
    pub vng_args: Vec<String>,
}

impl RunResult {
    /// The command ran and exited 0, and the kernel reported nothing.
    pub fn clean(&self) -> bool {
        self.outcome == Outcome::Exited { code: 0 } && self.events.is_empty()
    }
    pub fn has_crash(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Panic | EventKind::Oops))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("`vng` (virtme-ng) not found: run scripts/setup.sh (pip install virtme-ng)")]
    VngMissing,
    #[error("kernel image {0} does not exist")]
    NoKernel(PathBuf),
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BootError {
    let context = context.into();
    move |error| BootError::Io { context, error }
}

/// The wrapper script the guest runs.
pub fn guest_wrapper(dir: &Path, nonce: &str) -> String {
    let d = sh_quote(&dir.display().to_string());
    format!(
        "#!/bin/sh\n\
         # mmstall guest wrapper (generated)\n\
         D={d}\n\
         echo mmstall-booted-{nonce}\n\
         /bin/sh \"$D/command.sh\" >\"$D/stdout\" 2>\"$D/stderr\" </dev/null\n\
         rc=$?\n\
         echo \"$rc\" >\"$D/exit.tmp\" && mv \"$D/exit.tmp\" \"$D/exit\"\n\
         dmesg >\"$D/dmesg.txt\" 2>/dev/null\n\
         sync\n\
         echo mmstall-done-{nonce}\n\
         exit \"$rc\"\n"
    )
}

/// The vng command line for a run.
pub fn vng_args(o: &RunOptions, wrapper: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--run".into(),
        o.kernel.display().to_string(),
        "--verbose".into(),
    ];
    if !o.virtiofs {
        a.push("--force-9p".into());
    }
    if o.accel == Accel::Tcg {
        a.push("--disable-kvm".into());
    }
    a.push("--disable-microvm".into());
    a.extend([
        "--memory".into(),
        o.memory.clone(),
        "--cpus".into(),
        o.cpus.to_string(),
    ]);
    a.push(format!("--rwdir={}", o.dir.display()));
    for x in &o.append {
        a.extend(["--append".into(), x.clone()]);
    }
    a.extend([
        "--exec".into(),
        format!("/bin/sh {}", sh_quote(&wrapper.display().to_string())),
    ]);
    a
}

/// Whether the root filesystem can be virtio-fs: the kernel must have it and
/// the host must have a virtiofsd that vng accepts (the Rust one; QEMU 7.2's C
/// virtiofsd is rejected). Otherwise: `--force-9p`.
pub fn virtiofs_usable(kernel_config: Option<&str>, virtiofsd_version: Option<&str>) -> bool {
    let kernel_ok = kernel_config.is_some_and(|c| {
        let m = crate::config::parse_dotconfig(c);
        m.get("CONFIG_VIRTIO_FS") == Some(&crate::config::Value::Yes)
            && m.get("CONFIG_FUSE_FS") == Some(&crate::config::Value::Yes)
    });
    // The Rust virtiofsd reports `virtiofsd 1.x.y`; QEMU's C daemon says
    // `virtiofsd version 7.2.x` / `using FUSE kernel interface`.
    let daemon_ok = virtiofsd_version.is_some_and(|v| {
        let v = v.trim();
        v.starts_with("virtiofsd ") && !v.contains("version") && !v.contains("FUSE")
    });
    kernel_ok && daemon_ok
}

/// `virtiofsd --version` of the first virtiofsd vng would find.
pub fn virtiofsd_version() -> Option<String> {
    for p in [
        "/usr/libexec/virtiofsd",
        "/usr/lib/qemu/virtiofsd",
        "/usr/bin/virtiofsd",
    ] {
        if Path::new(p).is_file() {
            let out = process::output(Command::new(p).arg("--version")).ok()?;
            let mut s = out.stdout;
            s.push_str(&out.stderr);
            return Some(s.lines().next().unwrap_or("").to_string());
        }
    }
    None
}

/// Boots and runs. Returns an error only when the run could not be attempted
/// (missing vng or kernel, I/O); hangs, timeouts and crashes are results.
///
/// Steps: prepare the run directory and the guest's scripts, start vng,
/// [`watch`] it until the command ends or a deadline passes, then read what
/// the guest left in the run directory ([`collect`]).
pub fn run(o: &RunOptions) -> Result<RunResult, BootError> {
    if !o.kernel.is_file() {
        return Err(BootError::NoKernel(o.kernel.clone()));
    }
    let vng = which("vng").ok_or(BootError::VngMissing)?;
    let o = &prepare_run_dir(o)?;
    let nonce = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let args = write_guest_files(o, &nonce)?;
    let mut logs = Logs::create(&o.dir)?;

    let start = Instant::now();
    let mut child = process::spawn_piped(Command::new(&vng).args(&args).current_dir(&o.dir))
        .map_err(io_err("starting vng"))?;
    let vng_pid = child.id();
    let lines = process::pump(&mut child);
    let watched = watch(o, &mut child, &lines, &mut logs, &nonce, start);
    // Make sure nothing is left behind in the group.
    kill_tree(vng_pid);
    let status = child.wait().ok();
    let total = start.elapsed();
    let _ = logs.console.flush();
    let result = collect(o, args, logs, watched, status, start, total);
    let _ = fs::write(
        o.dir.join("result.json"),
        serde_json::to_string_pretty(&result).expect("serializes") + "\n",
    );
    Ok(result)
}

/// Creates the run directory, makes its path absolute (the guest sees the
/// host's filesystem) and removes what an earlier run left in it.
fn prepare_run_dir(o: &RunOptions) -> Result<RunOptions, BootError> {
    fs::create_dir_all(&o.dir).map_err(io_err(format!("creating {}", o.dir.display())))?;
    let abs = o
        .dir
        .canonicalize()
        .map_err(io_err(format!("resolving {}", o.dir.display())))?;
    for f in ["exit", "stdout", "stderr", "dmesg.txt", "console.log"] {
        let _ = fs::remove_file(abs.join(f));
    }
    Ok(RunOptions {
        dir: abs,
        ..o.clone()
    })
}

/// Writes the wrapper, the command and vng's arguments into the run
/// directory; returns the arguments.
fn write_guest_files(o: &RunOptions, nonce: &str) -> Result<Vec<String>, BootError> {
    let wrapper = o.dir.join("guest.sh");
    fs::write(&wrapper, guest_wrapper(&o.dir, nonce)).map_err(io_err("writing guest.sh"))?;
    fs::write(o.dir.join("command.sh"), &o.script).map_err(io_err("writing command.sh"))?;
    let args = vng_args(o, &wrapper);
    fs::write(o.dir.join("vng-args.txt"), args.join("\n") + "\n")
        .map_err(io_err("writing vng-args.txt"))?;
    Ok(args)
}

/// Where vng's output goes: stderr (the serial console) to `console.log`
/// and into memory for the log scan, stdout (the wrapper's markers) to
/// `vng-stdout.log`.
struct Logs {
    console_path: PathBuf,
    console: fs::File,
    console_text: String,
    vng_out: fs::File,
}

impl Logs {
    fn create(dir: &Path) -> Result<Logs, BootError> {
        let console_path = dir.join("console.log");
        let console = fs::File::create(&console_path).map_err(io_err("creating console.log"))?;
        let vng_out = fs::File::create(dir.join("vng-stdout.log"))
            .map_err(io_err("creating vng-stdout.log"))?;
        Ok(Logs {
            console_path,
            console,
            console_text: String::new(),
            vng_out,
        })
    }

    fn console_line(&mut self, l: &str) {
        let _ = writeln!(self.console, "{l}");
        self.console_text.push_str(l);
        self.console_text.push('\n');
    }
}

/// What watching vng showed.
struct Watched {
    /// When the wrapper's "booted" marker came.
    booted_at: Option<Instant>,
    /// The deadline that ended the run, if one did.
    timeout: Option<Outcome>,
}

/// Follows vng's output until it exits with both pipes closed, or a deadline
/// passes (boot, command, the grace period after a panic, or pipes held open
/// after vng exited); on a deadline, vng and QEMU are killed.
fn watch(
    o: &RunOptions,
    child: &mut std::process::Child,
    rx: &mpsc::Receiver<Line>,
    logs: &mut Logs,
    nonce: &str,
    start: Instant,
) -> Watched {
    let vng_pid = child.id();
    let booted_marker = format!("mmstall-booted-{nonce}");
    let mut booted_at: Option<Instant> = None;
    let mut panic_at: Option<Instant> = None;
    let mut closed = (false, false);
    let mut closed_at: Option<Instant> = None;
    // After a panic the guest reboots and QEMU (-no-reboot) exits; if it does
    // not within this grace period, it is killed.
    let panic_grace = Duration::from_secs(20);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Line::Out(l)) => {
                let _ = writeln!(logs.vng_out, "{l}");
                if booted_at.is_none() && l.trim() == booted_marker {
                    booted_at = Some(Instant::now());
                }
            }
            Ok(Line::Err(l)) => {
                if o.echo_console {
                    eprintln!("{l}");
                }
                if panic_at.is_none() && l.contains("Kernel panic - not syncing") {
                    panic_at = Some(Instant::now());
                }
                logs.console_line(&l);
            }
            Ok(Line::OutClosed) => closed.0 = true,
            Ok(Line::ErrClosed) => closed.1 = true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => closed = (true, true),
        }
        if closed.0 && closed.1 {
            closed_at.get_or_insert_with(Instant::now);
        }
        let finished = matches!(child.try_wait(), Ok(Some(_)));
        if finished && closed.0 && closed.1 {
            break;
        }
        if finished && closed_at.is_none() {
            // vng exited but something in its group still holds the pipes.
            closed_at = Some(Instant::now());
        }
        if let Some(t) = closed_at {
            if t.elapsed() > Duration::from_secs(10) {
                kill_tree(vng_pid);
                break;
            }
        }
        let over = match booted_at {
            None if start.elapsed() > o.boot_timeout => Some(Outcome::BootTimeout),
            Some(b) if b.elapsed() > o.cmd_timeout => Some(Outcome::CommandTimeout),
            _ => None,
        };
        let over = over.or_else(|| {
            panic_at
                .filter(|p| p.elapsed() > panic_grace)
                .map(|_| Outcome::GuestDied {
                    reason: "kernel panic (the guest did not exit after it)".into(),
                })
        });
        if let Some(oc) = over {
            kill_tree(vng_pid);
            let _ = child.kill();
            // Collect what is still in the pipes, briefly.
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(m) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                if let Line::Err(l) = m {
                    logs.console_line(&l);
                }
            }
            return Watched {
                booted_at,
                timeout: Some(oc),
            };
        }
    }
    Watched {
        booted_at,
        timeout: None,
    }
}

/// The result of a finished run: the exit status, output and dmesg the
/// wrapper left in the run directory, and the kernel's reports.
fn collect(
    o: &RunOptions,
    args: Vec<String>,
    logs: Logs,
    watched: Watched,
    status: Option<std::process::ExitStatus>,
    start: Instant,
    total: Duration,
) -> RunResult {
    let Watched { booted_at, timeout } = watched;
    let console_text = logs.console_text;
    let console_path = logs.console_path;
    let read = |f: &str| fs::read_to_string(o.dir.join(f)).ok();
    let exit = read("exit").and_then(|s| s.trim().parse::<i32>().ok());
    let dmesg_path = o.dir.join("dmesg.txt");
    let dmesg = fs::read_to_string(&dmesg_path)
        .ok()
        .filter(|s| !s.is_empty());
    // Events from the console (it has everything from early boot); dmesg is the
    // fallback when the console captured nothing.
    let mut events = logscan::scan(&console_text);
    if events.is_empty() && console_text.trim().is_empty() {
        if let Some(d) = &dmesg {
            events = logscan::scan(d);
        }
    }
    let outcome = match (timeout, exit) {
        (Some(t), _) => t,
        (None, Some(code)) => Outcome::Exited { code },
        (None, None) => {
            let reason = if events.iter().any(|e| e.kind == EventKind::Panic) {
                "kernel panic".to_string()
            } else if booted_at.is_none() {
                format!(
                    "the guest never ran the command (vng exit {}); see {}",
                    status
                        .and_then(|s| s.code())
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "by signal".into()),
                    console_path.display()
                )
            } else {
                "the guest stopped before the command finished".to_string()
            };
            Outcome::GuestDied { reason }
        }
    };
    let boot_secs = booted_at.map(|b| (b - start).as_secs_f64());
    let command_secs = booted_at.map(|b| match exit {
        Some(_) => (start + total).saturating_duration_since(b).as_secs_f64(),
        None => b.elapsed().as_secs_f64(),
    });
    RunResult {
        outcome,
        label: o.label.clone(),
        kernel: o.kernel.clone(),
        accel: o.accel,
        accel_reason: o.accel_reason.clone(),
        stdout: read("stdout").unwrap_or_default(),
        stderr: read("stderr").unwrap_or_default(),
        events,
        boot_secs,
        command_secs,
        total_secs: total.as_secs_f64(),
        vng_exit: status.and_then(|s| s.code()),
        dir: o.dir.clone(),
        console_log: console_path,
        dmesg: dmesg.map(|_| dmesg_path),
        vng_args: args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        RunOptions {
            kernel: "/k/bzImage".into(),
            script: "true".into(),
            label: "t".into(),
            memory: "1G".into(),
            cpus: 2,
            boot_timeout: Duration::from_secs(60),
            cmd_timeout: Duration::from_secs(60),
            accel: Accel::Tcg,
            accel_reason: String::new(),
            virtiofs: false,
            append: vec!["hung_task_timeout_secs=10".into()],
            dir: "/runs/r 1".into(),
            echo_console: false,
        }
    }

    #[test]
    fn vng_arguments_follow_the_decisions() {
        let a = vng_args(&opts(), Path::new("/runs/r 1/guest.sh"));
        let s = a.join(" ");
        assert!(
            s.starts_with("--run /k/bzImage --verbose --force-9p --disable-kvm --disable-microvm"),
            "{s}"
        );
        assert!(s.contains("--memory 1G --cpus 2"), "{s}");
        assert!(s.contains("--rwdir=/runs/r 1"), "{s}");
        assert!(s.contains("--append hung_task_timeout_secs=10"), "{s}");
        assert_eq!(a.last().unwrap(), "/bin/sh '/runs/r 1/guest.sh'");
        let kvm = RunOptions {
            accel: Accel::Kvm,
            virtiofs: true,
            ..opts()
        };
        let a = vng_args(&kvm, Path::new("/g.sh"));
        assert!(!a.contains(&"--disable-kvm".to_string()));
        assert!(!a.contains(&"--force-9p".to_string()));
    }

    #[test]
    fn virtiofs_only_with_kernel_support_and_the_rust_daemon() {
        let cfg = "CONFIG_VIRTIO_FS=y\nCONFIG_FUSE_FS=y\n";
        assert!(virtiofs_usable(Some(cfg), Some("virtiofsd 1.10.1")));
        assert!(!virtiofs_usable(
            Some(cfg),
            Some("virtiofsd version 7.2.19")
        ));
        assert!(!virtiofs_usable(
            Some(cfg),
            Some("using FUSE kernel interface version 7.31")
        ));
        assert!(!virtiofs_usable(Some(cfg), None));
        assert!(!virtiofs_usable(
            Some("CONFIG_9P_FS=y\n"),
            Some("virtiofsd 1.10.1")
        ));
        assert!(!virtiofs_usable(None, Some("virtiofsd 1.10.1")));
    }

    #[test]
    fn wrapper_quotes_the_run_directory() {
        let w = guest_wrapper(Path::new("/runs/it's here"), "abc");
        assert!(w.contains("D='/runs/it'\\''s here'\n"), "{w}");
        assert!(w.contains("echo mmstall-booted-abc\n"));
        assert_eq!(sh_quote("a b"), "'a b'");
    }

    #[test]
    fn missing_kernel_is_an_error_not_a_hang() {
        let d = tempfile::tempdir().unwrap();
        let o = RunOptions {
            kernel: d.path().join("nope"),
            dir: d.path().join("run"),
            ..opts()
        };
        assert!(matches!(run(&o), Err(BootError::NoKernel(_))));
    }
}
