//! The provisioning batcher: pending-pod notifications are gathered into one batch that closes
//! after an idle gap (1 s by default) or a maximum window (10 s), both guide durations read
//! through the controller's [`Clock`] (so a scaled demo batches faster).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use crate::clock::Clock;

/// Batch window settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchWindow {
    /// A batch closes when nothing arrived for this long.
    pub idle: Duration,
    /// A batch closes at the latest this long after its first item.
    pub max: Duration,
}

impl Default for BatchWindow {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(1),
            max: Duration::from_secs(10),
        }
    }
}

/// Gathers items from a channel into batches.
#[derive(Debug)]
pub struct Batcher<T> {
    rx: mpsc::UnboundedReceiver<T>,
    window: BatchWindow,
    clock: Clock,
}

impl<T> Batcher<T> {
    /// A batcher reading `rx`.
    pub fn new(rx: mpsc::UnboundedReceiver<T>, window: BatchWindow, clock: Clock) -> Self {
        Self { rx, window, clock }
    }

    /// Waits for the next batch; None once the channel is closed and drained.
    pub async fn next_batch(&mut self) -> Option<Vec<T>> {
        let first = self.rx.recv().await?;
        let mut batch = vec![first];
        let close_at = Instant::now() + self.clock.real(self.window.max);
        loop {
            let idle_at = Instant::now() + self.clock.real(self.window.idle);
            match timeout_at(idle_at.min(close_at), self.rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => return Some(batch),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Scaled clocks keep these fast: at scale 100 the 1 s idle gap is 10 ms of real time.
    fn batcher(scale: f64) -> (mpsc::UnboundedSender<u32>, Batcher<u32>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            tx,
            Batcher::new(rx, BatchWindow::default(), Clock::system(scale)),
        )
    }

    #[tokio::test]
    async fn idle_gap_closes_a_batch() {
        let (tx, mut b) = batcher(100.0);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        assert_eq!(b.next_batch().await, Some(vec![0, 1, 2]));
        tx.send(99).unwrap();
        assert_eq!(b.next_batch().await, Some(vec![99]));
        drop(tx);
        assert_eq!(b.next_batch().await, None);
    }

    #[tokio::test]
    async fn max_window_closes_a_busy_batch() {
        // Idle gap 10 s (never reached), max window 1 s guide = 10 ms real at scale 100.
        let (tx, rx) = mpsc::unbounded_channel();
        let window = BatchWindow {
            idle: Duration::from_secs(10),
            max: Duration::from_secs(1),
        };
        let mut b = Batcher::new(rx, window, Clock::system(100.0));
        let feeder = tokio::spawn(async move {
            for i in 0..2000u32 {
                if tx.send(i).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let batch = b.next_batch().await.unwrap();
        // The feeder runs for 2 s at least: the batch was cut by the 10 ms window.
        assert!(!batch.is_empty() && batch.len() < 2000, "{}", batch.len());
        assert_eq!(batch[0], 0);
        drop(b);
        feeder.await.unwrap();
    }
}
