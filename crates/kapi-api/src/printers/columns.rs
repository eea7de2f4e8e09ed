//! The column sets of upstream's printers, one table per resource. Columns of priority 1 show
//! only with `kubectl get -o wide`; the server always sends them.

use super::descriptions::*;
use super::Column;

const fn col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
    priority: i32,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority,
    }
}

/// The Name column (format `name`).
const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: META_NAME,
    priority: 0,
};

/// The Age column: time since creation, as a string.
const AGE: Column = col("Age", "string", META_CREATION_TIMESTAMP, 0);

const CONTAINERS_WIDE: Column = col(
    "Containers",
    "string",
    "Names of each container in the template.",
    1,
);
const IMAGES_WIDE: Column = col(
    "Images",
    "string",
    "Images referenced by each container in the template.",
    1,
);

/// Resources without a printer: Name and the creation time as a date.
pub(super) const DEFAULT: &[Column] =
    &[NAME, col("Created At", "date", META_CREATION_TIMESTAMP, 0)];

pub(super) const PODS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
        0,
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
        0,
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        0,
    ),
    AGE,
    col("IP", "string", POD_STATUS_POD_IP, 1),
    col("Node", "string", POD_SPEC_NODE_NAME, 1),
    col("Nominated Node", "string", POD_STATUS_NOMINATED_NODE_NAME, 1),
    col("Readiness Gates", "string", POD_SPEC_READINESS_GATES, 1),
];

pub(super) const POD_TEMPLATES: &[Column] = &[
    NAME,
    col(
        "Containers",
        "string",
        "Names of each container in the template.",
        0,
    ),
    col(
        "Images",
        "string",
        "Images referenced by each container in the template.",
        0,
    ),
    col(
        "Pod Labels",
        "string",
        "The labels for the pod template.",
        0,
    ),
];

pub(super) const POD_DISRUPTION_BUDGETS: &[Column] = &[
    NAME,
    col(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
        0,
    ),
    col(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
        0,
    ),
    col(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
        0,
    ),
    AGE,
];

pub(super) const REPLICATION_CONTROLLERS: &[Column] = &[
    NAME,
    col("Desired", "integer", RC_SPEC_REPLICAS, 0),
    col("Current", "integer", RC_STATUS_REPLICAS, 0),
    col("Ready", "integer", RC_STATUS_READY_REPLICAS, 0),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
    col("Selector", "string", RC_SPEC_SELECTOR, 1),
];

pub(super) const REPLICA_SETS: &[Column] = &[
    NAME,
    col("Desired", "integer", RS_SPEC_REPLICAS, 0),
    col("Current", "integer", RS_STATUS_REPLICAS, 0),
    col("Ready", "integer", RS_STATUS_READY_REPLICAS, 0),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
    col("Selector", "string", RS_SPEC_SELECTOR, 1),
];

pub(super) const DAEMON_SETS: &[Column] = &[
    NAME,
    col("Desired", "integer", DS_STATUS_DESIRED, 0),
    col("Current", "integer", DS_STATUS_CURRENT, 0),
    col("Ready", "integer", DS_STATUS_READY, 0),
    col("Up-to-date", "integer", DS_STATUS_UPDATED, 0),
    col("Available", "integer", DS_STATUS_AVAILABLE, 0),
    col("Node Selector", "string", POD_SPEC_NODE_SELECTOR, 0),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
    col("Selector", "string", DS_SPEC_SELECTOR, 1),
];

pub(super) const JOBS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job.", 0),
    col("Completions", "string", JOB_STATUS_SUCCEEDED, 0),
    col(
        "Duration",
        "string",
        "Time required to complete the job.",
        0,
    ),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
    col("Selector", "string", JOB_SPEC_SELECTOR, 1),
];

pub(super) const CRON_JOBS: &[Column] = &[
    NAME,
    col("Schedule", "string", CRONJOB_SPEC_SCHEDULE, 0),
    col("Timezone", "string", CRONJOB_SPEC_TIME_ZONE, 0),
    col("Suspend", "boolean", CRONJOB_SPEC_SUSPEND, 0),
    col("Active", "integer", CRONJOB_STATUS_ACTIVE, 0),
    col("Last Schedule", "string", CRONJOB_STATUS_LAST_SCHEDULE, 0),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
    col("Selector", "string", JOB_SPEC_SELECTOR, 1),
];

