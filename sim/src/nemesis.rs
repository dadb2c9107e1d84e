//! The seeded fault injector: one fault at a time, chosen and timed by the
//! simulation's RNG, each healed before the next: network partitions
//! (random halves, an isolated node), a lossy and slow network (madsim's
//! TCP retransmits lost packets: loss shows as delay), node crash and
//! restart (the data directory survives), long pauses, and membership
//! changes (a node removed, then added back with its old data), and wall
//! clocks that disagree: every node starts with its own error of up to
//! [`MAX_CLOCK_SKEW_MS`] either way, and a clock step moves one node's
//! clock (forward or back) for the rest of the run. Every fault
//! is logged with its simulated time so a failing seed's report shows what
//! happened when.

use std::time::Duration;

use kiwi_jepsen::client::call_until_ok;
use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;

use crate::cluster::{raft_addr, resp_addr, set_link};
use crate::now;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The nodes on one side cannot reach those on the other (both ways).
    Partition { side: Vec<usize> },
    /// Killed (all in-memory state lost), restarted at heal time.
    Crash { node: usize },
    /// Stopped without losing anything, resumed at heal time.
    Pause { node: usize },
    /// Every packet lost with probability `loss_pct` %, latency up to
    /// `latency_ms`; the default network at heal time.
    Lossy { loss_pct: u32, latency_ms: u64 },
    /// `RAFT.NODE REMOVE`, then `RAFT.NODE ADD` at heal time.
    Remove { node: usize },
    /// The node's wall clock is stepped to `skew_ms` off the true time and
    /// stays there (healing leaves it: a stepped clock is not an outage).
    ClockStep { node: usize, skew_ms: i64 },
}

/// The largest wall-clock error of any node, either way; two nodes can be
/// twice this apart.
pub const MAX_CLOCK_SKEW_MS: i64 = 500;

fn random_skew_ms() -> i64 {
    thread_rng().gen_range(-MAX_CLOCK_SKEW_MS..=MAX_CLOCK_SKEW_MS)
}

pub struct Nemesis {
    handle: Handle,
    servers: Vec<NodeId>,
    /// The node admin commands (membership changes) are sent from.
    admin: NodeHandle,
    /// Longest a fault lasts; the gap between faults is up to half of it.
    pub max_fault_ms: u64,
    pub log: Vec<String>,
}

impl Nemesis {
    /// A nemesis for `servers`; gives each its initial clock error.
    pub fn new(handle: Handle, servers: Vec<NodeId>, admin: NodeHandle) -> Nemesis {
        let mut log = Vec::new();
        for (i, node) in servers.iter().enumerate() {
            let skew_ms = random_skew_ms();
            kiwi_runtime::time::set_clock_skew_ms(*node, skew_ms);
            log.push(format!(
                "{:>7.3}s node {} clock {skew_ms:+} ms",
                now().as_secs_f64(),
                i + 1
            ));
        }
        Nemesis {
            handle,
            servers,
            admin,
            max_fault_ms: 5_000,
            log,
        }
    }

    fn choose(&self) -> Fault {
        let mut rng = thread_rng();
        let n = self.servers.len();
        match rng.gen_range(0..7) {
            0 => {
                // A random non-empty proper subset: majority/minority or an
                // isolated node, depending on its size.
                let size = rng.gen_range(1..n);
                let mut side: Vec<usize> = (0..n).collect();
                while side.len() > size {
                    side.remove(rng.gen_range(0..side.len()));
                }
                Fault::Partition { side }
            }
            1 => Fault::Partition {
                side: vec![rng.gen_range(0..n)],
            },
            2 => Fault::Crash {
                node: rng.gen_range(0..n),
            },
            3 => Fault::Pause {
                node: rng.gen_range(0..n),
            },
            4 => Fault::Lossy {
                loss_pct: rng.gen_range(1..=30),
                latency_ms: rng.gen_range(10..=200),
            },
            5 => Fault::ClockStep {
                node: rng.gen_range(0..n),
                skew_ms: random_skew_ms(),
            },
            _ => Fault::Remove {
                node: rng.gen_range(0..n),
            },
        }
    }

