//! Histories in Jepsen's EDN format: one map per event,
//! `{:index 0, :time 12345, :type :invoke, :process 0, :f :read, :value nil}`,
//! with `:type` one of `:invoke`, `:ok`, `:fail` (certainly did not happen)
//! and `:info` (may have happened). Kiwi writes its runs this way, and
//! `kiwi-jepsen check` reads histories written by Jepsen too.
//!
//! The `:f`/`:value` vocabulary depends on the [`Model`]:
//!
//! | model | operations |
//! |---|---|
//! | `register` | `:read v`, `:write v` (one register, starting at nil) |
//! | `cas-register` | as `register`, plus `:cas [from to]` |
//! | `kv` | `:get [k v]`, `:put [k v]`, `:append [k v]` (string append) |
//! | `list-append` | `:append [k v]`, `:read [k [v ...]]` |
//! | `kiwi` | what `kiwi-jepsen test` writes: `[k x]` with `:get v`, `:set v`, `:set-get [v old]`, `:cas [from to]`, `:incrby [n new]`, `:rpush [v len]`, `:lrange [v ...]`, `:rpush-lrange [v [v ...]]`, `:sadd [v added]`, `:smembers [v ...]` |
//!
//! `register` and `cas-register` take `independent` histories too (Jepsen's
//! `jepsen.independent`: every value a `[k v]` tuple, one register per k).
//! Scalars may be strings, integers or keywords; they compare as text.
//! Events are paired per process: a process has one operation in flight.

use std::collections::BTreeMap;
use std::str::FromStr;

use edn_format::{Keyword, Value};

use crate::history::{Call, History, Op, Outcome, Ret};

/// The sequential specification a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Register,
    CasRegister,
    Kv,
    ListAppend,
    Kiwi,
}

impl FromStr for Model {
    type Err = String;

    fn from_str(s: &str) -> Result<Model, String> {
        Ok(match s {
            "register" => Model::Register,
            "cas-register" => Model::CasRegister,
            "kv" => Model::Kv,
            "list-append" => Model::ListAppend,
            "kiwi" => Model::Kiwi,
            other => {
                return Err(format!(
                    "unknown model '{other}' (register, cas-register, kv, list-append, kiwi)"
                ))
            }
        })
    }
}

/// The key of a single (not independent) register.
const REGISTER_KEY: &str = "register";

fn kw(name: &str) -> Value {
    Value::Keyword(Keyword::from_name(name))
}

fn text(v: &str) -> Value {
    Value::String(v.to_string())
}

fn texts(vs: &[String]) -> Value {
    Value::Vector(vs.iter().map(|v| text(v)).collect())
}

fn opt_text(v: &Option<String>) -> Value {
    v.as_deref().map_or(Value::Nil, text)
}

/// `:f` and the invocation's and completion's `:value` of `op` (kiwi model).
fn kiwi_event(op: &Op) -> (&'static str, Value, Value) {
    let ret = match &op.outcome {
        Outcome::Done(r) => Some(r),
        Outcome::Unknown => None,
    };
    let bulk = || match ret {
        Some(Ret::Bulk(b)) => opt_text(b),
        _ => Value::Nil,
    };
    let int = || match ret {
        Some(Ret::Int(n)) => Value::Integer(*n),
        _ => Value::Nil,
    };
    let list = || match ret {
        Some(Ret::List(l)) => texts(l),
        _ => Value::Nil,
    };
    let pair = |a: Value, b: Value| Value::Vector(vec![a, b]);
    match &op.call {
        Call::Get => ("get", Value::Nil, bulk()),
        Call::Set(v) => ("set", text(v), text(v)),
        Call::SetPx { value, ttl_ms } => {
            let v = pair(text(value), Value::Integer(*ttl_ms as i64));
            ("set-px", v.clone(), v)
        }
        Call::SetGet(v) => ("set-get", pair(text(v), Value::Nil), pair(text(v), bulk())),
        Call::Cas { from, to } => {
            let v = pair(opt_text(from), text(to));
            ("cas", v.clone(), v)
        }
        Call::IncrBy(n) => (
            "incrby",
            pair(Value::Integer(*n), Value::Nil),
            pair(Value::Integer(*n), int()),
        ),
        Call::RPush(v) => ("rpush", pair(text(v), Value::Nil), pair(text(v), int())),
        Call::LRange => ("lrange", Value::Nil, list()),
        Call::RPushLRange(v) => (
            "rpush-lrange",
            pair(text(v), Value::Nil),
            pair(text(v), list()),
        ),
        Call::Append(v) => ("append", pair(text(v), Value::Nil), pair(text(v), int())),
        Call::SAdd(v) => ("sadd", pair(text(v), Value::Nil), pair(text(v), int())),
        Call::SMembers => ("smembers", Value::Nil, list()),
    }
}

/// One event line, its keys in the order Jepsen prints them.
fn event(index: usize, time_ns: u64, kind: &str, op: &Op, f: &str, value: Value) -> String {
    let value = Value::Vector(vec![text(&op.key), value]);
    format!(
        "{{:index {index}, :time {time_ns}, :type :{kind}, :process {}, :f :{f}, :value {}}}",
        op.process,
        edn_format::emit_str(&value)
    )
}

