"""The least a process can do to score a Parquet file with an ONNX model, with nothing of
Dockyard: import numpy, ONNX Runtime and pyarrow, open the model, read the file batch by
batch, run the model, and write the input with the probabilities appended (no label
column, no validation, no checks, one thread). ``bench.spark`` times it as a floor for
``dockyard predict``.

    python -m bench.parquet_floor MODEL.onnx INPUT.parquet OUTPUT.parquet [--imports-only]
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import numpy as np
    import onnxruntime as ort
    import pyarrow as pa
    import pyarrow.parquet as pq

    if "--imports-only" in argv:
        return 0
    model, source, output = argv[:3]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    file = pq.ParquetFile(source, pre_buffer=False)
    writer: pq.ParquetWriter | None = None
    for batch in file.iter_batches(batch_size=65_536):
        columns = [
            np.frombuffer(c.buffers()[1], np.float64, len(c), c.offset * 8) for c in batch.columns
        ]
        (probabilities,) = session.run(["probabilities"], {name: np.column_stack(columns)})
        arrays = [
            pa.Array.from_buffers(
                pa.float64(), len(batch), [None, pa.py_buffer(np.ascontiguousarray(p))]
            )
            for p in probabilities.T
        ]
        names = [f"probability_{i}" for i in range(len(arrays))]
        out = pa.RecordBatch.from_arrays(
            [*batch.columns, *arrays], names=[*batch.schema.names, *names]
        )
        if writer is None:
            writer = pq.ParquetWriter(output, out.schema, use_dictionary=False)
        writer.write_batch(out, row_group_size=262_144)
    if writer is not None:
        writer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
