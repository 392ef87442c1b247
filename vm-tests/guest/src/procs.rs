//! Child processes of a repetition: forking, reaping with a deadline, and
//! a child's output through a pipe.

use crate::shared::Shared;
use crate::sys::{errno_str, sleep_us};
use std::io::Write;
use std::time::{Duration, Instant};

/// Waits for a repetition's processes, then takes the error one of them
/// recorded in the shared area, if any.
pub fn reap_rep(pids: &[libc::pid_t], sh: &Shared) -> Result<(), String> {
    reap(pids, Duration::from_secs(600))?;
    sh.error().map_or(Ok(()), Err)
}

/// Runs `f` in a child process (which may drop privileges or join a
/// cgroup) and returns what it wrote, once it exited (or `timeout` passed).
pub fn child_output(f: impl FnOnce() -> String, timeout: Duration) -> Result<String, String> {
    let mut fds = [0; 2];
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", errno_str()));
    }
    let child = fork_child(move || {
        unsafe { libc::close(fds[0]) };
        let out = f();
        unsafe { libc::write(fds[1], out.as_ptr() as *const libc::c_void, out.len()) };
        0
    });
    unsafe { libc::close(fds[1]) };
    // Owns the read end from here (closed when dropped).
    let mut from_child = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let pid = child?;
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut from_child, &mut out);
    let _ = reap(&[pid], timeout);
    Ok(out)
}

/// Forks; the child runs `f` and exits with its code (stdio flushed first).
pub fn fork_child(f: impl FnOnce() -> i32) -> Result<libc::pid_t, String> {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_str()));
    }
    if pid == 0 {
        let code = f();
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// Waits for `pids`; kills those still running after `timeout`.
pub fn reap(pids: &[libc::pid_t], timeout: Duration) -> Result<(), String> {
    let t = Instant::now();
    let mut left: Vec<libc::pid_t> = pids.to_vec();
    while !left.is_empty() {
        left.retain(|&p| {
            let mut st = 0;
            let r = unsafe { libc::waitpid(p, &mut st, libc::WNOHANG) };
            r == 0
        });
        if left.is_empty() {
            break;
        }
        if t.elapsed() > timeout {
            for &p in &left {
                unsafe { libc::kill(p, libc::SIGKILL) };
                let mut st = 0;
                unsafe { libc::waitpid(p, &mut st, 0) };
            }
            return Err(format!(
                "repetition did not finish within {} s (killed)",
                timeout.as_secs()
            ));
        }
        sleep_us(5000);
    }
    Ok(())
}
