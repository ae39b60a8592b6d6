//! The fastpath interface (FunctionCall): a function called by OID with argument values, as
//! libpq's and pgjdbc's large-object APIs do. No parser sees a call by OID, so pgward names it
//! from its catalog snapshot (or, with several databases in use, PostgreSQL's built-in
//! functions) and judges `SELECT schema.function($1, ...)` under the role's
//! rules like any statement; what the role may call it runs, through the same queue, audit
//! and pool as a Query. A function the snapshot lacks, or a call whose result the role's
//! masking would have to read or whose writes its affected-rows guard would have to count (a
//! FunctionCallResponse is no row and no count), is refused (`rule: fastpath`).

use super::*;
use crate::protocol::decode;
use crate::protocol::Frame;
use crate::sqlstate::ToPg;

impl Session {
    pub(super) async fn on_function_call(&mut self, frame: Frame) -> Result<Flow, PgError> {
        let (oid, args) = match decode::function_call(frame.body()) {
            Ok(call) => call,
            Err(e) => {
                self.refuse_simple(e.to_pg(), None).await;
                return Ok(Flow::Continue);
            }
        };
        let Some(sql) = self.fastpath_statement(oid, args) else {
            self.refuse_simple(
                refusal(format!(
                    "pgward: function {oid} called through the fastpath interface is not in pgward's catalog"
                )),
                None,
            )
            .await;
            return Ok(Flow::Continue);
        };
        let decision = self.facts_decide(&sql)?;
        if let Some(d) = decision.denial() {
            let err = denial_error(d);
            self.refuse_simple(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        // A FunctionCallResponse carries no row and no count: neither masking nor the
        // affected-rows guard could see what the call did.
        let unseen = if decision.mask.is_some() {
            Some("pgward: a fastpath function call's result cannot be masked")
        } else if self.needs_guard(&decision) {
            Some("pgward: a fastpath function call's affected rows cannot be counted")
        } else {
            None
        };
        if let Some(message) = unseen {
            let err = refusal(message.to_string());
            self.refuse_simple(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        self.run_query(decision, frame.raw(), None).await
    }

    /// `SELECT "schema"."name"($1, ..., $n)` for the function of `oid`, from the catalog
    /// snapshot the policy judges with.
    /// With several databases in use the engine has no catalog: PostgreSQL's built-in
    /// functions are named from the map every database shares.
    fn fastpath_statement(&self, oid: u32, args: usize) -> Option<String> {
        let snap = self.shared.snapshot();
        let (schema, name) = match snap.engine.catalog().and_then(|c| c.function(oid)) {
            Some(f) => (f.schema.clone(), f.name.clone()),
            None => self.shared.builtin_function(oid)?,
        };
        let params: Vec<String> = (1..=args).map(|i| format!("${i}")).collect();
        Some(format!(
            "SELECT {}.{}({})",
            quote_ident(&schema),
            quote_ident(&name),
            params.join(", ")
        ))
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn refusal(message: String) -> PgError {
    PgError::error(sqlstate::INSUFFICIENT_PRIVILEGE, message)
        .with_detail("rule: fastpath")
        .with_hint("call the function from a SQL statement instead")
}
