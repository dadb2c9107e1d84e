//! CLIENT TRACKING against a real redis-server: multi-client scenarios
//! (default mode, NOLOOP, BCAST with prefixes, OPTIN/OPTOUT with CLIENT
//! CACHING, FLUSHALL, REDIRECT to a RESP2 subscriber) replayed on both
//! servers with every frame compared, invalidation pushes included.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{scenarios_match_redis, show, RespClient};
use kiwi_resp::Frame;

enum Step {
    /// Send a command and read one frame.
    Call(usize, &'static str),
    /// Read one more frame (a push, or the reply after one).
    Read(usize),
    /// `CLIENT TRACKING ON REDIRECT <id of the second client> <options>`
    /// sent by the first (client ids differ between the servers).
    Redirect(usize, usize, &'static str),
}
use Step::{Call, Read, Redirect};

fn play(port: u16, steps: &Vec<Step>) -> Vec<String> {
    let mut clients: Vec<RespClient> = (0..3).map(|_| RespClient::connect(port)).collect();
    clients[0].call(&["FLUSHALL"]);
    let mut transcript = Vec::new();
    for step in steps {
        let (who, what, frame) = match step {
            Call(who, cmd) => {
                let args: Vec<&str> = cmd.split(' ').collect();
                (*who, cmd.to_string(), clients[*who].call(&args))
            }
            Read(who) => (
                *who,
                "(read)".to_string(),
                clients[*who].read_frame().expect("connection closed"),
            ),
            Redirect(who, to, opts) => {
                let Frame::Integer(id) = clients[*to].call(&["CLIENT", "ID"]) else {
                    panic!("CLIENT ID is an integer");
                };
                let cmd = format!("CLIENT TRACKING ON REDIRECT {id} {opts}");
                let args: Vec<&str> = cmd.split_whitespace().collect();
                let shown = format!("CLIENT TRACKING ON REDIRECT <{to}> {opts}");
                (*who, shown, clients[*who].call(&args))
            }
        };
        let frame = match frame {
            // HELLO's map has the client id, which differs.
            Frame::Map(mut fields) => {
                fields.retain(|(k, _)| k != &Frame::Bulk("id".into()));
                Frame::Map(fields)
            }
            f => f,
        };
        let kind = if matches!(frame, Frame::Push(_)) {
            "push "
        } else {
            ""
        };
        transcript.push(format!("{who}> {what}\n{kind}{}", show(&frame)));
    }
    transcript
}

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "default mode: a read key is invalidated once, by anyone",
            vec![
                Call(0, "HELLO 3"),
                Call(0, "CLIENT TRACKING ON"),
                Call(0, "GET a"),
                Call(1, "SET a 1"),
                Call(0, "PING"),
                Read(0),
                Call(1, "SET a 2"),
                Call(0, "PING"),
                Call(1, "SET b 0"),
                Call(0, "MGET a b"),
                Call(1, "DEL b"),
                Call(0, "PING"),
                Read(0),
                // Its own write invalidates too, before the write's reply.
                Call(0, "GET c"),
                Call(0, "SET c 1"),
                Read(0),
                Call(0, "CLIENT GETREDIR"),
                Call(0, "CLIENT TRACKINGINFO"),
                Call(0, "CLIENT TRACKING OFF"),
                Call(0, "GET d"),
                Call(1, "SET d 1"),
                Call(0, "PING"),
                Call(0, "CLIENT TRACKINGINFO"),
            ],
        ),
        (
            "NOLOOP and FLUSHALL",
            vec![
                Call(0, "HELLO 3"),
                Call(0, "CLIENT TRACKING ON NOLOOP"),
                Call(0, "GET a"),
                Call(0, "SET a 1"),
                Call(0, "GET b"),
                Call(1, "SET b 1"),
                Call(0, "PING"),
                Read(0),
                Call(0, "GET c"),
                Call(1, "FLUSHALL"),
                Call(0, "PING"),
                Read(0),
            ],
        ),
        (
            "BCAST with prefixes",
            vec![
                Call(2, "HELLO 3"),
                Call(2, "CLIENT TRACKING ON BCAST PREFIX user: PREFIX job:"),
                Call(1, "SET user:1 x"),
                Call(1, "SET other x"),
                Call(1, "HSET job:7 f v"),
                Call(2, "PING"),
                Read(2),
                Read(2),
                Call(2, "CLIENT TRACKINGINFO"),
                Call(2, "CLIENT TRACKING ON BCAST PREFIX use"),
                Call(2, "CLIENT TRACKING ON"),
            ],
        ),
        (
            "OPTIN and OPTOUT with CLIENT CACHING",
            vec![
                Call(0, "HELLO 3"),
                Call(0, "CLIENT CACHING YES"),
                Call(0, "CLIENT TRACKING ON OPTIN"),
                Call(0, "GET x"),
                Call(0, "CLIENT CACHING YES"),
                Call(0, "GET y"),
                Call(1, "MSET x 1 y 1"),
                Call(0, "PING"),
                Read(0),
                Call(0, "CLIENT TRACKING ON OPTOUT"),
                Call(0, "CLIENT TRACKING OFF"),
                Call(0, "CLIENT TRACKING ON OPTOUT"),
                Call(0, "CLIENT CACHING NO"),
                Call(0, "GET x"),
                Call(0, "GET y"),
                Call(1, "MSET x 2 y 2"),
                Call(0, "PING"),
                Read(0),
            ],
        ),
        (
            "REDIRECT to a RESP2 subscriber of __redis__:invalidate",
            vec![
                Redirect(0, 1, ""),
                Call(1, "SUBSCRIBE __redis__:invalidate"),
                Call(0, "GET k"),
                Call(2, "SET k v"),
                Read(1),
                Call(2, "FLUSHALL"),
                Read(1),
            ],
        ),
        (
            "errors",
            vec![
                Call(0, "CLIENT TRACKING ON REDIRECT 999999"),
                Call(0, "CLIENT TRACKING ON PREFIX a"),
                Call(0, "CLIENT TRACKING ON BCAST OPTIN"),
                Call(0, "CLIENT TRACKING ON OPTIN OPTOUT"),
                Call(0, "CLIENT TRACKING ON BCAST PREFIX a PREFIX ab"),
                Call(0, "CLIENT TRACKING MAYBE"),
                Call(0, "CLIENT TRACKING ON FOO"),
                Call(0, "CLIENT CACHING YES"),
                Call(0, "CLIENT GETREDIR"),
                Call(0, "CLIENT TRACKINGINFO"),
            ],
        ),
    ]
}

#[test]
fn client_tracking_matches_redis() {
    scenarios_match_redis(&scenarios(), play);
}
