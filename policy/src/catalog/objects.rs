//! The rows of a catalog snapshot, as the proxy loads them: plain values, one per catalog
//! table row pgward reads (pg_namespace, pg_class with its columns, pg_type, pg_cast,
//! pg_operator, pg_proc).

/// A PostgreSQL object identifier.
pub type Oid = u32;

/// One schema (`pg_namespace`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    pub oid: Oid,
    pub name: String,
}

/// What a relation is (`pg_class.relkind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelationKind {
    /// `r`
    Table,
    /// `v`
    View,
    /// `m`
    MaterializedView,
    /// `f`
    ForeignTable,
    /// `p`
    PartitionedTable,
    /// `S`
    Sequence,
    /// `c`
    CompositeType,
    /// Indexes, TOAST tables and anything newer.
    Other,
}

impl RelationKind {
    /// From `pg_class.relkind`.
    pub fn from_relkind(relkind: char) -> Self {
        match relkind {
            'r' => RelationKind::Table,
            'v' => RelationKind::View,
            'm' => RelationKind::MaterializedView,
            'f' => RelationKind::ForeignTable,
            'p' => RelationKind::PartitionedTable,
            'S' => RelationKind::Sequence,
            'c' => RelationKind::CompositeType,
            _ => RelationKind::Other,
        }
    }
}

/// One column of a relation (`pg_attribute`, user columns only: attnum > 0, not dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub attnum: i16,
    pub type_oid: Oid,
    pub not_null: bool,
}

/// One relation (`pg_class`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    /// In attnum order.
    pub columns: Vec<Column>,
    /// `pg_get_viewdef` for views and materialized views: the SQL PostgreSQL runs when the
    /// view is read.
    pub view_definition: Option<String>,
    /// What a write to it runs besides the write itself.
    pub on_write: OnWrite,
}

/// Code and changes a write to a relation sets off that no CommandComplete counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnWrite {
    /// User triggers (not the internal ones of foreign keys), rules, or column defaults and
    /// CHECK constraints that call user functions: code that may write elsewhere or change
    /// the session.
    pub user_code: bool,
    /// Foreign keys of other tables with ON DELETE/UPDATE CASCADE, SET NULL or SET DEFAULT
    /// reference it: deleting or updating its rows changes theirs.
    pub cascades: bool,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// What a type is (`pg_type.typtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// `b`
    Base,
    /// `c`
    Composite,
    /// `d`
    Domain,
    /// `e`
    Enum,
    /// `p`
    Pseudo,
    /// `r`
    Range,
    /// `m`
    Multirange,
    Other,
}

impl TypeKind {
    /// From `pg_type.typtype`.
    pub fn from_typtype(typtype: char) -> Self {
        match typtype {
            'b' => TypeKind::Base,
            'c' => TypeKind::Composite,
            'd' => TypeKind::Domain,
            'e' => TypeKind::Enum,
            'p' => TypeKind::Pseudo,
            'r' => TypeKind::Range,
            'm' => TypeKind::Multirange,
            _ => TypeKind::Other,
        }
    }
}

/// One type or domain (`pg_type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub kind: TypeKind,
    /// A domain's base type (`typbasetype`).
    pub base_type: Option<Oid>,
    /// An array type's element type (`typelem` where `typcategory = 'A'`).
    pub element_type: Option<Oid>,
    /// Functions a domain's CHECK constraints call (from `pg_depend` on its constraints).
    pub check_functions: Vec<Oid>,
    /// Input and output functions (`typinput`, `typoutput`): a literal of the type runs them.
    pub io_functions: Vec<Oid>,
}

/// When a cast applies without being written (`pg_cast.castcontext`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CastContext {
    /// `e`: only with an explicit `CAST` / `::`.
    Explicit,
    /// `a`: also on assignment to a column.
    Assignment,
    /// `i`: also implicitly in expressions.
    Implicit,
}

impl CastContext {
    /// From `pg_cast.castcontext`; anything unknown is taken as the widest (implicit).
    pub fn from_castcontext(c: char) -> Self {
        match c {
            'e' => CastContext::Explicit,
            'a' => CastContext::Assignment,
            _ => CastContext::Implicit,
        }
    }
}

/// One cast (`pg_cast`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cast {
    pub oid: Oid,
    pub source: Oid,
    pub target: Oid,
    /// The function that performs it; `None` for binary-coercible and I/O casts.
    pub function: Option<Oid>,
    pub context: CastContext,
}

/// One operator (`pg_operator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// `None` for a prefix operator.
    pub left: Option<Oid>,
    pub right: Oid,
    /// The function that implements it (`oprcode`).
    pub function: Oid,
}

/// `pg_proc.provolatile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    /// From `pg_proc.provolatile`; anything unknown is volatile.
    pub fn from_provolatile(c: char) -> Self {
        match c {
            'i' => Volatility::Immutable,
            's' => Volatility::Stable,
            _ => Volatility::Volatile,
        }
    }
}

/// `pg_proc.prokind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    Function,
    Aggregate,
    Window,
    Procedure,
}

impl FunctionKind {
    /// From `pg_proc.prokind`.
    pub fn from_prokind(c: char) -> Self {
        match c {
            'a' => FunctionKind::Aggregate,
            'w' => FunctionKind::Window,
            'p' => FunctionKind::Procedure,
            _ => FunctionKind::Function,
        }
    }
}

/// One function or procedure (`pg_proc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// Input argument types (`proargtypes`).
    pub arg_types: Vec<Oid>,
    pub volatility: Volatility,
    /// `pg_language.lanname`: `internal`, `c`, `sql`, `plpgsql`, ...
    pub language: String,
    pub security_definer: bool,
    pub returns_set: bool,
    pub kind: FunctionKind,
}

/// The rows a catalog is built from, as the proxy loads them.
#[derive(Clone, Debug, Default)]
pub struct CatalogParts {
    pub schemas: Vec<Schema>,
    pub relations: Vec<Relation>,
    pub types: Vec<Type>,
    pub casts: Vec<Cast>,
    pub operators: Vec<Operator>,
    pub functions: Vec<Function>,
}
