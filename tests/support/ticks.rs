//! `message!` structs named `Tick` for the shape and typed-call tests: the
//! one servers expect, and others that differ from it in a field's name,
//! in the fields' order, or only in a field's Rust type.

stdrpc::message! {
    /// `symbol`, then `price`.
    pub struct Tick {
        pub symbol: String,
        pub price: f64,
    }
}

/// Its first field renamed: another shape.
pub mod renamed {
    stdrpc::message! {
        pub struct Tick {
            pub name: String,
            pub price: f64,
        }
    }
}

/// Its fields swapped: another shape.
pub mod reordered {
    stdrpc::message! {
        pub struct Tick {
            pub price: f64,
            pub symbol: String,
        }
    }
}

/// `Box<str>` for `String`: the same bytes, so the same shape.
pub mod same_layout {
    stdrpc::message! {
        pub struct Tick {
            pub symbol: Box<str>,
            pub price: f64,
        }
    }
}
