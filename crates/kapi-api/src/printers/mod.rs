//! Server-side Table printers: what `kubectl get` shows.
//!
//! When a client asks for `application/json;as=Table;v=v1;g=meta.k8s.io`, the server answers with
//! a `meta.k8s.io/v1` `Table`: column definitions, then one row of cells per object. This module
//! reproduces upstream's column sets (names, types, descriptions, priorities) and cell formats for
//! the built-in resources; resources without a printer get upstream's default table, `Name` and
//! `Created At`. Custom resources print the columns their definition declares ([`custom`]).
//!
//! Like upstream's server, the cells always include the wide (`priority: 1`) columns; `kubectl`
//! hides them unless asked for `-o wide`. Objects may be sparse: a missing field never panics, and
//! a field that upstream's defaulting would always have filled prints as its default.
//!
//! ```
//! use kapi_api::printers::{table, IncludeObject};
//! let now = chrono::Utc::now();
//! let cm = serde_json::json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}});
//! let t = table("", "configmaps", &[&cm], now, IncludeObject::Metadata, "42", None);
//! assert_eq!(t["columnDefinitions"][1]["name"], "Data");
//! assert_eq!(t["rows"][0]["cells"][1], 2);
//! assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
//! ```

mod autoscaling;
mod cluster;
mod columns;
mod core_group;
pub mod custom;
mod descriptions;
mod duration;
mod quantity;
mod util;
mod workloads;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub use duration::human_duration;

/// One column definition of a Table (`meta.k8s.io/v1` `TableColumnDefinition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column header, e.g. `Name` or `Age`.
    pub name: &'static str,
    /// The OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: &'static str,
    /// The OpenAPI format: `name` for the column holding the object name, otherwise empty.
    pub format: &'static str,
    /// A human-readable description of the column.
    pub description: &'static str,
    /// 0 for columns shown by default, 1 for `-o wide` only.
    pub priority: i32,
}

impl Column {
    /// The column as JSON: `{"name","type","format","description","priority"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// What each Table row carries besides its cells (the `includeObject` query parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object (`"object": null`).
    None,
    /// The object's metadata as a `PartialObjectMetadata`, the default.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Errors of the printers module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrinterError {
    /// The `includeObject` parameter is not one of the accepted values.
    #[error(
        "includeObject: Invalid value: \"{0}\": must be 'Metadata', 'Object', 'None', or empty"
    )]
    InvalidIncludeObject(String),
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter: `None`, `Metadata`, `Object`, or empty (the
    /// default, `Metadata`).
    pub fn parse(s: &str) -> Result<Self, PrinterError> {
        match s {
            "None" => Ok(Self::None),
            "Metadata" | "" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            other => Err(PrinterError::InvalidIncludeObject(other.to_string())),
        }
    }
}

/// The resources with a printer of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Printer {
    Default,
    Pods,
    PodTemplates,
    Services,
    Endpoints,
    Namespaces,
    ConfigMaps,
    Secrets,
    ServiceAccounts,
    Nodes,
    Events,
    PersistentVolumes,
    PersistentVolumeClaims,
    ResourceQuotas,
    ReplicationControllers,
    ComponentStatuses,
    Deployments,
    ReplicaSets,
    StatefulSets,
    DaemonSets,
    ControllerRevisions,
    Jobs,
    CronJobs,
    RoleBindings,
    ClusterRoleBindings,
    Leases,
    EndpointSlices,
    Ingresses,
    IngressClasses,
    NetworkPolicies,
    PodDisruptionBudgets,
    StorageClasses,
    CertificateSigningRequests,
    PriorityClasses,
    FlowSchemas,
    PriorityLevels,
    WebhookConfigurations,
    RuntimeClasses,
    ServiceCidrs,
    ApiServices,
    IpAddresses,
    HorizontalPodAutoscalers,
    CsiDrivers,
    CsiNodes,
    CsiStorageCapacities,
    VolumeAttachments,
    VolumeAttributesClasses,
}

