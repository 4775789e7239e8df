//! A remote command's output: collected, or split into lines for a stream receiver, with
//! the process-group report labwarp's wrapper writes to stderr taken out.

use crate::host::local::line_text;
use crate::host::{OutputLine, Stream};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tokio::sync::mpsc;

/// Marks the stderr line on which a wrapped command reports its process group.
pub(super) const PGID_MARKER: &str = "labwarp-pgid:";

/// Collects output, or splits it into lines for a stream receiver.
pub(super) struct Sink {
    lines: Option<mpsc::Sender<OutputLine>>,
    out: Vec<u8>,
    err: Vec<u8>,
    /// Set when the command reports its process group; stderr is held back line by line
    /// until the marker line is seen (and removed).
    pub(super) pgid: Option<Arc<AtomicI32>>,
    pending: Vec<u8>,
}

impl Sink {
    pub(super) fn new(lines: Option<mpsc::Sender<OutputLine>>) -> Self {
        Sink {
            lines,
            out: Vec::new(),
            err: Vec::new(),
            pgid: None,
            pending: Vec::new(),
        }
    }

    pub(super) async fn push(&mut self, stream: Stream, data: &[u8]) {
        if stream == Stream::Stderr && self.pgid.is_some() {
            self.pending.extend_from_slice(data);
            while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=pos).collect();
                let text = line_text(&raw);
                if let Some(n) = text.strip_prefix(PGID_MARKER).and_then(|n| n.parse().ok()) {
                    if let Some(p) = self.pgid.take() {
                        p.store(n, Ordering::SeqCst);
                    }
                    let rest = std::mem::take(&mut self.pending);
                    self.push_raw(stream, &rest).await;
                    return;
                }
                self.push_raw(stream, &raw).await;
            }
            return;
        }
        self.push_raw(stream, data).await;
    }

    async fn push_raw(&mut self, stream: Stream, data: &[u8]) {
        let buf = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        buf.extend_from_slice(data);
        let Some(tx) = &self.lines else { return };
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buf.drain(..=pos).collect();
            // A receiver that went away does not stop the command.
            let _ = tx
                .send(OutputLine {
                    stream,
                    line: line_text(&raw),
                })
                .await;
        }
    }

    /// Flushes partial last lines (streaming) and returns what was collected.
    pub(super) async fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.push_raw(Stream::Stderr, &rest).await;
        }
        if let Some(tx) = self.lines.take() {
            for (stream, buf) in [
                (Stream::Stdout, &mut self.out),
                (Stream::Stderr, &mut self.err),
            ] {
                if !buf.is_empty() {
                    let line = line_text(buf);
                    let _ = tx.send(OutputLine { stream, line }).await;
                    buf.clear();
                }
            }
        }
        (self.out, self.err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sink_strips_the_pgid_marker_and_keeps_other_stderr() {
        let pgid = Arc::new(AtomicI32::new(0));
        let mut s = Sink::new(None);
        s.pgid = Some(pgid.clone());
        s.push(Stream::Stderr, b"bashrc noise\nlabwarp-pg").await;
        s.push(Stream::Stdout, b"out\n").await;
        s.push(Stream::Stderr, b"id:4242\nreal err\nlabwarp-pgid:1\n")
            .await;
        let (out, err) = s.finish().await;
        assert_eq!(pgid.load(Ordering::SeqCst), 4242);
        assert_eq!(out, b"out\n");
        // Only the first marker line is ours; later ones belong to the command.
        assert_eq!(err, b"bashrc noise\nreal err\nlabwarp-pgid:1\n");
    }

    #[tokio::test]
    async fn sink_splits_lines_across_chunks_and_flushes_the_tail() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut s = Sink::new(Some(tx));
        s.push(Stream::Stdout, b"ab").await;
        s.push(Stream::Stderr, b"e1\n").await;
        s.push(Stream::Stdout, b"c\r\nd").await;
        let (out, err) = s.finish().await;
        assert!(out.is_empty() && err.is_empty());
        let got: Vec<(Stream, String)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|l| (l.stream, l.line))
            .collect();
        assert_eq!(
            got,
            [
                (Stream::Stderr, "e1".to_string()),
                (Stream::Stdout, "abc".to_string()),
                (Stream::Stdout, "d".to_string())
            ]
        );
    }
}
