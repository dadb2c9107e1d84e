//! The seeded fault injector: one fault at a time, chosen and timed by the
//! simulation's RNG, each healed before the next: network partitions
//! (random halves, an isolated node), node crash and restart (the data
//! directory survives), and long pauses. Every fault is logged with its
//! simulated time so a failing seed's report shows what happened when.

use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::Handle;
use madsim::task::NodeId;

use crate::workload::now;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The nodes on one side cannot reach those on the other (both ways).
    Partition { side: Vec<usize> },
    /// Killed (all in-memory state lost), restarted at heal time.
    Crash { node: usize },
    /// Stopped without losing anything, resumed at heal time.
    Pause { node: usize },
}

pub struct Nemesis {
    handle: Handle,
    servers: Vec<NodeId>,
    /// Longest a fault lasts; the gap between faults is up to half of it.
    pub max_fault_ms: u64,
    pub log: Vec<String>,
}

impl Nemesis {
    pub fn new(handle: Handle, servers: Vec<NodeId>) -> Nemesis {
        Nemesis {
            handle,
            servers,
            max_fault_ms: 5_000,
            log: Vec::new(),
        }
    }

    fn choose(&self) -> Fault {
        let mut rng = thread_rng();
        let n = self.servers.len();
        match rng.gen_range(0..4) {
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
            _ => Fault::Pause {
                node: rng.gen_range(0..n),
            },
        }
    }

    fn cut(&self, side: &[usize], clog: bool) {
        let net = NetSim::current();
        for a in 0..self.servers.len() {
            for b in 0..self.servers.len() {
                if side.contains(&a) && !side.contains(&b) {
                    let (x, y) = (self.servers[a], self.servers[b]);
                    if clog {
                        net.clog_link(x, y);
                        net.clog_link(y, x);
                    } else {
                        net.unclog_link(x, y);
                        net.unclog_link(y, x);
                    }
                }
            }
        }
    }

    fn apply(&self, fault: &Fault) {
        match fault {
            Fault::Partition { side } => self.cut(side, true),
            Fault::Crash { node } => self.handle.kill(self.servers[*node]),
            Fault::Pause { node } => self.handle.pause(self.servers[*node]),
        }
    }

    fn heal(&self, fault: &Fault) {
        match fault {
            Fault::Partition { side } => self.cut(side, false),
            Fault::Crash { node } => self.handle.restart(self.servers[*node]),
            Fault::Pause { node } => self.handle.resume(self.servers[*node]),
        }
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
            self.apply(&fault);
            madsim::time::sleep(Duration::from_millis(length)).await;
            self.heal(&fault);
            self.log
                .push(format!("{:>7.3}s healed", now().as_secs_f64()));
        }
    }
}