fn printer(group: &str, resource: &str) -> Printer {
    use Printer::*;
    match (group, resource) {
        ("", "pods") => Pods,
        ("", "podtemplates") => PodTemplates,
        ("", "services") => Services,
        ("", "endpoints") => Endpoints,
        ("", "namespaces") => Namespaces,
        ("", "configmaps") => ConfigMaps,
        ("", "secrets") => Secrets,
        ("", "serviceaccounts") => ServiceAccounts,
        ("", "nodes") => Nodes,
        // Both groups' Events print from the stored (core) form.
        ("", "events") | ("events.k8s.io", "events") => Events,
        ("", "persistentvolumes") => PersistentVolumes,
        ("", "persistentvolumeclaims") => PersistentVolumeClaims,
        ("", "resourcequotas") => ResourceQuotas,
        ("", "replicationcontrollers") => ReplicationControllers,
        ("", "componentstatuses") => ComponentStatuses,
        ("apps", "deployments") => Deployments,
        ("apps", "replicasets") => ReplicaSets,
        ("apps", "statefulsets") => StatefulSets,
        ("apps", "daemonsets") => DaemonSets,
        ("apps", "controllerrevisions") => ControllerRevisions,
        ("batch", "jobs") => Jobs,
        ("batch", "cronjobs") => CronJobs,
        ("rbac.authorization.k8s.io", "rolebindings") => RoleBindings,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => ClusterRoleBindings,
        ("coordination.k8s.io", "leases") => Leases,
        ("discovery.k8s.io", "endpointslices") => EndpointSlices,
        ("networking.k8s.io", "ingresses") => Ingresses,
        ("networking.k8s.io", "ingressclasses") => IngressClasses,
        ("networking.k8s.io", "networkpolicies") => NetworkPolicies,
        ("policy", "poddisruptionbudgets") => PodDisruptionBudgets,
        ("storage.k8s.io", "storageclasses") => StorageClasses,
        ("certificates.k8s.io", "certificatesigningrequests") => CertificateSigningRequests,
        ("scheduling.k8s.io", "priorityclasses") => PriorityClasses,
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => FlowSchemas,
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => PriorityLevels,
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
        ) => WebhookConfigurations,
        ("node.k8s.io", "runtimeclasses") => RuntimeClasses,
        ("networking.k8s.io", "servicecidrs") => ServiceCidrs,
        ("apiregistration.k8s.io", "apiservices") => ApiServices,
        ("networking.k8s.io", "ipaddresses") => IpAddresses,
        ("autoscaling", "horizontalpodautoscalers") => HorizontalPodAutoscalers,
        ("storage.k8s.io", "csidrivers") => CsiDrivers,
        ("storage.k8s.io", "csinodes") => CsiNodes,
        ("storage.k8s.io", "csistoragecapacities") => CsiStorageCapacities,
        ("storage.k8s.io", "volumeattachments") => VolumeAttachments,
        ("storage.k8s.io", "volumeattributesclasses") => VolumeAttributesClasses,
        // Roles, ClusterRoles, LimitRanges and everything else: upstream has no printer.
        _ => Default,
    }
}

