//! The graceful stop: a layer over every service that counts the calls in flight (a streaming
//! call until its last message is sent), refuses new calls once the server drains, and cuts the
//! calls still running when the drain time is over.
//!
//! Health calls pass through uncounted and are never refused: during the drain they answer
//! `NOT_SERVING`, which is what a load balancer needs to see.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::body::Body;

/// The path prefix of the standard health service's calls.
const HEALTH_PATH: &str = "/grpc.health.v1.Health/";

/// The in-flight count and the drain's state, shared by every connection of one server.
#[derive(Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    cut: CancellationToken,
}

impl Drain {
    /// The layer to put over the server's services.
    pub fn layer(&self) -> DrainLayer {
        DrainLayer(self.clone())
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// Refuses every call that starts from now on; returns the calls then in flight.
    pub fn start(&self) -> usize {
        self.inner.draining.store(true, Ordering::SeqCst);
        self.in_flight()
    }

    /// Resolves when no call is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Ends every call still in flight with `UNAVAILABLE`; returns how many there were.
    pub fn cut(&self) -> usize {
        let n = self.in_flight();
        self.inner.cut.cancel();
        n
    }
}

/// One call in flight; its drop ends it.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn new(inner: &Arc<Inner>) -> InFlight {
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(inner.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The layer of [`Drain`].
#[derive(Clone)]
pub struct DrainLayer(Drain);

impl<S> tower_layer::Layer<S> for DrainLayer {
    type Service = DrainService<S>;

    fn layer(&self, inner: S) -> DrainService<S> {
        DrainService {
            inner,
            drain: self.0.clone(),
        }
    }
}

/// The service of [`DrainLayer`].
#[derive(Clone)]
pub struct DrainService<S> {
    inner: S,
    drain: Drain,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for DrainService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path().starts_with(HEALTH_PATH) {
            return Box::pin(self.inner.call(req));
        }
        let inner = &self.drain.inner;
        // Counted before the check: once the drain has seen the count at zero, every later
        // call sees the drain and is refused.
        let guard = InFlight::new(inner);
        if inner.draining.load(Ordering::SeqCst) {
            drop(guard);
            return Box::pin(std::future::ready(Ok(tonic::Status::unavailable(
                "the server is shutting down; retry on another server",
            )
            .into_http())));
        }
        let cut = inner.cut.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = tokio::select! {
                r = fut => r?,
                _ = cut.cancelled() => return Ok(cut_status().into_http()),
            };
            Ok(resp.map(|body| {
                Body::new(Guarded {
                    body,
                    cut: Box::pin(cut.cancelled_owned()),
                    done: false,
                    _guard: guard,
                })
            }))
        })
    }
}

fn cut_status() -> tonic::Status {
    tonic::Status::unavailable("the server stopped: its drain time ran out before this call ended")
}

/// A response body that holds its call in flight until it is dropped, and ends with
/// `UNAVAILABLE` trailers when the drain cuts it.
struct Guarded {
    body: Body,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
    _guard: InFlight,
}

impl HttpBody for Guarded {
    type Data = <Body as HttpBody>::Data;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.cut.as_mut().poll(cx).is_ready() {
            this.done = true;
            let mut trailers = http::HeaderMap::new();
            let (parts, _) = cut_status().into_http::<Body>().into_parts();
            for name in ["grpc-status", "grpc-message"] {
                if let Some(v) = parts.headers.get(name) {
                    trailers.insert(name, v.clone());
                }
            }
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let r = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = r {
            this.done = true;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
