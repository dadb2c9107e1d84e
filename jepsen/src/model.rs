//! The sequential specification: one Redis key, as Redis 7 defines the
//! commands in [`Call`]. A key holds nothing, a string, a list or a set;
//! INCRBY reads the string as an integer (absent counts as 0). A command on
//! the wrong type would be WRONGTYPE, which no valid run sees: the model
//! rejects it.

use std::collections::BTreeSet;

use crate::history::{Call, Ret};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum State {
    #[default]
    Absent,
    Str(String),
    List(Vec<String>),
    Set(BTreeSet<String>),
}

impl State {
    /// The state after `call` runs in `self`, if it could have returned
    /// `ret` (`None`: the reply is unknown, any reply is possible). `None`
    /// means the observed reply is impossible here.
    pub fn step(&self, call: &Call, ret: Option<&Ret>) -> Option<State> {
        let accepts = |expected: Ret| ret.is_none_or(|r| *r == expected);
        // A write whose reply was not recorded accepts any reply.
        let acks = |expected: Ret| ret.is_none_or(|r| *r == expected || *r == Ret::Acked);
        match call {
            Call::Get => {
                let seen = match self {
                    State::Absent => None,
                    State::Str(s) => Some(s.clone()),
                    _ => return None,
                };
                accepts(Ret::Bulk(seen)).then(|| self.clone())
            }
            // The expiry itself is not modelled here: keys written with a
            // TTL are checked by `checker::check_expiring` instead.
            Call::Set(v) | Call::SetPx { value: v, .. } => {
                accepts(Ret::Ok).then(|| State::Str(v.clone()))
            }
            Call::SetGet(v) => {
                let old = match self {
                    State::Absent => None,
                    State::Str(s) => Some(s.clone()),
                    _ => return None,
                };
                accepts(Ret::Bulk(old)).then(|| State::Str(v.clone()))
            }
            Call::IncrBy(n) => {
                let current = match self {
                    State::Absent => 0,
                    State::Str(s) => s.parse::<i64>().ok()?,
                    _ => return None,
                };
                let next = current.checked_add(*n)?;
                accepts(Ret::Int(next)).then(|| State::Str(next.to_string()))
            }
            Call::Cas { from, to } => {
                let current = match self {
                    State::Absent => None,
                    State::Str(s) => Some(s),
                    _ => return None,
                };
                (current == from.as_ref() && accepts(Ret::Ok)).then(|| State::Str(to.clone()))
            }
            Call::RPush(v) => {
                let mut list = self.list()?;
                list.push(v.clone());
                acks(Ret::Int(list.len() as i64)).then_some(State::List(list))
            }
            Call::LRange => accepts(Ret::List(self.list()?)).then(|| self.clone()),
            Call::RPushLRange(v) => {
                let mut list = self.list()?;
                list.push(v.clone());
                accepts(Ret::List(list.clone())).then_some(State::List(list))
            }
            Call::Append(v) => {
                let mut s = match self {
                    State::Absent => String::new(),
                    State::Str(s) => s.clone(),
                    _ => return None,
                };
                s.push_str(v);
                acks(Ret::Int(s.len() as i64)).then_some(State::Str(s))
            }
            Call::SAdd(v) => {
                let mut set = match self {
                    State::Absent => BTreeSet::new(),
                    State::Set(s) => s.clone(),
                    _ => return None,
                };
                let added = i64::from(set.insert(v.clone()));
                acks(Ret::Int(added)).then_some(State::Set(set))
            }
            Call::SMembers => {
                let members = match self {
                    State::Absent => Vec::new(),
                    State::Set(s) => s.iter().cloned().collect(),
                    _ => return None,
                };
                accepts(Ret::List(members)).then(|| self.clone())
            }
        }
    }
}

impl State {
    /// The list this key holds (absent: empty); `None` if not a list.
    fn list(&self) -> Option<Vec<String>> {
        match self {
            State::Absent => Some(Vec::new()),
            State::List(l) => Some(l.clone()),
            _ => None,
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

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn sets_report_new_members_and_list_sorted() {
        let s = State::Absent
            .step(&Call::SAdd("b".into()), Some(&Ret::Int(1)))
            .and_then(|s| s.step(&Call::SAdd("a".into()), Some(&Ret::Acked)))
            .and_then(|s| s.step(&Call::SAdd("a".into()), Some(&Ret::Int(0))));
        let members = Ret::List(vec!["a".into(), "b".into()]);
        assert_eq!(
            s.as_ref()
                .and_then(|s| s.step(&Call::SMembers, Some(&members))),
            s
        );
        // A member missing from SMEMBERS: the add was lost.
        let lost = Ret::List(vec!["b".into()]);
        assert_eq!(s.and_then(|s| s.step(&Call::SMembers, Some(&lost))), None);
    }

    #[test]
    fn rpush_lrange_sees_its_own_append() {
        let s = State::List(vec!["a".into()]);
        let both = Ret::List(vec!["a".into(), "b".into()]);
        assert!(s
            .step(&Call::RPushLRange("b".into()), Some(&both))
            .is_some());
        let only_old = Ret::List(vec!["a".into()]);
        assert!(s
            .step(&Call::RPushLRange("b".into()), Some(&only_old))
            .is_none());
    }

    #[test]
    fn append_concatenates_and_an_unrecorded_reply_is_accepted() {
        let s = State::Str("ab".into());
        assert_eq!(
            s.step(&Call::Append("c".into()), Some(&Ret::Int(3))),
            Some(State::Str("abc".into()))
        );
        assert_eq!(s.step(&Call::Append("c".into()), Some(&Ret::Int(2))), None);
        assert_eq!(
            s.step(&Call::Append("c".into()), Some(&Ret::Acked)),
            Some(State::Str("abc".into()))
        );
        // Acked is not a read's reply.
        assert_eq!(s.step(&Call::Get, Some(&Ret::Acked)), None);
    }
}
