//! When to draw: at most one frame per [`FRAME`]. A burst of events (a few thousand log
//! lines a second) is folded into the app as fast as it arrives and drawn at the frame rate,
//! not once per batch: a frame costs about a millisecond, a line about a hundred nanoseconds.
//! An event after a quiet spell is drawn at once (the frame budget has long passed).

use std::time::{Duration, Instant};

/// The shortest time between two frames (~60 frames/s).
pub const FRAME: Duration = Duration::from_millis(16);

/// Tracks the last frame; the event loop asks it whether a dirty screen may be drawn now.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    next: Instant,
    frame: Duration,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(FRAME)
    }
}

impl Pacer {
    pub fn new(frame: Duration) -> Pacer {
        Pacer {
            next: Instant::now(),
            frame,
        }
    }

    /// Whether a frame may be drawn at `now`.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// A frame was drawn at `now`: the next one waits a frame's time.
    pub fn drawn(&mut self, now: Instant) {
        self.next = now + self.frame;
    }

    /// When the next frame may be drawn (to wake up for a dirty screen).
    pub fn next(&self) -> Instant {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_waits_for_the_budget_then_is_due() {
        let mut p = Pacer::new(Duration::from_millis(16));
        let t0 = Instant::now();
        assert!(p.due(t0), "the first frame is drawn at once");
        p.drawn(t0);
        assert!(!p.due(t0 + Duration::from_millis(5)));
        assert!(p.due(t0 + Duration::from_millis(16)));
        assert_eq!(p.next(), t0 + Duration::from_millis(16));
    }
}
