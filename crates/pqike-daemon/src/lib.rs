//! pqike daemon library
