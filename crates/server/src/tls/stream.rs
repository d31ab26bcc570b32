//! The byte streams client and backend connections run on: plain TCP or TLS, one `match` per
//! read or write.
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::ServerName;

use super::BackendTlsSetup;

/// Implements `AsyncRead` + `AsyncWrite` for a stream enum by delegating to the variant's
/// stream. Both variants are `Unpin`, so `Pin::new` projects without `unsafe`.
macro_rules! delegate_stream {
    ($name:ident) => {
        impl $name {
            /// Whether the connection is encrypted.
            pub fn is_tls(&self) -> bool {
                matches!(self, $name::Tls(_))
            }

            /// Takes the plain socket out for the TLS handshake, leaving `Upgrading` behind.
            fn take_plain(&mut self) -> io::Result<TcpStream> {
                match std::mem::replace(self, $name::Upgrading) {
                    $name::Plain(tcp) => Ok(tcp),
                    other => {
                        *self = other;
                        Err(io::Error::other(
                            "TLS requested on a connection not in plain TCP",
                        ))
                    }
                }
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
                    $name::Upgrading => Poll::Ready(Err(upgrading())),
                }
            }
        }

        impl AsyncWrite for $name {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
                    $name::Upgrading => Poll::Ready(Err(upgrading())),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
                    $name::Upgrading => Poll::Ready(Err(upgrading())),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $name::Plain(s) => s.is_write_vectored(),
                    $name::Tls(s) => s.is_write_vectored(),
                    $name::Upgrading => false,
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_flush(cx),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
                    $name::Upgrading => Poll::Ready(Ok(())),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $name::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    $name::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
                    $name::Upgrading => Poll::Ready(Ok(())),
                }
            }
        }
    };
}

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost during its TLS handshake",
    )
}

/// A client connection's byte stream. The TLS stream is boxed: it is large, and an idle plain
/// client should stay small.
#[derive(Debug)]
pub enum ClientStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, after the client's SSLRequest.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only while the TLS handshake runs (or after it failed); reads and writes fail.
    Upgrading,
}
delegate_stream!(ClientStream);

impl ClientStream {
    /// Runs the server side of the TLS handshake on this plain connection.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        let tcp = self.take_plain()?;
        let tls = acceptor.accept(tcp).await?;
        *self = ClientStream::Tls(Box::new(tls));
        Ok(())
    }
}

/// A backend connection's byte stream.
#[derive(Debug)]
pub enum BackendStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, after the proxy's SSLRequest.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only while the TLS handshake runs (or after it failed); reads and writes fail.
    Upgrading,
}
delegate_stream!(BackendStream);

impl BackendStream {
    /// Runs the client side of the TLS handshake on this plain connection to `host`.
    pub async fn upgrade(&mut self, setup: &BackendTlsSetup, host: &str) -> io::Result<()> {
        let Some(connector) = &setup.connector else {
            return Err(io::Error::other("TLS to backends is disabled"));
        };
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("host {host:?}: {e}"))
        })?;
        let tcp = self.take_plain()?;
        let tls = connector.connect(name, tcp).await?;
        *self = BackendStream::Tls(Box::new(tls));
        Ok(())
    }

    /// Whether the server closed this idle connection (or sent something nobody asked for),
    /// checked without blocking.
    pub fn closed_while_idle(&mut self) -> bool {
        match self {
            BackendStream::Plain(tcp) => {
                let mut probe = [0u8; 1];
                match tcp.try_read(&mut probe) {
                    Ok(_) => true, // EOF, or bytes nobody asked for: either way unusable
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            BackendStream::Tls(tls) => {
                // Reading the raw socket would eat TLS records; poll the TLS stream once
                // instead. It processes what arrived (a session ticket is fine, a close_notify
                // or EOF reads as 0 bytes) and says Pending when nothing is there. The next
                // real read registers the task's own waker.
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                let mut cx = Context::from_waker(Waker::noop());
                Pin::new(tls.as_mut())
                    .poll_read(&mut cx, &mut buf)
                    .is_ready()
            }
            BackendStream::Upgrading => true,
        }
    }
}
