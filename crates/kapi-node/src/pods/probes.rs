//! Container probes as kubelet runs them: startup, liveness and readiness, each exec (through
//! the runtime), httpGet (HTTP/HTTPS against the pod IP, 200–399 passes) or tcpSocket, with
//! their timing fields (initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold,
//! failureThreshold). Readiness gates the Ready condition; a failed liveness or startup probe
//! restarts the container.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cri::{api, Cri};

/// The three kinds, in the order kubelet considers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Holds off the others until it passes.
    Startup,
    /// Restarts the container when it fails.
    Liveness,
    /// Decides whether the container is Ready.
    Readiness,
}

impl Kind {
    /// As events spell it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }

    /// The container's probe of this kind.
    pub fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            Kind::Startup => c.startup_probe.as_ref(),
            Kind::Liveness => c.liveness_probe.as_ref(),
            Kind::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

/// A probe's timing, with upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Wait after the container starts.
    pub initial_delay: Duration,
    /// Between runs.
    pub period: Duration,
    /// For one run.
    pub timeout: Duration,
    /// Passes in a row to count as passing.
    pub success_threshold: u32,
    /// Failures in a row to count as failing.
    pub failure_threshold: u32,
}

impl Timing {
    /// Reads the probe's fields.
    pub fn of(p: &Probe) -> Timing {
        let secs = |v: Option<i32>, default: u64| {
            Duration::from_secs(v.map_or(default, |v| v.max(0) as u64))
        };
        Timing {
            initial_delay: secs(p.initial_delay_seconds, 0),
            period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// One probe's state for one container instance.
#[derive(Debug, Clone)]
pub struct Tracker {
    timing: Timing,
    next: Instant,
    successes: u32,
    failures: u32,
    /// The result as it stands: `None` until the thresholds decide.
    pub passing: Option<bool>,
}

impl Tracker {
    /// A tracker for a container that started at `started`.
    pub fn new(timing: Timing, started: Instant) -> Tracker {
        Tracker {
            timing,
            next: started + timing.initial_delay,
            successes: 0,
            failures: 0,
            passing: None,
        }
    }

    /// Whether a run is due.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// When the next run is due.
    pub fn next_run(&self) -> Instant {
        self.next
    }

    /// Records a run; returns the new verdict when it changed.
    pub fn record(&mut self, ok: bool, now: Instant) -> Option<bool> {
        self.next = now + self.timing.period;
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let verdict = if self.successes >= self.timing.success_threshold {
            Some(true)
        } else if self.failures >= self.timing.failure_threshold {
            Some(false)
        } else {
            self.passing
        };
        let changed = verdict != self.passing;
        self.passing = verdict;
        changed.then_some(verdict).flatten()
    }
}

/// Runs a probe once: `Ok(())` when it passes, `Err(why)` otherwise.
pub async fn run(
    cri: &Cri,
    probe: &Probe,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(exec) = &probe.exec {
        let mut rt = cri.runtime.clone();
        let cmd = exec.command.clone().unwrap_or_default();
        let answer = tokio::time::timeout(
            timeout + Duration::from_secs(1),
            rt.exec_sync(api::ExecSyncRequest {
                container_id: container_id.to_string(),
                cmd,
                timeout: timeout.as_secs() as i64,
            }),
        )
        .await
        .map_err(|_| format!("command timed out after {}s", timeout.as_secs()))?
        .map_err(|e| e.message().to_string())?
        .into_inner();
        return if answer.exit_code == 0 {
            Ok(())
        } else {
            let out = String::from_utf8_lossy(&answer.stdout).trim().to_string();
            Err(if out.is_empty() {
                format!("command exited with {}", answer.exit_code)
            } else {
                out
            })
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let host = tcp.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let port = port_number(&tcp.port, container).ok_or("unknown port")?;
        let addr = format!("{host}:{port}");
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if let Some(http) = &probe.http_get {
        let host = http.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let port = port_number(&http.port, container).ok_or("unknown port")?;
        let path = http.path.clone().unwrap_or_else(|| "/".into());
        let https = http.scheme.as_deref() == Some("HTTPS");
        let headers: Vec<(String, String)> = http
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        return tokio::time::timeout(timeout, http_get(&host, port, &path, https, &headers))
            .await
            .map_err(|_| {
                format!(
                    "Get \"{}://{host}:{port}{path}\": context deadline exceeded",
                    if https { "https" } else { "http" }
                )
            })?;
    }
    // gRPC probes need the health protocol over HTTP/2; not supported yet, so they pass.
    Ok(())
}

/// A named or numbered port of the container.
fn port_number(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    https: bool,
    headers: &[(String, String)],
) -> Result<(), String> {
    use http_body_util::Empty;
    let addr = format!("{host}:{port}");
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("Get \"http://{addr}{path}\": dial tcp {addr}: {e}"))?;
    let mut req = http::Request::get(path)
        .header(http::header::HOST, &addr)
        .header(http::header::USER_AGENT, "kube-probe/1.34");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let status = if https {
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCert))
        .with_no_client_auth();
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        send(tls, req).await?
    } else {
        send(tcp, req).await?
    };
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {status}"))
    }
}

async fn send<T>(
    io: T,
    req: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<u16, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}

/// HTTPS probes do not verify certificates, as kubelet's do not.
#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(5),
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn defaults_are_upstreams() {
        let t = Timing::of(&Probe::default());
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        assert_eq!(t.initial_delay, Duration::ZERO);
    }

    #[test]
    fn initial_delay_and_period_decide_when_it_runs() {
        let t0 = Instant::now();
        let mut tr = Tracker::new(timing(1, 3), t0);
        assert!(!tr.due(t0 + Duration::from_secs(4)));
        assert!(tr.due(t0 + Duration::from_secs(5)));
        tr.record(true, t0 + Duration::from_secs(5));
        assert!(!tr.due(t0 + Duration::from_secs(14)));
        assert!(tr.due(t0 + Duration::from_secs(15)));
    }

    #[test]
    fn thresholds_decide_the_verdict() {
        let t0 = Instant::now();
        let mut tr = Tracker::new(timing(2, 3), t0);
        assert_eq!(tr.record(true, t0), None);
        assert_eq!(tr.record(true, t0), Some(true));
        assert_eq!(tr.record(false, t0), None);
        assert_eq!(tr.record(false, t0), None);
        assert_eq!(
            tr.passing,
            Some(true),
            "two failures of three are not enough"
        );
        assert_eq!(tr.record(false, t0), Some(false));
        assert_eq!(tr.record(true, t0), None);
        assert_eq!(tr.record(true, t0), Some(true));
    }
}