pub(super) const SERVICES: &[Column] = &[
    NAME,
    col("Type", "string", SVC_SPEC_TYPE, 0),
    col("Cluster-IP", "string", SVC_SPEC_CLUSTER_IP, 0),
    col("External-IP", "string", SVC_SPEC_EXTERNAL_IPS, 0),
    col("Port(s)", "string", SVC_SPEC_PORTS, 0),
    AGE,
    col("Selector", "string", SVC_SPEC_SELECTOR, 1),
];

pub(super) const INGRESSES: &[Column] = &[
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
        0,
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
        0,
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
        0,
    ),
    col(
        "Ports",
        "string",
        "Ports of TLS configurations that open",
        0,
    ),
    AGE,
];

pub(super) const INGRESS_CLASSES: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
        0,
    ),
    col(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
        0,
    ),
    AGE,
];

pub(super) const STATEFUL_SETS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state", 0),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
];

pub(super) const ENDPOINTS: &[Column] =
    &[NAME, col("Endpoints", "string", ENDPOINTS_SUBSETS, 0), AGE];

pub(super) const NODES: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node", 0),
    col("Roles", "string", "The roles of the node", 0),
    AGE,
    col("Version", "string", NODE_INFO_KUBELET_VERSION, 0),
    col("Internal-IP", "string", NODE_STATUS_ADDRESSES, 1),
    col("External-IP", "string", NODE_STATUS_ADDRESSES, 1),
    col("OS-Image", "string", NODE_INFO_OS_IMAGE, 1),
    col("Kernel-Version", "string", NODE_INFO_KERNEL_VERSION, 1),
    col(
        "Container-Runtime",
        "string",
        NODE_INFO_CONTAINER_RUNTIME,
        1,
    ),
];

pub(super) const EVENTS: &[Column] = &[
    col("Last Seen", "string", EVENT_LAST_TIMESTAMP, 0),
    col("Type", "string", EVENT_TYPE, 0),
    col("Reason", "string", EVENT_REASON, 0),
    col("Object", "string", EVENT_INVOLVED_OBJECT, 0),
    col("Subobject", "string", OBJECT_REFERENCE_FIELD_PATH, 1),
    col("Source", "string", EVENT_SOURCE, 1),
    col("Message", "string", EVENT_MESSAGE, 0),
    col("First Seen", "string", EVENT_FIRST_TIMESTAMP, 1),
    col("Count", "string", EVENT_COUNT, 1),
    Column {
        priority: 1,
        ..NAME
    },
];

pub(super) const NAMESPACES: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace", 0),
    AGE,
];

pub(super) const SECRETS: &[Column] = &[
    NAME,
    col("Type", "string", SECRET_TYPE, 0),
    col("Data", "string", SECRET_DATA, 0),
    AGE,
];

pub(super) const SERVICE_ACCOUNTS: &[Column] = &[
    NAME,
    col("Secrets", "string", SERVICE_ACCOUNT_SECRETS, 0),
    AGE,
];

pub(super) const PERSISTENT_VOLUMES: &[Column] = &[
    NAME,
    col("Capacity", "string", PV_SPEC_CAPACITY, 0),
    col("Access Modes", "string", PV_SPEC_ACCESS_MODES, 0),
    col("Reclaim Policy", "string", PV_SPEC_RECLAIM_POLICY, 0),
    col("Status", "string", PV_STATUS_PHASE, 0),
    col("Claim", "string", PV_SPEC_CLAIM_REF, 0),
    col("StorageClass", "string", "StorageClass of the pv", 0),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
        0,
    ),
    col("Reason", "string", PV_STATUS_REASON, 0),
    AGE,
    col("VolumeMode", "string", PV_SPEC_VOLUME_MODE, 1),
];

pub(super) const PERSISTENT_VOLUME_CLAIMS: &[Column] = &[
    NAME,
    col("Status", "string", PVC_STATUS_PHASE, 0),
    col("Volume", "string", PVC_SPEC_VOLUME_NAME, 0),
    col("Capacity", "string", PVC_STATUS_CAPACITY, 0),
    col("Access Modes", "string", PVC_STATUS_ACCESS_MODES, 0),
    col("StorageClass", "string", "StorageClass of the pvc", 0),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
        0,
    ),
    AGE,
    col("VolumeMode", "string", PVC_SPEC_VOLUME_MODE, 1),
];

pub(super) const COMPONENT_STATUSES: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the component conditions", 0),
    col(
        "Message",
        "string",
        "Message of the component conditions",
        0,
    ),
    col("Error", "string", "Error of the component conditions", 0),
];

