//! The Docker Engine API through bollard, reduced to what the guard needs: the inventory (list,
//! inspect, events) and the isolation calls (pause, stop, network disconnect) with their reversals.
//! Every call is timed into `ironpost_container_guard_docker_call_duration_seconds{call}`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerSummary, EndpointIpamConfig, EndpointSettings, EventMessage, NetworkConnectRequest,
    NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    EventsOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    StartContainerOptions, StopContainerOptions,
};
use futures_util::Stream;
use ironpost_core::metrics::prometheus::HistogramVec;
use serde::{Deserialize, Serialize};

use crate::error::GuardError;
use crate::policy::ContainerInfo;

/// A network a container was attached to, remembered so that `restore` can re-attach it with the
/// same aliases and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    #[serde(default)]
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

/// What `inspect` tells the executor about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inspected {
    pub id: String,
    pub name: String,
    pub running: bool,
    pub paused: bool,
    /// The container's init process on the host, while it runs.
    pub pid: Option<i64>,
    pub attachments: Vec<Attachment>,
}

/// A connected client.
#[derive(Debug, Clone)]
pub(crate) struct DockerApi {
    docker: Docker,
    timeout: Duration,
    calls: HistogramVec,
}

/// Docker's `/name` → `name`.
fn bare(name: &str) -> String {
    name.trim_start_matches('/').to_owned()
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl DockerApi {
    /// Connects to `endpoint` (a socket path, `unix:///path`, `tcp://host:port` or `http://…`) and
    /// negotiates the API version with the engine (Debian's 20.10 speaks 1.41).
    pub(crate) async fn connect(
        endpoint: &str,
        timeout: Duration,
        calls: HistogramVec,
    ) -> Result<DockerApi, GuardError> {
        let secs = timeout.as_secs().max(1);
        let err = |source| GuardError::Connect {
            endpoint: endpoint.to_owned(),
            source,
        };
        let docker = if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
            Docker::connect_with_http(endpoint, secs, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_unix(endpoint, secs, bollard::API_DEFAULT_VERSION)
        }
        .map_err(err)?;
        let docker = match tokio::time::timeout(timeout, docker.negotiate_version()).await {
            Ok(r) => r.map_err(err)?,
            Err(_) => {
                return Err(GuardError::DockerTimeout {
                    call: "version",
                    target: endpoint.to_owned(),
                    timeout,
                });
            }
        };
        Ok(DockerApi {
            docker,
            timeout,
            calls,
        })
    }

    /// Runs one API call under the timeout and records its duration.
    async fn call<T>(
        &self,
        call: &'static str,
        target: &str,
        fut: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, GuardError> {
        let t0 = Instant::now();
        let r = tokio::time::timeout(self.timeout, fut).await;
        self.calls
            .with_label_values(&[call])
            .observe(t0.elapsed().as_secs_f64());
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) => Err(GuardError::DockerCall {
                call,
                target: target.to_owned(),
                source,
            }),
            Err(_) => Err(GuardError::DockerTimeout {
                call,
                target: target.to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    /// Every container, running or not.
    pub(crate) async fn list(&self) -> Result<Vec<ContainerInfo>, GuardError> {
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let list = self
            .call(
                "list",
                "containers",
                self.docker.list_containers(Some(opts)),
            )
            .await?;
        Ok(list.into_iter().filter_map(summary_info).collect())
    }

    pub(crate) async fn inspect(&self, container: &str) -> Result<Inspected, GuardError> {
        let r = self
            .call(
                "inspect",
                container,
                self.docker
                    .inspect_container(container, None::<InspectContainerOptions>),
            )
            .await?;
        let state = r.state.unwrap_or_default();
        let mut attachments: Vec<Attachment> = r
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(network, ep)| attachment(network, ep))
            .collect();
        attachments.sort_by(|a, b| a.network.cmp(&b.network));
        Ok(Inspected {
            id: r.id.unwrap_or_default(),
            name: bare(&r.name.unwrap_or_default()),
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            pid: state.pid.filter(|p| *p > 0),
            attachments,
        })
    }

    pub(crate) async fn pause(&self, id: &str) -> Result<(), GuardError> {
        self.call("pause", id, self.docker.pause_container(id))
            .await
    }

    pub(crate) async fn unpause(&self, id: &str) -> Result<(), GuardError> {
        self.call("unpause", id, self.docker.unpause_container(id))
            .await
    }

    /// Stops `id` (SIGTERM, then SIGKILL after `grace`). Stopping a stopped container succeeds
    /// (Docker answers 304).
    pub(crate) async fn stop(&self, id: &str, grace: Duration) -> Result<(), GuardError> {
        let opts = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            signal: None,
        };
        self.call("stop", id, self.docker.stop_container(id, Some(opts)))
            .await
    }

    pub(crate) async fn start(&self, id: &str) -> Result<(), GuardError> {
        self.call(
            "start",
            id,
            self.docker
                .start_container(id, None::<StartContainerOptions>),
        )
        .await
    }

    pub(crate) async fn disconnect(&self, id: &str, network: &str) -> Result<(), GuardError> {
        let req = NetworkDisconnectRequest {
            container: id.to_owned(),
            force: Some(true),
        };
        self.call(
            "network_disconnect",
            id,
            self.docker.disconnect_network(network, req),
        )
        .await
    }

    /// Re-attaches `id` to `a.network`, with its aliases and addresses when `exact`.
    pub(crate) async fn connect_network(
        &self,
        id: &str,
        a: &Attachment,
        exact: bool,
    ) -> Result<(), GuardError> {
        let endpoint_config = exact.then(|| EndpointSettings {
            aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: a.ipv4.clone(),
                ipv6_address: a.ipv6.clone(),
                link_local_ips: None,
            }),
            ..Default::default()
        });
        let req = NetworkConnectRequest {
            container: id.to_owned(),
            endpoint_config,
        };
        let net = if a.network_id.is_empty() {
            &a.network
        } else {
            &a.network_id
        };
        self.call("network_connect", id, self.docker.connect_network(net, req))
            .await
    }

    /// Container and network events (create, start, die, destroy, rename, pause, connect,
    /// disconnect …): each one tells the inventory to refresh.
    pub(crate) fn events(&self) -> impl Stream<Item = Result<EventMessage, BollardError>> + use<> {
        let mut filters: HashMap<&str, Vec<&str>> = HashMap::new();
        filters.insert("type", vec!["container", "network"]);
        let opts = EventsOptionsBuilder::default().filters(&filters).build();
        self.docker.events(Some(opts))
    }
}

