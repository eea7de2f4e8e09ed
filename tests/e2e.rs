//! End-to-end tests: a real `kapi server` binary over real TLS, driven by real clients
//! (kubectl, curl, the Python `kubernetes` package).

mod support;

mod admission; // service-account admission of pods
mod apply; // server-side apply: ownership, conflicts, force, pruning, CSA migration, status
mod auth; // tokens, RBAC, reviews, impersonation, escalation
mod autoscaling; // HorizontalPodAutoscalers: kubectl autoscale, v1 and v2, scaling on CPU from metrics.k8s.io
mod clients; // kube-rs and the Python kubernetes package
mod controllers; // default accounts, root CA, token Secrets, CSR signing, leader Lease, --controllers
mod crash; // SIGKILL during a stream of writes loses no acknowledged write
mod crds; // CustomResourceDefinitions: served at once, schema-validated, printer columns, status, deletion
mod errors; // bad input gets the right Status and never hurts the server
mod etcd; // the cluster in etcd: restarts, two servers sharing it, the kubernetes Service listing the live ones
mod jobs; // Jobs (completions, backoff, deadline, indexes), TTL after finished, CronJobs
mod kubectl; // everyday kubectl: get, create, apply, edit, describe, delete, tables
mod limits; // patch and YAML bombs, slow and idle connections, descriptors, priority and fairness
mod metrics; // kubectl top: kubelet /metrics/resource scraped into metrics.k8s.io
mod node; // pods through containerd: status, logs, exec, cp, volumes, deletion, failures, scheduling, adoption
mod openapi; // OpenAPI v3 for explain and apply; fieldValidation Strict, Warn and Ignore
mod proxy; // kapi proxy and kapi kubeconfig
mod services;
mod sets; // StatefulSets and DaemonSets: ordered pods, claims, partitions, daemons per node, kubectl rollout // EndpointSlices, the service proxy (ClusterIP, NodePort, LoadBalancer, affinity), API server proxy, allocation
mod simulated; // kwok-style simulated nodes: Ready nodes, running pods, deployments and namespaces of 1,000 pods deleted
mod watch; // watch streams: resume, bookmarks, initial events
mod webhooks;
mod workloads; // Deployments, ReplicaSets, rollouts with kubectl, garbage collection and cascading deletes // admission webhooks: a real HTTPS webhook denies, mutates, warns; failurePolicy
