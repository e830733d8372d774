//! `Admin.Info`, `Admin.AffectedCount`, and a stopped server.

use super::*;

// ---------------------------------------------------------------------------------------------
// Admin

#[tokio::test(flavor = "multi_thread")]
async fn info_describes_the_index_being_served() {
    for policy in Policy::ALL {
        let (_file, server) = start(policy).await;
        let info = server
            .admin(Some(ADMIN_TOKEN))
            .await
            .info(InfoRequest {})
            .await
            .expect("admin")
            .into_inner();
        assert_eq!(info.generation, 1);
        assert_eq!(
            info.persons,
            EVERYONE.len() as u64 - 1,
            "all but the unknown"
        );
        assert_eq!(info.data_as_of, DATA_AS_OF);
        assert_eq!(info.policy, policy.as_str());
        assert_eq!(info.overlay_sequence, 0);
        assert_eq!(info.home_region, "", "an index without a home region");
        server.stop().await;
    }
}

/// A deployment whose home is Beijing (DOMAIN.md §4, "Home region"): `Info` names it; the
/// city-level telecom stay in Beijing of the imprecise itinerary gives no popup, under either
/// policy, not even for a risk area designated live in another Beijing county; the street-level
/// stay in a Beijing risk county is still a finding, and so is an arrival from elsewhere; and the
/// count of a live designation keeps counting both kinds.
#[tokio::test(flavor = "multi_thread")]
async fn a_home_region_is_reported_and_exempts_coarse_stays_inside_it() {
    let file = index_file_at_home(Some("1101"));
    for policy in Policy::ALL {
        let state_dir = tempfile::tempdir().unwrap();
        let (server, _) =
            util::Server::start_live(&file.path, state_dir.path(), policy, Some(d(0))).await;
        let mut admin = server.admin(Some(ADMIN_TOKEN)).await;
        let info = admin.info(InfoRequest {}).await.expect("info").into_inner();
        assert_eq!(info.home_region, "1101");

        let mut c = server.codes(Some(QUERY_TOKEN)).await;
        let imprecise = get(&mut c, &Who::Imprecise.number(), "")
            .await
            .expect("answered");
        assert_eq!(imprecise.color, Color::Green as i32, "{policy}");
        assert!(
            imprecise.findings.is_empty(),
            "{policy}: {:?}",
            imprecise.findings
        );
        assert!(imprecise.travel_allowed);
        let inside = get(&mut c, &Who::InRiskArea.number(), "")
            .await
            .expect("answered");
        assert_eq!(inside.color, Color::Yellow as i32, "{policy}");
        assert_eq!(inside.findings[0].reason, Reason::InRiskArea as i32);

        // A live designation of another Beijing county: still nothing for a city-level stay,
        // though the count names it as a possible one.
        let ack = admin
            .set_risk_area(healthcode::proto::SetRiskAreaRequest {
                area: "110108".into(),
                level: healthcode::proto::RiskLevel::High as i32,
                from: day(-3),
                to: String::new(),
                operator: "王伟".into(),
                reason: "a live designation at home".into(),
            })
            .await
            .expect("acknowledged")
            .into_inner();
        assert_eq!(ack.affected_possible, 1, "{ack:?}");
        let imprecise = get(&mut c, &Who::Imprecise.number(), "")
            .await
            .expect("answered");
        assert!(
            imprecise.findings.is_empty(),
            "{policy}: {:?}",
            imprecise.findings
        );

        // Away from home nothing changed: the arrival from Dongguan's risk unit still asks to
        // register.
        let arrival = get(&mut c, &Who::ArrivalUnregistered.number(), "")
            .await
            .expect("answered");
        assert_eq!(
            arrival.findings.len(),
            1,
            "{policy}: {:?}",
            arrival.findings
        );
        assert_eq!(
            arrival.findings[0].reason,
            Reason::ArrivalUnregistered as i32
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn affected_count_counts_persons_by_risk_unit() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut a = server.admin(Some(ADMIN_TOKEN)).await;
    let mut count = async |region: &str, from: i32, to: Option<i32>| {
        a.affected_count(AffectedCountRequest {
            region: region.to_string(),
            from: day(from),
            to: to.map(day).unwrap_or_default(),
        })
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.definite, r.possible)
        })
    };
    // On D-1 … D, inside Chaoyang (110105): the in-risk-area person and the three verified ones
    // (a verification does not undo a stay); containing it, the city-level itinerary (1101).
    assert_eq!(count("110105001", -1, Some(0)).await.expect("ok"), (4, 1));
    // Another street of the same county is the same risk unit; `to` defaults to today.
    assert_eq!(count("110105002", -1, None).await.expect("ok"), (4, 1));
    // Earlier, only the visitor of 朝外街道 was there; the city-level stay starts on D-5.
    assert_eq!(count("110105", -10, Some(-6)).await.expect("ok"), (1, 0));
    // Tianjin and Dongguan: nobody stayed (an arrival's origin is not a stay).
    assert_eq!(count("120101", -20, Some(0)).await.expect("ok"), (0, 0));
    assert_eq!(count("441900003", -20, Some(0)).await.expect("ok"), (0, 0));

    for (region, from, to, what) in [
        ("1101051", -1, Some(0), "region"),
        ("110105", 0, Some(-1), "before"),
    ] {
        let err = count(region, from, to).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{region} {from} {to:?}");
        assert!(err.message().contains(what), "{}", err.message());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_accepts_no_connection() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let addr = server.addr;
    {
        let mut c = server.codes(Some(QUERY_TOKEN)).await;
        get(&mut c, &Who::Confirmed.number(), "")
            .await
            .expect("served before the signal");
    }
    server.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
