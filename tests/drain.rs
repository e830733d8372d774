//! The graceful stop of the real binary: on SIGTERM or Ctrl-C the health service turns
//! `NOT_SERVING` at once, new calls are refused, a stream in flight goes on to its end (or is cut
//! with `UNAVAILABLE` when the drain time runs out), the process exits 0 saying what it did, and a
//! write acknowledged before the signal is there after a restart.

mod util;

use healthcode::proto::{self, admin_client::AdminClient, health_code_client::HealthCodeClient};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use util::process::DataSet;
use util::{ADMIN_TOKEN, QUERY_TOKEN, channel, id};

type WithToken = InterceptedService<
    Channel,
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>,
>;

async fn with_token(addr: &str, token: &'static str) -> WithToken {
    InterceptedService::new(
        channel(addr).await,
        Box::new(move |mut r: tonic::Request<()>| {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            Ok(r)
        }),
    )
}

fn request(n: u64) -> proto::CodeRequest {
    proto::CodeRequest {
        id_number: id(n),
        as_of: String::new(),
    }
}

/// A `StreamCodes` call that has answered once: its sender and its answers.
async fn open_stream(
    addr: &str,
) -> (
    tokio::sync::mpsc::Sender<proto::CodeRequest>,
    tonic::Streaming<proto::CodeResponse>,
) {
    let mut codes = HealthCodeClient::new(with_token(addr, QUERY_TOKEN).await);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(request(1)).await.unwrap();
    let mut answers = codes
        .stream_codes(ReceiverStream::new(rx))
        .await
        .expect("the stream opens")
        .into_inner();
    let first = answers.next().await.unwrap().expect("a first answer");
    assert!(first.error.is_empty(), "{}", first.error);
    (tx, answers)
}

async fn health(addr: &str, service: &str) -> ServingStatus {
    let r = HealthClient::new(channel(addr).await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
        .into_inner();
    ServingStatus::try_from(r.status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_stream_in_flight_then_exits_0_keeping_acknowledged_writes() {
    let data = DataSet::generate(300);
    let server = data.serve(&["--drain-timeout", "60s"]);
    let addr = server.addr.clone();

    let mut admin = AdminClient::new(with_token(&addr, ADMIN_TOKEN).await);
    let ack = admin
        .record_verification(proto::RecordVerificationRequest {
            id_number: id(9),
            verified_on: "2022-05-09".into(),
            scope: String::new(),
            operator: "op".into(),
            ticket: "before-sigterm".into(),
        })
        .await
        .expect("the write is acknowledged")
        .into_inner();

    let mut watch = HealthClient::new(channel(&addr).await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let (tx, mut answers) = open_stream(&addr).await;

    server.signal(libc::SIGTERM);

    // The health service turns NOT_SERVING at once: a watcher is told, and a new check says so
    // for the server and for both services.
    let next = watch.next().await.unwrap().unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    for service in ["", "healthcode.v1.HealthCode", "healthcode.v1.Admin"] {
        assert_eq!(
            health(&addr, service).await,
            ServingStatus::NotServing,
            "{service:?}"
        );
    }
    // New work is refused…
    let mut codes = HealthCodeClient::new(with_token(&addr, QUERY_TOKEN).await);
    let refused = codes
        .get_code(request(2))
        .await
        .expect_err("a new call during the drain is refused");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    // …while the stream in flight goes on answering until its client ends it.
    for n in 10..20 {
        tx.send(request(n)).await.unwrap();
        let a = answers
            .next()
            .await
            .expect("the stream is still open")
            .expect("an answer during the drain");
        assert!(a.error.is_empty(), "{}", a.error);
    }
    drop(tx);
    assert!(
        answers.next().await.is_none(),
        "the stream ends with OK after its client closes it"
    );

    let (status, log) = server.wait();
    assert!(status.success(), "exit status {status:?}: {log:#?}");
    assert!(
        log.iter().any(|l| l.contains("SIGTERM: draining")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("stopped after draining 1 in-flight requests")),
        "{log:#?}"
    );

    // The write acknowledged before the signal is there after a restart.
    let server = data.serve(&[]);
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("1 live writes replayed")),
        "{:#?}",
        server.log()
    );
    let mut admin = AdminClient::new(with_token(&server.addr, ADMIN_TOKEN).await);
    let info = admin
        .info(proto::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.overlay_sequence, ack.sequence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cuts_a_stream_that_outlasts_the_drain_timeout_and_exits_0() {
    let data = DataSet::generate(300);
    let server = data.serve(&["--drain-timeout", "300ms"]);
    let (tx, mut answers) = open_stream(&server.addr).await;

    server.signal(libc::SIGINT);

    // The client never ends its stream: the drain time runs out and the server ends it.
    let end = loop {
        match answers.next().await {
            Some(Ok(_)) => continue,
            Some(Err(status)) => break status,
            None => panic!("the stream ended with OK although it was cut"),
        }
    };
    assert_eq!(end.code(), tonic::Code::Unavailable, "{end:?}");
    assert!(end.message().contains("drain time"), "{end:?}");
    drop(tx);

    let (status, log) = server.wait();
    assert!(status.success(), "exit status {status:?}: {log:#?}");
    assert!(
        log.iter().any(|l| l.contains("Ctrl-C: draining")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("drain timeout") && l.contains("cut 1 of 1 in-flight")),
        "{log:#?}"
    );
}