/// The column definitions upstream serves for `resource` of `group` (`""` is the core group).
/// Resources without a printer (Roles, LimitRanges, custom resources, ...) get the default
/// columns `Name` and `Created At`.
pub fn columns(group: &str, resource: &str) -> &'static [Column] {
    use Printer::*;
    match printer(group, resource) {
        Default => columns::DEFAULT,
        Pods => columns::PODS,
        PodTemplates => columns::POD_TEMPLATES,
        Services => columns::SERVICES,
        Endpoints => columns::ENDPOINTS,
        Namespaces => columns::NAMESPACES,
        ConfigMaps => columns::CONFIG_MAPS,
        Secrets => columns::SECRETS,
        ServiceAccounts => columns::SERVICE_ACCOUNTS,
        Nodes => columns::NODES,
        Events => columns::EVENTS,
        PersistentVolumes => columns::PERSISTENT_VOLUMES,
        PersistentVolumeClaims => columns::PERSISTENT_VOLUME_CLAIMS,
        ResourceQuotas => columns::RESOURCE_QUOTAS,
        ReplicationControllers => columns::REPLICATION_CONTROLLERS,
        ComponentStatuses => columns::COMPONENT_STATUSES,
        Deployments => columns::DEPLOYMENTS,
        ReplicaSets => columns::REPLICA_SETS,
        StatefulSets => columns::STATEFUL_SETS,
        DaemonSets => columns::DAEMON_SETS,
        ControllerRevisions => columns::CONTROLLER_REVISIONS,
        Jobs => columns::JOBS,
        CronJobs => columns::CRON_JOBS,
        RoleBindings => columns::ROLE_BINDINGS,
        ClusterRoleBindings => columns::CLUSTER_ROLE_BINDINGS,
        Leases => columns::LEASES,
        EndpointSlices => columns::ENDPOINT_SLICES,
        Ingresses => columns::INGRESSES,
        IngressClasses => columns::INGRESS_CLASSES,
        NetworkPolicies => columns::NETWORK_POLICIES,
        PodDisruptionBudgets => columns::POD_DISRUPTION_BUDGETS,
        StorageClasses => columns::STORAGE_CLASSES,
        CertificateSigningRequests => columns::CERTIFICATE_SIGNING_REQUESTS,
        PriorityClasses => columns::PRIORITY_CLASSES,
        FlowSchemas => columns::FLOW_SCHEMAS,
        PriorityLevels => columns::PRIORITY_LEVELS,
        WebhookConfigurations => columns::WEBHOOK_CONFIGURATIONS,
        RuntimeClasses => columns::RUNTIME_CLASSES,
        ServiceCidrs => columns::SERVICE_CIDRS,
        ApiServices => columns::API_SERVICES,
        IpAddresses => columns::IP_ADDRESSES,
        HorizontalPodAutoscalers => columns::HORIZONTAL_POD_AUTOSCALERS,
        CsiDrivers => columns::CSI_DRIVERS,
        CsiNodes => columns::CSI_NODES,
        CsiStorageCapacities => columns::CSI_STORAGE_CAPACITIES,
        VolumeAttachments => columns::VOLUME_ATTACHMENTS,
        VolumeAttributesClasses => columns::VOLUME_ATTRIBUTES_CLASSES,
    }
}

