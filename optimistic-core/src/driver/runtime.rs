//! Whether a driver blocks or is async: what the helpers and the runner return on it, and how
//! they wait between attempts.

use std::future::Future;
use std::time::Duration;

/// How waits between attempts are slept, and whether the caller gets the outcome or a future.
/// Each driver names its own ([`Backend::Runtime`](super::Backend::Runtime)).
pub trait Runtime {
    /// What a runner returns for a `future`: the future itself (async), or its output
    /// (blocking).
    type Finish<F: Future>;

    /// Hands `future` to the caller, or runs it to its end on this thread.
    fn finish<F: Future>(future: F) -> Self::Finish<F>;

    /// Waits `wait` before the next attempt.
    fn sleep(wait: Duration) -> impl Future<Output = ()>;

    /// The next message on `channel` (a combined write's hand-offs), or `None` once every
    /// sender is gone.
    fn receive<V>(channel: &flume::Receiver<V>) -> impl Future<Output = Option<V>>;
}

/// Blocking drivers: every runner returns its outcome, and waits sleep the thread.
#[derive(Clone, Copy, Debug)]
pub struct Blocking;

impl Runtime for Blocking {
    type Finish<F: Future> = F::Output;

    fn finish<F: Future>(future: F) -> F::Output {
        // A blocking driver's futures are ready when first polled: its calls return at once,
        // and `sleep` below has slept already.
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => {
                unreachable!("a blocking driver's operation returned a pending future")
            }
        }
    }

    fn sleep(wait: Duration) -> impl Future<Output = ()> {
        std::thread::sleep(wait);
        std::future::ready(())
    }

    fn receive<V>(channel: &flume::Receiver<V>) -> impl Future<Output = Option<V>> {
        std::future::ready(channel.recv().ok())
    }
}

/// Async drivers: every runner returns a future, and waits sleep on tokio's timer.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Clone, Copy, Debug)]
pub struct Tokio;

#[cfg(feature = "tokio")]
impl Runtime for Tokio {
    type Finish<F: Future> = F;

    fn finish<F: Future>(future: F) -> F {
        future
    }

    fn sleep(wait: Duration) -> impl Future<Output = ()> {
        ::tokio::time::sleep(wait)
    }

    async fn receive<V>(channel: &flume::Receiver<V>) -> Option<V> {
        channel.recv_async().await.ok()
    }
}
