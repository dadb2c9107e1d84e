//! Pub/sub on the connection side: this connection's channels and
//! patterns, the replies of (P)SUBSCRIBE / (P)UNSUBSCRIBE / PUBLISH /
//! PUBSUB, and the shape of delivered messages (arrays in RESP2, push
//! frames in RESP3). The registry and delivery are `kiwi_cmd::pubsub`.

use std::collections::BTreeSet;

use bytes::Bytes;
use kiwi_cmd::args::lower;
use kiwi_cmd::error::{unknown_subcommand, wrong_arity};
use kiwi_cmd::pubsub::{subscriber, Inbox, Message, MessageKind, Subscriber};
use kiwi_cmd::Shared;
use kiwi_resp::{Frame, Protocol};

use crate::connection::{ConnDeps, ConnState};

/// Messages written out per wake-up at most, so one busy channel cannot
/// keep a connection from reading its client's commands.
pub const DRAIN_MAX_MESSAGES: usize = 256;

/// A connection's subscriptions (created at its first SUBSCRIBE).
pub struct Subscriptions {
    sub: Subscriber,
    inbox: Inbox,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    /// After MONITOR: the inbox also carries one line per command run.
    monitoring: bool,
}

impl Subscriptions {
    fn new(state: &ConnState) -> Subscriptions {
        let (sub, inbox) = subscriber(state.client.clone());
        Subscriptions {
            sub,
            inbox,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            monitoring: false,
        }
    }

    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// Whether the connection is in subscribed mode (RESP2 then accepts only
/// the pub/sub commands, PING, QUIT and RESET).
pub fn subscribed(state: &ConnState) -> bool {
    state.pubsub.as_ref().is_some_and(|s| s.count() > 0)
}

/// Whether the connection waits for pushed data (subscribed or MONITOR):
/// the idle timeout spares it.
pub fn listening(state: &ConnState) -> bool {
    subscribed(state) || state.pubsub.as_ref().is_some_and(|s| s.monitoring)
}

/// Gives the connection its queue (at connect, and again after RESET):
/// published messages, MONITOR lines and tracking invalidations arrive there.
pub fn open_inbox(state: &mut ConnState, shared: &Shared) {
    if state.pubsub.is_none() {
        let subs = Subscriptions::new(state);
        shared.pubsub.register_inbox(&subs.sub);
        state.pubsub = Some(subs);
    }
}

/// The connection is closing: leaves everything and drops its queue.
pub fn close(state: &mut ConnState, shared: &Shared) {
    unsubscribe_all(state, shared);
    shared.tracking.disable(state.client.id);
    shared.pubsub.unregister_inbox(state.client.id);
    state.pubsub = None;
}

/// CLIENT TRACKING's invalidations go to this queue: the connection's own,
/// or its REDIRECT client's (`None` if that client is gone).
pub fn tracking_target(
    state: &ConnState,
    shared: &Shared,
    redirect: Option<u64>,
) -> Option<Subscriber> {
    match redirect {
        Some(id) => shared.pubsub.inbox_of(id),
        None => state.pubsub.as_ref().map(|s| s.sub.clone()),
    }
}

/// MONITOR: from now on this connection receives a line per command.
pub fn monitor(state: &mut ConnState, shared: &Shared) -> Frame {
    if state.pubsub.is_none() {
        state.pubsub = Some(Subscriptions::new(state));
    }
    if let Some(subs) = state.pubsub.as_mut() {
        subs.monitoring = true;
        shared.pubsub.add_monitor(&subs.sub);
    }
    Frame::ok()
}

/// Commands a RESP2 connection in subscribed mode may run.
pub fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
    )
}

