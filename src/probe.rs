//! `intentmesh probe <url>`: exits 0 when an HTTP GET of `url` answers 200 within two seconds.
//! The image has no shell or curl (distroless), so container health checks call the binary.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Splits `http://host:port/path` into the address and the path.
fn split(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("probe takes an http:// URL")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        bail!("no host in {url:?}");
    }
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, format!("/{path}")))
}

pub(crate) async fn run(url: &str) -> anyhow::Result<()> {
    let (authority, path) = split(url)?;
    let exchange = async {
        let mut stream = TcpStream::connect(&authority).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .context("no answer within 2 s")?
        .with_context(|| format!("cannot reach {authority}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!("{url} answered {status:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            split("http://127.0.0.1:8001/ready").unwrap(),
            ("127.0.0.1:8001".to_owned(), "/ready".to_owned())
        );
        assert_eq!(
            split("http://gateway").unwrap(),
            ("gateway:80".to_owned(), "/".to_owned())
        );
        assert!(split("https://x/ready").is_err());
    }
}
