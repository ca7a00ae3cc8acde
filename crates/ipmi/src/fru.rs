//! FRU inventory format: common header, chassis/board/product areas, type/length fields.
