//! A CEL expression over JSON values, for what is not a CRD rule: the `matchConditions` of
//! admission webhooks, which see `object`, `oldObject` and `request`. Same environment as the
//! CRD rules (cel-rust with its strings, lists and math extensions), values untyped.

use serde_json::Value;

use crate::structural::cel::{untyped, ENV};

/// A compiled expression.
pub struct Expression {
    program: cel::Program,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Expression")
    }
}

impl Expression {
    /// Compiles `source`, or says why it does not parse.
    pub fn compile(source: &str) -> Result<Expression, String> {
        ENV.compile(source)
            .map(|program| Expression { program })
            .map_err(|e| e.to_string().trim().to_string())
    }

    /// Evaluates to a boolean with `variables` bound; anything else is an error.
    pub fn eval_bool(&self, variables: &[(&str, &Value)]) -> Result<bool, String> {
        let base = cel::Context::with_env(ENV.clone());
        let mut ctx = base.new_inner_scope();
        for (name, value) in variables {
            ctx.add_variable_from_value(*name, untyped(value));
        }
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("expected a bool, got {:?}", other.type_of())),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expressions_see_their_variables() {
        let e = Expression::compile(
            "object.metadata.name.startsWith('web') && request.operation == 'CREATE'",
        )
        .unwrap();
        let obj = json!({"metadata": {"name": "web-1"}});
        let req = json!({"operation": "CREATE"});
        assert_eq!(
            e.eval_bool(&[("object", &obj), ("request", &req)]),
            Ok(true)
        );
        let req = json!({"operation": "UPDATE"});
        assert_eq!(
            e.eval_bool(&[("object", &obj), ("request", &req)]),
            Ok(false)
        );
        assert!(
            e.eval_bool(&[("object", &obj)]).is_err(),
            "request is unbound"
        );
        assert!(Expression::compile("object.").is_err());
        let not_bool = Expression::compile("1 + 1").unwrap();
        assert!(not_bool.eval_bool(&[]).is_err());
    }
}
