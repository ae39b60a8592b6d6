//! Portals and SQL cursors made before the rules changed (a reload, a catalog snapshot read):
//! judged again from the text they were bound or declared from, under the search_path they
//! were made under (`prepared_portals.rs`), before an Execute, FETCH or MOVE runs them. What
//! the rules refuse now is refused; a cursor's rows are masked with the plan judged now.

use pgward_policy::mask::ResultSource;
use pgward_policy::{SessionChange, StatementKind};

use super::prepared::portals::{DeclaredCursor, PortalJudged, PortalOrigin};
use super::prepared::{name_key, Space};
use super::session_state::{statement_at, PrepareOrigin};
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

    /// A SQL DECLARE (statement `at` of `decision`) sent: its cursor's portal is entered now
    /// for what is sent after it (an existing name is kept: PostgreSQL refuses the DECLARE),
    /// and put in place when its CommandComplete says it ran (the name was free on the server:
    /// its old cursor was closed or rolled back), with the text, snapshot and search_path it
    /// is judged again from.
    pub(super) fn cursor_declare_sent(
        &mut self,
        decision: &Arc<Decision>,
        at: usize,
        origin: Option<PrepareOrigin<'_>>,
    ) {
        let Some(st) = decision.statements.get(at) else {
            return;
        };
        let Some(name) = st.state.name.as_deref() else {
            return;
        };
        let executed = origin.and_then(|o| o.portal);
        // An Execute of a SQL cursor's portal runs that cursor; it declares nothing.
        if executed.is_some_and(|(portal, _)| self.prepared.is_cursor(portal)) {
            return;
        }
        // PostgreSQL analysed a bound DECLARE at its Bind; one in a string, after what the
        // string's statements before it did to the search_path (not known: no text to judge
        // the cursor again from, so it is refused once the rules change).
        let path = match executed {
            Some((_, path)) => Some(path.clone()),
            None => self.path_at(decision, at),
        };
        let text = origin.and_then(|o| statement_at(o.text, at, decision));
        let origin = PortalOrigin {
            text: text.filter(|_| path.is_some()),
            snapshot: origin.map_or(self.judged_now().snapshot, |o| o.snapshot),
            path: path.unwrap_or_else(|| self.search_path.clone()),
        };
        let hold = st.state.hold;
        let batch = self.replies.batch();
        let d = decision.clone();
        let entered = (self.prepared).declare_cursor(name, d, hold, batch, Some(origin.clone()));
        let made = DeclaredCursor {
            decision: decision.clone(),
            hold,
            origin,
            entered,
        };
        let sync_point = self.sync.syncs_sent + 1;
        (self.row_counter).declare_sent(name, hold, sync_point, Some(Box::new(made)));
    }

    /// An Execute of `portal` (decision `d`) is sent: its session effects take hold (a SQL
    /// PREPARE or DECLARE in it keeps the text it was judged from, once what earlier batches
    /// did to the cursor's name is known). A SQL cursor's portal runs the cursor's query
    /// only: the string that declared it does nothing again. False: the server was lost.
    pub(super) async fn portal_effects(
        &mut self,
        portal: &str,
        d: &Arc<Decision>,
    ) -> Result<bool, PgError> {
        // A cursor's portal holds a decision with its DECLARE; most Executes need neither.
        let declares = (d.statements.iter()).any(|s| s.kind == StatementKind::Declare);
        if declares && self.prepared.is_cursor(portal) {
            self.cursor_ran(portal, d);
            return Ok(true);
        }
        if declares && !self.settle_declared(d).await? {
            return Ok(false);
        }
        let keeps = (d.statements.iter())
            .any(|s| matches!(s.kind, StatementKind::Prepare | StatementKind::Declare));
        let origin = keeps.then(|| self.prepared.portal_origin(portal).cloned());
        let origin = origin.flatten();
        let origin = origin.as_ref().and_then(|o| {
            Some(PrepareOrigin {
                text: o.text.as_deref()?,
                snapshot: o.snapshot,
                portal: Some((portal, &o.path)),
            })
        });
        self.apply_effects(d, origin);
        Ok(true)
    }

    /// A SQL cursor ran again: its query runs now what it calls (a `set_config` of the
    /// search_path; user code, which may leave what it leaves anywhere).
    fn cursor_ran(&mut self, portal: &str, d: &Decision) {
        let declares = |s: &&pgward_policy::StatementInfo| {
            s.kind == StatementKind::Declare
                && (s.state.name.as_deref()).is_some_and(|n| name_key(n) == name_key(portal))
        };
        for st in d.statements.iter().filter(declares) {
            self.path_effect(st);
        }
        for st in d.statements.iter().filter(|s| s.state.user_code) {
            self.unit.note(&st.state);
            if let Some(s) = self.server.as_mut() {
                s.server.reseed = true;
                s.server.dirty = true;
            }
            if !st.state.unseen_relations && self.path_check == PathCheck::No {
                self.path_check = PathCheck::AfterCode;
            }
        }
    }

    /// Before a DECLARE is sent: what earlier batches did to its name is known (a Bind of the
    /// name that fails leaves it free; one that succeeds makes PostgreSQL refuse the
    /// DECLARE). False: the server was lost meanwhile.
    pub(super) async fn settle_declared(&mut self, d: &Decision) -> Result<bool, PgError> {
        let declared = (d.statements.iter())
            .filter(|s| s.kind == StatementKind::Declare)
            .filter_map(|s| s.state.name.as_deref());
        for name in declared {
            if !self.settle(Space::Portal, name).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The search_path statement `at` of a string runs under: the session's, as the
    /// statements before it in the string change it (`None`: one changes it unseen, SET
    /// LOCAL, `set_config` or user code).
    fn path_at(&self, decision: &Decision, at: usize) -> Option<Arc<[String]>> {
        let mut path = self.search_path.clone();
        for st in decision.statements.iter().take(at) {
            let discards_all = st.kind == StatementKind::Discard && st.state.drops_statements;
            if st.state.user_code {
                return None;
            }
            match &st.session_change {
                Some(SessionChange::SearchPathUnknown) => return None,
                Some(SessionChange::SearchPath(p)) if !discards_all => path = p.clone().into(),
                Some(SessionChange::SearchPathDefault) => {
                    path = self.default_path.path.clone().into()
                }
                _ if discards_all => path = self.default_path.path.clone().into(),
                _ => {}
            }
        }
        Some(path)
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