/// The history as EDN events in time order, one per line (kiwi model).
/// An operation whose outcome is unknown gets an `:info` completion at the
/// end of the history, as Jepsen records a crashed process.
pub fn write_history(history: &History) -> String {
    // (time, completion after invocation at equal times, op, completion?)
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(history.ops.len() * 2);
    let end = history
        .ops
        .iter()
        .map(|o| o.complete_ns.unwrap_or(o.invoke_ns))
        .max()
        .unwrap_or(0);
    for (i, op) in history.ops.iter().enumerate() {
        events.push((op.invoke_ns, 0, i));
        events.push((op.complete_ns.unwrap_or(end), 1, i));
    }
    events.sort_unstable();
    let mut out = String::new();
    for (index, &(time, done, i)) in events.iter().enumerate() {
        let op = &history.ops[i];
        let (f, invoke_value, complete_value) = kiwi_event(op);
        let line = match (done, &op.outcome) {
            (0, _) => event(index, time, "invoke", op, f, invoke_value),
            (_, Outcome::Done(_)) => event(index, time, "ok", op, f, complete_value),
            (_, Outcome::Unknown) => event(index, time, "info", op, f, invoke_value),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One parsed event.
struct Event {
    process: i64,
    kind: String,
    f: String,
    value: Value,
    time: u64,
}

fn field<'a>(m: &'a BTreeMap<Value, Value>, name: &str) -> Option<&'a Value> {
    m.get(&kw(name))
}

fn name_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Keyword(k) => Some(k.name().to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.name().to_string()),
        _ => None,
    }
}

fn parse_event(v: &Value, position: usize) -> Result<Event, String> {
    let Value::Map(m) = v else {
        return Err(format!("event {position}: not a map: {v}"));
    };
    let process = match field(m, "process") {
        Some(Value::Integer(p)) => *p,
        // Jepsen's nemesis events have a keyword process; they are not
        // client operations.
        Some(Value::Keyword(_)) => -1,
        other => return Err(format!("event {position}: bad :process {other:?}")),
    };
    let kind = name_of(field(m, "type")).ok_or_else(|| format!("event {position}: no :type"))?;
    let f = name_of(field(m, "f")).ok_or_else(|| format!("event {position}: no :f"))?;
    let time = match field(m, "time") {
        Some(Value::Integer(t)) if *t >= 0 => *t as u64,
        // Without times, the order of events is all there is.
        _ => position as u64,
    };
    Ok(Event {
        process,
        kind,
        f,
        value: field(m, "value").cloned().unwrap_or(Value::Nil),
        time,
    })
}

