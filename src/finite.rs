//! The one finiteness guard, and reductions that propagate NaN.
//!
//! * [`ensure_finite`] walks any `Serialize` record (every CSV row, JSON
//!   object and `--json` line the crate writes goes through it, see
//!   [`crate::experiments::output`]) and fails on the first `f32`/`f64` that is
//!   NaN or ±∞, naming the record and the field path (`rows[3].ratio`). A value
//!   that is undefined for a stated reason is written as a string
//!   `"undefined: …"` (see [`crate::stats::LineFit::r_squared`]), never as a
//!   silent NaN or a `null` that would read like "not applicable".
//! * [`max_abs_diff`], [`max_abs`] and [`nan_max`] are `max` reductions that
//!   return NaN as soon as one element is NaN. `f64::max` drops NaN
//!   (`NaN.max(1) = 1`), so a fold with it can report a diverged run as
//!   "difference 0".

use crate::error::{Error, Result};
use ndarray::{ArrayBase, Data, Dimension};
use serde::ser::{self, Serialize};
use std::fmt::Display;

/// `max(a, b)`, NaN if either is NaN.
pub fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `min(a, b)`, NaN if either is NaN.
pub fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `max_ij |a_ij − b_ij|` (0 for empty arrays), NaN if any difference is NaN.
pub fn max_abs_diff<S, T, D>(a: &ArrayBase<S, D>, b: &ArrayBase<T, D>) -> f64
where
    S: Data<Elem = f64>,
    T: Data<Elem = f64>,
    D: Dimension,
{
    a.iter()
        .zip(b.iter())
        .fold(0.0, |m, (x, y)| nan_max(m, (x - y).abs()))
}

/// `max_ij |a_ij|` (0 for empty arrays), NaN if any element is NaN.
pub fn max_abs<S: Data<Elem = f64>, D: Dimension>(a: &ArrayBase<S, D>) -> f64 {
    a.iter().fold(0.0, |m, x| nan_max(m, x.abs()))
}

/// `Err(NonFinite)` naming `what` unless `x` is finite.
pub fn check_finite(what: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::NonFinite(format!("{what} = {x}")))
    }
}

/// Fail if any floating-point number inside `value` is NaN or infinite; the
/// error names `what` and the field path of the first offender.
pub fn ensure_finite<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<()> {
    let mut walker = Walker {
        path: Vec::new(),
        found: None,
    };
    // The walker only ever fails with `Found`, after recording the offender.
    let _ = value.serialize(&mut walker);
    match walker.found {
        None => Ok(()),
        Some((path, v)) => Err(Error::NonFinite(format!(
            "{what}{}{path} = {v}: a reported number must be finite",
            if path.is_empty() { "" } else { ", field " }
        ))),
    }
}

struct Walker {
    path: Vec<String>,
    found: Option<(String, f64)>,
}

#[derive(Debug)]
struct Found;

impl Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("non-finite value")
    }
}
impl std::error::Error for Found {}
impl ser::Error for Found {
    fn custom<M: Display>(_: M) -> Self {
        Found
    }
}

impl Walker {
    fn float(&mut self, v: f64) -> std::result::Result<(), Found> {
        if v.is_finite() {
            return Ok(());
        }
        let mut p = String::new();
        for s in &self.path {
            if !s.starts_with('[') && !p.is_empty() {
                p.push('.');
            }
            p.push_str(s);
        }
        self.found = Some((p, v));
        Err(Found)
    }

    fn nested<T: Serialize + ?Sized>(
        &mut self,
        key: String,
        v: &T,
    ) -> std::result::Result<(), Found> {
        self.path.push(key);
        let r = v.serialize(&mut *self);
        self.path.pop();
        r
    }
}

type R = std::result::Result<(), Found>;

macro_rules! ok_scalars {
    ($($name:ident: $t:ty),*) => {
        $(fn $name(self, _: $t) -> R { Ok(()) })*
    };
}

impl<'a> ser::Serializer for &'a mut Walker {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = &'a mut Walker;
    type SerializeStructVariant = &'a mut Walker;

