//! Child processes (consumers, and nodes of the processes backend) that belong to the sandbox
//! and to nothing else.
//!
//! - Each child gets its own process group, so the SIGINT a terminal sends on Ctrl-C reaches
//!   only the sandbox, which decides what Ctrl-C means (interrupt the running statement), and
//!   never the consumers it started.
//! - Each child asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), so a
//!   killed sandbox takes its children along at once instead of leaving them to commit
//!   against a cluster that is gone. The kernel ties this to the *thread* that forked: spawn
//!   children from a thread that lives as long as the session (the script thread, or a tokio
//!   worker), never from a short-lived blocking-pool thread.

use std::io;

/// What runs in the child between fork and exec: die with the parent, and do not miss a
/// parent that died before the request took effect.
fn die_with_parent(parent: libc::pid_t) -> io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            libc::_exit(0);
        }
    }
    Ok(())
}

/// Makes a `std` command's child the sandbox's own: its own process group, dead with its parent.
pub(crate) fn own_std(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    command.process_group(0);
    // SAFETY: the closure only calls async-signal-safe functions.
    unsafe {
        command.pre_exec(move || die_with_parent(parent));
    }
}

/// Makes a tokio command's child the sandbox's own: its own process group, dead with its parent.
pub(crate) fn own_tokio(command: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    command.process_group(0);
    // SAFETY: the closure only calls async-signal-safe functions.
    unsafe {
        command.pre_exec(move || die_with_parent(parent));
    }
}
