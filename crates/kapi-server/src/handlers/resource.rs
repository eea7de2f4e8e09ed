//! The resource verbs: get, list, watch, create, update, patch, delete, deletecollection,
//! and the status and scale subresources, for every resource in the table.

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderValue, Request, Response};
use kapi_api::printers::IncludeObject;
use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use kapi_auth::UserInfo;
use serde_json::{json, Value};

use super::body;
use super::negotiate::{shape, Query, Shape};
use super::versions::{self, shown};
use crate::registry::{self, list_options, DeleteOutcome, PatchType, WriteOptions};
use crate::request_info::RequestInfo;
use crate::response::{self, Body};
use crate::Server;

/// Serves a resource request already authenticated and authorized.
pub async fn serve(
    server: &Server,
    user: &UserInfo,
    info: &RequestInfo,
    query: &Query,
    req: Request<super::ReqBody>,
) -> Result<Response<Body>, ApiError> {
    if info.group == crate::metrics::GROUP && info.version == crate::metrics::VERSION {
        return crate::metrics::api::serve(server, info, query);
    }
    let def = resources::find(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::no_route)?;
    if !def.namespaced && !info.namespace.is_empty() && def.resource != "namespaces" {
        return Err(ApiError::no_route());
    }
    let ns = if def.namespaced && !info.namespace.is_empty() {
        Some(info.namespace.as_str())
    } else {
        None
    };
    let verbs: &[&str] = if info.subresource.is_empty() {
        def.verbs
    } else {
        def.subresource(&info.subresource)
            .ok_or_else(ApiError::no_route)?
            .verbs
    };
    if !verbs.contains(&info.verb.as_str()) {
        return Err(ApiError::method_not_supported(
            def.group,
            def.resource,
            &info.verb,
        ));
    }
    if def.namespaced && ns.is_none() && matches!(info.verb.as_str(), "create" | "deletecollection")
    {
        return Err(ApiError::method_not_supported(
            def.group,
            def.resource,
            &info.verb,
        ));
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept_encoding = req.headers().get(header::ACCEPT_ENCODING).cloned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let shape = shape(&accept)?;
    let registry = &server.registry;
    let write_opts = || -> Result<WriteOptions, ApiError> {
        let dry_run = match query.get("dryRun") {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
                )))
            }
        };
        let field_manager = query
            .get("fieldManager")
            .map(str::to_string)
            .unwrap_or_else(|| default_manager(&user_agent));
        check_field_manager(&info.verb, &field_manager)?;
        let field_validation = WriteOptions::parse_field_validation(query.get("fieldValidation"))?;
        let node = crate::filters::node_authz::node_name(user).map(str::to_string);
        let restricted = matches!(
            (def.group, def.resource),
            ("", "pods") | ("", "nodes") | ("coordination.k8s.io", "leases")
        );
        if let (Some(node), true) = (node, restricted) {
            let (verb, subresource) = (info.verb.clone(), info.subresource.clone());
            let (registry, ns) = (server.registry.clone(), ns.map(str::to_string));
            let admit: crate::registry::Admit = std::sync::Arc::new(move |obj: &Value| {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                // A create is judged on its own (an existing object makes it a 409 later).
                let stored = (verb != "create")
                    .then(|| registry.get_value(def, ns.as_deref(), name).ok())
                    .flatten()
                    .map(|(v, _)| v);
                crate::admission::node_restriction::check(
                    &node,
                    def,
                    &verb,
                    &subresource,
                    name,
                    crate::admission::node_restriction::Write::Store(obj),
                    stored.as_ref(),
                )
            });
            return Ok(WriteOptions {
                dry_run,
                field_manager,
                admit: Some(admit),
                field_validation,
                warnings: Default::default(),
                user: Some(std::sync::Arc::new(user.clone())),
            });
        }
        let admit: Option<crate::registry::Admit> = (def.group == "rbac.authorization.k8s.io")
            .then(|| {
                let (authz, registry, user) =
                    (server.authz.clone(), server.registry.clone(), user.clone());
                let namespace = info.namespace.clone();
                let admit: crate::registry::Admit = std::sync::Arc::new(move |obj: &Value| {
                    crate::admission::rbac_escalation::check(
                        &authz, &registry, &user, def, &namespace, obj,
                    )
                });
                admit
            });
        Ok(WriteOptions {
            dry_run,
            field_manager,
            admit,
            field_validation,
            warnings: Default::default(),
            user: Some(std::sync::Arc::new(user.clone())),
        })
    };

    if def.group == "certificates.k8s.io"
        && matches!(info.verb.as_str(), "update" | "patch")
        && matches!(info.subresource.as_str(), "approval" | "status")
    {
        let (csr, _) = registry.get_value(def, None, &info.name)?;
        let signer = csr
            .pointer("/spec/signerName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let verb = if info.subresource == "approval" {
            "approve"
        } else {
            "sign"
        };
        crate::admission::certificates::check_signer(
            &server.authz,
            user,
            &info.name,
            signer,
            verb,
        )?;
    }
    match (info.verb.as_str(), info.subresource.as_str()) {
        ("get", "scale") => {
            let (obj, _) = registry.get_value(def, ns, &info.name)?;
            Ok(response::json_value(200, &to_scale(def, &obj)))
        }
        ("get", "") | ("list", "")
            if def.group.is_empty() && def.resource == "componentstatuses" =>
        {
            let items = component_statuses(server);
            if info.verb == "get" {
                let item = items
                    .into_iter()
                    .find(|i| {
                        i.pointer("/metadata/name").and_then(Value::as_str)
                            == Some(info.name.as_str())
                    })
                    .ok_or_else(|| ApiError::not_found("", "componentstatuses", &info.name))?;
                return single(def, shape, Bytes::from(item.to_string()), query);
            }
            let page = registry::ListPage {
                items: items.iter().map(|i| Bytes::from(i.to_string())).collect(),
                revision: registry.store().revision(),
                continue_token: None,
            };
            list(def, shape, page, query, accept_encoding.as_ref())
        }
        // The approval and ephemeralcontainers subresources read as the object itself.
        ("get", "" | "status" | "approval" | "ephemeralcontainers") => {
            match query.get("resourceVersion").filter(|rv| !rv.is_empty()) {
                Some(rv) => {
                    list_options::resource_version(rv)?;
                }
                None => registry.sync().await?,
            }
            let bytes = shown(def, shape, registry.get(def, ns, &info.name)?)?;
            single(def, shape, bytes, query)
        }
        ("list", _) => {
            let opts = list_options::parse(&query.0, def)?;
            opts.check_initial_events(false)?;
            let mut page = registry.list(def, ns, &opts).await?;
            if versions::is_view(def) {
                page.items = page
                    .items
                    .into_iter()
                    .map(|b| shown(def, shape, b))
                    .collect::<Result<_, _>>()?;
            }
            list(def, shape, page, query, accept_encoding.as_ref())
        }
        ("watch", _) => {
            let mut opts = list_options::parse(&query.0, def)?;
            if !info.name.is_empty() {
                opts.fields = kapi_api::selectors::FieldSelector::parse(&format!(
                    "metadata.name={}",
                    info.name
                ))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            crate::watch::serve(server, def, ns, opts, shape)
        }
        ("create", "") if def.group.is_empty() && def.resource == "bindings" => {
            let bytes = body::read(req.into_body()).await?;
            let binding = body::decode_object(&content_type, &bytes)?;
            let pods = resources::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
            registry
                .bind(pods, &info.namespace, &binding, &write_opts()?)
                .await?;
            Ok(response::json_value(201, &binding_success()))
        }
        ("create", "") if !def.is_stored() => {
            let bytes = body::read(req.into_body()).await?;
            let obj = body::decode_object(&content_type, &bytes)?;
            let answer = super::reviews::review(server, user, def, &info.namespace, &obj)?;
            Ok(response::json_value(201, &answer))
        }
        ("create", "token") => {
            let bytes = body::read(req.into_body()).await?;
            let obj = if bytes.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                body::decode_object(&content_type, &bytes)?
            };
            let answer = super::reviews::token_request(server, &info.namespace, &info.name, &obj)?;
            Ok(response::json_value(201, &answer))
        }
        ("create", "") => {
            let bytes = body::read(req.into_body()).await?;
            let mut obj = body::decode_object(&content_type, &bytes)?;
            if def.group.is_empty() && def.resource == "pods" {
                crate::admission::service_account::admit(registry, &info.namespace, &mut obj)?;
                crate::admission::default_tolerations::admit(&mut obj);
            }
            if def.group == "certificates.k8s.io" {
                crate::admission::certificates::record_requester(user, &mut obj);
            }
            let opts = write_opts()?;
            let (stored, obj) = versions::to_storage(def, obj)?;
            let created = shown(def, shape, registry.create(stored, ns, obj, &opts).await?)?;
            single_status(def, shape, created, 201, query).map(|r| with_warnings(r, &opts))
        }
        ("create", "binding") => {
            let bytes = body::read(req.into_body()).await?;
            let mut binding = body::decode_object(&content_type, &bytes)?;
            let body_name = binding
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !body_name.is_empty() && body_name != info.name {
                return Err(ApiError::bad_request(format!(
                    "name in binding ({body_name}) does not match the pod's name ({})",
                    info.name
                )));
            }
            binding["metadata"]["name"] = json!(info.name);
            registry
                .bind(def, &info.namespace, &binding, &write_opts()?)
                .await?;
            Ok(response::json_value(201, &binding_success()))
        }
        ("get", "log") | ("get" | "create", "exec" | "attach" | "portforward") => {
            super::pod_stream::serve(server, info, query, req).await
        }
        (_, "proxy") if def.group.is_empty() => {
            super::backend_proxy::serve(server, info, req).await
        }
        ("create", "eviction") => Err(ApiError::method_not_supported(
            def.group,
            &format!("{}/{}", def.resource, info.subresource),
            "create",
        )),
        ("update", "scale") => {
            let bytes = body::read(req.into_body()).await?;
            let scale = body::decode_object(&content_type, &bytes)?;
            let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            let patch = replicas_patch(def, replicas);
            let (updated, _) = registry
                .patch(
                    def,
                    ns,
                    &info.name,
                    "scale",
                    PatchType::Merge,
                    &patch,
                    &write_opts()?,
                )
                .await?;
            Ok(response::json_value(
                200,
                &to_scale(def, &registry::decode(&updated)?),
            ))
        }
        ("update", sub) => {
            let bytes = body::read(req.into_body()).await?;
            let obj = body::decode_object(&content_type, &bytes)?;
            let opts = write_opts()?;
            let (stored, obj) = versions::to_storage(def, obj)?;
            let updated = registry
                .update(stored, ns, &info.name, sub, obj, &opts)
                .await?;
            single(def, shape, shown(def, shape, updated)?, query).map(|r| with_warnings(r, &opts))
        }
        ("patch", sub) => {
            let patch_type = match body::media_type(&content_type) {
                "application/json-patch+json" => PatchType::Json,
                "application/merge-patch+json" => PatchType::Merge,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml" => {
                    if query.get("fieldManager").is_none_or(str::is_empty) {
                        return Err(ApiError::bad_request(
                            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                        ));
                    }
                    PatchType::Apply {
                        force: query.flag("force"),
                    }
                }
                other => {
                    return Err(ApiError::unsupported_media_type(
                        other,
                        &[
                            "application/json-patch+json",
                            "application/merge-patch+json",
                            "application/apply-patch+yaml",
                            "application/strategic-merge-patch+json",
                        ],
                    ))
                }
            };
            let bytes = body::read(req.into_body()).await?;
            if sub == "scale" {
                let scale_patch: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                let (current, _) = registry.get_value(def, ns, &info.name)?;
                let scale = to_scale(def, &current);
                let patched = match patch_type {
                    PatchType::Json => kapi_api::patch::apply_json_patch(&scale, &bytes),
                    PatchType::Merge => kapi_api::patch::apply_merge_patch(&scale, &bytes),
                    _ => kapi_api::patch::apply_strategic_merge_patch(
                        &scale,
                        &scale_patch,
                        "autoscaling",
                        "Scale",
                    ),
                }
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let replicas = patched
                    .pointer("/spec/replicas")
                    .cloned()
                    .unwrap_or(json!(0));
                let patch = replicas_patch(def, replicas);
                let (updated, _) = registry
                    .patch(
                        def,
                        ns,
                        &info.name,
                        "scale",
                        PatchType::Merge,
                        &patch,
                        &write_opts()?,
                    )
                    .await?;
                return Ok(response::json_value(
                    200,
                    &to_scale(def, &registry::decode(&updated)?),
                ));
            }
            let opts = write_opts()?;
            if versions::is_view(def) && matches!(patch_type, PatchType::Apply { .. }) {
                let config = versions::apply_configuration(def, &bytes)?;
                let (applied, created) = registry
                    .patch(
                        resources::storage(def),
                        ns,
                        &info.name,
                        sub,
                        patch_type,
                        &config,
                        &opts,
                    )
                    .await?;
                let code = if created { 201 } else { 200 };
                return single_status(def, shape, shown(def, shape, applied)?, code, query)
                    .map(|r| with_warnings(r, &opts));
            }
            if versions::is_view(def) {
                let stored = resources::storage(def);
                let (current, _) = registry.get_value(stored, ns, &info.name)?;
                let obj = versions::patched(def, current, patch_type, &bytes)?;
                let updated = registry
                    .update(stored, ns, &info.name, sub, obj, &opts)
                    .await?;
                return single(def, shape, shown(def, shape, updated)?, query)
                    .map(|r| with_warnings(r, &opts));
            }
            let (patched, created) = registry
                .patch(def, ns, &info.name, sub, patch_type, &bytes, &opts)
                .await?;
            single_status(def, shape, patched, if created { 201 } else { 200 }, query)
                .map(|r| with_warnings(r, &opts))
        }
        ("delete", "") => {
            if let Some(node) = crate::filters::node_authz::node_name(user) {
                if def.group.is_empty() && matches!(def.resource, "pods" | "nodes") {
                    let (stored, _) = registry.get_value(def, ns, &info.name)?;
                    crate::admission::node_restriction::check(
                        node,
                        def,
                        "delete",
                        "",
                        &info.name,
                        crate::admission::node_restriction::Write::Remove(&stored),
                        None,
                    )?;
                }
            }
            let bytes = body::read(req.into_body()).await?;
            let options = delete_options(&content_type, &bytes, query)?;
            let dry_run = write_opts()?.dry_run
                || options
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|d| !d.is_empty());
            let unsafe_delete = options.get("ignoreStoreReadErrorWithClusterBreakingPotential")
                == Some(&Value::Bool(true));
            if unsafe_delete && registry.is_corrupt(def, ns, &info.name) {
                // Deleting what cannot be read skips finalizers and garbage collection, so it
                // takes a verb of its own, as upstream's unsafe deletion does.
                let mut check = info.clone();
                check.verb = "delete-ignore-read-errors".into();
                server.authz.authorize(user, &check)?;
                if !dry_run {
                    registry.delete_corrupt(def, ns, &info.name).await?;
                }
                return Ok(response::json_value(
                    200,
                    &json!({
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {"name": info.name, "group": def.group, "kind": def.resource},
                    }),
                ));
            }
            match registry
                .delete(def, ns, &info.name, &options, dry_run, Some(user))
                .await?
            {
                DeleteOutcome::Pending(obj) => {
                    let obj = shown(def, shape, obj)?;
                    // As upstream: 202 only when the client asked for cascading deletion with
                    // the old `orphanDependents: false`; every other pending delete is a 200.
                    let code = if options.get("orphanDependents") == Some(&Value::Bool(false)) {
                        202
                    } else {
                        200
                    };
                    single_status(def, shape, obj, code, query)
                }
                DeleteOutcome::Terminating(obj) => {
                    single_status(def, shape, shown(def, shape, obj)?, 200, query)
                }
                DeleteOutcome::Deleted(obj) => {
                    if returns_deleted_object(def) {
                        single(def, shape, shown(def, shape, obj)?, query)
                    } else {
                        let v = registry::decode(&obj)?;
                        Ok(response::json_value(
                            200,
                            &json!({
                                "kind": "Status",
                                "apiVersion": "v1",
                                "metadata": {},
                                "status": "Success",
                                "details": {
                                    "name": info.name,
                                    "group": def.group,
                                    "kind": def.resource,
                                    "uid": v.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                                }
                            }),
                        ))
                    }
                }
            }
        }
        ("deletecollection", "") => {
            let bytes = body::read(req.into_body()).await?;
            let options = delete_options(&content_type, &bytes, query)?;
            let dry_run = write_opts()?.dry_run;
            let opts = list_options::parse(&query.0, def)?;
            let page = registry.list(def, ns, &opts).await?;
            let mut deleted = Vec::new();
            for item in page.items {
                let v = registry::decode(&item)?;
                let name = v
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let item_ns = v
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match registry
                    .delete(
                        def,
                        item_ns.as_deref().or(ns),
                        &name,
                        &options,
                        dry_run,
                        Some(user),
                    )
                    .await
                {
                    Ok(DeleteOutcome::Deleted(b))
                    | Ok(DeleteOutcome::Pending(b))
                    | Ok(DeleteOutcome::Terminating(b)) => {
                        deleted.push(shown(def, Shape::Object, b)?)
                    }
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let page = registry::ListPage {
                items: deleted,
                revision: registry.store().revision(),
                continue_token: None,
            };
            list(def, Shape::Object, page, query, None)
        }
        _ => Err(ApiError::method_not_supported(
            def.group,
            def.resource,
            &info.verb,
        )),
    }
}

