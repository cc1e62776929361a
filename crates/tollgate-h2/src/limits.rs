//! [`H2Limits`]: every bound an HTTP/2 connection is held to.

use std::time::Duration;

/// The smallest and largest SETTINGS_MAX_FRAME_SIZE HTTP/2 allows (RFC 9113 section 6.5.2).
pub const MIN_FRAME_SIZE: u32 = 16_384;
/// See [`MIN_FRAME_SIZE`].
pub const MAX_FRAME_SIZE: u32 = 16_777_215;
/// The largest flow-control window HTTP/2 allows.
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The bounds one HTTP/2 server connection is held to. `Default` gives the documented
/// defaults (see `docs/http2.md`); [`H2Limits::normalized`] clamps out-of-range values.
#[derive(Debug, Clone)]
pub struct H2Limits {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams open at once (more are refused). Twice this
    /// bounds the stream tasks a connection runs at once, those of streams the client reset
    /// whose handler runs on included; past it a new stream is refused (REFUSED_STREAM).
    pub max_concurrent_streams: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: the decoded size of one header block (names + values +
    /// 32 per field, as RFC 9113 counts it). Larger: 431 for that stream, connection kept.
    pub max_header_list_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame payload the client may send.
    pub max_frame_size: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: bytes of request body a stream may have unread.
    pub initial_stream_window: u32,
    /// The connection window: bytes of request body all streams together may have unread.
    pub initial_connection_window: u32,
    /// The bound on bytes the connection buffers: received body bytes (at most the connection
    /// window) plus response bytes queued in HTTP/2 (split evenly across the streams as each
    /// stream's send buffer).
    pub max_connection_buffer: usize,
    /// RST_STREAM frames a client may send per second before the connection gets GOAWAY
    /// (ENHANCE_YOUR_CALM): rapid reset, CVE-2023-44487.
    pub max_resets_per_second: u32,
    /// Streams reset by the client before the server accepted them that may sit in the accept
    /// queue; more is a GOAWAY (h2's own rapid-reset guard).
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server may reset because of the client's protocol errors before GOAWAY.
    pub max_local_error_resets: usize,
    /// PING, SETTINGS and PRIORITY frames (not acknowledgements) a client may send per second
    /// before the connection gets GOAWAY (ENHANCE_YOUR_CALM).
    pub max_control_frames_per_second: u32,
    /// Time for the client preface and its first frame (SETTINGS).
    pub handshake_timeout: Duration,
    /// A connection with no open stream for this long gets a graceful GOAWAY; it also bounds
    /// a header block trickled in CONTINUATION frames (an unfinished block is no stream).
    pub idle_timeout: Duration,
    /// A response waiting this long for flow-control window (a client that never opens its
    /// window, or never reads the socket) is reset with CANCEL and its memory freed.
    pub send_timeout: Duration,
    /// A request body that makes no progress for this long ends in an error for the handler.
    pub body_timeout: Duration,
    /// After GOAWAY: how long the connection may take to flush and close before it is dropped
    /// (this includes the lingering close that lets the client read the GOAWAY).
    pub shutdown_timeout: Duration,
    /// After the caller's shutdown signal ([`crate::serve_connection_until`]): how long the
    /// streams already open may take to finish behind the graceful GOAWAY before the
    /// connection is dropped (never less than `shutdown_timeout`).
    pub drain_timeout: Duration,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_concurrent_streams: 100,
            max_header_list_size: 16 * 1024,
            max_frame_size: MIN_FRAME_SIZE,
            initial_stream_window: 256 * 1024,
            initial_connection_window: 1024 * 1024,
            max_connection_buffer: 8 * 1024 * 1024,
            max_resets_per_second: 100,
            max_pending_accept_reset_streams: 20,
            max_local_error_resets: 256,
            max_control_frames_per_second: 100,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// The smallest per-stream send buffer: one full frame.
const MIN_SEND_BUFFER: usize = MIN_FRAME_SIZE as usize;

impl H2Limits {
    /// The limits with every value brought into the range HTTP/2 and this crate accept:
    /// frame size within RFC bounds, windows at most 2^31-1 (and the connection window at
    /// least the stream window), at least one stream, non-zero rates and timeouts.
    pub fn normalized(&self) -> H2Limits {
        let mut l = self.clone();
        l.max_concurrent_streams = l.max_concurrent_streams.max(1);
        l.max_header_list_size = l.max_header_list_size.max(1024);
        l.max_frame_size = l.max_frame_size.clamp(MIN_FRAME_SIZE, MAX_FRAME_SIZE);
        l.initial_stream_window = l.initial_stream_window.min(MAX_WINDOW);
        l.initial_connection_window = l
            .initial_connection_window
            .clamp(l.initial_stream_window.max(65_535), MAX_WINDOW);
        l.max_resets_per_second = l.max_resets_per_second.max(1);
        l.max_control_frames_per_second = l.max_control_frames_per_second.max(1);
        let min = Duration::from_millis(1);
        l.handshake_timeout = l.handshake_timeout.max(min);
        l.idle_timeout = l.idle_timeout.max(min);
        l.send_timeout = l.send_timeout.max(min);
        l.body_timeout = l.body_timeout.max(min);
        l
    }

    /// Each stream's send buffer: what [`H2Limits::max_connection_buffer`] leaves after the
    /// connection window, divided among the concurrent streams (at least one frame, at most
    /// `u32::MAX`).
    pub fn send_buffer_per_stream(&self) -> usize {
        let left = self
            .max_connection_buffer
            .saturating_sub(self.initial_connection_window as usize);
        let per = left / (self.max_concurrent_streams.max(1) as usize);
        per.clamp(MIN_SEND_BUFFER, u32::MAX as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_clamps_into_protocol_ranges() {
        let l = H2Limits {
            max_concurrent_streams: 0,
            max_frame_size: 1,
            initial_stream_window: u32::MAX,
            initial_connection_window: 10,
            handshake_timeout: Duration::ZERO,
            ..H2Limits::default()
        }
        .normalized();
        assert_eq!(l.max_concurrent_streams, 1);
        assert_eq!(l.max_frame_size, MIN_FRAME_SIZE);
        assert_eq!(l.initial_stream_window, MAX_WINDOW);
        assert_eq!(l.initial_connection_window, MAX_WINDOW);
        assert!(l.handshake_timeout > Duration::ZERO);
        let big = H2Limits {
            max_frame_size: u32::MAX,
            ..H2Limits::default()
        }
        .normalized();
        assert_eq!(big.max_frame_size, MAX_FRAME_SIZE);
    }

    #[test]
    fn send_buffer_splits_what_the_connection_window_leaves() {
        let l = H2Limits::default();
        // (8 MiB - 1 MiB) / 100 streams
        assert_eq!(l.send_buffer_per_stream(), 7 * 1024 * 1024 / 100);
        let tight = H2Limits {
            max_connection_buffer: 0,
            ..H2Limits::default()
        };
        assert_eq!(tight.send_buffer_per_stream(), MIN_SEND_BUFFER);
    }
}
