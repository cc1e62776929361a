//! The frame meter: a read-side tap between the socket and h2 that follows frame boundaries
//! (the 9-byte frame headers only; h2 decodes everything) and counts, per one-second window,
//! the frames whose flood h2 alone does not stop: RST_STREAM (rapid reset) and PING,
//! SETTINGS and PRIORITY (control-frame floods). Past a cap it trips; the connection then
//! sends GOAWAY (ENHANCE_YOUR_CALM) and closes.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::PREFACE;

const FRAME_HEADER_LEN: usize = 9;
const TYPE_PRIORITY: u8 = 0x2;
const TYPE_RST_STREAM: u8 = 0x3;
const TYPE_SETTINGS: u8 = 0x4;
const TYPE_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;
const WINDOW: Duration = Duration::from_secs(1);

/// Which flood tripped the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// More RST_STREAM frames per second than allowed (rapid reset).
    Resets,
    /// More PING/SETTINGS/PRIORITY frames per second than allowed.
    ControlFrames,
}

/// What the meter saw, shared with the connection driver.
#[derive(Debug, Default)]
pub(crate) struct MeterState {
    /// A whole frame header has arrived after the preface (it must be the client's SETTINGS).
    pub saw_frame: Cell<bool>,
    pub tripped: Cell<Option<Flood>>,
    pub resets_total: Cell<u64>,
    pub control_total: Cell<u64>,
}

/// The frame-boundary state machine, fed the bytes read from the socket.
#[derive(Debug)]
pub(crate) struct FrameMeter {
    preface_left: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    payload_left: usize,
    window_start: Option<Instant>,
    resets: u32,
    control: u32,
    max_resets: u32,
    max_control: u32,
}

impl FrameMeter {
    pub(crate) fn new(max_resets: u32, max_control: u32) -> FrameMeter {
        FrameMeter {
            preface_left: PREFACE.len(),
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            payload_left: 0,
            window_start: None,
            resets: 0,
            control: 0,
            max_resets,
            max_control,
        }
    }

    /// Follows `data`, counting frames against `state`; returns the flood when a cap is passed.
    pub(crate) fn feed(
        &mut self,
        mut data: &[u8],
        now: Instant,
        state: &MeterState,
    ) -> Option<Flood> {
        if self.preface_left > 0 {
            let n = self.preface_left.min(data.len());
            self.preface_left -= n;
            data = data.get(n..).unwrap_or_default();
        }
        let mut tripped = None;
        while !data.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(data.len());
                self.payload_left -= n;
                data = data.get(n..).unwrap_or_default();
                continue;
            }
            let want = FRAME_HEADER_LEN - self.header_len;
            let n = want.min(data.len());
            if let (Some(dst), Some(src)) = (
                self.header.get_mut(self.header_len..self.header_len + n),
                data.get(..n),
            ) {
                dst.copy_from_slice(src);
            }
            self.header_len += n;
            data = data.get(n..).unwrap_or_default();
            if self.header_len < FRAME_HEADER_LEN {
                break;
            }
            self.header_len = 0;
            state.saw_frame.set(true);
            let [l0, l1, l2, kind, flags, ..] = self.header;
            self.payload_left = (usize::from(l0) << 16) | (usize::from(l1) << 8) | usize::from(l2);
            if let Some(f) = self.count(kind, flags, now, state) {
                tripped = tripped.or(Some(f));
            }
        }
        tripped
    }

    fn count(&mut self, kind: u8, flags: u8, now: Instant, state: &MeterState) -> Option<Flood> {
        let is_reset = kind == TYPE_RST_STREAM;
        let is_control = (matches!(kind, TYPE_PING | TYPE_SETTINGS) && flags & FLAG_ACK == 0)
            || kind == TYPE_PRIORITY;
        if !is_reset && !is_control {
            return None;
        }
        match self.window_start {
            Some(start) if now.duration_since(start) < WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.resets = 0;
                self.control = 0;
            }
        }
        if is_reset {
            self.resets = self.resets.saturating_add(1);
            state
                .resets_total
                .set(state.resets_total.get().saturating_add(1));
            (self.resets > self.max_resets).then_some(Flood::Resets)
        } else {
            self.control = self.control.saturating_add(1);
            state
                .control_total
                .set(state.control_total.get().saturating_add(1));
            (self.control > self.max_control).then_some(Flood::ControlFrames)
        }
    }
}

