//! The signals that end a session: Ctrl-C (SIGINT), SIGTERM, and SIGHUP (the terminal closed).
//!
//! Once [`listen`] has run, these signals no longer end the process by themselves: the session
//! turns each into an orderly end that stops the cluster and removes what it started
//! (containers, networks, child processes). Code that is busy starting something (e.g. the
//! docker backend waiting for its containers) awaits [`next`] to give up promptly.

use std::sync::OnceLock;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// A signal that asks the session to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Ending {
    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Ending::Interrupt => "Ctrl-C",
            Ending::Terminate => "SIGTERM",
            Ending::Hangup => "SIGHUP",
        }
    }

    /// The exit status a shell reports for a process this signal ended: 128 + its number.
    pub fn exit_status(self) -> i32 {
        128 + match self {
            Ending::Interrupt => libc::SIGINT,
            Ending::Terminate => libc::SIGTERM,
            Ending::Hangup => libc::SIGHUP,
        }
    }
}

/// Every signal so far, numbered, so each waiter sees each signal once.
fn channel() -> &'static watch::Sender<(u64, Option<Ending>)> {
    static CHANNEL: OnceLock<watch::Sender<(u64, Option<Ending>)>> = OnceLock::new();
    CHANNEL.get_or_init(|| watch::channel((0, None)).0)
}

/// Starts turning Ctrl-C, SIGTERM and SIGHUP into [`Ending`]s (once per process; later calls
/// do nothing). Must be called inside a Tokio runtime. Fails only if the handlers cannot be
/// installed, in which case the signals keep their default effect.
pub fn listen() -> std::io::Result<()> {
    static LISTENING: OnceLock<()> = OnceLock::new();
    if LISTENING.get().is_some() {
        return Ok(());
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    if LISTENING.set(()).is_err() {
        return Ok(());
    }
    tokio::spawn(async move {
        loop {
            let ending = tokio::select! {
                Some(()) = interrupt.recv() => Ending::Interrupt,
                Some(()) = terminate.recv() => Ending::Terminate,
                Some(()) = hangup.recv() => Ending::Hangup,
                else => return,
            };
            channel().send_modify(|(count, last)| {
                *count += 1;
                *last = Some(ending);
            });
        }
    });
    Ok(())
}

/// Waits for the next signal after this call. Never resolves unless [`listen`] has run.
pub async fn next() -> Ending {
    let mut changes = channel().subscribe();
    changes.borrow_and_update();
    loop {
        if changes.changed().await.is_err() {
            return std::future::pending().await;
        }
        if let (_, Some(ending)) = *changes.borrow_and_update() {
            return ending;
        }
    }
}

/// The terminal's modes when the session started, put back if the session has to end while a
/// line editor holds the terminal in raw mode.
pub struct TerminalModes(Option<libc::termios>);

impl TerminalModes {
    /// Saves stdin's terminal modes (nothing when stdin is not a terminal).
    pub fn save() -> Self {
        // SAFETY: isatty and tcgetattr with a valid pointer to a zeroed local struct.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return Self(None);
            }
            let mut modes: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut modes) != 0 {
                return Self(None);
            }
            Self(Some(modes))
        }
    }

    /// Puts the saved modes back.
    pub fn restore(&self) {
        if let Some(modes) = &self.0 {
            // SAFETY: tcsetattr with a pointer to modes tcgetattr filled.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, modes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_sees_a_signal_raised_after_it_started_waiting() {
        listen().unwrap();
        let waiter = tokio::spawn(next());
        // Let the waiter subscribe before the signal is raised.
        tokio::task::yield_now().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !waiter.is_finished() && tokio::time::Instant::now() < deadline {
            // SAFETY: raising SIGHUP on this process, whose handler `listen` installed.
            unsafe {
                libc::raise(libc::SIGHUP);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(waiter.await.unwrap(), Ending::Hangup);
        assert_eq!(Ending::Hangup.exit_status(), 129);
        assert_eq!(Ending::Terminate.exit_status(), 143);
    }
}
