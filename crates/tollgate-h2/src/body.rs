//! Protocol-neutral bodies: [`Body`] is what a handler reads a request body from and what it
//! returns as a response body. It is empty, whole bytes, or a stream ([`BodyStream`]); a
//! handler that produces data as it goes uses [`channel`], whose sender waits while the
//! receiving side has not taken enough (backpressure).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

/// Why a body ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The peer reset the stream or the connection went away.
    Reset(String),
    /// The body made no progress within the body timeout.
    Timeout,
    /// The producing side gave up (a [`BodySender`] dropped without [`BodySender::finish`]).
    Aborted,
    /// [`Body::collect`] would have exceeded its limit.
    TooLarge,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Reset(why) => write!(f, "stream reset: {why}"),
            BodyError::Timeout => f.write_str("body timed out"),
            BodyError::Aborted => f.write_str("body aborted by its producer"),
            BodyError::TooLarge => f.write_str("body too large"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A source of body chunks, polled by whoever sends or reads the body.
pub trait BodyStream {
    /// The next chunk; `Ready(None)` at the end.
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>>;

    /// True when no further chunk will come (lets the last chunk carry END_STREAM).
    fn is_end_stream(&self) -> bool {
        false
    }

    /// The exact length, when known in advance (a Content-Length).
    fn exact_len(&self) -> Option<u64> {
        None
    }
}

enum Kind {
    Empty,
    Full(Bytes),
    Stream(Pin<Box<dyn BodyStream>>),
}

/// A request or response body.
pub struct Body {
    kind: Kind,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::full(Bytes::from(b))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl Body {
    /// The whole body, taken out, when it is bytes in memory of at most `max` bytes.
    pub(crate) fn whole(&mut self, max: usize) -> Option<Bytes> {
        match &self.kind {
            Kind::Full(b) if b.len() <= max => {}
            _ => return None,
        }
        match std::mem::replace(&mut self.kind, Kind::Empty) {
            Kind::Full(b) => Some(b),
            _ => None,
        }
    }

    /// No body.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A body held whole in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Body::empty();
        }
        Body {
            kind: Kind::Full(bytes),
        }
    }

    /// A streamed body.
    pub fn stream(s: impl BodyStream + 'static) -> Body {
        Body {
            kind: Kind::Stream(Box::pin(s)),
        }
    }

    /// True when the body is known to have no (more) data.
    pub fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Stream(s) => s.is_end_stream(),
        }
    }

    /// The exact length, when known.
    pub fn exact_len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Full(b) => Some(b.len() as u64),
            Kind::Stream(s) => s.exact_len(),
        }
    }

    /// Polls for the next chunk; `Ready(None)` at the end.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Full(b) => Poll::Ready(Some(Ok(b))),
                _ => Poll::Ready(None),
            },
            Kind::Stream(s) => s.as_mut().poll_chunk(cx),
        }
    }

    /// The next chunk; `None` at the end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads the whole body into memory, failing with [`BodyError::TooLarge`] past `limit`.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, BodyError> {
        if let Kind::Full(b) = &self.kind {
            return if b.len() > limit {
                Err(BodyError::TooLarge)
            } else {
                Ok(b.clone())
            };
        }
        let mut out = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if out.len().saturating_add(chunk.len()) > limit {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

impl BodyStream for Body {
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        Body::poll_chunk(self.get_mut(), cx)
    }

    fn is_end_stream(&self) -> bool {
        Body::is_end_stream(self)
    }

    fn exact_len(&self) -> Option<u64> {
        Body::exact_len(self)
    }
}