/// A scalar as text; `nil` is `None`.
fn scalar(v: &Value) -> Result<Option<String>, String> {
    Ok(match v {
        Value::Nil => None,
        Value::String(s) => Some(s.clone()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Keyword(k) => Some(k.name().to_string()),
        Value::Symbol(s) => Some(s.name().to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        other => return Err(format!("not a scalar: {other}")),
    })
}

fn some_scalar(v: &Value) -> Result<String, String> {
    scalar(v)?.ok_or_else(|| "a written value is nil".to_string())
}

fn list_of(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Vector(items) | Value::List(items) => items.iter().map(some_scalar).collect(),
        other => Err(format!("not a list: {other}")),
    }
}

fn pair_of(v: &Value) -> Result<(&Value, &Value), String> {
    match v {
        Value::Vector(items) | Value::List(items) if items.len() == 2 => Ok((&items[0], &items[1])),
        other => Err(format!("not a [a b] pair: {other}")),
    }
}

/// The key and the per-key value of an event's `:value`.
fn keyed(model: Model, independent: bool, value: &Value) -> Result<(String, Value), String> {
    let tuple = independent || !matches!(model, Model::Register | Model::CasRegister);
    if !tuple {
        return Ok((REGISTER_KEY.to_string(), value.clone()));
    }
    let (k, v) = pair_of(value)?;
    let key = some_scalar(k)?;
    Ok((key, v.clone()))
}

/// The call an invocation asks for, from its `:f` and per-key value.
fn call_of(model: Model, f: &str, v: &Value) -> Result<Call, String> {
    use Model::*;
    let first = |v: &Value| pair_of(v).and_then(|(a, _)| some_scalar(a));
    Ok(match (model, f) {
        (Register | CasRegister, "read") | (Kv, "get" | "read") | (Kiwi, "get") => Call::Get,
        (Register | CasRegister, "write") | (Kv, "put" | "write") | (Kiwi, "set") => {
            Call::Set(some_scalar(v)?)
        }
        (CasRegister | Kiwi, "cas") => {
            let (from, to) = pair_of(v)?;
            Call::Cas {
                from: scalar(from)?,
                to: some_scalar(to)?,
            }
        }
        (Kv, "append") => Call::Append(some_scalar(v)?),
        (ListAppend, "append") => Call::RPush(some_scalar(v)?),
        (ListAppend, "read") | (Kiwi, "lrange") => Call::LRange,
        (Kiwi, "set-get") => Call::SetGet(first(v)?),
        (Kiwi, "set-px") => {
            let (value, ttl) = pair_of(v)?;
            match ttl {
                Value::Integer(ms) if *ms >= 0 => Call::SetPx {
                    value: some_scalar(value)?,
                    ttl_ms: *ms as u64,
                },
                other => return Err(format!("set-px wants a TTL in ms, not {other:?}")),
            }
        }
        (Kiwi, "incrby") => Call::IncrBy(
            first(v)?
                .parse()
                .map_err(|_| format!("incrby by a non-integer: {v}"))?,
        ),
        (Kiwi, "rpush") => Call::RPush(first(v)?),
        (Kiwi, "rpush-lrange") => Call::RPushLRange(first(v)?),
        (Kiwi, "append") => Call::Append(first(v)?),
        (Kiwi, "sadd") => Call::SAdd(first(v)?),
        (Kiwi, "smembers") => Call::SMembers,
        (_, f) => {
            return Err(format!(
                ":f :{f} is not an operation of the {model:?} model"
            ))
        }
    })
}

/// What an `:ok` completion's per-key value says the operation returned.
fn ret_of(call: &Call, v: &Value) -> Result<Ret, String> {
    let second = |v: &Value| pair_of(v).map(|(_, b)| b.clone());
    let int_or_acked = |v: Value| match v {
        Value::Integer(n) => Ok(Ret::Int(n)),
        _ => Ok(Ret::Acked),
    };
    match call {
        Call::Get => Ok(Ret::Bulk(scalar(v)?)),
        Call::Set(_) | Call::SetPx { .. } | Call::Cas { .. } => Ok(Ret::Ok),
        Call::SetGet(_) => Ok(Ret::Bulk(scalar(&second(v)?)?)),
        Call::LRange | Call::SMembers => {
            let mut l = list_of(v)?;
            if *call == Call::SMembers {
                l.sort();
            }
            Ok(Ret::List(l))
        }
        Call::RPushLRange(_) => Ok(Ret::List(list_of(&second(v)?)?)),
        // Jepsen keeps the written value, not the reply: [k v] or v.
        Call::IncrBy(_) | Call::RPush(_) | Call::Append(_) | Call::SAdd(_) => match v {
            Value::Vector(_) | Value::List(_) => int_or_acked(second(v)?),
            _ => Ok(Ret::Acked),
        },
    }
}

/// Reads an EDN history (one event map per form, or one vector of them)
/// into per-key operations under `model`. A `:fail` completion drops its
/// operation (it did not happen); `:info`, or no completion at all, makes it
/// unknown.
pub fn read_history(input: &str, model: Model, independent: bool) -> Result<History, String> {
    let mut events = Vec::new();
    let parser = edn_format::Parser::from_str(input, edn_format::ParserOptions::default());
    for form in parser {
        let form = form.map_err(|e| format!("EDN: {e:?}"))?;
        match form {
            Value::Vector(items) | Value::List(items) => events.extend(items),
            other => events.push(other),
        }
    }
    // Per process: the invocation in flight (its key, call and time).
    let mut open: BTreeMap<i64, (String, Call, u64)> = BTreeMap::new();
    let mut history = History::default();
    for (position, raw) in events.iter().enumerate() {
        let e = parse_event(raw, position)?;
        if e.process < 0 {
            continue;
        }
        let at = |m: String| format!("event {position} (process {}): {m}", e.process);
        match e.kind.as_str() {
            "invoke" => {
                let (key, v) = keyed(model, independent, &e.value).map_err(at)?;
                let call = call_of(model, &e.f, &v).map_err(at)?;
                if open.insert(e.process, (key, call, e.time)).is_some() {
                    return Err(at("invoked while its previous operation is open".into()));
                }
            }
            "ok" | "fail" | "info" => {
                let (key, call, invoke_ns) = open
                    .remove(&e.process)
                    .ok_or_else(|| at(format!("{} without an invocation", e.kind)))?;
                let (complete_ns, outcome) = match e.kind.as_str() {
                    "fail" => continue,
                    "info" => (None, Outcome::Unknown),
                    _ => {
                        let (_, v) = keyed(model, independent, &e.value).map_err(at)?;
                        let ret = ret_of(&call, &v).map_err(at)?;
                        (Some(e.time.max(invoke_ns)), Outcome::Done(ret))
                    }
                };
                history.push(Op {
                    process: e.process as u64,
                    key,
                    call,
                    invoke_ns,
                    complete_ns,
                    outcome,
                });
            }
            other => return Err(at(format!("unknown :type :{other}"))),
        }
    }
    // Invocations never completed (the history ends first): unknown.
    for (process, (key, call, invoke_ns)) in open {
        history.push(Op {
            process: process as u64,
            key,
            call,
            invoke_ns,
            complete_ns: None,
            outcome: Outcome::Unknown,
        });
    }
    Ok(history)
}
