//! The configuration reference, `docs/configuration.md`, generated from the
//! config structs: every key the TOML file accepts, in the structs' order,
//! with the default `Config::default()` serializes and whether CONFIG SET
//! can change it. A test fails if a field has no description here or the
//! committed file is stale, so the reference cannot drift from the code.

use crate::config::{ClusterConfig, Config};

/// What each key does (TOML key; `cluster.` keys are in `[cluster]`).
const DESCRIPTIONS: &[(&str, &str)] = &[
    ("bind", "Address the RESP listener binds (`0.0.0.0` for every interface; see `protected-mode`)."),
    ("bind-source-addr", "Source IP of the node's outgoing connections (to cluster peers); empty = the kernel's choice. Set at startup only (Redis can change it at runtime)."),
    ("port", "RESP port; 0 picks a free one."),
    ("dir", "Data directory: RocksDB (`db/`) and, in cluster mode, the Raft log and snapshots."),
    ("requirepass", "Password of the `default` user (empty: none). The same as `ACL SETUSER default resetpass >...`."),
    ("protected-mode", "While the default user has no password, serve only loopback clients; others get Redis's `-DENIED` explanation."),
    ("aclfile", "File of ACL users in Redis's format (`user <name> <rules...>` per line, no comments), loaded at startup (a bad file stops the server from starting) and by `ACL LOAD`, written by `ACL SAVE`; empty: users live in memory only."),
    ("maxclients", "Most client connections; one more gets `-ERR max number of clients reached`."),
    ("timeout", "Close connections idle for this many seconds (0: never)."),
    ("proto-max-bulk-len", "Largest single argument a client may send, in bytes."),
    ("client-query-buffer-limit", "Largest unparsed input kept per connection, in bytes; beyond it the connection is closed."),
    ("client-output-buffer-limit", "Per client class: `<class> <hard bytes> <soft bytes> <soft seconds>` (Redis's format). The pubsub hard limit disconnects a slow subscriber; `slave` bounds MONITOR output."),
    ("slowlog-log-slower-than", "Commands taking at least this many microseconds enter SLOWLOG (negative: off; 0: all)."),
    ("slowlog-max-len", "SLOWLOG entries kept."),
    ("latency-monitor-threshold", "Commands taking at least this many milliseconds become LATENCY samples (0: off)."),
    ("notify-keyspace-events", "Keyspace notification classes in Redis's letters (`KEA`, `Kx`, ...; empty: off)."),
    ("appendfsync", "When writes are acknowledged relative to the disk: `always` (fsync before the reply, group commit), `everysec` (a machine crash loses at most 1 s), `no` (survives process crashes only)."),
    ("hz", "Active expiry cycles per second."),
    ("loglevel", "`debug`, `verbose`, `notice`, `warning` or `nothing`; `RUST_LOG` overrides it with tracing filters."),
    ("log-format", "`text` (human-readable lines) or `json` (one object per line)."),
    ("tls-port", "Port of a TLS listener for clients, beside the plain one (0: no TLS). Test it with `redis-cli --tls`."),
    ("tls-cert-file", "PEM certificate chain the TLS listener presents."),
    ("tls-key-file", "PEM private key of that certificate."),
    ("tls-ca-cert-file", "PEM CA that client certificates must be signed by (needed unless `tls-auth-clients` is `no`)."),
    ("tls-auth-clients", "`yes`: TLS clients must present a certificate signed by the CA; `optional`: checked if presented; `no`: not asked for."),
    ("tls-cluster", "`true` (`--tls-cluster yes`; CONFIG GET says `yes`): mutual TLS on the cluster transport (Raft, forwarded commands, pub/sub relay) with `tls-cert-file`/`tls-key-file`; a peer must present a certificate signed by `tls-ca-cert-file`. Its name is not checked: the CA defines the cluster."),
    ("metrics-addr", "Where the Prometheus/OpenMetrics endpoint listens (`GET /metrics`); empty: off. Unauthenticated: keep it on loopback or a private network."),
    ("storage-queue-depth", "Bound of the queue between the network and storage runtimes, in requests; a full queue holds connections back (backpressure)."),
    ("block-cache-bytes", "RocksDB block cache size."),
    ("write-buffer-bytes", "RocksDB memtable size per column family, for the data and the Raft log; RocksDB also reserves about this much disk for each new WAL file. At least 65536."),
    ("io-threads", "Network runtime threads (connections, RESP); 0: one fewer than the CPU cores, at least 1."),
    ("cluster.node-id", "This node's Raft id, unique in the cluster, > 0."),
    ("cluster.raft-addr", "Address peers dial to reach this node's Raft transport (recorded in the membership)."),
    ("cluster.raft-listen-addr", "Address the Raft transport listens on; empty = `raft-addr`. Set it when peers reach the node through something in between: NAT, a container port mapping, the Jepsen harness's fault-injecting proxy."),
    ("cluster.advertise-addr", "RESP address clients should use for this node (`-MOVED`, RAFT.LEADER); empty: `bind:port`."),
    ("cluster.election-timeout-ms", "Raft election timeout (the randomized timeout is between this and twice this)."),
    ("cluster.heartbeat-interval-ms", "Leader heartbeat interval; must be below the election timeout."),
    ("cluster.request-timeout-ms", "Longest a client waits for the cluster before `-TIMEOUT` or `-CLUSTERDOWN`."),
    ("cluster.snapshot-logs", "Build a snapshot after this many log entries."),
    ("cluster.snapshot-keep-logs", "Log entries kept behind a snapshot (a follower further behind is sent the snapshot)."),
    ("cluster.secret", "Shared secret: peers prove they know it (HMAC challenge-response) before any Raft traffic, so a stranger can neither join nor send Raft messages. Empty: no authentication. Not encryption."),
    ("cluster.follower-mode", "`forward`: followers pass commands to the leader; `moved`: they answer `-MOVED 0 <leader>`."),
];

