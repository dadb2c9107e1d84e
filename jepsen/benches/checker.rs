//! How fast the checker decides a hard history: 10 000 operations by 10
//! concurrent clients on ONE register (no per-key split to help), generated
//! from a real sequential execution with overlapping calls and 1 % of the
//! writes left unknown. Linearizable by construction, so the search must
//! find a full linearization.
//!
//! `cargo bench -p kiwi-jepsen --bench checker` (prints ops, steps, time).

use kiwi_jepsen::{check, Call, History, Op, Outcome, Ret, State, Verdict};
use rand::{RngExt, SeedableRng};

const OPS: usize = 10_000;
const CLIENTS: u64 = 10;

fn history(seed: u64) -> History {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Each client runs its operations back to back; an operation takes
    // effect at a point between its invocation and its completion.
    let mut clock = vec![0u64; CLIENTS as usize];
    let mut planned: Vec<(u64, u64, u64, u64, Call)> = Vec::with_capacity(OPS);
    for n in 0..OPS {
        let c = rng.random_range(0..CLIENTS);
        let invoke = clock[c as usize] + rng.random_range(0..50);
        let point = invoke + rng.random_range(1..100);
        let complete = point + rng.random_range(1..100);
        clock[c as usize] = complete;
        let call = match rng.random_range(0..3) {
            0 => Call::Get,
            1 => Call::Set(format!("{c}.{n}")),
            _ => Call::SetGet(format!("{c}.{n}")),
        };
        planned.push((point, c, invoke, complete, call));
    }
    planned.sort_by_key(|p| p.0);
    let mut state = State::Absent;
    let mut h = History::default();
    for (process, (_, c, invoke, complete, call)) in planned.into_iter().enumerate() {
        let before = match &state {
            State::Str(s) => Some(s.clone()),
            _ => None,
        };
        let ret = match call {
            Call::Set(_) => Ret::Ok,
            _ => Ret::Bulk(before),
        };
        state = state
            .step(&call, None)
            .expect("a register accepts every call");
        let lost = !matches!(call, Call::Get) && rng.random_range(0..100) == 0;
        h.push(Op {
            process: c * 1_000_000 + process as u64,
            key: "r".into(),
            call,
            invoke_ns: invoke,
            complete_ns: (!lost).then_some(complete),
            outcome: if lost {
                Outcome::Unknown
            } else {
                Outcome::Done(ret)
            },
        });
    }
    h
}

fn main() {
    for seed in 1..=3 {
        let h = history(seed);
        // The runtime layer's clock (real here: the bench is not simulated).
        let started = kiwi_runtime::time::instant();
        let report = check(&h, 100_000_000);
        let took = started.elapsed();
        let key = &report.keys[0];
        assert_eq!(key.verdict, Verdict::Linearizable, "{}", key.explanation);
        println!(
            "seed {seed}: {} ops ({} unknown), {} clients, one key: {:?} in {} steps, {:.3} s",
            h.ops.len(),
            h.unknown(),
            CLIENTS,
            key.verdict,
            key.steps,
            took.as_secs_f64()
        );
    }
}
