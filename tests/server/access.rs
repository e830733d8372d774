//! Credentials by role, the health service and reflection without one, and a server that will not start without credentials.

use super::*;

// ---------------------------------------------------------------------------------------------
// Credentials, health and reflection

#[tokio::test(flavor = "multi_thread")]
async fn credentials_guard_each_service_by_role() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let id = Who::Confirmed.number();

    let mut anonymous = server.codes(None).await;
    let err = get(&mut anonymous, &id, "").await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = anonymous
        .get_codes(BatchCodeRequest {
            id_numbers: vec![id.clone()],
            as_of: String::new(),
        })
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = anonymous
        .stream_codes(tokio_stream::iter(vec![CodeRequest {
            id_number: id.clone(),
            as_of: String::new(),
        }]))
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut forged = server.codes(Some("not-a-known-token-0000")).await;
    let err = get(&mut forged, &id, "").await.expect_err("unknown token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = server
        .admin(None)
        .await
        .info(InfoRequest {})
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = server
        .admin(Some(QUERY_TOKEN))
        .await
        .info(InfoRequest {})
        .await
        .expect_err("a query token");
    assert_eq!(err.code(), Code::PermissionDenied);

    let mut query = server.codes(Some(QUERY_TOKEN)).await;
    assert_eq!(
        get(&mut query, &id, "").await.expect("query").color(),
        Color::Red
    );
    let mut admin_codes = server.codes(Some(ADMIN_TOKEN)).await;
    assert_eq!(
        get(&mut admin_codes, &id, "").await.expect("admin").color(),
        Color::Red
    );
    server
        .admin(Some(ADMIN_TOKEN))
        .await
        .info(InfoRequest {})
        .await
        .expect("admin");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_serving_without_a_token() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut h = HealthClient::new(server.channel().await);
    for service in ["", "healthcode.v1.HealthCode", "healthcode.v1.Admin"] {
        let got = h
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner();
        assert_eq!(got.status(), ServingStatus::Serving, "{service:?}");
    }
    let err = h
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("an unknown service");
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_services_without_a_token() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = ServerReflectionClient::new(server.channel().await);
    let ask = |m| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let requests = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "healthcode.v1.HealthCode".into(),
        )),
    ];
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection answers")
        .into_inner();
    let mut next = async || -> ServerReflectionResponse {
        stream
            .message()
            .await
            .expect("no error")
            .expect("an answer")
    };

    let Some(MessageResponse::ListServicesResponse(list)) = next().await.message_response else {
        panic!("not a service list");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "healthcode.v1.HealthCode",
        "healthcode.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    let Some(MessageResponse::FileDescriptorResponse(files)) = next().await.message_response else {
        panic!("no descriptor for healthcode.v1.HealthCode");
    };
    assert!(
        files
            .file_descriptor_proto
            .iter()
            .any(|f| f.windows(7).any(|w| w == b"GetCode")),
        "the descriptor does not describe GetCode"
    );
    server.stop().await;
}

/// Reflection also answers its older protocol version, v1alpha, which many clients still speak
/// (Python's grpcio-reflection among them).
#[tokio::test(flavor = "multi_thread")]
async fn reflection_answers_the_v1alpha_protocol_too() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let answer = c
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection answers")
        .into_inner()
        .message()
        .await
        .expect("no error")
        .expect("an answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in ["healthcode.v1.HealthCode", "healthcode.v1.Admin"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    server.stop().await;
}

/// Without a tokens file the server does not start (unless `--demo` makes one or
/// `--insecure-no-auth` says to run open), and it says what to pass.
#[test]
fn serve_refuses_to_start_without_credentials() {
    let home = tempfile::tempdir().unwrap();
    let out = util::process::bin()
        .env("HEALTHCODE_HOME", home.path())
        .args(["serve", "--index", "missing.hci", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no credentials") && err.contains("--tokens FILE"),
        "{err}"
    );
}
