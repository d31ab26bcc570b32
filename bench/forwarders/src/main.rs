//! Benchmark tool, not part of the proxy: a plain L4 forwarder, one thread, on one of three I/O
//! back ends, so that `bench/forwarders.sh` can measure the CPU one forwarded query costs on
//! each (the question of #13: does io_uring beat epoll for a proxy on this machine?).
//!
//!     splitrail-bench-forwarders MODE LISTEN UPSTREAM
//!
//! MODE is `tokio` (epoll, the proxy's runtime), `epoll` (monoio's legacy driver) or `uring`
//! (monoio's io_uring driver). Every accepted connection gets one connection to UPSTREAM and
//! bytes are copied both ways, 64 KiB at a time, until either side closes.
use std::io;
use std::process::ExitCode;

const BUF: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, listen, upstream] = args.as_slice() else {
        eprintln!("usage: splitrail-bench-forwarders tokio|epoll|uring LISTEN UPSTREAM");
        return ExitCode::from(2);
    };
    let (listen, upstream) = (listen.clone(), upstream.clone());
    let served = match mode.as_str() {
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .and_then(|rt| rt.block_on(on_tokio::serve(listen, upstream))),
        "epoll" => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .and_then(|mut rt| rt.block_on(on_monoio::serve(listen, upstream))),
        "uring" => monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .and_then(|mut rt| rt.block_on(on_monoio::serve(listen, upstream))),
        other => {
            eprintln!("unknown mode {other:?}: tokio, epoll or uring");
            return ExitCode::from(2);
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{mode}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The forwarder on tokio: readiness (epoll) and a read and a write syscall per piece.
mod on_tokio {
    use super::{BUF, io};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    pub async fn serve(listen: String, upstream: String) -> io::Result<()> {
        let listener = TcpListener::bind(&listen).await?;
        loop {
            let (client, _) = listener.accept().await?;
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Err(e) = forward(client, &upstream).await {
                    eprintln!("tokio: connection ended: {e}");
                }
            });
        }
    }

    async fn forward(client: TcpStream, upstream: &str) -> io::Result<()> {
        let server = TcpStream::connect(upstream).await?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let requests = tokio::spawn(copy(client_read, server_write));
        let answers = copy(server_read, client_write).await;
        requests.abort();
        answers
    }

    async fn copy(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) -> io::Result<()> {
        let mut buf = vec![0; BUF];
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            to.write_all(&buf[..n]).await?;
        }
    }
}

/// The forwarder on monoio: the same loop on either driver (completion-based with io_uring).
mod on_monoio {
    use super::{BUF, io};
    use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
    use monoio::net::{TcpListener, TcpStream};

    pub async fn serve(listen: String, upstream: String) -> io::Result<()> {
        let listener = TcpListener::bind(&listen)?;
        loop {
            let (client, _) = listener.accept().await?;
            let upstream = upstream.clone();
            monoio::spawn(async move {
                if let Err(e) = forward(client, &upstream).await {
                    eprintln!("monoio: connection ended: {e}");
                }
            });
        }
    }

    async fn forward(client: TcpStream, upstream: &str) -> io::Result<()> {
        let server = TcpStream::connect(upstream).await?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        // The request copy ends on its own when either side closes.
        monoio::spawn(copy(client_read, server_write));
        copy(server_read, client_write).await
    }

    async fn copy(mut from: impl AsyncReadRent, mut to: impl AsyncWriteRent) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(BUF);
        loop {
            let (read, back) = from.read(buf).await;
            buf = back;
            if read? == 0 {
                return Ok(());
            }
            let (written, back) = to.write_all(buf).await;
            buf = back;
            written?;
            buf.clear();
        }
    }
}
