//! Client-side load balancing over several replicas: each load connection is a tonic balanced
//! channel over every replica, and a prober keeps only the replicas that answer the standard
//! health check in the channels, so that a request retried after a replica died goes to one
//! that lives.
//!
//! tonic's balancer alone does not do this: its connections are lazy, and a lazy connection to a
//! dead replica reports itself ready and fails each call it is given, so half the retries would
//! go to the dead replica again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How often every replica is checked, besides the checks a failed call asks for.
const EVERY: Duration = Duration::from_millis(200);

/// How long a health check may take before its replica counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// The prober that keeps the balanced channels to the live replicas; dropping it stops it.
pub struct Replicas {
    prober: tokio::task::JoinHandle<()>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.prober.abort();
    }
}

/// `connections` balanced channels over `endpoints`, and their prober (on the current runtime),
/// which also checks at once whenever `poke` is notified (a call failed as a dead replica makes
/// it fail).
pub fn balanced(
    endpoints: Vec<(String, Endpoint)>,
    connections: usize,
    poke: Arc<Notify>,
) -> (Vec<Channel>, Replicas) {
    let mut channels = Vec::new();
    let mut senders: Vec<Sender<Change<String, Endpoint>>> = Vec::new();
    for _ in 0..connections {
        let (channel, tx) = Channel::balance_channel(endpoints.len().max(1) * 2);
        for (key, e) in &endpoints {
            tx.try_send(Change::Insert(key.clone(), e.clone()))
                .expect("room for every replica");
        }
        channels.push(channel);
        senders.push(tx);
    }
    let prober = tokio::spawn(probe(endpoints, senders, poke));
    (channels, Replicas { prober })
}

/// Checks every replica every [`EVERY`] (or at once when poked); removes one that does not
/// answer `SERVING` from every channel, and puts it back once it does. The last replica in is
/// never removed, so that calls fail (and are counted) rather than wait when all are down.
async fn probe(
    endpoints: Vec<(String, Endpoint)>,
    senders: Vec<Sender<Change<String, Endpoint>>>,
    poke: Arc<Notify>,
) {
    let mut up = vec![true; endpoints.len()];
    let checkers: Vec<HealthClient<Channel>> = endpoints
        .iter()
        .map(|(_, e)| HealthClient::new(e.connect_lazy()))
        .collect();
    loop {
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = poke.notified() => {}
        }
        for (i, (key, e)) in endpoints.iter().enumerate() {
            let mut c = checkers[i].clone();
            let check = c.check(HealthCheckRequest {
                service: String::new(),
            });
            let serving = matches!(
                tokio::time::timeout(CHECK_TIMEOUT, check).await,
                Ok(Ok(r)) if r.get_ref().status() == ServingStatus::Serving
            );
            let change = match (up[i], serving) {
                (true, false) if up.iter().filter(|u| **u).count() > 1 => {
                    eprintln!(
                        "loadtest: {key} does not answer its health check: out of the balancer"
                    );
                    Change::Remove(key.clone())
                }
                (false, true) => {
                    eprintln!("loadtest: {key} serves again: back in the balancer");
                    Change::Insert(key.clone(), e.clone())
                }
                _ => continue,
            };
            up[i] = serving;
            for tx in &senders {
                let _ = tx.send(change.clone()).await;
            }
        }
    }
}
