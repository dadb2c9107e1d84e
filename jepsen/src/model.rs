//! The sequential specification: one Redis key, as Redis 7 defines the
//! commands in [`Call`]. A key holds nothing, a string or a list; INCRBY
//! reads the string as an integer (absent counts as 0).

use crate::history::{Call, Ret};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum State {
    #[default]
    Absent,
    Str(String),
    List(Vec<String>),
}

impl State {
    /// The state after `call` runs in `self`, if it could have returned
    /// `ret` (`None`: the reply is unknown, any reply is possible). `None`
    /// means the observed reply is impossible here.
    pub fn step(&self, call: &Call, ret: Option<&Ret>) -> Option<State> {
        let accepts = |expected: Ret| ret.is_none_or(|r| *r == expected);
        match call {
            Call::Get => {
                let seen = match self {
                    State::Absent => None,
                    State::Str(s) => Some(s.clone()),
                    State::List(_) => return None, // WRONGTYPE: never in a valid run
                };
                accepts(Ret::Bulk(seen)).then(|| self.clone())
            }
            Call::Set(v) => accepts(Ret::Ok).then(|| State::Str(v.clone())),
            Call::SetGet(v) => {
                let old = match self {
                    State::Absent => None,
                    State::Str(s) => Some(s.clone()),
                    State::List(_) => return None,
                };
                accepts(Ret::Bulk(old)).then(|| State::Str(v.clone()))
            }
            Call::IncrBy(n) => {
                let current = match self {
                    State::Absent => 0,
                    State::Str(s) => s.parse::<i64>().ok()?,
                    State::List(_) => return None,
                };
                let next = current.checked_add(*n)?;
                accepts(Ret::Int(next)).then(|| State::Str(next.to_string()))
            }
            Call::Cas { from, to } => {
                let current = match self {
                    State::Absent => None,
                    State::Str(s) => Some(s),
                    State::List(_) => return None,
                };
                (current == from.as_ref() && accepts(Ret::Ok)).then(|| State::Str(to.clone()))
            }
            Call::RPush(v) => {
                let mut list = match self {
                    State::Absent => Vec::new(),
                    State::List(l) => l.clone(),
                    State::Str(_) => return None,
                };
                list.push(v.clone());
                accepts(Ret::Int(list.len() as i64)).then_some(State::List(list))
            }
            Call::LRange => {
                let seen = match self {
                    State::Absent => Vec::new(),
                    State::List(l) => l.clone(),
                    State::Str(_) => return None,
                };
                accepts(Ret::List(seen)).then(|| self.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incr_counts_from_absent_and_checks_the_reply() {
        let s = State::Absent.step(&Call::IncrBy(5), Some(&Ret::Int(5)));
        assert_eq!(s, Some(State::Str("5".into())));
        assert_eq!(
            State::Absent.step(&Call::IncrBy(5), Some(&Ret::Int(4))),
            None
        );
        // An unknown reply still applies the effect.
        assert_eq!(
            State::Str("2".into()).step(&Call::IncrBy(1), None),
            Some(State::Str("3".into()))
        );
    }

    #[test]
    fn rpush_reports_the_new_length() {
        let s = State::Absent
            .step(&Call::RPush("a".into()), Some(&Ret::Int(1)))
            .and_then(|s| s.step(&Call::RPush("b".into()), Some(&Ret::Int(2))));
        assert_eq!(s, Some(State::List(vec!["a".into(), "b".into()])));
        let lr = s.as_ref().and_then(|s| {
            s.step(
                &Call::LRange,
                Some(&Ret::List(vec!["a".into(), "b".into()])),
            )
        });
        assert_eq!(lr, s);
        let wrong = s.and_then(|s| s.step(&Call::LRange, Some(&Ret::List(vec!["b".into()]))));
        assert_eq!(wrong, None);
    }

    #[test]
    fn cas_applies_only_on_the_value_it_saw() {
        let s = State::Str("x".into());
        let cas = |from: Option<&str>| Call::Cas {
            from: from.map(str::to_string),
            to: "y".into(),
        };
        assert_eq!(
            s.step(&cas(Some("x")), Some(&Ret::Ok)),
            Some(State::Str("y".into()))
        );
        assert_eq!(s.step(&cas(Some("z")), Some(&Ret::Ok)), None);
        assert_eq!(s.step(&cas(None), None), None);
        assert_eq!(
            State::Absent.step(&cas(None), None),
            Some(State::Str("y".into()))
        );
    }

    #[test]
    fn setget_returns_the_previous_value() {
        let s = State::Str("x".into());
        assert_eq!(
            s.step(
                &Call::SetGet("y".into()),
                Some(&Ret::Bulk(Some("x".into())))
            ),
            Some(State::Str("y".into()))
        );
        assert_eq!(
            s.step(&Call::SetGet("y".into()), Some(&Ret::Bulk(None))),
            None
        );
    }
}
