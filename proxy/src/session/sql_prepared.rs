//! SQL `PREPARE`d statements after a policy reload or a catalog read: PostgreSQL runs what
//! was prepared, so an `EXECUTE` under rules that changed since is judged by the PREPARE's own
//! text again (and its result mask made again) before it runs.

use pgward_policy::mask::ResultSource;

use super::prepared::name_key;
use super::*;

impl Session {
    /// SQL `PREPARE name` judged under an earlier policy snapshot (a reload since, a catalog
    /// read): its text is judged again under the role's rules as they are now, and what they
    /// refuse now is refused; one whose text pgward could not keep is refused outright.
    pub(super) fn rejudge_sql_prepared(&mut self, name: &str) -> Result<Option<PgError>, PgError> {
        let snapshot = self.judging_now().snapshot;
        let Some(text) = self.prepared.sql_prepared_outdated(name, snapshot) else {
            return Ok(None);
        };
        let Some(text) = text else {
            return Ok(Some(
                PgError::error(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!(
                        "pgward: prepared statement \"{name}\" was judged under an earlier policy"
                    ),
                )
                .with_detail("rule: policy reload")
                .with_hint("PREPARE it again"),
            ));
        };
        let again = self.facts_decide(&text)?;
        if let Some(denial) = again.denial() {
            return Ok(Some(super::denial_error(denial)));
        }
        self.prepared.sql_prepared_rejudged(name, snapshot);
        let plan = (again.mask.iter())
            .flat_map(|m| m.plans.iter())
            .find(
                |p| matches!(&p.source, ResultSource::Prepares(n) if name_key(n) == name_key(name)),
            )
            .cloned();
        self.masking.prepared_again(name, plan);
        Ok(None)
    }
}