/// The cells of one object, in the order of [`columns`], typed as upstream types them (strings,
/// JSON integers, booleans). Ages are measured against `now`.
pub fn cells(group: &str, resource: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    use Printer::*;
    match printer(group, resource) {
        Default => vec![util::s(util::name(obj)), util::s(util::created_at(obj))],
        Pods => core_group::pod(obj, now),
        PodTemplates => core_group::pod_template(obj),
        Services => core_group::service(obj, now),
        Endpoints => core_group::endpoints(obj, now),
        Namespaces => core_group::namespace(obj, now),
        ConfigMaps => core_group::config_map(obj, now),
        Secrets => core_group::secret(obj, now),
        ServiceAccounts => core_group::service_account(obj, now),
        Nodes => core_group::node(obj, now),
        Events => core_group::event(obj, now),
        PersistentVolumes => core_group::persistent_volume(obj, now),
        PersistentVolumeClaims => core_group::persistent_volume_claim(obj, now),
        ResourceQuotas => core_group::resource_quota(obj, now),
        ReplicationControllers => core_group::replication_controller(obj, now),
        ComponentStatuses => core_group::component_status(obj),
        Deployments => workloads::deployment(obj, now),
        ReplicaSets => workloads::replica_set(obj, now),
        StatefulSets => workloads::stateful_set(obj, now),
        DaemonSets => workloads::daemon_set(obj, now),
        ControllerRevisions => workloads::controller_revision(obj, now),
        Jobs => workloads::job(obj, now),
        CronJobs => workloads::cron_job(obj, now),
        RoleBindings | ClusterRoleBindings => cluster::role_binding(obj, now),
        Leases => cluster::lease(obj, now),
        EndpointSlices => cluster::endpoint_slice(obj, now),
        Ingresses => cluster::ingress(obj, now),
        IngressClasses => cluster::ingress_class(obj, now),
        NetworkPolicies => cluster::network_policy(obj, now),
        PodDisruptionBudgets => cluster::pod_disruption_budget(obj, now),
        StorageClasses => cluster::storage_class(obj, now),
        CertificateSigningRequests => cluster::certificate_signing_request(obj, now),
        PriorityClasses => cluster::priority_class(obj, now),
        FlowSchemas => cluster::flow_schema(obj, now),
        PriorityLevels => cluster::priority_level(obj, now),
        WebhookConfigurations => cluster::webhook_configuration(obj, now),
        RuntimeClasses => cluster::runtime_class(obj, now),
        ServiceCidrs => cluster::service_cidr(obj, now),
        ApiServices => cluster::api_service(obj, now),
        IpAddresses => cluster::ip_address(obj, now),
        HorizontalPodAutoscalers => autoscaling::horizontal_pod_autoscaler(obj, now),
        CsiDrivers => cluster::csi_driver(obj, now),
        CsiNodes => cluster::csi_node(obj, now),
        CsiStorageCapacities => cluster::csi_storage_capacity(obj, now),
        VolumeAttachments => cluster::volume_attachment(obj, now),
        VolumeAttributesClasses => cluster::volume_attributes_class(obj, now),
    }
}

/// The row `object` for `include`: the object's metadata as `PartialObjectMetadata`, the whole
/// object, or null.
fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").filter(|m| m.is_object()).cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
        }),
    }
}

/// A Table's `metadata`: `resourceVersion` unless empty, `continue` when given and non-empty.
fn list_metadata(resource_version: &str, continue_token: Option<&str>) -> Map<String, Value> {
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert(
            "resourceVersion".to_string(),
            Value::String(resource_version.to_string()),
        );
    }
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".to_string(), Value::String(token.to_string()));
    }
    metadata
}

/// One Table row: `{"cells":[...],"conditions"?:[...],"object":...}`.
///
/// `object` is a `PartialObjectMetadata` for [`IncludeObject::Metadata`], the object itself for
/// [`IncludeObject::Object`], and null for [`IncludeObject::None`] (upstream serializes the empty
/// object as null rather than leaving the key out). Pods that have finished carry upstream's
/// `Completed` row condition.
pub fn table_row(
    group: &str,
    resource: &str,
    obj: &Value,
    now: DateTime<Utc>,
    include_object: IncludeObject,
) -> Value {
    let mut row = Map::new();
    row.insert(
        "cells".to_string(),
        Value::Array(cells(group, resource, obj, now)),
    );
    if printer(group, resource) == Printer::Pods {
        if let Some(conditions) = core_group::pod_row_conditions(obj) {
            row.insert("conditions".to_string(), conditions);
        }
    }
    row.insert("object".to_string(), row_object(obj, include_object));
    Value::Object(row)
}

/// A whole `meta.k8s.io/v1` Table for `objs`: a list, or a single object (one row).
///
/// `resource_version` goes to `metadata.resourceVersion` (left out when empty) and
/// `continue_token`, when given and non-empty, to `metadata.continue`.
pub fn table(
    group: &str,
    resource: &str,
    objs: &[&Value],
    now: DateTime<Utc>,
    include_object: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let metadata = list_metadata(resource_version, continue_token);
    let column_definitions: Vec<Value> = columns(group, resource)
        .iter()
        .map(Column::to_json)
        .collect();
    let rows: Vec<Value> = objs
        .iter()
        .map(|obj| table_row(group, resource, obj, now, include_object))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}