pub(super) const DEPLOYMENTS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state", 0),
    col("Up-to-date", "string", DEPLOY_STATUS_UPDATED, 0),
    col("Available", "string", DEPLOY_STATUS_AVAILABLE, 0),
    AGE,
    CONTAINERS_WIDE,
    IMAGES_WIDE,
    col("Selector", "string", DEPLOY_SPEC_SELECTOR, 1),
];

pub(super) const CONFIG_MAPS: &[Column] = &[NAME, col("Data", "string", CONFIGMAP_DATA, 0), AGE];

pub(super) const NETWORK_POLICIES: &[Column] = &[
    NAME,
    col("Pod-Selector", "string", NETPOL_SPEC_POD_SELECTOR, 0),
    AGE,
];

pub(super) const ROLE_BINDINGS: &[Column] = &[
    NAME,
    col("Role", "string", ROLE_BINDING_ROLE_REF, 0),
    AGE,
    col("Users", "string", "Users in the roleBinding", 1),
    col("Groups", "string", "Groups in the roleBinding", 1),
    col(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
        1,
    ),
];

pub(super) const CLUSTER_ROLE_BINDINGS: &[Column] = &[
    NAME,
    col("Role", "string", CLUSTER_ROLE_BINDING_ROLE_REF, 0),
    AGE,
    col("Users", "string", "Users in the clusterRoleBinding", 1),
    col("Groups", "string", "Groups in the clusterRoleBinding", 1),
    col(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
        1,
    ),
];

pub(super) const CERTIFICATE_SIGNING_REQUESTS: &[Column] = &[
    NAME,
    AGE,
    col("SignerName", "string", CSR_SPEC_SIGNER_NAME, 0),
    col("Requestor", "string", CSR_SPEC_REQUEST, 0),
    col(
        "RequestedDuration",
        "string",
        CSR_SPEC_EXPIRATION_SECONDS,
        0,
    ),
    col("Condition", "string", CSR_STATUS_CONDITIONS, 0),
];

pub(super) const LEASES: &[Column] = &[
    NAME,
    col("Holder", "string", LEASE_SPEC_HOLDER_IDENTITY, 0),
    AGE,
];

pub(super) const STORAGE_CLASSES: &[Column] = &[
    NAME,
    col("Provisioner", "string", STORAGE_CLASS_PROVISIONER, 0),
    col("ReclaimPolicy", "string", STORAGE_CLASS_RECLAIM_POLICY, 0),
    col("VolumeBindingMode", "string", STORAGE_CLASS_BINDING_MODE, 0),
    col(
        "AllowVolumeExpansion",
        "string",
        STORAGE_CLASS_ALLOW_EXPANSION,
        0,
    ),
    AGE,
];

pub(super) const CONTROLLER_REVISIONS: &[Column] = &[
    NAME,
    col("Controller", "string", "Controller of the object", 0),
    col("Revision", "string", CONTROLLER_REVISION_REVISION, 0),
    AGE,
];

pub(super) const RESOURCE_QUOTAS: &[Column] = &[
    NAME,
    col(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
        0,
    ),
    col(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        0,
    ),
    AGE,
];

pub(super) const PRIORITY_CLASSES: &[Column] = &[
    NAME,
    col("Value", "integer", PRIORITY_CLASS_VALUE, 0),
    col(
        "Global-Default",
        "boolean",
        PRIORITY_CLASS_GLOBAL_DEFAULT,
        0,
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        PRIORITY_CLASS_PREEMPTION_POLICY,
        0,
    ),
];

pub(super) const ENDPOINT_SLICES: &[Column] = &[
    NAME,
    col("AddressType", "string", ENDPOINT_SLICE_ADDRESS_TYPE, 0),
    col("Ports", "string", ENDPOINT_SLICE_PORTS, 0),
    col("Endpoints", "string", ENDPOINT_SLICE_ENDPOINTS, 0),
    AGE,
];

pub(super) const WEBHOOK_CONFIGURATIONS: &[Column] = &[
    NAME,
    col(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
        0,
    ),
    AGE,
];

pub(super) const API_SERVICES: &[Column] = &[
    NAME,
    col(
        "Service",
        "string",
        "The reference to the service that hosts this API endpoint.",
        0,
    ),
    col(
        "Available",
        "string",
        "Whether this service is available.",
        0,
    ),
    AGE,
];

