//! Building the [`MaskIndex`] from the judge's catalog snapshot ([`Catalog`]).

use std::collections::HashSet;

use super::config::MaskConfig;
use super::index::{ColumnShape, MaskIndex, RelationShape};
use super::value::TEXT_LIKE_OIDS;
use crate::catalog::{Catalog, RelationKind, TypeKind};

/// Relations whose rows a query can read.
fn readable(kind: RelationKind) -> bool {
    matches!(
        kind,
        RelationKind::Table
            | RelationKind::View
            | RelationKind::MaterializedView
            | RelationKind::ForeignTable
            | RelationKind::PartitionedTable
    )
}

impl MaskIndex {
    /// Resolves `config` against the snapshot. View definitions resolve with
    /// `view_search_path` (the search_path `pg_get_viewdef` was run under).
    pub fn from_catalog(
        config: MaskConfig,
        catalog: &Catalog,
        view_search_path: Vec<String>,
    ) -> MaskIndex {
        let parts = catalog.parts();
        let relations = parts
            .relations
            .iter()
            .filter(|r| readable(r.kind))
            .map(|r| RelationShape {
                oid: r.oid,
                schema: r.schema.clone(),
                name: r.name.clone(),
                columns: r
                    .columns
                    .iter()
                    .map(|c| ColumnShape {
                        name: c.name.clone(),
                        attnum: c.attnum,
                        type_oid: c.type_oid,
                    })
                    .collect(),
                view_definition: r.view_definition.clone(),
            })
            .collect();
        // citext, and domains over any text-like type (following domains of domains).
        let mut text_like: HashSet<u32> = TEXT_LIKE_OIDS.into_iter().collect();
        text_like.extend(
            parts
                .types
                .iter()
                .filter(|t| t.name == "citext")
                .map(|t| t.oid),
        );
        loop {
            let before = text_like.len();
            for t in &parts.types {
                if t.kind == TypeKind::Domain && t.base_type.is_some_and(|b| text_like.contains(&b))
                {
                    text_like.insert(t.oid);
                }
            }
            if text_like.len() == before {
                break;
            }
        }
        let functions = (!parts.functions.is_empty()).then(|| {
            let builtin = parts
                .functions
                .iter()
                .filter(|f| f.schema == "pg_catalog")
                .map(|f| f.name.clone())
                .collect();
            let set_returning = parts
                .functions
                .iter()
                .filter(|f| f.returns_set)
                .map(|f| f.name.clone())
                .collect();
            (builtin, set_returning)
        });
        MaskIndex::build_with_functions(config, relations, text_like, view_search_path, functions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogParts, Column, Relation, Type};
    use crate::mask::mask_plan;

    #[test]
    fn resolves_views_domains_and_user_functions_from_the_snapshot() {
        let col = |name: &str, attnum: i16, type_oid: u32| Column {
            name: name.into(),
            attnum,
            type_oid,
            not_null: false,
        };
        let catalog = Catalog::new(CatalogParts {
            relations: vec![
                Relation {
                    oid: 100,
                    schema: "app".into(),
                    name: "people".into(),
                    kind: RelationKind::Table,
                    columns: vec![col("id", 1, 23), col("mail", 2, 900)],
                    view_definition: None,
                    on_write: Default::default(),
                },
                Relation {
                    oid: 1259,
                    schema: "pg_catalog".into(),
                    name: "pg_class".into(),
                    kind: RelationKind::Table,
                    columns: vec![],
                    view_definition: None,
                    on_write: Default::default(),
                },
                Relation {
                    oid: 1260,
                    schema: "pg_catalog".into(),
                    name: "pg_authid".into(),
                    kind: RelationKind::Table,
                    columns: vec![],
                    view_definition: None,
                    on_write: Default::default(),
                },
                Relation {
                    oid: 101,
                    schema: "app".into(),
                    name: "directory".into(),
                    kind: RelationKind::View,
                    columns: vec![col("who", 1, 900)],
                    view_definition: Some(" SELECT people.mail AS who\n   FROM app.people;".into()),
                    on_write: Default::default(),
                },
            ],
            types: vec![Type {
                oid: 900,
                schema: "app".into(),
                name: "email_address".into(),
                kind: TypeKind::Domain,
                base_type: Some(25),
                element_type: None,
                check_functions: vec![],
                io_functions: vec![],
            }],
            ..Default::default()
        });
        let config = MaskConfig::new(
            &["app.people.mail".into(), "*.*.pass*".into()],
            None,
            &[],
            vec![],
            &[],
        )
        .unwrap();
        let index = MaskIndex::from_catalog(config, &catalog, vec!["pg_catalog".into()]);
        assert!(index.is_text_like(900));
        // PostgreSQL's own relations come without columns: clear, whatever the patterns.
        let plans = mask_plan(
            "SELECT * FROM pg_catalog.pg_class c, pg_authid a WHERE a.rolpassword IS NULL",
            &index,
            &["app".into()],
        )
        .unwrap();
        assert!(!plans[0].masks_anything(), "{:?}", plans[0]);
        assert!(
            index.column_strategy(101, 1).is_some(),
            "the view column is PII"
        );
        let path = vec!["app".to_string()];
        let plans = mask_plan("SELECT who FROM directory", &index, &path).unwrap();
        assert_eq!(plans[0].masked_positions(1), vec![1]);
        let plans = mask_plan("SELECT id FROM people", &index, &path).unwrap();
        assert!(!plans[0].masks_anything());
        // Views printed without schema names still resolve when the given path misses.
        let mut parts = catalog.parts().clone();
        parts.relations[1].view_definition = Some(" SELECT people.mail AS who FROM people;".into());
        let config = MaskConfig::new(&["app.people.mail".into()], None, &[], vec![], &[]).unwrap();
        let index =
            MaskIndex::from_catalog(config, &Catalog::new(parts), vec!["pg_catalog".into()]);
        assert!(index.column_strategy(101, 1).is_some());
    }
}
