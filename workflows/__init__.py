"""Example pipeline: VBI-like imaging frames from raw (L0) to calibrated (L1) products.

A small but complete pipeline package as an author would write it: task classes in
`tasks.py`, workflows in `l0_to_l1.py`. `processing-core export workflows --out dags`
turns it into DAG files.
"""
