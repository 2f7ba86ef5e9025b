//! The wait at the heart of every connection driver (HL7, pump, DICOM): the next read from either
//! side, the connection's earliest deadline, or the shutdown signal, whichever comes first.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// What woke a connection.
#[derive(Debug)]
pub(crate) enum Event {
    /// A read from the client: bytes, 0 at end of stream, or an error.
    Client(io::Result<usize>),
    /// A read from the upstream: bytes, 0 at end of stream, or an error.
    Upstream(io::Result<usize>),
    /// The timer fired. A deadline may be due, or it may have moved later since the timer was
    /// set: the driver checks each deadline against the clock.
    Deadline,
    /// Shutdown began: the connection drains (reported once).
    Shutdown,
}

/// One connection's timer and shutdown wait, kept for the connection's life.
pub(crate) struct Waiter {
    timer: Pin<Box<Sleep>>,
    /// Completes on shutdown, or when the proxy is gone (also a reason to drain). One wait for
    /// the connection's life: a fresh `changed()` per turn would register with (and leave) the
    /// channel every connection shares each time.
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    draining: bool,
}

impl Waiter {
    /// A waiter whose timer first fires at `deadline`; already draining if shutdown has begun.
    pub(crate) fn new(mut shutdown: watch::Receiver<bool>, deadline: Instant) -> Waiter {
        let draining = *shutdown.borrow();
        Waiter {
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            stop: Box::pin(async move {
                let _ = shutdown.changed().await;
            }),
            draining,
        }
    }

    /// Whether shutdown has begun.
    pub(crate) fn draining(&self) -> bool {
        self.draining
    }

    /// Wait for the next event. `client` is `None` while the client is not being read (closed,
    /// or drained); `upstream` may never complete (no upstream yet).
    pub(crate) async fn next<C, U>(
        &mut self,
        deadline: Instant,
        client: Option<C>,
        upstream: U,
    ) -> Event
    where
        C: Future<Output = io::Result<usize>>,
        U: Future<Output = io::Result<usize>>,
    {
        // The timer is only ever moved earlier (or re-armed once it fired): moving it later on
        // every message would re-register it with the runtime's timer wheel each time, and
        // moving it earlier than the runtime's next wake-up wakes a parked worker thread. A timer
        // that fires early finds nothing due and is re-armed on the next turn.
        if deadline < self.timer.deadline() || self.timer.is_elapsed() {
            self.timer.as_mut().reset(deadline);
        }
        let client = async {
            match client {
                Some(read) => read.await,
                None => std::future::pending().await,
            }
        };
        let draining = self.draining;
        let event = tokio::select! {
            r = client => Event::Client(r),
            r = upstream => Event::Upstream(r),
            () = self.timer.as_mut() => Event::Deadline,
            // Never polled again once it completed (a finished async block must not be).
            () = self.stop.as_mut(), if !draining => Event::Shutdown,
        };
        if matches!(event, Event::Shutdown) {
            self.draining = true;
        }
        event
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn never() -> std::future::Pending<io::Result<usize>> {
        std::future::pending()
    }

    /// The next event when only the timer and the shutdown signal can fire.
    async fn idle(w: &mut Waiter, deadline: Instant) -> Event {
        w.next(deadline, None::<std::future::Pending<_>>, never())
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_is_reported_once_then_deadlines_still_fire() {
        let (tx, rx) = watch::channel(false);
        let start = Instant::now();
        let mut w = Waiter::new(rx, start + Duration::from_secs(60));
        tx.send(true).unwrap();
        let e = idle(&mut w, start + Duration::from_secs(60)).await;
        assert!(matches!(e, Event::Shutdown));
        assert!(w.draining());
        let e = idle(&mut w, start + Duration::from_secs(60)).await;
        assert!(matches!(e, Event::Deadline));
        assert!(Instant::now() >= start + Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_moves_earlier_at_once_and_later_only_after_it_fired() {
        let (_tx, rx) = watch::channel(false);
        let start = Instant::now();
        let secs = |n| start + Duration::from_secs(n);
        let mut w = Waiter::new(rx, secs(60));
        // Earlier: moved now (a read wins this turn, the timer stays armed at 5 s).
        let e = w.next(secs(5), Some(async { Ok(1) }), never()).await;
        assert!(matches!(e, Event::Client(Ok(1))));
        // Later while armed: not moved, so it fires at 5 s and the driver finds nothing due ...
        let e = idle(&mut w, secs(30)).await;
        assert!(matches!(e, Event::Deadline));
        assert_eq!(Instant::now(), secs(5));
        // ... and the next turn re-arms it to the later deadline.
        let e = idle(&mut w, secs(30)).await;
        assert!(matches!(e, Event::Deadline));
        assert_eq!(Instant::now(), secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn reads_from_either_side_are_reported() {
        let (_tx, rx) = watch::channel(false);
        let mut w = Waiter::new(rx, Instant::now() + Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_secs(60);
        let e = w.next(deadline, Some(async { Ok(7) }), never()).await;
        assert!(matches!(e, Event::Client(Ok(7))));
        let e = w
            .next(deadline, None::<std::future::Pending<_>>, async { Ok(0) })
            .await;
        assert!(matches!(e, Event::Upstream(Ok(0))));
    }
}
