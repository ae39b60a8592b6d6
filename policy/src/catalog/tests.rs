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
    // public.now() has pg_catalog.now()'s argument types: hidden behind it.
    assert_eq!(now, vec![2]);
    assert_eq!(catalog.resolve_functions("f", &path)[0].oid, 3);
    assert!(catalog
        .resolve_functions("f", &["public".into()])
        .is_empty());
    let late = vec!["public".to_string(), "pg_catalog".to_string()];
    let now_late: Vec<Oid> = (catalog.resolve_functions("now", &late).iter())
        .map(|f| f.oid)
        .collect();
    assert_eq!(now_late, vec![1]);
    // Other argument types hide nothing: either may be the one called.
    let overloaded = Catalog::new(CatalogParts {
        functions: vec![
            function(2, "pg_catalog", "now"),
            Function {
                arg_types: vec![23],
                ..function(4, "public", "now")
            },
        ],
        ..Default::default()
    });
    assert_eq!(overloaded.resolve_functions("now", &path).len(), 2);
    assert_eq!(catalog.function(3).map(|f| f.name.as_str()), Some("f"));
}

#[test]
fn the_same_rows_read_in_another_order_are_the_same_catalog() {
    let parts = |functions: Vec<Function>, schemas: Vec<Schema>| {
        Catalog::new(CatalogParts {
            schemas,
            functions,
            ..Default::default()
        })
    };
    let schema = |oid, name: &str| Schema {
        oid,
        name: name.into(),
    };
    let first = parts(
        vec![function(1, "public", "f"), function(2, "app", "g")],
        vec![schema(10, "public"), schema(11, "app")],
    );
    let reordered = parts(
        vec![function(2, "app", "g"), function(1, "public", "f")],
        vec![schema(11, "app"), schema(10, "public")],
    );
    assert!(first.same_rows(&reordered) && reordered.same_rows(&first));
    let mut changed = function(2, "app", "g");
    changed.volatility = Volatility::Immutable;
    let altered = parts(
        vec![function(1, "public", "f"), changed],
        vec![schema(10, "public"), schema(11, "app")],
    );
    assert!(!first.same_rows(&altered));
    let more = parts(
        vec![
            function(1, "public", "f"),
            function(2, "app", "g"),
            function(3, "app", "h"),
        ],
        vec![schema(10, "public"), schema(11, "app")],
    );
    assert!(!first.same_rows(&more) && !more.same_rows(&first));
    let renamed_schema = parts(
        vec![function(1, "public", "f"), function(2, "app", "g")],
        vec![schema(10, "public"), schema(11, "app2")],
    );
    assert!(!first.same_rows(&renamed_schema));
}
