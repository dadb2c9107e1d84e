//! Linearizability, one key at a time (Herlihy & Wing's locality: a history
//! is linearizable iff each key's sub-history is).
//!
//! The search is Wing & Gong's, with Lowe's memoisation (as in Porcupine):
//! walk the call/return events in time order; at a call, try to linearize
//! that operation now (the model accepts its reply and the pair (set of
//! linearized operations, state) is new); at a return whose operation is
//! not linearized yet, undo the most recent choice. The history is
//! linearizable once every completed operation is linearized. Operations with
//! an unknown outcome have no return event: they may be linearized at any
//! point after their call, or never.
//!
//! The search is exponential in the worst case, so it runs under a step
//! budget and says [`Verdict::Unknown`] when the budget runs out.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Write as _;

use crate::history::{Call, History, Op, Outcome, Ret};
use crate::model::State;

/// What the search concluded for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations explains the replies.
    NotLinearizable,
    /// The step budget ran out first.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct KeyReport {
    pub key: String,
    pub verdict: Verdict,
    pub ops: usize,
    /// Search steps taken.
    pub steps: u64,
    /// On failure: the operations of the longest linearized prefix the
    /// search found, then the operation it could not place.
    pub explanation: String,
    /// On failure: the longest linearization found, as indices into this
    /// key's operations (the history's operations on `key`, in history
    /// order).
    pub longest: Vec<usize>,
    /// On failure: the operation that could not follow `longest`.
    pub stuck: Option<usize>,
    /// On failure: the earliest time by which the key's history was
    /// already impossible — the shortest prefix that is not linearizable
    /// ([`earliest_failure`]). `longest`, `stuck` and `explanation` are
    /// that prefix's.
    pub failed_by_ns: Option<u64>,
}

impl KeyReport {
    /// Re-points `longest` and `stuck` from a subset of the key's
    /// operations to the whole: `kept[i]` is subset operation `i`'s index.
    fn index_into(&mut self, kept: &[usize]) {
        for i in self.longest.iter_mut().chain(self.stuck.as_mut()) {
            *i = kept[*i];
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub keys: Vec<KeyReport>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.keys.iter().all(|k| k.verdict == Verdict::Linearizable)
    }

    /// The first key that is not linearizable (or not decided).
    pub fn first_failure(&self) -> Option<&KeyReport> {
        self.keys
            .iter()
            .find(|k| k.verdict != Verdict::Linearizable)
    }
}

/// How far apart the clocks of processes on one machine may be (the
/// servers' wall clocks and the harness's): rounding to milliseconds.
pub const SAME_HOST_CLOCK_ERROR_MS: u64 = 50;

/// Checks every key of `history`, each with `budget_steps` search steps;
/// the servers' clocks are the machine's ([`SAME_HOST_CLOCK_ERROR_MS`]).
pub fn check(history: &History, budget_steps: u64) -> Report {
    check_with_clock_error(history, budget_steps, SAME_HOST_CLOCK_ERROR_MS)
}

/// [`check`] for servers whose wall clocks may be `clock_error_ms` apart
/// (from each other and from the clients' clock): expiring keys are judged
/// with that slack ([`crate::expiring`]).
pub fn check_with_clock_error(history: &History, budget_steps: u64, clock_error_ms: u64) -> Report {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let keys = by_key
        .into_iter()
        .map(|(key, ops)| {
            if crate::expiring::is_expiring(&ops) {
                crate::expiring::check_expiring(key, &ops, clock_error_ms)
            } else {
                check_key(key, &ops, budget_steps)
            }
        })
        .collect();
    Report { keys }
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Call(usize),
    Return(usize),
}

/// The events of one key as a doubly linked list (index 0 is the head
/// sentinel) so that linearized operations can be lifted out and put back.
struct Events {
    events: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Per operation: its call node and its return node (if completed).
    call_node: Vec<usize>,
    return_node: Vec<Option<usize>>,
}

const NIL: usize = usize::MAX;

impl Events {
    fn new(ops: &[&Op]) -> Events {
        // (time, returns after calls at equal times, op): an operation that
        // returns at the instant another is invoked counts as concurrent
        // with it, the weaker (never wrongly failing) reading.
        let mut timed: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            timed.push((op.invoke_ns, 0, i));
            if let Some(t) = op.complete_ns {
                timed.push((t, 1, i));
            }
        }
        timed.sort_unstable();
        let n = timed.len() + 1;
        let mut events = Vec::with_capacity(n);
        events.push(Event::Call(usize::MAX)); // head sentinel, never read
        let mut call_node = vec![0; ops.len()];
        let mut return_node = vec![None; ops.len()];
        for (node, &(_, kind, i)) in timed.iter().enumerate().map(|(k, e)| (k + 1, e)) {
            if kind == 0 {
                call_node[i] = node;
                events.push(Event::Call(i));
            } else {
                return_node[i] = Some(node);
                events.push(Event::Return(i));
            }
        }
        let next = (0..n)
            .map(|k| if k + 1 < n { k + 1 } else { NIL })
            .collect();
        let prev = (0..n).map(|k| if k == 0 { NIL } else { k - 1 }).collect();
        Events {
            events,
            next,
            prev,
            call_node,
            return_node,
        }
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    /// Puts back a node removed by `unlink`; nodes must be relinked in the
    /// reverse order of their removal.
    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(self.call_node[op]);
        if let Some(r) = self.return_node[op] {
            self.unlink(r);
        }
    }

