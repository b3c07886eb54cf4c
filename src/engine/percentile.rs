//! `percentile_exact(value, p)`: the continuous (linearly interpolated)
//! percentile, exactly. DataFusion 55's `percentile_cont` truncates the
//! interpolation weight to six decimals (apache/datafusion#25266), so a p90
//! could come out up to a millionth of a gap low. Here `p` is taken as the
//! decimal it was written as (0.9 = 9/10), the rank `p·(n-1)` is split into
//! its whole part and an exact fraction, and the value is
//! `v[lo] + (v[lo+1] - v[lo]) · num / den`.

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use std::sync::Arc;

pub fn udaf() -> AggregateUDF {
    AggregateUDF::from(PercentileExact {
        signature: Signature::one_of(
            vec![TypeSignature::Exact(vec![
                DataType::Float64,
                DataType::Float64,
            ])],
            Volatility::Immutable,
        ),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PercentileExact {
    signature: Signature,
}

impl AggregateUDFImpl for PercentileExact {
    fn name(&self) -> &str {
        "percentile_exact"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.iter().map(|_| DataType::Float64).collect())
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let p = args
            .exprs
            .get(1)
            .and_then(|e| e.downcast_ref::<Literal>())
            .and_then(|l| match l.value() {
                ScalarValue::Float64(Some(p)) => Some(*p),
                other => other.to_string().parse::<f64>().ok(),
            })
            .ok_or_else(|| {
                DataFusionError::Plan(
                    "percentile_exact(value, p): p must be a number literal".into(),
                )
            })?;
        if !(0.0..=1.0).contains(&p) {
            return Err(DataFusionError::Plan(format!(
                "percentile_exact: p = {p} is not between 0 and 1"
            )));
        }
        Ok(Box::new(Values {
            p: rational(p),
            values: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = Arc::new(Field::new_list_field(DataType::Float64, true));
        Ok(vec![Arc::new(Field::new(
            format!("{}_values", args.name),
            DataType::List(item),
            true,
        ))])
    }
}

/// `p` as the fraction it was written as: its shortest decimal text.
fn rational(p: f64) -> (u64, u64) {
    let text = format!("{p}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let den = 10u64.saturating_pow(frac.len().min(15) as u32);
    let digits = format!("{int}{}", &frac[..frac.len().min(15)]);
    (digits.parse().unwrap_or(0), den.max(1))
}

#[derive(Debug)]
struct Values {
    /// p as num / den.
    p: (u64, u64),
    values: Vec<f64>,
}

impl Values {
    fn add(&mut self, a: &Float64Array) {
        self.values
            .extend(a.iter().flatten().filter(|v| !v.is_nan()));
    }
}

impl Accumulator for Values {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values[0].as_primitive::<Float64Type>());
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for l in lists.iter().flatten() {
            self.add(l.as_primitive::<Float64Type>());
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = Float64Array::from(std::mem::take(&mut self.values));
        let list = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Float64, true)),
            OffsetBuffer::from_lengths([values.len()]),
            Arc::new(values),
            None,
        );
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(percentile(&mut self.values, self.p)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * 8
    }
}

/// The interpolated percentile of `values` at `num / den`; `None` when
/// there are none.
pub fn percentile(values: &mut [f64], (num, den): (u64, u64)) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    // rank = num·(n-1)/den = lo + rem/den, in integers.
    let scaled = u128::from(num) * (values.len() as u128 - 1);
    let lo = (scaled / u128::from(den)) as usize;
    let rem = (scaled % u128::from(den)) as f64;
    let base = values[lo];
    Some(match values.get(lo + 1) {
        Some(next) if rem > 0.0 => base + (next - base) * rem / den as f64,
        _ => base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p90_is_exact_where_the_seventh_decimal_matters() {
        // n - 1 = 9: rank 8.1. In floats 0.9 * 9 = 8.099999999999999, a
        // weight DataFusion truncates to 0.099999 (99,999 here).
        let mut v: Vec<f64> = vec![0.0; 9];
        v.push(1_000_000.0);
        assert_eq!(percentile(&mut v, rational(0.9)), Some(100_000.0));
        assert_eq!(rational(0.9), (9, 10));
        assert_eq!(rational(0.5), (5, 10));
        assert_eq!(rational(1.0), (1, 1));
        let mut one = vec![7.0];
        assert_eq!(percentile(&mut one, rational(0.9)), Some(7.0));
        let mut four = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut four, rational(0.5)), Some(2.5));
        assert_eq!(percentile(&mut four, rational(1.0)), Some(4.0));
        assert_eq!(percentile(&mut [], rational(0.9)), None);
    }
}
