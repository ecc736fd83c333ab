"""Batch scoring: CSV (:mod:`dockyard.batch.csv`) and Parquet (:mod:`dockyard.batch.parquet`)
in, the same out, in bounded memory.

Nothing is imported here: ``dockyard predict`` on Parquet, which imports
:mod:`dockyard.batch.formats`, does not pay for the CSV modules, nor a CSV run for pyarrow.
"""
