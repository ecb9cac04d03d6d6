"""Small vectorised string/timestamp helpers over pyarrow used by the generator and the exports."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def take(pool, idx) -> pa.Array:
    """pool[idx] as an Arrow string array (pool is a short list of strings)."""
    return pa.array(list(pool)).take(pa.array(np.asarray(idx, dtype=np.int64)))


def digits(values, width: int) -> pa.Array:
    """Integers as zero-padded strings."""
    return pc.utf8_lpad(pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string()), width=width, padding="0")


def join(*parts) -> pa.Array:
    """Element-wise concatenation of arrays and string scalars."""
    return pc.binary_join_element_wise(*parts, "")


def ts_array(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as an Arrow timestamp[s] array (naive UTC), null where not valid."""
    return pa.array(
        np.asarray(seconds).astype("datetime64[s]"), type=pa.timestamp("s"), mask=None if valid is None else ~valid
    )


def flat(values) -> pa.Array:
    """A ChunkedArray as one contiguous Array (takes from it stay proportional to the taken rows)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