struct Shared {
    queue: VecDeque<Bytes>,
    queued: usize,
    capacity: usize,
    finished: bool,
    aborted: bool,
    receiver_gone: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// A body fed by a handler: `channel(cap)` gives the sending half and a [`Body`] to return.
/// [`BodySender::send`] waits while more than `cap` bytes are queued, so a slow client
/// slows the producer instead of growing memory.
pub fn channel(capacity: usize) -> (BodySender, Body) {
    let shared = Rc::new(RefCell::new(Shared {
        queue: VecDeque::new(),
        queued: 0,
        capacity: capacity.max(1),
        finished: false,
        aborted: false,
        receiver_gone: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        BodySender {
            shared: shared.clone(),
            done: false,
        },
        Body::stream(ChannelBody { shared }),
    )
}

/// The sending half of [`channel`]. Dropping it without [`BodySender::finish`] aborts the
/// body (the receiver sees [`BodyError::Aborted`]; over HTTP/2 the stream is reset), so a
/// producer that fails half-way never passes for a complete body.
pub struct BodySender {
    shared: Rc<RefCell<Shared>>,
    done: bool,
}

impl BodySender {
    /// Queues a chunk, first waiting until the queue holds less than the channel's capacity.
    /// Fails with [`BodyError::Reset`] when the receiving side is gone (client went away).
    pub async fn send(&mut self, chunk: Bytes) -> Result<(), BodyError> {
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            if s.receiver_gone {
                return Poll::Ready(Err(BodyError::Reset("receiver gone".into())));
            }
            if s.queued < s.capacity {
                return Poll::Ready(Ok(()));
            }
            s.tx_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        let mut s = self.shared.borrow_mut();
        s.queued = s.queued.saturating_add(chunk.len());
        s.queue.push_back(chunk);
        if let Some(w) = s.rx_waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// True when the receiving side is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.borrow().receiver_gone
    }

    /// Ends the body cleanly.
    pub fn finish(mut self) {
        self.close(false);
    }

    fn close(&mut self, aborted: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let mut s = self.shared.borrow_mut();
        s.finished = true;
        s.aborted = aborted;
        if let Some(w) = s.rx_waker.take() {
            w.wake();
        }
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        self.close(true);
    }
}

struct ChannelBody {
    shared: Rc<RefCell<Shared>>,
}

impl BodyStream for ChannelBody {
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut s = self.shared.borrow_mut();
        if let Some(chunk) = s.queue.pop_front() {
            s.queued = s.queued.saturating_sub(chunk.len());
            if let Some(w) = s.tx_waker.take() {
                w.wake();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if s.finished {
            return Poll::Ready(if s.aborted {
                Some(Err(BodyError::Aborted))
            } else {
                None
            });
        }
        s.rx_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let s = self.shared.borrow();
        s.finished && !s.aborted && s.queue.is_empty()
    }
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        let mut s = self.shared.borrow_mut();
        s.receiver_gone = true;
        s.queue.clear();
        s.queued = 0;
        if let Some(w) = s.tx_waker.take() {
            w.wake();
        }
    }
}

/// Drives `fut` to completion on the current thread (for tests of this module).
#[cfg(test)]
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    rt.block_on(fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_body_yields_once_then_ends() {
        block_on(async {
            let mut b = Body::from("hello");
            assert_eq!(b.exact_len(), Some(5));
            assert_eq!(b.chunk().await, Some(Ok(Bytes::from_static(b"hello"))));
            assert!(b.is_end_stream());
            assert_eq!(b.chunk().await, None);
        });
    }

    #[test]
    fn collect_enforces_its_limit() {
        block_on(async {
            assert_eq!(
                Body::from("abcdef").collect(3).await,
                Err(BodyError::TooLarge)
            );
            let (mut tx, rx) = channel(4);
            monoio::spawn(async move {
                for _ in 0..10 {
                    if tx.send(Bytes::from_static(b"xy")).await.is_err() {
                        return;
                    }
                }
                tx.finish();
            });
            assert_eq!(rx.collect(100).await.map(|b| b.len()), Ok(20));
        });
    }

    #[test]
    fn channel_applies_backpressure_and_abort_is_an_error() {
        block_on(async {
            let (mut tx, mut rx) = channel(4);
            let sent = Rc::new(std::cell::Cell::new(0usize));
            let s2 = sent.clone();
            let producer = monoio::spawn(async move {
                for _ in 0..100 {
                    if tx.send(Bytes::from_static(b"abc")).await.is_err() {
                        return;
                    }
                    s2.set(s2.get() + 1);
                }
                // dropped without finish(): aborted
            });
            monoio::time::sleep(std::time::Duration::from_millis(20)).await;
            // capacity 4 bytes: the producer got two chunks in (3 < 4 allowed a second).
            assert!(sent.get() <= 2, "sent {}", sent.get());
            let mut total = 0;
            let mut last = None;
            while let Some(c) = rx.chunk().await {
                match c {
                    Ok(c) => total += c.len(),
                    Err(e) => {
                        last = Some(e);
                        break;
                    }
                }
            }
            producer.await;
            assert_eq!(total, 300);
            assert_eq!(last, Some(BodyError::Aborted));
        });
    }

    #[test]
    fn dropped_receiver_fails_the_sender() {
        block_on(async {
            let (mut tx, rx) = channel(1);
            drop(rx);
            assert!(tx.send(Bytes::from_static(b"a")).await.is_err());
            assert!(tx.is_closed());
        });
    }
}