    fn unlift(&mut self, op: usize) {
        if let Some(r) = self.return_node[op] {
            self.relink(r);
        }
        self.relink(self.call_node[op]);
    }
}

/// Checks the operations of one key: first sets aside the unknown writes
/// nobody could have seen ([`unobserved_unknowns`]), then searches.
pub fn check_key(key: &str, all_ops: &[&Op], budget_steps: u64) -> KeyReport {
    let report = check_key_whole(key, all_ops, budget_steps);
    if report.verdict != Verdict::NotLinearizable {
        return report;
    }
    match earliest_failure(key, all_ops, budget_steps) {
        Some((t, mut narrowed)) => {
            narrowed.steps += report.steps;
            narrowed.ops = all_ops.len();
            narrowed.failed_by_ns = Some(t);
            narrowed
        }
        None => report,
    }
}

/// The history as it stood at `t`: operations invoked by then, those not
/// complete by then unknown. Indices into `ops` of the ones kept.
pub fn prefix_at(ops: &[&Op], t: u64) -> (Vec<Op>, Vec<usize>) {
    let mut prefix = Vec::new();
    let mut kept = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.invoke_ns > t {
            continue;
        }
        let mut op = (*op).clone();
        if op.complete_ns.is_some_and(|c| c > t) {
            op.complete_ns = None;
            op.outcome = Outcome::Unknown;
        }
        prefix.push(op);
        kept.push(i);
    }
    (prefix, kept)
}

/// The earliest completion time `t` such that the history as it stood at
/// `t` ([`prefix_at`]) is already not linearizable, with that prefix's
/// report (indices mapped back to `ops`); `None` if no prefix is decided
/// within the budget.
///
/// Sound: if the whole history has a linearization, every prefix has one
/// (keep the order up to the first operation invoked after `t`; every
/// operation after it in that order completed after `t`, so it is unknown
/// in the prefix and may be left out). For the same reason a prefix that is
/// not linearizable stays so as `t` grows, so a binary search over the
/// completion times finds the earliest.
pub fn earliest_failure(key: &str, ops: &[&Op], budget_steps: u64) -> Option<(u64, KeyReport)> {
    let mut times: Vec<u64> = ops.iter().filter_map(|o| o.complete_ns).collect();
    times.sort_unstable();
    times.dedup();
    let fails_at = |t: u64| {
        let (prefix, kept) = prefix_at(ops, t);
        let refs: Vec<&Op> = prefix.iter().collect();
        let mut report = check_key_whole(key, &refs, budget_steps);
        (report.verdict == Verdict::NotLinearizable).then(|| {
            report.index_into(&kept);
            report
        })
    };
    // Invariant: no prefix before times[lo] is known to fail; the one at
    // times[hi] (the whole history) does.
    let (mut lo, mut hi) = (0usize, times.len().checked_sub(1)?);
    let mut found = fails_at(times[hi])?;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match fails_at(times[mid]) {
            Some(r) => {
                hi = mid;
                found = r;
            }
            None => lo = mid + 1,
        }
    }
    Some((times[hi], found))
}

