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
    /// Set when the drain time is over, before `cut` is cancelled: what every poll reads.
    cut_now: AtomicBool,
    /// Wakes the calls that wait, once `cut_now` is set.
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
        self.inner.cut_now.store(true, Ordering::Release);
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
        // Only a drain waits for the count to reach zero, and it reads the count after setting
        // `draining` (both sequentially consistent): either it sees this call gone or this call
        // sees it draining and wakes it. Outside a drain nothing takes the waiters' lock.
        if self.in_flight
            && self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.inner.draining.load(Ordering::SeqCst)
        {
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
        Box::pin(Answering {
            fut: self.inner.call(req),
            cut: Cut::new(inner, !health),
            call: Some(call),
        })
    }
}

/// Waiting for the drain's cut, set up only once a call is not ready at once: a unary call is
/// usually answered at its first poll, and registering with the shared cancellation token (a
/// clone and a waiter, each under its lock) for every call cost more than the rest of this
/// layer. The flag is read at every poll, so a body that is always ready is cut too.
struct Cut {
    /// `None` for a call that is never cut (health).
    inner: Option<Arc<Inner>>,
    waiting: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl Cut {
    fn new(inner: &Arc<Inner>, cuttable: bool) -> Cut {
        Cut {
            inner: cuttable.then(|| inner.clone()),
            waiting: None,
        }
    }

    /// Whether the drain has cut the calls: checked before the call's own work is polled.
    fn is_cut(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.cut_now.load(Ordering::Acquire))
    }

    /// After the call's own work said `Pending`: wakes the task when the drain cuts, and says
    /// whether it has by now.
    fn poll_after_pending(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(inner.cut.clone().cancelled_owned()));
        waiting.as_mut().poll(cx).is_ready()
    }
}

pin_project_lite::pin_project! {
    /// A call's future under the drain: its answer, or `UNAVAILABLE` once the drain cuts it; the
    /// answer's body is then held in flight by [`Guarded`].
    struct Answering<F> {
        #[pin]
        fut: F,
        cut: Cut,
        call: Option<Call>,
    }
}

impl<F, E> Future for Answering<F>
where
    F: Future<Output = Result<http::Response<Body>, E>>,
{
    type Output = Result<http::Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let cut = if this.cut.is_cut() {
            true
        } else {
            match this.fut.poll(cx) {
                Poll::Ready(r) => {
                    let resp = r?;
                    let mut call = this.call.take().expect("polled after it was ready");
                    call.processed(resp.headers());
                    let cut = std::mem::replace(
                        this.cut,
                        Cut {
                            inner: None,
                            waiting: None,
                        },
                    );
                    return Poll::Ready(Ok(resp.map(|body| {
                        Body::new(Guarded {
                            body,
                            cut,
                            done: false,
                            call,
                        })
                    })));
                }
                Poll::Pending => this.cut.poll_after_pending(cx),
            }
        };
        if !cut {
            return Poll::Pending;
        }
        if let Some(mut call) = this.call.take() {
            call.finish(UNAVAILABLE);
        }
        Poll::Ready(Ok(cut_status().into_http()))
    }
}

fn cut_status() -> tonic::Status {
    tonic::Status::unavailable("the server stopped: its drain time ran out before this call ended")
}

/// A response body that holds its call in flight until it is dropped, ends with
/// `UNAVAILABLE` trailers when the drain cuts it, and records the call's code from its trailers.
struct Guarded {
    body: Body,
    cut: Cut,
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
        let r = if this.cut.is_cut() {
            None
        } else {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending if this.cut.poll_after_pending(cx) => None,
                r => Some(r),
            }
        };
        let Some(r) = r else {
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
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower_layer::Layer;
    use tower_service::Service;

    /// A body that always has another frame ready: it never lets a poll return `Pending`.
    struct Endless;

    impl HttpBody for Endless {
        type Data = bytes::Bytes;
        type Error = tonic::Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<bytes::Bytes>, tonic::Status>>> {
            Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"x")))))
        }
    }

    /// A service whose calls answer at once with an endless body, or never answer.
    #[derive(Clone)]
    struct Fake {
        answers: bool,
    }

    impl Service<http::Request<()>> for Fake {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            if self.answers {
                Box::pin(std::future::ready(Ok(http::Response::new(Body::new(
                    Endless,
                )))))
            } else {
                Box::pin(std::future::pending())
            }
        }
    }

    fn request() -> http::Request<()> {
        http::Request::builder()
            .uri("/healthcode.v1.HealthCode/StreamCodes")
            .body(())
            .unwrap()
    }

    fn trailers_status(frame: Frame<bytes::Bytes>) -> Option<String> {
        let t = frame.into_trailers().ok()?;
        Some(t.get("grpc-status")?.to_str().ok()?.to_string())
    }

    #[tokio::test]
    async fn a_body_that_is_always_ready_is_still_cut() {
        let drain = Drain::default();
        let mut svc = drain.layer().layer(Fake { answers: true });
        let resp = svc.call(request()).await.unwrap();
        let mut body = resp.into_body();
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(first.unwrap().unwrap().is_data(), "answers before the cut");
        assert_eq!(drain.in_flight(), 1);
        assert_eq!(drain.cut(), 1);
        let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let code = trailers_status(next.unwrap().unwrap());
        assert_eq!(
            code.as_deref(),
            Some("14"),
            "ends with UNAVAILABLE trailers"
        );
        drop(body);
        assert_eq!(drain.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_call_waiting_for_its_answer_is_woken_and_cut() {
        let drain = Drain::default();
        let mut svc = drain.layer().layer(Fake { answers: false });
        let call = tokio::spawn(svc.call(request()));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!call.is_finished(), "a call with no answer waits");
        assert_eq!(drain.in_flight(), 1);
        drain.start();
        assert_eq!(drain.cut(), 1);
        let resp = tokio::time::timeout(std::time::Duration::from_secs(5), call)
            .await
            .expect("the cut wakes the waiting call")
            .unwrap()
            .unwrap();
        let status = resp.headers().get("grpc-status").unwrap().to_str().unwrap();
        assert_eq!(status, "14");
        assert_eq!(drain.in_flight(), 0);
        tokio::time::timeout(std::time::Duration::from_secs(5), drain.idle())
            .await
            .expect("the drain sees the count at zero");
    }
}
