//! `kiwi-resp` owns the Redis wire protocol and nothing else.
//!
//! * [`request`]: the server-side request decoder (multibulk and inline forms)
//!   with Redis's limits and Redis's exact `Protocol error: ...` texts. It is
//!   incremental, so a large request arriving in many reads is scanned once,
//!   and it decodes a whole pipelined read at a time into a
//!   [`RequestBatch`]: one shared chunk plus argument ranges.
//! * [`frame`]: the reply model, a superset of RESP2 and RESP3, and its
//!   encoder, which downgrades RESP3-only types the way Redis does for RESP2.
//! * [`decode`]: a general frame decoder for the client side (simulation
//!   clients, tests, fuzzing).
//! * [`double`]: Redis 7.0's `%.17g` rendering of floating point replies.
//!
//! The crate has no I/O and no dependency on the rest of Kiwi, so the fuzz
//! target builds in seconds and the codec can be tested exhaustively.

pub mod decode;
pub mod double;
pub mod frame;
pub mod fuzzing;
pub mod request;

pub use decode::{decode_frame, DecodeError};
pub use frame::{Frame, Protocol};
pub use request::{ProtocolError, RequestBatch, RequestDecoder, RequestLimits};