/// Every key with its TOML default, in the structs' order.
fn keys_with_defaults() -> Vec<(String, String)> {
    let all = Config {
        cluster: Some(ClusterConfig::default()),
        ..Config::default()
    };
    let text = toml::to_string(&all).unwrap_or_default();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
        } else if let Some((k, v)) = line.split_once(" = ") {
            keys.push((format!("{section}{k}"), v.to_string()));
        }
    }
    keys
}

/// `docs/configuration.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from Kiwi's config structs by `kiwi-cmd`'s\n\
         `config_reference` test; edit `kiwi/cmd/src/config_reference.rs`, then run\n\
         `KIWI_WRITE_DOCS=1 cargo test -p kiwi-cmd config_reference`.\n\n\
         Settings come from defaults, then the TOML file (`kiwi-server -c FILE`,\n\
         see `config.example.toml`), then command-line flags (`kiwi-server --help`).\n\
         Names are Redis's: `CONFIG GET` shows them, `CONFIG SET` changes the ones\n\
         marked *runtime*, and `CONFIG REWRITE` writes them back to the file.\n\
         Keys under `cluster.` go in the `[cluster]` section; without it the\n\
         server runs standalone.\n\n\
         | key | default | changeable | what it does |\n|---|---|---|---|\n",
    );
    for (key, default) in keys_with_defaults() {
        let changeable = match Config::settable(&key) {
            Some(true) => "runtime",
            Some(false) => "at startup",
            None => "at startup (file only)",
        };
        let what = DESCRIPTIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("(undocumented)", |(_, d)| d);
        out.push_str(&format!(
            "| `{key}` | `{default}` | {changeable} | {what} |\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_described_and_every_description_is_a_key() {
        let keys: Vec<String> = keys_with_defaults().into_iter().map(|(k, _)| k).collect();
        for key in &keys {
            assert!(
                DESCRIPTIONS.iter().any(|(k, _)| k == key),
                "config key {key} has no description in config_reference.rs"
            );
        }
        for (key, _) in DESCRIPTIONS {
            assert!(
                keys.iter().any(|k| k == key),
                "{key} is described but is not a config key"
            );
        }
    }

    #[test]
    fn config_reference_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let want = markdown();
        if std::env::var_os("KIWI_WRITE_DOCS").is_some() {
            std::fs::write(path, &want).expect("write docs/configuration.md");
        }
        let got = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            got == want,
            "docs/configuration.md is stale: run KIWI_WRITE_DOCS=1 cargo test -p kiwi-cmd config_reference"
        );
    }
}