pub(super) const SERVICE_CIDRS: &[Column] = &[
    NAME,
    col(
        "CIDRs",
        "string",
        "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs. Max of two CIDRs is allowed, one of each IP family. This field is immutable.",
        0,
    ),
    AGE,
];

pub(super) const IP_ADDRESSES: &[Column] = &[
    NAME,
    col(
        "ParentRef",
        "string",
        "ParentRef references the resource that an IPAddress is attached to. An IPAddress must reference a parent object.",
        0,
    ),
];

pub(super) const RUNTIME_CLASSES: &[Column] = &[
    NAME,
    // Upstream points this description at a field ObjectMeta does not have, so it is empty.
    col("Handler", "string", "", 0),
    AGE,
];

pub(super) const FLOW_SCHEMAS: &[Column] = &[
    NAME,
    col(
        "PriorityLevel",
        "string",
        "The PriorityLevelConfiguration the schema sends requests to.",
        0,
    ),
    col(
        "MatchingPrecedence",
        "string",
        "Lower precedences are matched first.",
        0,
    ),
    col(
        "DistinguisherMethod",
        "string",
        "How requests are split into flows: ByUser, ByNamespace or none.",
        0,
    ),
    AGE,
    col(
        "MissingPL",
        "string",
        "Whether the named PriorityLevelConfiguration is missing (the Dangling condition).",
        0,
    ),
];

pub(super) const PRIORITY_LEVELS: &[Column] = &[
    NAME,
    col("Type", "string", "Limited or Exempt.", 0),
    col(
        "NominalConcurrencyShares",
        "string",
        "This level's share of the server's concurrency.",
        0,
    ),
    col("Queues", "string", "Number of queues.", 0),
    col("HandSize", "string", "Queues dealt to each flow.", 0),
    col(
        "QueueLengthLimit",
        "string",
        "Requests one queue may hold.",
        0,
    ),
    AGE,
];

pub(super) const HORIZONTAL_POD_AUTOSCALERS: &[Column] = &[
    NAME,
    col("Reference", "string", HPA_SPEC_SCALE_TARGET_REF, 0),
    col("Targets", "string", HPA_SPEC_METRICS, 0),
    col("MinPods", "string", HPA_SPEC_MIN_REPLICAS, 0),
    col("MaxPods", "string", HPA_SPEC_MAX_REPLICAS, 0),
    col("Replicas", "string", HPA_STATUS_CURRENT_REPLICAS, 0),
    AGE,
];

pub(super) const CSI_DRIVERS: &[Column] = &[
    NAME,
    col("AttachRequired", "boolean", CSI_DRIVER_ATTACH_REQUIRED, 0),
    col("PodInfoOnMount", "boolean", CSI_DRIVER_POD_INFO_ON_MOUNT, 0),
    col("StorageCapacity", "boolean", CSI_DRIVER_STORAGE_CAPACITY, 0),
    col("TokenRequests", "string", CSI_DRIVER_TOKEN_REQUESTS, 0),
    col(
        "RequiresRepublish",
        "boolean",
        CSI_DRIVER_REQUIRES_REPUBLISH,
        0,
    ),
    col("Modes", "string", CSI_DRIVER_MODES, 0),
    AGE,
];

pub(super) const CSI_NODES: &[Column] = &[
    NAME,
    col(
        "Drivers",
        "integer",
        "Drivers indicates the number of CSI drivers registered on the node",
        0,
    ),
    AGE,
];

/// Upstream's CSIStorageCapacity table has no Age column.
pub(super) const CSI_STORAGE_CAPACITIES: &[Column] = &[
    NAME,
    col("StorageClassName", "string", CSI_CAPACITY_STORAGE_CLASS, 0),
    col("Capacity", "string", CSI_CAPACITY_CAPACITY, 0),
];

pub(super) const VOLUME_ATTACHMENTS: &[Column] = &[
    NAME,
    col("Attacher", "string", VOLUME_ATTACHMENT_ATTACHER, 0),
    col("PV", "string", VOLUME_ATTACHMENT_PV, 0),
    col("Node", "string", VOLUME_ATTACHMENT_NODE, 0),
    col("Attached", "boolean", VOLUME_ATTACHMENT_ATTACHED, 0),
    AGE,
];

pub(super) const VOLUME_ATTRIBUTES_CLASSES: &[Column] = &[
    NAME,
    col("DriverName", "string", VOLUME_ATTRIBUTES_CLASS_DRIVER, 0),
    AGE,
];