/// Checks all of one key's operations (no narrowing).
fn check_key_whole(key: &str, all_ops: &[&Op], budget_steps: u64) -> KeyReport {
    let dropped = unobserved_unknowns(all_ops);
    // Original index of each operation the search sees.
    let kept: Vec<usize> = (0..all_ops.len()).filter(|i| !dropped[*i]).collect();
    let ops: Vec<&Op> = kept.iter().map(|&i| all_ops[i]).collect();
    let mut report = search(key, &ops, budget_steps);
    report.ops = all_ops.len();
    report.index_into(&kept);
    report
}

/// The unknown writes that can be left out without changing the verdict:
/// an unknown operation may always not have happened, and one whose
/// written value no operation ever observed cannot have mattered.
///
/// * Registers (keys with only GET, SET, SET..GET and CAS): while the
///   register holds the unobserved value, a GET or SET..GET would return
///   it and a CAS would compare with it — all observations; only a blind
///   SET may follow, and it overwrites the value. So a linearization that
///   places the write stays valid with it removed.
/// * Sets (keys with only SADD and SMEMBERS): once added, a member shows in
///   every later SMEMBERS and makes a later SADD of it return 0; if none
///   does, removing the add changes no reply.
///
/// This keeps the search small when a cut-off node accepted writes that
/// never committed: each unknown write otherwise doubles the space.
pub fn unobserved_unknowns(ops: &[&Op]) -> Vec<bool> {
    let register = ops.iter().all(|o| {
        matches!(
            o.call,
            Call::Get | Call::Set(_) | Call::SetGet(_) | Call::Cas { .. }
        )
    });
    let set = ops
        .iter()
        .all(|o| matches!(o.call, Call::SAdd(_) | Call::SMembers));
    if !register && !set {
        return vec![false; ops.len()];
    }
    let mut observed: FxHashSet<&str> = FxHashSet::default();
    for o in ops {
        if let Call::Cas { from: Some(v), .. } = &o.call {
            observed.insert(v);
        }
        match (&o.call, &o.outcome) {
            (_, Outcome::Done(Ret::Bulk(Some(v)))) => {
                observed.insert(v);
            }
            (_, Outcome::Done(Ret::List(items))) => {
                observed.extend(items.iter().map(String::as_str))
            }
            (Call::SAdd(v), Outcome::Done(Ret::Int(0))) => {
                observed.insert(v);
            }
            _ => {}
        }
    }
    ops.iter()
        .map(|o| {
            let written = match &o.call {
                Call::Set(v) | Call::SetGet(v) | Call::SAdd(v) => v,
                Call::Cas { to, .. } => to,
                _ => return false,
            };
            o.outcome == Outcome::Unknown && !observed.contains(written.as_str())
        })
        .collect()
}

