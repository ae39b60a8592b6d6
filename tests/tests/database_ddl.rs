//! CREATE DATABASE from a template and DROP DATABASE need no other session on that
//! database; pgward's own idle pooled connections to it must not be what stands in the way.

use pgward_e2e::proxy::CAROL;
use pgward_e2e::upstream;
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_do_not_block_create_or_drop_database() {
    let up = upstream::shared();
    let admin_db = up.fresh_db("dbddl");
    let template = up.fresh_db("dbddl_tmpl");
    up.sql("postgres", "ALTER ROLE app_owner CREATEDB");
    for mode in ["session", "transaction"] {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .pool_size(2)
            .start();
        // A client used the template through pgward and left: its server stays pooled.
        {
            let t = connect(&proxy, CAROL.0, &template).await;
            assert_eq!(simple_value(&t, "SELECT 1").await, "1");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let admin = connect(&proxy, CAROL.0, &admin_db).await;
        let copy = format!("dbddl_copy_{mode}");
        admin
            .simple_query(&format!("CREATE DATABASE {copy} TEMPLATE {template}"))
            .await
            .unwrap_or_else(|e| panic!("{mode}: create: {}", describe(&e)));
        // A client used the copy and left; it can be dropped through pgward.
        {
            let c = connect(&proxy, CAROL.0, &copy).await;
            assert_eq!(simple_value(&c, "SELECT 2").await, "2");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        admin
            .simple_query(&format!("DROP DATABASE {copy}"))
            .await
            .unwrap_or_else(|e| panic!("{mode}: drop: {}", describe(&e)));
    }
}
