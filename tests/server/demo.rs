//! `serve --demo` as a new user runs it: a generated Beijing whose data set names the city its
//! home region. No resident gets a popup for Beijing's own risk areas from telecom's city-level
//! stays; a finer record in a Beijing risk county still gives its finding.

use super::*;
use healthcode::proto::{admin_client::AdminClient, health_code_client::HealthCodeClient};
use util::process::{ServerProcess, bin};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_residents_get_no_popup_for_their_own_city() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.env("HEALTHCODE_HOME", home.path()).args([
        "serve",
        "--demo",
        "--demo-persons",
        "3000",
        "--listen",
        "127.0.0.1:0",
    ]);
    let server = ServerProcess::start(cmd);
    let demo = home.path().join("demo");
    let tokens = std::fs::read_to_string(demo.join("tokens")).unwrap();
    let token = |role: &str| {
        let line = tokens
            .lines()
            .find(|l| l.starts_with(role))
            .unwrap_or_else(|| panic!("a {role} token in {tokens}"));
        line.split_whitespace().nth(2).unwrap().to_string()
    };
    let channel = util::channel(&server.addr).await;
    let mut admin =
        AdminClient::with_interceptor(channel.clone(), util::bearer(Some(&token("admin"))));
    let info = admin.info(InfoRequest {}).await.expect("info").into_inner();
    assert_eq!(info.home_region, "1101");

    // Every resident of the truth, in batches.
    let truth = std::fs::read_to_string(demo.join("feeds/truth.csv")).unwrap();
    let mut ids: Vec<String> = truth
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3000);
    let mut codes =
        HealthCodeClient::with_interceptor(channel, util::bearer(Some(&token("query"))))
            .max_decoding_message_size(64 << 20);
    let (mut at_home, mut city_level, mut imprecise) = (0, 0, 0);
    for chunk in ids.chunks(1000) {
        let answers = codes
            .get_codes(BatchCodeRequest {
                id_numbers: chunk.to_vec(),
                as_of: String::new(),
            })
            .await
            .expect("answered")
            .into_inner();
        for r in answers.results {
            for f in r.code.expect("a valid id has a code").findings {
                let beijing_area = f.risk_area_code.starts_with("1101");
                city_level += usize::from(f.region_code == "1101" && beijing_area);
                imprecise += usize::from(f.reason == Reason::ItineraryImprecise as i32);
                at_home += usize::from(
                    beijing_area
                        && [Reason::InRiskArea as i32, Reason::VisitedRiskArea as i32]
                            .contains(&f.reason),
                );
            }
        }
    }
    assert_eq!(
        city_level, 0,
        "a city-level stay matched a Beijing risk area"
    );
    assert!(
        at_home > 0,
        "no finer record placed anyone in a Beijing risk county"
    );
    assert!(
        imprecise < 300,
        "{imprecise} imprecise popups for 3,000 residents: more than the travellers'"
    );
    drop(server);
}
