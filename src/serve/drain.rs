//! The graceful stop: a layer over every service that counts the calls in flight (a streaming
//! call until its last message is sent), refuses new calls once the server drains, and cuts the
//! calls still running when the drain time is over.
//!
//! Health calls pass through uncounted and are never refused: during the drain they answer
//! `NOT_SERVING`, which is what a load balancer needs to see.
//!
//! Being the outermost layer, it is also where every call is timed and counted by method and
//! gRPC status code when the server keeps metrics: the code is read from the response headers
//! (an error answered at once) or from the trailers, each recorded before it is handed to HTTP/2
//! (so a client that has its answer finds it counted), and a call whose body is dropped before
//! its trailers went out counts as `CANCELLED`. The timing rides in the future and body this layer
//! already builds, so it allocates nothing more per call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::body::Body;

use super::metrics::{CallTimer, Metrics, code_of_status};

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
    metrics: Option<Arc<Metrics>>,
}

impl Drain {
    /// A drain that also records every call into `metrics`.
    pub fn with_metrics(metrics: Option<Arc<Metrics>>) -> Drain {
        Drain {
            inner: Arc::new(Inner {
                metrics,
                ..Inner::default()
            }),
        }
    }

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

/// One call: counted in flight (health calls are not) until it is dropped, and timed when the
/// server keeps metrics.
struct Call {
    inner: Arc<Inner>,
    in_flight: bool,
    /// Taken when the call's outcome is recorded.
    timer: Option<CallTimer>,
    /// The status of an answer whose headers carry it (an error answered at once).
    header_code: Option<u8>,
}

/// The header (or trailer) of a call's status, named once rather than parsed at each look.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// `CANCELLED`: a call that ended before its status went out.
const CANCELLED: u8 = tonic::Code::Cancelled as u8;
/// `UNAVAILABLE`: refused or cut by the drain.
const UNAVAILABLE: u8 = tonic::Code::Unavailable as u8;

impl Call {
    fn new(inner: &Arc<Inner>, in_flight: bool, timer: Option<CallTimer>) -> Call {
        if in_flight {
            inner.in_flight.fetch_add(1, Ordering::SeqCst);
        }
        Call {
            inner: inner.clone(),
            in_flight,
            timer,
            header_code: None,
        }
    }

    /// The answer's headers are ready. When they carry the status (an error answered at once,
    /// with no body), the call is over: it is recorded now, before the client can see it.
    fn processed(&mut self, headers: &http::HeaderMap) {
        if let (Some(t), Some(m)) = (&self.timer, &self.inner.metrics) {
            m.processed(t.method, t.elapsed());
            self.header_code = headers
                .get(&GRPC_STATUS)
                .map(|v| code_of_status(v.as_bytes()));
            if let Some(code) = self.header_code {
                self.finish(code);
            }
        }
    }

    /// The call ended with `code`.
    fn finish(&mut self, code: u8) {
        if let (Some(t), Some(m)) = (self.timer.take(), &self.inner.metrics) {
            m.finished(t.method, code, t.elapsed());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.timer.is_some() {
            self.finish(self.header_code.unwrap_or(CANCELLED));
        }
        if self.in_flight && self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
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
        let inner = &self.drain.inner;
        let timer = inner
            .metrics
            .as_ref()
            .map(|_| CallTimer::start(req.uri().path()));
        let health = req.uri().path().starts_with(HEALTH_PATH);
        if health && timer.is_none() {
            return Box::pin(self.inner.call(req));
        }
        // Counted before the check: once the drain has seen the count at zero, every later
        // call sees the drain and is refused.
        let mut call = Call::new(inner, !health, timer);
        if !health && inner.draining.load(Ordering::SeqCst) {
            call.finish(UNAVAILABLE);
            drop(call);
            return Box::pin(std::future::ready(Ok(tonic::Status::unavailable(
                "the server is shutting down; retry on another server",
            )
            .into_http())));
        }
        // Health calls are never cut: they answer NOT_SERVING through the drain.
        let cut = (!health).then(|| inner.cut.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = match &cut {
                Some(cut) => tokio::select! {
                    r = fut => r?,
                    _ = cut.cancelled() => {
                        call.finish(UNAVAILABLE);
                        return Ok(cut_status().into_http());
                    }
                },
                None => fut.await?,
            };
            call.processed(resp.headers());
            Ok(resp.map(|body| {
                Body::new(Guarded {
                    body,
                    cut: cut.map(|c| Box::pin(c.cancelled_owned())),
                    done: false,
                    call,
                })
            }))
        })
    }
}

fn cut_status() -> tonic::Status {
    tonic::Status::unavailable("the server stopped: its drain time ran out before this call ended")
}

/// A response body that holds its call in flight until it is dropped, ends with
/// `UNAVAILABLE` trailers when the drain cuts it, and records the call's code from its trailers.
struct Guarded {
    body: Body,
    cut: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    done: bool,
    call: Call,
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
        if this
            .cut
            .as_mut()
            .is_some_and(|c| c.as_mut().poll(cx).is_ready())
        {
            this.done = true;
            this.call.finish(UNAVAILABLE);
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
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame
                    .trailers_ref()
                    .and_then(|t| t.get(&GRPC_STATUS))
                    .map(|v| code_of_status(v.as_bytes()))
                {
                    this.call.finish(code);
                }
            }
            Poll::Ready(None) => {
                this.done = true;
                let code = this.call.header_code.unwrap_or(tonic::Code::Unknown as u8);
                this.call.finish(code);
            }
            _ => {}
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
