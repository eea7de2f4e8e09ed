//! Reading a kubelet's `/metrics/resource`: the Prometheus text parser (pure) and the scrape
//! loop that feeds the cache every [`super::RESOLUTION`].

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use kapi_api::resources;
use serde_json::Value;

use super::{Point, Scrape};
use crate::Server;

/// Failures reading one node's metrics.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The kubelet could not be reached or answered an error.
    #[error("scraping node {node}: {message}")]
    Fetch {
        /// The node.
        node: String,
        /// Why.
        message: String,
    },
    /// A sample line is not `name{labels} value [timestamp]`.
    #[error("malformed sample line {0:?}")]
    Malformed(String),
}

/// One sample line's parts.
struct Sample<'a> {
    name: &'a str,
    labels: BTreeMap<String, String>,
    value: f64,
    timestamp_ms: Option<i64>,
}

/// `k="v",k2="v2"` with Prometheus escapes; `None` when unbalanced.
fn parse_labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim().to_string(), value);
        rest = after[end? + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim();
    }
    Some(out)
}

fn parse_line(line: &str) -> Result<Sample<'_>, ScrapeError> {
    let bad = || ScrapeError::Malformed(line.to_string());
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}').ok_or_else(bad)?;
            let labels =
                parse_labels(line.get(open + 1..close).ok_or_else(bad)?).ok_or_else(bad)?;
            (&line[..open], labels, &line[close + 1..])
        }
        None => {
            let (name, rest) = line.split_once(' ').ok_or_else(bad)?;
            (name, BTreeMap::new(), rest)
        }
    };
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(bad)?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(t.parse::<i64>().map_err(|_| bad())?),
        None => None,
    };
    Ok(Sample {
        name: name.trim(),
        labels,
        value,
        timestamp_ms,
    })
}

/// The node and container points of a `/metrics/resource` document; pod series are derived
/// from containers, as metrics-server does. Samples without a timestamp are dropped: a rate
/// needs to know when each value was measured.
pub fn parse(text: &str) -> Result<Scrape, ScrapeError> {
    let mut scrape = Scrape::default();
    let mut node = Point::default();
    let mut node_seen = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let s = parse_line(line)?;
        let Some(ts) = s.timestamp_ms else {
            continue;
        };
        let key = || -> Option<(String, String, String)> {
            Some((
                s.labels.get("namespace")?.clone(),
                s.labels.get("pod")?.clone(),
                s.labels.get("container")?.clone(),
            ))
        };
        match s.name {
            "node_cpu_usage_seconds_total" => {
                node.cpu_seconds = s.value;
                node.timestamp_ms = ts;
                node_seen = true;
            }
            "node_memory_working_set_bytes" => node.memory = s.value as u64,
            "container_cpu_usage_seconds_total" => {
                if let Some(k) = key() {
                    let p = scrape.containers.entry(k).or_default();
                    p.cpu_seconds = s.value;
                    p.timestamp_ms = ts;
                }
            }
            "container_memory_working_set_bytes" => {
                if let Some(k) = key() {
                    scrape.containers.entry(k).or_default().memory = s.value as u64;
                }
            }
            _ => {}
        }
    }
    scrape.node = node_seen.then_some(node);
    Ok(scrape)
}

/// Names of the nodes whose Ready condition is True: the only ones metrics-server scrapes.
fn ready_nodes(server: &Server) -> Vec<String> {
    let Some(def) = resources::find("", "v1", "nodes") else {
        return Vec::new();
    };
    server
        .registry
        .list_values(def)
        .iter()
        .filter(|n| {
            n.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .filter_map(|n| n.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// GETs one kubelet's `/metrics/resource` with the API server's kubelet-client identity.
async fn fetch(server: &Server, node: &str) -> Result<String, ScrapeError> {
    let fail = |message: String| ScrapeError::Fetch {
        node: node.to_string(),
        message,
    };
    let (ip, port) =
        crate::handlers::pod_stream::kubelet_address(server, node).map_err(|e| fail(e.message))?;
    let connector = server
        .kubelet_client
        .clone()
        .ok_or_else(|| fail("no kubelet client credentials".into()))?;
    let tcp = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| fail(e.to_string()))?;
    let tls = connector
        .connect(rustls::pki_types::ServerName::IpAddress(ip.into()), tcp)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let authority = std::net::SocketAddr::new(ip, port).to_string();
    let req = http::Request::get("/metrics/resource")
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| fail(e.to_string()))?;
    let resp = kapi_node::upgrade::forward(tls, req, "/metrics/resource", &authority)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(fail(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Scrapes every Ready node each resolution period, forever; nodes that leave are forgotten.
pub async fn run(server: Arc<Server>) {
    let mut tick = tokio::time::interval(super::RESOLUTION);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let nodes = ready_nodes(&server);
        server.metrics.retain(&nodes);
        for node in nodes {
            let scraped = tokio::time::timeout(super::RESOLUTION, fetch(&server, &node)).await;
            match scraped {
                Ok(Ok(text)) => match parse(&text) {
                    Ok(scrape) => server.metrics.record(&node, scrape),
                    Err(e) => tracing::debug!(node, error = %e, "bad resource metrics"),
                },
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics scrape failed"),
                Err(_) => tracing::debug!(node, "metrics scrape timed out"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubelet_resource_metrics() {
        let text = "# HELP x y\n# TYPE container_cpu_usage_seconds_total counter\n\
            container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\\\"1\"} 1.5 1000\n\
            container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"p\\\"1\"} 2048 1000\n\
            node_cpu_usage_seconds_total 10.25 1500\n\
            node_memory_working_set_bytes 4096 1500\n\
            pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 1.5 1000\n\
            scrape_error 0\n";
        let s = parse(text).unwrap();
        assert_eq!(
            s.node,
            Some(Point {
                cpu_seconds: 10.25,
                memory: 4096,
                timestamp_ms: 1500
            })
        );
        let key = ("ns".to_string(), "p\"1".to_string(), "c".to_string());
        assert_eq!(
            s.containers.get(&key),
            Some(&Point {
                cpu_seconds: 1.5,
                memory: 2048,
                timestamp_ms: 1000
            })
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse("node_cpu_usage_seconds_total\n").is_err());
        assert!(parse("x{a=\"b} 1 2\n").is_err());
        assert!(parse("x 1 notatime\n").is_err());
    }
}
