"""Row-group columns built in bulk are exactly what ``pa.array`` makes of the same values."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.landing.schema import LANDING_SCHEMA
from capture_agent.landing.segments import _column

INT64 = st.integers(-(2**63), 2**63 - 1)
CASES = {
    "string": st.none() | st.text(max_size=8) | st.sampled_from(["in", "out", "ws://127.0.0.1/x"]),
    "int64": st.none() | INT64 | st.just(1),
    "timestamp": st.none() | INT64,
    "int8": st.none() | st.integers(0, 15),
    "float64": st.none() | st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0]),
    "binary": st.none() | st.binary(max_size=8),
}
TYPES = {"string": pa.string(), "int64": pa.int64(), "timestamp": LANDING_SCHEMA.field("recv_wall_ns").type,
         "int8": pa.int8(), "float64": pa.float64(), "binary": pa.binary()}


def _plain(array: pa.Array) -> list:
    values = array.cast(pa.int64()) if pa.types.is_timestamp(array.type) else array
    # repr keeps -0.0 apart from 0.0
    return [repr(v) if isinstance(v, float) else v for v in values.to_pylist()]


@pytest.mark.parametrize("kind", sorted(CASES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_bulk_columns_equal_pa_array(kind: str, data) -> None:
    arrow_type = TYPES[kind]
    values = tuple(data.draw(st.lists(CASES[kind], min_size=1, max_size=12)))
    if data.draw(st.booleans()):  # one value throughout: the constant and all-null paths
        values = (values[0],) * len(values)
    try:
        expected = pa.array(values, arrow_type)
    except (pa.ArrowException, UnicodeEncodeError) as error:
        with pytest.raises(type(error)):
            _column(values, arrow_type)
        return
    built = _column(values, arrow_type)
    built.validate(full=True)
    assert built.type == arrow_type and built.null_count == expected.null_count
    assert _plain(built) == _plain(expected)


def test_ascii_payloads_take_the_joined_path_and_keep_their_boundaries() -> None:
    values = ('42["a",1]', "", '42["b",{"x":"' + "y" * 5000 + '"}]', "2")
    built = _column(values, pa.string())
    assert built.to_pylist() == list(values) and pc.binary_length(built).to_pylist() == [9, 0, 5016, 1]
    assert built.buffers()[2].to_pybytes() == "".join(values).encode()  # the payloads back to back, nothing else
