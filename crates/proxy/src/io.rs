//! A boxed byte stream, so one connection driver serves TCP and TLS alike.

use tokio::io::{AsyncRead, AsyncWrite};

/// Any bidirectional byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed stream.
pub type BoxedIo = Box<dyn Io>;
