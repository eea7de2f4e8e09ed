//! The Container Runtime Interface: gRPC over a unix socket to containerd (or any CRI runtime).
//!
//! The clients are generated from upstream's `api.proto` by the `k8s-cri` crate; this module only
//! dials the socket, as kubelet's remote runtime does, and names the calls the node makes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

pub use k8s_cri::v1 as api;

/// Failures talking to the runtime.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The socket could not be dialled.
    #[error("cannot connect to the container runtime at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The endpoint is not `unix://PATH` or a plain path.
    #[error("unsupported container runtime endpoint {0:?}: expected unix:///path/to/socket")]
    Endpoint(String),
    /// A call failed.
    #[error("{call}: {status}")]
    Call {
        /// Which CRI call.
        call: &'static str,
        /// The runtime's answer.
        status: Box<tonic::Status>,
    },
}

impl CriError {
    /// The gRPC status of a failed call, if this is one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            CriError::Call { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The runtime's own message for a failed call (without the call's name).
    pub fn message(&self) -> String {
        match self {
            CriError::Call { status, .. } => status.message().to_string(),
            other => other.to_string(),
        }
    }
}

/// The path of a `unix://` endpoint (kubelet's `--container-runtime-endpoint` form).
pub fn socket_path(endpoint: &str) -> Result<PathBuf, CriError> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(CriError::Endpoint(endpoint.to_string()))
    }
}

/// A connection to the runtime and image services (one HTTP/2 channel, cheap to clone).
#[derive(Clone)]
pub struct Cri {
    /// RuntimeService: sandboxes, containers, exec, version.
    pub runtime: RuntimeServiceClient<Channel>,
    /// ImageService: pull, status, remove.
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    /// Dials the runtime's unix socket.
    pub async fn connect(path: &Path) -> Result<Cri, CriError> {
        let socket = path.to_path_buf();
        // The URI is required by tonic but unused: every connection goes to the socket.
        let channel = Endpoint::from_static("http://cri.invalid")
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|source| CriError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(16 * 1024 * 1024),
            images: ImageServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024),
        })
    }

    /// The runtime's name and version (`containerd://1.6.20`, as kubelet reports it).
    pub async fn version(&self) -> Result<api::VersionResponse, CriError> {
        let mut rt = self.runtime.clone();
        rt.version(api::VersionRequest {
            version: "v1".into(),
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(call("Version"))
    }
}

/// Wraps a failed call's status with the call's name.
pub fn call(name: &'static str) -> impl Fn(tonic::Status) -> CriError {
    move |status| CriError::Call {
        call: name,
        status: Box::new(status),
    }
}
