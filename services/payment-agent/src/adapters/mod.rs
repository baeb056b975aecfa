pub(crate) mod sql;
