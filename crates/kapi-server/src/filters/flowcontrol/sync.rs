//! Keeps the flow-control configuration current, as kube-apiserver's APF config producer and
//! consumer do: the bootstrap objects are created at start (mandatory ones, and suggested ones
//! still marked for autoupdate, kept at their bootstrap spec), every change to a FlowSchema or
//! PriorityLevelConfiguration reloads the limits, and each FlowSchema's `Dangling` condition
//! says whether the level it names exists.

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use serde_json::{json, Value};
use std::sync::Arc;

use super::bootstrap::{self, AUTOUPDATE_ANNOTATION};
use super::config::Config;
use super::FlowControl;
use crate::registry::{Registry, WriteOptions};

const GROUP: &str = "flowcontrol.apiserver.k8s.io";

fn def(kind: &str) -> Result<&'static ResourceDef, ApiError> {
    resources::find_kind(GROUP, "v1", kind)
        .ok_or_else(|| ApiError::internal(format!("{kind} not served")))
}

fn opts(manager: &str) -> WriteOptions {
    WriteOptions {
        field_manager: manager.into(),
        ..Default::default()
    }
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Creates missing bootstrap objects and resets the spec of those marked for autoupdate
/// (mandatory ones always).
pub async fn ensure_bootstrap(registry: &Registry) -> Result<(), ApiError> {
    const MANAGER: &str = "api-priority-and-fairness-config-producer-v1";
    for obj in bootstrap::objects() {
        let d = def(obj["kind"].as_str().unwrap_or(""))?;
        let name = name_of(&obj).to_string();
        match registry.get_value(d, None, &name) {
            Err(_) => match registry.create(d, None, obj.clone(), &opts(MANAGER)).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            },
            Ok((current, _)) => {
                let autoupdate = current
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
                    .and_then(Value::as_str)
                    == Some("true");
                if current["spec"] == obj["spec"] || !(autoupdate || bootstrap::is_mandatory(&name))
                {
                    continue;
                }
                let mut next = current.clone();
                next["spec"] = obj["spec"].clone();
                next["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = json!("true");
                registry
                    .update(d, None, &name, "", next, &opts(MANAGER))
                    .await?;
            }
        }
    }
    Ok(())
}

fn list(registry: &Registry, kind: &str) -> Vec<Value> {
    def(kind).map_or_else(|_| Vec::new(), |d| registry.list_values(d))
}

/// Compiles what is stored now into `flow`; returns the FlowSchemas and the level names that
/// are usable, for the status pass.
pub fn rebuild(registry: &Registry, flow: &FlowControl) -> (Vec<Value>, Vec<String>) {
    let schemas = list(registry, "FlowSchema");
    let config = Config::build(&schemas, &list(registry, "PriorityLevelConfiguration"));
    let usable = config.levels.iter().map(|l| l.name.clone()).collect();
    flow.reload(config);
    (schemas, usable)
}

/// Writes each FlowSchema's `Dangling` condition where it changed.
async fn update_conditions(registry: &Registry, schemas: &[Value], levels: &[String]) {
    const MANAGER: &str = "api-priority-and-fairness-config-consumer-v1";
    let Ok(d) = def("FlowSchema") else { return };
    for fs in schemas {
        let level = fs
            .pointer("/spec/priorityLevelConfiguration/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (status, reason, message) = if levels.iter().any(|l| l == level) {
            ("False", "Found", format!("This FlowSchema references the PriorityLevelConfiguration object named {level:?} and it exists"))
        } else {
            ("True", "NotFound", format!("This FlowSchema references the PriorityLevelConfiguration object named {level:?} but there is no such object"))
        };
        let conditions = fs
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let current = conditions.iter().find(|c| c["type"] == "Dangling");
        if current.is_some_and(|c| {
            c["status"] == status && c["reason"] == reason && c["message"] == message.as_str()
        }) {
            continue;
        }
        let mut next = fs.clone();
        let mut kept: Vec<Value> = conditions
            .into_iter()
            .filter(|c| c["type"] != "Dangling")
            .collect();
        kept.push(json!({
            "type": "Dangling",
            "status": status,
            "lastTransitionTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "reason": reason,
            "message": message,
        }));
        next["status"] = json!({ "conditions": kept });
        if let Err(e) = registry
            .update(d, None, name_of(fs), "status", next, &opts(MANAGER))
            .await
        {
            if e.code != 409 && e.code != 404 {
                tracing::warn!(flowschema = %name_of(fs), error = %e, "writing the Dangling condition failed");
            }
        }
    }
}

/// Runs until the store closes: on every flow-control change, reload and update conditions.
pub async fn run(registry: Arc<Registry>, flow: Arc<FlowControl>) {
    loop {
        let before = registry.store().revision();
        let (schemas, levels) = rebuild(&registry, &flow);
        update_conditions(&registry, &schemas, &levels).await;
        let defs: Vec<&ResourceDef> = resources::in_group_version(GROUP, "v1").collect();
        crate::registry::next_change(&registry, &defs, before).await;
    }
}