/// `fieldManager` as upstream validates it: at most 128 bytes, printable characters only;
/// 422 on the verb's options kind.
fn check_field_manager(verb: &str, manager: &str) -> Result<(), ApiError> {
    let kind = match verb {
        "create" => "CreateOptions",
        "patch" => "PatchOptions",
        _ => "UpdateOptions",
    };
    let mut causes = Vec::new();
    if manager.len() > 128 {
        causes.push(kapi_api::status::Cause {
            reason: "FieldValueTooLong".into(),
            message: "Too long: may not be more than 128 bytes".into(),
            field: "fieldManager".into(),
        });
    }
    for (at, c) in manager.char_indices() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            let why = format!("invalid character U+{:04X} (at position {at})", c as u32);
            causes.push(kapi_api::status::invalid_value(
                "fieldManager",
                manager,
                &why,
            ));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid("meta.k8s.io", kind, "", causes))
}

/// `kubectl get cs`: kapi's own components, each reporting whether it is serving.
fn component_statuses(server: &Server) -> Vec<Value> {
    let store_ok = server.registry.store().revision() > 0;
    let item = |name: &str, healthy: bool, message: &str| {
        json!({
            "kind": "ComponentStatus",
            "apiVersion": "v1",
            "metadata": {"name": name, "creationTimestamp": null},
            "conditions": [{"type": "Healthy", "status": if healthy { "True" } else { "False" }, "message": message}],
        })
    };
    let storage = match server.registry.store().backend_check() {
        // Upstream's name for its first etcd server.
        Some((name, ok)) => item(
            &format!("{name}-0"),
            ok,
            if ok { "ok" } else { "etcd does not answer" },
        ),
        None => item(
            "storage",
            store_ok,
            if store_ok {
                "ok (embedded SQLite store)"
            } else {
                "no revision yet"
            },
        ),
    };
    vec![
        storage,
        item("controller-manager", true, "ok (in-process controllers)"),
    ]
}

