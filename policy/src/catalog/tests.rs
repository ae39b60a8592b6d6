use super::*;

fn function(oid: Oid, schema: &str, name: &str) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![],
        volatility: Volatility::Volatile,
        language: "sql".into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

#[test]
fn resolves_through_the_search_path_with_pg_catalog_first() {
    let catalog = Catalog::new(CatalogParts {
        functions: vec![
            function(1, "public", "now"),
            function(2, "pg_catalog", "now"),
            function(3, "app", "f"),
        ],
        ..Default::default()
    });
    let path = vec!["public".to_string(), "app".to_string()];
    let now: Vec<Oid> = catalog
        .resolve_functions("now", &path)
        .iter()
        .map(|f| f.oid)
        .collect();
    assert_eq!(now, vec![2, 1]);
    assert_eq!(catalog.resolve_functions("f", &path)[0].oid, 3);
    assert!(catalog
        .resolve_functions("f", &["public".into()])
        .is_empty());
    let late = vec!["public".to_string(), "pg_catalog".to_string()];
    assert_eq!(catalog.resolve_functions("now", &late)[0].oid, 1);
    assert_eq!(catalog.function(3).map(|f| f.name.as_str()), Some("f"));
}
