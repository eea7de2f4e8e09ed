//! `selectableFields`: where a jsonPath leads in the schema, as upstream's field-path check
//! reads it.

use serde_json::json;

use super::compiled;

#[test]
fn selectable_fields_lead_to_typed_fields_or_say_why_not() {
    let schema = compiled(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {
            "color": {"type": "string"},
            "size": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }}}));
    assert_eq!(
        schema.selectable_field(".spec.color"),
        Ok(("spec.color".to_string(), "string"))
    );
    assert_eq!(
        schema.selectable_field(".spec.labels.tier"),
        Ok(("spec.labels[tier]".to_string(), "string"))
    );
    assert_eq!(
        schema.selectable_field(".spec.tags"),
        Ok(("spec.tags".to_string(), "array"))
    );
    for (path, why) in [
        (".spec.nope", "does not refer to a valid field"),
        ("spec.color", "expected [ or . but got: spec"),
        (".spec.", "unexpected end of JSON path"),
        (".spec.tags[0]", "array notation is not allowed"),
        (".spec.color.x", "does not refer to a valid field"),
    ] {
        assert_eq!(
            schema.selectable_field(path),
            Err(why.to_string()),
            "{path}"
        );
    }
}
