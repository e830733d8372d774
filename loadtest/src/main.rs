//! Load-test harness for a running healthcode server (not ready yet: it only says so).

fn main() {
    eprintln!(
        "loadtest: not ready yet. The harness that drives a running healthcode server over gRPC \
         (closed and open loop, HDR latency percentiles, ceiling mode) is still to be built."
    );
    std::process::exit(2);
}
