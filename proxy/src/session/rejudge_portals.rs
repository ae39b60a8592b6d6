//! Portals and SQL cursors made before the rules changed (a reload, a catalog snapshot read):
//! judged again from the text they were bound or declared from, under the search_path they
//! were made under (`prepared_portals.rs`), before an Execute, FETCH or MOVE runs them. What
//! the rules refuse now is refused; a cursor's rows are masked with the plan judged now.

use pgward_policy::mask::ResultSource;
use pgward_policy::StatementKind;

use super::prepared::name_key;
use super::prepared::portals::PortalJudged;
use super::*;

/// A portal's decision judged again where needed: the new one (`None`: unchanged), or the
/// refusal.
pub(super) type Rejudged = Result<Option<Arc<Decision>>, PgError>;

impl Session {
    /// Before portal `name` runs: judged again if it was judged under another policy
    /// snapshot. `Ok(Ok(Some(decision)))`: judged again, allowed; `Ok(Err(err))`: refused now.
    pub(super) fn rejudge_portal(&mut self, name: &str) -> Result<Rejudged, PgError> {
        let (text, path) = match self.prepared.portal_judged(name, self.shared.snapshot_id()) {
            PortalJudged::Current => return Ok(Ok(None)),
            PortalJudged::Stale(text, path) => (text, path),
            PortalJudged::Unknown => return Ok(Err(cannot_tell(name))),
        };
        let again = self.decide_under_path(&text, &path)?;
        if let Some(denial) = again.denial() {
            return Ok(Err(denial_error(denial)));
        }
        // A SQL cursor's FETCHes read the plan its DECLARE records.
        let plan = (again.mask.iter())
            .flat_map(|m| m.plans.iter())
            .find(|p| matches!(&p.source, ResultSource::DeclaresCursor(n) if name_key(n) == name_key(name)))
            .cloned();
        self.masking.recorded_again(true, name, plan);
        let snapshot = self.judged_now().snapshot;
        self.prepared.portal_rejudged(name, again.clone(), snapshot);
        Ok(Ok(Some(again)))
    }

    /// The cursors `decision`'s FETCH and MOVE statements run, judged again where the rules
    /// changed since they were declared (a cursor this same string declares is its own).
    pub(super) fn rejudge_fetched(
        &mut self,
        decision: &Decision,
    ) -> Result<Option<PgError>, PgError> {
        let mut declared_here: Vec<&str> = Vec::new();
        for st in &decision.statements {
            let Some(name) = st.state.name.as_deref() else {
                continue;
            };
            match st.kind {
                StatementKind::Declare => declared_here.push(name),
                StatementKind::Fetch if !declared_here.contains(&name) => {
                    if let Err(err) = self.rejudge_portal(name)? {
                        return Ok(Some(err));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

fn cannot_tell(name: &str) -> PgError {
    PgError::error(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("pgward: cannot judge portal \"{name}\" again under the rules reloaded since"),
    )
    .with_detail("rule: portals are judged by the text they were opened from")
    .with_hint("close it and open it again")
}
