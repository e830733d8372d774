//! `GetCode`, `GetCodes` and `StreamCodes` as a front end sees them.

use super::*;

// ---------------------------------------------------------------------------------------------
// GetCode

#[tokio::test(flavor = "multi_thread")]
async fn get_code_gives_every_person_the_findings_of_the_rules() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    for who in EVERYONE {
        let got = get(&mut c, &who.number(), "").await.expect("a valid id");
        assert_answer(&got, who, expected(who));
        assert_eq!(got.as_of, day(0), "{who:?}: the server's today");
        assert_eq!(got.index_generation, 1);
        assert_eq!(got.data_as_of, DATA_AS_OF);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_city_level_server_turns_the_imprecise_itinerary_yellow() {
    let (_file, server) = start(Policy::CityLevel).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    let got = get(&mut c, &Who::Imprecise.number(), "").await.expect("ok");
    let in_risk = finding(
        Reason::InRiskArea,
        BEIJING_CITY,
        "110105001",
        day(0),
        "1234",
        true,
    );
    assert_answer(&got, Who::Imprecise, (Color::Yellow, vec![in_risk], false));
    // Everything that does not hang on a possible match answers as under precision-aware.
    for who in [Who::Confirmed, Who::InRiskArea, Who::Verified, Who::Unknown] {
        let got = get(&mut c, &who.number(), "").await.expect("ok");
        assert_answer(&got, who, expected(who));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn as_of_overrides_the_servers_today() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;

    // The CDC record starts on D-2: before it the person is green, though known.
    let got = get(&mut c, &Who::Confirmed.number(), &day(-3))
        .await
        .expect("ok");
    assert_eq!(got.as_of, day(-3));
    assert_answer(&got, Who::Confirmed, (Color::Green, vec![], true));
    let got = get(&mut c, &Who::Confirmed.number(), &day(5))
        .await
        .expect("ok");
    assert_eq!(got.as_of, day(5));
    assert_eq!(got.color(), Color::Red);

    // The verification is made on D: on D-1 it does not exist yet.
    let got = get(&mut c, &Who::Verified.number(), &day(-1))
        .await
        .expect("ok");
    let in_risk = finding(Reason::InRiskArea, JIANWAI, "110105001", day(-1), "", true);
    assert_answer(&got, Who::Verified, (Color::Yellow, vec![in_risk], false));

    // Three weeks on, the stays have left the window.
    let got = get(&mut c, &Who::InRiskArea.number(), &day(21))
        .await
        .expect("ok");
    assert_answer(&got, Who::InRiskArea, (Color::Green, vec![], true));

    let err = get(&mut c, &Who::Confirmed.number(), "2022-13-01")
        .await
        .expect_err("a bad day");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("as_of"), "{}", err.message());
    server.stop().await;
}

/// Invalid document numbers and why: the message names the reason, never the number.
fn invalid_ids() -> Vec<(String, &'static str)> {
    let good = Who::Confirmed.number();
    vec![
        (format!("{}1", &good[..17]), "check character"),
        (good[..17].to_string(), "17 character(s)"),
        (format!("{}Y", &good[..17]), "not a digit or X"),
        (format!("1101A5{}", &good[6..]), "non-digit"),
        (String::new(), "empty"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_id_is_invalid_argument_with_the_reason_and_without_the_number() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    for (id, reason) in invalid_ids() {
        let err = get(&mut c, &id, "").await.expect_err("an invalid id");
        assert_eq!(err.code(), Code::InvalidArgument, "{id:?}");
        assert!(
            err.message().contains(reason),
            "{id:?}: {:?} lacks {reason:?}",
            err.message()
        );
        if !id.is_empty() {
            assert!(
                !err.message().contains(&id),
                "{:?} repeats the number",
                err.message()
            );
        }
    }
    // A lower-case x is the same document.
    let lower = Who::Confirmed.number().to_lowercase();
    assert!(lower.ends_with('x'));
    let got = get(&mut c, &lower, "").await.expect("x may be lower case");
    assert_answer(&got, Who::Confirmed, expected(Who::Confirmed));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// GetCodes and StreamCodes

#[tokio::test(flavor = "multi_thread")]
async fn get_codes_agrees_with_get_code_item_by_item_and_in_order() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    // Every person, in reverse, with the invalid ids interleaved.
    let mut ids: Vec<(String, Option<&str>)> = Vec::new();
    let mut invalid = invalid_ids().into_iter();
    for who in EVERYONE.iter().rev() {
        ids.push((who.number(), None));
        if let Some((id, reason)) = invalid.next() {
            ids.push((id, Some(reason)));
        }
    }
    for as_of in [String::new(), day(-3)] {
        let batch = c
            .get_codes(BatchCodeRequest {
                id_numbers: ids.iter().map(|(id, _)| id.clone()).collect(),
                as_of: as_of.clone(),
            })
            .await
            .expect("invalid items never fail the call")
            .into_inner();
        assert_eq!(batch.results.len(), ids.len());
        for ((id, invalid), res) in ids.iter().zip(&batch.results) {
            match invalid {
                None => {
                    assert!(res.valid && res.error.is_empty(), "{id}: {res:?}");
                    let single = get(&mut c, id, &as_of).await.expect("valid");
                    assert_eq!(res.code.as_ref(), Some(&single), "{id} as of {as_of:?}");
                }
                Some(reason) => {
                    assert!(!res.valid, "{id:?} is valid in the batch");
                    assert!(res.error.contains(reason), "{id:?}: {:?}", res.error);
                    assert!(
                        id.is_empty() || !res.error.contains(id.as_str()),
                        "{:?}",
                        res.error
                    );
                    assert!(
                        res.code.is_none()
                            || res.code.as_ref().unwrap().color() == Color::Unspecified
                    );
                }
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_codes_takes_10_000_ids_and_rejects_10_001() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    let ids: Vec<String> = (0..10_000)
        .map(|i| EVERYONE[i % EVERYONE.len()].number())
        .collect();
    let batch = c
        .get_codes(BatchCodeRequest {
            id_numbers: ids.clone(),
            as_of: String::new(),
        })
        .await
        .expect("a full batch")
        .into_inner();
    assert_eq!(batch.results.len(), 10_000);
    for (i, res) in batch.results.iter().enumerate() {
        let who = EVERYONE[i % EVERYONE.len()];
        assert_eq!(
            res.code.as_ref().map(|c| c.color()),
            Some(expected(who).0),
            "item {i}"
        );
    }

    let mut over = ids;
    over.push(Who::Unknown.number());
    let err = c
        .get_codes(BatchCodeRequest {
            id_numbers: over,
            as_of: String::new(),
        })
        .await
        .expect_err("one id too many");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("10001"), "{}", err.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_codes_answers_in_order_and_goes_on_after_an_invalid_id() {
    let (_file, server) = start(Policy::PrecisionAware).await;
    let mut c = server.codes(Some(QUERY_TOKEN)).await;
    let mut requests = Vec::new();
    for (i, who) in EVERYONE.iter().enumerate() {
        let as_of = if i % 3 == 0 { day(-3) } else { String::new() };
        requests.push(CodeRequest {
            id_number: who.number(),
            as_of,
        });
        if i % 5 == 2 {
            // A day that does not exist: this message alone is answered with the error.
            requests.push(CodeRequest {
                id_number: who.number(),
                as_of: "2022-02-30".into(),
            });
        }
        if i % 4 == 1 {
            let (id, _) = &invalid_ids()[i / 4 % invalid_ids().len()];
            requests.push(CodeRequest {
                id_number: id.clone(),
                as_of: String::new(),
            });
        }
    }
    let mut stream = c
        .stream_codes(tokio_stream::iter(requests.clone()))
        .await
        .expect("the stream opens")
        .into_inner();
    let mut answers = Vec::new();
    while let Some(a) = stream.message().await.expect("the stream goes on") {
        answers.push(a);
    }
    assert_eq!(answers.len(), requests.len(), "one answer per request");
    let mut invalid = 0;
    for (req, got) in requests.iter().zip(&answers) {
        match get(&mut c, &req.id_number, &req.as_of).await {
            Ok(single) => assert_eq!(got, &single, "{req:?}"),
            Err(e) => {
                invalid += 1;
                assert_eq!(got.color(), Color::Unspecified, "{req:?}");
                assert!(!got.error.is_empty(), "{req:?}");
                assert_eq!(got.error, e.message(), "{req:?}");
                assert_eq!(got.as_of, req.as_of, "{req:?}");
                assert!(req.id_number.is_empty() || !got.error.contains(&req.id_number));
                assert!(got.findings.is_empty());
            }
        }
    }
    assert!(invalid >= 4, "{invalid} invalid requests in the stream");
    assert!(
        answers.iter().any(|a| a.error.starts_with("as_of")),
        "an invalid day is among them"
    );
    server.stop().await;
}
