//! What server-side apply reads from a custom resource's schema: the list type of each list
//! and which objects are atomic, so that applies from several managers merge `map` lists by
//! their keys and `set` lists item by item, as upstream's structured-merge-diff does with the
//! same schema.

use kapi_api::apply::{CustomListType, CustomShape};

use super::node::{ListType, Node};
use super::CustomSchema;

impl CustomSchema {
    /// The node at a field path, list levels transparent.
    fn node_at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(&self.root, |node, name| {
            let mut node = node;
            while let Some(items) = node.items.as_deref() {
                node = items;
            }
            node.member(name)
        })
    }
}

impl CustomShape for CustomSchema {
    fn list_type(&self, path: &[&str]) -> CustomListType {
        match self.node_at(path).map(|n| &n.list) {
            Some(ListType::Set) => CustomListType::Set,
            Some(ListType::Map(keys)) => {
                CustomListType::Map(keys.iter().map(|k| k.to_string()).collect())
            }
            Some(ListType::Atomic) | None => CustomListType::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.node_at(path).is_some_and(|n| n.atomic_map)
    }
}