/// Which resources answer a delete with the object rather than a Status.
fn returns_deleted_object(def: &ResourceDef) -> bool {
    matches!(
        (def.group, def.resource),
        ("", "pods") | ("", "namespaces") | ("", "services")
    )
}

/// Adds a `Warning: 299 - "<text>"` header per warning the write produced (unknown fields
/// under `fieldValidation=Warn`); client-go prints each as `Warning: <text>`.
fn with_warnings(mut resp: Response<Body>, opts: &WriteOptions) -> Response<Body> {
    for w in opts.warnings() {
        let quoted = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// The field manager upstream derives from the user agent: its first path segment.
fn default_manager(user_agent: &str) -> String {
    let base = user_agent.split('/').next().unwrap_or("");
    if base.is_empty() {
        "unknown".into()
    } else {
        base.chars().take(128).collect()
    }
}

/// The Status a successful binding answers with.
fn binding_success() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

fn delete_options(content_type: &str, body: &[u8], query: &Query) -> Result<Value, ApiError> {
    let mut options = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::decode_object(content_type, body)?
    };
    if let Some(g) = query.get("gracePeriodSeconds") {
        let g: i64 = g
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?;
        options["gracePeriodSeconds"] = json!(g);
    }
    if let Some(p) = query.get("propagationPolicy") {
        options["propagationPolicy"] = json!(p);
    }
    if let Some(o) = query.get("orphanDependents") {
        let o: bool = o
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid orphanDependents: {o}")))?;
        options["orphanDependents"] = json!(o);
    }
    crate::registry::validate_delete_options(&options)?;
    Ok(options)
}

/// The autoscaling/v1 Scale view of a scalable object.
fn to_scale(def: &ResourceDef, obj: &Value) -> Value {
    if let Some(paths) = crate::crd::served(def).and_then(|s| s.scale.clone()) {
        return crate::crd::scale::to_scale(&paths, obj);
    }
    let selector = obj
        .pointer("/spec/selector")
        .map(|s| {
            let labels = s.get("matchLabels").unwrap_or(s);
            labels
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let unset = if def.resource == "daemonsets" { 0 } else { 1 };
    crate::crd::scale::scale(
        obj,
        obj.pointer("/spec/replicas")
            .cloned()
            .unwrap_or(json!(unset)),
        obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
        &selector,
    )
}

/// The merge patch a write of the scale subresource makes to the object.
fn replicas_patch(def: &ResourceDef, replicas: Value) -> Vec<u8> {
    let patch = match crate::crd::served(def).and_then(|s| s.scale.clone()) {
        Some(paths) => crate::crd::scale::replicas_patch(&paths, replicas),
        None => json!({"spec": {"replicas": replicas}}),
    };
    serde_json::to_vec(&patch).unwrap_or_default()
}

fn include_object(query: &Query) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(query.get("includeObject").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn single(
    def: &ResourceDef,
    shape: Shape,
    bytes: Bytes,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    single_status(def, shape, bytes, 200, query)
}

fn single_status(
    def: &ResourceDef,
    shape: Shape,
    bytes: Bytes,
    code: u16,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    match shape {
        Shape::Object => Ok(response::json(code, bytes)),
        Shape::Table => {
            let obj = registry::decode(&bytes)?;
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let table = crate::crd::table(
                def,
                &[&obj],
                chrono::Utc::now(),
                include_object(query)?,
                &rv,
                None,
            );
            Ok(response::json_value(code, &table))
        }
        Shape::Metadata => {
            let obj = registry::decode(&bytes)?;
            Ok(response::json_value(code, &partial_metadata(&obj)))
        }
    }
}

/// `PartialObjectMetadata` for one object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

fn list(
    def: &ResourceDef,
    shape: Shape,
    page: registry::ListPage,
    query: &Query,
    accept_encoding: Option<&HeaderValue>,
) -> Result<Response<Body>, ApiError> {
    let rv = page.revision.to_string();
    let body: Bytes = match shape {
        Shape::Object => {
            // Stored bytes are copied into the list as they are: no re-encoding.
            let size: usize = page.items.iter().map(Bytes::len).sum::<usize>() + 256;
            let mut out = BytesMut::with_capacity(size);
            let mut metadata = json!({"resourceVersion": rv});
            if let Some(c) = &page.continue_token {
                metadata["continue"] = json!(c);
            }
            out.put_slice(
                format!(
                    "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                    crate::crd::served(def)
                        .map_or_else(|| format!("{}List", def.kind), |s| s.list_kind.clone()),
                    def.api_version(),
                    metadata
                )
                .as_bytes(),
            );
            for (i, item) in page.items.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                out.put_slice(item);
            }
            out.put_slice(b"]}");
            out.freeze()
        }
        Shape::Table => {
            let mut objs: Vec<Value> = page
                .items
                .iter()
                .map(|b| registry::decode(b))
                .collect::<Result<_, _>>()?;
            if def.group == "flowcontrol.apiserver.k8s.io" && def.resource == "flowschemas" {
                // Upstream prints FlowSchemas in the order they are matched.
                let key = |o: &Value| {
                    (
                        o.pointer("/spec/matchingPrecedence")
                            .and_then(Value::as_i64)
                            .unwrap_or(1000),
                        o.pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    )
                };
                objs.sort_by_key(key);
            }
            let refs: Vec<&Value> = objs.iter().collect();
            let table = crate::crd::table(
                def,
                &refs,
                chrono::Utc::now(),
                include_object(query)?,
                &rv,
                page.continue_token.as_deref(),
            );
            Bytes::from(serde_json::to_vec(&table).unwrap_or_default())
        }
        Shape::Metadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|b| registry::decode(b).map(|v| partial_metadata(&v)))
                .collect::<Result<_, _>>()?;
            let mut metadata = json!({"resourceVersion": rv});
            if let Some(c) = &page.continue_token {
                metadata["continue"] = json!(c);
            }
            Bytes::from(
                serde_json::to_vec(&json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": metadata,
                    "items": items,
                }))
                .unwrap_or_default(),
            )
        }
    };
    let (body, gzipped) = response::maybe_gzip(accept_encoding, body);
    let mut resp = response::json(200, body);
    if gzipped {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(resp)
}
