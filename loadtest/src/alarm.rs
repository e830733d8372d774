//! The open-loop pacer's clock: a sleep with microsecond precision that wakes the runtime's own
//! worker thread (a `timerfd` in the runtime's reactor on Linux), so pacing costs no thread of
//! its own and no hand-over between threads per request.

use std::time::Duration;

/// Sleeps for short, precise durations on the current runtime.
pub struct Alarm {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

#[cfg(target_os = "linux")]
impl Alarm {
    /// A new alarm, registered with the current runtime's reactor.
    pub fn new() -> std::io::Result<Alarm> {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: the descriptor is an `OwnedFd` the `AsyncFd` takes: open, and the same one,
        // until the `AsyncFd` is dropped.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }?;
        Ok(Alarm { fd })
    }

    /// Returns after `d` (at once for zero).
    pub async fn sleep(&self, d: Duration) -> std::io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        if d.is_zero() {
            return Ok(());
        }
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spec = Itimerspec {
            it_interval: zero,
            it_value: Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            },
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Ok(Err(e)) => return Err(e),
                // Readiness was stale: the guard cleared it; wait again.
                Err(_) => continue,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Alarm {
    /// A new alarm; without `timerfd` it is the runtime's timer, precise to a millisecond.
    pub fn new() -> std::io::Result<Alarm> {
        Ok(Alarm {})
    }

    /// Returns after `d` (at once for zero), rounded up to the runtime timer's millisecond.
    pub async fn sleep(&self, d: Duration) -> std::io::Result<()> {
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn sleeps_at_least_as_long_as_asked() {
        let alarm = Alarm::new().unwrap();
        for us in [0u64, 50, 300, 2_000] {
            let d = Duration::from_micros(us);
            let t = Instant::now();
            alarm.sleep(d).await.unwrap();
            let took = t.elapsed();
            assert!(took >= d, "asked {d:?}, woke after {took:?}");
        }
        // Many short sleeps in a row: each re-arms the same descriptor.
        let t = Instant::now();
        for _ in 0..100 {
            alarm.sleep(Duration::from_micros(100)).await.unwrap();
        }
        assert!(t.elapsed() >= Duration::from_millis(10));
    }
}