/// The Wing–Gong–Lowe search over `ops` (one key), nothing set aside.
/// Public so tests can check that setting aside changes no verdict.
pub fn search(key: &str, ops: &[&Op], budget_steps: u64) -> KeyReport {
    let mut events = Events::new(ops);
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    // Memo of visited configurations: the linearized set's words followed
    // by the interned state's id (looked up through `probe`, no allocation).
    let mut seen: FxHashSet<Vec<u64>> = FxHashSet::default();
    let mut state_ids: FxHashMap<State, u64> = FxHashMap::default();
    let mut probe: Vec<u64> = Vec::with_capacity(words + 1);
    // (op, state before it) for every linearized operation, in order.
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state = State::Absent;
    let mut open_returns = events.return_node.iter().flatten().count();
    let mut longest: Vec<usize> = Vec::new();
    let mut stuck_at: Option<usize> = None;
    let mut steps = 0u64;
    let mut node = events.next[0];

    let verdict = loop {
        if open_returns == 0 {
            break Verdict::Linearizable;
        }
        if steps >= budget_steps {
            break Verdict::Unknown;
        }
        steps += 1;
        // Every completed operation not yet linearized has a return node
        // still in the list, so the walk meets one before the end.
        assert_ne!(node, NIL, "walked past an open return event");
        match events.events[node] {
            Event::Call(i) => {
                let ret = match &ops[i].outcome {
                    Outcome::Done(r) => Some(r),
                    Outcome::Unknown => None,
                };
                let next_state = state.step(&ops[i].call, ret).filter(|s| {
                    let fresh = state_ids.len() as u64;
                    let id = *state_ids.entry(s.clone()).or_insert(fresh);
                    probe.clear();
                    probe.extend_from_slice(&linearized);
                    probe[i / 64] |= 1 << (i % 64);
                    probe.push(id);
                    !seen.contains(probe.as_slice()) && seen.insert(probe.clone())
                });
                match next_state {
                    Some(s) => {
                        stack.push((i, std::mem::replace(&mut state, s)));
                        linearized[i / 64] |= 1 << (i % 64);
                        if events.return_node[i].is_some() {
                            open_returns -= 1;
                        }
                        events.lift(i);
                        if stack.len() > longest.len() {
                            longest = stack.iter().map(|(op, _)| *op).collect();
                        }
                        node = events.next[0];
                    }
                    None => node = events.next[node],
                }
            }
            Event::Return(i) => {
                // `i` must be linearized before this point; undo the last choice.
                if stack.len() >= longest.len() {
                    // The deepest the search got: `i` is what it could not place.
                    stuck_at = Some(i);
                }
                let Some((j, before)) = stack.pop() else {
                    break Verdict::NotLinearizable;
                };
                state = before;
                linearized[j / 64] &= !(1 << (j % 64));
                if events.return_node[j].is_some() {
                    open_returns += 1;
                }
                events.unlift(j);
                node = events.next[events.call_node[j]];
            }
        }
    };

    let explanation = if verdict == Verdict::Linearizable {
        longest.clear();
        stuck_at = None;
        String::new()
    } else {
        explain(ops, &longest, stuck_at)
    };
    KeyReport {
        key: key.to_string(),
        verdict,
        ops: ops.len(),
        steps,
        explanation,
        longest,
        stuck: stuck_at,
        failed_by_ns: None,
    }
}

/// The longest linearization found (last 20 operations), then the
/// operation that could not follow it.
fn explain(ops: &[&Op], longest: &[usize], stuck_at: Option<usize>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "longest linearizable prefix: {} of {} operations; its last ones:",
        longest.len(),
        ops.len()
    );
    let mut state = State::Absent;
    for (k, &i) in longest.iter().enumerate() {
        let ret = match &ops[i].outcome {
            Outcome::Done(r) => Some(r),
            Outcome::Unknown => None,
        };
        if let Some(s) = state.step(&ops[i].call, ret) {
            state = s;
        }
        if k + 20 >= longest.len() {
            let _ = writeln!(out, "  {}   => {:?}", ops[i], state);
        }
    }
    if let Some(i) = stuck_at {
        let _ = writeln!(out, "cannot linearize: {}", ops[i]);
    }
    out
}
