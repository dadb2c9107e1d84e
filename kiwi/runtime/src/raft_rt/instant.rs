//! Instant wrapper type and its trait impl.

use std::ops::Add;
use std::ops::AddAssign;
use std::ops::Sub;
use std::ops::SubAssign;
use std::time::Duration;

use openraft_rt::instant;

#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct TokioInstant(pub(crate) tokio::time::Instant);

impl Add<Duration> for TokioInstant {
    type Output = Self;

    #[inline]
    fn add(self, rhs: Duration) -> Self::Output {
        Self(self.0.add(rhs))
    }
}

impl AddAssign<Duration> for TokioInstant {
    #[inline]
    fn add_assign(&mut self, rhs: Duration) {
        self.0.add_assign(rhs)
    }
}

impl Sub<Duration> for TokioInstant {
    type Output = Self;

    #[inline]
    fn sub(self, rhs: Duration) -> Self::Output {
        Self(self.0.sub(rhs))
    }
}

impl Sub<Self> for TokioInstant {
    type Output = Duration;

    #[inline]
    fn sub(self, rhs: Self) -> Self::Output {
        self.0.sub(rhs.0)
    }
}

impl SubAssign<Duration> for TokioInstant {
    #[inline]
    fn sub_assign(&mut self, rhs: Duration) {
        self.0.sub_assign(rhs)
    }
}

impl instant::Instant for TokioInstant {
    #[inline]
    // The layer's clock: madsim's virtual one in simulation.
    #[allow(clippy::disallowed_methods)]
    fn now() -> Self {
        // The node's own clock: under madsim it may run fast or slow.
        Self(crate::time::node_instant(tokio::time::Instant::now()))
    }

    #[inline]
    fn elapsed(&self) -> Duration {
        <Self as instant::Instant>::now()
            .0
            .saturating_duration_since(self.0)
    }
}