/// Reads per poll while lingering, before yielding to other tasks.
const LINGER_READS_PER_POLL: usize = 64;

/// The socket as h2 sees it: reads pass through the [`FrameMeter`]; once it has tripped, no
/// further bytes are handed to h2 (the driver is sending GOAWAY and closing). Shutting down
/// is a lingering close: after the FIN, what the client still sends is read and discarded
/// until it closes or `linger` passes, so that closing a socket with unread bytes (which
/// makes the kernel send RST and the client drop what it has not read yet) does not swallow
/// the GOAWAY that says why.
pub(crate) struct MeteredIo<S> {
    inner: S,
    meter: FrameMeter,
    state: Rc<MeterState>,
    linger: Duration,
    shut: bool,
    linger_until: Option<Pin<Box<monoio::time::Sleep>>>,
}

impl<S> MeteredIo<S> {
    pub(crate) fn new(
        inner: S,
        meter: FrameMeter,
        state: Rc<MeterState>,
        linger: Duration,
    ) -> MeteredIo<S> {
        MeteredIo {
            inner,
            meter,
            state,
            linger,
            shut: false,
            linger_until: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.tripped.get().is_some() {
            // The driver notices the trip as soon as this poll returns and shuts down.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res
            && let Some(new) = buf.filled().get(before..)
            && !new.is_empty()
            && let Some(flood) = this.meter.feed(new, Instant::now(), &this.state)
            && this.state.tripped.get().is_none()
        {
            this.state.tripped.set(Some(flood));
        }
        res
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MeteredIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            match Pin::new(&mut this.inner).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => this.shut = true,
                other => return other,
            }
        }
        let linger = this.linger;
        let until = this
            .linger_until
            .get_or_insert_with(|| Box::pin(monoio::time::sleep(linger)));
        if until.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let mut scratch = [0u8; 4096];
        for _ in 0..LINGER_READS_PER_POLL {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn counts_frames_split_across_reads_and_skips_payloads() {
        let state = MeterState::default();
        let mut m = FrameMeter::new(2, 100);
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(TYPE_SETTINGS, 0, 0, &[0; 6]));
        // a DATA frame whose payload looks like RST_STREAM headers must not count
        bytes.extend(frame(
            0x0,
            0,
            1,
            &frame(TYPE_RST_STREAM, 0, 1, &[0; 4]).repeat(5),
        ));
        bytes.extend(frame(TYPE_RST_STREAM, 0, 1, &[0, 0, 0, 8]));
        bytes.extend(frame(TYPE_PING, FLAG_ACK, 0, &[0; 8]));
        let now = Instant::now();
        for b in bytes.chunks(5) {
            assert_eq!(m.feed(b, now, &state), None);
        }
        assert_eq!(state.resets_total.get(), 1);
        assert_eq!(
            state.control_total.get(),
            1,
            "the SETTINGS, not the PING ack"
        );
    }

    #[test]
    fn trips_past_the_cap_within_one_second_only() {
        let state = MeterState::default();
        let mut m = FrameMeter::new(3, 100);
        let t0 = Instant::now();
        let rst = frame(TYPE_RST_STREAM, 0, 1, &[0, 0, 0, 8]);
        let mut first = PREFACE.to_vec();
        first.extend(rst.repeat(3));
        assert_eq!(m.feed(&first, t0, &state), None);
        // a new window: three more are fine
        let later = t0 + Duration::from_millis(1500);
        assert_eq!(m.feed(&rst.repeat(3), later, &state), None);
        assert_eq!(m.feed(&rst, later, &state), Some(Flood::Resets));
    }

    #[test]
    fn control_frame_flood_trips() {
        let state = MeterState::default();
        let mut m = FrameMeter::new(100, 10);
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(TYPE_PING, 0, 0, &[0; 8]).repeat(11));
        assert_eq!(
            m.feed(&bytes, Instant::now(), &state),
            Some(Flood::ControlFrames)
        );
    }
}