    ok_scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str);

    fn serialize_f32(self, v: f32) -> R {
        self.float(v as f64)
    }
    fn serialize_f64(self, v: f64) -> R {
        self.float(v)
    }
    fn serialize_none(self) -> R {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> R {
        self.nested(variant.to_string(), v)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Seq<'a>, Found> {
        Ok(Seq { w: self, i: 0 })
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Seq<'a>, Found> {
        Ok(Seq { w: self, i: 0 })
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Seq<'a>, Found> {
        Ok(Seq { w: self, i: 0 })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Seq<'a>, Found> {
        Ok(Seq { w: self, i: 0 })
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Map<'a>, Found> {
        Ok(Map {
            w: self,
            key: String::new(),
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<&'a mut Walker, Found> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<&'a mut Walker, Found> {
        Ok(self)
    }
}

struct Seq<'a> {
    w: &'a mut Walker,
    i: usize,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        let key = format!("[{}]", self.i);
        self.i += 1;
        self.w.nested(key, v)
    }
}

macro_rules! seq_like {
    ($($tr:ident :: $m:ident),*) => {$(
        impl ser::$tr for Seq<'_> {
            type Ok = ();
            type Error = Found;
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
                self.element(v)
            }
            fn end(self) -> R {
                Ok(())
            }
        }
    )*};
}
seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

struct Map<'a> {
    w: &'a mut Walker,
    key: String,
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Found;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> R {
        // Rendered for the error message only.
        self.key = match serde_json::to_value(k) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => "?".into(),
        };
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        let key = std::mem::take(&mut self.key);
        self.w.nested(key, v)
    }
    fn end(self) -> R {
        Ok(())
    }
}

macro_rules! struct_like {
    ($($tr:ident),*) => {$(
        impl ser::$tr for &mut Walker {
            type Ok = ();
            type Error = Found;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> R {
                self.nested(k.to_string(), v)
            }
            fn end(self) -> R {
                Ok(())
            }
        }
    )*};
}
struct_like!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row {
        name: &'static str,
        values: Vec<f64>,
        pair: (f64, f64),
        maybe: Option<f64>,
    }

    #[test]
    fn finds_the_first_non_finite_field_by_path() {
        let ok = Row {
            name: "a",
            values: vec![1.0, 2.0],
            pair: (0.0, -1.0),
            maybe: None,
        };
        assert!(ensure_finite("row", &ok).is_ok());
        let bad = Row {
            values: vec![1.0, f64::NAN],
            ..ok
        };
        let msg = ensure_finite("row", &bad).unwrap_err().to_string();
        assert!(msg.contains("values[1] = NaN"), "{msg}");
        let bad = Row {
            name: "b",
            values: vec![],
            pair: (0.0, f64::INFINITY),
            maybe: None,
        };
        let msg = ensure_finite("row", &bad).unwrap_err().to_string();
        assert!(msg.contains("pair[1] = inf"), "{msg}");
        let map = serde_json::json!({"fit": {"slope": 1.0}});
        assert!(ensure_finite("map", &map).is_ok());
        let m: std::collections::BTreeMap<&str, f64> = [("x", f64::NEG_INFINITY)].into();
        let msg = ensure_finite("map", &m).unwrap_err().to_string();
        assert!(msg.contains("x = -inf"), "{msg}");
    }

    #[test]
    fn reductions_propagate_nan() {
        let a = ndarray::array![[0.0, 1.0], [f64::NAN, 2.0]];
        let b = ndarray::Array2::<f64>::zeros((2, 2));
        assert!(max_abs_diff(&a, &b).is_nan());
        assert!(max_abs(&a).is_nan());
        // f64::max would have dropped the NaN and reported 2.
        assert_eq!(a.iter().fold(0.0f64, |m, x| m.max(x.abs())), 2.0);
        assert_eq!(max_abs(&ndarray::array![[-3.0, 1.0]]), 3.0);
        assert!(nan_max(f64::NAN, 1.0).is_nan() && nan_max(1.0, f64::NAN).is_nan());
        assert!(nan_min(f64::NAN, 1.0).is_nan() && nan_min(1.0, f64::NAN).is_nan());
        assert_eq!((nan_max(1.0, 2.0), nan_min(1.0, 2.0)), (2.0, 1.0));
    }
}