fn attachment(network: String, ep: EndpointSettings) -> Attachment {
    let ipam = ep.ipam_config.unwrap_or_default();
    Attachment {
        network_id: ep.network_id.unwrap_or_default(),
        aliases: ep.aliases.unwrap_or_default(),
        ipv4: nonempty(ipam.ipv4_address).or_else(|| nonempty(ep.ip_address)),
        ipv6: nonempty(ipam.ipv6_address).or_else(|| nonempty(ep.global_ipv6_address)),
        network,
    }
}

/// What the policies and targeting need from a list entry.
fn summary_info(c: ContainerSummary) -> Option<ContainerInfo> {
    let id = c.id?;
    let name = c
        .names
        .unwrap_or_default()
        .first()
        .map(|n| bare(n))
        .unwrap_or_default();
    let mut ips: Vec<IpAddr> = Vec::new();
    for ep in c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_values()
    {
        for a in [ep.ip_address, ep.global_ipv6_address]
            .into_iter()
            .flatten()
        {
            if let Ok(ip) = a.parse::<IpAddr>()
                && !ips.contains(&ip)
            {
                ips.push(ip);
            }
        }
    }
    ips.sort();
    let mut published_ports: Vec<u16> = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.public_port)
        .collect();
    published_ports.sort_unstable();
    published_ports.dedup();
    Some(ContainerInfo {
        id,
        name,
        image: c.image.unwrap_or_default(),
        labels: c
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        ips,
        published_ports,
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
    })
}