    fn cut(&self, side: &[usize], clog: bool) {
        for a in 0..self.servers.len() {
            for b in 0..self.servers.len() {
                if side.contains(&a) && !side.contains(&b) {
                    set_link(self.servers[a], self.servers[b], clog);
                }
            }
        }
    }

    /// Applies `fault`; `false` if it could not be (a refused membership
    /// change), and then there is nothing to heal.
    async fn apply(&self, fault: &Fault) -> bool {
        match fault {
            Fault::Partition { side } => self.cut(side, true),
            Fault::Crash { node } => self.handle.kill(self.servers[*node]),
            Fault::Pause { node } => self.handle.pause(self.servers[*node]),
            Fault::Lossy {
                loss_pct,
                latency_ms,
            } => NetSim::current().update_config(|c| {
                c.packet_loss_rate = f64::from(*loss_pct) / 100.0;
                c.send_latency = Duration::from_millis(1)..Duration::from_millis(*latency_ms);
            }),
            Fault::Remove { node } => {
                let id = (*node + 1).to_string();
                let args = vec!["RAFT.NODE".to_string(), "REMOVE".to_string(), id];
                return self.admin(args, Duration::from_secs(10)).await;
            }
            Fault::ClockStep { node, skew_ms } => {
                kiwi_runtime::time::set_clock_skew_ms(self.servers[*node], *skew_ms)
            }
        }
        true
    }

    async fn heal(&self, fault: &Fault) {
        match fault {
            Fault::Partition { side } => self.cut(side, false),
            Fault::Crash { node } => self.handle.restart(self.servers[*node]),
            Fault::Pause { node } => self.handle.resume(self.servers[*node]),
            Fault::Lossy { .. } => NetSim::current().update_config(|c| *c = Default::default()),
            Fault::ClockStep { .. } => {}
            Fault::Remove { node } => {
                let n = (*node + 1) as u8;
                let args = vec![
                    "RAFT.NODE".to_string(),
                    "ADD".to_string(),
                    n.to_string(),
                    raft_addr(n),
                    resp_addr(n),
                ];
                // The node must come back, or later faults would find a
                // two-node cluster that any single fault stops.
                assert!(
                    self.admin(args, Duration::from_secs(120)).await,
                    "node {n} could not be added back within 120 s"
                );
            }
        }
    }

    /// Sends an admin command through any server until one answers `+OK`,
    /// within `patience`; `false` if none did.
    async fn admin(&self, args: Vec<String>, patience: Duration) -> bool {
        let servers: Vec<String> = (1..=self.servers.len() as u8).map(resp_addr).collect();
        let call =
            async move { call_until_ok(&servers, &args, Duration::from_secs(5), patience).await };
        self.admin.spawn(call).await.unwrap_or(false)
    }

    /// Injects faults until `until` (simulated time); every fault is healed
    /// when this returns.
    pub async fn run(&mut self, until: Duration) {
        loop {
            let gap = thread_rng().gen_range(0..=self.max_fault_ms / 2);
            madsim::time::sleep(Duration::from_millis(gap)).await;
            if now() >= until {
                return;
            }
            let fault = self.choose();
            let length = thread_rng().gen_range(100..=self.max_fault_ms);
            self.log.push(format!(
                "{:>7.3}s {fault:?} for {length} ms",
                now().as_secs_f64()
            ));
            if !self.apply(&fault).await {
                self.log
                    .push(format!("{:>7.3}s refused", now().as_secs_f64()));
                continue;
            }
            madsim::time::sleep(Duration::from_millis(length)).await;
            self.heal(&fault).await;
            self.log
                .push(format!("{:>7.3}s healed", now().as_secs_f64()));
        }
    }
}