/// Redis's error for any other command in subscribed mode.
pub fn not_allowed(name: &str) -> Frame {
    Frame::error(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// PING in RESP2 subscribed mode: `["pong", <arg or "">]`.
pub fn subscribed_ping(args: &[Bytes]) -> Frame {
    let arg = args.get(1).cloned().unwrap_or_default();
    Frame::Array(vec![Frame::bulk("pong"), Frame::Bulk(arg)])
}

/// The next message for this connection; pending forever if it has no subscriptions.
pub async fn next_message(subs: &mut Option<Subscriptions>) -> Option<Message> {
    match subs {
        Some(s) => s.inbox.recv().await,
        None => std::future::pending().await,
    }
}

/// More queued messages, without waiting.
pub fn try_next_message(subs: &mut Option<Subscriptions>) -> Option<Message> {
    subs.as_mut().and_then(|s| s.inbox.try_recv())
}

/// What the client sees of a delivered message, MONITOR line or tracking
/// invalidation (`None`: nothing, as Redis sends no invalidation to a RESP2
/// connection that is not in pub/sub mode).
pub fn message_frame(state: &ConnState, msg: Message) -> Option<Frame> {
    let proto = state.proto;
    let invalidated = match msg.kind {
        MessageKind::Monitor => return Some(Frame::Simple(msg.payload)),
        MessageKind::Published => None,
        MessageKind::Invalidate => Some(Frame::Array(vec![Frame::Bulk(msg.payload.clone())])),
        MessageKind::InvalidateAll => Some(Frame::Null),
    };
    if let Some(keys) = invalidated {
        return match proto {
            Protocol::Resp3 => Some(Frame::Push(vec![Frame::bulk("invalidate"), keys])),
            Protocol::Resp2 if subscribed(state) => Some(Frame::Array(vec![
                Frame::bulk("message"),
                Frame::bulk(TRACKING_CHANNEL),
                keys,
            ])),
            Protocol::Resp2 => None,
        };
    }
    let parts = match msg.pattern {
        Some(p) => vec![
            Frame::bulk("pmessage"),
            Frame::Bulk(p),
            Frame::Bulk(msg.channel),
            Frame::Bulk(msg.payload),
        ],
        None => vec![
            Frame::bulk("message"),
            Frame::Bulk(msg.channel),
            Frame::Bulk(msg.payload),
        ],
    };
    Some(push(proto, parts))
}

/// Writes out what is queued for the connection now (at most
/// [`DRAIN_MAX_MESSAGES`]), so it reaches the client before the replies
/// that follow.
pub fn drain_into(state: &mut ConnState, out: &mut bytes::BytesMut) {
    for _ in 0..DRAIN_MAX_MESSAGES {
        let Some(msg) = try_next_message(&mut state.pubsub) else {
            break;
        };
        if let Some(frame) = message_frame(state, msg) {
            frame.encode(state.proto, out);
        }
    }
}

/// The channel RESP2 clients receive redirected invalidations on.
pub const TRACKING_CHANNEL: &str = "__redis__:invalidate";

fn push(proto: Protocol, parts: Vec<Frame>) -> Frame {
    match proto {
        Protocol::Resp3 => Frame::Push(parts),
        Protocol::Resp2 => Frame::Array(parts),
    }
}

/// Runs a pub/sub command; one reply frame per element (SUBSCRIBE a b
/// answers twice).
pub fn execute(state: &mut ConnState, deps: &ConnDeps, name: &str, args: &[Bytes]) -> Vec<Frame> {
    let shared = &deps.shared;
    match name {
        "subscribe" | "psubscribe" => {
            let pattern = name == "psubscribe";
            if state.pubsub.is_none() {
                state.pubsub = Some(Subscriptions::new(state));
            }
            let Some(subs) = state.pubsub.as_mut() else {
                return Vec::new();
            };
            let mut replies = Vec::with_capacity(args.len() - 1);
            for ch in &args[1..] {
                // Subscribing twice is harmless and answered the same way.
                shared.pubsub.subscribe(&subs.sub, ch, pattern);
                let set = if pattern {
                    &mut subs.patterns
                } else {
                    &mut subs.channels
                };
                set.insert(ch.clone());
                replies.push(push(
                    state.proto,
                    vec![
                        Frame::bulk(name.to_string()),
                        Frame::Bulk(ch.clone()),
                        Frame::Integer(subs.count() as i64),
                    ],
                ));
            }
            replies
        }
        "unsubscribe" | "punsubscribe" => {
            let pattern = name == "punsubscribe";
            let named: Vec<Bytes> = match (&state.pubsub, args.len()) {
                (_, n) if n > 1 => args[1..].to_vec(),
                (Some(s), _) => {
                    let set = if pattern { &s.patterns } else { &s.channels };
                    set.iter().cloned().collect()
                }
                (None, _) => Vec::new(),
            };
            let id = state.client.id;
            let mut replies = Vec::new();
            for ch in &named {
                shared.pubsub.unsubscribe(id, ch, pattern);
                let count = match state.pubsub.as_mut() {
                    Some(s) => {
                        let set = if pattern {
                            &mut s.patterns
                        } else {
                            &mut s.channels
                        };
                        set.remove(ch);
                        s.count()
                    }
                    None => 0,
                };
                replies.push(push(
                    state.proto,
                    vec![
                        Frame::bulk(name.to_string()),
                        Frame::Bulk(ch.clone()),
                        Frame::Integer(count as i64),
                    ],
                ));
            }
            if replies.is_empty() {
                // Nothing to leave: one reply with a null channel, as Redis.
                let count = state.pubsub.as_ref().map_or(0, |s| s.count());
                replies.push(push(
                    state.proto,
                    vec![
                        Frame::bulk(name.to_string()),
                        Frame::Null,
                        Frame::Integer(count as i64),
                    ],
                ));
            }
            replies
        }
        "publish" => vec![Frame::Integer(match &deps.cluster {
            // Every node's subscribers; the count is this node's (Redis Cluster).
            Some(cluster) => cluster.publish(&args[1], &args[2]),
            None => publish(shared, &args[1], &args[2]),
        })],
        "pubsub" => vec![pubsub_command(shared, args)],
        _ => vec![kiwi_cmd::error::unknown_command(args).into_frame()],
    }
}

/// Delivers to this node's subscribers; returns how many received it.
pub fn publish(shared: &Shared, channel: &Bytes, payload: &Bytes) -> i64 {
    let limit = shared.config().pubsub_output_limit_bytes();
    shared.pubsub.publish(channel, payload, limit)
}

/// Leaves every channel and pattern, and stops monitoring (RESET, disconnect).
pub fn unsubscribe_all(state: &mut ConnState, shared: &Shared) {
    if let Some(subs) = state.pubsub.as_mut() {
        if subs.monitoring {
            shared.pubsub.remove_monitor(state.client.id);
            subs.monitoring = false;
        }
        for ch in &subs.channels {
            shared.pubsub.unsubscribe(state.client.id, ch, false);
        }
        for p in &subs.patterns {
            shared.pubsub.unsubscribe(state.client.id, p, true);
        }
        subs.channels.clear();
        subs.patterns.clear();
    }
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Print this help.",
];

fn pubsub_command(shared: &Shared, args: &[Bytes]) -> Frame {
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("channels", 2 | 3) => Frame::Array(
            shared
                .pubsub
                .channels(args.get(2).map(|p| &p[..]))
                .into_iter()
                .map(Frame::Bulk)
                .collect(),
        ),
        ("numsub", _) => {
            let mut out = Vec::with_capacity((args.len() - 2) * 2);
            for ch in &args[2..] {
                out.push(Frame::Bulk(ch.clone()));
                out.push(Frame::Integer(shared.pubsub.numsub(ch) as i64));
            }
            Frame::Array(out)
        }
        ("numpat", 2) => Frame::Integer(shared.pubsub.numpat() as i64),
        ("help", 2) => Frame::Array(
            PUBSUB_HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
                .collect(),
        ),
        ("channels" | "numpat" | "help", _) => wrong_arity(&format!("pubsub|{sub}")).into_frame(),
        _ => unknown_subcommand(&args[1], "PUBSUB").into_frame(),
    }
}
